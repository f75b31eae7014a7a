//! The client's opening handshake (RFC 6455 §4.1): the upgrade request and the checks on the
//! server's answer. No extension and no subprotocol is offered, so the server may name none.

use tungstenite::handshake::client::generate_key;
use tungstenite::handshake::derive_accept_key;

/// Most bytes a server's handshake answer may take before it is refused.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Why the server's answer was not an accepted upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A valid HTTP answer with a status other than 101.
    Status(u16),
    /// Not a valid upgrade; the text says what is wrong.
    Invalid(String),
}

/// One upgrade request and the key its answer must match.
#[derive(Debug)]
pub struct Upgrade {
    /// The request bytes to write.
    pub request: Vec<u8>,
    key: String,
}

impl Upgrade {
    /// Builds the request for `path` (with its query) on `host_header`, with extra `headers`
    /// (already checked to be valid header names and values).
    #[must_use]
    pub fn new(path: &str, host_header: &str, headers: &[(String, String)]) -> Self {
        let key = generate_key();
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        );
        for (name, value) in headers {
            request.push_str(name);
            request.push_str(": ");
            request.push_str(value);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        Self { request: request.into_bytes(), key }
    }

    /// Checks the answer in `response`. `Ok(None)` while it is incomplete; `Ok(Some(n))` when
    /// the first `n` bytes are an accepted upgrade (what follows is already WebSocket data).
    ///
    /// # Errors
    /// [`Refusal`] when the answer is complete and not an accepted upgrade, or too long.
    pub fn check_response(&self, response: &[u8]) -> Result<Option<usize>, Refusal> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut headers);
        let length = match parsed.parse(response) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) if response.len() < MAX_RESPONSE_BYTES => return Ok(None),
            Ok(httparse::Status::Partial) => {
                return Err(Refusal::Invalid(format!(
                    "no end of the HTTP answer in {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            Err(error) => return Err(Refusal::Invalid(format!("invalid HTTP answer: {error}"))),
        };
        let status = parsed.code.unwrap_or(0);
        if status != 101 {
            return Err(Refusal::Status(status));
        }
        let header = |name: &str| {
            parsed
                .headers
                .iter()
                .find(|header| header.name.eq_ignore_ascii_case(name))
                .map(|header| header.value)
        };
        let invalid = |reason: &str| Err(Refusal::Invalid(reason.to_owned()));
        if !header("Upgrade").is_some_and(|value| value.eq_ignore_ascii_case(b"websocket")) {
            return invalid("the answer lacks 'Upgrade: websocket'");
        }
        let connection_upgrade = header("Connection").is_some_and(|value| {
            value.split(|&byte| byte == b',').any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
        });
        if !connection_upgrade {
            return invalid("the answer lacks 'Connection: Upgrade'");
        }
        if header("Sec-WebSocket-Accept") != Some(derive_accept_key(self.key.as_bytes()).as_bytes()) {
            return invalid("Sec-WebSocket-Accept does not match the key sent");
        }
        if header("Sec-WebSocket-Extensions").is_some() {
            return invalid("the server chose an extension that was not offered");
        }
        if header("Sec-WebSocket-Protocol").is_some() {
            return invalid("the server chose a subprotocol that was not offered");
        }
        Ok(Some(length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(upgrade: &Upgrade, extra: &str) -> String {
        let accept = derive_accept_key(upgrade.key.as_bytes());
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
        )
    }

    #[test]
    fn request_carries_the_key_and_the_extra_headers() {
        let upgrade = Upgrade::new("/ws?x=1", "example.com:8443", &[("X-Api-Key".into(), "k".into())]);
        let text = String::from_utf8(upgrade.request.clone()).unwrap();
        assert!(text.starts_with("GET /ws?x=1 HTTP/1.1\r\nHost: example.com:8443\r\n"));
        assert!(text.contains(&format!("Sec-WebSocket-Key: {}\r\n", upgrade.key)));
        assert!(text.contains("X-Api-Key: k\r\n"));
        assert!(!text.contains("Extensions"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn accepts_a_valid_answer_and_keeps_the_bytes_after_it() {
        let upgrade = Upgrade::new("/", "h", &[]);
        let mut bytes = answer(&upgrade, "").into_bytes();
        let length = bytes.len();
        bytes.extend_from_slice(&[0x81, 0]);
        assert_eq!(upgrade.check_response(&bytes[..10]), Ok(None));
        assert_eq!(upgrade.check_response(&bytes), Ok(Some(length)));
    }

    #[test]
    fn refuses_statuses_bad_keys_and_unoffered_extensions() {
        let upgrade = Upgrade::new("/", "h", &[]);
        assert_eq!(
            upgrade.check_response(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
            Err(Refusal::Status(403))
        );
        let bad_key =
            "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
        assert!(matches!(upgrade.check_response(bad_key.as_bytes()), Err(Refusal::Invalid(_))));
        let deflate = answer(&upgrade, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert!(matches!(upgrade.check_response(deflate.as_bytes()), Err(Refusal::Invalid(_))));
        assert!(matches!(upgrade.check_response(b"garbage\r\n\r\n"), Err(Refusal::Invalid(_))));
    }
}
