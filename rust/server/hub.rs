//! [`Hub`]: the server's shared state — the connected clients, the sequence counter, the
//! history of critical messages, the symbol table — and publishing.
//!
//! A message is serialized once ([`Outgoing`]) and offered to every client's [`Outbox`]; each
//! client's writer is woken when its queue goes from empty to not. Sequence numbers are handed
//! out, recorded in the history and fanned out under one lock, so every client's queue is in
//! sequence order and a resuming client's replay joins its live stream without a gap or a
//! duplicate.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use rustc_hash::FxHashMap;
use tokio::sync::Notify;

use super::config::ServerConfig;
use super::history::{History, Replay};
use super::message::{ConflationKey, Kind, Outgoing, Shared, encode};
use super::metrics::ServerMetrics;
use super::outbox::{Outbox, Push};
use crate::clock::{monotonic_ns, unix_now_ns};

/// Log lines kept for Python to collect; more are counted and dropped.
const LOG_CAPACITY: usize = 10_000;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One connected client as the hub sees it.
#[derive(Debug)]
pub struct Client {
    /// Its number (in `Connected` and the logs).
    pub id: u64,
    /// Its queue and subscription.
    pub outbox: Mutex<Outbox>,
    /// Wakes its writer.
    pub wake: Notify,
    /// Tells its writer, even in the middle of a write, that it fell behind on critical
    /// messages.
    pub lagging: Notify,
}

impl Client {
    /// The queue, locked.
    pub fn outbox(&self) -> MutexGuard<'_, Outbox> {
        lock(&self.outbox)
    }
}

/// A log line for Python's `logging`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Python's level number (20 info, 30 warning, 40 error).
    pub level: u8,
    /// The line, `key=value` fields after the event name.
    pub text: String,
}

/// Symbols by name, and names by id.
type SymbolTable = (FxHashMap<Box<str>, u32>, Vec<Box<str>>);

#[derive(Debug)]
struct Sequenced {
    /// The last sequence number handed out.
    seq: u64,
    history: History,
}

/// The server's shared state.
#[derive(Debug)]
pub struct Hub {
    config: ServerConfig,
    clients: RwLock<Vec<Arc<Client>>>,
    sequenced: Mutex<Sequenced>,
    symbols: Mutex<SymbolTable>,
    next_client: AtomicU64,
    logs: Mutex<(VecDeque<LogLine>, u64)>,
    /// The counters and histograms.
    pub metrics: ServerMetrics,
    started: Instant,
    /// Names this server instance: a client that sees it change knows the server restarted
    /// (and sequence numbers started again).
    instance: String,
}

impl Hub {
    /// A hub for `config`.
    #[must_use]
    pub fn new(config: ServerConfig) -> Self {
        Self {
            sequenced: Mutex::new(Sequenced { seq: 0, history: History::new(config.history) }),
            config,
            clients: RwLock::new(Vec::new()),
            symbols: Mutex::new((FxHashMap::default(), Vec::new())),
            next_client: AtomicU64::new(1),
            logs: Mutex::new((VecDeque::new(), 0)),
            metrics: ServerMetrics::default(),
            started: Instant::now(),
            instance: format!("{:016x}", rand::random::<u64>()),
        }
    }

