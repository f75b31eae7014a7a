//! The receive state machine: bytes from the server in, messages and control events out.
//!
//! It enforces every rule a client must (RFC 6455 §5): no reserved bits or opcodes, no masked
//! server frames, control frames final and at most 125 bytes, continuation only inside a
//! fragmented message, valid UTF-8 in text (checked once per message, when it is complete),
//! valid close codes and reasons, and the size limits. A broken rule yields a [`Violation`]
//! carrying the close code to fail the connection with.
//!
//! A message that arrives in one frame is not copied: the event names its place in the
//! caller's buffer. Only fragmented messages are assembled into a buffer of their own.

use tungstenite::protocol::frame::coding::CloseCode;

use super::frame::{FrameHeader, Opcode};

/// Close code for protocol errors.
pub const PROTOCOL_ERROR: u16 = 1002;
/// Close code for text that is not UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// Close code for a message over the limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;

/// A broken protocol rule and the close code that answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// 1002, 1007 or 1009.
    pub code: u16,
    /// What the peer did.
    pub reason: String,
}

impl Violation {
    fn protocol(reason: impl Into<String>) -> Self {
        Self { code: PROTOCOL_ERROR, reason: reason.into() }
    }
}

/// What a data message holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Binary data.
    Binary,
    /// UTF-8 text with at least one non-ASCII character (checked).
    Text,
    /// Text that is all ASCII (checked): the common case of JSON feeds, which lets the
    /// consumer copy it into a string without decoding it again.
    Ascii,
}

