//! Kraken WebSocket v2 (spot) as the simulator speaks it, on path `/v2`.
//!
//! Owns [`KrakenSim`]: one client's subscriptions, the per-symbol acks and refusals Kraken
//! sends, `pong`s, the `heartbeat` pushed every second while subscribed and idle, the
//! `instrument` channel (each market's `price_precision`/`qty_precision`), and the encoding of
//! each [`Happening`] as Kraken sends it: `trade` updates, `ticker` (trades trigger on each
//! ticker happening, bbo trigger on each best bid/offer change of the book replica), and `book`
//! depth 10 (snapshot on subscribe, then the changes within the top 10) with the v2 checksum
//! computed from a per-subscription [`SimBook`] replica (deliberately wrong under
//! `faults.bad_checksum`).
//!
//! Wire details copied from Kraken: numbers are JSON numbers in their shortest form
//! (`0.566`, `40.0` — trailing zeros dropped, so clients need the precision for checksums);
//! timestamps are RFC 3339 with microseconds; a level pushed out of the top 10 is not deleted
//! on the wire (clients truncate), a deleted one is sent with `qty` 0.
//!
//! Refusal texts: `Currency pair not supported {symbol}` and `Already subscribed` are Kraken's
//! (observed); `Subscription Not Found` and `EGeneral:Invalid arguments` (malformed request,
//! unknown channel or method, more than [`MAX_SYMBOLS_PER_REQUEST`] symbols) follow Kraken's
//! error style but were not seen in captures.
//!
//! Precisions: the engine does not say them, so each market's are taken once per client, when
//! first needed, as the largest scale among its book's prices and quantities (at least 1 and
//! 8), and stay fixed; the checksum writes any value with more decimals in full, as the
//! adapter's [`checksum`] does, so both sides agree whatever the engine generates.
//!
//! Trade snapshots: Kraken's is the last 50 trades; the engine keeps no trade history, so a
//! `snapshot: true` trade subscription gets an empty snapshot.

use std::collections::HashMap;
use std::io::Write as _;

use serde::Deserialize;

use crate::model::time::{Fraction, write_rfc3339};
use crate::model::{Decimal, Level, MarketRef, Side, Venue};
use crate::sim::protocol::{
    EncodeFaults, Happening, HeartbeatRules, Outbox, SimBook, SimContext, VenueSim, Verdict,
};
use crate::venues::kraken::{CHECKSUM_DEPTH, checksum};

/// Most symbols one request may name in the simulator (Kraken documents none).
pub const MAX_SYMBOLS_PER_REQUEST: usize = 1000;

/// The heartbeat period when nothing else was sent.
const HEARTBEAT_INTERVAL_NS: u64 = 1_000_000_000;

const INVALID_ARGUMENTS: &str = "EGeneral:Invalid arguments";

/// One client's view of the simulated Kraken.
#[derive(Debug, Default)]
pub struct KrakenSim {
    /// Per market id.
    subscriptions: HashMap<u32, MarketSubscription>,
    /// Per market id: `(price_precision, qty_precision)`, fixed once told.
    precisions: HashMap<u32, (u8, u8)>,
    instrument: bool,
    /// Unix ns of the last frame sent (heartbeats fill silences).
    last_sent_ns: u64,
    connection_id: u64,
    scratch: Vec<u8>,
}

#[derive(Debug, Default)]
#[expect(clippy::struct_excessive_bools, reason = "one flag per Kraken stream a client may hold")]
struct MarketSubscription {
    trade: bool,
    ticker_trades: bool,
    ticker_bbo: bool,
    book: bool,
    /// Kept while `book` or `ticker_bbo` is on.
    replica: SimBook,
    precision: (u8, u8),
    /// The last ticker happening's figures, for bbo-triggered tickers.
    figures: Option<Figures>,
    /// Best bid and ask last published on the bbo-triggered ticker.
    last_bbo: Option<(Level, Level)>,
}

impl MarketSubscription {
    const fn is_empty(&self) -> bool {
        !(self.trade || self.ticker_trades || self.ticker_bbo || self.book)
    }
}

#[derive(Debug, Clone, Copy)]
struct Figures {
    last: Decimal,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    volume: Decimal,
    quote_volume: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Trade,
    Ticker,
    Book,
    Instrument,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    method: &'a str,
    #[serde(borrow)]
    params: Option<Params<'a>>,
    req_id: Option<u64>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(borrow, default)]
    symbol: Vec<&'a str>,
    snapshot: Option<bool>,
    depth: Option<u32>,
    #[serde(borrow)]
    event_trigger: Option<&'a str>,
}

impl VenueSim for KrakenSim {
    fn venue(&self) -> Venue {
        Venue::Kraken
    }

    /// Kraken pushes `heartbeat`s itself and sends no WebSocket pings; its idle rule (closed
    /// after about a minute of inactivity) is not enforced here.
    fn heartbeat_rules(&self) -> HeartbeatRules {
        HeartbeatRules::default()
    }

