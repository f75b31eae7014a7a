//! The connection state machine, readable from any thread without a lock.
//!
//! ```text
//! disconnected ─▶ connecting ─▶ connected ─▶ closing ─▶ closed
//!                     │             │           │
//!                     └─────────────┴───────────┴─────▶ error   (failed, reset, timed out)
//! ```

use std::sync::atomic::{AtomicU8, Ordering};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnState {
    /// Not yet opened.
    Disconnected = 0,
    /// Opening: DNS, TCP, TLS, upgrade.
    Connecting = 1,
    /// Open; messages flow.
    Connected = 2,
    /// A closing handshake is under way.
    Closing = 3,
    /// Closed by a completed closing handshake.
    Closed = 4,
    /// Ended by a failure: protocol violation, reset, or a handshake that never completed.
    Error = 5,
}

impl ConnState {
    /// The lower-case name Python shows.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disconnected => "disconnected",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Closing => "closing",
            Self::Closed => "closed",
            Self::Error => "error",
        }
    }

    /// Closed or failed: nothing more will happen on this connection.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Closed | Self::Error)
    }

    const fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Disconnected,
            1 => Self::Connecting,
            2 => Self::Connected,
            3 => Self::Closing,
            4 => Self::Closed,
            _ => Self::Error,
        }
    }
}

/// A [`ConnState`] in an atomic.
#[derive(Debug)]
pub struct AtomicState(AtomicU8);

impl AtomicState {
    /// Starts in `state`.
    #[must_use]
    pub const fn new(state: ConnState) -> Self {
        Self(AtomicU8::new(state as u8))
    }

    /// The current state.
    #[must_use]
    pub fn get(&self) -> ConnState {
        ConnState::from_u8(self.0.load(Ordering::Acquire))
    }

    /// Moves to `next` unless the state is already terminal; returns whether it moved.
    pub fn advance(&self, next: ConnState) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                (!ConnState::from_u8(current).is_terminal()).then_some(next as u8)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_are_final() {
        let state = AtomicState::new(ConnState::Connecting);
        assert!(state.advance(ConnState::Connected));
        assert!(state.advance(ConnState::Closing));
        assert!(state.advance(ConnState::Closed));
        assert!(!state.advance(ConnState::Error));
        assert_eq!(state.get(), ConnState::Closed);
        assert_eq!(state.get().as_str(), "closed");
    }
}
