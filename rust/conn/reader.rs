//! The reader task: the only code on the receive hot path.
//!
//! It reads the socket into the current read chunk, parses the frames in place with
//! [`MessageReader`], and publishes the messages as spans of the chunk in batches. It wakes the
//! consumer when it is about to wait for the network or after [`WAKE_EVERY_MESSAGES`]
//! messages in a row, so a busy stream is handed over in batches and a quiet one message by
//! message. Pings are answered through the writer as soon as they are read, whatever the
//! consumer is doing (until the inbox is full).
//!
//! When the peer breaks the protocol the task asks the writer to send the close frame RFC 6455
//! prescribes, keeps reading (discarding) until the peer closes or `close_timeout` passes, and
//! ends. After the peer's close frame it waits, at most `close_timeout`, for the peer to close
//! TCP, as a client should.

use std::sync::Arc;

use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use super::Shared;
use super::chunk::{ChunkPool, ChunkWriter};
use super::close::{CloseInfo, NO_STATUS_RECEIVED};
use super::inbox::{Batch, Item};
use super::stats::bump;
use super::writer::Control;
use crate::clock::monotonic_ns;
use crate::protocol::{Event, MessageReader, Violation};

/// Longest run of messages queued without waking the consumer: bounds the delay a message can
/// see on a stream that never pauses.
pub const WAKE_EVERY_MESSAGES: usize = 64;

/// Why the read loop stopped.
enum End {
    Eof,
    Io(std::io::Error),
    Violation(Violation),
}

/// What the reader task owns.
pub(super) struct ReadTask<R> {
    pub(super) socket: R,
    pub(super) chunk: ChunkWriter,
    pub(super) pool: Arc<ChunkPool>,
    pub(super) shared: Arc<Shared>,
    pub(super) control: mpsc::Sender<Control>,
    pub(super) max_message_bytes: usize,
    pub(super) max_frame_bytes: usize,
}

pub(super) async fn read_loop<R: AsyncRead + Unpin>(task: ReadTask<R>) {
    let ReadTask { mut socket, mut chunk, pool, shared, control, max_message_bytes, max_frame_bytes } = task;
    let mut frames = MessageReader::new(max_message_bytes, max_frame_bytes);
    let batch_limit = shared.inbox.batch_limit(WAKE_EVERY_MESSAGES);
    let mut batch = Vec::with_capacity(batch_limit);
    let mut replies = Vec::new();
    let mut parsed = 0;
    let mut close_deadline = None;
    let end = loop {
        let room = batch_limit - batch.len();
        let outcome = frames.parse(chunk.filled(), parsed, room, |event| match event {
            Event::Framed { start, len, kind } => {
                record_received(&shared, len);
                batch.push(Item::Span { start, len, kind });
            }
            Event::Assembled { kind, data } => {
                record_received(&shared, data.len());
                batch.push(Item::Owned { kind, data });
            }
            Event::Ping(payload) => replies.push(Control::Pong(payload.to_vec())),
            Event::Pong(payload) => record_pong(&shared, payload),
            Event::Close(close) => {
                let (code, reason) = close.unwrap_or((NO_STATUS_RECEIVED, ""));
                shared.record_close(CloseInfo::by_peer(code, reason));
                replies
                    .push(Control::EchoClose(close.map(|(code, reason)| CloseInfo::by_peer(code, reason))));
            }
        });
        let progress = match outcome {
            Ok(progress) => progress,
            Err(violation) => break End::Violation(violation),
        };
        parsed = progress.consumed;
        for reply in replies.drain(..) {
            // Fails only when the writer is gone, i.e. the connection is ending anyway.
            let _ = control.send(reply).await;
        }
        if frames.is_closed() && close_deadline.is_none() {
            close_deadline = Some(tokio::time::Instant::now() + shared.close_timeout);
        }
        if batch.len() >= batch_limit {
            // The parser stopped at the batch limit: publish, then parse on before reading.
            hand_over(&shared, &chunk, &mut batch, batch_limit).await;
            continue;
        }
        if chunk.spare().is_empty() {
            // Published spans point into this chunk, so the unparsed tail moves to a new one.
            hand_over(&shared, &chunk, &mut batch, batch_limit).await;
            chunk = chunk.continue_in_new(parsed, progress.next_frame_len.unwrap_or(0), &pool);
            parsed = 0;
        }
        let attempt = socket.read(chunk.spare()).now_or_never();
        let read = if let Some(read) = attempt {
            read
        } else {
            // The network has nothing more right now: hand over what is queued, then wait.
            hand_over(&shared, &chunk, &mut batch, batch_limit).await;
            match close_deadline {
                None => socket.read(chunk.spare()).await,
                Some(deadline) => match tokio::time::timeout_at(deadline, socket.read(chunk.spare())).await {
                    Ok(read) => read,
                    Err(_) => break End::Eof,
                },
            }
        };
        match read {
            Ok(0) => break End::Eof,
            Ok(n) => {
                chunk.advance(n);
                // Once per socket read, not per message: what the stale check watches.
                shared.stats.last_receive_ns.store(monotonic_ns(), std::sync::atomic::Ordering::Relaxed);
            }
            Err(error) => break End::Io(error),
        }
    };
    hand_over(&shared, &chunk, &mut batch, batch_limit).await;
    let fallback = match end {
        End::Eof if frames.is_closed() => CloseInfo::abnormal("connection ended"),
        End::Eof => CloseInfo::abnormal("the peer closed TCP without a closing handshake"),
        End::Io(error) => CloseInfo::abnormal(error.to_string()),
        End::Violation(violation) => {
            let failure = CloseInfo::failed(violation.code, violation.reason);
            shared.record_close(failure.clone());
            let _ = control.send(Control::Fail(failure)).await;
            discard_until_closed(&mut socket, &mut chunk, &pool, shared.close_timeout).await;
            CloseInfo::abnormal("connection ended")
        }
    };
    shared.terminate(fallback);
}