    fn on_open(
        &mut self,
        path_and_query: &str,
        ctx: &dyn SimContext,
        out: &mut Outbox,
    ) -> Result<(), (u16, String)> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        if path != "/v2" && path != "/v2/" {
            return Err((404, "Not Found".into()));
        }
        self.connection_id = ctx.now_ns() ^ 0x9E37_79B9_7F4A_7C15;
        self.scratch.clear();
        let _ = write!(
            self.scratch,
            r#"{{"channel":"status","data":[{{"api_version":"v2","connection_id":{},"system":"online","version":"2.0.10"}}],"type":"update"}}"#,
            self.connection_id
        );
        self.send(out);
        Ok(())
    }

    fn on_message(&mut self, text: &str, ctx: &dyn SimContext, out: &mut Outbox) -> Verdict {
        let now_ns = ctx.now_ns();
        let Ok(request) = serde_json::from_str::<Request<'_>>(text) else {
            self.refuse(None, None, None, INVALID_ARGUMENTS, now_ns, out);
            return Verdict::Continue;
        };
        match request.method {
            "ping" => {
                self.scratch.clear();
                self.scratch.extend_from_slice(br#"{"method":"pong""#);
                if let Some(id) = request.req_id {
                    let _ = write!(self.scratch, r#","req_id":{id}"#);
                }
                write_times(&mut self.scratch, now_ns);
                self.scratch.push(b'}');
                self.send(out);
            }
            method @ ("subscribe" | "unsubscribe") => {
                self.on_request(method == "subscribe", &request, ctx, out);
            }
            method => self.refuse(Some(method), request.req_id, None, INVALID_ARGUMENTS, now_ns, out),
        }
        Verdict::Continue
    }

    fn encode(&mut self, happening: &Happening, faults: EncodeFaults, out: &mut Outbox) {
        let Some(subscription) = self.subscriptions.get_mut(&happening.market().id) else { return };
        let frames_before = out.frames();
        let scratch = &mut self.scratch;
        scratch.clear();
        match happening {
            Happening::Trade { market, price, qty, side, trade_id, time_ns } => {
                if !subscription.trade {
                    return;
                }
                let _ = write!(
                    scratch,
                    r#"{{"channel":"trade","type":"update","data":[{{"symbol":"{}","side":"{}","price":"#,
                    market.native,
                    side_name(*side)
                );
                write_number(scratch, *price);
                scratch.extend_from_slice(br#","qty":"#);
                write_number(scratch, *qty);
                let _ = write!(scratch, r#","ord_type":"market","trade_id":{trade_id},"timestamp":""#);
                write_time(scratch, *time_ns);
                scratch.extend_from_slice(br#""}]}"#);
                out.text(scratch);
            }
            Happening::Book { market, update_id, bids, asks, time_ns } => {
                if !(subscription.book || subscription.ticker_bbo)
                    || *update_id <= subscription.replica.update_id
                {
                    return;
                }
                let before = top(&subscription.replica);
                subscription.replica.apply(*update_id, bids, asks);
                if subscription.book {
                    write_book_update(scratch, market, subscription, &before, faults, *time_ns);
                    if !scratch.is_empty() {
                        out.text(scratch);
                    }
                }
                // Kraken's tickers always carry every figure: none before the first trade.
                if subscription.ticker_bbo && subscription.figures.is_some() {
                    let best = best(&subscription.replica);
                    if best.is_some() && best != subscription.last_bbo {
                        subscription.last_bbo = best;
                        scratch.clear();
                        write_ticker(scratch, "update", market, best, subscription.figures, *time_ns);
                        out.text(scratch);
                    }
                }
            }
            Happening::Ticker { market, last, open, high, low, volume, quote_volume, bid, ask, time_ns } => {
                subscription.figures = Some(Figures {
                    last: *last,
                    open: *open,
                    high: *high,
                    low: *low,
                    volume: *volume,
                    quote_volume: *quote_volume,
                });
                if !subscription.ticker_trades {
                    return;
                }
                write_ticker(scratch, "update", market, Some((*bid, *ask)), subscription.figures, *time_ns);
                out.text(scratch);
            }
        }
        if out.frames() != frames_before {
            self.last_sent_ns = self.last_sent_ns.max(happening_time(happening));
        }
    }

    fn on_tick(&mut self, now_ns: u64, out: &mut Outbox) {
        if self.has_subscriptions() && now_ns.saturating_sub(self.last_sent_ns) >= HEARTBEAT_INTERVAL_NS {
            out.text(br#"{"channel":"heartbeat"}"#);
            self.last_sent_ns = now_ns;
        }
    }

    fn has_subscriptions(&self) -> bool {
        self.instrument || !self.subscriptions.is_empty()
    }
}

impl KrakenSim {
    fn send(&self, out: &mut Outbox) {
        out.text(&self.scratch);
    }

    fn on_request(&mut self, subscribe: bool, request: &Request<'_>, ctx: &dyn SimContext, out: &mut Outbox) {
        let now_ns = ctx.now_ns();
        let method = if subscribe { "subscribe" } else { "unsubscribe" };
        let Some(params) = &request.params else {
            self.refuse(Some(method), request.req_id, None, INVALID_ARGUMENTS, now_ns, out);
            return;
        };
        let stream = match params.channel {
            "trade" => Stream::Trade,
            "ticker" => Stream::Ticker,
            "book" => Stream::Book,
            "instrument" => Stream::Instrument,
            _ => {
                self.refuse(Some(method), request.req_id, None, INVALID_ARGUMENTS, now_ns, out);
                return;
            }
        };
        let bbo = match params.event_trigger {
            None | Some("trades") => false,
            Some("bbo") => true,
            Some(_) => {
                self.refuse(Some(method), request.req_id, None, INVALID_ARGUMENTS, now_ns, out);
                return;
            }
        };
        let depth_ok = params.depth.is_none_or(|depth| [10, 25, 100, 500, 1000].contains(&depth));
        let symbols_ok = if stream == Stream::Instrument {
            params.symbol.is_empty()
        } else {
            !params.symbol.is_empty() && params.symbol.len() <= MAX_SYMBOLS_PER_REQUEST
        };
        if !depth_ok || !symbols_ok {
            self.refuse(Some(method), request.req_id, None, INVALID_ARGUMENTS, now_ns, out);
            return;
        }
        if stream == Stream::Instrument {
            self.on_instrument(subscribe, request.req_id, params.snapshot.unwrap_or(true), ctx, out);
            return;
        }
        for symbol in &params.symbol {
            let Some(market) = ctx.market(symbol) else {
                let reason = format!("Currency pair not supported {symbol}");
                self.refuse(Some(method), request.req_id, Some(symbol), &reason, now_ns, out);
                continue;
            };
            let outcome = if subscribe {
                self.subscribe_one(&market, stream, bbo, ctx)
            } else {
                self.unsubscribe_one(&market, stream, bbo)
            };
            if let Err(reason) = outcome {
                self.refuse(Some(method), request.req_id, Some(symbol), reason, now_ns, out);
                continue;
            }
            self.ack(method, request.req_id, stream, bbo, params.snapshot, &market, now_ns, out);
            if subscribe {
                self.send_snapshot(&market, stream, bbo, params.snapshot, now_ns, out);
            }
        }
    }

    fn subscribe_one(
        &mut self,
        market: &MarketRef,
        stream: Stream,
        bbo: bool,
        ctx: &dyn SimContext,
    ) -> Result<(), &'static str> {
        let precision = self.precision(market, ctx);
        let subscription = self.subscriptions.entry(market.id).or_default();
        let had_replica = subscription.book || subscription.ticker_bbo;
        let flag = match (stream, bbo) {
            (Stream::Trade, _) => &mut subscription.trade,
            (Stream::Ticker, false) => &mut subscription.ticker_trades,
            (Stream::Ticker, true) => &mut subscription.ticker_bbo,
            (Stream::Book | Stream::Instrument, _) => &mut subscription.book,
        };
        if *flag {
            return Err("Already subscribed");
        }
        *flag = true;
        subscription.precision = precision;
        let needs_replica = stream == Stream::Book || (stream == Stream::Ticker && bbo);
        if needs_replica && !had_replica {
            subscription.replica = ctx.book(market);
        }
        if stream == Stream::Ticker && bbo {
            subscription.last_bbo = best(&subscription.replica);
        }
        Ok(())
    }

    fn unsubscribe_one(&mut self, market: &MarketRef, stream: Stream, bbo: bool) -> Result<(), &'static str> {
        let Some(subscription) = self.subscriptions.get_mut(&market.id) else {
            return Err("Subscription Not Found");
        };
        let flag = match (stream, bbo) {
            (Stream::Trade, _) => &mut subscription.trade,
            (Stream::Ticker, false) => &mut subscription.ticker_trades,
            (Stream::Ticker, true) => &mut subscription.ticker_bbo,
            (Stream::Book | Stream::Instrument, _) => &mut subscription.book,
        };
        if !*flag {
            return Err("Subscription Not Found");
        }
        *flag = false;
        if subscription.is_empty() {
            self.subscriptions.remove(&market.id);
        }
        Ok(())
    }

    fn precision(&mut self, market: &MarketRef, ctx: &dyn SimContext) -> (u8, u8) {
        *self.precisions.entry(market.id).or_insert_with(|| {
            let book = ctx.book(market);
            let levels = || book.bids.iter().chain(&book.asks);
            let price = levels().map(|(price, _)| price.scale()).max().unwrap_or(0).max(1);
            let qty = levels().map(|(_, qty)| qty.scale()).max().unwrap_or(0).max(8);
            (price, qty)
        })
    }

    #[expect(clippy::too_many_arguments, reason = "one ack's fields, written in one place")]
    fn ack(
        &mut self,
        method: &str,
        req_id: Option<u64>,
        stream: Stream,
        bbo: bool,
        snapshot: Option<bool>,
        market: &MarketRef,
        now_ns: u64,
        out: &mut Outbox,
    ) {
        let subscribe = method == "subscribe";
        let scratch = &mut self.scratch;
        scratch.clear();
        let _ = write!(scratch, r#"{{"method":"{method}","result":{{"channel":"{}""#, stream_name(stream));
        match stream {
            Stream::Book => scratch.extend_from_slice(br#","depth":10"#),
            Stream::Ticker if !subscribe => {
                let _ = write!(scratch, r#","event_trigger":"{}""#, if bbo { "bbo" } else { "trades" });
            }
            _ => {}
        }
        if subscribe {
            let _ = write!(scratch, r#","snapshot":{}"#, snapshot_of(stream, snapshot));
        }
        let _ = write!(scratch, r#","symbol":"{}"}},"success":true"#, market.native);
        write_times(scratch, now_ns);
        if let Some(id) = req_id {
            let _ = write!(scratch, r#","req_id":{id}"#);
        }
        scratch.push(b'}');
        self.send(out);
    }

    fn refuse(
        &mut self,
        method: Option<&str>,
        req_id: Option<u64>,
        symbol: Option<&str>,
        reason: &str,
        now_ns: u64,
        out: &mut Outbox,
    ) {
        let scratch = &mut self.scratch;
        scratch.clear();
        scratch.extend_from_slice(br#"{"error":"#);
        let _ = serde_json::to_writer(&mut *scratch, reason);
        if let Some(method) = method {
            let _ = write!(scratch, r#","method":"{method}""#);
        }
        if let Some(id) = req_id {
            let _ = write!(scratch, r#","req_id":{id}"#);
        }
        scratch.extend_from_slice(br#","success":false"#);
        if let Some(symbol) = symbol {
            scratch.extend_from_slice(br#","symbol":"#);
            let _ = serde_json::to_writer(&mut *scratch, symbol);
        }
        write_times(scratch, now_ns);
        scratch.push(b'}');
        self.send(out);
    }

    fn send_snapshot(
        &mut self,
        market: &MarketRef,
        stream: Stream,
        bbo: bool,
        snapshot: Option<bool>,
        now_ns: u64,
        out: &mut Outbox,
    ) {
        if !snapshot_of(stream, snapshot) {
            return;
        }
        let Some(subscription) = self.subscriptions.get(&market.id) else { return };
        let scratch = &mut self.scratch;
        scratch.clear();
        match stream {
            Stream::Trade => {
                let _ = write!(scratch, r#"{{"channel":"trade","type":"snapshot","data":[]}}"#);
            }
            Stream::Ticker => {
                // Every figure or no snapshot: Kraken's tickers are never partial.
                let best = if bbo { subscription.last_bbo } else { best(&subscription.replica) };
                if best.is_none() || subscription.figures.is_none() {
                    return;
                }
                write_ticker(scratch, "snapshot", market, best, subscription.figures, now_ns);
            }
            Stream::Book => write_book_snapshot(scratch, market, subscription, now_ns),
            Stream::Instrument => return,
        }
        self.send(out);
    }

    fn on_instrument(
        &mut self,
        subscribe: bool,
        req_id: Option<u64>,
        snapshot: bool,
        ctx: &dyn SimContext,
        out: &mut Outbox,
    ) {
        let now_ns = ctx.now_ns();
        let method = if subscribe { "subscribe" } else { "unsubscribe" };
        if subscribe == self.instrument {
            let reason = if subscribe { "Already subscribed" } else { "Subscription Not Found" };
            self.refuse(Some(method), req_id, None, reason, now_ns, out);
            return;
        }
        self.instrument = subscribe;
        self.scratch.clear();
        let _ = write!(self.scratch, r#"{{"method":"{method}","#);
        if let Some(id) = req_id {
            let _ = write!(self.scratch, r#""req_id":{id},"#);
        }
        let _ = write!(
            self.scratch,
            r#""result":{{"channel":"instrument","snapshot":{snapshot}}},"success":true"#
        );
        write_times(&mut self.scratch, now_ns);
        self.scratch.push(b'}');
        self.send(out);
        if !(subscribe && snapshot) {
            return;
        }
        let markets = ctx.markets().to_vec();
        let mut pairs = Vec::new();
        for market in &markets {
            let (price, qty) = self.precision(market, ctx);
            let (base, quote) = market.native.split_once('/').unwrap_or((&market.native, ""));
            let _ = write!(
                pairs,
                r#"{}{{"symbol":"{}","base":"{base}","quote":"{quote}","status":"online","qty_precision":{qty},"price_precision":{price},"cost_precision":5,"marginable":false,"has_index":true}}"#,
                if pairs.is_empty() { "" } else { "," },
                market.native,
            );
        }
        self.scratch.clear();
        self.scratch
            .extend_from_slice(br#"{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":["#);
        self.scratch.extend_from_slice(&pairs);
        self.scratch.extend_from_slice(b"]}}");
        self.send(out);
    }
}

const fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Trade => "trade",
        Stream::Ticker => "ticker",
        Stream::Book => "book",
        Stream::Instrument => "instrument",
    }
}

/// Whether a subscription gets a snapshot: Kraken's defaults are true except for `trade`;
/// a book always starts with one (its updates mean nothing without).
fn snapshot_of(stream: Stream, asked: Option<bool>) -> bool {
    match stream {
        Stream::Book => true,
        Stream::Trade => asked.unwrap_or(false),
        Stream::Ticker | Stream::Instrument => asked.unwrap_or(true),
    }
}

const fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

const fn happening_time(happening: &Happening) -> u64 {
    match happening {
        Happening::Trade { time_ns, .. }
        | Happening::Book { time_ns, .. }
        | Happening::Ticker { time_ns, .. } => *time_ns,
    }
}

/// The top 10 levels per side: (bids highest first, asks lowest first).
fn top(book: &SimBook) -> (Vec<Level>, Vec<Level>) {
    (book.top_bids(CHECKSUM_DEPTH).collect(), book.top_asks(CHECKSUM_DEPTH).collect())
}

fn best(book: &SimBook) -> Option<(Level, Level)> {
    Some((book.top_bids(1).next()?, book.top_asks(1).next()?))
}

fn book_checksum(book: &SimBook, precision: (u8, u8), faults: EncodeFaults) -> u32 {
    let (bids, asks) = top(book);
    let sum = checksum(&asks, &bids, precision.0, precision.1);
    if faults.bad_checksum {
        match sum ^ 0x5A5A_5A5A {
            0 => 1,
            wrong => wrong,
        }
    } else {
        sum
    }
}

fn write_book_snapshot(
    scratch: &mut Vec<u8>,
    market: &MarketRef,
    subscription: &MarketSubscription,
    now_ns: u64,
) {
    let (bids, asks) = top(&subscription.replica);
    let _ = write!(
        scratch,
        r#"{{"channel":"book","type":"snapshot","data":[{{"symbol":"{}","bids":"#,
        market.native
    );
    write_levels(scratch, bids.iter().copied());
    scratch.extend_from_slice(br#","asks":"#);
    write_levels(scratch, asks.iter().copied());
    let sum = book_checksum(&subscription.replica, subscription.precision, EncodeFaults::default());
    let _ = write!(scratch, r#","checksum":{sum},"timestamp":""#);
    write_time(scratch, now_ns);
    scratch.extend_from_slice(br#""}]}"#);
}

/// The changes a depth-10 client sees: levels of the new top 10 that are new or changed, and
/// levels of the old top 10 deleted from the book (qty 0). Leaves `scratch` empty when the
/// change was outside the top 10.
fn write_book_update(
    scratch: &mut Vec<u8>,
    market: &MarketRef,
    subscription: &MarketSubscription,
    before: &(Vec<Level>, Vec<Level>),
    faults: EncodeFaults,
    time_ns: u64,
) {
    let book = &subscription.replica;
    let (bids, asks) = top(book);
    let changed = |old: &[Level], new: &[Level], side: &std::collections::BTreeMap<Decimal, Decimal>| {
        let mut levels: Vec<Level> = new.iter().filter(|level| !old.contains(level)).copied().collect();
        levels.extend(
            old.iter()
                .filter(|level| !side.contains_key(&level.price))
                .map(|level| Level { price: level.price, qty: Decimal::ZERO }),
        );
        levels
    };
    let bid_changes = changed(&before.0, &bids, &book.bids);
    let ask_changes = changed(&before.1, &asks, &book.asks);
    scratch.clear();
    if bid_changes.is_empty() && ask_changes.is_empty() {
        return;
    }
    let _ = write!(
        scratch,
        r#"{{"channel":"book","type":"update","data":[{{"symbol":"{}","bids":"#,
        market.native
    );
    write_levels(scratch, bid_changes.into_iter());
    scratch.extend_from_slice(br#","asks":"#);
    write_levels(scratch, ask_changes.into_iter());
    let sum = book_checksum(book, subscription.precision, faults);
    let _ = write!(scratch, r#","checksum":{sum},"timestamp":""#);
    write_time(scratch, time_ns);
    scratch.extend_from_slice(br#""}]}"#);
}

fn write_levels(scratch: &mut Vec<u8>, levels: impl Iterator<Item = Level>) {
    scratch.push(b'[');
    for (index, level) in levels.enumerate() {
        if index > 0 {
            scratch.push(b',');
        }
        scratch.extend_from_slice(br#"{"price":"#);
        write_number(scratch, level.price);
        scratch.extend_from_slice(br#","qty":"#);
        write_number(scratch, level.qty);
        scratch.push(b'}');
    }
    scratch.push(b']');
}

fn write_ticker(
    scratch: &mut Vec<u8>,
    kind: &str,
    market: &MarketRef,
    best: Option<(Level, Level)>,
    figures: Option<Figures>,
    time_ns: u64,
) {
    let _ = write!(scratch, r#"{{"channel":"ticker","type":"{kind}","data":[{{"symbol":"{}""#, market.native);
    if let Some((bid, ask)) = best {
        for (name, value) in
            [("bid", bid.price), ("bid_qty", bid.qty), ("ask", ask.price), ("ask_qty", ask.qty)]
        {
            let _ = write!(scratch, r#","{name}":"#);
            write_number(scratch, value);
        }
    }
    if let Some(figures) = figures {
        let vwap =
            if figures.volume.is_zero() { None } else { quotient(figures.quote_volume, figures.volume) };
        let change = Decimal::checked_sub(figures.last, figures.open);
        let change_pct = change.and_then(|change| percent(change, figures.open));
        let fields = [
            ("last", Some(figures.last)),
            ("volume", Some(figures.volume)),
            ("vwap", vwap),
            ("low", Some(figures.low)),
            ("high", Some(figures.high)),
            ("change", change),
            ("change_pct", change_pct),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                let _ = write!(scratch, r#","{name}":"#);
                write_number(scratch, value);
            }
        }
    }
    scratch.extend_from_slice(br#","timestamp":""#);
    write_time(scratch, time_ns);
    scratch.extend_from_slice(br#""}]}"#);
}

/// `part / whole × 100` rounded toward zero to 2 decimals, as Kraken's `change_pct`.
fn percent(part: Decimal, whole: Decimal) -> Option<Decimal> {
    if whole.is_zero() {
        return None;
    }
    let scale = part.scale().max(whole.scale());
    let (part, whole) = (part.checked_rescale(scale)?, whole.checked_rescale(scale)?);
    Some(Decimal::new(part.mantissa().checked_mul(10_000)?.checked_div(whole.mantissa())?, 2))
}

/// `a / b` rounded toward zero to `b`'s scale plus 5 decimals (a display figure: `vwap`).
fn quotient(a: Decimal, b: Decimal) -> Option<Decimal> {
    let scale = a.scale().max(b.scale());
    let (a, b) = (a.checked_rescale(scale)?, b.checked_rescale(scale)?);
    let digits = 5_u8;
    let numerator = a.mantissa().checked_mul(10_i128.pow(u32::from(digits)))?;
    Some(Decimal::new(numerator.checked_div(b.mantissa())?, digits))
}

/// A decimal as Kraken writes a JSON number: shortest form, `.0` on integers (`40.0`).
fn write_number(scratch: &mut Vec<u8>, value: Decimal) {
    let value = value.normalized();
    let _ = write!(scratch, "{value}");
    if value.scale() == 0 {
        scratch.extend_from_slice(b".0");
    }
}

fn write_times(scratch: &mut Vec<u8>, now_ns: u64) {
    scratch.extend_from_slice(br#","time_in":""#);
    write_time(scratch, now_ns);
    scratch.extend_from_slice(br#"","time_out":""#);
    write_time(scratch, now_ns);
    scratch.push(b'"');
}

/// Unix ns as Kraken's RFC 3339 timestamp with microseconds: `2023-09-25T07:49:37.708706Z`.
fn write_time(scratch: &mut Vec<u8>, time_ns: u64) {
    write_rfc3339(scratch, time_ns, Fraction::Digits(6));
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::model::market::intern_unified;
    use crate::model::{Channel, Event};
    use crate::sim::venues::testing::{TestContext, dec as d};
    use crate::venues::Adapter;
    use crate::venues::Control;
    use crate::venues::kraken::KrakenAdapter;

    const NOW_NS: u64 = 1_695_628_177_708_706_123;

    fn market(unified: &str) -> MarketRef {
        intern_unified(Venue::Kraken, unified).unwrap()
    }

    /// `BTC/USD` with 15 levels a side at update 10, and `ETH/USD` with an empty book.
    fn context() -> TestContext {
        let mut book = SimBook::default();
        let bids: Vec<Level> = (0..15)
            .map(|i| Level { price: Decimal::new(1000 - i * 5, 1), qty: Decimal::new(150_000_000 + i, 8) })
            .collect();
        let asks: Vec<Level> = (0..15)
            .map(|i| Level { price: Decimal::new(1005 + i * 5, 1), qty: Decimal::new(250_000_000 - i, 8) })
            .collect();
        book.apply(10, &bids, &asks);
        TestContext::new(vec![market("BTC/USD"), market("ETH/USD")], NOW_NS)
            .with_book(&market("BTC/USD"), book)
    }

    /// The text payloads of the frames in `out`, which it empties.
    fn frames(out: &mut Outbox) -> Vec<String> {
        let mut bytes = out.bytes();
        let mut payloads = Vec::new();
        while let [opcode, length, rest @ ..] = bytes {
            assert_eq!(*opcode, 0x81, "a final text frame");
            let (length, rest) = match length {
                126 => (usize::from(u16::from_be_bytes([rest[0], rest[1]])), &rest[2..]),
                127 => {
                    (usize::try_from(u64::from_be_bytes(rest[..8].try_into().unwrap())).unwrap(), &rest[8..])
                }
                short => (usize::from(*short), rest),
            };
            payloads.push(String::from_utf8(rest[..length].to_vec()).unwrap());
            bytes = &rest[length..];
        }
        assert!(bytes.is_empty());
        out.clear();
        payloads
    }

    struct Session {
        sim: KrakenSim,
        adapter: KrakenAdapter,
        ctx: TestContext,
        out: Outbox,
    }

    impl Session {
        fn open() -> Self {
            let mut session = Self {
                sim: KrakenSim::default(),
                adapter: KrakenAdapter::new(),
                ctx: context(),
                out: Outbox::default(),
            };
            session.sim.on_open("/v2", &session.ctx, &mut session.out).unwrap();
            let replies = session.replies();
            assert_eq!(replies.len(), 1);
            assert_eq!(replies[0].0, Control::Unknown, "status");
            let mut requests = Vec::new();
            session.adapter.on_connect(&mut requests);
            for request in requests {
                session.send(&request);
            }
            let replies = session.replies();
            assert_eq!(
                replies.iter().map(|(control, _)| control.clone()).collect::<Vec<_>>(),
                [Control::Unknown, Control::Unknown]
            );
            session
        }

        fn send(&mut self, text: &str) {
            assert_eq!(self.sim.on_message(text, &self.ctx, &mut self.out), Verdict::Continue);
        }

        fn request(
            &mut self,
            subscribe: bool,
            id: u64,
            pairs: &[(MarketRef, Channel)],
        ) -> Vec<(Control, Vec<Event>)> {
            let mut requests = Vec::new();
            if subscribe {
                self.adapter.subscribe(id, pairs, &mut requests).unwrap();
            } else {
                self.adapter.unsubscribe(id, pairs, &mut requests).unwrap();
            }
            for request in requests {
                self.send(&request);
            }
            self.replies()
        }

        fn replies(&mut self) -> Vec<(Control, Vec<Event>)> {
            frames(&mut self.out)
                .iter()
                .map(|frame| {
                    let mut events = Vec::new();
                    let control = self.adapter.parse(frame.as_bytes(), 0, &mut events).unwrap();
                    (control, events)
                })
                .collect()
        }

        fn encode(&mut self, happening: &Happening, faults: EncodeFaults) -> Vec<(Control, Vec<Event>)> {
            self.sim.encode(happening, faults, &mut self.out);
            self.replies()
        }
    }

    /// A client's depth-10 book, as Kraken's guide says to keep it.
    #[derive(Default)]
    struct ClientBook {
        bids: BTreeMap<Decimal, Decimal>,
        asks: BTreeMap<Decimal, Decimal>,
    }

    impl ClientBook {
        fn apply(&mut self, update: &crate::model::BookUpdate) {
            if update.is_snapshot {
                self.bids.clear();
                self.asks.clear();
            }
            for (side, levels) in [(&mut self.bids, &update.bids), (&mut self.asks, &update.asks)] {
                for level in levels {
                    if level.qty.is_zero() {
                        side.remove(&level.price);
                    } else {
                        side.insert(level.price, level.qty);
                    }
                }
            }
            while self.bids.len() > 10 {
                self.bids.pop_first();
            }
            while self.asks.len() > 10 {
                self.asks.pop_last();
            }
        }

        fn checksum(&self, (price, qty): (u8, u8)) -> u32 {
            let asks: Vec<Level> = self.asks.iter().map(|(&price, &qty)| Level { price, qty }).collect();
            let bids: Vec<Level> =
                self.bids.iter().rev().map(|(&price, &qty)| Level { price, qty }).collect();
            checksum(&asks, &bids, price, qty)
        }
    }

    #[test]
    fn unknown_paths_are_refused() {
        let mut sim = KrakenSim::default();
        let mut out = Outbox::default();
        assert_eq!(sim.on_open("/ws", &context(), &mut out).unwrap_err().0, 404);
        assert!(sim.on_open("/v2", &context(), &mut out).is_ok());
        assert!(!sim.has_subscriptions());
    }

    #[test]
    fn instruments_give_the_precisions() {
        let session = Session::open();
        assert_eq!(session.adapter.precision("BTC/USD"), Some((1, 8)));
        assert_eq!(session.adapter.precision("ETH/USD"), Some((1, 8)));
        assert!(session.sim.has_subscriptions());
    }

    #[test]
    fn round_trip_acks_snapshots_trades_books_tickers() {
        let mut session = Session::open();
        let (btc, eth) = (market("BTC/USD"), market("ETH/USD"));
        let replies = session.request(
            true,
            5,
            &[
                (btc.clone(), Channel::Trades),
                (eth.clone(), Channel::Trades),
                (btc.clone(), Channel::Bbo),
                (btc.clone(), Channel::Ticker),
                (btc.clone(), Channel::Book),
            ],
        );
        let ack_count =
            replies.iter().filter(|(control, _)| *control == Control::Ack { request_id: Some(5) }).count();
        assert_eq!(ack_count, 5, "one ack per symbol and stream: {replies:?}");
        let events: Vec<&Event> = replies.iter().flat_map(|(_, events)| events).collect();
        // No ticker snapshots yet: Kraken's tickers carry every figure, and none is known
        // before the first trade.
        let [Event::Book(snapshot)] = events.as_slice() else { panic!("{events:?}") };
        assert!(snapshot.is_snapshot);
        assert_eq!((snapshot.bids.len(), snapshot.asks.len()), (10, 10));
        assert_eq!(snapshot.bids[1].qty.to_string(), "1.50000001");
        assert_eq!(snapshot.bids[0].qty.to_string(), "1.50000000", "padded to the precision");
        let mut client = ClientBook::default();
        client.apply(snapshot);
        assert_eq!(i64::from(client.checksum((1, 8))), snapshot.checksum.unwrap());

        // Tickers.
        let ticker = Happening::Ticker {
            market: btc.clone(),
            last: d("100.5"),
            open: d("98.0"),
            high: d("101.0"),
            low: d("97.5"),
            volume: d("1234.5"),
            quote_volume: d("123450"),
            bid: Level { price: d("100.4"), qty: d("1") },
            ask: Level { price: d("100.6"), qty: d("2") },
            time_ns: NOW_NS,
        };
        let replies = session.encode(&ticker, EncodeFaults::default());
        let [(Control::Data, events)] = replies.as_slice() else { panic!("{replies:?}") };
        let [Event::Bbo(_), Event::Ticker(parsed)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(parsed.last_price, Some(d("100.5")));
        assert_eq!((parsed.high_24h, parsed.low_24h), (Some(d("101")), Some(d("97.5"))));
        assert_eq!(parsed.volume_24h, Some(d("1234.5")));
        assert_eq!(parsed.change_24h, Some(d("2.5")));
        assert_eq!(parsed.change_pct_24h, Some(d("2.55")));
        assert_eq!((parsed.bid_price, parsed.ask_qty), (Some(d("100.4")), Some(d("2"))));

        // Trades.
        let trade = Happening::Trade {
            market: btc.clone(),
            price: d("100.50"),
            qty: d("0.25000000"),
            side: Side::Buy,
            trade_id: 77,
            time_ns: NOW_NS + 1_234,
        };
        let replies = session.encode(&trade, EncodeFaults::default());
        let [(Control::Data, events)] = replies.as_slice() else { panic!("{replies:?}") };
        let [Event::Trade(parsed)] = events.as_slice() else { panic!() };
        assert_eq!((parsed.price, parsed.qty, parsed.side), (d("100.5"), d("0.25"), Side::Buy));
        assert_eq!(parsed.trade_id.as_str(), "77");
        assert_eq!(parsed.exchange_time_ns, (NOW_NS + 1_234) / 1_000 * 1_000);
        assert!(Arc::ptr_eq(&parsed.market, &btc));

        // Book changes: old ones are skipped, new ones chain and their checksums verify.
        let stale = Happening::Book {
            market: btc.clone(),
            update_id: 10,
            bids: vec![],
            asks: vec![],
            time_ns: NOW_NS,
        };
        assert!(session.encode(&stale, EncodeFaults::default()).is_empty());
        drive_book_changes(&mut session, &mut client, &btc);

        // A wrong checksum when asked for.
        let happening = Happening::Book {
            market: btc.clone(),
            update_id: 400,
            bids: vec![Level { price: d("100.1"), qty: d("3") }],
            asks: vec![],
            time_ns: NOW_NS,
        };
        let replies = session.encode(&happening, EncodeFaults { bad_checksum: true });
        let Some(Event::Book(update)) = replies[0].1.first() else { panic!("{replies:?}") };
        client.apply(update);
        assert_ne!(i64::from(client.checksum((1, 8))), update.checksum.unwrap());

        // Unsubscribing stops the stream.
        let replies = session.request(false, 6, &[(btc.clone(), Channel::Trades)]);
        assert_eq!(replies, [(Control::Ack { request_id: Some(6) }, vec![])]);
        assert!(session.encode(&trade, EncodeFaults::default()).is_empty());
    }

    /// Random changes to the BTC/USD book: each update the client sees keeps its depth-10
    /// book's checksum equal to the venue's, and each bbo ticker is the client's top.
    fn drive_book_changes(session: &mut Session, client: &mut ClientBook, btc: &MarketRef) {
        let mut seed = 12_345_u64;
        let mut random = move |bound: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % bound
        };
        let mut updates = 0;
        let mut bbos = 0;
        for update_id in 11..400 {
            let price = Decimal::new(i128::from(950 + random(100) * 5 / 5), 1);
            let qty = if random(3) == 0 {
                Decimal::ZERO
            } else {
                Decimal::new(i128::from(random(10_000_000_000) + 1), 8)
            };
            let level = vec![Level { price, qty }];
            let (bids, asks) = if price.mantissa() < 1003 { (level, vec![]) } else { (vec![], level) };
            let happening =
                Happening::Book { market: btc.clone(), update_id, bids, asks, time_ns: NOW_NS + update_id };
            for (control, events) in session.encode(&happening, EncodeFaults::default()) {
                assert_eq!(control, Control::Data);
                for event in &events {
                    match event {
                        Event::Book(update) => {
                            assert!(!update.is_snapshot);
                            client.apply(update);
                            assert_eq!(
                                i64::from(client.checksum((1, 8))),
                                update.checksum.unwrap(),
                                "update {update_id}"
                            );
                            updates += 1;
                        }
                        Event::Bbo(bbo) => {
                            assert_eq!(client.bids.last_key_value(), Some((&bbo.bid_price, &bbo.bid_qty)));
                            assert_eq!(client.asks.first_key_value(), Some((&bbo.ask_price, &bbo.ask_qty)));
                            bbos += 1;
                        }
                        Event::Ticker(_) => {}
                        Event::Trade(_) => panic!("{event:?}"),
                    }
                }
            }
        }
        assert!(updates > 50 && bbos > 5, "{updates} updates, {bbos} bbos");
    }

    #[test]
    fn refusals_pings_and_heartbeats() {
        let mut session = Session::open();
        let btc = market("BTC/USD");
        session.send(r#"{"method":"subscribe","params":{"channel":"trade","symbol":["FOO/BAR","BTC/USD"]},"req_id":9}"#);
        let replies = session.replies();
        assert_eq!(
            replies,
            [
                (
                    Control::Rejected {
                        request_id: Some(9),
                        reason: "Currency pair not supported FOO/BAR".into()
                    },
                    vec![]
                ),
                (Control::Ack { request_id: Some(9) }, vec![]),
            ]
        );
        let replies = session.request(true, 10, &[(btc.clone(), Channel::Trades)]);
        assert_eq!(
            replies,
            [(Control::Rejected { request_id: Some(10), reason: "Already subscribed".into() }, vec![])]
        );
        for bad in [
            r#"{"method":"subscribe","params":{"channel":"candles","symbol":["BTC/USD"]},"req_id":11}"#,
            r#"{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":7},"req_id":11}"#,
            r#"{"method":"subscribe","params":{"channel":"trade","symbol":[]},"req_id":11}"#,
            r#"{"method":"subscribe","req_id":11}"#,
            r#"{"method":"dance","req_id":11}"#,
        ] {
            session.send(bad);
            let replies = session.replies();
            assert_eq!(
                replies,
                [(Control::Rejected { request_id: Some(11), reason: INVALID_ARGUMENTS.into() }, vec![])]
            );
        }
        session.send("not json");
        assert_eq!(
            session.replies(),
            [(Control::Rejected { request_id: None, reason: INVALID_ARGUMENTS.into() }, vec![])]
        );
        let replies = session.request(false, 12, &[(btc, Channel::Book)]);
        assert_eq!(
            replies,
            [(Control::Rejected { request_id: Some(12), reason: "Subscription Not Found".into() }, vec![])]
        );

        session.send(r#"{"method":"ping","req_id":13}"#);
        assert_eq!(session.replies(), [(Control::Pong, vec![])]);
        session.send(session.adapter.spec().app_ping.unwrap().message);
        assert_eq!(session.replies(), [(Control::Pong, vec![])]);

        session.sim.on_tick(NOW_NS, &mut session.out);
        assert_eq!(session.replies(), [(Control::Heartbeat, vec![])]);
        session.sim.on_tick(NOW_NS + 500_000_000, &mut session.out);
        assert!(session.replies().is_empty());
        session.sim.on_tick(NOW_NS + 1_000_000_000, &mut session.out);
        assert_eq!(session.replies(), [(Control::Heartbeat, vec![])]);
    }

    #[test]
    fn numbers_and_times_are_written_as_kraken_does() {
        let mut scratch = Vec::new();
        for (value, text) in [("40", "40.0"), ("0.5660", "0.566"), ("-0.00017", "-0.00017"), ("0", "0.0")] {
            scratch.clear();
            write_number(&mut scratch, d(value));
            assert_eq!(scratch, text.as_bytes());
        }
        scratch.clear();
        write_time(&mut scratch, 1_695_628_177_708_706_999);
        assert_eq!(scratch, b"2023-09-25T07:49:37.708706Z");
        scratch.clear();
        write_time(&mut scratch, 951_782_400_000_000_000);
        assert_eq!(scratch, b"2000-02-29T00:00:00.000000Z");
    }
}
