//! OKX v5 public WebSocket: one endpoint (`/ws/v5/public`) for spot, perpetual swaps and dated
//! futures — the `instId` says which (`BTC-USDT`, `BTC-USDT-SWAP`, `BTC-USD-250328`).
//!
//! Owns:
//! - [`Okx`]: the [`Adapter`] — channel mapping `trades` / `bbo-tbt` / `books` / `tickers`,
//!   subscribe requests with `id` (echoed in acks and errors), and the parser.
//! - [`checksum`]: OKX's CRC32 over the top 25 levels of each side, which the order book and
//!   the simulator share.
//!
//! Invariants and protocol facts (`PROTOCOLS.md` §3):
//! - Text `pong` answers our text `ping` (every 25 s: OKX cuts a connection silent for 30 s).
//! - `{"event":"notice","code":"64008",…}` announces a service upgrade disconnect →
//!   [`Control::Reconnect`].
//! - `books`: `action` `snapshot` then `update`; `seqId` → `last_sequence`, `prevSeqId` →
//!   `prev_sequence` (`-1` on snapshots → `None`); `checksum` `0` means absent (OKX sends 0
//!   today).
//! - `trades.side` is the taker's side.
//! - `tickers` has no change fields: `change_24h` is `last − open24h` computed exactly;
//!   `change_pct_24h` is left `None` — the exact quotient `change / open × 100` rarely has a
//!   finite decimal expansion, and a field present on some ticks only would mislead.
//! - Volumes: spot `vol24h` is base and `volCcy24h` quote; for swaps and futures `vol24h`
//!   counts contracts and `volCcy24h` the base currency, so `volume_24h = volCcy24h` and the
//!   quote volume is absent.
//! - A `bbo-tbt` push with an empty side carries no best bid/offer and yields no event.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Action, Adapter, AppPing, Control, Spec, VenueError, fields};
use crate::model::{
    Bbo, BookUpdate, Channel, Decimal, Event, InstrumentKind, Level, MarketCache, MarketRef, PlainText, Side,
    Ticker, Trade, TradeId, Venue,
};

/// Production URL of the public endpoint.
pub const URL: &str = "wss://ws.okx.com:8443/ws/v5/public";

/// Levels per side the checksum covers.
pub const CHECKSUM_DEPTH: usize = 25;

/// OKX's "subscribe to fewer than 30 depth channels per connection" advice, applied to every
/// channel (the spec has one number for all).
const MAX_PER_CONNECTION: usize = 29;

/// Subscribe requests allowed per connection per hour.
const REQUESTS_PER_HOUR: u32 = 480;

/// Requests that may go at once; the refill rate is lowered by the same amount so that no
/// one-hour window holds more than [`REQUESTS_PER_HOUR`].
const BURST: u32 = 20;

/// The code of the service-upgrade notice.
const NOTICE_SERVICE_UPGRADE: &str = "64008";

/// The endpoint's facts.
#[must_use]
pub fn spec() -> Spec {
    Spec {
        venue: Venue::Okx,
        endpoint: "public",
        url: URL,
        max_per_request: MAX_PER_CONNECTION,
        max_per_connection: MAX_PER_CONNECTION,
        requests_per_second: f64::from(REQUESTS_PER_HOUR - BURST) / 3600.0,
        burst: BURST,
        app_ping: Some(AppPing { interval: Duration::from_secs(25), message: "ping" }),
        subscribe_within: Some(Duration::from_secs(30)),
    }
}

/// The OKX adapter (every kind shares the public endpoint).
///
/// # Errors
///
/// None today: spot, perpetuals and futures are all served.
pub fn adapter(kind: InstrumentKind) -> Result<Box<dyn Adapter>, VenueError> {
    match kind {
        InstrumentKind::Spot | InstrumentKind::Perpetual | InstrumentKind::Future(_) => {
            Ok(Box::new(Okx::new()))
        }
    }
}

/// OKX's channel name for `channel`.
#[must_use]
pub const fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Trades => "trades",
        Channel::Bbo => "bbo-tbt",
        Channel::Book => "books",
        Channel::Ticker => "tickers",
    }
}

