//! One client connection: the opening request (a WebSocket upgrade or a plain HTTP GET), then
//! the client's frames in, the venue's frames out, the heartbeat rules and the faults ordered
//! for it.
//!
//! One task per client. Reads, fault orders, heartbeat checks and batches are waited for in one
//! `select!`; writes happen in its handlers, so a client that does not read slows only its own
//! task, which then falls behind in the venue's batch ring and is dropped (at a fixed rate) as
//! a venue drops a slow consumer. Data frames leave in writes of up to [`WRITE_BYTES`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::WriteHalf;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc};

use super::faults::{Fault, Order, Pending, SLOW_CHUNK_BYTES, SLOW_FOR, SLOW_PAUSE};
use super::protocol::{EncodeFaults, Happening, HeartbeatRules, Outbox, VenueSim, Verdict};
use super::server::{CHECK_EVERY, Context, TICK_EVERY, VenueHub};
use super::wire::{
    ClientFrame, FrameReader, MAX_REQUEST_BYTES, close_frame, control_frame, http_response, parse_request,
    switching_protocols,
};
use crate::clock::unix_now_ns;
use crate::protocol::frame::Opcode;

/// Bytes gathered from consecutive batches before one write.
pub const WRITE_BYTES: usize = 256 * 1024;

/// How long a client has to send its opening request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closing connection waits for the client to close its side.
const LINGER: Duration = Duration::from_secs(1);

/// The text of the `malformed` fault's frame: JSON cut short.
const MALFORMED: &[u8] = br#"{"malformed":true,"data":[{"p":"1.0","q":"#;

/// How a connection ends.
enum End {
    /// The client went away (or the socket failed): nothing more to send.
    Gone,
    /// Reset the connection without a close frame (the `disconnect` fault).
    Reset,
    /// Send a close frame with this code and reason, then close.
    Close(u16, String),
}

/// Serves one accepted connection to its end.
pub(super) async fn serve(hub: Arc<VenueHub>, mut stream: TcpStream, id: u64) {
    let _ = stream.set_nodelay(true);
    let mut input = Vec::with_capacity(4096);
    let Some(request) = read_request(&mut stream, &mut input).await else { return };
    // The simulator starts only venues its factory simulates.
    let Some(mut sim) = (hub.protocol)(hub.venue) else { return };
    let Some(key) = request.websocket_key else {
        hub.counters.http_requests.fetch_add(1, Ordering::Relaxed);
        let answer = {
            let markets = hub.markets();
            sim.http_get(&request.path, &Context { markets: &markets, refs: &hub.refs })
        };
        let (status, body) = answer.unwrap_or_else(|| (404, format!("no such path: {}", request.path)));
        let _ = stream.write_all(&http_response(status, &body)).await;
        linger(stream).await;
        return;
    };
    input.drain(..request.head_len);
    // Subscribed before the markets are first read: no change after what on_open sees is missed.
    let batches = hub.batches.subscribe();
    let mut out = Outbox::default();
    let opened = {
        let markets = hub.markets();
        sim.on_open(&request.path, &Context { markets: &markets, refs: &hub.refs }, &mut out)
    };
    if let Err((status, body)) = opened {
        let _ = stream.write_all(&http_response(status, &body)).await;
        linger(stream).await;
        return;
    }
    if stream.write_all(&switching_protocols(&key)).await.is_err() {
        return;
    }
    let (orders, _leave) = hub.join(id);
    let rules = scaled(sim.heartbeat_rules(), hub.heartbeat_scale);
    let now = Instant::now();
    let mut client = Client {
        hub,
        sim,
        out,
        rules,
        pending: Pending::default(),
        stalled: false,
        slow_until: None,
        opened: now,
        last_heard: now,
        next_ping: rules.server_ping_interval.map(|interval| now + interval),
        ping_sent: None,
        last_tick: now,
        reader: FrameReader::default(),
    };
    match client.run(&mut stream, input, batches, orders).await {
        End::Gone => {}
        End::Reset => {
            let _ = stream.set_zero_linger();
        }
        End::Close(code, reason) => {
            let code = if code == 1005 { 1000 } else { code };
            client.count(1, 2 + reason.len().min(123));
            if stream.write_all(&close_frame(code, &reason)).await.is_ok() {
                linger(stream).await;
            }
        }
    }
}

/// Reads the opening request's head into `input`; `None` (after answering 400 where it can) for
/// anything that is not one within [`REQUEST_TIMEOUT`].
async fn read_request(stream: &mut TcpStream, input: &mut Vec<u8>) -> Option<super::wire::Request> {
    let read = async {
        loop {
            match parse_request(input) {
                Ok(Some(request)) => return Ok(request),
                Ok(None) if input.len() < MAX_REQUEST_BYTES => {}
                Ok(None) => return Err("request head too long".to_owned()),
                Err(reason) => return Err(reason),
            }
            match stream.read_buf(input).await {
                Ok(0) | Err(_) => return Err(String::new()),
                Ok(_) => {}
            }
        }
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, read).await {
        Ok(Ok(request)) => Some(request),
        Ok(Err(reason)) if !reason.is_empty() => {
            let _ = stream.write_all(&http_response(400, &reason)).await;
            None
        }
        _ => None,
    }
}

