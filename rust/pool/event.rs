//! What a reconnecting session reports about itself, in order with its messages.

use std::fmt;
use std::time::Duration;

use crate::conn::CloseInfo;

/// A change in a session's state.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// Opening a connection (attempt 1 is the first since the last successful open).
    Connecting {
        /// Attempt number.
        attempt: u32,
    },
    /// The connection is open and its on-connect messages (subscriptions) are sent.
    Connected {
        /// Attempt number that succeeded.
        attempt: u32,
    },
    /// Opening failed.
    ConnectFailed {
        /// What went wrong.
        error: String,
    },
    /// An open connection ended.
    Disconnected {
        /// How it ended.
        close: CloseInfo,
    },
    /// The next attempt comes after `delay`.
    Reconnecting {
        /// Attempt number of the next try.
        attempt: u32,
        /// Wait before it.
        delay: Duration,
    },
    /// The venue's circuit breaker is open: no attempt for `retry_in`.
    CircuitOpen {
        /// The breaker's explanation.
        message: String,
        /// Wait before the next attempt.
        retry_in: Duration,
    },
    /// The session stopped trying; nothing more will arrive.
    GaveUp {
        /// Why, with the last error.
        reason: String,
    },
    /// The session was closed on request; nothing more will arrive.
    Closed,
}

impl SessionEvent {
    /// The event's name, as Python shows it.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Connecting { .. } => "connecting",
            Self::Connected { .. } => "connected",
            Self::ConnectFailed { .. } => "connect_failed",
            Self::Disconnected { .. } => "disconnected",
            Self::Reconnecting { .. } => "reconnecting",
            Self::CircuitOpen { .. } => "circuit_open",
            Self::GaveUp { .. } => "gave_up",
            Self::Closed => "closed",
        }
    }
}

impl fmt::Display for SessionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connecting { attempt } => write!(f, "connecting (attempt {attempt})"),
            Self::Connected { attempt } => write!(f, "connected (attempt {attempt})"),
            Self::ConnectFailed { error } => write!(f, "connect failed: {error}"),
            Self::Disconnected { close } => write!(f, "disconnected: {close}"),
            Self::Reconnecting { attempt, delay } => {
                write!(f, "reconnecting: attempt {attempt} in {:.3} s", delay.as_secs_f64())
            }
            Self::CircuitOpen { message, .. } => f.write_str(message),
            Self::GaveUp { reason } => write!(f, "gave up: {reason}"),
            Self::Closed => f.write_str("closed"),
        }
    }
}
