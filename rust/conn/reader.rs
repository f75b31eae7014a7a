//! The reader task: the only code on the receive hot path.
//!
//! It reads messages, queues them in the inbox, and wakes the consumer when it is about to
//! wait for the network or after [`WAKE_EVERY_MESSAGES`] messages in a row, so a busy stream
//! is handed over in batches and a quiet one message by message. Pings are answered by
//! tungstenite inside the next read, so they are answered as long as this task runs, which it
//! does whatever the consumer is doing (until the inbox is full).
//!
//! When the peer breaks the protocol the task asks the writer to send the close frame RFC 6455
//! prescribes, keeps reading (discarding) until the peer closes or `close_timeout` passes, and
//! ends.

use std::sync::Arc;

use futures_util::stream::SplitStream;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, error::CapacityError};

use super::Shared;
use super::close::{CloseInfo, INVALID_PAYLOAD, MESSAGE_TOO_BIG, NO_STATUS_RECEIVED, PROTOCOL_ERROR};
use super::inbox::Inbound;
use super::stats::bump;
use crate::clock::monotonic_ns;
use crate::transport::WsStream;

/// Longest run of messages queued without waking the consumer: bounds the delay a message can
/// see on a stream that never pauses.
pub const WAKE_EVERY_MESSAGES: u32 = 64;

pub(super) async fn read_loop(
    mut stream: SplitStream<WsStream>,
    shared: Arc<Shared>,
    fail: mpsc::Sender<CloseInfo>,
) {
    let mut since_wake = 0_u32;
    let error = loop {
        let next = if let Some(next) = stream.next().now_or_never() {
            next
        } else {
            // The network has nothing more right now: hand over what is queued, then wait.
            hand_over(&shared, &mut since_wake);
            stream.next().await
        };
        let inbound = match next {
            Some(Ok(Message::Text(text))) => Inbound::Text(text),
            Some(Ok(Message::Binary(data))) => Inbound::Binary(data),
            Some(Ok(Message::Close(frame))) => {
                let close = frame.map_or_else(
                    || CloseInfo::by_peer(NO_STATUS_RECEIVED, ""),
                    |frame| CloseInfo::by_peer(frame.code.into(), frame.reason.as_str()),
                );
                shared.record_close(close);
                continue;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Err(error)) => break error,
            None => break WsError::ConnectionClosed,
        };
        record_received(&shared, inbound.len());
        shared.inbox.push(inbound, &shared.stats).await;
        since_wake += 1;
        if since_wake >= WAKE_EVERY_MESSAGES {
            hand_over(&shared, &mut since_wake);
        }
    };
    if let Some(failure) = failure_for(&error) {
        shared.record_close(failure.clone());
        // The writer may already be gone (it then has nothing left to send): ignore.
        let _ = fail.try_send(failure);
        let deadline = shared.close_timeout;
        let _ = tokio::time::timeout(deadline, discard_until_closed(&mut stream)).await;
    }
    shared.terminate(CloseInfo::abnormal(ended_by(&error)));
}

fn record_received(shared: &Shared, bytes: usize) {
    bump(&shared.stats.messages_in, 1);
    bump(&shared.stats.bytes_in, bytes as u64);
}

/// Wakes the consumer for the messages queued since the last hand-over, and stamps the time of
/// the last message once per hand-over rather than once per message (it is off by at most the
/// time it took to read the run).
fn hand_over(shared: &Shared, since_wake: &mut u32) {
    if *since_wake > 0 {
        shared.stats.last_message_ns.store(monotonic_ns(), std::sync::atomic::Ordering::Relaxed);
        *since_wake = 0;
    }
    shared.inbox.wake_consumer();
}

/// The close frame to send when `error` means the peer broke the protocol.
fn failure_for(error: &WsError) -> Option<CloseInfo> {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => Some(CloseInfo::failed(
            MESSAGE_TOO_BIG,
            format!("message of {size} bytes exceeds max_message_size {max_size}"),
        )),
        WsError::Capacity(other) => Some(CloseInfo::failed(MESSAGE_TOO_BIG, other.to_string())),
        WsError::Utf8(_) => Some(CloseInfo::failed(INVALID_PAYLOAD, "invalid UTF-8 in a text message")),
        WsError::Protocol(
            tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => None,
        WsError::Protocol(violation) => Some(CloseInfo::failed(PROTOCOL_ERROR, violation.to_string())),
        _ => None,
    }
}

/// What ended the stream, for a connection that ends without any close frame.
fn ended_by(error: &WsError) -> String {
    match error {
        WsError::ConnectionClosed | WsError::AlreadyClosed => "connection ended".into(),
        WsError::Protocol(
            tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => "the peer closed TCP without a closing handshake".into(),
        other => other.to_string(),
    }
}

async fn discard_until_closed(stream: &mut SplitStream<WsStream>) {
    while let Some(Ok(_)) = stream.next().await {}
}