/// What a frame meant.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A message in one frame; its payload is `buffer[start..start + len]` (text validated).
    Framed {
        /// Offset of the payload in the buffer given to [`MessageReader::parse`].
        start: usize,
        /// Payload length.
        len: usize,
        /// What the payload holds.
        kind: Kind,
    },
    /// A message assembled from fragments (text validated).
    Assembled {
        /// What the payload holds.
        kind: Kind,
        /// The whole payload.
        data: Vec<u8>,
    },
    /// A ping; the pong must carry the same payload.
    Ping(&'a [u8]),
    /// A pong, with the payload of the ping it answers.
    Pong(&'a [u8]),
    /// The peer's close frame: code and reason, or `None` for an empty one. Every frame after
    /// it is ignored.
    Close(Option<(u16, &'a str)>),
}

/// How far [`MessageReader::parse`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// Offset of the first byte not parsed: the start of an incomplete frame, or the end.
    pub consumed: usize,
    /// Total size of the incomplete frame, once its header is complete.
    pub next_frame_len: Option<usize>,
}

struct Fragments {
    text: bool,
    data: Vec<u8>,
}

/// The receive side of one connection.
pub struct MessageReader {
    max_message_bytes: usize,
    max_frame_bytes: usize,
    fragments: Option<Fragments>,
    closed: bool,
}

impl MessageReader {
    /// A reader enforcing the two size limits.
    #[must_use]
    pub fn new(max_message_bytes: usize, max_frame_bytes: usize) -> Self {
        Self { max_message_bytes, max_frame_bytes, fragments: None, closed: false }
    }

    /// Whether the peer's close frame has been read.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Parses the complete frames in `buffer[from..]`, calling `on_event` for each event, and
    /// stops after `max_messages` messages so the caller can publish them in bounded batches.
    ///
    /// # Errors
    /// The first [`Violation`]; the connection must then be failed with its code.
    pub fn parse(
        &mut self,
        buffer: &[u8],
        mut from: usize,
        max_messages: usize,
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<Parsed, Violation> {
        let mut messages = 0;
        loop {
            if messages == max_messages {
                return Ok(Parsed { consumed: from, next_frame_len: None });
            }
            let rest = &buffer[from..];
            let Some(header) = FrameHeader::parse(rest) else {
                return Ok(Parsed { consumed: from, next_frame_len: None });
            };
            self.check(&header)?;
            // The frame-size check bounds payload_len, so this fits.
            let total = header.header_len + usize::try_from(header.payload_len).unwrap_or(usize::MAX - 16);
            if rest.len() < total {
                return Ok(Parsed { consumed: from, next_frame_len: Some(total) });
            }
            let start = from + header.header_len;
            from += total;
            if !self.closed {
                let mut counting = |event: Event<'_>| {
                    if matches!(event, Event::Framed { .. } | Event::Assembled { .. }) {
                        messages += 1;
                    }
                    on_event(event);
                };
                self.frame(header, start, &buffer[start..from], &mut counting)?;
            }
        }
    }

    fn check(&self, header: &FrameHeader) -> Result<(), Violation> {
        if header.rsv != 0 {
            return Err(Violation::protocol("reserved bits set without a negotiated extension"));
        }
        if header.masked {
            return Err(Violation::protocol("masked frame from the server"));
        }
        if let Opcode::Reserved(bits) = header.opcode {
            return Err(Violation::protocol(format!("reserved opcode {bits:#x}")));
        }
        if header.opcode.is_control() {
            if !header.fin {
                return Err(Violation::protocol("fragmented control frame"));
            }
            if header.payload_len > 125 {
                return Err(Violation::protocol("control frame over 125 bytes"));
            }
        }
        if header.payload_len > self.max_frame_bytes as u64 {
            return Err(Violation {
                code: MESSAGE_TOO_BIG,
                reason: format!(
                    "frame of {} bytes exceeds max_frame_size {}",
                    header.payload_len, self.max_frame_bytes
                ),
            });
        }
        Ok(())
    }

    fn check_message_size(&self, bytes: usize) -> Result<(), Violation> {
        if bytes > self.max_message_bytes {
            return Err(Violation {
                code: MESSAGE_TOO_BIG,
                reason: format!(
                    "message of {bytes} bytes exceeds max_message_size {}",
                    self.max_message_bytes
                ),
            });
        }
        Ok(())
    }

    fn frame(
        &mut self,
        header: FrameHeader,
        start: usize,
        payload: &[u8],
        on_event: &mut impl FnMut(Event<'_>),
    ) -> Result<(), Violation> {
        match header.opcode {
            Opcode::Text | Opcode::Binary => {
                if self.fragments.is_some() {
                    return Err(Violation::protocol("a new message started inside a fragmented one"));
                }
                let text = header.opcode == Opcode::Text;
                self.check_message_size(payload.len())?;
                if header.fin {
                    let kind = if text { check_text(payload)? } else { Kind::Binary };
                    on_event(Event::Framed { start, len: payload.len(), kind });
                } else {
                    self.fragments = Some(Fragments { text, data: payload.to_vec() });
                }
            }
            Opcode::Continuation => {
                let Some(fragments) = self.fragments.as_mut() else {
                    return Err(Violation::protocol("continuation frame without a message to continue"));
                };
                let total = fragments.data.len() + payload.len();
                self.check_message_size(total)?;
                let fragments = self.fragments.as_mut().expect("checked above");
                fragments.data.extend_from_slice(payload);
                if header.fin {
                    let Fragments { text, data } = self.fragments.take().expect("checked above");
                    let kind = if text { check_text(&data)? } else { Kind::Binary };
                    on_event(Event::Assembled { kind, data });
                }
            }
            Opcode::Ping => on_event(Event::Ping(payload)),
            Opcode::Pong => on_event(Event::Pong(payload)),
            Opcode::Close => {
                let close = parse_close(payload)?;
                self.closed = true;
                on_event(Event::Close(close));
            }
            Opcode::Reserved(_) => unreachable!("rejected by check()"),
        }
        Ok(())
    }
}

/// Checks a text payload: all ASCII (one fast pass, and valid UTF-8 by definition), else
/// validated as UTF-8.
fn check_text(payload: &[u8]) -> Result<Kind, Violation> {
    if payload.is_ascii() {
        return Ok(Kind::Ascii);
    }
    simdutf8::basic::from_utf8(payload)
        .map(|_| Kind::Text)
        .map_err(|_| Violation { code: INVALID_PAYLOAD, reason: "invalid UTF-8 in a text message".into() })
}

fn parse_close(payload: &[u8]) -> Result<Option<(u16, &str)>, Violation> {
    match payload {
        [] => Ok(None),
        [_] => Err(Violation::protocol("close frame with a one-byte payload")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !CloseCode::from(code).is_allowed() {
                return Err(Violation::protocol(format!("close code {code} is not allowed")));
            }
            let reason = simdutf8::basic::from_utf8(reason).map_err(|_| Violation {
                code: INVALID_PAYLOAD,
                reason: "close reason is not UTF-8".into(),
            })?;
            Ok(Some((code, reason)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut wire = vec![first];
        match payload.len() {
            len @ 0..=125 => wire.push(u8::try_from(len).unwrap()),
            len => {
                wire.push(126);
                wire.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
            }
        }
        wire.extend_from_slice(payload);
        wire
    }

    /// Parses `wire` fed in pieces of `step` bytes, as a socket would deliver it.
    fn events(wire: &[u8], step: usize) -> Result<Vec<String>, Violation> {
        let mut reader = MessageReader::new(1000, 800);
        let mut out = Vec::new();
        let mut consumed = 0;
        let mut end = 0;
        while end < wire.len() {
            end = (end + step).min(wire.len());
            let buffer = &wire[..end];
            let parsed = reader.parse(buffer, consumed, usize::MAX, |event| {
                out.push(match event {
                    Event::Framed { start, len, kind } => {
                        let text = kind != Kind::Binary;
                        format!(
                            "{}:{}",
                            if text { "text" } else { "binary" },
                            String::from_utf8_lossy(&buffer[start..start + len])
                        )
                    }
                    Event::Assembled { kind, data } => {
                        let text = kind != Kind::Binary;
                        format!(
                            "{}*:{}",
                            if text { "text" } else { "binary" },
                            String::from_utf8_lossy(&data)
                        )
                    }
                    Event::Ping(payload) => format!("ping:{}", String::from_utf8_lossy(payload)),
                    Event::Pong(_) => "pong".into(),
                    Event::Close(close) => format!("close:{close:?}"),
                });
            })?;
            consumed = parsed.consumed;
        }
        Ok(out)
    }

    #[test]
    fn whole_and_fragmented_messages_with_a_ping_between_fragments() {
        let mut wire = frame(0x81, b"hello");
        wire.extend(frame(0x01, b"frag"));
        wire.extend(frame(0x89, b"p"));
        wire.extend(frame(0x80, "ménts".as_bytes()));
        wire.extend(frame(0x82, &[0xff, 0x00]));
        wire.extend(frame(0x88, &[0x03, 0xe8, b'o', b'k']));
        wire.extend(frame(0x81, b"after close: ignored"));
        for step in [1, 3, 7, wire.len()] {
            assert_eq!(
                events(&wire, step).unwrap(),
                [
                    "text:hello",
                    "ping:p",
                    "text*:fragménts",
                    "binary:\u{fffd}\0",
                    "close:Some((1000, \"ok\"))"
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn every_client_rule_is_enforced() {
        let cases: [(Vec<u8>, u16); 12] = [
            (frame(0xC1, b"x"), 1002),                               // RSV1
            (frame(0x83, b""), 1002),                                // reserved data opcode
            (frame(0x8B, b""), 1002),                                // reserved control opcode
            (vec![0x81, 0x81, 1, 2, 3, 4, b'x'], 1002),              // masked
            (frame(0x09, b""), 1002),                                // fragmented ping
            (frame(0x89, &[b'x'; 126]), 1002),                       // long ping
            (frame(0x80, b"x"), 1002),                               // stray continuation
            ([frame(0x01, b"a"), frame(0x81, b"b")].concat(), 1002), // new message inside
            (frame(0x81, &[0xff, 0xfe]), 1007),                      // invalid UTF-8
            (frame(0x88, &[0x03]), 1002),                            // one-byte close
            (frame(0x88, &[0x03, 0xed]), 1002),                      // close code 1005
            (frame(0x88, &[0x03, 0xe8, 0xff]), 1007),                // close reason not UTF-8
        ];
        for (wire, code) in cases {
            assert_eq!(events(&wire, wire.len()).unwrap_err().code, code, "{wire:x?}");
        }
    }

    #[test]
    fn size_limits_give_1009() {
        assert_eq!(events(&frame(0x82, &[0; 900]), 2000).unwrap_err().code, 1009);
        let fragmented = [frame(0x02, &[0; 600]), frame(0x80, &[0; 600])].concat();
        assert_eq!(events(&fragmented, 2000).unwrap_err().code, 1009);
        assert_eq!(events(&frame(0x82, &[0; 800]), 2000).unwrap().len(), 1);
    }

    #[test]
    fn an_incomplete_frame_reports_its_size() {
        let wire = frame(0x82, &[7; 300]);
        let mut reader = MessageReader::new(1000, 1000);
        let parsed = reader.parse(&wire[..10], 0, usize::MAX, |_| panic!("no event yet")).unwrap();
        assert_eq!(parsed, Parsed { consumed: 0, next_frame_len: Some(304) });
    }

    #[test]
    fn stops_after_the_message_limit() {
        let wire = [frame(0x81, b"a"), frame(0x89, b""), frame(0x81, b"b"), frame(0x81, b"c")].concat();
        let mut reader = MessageReader::new(1000, 1000);
        let mut seen = 0;
        let parsed = reader.parse(&wire, 0, 2, |_| seen += 1).unwrap();
        assert_eq!((seen, parsed.consumed), (3, 8), "two messages and the ping between them");
        let rest = reader.parse(&wire, parsed.consumed, 2, |_| seen += 1).unwrap();
        assert_eq!((seen, rest.consumed), (4, wire.len()));
    }
}
