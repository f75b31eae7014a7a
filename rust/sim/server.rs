//! The engine: per venue, a TCP listener on loopback, a generator that walks the venue's
//! synthetic markets and shares each batch of happenings with every client, and the counters.
//!
//! Invariants:
//! - The generator changes the shared markets before it sends the batch that tells of the
//!   changes, and a client subscribes to batches before it first reads the markets, so a
//!   book a client reads ([`SimContext::book`]) is at least as new as every change it has been
//!   given, and it misses no change after it.
//! - Memory is bounded: batches wait in one broadcast ring per venue; at a fixed rate a client
//!   that falls a whole ring behind is disconnected, as a venue drops a slow consumer; at the
//!   maximum rate the generator waits for the slowest client instead.
//! - Pausing a venue ([`Simulator::pause`]) stops only its generator, from its next batch on
//!   (a batch being generated meanwhile still goes out); clients stay connected, heartbeats,
//!   pings, subscriptions and snapshots go on over the frozen markets. Resuming goes on at the
//!   configured pace, without a burst for the paused time.
//! - Everything runs on the crate's runtime; [`Simulator::stop`] (or dropping the simulator)
//!   aborts every task, which closes every socket.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::error::SimError;
use super::faults::{Dice, Fault, Order};
use super::market::{SimMarket, VenueMarkets};
use super::protocol::{Happening, SimBook, SimContext, VenueSim, venue_sim};
use super::venues::gateio;
use crate::clock::unix_now_ns;
use crate::model::market::intern_unified;
use crate::model::{MarketRef, Venue};

/// Makes the protocol state of a new client of a venue ([`venue_sim`] unless a test or bench
/// brings its own); `None`: the venue is not simulated.
pub type ProtocolFactory = Arc<dyn Fn(Venue) -> Option<Box<dyn VenueSim>> + Send + Sync>;

/// The most batches a venue's ring holds: a client may fall this far behind before it counts
/// as slow (at 1 ms batches: a second of market data).
pub const RING_BATCHES: usize = 1024;

/// The most happenings a venue's ring holds, whatever the rate: the ring keeps its slots filled,
/// so this bounds the simulator's memory (a few tens of MB a venue).
pub const RING_HAPPENINGS: usize = 128 * 1024;

/// Happenings in one batch at the maximum rate.
pub const MAX_RATE_BATCH: usize = 512;

/// Batches the maximum-rate generator keeps ahead of the slowest client.
pub const MAX_RATE_AHEAD: usize = 8;

/// How often a client's heartbeat rules are checked and random faults rolled.
pub const CHECK_EVERY: Duration = Duration::from_millis(20);

/// How often [`VenueSim::on_tick`] is called.
pub const TICK_EVERY: Duration = Duration::from_millis(100);

/// What a simulator runs.
#[derive(Clone)]
pub struct SimConfig {
    /// The venues, each on its own port.
    pub venues: Vec<Venue>,
    /// Unified symbols (`BTC/USDT`, `ETH/USDT-PERP`); a venue simulates those it can name.
    pub symbols: Vec<String>,
    /// Happenings per second per venue; 0: as fast as the clients take them.
    pub rate: u64,
    /// Seed of the markets' walks and of the random faults.
    pub seed: u64,
    /// Levels a book side holds.
    pub depth: usize,
    /// Random faults per minute per venue (0: none).
    pub faults_per_minute: f64,
    /// The address the listeners bind.
    pub host: IpAddr,
    /// The first venue listens on this port, the next on the one after…; `None`: ports the
    /// system chooses.
    pub port_base: Option<u16>,
    /// Scales every heartbeat rule's duration (0.05 makes Binance's 20 s ping interval 1 s).
    pub heartbeat_scale: f64,
    /// The interval between batches at a fixed rate.
    pub batch_interval: Duration,
    /// The venues' protocols.
    pub protocol: ProtocolFactory,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            venues: Venue::ALL.to_vec(),
            symbols: vec!["BTC/USDT".into(), "ETH/USDT".into()],
            rate: 1_000,
            seed: 1,
            depth: 20,
            faults_per_minute: 0.0,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_base: None,
            heartbeat_scale: 1.0,
            batch_interval: Duration::from_millis(1),
            protocol: Arc::new(venue_sim),
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("venues", &self.venues)
            .field("symbols", &self.symbols)
            .field("rate", &self.rate)
            .field("seed", &self.seed)
            .field("depth", &self.depth)
            .field("faults_per_minute", &self.faults_per_minute)
            .field("host", &self.host)
            .field("port_base", &self.port_base)
            .field("heartbeat_scale", &self.heartbeat_scale)
            .finish_non_exhaustive()
    }
}

