//! One WebSocket connection: opened by [`Connection::connect`], run by a reader task and a
//! writer task on the tokio runtime, consumed through its [`Inbox`].
//!
//! The handle is cheap to clone; the tasks stop and the socket closes when the last clone is
//! dropped. Neither task ever touches Python: the consumer side ([`Inbox`]) is all the `PyO3`
//! glue uses.

mod chunk;
mod close;
mod heartbeat;
mod inbox;
mod reader;
mod state;
mod stats;
mod writer;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tungstenite::protocol::frame::coding::CloseCode;

pub use chunk::{Chunk, ChunkPool, ChunkWriter};
pub use close::{CloseInfo, CloseInitiator, MAX_CLOSE_REASON_BYTES};
pub use inbox::{Decoder, Delivered, Drained, Inbound, Inbox, Payload};
pub use reader::WAKE_EVERY_MESSAGES;
pub use state::ConnState;
pub use stats::{ConnStats, StatsSnapshot};
pub use writer::{Control, Outgoing};

use self::heartbeat::Heartbeat;
use self::reader::ReadTask;
use self::state::AtomicState;
use self::stats::bump;
use crate::clock::monotonic_ns;
use crate::config::{ConnectConfig, check_read_buffer};
use crate::error::{Error, Result};
use crate::transport;

/// Messages `send()` may queue for the writer before it waits for room.
pub const OUTGOING_QUEUE: usize = 4096;

/// Pongs and close answers the reader may queue for the writer before it waits.
const CONTROL_QUEUE: usize = 64;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Bytes),
}

impl From<Outbound> for Outgoing {
    fn from(message: Outbound) -> Self {
        match message {
            Outbound::Text(text) => Self::Message { text: true, payload: Bytes::from(text) },
            Outbound::Binary(payload) => Self::Message { text: false, payload },
        }
    }
}

/// State shared by the handle, the reader and the writer.
#[derive(Debug)]
pub(crate) struct Shared {
    url: String,
    state: AtomicState,
    stats: ConnStats,
    inbox: Arc<Inbox>,
    /// Whether this connection's end is the end of its inbox (false when a reconnecting
    /// session shares one inbox across its connections).
    owns_inbox: bool,
    /// The first close event (sent or received), which decides the reported code.
    close: Mutex<Option<CloseInfo>>,
    terminated: watch::Sender<bool>,
    close_timeout: Duration,
}

impl Shared {
    /// Keeps the first close event; later ones (the peer's echo of ours, say) do not count.
    fn record_close(&self, close: CloseInfo) {
        let mut slot = self.close.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(close);
        }
    }

    fn close_info(&self) -> Option<CloseInfo> {
        self.close.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Ends the connection once: records `fallback` if no close event was seen, moves to the
    /// terminal state, and tells the consumer and any waiter.
    fn terminate(&self, fallback: CloseInfo) {
        self.record_close(fallback);
        let clean = self.close_info().is_some_and(|close| close.is_clean());
        self.state.advance(if clean { ConnState::Closed } else { ConnState::Error });
        if self.owns_inbox {
            self.inbox.finish();
        } else {
            // The session's consumer may be waiting; it learns of the end from the session.
            self.inbox.wake_consumer();
        }
        self.terminated.send_replace(true);
    }
}

struct Tasks {
    reader: AbortHandle,
    writer: AbortHandle,
    heartbeat: AbortHandle,
}

struct Handle {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<Outgoing>,
    pool: Arc<ChunkPool>,
    tasks: Tasks,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.tasks.reader.abort();
        self.tasks.writer.abort();
        self.tasks.heartbeat.abort();
        self.shared.terminate(CloseInfo::abnormal("the connection was dropped without close()"));
    }
}

/// An open WebSocket client connection.
#[derive(Clone)]
pub struct Connection {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("url", &self.url()).field("state", &self.state()).finish()
    }
}

