//! What a connection is opened with. Defaults are chosen for market data: large enough for a
//! full order-book snapshot, small enough that a misbehaving peer cannot exhaust memory.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Largest incoming message accepted by default, in bytes (16 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Largest incoming frame payload accepted by default, in bytes (16 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// Messages the inbox holds by default before the reader pauses.
pub const DEFAULT_MAX_QUEUE: usize = 65_536;
/// Bytes one socket read may take by default (256 KiB).
pub const DEFAULT_READ_BUFFER_BYTES: usize = 256 * 1024;
/// Smallest read buffer accepted, in bytes.
pub const MIN_READ_BUFFER_BYTES: usize = 4 * 1024;
/// Largest read buffer accepted, in bytes (64 MiB).
pub const MAX_READ_BUFFER_BYTES: usize = 64 * 1024 * 1024;

/// Options for opening one connection. Build with [`ConnectConfig::new`] and set fields.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    /// `ws://` or `wss://` URL.
    pub url: String,
    /// Set `TCP_NODELAY`.
    pub nodelay: bool,
    /// `SO_RCVBUF` in bytes; `None` keeps the kernel default.
    pub recv_buffer_bytes: Option<u32>,
    /// `SO_SNDBUF` in bytes; `None` keeps the kernel default.
    pub send_buffer_bytes: Option<u32>,
    /// Largest incoming message; bigger fails the connection with close 1009.
    pub max_message_bytes: usize,
    /// Largest incoming frame payload.
    pub max_frame_bytes: usize,
    /// Extra headers for the opening handshake.
    pub headers: Vec<(String, String)>,
    /// PEM file of CA certificates trusted in addition to the bundled Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// Time allowed for DNS, TCP, TLS and the upgrade together.
    pub open_timeout: Duration,
    /// Time the closing handshake may take before the TCP connection is dropped.
    pub close_timeout: Duration,
    /// Capacity of the inbox, in messages.
    pub max_queue: usize,
    /// Bytes one socket read may take; changeable later on the connection.
    pub read_buffer_bytes: usize,
    /// How often to send a WebSocket ping; `None` sends none.
    pub ping_interval: Option<Duration>,
    /// How long the connection may receive nothing at all (no data, no pong, no ping) before
    /// it is declared stale and dropped; `None` never.
    pub stale_timeout: Option<Duration>,
}

/// Ping interval used unless configured otherwise.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(20);
/// Stale timeout used unless configured otherwise: three missed pings.
pub const DEFAULT_STALE_TIMEOUT: Duration = Duration::from_mins(1);

impl ConnectConfig {
    /// Options with every default for `url`.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            nodelay: true,
            recv_buffer_bytes: None,
            send_buffer_bytes: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            headers: Vec::new(),
            ca_file: None,
            open_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(10),
            max_queue: DEFAULT_MAX_QUEUE,
            read_buffer_bytes: DEFAULT_READ_BUFFER_BYTES,
            ping_interval: Some(DEFAULT_PING_INTERVAL),
            stale_timeout: Some(DEFAULT_STALE_TIMEOUT),
        }
    }

    /// Checks every option's range.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the first option out of range.
    pub fn validate(&self) -> Result<()> {
        let invalid = |name, reason: &str| Err(Error::InvalidOption { name, reason: reason.into() });
        if self.max_message_bytes == 0 {
            return invalid("max_message_size", "must be positive");
        }
        if self.max_frame_bytes == 0 {
            return invalid("max_frame_size", "must be positive");
        }
        if self.max_queue == 0 {
            return invalid("max_queue", "must be positive");
        }
        if self.open_timeout.is_zero() {
            return invalid("open_timeout", "must be positive");
        }
        if self.ping_interval.is_some_and(|interval| interval.is_zero()) {
            return invalid("ping_interval", "must be positive");
        }
        if self.stale_timeout.is_some_and(|timeout| timeout.is_zero()) {
            return invalid("stale_timeout", "must be positive");
        }
        check_read_buffer(self.read_buffer_bytes)
    }
}

/// Checks a read-buffer capacity against the accepted range.
///
/// # Errors
/// [`Error::InvalidOption`] when it is outside
/// [`MIN_READ_BUFFER_BYTES`]..=[`MAX_READ_BUFFER_BYTES`].
pub fn check_read_buffer(bytes: usize) -> Result<()> {
    if (MIN_READ_BUFFER_BYTES..=MAX_READ_BUFFER_BYTES).contains(&bytes) {
        Ok(())
    } else {
        Err(Error::InvalidOption {
            name: "read_buffer_size",
            reason: format!("{bytes} bytes is outside {MIN_READ_BUFFER_BYTES}..={MAX_READ_BUFFER_BYTES}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        ConnectConfig::new("ws://127.0.0.1:1/").validate().unwrap();
    }

    #[test]
    fn rejects_zero_queue_and_tiny_buffer() {
        let mut config = ConnectConfig::new("ws://127.0.0.1:1/");
        config.max_queue = 0;
        assert!(matches!(config.validate(), Err(Error::InvalidOption { name: "max_queue", .. })));
        assert!(check_read_buffer(100).is_err());
        assert!(check_read_buffer(MAX_READ_BUFFER_BYTES + 1).is_err());
    }
}