/// A venue's WebSocket endpoints: the name a [`crate::venues`] endpoint goes by (as the
/// Python `Feed(urls=...)` takes it) and its path. The first is the venue's own URL.
#[must_use]
pub fn venue_endpoints(venue: Venue) -> &'static [(&'static str, &'static str)] {
    match venue {
        Venue::Binance => &[("binance", "/stream")],
        Venue::Bybit => &[("bybit", "/v5/public/spot"), ("bybit-linear", "/v5/public/linear")],
        Venue::Okx => &[("okx", "/ws/v5/public")],
        Venue::Coinbase => &[("coinbase", "/")],
        Venue::Kraken => &[("kraken", "/v2")],
        Venue::Registered(_) if super::venues::mexc::is_mexc(venue) => {
            &[(super::venues::mexc::NAME, super::venues::mexc::PATH)]
        }
        Venue::Registered(_) if gateio::is_gateio(venue) => &[(gateio::NAME, gateio::PATH)],
        Venue::Registered(_) => &[],
    }
}

/// Counters of one venue, shared by its tasks.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub happenings: AtomicU64,
    pub frames_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub clients_connected: AtomicU64,
    pub clients_total: AtomicU64,
    pub http_requests: AtomicU64,
    pub slow_disconnects: AtomicU64,
    pub heartbeat_disconnects: AtomicU64,
    pub faults: [AtomicU64; Fault::ALL.len()],
}

/// One venue's shared state: markets, the batch ring, the connected clients, the counters.
pub(super) struct VenueHub {
    pub venue: Venue,
    pub markets: Mutex<VenueMarkets>,
    pub refs: Vec<MarketRef>,
    pub batches: broadcast::Sender<Arc<Vec<Happening>>>,
    /// Woken when a client takes a batch or connects (the maximum-rate generator waits on it).
    pub consumed: Notify,
    /// While set, the generator publishes nothing.
    pub paused: AtomicBool,
    /// Woken on resume (the maximum-rate generator waits on it while paused).
    pub resumed: Notify,
    pub clients: Mutex<Vec<(u64, mpsc::Sender<Order>)>>,
    pub counters: Counters,
    pub protocol: ProtocolFactory,
    pub heartbeat_scale: f64,
}

impl VenueHub {
    pub fn markets(&self) -> MutexGuard<'_, VenueMarkets> {
        self.markets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn clients(&self) -> MutexGuard<'_, Vec<(u64, mpsc::Sender<Order>)>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a client for fault orders; the returned guard unregisters it.
    pub fn join(self: &Arc<Self>, id: u64) -> (mpsc::Receiver<Order>, Leave) {
        let (sender, receiver) = mpsc::channel(64);
        self.clients().push((id, sender));
        self.counters.clients_connected.fetch_add(1, Ordering::Relaxed);
        self.counters.clients_total.fetch_add(1, Ordering::Relaxed);
        self.consumed.notify_one();
        (receiver, Leave { hub: Arc::clone(self), id })
    }

    fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
        if !paused {
            // notify_one keeps a permit, so a generator between its check and its wait still wakes.
            self.resumed.notify_one();
        }
    }

    /// The simulated market `symbol` names, unified or native, in any ASCII case.
    fn market(&self, symbol: &str) -> Result<&MarketRef, SimError> {
        self.refs
            .iter()
            .find(|m| m.unified.eq_ignore_ascii_case(symbol) || m.native.eq_ignore_ascii_case(symbol))
            .ok_or_else(|| SimError::UnknownMarket {
                venue: self.venue,
                symbol: symbol.into(),
                markets: self.refs.iter().map(|m| &*m.unified).collect::<Vec<_>>().join(", "),
            })
    }

    /// Orders `fault` for every connected client; returns how many it reached.
    fn inject(&self, fault: Fault, market: Option<u32>) -> usize {
        self.counters.faults[fault.index()].fetch_add(1, Ordering::Relaxed);
        let order = Order { fault, market };
        self.clients().iter().filter(|(_, sender)| sender.try_send(order).is_ok()).count()
    }
}