/// Counts a pong; one answering a heartbeat ping (its payload is the send time) gives the
/// round trip.
fn record_pong(shared: &Shared, payload: &[u8]) {
    let now = monotonic_ns();
    bump(&shared.stats.pongs_received, 1);
    shared.stats.last_pong_ns.store(now, std::sync::atomic::Ordering::Relaxed);
    if let Ok(sent) = <[u8; 8]>::try_from(payload) {
        let rtt = now.saturating_sub(u64::from_be_bytes(sent));
        shared.stats.ping_rtt_ns.store(rtt, std::sync::atomic::Ordering::Relaxed);
    }
}

fn record_received(shared: &Shared, bytes: usize) {
    bump(&shared.stats.messages_in, 1);
    bump(&shared.stats.bytes_in, bytes as u64);
}

/// Publishes the messages read since the last hand-over and wakes the consumer; stamps the
/// time of the last message once per hand-over rather than once per message (it is off by at
/// most the time it took to read the run).
async fn hand_over(shared: &Shared, chunk: &ChunkWriter, batch: &mut Vec<Item>, batch_limit: usize) {
    if !batch.is_empty() {
        let items = std::mem::replace(batch, Vec::with_capacity(batch_limit));
        shared.inbox.push(Batch::Messages { chunk: chunk.chunk().clone(), items }, &shared.stats).await;
        shared.stats.last_message_ns.store(monotonic_ns(), std::sync::atomic::Ordering::Relaxed);
    }
    shared.inbox.wake_consumer();
}

/// After failing the connection: reads and drops whatever comes until the peer closes TCP or
/// `limit` passes.
async fn discard_until_closed<R: AsyncRead + Unpin>(
    socket: &mut R,
    chunk: &mut ChunkWriter,
    pool: &Arc<ChunkPool>,
    limit: std::time::Duration,
) {
    let _ = tokio::time::timeout(limit, async {
        loop {
            if chunk.spare().is_empty() {
                *chunk = pool.take(0);
            }
            match socket.read(chunk.spare()).await {
                Ok(0) | Err(_) => break,
                Ok(n) => chunk.advance(n),
            }
        }
    })
    .await;
}
