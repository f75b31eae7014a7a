//! Frame headers (RFC 6455 §5.2): parsing the server's, encoding the client's.

/// Frame opcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: UTF-8 text.
    Text,
    /// 0x2: binary data.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
    /// Any other value: reserved, a protocol error.
    Reserved(u8),
}

impl Opcode {
    /// The opcode of the 4-bit value `bits`.
    #[must_use]
    pub const fn from_bits(bits: u8) -> Self {
        match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => Self::Reserved(other),
        }
    }

    /// The 4-bit value on the wire.
    #[must_use]
    pub const fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
            Self::Reserved(bits) => bits,
        }
    }

    /// Close, ping and pong (and reserved 0xB–0xF).
    #[must_use]
    pub const fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of its message.
    pub fin: bool,
    /// The three reserved bits; no extension is negotiated, so they must be 0.
    pub rsv: u8,
    /// What the frame carries.
    pub opcode: Opcode,
    /// Whether a masking key follows (never from a server).
    pub masked: bool,
    /// Bytes of the header itself, masking key included.
    pub header_len: usize,
    /// Bytes of payload after the header.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses the header at the start of `data`; `None` until all of it is there.
    #[must_use]
    pub fn parse(data: &[u8]) -> Option<Self> {
        let [first, second, ..] = *data else { return None };
        let (payload_len, mut header_len) = match second & 0x7F {
            126 => (u64::from(u16::from_be_bytes(data.get(2..4)?.try_into().ok()?)), 4),
            127 => (u64::from_be_bytes(data.get(2..10)?.try_into().ok()?), 10),
            short => (u64::from(short), 2),
        };
        let masked = second & 0x80 != 0;
        if masked {
            header_len += 4;
            if data.len() < header_len {
                return None;
            }
        }
        Some(Self {
            fin: first & 0x80 != 0,
            rsv: (first >> 4) & 0x7,
            opcode: Opcode::from_bits(first & 0x0F),
            masked,
            header_len,
            payload_len,
        })
    }
}

/// Appends one final, masked client frame carrying `payload` to `out` (RFC 6455 §5.3: every
/// client frame is masked with a fresh key).
pub fn encode_client_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode.bits());
    let len = payload.len();
    if len < 126 {
        #[allow(clippy::cast_possible_truncation, reason = "len < 126")]
        out.push(0x80 | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0x80 | 0x7E);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 0x7F);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// XORs `data` with the repeating 4-byte `mask`, eight bytes at a time.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut words = data.chunks_exact_mut(8);
    for word in &mut words {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
    }
    for (byte, key) in words.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_length_forms_and_waits_for_missing_bytes() {
        assert_eq!(FrameHeader::parse(&[0x81]), None);
        let short = FrameHeader::parse(&[0x81, 5]).unwrap();
        assert_eq!(
            (short.fin, short.opcode, short.header_len, short.payload_len),
            (true, Opcode::Text, 2, 5)
        );
        assert_eq!(FrameHeader::parse(&[0x02, 126, 1]), None);
        let medium = FrameHeader::parse(&[0x02, 126, 1, 0]).unwrap();
        assert_eq!(
            (medium.fin, medium.opcode, medium.header_len, medium.payload_len),
            (false, Opcode::Binary, 4, 256)
        );
        let long = FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap();
        assert_eq!((long.header_len, long.payload_len), (10, 65_536));
        let masked = FrameHeader::parse(&[0x89, 0x80 | 3, 1, 2, 3, 4]).unwrap();
        assert!(masked.masked);
        assert_eq!(masked.header_len, 6);
        assert_eq!(FrameHeader::parse(&[0x89, 0x80 | 3, 1, 2]), None);
        assert_eq!(FrameHeader::parse(&[0xF1, 0]).unwrap().rsv, 7);
        assert_eq!(FrameHeader::parse(&[0x83, 0]).unwrap().opcode, Opcode::Reserved(3));
    }

    #[test]
    fn encodes_masked_frames_that_parse_back() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        for len in [0_usize, 1, 125, 126, 65_535, 65_536, 70_001] {
            let payload: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let mut wire = Vec::new();
            encode_client_frame(&mut wire, Opcode::Binary, &payload, mask);
            let header = FrameHeader::parse(&wire).unwrap();
            assert!(header.masked && header.fin);
            assert_eq!(header.payload_len, len as u64);
            assert_eq!(&wire[header.header_len - 4..header.header_len], &mask);
            let mut body = wire[header.header_len..].to_vec();
            apply_mask(&mut body, mask);
            assert_eq!(body, payload);
        }
    }
}
