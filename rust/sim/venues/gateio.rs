//! Gate.io v4 spot in the simulator: `/ws/v4/`, `spot.ping` → `spot.pong`, subscribe and
//! unsubscribe with one answer per request, the public `spot.trades` / `spot.book_ticker` /
//! `spot.order_book_update` / `spot.tickers` pushes and the authenticated `spot.orders` /
//! `spot.usertrades` / `spot.balances` shaped as the docs' examples (`PROTOCOLS.md` §6, Gate.io).
//!
//! Gate.io is a registered venue ([`NAME`], [`TRAITS`]): its adapter is written in Python, and
//! the simulator registers it with the same traits when a configuration names it.
//!
//! Invariants:
//! - A request is applied whole or refused whole (one answer either way): an unknown pair, a
//!   pair+channel this connection already holds, a `time` more than 60 s from the server's, or
//!   (private channels) a missing or wrong key or signature refuses it.
//! - One [`SimBook`] replica per market with a `spot.order_book_update` or `spot.book_ticker`
//!   subscription, fed every book change after its snapshot (`update_id > replica.update_id`).
//!   The first `spot.order_book_update` push is `full: true` with `U = u` = the replica's
//!   `update_id`; each delta is one change with `U = u` = its `update_id`, so deltas are
//!   continuous (`U` = previous `u` + 1) and a frame the engine drops breaks the chain as on Gate.
//! - Private data is per connection: the connection's account starts with [`START_BALANCE`] of
//!   every currency, and every [`FILL_EVERY`]th trade of a market fills one of its orders (see
//!   [`Account`]); each fill is one `spot.usertrades` push, each balance push's `total` is the
//!   previous `total` plus its `change`, and the changes are exactly the fills' amounts less
//!   their fees. Nothing private is sent before a subscription authenticated with the
//!   configured key.
//! - Gate sends no checksum: [`EncodeFaults::bad_checksum`] changes nothing.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;

use hmac::{KeyInit, Mac};

use super::change_fraction;
use crate::book::SyncRule;
use crate::model::{Decimal, Level, MarketRef, RegistryError, Side, SymbolSeparator, Venue, VenueTraits};
use crate::sim::credentials::ApiKey;
use crate::sim::protocol::{
    BookChange, EncodeFaults, Happening, HappeningView, HeartbeatRules, Outbox, SimBook, SimContext,
    TradeFields, VenueSim, Verdict,
};

/// The registered venue's name.
pub const NAME: &str = "gateio";

/// Its traits, as its Python adapter registers them: `BTC_USDT`, books proven by a full
/// snapshot then `U`/`u` ranges.
pub const TRAITS: VenueTraits = VenueTraits {
    symbol_separator: SymbolSeparator::Underscore,
    book_sync: Some(SyncRule::SnapshotThenRange),
};

/// The only path served.
pub const PATH: &str = "/ws/v4/";

/// How far a request's `time` may be from the server's, in seconds.
const TIME_WINDOW_S: u64 = 60;

/// The most levels a side of a `full` snapshot holds.
const FULL_DEPTH: usize = 100;

/// Every this many trades of a market (by `id_market`), one fills an order of the account.
pub const FILL_EVERY: u64 = 5;

/// What every currency of a connection's account starts with.
pub const START_BALANCE: Decimal = Decimal::new(1_000_000, 0);

/// The account's user id, as private pushes carry it.
const USER_ID: u32 = 1_000_001;

/// The `text` of the account's orders (Gate's user-defined texts start with `t-`).
const ORDER_TEXT: &str = "t-tickwire-sim";

/// The Gate.io venue, registered (once) with [`TRAITS`].
///
/// # Errors
///
/// [`RegistryError::Conflict`]: `"gateio"` was registered with other traits.
pub fn venue() -> Result<Venue, RegistryError> {
    Venue::register(NAME, TRAITS)
}

/// Whether `venue` is Gate.io.
#[must_use]
pub fn is_gateio(venue: Venue) -> bool {
    matches!(venue, Venue::Registered(registered) if registered.name() == NAME)
}

/// `hex(HMAC_SHA512(secret, "channel=<channel>&event=<event>&time=<time>"))`: the `SIGN` of a
/// private request.
#[must_use]
pub fn sign(secret: &str, channel: &str, event: &str, time: i64) -> String {
    hex::encode(signer(secret, channel, event, time).finalize().into_bytes())
}

fn signer(secret: &str, channel: &str, event: &str, time: i64) -> hmac::Hmac<sha2::Sha512> {
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("channel={channel}&event={event}&time={time}").as_bytes());
    mac
}

/// Why a request is refused: Gate's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    code: u8,
    message: String,
}

impl Refusal {
    fn body(detail: &str) -> Self {
        Self { code: 1, message: format!("Invalid request body format: {detail}") }
    }

    fn argument(message: String) -> Self {
        Self { code: 2, message }
    }

    fn auth(detail: &str) -> Self {
        Self { code: 4, message: format!("Authentication fail: {detail}") }
    }
}

/// One client's view of the simulated Gate.io.
#[derive(Debug)]
pub struct GateioSim {
    venue: Venue,
    api_key: Option<ApiKey>,
    trades: HashSet<u32>,
    tickers: HashSet<u32>,
    /// `spot.order_book_update` and `spot.book_ticker` subscriptions by market id, sharing one
    /// replica.
    books: HashMap<u32, BookSub>,
    orders: PairSubs,
    user_trades: PairSubs,
    balances: bool,
    /// Set by the first authenticated subscription: the account trades from then on.
    authenticated: bool,
    account: Account,
    scratch: Vec<u8>,
}

#[derive(Debug)]
struct BookSub {
    book: SimBook,
    /// The `spot.order_book_update` level (20 or 100), if subscribed.
    level: Option<usize>,
    ticker: bool,
    /// The best bid and ask last pushed on `spot.book_ticker`.
    top: (Option<Level>, Option<Level>),
}

impl BookSub {
    fn top(&self) -> (Option<Level>, Option<Level>) {
        (self.book.top_bids(1).next(), self.book.top_asks(1).next())
    }
}

/// A private channel's pairs, and whether it has `!all`.
#[derive(Debug, Default)]
struct PairSubs {
    pairs: HashSet<u32>,
    all: bool,
}

impl PairSubs {
    fn covers(&self, market: u32) -> bool {
        self.all || self.pairs.contains(&market)
    }

    fn is_empty(&self) -> bool {
        !self.all && self.pairs.is_empty()
    }
}

/// The channels a request can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Trades,
    BookTicker,
    OrderBookUpdate,
    Tickers,
    Orders,
    UserTrades,
    Balances,
}

impl Stream {
    fn parse(channel: &str) -> Option<Self> {
        Some(match channel {
            "spot.trades" => Self::Trades,
            "spot.book_ticker" => Self::BookTicker,
            "spot.order_book_update" => Self::OrderBookUpdate,
            "spot.tickers" => Self::Tickers,
            "spot.orders" => Self::Orders,
            "spot.usertrades" => Self::UserTrades,
            "spot.balances" => Self::Balances,
            _ => return None,
        })
    }

    fn is_private(self) -> bool {
        matches!(self, Self::Orders | Self::UserTrades | Self::Balances)
    }
}

/// What a well-formed request asks for.
struct Request<'a> {
    id: Option<i64>,
    time: i64,
    channel: &'a str,
    event: &'a str,
    payload: Vec<&'a str>,
    auth: Option<&'a serde_json::Value>,
}

/// The targets of a subscribe or unsubscribe, checked.
enum Targets {
    Markets(Vec<MarketRef>),
    Book(MarketRef, usize),
    /// `!all` of `spot.orders` or `spot.usertrades`.
    All,
    Balances,
}

impl GateioSim {
    /// A fresh connection to `venue` (Gate.io), accepting `api_key` on private channels.
    #[must_use]
    pub fn new(venue: Venue, api_key: Option<ApiKey>) -> Self {
        Self {
            venue,
            api_key,
            trades: HashSet::new(),
            tickers: HashSet::new(),
            books: HashMap::new(),
            orders: PairSubs::default(),
            user_trades: PairSubs::default(),
            balances: false,
            authenticated: false,
            account: Account::default(),
            scratch: Vec::new(),
        }
    }

