//! Binance spot's protocol in the simulator: the combined (`/stream`) and raw (`/ws`) WebSocket
//! endpoints, their `SUBSCRIBE` family of requests, and `GET /api/v3/depth`.
//!
//! Owns [`BinanceSim`], one client's view: its streams, a book replica per market it follows
//! the book or best bid/offer of, and the encoders that write each [`Happening`] as Binance does
//! (`trade`, `bookTicker`, `depthUpdate`, `24hrTicker`).
//!
//! Behaviour, as the venue (`PROTOCOLS.md` §1):
//! - Replies: `{"result":null,"id":N}`; errors `{"error":{"code":C,"msg":"…"},"id":N}` (the
//!   wire shape clients observe; the docs' table lists the inner `code`/`msg`). Requests are
//!   read with `serde`, whose error texts are the ones Binance's table quotes ("unknown variant
//!   …, expected one of …", "missing field … at line 1 column 73").
//! - A stream of a symbol that does not exist is accepted and stays silent, as Binance does; a
//!   stream name that is not one of the simulated kinds is `Invalid request: invalid stream`.
//! - More than 5 messages from the client in a second closes the connection (the venue counts
//!   pings and pongs too; the engine owns those frames, so only requests are counted here);
//!   more than 1024 streams is refused.
//! - No WebSocket book snapshot: a client takes it from `GET /api/v3/depth`, served from the
//!   engine's book. Each [`Happening::Book`] is one `depthUpdate` with `U` = `u` = its
//!   `update_id`, so consecutive updates chain `U = previous u + 1`. `bookTicker` is sent when
//!   the best bid or ask (price or quantity) changes, with `u` = the change's `update_id`.
//!
//! Encoding is the hot path: JSON is written into one reused buffer, no allocation per message.

use std::collections::VecDeque;
use std::io::Write as _;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{Decimal, Level, MarketRef, Side, Venue};
use crate::sim::protocol::{
    BookChange, EncodeFaults, Happening, HappeningView, HeartbeatRules, Outbox, SimBook, SimContext,
    TradeFields, VenueSim, Verdict,
};

/// Streams one connection may hold.
const MAX_STREAMS: usize = 1024;
/// Messages a client may send per second.
const MAX_MESSAGES_PER_SECOND: usize = 5;
/// `limit` of `GET /api/v3/depth` when not given, and its largest value.
const DEPTH_LIMIT_DEFAULT: usize = 100;
const DEPTH_LIMIT_MAX: usize = 5000;

/// One client's view of the simulated Binance spot.
#[derive(Debug, Default)]
pub struct BinanceSim {
    /// Subscribed stream names, lower case, in subscription order.
    streams: Vec<Box<str>>,
    /// What the client follows per market, indexed by [`crate::model::Market::id`].
    markets: Vec<Option<Following>>,
    /// Payloads wrapped in `{"stream":…,"data":…}` (`/stream`) or not (`/ws`).
    combined: bool,
    /// When the client's recent messages arrived (ns), to enforce the rate limit.
    recent: VecDeque<u64>,
    /// The encoders' buffer.
    scratch: Vec<u8>,
}

/// The streams a client holds on one market, and what encoding them needs.
#[derive(Debug)]
struct Following {
    market: MarketRef,
    /// The symbol as stream names spell it.
    lower: Box<str>,
    /// Which streams of the market the client holds, by [`Kind`].
    held: [bool; Kind::COUNT],
    /// The book as this client has been told it (present while it follows book or bbo).
    replica: Option<SimBook>,
    /// The last best bid and ask sent on `bookTicker`.
    last_bbo: Option<(Level, Level)>,
    /// The market's latest trade id, for the ticker's `L`.
    last_trade_id: u64,
}

impl Following {
    const fn holds(&self, kind: Kind) -> bool {
        self.held[kind as usize]
    }

    /// Whether the client follows the book (a depth stream or `bookTicker`).
    const fn needs_replica(&self) -> bool {
        self.holds(Kind::BookTicker) || self.holds(Kind::Depth100ms) || self.holds(Kind::Depth1000ms)
    }
}

/// The stream kinds the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Trade,
    BookTicker,
    Depth100ms,
    Depth1000ms,
    Ticker,
}

impl Kind {
    const COUNT: usize = 5;
}

/// Splits a stream name into its lower-case symbol and kind.
fn parse_stream(name: &str) -> Option<(&str, Kind)> {
    let (symbol, suffix) = name.split_once('@')?;
    if symbol.is_empty() || !symbol.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit()) {
        return None;
    }
    let kind = match suffix {
        "trade" => Kind::Trade,
        "bookTicker" => Kind::BookTicker,
        "depth@100ms" => Kind::Depth100ms,
        "depth" | "depth@1000ms" => Kind::Depth1000ms,
        "ticker" => Kind::Ticker,
        _ => return None,
    };
    Some((symbol, kind))
}

/// A refused request: Binance's code and message.
struct Refusal {
    code: i64,
    msg: String,
}

impl Refusal {
    fn new(code: i64, msg: impl Into<String>) -> Self {
        Self { code, msg: msg.into() }
    }

