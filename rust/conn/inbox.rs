//! The bounded hand-off from a connection's reader task to its consumer (the Python side).
//!
//! The reader publishes messages in batches: each batch names one read chunk and the spans of
//! it that are messages (or carries a message assembled from fragments). It wakes the consumer
//! through an `eventfd` only when the consumer has armed it, i.e. when it has taken everything
//! and is about to wait. A consumer that is busy gets no wake-ups at all; an idle one gets one
//! per batch. The consumer waits for the descriptor in its own event loop (asyncio's
//! `add_reader`), so the reader never needs the consumer's lock or interpreter.
//!
//! At most `capacity` messages are queued. When the queue is full the reader waits for room
//! (the socket is then not read, and TCP pushes back on the sender): nothing is dropped, and
//! each pause is counted.
//!
//! A consumer that wants market events rather than raw messages gives the inbox a [`Decoder`]
//! (a venue adapter): the reader then decodes each batch as it publishes it, on the I/O thread,
//! and the consumer is handed [`Payload::Decoded`] items — so parsing never waits for, or
//! holds, the consumer's interpreter, and the read chunk is free again at once.
//!
//! Wake-up protocol (the two `SeqCst` fences make it a Dekker pair, so a push is never missed):
//! - consumer: clear the descriptor, set `armed`, fence, then take until empty;
//! - reader: publish, fence, and if `armed` was set, clear it and signal the descriptor.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_queue::SegQueue;
use tokio::sync::Notify;

use super::chunk::Chunk;
use super::stats::{ConnStats, bump};
use crate::clock::monotonic_ns;
use crate::pool::SessionEvent;
use crate::protocol::Kind;
use crate::venues::Decoded;

/// Turns received messages into [`Decoded`] items on the reader's side of an inbox.
pub trait Decoder: Send + std::fmt::Debug {
    /// Decodes one message (never an event), appending what it yields to `out`; messages that
    /// yield nothing for the consumer (heartbeats, pongs) append nothing.
    fn decode(&mut self, message: Payload<'_>, receive_time_ns: u64, out: &mut Vec<Decoded>);

    /// A new connection starts: forget per-connection state.
    fn reset(&mut self);
}

/// What the consumer is handed: a received message, borrowed from its chunk, or a change in
/// the state of the session that feeds the inbox, in order with the messages around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Payload<'a> {
    /// A text message (UTF-8, checked).
    Text(&'a str),
    /// A text message that is all ASCII (checked): a [`Payload::Text`] the consumer may copy
    /// without decoding.
    Ascii(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A session event (only from a reconnecting session, never from a lone connection).
    Event(&'a SessionEvent),
    /// What the inbox's [`Decoder`] made of a message.
    Decoded(&'a Decoded),
}

/// What the consumer is handed, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A session event.
    Event(SessionEvent),
    /// A decoded item.
    Decoded(Decoded),
}

impl Inbound {
    /// An owned copy of `payload`. (An associated function rather than a method of
    /// [`Payload`], so that `Inbound::from_payload` can be passed where any lifetime is taken.)
    #[must_use]
    pub fn from_payload(payload: Payload<'_>) -> Self {
        match payload {
            Payload::Text(text) | Payload::Ascii(text) => Self::Text(text.to_owned()),
            Payload::Binary(data) => Self::Binary(data.to_vec()),
            Payload::Event(event) => Self::Event(event.clone()),
            Payload::Decoded(item) => Self::Decoded(item.clone()),
        }
    }
}

/// One message of a batch.
#[derive(Debug)]
pub(crate) enum Item {
    /// `len` bytes at `start` of the batch's chunk.
    Span { start: usize, len: usize, kind: Kind },
    /// A message assembled from fragments.
    Owned { kind: Kind, data: Vec<u8> },
}

/// What is published in one go.
#[derive(Debug)]
pub(crate) enum Batch {
    /// Messages, with the chunk their spans point into.
    Messages { chunk: Arc<Chunk>, items: Vec<Item> },
    /// One session event.
    Event(SessionEvent),
    /// What the decoder made of a run of messages.
    Decoded(Vec<Decoded>),
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Self::Messages { items, .. } => items.len(),
            Self::Event(_) => 1,
            Self::Decoded(items) => items.len(),
        }
    }

    fn payload(&self, index: usize) -> Payload<'_> {
        let (kind, bytes) = match self {
            Self::Event(event) => return Payload::Event(event),
            Self::Decoded(items) => return Payload::Decoded(&items[index]),
            Self::Messages { chunk, items } => match &items[index] {
                Item::Span { start, len, kind } => (*kind, chunk.bytes(*start, *len)),
                Item::Owned { kind, data } => (*kind, data.as_slice()),
            },
        };
        match kind {
            Kind::Binary => Payload::Binary(bytes),
            // SAFETY: the reader checked every text message to be UTF-8 (or ASCII) before
            // publishing it.
            Kind::Text => Payload::Text(unsafe { std::str::from_utf8_unchecked(bytes) }),
            // SAFETY: as above.
            Kind::Ascii => Payload::Ascii(unsafe { std::str::from_utf8_unchecked(bytes) }),
        }
    }
}

