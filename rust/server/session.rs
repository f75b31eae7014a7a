//! One client's WebSocket connection after the upgrade: its writer (batches out of its
//! [`Outbox`](super::outbox::Outbox), one flush each), its requests, the heartbeat, the rate
//! limit, and the close with a code that says why.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use super::filter::Symbols;
use super::hub::{Client, Hub};
use super::message::{Kind, Request, RequestError, Selection, Shared, encode, error_data, parse_request};
use crate::clock::{monotonic_ns, unix_now_ns};
use crate::subscribe::Gcra;

/// The upgraded connection.
pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// How long a close handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a session ended.
#[derive(Debug)]
enum Ended {
    Shutdown,
    /// With the client's close code, which the disconnect log line shows.
    ClientClosed(#[expect(dead_code, reason = "read through Debug, in the disconnect log line")] Option<u16>),
    Dead,
    Lagged(u64),
    Flooded,
    /// Not reading at all: a write did not finish in time (after lagging, or ever).
    Stuck,
    Error(WsError),
}

impl Ended {
    /// The close frame we send, if any.
    fn close_frame(&self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            Self::Shutdown => (CloseCode::Away, "server shutting down".to_owned()),
            Self::Dead => (CloseCode::Away, "no answer to pings".to_owned()),
            Self::Lagged(count) => {
                (CloseCode::Policy, format!("lagged: {count} critical messages not delivered"))
            }
            Self::Flooded => (CloseCode::Policy, "too many messages".to_owned()),
            Self::Error(WsError::Capacity(_)) => (CloseCode::Size, "message too big".to_owned()),
            Self::Error(WsError::Utf8(_)) => (CloseCode::Invalid, "invalid UTF-8".to_owned()),
            Self::Error(WsError::Protocol(error)) => (CloseCode::Protocol, error.to_string()),
            Self::ClientClosed(_) | Self::Error(_) | Self::Stuck => return None,
        };
        Some(CloseFrame { code, reason: Utf8Bytes::from(reason) })
    }

    const fn is_error(&self) -> bool {
        matches!(self, Self::Error(_) | Self::Dead | Self::Stuck)
    }
}

/// Serves one client until it leaves, the server stops, or the connection fails.
pub async fn run(
    mut socket: Socket,
    hub: Arc<Hub>,
    resume: Option<u64>,
    peer: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let (client, connected_seq) = hub.join(resume);
    hub.metrics.connections.inc();
    hub.log(20, format!("connect client={} peer={peer} resume={resume:?}", client.id));
    let heartbeat = hub.config().heartbeat_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let mut last_heard = Instant::now();
    let mut inbound = Inbound::new(&hub);
    let mut batch: Vec<Shared> = Vec::new();
    let ended = loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => break Ended::Shutdown,
            () = client.wake.notified() => {
                // Let the other clients' writers and the publisher run first: what arrives
                // meanwhile joins this batch, one write for more messages.
                tokio::task::yield_now().await;
                let lagged = {
                    let mut outbox = client.outbox();
                    outbox.take(&mut batch);
                    outbox.lagged()
                };
                match write_or_give_up(&mut socket, &mut batch, &hub, &client).await {
                    Written::Done => {}
                    Written::Failed(error) => break Ended::Error(error),
                    Written::Stuck => {
                        if client.outbox().lagged().is_some() {
                            hub.metrics.lagged_clients.inc();
                        }
                        break Ended::Stuck;
                    }
                }
                if let Some(count) = lagged {
                    tell_lagged(&mut socket, &hub, count).await;
                    break Ended::Lagged(count);
                }
            }
            frame = socket.next() => match frame {
                None => break Ended::ClientClosed(None),
                Some(Err(error)) => break Ended::Error(error),
                Some(Ok(message)) => {
                    last_heard = Instant::now();
                    let text = match message {
                        Message::Text(text) => text,
                        Message::Binary(data) => {
                            let Ok(text) = Utf8Bytes::try_from(data) else {
                                hub.metrics.parse_errors.inc();
                                hub.reply(&client, Kind::Error, Some(&error_data("binary message is not UTF-8 JSON", "INVALID_JSON", None)), None);
                                continue;
                            };
                            text
                        }
                        Message::Close(frame) => break Ended::ClientClosed(frame.map(|f| u16::from(f.code))),
                        Message::Ping(_) => {
                            // tungstenite queued the pong; send it now.
                            if let Err(error) = socket.flush().await {
                                break Ended::Error(error);
                            }
                            continue;
                        }
                        Message::Pong(_) | Message::Frame(_) => continue,
                    };
                    hub.metrics.messages_received.inc();
                    match inbound.admit(&hub, &client) {
                        Admission::Accepted => {}
                        Admission::Dropped => continue,
                        Admission::Flooded => break Ended::Flooded,
                    }
                    handle(&hub, &client, &text, connected_seq);
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > heartbeat * 2 {
                    break Ended::Dead;
                }
                if let Err(error) = socket.send(Message::Ping(bytes::Bytes::new())).await {
                    break Ended::Error(error);
                }
            }
        }
    };
    hub.leave(&client);
    close(&mut socket, &ended).await;
    if ended.is_error() {
        hub.metrics.connection_errors.inc();
    }
    // Info, errors included: a client that drops its TCP connection without a close is
    // ordinary (counted in `connection_errors`), and thousands of them must not flood warnings.
    hub.log(
        20,
        format!(
            "disconnect client={} peer={peer} duration_s={:.3} reason={ended:?}",
            client.id,
            started.elapsed().as_secs_f64()
        ),
    );
}

