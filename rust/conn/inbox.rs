//! The bounded hand-off from a connection's reader task to its consumer (the Python side).
//!
//! The reader pushes messages into a lock-free bounded queue and wakes the consumer through an
//! `eventfd` only when the consumer has armed it, i.e. when it has drained everything and is
//! about to wait. A consumer that is busy gets no wake-ups at all; an idle one gets one per
//! batch. The consumer waits for the descriptor in its own event loop (asyncio's `add_reader`),
//! so the reader never needs the consumer's lock or interpreter.
//!
//! When the queue is full the reader waits for room (the socket is then not read, and TCP
//! pushes back on the sender): nothing is dropped, and each pause is counted.
//!
//! Wake-up protocol (the two `SeqCst` fences make it a Dekker pair, so a push is never missed):
//! - consumer: clear the descriptor, set `armed`, fence, then pop until empty;
//! - reader: push, fence, and if `armed` was set, clear it and signal the descriptor.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering, fence};

use bytes::Bytes;
use crossbeam_queue::ArrayQueue;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::stats::{ConnStats, bump};
use crate::clock::monotonic_ns;

/// One received data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A text message, already checked to be UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Inbound {
    /// Payload length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::Binary(data) => data.len(),
        }
    }

    /// Whether the payload is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a batch handed to the consumer ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained<E> {
    /// The queue was emptied (or the batch limit reached); `delivered` messages went out.
    Done {
        /// Messages handed over.
        delivered: usize,
    },
    /// The consumer's function failed after `delivered` messages; the rest stay queued and a
    /// wake-up is pending so they follow.
    Failed {
        /// Messages handed over, the failed one included.
        delivered: usize,
        /// What the consumer's function returned.
        error: E,
    },
}