impl Connection {
    /// Opens a connection and starts its reader and writer on the current tokio runtime.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] / [`Error::InvalidOption`] for bad options; the opening errors
    /// ([`Error::Resolve`], [`Error::Connect`], [`Error::Tls`], [`Error::CaFile`],
    /// [`Error::HandshakeRejected`], [`Error::Handshake`]); [`Error::Timeout`] after
    /// `open_timeout`.
    pub async fn connect(config: ConnectConfig) -> Result<Self> {
        let inbox = Arc::new(Inbox::new(config.max_queue).map_err(Error::Runtime)?);
        Self::open(config, inbox, true).await
    }

    /// Opens a connection that publishes into `inbox`, which outlives it: its end does not
    /// finish the inbox. A reconnecting session gives every connection it opens the same one.
    ///
    /// # Errors
    /// As [`Connection::connect`].
    pub async fn connect_into(config: ConnectConfig, inbox: Arc<Inbox>) -> Result<Self> {
        Self::open(config, inbox, false).await
    }

    async fn open(config: ConnectConfig, inbox: Arc<Inbox>, owns_inbox: bool) -> Result<Self> {
        config.validate()?;
        let started_ns = monotonic_ns();
        let opened =
            tokio::time::timeout(config.open_timeout, transport::open(&config)).await.map_err(|_| {
                Error::Timeout { url: config.url.clone(), operation: "opening", timeout: config.open_timeout }
            })??;
        let shared = Arc::new(Shared {
            url: config.url,
            state: AtomicState::new(ConnState::Connected),
            stats: ConnStats::default(),
            inbox,
            owns_inbox,
            close: Mutex::new(None),
            terminated: watch::Sender::new(false),
            close_timeout: config.close_timeout,
        });
        let connected_ns = monotonic_ns();
        bump(&shared.stats.connect_time_ns, connected_ns - started_ns);
        bump(&shared.stats.connected_at_ns, connected_ns);
        bump(&shared.stats.last_receive_ns, connected_ns);

        let pool = ChunkPool::new(config.read_buffer_bytes);
        let mut chunk = pool.take(opened.early_bytes.len() + 1);
        chunk.append(&opened.early_bytes);
        let (outgoing_tx, outgoing_rx) = mpsc::channel(OUTGOING_QUEUE);
        let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let read_task = ReadTask {
            socket: opened.read,
            chunk,
            pool: pool.clone(),
            shared: shared.clone(),
            control: control_tx.clone(),
            max_message_bytes: config.max_message_bytes,
            max_frame_bytes: config.max_frame_bytes,
        };
        let reader = tokio::spawn(reader::read_loop(read_task)).abort_handle();
        let writer = tokio::spawn(writer::write_loop(opened.write, outgoing_rx, control_rx, shared.clone()))
            .abort_handle();
        let heartbeat = tokio::spawn(heartbeat::heartbeat_loop(Heartbeat {
            shared: shared.clone(),
            control: control_tx,
            ping_interval: config.ping_interval,
            stale_timeout: config.stale_timeout,
            io_tasks: [reader.clone(), writer.clone()],
        }))
        .abort_handle();
        let tasks = Tasks { reader, writer, heartbeat };
        Ok(Self { handle: Arc::new(Handle { shared, outgoing: outgoing_tx, pool, tasks }) })
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The URL it was opened with.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.shared().url
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> ConnState {
        self.shared().state.get()
    }

    /// How it closed, once it has (or is closing).
    #[must_use]
    pub fn close_info(&self) -> Option<CloseInfo> {
        self.shared().close_info()
    }

    /// The queue of received messages, for the consumer.
    #[must_use]
    pub fn inbox(&self) -> &Arc<Inbox> {
        &self.shared().inbox
    }

    /// Calls `take` with the next message, for a consumer that reads one at a time; arms the
    /// wake-up and returns `None` when none is waiting.
    pub fn try_recv<R>(&self, take: impl FnOnce(Payload<'_>) -> R) -> Option<R> {
        self.shared().inbox.pop_or_arm(take)
    }

    /// The counters now.
    #[must_use]
    pub fn stats(&self) -> StatsSnapshot {
        let shared = self.shared();
        let delivered = shared.inbox.delivered();
        StatsSnapshot {
            messages_delivered: delivered.messages,
            batches_delivered: delivered.batches,
            callback_errors: delivered.callback_errors,
            queue_len: shared.inbox.len() as u64,
            queue_capacity: shared.inbox.capacity() as u64,
            read_buffer_capacity: self.handle.pool.capacity() as u64,
            ..shared.stats.snapshot()
        }
    }

    /// Sets how many bytes one socket read may take, from the next read on.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] outside the accepted range.
    pub fn set_read_buffer_capacity(&self, bytes: usize) -> Result<()> {
        check_read_buffer(bytes)?;
        self.handle.pool.set_capacity(bytes);
        Ok(())
    }

    /// The error to raise for an operation on a connection that is closing or closed.
    #[must_use]
    pub fn closed_error(&self) -> Error {
        let close = self.close_info().unwrap_or_else(|| CloseInfo::abnormal("the connection is closing"));
        Error::Closed { url: self.url().to_owned(), close }
    }

    /// Queues `message` for sending without waiting. `Ok(false)` means the send queue is full
    /// and `message` was not queued.
    ///
    /// # Errors
    /// [`Error::Closed`] once the connection is closing or closed.
    pub fn try_send(&self, message: Outbound) -> Result<bool> {
        if self.state() != ConnState::Connected {
            return Err(self.closed_error());
        }
        match self.handle.outgoing.try_send(message.into()) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.closed_error()),
        }
    }