/// Echoes every message until the peer closes, with the close-code policy of [`run`]: the
/// route conformance tests exercise the accept path and frame handling through.
pub async fn echo(mut socket: Socket, mut shutdown: watch::Receiver<bool>) {
    let ended = loop {
        let frame = tokio::select! {
            _ = shutdown.changed() => break Ended::Shutdown,
            frame = socket.next() => frame,
        };
        let reply = match frame {
            None => break Ended::ClientClosed(None),
            Some(Err(error)) => break Ended::Error(error),
            Some(Ok(Message::Close(frame))) => break Ended::ClientClosed(frame.map(|f| u16::from(f.code))),
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => message,
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                // A ping's pong is queued by tungstenite: send it now.
                if let Err(error) = socket.flush().await {
                    break Ended::Error(error);
                }
                continue;
            }
        };
        if let Err(error) = socket.send(reply).await {
            break Ended::Error(error);
        }
    };
    close(&mut socket, &ended).await;
}

/// Ends the connection as `ended` says: our close frame, or the answer to the peer's.
async fn close(socket: &mut Socket, ended: &Ended) {
    if let Some(frame) = ended.close_frame() {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(Some(frame))).await;
    } else if matches!(ended, Ended::ClientClosed(_)) {
        // Answer the client's close (tungstenite queued the reply) and let it end.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(None)).await;
    }
}

/// What the rate limit says of a client message.
enum Admission {
    Accepted,
    /// Over the rate: dropped (the client is told, at most once a second).
    Dropped,
    /// Far over it for long: the connection is closed.
    Flooded,
}

/// A client's inbound rate limit.
struct Inbound {
    limiter: Gcra,
    started: Instant,
    strikes: u32,
    told_at: Option<Instant>,
}

impl Inbound {
    fn new(hub: &Hub) -> Self {
        let config = hub.config();
        Self {
            limiter: Gcra::new(config.client_rate, Duration::from_secs(1), config.client_burst),
            started: Instant::now(),
            strikes: 0,
            told_at: None,
        }
    }

    fn admit(&mut self, hub: &Hub, client: &Client) -> Admission {
        if self.limiter.try_acquire(self.started.elapsed()).is_ok() {
            return Admission::Accepted;
        }
        hub.metrics.rate_limited.inc();
        self.strikes += 1;
        if self.strikes > 10 * hub.config().client_burst {
            return Admission::Flooded;
        }
        if self.told_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            self.told_at = Some(Instant::now());
            let data = error_data("too many messages: this one was dropped", "RATE_LIMITED", None);
            hub.reply(client, Kind::Error, Some(&data), None);
        }
        Admission::Dropped
    }
}

/// Tells a client that could not keep up how many critical messages it lost, before it is
/// closed; it comes back with `Resume` to get them. Written directly: its queue is full.
async fn tell_lagged(socket: &mut Socket, hub: &Hub, count: u64) {
    hub.metrics.lagged_clients.inc();
    let details = serde_json::json!({ "dropped": count });
    let data = error_data(
        &format!(
            "this client fell behind: {count} critical messages could not be queued; reconnect with Resume"
        ),
        "LAGGED",
        Some(&details),
    );
    let text = encode(Kind::Error, hub.last_seq(), unix_now_ns(), Some(&data), None);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(Message::Text(text))).await;
}

/// How a batch write ended.
enum Written {
    Done,
    Failed(WsError),
    Stuck,
}

/// How long a lagging client's pending write may still take before the connection is dropped.
const LAG_GRACE: Duration = Duration::from_secs(1);