    /// The answer to a request: success, or the refusal.
    fn answer(
        &mut self,
        now_ns: u64,
        id: Option<i64>,
        channel: &str,
        event: &str,
        refusal: Option<&Refusal>,
    ) -> &[u8] {
        let buf = &mut self.scratch;
        open_answer(buf, now_ns, id);
        buf.extend_from_slice(b"\"channel\":");
        let _ = serde_json::to_writer(&mut *buf, channel);
        buf.extend_from_slice(b",\"event\":");
        let _ = serde_json::to_writer(&mut *buf, event);
        match refusal {
            None => buf.extend_from_slice(br#","error":null,"result":{"status":"success"}}"#),
            Some(Refusal { code, message }) => {
                let _ = write!(buf, r#","error":{{"code":{code},"message":"#);
                let _ = serde_json::to_writer(&mut *buf, message);
                buf.extend_from_slice(br#"},"result":{"status":"failed"}}"#);
            }
        }
        buf
    }

    fn pong(&mut self, now_ns: u64, id: Option<i64>) -> &[u8] {
        let buf = &mut self.scratch;
        open_answer(buf, now_ns, id);
        buf.extend_from_slice(br#""channel":"spot.pong","event":"","error":null,"result":null}"#);
        buf
    }

    /// Checks a request against the protocol and this connection's subscriptions.
    fn check(
        &self,
        request: &Request<'_>,
        stream: Stream,
        subscribe: bool,
        ctx: &dyn SimContext,
    ) -> Result<Targets, Refusal> {
        let now_s = ctx.now_ns() / 1_000_000_000;
        let skew = now_s.abs_diff(u64::try_from(request.time).unwrap_or(0));
        if request.time < 0 || skew > TIME_WINDOW_S {
            let detail = format!(
                "request time {} is more than {TIME_WINDOW_S} s from server time {now_s}",
                request.time
            );
            return Err(if stream.is_private() {
                Refusal::auth(&detail)
            } else {
                Refusal::argument(format!("Invalid argument provided: {detail}"))
            });
        }
        if stream.is_private() {
            self.authenticate(request)?;
        }
        match stream {
            Stream::Balances => {
                if subscribe && self.balances {
                    return Err(duplicate(request, ""));
                }
                Ok(Targets::Balances)
            }
            Stream::Orders | Stream::UserTrades if request.payload.contains(&"!all") => {
                if subscribe && self.private_pairs(stream).is_some_and(|subs| subs.all) {
                    return Err(duplicate(request, "!all"));
                }
                Ok(Targets::All)
            }
            Stream::OrderBookUpdate => {
                let [pair, interval, ..] = request.payload[..] else {
                    return Err(Refusal::argument(
                        "Invalid argument provided: payload must be [pair, interval]".into(),
                    ));
                };
                let level = match interval {
                    "20ms" => 20,
                    "100ms" => 100,
                    _ => {
                        return Err(Refusal::argument(format!(
                            "Invalid argument provided: interval {interval:?} is not 20ms or 100ms"
                        )));
                    }
                };
                let market = ctx.market(pair).ok_or_else(|| unknown_pair(pair))?;
                if subscribe && self.books.get(&market.id).is_some_and(|sub| sub.level.is_some()) {
                    return Err(duplicate(request, pair));
                }
                Ok(Targets::Book(market, level))
            }
            Stream::Trades | Stream::BookTicker | Stream::Tickers | Stream::Orders | Stream::UserTrades => {
                self.pairs(request, stream, subscribe, ctx).map(Targets::Markets)
            }
        }
    }

    /// The markets a pair-list request names, none of them held already when subscribing.
    fn pairs(
        &self,
        request: &Request<'_>,
        stream: Stream,
        subscribe: bool,
        ctx: &dyn SimContext,
    ) -> Result<Vec<MarketRef>, Refusal> {
        if request.payload.is_empty() {
            return Err(Refusal::argument(
                "Invalid argument provided: payload must list currency pairs".into(),
            ));
        }
        let mut markets: Vec<MarketRef> = Vec::with_capacity(request.payload.len());
        for pair in &request.payload {
            let market = ctx.market(pair).ok_or_else(|| unknown_pair(pair))?;
            let held = match stream {
                Stream::Trades => self.trades.contains(&market.id),
                Stream::Tickers => self.tickers.contains(&market.id),
                Stream::BookTicker => self.books.get(&market.id).is_some_and(|sub| sub.ticker),
                _ => self.private_pairs(stream).is_some_and(|subs| subs.pairs.contains(&market.id)),
            };
            if subscribe && (held || markets.iter().any(|m| m.id == market.id)) {
                return Err(duplicate(request, pair));
            }
            markets.push(market);
        }
        Ok(markets)
    }

    /// The pairs of a private channel that names them.
    fn private_pairs(&self, stream: Stream) -> Option<&PairSubs> {
        match stream {
            Stream::Orders => Some(&self.orders),
            Stream::UserTrades => Some(&self.user_trades),
            _ => None,
        }
    }

    /// The set of markets a pair-list channel holds (`spot.book_ticker` aside: it shares the
    /// book replica).
    fn held_pairs(&mut self, stream: Stream) -> Option<&mut HashSet<u32>> {
        match stream {
            Stream::Trades => Some(&mut self.trades),
            Stream::Tickers => Some(&mut self.tickers),
            Stream::Orders => Some(&mut self.orders.pairs),
            Stream::UserTrades => Some(&mut self.user_trades.pairs),
            Stream::BookTicker | Stream::OrderBookUpdate | Stream::Balances => None,
        }
    }

    fn authenticate(&self, request: &Request<'_>) -> Result<(), Refusal> {
        let auth = request.auth.ok_or_else(|| Refusal::auth("the channel requires auth"))?;
        let field = |name: &str| auth.get(name).and_then(serde_json::Value::as_str);
        if field("method") != Some("api_key") {
            return Err(Refusal::auth("method must be api_key"));
        }
        let Some(expected) = &self.api_key else { return Err(Refusal::auth("invalid key")) };
        if field("KEY") != Some(expected.key.as_str()) {
            return Err(Refusal::auth("invalid key"));
        }
        let signature = field("SIGN").and_then(|sign| hex::decode(sign).ok()).unwrap_or_default();
        // verify_slice compares in constant time.
        signer(&expected.secret, request.channel, request.event, request.time)
            .verify_slice(&signature)
            .map_err(|_| Refusal::auth("signature mismatch"))
    }

    fn apply(
        &mut self,
        stream: Stream,
        subscribe: bool,
        targets: Targets,
        ctx: &dyn SimContext,
        out: &mut Outbox,
    ) {
        self.authenticated |= stream.is_private();
        match (targets, subscribe) {
            (Targets::Balances, on) => self.balances = on,
            (Targets::All, on) => {
                if stream == Stream::UserTrades {
                    self.user_trades.all = on;
                } else {
                    self.orders.all = on;
                }
            }
            (Targets::Book(market, level), true) => {
                let sub = book_sub(&mut self.books, &market, ctx);
                // A fresh snapshot: the replica restarts from it.
                sub.book = ctx.book(&market);
                sub.level = Some(level);
                write_full(&mut self.scratch, &market, sub, level, ctx.now_ns());
                out.text(&self.scratch);
            }
            (Targets::Book(market, _), false) => self.drop_book(market.id, true),
            (Targets::Markets(markets), true) => {
                for market in markets {
                    if let Some(held) = self.held_pairs(stream) {
                        held.insert(market.id);
                    } else {
                        let sub = book_sub(&mut self.books, &market, ctx);
                        sub.ticker = true;
                        sub.top = sub.top();
                        write_book_ticker(&mut self.scratch, &market, sub, ctx.now_ns());
                        out.text(&self.scratch);
                    }
                }
            }
            (Targets::Markets(markets), false) => {
                for market in markets {
                    if let Some(held) = self.held_pairs(stream) {
                        held.remove(&market.id);
                    } else {
                        self.drop_book(market.id, false);
                    }
                }
            }
        }
    }

    /// Ends the `spot.order_book_update` (`deltas`) or `spot.book_ticker` subscription of a market.
    fn drop_book(&mut self, market: u32, deltas: bool) {
        if let Some(sub) = self.books.get_mut(&market) {
            if deltas {
                sub.level = None;
            } else {
                sub.ticker = false;
            }
            if sub.level.is_none() && !sub.ticker {
                self.books.remove(&market);
            }
        }
    }

    fn encode_book(&mut self, change: &BookChange<'_>, out: &mut Outbox) {
        let market = change.market;
        let Some(sub) = self.books.get_mut(&market.id) else { return };
        if change.update_id <= sub.book.update_id {
            return;
        }
        sub.book.apply(change.update_id, change.bids, change.asks);
        if sub.ticker {
            let top = sub.top();
            if top != sub.top {
                sub.top = top;
                write_book_ticker(&mut self.scratch, market, sub, change.time_ns);
                out.text(&self.scratch);
            }
        }
        if let Some(level) = sub.level {
            write_delta(&mut self.scratch, level, change);
            out.text(&self.scratch);
        }
    }

    fn encode_trade(&mut self, trade: &TradeFields<'_>, out: &mut Outbox) {
        let market = trade.market;
        if self.trades.contains(&market.id) {
            write_trade(&mut self.scratch, trade);
            out.text(&self.scratch);
        }
        if !self.authenticated || !trade.trade_id.is_multiple_of(FILL_EVERY) {
            return;
        }
        let Some(fill) = self.account.fill(trade) else { return };
        if self.orders.covers(market.id) {
            for event in fill.events() {
                write_order(&mut self.scratch, market, &fill, *event, trade.time_ns);
                out.text(&self.scratch);
            }
        }
        if self.user_trades.covers(market.id) {
            write_user_trade(&mut self.scratch, trade, &fill);
            out.text(&self.scratch);
        }
        if self.balances {
            write_balances(&mut self.scratch, &fill.balances, trade.time_ns);
            out.text(&self.scratch);
        }
    }
}

/// The market's replica, made from its book now if it has none.
fn book_sub<'a>(
    books: &'a mut HashMap<u32, BookSub>,
    market: &MarketRef,
    ctx: &dyn SimContext,
) -> &'a mut BookSub {
    books.entry(market.id).or_insert_with(|| BookSub {
        book: ctx.book(market),
        level: None,
        ticker: false,
        top: (None, None),
    })
}

fn duplicate(request: &Request<'_>, pair: &str) -> Refusal {
    let channel = request.channel;
    let target = if pair.is_empty() { String::new() } else { format!(" {pair}") };
    Refusal::argument(format!("duplicate subscription: {channel}{target}"))
}

fn unknown_pair(pair: &str) -> Refusal {
    // Gate's own wording for a pair it does not list.
    Refusal::argument(format!("unknown currency pair {pair}"))
}

/// Reads a request's fields; a refusal for a body that is not one.
fn parse(value: &serde_json::Value) -> Result<Request<'_>, Refusal> {
    let id = match value.get("id") {
        None | Some(serde_json::Value::Null) => None,
        Some(id) => Some(id.as_i64().ok_or_else(|| Refusal::body("id must be an integer"))?),
    };
    let text = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
    let channel = text("channel").ok_or_else(|| Refusal::body("channel is required"))?;
    let time = value.get("time").and_then(serde_json::Value::as_i64);
    if channel == "spot.ping" {
        return Ok(Request {
            id,
            time: time.unwrap_or(0),
            channel,
            event: "",
            payload: Vec::new(),
            auth: None,
        });
    }
    let time = time.ok_or_else(|| Refusal::body("time must be an integer number of seconds"))?;
    let event = text("event").ok_or_else(|| Refusal::body("event is required"))?;
    let payload = match value.get("payload") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(serde_json::Value::as_str)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Refusal::body("payload must be a list of strings"))?,
        Some(_) => return Err(Refusal::body("payload must be a list of strings")),
    };
    Ok(Request { id, time, channel, event, payload, auth: value.get("auth") })
}