/// Unregisters a client when its task ends, however it ends.
pub(super) struct Leave {
    hub: Arc<VenueHub>,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.hub.clients().retain(|(id, _)| *id != self.id);
        self.hub.counters.clients_connected.fetch_sub(1, Ordering::Relaxed);
        self.hub.consumed.notify_one();
    }
}

/// The engine's [`SimContext`]: the venue's markets, locked for the length of one request.
pub(super) struct Context<'a> {
    pub markets: &'a VenueMarkets,
    pub refs: &'a [MarketRef],
}

impl SimContext for Context<'_> {
    fn markets(&self) -> &[MarketRef] {
        self.refs
    }

    fn market(&self, native: &str) -> Option<MarketRef> {
        self.markets.find(native).map(|market| market.market().clone())
    }

    fn book(&self, market: &MarketRef) -> SimBook {
        self.markets.get(market).map(super::market::SimMarket::book).unwrap_or_default()
    }

    fn last_trade_id(&self, market: &MarketRef) -> u64 {
        self.markets.get(market).map_or(0, super::market::SimMarket::last_trade_id)
    }

    fn now_ns(&self) -> u64 {
        unix_now_ns()
    }
}

/// Counters of one venue at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VenueStats {
    /// The venue.
    pub venue: Option<Venue>,
    /// Happenings generated.
    pub happenings: u64,
    /// WebSocket frames written to clients (data and control).
    pub frames_sent: u64,
    /// Bytes written to clients.
    pub bytes_sent: u64,
    /// Clients connected now.
    pub clients_connected: u64,
    /// WebSocket clients ever connected.
    pub clients_total: u64,
    /// Plain HTTP requests answered (REST snapshots).
    pub http_requests: u64,
    /// Clients dropped for falling behind.
    pub slow_disconnects: u64,
    /// Clients dropped for breaking a heartbeat rule.
    pub heartbeat_disconnects: u64,
    /// Faults injected, by kind (in [`Fault::ALL`] order).
    pub faults: [u64; Fault::ALL.len()],
}

/// Counters of every venue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Per venue, in configuration order.
    pub venues: Vec<VenueStats>,
}

struct VenueRun {
    hub: Arc<VenueHub>,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

/// A running simulator: one local server per venue. Dropping it stops it.
pub struct Simulator {
    venues: Vec<VenueRun>,
    /// Tells the listeners to stop (they end their clients first).
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.venues.iter().map(|run| (run.hub.venue, run.addr))).finish()
    }
}

impl Simulator {
    /// Binds every venue's listener and starts its generator, on the crate's runtime.
    ///
    /// # Errors
    ///
    /// [`SimError`]: no venue, a venue that can name none of the symbols, an option out of
    /// range, a port that cannot be bound, the runtime.
    pub fn start(config: &SimConfig) -> Result<Self, SimError> {
        validate(config)?;
        let runtime = crate::runtime::runtime()?;
        let stop = watch::Sender::new(false);
        let mut venues = Vec::new();
        for (index, &venue) in config.venues.iter().enumerate() {
            let refs = markets_of(venue, &config.symbols)?;
            let port = match config.port_base {
                Some(base) => {
                    base.checked_add(u16::try_from(index).unwrap_or(u16::MAX)).ok_or_else(|| {
                        SimError::InvalidOption {
                            name: "port_base",
                            reason: format!("{base} leaves no port for {venue}"),
                        }
                    })?
                }
                None => 0,
            };
            let addr = SocketAddr::new(config.host, port);
            let std_listener = std::net::TcpListener::bind(addr).and_then(|listener| {
                listener.set_nonblocking(true)?;
                Ok(listener)
            });
            let std_listener = std_listener.map_err(|source| SimError::Bind { venue, addr, source })?;
            let addr = std_listener.local_addr().map_err(|source| SimError::Bind { venue, addr, source })?;
            let seed = config.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let hub = Arc::new(VenueHub {
                venue,
                markets: Mutex::new(VenueMarkets::new(&refs, config.depth, seed)),
                refs,
                batches: broadcast::channel(ring_batches(config.rate, config.batch_interval)).0,
                consumed: Notify::new(),
                paused: AtomicBool::new(false),
                resumed: Notify::new(),
                clients: Mutex::default(),
                counters: Counters::default(),
                protocol: Arc::clone(&config.protocol),
                heartbeat_scale: config.heartbeat_scale,
            });
            let _entered = runtime.enter();
            let listener = TcpListener::from_std(std_listener).map_err(|source| SimError::Bind {
                venue,
                addr,
                source,
            })?;
            let mut tasks = vec![
                runtime.spawn(accept(Arc::clone(&hub), listener, stop.subscribe())),
                runtime.spawn(generate(Arc::clone(&hub), config.rate, config.batch_interval)),
            ];
            if config.faults_per_minute > 0.0 {
                let dice = Dice::new(config.faults_per_minute, CHECK_EVERY, seed.rotate_left(17));
                tasks.push(runtime.spawn(random_faults(Arc::clone(&hub), dice)));
            }
            venues.push(VenueRun { hub, addr, tasks });
        }
        Ok(Self { venues, stop })
    }