    /// Queues `message`, waiting while the send queue is full.
    ///
    /// # Errors
    /// [`Error::Closed`] once the connection is closing or closed.
    pub async fn send(&self, message: Outbound) -> Result<()> {
        if self.state() != ConnState::Connected {
            return Err(self.closed_error());
        }
        self.handle.outgoing.send(message.into()).await.map_err(|_| self.closed_error())
    }

    /// Runs the closing handshake and waits for the connection to end; after `close_timeout`
    /// the TCP connection is dropped. Does nothing on a connection already closed.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a code that may not be sent or a reason over 123 bytes.
    pub async fn close(&self, code: u16, reason: &str) -> Result<()> {
        check_close(code, reason)?;
        if self.state() == ConnState::Connected {
            // A full send queue delays the close frame behind the data, as ordered; a writer
            // that is already gone means the connection is ending anyway.
            let _ = self.handle.outgoing.send(Outgoing::Close(CloseInfo::by_us(code, reason))).await;
        }
        let timeout = self.shared().close_timeout;
        if tokio::time::timeout(timeout, self.wait_closed()).await.is_err() {
            self.handle.tasks.reader.abort();
            self.handle.tasks.writer.abort();
            self.handle.tasks.heartbeat.abort();
            self.shared().terminate(CloseInfo::abnormal(format!(
                "the closing handshake did not finish within {timeout:?}; TCP dropped"
            )));
        }
        Ok(())
    }

    /// Waits until the connection has ended, however it ends.
    pub async fn wait_closed(&self) {
        let mut terminated = self.shared().terminated.subscribe();
        // Err only if the sender is gone, which means the connection has ended too.
        let _ = terminated.wait_for(|done| *done).await;
    }
}

/// Checks a close code and reason against RFC 6455 §7.4 and §5.5.
///
/// # Errors
/// [`Error::InvalidOption`] naming what is wrong.
pub fn check_close(code: u16, reason: &str) -> Result<()> {
    if !CloseCode::from(code).is_allowed() || matches!(code, 1004..=1006 | 1015) {
        return Err(Error::InvalidOption {
            name: "code",
            reason: format!("close code {code} may not be sent"),
        });
    }
    if reason.len() > MAX_CLOSE_REASON_BYTES {
        return Err(Error::InvalidOption {
            name: "reason",
            reason: format!("{} bytes is longer than {MAX_CLOSE_REASON_BYTES}", reason.len()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_close;

    #[test]
    fn close_codes_follow_rfc_6455() {
        for code in [1000, 1001, 1003, 1008, 1011, 3000, 4999] {
            assert!(check_close(code, "").is_ok(), "{code}");
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1100, 2999, 5000] {
            assert!(check_close(code, "").is_err(), "{code}");
        }
        assert!(check_close(1000, &"x".repeat(124)).is_err());
    }
}