/// OKX's checksum of a book: the first [`CHECKSUM_DEPTH`] bids (best first) and asks (best
/// first) interleaved as `bid1px:bid1sz:ask1px:ask1sz:bid2px:…` (a side with fewer levels just
/// stops contributing), CRC32 (IEEE) of that text read as a signed 32-bit integer.
///
/// OKX computes it over the price and size *text as sent*: each level is printed with
/// [`Decimal`]'s `Display`, which reproduces the wire text for every canonical plain number
/// (OKX sends no exponents nor superfluous zeros), because a `Decimal` keeps the scale it was
/// parsed with. A book that stores levels must therefore keep the `Decimal` of the latest
/// message for a price, not an equal one of another scale.
#[must_use]
pub fn checksum(bids: impl Iterator<Item = Level>, asks: impl Iterator<Item = Level>) -> i32 {
    // The whole string on the stack, hashed in one call: CRC32 over a few kilobytes at once is
    // several times faster than over a hundred pieces. 50 levels of two decimals (at most 49
    // bytes each) and two separators fit.
    let mut input = arrayvec::ArrayVec::<u8, { 2 * CHECKSUM_DEPTH * (2 * 49 + 2) }>::new();
    let mut text = PlainText::default();
    let mut bids = bids.take(CHECKSUM_DEPTH).fuse();
    let mut asks = asks.take(CHECKSUM_DEPTH).fuse();
    loop {
        let (bid, ask) = (bids.next(), asks.next());
        if bid.is_none() && ask.is_none() {
            break;
        }
        for level in [bid, ask].into_iter().flatten() {
            if !input.is_empty() {
                input.push(b':');
            }
            let _ = input.try_extend_from_slice(level.price.plain(&mut text).as_bytes());
            input.push(b':');
            let _ = input.try_extend_from_slice(level.qty.plain(&mut text).as_bytes());
        }
    }
    i32::from_ne_bytes(crc32fast::hash(&input).to_ne_bytes())
}

/// The OKX public endpoint's adapter.
#[derive(Debug)]
pub struct Okx {
    spec: Spec,
    markets: MarketCache,
}

impl Default for Okx {
    fn default() -> Self {
        Self::new()
    }
}

impl Okx {
    /// A fresh adapter.
    #[must_use]
    pub fn new() -> Self {
        Self { spec: spec(), markets: MarketCache::new(Venue::Okx, None) }
    }

    fn write_request(
        &self,
        op: &str,
        request_id: u64,
        pairs: &[(MarketRef, Channel)],
        out: &mut Vec<String>,
    ) -> Result<(), VenueError> {
        self.spec.check_request_size(pairs.len())?;
        let mut message = String::with_capacity(48 + pairs.len() * 48);
        let _ = write!(message, r#"{{"id":"{request_id}","op":"{op}","args":["#);
        for (i, (market, channel)) in pairs.iter().enumerate() {
            if market.venue != Venue::Okx {
                return Err(VenueError::Unsupported {
                    venue: Venue::Okx,
                    endpoint: self.spec.endpoint,
                    what: format!("{} market {}", market.venue, market.unified),
                });
            }
            if i > 0 {
                message.push(',');
            }
            // Native OKX symbols are letters, digits and '-': nothing to escape.
            let _ =
                write!(message, r#"{{"channel":"{}","instId":"{}"}}"#, channel_name(*channel), market.native);
        }
        message.push_str("]}");
        out.push(message);
        Ok(())
    }

    fn parse_message(
        &mut self,
        raw: &[u8],
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        let envelope: Envelope<'_> = super::json::from_slice(raw)?;
        if let Some(event) = envelope.event {
            return Ok(control(event, &envelope));
        }
        let (Some(arg), Some(data)) = (envelope.arg, envelope.data) else {
            return Ok(Control::Unknown);
        };
        let Some(inst_id) = arg.inst_id else {
            return Ok(Control::Unknown);
        };
        let kind = match arg.channel {
            "trades" => Channel::Trades,
            "bbo-tbt" => Channel::Bbo,
            "books" => Channel::Book,
            "tickers" => Channel::Ticker,
            _ => return Ok(Control::Unknown),
        };
        let market = self.markets.get(inst_id).map_err(|e| e.to_string())?;
        let data = data.get();
        match kind {
            Channel::Trades => parse_trades(data, market, receive_time_ns, events),
            Channel::Bbo => parse_bbo(data, market, receive_time_ns, events),
            Channel::Book => {
                let is_snapshot = match envelope.action {
                    Some("snapshot") => true,
                    Some("update") => false,
                    Some(other) => return Err(format!("unknown books action {other:?}")),
                    None => return Err("books message without action".into()),
                };
                parse_books(data, market, is_snapshot, receive_time_ns, events)
            }
            Channel::Ticker => parse_tickers(data, market, receive_time_ns, events),
        }?;
        Ok(Control::Data)
    }
}

impl Adapter for Okx {
    fn spec(&self) -> &Spec {
        &self.spec
    }

    /// OKX answers each argument (one per pair) with an ack or an error of its own.
    fn answers_expected(&self, pairs: usize, _messages: usize) -> usize {
        pairs
    }

    fn request(
        &self,
        action: Action,
        request_id: u64,
        pairs: &[(MarketRef, Channel)],
        out: &mut Vec<String>,
    ) -> Result<(), VenueError> {
        let op = match action {
            Action::Subscribe => "subscribe",
            Action::Unsubscribe => "unsubscribe",
        };
        self.write_request(op, request_id, pairs, out)
    }

    /// OKX's answer to a text `ping` is the text `pong`.
    fn read_other(&mut self, raw: &[u8]) -> Result<Control, String> {
        if raw == b"pong" { Ok(Control::Pong) } else { Err("not a JSON object, nor `pong`".to_owned()) }
    }

    fn read_message(
        &mut self,
        raw: &[u8],
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        self.parse_message(raw, receive_time_ns, events)
    }
}

/// Any message: a push (`arg` + `data`, `action` for books) or an event (`event` + the rest).
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    event: Option<&'a str>,
    #[serde(borrow, default)]
    id: Option<&'a str>,
    #[serde(borrow, default)]
    code: Option<&'a RawValue>,
    #[serde(borrow, default)]
    msg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arg: Option<Arg<'a>>,
    #[serde(borrow, default)]
    action: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Arg<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(borrow, default, rename = "instId")]
    inst_id: Option<&'a str>,
}