    fn run(&self, venue: Venue) -> Result<&VenueRun, SimError> {
        self.venues.iter().find(|run| run.hub.venue == venue).ok_or(SimError::VenueNotSimulated { venue })
    }

    /// The venues, in configuration order.
    #[must_use]
    pub fn venues(&self) -> Vec<Venue> {
        self.venues.iter().map(|run| run.hub.venue).collect()
    }

    /// The address `venue` listens on.
    ///
    /// # Errors
    ///
    /// [`SimError::VenueNotSimulated`].
    pub fn addr(&self, venue: Venue) -> Result<SocketAddr, SimError> {
        Ok(self.run(venue)?.addr)
    }

    /// The WebSocket URL of `venue` at its first endpoint ([`venue_endpoints`]), e.g.
    /// `ws://127.0.0.1:PORT/stream` for Binance.
    ///
    /// # Errors
    ///
    /// [`SimError::VenueNotSimulated`].
    pub fn url(&self, venue: Venue) -> Result<String, SimError> {
        let (_, path) = venue_endpoints(venue).first().ok_or(SimError::VenueNotSimulated { venue })?;
        self.url_at(venue, path)
    }

    /// Every venue's endpoints by name (`binance`, `bybit`, `bybit-linear` …) with their URLs,
    /// as a feed takes them instead of the production URLs.
    #[must_use]
    pub fn urls(&self) -> Vec<(&'static str, String)> {
        self.venues
            .iter()
            .flat_map(|run| {
                venue_endpoints(run.hub.venue)
                    .iter()
                    .map(|&(name, path)| (name, format!("ws://{}{path}", run.addr)))
            })
            .collect()
    }

    /// The URL of `venue` at `path` (Bybit linear: `/v5/public/linear`).
    ///
    /// # Errors
    ///
    /// [`SimError::VenueNotSimulated`].
    pub fn url_at(&self, venue: Venue, path: &str) -> Result<String, SimError> {
        Ok(format!("ws://{}{path}", self.addr(venue)?))
    }

    /// The simulated markets of `venue`.
    ///
    /// # Errors
    ///
    /// [`SimError::VenueNotSimulated`].
    pub fn markets(&self, venue: Venue) -> Result<Vec<MarketRef>, SimError> {
        Ok(self.run(venue)?.hub.refs.clone())
    }

    /// Injects `fault` into every client of `venue` connected now; `symbol` (unified or native)
    /// limits a gap or bad checksum to that market. Returns how many clients it reached.
    ///
    /// # Errors
    ///
    /// [`SimError::VenueNotSimulated`], [`SimError::UnknownMarket`].
    pub fn inject(&self, venue: Venue, fault: Fault, symbol: Option<&str>) -> Result<usize, SimError> {
        let hub = &self.run(venue)?.hub;
        let market = symbol.map(|symbol| hub.market(symbol).map(|m| m.id)).transpose()?;
        Ok(hub.inject(fault, market))
    }

    /// Stops generating market happenings on `venue` (`None`: every venue). It takes effect
    /// from the next batch: a batch being generated while this is called may still go out.
    /// Only the markets stop: clients stay connected, and heartbeats, pings, subscription
    /// acks and snapshots go on. Pausing a paused venue does nothing.
    ///
    /// # Errors
    ///
    /// [`SimError::VenueNotSimulated`].
    pub fn pause(&self, venue: Option<Venue>) -> Result<(), SimError> {
        self.set_paused(venue, true)
    }