    fn invalid_stream() -> Self {
        Self::new(2, "Invalid request: invalid stream")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Method {
    Subscribe,
    Unsubscribe,
    ListSubscriptions,
    SetProperty,
    GetProperty,
}

#[derive(Deserialize)]
struct Request {
    method: Method,
    #[serde(default)]
    params: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl BinanceSim {
    /// Subscribes `names` (all or none): the streams of unknown symbols are held but silent.
    fn subscribe<'n>(
        &mut self,
        names: impl Iterator<Item = &'n str> + Clone,
        ctx: &dyn SimContext,
    ) -> Result<(), Refusal> {
        let mut added = 0;
        for name in names.clone() {
            parse_stream(name).ok_or_else(Refusal::invalid_stream)?;
            if !self.streams.iter().any(|held| &**held == name) {
                added += 1;
            }
        }
        if self.streams.len() + added > MAX_STREAMS {
            return Err(Refusal::new(4, "Too many subscriptions"));
        }
        for name in names {
            if self.streams.iter().any(|held| &**held == name) {
                continue;
            }
            self.streams.push(name.into());
            let Some((symbol, kind)) = parse_stream(name) else { continue };
            let Some(market) = ctx.market(&symbol.to_ascii_uppercase()) else { continue };
            self.follow(&market, symbol, kind, ctx);
        }
        Ok(())
    }

    fn follow(&mut self, market: &MarketRef, symbol: &str, kind: Kind, ctx: &dyn SimContext) {
        let index = market.id as usize;
        if self.markets.len() <= index {
            self.markets.resize_with(index + 1, || None);
        }
        let following = self.markets[index].get_or_insert_with(|| Following {
            market: MarketRef::clone(market),
            lower: symbol.into(),
            held: [false; Kind::COUNT],
            replica: None,
            last_bbo: None,
            last_trade_id: ctx.last_trade_id(market),
        });
        following.held[kind as usize] = true;
        if following.needs_replica() && following.replica.is_none() {
            let replica = ctx.book(market);
            following.last_bbo = replica.top_bids(1).next().zip(replica.top_asks(1).next());
            following.replica = Some(replica);
        }
    }

    fn unsubscribe<'n>(&mut self, names: impl Iterator<Item = &'n str> + Clone) -> Result<(), Refusal> {
        for name in names.clone() {
            parse_stream(name).ok_or_else(Refusal::invalid_stream)?;
        }
        for name in names {
            self.streams.retain(|held| &**held != name);
            let Some((symbol, kind)) = parse_stream(name) else { continue };
            let Some(slot) =
                self.markets.iter_mut().find(|slot| slot.as_ref().is_some_and(|f| &*f.lower == symbol))
            else {
                continue;
            };
            let Some(following) = slot.as_mut() else { continue };
            following.held[kind as usize] = false;
            if !following.needs_replica() {
                following.replica = None;
                following.last_bbo = None;
            }
            if !following.held.contains(&true) {
                *slot = None;
            }
        }
        Ok(())
    }

    /// Answers one request: `Ok` with the `result` JSON, or the refusal.
    fn answer(&mut self, request: &Request, ctx: &dyn SimContext) -> Result<String, Refusal> {
        let params = request.params.as_deref().unwrap_or_default();
        let names = || params.iter().map(|param| param.as_str().unwrap_or(""));
        match request.method {
            Method::Subscribe => self.subscribe(names(), ctx).map(|()| "null".to_owned()),
            Method::Unsubscribe => self.unsubscribe(names()).map(|()| "null".to_owned()),
            Method::ListSubscriptions => {
                Ok(serde_json::to_string(&self.streams).unwrap_or_else(|_| "[]".to_owned()))
            }
            Method::SetProperty => match params {
                [Value::String(name), value] if name == "combined" => {
                    self.combined = value
                        .as_bool()
                        .ok_or_else(|| Refusal::new(1, "Invalid value type: expected Boolean"))?;
                    Ok("null".to_owned())
                }
                [Value::String(_), _] => Err(Refusal::new(0, "Unknown property")),
                [_, _] => Err(Refusal::new(2, "Invalid request: property name must be a string")),
                _ => Err(Refusal::new(2, "Invalid request: too many parameters")),
            },
            Method::GetProperty => match params {
                [Value::String(name)] if name == "combined" => Ok(self.combined.to_string()),
                [Value::String(_)] => Err(Refusal::new(0, "Unknown property")),
                [_] => Err(Refusal::new(2, "Invalid request: property name must be a string")),
                _ => Err(Refusal::new(2, "Invalid request: too many parameters")),
            },
        }
    }

    /// The reply to one text message.
    fn reply(&mut self, text: &str, ctx: &dyn SimContext) -> String {
        let request = match serde_json::from_str::<Request>(text) {
            Ok(request) => request,
            Err(error) if error.is_syntax() || error.is_eof() => {
                return refusal_text(&Refusal::new(3, format!("Invalid JSON: {error}")), None);
            }
            Err(error) => return refusal_text(&Refusal::new(2, format!("Invalid request: {error}")), None),
        };
        let id = match &request.id {
            Some(Value::Null) => None,
            Some(id) if id.as_u64().is_some() => id.as_u64(),
            _ => {
                let refusal = Refusal::new(2, "Invalid request: request ID must be an unsigned integer");
                return refusal_text(&refusal, None);
            }
        };
        match (self.answer(&request, ctx), id) {
            (Ok(result), Some(id)) => format!(r#"{{"result":{result},"id":{id}}}"#),
            (Ok(result), None) => format!(r#"{{"result":{result},"id":null}}"#),
            (Err(refusal), id) => refusal_text(&refusal, id),
        }
    }

    /// Whether one more message now breaks the 5-per-second limit.
    fn over_rate(&mut self, now_ns: u64) -> bool {
        const SECOND_NS: u64 = 1_000_000_000;
        while self.recent.front().is_some_and(|&at| at + SECOND_NS <= now_ns) {
            self.recent.pop_front();
        }
        self.recent.push_back(now_ns);
        self.recent.len() > MAX_MESSAGES_PER_SECOND
    }
}

/// Writes `{"error":{"code":C,"msg":"…"},"id":…}`.
fn refusal_text(refusal: &Refusal, id: Option<u64>) -> String {
    let msg = serde_json::to_string(&refusal.msg).unwrap_or_else(|_| "\"\"".to_owned());
    match id {
        Some(id) => format!(r#"{{"error":{{"code":{},"msg":{msg}}},"id":{id}}}"#, refusal.code),
        None => format!(r#"{{"error":{{"code":{},"msg":{msg}}},"id":null}}"#, refusal.code),
    }
}

impl VenueSim for BinanceSim {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    fn heartbeat_rules(&self) -> HeartbeatRules {
        HeartbeatRules {
            server_ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Some(Duration::from_mins(1)),
            client_idle_timeout: None,
            subscribe_within: None,
        }
    }

    fn on_open(
        &mut self,
        path_and_query: &str,
        ctx: &dyn SimContext,
        _out: &mut Outbox,
    ) -> Result<(), (u16, String)> {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let bad_stream = || (400, r#"{"code":-1100,"msg":"Invalid stream name."}"#.to_owned());
        if path == "/stream" {
            self.combined = true;
            let streams = query.split('&').find_map(|pair| pair.strip_prefix("streams=")).unwrap_or("");
            let names = streams.split('/').filter(|name| !name.is_empty());
            self.subscribe(names, ctx).map_err(|_| bad_stream())
        } else if let Some(rest) =
            path.strip_prefix("/ws").filter(|rest| rest.is_empty() || rest.starts_with('/'))
        {
            self.combined = false;
            let names = rest.split('/').filter(|name| !name.is_empty());
            self.subscribe(names, ctx).map_err(|_| bad_stream())
        } else {
            Err((404, "Not Found".to_owned()))
        }
    }

    fn on_message(&mut self, text: &str, ctx: &dyn SimContext, out: &mut Outbox) -> Verdict {
        if self.over_rate(ctx.now_ns()) {
            return Verdict::Close { code: 1008, reason: "Too many messages".to_owned() };
        }
        let reply = self.reply(text, ctx);
        out.text(reply.as_bytes());
        Verdict::Continue
    }

    /// Binance sends no checksum, so `faults.bad_checksum` changes nothing.
    fn encode(&mut self, happening: &Happening, _faults: EncodeFaults, out: &mut Outbox) {
        let Some(Some(following)) = self.markets.get_mut(happening.market().id as usize) else { return };
        let scratch = &mut self.scratch;
        let combined = self.combined;
        match happening.view() {
            HappeningView::Trade(trade) => {
                following.last_trade_id = trade.trade_id;
                if following.holds(Kind::Trade) {
                    scratch.clear();
                    encode_trade(scratch, combined, following, &trade);
                    out.text(scratch);
                }
            }
            HappeningView::Book(change) => encode_book(scratch, combined, following, &change, out),
            HappeningView::Ticker => {
                if following.holds(Kind::Ticker) {
                    scratch.clear();
                    encode_ticker(scratch, combined, following, happening);
                    out.text(scratch);
                }
            }
        }
    }

    fn has_subscriptions(&self) -> bool {
        !self.streams.is_empty()
    }

    fn http_get(&mut self, path_and_query: &str, ctx: &dyn SimContext) -> Option<(u16, String)> {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        if path != "/api/v3/depth" {
            return None;
        }
        Some(depth_snapshot(query, ctx, Venue::Binance))
    }
}

/// The answer to `GET /api/v3/depth?<query>` on `venue` (MEXC's endpoint mirrors Binance's).
pub(super) fn depth_snapshot(query: &str, ctx: &dyn SimContext, venue: Venue) -> (u16, String) {
    let param = |key: &str| {
        query
            .split('&')
            .find_map(|pair| pair.split_once('=').filter(|(name, _)| *name == key).map(|(_, v)| v))
    };
    let Some(symbol) = param("symbol").filter(|symbol| !symbol.is_empty()) else {
        let msg = "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.";
        return (400, format!(r#"{{"code":-1102,"msg":"{msg}"}}"#));
    };
    let Ok(limit) = param("limit").map_or(Ok(DEPTH_LIMIT_DEFAULT), str::parse::<usize>) else {
        let msg = "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.";
        return (400, format!(r#"{{"code":-1100,"msg":"{msg}"}}"#));
    };
    let limit = limit.clamp(1, DEPTH_LIMIT_MAX);
    let Some(market) = ctx.market(symbol).filter(|market| market.venue == venue) else {
        return (400, r#"{"code":-1121,"msg":"Invalid symbol."}"#.to_owned());
    };
    let book = ctx.book(&market);
    let mut body = Vec::with_capacity(64 + 40 * limit.min(book.bids.len() + book.asks.len()));
    let _ = write!(body, r#"{{"lastUpdateId":{},"bids":"#, book.update_id);
    write_levels(&mut body, book.top_bids(limit));
    body.extend_from_slice(br#","asks":"#);
    write_levels(&mut body, book.top_asks(limit));
    body.push(b'}');
    (200, String::from_utf8_lossy(&body).into_owned())
}

/// Writes `{"stream":"<sym>@<suffix>","data":` when combined.
fn open_envelope(scratch: &mut Vec<u8>, combined: bool, lower: &str, suffix: &str) {
    if combined {
        scratch.extend_from_slice(br#"{"stream":""#);
        scratch.extend_from_slice(lower.as_bytes());
        scratch.push(b'@');
        scratch.extend_from_slice(suffix.as_bytes());
        scratch.extend_from_slice(br#"","data":"#);
    }
}

fn close_envelope(scratch: &mut Vec<u8>, combined: bool) {
    if combined {
        scratch.push(b'}');
    }
}

fn write_levels(scratch: &mut Vec<u8>, levels: impl IntoIterator<Item = Level>) {
    scratch.push(b'[');
    for (index, level) in levels.into_iter().enumerate() {
        if index > 0 {
            scratch.push(b',');
        }
        let _ = write!(scratch, r#"["{}","{}"]"#, level.price, level.qty);
    }
    scratch.push(b']');
}

fn encode_trade(scratch: &mut Vec<u8>, combined: bool, following: &Following, trade: &TradeFields<'_>) {
    let TradeFields { price, qty, side, trade_id, time_ns, .. } = *trade;
    let millis = time_ns / 1_000_000;
    open_envelope(scratch, combined, &following.lower, "trade");
    let _ = write!(
        scratch,
        r#"{{"e":"trade","E":{millis},"s":"{}","t":{trade_id},"p":"{price}","q":"{qty}","T":{millis},"m":{},"M":true}}"#,
        following.market.native,
        side == Side::Sell,
    );
    close_envelope(scratch, combined);
}

/// Applies one book change to the client's replica and sends its `depthUpdate` (per depth
/// stream held) and, if the best bid or ask changed, its `bookTicker`.
fn encode_book(
    scratch: &mut Vec<u8>,
    combined: bool,
    following: &mut Following,
    change: &BookChange<'_>,
    out: &mut Outbox,
) {
    let BookChange { update_id, bids, asks, time_ns, .. } = *change;
    let Some(replica) = following.replica.as_mut() else { return };
    if update_id <= replica.update_id {
        return;
    }
    replica.apply(update_id, bids, asks);
    let millis = time_ns / 1_000_000;
    for (kind, suffix) in [(Kind::Depth100ms, "depth@100ms"), (Kind::Depth1000ms, "depth")] {
        if !following.held[kind as usize] {
            continue;
        }
        scratch.clear();
        open_envelope(scratch, combined, &following.lower, suffix);
        let _ = write!(
            scratch,
            r#"{{"e":"depthUpdate","E":{millis},"s":"{}","U":{update_id},"u":{update_id},"b":"#,
            following.market.native
        );
        write_levels(scratch, bids.iter().copied());
        scratch.extend_from_slice(br#","a":"#);
        write_levels(scratch, asks.iter().copied());
        scratch.push(b'}');
        close_envelope(scratch, combined);
        out.text(scratch);
    }
    if !following.held[Kind::BookTicker as usize] {
        return;
    }
    let (Some(bid), Some(ask)) = (replica.top_bids(1).next(), replica.top_asks(1).next()) else { return };
    if following.last_bbo == Some((bid, ask)) {
        return;
    }
    following.last_bbo = Some((bid, ask));
    scratch.clear();
    open_envelope(scratch, combined, &following.lower, "bookTicker");
    let _ = write!(
        scratch,
        r#"{{"u":{update_id},"s":"{}","b":"{}","B":"{}","a":"{}","A":"{}"}}"#,
        following.market.native, bid.price, bid.qty, ask.price, ask.qty
    );
    close_envelope(scratch, combined);
    out.text(scratch);
}

fn encode_ticker(scratch: &mut Vec<u8>, combined: bool, following: &Following, happening: &Happening) {
    let Happening::Ticker { last, open, high, low, volume, quote_volume, bid, ask, time_ns, .. } = happening
    else {
        return;
    };
    let millis = time_ns / 1_000_000;
    let change = Decimal::checked_sub(*last, *open).unwrap_or(Decimal::ZERO);
    let change_pct = percent(change, *open).unwrap_or(Decimal::new(0, 3));
    let weighted = quotient(*quote_volume, *volume, 8).unwrap_or(Decimal::new(0, 8));
    // Trade ids start at 1 and the window holds them all; -1/-1/0 when there is none (Binance).
    let (first, last_id, count) = match following.last_trade_id {
        0 => (-1, -1, 0),
        id => (1, i128::from(id), id),
    };
    open_envelope(scratch, combined, &following.lower, "ticker");
    let _ = write!(
        scratch,
        r#"{{"e":"24hrTicker","E":{millis},"s":"{}","p":"{change}","P":"{change_pct}","w":"{weighted}","x":"{open}","c":"{last}","Q":"0","b":"{}","B":"{}","a":"{}","A":"{}","o":"{open}","h":"{high}","l":"{low}","v":"{volume}","q":"{quote_volume}","O":{},"C":{millis},"F":{first},"L":{last_id},"n":{count}}}"#,
        following.market.native,
        bid.price,
        bid.qty,
        ask.price,
        ask.qty,
        millis.saturating_sub(86_400_000),
    );
    close_envelope(scratch, combined);
}

/// `a` and `b` at their larger scale.
fn aligned(a: Decimal, b: Decimal) -> Option<(i128, i128, u8)> {
    let scale = a.scale().max(b.scale());
    Some((a.checked_rescale(scale)?.mantissa(), b.checked_rescale(scale)?.mantissa(), scale))
}

/// `100 × change / base` with 3 decimals, rounded half away from zero.
fn percent(change: Decimal, base: Decimal) -> Option<Decimal> {
    let (change, base, _) = aligned(change, base)?;
    Some(Decimal::new(rounded_division(change.checked_mul(100_000)?, base)?, 3))
}

/// `a / b` with `scale` decimals, rounded half away from zero.
fn quotient(a: Decimal, b: Decimal, scale: u8) -> Option<Decimal> {
    let shift = u32::from(scale) + u32::from(b.scale());
    let numerator = a.mantissa().checked_mul(10_i128.checked_pow(shift)?)?;
    let denominator = b.mantissa().checked_mul(10_i128.checked_pow(u32::from(a.scale()))?)?;
    Some(Decimal::new(rounded_division(numerator, denominator)?, scale))
}

fn rounded_division(numerator: i128, denominator: i128) -> Option<i128> {
    if denominator == 0 {
        return None;
    }
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder.unsigned_abs().checked_mul(2)? >= denominator.unsigned_abs() {
        Some(quotient + numerator.signum() * denominator.signum())
    } else {
        Some(quotient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Channel, Event, InstrumentKind, market::intern};
    use crate::sim::venues::testing::{TestContext, dec, level};
    use crate::venues::binance::{BinanceSpot, depth_snapshot_path, parse_depth_snapshot};
    use crate::venues::{Adapter, Control};

    fn btc() -> MarketRef {
        intern(Venue::Binance, Some(InstrumentKind::Spot), "BTCUSDT").unwrap()
    }

    fn context() -> TestContext {
        let eth = intern(Venue::Binance, Some(InstrumentKind::Spot), "ETHUSDT").unwrap();
        TestContext::new(vec![btc(), eth], 1_700_000_000_000_000_000)
    }

    /// Moves the clock on far enough that the rate limit never bites.
    fn later(ctx: &TestContext) {
        ctx.advance(1_000_000_000);
    }

    /// The payloads of the server frames in `out` (unmasked: header, extended length, payload).
    fn frames(out: &Outbox) -> Vec<String> {
        let mut bytes = out.bytes();
        let mut payloads = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0], 0x81, "a final text frame");
            let (length, header) = match bytes[1] {
                126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
                127 => (usize::try_from(u64::from_be_bytes(bytes[2..10].try_into().unwrap())).unwrap(), 10),
                length => (usize::from(length), 2),
            };
            payloads.push(String::from_utf8(bytes[header..header + length].to_vec()).unwrap());
            bytes = &bytes[header + length..];
        }
        payloads
    }

    /// A client of a fresh sim at `/stream`, subscribed with the adapter's own request.
    fn subscribed(ctx: &TestContext, channels: &[Channel]) -> (BinanceSim, BinanceSpot) {
        let (mut sim, adapter) = (BinanceSim::default(), BinanceSpot::new());
        sim.on_open("/stream", ctx, &mut Outbox::default()).unwrap();
        let pairs: Vec<_> = channels.iter().map(|&channel| (btc(), channel)).collect();
        let mut requests = Vec::new();
        adapter.subscribe(11, &pairs, &mut requests).unwrap();
        let mut out = Outbox::default();
        assert_eq!(sim.on_message(&requests[0], ctx, &mut out), Verdict::Continue);
        assert_eq!(control(&mut BinanceSpot::new(), &frames(&out)[0]), Control::Ack { request_id: Some(11) });
        (sim, adapter)
    }

    fn control(adapter: &mut BinanceSpot, text: &str) -> Control {
        adapter.parse(text.as_bytes(), 0, &mut Vec::new()).unwrap()
    }

    fn events(adapter: &mut BinanceSpot, out: &Outbox) -> Vec<Event> {
        let mut events = Vec::new();
        for frame in frames(out) {
            assert_eq!(adapter.parse(frame.as_bytes(), 0, &mut events), Ok(Control::Data), "{frame}");
        }
        events
    }

    fn book_change(update_id: u64, bids: Vec<Level>, asks: Vec<Level>) -> Happening {
        Happening::Book { market: btc(), update_id, bids, asks, time_ns: 1_700_000_000_123_456_789 }
    }

    #[test]
    fn trades_round_trip_exactly() {
        let ctx = context();
        let (mut sim, mut adapter) = subscribed(&ctx, &[Channel::Trades]);
        let mut out = Outbox::default();
        for (id, side) in [(1, Side::Buy), (2, Side::Sell)] {
            let trade = Happening::Trade {
                market: btc(),
                price: dec("16848.51000000"),
                qty: dec("0.00100000"),
                side,
                trade_id: id,
                time_ns: 1_700_000_000_123_456_789,
            };
            sim.encode(&trade, EncodeFaults::default(), &mut out);
        }
        let other = Happening::Trade {
            market: MarketRef::clone(&ctx.markets[1]),
            price: dec("1"),
            qty: dec("1"),
            side: Side::Buy,
            trade_id: 1,
            time_ns: 0,
        };
        sim.encode(&other, EncodeFaults::default(), &mut out);
        assert_eq!(
            frames(&out)[0],
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000123,"s":"BTCUSDT","t":1,"p":"16848.51000000","q":"0.00100000","T":1700000000123,"m":false,"M":true}}"#
        );
        let events = events(&mut adapter, &out);
        assert_eq!(events.len(), 2, "no trade of a market not subscribed");
        for (event, (id, side)) in events.iter().zip([("1", Side::Buy), ("2", Side::Sell)]) {
            let Event::Trade(trade) = event else { panic!("not a trade") };
            assert_eq!(trade.price.to_string(), "16848.51000000");
            assert_eq!(trade.qty.to_string(), "0.00100000");
            assert_eq!((trade.side, trade.trade_id.as_str()), (side, id));
            assert_eq!(trade.exchange_time_ns, 1_700_000_000_123_000_000);
            assert_eq!(&*trade.market.native, "BTCUSDT");
        }
    }

    #[test]
    fn book_deltas_chain_after_the_rest_snapshot_and_bbo_follows_the_top() {
        let mut ctx = context();
        let mut engine_book = SimBook::default();
        engine_book.apply(5, &[level("100.0", "1"), level("99.5", "2")], &[level("100.5", "3")]);
        ctx.books.insert(btc().id, engine_book.clone());
        let (mut sim, mut adapter) = subscribed(&ctx, &[Channel::Book, Channel::Bbo]);

        let (status, body) = sim.http_get(&depth_snapshot_path(&btc(), 1000), &ctx).unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, r#"{"lastUpdateId":5,"bids":[["100.0","1"],["99.5","2"]],"asks":[["100.5","3"]]}"#);
        let snapshot = parse_depth_snapshot(&btc(), body.as_bytes(), 0).unwrap();
        assert_eq!(snapshot.last_sequence, Some(5));

        let mut out = Outbox::default();
        let changes = [
            book_change(5, vec![level("1", "1")], vec![]),
            book_change(6, vec![level("99.5", "0")], vec![]),
            book_change(7, vec![level("100.0", "4")], vec![level("100.25", "1")]),
        ];
        for change in &changes {
            sim.encode(change, EncodeFaults { bad_checksum: true }, &mut out);
            if let Happening::Book { update_id, bids, asks, .. } = change
                && *update_id > engine_book.update_id
            {
                engine_book.apply(*update_id, bids, asks);
            }
        }
        let mut local = SimBook::default();
        local.apply(5, &snapshot.bids, &snapshot.asks);
        let mut previous_last = snapshot.last_sequence.unwrap();
        let mut bbos = Vec::new();
        for event in events(&mut adapter, &out) {
            match event {
                Event::Book(book) => {
                    assert_eq!(book.first_sequence, Some(previous_last + 1), "U follows the previous u");
                    previous_last = book.last_sequence.unwrap();
                    local.apply(previous_last, &book.bids, &book.asks);
                    assert_eq!(book.exchange_time_ns, 1_700_000_000_123_000_000);
                }
                Event::Bbo(bbo) => bbos.push(bbo),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(previous_last, 7, "the change at the snapshot's id was skipped");
        assert_eq!(local, engine_book);
        assert_eq!(bbos.len(), 1, "the top changed only at 7");
        assert_eq!((bbos[0].bid_price, bbos[0].bid_qty), (dec("100.0"), dec("4")));
        assert_eq!((bbos[0].ask_price, bbos[0].ask_qty), (dec("100.25"), dec("1")));
        assert_eq!(bbos[0].bid_price.to_string(), "100.0");
    }

    #[test]
    fn ticker_round_trips_with_derived_change() {
        let mut ctx = context();
        ctx.trade_ids.insert(btc().id, 18_150);
        let (mut sim, mut adapter) = subscribed(&ctx, &[Channel::Ticker]);
        let ticker = Happening::Ticker {
            market: btc(),
            last: dec("0.0025"),
            open: dec("0.0010"),
            high: dec("0.0025"),
            low: dec("0.0010"),
            volume: dec("10000"),
            quote_volume: dec("18"),
            bid: level("0.0024", "10"),
            ask: level("0.0026", "100"),
            time_ns: 1_672_515_782_136_000_000,
        };
        let mut out = Outbox::default();
        sim.encode(&ticker, EncodeFaults::default(), &mut out);
        let frame = &frames(&out)[0];
        assert!(frame.contains(r#""P":"150.000","w":"0.00180000""#), "{frame}");
        assert!(frame.contains(r#""F":1,"L":18150,"n":18150"#), "{frame}");
        let [Event::Ticker(parsed)] = &events(&mut adapter, &out)[..] else { panic!("not one ticker") };
        let text = |value: Option<Decimal>| value.unwrap().to_string();
        assert_eq!(text(parsed.last_price), "0.0025");
        assert_eq!(text(parsed.open_24h), "0.0010");
        assert_eq!(text(parsed.high_24h), "0.0025");
        assert_eq!(text(parsed.low_24h), "0.0010");
        assert_eq!(text(parsed.volume_24h), "10000");
        assert_eq!(text(parsed.quote_volume_24h), "18");
        assert_eq!(text(parsed.change_24h), "0.0015");
        assert_eq!((text(parsed.bid_price), text(parsed.bid_qty)), ("0.0024".into(), "10".into()));
        assert_eq!((text(parsed.ask_price), text(parsed.ask_qty)), ("0.0026".into(), "100".into()));
        assert_eq!(parsed.exchange_time_ns, 1_672_515_782_136_000_000);
    }

    #[test]
    fn derived_figures_round_half_away_from_zero() {
        assert_eq!(percent(dec("-1"), dec("3")).unwrap().to_string(), "-33.333");
        assert_eq!(percent(dec("2"), dec("3")).unwrap().to_string(), "66.667");
        assert_eq!(percent(dec("1"), dec("0")), None);
        assert_eq!(quotient(dec("18"), dec("10000"), 8).unwrap().to_string(), "0.00180000");
        assert_eq!(Decimal::checked_sub(dec("1.5"), dec("2.25")).unwrap().to_string(), "-0.75");
    }

    fn reply(sim: &mut BinanceSim, ctx: &TestContext, text: &str) -> (Verdict, Vec<String>) {
        later(ctx);
        let mut out = Outbox::default();
        let verdict = sim.on_message(text, ctx, &mut out);
        (verdict, frames(&out))
    }

    #[test]
    fn requests_are_answered_as_binance_does() {
        let ctx = context();
        let (mut sim, mut adapter) = (BinanceSim::default(), BinanceSpot::new());
        sim.on_open("/stream", &ctx, &mut Outbox::default()).unwrap();
        assert!(!sim.has_subscriptions());
        let cases = [
            (
                r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","xyzusdt@trade"],"id":1}"#,
                r#"{"result":null,"id":1}"#,
            ),
            (
                r#"{"method":"LIST_SUBSCRIPTIONS","id":2}"#,
                r#"{"result":["btcusdt@trade","xyzusdt@trade"],"id":2}"#,
            ),
            (
                r#"{"method":"SUBSCRIBE","params":["btcusdt@kline_1m"],"id":3}"#,
                r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":3}"#,
            ),
            (
                r#"{"method":"SUBSCRIBE","params":["BTCUSDT@trade"],"id":4}"#,
                r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":4}"#,
            ),
            (
                r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":"abc"}"#,
                r#"{"error":{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"},"id":null}"#,
            ),
            (
                r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"]}"#,
                r#"{"error":{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"},"id":null}"#,
            ),
            (r#"{"method":"SUBSCRIBE","params":[],"id":null}"#, r#"{"result":null,"id":null}"#),
            (
                "{",
                r#"{"error":{"code":3,"msg":"Invalid JSON: EOF while parsing an object at line 1 column 1"},"id":null}"#,
            ),
            (
                r#"{"params":[],"id":5}"#,
                r#"{"error":{"code":2,"msg":"Invalid request: missing field `method` at line 1 column 20"},"id":null}"#,
            ),
            (
                r#"{"method":"SUBSCRIPTION","id":6}"#,
                r#"{"error":{"code":2,"msg":"Invalid request: unknown variant `SUBSCRIPTION`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column 24"},"id":null}"#,
            ),
            (r#"{"method":"GET_PROPERTY","params":["combined"],"id":7}"#, r#"{"result":true,"id":7}"#),
            (
                r#"{"method":"SET_PROPERTY","params":["colour",true],"id":8}"#,
                r#"{"error":{"code":0,"msg":"Unknown property"},"id":8}"#,
            ),
            (
                r#"{"method":"SET_PROPERTY","params":["combined","yes"],"id":9}"#,
                r#"{"error":{"code":1,"msg":"Invalid value type: expected Boolean"},"id":9}"#,
            ),
            (r#"{"method":"UNSUBSCRIBE","params":["xyzusdt@trade"],"id":10}"#, r#"{"result":null,"id":10}"#),
        ];
        for (request, expected) in cases {
            let (verdict, replies) = reply(&mut sim, &ctx, request);
            assert_eq!((verdict, &replies[..]), (Verdict::Continue, &[expected.to_owned()][..]), "{request}");
            let parsed = control(&mut adapter, &replies[0]);
            assert!(
                matches!(parsed, Control::Ack { .. } | Control::Rejected { .. } | Control::Unknown),
                "{parsed:?}"
            );
        }
        assert!(sim.has_subscriptions());
        let (_, replies) = reply(&mut sim, &ctx, r#"{"method":"LIST_SUBSCRIPTIONS","id":11}"#);
        assert_eq!(replies[0], r#"{"result":["btcusdt@trade"],"id":11}"#);
    }

    #[test]
    fn unknown_symbols_are_accepted_and_silent_and_unsubscribe_stops_data() {
        let ctx = context();
        let (mut sim, adapter) = subscribed(&ctx, &[Channel::Trades]);
        let trade = Happening::Trade {
            market: btc(),
            price: dec("1"),
            qty: dec("1"),
            side: Side::Buy,
            trade_id: 1,
            time_ns: 0,
        };
        let mut requests = Vec::new();
        adapter.unsubscribe(12, &[(btc(), Channel::Trades)], &mut requests).unwrap();
        let (_, replies) = reply(&mut sim, &ctx, &requests[0]);
        assert_eq!(replies[0], r#"{"result":null,"id":12}"#);
        assert!(!sim.has_subscriptions());
        let mut out = Outbox::default();
        sim.encode(&trade, EncodeFaults::default(), &mut out);
        assert_eq!(out.frames(), 0);
    }

    #[test]
    fn limits_streams_and_message_rate() {
        let ctx = context();
        let mut sim = BinanceSim::default();
        sim.on_open("/stream", &ctx, &mut Outbox::default()).unwrap();
        let names: Vec<String> = (0..MAX_STREAMS).map(|n| format!("\"s{n}usdt@trade\"")).collect();
        let full = format!(r#"{{"method":"SUBSCRIBE","params":[{}],"id":1}}"#, names.join(","));
        assert_eq!(reply(&mut sim, &ctx, &full).1[0], r#"{"result":null,"id":1}"#);
        let over = r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":2}"#;
        let refusal = &reply(&mut sim, &ctx, over).1[0];
        assert_eq!(refusal, r#"{"error":{"code":4,"msg":"Too many subscriptions"},"id":2}"#);
        assert!(matches!(
            control(&mut BinanceSpot::new(), refusal),
            Control::Rejected { request_id: Some(2), .. }
        ));

        let list = r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#;
        later(&ctx);
        for _ in 0..MAX_MESSAGES_PER_SECOND {
            assert_eq!(sim.on_message(list, &ctx, &mut Outbox::default()), Verdict::Continue);
        }
        assert!(matches!(
            sim.on_message(list, &ctx, &mut Outbox::default()),
            Verdict::Close { code: 1008, .. }
        ));
    }

    #[test]
    fn url_streams_subscribe_at_open_and_raw_streams_are_unwrapped() {
        let ctx = context();
        let mut sim = BinanceSim::default();
        sim.on_open(
            "/stream?streams=btcusdt@trade/btcusdt@ticker&timeUnit=MILLISECOND",
            &ctx,
            &mut Outbox::default(),
        )
        .unwrap();
        assert!(sim.has_subscriptions());
        let (_, replies) = reply(&mut sim, &ctx, r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#);
        assert_eq!(replies[0], r#"{"result":["btcusdt@trade","btcusdt@ticker"],"id":1}"#);

        let mut raw = BinanceSim::default();
        raw.on_open("/ws/btcusdt@trade", &ctx, &mut Outbox::default()).unwrap();
        let trade = Happening::Trade {
            market: btc(),
            price: dec("2.5"),
            qty: dec("3"),
            side: Side::Sell,
            trade_id: 9,
            time_ns: 5_000_000,
        };
        let mut out = Outbox::default();
        raw.encode(&trade, EncodeFaults::default(), &mut out);
        let frame = &frames(&out)[0];
        assert!(frame.starts_with(r#"{"e":"trade""#), "{frame}");
        let [Event::Trade(parsed)] = &events(&mut BinanceSpot::new(), &out)[..] else {
            panic!("not one trade")
        };
        assert_eq!(
            (parsed.side, parsed.trade_id.as_str(), parsed.exchange_time_ns),
            (Side::Sell, "9", 5_000_000)
        );

        assert_eq!(BinanceSim::default().on_open("/foo", &ctx, &mut Outbox::default()).unwrap_err().0, 404);
        assert_eq!(
            BinanceSim::default().on_open("/ws/btcusdt@nope", &ctx, &mut Outbox::default()).unwrap_err().0,
            400
        );
    }

    #[test]
    fn depth_endpoint_refuses_as_binance() {
        let ctx = context();
        let mut sim = BinanceSim::default();
        assert_eq!(sim.http_get("/api/v3/ticker", &ctx), None);
        let (status, body) = sim.http_get("/api/v3/depth?symbol=NOPEUSDT", &ctx).unwrap();
        assert_eq!((status, body.as_str()), (400, r#"{"code":-1121,"msg":"Invalid symbol."}"#));
        assert_eq!(sim.http_get("/api/v3/depth", &ctx).unwrap().0, 400);
        assert_eq!(sim.http_get("/api/v3/depth?symbol=BTCUSDT&limit=x", &ctx).unwrap().0, 400);
        let (status, body) = sim.http_get("/api/v3/depth?symbol=BTCUSDT", &ctx).unwrap();
        assert_eq!((status, body.as_str()), (200, r#"{"lastUpdateId":0,"bids":[],"asks":[]}"#));
        let error =
            parse_depth_snapshot(&btc(), br#"{"code":-1121,"msg":"Invalid symbol."}"#, 0).unwrap_err();
        assert!(error.reason.contains("Invalid symbol."));
    }

    #[test]
    fn heartbeat_rules_are_binances() {
        let rules = BinanceSim::default().heartbeat_rules();
        assert_eq!(rules.server_ping_interval, Some(Duration::from_secs(20)));
        assert_eq!(rules.pong_timeout, Some(Duration::from_mins(1)));
        assert_eq!((rules.client_idle_timeout, rules.subscribe_within), (None, None));
        assert_eq!(BinanceSim::default().venue(), Venue::Binance);
    }
}