impl VenueSim for GateioSim {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn heartbeat_rules(&self) -> HeartbeatRules {
        // Gate pings at the protocol level and documents no idle limit the simulator could copy.
        HeartbeatRules::default()
    }

    fn on_open(
        &mut self,
        path_and_query: &str,
        _ctx: &dyn SimContext,
        _out: &mut Outbox,
    ) -> Result<(), (u16, String)> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        if path != PATH {
            return Err((404, format!("no such endpoint: {path}")));
        }
        Ok(())
    }

    fn on_message(&mut self, text: &str, ctx: &dyn SimContext, out: &mut Outbox) -> Verdict {
        let now_ns = ctx.now_ns();
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            out.text(self.answer(now_ns, None, "", "", Some(&Refusal::body("not JSON"))));
            return Verdict::Continue;
        };
        let request = match parse(&value) {
            Ok(request) => request,
            Err(refusal) => {
                let channel = value.get("channel").and_then(serde_json::Value::as_str).unwrap_or_default();
                let event = value.get("event").and_then(serde_json::Value::as_str).unwrap_or_default();
                let id = value.get("id").and_then(serde_json::Value::as_i64);
                out.text(self.answer(now_ns, id, channel, event, Some(&refusal)));
                return Verdict::Continue;
            }
        };
        if request.channel == "spot.ping" {
            out.text(self.pong(now_ns, request.id));
            return Verdict::Continue;
        }
        let subscribe = match request.event {
            "subscribe" => true,
            "unsubscribe" => false,
            other => {
                let refusal = Refusal::body(&format!("event {other:?} is not subscribe or unsubscribe"));
                out.text(self.answer(now_ns, request.id, request.channel, request.event, Some(&refusal)));
                return Verdict::Continue;
            }
        };
        let checked = Stream::parse(request.channel)
            .ok_or_else(|| Refusal::argument(format!("unknown channel {}", request.channel)))
            .and_then(|stream| Ok((stream, self.check(&request, stream, subscribe, ctx)?)));
        match checked {
            Ok((stream, targets)) => {
                out.text(self.answer(now_ns, request.id, request.channel, request.event, None));
                self.apply(stream, subscribe, targets, ctx, out);
            }
            Err(refusal) => {
                out.text(self.answer(now_ns, request.id, request.channel, request.event, Some(&refusal)));
            }
        }
        Verdict::Continue
    }

    fn encode(&mut self, happening: &Happening, _faults: EncodeFaults, out: &mut Outbox) {
        match happening.view() {
            HappeningView::Trade(trade) => self.encode_trade(&trade, out),
            HappeningView::Book(change) => self.encode_book(&change, out),
            HappeningView::Ticker => {
                if self.tickers.contains(&happening.market().id) {
                    write_ticker(&mut self.scratch, happening);
                    out.text(&self.scratch);
                }
            }
        }
    }

    fn has_subscriptions(&self) -> bool {
        !self.trades.is_empty()
            || !self.tickers.is_empty()
            || !self.books.is_empty()
            || !self.orders.is_empty()
            || !self.user_trades.is_empty()
            || self.balances
    }
}

/// The account behind one connection's private channels.
///
/// Its orders live on the maker side of the trades that fill them: at a market's qualifying
/// trade (every [`FILL_EVERY`]th) with no order open, a limit order of twice the trade's
/// quantity at the trade's price, on the side opposite the taker, is put and half filled by that
/// trade; at the market's next qualifying trade the rest fills at the order's price and the
/// order finishes. Each fill moves the base and quote totals by exactly its amount and notional,
/// less a 0.1 % fee in what the account receives (as Gate charges spot fees).
#[derive(Debug, Default)]
struct Account {
    /// Currency → total (never frozen: orders fill as they are put).
    wallet: HashMap<Box<str>, Decimal>,
    /// Market id → its half-filled order.
    open: HashMap<u32, OpenOrder>,
    next_order_id: u64,
}

#[derive(Debug, Clone)]
struct OpenOrder {
    id: u64,
    side: Side,
    price: Decimal,
    amount: Decimal,
    create_ms: u64,
}

/// One balance change: currency, change, new total.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BalanceChange {
    currency: String,
    change: Decimal,
    total: Decimal,
}

/// What one fill did: the order as it stands after it, and the balances it moved.
#[derive(Debug)]
struct Fill {
    order: OpenOrder,
    /// Base filled so far, and in this fill.
    filled: Decimal,
    /// Quote value filled so far.
    filled_total: Decimal,
    /// Fee charged so far, and in which currency.
    fee: Decimal,
    fee_currency: String,
    /// Base filled by this fill alone, and its fee: what its `spot.usertrades` push carries.
    last_qty: Decimal,
    last_fee: Decimal,
    /// Whether this fill put the order (it then finishes nothing) or finished it.
    opened: bool,
    balances: Vec<BalanceChange>,
}