/// How a batch handed to the consumer ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained<E> {
    /// The queue was emptied (or the batch limit reached).
    Done {
        /// Messages handed over.
        delivered: usize,
    },
    /// The consumer's function failed; the messages behind the failed one stay queued and a
    /// wake-up is pending so they follow.
    Failed {
        /// Messages handed over, the failed one included.
        delivered: usize,
        /// What the consumer's function returned.
        error: E,
    },
}

/// The consumer's place in the batch it is taking messages from.
#[derive(Debug, Default)]
struct Cursor {
    batch: Option<Batch>,
    next: usize,
}

impl Cursor {
    /// Whether a message is ready, fetching the next batch if the current one is done.
    fn ready(&mut self, batches: &SegQueue<Batch>) -> bool {
        if self.batch.is_none() {
            self.batch = batches.pop();
            self.next = 0;
        }
        self.batch.is_some()
    }

    /// Calls `take` with the next message, if any.
    fn take_next<R>(&mut self, batches: &SegQueue<Batch>, take: impl FnOnce(Payload<'_>) -> R) -> Option<R> {
        self.ready(batches);
        let batch = self.batch.as_ref()?;
        let result = take(batch.payload(self.next));
        self.next += 1;
        if self.next == batch.len() {
            // Releases the chunk: back to the pool once its last batch is consumed.
            self.batch = None;
        }
        Some(result)
    }
}

/// The reader→consumer queue of one connection.
#[derive(Debug)]
pub struct Inbox {
    batches: SegQueue<Batch>,
    queued: AtomicUsize,
    capacity: usize,
    cursor: Mutex<Cursor>,
    /// Taken by the reader only (one connection at a time), so never contended.
    decoder: Mutex<Option<Box<dyn Decoder>>>,
    wake: OwnedFd,
    armed: AtomicBool,
    reader_paused: AtomicBool,
    room: Notify,
    finished: AtomicBool,
    // Consumer-side counters: the consumer is their only writer.
    delivered_messages: AtomicU64,
    delivered_batches: AtomicU64,
    callback_errors: AtomicU64,
}

/// The consumer-side counters of an inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivered {
    /// Messages handed to the consumer.
    pub messages: u64,
    /// Batches (wake-ups) in which they were handed over.
    pub batches: u64,
    /// Failures of the consumer's callback.
    pub callback_errors: u64,
}