    /// Generates again on `venue` (`None`: every venue), at the configured pace from now on:
    /// the paused time is not made up with a burst. Resuming a running venue does nothing.
    ///
    /// # Errors
    ///
    /// [`SimError::VenueNotSimulated`].
    pub fn resume(&self, venue: Option<Venue>) -> Result<(), SimError> {
        self.set_paused(venue, false)
    }

    fn set_paused(&self, venue: Option<Venue>, paused: bool) -> Result<(), SimError> {
        let runs = match venue {
            Some(venue) => std::slice::from_ref(self.run(venue)?),
            None => &self.venues[..],
        };
        for run in runs {
            run.hub.set_paused(paused);
        }
        Ok(())
    }

    /// The true book of `symbol` (unified or native, any case) on `venue` now: the book every
    /// client's copy should equal once it has applied every change sent before. Read under the
    /// markets' lock, so it never shows half a batch; pause the venue first to compare it with a
    /// client's book at rest.
    ///
    /// # Errors
    ///
    /// [`SimError::VenueNotSimulated`], [`SimError::UnknownMarket`].
    pub fn book(&self, venue: Venue, symbol: &str) -> Result<SimBook, SimError> {
        let hub = &self.run(venue)?.hub;
        let market = hub.market(symbol)?;
        Ok(hub.markets().get(market).map(SimMarket::book).unwrap_or_default())
    }

    /// Every venue's counters now.
    #[must_use]
    pub fn stats(&self) -> SimStats {
        let venues = self
            .venues
            .iter()
            .map(|run| {
                let c = &run.hub.counters;
                let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
                VenueStats {
                    venue: Some(run.hub.venue),
                    happenings: load(&c.happenings),
                    frames_sent: load(&c.frames_sent),
                    bytes_sent: load(&c.bytes_sent),
                    clients_connected: load(&c.clients_connected),
                    clients_total: load(&c.clients_total),
                    http_requests: load(&c.http_requests),
                    slow_disconnects: load(&c.slow_disconnects),
                    heartbeat_disconnects: load(&c.heartbeat_disconnects),
                    faults: std::array::from_fn(|i| load(&c.faults[i])),
                }
            })
            .collect();
        SimStats { venues }
    }

