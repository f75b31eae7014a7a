//! The contract between the simulator's engine and each venue's wire protocol.
//!
//! The engine ([`super`]) runs the synthetic markets and the sockets; a [`VenueSim`] (one per
//! client connection, in [`super::venues`]) speaks one venue's protocol to that client: it
//! answers the client's requests, and encodes each market [`Happening`] as the venue would
//! send it, if and as the client subscribed to it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::credentials::Credentials;
use super::venues::gateio;
use crate::model::{Decimal, Level, MarketRef, Side, Venue};

/// One thing that happened in a synthetic market, shared by every client of the venue.
#[derive(Debug, Clone)]
#[expect(clippy::large_enum_variant, reason = "tickers are rare; boxing them buys nothing")]
pub enum Happening {
    /// A trade.
    Trade {
        /// Where.
        market: MarketRef,
        /// Price.
        price: Decimal,
        /// Quantity.
        qty: Decimal,
        /// The taker's side.
        side: Side,
        /// Per market, 1, 2, 3 … with no gaps.
        trade_id: u64,
        /// Unix time, ns.
        time_ns: u64,
    },
    /// The book changed: `bids`/`asks` are the changed levels with their new quantity (zero
    /// deletes). `update_id` counts the market's book changes (1, 2, 3 … with no gaps), so the
    /// previous change is `update_id - 1`.
    Book {
        /// Where.
        market: MarketRef,
        /// This change's number.
        update_id: u64,
        /// Changed bid levels.
        bids: Vec<Level>,
        /// Changed ask levels.
        asks: Vec<Level>,
        /// Unix time, ns.
        time_ns: u64,
    },
    /// The ticker's figures after the latest trades.
    Ticker {
        /// Where.
        market: MarketRef,
        /// Last trade price.
        last: Decimal,
        /// Price 24 h ago.
        open: Decimal,
        /// 24 h high.
        high: Decimal,
        /// 24 h low.
        low: Decimal,
        /// 24 h base volume.
        volume: Decimal,
        /// 24 h quote volume.
        quote_volume: Decimal,
        /// Best bid level.
        bid: Level,
        /// Best ask level.
        ask: Level,
        /// Unix time, ns.
        time_ns: u64,
    },
}

impl Happening {
    /// The market it happened in.
    #[must_use]
    pub const fn market(&self) -> &MarketRef {
        match self {
            Self::Trade { market, .. } | Self::Book { market, .. } | Self::Ticker { market, .. } => market,
        }
    }

    /// The happening by kind, with a trade's and a book change's fields as one value each:
    /// encoders `match` on it, so a new kind of happening is a compile error in every one.
    #[must_use]
    pub const fn view(&self) -> HappeningView<'_> {
        match self {
            &Self::Trade { ref market, price, qty, side, trade_id, time_ns } => {
                HappeningView::Trade(TradeFields { market, price, qty, side, trade_id, time_ns })
            }
            &Self::Book { ref market, update_id, ref bids, ref asks, time_ns } => {
                HappeningView::Book(BookChange {
                    market,
                    update_id,
                    bids: bids.as_slice(),
                    asks: asks.as_slice(),
                    time_ns,
                })
            }
            Self::Ticker { .. } => HappeningView::Ticker,
        }
    }
}

/// A [`Happening`] by kind (see [`Happening::view`]); a ticker's many fields stay in the
/// happening, which its writers read.
#[derive(Debug, Clone, Copy)]
pub enum HappeningView<'a> {
    /// A trade.
    Trade(TradeFields<'a>),
    /// A book change.
    Book(BookChange<'a>),
    /// A ticker.
    Ticker,
}

/// A [`Happening::Trade`] as one value: encoders hand a trade down through their writers, and a
/// variant's fields cannot be passed on together without it.
#[derive(Debug, Clone, Copy)]
pub struct TradeFields<'a> {
    /// Where.
    pub market: &'a MarketRef,
    /// Price.
    pub price: Decimal,
    /// Quantity.
    pub qty: Decimal,
    /// The taker's side.
    pub side: Side,
    /// Per market, 1, 2, 3 … with no gaps.
    pub trade_id: u64,
    /// Unix time, ns.
    pub time_ns: u64,
}