/// Closes our side, then waits (briefly) for the client to close its side, so what was written
/// is not lost to a reset.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0_u8; 4096];
    let _ = tokio::time::timeout(LINGER, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// The venue's rules with every duration multiplied by `scale`.
fn scaled(rules: HeartbeatRules, scale: f64) -> HeartbeatRules {
    let scale = |duration: Option<Duration>| duration.map(|d| d.mul_f64(scale));
    HeartbeatRules {
        server_ping_interval: scale(rules.server_ping_interval),
        pong_timeout: scale(rules.pong_timeout),
        client_idle_timeout: scale(rules.client_idle_timeout),
        subscribe_within: scale(rules.subscribe_within),
    }
}

/// A connected WebSocket client.
struct Client {
    hub: Arc<VenueHub>,
    sim: Box<dyn VenueSim>,
    out: Outbox,
    rules: HeartbeatRules,
    pending: Pending,
    stalled: bool,
    slow_until: Option<Instant>,
    opened: Instant,
    last_heard: Instant,
    next_ping: Option<Instant>,
    ping_sent: Option<Instant>,
    last_tick: Instant,
    reader: FrameReader,
}

impl Client {
    async fn run(
        &mut self,
        stream: &mut TcpStream,
        mut input: Vec<u8>,
        mut batches: broadcast::Receiver<Arc<Vec<Happening>>>,
        mut orders: mpsc::Receiver<Order>,
    ) -> End {
        let (mut reader, mut writer) = stream.split();
        if self.flush(&mut writer).await.is_err() {
            return End::Gone;
        }
        if let Some(end) = self.absorb(&mut input, &mut writer).await {
            return end;
        }
        let mut check = tokio::time::interval(CHECK_EVERY);
        loop {
            let end = tokio::select! {
                biased;
                Some(order) = orders.recv() => self.order(order, &mut writer).await,
                read = reader.read_buf(&mut input) => match read {
                    Ok(0) | Err(_) => Some(End::Gone),
                    Ok(_) => self.absorb(&mut input, &mut writer).await,
                },
                _ = check.tick() => self.check(&mut writer).await,
                batch = batches.recv() => match batch {
                    Ok(batch) => self.deliver(&batch, &mut batches, &mut writer).await,
                    Err(RecvError::Lagged(behind)) => Some(self.too_slow(behind)),
                    Err(RecvError::Closed) => Some(End::Gone),
                },
            };
            if let Some(end) = end {
                return end;
            }
        }
    }

    /// Counts frames and bytes sent.
    fn count(&self, frames: usize, bytes: usize) {
        let counters = &self.hub.counters;
        counters.frames_sent.fetch_add(frames as u64, Ordering::Relaxed);
        counters.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn too_slow(&self, behind: u64) -> End {
        self.hub.counters.slow_disconnects.fetch_add(1, Ordering::Relaxed);
        End::Close(1008, format!("too slow: {behind} batches behind"))
    }

    fn is_slow(&self) -> bool {
        self.slow_until.is_some_and(|until| Instant::now() < until)
    }

    /// Writes what the outbox holds (throttled while a `slow` fault lasts).
    async fn flush(&mut self, writer: &mut WriteHalf<'_>) -> std::io::Result<()> {
        if self.out.frames() == 0 {
            return Ok(());
        }
        self.count(self.out.frames(), self.out.bytes().len());
        if self.is_slow() {
            for chunk in self.out.bytes().chunks(SLOW_CHUNK_BYTES) {
                writer.write_all(chunk).await?;
                tokio::time::sleep(SLOW_PAUSE).await;
            }
        } else {
            writer.write_all(self.out.bytes()).await?;
        }
        self.out.clear();
        Ok(())
    }

    /// Flushes the outbox, then writes one control frame.
    async fn control(&mut self, writer: &mut WriteHalf<'_>, frame: &[u8]) -> Option<End> {
        if self.flush(writer).await.is_err() || writer.write_all(frame).await.is_err() {
            return Some(End::Gone);
        }
        self.count(1, frame.len());
        None
    }

    /// Encodes `first` and any batches already waiting, up to [`WRITE_BYTES`], and writes them.
    async fn deliver(
        &mut self,
        first: &[Happening],
        batches: &mut broadcast::Receiver<Arc<Vec<Happening>>>,
        writer: &mut WriteHalf<'_>,
    ) -> Option<End> {
        self.hub.consumed.notify_one();
        if self.stalled {
            return None;
        }
        self.encode(first);
        // A slowed client takes one batch per write, so it notices when it falls behind.
        let gather = if self.is_slow() { 0 } else { WRITE_BYTES };
        while self.out.bytes().len() < gather {
            match batches.try_recv() {
                Ok(batch) => {
                    self.hub.consumed.notify_one();
                    self.encode(&batch);
                }
                Err(TryRecvError::Lagged(behind)) => return Some(self.too_slow(behind)),
                Err(_) => break,
            }
        }
        self.flush(writer).await.err().map(|_| End::Gone)
    }

    /// Encodes a batch for this client, applying pending gaps and bad checksums.
    fn encode(&mut self, batch: &[Happening]) {
        if self.pending.is_empty() {
            for happening in batch {
                self.sim.encode(happening, EncodeFaults::default(), &mut self.out);
            }
            return;
        }
        for happening in batch {
            if !matches!(happening, Happening::Book { .. }) {
                self.sim.encode(happening, EncodeFaults::default(), &mut self.out);
                continue;
            }
            let market = happening.market().id;
            let bad_checksum = self.pending.bad_checksum_for(market);
            let gap = self.pending.gap_for(market);
            let mark = self.out.mark();
            self.sim.encode(happening, EncodeFaults { bad_checksum: bad_checksum.is_some() }, &mut self.out);
            if self.out.frames() == mark.1 {
                continue;
            }
            if let Some(index) = bad_checksum {
                self.pending.consume_bad_checksum(index);
            }
            if let Some(index) = gap {
                self.out.truncate(mark);
                self.pending.consume_gap(index);
            }
        }
    }

    /// Handles the client's frames now complete in `input`.
    async fn absorb(&mut self, input: &mut Vec<u8>, writer: &mut WriteHalf<'_>) -> Option<End> {
        loop {
            let frame = match self.reader.next(input) {
                Ok(Some(frame)) => frame,
                Ok(None) => return None,
                Err((code, reason)) => return Some(End::Close(code, reason.into())),
            };
            self.last_heard = Instant::now();
            if self.stalled {
                continue;
            }
            match frame {
                ClientFrame::Message(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let verdict = {
                        let markets = self.hub.markets();
                        let context = Context { markets: &markets, refs: &self.hub.refs };
                        self.sim.on_message(&text, &context, &mut self.out)
                    };
                    if self.flush(writer).await.is_err() {
                        return Some(End::Gone);
                    }
                    if let Verdict::Close { code, reason } = verdict {
                        return Some(End::Close(code, reason));
                    }
                }
                ClientFrame::Ping(payload) => {
                    if let Some(end) = self.control(writer, &control_frame(Opcode::Pong, &payload)).await {
                        return Some(end);
                    }
                }
                ClientFrame::Pong => self.ping_sent = None,
                ClientFrame::Close(code) => return Some(End::Close(code, String::new())),
            }
        }
    }

    /// Applies a fault order.
    async fn order(&mut self, order: Order, writer: &mut WriteHalf<'_>) -> Option<End> {
        match order.fault {
            Fault::Gap | Fault::BadChecksum => self.pending.add(order),
            Fault::Disconnect => return Some(End::Reset),
            Fault::Stall => self.stalled = true,
            Fault::Slow => self.slow_until = Some(Instant::now() + SLOW_FOR),
            Fault::Malformed if !self.stalled => {
                self.out.text(MALFORMED);
                return self.flush(writer).await.err().map(|_| End::Gone);
            }
            Fault::Malformed => {}
        }
        None
    }

    /// The periodic work: the venue's own messages, server pings, and the heartbeat rules.
    async fn check(&mut self, writer: &mut WriteHalf<'_>) -> Option<End> {
        if self.stalled {
            return None;
        }
        let now = Instant::now();
        if now.duration_since(self.last_tick) >= TICK_EVERY {
            self.last_tick = now;
            self.sim.on_tick(unix_now_ns(), &mut self.out);
            if self.flush(writer).await.is_err() {
                return Some(End::Gone);
            }
        }
        if let (Some(interval), Some(due)) = (self.rules.server_ping_interval, self.next_ping)
            && now >= due
        {
            self.next_ping = Some(now + interval);
            self.ping_sent.get_or_insert(now);
            let stamp = unix_now_ns().to_string();
            if let Some(end) = self.control(writer, &control_frame(Opcode::Ping, stamp.as_bytes())).await {
                return Some(end);
            }
        }
        let broken = if let (Some(timeout), Some(sent)) = (self.rules.pong_timeout, self.ping_sent)
            && now.duration_since(sent) > timeout
        {
            Some(format!("no pong within {timeout:?}"))
        } else if let Some(timeout) = self.rules.client_idle_timeout
            && now.duration_since(self.last_heard) > timeout
        {
            Some(format!("nothing received within {timeout:?}"))
        } else if let Some(within) = self.rules.subscribe_within
            && !self.sim.has_subscriptions()
            && now.duration_since(self.opened) > within
        {
            Some(format!("no subscription within {within:?}"))
        } else {
            None
        };
        broken.map(|reason| {
            self.hub.counters.heartbeat_disconnects.fetch_add(1, Ordering::Relaxed);
            End::Close(1008, reason)
        })
    }
}