    /// Stops every listener, generator and client, and waits until they have ended (their
    /// sockets are closed then).
    pub async fn stop(&mut self) {
        self.stop.send_replace(true);
        for run in &mut self.venues {
            let mut tasks = run.tasks.drain(..);
            // The listener (first) ends by itself, after its clients; the others are endless.
            if let Some(listener) = tasks.next() {
                let _ = listener.await;
            }
            for task in tasks {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for run in &self.venues {
            for task in &run.tasks {
                task.abort();
            }
        }
    }
}

fn validate(config: &SimConfig) -> Result<(), SimError> {
    if config.venues.is_empty() {
        return Err(SimError::NoVenues);
    }
    let invalid = |name, reason: &str| Err(SimError::InvalidOption { name, reason: reason.into() });
    if config.depth == 0 || config.depth > 10_000 {
        return invalid("depth", "must be 1 to 10000 levels");
    }
    if !(config.faults_per_minute.is_finite() && config.faults_per_minute >= 0.0) {
        return invalid("faults", "must be a finite number of faults per minute, 0 or more");
    }
    if !(config.heartbeat_scale.is_finite() && config.heartbeat_scale > 0.0) {
        return invalid("heartbeat_scale", "must be a positive finite factor");
    }
    if config.batch_interval.is_zero() {
        return invalid("batch_interval", "must be positive");
    }
    for (index, &venue) in config.venues.iter().enumerate() {
        if (config.protocol)(venue).is_none() || venue_endpoints(venue).is_empty() {
            return Err(SimError::VenueNotSimulated { venue });
        }
        if config.venues[..index].contains(&venue) {
            return Err(SimError::InvalidOption {
                name: "venues",
                reason: format!("{venue} is listed twice"),
            });
        }
    }
    Ok(())
}

/// The markets `venue` can name among `symbols`; an error naming each refusal if none.
fn markets_of(venue: Venue, symbols: &[String]) -> Result<Vec<MarketRef>, SimError> {
    let mut markets: Vec<MarketRef> = Vec::new();
    let mut refused = Vec::new();
    for symbol in symbols {
        match intern_unified(venue, symbol) {
            Ok(market) if !markets.iter().any(|m| m.id == market.id) => markets.push(market),
            Ok(_) => {}
            Err(err) => refused.push(err.to_string()),
        }
    }
    if markets.is_empty() {
        let reasons = if refused.is_empty() { "no symbols given".into() } else { refused.join("; ") };
        return Err(SimError::NoMarkets { venue, reasons });
    }
    Ok(markets)
}

/// How many batches the ring holds at `rate` (0: the maximum rate).
fn ring_batches(rate: u64, interval: Duration) -> usize {
    if rate == 0 {
        return MAX_RATE_AHEAD * 2;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an estimate"
    )]
    let per_batch = ((rate as f64 * interval.as_secs_f64()) as usize).max(1);
    (RING_HAPPENINGS / per_batch).clamp(16, RING_BATCHES)
}

/// Accepts clients until told to stop, then ends every client's task and waits for them (their
/// sockets are closed when it returns). Aborted instead, it aborts them all without waiting.
async fn accept(hub: Arc<VenueHub>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let mut clients = JoinSet::new();
    let mut next_id = 0_u64;
    loop {
        tokio::select! {
            _ = stop.changed() => {
                drop(listener);
                clients.shutdown().await;
                return;
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                next_id += 1;
                clients.spawn(super::client::serve(Arc::clone(&hub), stream, next_id));
            }
            Some(_) = clients.join_next() => {}
        }
    }
}

/// Walks the markets: at `rate` happenings per second in batches every `interval`, or (rate 0)
/// as fast as the slowest client takes them; nothing while the venue is paused.
async fn generate(hub: Arc<VenueHub>, rate: u64, interval: Duration) {
    if rate == 0 {
        loop {
            loop {
                if hub.is_paused() {
                    hub.resumed.notified().await;
                } else if hub.batches.receiver_count() == 0 || hub.batches.len() >= MAX_RATE_AHEAD {
                    hub.consumed.notified().await;
                } else {
                    break;
                }
            }
            publish(&hub, MAX_RATE_BATCH);
            tokio::task::yield_now().await;
        }
    }
    let started = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut made = 0_u64;
    loop {
        ticker.tick().await;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a pace, not an exact count"
        )]
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        if hub.is_paused() {
            // The paused time is not owed: on resume the pace goes on without a burst.
            made = due;
            continue;
        }
        // After the process was suspended a while, resume the pace instead of a burst.
        made = made.max(due.saturating_sub(rate));
        let count = usize::try_from(due.saturating_sub(made)).unwrap_or(usize::MAX).min(RING_BATCHES * 64);
        if count > 0 {
            made += publish(&hub, count) as u64;
        }
    }
}

/// Generates `count` happenings into one batch and shares it; returns how many it made.
fn publish(hub: &VenueHub, count: usize) -> usize {
    let mut batch = Vec::with_capacity(count + 4);
    hub.markets().generate(count, unix_now_ns(), &mut batch);
    let made = batch.len();
    hub.counters.happenings.fetch_add(made as u64, Ordering::Relaxed);
    // No receivers is fine: nobody is listening yet.
    let _ = hub.batches.send(Arc::new(batch));
    made
}

