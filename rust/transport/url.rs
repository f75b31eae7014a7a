//! The parts of a `ws://` / `wss://` URL the transport needs.

use tokio_tungstenite::tungstenite::http::Uri;

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
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        Ok(Self { host, port, secure })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes_ports_and_ipv6() {
        assert_eq!(
            Target::parse("wss://stream.example.com/ws").unwrap(),
            Target { host: "stream.example.com".into(), port: 443, secure: true }
        );
        assert_eq!(
            Target::parse("ws://127.0.0.1:9001/x?y=1").unwrap(),
            Target { host: "127.0.0.1".into(), port: 9001, secure: false }
        );
        assert_eq!(Target::parse("ws://[::1]:80/").unwrap().host, "::1");
    }

    #[test]
    fn rejects_other_schemes_and_garbage() {
        for url in ["http://example.com/", "example.com", "", "ws://", "not a url"] {
            assert!(matches!(Target::parse(url), Err(Error::InvalidUrl { .. })), "{url}");
        }
    }
}
