//! The simulator's side of the wire: the HTTP request that opens a connection (an RFC 6455
//! upgrade or a plain GET), its answers, the client's masked frames and the server's control
//! frames. No I/O here.

use crate::protocol::frame::{FrameHeader, Opcode, apply_mask};

/// The most bytes of HTTP request head the simulator reads.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// The largest client message the simulator accepts (subscribe requests are small).
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 1024 * 1024;

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// Path and query as sent.
    pub path: String,
    /// The `Sec-WebSocket-Key` of an upgrade request; `None` for a plain HTTP request.
    pub websocket_key: Option<String>,
    /// Bytes of the head, blank line included.
    pub head_len: usize,
}

/// Parses the request head at the start of `data`: `Ok(None)` until it is complete.
///
/// # Errors
///
/// A reason, for a head that is not HTTP/1.1 or has no path.
pub fn parse_request(data: &[u8]) -> Result<Option<Request>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(data) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(err.to_string()),
    };
    let path = request.path.ok_or("no path")?.to_owned();
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    let upgrade = header("upgrade").is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    let websocket_key = if upgrade { header("sec-websocket-key").map(str::to_owned) } else { None };
    Ok(Some(Request { path, websocket_key, head_len }))
}

/// The `101 Switching Protocols` answer to an upgrade with `key`.
#[must_use]
pub fn switching_protocols(key: &str) -> Vec<u8> {
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

/// A complete HTTP response with a JSON (or, for errors, plain) body, closing the connection.
#[must_use]
pub fn http_response(status: u16, body: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Status",
    };
    let content_type = if body.starts_with(['{', '[']) { "application/json" } else { "text/plain" };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A server (unmasked) control frame.
#[must_use]
pub fn control_frame(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let len = u8::try_from(payload.len().min(125)).unwrap_or(125);
    let mut frame = vec![0x80 | opcode.bits(), len];
    frame.extend_from_slice(&payload[..usize::from(len)]);
    frame
}

/// A close frame with `code` and `reason` (cut to fit a control frame).
#[must_use]
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    control_frame(Opcode::Close, &payload)
}

/// One message or control frame from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientFrame {
    /// A complete text or binary message (fragments joined).
    Message(Vec<u8>),
    /// A ping with its payload.
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// A close frame, with its code (1005 when it carries none).
    Close(u16),
}

/// Reassembles client messages from the bytes read off the socket.
#[derive(Debug, Default)]
pub struct FrameReader {
    fragments: Vec<u8>,
    in_message: bool,
}

impl FrameReader {
    /// Takes the next frame off the front of `buffer`: `Ok(None)` until one is complete (or a
    /// fragment was absorbed; call again while it returns frames).
    ///
    /// # Errors
    ///
    /// A close code and reason for a frame RFC 6455 forbids from a client (unmasked, reserved
    /// bits or opcode, a bad fragment sequence, a message over
    /// [`MAX_CLIENT_MESSAGE_BYTES`]).
    pub fn next(&mut self, buffer: &mut Vec<u8>) -> Result<Option<ClientFrame>, (u16, &'static str)> {
        loop {
            let Some(header) = FrameHeader::parse(buffer) else { return Ok(None) };
            if !header.masked {
                return Err((1002, "client frames must be masked"));
            }
            if header.rsv != 0 {
                return Err((1002, "reserved bits set"));
            }
            let payload_len = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
            if payload_len > MAX_CLIENT_MESSAGE_BYTES
                || self.fragments.len() + payload_len > MAX_CLIENT_MESSAGE_BYTES
            {
                return Err((1009, "message too big"));
            }
            let total = header.header_len + payload_len;
            if buffer.len() < total {
                return Ok(None);
            }
            let mask: [u8; 4] = buffer[header.header_len - 4..header.header_len].try_into().expect("4 bytes");
            let mut payload = buffer[header.header_len..total].to_vec();
            buffer.drain(..total);
            apply_mask(&mut payload, mask);
            let frame = match header.opcode {
                Opcode::Ping => ClientFrame::Ping(payload),
                Opcode::Pong => ClientFrame::Pong,
                Opcode::Close => ClientFrame::Close(
                    payload.get(..2).map_or(1005, |code| u16::from_be_bytes([code[0], code[1]])),
                ),
                Opcode::Text | Opcode::Binary if !self.in_message => {
                    if header.fin {
                        ClientFrame::Message(payload)
                    } else {
                        self.in_message = true;
                        self.fragments = payload;
                        continue;
                    }
                }
                Opcode::Continuation if self.in_message => {
                    self.fragments.extend_from_slice(&payload);
                    if !header.fin {
                        continue;
                    }
                    self.in_message = false;
                    ClientFrame::Message(std::mem::take(&mut self.fragments))
                }
                _ => return Err((1002, "unexpected opcode")),
            };
            return Ok(Some(frame));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode_client_frame;

    #[test]
    fn upgrade_and_plain_requests_parse() {
        let upgrade = b"GET /stream?streams=btcusdt@trade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let request = parse_request(upgrade).unwrap().unwrap();
        assert_eq!(request.path, "/stream?streams=btcusdt@trade");
        assert_eq!(request.head_len, upgrade.len());
        let answer =
            String::from_utf8(switching_protocols(request.websocket_key.as_deref().unwrap())).unwrap();
        assert!(answer.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "RFC 6455's example key");
        let plain = parse_request(b"GET /api/v3/depth?symbol=BTCUSDT HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!(plain.websocket_key, None);
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost").unwrap(), None);
        assert!(parse_request(b"\x00\x01 nonsense\r\n\r\n").is_err());
    }

    #[test]
    fn frames_unmask_and_reassemble() {
        let mut wire = Vec::new();
        encode_client_frame(&mut wire, Opcode::Text, b"hello", [1, 2, 3, 4]);
        encode_client_frame(&mut wire, Opcode::Ping, b"p", [9, 9, 9, 9]);
        let mut fragmented = Vec::new();
        encode_client_frame(&mut fragmented, Opcode::Text, b"ab", [5, 6, 7, 8]);
        fragmented[0] &= 0x7F;
        wire.extend_from_slice(&fragmented);
        encode_client_frame(&mut wire, Opcode::Continuation, b"cd", [1, 1, 1, 1]);
        encode_client_frame(&mut wire, Opcode::Close, &1000_u16.to_be_bytes(), [0, 0, 0, 0]);
        let mut reader = FrameReader::default();
        let mut frames = Vec::new();
        let partial = wire.split_off(3);
        assert_eq!(reader.next(&mut wire), Ok(None));
        wire.extend_from_slice(&partial);
        while let Some(frame) = reader.next(&mut wire).unwrap() {
            frames.push(frame);
        }
        assert_eq!(
            frames,
            [
                ClientFrame::Message(b"hello".to_vec()),
                ClientFrame::Ping(b"p".to_vec()),
                ClientFrame::Message(b"abcd".to_vec()),
                ClientFrame::Close(1000)
            ]
        );
        let mut unmasked = vec![0x81, 0x01, b'x'];
        assert_eq!(reader.next(&mut unmasked), Err((1002, "client frames must be masked")));
    }

    #[test]
    fn close_frames_fit_a_control_frame() {
        let frame = close_frame(1008, &"é".repeat(100));
        assert_eq!(frame[0], 0x88);
        assert!(usize::from(frame[1]) <= 125);
        assert_eq!(&frame[2..4], &1008_u16.to_be_bytes());
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
    }
}