/// Injects faults of random kinds at the configured rate.
async fn random_faults(hub: Arc<VenueHub>, mut dice: Dice) {
    let mut ticker = tokio::time::interval(CHECK_EVERY);
    loop {
        ticker.tick().await;
        if let Some(fault) = dice.roll() {
            hub.inject(fault, None);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Pausing, resuming and the true book, against the generator itself (the protocol and its
    //! clients are tested in `sim::tests`).

    use tokio::sync::broadcast::error::RecvError;
    use tokio::time::{sleep, timeout};

    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);
    /// Long enough for a batch generated while pausing to have gone out.
    const SETTLE: Duration = Duration::from_millis(50);

    fn config(rate: u64, venues: &[Venue]) -> SimConfig {
        SimConfig {
            venues: venues.to_vec(),
            symbols: vec!["BTC/USDT".into(), "ETH/USDT".into()],
            rate,
            ..SimConfig::default()
        }
    }

    fn happenings(sim: &Simulator, venue: Venue) -> u64 {
        sim.stats().venues.into_iter().find(|v| v.venue == Some(venue)).map_or(0, |v| v.happenings)
    }

    /// Waits until `venue` has generated more than `than`; returns its count then.
    async fn grows(sim: &Simulator, venue: Venue, than: u64) -> u64 {
        let wait = async {
            loop {
                let now = happenings(sim, venue);
                if now > than {
                    return now;
                }
                sleep(Duration::from_millis(2)).await;
            }
        };
        timeout(LIMIT, wait).await.expect("the generator goes on")
    }

    /// Waits for a batch in flight to go out, then checks that `venue` generates nothing for
    /// 200 ms; returns its count.
    async fn still(sim: &Simulator, venue: Venue) -> u64 {
        sleep(SETTLE).await;
        let at_rest = happenings(sim, venue);
        sleep(Duration::from_millis(200)).await;
        assert_eq!(happenings(sim, venue), at_rest, "{venue}: nothing generated while paused");
        at_rest
    }

    #[tokio::test]
    async fn pause_stops_the_markets_and_resume_goes_on_without_a_burst() {
        let rate = 10_000;
        let sim = Simulator::start(&config(rate, &[Venue::Binance, Venue::Okx])).unwrap();
        grows(&sim, Venue::Binance, 0).await;
        sim.pause(Some(Venue::Binance)).unwrap();
        let okx = happenings(&sim, Venue::Okx);
        let binance = still(&sim, Venue::Binance).await;
        grows(&sim, Venue::Okx, okx).await;
        sim.resume(Some(Venue::Binance)).unwrap();
        let first = grows(&sim, Venue::Binance, binance).await;
        // Paused 250 ms at 10 000/s: a catch-up would bring 2 500 at once.
        assert!(first - binance < rate / 10, "a burst of {} on resume", first - binance);
        sim.pause(None).unwrap();
        let (binance, okx) = tokio::join!(still(&sim, Venue::Binance), still(&sim, Venue::Okx));
        sim.resume(None).unwrap();
        grows(&sim, Venue::Binance, binance).await;
        grows(&sim, Venue::Okx, okx).await;
    }

    #[tokio::test]
    async fn pause_stops_the_maximum_rate_too() {
        let sim = Simulator::start(&config(0, &[Venue::Binance])).unwrap();
        let hub = Arc::clone(&sim.venues[0].hub);
        // A client that takes every batch, as a connection's task does.
        let mut batches = hub.batches.subscribe();
        // Subscribing wakes nobody (a connection's join() does): wake the waiting generator.
        hub.consumed.notify_one();
        let consumer = tokio::spawn(async move {
            loop {
                match batches.recv().await {
                    Ok(_) | Err(RecvError::Lagged(_)) => hub.consumed.notify_one(),
                    Err(RecvError::Closed) => return,
                }
            }
        });
        grows(&sim, Venue::Binance, 0).await;
        sim.pause(None).unwrap();
        let at_rest = still(&sim, Venue::Binance).await;
        sim.resume(None).unwrap();
        grows(&sim, Venue::Binance, at_rest).await;
        consumer.abort();
    }

    #[tokio::test]
    async fn book_is_the_markets_book_uncrossed() {
        let sim = Simulator::start(&config(10_000, &[Venue::Binance])).unwrap();
        grows(&sim, Venue::Binance, 1_000).await;
        sim.pause(None).unwrap();
        sleep(SETTLE).await;
        let book = sim.book(Venue::Binance, "btc/usdt").unwrap();
        assert!(!book.bids.is_empty() && !book.asks.is_empty());
        assert!(book.bids.last_key_value().unwrap().0 < book.asks.first_key_value().unwrap().0, "uncrossed");
        assert!(book.update_id > 0, "the walk has changed it");
        assert_eq!(
            sim.book(Venue::Binance, "BTCUSDT").unwrap(),
            book,
            "native names work, and it is at rest"
        );
        let unknown = sim.book(Venue::Binance, "DOGE/USDT").unwrap_err();
        assert!(matches!(unknown, SimError::UnknownMarket { venue: Venue::Binance, .. }), "{unknown}");
        assert!(unknown.to_string().contains("BTC/USDT"), "{unknown}");
        assert!(matches!(
            sim.book(Venue::Okx, "BTC/USDT"),
            Err(SimError::VenueNotSimulated { venue: Venue::Okx })
        ));
        assert!(matches!(sim.pause(Some(Venue::Kraken)), Err(SimError::VenueNotSimulated { .. })));
        assert!(matches!(sim.resume(Some(Venue::Kraken)), Err(SimError::VenueNotSimulated { .. })));
    }
}
