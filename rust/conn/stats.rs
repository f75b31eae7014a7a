//! Cold-path counters of one connection.
//!
//! Each counter has one writer (the reader task, the writer task, or the consumer), so it is
//! bumped with a relaxed load and store, which compiles to plain moves: no locked instruction
//! on the hot path. Readers may see a value a few messages old, which is fine for monitoring.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one connection.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub(crate) messages_in: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) connect_time_ns: AtomicU64,
    pub(crate) connected_at_ns: AtomicU64,
    pub(crate) last_message_ns: AtomicU64,
    pub(crate) queue_full_events: AtomicU64,
    pub(crate) queue_full_ns: AtomicU64,
    pub(crate) last_receive_ns: AtomicU64,
    pub(crate) pings_sent: AtomicU64,
    pub(crate) pongs_received: AtomicU64,
    pub(crate) last_pong_ns: AtomicU64,
    pub(crate) ping_rtt_ns: AtomicU64,
}

/// Adds `n` to a counter that only the calling task writes.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Data messages received.
    pub messages_in: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Data messages sent.
    pub messages_out: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// How long opening took.
    pub connect_time_ns: u64,
    /// When the connection opened (`CLOCK_MONOTONIC`).
    pub connected_at_ns: u64,
    /// When the last data message was read (`CLOCK_MONOTONIC`), 0 before the first.
    pub last_message_ns: u64,
    /// Times the reader found the inbox full and paused: the lag counter.
    pub queue_full_events: u64,
    /// Time the reader spent paused on a full inbox.
    pub queue_full_ns: u64,
    /// Messages handed to the consumer.
    pub messages_delivered: u64,
    /// Batches (wake-ups) in which they were handed over.
    pub batches_delivered: u64,
    /// Exceptions raised by the consumer's callback.
    pub callback_errors: u64,
    /// When anything (data, ping, pong) last arrived (`CLOCK_MONOTONIC`).
    pub last_receive_ns: u64,
    /// WebSocket pings sent by the heartbeat.
    pub pings_sent: u64,
    /// Pongs received.
    pub pongs_received: u64,
    /// When the last pong arrived (`CLOCK_MONOTONIC`), 0 before the first.
    pub last_pong_ns: u64,
    /// Round trip of the last answered heartbeat ping.
    pub ping_rtt_ns: u64,
    /// Messages waiting in the inbox.
    pub queue_len: u64,
    /// Inbox capacity.
    pub queue_capacity: u64,
    /// Bytes one socket read may take.
    pub read_buffer_capacity: u64,
}

impl ConnStats {
    /// Copies the counters; the inbox's and the buffer's are filled in by the connection.
    #[must_use]
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            messages_in: get(&self.messages_in),
            bytes_in: get(&self.bytes_in),
            messages_out: get(&self.messages_out),
            bytes_out: get(&self.bytes_out),
            connect_time_ns: get(&self.connect_time_ns),
            connected_at_ns: get(&self.connected_at_ns),
            last_message_ns: get(&self.last_message_ns),
            queue_full_events: get(&self.queue_full_events),
            queue_full_ns: get(&self.queue_full_ns),
            last_receive_ns: get(&self.last_receive_ns),
            pings_sent: get(&self.pings_sent),
            pongs_received: get(&self.pongs_received),
            last_pong_ns: get(&self.last_pong_ns),
            ping_rtt_ns: get(&self.ping_rtt_ns),
            ..StatsSnapshot::default()
        }
    }
}