    /// The settings.
    #[must_use]
    pub const fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Seconds since the server started.
    #[must_use]
    pub fn uptime_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The last sequence number handed out.
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        lock(&self.sequenced).seq
    }

    /// Clients connected now.
    #[must_use]
    pub fn client_count(&self) -> usize {
        self.clients.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// The id of `symbol`, interned.
    pub fn symbol_id(&self, symbol: &str) -> u32 {
        let mut table = lock(&self.symbols);
        if let Some(&id) = table.0.get(symbol) {
            return id;
        }
        let id = u32::try_from(table.1.len()).unwrap_or(u32::MAX);
        table.0.insert(symbol.into(), id);
        table.1.push(symbol.into());
        id
    }

    /// The name of symbol `id`.
    #[must_use]
    pub fn symbol_name(&self, id: u32) -> Option<String> {
        lock(&self.symbols).1.get(id as usize).map(ToString::to_string)
    }

    /// A broadcast message (conflatable unless critical).
    fn outgoing(
        seq: u64,
        kind: Kind,
        symbol: Option<u32>,
        sub_key: u8,
        data: Option<&str>,
        message: Option<&str>,
    ) -> Shared {
        let conflation: Option<ConflationKey> = (!kind.is_critical()).then_some((kind, symbol, sub_key));
        Self::build(seq, kind, symbol, conflation, data, message)
    }

    /// A reply to one client: never conflated.
    fn direct(seq: u64, kind: Kind, data: Option<&str>, message: Option<&str>) -> Shared {
        Self::build(seq, kind, None, None, data, message)
    }

    fn build(
        seq: u64,
        kind: Kind,
        symbol: Option<u32>,
        conflation: Option<ConflationKey>,
        data: Option<&str>,
        message: Option<&str>,
    ) -> Shared {
        Arc::new(Outgoing {
            kind,
            symbol,
            seq,
            conflation,
            published_ns: monotonic_ns(),
            text: encode(kind, seq, unix_now_ns(), data, message),
        })
    }

    /// Broadcasts a message of `kind` about `symbol` to every client subscribed to it; returns
    /// its sequence number. `data` is a JSON object's text; `sub_key` separates conflation
    /// keys of one type and symbol (a candle's timeframe).
    pub fn publish(
        &self,
        kind: Kind,
        symbol: Option<&str>,
        sub_key: u8,
        data: Option<&str>,
        message: Option<&str>,
    ) -> u64 {
        let symbol = symbol.map(|symbol| self.symbol_id(symbol));
        let mut sequenced = lock(&self.sequenced);
        sequenced.seq += 1;
        let outgoing = Self::outgoing(sequenced.seq, kind, symbol, sub_key, data, message);
        if kind.is_critical() {
            sequenced.history.record(outgoing.clone());
        }
        self.metrics.messages_published.inc();
        #[expect(clippy::cast_precision_loss, reason = "a size for a histogram")]
        self.metrics.message_size.observe(outgoing.text.len() as f64);
        let clients = self.clients.read().unwrap_or_else(PoisonError::into_inner);
        for client in clients.iter() {
            let push = client.outbox().offer(&outgoing);
            self.after_push(client, push);
        }
        outgoing.seq
    }

    fn after_push(&self, client: &Client, push: Push) {
        match push {
            Push::Queued { was_empty: true } => client.wake.notify_one(),
            Push::Lagged => {
                client.wake.notify_one();
                client.lagging.notify_one();
            }
            Push::Conflated => {
                self.metrics.conflated.inc();
            }
            Push::Queued { was_empty: false } | Push::Filtered => {}
        }
    }

    /// Sends a reply to one client (`Pong`, `SubscriptionConfirmed`, `Error` …), in sequence
    /// with the broadcasts.
    pub fn reply(&self, client: &Client, kind: Kind, data: Option<&str>, message: Option<&str>) {
        let mut sequenced = lock(&self.sequenced);
        sequenced.seq += 1;
        let outgoing = Self::direct(sequenced.seq, kind, data, message);
        let push = client.outbox().push(outgoing);
        self.after_push(client, push);
    }

    /// Registers a new client and queues its `Connected`, then (with `resume`) the critical
    /// messages it missed and `Resumed`, or `ResyncRequired`; all before any broadcast can
    /// reach it, so the stream it reads is in sequence order.
    /// Returns the client and the last sequence number before it joined (what it will have
    /// received live starts after that).
    pub fn join(&self, resume: Option<u64>) -> (Arc<Client>, u64) {
        let id = self.next_client.fetch_add(1, Ordering::Relaxed);
        let client = Arc::new(Client {
            id,
            outbox: Mutex::new(Outbox::new(self.config.queue_soft_limit, self.config.critical_limit)),
            wake: Notify::new(),
            lagging: Notify::new(),
        });
        let mut sequenced = lock(&self.sequenced);
        let connected_seq = sequenced.seq;
        let data = serde_json::json!({
            "server": "tickwire",
            "version": env!("CARGO_PKG_VERSION"),
            "client_id": id,
            "instance": self.instance,
            "heartbeat_interval": self.config.heartbeat_interval.as_secs_f64(),
            "last_seq": connected_seq,
        })
        .to_string();
        sequenced.seq += 1;
        let connected = Self::direct(
            sequenced.seq,
            Kind::Connected,
            Some(&data),
            Some("WebSocket connection established"),
        );
        let mut replies = vec![connected];
        if let Some(last_seq) = resume {
            replies.extend(Self::replay(&mut sequenced, &client, last_seq, connected_seq));
        }
        {
            let mut outbox = client.outbox();
            for reply in replies {
                outbox.push(reply);
            }
        }
        self.clients.write().unwrap_or_else(PoisonError::into_inner).push(client.clone());
        drop(sequenced);
        client.wake.notify_one();
        (client, connected_seq)
    }

    /// The replay of a `Resume`: the critical messages after `last_seq` up to `until_seq` that
    /// the client's subscription wants, then `Resumed`; or `ResyncRequired`.
    fn replay(sequenced: &mut Sequenced, client: &Client, last_seq: u64, until_seq: u64) -> Vec<Shared> {
        let mut out = Vec::new();
        let kind_and_data = match sequenced.history.since(last_seq, until_seq) {
            Replay::Complete(messages) => {
                let mut outbox = client.outbox();
                let wanted: Vec<Shared> = messages
                    .into_iter()
                    .filter(|m| m.seq <= until_seq && outbox.filter().passes(m.kind, m.symbol))
                    .collect();
                drop(outbox);
                let data = serde_json::json!({ "from_seq": last_seq, "replayed": wanted.len() }).to_string();
                out.extend(wanted);
                (Kind::Resumed, data)
            }
            Replay::Gone { oldest_seq } => (
                Kind::ResyncRequired,
                serde_json::json!({ "last_seq": last_seq, "oldest_seq": oldest_seq }).to_string(),
            ),
        };
        sequenced.seq += 1;
        out.push(Self::direct(sequenced.seq, kind_and_data.0, Some(&kind_and_data.1), None));
        out
    }

    /// A `Resume` sent on an open connection: the critical messages after `last_seq` that came
    /// before this connection (later ones it has received live) are queued, then `Resumed`
    /// (or `ResyncRequired`). They follow what is already queued, so they arrive after newer
    /// live messages; `?resume=` on the URL gets them in order instead.
    pub fn resume(&self, client: &Client, last_seq: u64, connected_seq: u64) {
        let mut sequenced = lock(&self.sequenced);
        let replies = Self::replay(&mut sequenced, client, last_seq, connected_seq);
        let mut outbox = client.outbox();
        for reply in replies {
            outbox.push(reply);
        }
        drop(outbox);
        drop(sequenced);
        client.wake.notify_one();
    }

    /// Unregisters `client`.
    pub fn leave(&self, client: &Client) {
        self.clients.write().unwrap_or_else(PoisonError::into_inner).retain(|c| c.id != client.id);
    }

    /// Every client, woken (shutdown).
    pub fn wake_all(&self) {
        for client in self.clients.read().unwrap_or_else(PoisonError::into_inner).iter() {
            client.wake.notify_one();
        }
    }

    /// Adds a log line for Python (dropped, and counted, when Python does not collect them).
    pub fn log(&self, level: u8, text: String) {
        let mut logs = lock(&self.logs);
        if logs.0.len() == LOG_CAPACITY {
            logs.1 += 1;
            return;
        }
        logs.0.push_back(LogLine { level, text });
    }

    /// The log lines so far and how many were dropped; both reset.
    pub fn take_logs(&self) -> (Vec<LogLine>, u64) {
        let mut logs = lock(&self.logs);
        let dropped = std::mem::take(&mut logs.1);
        (logs.0.drain(..).collect(), dropped)
    }
}