/// What an `event` message means.
fn control(event: &str, envelope: &Envelope<'_>) -> Control {
    let request_id = match envelope.id {
        None | Some("") => None,
        Some(id) => match id.parse::<u64>() {
            Ok(id) => Some(id),
            // Not an id we sent.
            Err(_) => return Control::Unknown,
        },
    };
    let code = envelope.code.map(|code| code.get().trim_matches('"'));
    let msg = envelope.msg.as_deref().unwrap_or_default();
    match event {
        "subscribe" | "unsubscribe" => Control::Ack { request_id },
        "error" => Control::Rejected { request_id, reason: format!("{}: {msg}", code.unwrap_or("?")) },
        "notice" if code == Some(NOTICE_SERVICE_UPGRADE) => {
            Control::Reconnect { reason: format!("{NOTICE_SERVICE_UPGRADE}: {msg}") }
        }
        _ => Control::Unknown,
    }
}

/// A price level `[price, size, "0", orderCount]`, read as its first two strings.
#[repr(transparent)]
struct WireLevel(Level);

impl<'de> Deserialize<'de> for WireLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LevelVisitor;
        impl<'de> Visitor<'de> for LevelVisitor {
            type Value = WireLevel;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array [price, size, …] of strings")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireLevel, A::Error> {
                let price: &str = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let qty: &str = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                let price = decimal(price, "price").map_err(de::Error::custom)?;
                let qty = quantity(qty, "size").map_err(de::Error::custom)?;
                Ok(WireLevel(Level { price, qty }))
            }
        }
        deserializer.deserialize_seq(LevelVisitor)
    }
}

fn levels(wire: Vec<WireLevel>) -> Vec<Level> {
    // Same layout: the collect reuses the allocation.
    wire.into_iter().map(|level| level.0).collect()
}

/// OKX sends decimals in plain notation only, and its checksum is over the text as sent, which
/// a value read from `1.5E+3` would not print back: `text`, if it has no exponent.
fn plain<'a>(text: &'a str, field: &str) -> Result<&'a str, String> {
    if text.bytes().any(|b| b | 0x20 == b'e') {
        return Err(format!("{field}: exponent in {text:?}"));
    }
    Ok(text)
}

/// A decimal in plain notation.
fn decimal(text: &str, field: &str) -> Result<Decimal, String> {
    fields::decimal(plain(text, field)?, field)
}

/// A non-negative decimal in plain notation.
fn quantity(text: &str, field: &str) -> Result<Decimal, String> {
    fields::quantity(plain(text, field)?, field)
}

/// A ticker field in plain notation: `""` (OKX's "none") is absent.
fn optional(text: Option<&str>, field: &str) -> Result<Option<Decimal>, String> {
    fields::optional_or_blank(text.map(|text| plain(text, field)).transpose()?, field)
}

/// OKX's millisecond timestamp text as Unix nanoseconds.
fn time_ns(ms: &str) -> Result<u64, String> {
    if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad timestamp {ms:?}"));
    }
    fields::millis_to_ns(ms.parse::<u64>().map_err(|_| format!("timestamp out of range {ms:?}"))?)
}

fn rows<'a, T: Deserialize<'a>>(data: &'a str) -> Result<Vec<T>, String> {
    super::json::from_str(data)
}

#[derive(Deserialize)]
struct TradeRow<'a> {
    #[serde(borrow, rename = "tradeId")]
    trade_id: &'a str,
    #[serde(borrow)]
    px: &'a str,
    #[serde(borrow)]
    sz: &'a str,
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow)]
    ts: &'a str,
}

fn parse_trades(
    data: &str,
    market: &MarketRef,
    receive_time_ns: u64,
    events: &mut Vec<Event>,
) -> Result<(), String> {
    for row in rows::<TradeRow<'_>>(data)? {
        let side = match row.side {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            other => return Err(format!("unknown side {other:?}")),
        };
        let trade_id =
            TradeId::from(row.trade_id).map_err(|_| format!("trade id too long: {:?}", row.trade_id))?;
        events.push(Event::Trade(Trade {
            market: Arc::clone(market),
            price: decimal(row.px, "px")?,
            qty: quantity(row.sz, "sz")?,
            side,
            trade_id,
            exchange_time_ns: time_ns(row.ts)?,
            receive_time_ns,
        }));
    }
    Ok(())
}