/// An order event as Gate names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrderEvent {
    Put,
    Update,
    Finish,
}

impl Fill {
    /// The order events this fill pushes: `put` then `update` for an order put and half filled,
    /// `finish` for one filled to the end.
    fn events(&self) -> &'static [OrderEvent] {
        if self.opened { &[OrderEvent::Put, OrderEvent::Update] } else { &[OrderEvent::Finish] }
    }
}

impl Account {
    /// Fills the account's order in the trade's market (putting one if none is open).
    fn fill(&mut self, trade: &TradeFields<'_>) -> Option<Fill> {
        let (base, quote) = trade.market.native.split_once('_')?;
        let opened = !self.open.contains_key(&trade.market.id);
        let order = if opened {
            self.next_order_id += 1;
            let order = OpenOrder {
                id: self.next_order_id,
                side: opposite(trade.side),
                price: trade.price,
                amount: Decimal::new(trade.qty.mantissa() * 2, trade.qty.scale()),
                create_ms: trade.time_ns / 1_000_000,
            };
            self.open.insert(trade.market.id, order.clone());
            order
        } else {
            self.open.remove(&trade.market.id)?
        };
        // Both fills are half the order: the trade's quantity.
        let qty = Decimal::new(order.amount.mantissa() / 2, order.amount.scale());
        let notional = times(order.price, qty);
        let (base_change, quote_change, fee, fee_currency) = match order.side {
            Side::Buy => {
                let fee = per_mille(qty);
                (qty.checked_sub(fee)?, negate(notional), fee, base)
            }
            Side::Sell => {
                let fee = per_mille(notional);
                (negate(qty), notional.checked_sub(fee)?, fee, quote)
            }
        };
        let balances = vec![self.change(base, base_change)?, self.change(quote, quote_change)?];
        let halves = if opened { 1 } else { 2 };
        let scaled = |value: Decimal| Decimal::new(value.mantissa() * halves, value.scale());
        Some(Fill {
            filled: scaled(qty),
            filled_total: scaled(notional),
            fee: scaled(fee),
            fee_currency: fee_currency.to_owned(),
            last_qty: qty,
            last_fee: fee,
            order,
            opened,
            balances,
        })
    }

    fn change(&mut self, currency: &str, change: Decimal) -> Option<BalanceChange> {
        let total = self.wallet.entry(currency.into()).or_insert(START_BALANCE);
        *total = total.checked_add(change)?;
        Some(BalanceChange { currency: currency.to_owned(), change, total: *total })
    }
}

const fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

/// `a × b`, exactly.
fn times(a: Decimal, b: Decimal) -> Decimal {
    Decimal::new(a.mantissa() * b.mantissa(), a.scale() + b.scale())
}

/// `value / 1000`, exactly: the 0.1 % fee.
fn per_mille(value: Decimal) -> Decimal {
    Decimal::new(value.mantissa(), value.scale() + 3)
}

fn negate(value: Decimal) -> Decimal {
    Decimal::new(-value.mantissa(), value.scale())
}

