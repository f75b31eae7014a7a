//! The writer task: sends what the connection handle queues, coalescing every message already
//! queued into one flush, and sends the close frame for `close()` or for a protocol failure.

use std::sync::Arc;

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::Shared;
use super::close::CloseInfo;
use super::state::ConnState;
use super::stats::bump;
use crate::transport::WsStream;

/// What the connection handle asks the writer to do.
#[derive(Debug)]
pub enum Outgoing {
    /// Send a data message.
    Message(Message),
    /// Start the closing handshake with this code and reason.
    Close(CloseInfo),
}

type Sink = SplitSink<WsStream, Message>;

pub(super) async fn write_loop(
    mut sink: Sink,
    mut outgoing: mpsc::Receiver<Outgoing>,
    mut fail: mpsc::Receiver<CloseInfo>,
    shared: Arc<Shared>,
) {
    let mut terminated = shared.terminated.subscribe();
    loop {
        let next = tokio::select! {
            biased;
            Some(failure) = fail.recv() => Outgoing::Close(failure),
            item = outgoing.recv() => match item {
                Some(item) => item,
                None => return,
            },
            _ = terminated.wait_for(|done| *done) => return,
        };
        let close = match next {
            Outgoing::Message(message) => match write_batch(&mut sink, message, &mut outgoing, &shared).await
            {
                Ok(None) => continue,
                Ok(Some(close)) => close,
                Err(_) => return,
            },
            Outgoing::Close(close) => close,
        };
        send_close(&mut sink, close, &shared).await;
        return;
    }
}

/// Writes `first` and every message already queued behind it, then flushes once. Returns a
/// close request met in the queue, to be sent after the flush.
async fn write_batch(
    sink: &mut Sink,
    first: Message,
    outgoing: &mut mpsc::Receiver<Outgoing>,
    shared: &Shared,
) -> Result<Option<CloseInfo>, tokio_tungstenite::tungstenite::Error> {
    let mut message = first;
    let close = loop {
        bump(&shared.stats.messages_out, 1);
        bump(&shared.stats.bytes_out, message.len() as u64);
        sink.feed(message).await?;
        match outgoing.try_recv() {
            Ok(Outgoing::Message(next)) => message = next,
            Ok(Outgoing::Close(close)) => break Some(close),
            Err(_) => break None,
        }
    };
    sink.flush().await?;
    Ok(close)
}

async fn send_close(sink: &mut Sink, close: CloseInfo, shared: &Shared) {
    shared.state.advance(ConnState::Closing);
    let frame = CloseFrame { code: close.code.into(), reason: close.reason.as_str().into() };
    shared.record_close(close);
    // Fails only if the peer closed first (its close was already answered) or the socket is
    // gone; either way the reader sees the end of the stream and finishes the connection.
    let _ = sink.send(Message::Close(Some(frame))).await;
}