#[derive(Deserialize)]
struct BookRow<'a> {
    asks: Vec<WireLevel>,
    bids: Vec<WireLevel>,
    #[serde(borrow)]
    ts: &'a str,
    #[serde(default, rename = "seqId")]
    seq_id: Option<i64>,
    #[serde(default, rename = "prevSeqId")]
    prev_seq_id: Option<i64>,
    #[serde(default)]
    checksum: Option<i64>,
}

fn parse_books(
    data: &str,
    market: &MarketRef,
    is_snapshot: bool,
    receive_time_ns: u64,
    events: &mut Vec<Event>,
) -> Result<(), String> {
    for row in rows::<BookRow<'_>>(data)? {
        let last_sequence = match row.seq_id {
            Some(seq) => Some(u64::try_from(seq).map_err(|_| format!("negative seqId {seq}"))?),
            None => None,
        };
        let prev_sequence = match row.prev_seq_id {
            // Snapshots carry -1: there is no previous message.
            None | Some(-1) => None,
            Some(seq) => Some(u64::try_from(seq).map_err(|_| format!("bad prevSeqId {seq}"))?),
        };
        let checksum = match row.checksum {
            None | Some(0) => None,
            Some(sum) if i32::try_from(sum).is_ok() => Some(sum),
            Some(sum) => return Err(format!("checksum {sum} is not a signed 32-bit integer")),
        };
        events.push(Event::Book(BookUpdate {
            market: Arc::clone(market),
            is_snapshot,
            bids: levels(row.bids),
            asks: levels(row.asks),
            first_sequence: None,
            last_sequence,
            prev_sequence,
            checksum,
            exchange_time_ns: time_ns(row.ts)?,
            receive_time_ns,
        }));
    }
    Ok(())
}

#[derive(Deserialize)]
struct BboRow<'a> {
    asks: Vec<WireLevel>,
    bids: Vec<WireLevel>,
    #[serde(borrow)]
    ts: &'a str,
}

fn parse_bbo(
    data: &str,
    market: &MarketRef,
    receive_time_ns: u64,
    events: &mut Vec<Event>,
) -> Result<(), String> {
    for row in rows::<BboRow<'_>>(data)? {
        let exchange_time_ns = time_ns(row.ts)?;
        let (Some(bid), Some(ask)) = (row.bids.first(), row.asks.first()) else {
            continue;
        };
        events.push(Event::Bbo(Bbo {
            market: Arc::clone(market),
            bid_price: bid.0.price,
            bid_qty: bid.0.qty,
            ask_price: ask.0.price,
            ask_qty: ask.0.qty,
            exchange_time_ns,
            receive_time_ns,
        }));
    }
    Ok(())
}

#[derive(Deserialize)]
struct TickerRow<'a> {
    #[serde(borrow, default)]
    last: Option<&'a str>,
    #[serde(borrow, default, rename = "askPx")]
    ask_px: Option<&'a str>,
    #[serde(borrow, default, rename = "askSz")]
    ask_sz: Option<&'a str>,
    #[serde(borrow, default, rename = "bidPx")]
    bid_px: Option<&'a str>,
    #[serde(borrow, default, rename = "bidSz")]
    bid_sz: Option<&'a str>,
    #[serde(borrow, default, rename = "open24h")]
    open_24h: Option<&'a str>,
    #[serde(borrow, default, rename = "high24h")]
    high_24h: Option<&'a str>,
    #[serde(borrow, default, rename = "low24h")]
    low_24h: Option<&'a str>,
    #[serde(borrow, default, rename = "vol24h")]
    vol_24h: Option<&'a str>,
    #[serde(borrow, default, rename = "volCcy24h")]
    vol_ccy_24h: Option<&'a str>,
    #[serde(borrow)]
    ts: &'a str,
}