/// Writes `batch`, giving up on a client that does not read: one that lagged on critical
/// messages gets [`LAG_GRACE`] to take the write, any other two heartbeat intervals.
async fn write_or_give_up(
    socket: &mut Socket,
    batch: &mut Vec<Shared>,
    hub: &Hub,
    client: &Client,
) -> Written {
    let limit = hub.config().heartbeat_interval * 2;
    let write = tokio::time::timeout(limit, write_batch(socket, batch, hub));
    tokio::pin!(write);
    let result = tokio::select! {
        result = &mut write => result,
        () = client.lagging.notified() => match tokio::time::timeout(LAG_GRACE, &mut write).await {
            Ok(result) => result,
            Err(_) => return Written::Stuck,
        },
    };
    match result {
        Ok(Ok(())) => Written::Done,
        Ok(Err(error)) => Written::Failed(error),
        Err(_) => Written::Stuck,
    }
}

/// Writes `batch` with one flush.
async fn write_batch(socket: &mut Socket, batch: &mut Vec<Shared>, hub: &Hub) -> Result<(), WsError> {
    if batch.is_empty() {
        return Ok(());
    }
    for message in batch.iter() {
        socket.feed(Message::Text(message.text.clone())).await?;
    }
    socket.flush().await?;
    hub.metrics.messages_sent.inc_by(batch.len() as u64);
    let now = monotonic_ns();
    for message in batch.drain(..) {
        #[expect(clippy::cast_precision_loss, reason = "seconds for a histogram")]
        hub.metrics.broadcast_latency.observe(now.saturating_sub(message.published_ns) as f64 / 1e9);
    }
    Ok(())
}

/// Acts on one client message.
fn handle(hub: &Hub, client: &Client, text: &str, connected_seq: u64) {
    match parse_request(text) {
        Ok(Request::Ping) => hub.reply(client, Kind::Pong, None, None),
        Ok(Request::Subscribe(selection)) => change_subscription(hub, client, &selection, true),
        Ok(Request::Unsubscribe(selection)) => change_subscription(hub, client, &selection, false),
        Ok(Request::Resume { last_seq }) => hub.resume(client, last_seq, connected_seq),
        Err(RequestError::UnknownType(kind)) => {
            hub.log(30, format!("unknown_message client={} type={kind:?} (ignored)", client.id));
        }
        Err(error @ RequestError::InvalidJson(_)) => {
            hub.metrics.parse_errors.inc();
            hub.reply(client, Kind::Error, Some(&error_data(&error.to_string(), "INVALID_JSON", None)), None);
        }
        Err(error @ RequestError::Invalid { .. }) => {
            hub.metrics.parse_errors.inc();
            hub.reply(
                client,
                Kind::Error,
                Some(&error_data(&error.to_string(), "INVALID_MESSAGE", None)),
                None,
            );
        }
    }
}

fn change_subscription(hub: &Hub, client: &Client, selection: &Selection, add: bool) {
    let mut channels = Vec::new();
    for name in selection.channels.iter().flatten() {
        let Some(kind) = Kind::channel(name) else {
            let valid: Vec<&str> = Kind::CHANNELS.iter().map(|kind| kind.as_str()).collect();
            let details = serde_json::json!({ "channel": name, "channels": valid });
            let data = error_data(&format!("unknown channel {name:?}"), "INVALID_CHANNEL", Some(&details));
            hub.reply(client, Kind::Error, Some(&data), None);
            return;
        };
        channels.push(kind);
    }
    let symbols: Option<Vec<u32>> =
        selection.symbols.as_ref().map(|names| names.iter().map(|name| hub.symbol_id(name)).collect());
    let confirmed = {
        let mut outbox = client.outbox();
        let filter = outbox.filter();
        let channels = selection.channels.as_ref().map(|_| channels.as_slice());
        if add {
            filter.subscribe(channels, symbols.as_deref());
        } else {
            filter.unsubscribe(channels, symbols.as_deref());
        }
        let names = |ids: &rustc_hash::FxHashSet<u32>| {
            let mut names: Vec<String> = ids.iter().filter_map(|&id| hub.symbol_name(id)).collect();
            names.sort();
            names
        };
        let (symbols, except) = match filter.symbols() {
            Symbols::Only(ids) => (Some(names(ids)), Vec::new()),
            Symbols::AllExcept(ids) => (None, names(ids)),
        };
        let channels: Vec<&str> = filter.channels().map(Kind::as_str).collect();
        serde_json::json!({ "channels": channels, "symbols": symbols, "except_symbols": except }).to_string()
    };
    hub.reply(client, Kind::SubscriptionConfirmed, Some(&confirmed), None);
}
