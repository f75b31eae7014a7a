//! The writer task: encodes and sends what the connection handle and the reader ask for,
//! coalescing everything already queued into one write.
//!
//! Frames from the reader (pongs, the answer to the peer's close, the close that fails the
//! connection) go before queued data. After a close frame is sent nothing else is, but the
//! task keeps its half of the socket until the connection ends, so TCP is not half-closed
//! before the peer has closed it (RFC 6455 §7.1.1: the server closes TCP first).

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::Shared;
use super::close::{CloseInfo, MAX_CLOSE_REASON_BYTES};
use super::state::ConnState;
use super::stats::bump;
use crate::protocol::{Opcode, encode_client_frame};

/// Bytes gathered from queued frames before they are written.
const WRITE_BATCH_BYTES: usize = 256 * 1024;

/// What the connection handle asks the writer to send.
#[derive(Debug)]
pub enum Outgoing {
    /// A text (`true`) or binary data message.
    Message {
        /// Text rather than binary.
        text: bool,
        /// The payload, sent as it is.
        payload: Bytes,
    },
    /// Start the closing handshake with this code and reason.
    Close(CloseInfo),
}

/// What the reader asks the writer to send.
#[derive(Debug)]
pub enum Control {
    /// Send a heartbeat ping with this payload.
    Ping(Vec<u8>),
    /// Answer a ping with its payload.
    Pong(Vec<u8>),
    /// Answer the peer's close frame, echoing its code and reason (nothing for an empty close).
    EchoClose(Option<CloseInfo>),
    /// Fail the connection with this code and reason.
    Fail(CloseInfo),
}

pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    mut socket: W,
    mut outgoing: mpsc::Receiver<Outgoing>,
    mut control: mpsc::Receiver<Control>,
    shared: Arc<Shared>,
) {
    let mut terminated = shared.terminated.subscribe();
    let mut frames = Frames { buffer: Vec::with_capacity(64 * 1024), closed: false, shared: &shared };
    loop {
        tokio::select! {
            biased;
            Some(request) = control.recv() => frames.control(request),
            request = outgoing.recv(), if !frames.closed => match request {
                Some(request) => frames.outgoing(request),
                None => return,
            },
            _ = terminated.wait_for(|done| *done) => return,
        }
        while frames.buffer.len() < WRITE_BATCH_BYTES {
            if let Ok(request) = control.try_recv() {
                frames.control(request);
            } else if let (false, Ok(request)) = (frames.closed, outgoing.try_recv()) {
                frames.outgoing(request);
            } else {
                break;
            }
        }
        if !frames.buffer.is_empty() {
            let written = async {
                socket.write_all(&frames.buffer).await?;
                socket.flush().await
            };
            if written.await.is_err() {
                // The reader sees the broken connection and ends it.
                return;
            }
            frames.buffer.clear();
        }
    }
}

/// Frames encoded and waiting to be written.
struct Frames<'a> {
    buffer: Vec<u8>,
    closed: bool,
    shared: &'a Shared,
}

impl Frames<'_> {
    fn control(&mut self, request: Control) {
        match request {
            Control::Ping(payload) => {
                bump(&self.shared.stats.pings_sent, 1);
                self.frame(Opcode::Ping, &payload);
            }
            Control::Pong(payload) => self.frame(Opcode::Pong, &payload),
            Control::EchoClose(close) => self.close(&close.as_ref().map(close_payload).unwrap_or_default()),
            Control::Fail(failure) => self.close(&close_payload(&failure)),
        }
    }

    fn outgoing(&mut self, request: Outgoing) {
        match request {
            Outgoing::Message { text, payload } => {
                bump(&self.shared.stats.messages_out, 1);
                bump(&self.shared.stats.bytes_out, payload.len() as u64);
                self.frame(if text { Opcode::Text } else { Opcode::Binary }, &payload);
            }
            Outgoing::Close(close) => {
                let payload = close_payload(&close);
                self.shared.record_close(close);
                self.close(&payload);
            }
        }
    }

    /// Nothing is sent after a close frame: no data (RFC 6455 §5.5.1) and no pongs.
    fn frame(&mut self, opcode: Opcode, payload: &[u8]) {
        if !self.closed {
            encode_client_frame(&mut self.buffer, opcode, payload, rand::random());
        }
    }

    fn close(&mut self, payload: &[u8]) {
        if !self.closed {
            self.shared.state.advance(ConnState::Closing);
            self.frame(Opcode::Close, payload);
            self.closed = true;
        }
    }
}

/// Code and reason as a close payload, the reason cut at a character boundary to fit.
fn close_payload(close: &CloseInfo) -> Vec<u8> {
    let mut end = close.reason.len().min(MAX_CLOSE_REASON_BYTES);
    while !close.reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = close.code.to_be_bytes().to_vec();
    payload.extend_from_slice(&close.reason.as_bytes()[..end]);
    payload
}
