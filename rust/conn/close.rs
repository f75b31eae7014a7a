//! How a connection ended: the close code and reason that count, who sent them first, and
//! whether tickwire failed the connection because the peer broke the protocol.

use std::fmt;

/// No close frame arrived before the TCP connection ended (RFC 6455 §7.1.5).
pub const ABNORMAL_CLOSURE: u16 = 1006;
/// A close frame arrived without a status code.
pub const NO_STATUS_RECEIVED: u16 = 1005;

/// Longest close reason RFC 6455 allows, in bytes (a control frame holds 125, minus the code).
pub const MAX_CLOSE_REASON_BYTES: usize = 123;

/// Who started the close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseInitiator {
    /// The peer sent the first close frame.
    Peer,
    /// This side sent the first close frame (`close()` or a protocol failure).
    Local,
    /// Nobody: the TCP connection ended or was dropped without a closing handshake.
    Network,
}

/// The outcome of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code that counts: the first one sent by either side, or 1006.
    pub code: u16,
    /// The reason that went with it, or what ended the connection.
    pub reason: String,
    /// Who started it.
    pub initiator: CloseInitiator,
    /// tickwire failed the connection because the peer broke RFC 6455.
    pub protocol_violation: bool,
}

impl CloseInfo {
    /// A close started by the peer's close frame.
    #[must_use]
    pub fn by_peer(code: u16, reason: impl Into<String>) -> Self {
        Self { code, reason: reason.into(), initiator: CloseInitiator::Peer, protocol_violation: false }
    }

    /// A close started here by `close()`.
    #[must_use]
    pub fn by_us(code: u16, reason: impl Into<String>) -> Self {
        Self { code, reason: reason.into(), initiator: CloseInitiator::Local, protocol_violation: false }
    }

    /// The connection failed here because the peer broke the protocol.
    #[must_use]
    pub fn failed(code: u16, reason: impl Into<String>) -> Self {
        Self { code, reason: reason.into(), initiator: CloseInitiator::Local, protocol_violation: true }
    }

    /// The TCP connection ended without a closing handshake.
    #[must_use]
    pub fn abnormal(reason: impl Into<String>) -> Self {
        Self {
            code: ABNORMAL_CLOSURE,
            reason: reason.into(),
            initiator: CloseInitiator::Network,
            protocol_violation: false,
        }
    }

    /// Whether the closing handshake ran (as opposed to a drop or a failure).
    #[must_use]
    pub const fn is_clean(&self) -> bool {
        !self.protocol_violation && !matches!(self.initiator, CloseInitiator::Network)
    }
}

impl fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = match (self.initiator, self.protocol_violation) {
            (_, true) => "failed by tickwire",
            (CloseInitiator::Peer, false) => "closed by the peer",
            (CloseInitiator::Local, false) => "closed by tickwire",
            (CloseInitiator::Network, false) => "dropped without a closing handshake",
        };
        write!(f, "{by} with code {}", self.code)?;
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        Ok(())
    }
}