/// A [`Happening::Book`] as one value, for the same reason as [`TradeFields`].
#[derive(Debug, Clone, Copy)]
pub struct BookChange<'a> {
    /// Where.
    pub market: &'a MarketRef,
    /// This change's number.
    pub update_id: u64,
    /// Changed bid levels (zero quantity deletes).
    pub bids: &'a [Level],
    /// Changed ask levels (zero quantity deletes).
    pub asks: &'a [Level],
    /// Unix time, ns.
    pub time_ns: u64,
}

/// An L2 book as the engine keeps it: price → quantity per side, and the id of the last
/// change applied. Encoders keep one per book subscription to compute checksums and best
/// bid/offer after each change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimBook {
    /// Bids by price (read from the back for best first).
    pub bids: BTreeMap<Decimal, Decimal>,
    /// Asks by price (best first).
    pub asks: BTreeMap<Decimal, Decimal>,
    /// The `update_id` of the last change applied (0: none yet).
    pub update_id: u64,
}

impl SimBook {
    /// Applies one change (a level with quantity zero is removed).
    pub fn apply(&mut self, update_id: u64, bids: &[Level], asks: &[Level]) {
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for level in levels {
                // Removed first so the key is the price as last sent: equal decimals may be
                // written differently (`101.50`, `101.5`), and checksums hash the text.
                side.remove(&level.price);
                if !level.qty.is_zero() {
                    side.insert(level.price, level.qty);
                }
            }
        }
        self.update_id = update_id;
    }

    /// The best `n` bids, highest first.
    pub fn top_bids(&self, n: usize) -> impl Iterator<Item = Level> + '_ {
        self.bids.iter().rev().take(n).map(|(&price, &qty)| Level { price, qty })
    }

    /// The best `n` asks, lowest first.
    pub fn top_asks(&self, n: usize) -> impl Iterator<Item = Level> + '_ {
        self.asks.iter().take(n).map(|(&price, &qty)| Level { price, qty })
    }
}

/// What the engine offers a [`VenueSim`] while it handles a request.
pub trait SimContext {
    /// The venue's markets, as the simulator was configured.
    fn markets(&self) -> &[MarketRef];
    /// The market a native symbol (as the venue spells it, any case the venue accepts) names.
    fn market(&self, native: &str) -> Option<MarketRef>;
    /// The market's current book: its `update_id` is at least that of every [`Happening::Book`]
    /// the client has been given, so an encoder sends it as the snapshot and then skips
    /// changes with `update_id <= snapshot.update_id`.
    fn book(&self, market: &MarketRef) -> SimBook;
    /// The market's latest trade id (0: none yet).
    fn last_trade_id(&self, market: &MarketRef) -> u64;
    /// Unix time now, ns.
    fn now_ns(&self) -> u64;
}

/// Frames for one client, already framed for the wire (server frames are not masked), written
/// by the engine in large writes.
#[derive(Debug, Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    frames: usize,
}

impl Outbox {
    /// Appends a text frame.
    pub fn text(&mut self, payload: &[u8]) {
        self.frame(0x1, payload);
    }

    /// Appends a binary frame.
    pub fn binary(&mut self, payload: &[u8]) {
        self.frame(0x2, payload);
    }

    fn frame(&mut self, opcode: u8, payload: &[u8]) {
        self.bytes.push(0x80 | opcode);
        match payload.len() {
            len @ 0..=125 => self.bytes.push(u8::try_from(len).expect("<= 125")),
            len @ 126..=0xFFFF => {
                self.bytes.push(126);
                self.bytes.extend_from_slice(&u16::try_from(len).expect("<= 0xFFFF").to_be_bytes());
            }
            len => {
                self.bytes.push(127);
                self.bytes.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        self.bytes.extend_from_slice(payload);
        self.frames += 1;
    }

    /// The framed bytes waiting to be written.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Frames appended since the last [`clear`](Self::clear).
    #[must_use]
    pub const fn frames(&self) -> usize {
        self.frames
    }

    /// How far the outbox is filled, to [`truncate`](Self::truncate) back to.
    #[must_use]
    pub fn mark(&self) -> (usize, usize) {
        (self.bytes.len(), self.frames)
    }

    /// Drops what was appended after `mark` (how the engine injects a gap: the encoder has
    /// moved on, the frame never leaves).
    pub fn truncate(&mut self, mark: (usize, usize)) {
        self.bytes.truncate(mark.0);
        self.frames = mark.1;
    }

    /// Empties it after a write, keeping the allocation.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.frames = 0;
    }
}

/// Faults an encoder itself must produce (the engine does the rest: gaps, disconnects, stalls,
/// slowness, malformed frames).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeFaults {
    /// Send a wrong checksum with this book update (venues that send checksums).
    pub bad_checksum: bool,
}