fn parse_tickers(
    data: &str,
    market: &MarketRef,
    receive_time_ns: u64,
    events: &mut Vec<Event>,
) -> Result<(), String> {
    for row in rows::<TickerRow<'_>>(data)? {
        let last_price = optional(row.last, "last")?;
        let open_24h = optional(row.open_24h, "open24h")?;
        let (vol, vol_ccy) = (optional(row.vol_24h, "vol24h")?, optional(row.vol_ccy_24h, "volCcy24h")?);
        let (volume_24h, quote_volume_24h) = match market.kind {
            InstrumentKind::Spot => (vol, vol_ccy),
            // Derivatives count vol24h in contracts and volCcy24h in the base currency.
            InstrumentKind::Perpetual | InstrumentKind::Future(_) => (vol_ccy, None),
        };
        let change_24h = match (last_price, open_24h) {
            (Some(last), Some(open)) => Decimal::checked_sub(last, open),
            _ => None,
        };
        events.push(Event::Ticker(Box::new(Ticker {
            market: Arc::clone(market),
            last_price,
            bid_price: optional(row.bid_px, "bidPx")?,
            bid_qty: optional(row.bid_sz, "bidSz")?,
            ask_price: optional(row.ask_px, "askPx")?,
            ask_qty: optional(row.ask_sz, "askSz")?,
            open_24h,
            high_24h: optional(row.high_24h, "high24h")?,
            low_24h: optional(row.low_24h, "low24h")?,
            volume_24h,
            quote_volume_24h,
            change_24h,
            change_pct_24h: None,
            exchange_time_ns: time_ns(row.ts)?,
            receive_time_ns,
        })));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::venues::ParseError;
    use proptest::prelude::*;

    use super::*;
    use crate::model::market::intern;

    const BOOKS_SNAPSHOT: &str = include_str!("../../tests/fixtures/okx/books_snapshot.json");
    const BOOKS_UPDATE: &str = include_str!("../../tests/fixtures/okx/books_update.json");
    const BBO: &str = include_str!("../../tests/fixtures/okx/bbo-tbt_push.json");
    const TRADES: &str = include_str!("../../tests/fixtures/okx/trades_push.json");
    const TICKERS: &str = include_str!("../../tests/fixtures/okx/tickers_push.json");
    const SUBSCRIBE_REQUEST: &str = include_str!("../../tests/fixtures/okx/subscribe_request.json");
    const SUBSCRIBE_ACK: &str = include_str!("../../tests/fixtures/okx/subscribe_ack.json");
    const ERROR: &str = include_str!("../../tests/fixtures/okx/error_invalid_request.json");
    const NOTICE: &str = include_str!("../../tests/fixtures/okx/notice_service_upgrade.json");

    const GOOD: [&str; 5] = [BOOKS_SNAPSHOT, BOOKS_UPDATE, BBO, TRADES, TICKERS];

    fn dec(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    fn level(price: &str, qty: &str) -> Level {
        Level { price: dec(price), qty: dec(qty) }
    }

    fn parse(text: &str) -> (Result<Control, ParseError>, Vec<Event>) {
        let mut events = Vec::new();
        let control = Okx::new().parse(text.as_bytes(), 42, &mut events);
        (control, events)
    }

    /// `base` with `from` replaced, which must occur.
    fn edit(base: &str, from: &str, to: &str) -> String {
        assert!(base.contains(from), "{from:?} not in the fixture");
        base.replace(from, to)
    }

    fn one_event(text: &str) -> Event {
        let (control, mut events) = parse(text);
        assert_eq!(control.unwrap(), Control::Data);
        assert_eq!(events.len(), 1, "{events:?}");
        events.pop().unwrap()
    }

    #[test]
    fn checksum_matches_the_docs_worked_examples() {
        let bids = [level("3366.1", "7"), level("3366", "6")];
        let asks = [level("3366.8", "9"), level("3368", "8")];
        assert_eq!(checksum(bids.into_iter(), asks.into_iter()), -1_881_014_294);
        let bids = [level("3366.1", "7")];
        let asks = [level("3366.8", "9"), level("3368", "8"), level("3372", "8")];
        assert_eq!(checksum(bids.into_iter(), asks.into_iter()), 831_078_360);
    }

    #[test]
    fn checksum_prints_levels_as_sent() {
        for text in ["3366.1", "3366", "0.5000", "8476.98", "0.00000001", "100"] {
            assert_eq!(dec(text).to_string(), text);
        }
        // "0.5000" and "0.5" are equal values with different texts, hence different sums.
        let a = checksum([level("0.5000", "1")].into_iter(), std::iter::empty());
        let b = checksum([level("0.5", "1")].into_iter(), std::iter::empty());
        assert_ne!(a, b);
        let crc = crc32fast::hash(b"0.5000:1");
        assert_eq!(a, i32::from_ne_bytes(crc.to_ne_bytes()));
    }

    #[test]
    fn checksum_takes_25_levels_per_side() {
        let bids: Vec<Level> = (0..30).map(|i| level(&format!("{}", 100 - i), "1")).collect();
        let asks: Vec<Level> = (0..30).map(|i| level(&format!("{}", 200 + i), "2")).collect();
        let mut text = String::new();
        for i in 0..25 {
            if i > 0 {
                text.push(':');
            }
            let _ = write!(text, "{}:1:{}:2", 100 - i, 200 + i);
        }
        let expected = i32::from_ne_bytes(crc32fast::hash(text.as_bytes()).to_ne_bytes());
        assert_eq!(checksum(bids.into_iter(), asks.into_iter()), expected);
        assert_eq!(checksum(std::iter::empty(), std::iter::empty()), 0);
    }

    #[test]
    fn spec_is_the_public_endpoint() {
        let spec = spec();
        assert_eq!(spec.url, "wss://ws.okx.com:8443/ws/v5/public");
        assert_eq!(spec.endpoint, "public");
        assert_eq!(spec.app_ping.unwrap().message, "ping");
        assert!(spec.app_ping.unwrap().interval < Duration::from_secs(30));
        // No one-hour window holds more than 480 requests.
        let per_hour = f64::from(spec.burst) + spec.requests_per_second * 3600.0;
        assert!(per_hour <= 480.0 + 1e-9, "{per_hour}");
        for kind in [InstrumentKind::Spot, InstrumentKind::Perpetual] {
            assert_eq!(adapter(kind).unwrap().spec(), &spec);
        }
    }

    #[test]
    fn subscribe_names_channels_and_carries_the_id() {
        let btc = intern(Venue::Okx, None, "BTC-USDT").unwrap();
        let swap = intern(Venue::Okx, None, "BTC-USDT-SWAP").unwrap();
        let future = intern(Venue::Okx, None, "BTC-USD-250328").unwrap();
        let pairs = [
            (Arc::clone(&btc), Channel::Trades),
            (Arc::clone(&swap), Channel::Bbo),
            (Arc::clone(&future), Channel::Book),
            (Arc::clone(&btc), Channel::Ticker),
        ];
        let mut out = Vec::new();
        Okx::new().subscribe(7, &pairs, &mut out).unwrap();
        Okx::new().unsubscribe(8, &pairs[..1], &mut out).unwrap();
        assert_eq!(
            out[0],
            r#"{"id":"7","op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"},{"channel":"bbo-tbt","instId":"BTC-USDT-SWAP"},{"channel":"books","instId":"BTC-USD-250328"},{"channel":"tickers","instId":"BTC-USDT"}]}"#
        );
        assert_eq!(
            out[1],
            r#"{"id":"8","op":"unsubscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}"#
        );
        let request: serde_json::Value = serde_json::from_str(SUBSCRIBE_REQUEST).unwrap();
        let mut ours = Vec::new();
        Okx::new().subscribe(1512, &[(btc, Channel::Book)], &mut ours).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&ours[0]).unwrap(), request);
    }

    #[test]
    fn subscribe_refuses_too_many_and_foreign_markets() {
        let btc = intern(Venue::Okx, None, "BTC-USDT").unwrap();
        let pairs = vec![(btc, Channel::Trades); MAX_PER_CONNECTION + 1];
        let mut out = Vec::new();
        assert!(matches!(Okx::new().subscribe(1, &pairs, &mut out), Err(VenueError::TooMany { .. })));
        let binance = intern(Venue::Binance, None, "BTCUSDT").unwrap();
        assert!(matches!(
            Okx::new().subscribe(1, &[(binance, Channel::Trades)], &mut out),
            Err(VenueError::Unsupported { .. })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn books_snapshot_field_by_field() {
        let Event::Book(book) = one_event(BOOKS_SNAPSHOT) else { panic!("not a book") };
        assert_eq!(&*book.market.unified, "BTC/USDT");
        assert_eq!(&*book.market.native, "BTC-USDT");
        assert!(book.is_snapshot);
        assert_eq!(book.asks.len(), 8);
        assert_eq!(book.bids.len(), 8);
        assert_eq!(book.asks[0], level("8476.98", "415"));
        assert_eq!(book.asks[1].price.to_string(), "8477");
        assert_eq!(book.asks[7], level("8506.96", "100"));
        assert_eq!(book.bids[0], level("8476.97", "256"));
        assert_eq!(book.bids[3].price.to_string(), "8475.3");
        assert_eq!(book.bids[7], level("8446", "95"));
        assert_eq!(book.first_sequence, None);
        assert_eq!(book.last_sequence, Some(123_456));
        assert_eq!(book.prev_sequence, None);
        assert_eq!(book.checksum, Some(-855_196_043));
        assert_eq!(book.exchange_time_ns, 1_597_026_383_085_000_000);
        assert_eq!(book.receive_time_ns, 42);
        // The docs' printed checksum is illustrative: it does not match their levels.
        let computed = checksum(book.bids.iter().copied(), book.asks.iter().copied());
        assert_eq!(computed, -2_102_840_145);
    }

    #[test]
    fn books_update_and_zero_checksum() {
        let Event::Book(book) = one_event(BOOKS_UPDATE) else { panic!("not a book") };
        assert!(!book.is_snapshot);
        assert_eq!(book.last_sequence, Some(123_457));
        assert_eq!(book.prev_sequence, Some(123_456));
        let zero = BOOKS_UPDATE.replace("-855196043", "0");
        let Event::Book(book) = one_event(&zero) else { panic!("not a book") };
        assert_eq!(book.checksum, None);
        let keepalive = r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1","checksum":0,"prevSeqId":5,"seqId":5}]}"#;
        let Event::Book(book) = one_event(keepalive) else { panic!("not a book") };
        assert!(book.bids.is_empty() && book.asks.is_empty());
        assert_eq!((book.prev_sequence, book.last_sequence), (Some(5), Some(5)));
        let deleted = r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["1.5","0","0","0"]],"bids":[],"ts":"1","prevSeqId":5,"seqId":9}]}"#;
        let Event::Book(book) = one_event(deleted) else { panic!("not a book") };
        assert!(book.asks[0].qty.is_zero());
    }

    #[test]
    fn bbo_tbt_field_by_field() {
        let Event::Bbo(bbo) = one_event(BBO) else { panic!("not a bbo") };
        assert_eq!(&*bbo.market.unified, "BCH/USDT-PERP");
        assert_eq!(bbo.bid_price.to_string(), "111.05");
        assert_eq!(bbo.bid_qty.to_string(), "57745");
        assert_eq!(bbo.ask_price.to_string(), "111.06");
        assert_eq!(bbo.ask_qty.to_string(), "55154");
        assert_eq!(bbo.exchange_time_ns, 1_670_324_386_802_000_000);
        assert_eq!(bbo.receive_time_ns, 42);
        let one_sided = BBO
            .replace(
                r#""111.05",
          "57745",
          "0",
          "2""#,
                "",
            )
            .replace("[\n        [\n          \n        ]\n      ]", "[]");
        let (control, events) = parse(&one_sided);
        assert_eq!(control.unwrap(), Control::Data);
        assert!(events.is_empty(), "{one_sided}");
    }

    #[test]
    fn trades_field_by_field() {
        let Event::Trade(trade) = one_event(TRADES) else { panic!("not a trade") };
        assert_eq!(&*trade.market.unified, "BTC/USDT");
        assert_eq!(trade.price.to_string(), "42219.9");
        assert_eq!(trade.qty.to_string(), "0.12060306");
        assert_eq!(trade.side, Side::Buy);
        assert_eq!(trade.trade_id.as_str(), "130639474");
        assert_eq!(trade.exchange_time_ns, 1_630_048_897_897_000_000);
        assert_eq!(trade.receive_time_ns, 42);
        let Event::Trade(sell) = one_event(&TRADES.replace("\"buy\"", "\"sell\"")) else { panic!() };
        assert_eq!(sell.side, Side::Sell);
    }

    #[test]
    fn tickers_field_by_field() {
        let Event::Ticker(ticker) = one_event(TICKERS) else { panic!("not a ticker") };
        assert_eq!(&*ticker.market.unified, "BTC/USDT");
        assert_eq!(ticker.last_price, Some(dec("9999.99")));
        assert_eq!(ticker.ask_price, Some(dec("9999.99")));
        assert_eq!(ticker.ask_qty, Some(dec("11")));
        assert_eq!(ticker.bid_price, Some(dec("8888.88")));
        assert_eq!(ticker.bid_qty, Some(dec("5")));
        assert_eq!(ticker.open_24h, Some(dec("9000")));
        assert_eq!(ticker.high_24h, Some(dec("10000")));
        assert_eq!(ticker.low_24h, Some(dec("8888.88")));
        assert_eq!(ticker.volume_24h, Some(dec("2222")));
        assert_eq!(ticker.quote_volume_24h, Some(dec("2222")));
        assert_eq!(ticker.change_24h.unwrap().to_string(), "999.99");
        assert_eq!(ticker.change_pct_24h, None);
        assert_eq!(ticker.exchange_time_ns, 1_597_026_383_085_000_000);
        assert_eq!(ticker.receive_time_ns, 42);
    }

    #[test]
    fn derivative_tickers_take_volume_in_base_and_empty_fields_as_absent() {
        let swap = TICKERS
            .replace("\"BTC-USDT\"", "\"BTC-USDT-SWAP\"")
            .replace("\"SPOT\"", "\"SWAP\"")
            .replace(r#""volCcy24h": "2222""#, r#""volCcy24h": "3.5""#)
            .replace(r#""bidPx": "8888.88""#, r#""bidPx": """#);
        let Event::Ticker(ticker) = one_event(&swap) else { panic!("not a ticker") };
        assert_eq!(&*ticker.market.unified, "BTC/USDT-PERP");
        assert_eq!(ticker.volume_24h, Some(dec("3.5")));
        assert_eq!(ticker.quote_volume_24h, None);
        assert_eq!(ticker.bid_price, None);
        let negative = TICKERS.replace(r#""last": "9999.99""#, r#""last": "8999.5""#);
        let Event::Ticker(ticker) = one_event(&negative) else { panic!("not a ticker") };
        assert_eq!(ticker.change_24h.unwrap().to_string(), "-0.5");
    }

    #[test]
    fn acks_errors_notices_pongs() {
        assert_eq!(parse(SUBSCRIBE_ACK).0.unwrap(), Control::Ack { request_id: Some(1512) });
        let unsub =
            r#"{"event":"unsubscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}"#;
        assert_eq!(parse(unsub).0.unwrap(), Control::Ack { request_id: None });
        let Control::Rejected { request_id, reason } = parse(ERROR).0.unwrap() else {
            panic!("not rejected")
        };
        assert_eq!(request_id, Some(1512));
        assert!(reason.starts_with("60012: Invalid request: {\"op\": \"subscribe\", \"argss\""), "{reason}");
        let live = r#"{"event":"error","msg":"Wrong URL or channel:tickers,instId:NOPE-USDT doesn't exist. Please use the correct URL, channel and parameters referring to API document.","code":"60018","connId":"0d0c61a5"}"#;
        let Control::Rejected { request_id, reason } = parse(live).0.unwrap() else { panic!("not rejected") };
        assert_eq!(request_id, None);
        assert!(reason.starts_with("60018: Wrong URL or channel:tickers,instId:NOPE-USDT"));
        let Control::Reconnect { reason } = parse(NOTICE).0.unwrap() else { panic!("not a reconnect") };
        assert!(reason.contains("service upgrade"));
        assert_eq!(parse("pong").0.unwrap(), Control::Pong);
        for unknown in [
            r#"{"event":"notice","code":"1","msg":"hello"}"#,
            r#"{"event":"channel-conn-count","channel":"orders","connCount":"2","connId":"a"}"#,
            r#"{"id":"abc","event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"}}"#,
            r#"{"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[]}"#,
            r#"{"arg":{"channel":"instruments","instType":"SPOT"},"data":[]}"#,
            r#"{"something":"else"}"#,
        ] {
            let (control, events) = parse(unknown);
            assert_eq!(control.unwrap(), Control::Unknown, "{unknown}");
            assert!(events.is_empty());
        }
    }

    #[test]
    fn bad_input_is_an_error_and_the_next_message_parses() {
        let long_id = "9".repeat(49);
        let digits = "1".repeat(39);
        let huge = format!(
            r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"update","data":[{{"asks":[{}["x","1"]],"bids":[],"ts":"1","seqId":1,"prevSeqId":0}}]}}"#,
            r#"["1","1","0","1"],"#.repeat(10_000)
        );
        let bad: Vec<String> = vec![
            String::new(),
            "ping".into(),
            "{".into(),
            "[1,2]".into(),
            "null".into(),
            TRADES[..TRADES.len() / 2].into(),
            edit(TRADES, "\"42219.9\"", "42219.9"),
            edit(TRADES, "\"42219.9\"", "\"1e5\"x"),
            edit(TRADES, "\"42219.9\"", &format!("\"{digits}\"")),
            edit(TRADES, "\"0.12060306\"", "\"-1\""),
            edit(TRADES, "\"buy\"", "\"up\""),
            edit(TRADES, "\"130639474\"", &format!("\"{long_id}\"")),
            edit(TRADES, "\"1630048897897\"", "\"99999999999999999999\""),
            edit(TRADES, "\"1630048897897\"", "\"-1\""),
            edit(TRADES, "\"BTC-USDT\"", "\"BTC-USD-250328-100000-C\""),
            edit(BOOKS_UPDATE, "\"update\"", "\"other\""),
            edit(BOOKS_UPDATE, "\"action\": \"update\",", ""),
            edit(BOOKS_UPDATE, "123457", "-3"),
            edit(BOOKS_UPDATE, "-855196043", "99999999999"),
            edit(BOOKS_UPDATE, "\"8477\",\n          \"7\",\n          \"0\",\n          \"2\"", "\"8477\""),
            edit(BOOKS_UPDATE, "\"415\"", "\"1.5E+3\""),
            edit(TRADES, "\"42219.9\"", "\"4.22199e4\""),
            edit(TICKERS, "\"9000\"", "\"nine\""),
            edit(BBO, "\"1670324386802\"", "1670324386802"),
            huge,
        ];
        let mut adapter = Okx::new();
        let mut events = vec![one_event(TRADES)];
        for text in &bad {
            let result = adapter.parse(text.as_bytes(), 1, &mut events);
            assert!(result.is_err(), "accepted {:?}", &text[..text.len().min(200)]);
            assert_eq!(events.len(), 1);
        }
        for garbage in [&[0xff_u8, 0xfe, 0x00][..], b"\x00\x01{\"arg\"", &[0x80; 64]] {
            assert!(adapter.parse(garbage, 1, &mut events).is_err());
        }
        assert_eq!(adapter.parse(TRADES.as_bytes(), 1, &mut events).unwrap(), Control::Data);
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn an_error_midway_keeps_earlier_events_out() {
        let two = TRADES.replace(
            r#""seqId": 1234
    }"#,
            r#""seqId": 1234
    },
    {"instId":"BTC-USDT","tradeId":"1","px":"1","sz":"-1","side":"buy","ts":"1"}"#,
        );
        assert_ne!(two, TRADES);
        let mut events = Vec::new();
        assert!(Okx::new().parse(two.as_bytes(), 1, &mut events).is_err());
        assert!(events.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut events = Vec::new();
            let result = Okx::new().parse(&bytes, 1, &mut events);
            if result.is_err() {
                prop_assert!(events.is_empty());
            }
        }

        #[test]
        fn mutated_messages_never_panic(
            which in 0..GOOD.len(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = GOOD[which].as_bytes().to_vec();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            bytes.truncate(cut.index(bytes.len() + 1));
            let mut events = vec![one_event(TRADES)];
            let result = Okx::new().parse(&bytes, 1, &mut events);
            if result.is_err() {
                prop_assert_eq!(events.len(), 1);
            }
        }
    }
}