/// Clears `buf` and opens an answer: `{"time":…,"time_ms":…,` and `"id":…,` when the request
/// had one.
fn open_answer(buf: &mut Vec<u8>, now_ns: u64, id: Option<i64>) {
    buf.clear();
    let _ = write!(buf, r#"{{"time":{},"time_ms":{},"#, now_ns / 1_000_000_000, now_ns / 1_000_000);
    if let Some(id) = id {
        let _ = write!(buf, r#""id":{id},"#);
    }
}

/// `{"time":…,"time_ms":…,"channel":…,"event":"update","result":` (the object left open).
fn open_push(buf: &mut Vec<u8>, channel: &str, time_ns: u64) {
    buf.clear();
    let _ = write!(
        buf,
        r#"{{"time":{},"time_ms":{},"channel":"{channel}","event":"update","result":"#,
        time_ns / 1_000_000_000,
        time_ns / 1_000_000
    );
}

/// Gate's `id` of a trade. Gate's counts trades of every market; per-market ids interleaved with
/// the market's id keep it unique and rising within a market, which is all a client can rely on.
fn gate_trade_id(trade: &TradeFields<'_>) -> u64 {
    (trade.trade_id << 12) | u64::from(trade.market.id & 0xFFF)
}

/// `"create_time":<s>,"create_time_ms":"<ms>.<4 digits>"`: a trade's time as Gate writes it.
fn write_create_time(buf: &mut Vec<u8>, time_ns: u64) {
    let (ms, sub_ms) = (time_ns / 1_000_000, time_ns % 1_000_000 / 100);
    let _ = write!(buf, r#""create_time":{},"create_time_ms":"{ms}.{sub_ms:04}""#, time_ns / 1_000_000_000);
}

fn write_trade(buf: &mut Vec<u8>, trade: &TradeFields<'_>) {
    open_push(buf, "spot.trades", trade.time_ns);
    let TradeFields { market, price, qty, side, trade_id, time_ns } = trade;
    let _ = write!(buf, r#"{{"id":{},"id_market":{trade_id},"#, gate_trade_id(trade));
    write_create_time(buf, *time_ns);
    let _ = write!(
        buf,
        r#","side":"{}","currency_pair":"{}","amount":"{qty}","price":"{price}","range":"{trade_id}-{trade_id}"}}}}"#,
        side.as_str(),
        market.native,
    );
}

/// The account's side of `trade`: always the maker, on its order's side, at its order's price.
fn write_user_trade(buf: &mut Vec<u8>, trade: &TradeFields<'_>, fill: &Fill) {
    open_push(buf, "spot.usertrades", trade.time_ns);
    let order = &fill.order;
    let _ = write!(
        buf,
        r#"[{{"id":{},"user_id":{USER_ID},"order_id":"{}","currency_pair":"{}","#,
        gate_trade_id(trade),
        order.id,
        trade.market.native
    );
    write_create_time(buf, trade.time_ns);
    let _ = write!(
        buf,
        r#","side":"{}","amount":"{}","role":"maker","price":"{}","fee":"{}","fee_currency":"{}","point_fee":"0","gt_fee":"0","text":"{ORDER_TEXT}"}}]}}"#,
        order.side.as_str(),
        fill.last_qty,
        order.price,
        fill.last_fee,
        fill.fee_currency,
    );
}

/// A `spot.tickers` push: Gate's nine fields, `change_percentage` to 2 decimals.
fn write_ticker(buf: &mut Vec<u8>, happening: &Happening) {
    let Happening::Ticker { market, last, open, high, low, volume, quote_volume, bid, ask, time_ns } =
        happening
    else {
        return;
    };
    open_push(buf, "spot.tickers", *time_ns);
    // A fraction to 4 places is the percentage to 2: the same digits.
    let change = change_fraction(*last, *open, 4)
        .map_or(Decimal::ZERO, |fraction| Decimal::new(fraction.mantissa(), 2));
    let _ = write!(
        buf,
        r#"{{"currency_pair":"{}","last":"{last}","lowest_ask":"{}","highest_bid":"{}","change_percentage":"{change}","base_volume":"{volume}","quote_volume":"{quote_volume}","high_24h":"{high}","low_24h":"{low}"}}}}"#,
        market.native, ask.price, bid.price,
    );
}

fn write_book_ticker(buf: &mut Vec<u8>, market: &MarketRef, sub: &BookSub, time_ns: u64) {
    open_push(buf, "spot.book_ticker", time_ns);
    let _ =
        write!(buf, r#"{{"t":{},"u":{},"s":"{}","#, time_ns / 1_000_000, sub.book.update_id, market.native);
    // An empty side is sent as empty strings.
    for (level, price, qty) in
        [(sub.book.top_bids(1).next(), 'b', 'B'), (sub.book.top_asks(1).next(), 'a', 'A')]
    {
        match level {
            Some(Level { price: p, qty: q }) => write!(buf, r#""{price}":"{p}","{qty}":"{q}","#),
            None => write!(buf, r#""{price}":"","{qty}":"","#),
        }
        .unwrap_or_default();
    }
    buf.pop();
    buf.extend_from_slice(b"}}");
}

/// `[["price","amount"],…]`.
fn write_levels(buf: &mut Vec<u8>, levels: impl Iterator<Item = Level>) {
    buf.push(b'[');
    for (i, level) in levels.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let _ = write!(buf, r#"["{}","{}"]"#, level.price, level.qty);
    }
    buf.push(b']');
}

/// The head of a `spot.order_book_update` result up to `"u"`, `full` for a snapshot.
fn write_book_head(
    buf: &mut Vec<u8>,
    market: &MarketRef,
    level: usize,
    full: bool,
    range: (u64, u64),
    time_ns: u64,
) {
    open_push(buf, "spot.order_book_update", time_ns);
    let _ = write!(buf, r#"{{"t":{},"#, time_ns / 1_000_000);
    if full {
        buf.extend_from_slice(br#""full":true,"#);
    }
    let _ = write!(
        buf,
        r#""l":"{level}","e":"depthUpdate","E":{},"s":"{}","U":{},"u":{},"b":"#,
        time_ns / 1_000_000_000,
        market.native,
        range.0,
        range.1
    );
}

fn write_full(buf: &mut Vec<u8>, market: &MarketRef, sub: &BookSub, level: usize, time_ns: u64) {
    let id = sub.book.update_id;
    write_book_head(buf, market, level, true, (id, id), time_ns);
    let depth = level.min(FULL_DEPTH);
    write_levels(buf, sub.book.top_bids(depth));
    buf.extend_from_slice(b",\"a\":");
    write_levels(buf, sub.book.top_asks(depth));
    buf.extend_from_slice(b"}}");
}

fn write_delta(buf: &mut Vec<u8>, level: usize, change: &BookChange<'_>) {
    write_book_head(buf, change.market, level, false, (change.update_id, change.update_id), change.time_ns);
    write_levels(buf, change.bids.iter().copied());
    buf.extend_from_slice(b",\"a\":");
    write_levels(buf, change.asks.iter().copied());
    buf.extend_from_slice(b"}}");
}

fn write_order(buf: &mut Vec<u8>, market: &MarketRef, fill: &Fill, event: OrderEvent, time_ns: u64) {
    open_push(buf, "spot.orders", time_ns);
    let order = &fill.order;
    let zero = Decimal::new(0, order.amount.scale());
    let (event, left, filled, filled_total, fee, finish_as) = match event {
        OrderEvent::Put => ("put", order.amount, zero, Decimal::ZERO, Decimal::ZERO, "open"),
        OrderEvent::Update => {
            let left = order.amount.checked_sub(fill.filled).unwrap_or(zero);
            ("update", left, fill.filled, fill.filled_total, fill.fee, "open")
        }
        OrderEvent::Finish => ("finish", zero, fill.filled, fill.filled_total, fill.fee, "filled"),
    };
    let avg = if filled.is_zero() { Decimal::ZERO } else { order.price };
    let update_ms = time_ns / 1_000_000;
    let _ = write!(
        buf,
        r#"[{{"id":"{}","text":"{ORDER_TEXT}","create_time":"{}","update_time":"{}","currency_pair":"{}","type":"limit","account":"spot","side":"{}","amount":"{}","price":"{}","time_in_force":"gtc","left":"{left}","filled_total":"{filled_total}","filled_amount":"{filled}","avg_deal_price":"{avg}","fee":"{fee}","fee_currency":"{}","point_fee":"0","gt_fee":"0","rebated_fee":"0","rebated_fee_currency":"{}","create_time_ms":"{}","update_time_ms":"{update_ms}","user":{USER_ID},"event":"{event}","stp_id":0,"stp_act":"-","finish_as":"{finish_as}","biz_info":"-","amend_text":"-"}}]}}"#,
        order.id,
        order.create_ms / 1_000,
        update_ms / 1_000,
        market.native,
        order.side.as_str(),
        order.amount,
        order.price,
        fill.fee_currency,
        fill.fee_currency,
        order.create_ms,
    );
}

fn write_balances(buf: &mut Vec<u8>, balances: &[BalanceChange], time_ns: u64) {
    open_push(buf, "spot.balances", time_ns);
    let ms = time_ns / 1_000_000;
    buf.push(b'[');
    for (i, balance) in balances.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let BalanceChange { currency, change, total } = balance;
        let _ = write!(
            buf,
            r#"{{"timestamp":"{}","timestamp_ms":"{ms}","user":"{USER_ID}","currency":"{currency}","change":"{change}","total":"{total}","available":"{total}","freeze":"0","freeze_change":"0","change_type":"order-match"}}"#,
            ms / 1_000
        );
    }
    buf.extend_from_slice(b"]}");
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::*;
    use crate::model::market::intern;
    use crate::sim::venues::testing::{TestContext, dec, level, ticker};

    const NOW_S: i64 = 1_700_000_000;

    fn gate() -> Venue {
        venue().unwrap()
    }

    fn btc() -> MarketRef {
        intern(gate(), None, "BTC_USDT").unwrap()
    }

    fn eth() -> MarketRef {
        intern(gate(), None, "ETH_USDT").unwrap()
    }

    fn key() -> ApiKey {
        ApiKey { key: "key".into(), secret: "secret".into() }
    }

    /// `BTC_USDT`'s book: 150 levels a side at update 10 (more than a full snapshot holds).
    fn ctx() -> TestContext {
        let mut book = SimBook::default();
        let bids: Vec<Level> = (0..150).map(|i| level(&format!("{}.5", 1000 - i), "1.25")).collect();
        let asks: Vec<Level> = (0..150).map(|i| level(&format!("{}.5", 1001 + i), "2")).collect();
        book.apply(10, &bids, &asks);
        TestContext::new(vec![btc(), eth()], u64::try_from(NOW_S).unwrap() * 1_000_000_000 + 123_000_000)
            .exact_symbols()
            .with_book(&btc(), book)
    }

    /// The text payloads of the server frames in `out`.
    fn frames(out: &Outbox) -> Vec<Value> {
        let mut bytes = out.bytes();
        let mut texts = Vec::new();
        while !bytes.is_empty() {
            let header = crate::protocol::frame::FrameHeader::parse(bytes).expect("a whole frame");
            let start = header.header_len;
            let end = start + usize::try_from(header.payload_len).unwrap();
            texts.push(serde_json::from_slice(&bytes[start..end]).expect("JSON"));
            bytes = &bytes[end..];
        }
        texts
    }

    struct Client {
        sim: GateioSim,
        ctx: TestContext,
    }

    impl Client {
        fn new(api_key: Option<ApiKey>) -> Self {
            Self { sim: GateioSim::new(gate(), api_key), ctx: ctx() }
        }

        fn send(&mut self, request: &Value) -> Vec<Value> {
            let mut out = Outbox::default();
            assert_eq!(self.sim.on_message(&request.to_string(), &self.ctx, &mut out), Verdict::Continue);
            frames(&out)
        }

        fn encode(&mut self, happening: &Happening, faults: EncodeFaults) -> Vec<Value> {
            let mut out = Outbox::default();
            self.sim.encode(happening, faults, &mut out);
            frames(&out)
        }
    }

    fn request(channel: &str, event: &str, payload: Value) -> Value {
        let mut request = json!({"time": NOW_S, "id": 7, "channel": channel, "event": event});
        request["payload"] = payload;
        request
    }

    fn signed(channel: &str, event: &str, payload: Value, key: &str, secret: &str, time: i64) -> Value {
        let mut request = request(channel, event, payload);
        request["time"] = time.into();
        request["auth"] =
            json!({"method": "api_key", "KEY": key, "SIGN": sign(secret, channel, event, time)});
        request
    }

    fn error_code(answer: &Value) -> Option<i64> {
        answer["error"]["code"].as_i64()
    }

    fn trade(market: &MarketRef, trade_id: u64, side: Side, price: &str, qty: &str) -> Happening {
        Happening::Trade {
            market: market.clone(),
            price: dec(price),
            qty: dec(qty),
            side,
            trade_id,
            time_ns: 1_700_000_001_234_567_890 + trade_id,
        }
    }

    fn change(update_id: u64, bids: &[Level], asks: &[Level]) -> Happening {
        Happening::Book {
            market: btc(),
            update_id,
            bids: bids.to_vec(),
            asks: asks.to_vec(),
            time_ns: 1_700_000_002_000_000_000 + update_id * 1_000_000,
        }
    }

    #[test]
    fn the_signature_matches_an_independent_hmac() {
        // hmac.new(b"secret", b"channel=spot.orders&event=subscribe&time=1611541000",
        //          hashlib.sha512).hexdigest(), computed with Python's hmac.
        assert_eq!(
            sign("secret", "spot.orders", "subscribe", 1_611_541_000),
            "833a44bb4cd083e47bc1fec22b5c12e8b98c30fc7a9f4a1e52800dcfdff9a57240d7c10f1e9553dee020011fa5d02cdc7d1155a380cc4dcbd45f8fb525e41f4b"
        );
    }

    #[test]
    fn the_venue_is_registered_once_with_its_traits() {
        let venue = gate();
        assert_eq!(venue.as_str(), NAME);
        assert_eq!(venue.registered_traits(), Some(TRAITS));
        assert_eq!(crate::sim::venues::venue_named("GateIO").unwrap(), venue);
        assert!(is_gateio(venue) && !is_gateio(Venue::Binance));
        assert!(crate::sim::protocol::venue_sim(venue).is_some());
        assert_eq!(crate::sim::server::venue_endpoints(venue), &[("gateio", "/ws/v4/")]);
        assert_eq!(
            crate::model::market::intern_unified(venue, "BTC/USDT").unwrap().native.as_ref(),
            "BTC_USDT"
        );
    }

    #[test]
    fn serves_its_path_and_answers_ping() {
        let mut client = Client::new(None);
        let ctx = ctx();
        assert!(client.sim.on_open("/ws/v4/", &ctx, &mut Outbox::default()).is_ok());
        assert_eq!(client.sim.on_open("/ws/v5/public", &ctx, &mut Outbox::default()).unwrap_err().0, 404);
        let pong = client.send(&json!({"time": NOW_S, "id": 3, "channel": "spot.ping"}));
        assert_eq!(
            pong,
            vec![json!({"time": NOW_S, "time_ms": NOW_S * 1000 + 123, "id": 3, "channel": "spot.pong",
                        "event": "", "error": null, "result": null})]
        );
        assert!(!client.sim.has_subscriptions());
    }

    #[test]
    fn a_subscription_is_answered_as_the_docs_show() {
        let mut client = Client::new(None);
        let answers = client.send(&request("spot.trades", "subscribe", json!(["BTC_USDT", "ETH_USDT"])));
        assert_eq!(
            answers,
            vec![json!({"time": NOW_S, "time_ms": NOW_S * 1000 + 123, "id": 7, "channel": "spot.trades",
                        "event": "subscribe", "error": null, "result": {"status": "success"}})]
        );
        let unsubscribed =
            client.send(&request("spot.trades", "unsubscribe", json!(["BTC_USDT", "ETH_USDT"])));
        assert_eq!(unsubscribed[0]["event"], "unsubscribe");
        assert_eq!(unsubscribed[0]["error"], Value::Null);
        assert!(!client.sim.has_subscriptions());
    }

    #[test]
    fn refusals_carry_gates_codes() {
        let mut client = Client::new(Some(key()));
        let refused = |answers: Vec<Value>| -> (i64, String) {
            assert_eq!(answers.len(), 1, "{answers:?}");
            assert_eq!(answers[0]["result"], json!({"status": "failed"}));
            (error_code(&answers[0]).unwrap(), answers[0]["error"]["message"].as_str().unwrap().to_owned())
        };
        let mut out = Outbox::default();
        client.sim.on_message("{not json", &client.ctx, &mut out);
        assert_eq!(refused(frames(&out)).0, 1);
        assert_eq!(refused(client.send(&json!({"channel": "spot.trades", "event": "subscribe"}))).0, 1);
        assert_eq!(refused(client.send(&request("spot.trades", "listen", json!(["BTC_USDT"])))).0, 1);
        assert_eq!(refused(client.send(&request("spot.nope", "subscribe", json!(["BTC_USDT"])))).0, 2);
        let (code, message) =
            refused(client.send(&request("spot.trades", "subscribe", json!(["BTC_USDT", "DOGE_USDT"]))));
        assert_eq!((code, message.as_str()), (2, "unknown currency pair DOGE_USDT"));
        assert!(!client.sim.has_subscriptions(), "a refused request changes nothing");
        let (code, message) =
            refused(client.send(&request("spot.order_book_update", "subscribe", json!(["BTC_USDT", "5ms"]))));
        assert_eq!(code, 2, "{message}");
        let mut stale = request("spot.trades", "subscribe", json!(["BTC_USDT"]));
        stale["time"] = (NOW_S - 61).into();
        assert_eq!(refused(client.send(&stale)).0, 2);
        stale["time"] = (NOW_S + 60).into();
        assert_eq!(error_code(&client.send(&stale)[0]), None, "60 s is within the window");
        let (code, message) =
            refused(client.send(&request("spot.trades", "subscribe", json!(["ETH_USDT", "BTC_USDT"]))));
        assert_eq!((code, message.as_str()), (2, "duplicate subscription: spot.trades BTC_USDT"));
        let twice = request("spot.book_ticker", "subscribe", json!(["ETH_USDT", "ETH_USDT"]));
        assert_eq!(refused(client.send(&twice)).0, 2);
    }

    #[test]
    fn private_channels_need_the_configured_key_and_a_good_signature() {
        let mut client = Client::new(Some(key()));
        let balances = |key: &str, secret: &str, time: i64| {
            signed("spot.balances", "subscribe", json!([]), key, secret, time)
        };
        let code = |client: &mut Client, request: &Value| error_code(&client.send(request)[0]);
        assert_eq!(code(&mut client, &request("spot.balances", "subscribe", json!([]))), Some(4), "no auth");
        assert_eq!(code(&mut client, &balances("nokey", "secret", NOW_S)), Some(4), "wrong key");
        assert_eq!(code(&mut client, &balances("key", "wrong", NOW_S)), Some(4), "bad signature");
        let mut resigned = balances("key", "secret", NOW_S);
        resigned["event"] = "unsubscribe".into();
        assert_eq!(code(&mut client, &resigned), Some(4), "signed for another event");
        assert_eq!(code(&mut client, &balances("key", "secret", NOW_S - 61)), Some(4), "stale time");
        let mut method = balances("key", "secret", NOW_S);
        method["auth"]["method"] = "password".into();
        assert_eq!(code(&mut client, &method), Some(4));
        assert!(!client.sim.has_subscriptions());
        assert!(
            client.encode(&trade(&btc(), 5, Side::Buy, "1000.5", "0.5"), EncodeFaults::default()).is_empty()
        );

        assert_eq!(code(&mut client, &balances("key", "secret", NOW_S)), None, "good signature");
        assert_eq!(code(&mut client, &balances("key", "secret", NOW_S)), Some(2), "duplicate");
        let orders = signed("spot.orders", "subscribe", json!(["!all"]), "key", "secret", NOW_S + 30);
        assert_eq!(code(&mut client, &orders), None);

        let mut unconfigured = Client::new(None);
        assert_eq!(code(&mut unconfigured, &balances("key", "secret", NOW_S)), Some(4), "no key configured");
    }

    #[test]
    fn full_snapshot_then_continuous_deltas() {
        let mut client = Client::new(None);
        let answers =
            client.send(&request("spot.order_book_update", "subscribe", json!(["BTC_USDT", "100ms"])));
        assert_eq!(answers[0]["error"], Value::Null);
        let full = &answers[1]["result"];
        assert_eq!(answers[1]["channel"], "spot.order_book_update");
        assert_eq!(answers[1]["event"], "update");
        assert_eq!(
            (full["full"].as_bool(), full["l"].as_str(), full["s"].as_str()),
            (Some(true), Some("100"), Some("BTC_USDT"))
        );
        assert_eq!((full["U"].as_u64(), full["u"].as_u64()), (Some(10), Some(10)));
        assert_eq!(full["b"].as_array().unwrap().len(), 100, "100 levels a side at most");
        assert_eq!(full["b"][0], json!(["1000.5", "1.25"]));
        assert_eq!(full["a"][0], json!(["1001.5", "2"]));
        assert_eq!(full["e"], "depthUpdate");

        // Changes already in the snapshot are skipped.
        assert!(client.encode(&change(10, &[level("1", "1")], &[]), EncodeFaults::default()).is_empty());
        let mut last = 10;
        for update_id in 11..=13 {
            let pushes = client.encode(
                &change(update_id, &[level("1000.5", "0")], &[level("1001.0", "3")]),
                EncodeFaults { bad_checksum: true },
            );
            assert_eq!(pushes.len(), 1);
            let delta = &pushes[0]["result"];
            assert_eq!(delta.get("full"), None, "deltas omit full");
            assert_eq!(delta["U"].as_u64(), Some(last + 1));
            last = delta["u"].as_u64().unwrap();
            assert_eq!(delta["b"], json!([["1000.5", "0"]]));
            assert_eq!(delta["a"], json!([["1001.0", "3"]]));
            assert_eq!(delta["t"].as_u64(), Some(1_700_000_002_000 + update_id));
        }
        let twenty =
            client.send(&request("spot.order_book_update", "subscribe", json!(["ETH_USDT", "20ms"])));
        assert_eq!(twenty[1]["result"]["l"], "20");
        assert_eq!(twenty[1]["result"]["b"], json!([]), "an empty book");
    }

    #[test]
    fn book_ticker_follows_the_top() {
        let mut client = Client::new(None);
        let answers = client.send(&request("spot.book_ticker", "subscribe", json!(["BTC_USDT"])));
        assert_eq!(
            answers[1]["result"],
            json!({"t": NOW_S * 1000 + 123, "u": 10, "s": "BTC_USDT", "b": "1000.5", "B": "1.25", "a": "1001.5", "A": "2"})
        );
        assert!(
            client.encode(&change(11, &[level("900.5", "3")], &[]), EncodeFaults::default()).is_empty(),
            "below the top"
        );
        let top = client.encode(&change(12, &[], &[level("1001.0", "7")]), EncodeFaults::default());
        assert_eq!(top.len(), 1);
        assert_eq!(
            (top[0]["result"]["a"].as_str(), top[0]["result"]["A"].as_str()),
            (Some("1001.0"), Some("7"))
        );
        assert_eq!(top[0]["result"]["u"], 12);
    }

    #[test]
    fn trades_are_pushed_with_gates_fields() {
        let mut client = Client::new(None);
        client.send(&request("spot.trades", "subscribe", json!(["BTC_USDT"])));
        let pushes =
            client.encode(&trade(&btc(), 42, Side::Sell, "60000.10", "0.01234"), EncodeFaults::default());
        let result = &pushes[0]["result"];
        assert_eq!(pushes[0]["channel"], "spot.trades");
        assert_eq!(result["id_market"], 42);
        assert_eq!(result["range"], "42-42");
        assert_eq!(result["create_time"], 1_700_000_001);
        assert_eq!(result["create_time_ms"], "1700000001234.5679");
        assert_eq!(
            (result["side"].as_str(), result["currency_pair"].as_str()),
            (Some("sell"), Some("BTC_USDT"))
        );
        assert_eq!(
            (result["amount"].as_str(), result["price"].as_str()),
            (Some("0.01234"), Some("60000.10"))
        );
        assert!(result["id"].as_u64().unwrap() > 42);
        assert!(client.encode(&trade(&eth(), 1, Side::Buy, "1", "1"), EncodeFaults::default()).is_empty());
    }

    #[test]
    fn fills_move_the_balances_by_exactly_their_amounts() {
        let mut client = Client::new(Some(key()));
        client.send(&signed("spot.orders", "subscribe", json!(["BTC_USDT"]), "key", "secret", NOW_S));
        client.send(&signed("spot.balances", "subscribe", json!([]), "key", "secret", NOW_S));
        let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut orders = Vec::new();
        let mut balance_pushes = 0;
        let trades =
            [(Side::Buy, "100.25", "0.004"), (Side::Sell, "99.75", "0.010"), (Side::Sell, "101.00", "2")];
        for (n, (side, price, qty)) in trades.iter().cycle().take(12).enumerate() {
            let trade_id = n as u64 + 1;
            for push in client.encode(&trade(&btc(), trade_id, *side, price, qty), EncodeFaults::default()) {
                match push["channel"].as_str().unwrap() {
                    "spot.orders" => orders.push(push["result"][0].clone()),
                    "spot.balances" => {
                        balance_pushes += 1;
                        for balance in push["result"].as_array().unwrap() {
                            let currency = balance["currency"].as_str().unwrap().to_owned();
                            let total = dec(balance["total"].as_str().unwrap());
                            let before = *totals.get(&currency).unwrap_or(&START_BALANCE);
                            assert_eq!(
                                before.checked_add(dec(balance["change"].as_str().unwrap())),
                                Some(total)
                            );
                            assert_eq!(balance["available"], balance["total"]);
                            assert_eq!(balance["change_type"], "order-match");
                            totals.insert(currency, total);
                        }
                    }
                    other => panic!("unexpected {other}"),
                }
            }
        }
        // Trades 5 and 10 qualify (FILL_EVERY): one balance push for each fill.
        assert_eq!(balance_pushes, 2);
        let events: Vec<&str> = orders.iter().map(|order| order["event"].as_str().unwrap()).collect();
        assert_eq!(events, ["put", "update", "finish"]);
        let (put, update, finish) = (&orders[0], &orders[1], &orders[2]);
        // Trade 5 is a sell taker at 99.75 for 0.010: the account's buy order of 0.020 fills half.
        assert_eq!(
            (put["side"].as_str(), put["price"].as_str(), put["amount"].as_str()),
            (Some("buy"), Some("99.75"), Some("0.020"))
        );
        assert_eq!((put["left"].as_str(), put["finish_as"].as_str()), (Some("0.020"), Some("open")));
        assert_eq!(
            (update["left"].as_str(), update["filled_amount"].as_str()),
            (Some("0.010"), Some("0.010"))
        );
        assert_eq!(update["filled_total"], "0.99750");
        assert_eq!(
            (update["fee"].as_str(), update["fee_currency"].as_str()),
            (Some("0.000010"), Some("BTC"))
        );
        assert_eq!((finish["left"].as_str(), finish["finish_as"].as_str()), (Some("0.000"), Some("filled")));
        assert_eq!(
            (finish["filled_total"].as_str(), finish["fee"].as_str()),
            (Some("1.99500"), Some("0.000020"))
        );
        assert_eq!(put["id"], finish["id"]);
        assert_eq!(put["text"], ORDER_TEXT);
        // Both fills: +0.020 BTC less 0.000020 fee, −1.995 USDT.
        assert_eq!(totals["BTC"], dec("1000000.01998"));
        assert_eq!(totals["USDT"], dec("999998.005"));
    }

    #[test]
    fn user_trades_need_auth_and_take_pairs_or_all() {
        let mut client = Client::new(Some(key()));
        let code = |client: &mut Client, request: &Value| error_code(&client.send(request)[0]);
        let unsigned = request("spot.usertrades", "subscribe", json!(["BTC_USDT"]));
        assert_eq!(code(&mut client, &unsigned), Some(4), "no auth");
        let badly_signed = signed("spot.usertrades", "subscribe", json!(["BTC_USDT"]), "key", "wrong", NOW_S);
        assert_eq!(code(&mut client, &badly_signed), Some(4));
        // A signature for spot.orders does not open spot.usertrades.
        let mut borrowed = signed("spot.orders", "subscribe", json!(["BTC_USDT"]), "key", "secret", NOW_S);
        borrowed["channel"] = "spot.usertrades".into();
        assert_eq!(code(&mut client, &borrowed), Some(4));
        assert!(!client.sim.has_subscriptions());
        let pairs = signed("spot.usertrades", "subscribe", json!(["BTC_USDT"]), "key", "secret", NOW_S);
        assert_eq!(code(&mut client, &pairs), None);
        assert_eq!(code(&mut client, &pairs), Some(2), "duplicate");
        let all = signed("spot.usertrades", "subscribe", json!(["!all"]), "key", "secret", NOW_S);
        assert_eq!(code(&mut client, &all), None);
        assert_eq!(code(&mut client, &all), Some(2), "duplicate !all");
        for payload in [json!(["BTC_USDT"]), json!(["!all"])] {
            let off = signed("spot.usertrades", "unsubscribe", payload, "key", "secret", NOW_S);
            assert_eq!(code(&mut client, &off), None);
        }
        assert!(!client.sim.has_subscriptions());
    }

    #[test]
    fn user_trades_are_the_fills_and_their_fees_are_the_balance_changes() {
        let mut client = Client::new(Some(key()));
        for (channel, payload) in [
            ("spot.usertrades", json!(["!all"])),
            ("spot.orders", json!(["!all"])),
            ("spot.balances", json!([])),
        ] {
            let answer = client.send(&signed(channel, "subscribe", payload, "key", "secret", NOW_S));
            assert_eq!(error_code(&answer[0]), None);
        }
        let (mut fills, mut finished) = (Vec::new(), Vec::new());
        for trade_id in 1..=2 * FILL_EVERY {
            // A sell taker in BTC (the account buys: its fee is in BTC), a buy taker in ETH (it
            // sells: its fee is in USDT).
            for (market, side) in [(btc(), Side::Sell), (eth(), Side::Buy)] {
                let pushes =
                    client.encode(&trade(&market, trade_id, side, "99.75", "0.010"), EncodeFaults::default());
                let on = |channel: &str| pushes.iter().find(|push| push["channel"] == channel);
                let (Some(user_trade), Some(balances)) = (on("spot.usertrades"), on("spot.balances")) else {
                    assert!(pushes.is_empty(), "{pushes:?}");
                    continue;
                };
                let fill = &user_trade["result"][0];
                let changes: BTreeMap<&str, Decimal> = balances["result"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| (b["currency"].as_str().unwrap(), dec(b["change"].as_str().unwrap())))
                    .collect();
                let (amount, fee) =
                    (dec(fill["amount"].as_str().unwrap()), dec(fill["fee"].as_str().unwrap()));
                let notional = times(dec(fill["price"].as_str().unwrap()), amount);
                let (base, quote) = market.native.split_once('_').unwrap();
                let expected = if fill["side"] == "buy" {
                    assert_eq!(fill["fee_currency"], base);
                    [(base, amount.checked_sub(fee).unwrap()), (quote, negate(notional))]
                } else {
                    assert_eq!(fill["fee_currency"], quote);
                    [(base, negate(amount)), (quote, notional.checked_sub(fee).unwrap())]
                };
                assert_eq!(changes, BTreeMap::from(expected), "{fill}");
                fills.push(fill.clone());
                let finish =
                    pushes.iter().map(|push| &push["result"][0]).find(|order| order["event"] == "finish");
                finished.extend(finish.cloned());
            }
        }
        assert_eq!((fills.len(), finished.len()), (4, 2));
        for order in &finished {
            let own: Vec<&Value> = fills.iter().filter(|fill| fill["order_id"] == order["id"]).collect();
            let sum = |field: &str| {
                own.iter()
                    .try_fold(Decimal::ZERO, |sum, fill| sum.checked_add(dec(fill[field].as_str().unwrap())))
            };
            assert_eq!(own.len(), 2);
            assert_eq!(sum("amount"), Some(dec(order["filled_amount"].as_str().unwrap())));
            assert_eq!(sum("fee"), Some(dec(order["fee"].as_str().unwrap())));
            assert!(own.iter().all(|fill| fill["side"] == order["side"] && fill["price"] == order["price"]));
        }
        let btc_id = u64::from(btc().id & 0xFFF);
        assert_eq!(
            fills[0],
            json!({"id": (FILL_EVERY << 12) | btc_id, "user_id": USER_ID, "order_id": "1",
                   "currency_pair": "BTC_USDT", "create_time": 1_700_000_001,
                   "create_time_ms": "1700000001234.5678", "side": "buy", "amount": "0.010",
                   "role": "maker", "price": "99.75", "fee": "0.000010", "fee_currency": "BTC",
                   "point_fee": "0", "gt_fee": "0", "text": ORDER_TEXT})
        );
        assert_eq!((fills[1]["side"].as_str(), fills[1]["fee"].as_str()), (Some("sell"), Some("0.00099750")));
    }

    #[test]
    fn tickers_carry_gates_nine_fields() {
        let mut client = Client::new(None);
        let answers = client.send(&request("spot.tickers", "subscribe", json!(["BTC_USDT"])));
        assert_eq!((answers.len(), &answers[0]["error"]), (1, &Value::Null));
        let tick = |market: MarketRef, last: &str| ticker(&market, last, 1_700_000_001_500_000_000);
        let pushes = client.encode(&tick(btc(), "103.666"), EncodeFaults::default());
        assert_eq!(
            pushes,
            vec![json!({"time": 1_700_000_001, "time_ms": 1_700_000_001_500_i64, "channel": "spot.tickers",
                        "event": "update", "result": {"currency_pair": "BTC_USDT", "last": "103.666",
                        "lowest_ask": "101.6", "highest_bid": "101.4", "change_percentage": "3.67",
                        "base_volume": "12.5", "quote_volume": "1262.5", "high_24h": "102",
                        "low_24h": "99.25"}})]
        );
        let falling = client.encode(&tick(btc(), "99.5"), EncodeFaults::default());
        assert_eq!(falling[0]["result"]["change_percentage"], "-0.50");
        assert!(client.encode(&tick(eth(), "1"), EncodeFaults::default()).is_empty(), "not subscribed");
        assert_eq!(
            error_code(&client.send(&request("spot.tickers", "subscribe", json!(["BTC_USDT"])))[0]),
            Some(2)
        );
        client.send(&request("spot.tickers", "unsubscribe", json!(["BTC_USDT"])));
        assert!(!client.sim.has_subscriptions());
        assert!(client.encode(&tick(btc(), "1"), EncodeFaults::default()).is_empty());
    }

    /// Through the engine, on loopback: a full snapshot, then deltas whose `U` follows the last
    /// `u`, until a `gap` fault drops exactly one of them.
    #[tokio::test]
    async fn through_the_engine_a_gap_breaks_the_deltas_exactly_once() {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;

        use crate::sim::{Fault, SimConfig, Simulator};

        let limit = std::time::Duration::from_secs(10);
        let config = SimConfig {
            venues: vec![gate()],
            symbols: vec!["BTC/USDT".into()],
            rate: 5_000,
            ..SimConfig::default()
        };
        let sim = Simulator::start(&config).unwrap();
        let url = sim.url(gate()).unwrap();
        assert!(url.ends_with("/ws/v4/"), "{url}");
        let stream = tokio::net::TcpStream::connect(sim.addr(gate()).unwrap()).await.unwrap();
        let handshake = tokio_tungstenite::client_async(url, stream);
        let (mut ws, _) = tokio::time::timeout(limit, handshake).await.unwrap().unwrap();
        let now_s = crate::clock::unix_now_ns() / 1_000_000_000;
        let subscribe = json!({"time": now_s, "channel": "spot.order_book_update", "event": "subscribe",
                               "payload": ["BTC_USDT", "100ms"]});
        ws.send(Message::text(subscribe.to_string())).await.unwrap();
        let mut next = async || -> Value {
            loop {
                let message = tokio::time::timeout(limit, ws.next()).await.expect("a message in time");
                if let Message::Text(text) = message.unwrap().unwrap() {
                    return serde_json::from_str(&text).unwrap();
                }
            }
        };
        assert_eq!(next().await["error"], Value::Null);
        let full = next().await;
        assert_eq!(full["result"]["full"], true);
        let mut last = full["result"]["u"].as_u64().unwrap();
        let (mut deltas, mut breaks) = (0, Vec::new());
        while deltas < 300 {
            let delta = next().await;
            let first = delta["result"]["U"].as_u64().unwrap();
            if first != last + 1 {
                breaks.push((last, first));
            }
            last = delta["result"]["u"].as_u64().unwrap();
            deltas += 1;
            if deltas == 100 {
                assert_eq!(sim.inject(gate(), Fault::Gap, Some("BTC/USDT")).unwrap(), 1);
            }
        }
        assert_eq!(breaks.len(), 1, "{breaks:?}");
        assert_eq!(breaks[0].1, breaks[0].0 + 2, "one delta skipped");
    }
}