/// What the client's request made the venue do besides replying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Continue,
    /// Close the connection with this WebSocket close code and reason, as the venue does (for
    /// example on too many requests).
    Close {
        /// Close code.
        code: u16,
        /// Reason.
        reason: String,
    },
}

/// The venue's heartbeat rules, which the engine enforces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeartbeatRules {
    /// The engine sends a WebSocket ping this often (Binance: 20 s).
    pub server_ping_interval: Option<Duration>,
    /// ... and closes the connection if no pong follows within this (Binance: 60 s).
    pub pong_timeout: Option<Duration>,
    /// The engine closes a connection from which nothing (no ping, no request) arrived for
    /// this long (OKX 30 s; Bybit, which wants application pings).
    pub client_idle_timeout: Option<Duration>,
    /// The engine closes a connection that has not subscribed within this (Coinbase: 5 s).
    pub subscribe_within: Option<Duration>,
}

/// One client connection's view of one venue's protocol.
pub trait VenueSim: Send {
    /// The venue.
    fn venue(&self) -> Venue;

    /// The venue's heartbeat rules (the engine may scale them down for tests).
    fn heartbeat_rules(&self) -> HeartbeatRules;

    /// A client asked to upgrade `path_and_query` (Binance `/stream?streams=…`); streams named
    /// in the URL are subscribed here.
    ///
    /// # Errors
    ///
    /// The HTTP status and body to refuse the upgrade with (an unknown path: 404).
    fn on_open(
        &mut self,
        path_and_query: &str,
        ctx: &dyn SimContext,
        out: &mut Outbox,
    ) -> Result<(), (u16, String)>;

    /// A text message from the client: replies (acks, errors, pongs, snapshots for new book
    /// subscriptions) go to `out`. Whether the client has subscribed to anything yet is
    /// [`VenueSim::has_subscriptions`].
    fn on_message(&mut self, text: &str, ctx: &dyn SimContext, out: &mut Outbox) -> Verdict;

    /// Encodes `happening` for this client if it subscribed to it, as the venue sends it.
    fn encode(&mut self, happening: &Happening, faults: EncodeFaults, out: &mut Outbox);

    /// Called about every 100 ms: periodic messages the venue sends by itself (Kraken's
    /// `heartbeat` every second, Coinbase's `heartbeats` channel).
    fn on_tick(&mut self, _now_ns: u64, _out: &mut Outbox) {}

    /// Whether the client holds at least one subscription.
    fn has_subscriptions(&self) -> bool;

    /// A plain HTTP request on the venue's port (Binance's `GET /api/v3/depth`): status and
    /// JSON body, or `None` for 404.
    fn http_get(&mut self, _path_and_query: &str, _ctx: &dyn SimContext) -> Option<(u16, String)> {
        None
    }
}

/// A fresh protocol state for a new client of `venue`; `None` for a registered venue, which
/// has no simulator here.
#[must_use]
pub fn venue_sim(venue: Venue) -> Option<Box<dyn VenueSim>> {
    venue_sim_with(venue, &Credentials::default())
}

/// As [`venue_sim`], with the API keys the venues accept on their private channels.
#[must_use]
pub fn venue_sim_with(venue: Venue, credentials: &Credentials) -> Option<Box<dyn VenueSim>> {
    Some(match venue {
        Venue::Binance => Box::new(super::venues::binance::BinanceSim::default()),
        Venue::Bybit => Box::new(super::venues::bybit::BybitSim::default()),
        Venue::Okx => Box::new(super::venues::okx::OkxSim::default()),
        Venue::Coinbase => Box::new(super::venues::coinbase::CoinbaseSim::default()),
        Venue::Kraken => Box::new(super::venues::kraken::KrakenSim::default()),
        Venue::Registered(_) if super::venues::mexc::is_mexc(venue) => {
            Box::new(super::venues::mexc::MexcSim::new(venue))
        }
        Venue::Registered(_) if gateio::is_gateio(venue) => {
            Box::new(gateio::GateioSim::new(venue, credentials.get(venue).cloned()))
        }
        Venue::Registered(_) => return None,
    })
}
