//! The parts of a `ws://` / `wss://` URL the transport needs.

use tungstenite::http::Uri;

use crate::error::{Error, Result};

/// Where to connect: host, port and whether TLS is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP literal, without IPv6 brackets.
    pub host: String,
    /// TCP port, defaulted from the scheme.
    pub port: u16,
    /// `wss://`
    pub secure: bool,
    /// Path and query for the request line (`/` when the URL has none).
    pub path: String,
    /// Value of the `Host` header: the URL's host, with its port when it is not the default.
    pub host_header: String,
}

impl Target {
    /// Parses a WebSocket URL.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for anything but `ws://host…` or `wss://host…`.
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl { url: url.to_owned(), reason: reason.to_owned() };
        let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        let secure = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            Some(_) => return Err(invalid("the scheme must be ws:// or wss://")),
            None => return Err(invalid("missing ws:// or wss:// scheme")),
        };
        let host = uri.host().filter(|host| !host.is_empty()).ok_or_else(|| invalid("missing host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let default_port = if secure { 443 } else { 80 };
        // `Uri::port_u16` is `None` both for "no port" and for an unreadable one; only the
        // first may fall back to the scheme's port.
        let port = match written_port(uri.authority().map_or("", |authority| authority.as_str())) {
            None => default_port,
            Some(written) => match written.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return Err(invalid(&format!("port {written:?} is not in 1..=65535"))),
            },
        };
        let path = uri.path_and_query().map_or("/", |path| path.as_str());
        let path = if path.is_empty() { "/".to_owned() } else { path.to_owned() };
        let bracketed = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        let host_header = if port == default_port { bracketed } else { format!("{bracketed}:{port}") };
        Ok(Self { host, port, secure, path, host_header })
    }
}

/// The port as written after the host in `authority`, if any (an empty one counts as none).
fn written_port(authority: &str) -> Option<&str> {
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, rest)| rest);
    let after_host = match host_and_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').map_or("", |(_, rest)| rest),
        None => host_and_port,
    };
    after_host.rsplit_once(':').map(|(_, port)| port).filter(|port| !port.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes_ports_and_ipv6() {
        assert_eq!(
            Target::parse("wss://stream.example.com/ws").unwrap(),
            Target {
                host: "stream.example.com".into(),
                port: 443,
                secure: true,
                path: "/ws".into(),
                host_header: "stream.example.com".into()
            }
        );
        assert_eq!(
            Target::parse("ws://127.0.0.1:9001/x?y=1").unwrap(),
            Target {
                host: "127.0.0.1".into(),
                port: 9001,
                secure: false,
                path: "/x?y=1".into(),
                host_header: "127.0.0.1:9001".into()
            }
        );
        assert_eq!(Target::parse("ws://[::1]:9001").unwrap().host_header, "[::1]:9001");
        assert_eq!(Target::parse("ws://example.com").unwrap().path, "/");
        assert_eq!(Target::parse("ws://[::1]:80/").unwrap().host, "::1");
        assert_eq!(Target::parse("ws://[::1]:9001/").unwrap().port, 9001);
        assert_eq!(Target::parse("ws://user@example.com:81/").unwrap().port, 81);
        assert_eq!(Target::parse("ws://example.com:/").unwrap().port, 80);
    }

    #[test]
    fn rejects_other_schemes_and_garbage() {
        for url in [
            "http://example.com/",
            "example.com",
            "",
            "ws://",
            "not a url",
            "ws://127.0.0.1:notaport/",
            "ws://127.0.0.1:65536/",
            "ws://127.0.0.1:0/",
            "ws://127.0.0.1:-1/",
        ] {
            assert!(matches!(Target::parse(url), Err(Error::InvalidUrl { .. })), "{url}");
        }
    }
}