impl Inbox {
    /// An inbox holding up to `capacity` messages.
    ///
    /// # Errors
    /// The `eventfd` could not be created (descriptor limit reached).
    pub fn new(capacity: usize) -> std::io::Result<Self> {
        // SAFETY: eventfd has no memory-safety preconditions; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
        let wake = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self {
            batches: SegQueue::new(),
            queued: AtomicUsize::new(0),
            capacity,
            cursor: Mutex::new(Cursor::default()),
            decoder: Mutex::new(None),
            wake,
            armed: AtomicBool::new(true),
            reader_paused: AtomicBool::new(false),
            room: Notify::new(),
            finished: AtomicBool::new(false),
            delivered_messages: AtomicU64::new(0),
            delivered_batches: AtomicU64::new(0),
            callback_errors: AtomicU64::new(0),
        })
    }

    /// The descriptor that becomes readable when the consumer should look at the inbox.
    #[must_use]
    pub fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// Messages waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether no message is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Capacity in messages.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The consumer-side counters now.
    #[must_use]
    pub fn delivered(&self) -> Delivered {
        Delivered {
            messages: self.delivered_messages.load(Ordering::Relaxed),
            batches: self.delivered_batches.load(Ordering::Relaxed),
            callback_errors: self.callback_errors.load(Ordering::Relaxed),
        }
    }

    /// Counts one failure of the consumer's callback.
    pub fn count_callback_error(&self) {
        bump(&self.callback_errors, 1);
    }

    /// Messages the reader should put in one batch at most.
    #[must_use]
    pub fn batch_limit(&self, wanted: usize) -> usize {
        wanted.min(self.capacity)
    }

    // ---- reader side -------------------------------------------------------------------

    /// Gives the inbox a decoder: from the next batch on, messages are published decoded.
    pub fn set_decoder(&self, decoder: Box<dyn Decoder>) {
        *self.decoder.lock().unwrap_or_else(PoisonError::into_inner) = Some(decoder);
    }

    /// Tells the decoder, if any, that a new connection starts.
    pub fn reset_decoder(&self) {
        if let Some(decoder) = self.decoder.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            decoder.reset();
        }
    }

    /// The batch as the consumer is to see it: decoded if the inbox has a decoder (`None` if
    /// nothing in it was for the consumer), else as it is.
    fn decode(&self, batch: Batch, stats: &ConnStats) -> Option<Batch> {
        let mut slot = self.decoder.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(decoder) = slot.as_mut() else { return Some(batch) };
        let receive_time_ns = stats.last_receive_ns.load(Ordering::Relaxed);
        let mut items = Vec::with_capacity(batch.len());
        for index in 0..batch.len() {
            decoder.decode(batch.payload(index), receive_time_ns, &mut items);
        }
        (!items.is_empty()).then_some(Batch::Decoded(items))
    }

    /// Publishes `batch` (decoded, if the inbox has a decoder), waiting for room if the inbox
    /// cannot take all of it. Does not wake the consumer: the reader calls
    /// [`Inbox::wake_consumer`] when it is about to wait for the network or after a run of
    /// messages.
    pub(crate) async fn push(&self, batch: Batch, stats: &ConnStats) {
        let Some(batch) = self.decode(batch, stats) else { return };
        let count = batch.len();
        if !self.has_room_for(count) {
            self.wait_for_room(count, stats).await;
        }
        self.queued.fetch_add(count, Ordering::AcqRel);
        self.batches.push(batch);
    }

    /// Publishes a session event after everything already published, and wakes the consumer.
    /// Events do not wait for room: they are rare, and the consumer must learn of them.
    pub fn push_event(&self, event: SessionEvent) {
        self.queued.fetch_add(1, Ordering::AcqRel);
        self.batches.push(Batch::Event(event));
        self.wake_consumer();
    }

    fn has_room_for(&self, count: usize) -> bool {
        let queued = self.queued.load(Ordering::SeqCst);
        queued == 0 || queued + count <= self.capacity
    }

    async fn wait_for_room(&self, count: usize, stats: &ConnStats) {
        bump(&stats.queue_full_events, 1);
        let paused_at = monotonic_ns();
        // Whatever is queued must reach the consumer, or it would never make room.
        self.wake_consumer();
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            self.reader_paused.store(true, Ordering::SeqCst);
            if self.has_room_for(count) {
                break;
            }
            self.wake_consumer();
            room.await;
        }
        self.reader_paused.store(false, Ordering::Relaxed);
        let resumed_at = monotonic_ns();
        bump(&stats.queue_full_ns, resumed_at.saturating_sub(paused_at));
        // Not reading was our choice, not the peer's silence: restart the stale clock.
        stats.last_receive_ns.store(resumed_at, Ordering::Relaxed);
    }

    /// Whether the reader is waiting for room (and so not reading the socket).
    #[must_use]
    pub fn is_reader_paused(&self) -> bool {
        self.reader_paused.load(Ordering::Relaxed)
    }

    /// Signals the consumer if it is waiting for messages.
    pub fn wake_consumer(&self) {
        fence(Ordering::SeqCst);
        if self.armed.load(Ordering::Relaxed) && self.armed.swap(false, Ordering::AcqRel) {
            self.signal();
        }
    }

    /// Marks the inbox finished (no more messages will come) and wakes the consumer.
    pub fn finish(&self) {
        self.finished.store(true, Ordering::Release);
        self.signal();
    }

    /// Whether [`Inbox::finish`] was called; messages may still be queued.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our own eventfd. It can only fail with
        // EAGAIN when the counter is saturated, and then the consumer is already signalled.
        unsafe { libc::write(self.wake.as_raw_fd(), (&raw const one).cast(), 8) };
    }

    // ---- consumer side -----------------------------------------------------------------

    /// Resets the descriptor after a wake-up.
    pub fn clear_wake(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64 from our own non-blocking eventfd; EAGAIN
        // (nothing signalled) is the only expected failure and is harmless.
        unsafe { libc::read(self.wake.as_raw_fd(), (&raw mut count).cast(), 8) };
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    fn cursor(&self) -> std::sync::MutexGuard<'_, Cursor> {
        // Only the consumer takes this lock, so it is never contended.
        self.cursor.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `take` with the next message; when none is waiting, arms the wake-up first so
    /// the next publish signals the descriptor, and returns `None`.
    pub fn pop_or_arm<R>(&self, take: impl FnOnce(Payload<'_>) -> R) -> Option<R> {
        let mut cursor = self.cursor();
        if !cursor.ready(&self.batches) {
            self.arm();
        }
        let result = cursor.take_next(&self.batches, take);
        if result.is_some() {
            self.took(1);
            bump(&self.delivered_messages, 1);
        }
        result
    }

    /// Hands up to `limit` queued messages to `deliver`, after clearing and re-arming the
    /// wake-up. If the limit stops it early, or `deliver` fails, the descriptor is signalled
    /// again so the rest follow on the consumer's next turn instead of starving its loop.
    pub fn drain<E>(
        &self,
        limit: usize,
        mut deliver: impl FnMut(Payload<'_>) -> Result<(), E>,
    ) -> Drained<E> {
        self.clear_wake();
        self.arm();
        let mut cursor = self.cursor();
        let mut delivered = 0;
        let mut failure = None;
        while delivered < limit {
            match cursor.take_next(&self.batches, &mut deliver) {
                None => break,
                Some(outcome) => {
                    delivered += 1;
                    if let Err(error) = outcome {
                        failure = Some(error);
                        break;
                    }
                }
            }
        }
        drop(cursor);
        if delivered > 0 {
            self.took(delivered);
            bump(&self.delivered_messages, delivered as u64);
            bump(&self.delivered_batches, 1);
        }
        if (failure.is_some() || delivered == limit) && !self.is_empty() {
            self.signal();
        }
        match failure {
            None => Drained::Done { delivered },
            Some(error) => Drained::Failed { delivered, error },
        }
    }

    fn took(&self, count: usize) {
        self.queued.fetch_sub(count, Ordering::SeqCst);
        if self.reader_paused.load(Ordering::SeqCst) {
            self.room.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::chunk::ChunkPool;
    use super::*;
    use std::future::Future;

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
    }

    /// A batch of the texts `first..first + count`, in one chunk.
    fn batch(pool: &Arc<ChunkPool>, first: usize, count: usize) -> Batch {
        let mut writer = pool.take(0);
        let mut items = Vec::new();
        for n in first..first + count {
            let text = n.to_string();
            items.push(Item::Span { start: writer.filled().len(), len: text.len(), kind: Kind::Ascii });
            writer.append(text.as_bytes());
        }
        Batch::Messages { chunk: writer.chunk().clone(), items }
    }

    fn text(n: usize) -> Inbound {
        Inbound::Text(n.to_string())
    }

    fn wake_pending(inbox: &Inbox) -> bool {
        let mut count: u64 = 0;
        // SAFETY: as in clear_wake.
        let read = unsafe { libc::read(inbox.wake_fd(), (&raw mut count).cast(), 8) };
        read == 8
    }

    fn drain_all(inbox: &Inbox, into: &mut Vec<Inbound>) -> Drained<()> {
        inbox.drain(usize::MAX, |m| {
            into.push(Inbound::from_payload(m));
            Ok(())
        })
    }

    #[test]
    fn wakes_only_an_armed_consumer_and_once_per_batch() {
        let (pool, inbox, stats) = (ChunkPool::new(4096), Inbox::new(16).unwrap(), ConnStats::default());
        block_on(inbox.push(batch(&pool, 0, 1), &stats));
        inbox.wake_consumer();
        assert!(wake_pending(&inbox), "a new inbox starts armed");
        block_on(inbox.push(batch(&pool, 1, 2), &stats));
        inbox.wake_consumer();
        assert!(!wake_pending(&inbox), "no second wake-up before the consumer re-arms");
        let mut seen = Vec::new();
        assert_eq!(drain_all(&inbox, &mut seen), Drained::Done { delivered: 3 });
        assert_eq!(seen, vec![text(0), text(1), text(2)]);
        block_on(inbox.push(batch(&pool, 3, 1), &stats));
        inbox.wake_consumer();
        assert!(wake_pending(&inbox), "drain re-arms the wake-up");
    }

    #[test]
    fn a_limited_or_failed_batch_leaves_a_wake_up_for_the_rest() {
        let (pool, inbox, stats) = (ChunkPool::new(4096), Inbox::new(16).unwrap(), ConnStats::default());
        block_on(inbox.push(batch(&pool, 0, 5), &stats));
        assert_eq!(inbox.drain::<()>(2, |_| Ok(())), Drained::Done { delivered: 2 });
        assert!(wake_pending(&inbox));
        assert_eq!(inbox.drain(10, |_| Err("boom")), Drained::Failed { delivered: 1, error: "boom" });
        assert!(wake_pending(&inbox));
        assert_eq!(inbox.len(), 2);
        assert_eq!(inbox.pop_or_arm(Inbound::from_payload), Some(text(3)));
        assert_eq!(inbox.delivered().messages, 4, "drained and popped alike");
    }

    #[test]
    fn pop_or_arm_arms_when_empty() {
        let (pool, inbox, stats) = (ChunkPool::new(4096), Inbox::new(4).unwrap(), ConnStats::default());
        inbox.armed.store(false, Ordering::Relaxed);
        assert_eq!(inbox.pop_or_arm(Inbound::from_payload), None);
        block_on(inbox.push(batch(&pool, 7, 1), &stats));
        inbox.wake_consumer();
        assert!(wake_pending(&inbox));
        assert_eq!(inbox.pop_or_arm(Inbound::from_payload), Some(text(7)));
    }

    #[test]
    fn a_full_inbox_pauses_the_reader_and_loses_nothing() {
        let inbox = Arc::new(Inbox::new(8).unwrap());
        let stats = Arc::new(ConnStats::default());
        let total = 10_000;
        let producer = {
            let (inbox, stats) = (inbox.clone(), stats.clone());
            std::thread::spawn(move || {
                let pool = ChunkPool::new(4096);
                block_on(async {
                    for first in (0..total).step_by(4) {
                        inbox.push(batch(&pool, first, 4), &stats).await;
                        inbox.wake_consumer();
                    }
                });
                inbox.finish();
            })
        };
        let mut received = Vec::with_capacity(total);
        let mut poll = libc::pollfd { fd: inbox.wake_fd(), events: libc::POLLIN, revents: 0 };
        loop {
            let finished = inbox.is_finished();
            drain_all(&inbox, &mut received);
            if finished && inbox.is_empty() {
                break;
            }
            // SAFETY: one valid pollfd; a bounded wait so a lost wake-up fails the test, not hangs it.
            let ready = unsafe { libc::poll(&raw mut poll, 1, 5_000) };
            assert!(ready > 0, "lost wake-up after {} messages", received.len());
        }
        producer.join().unwrap();
        assert_eq!(received, (0..total).map(text).collect::<Vec<_>>());
        assert!(stats.snapshot().queue_full_events > 0);
        assert!(inbox.is_empty());
    }
}