/// The reader→consumer queue of one connection.
#[derive(Debug)]
pub struct Inbox {
    queue: ArrayQueue<Inbound>,
    wake: OwnedFd,
    armed: AtomicBool,
    reader_paused: AtomicBool,
    room: Notify,
    finished: AtomicBool,
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
            queue: ArrayQueue::new(capacity),
            wake,
            armed: AtomicBool::new(true),
            reader_paused: AtomicBool::new(false),
            room: Notify::new(),
            finished: AtomicBool::new(false),
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
        self.queue.len()
    }

    /// Whether no message is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Capacity in messages.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }

    // ---- reader side -------------------------------------------------------------------

    /// Queues `message`, waiting for room if the inbox is full. Does not wake the consumer:
    /// the reader calls [`Inbox::wake_consumer`] when it is about to wait for the network or
    /// after a run of messages.
    pub async fn push(&self, message: Inbound, stats: &ConnStats) {
        if let Err(message) = self.queue.push(message) {
            self.push_when_room(message, stats).await;
        }
    }

    async fn push_when_room(&self, mut message: Inbound, stats: &ConnStats) {
        bump(&stats.queue_full_events, 1);
        let paused_at = monotonic_ns();
        // Whatever is queued must reach the consumer, or it would never make room.
        self.wake_consumer();
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            self.reader_paused.store(true, Ordering::SeqCst);
            match self.queue.push(message) {
                Ok(()) => break,
                Err(rejected) => message = rejected,
            }
            self.wake_consumer();
            room.await;
        }
        self.reader_paused.store(false, Ordering::Relaxed);
        bump(&stats.queue_full_ns, monotonic_ns().saturating_sub(paused_at));
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

    /// Takes one message; when none is waiting, arms the wake-up first so the next push
    /// signals the descriptor.
    pub fn pop_or_arm(&self) -> Option<Inbound> {
        if let Some(message) = self.queue.pop() {
            self.made_room();
            return Some(message);
        }
        self.arm();
        let message = self.queue.pop();
        if message.is_some() {
            self.made_room();
        }
        message
    }

    /// Hands up to `limit` queued messages to `deliver`, after clearing and re-arming the
    /// wake-up. If the limit stops it early, or `deliver` fails, the descriptor is signalled
    /// again so the rest follow on the consumer's next turn instead of starving its loop.
    pub fn drain<E>(
        &self,
        limit: usize,
        stats: &ConnStats,
        mut deliver: impl FnMut(Inbound) -> Result<(), E>,
    ) -> Drained<E> {
        self.clear_wake();
        self.arm();
        let mut delivered = 0;
        let mut failure = None;
        while delivered < limit {
            let Some(message) = self.queue.pop() else { break };
            delivered += 1;
            if let Err(error) = deliver(message) {
                failure = Some(error);
                break;
            }
        }
        if delivered > 0 {
            self.made_room();
            bump(&stats.messages_delivered, delivered as u64);
            bump(&stats.batches_delivered, 1);
        }
        if (failure.is_some() || delivered == limit) && !self.queue.is_empty() {
            self.signal();
        }
        match failure {
            None => Drained::Done { delivered },
            Some(error) => Drained::Failed { delivered, error },
        }
    }

    fn made_room(&self) {
        if self.reader_paused.load(Ordering::SeqCst) {
            self.room.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::sync::Arc;

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
    }

    fn text(n: usize) -> Inbound {
        Inbound::Text(n.to_string().into())
    }

    fn wake_pending(inbox: &Inbox) -> bool {
        let mut count: u64 = 0;
        // SAFETY: as in clear_wake.
        let read = unsafe { libc::read(inbox.wake_fd(), (&raw mut count).cast(), 8) };
        read == 8
    }

    #[test]
    fn wakes_only_an_armed_consumer_and_once_per_batch() {
        let inbox = Inbox::new(16).unwrap();
        let stats = ConnStats::default();
        block_on(inbox.push(text(0), &stats));
        inbox.wake_consumer();
        assert!(wake_pending(&inbox), "a new inbox starts armed");
        block_on(inbox.push(text(1), &stats));
        inbox.wake_consumer();
        assert!(!wake_pending(&inbox), "no second wake-up before the consumer re-arms");
        let mut seen = Vec::new();
        let outcome = inbox.drain::<()>(100, &stats, |m| {
            seen.push(m);
            Ok(())
        });
        assert_eq!(outcome, Drained::Done { delivered: 2 });
        assert_eq!(seen, vec![text(0), text(1)]);
        block_on(inbox.push(text(2), &stats));
        inbox.wake_consumer();
        assert!(wake_pending(&inbox), "drain re-arms the wake-up");
    }

    #[test]
    fn a_limited_or_failed_batch_leaves_a_wake_up_for_the_rest() {
        let inbox = Inbox::new(16).unwrap();
        let stats = ConnStats::default();
        for n in 0..5 {
            block_on(inbox.push(text(n), &stats));
        }
        assert_eq!(inbox.drain::<()>(2, &stats, |_| Ok(())), Drained::Done { delivered: 2 });
        assert!(wake_pending(&inbox));
        assert_eq!(inbox.drain(10, &stats, |_| Err("boom")), Drained::Failed { delivered: 1, error: "boom" });
        assert!(wake_pending(&inbox));
        assert_eq!(inbox.len(), 2);
        assert_eq!(stats.snapshot().messages_delivered, 3);
    }

    #[test]
    fn pop_or_arm_arms_when_empty() {
        let inbox = Inbox::new(4).unwrap();
        let stats = ConnStats::default();
        inbox.armed.store(false, Ordering::Relaxed);
        assert_eq!(inbox.pop_or_arm(), None);
        block_on(inbox.push(text(7), &stats));
        inbox.wake_consumer();
        assert!(wake_pending(&inbox));
        assert_eq!(inbox.pop_or_arm(), Some(text(7)));
    }

    #[test]
    fn a_full_inbox_pauses_the_reader_and_loses_nothing() {
        let inbox = Arc::new(Inbox::new(8).unwrap());
        let stats = Arc::new(ConnStats::default());
        let total = 10_000;
        let producer = {
            let (inbox, stats) = (inbox.clone(), stats.clone());
            std::thread::spawn(move || {
                block_on(async {
                    for n in 0..total {
                        inbox.push(text(n), &stats).await;
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
            inbox.drain::<()>(usize::MAX, &stats, |m| {
                received.push(m);
                Ok(())
            });
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
    }
}
