//! Kraken WebSocket v2 (spot): `wss://ws.kraken.com/v2`, symbols `BTC/USD`.
//!
//! Owns:
//! - [`KrakenAdapter`]: subscribe/unsubscribe requests and [`Adapter::parse`] for the public
//!   market-data channels, and the per-pair precision table read from the `instrument` channel
//!   ([`KrakenAdapter::precision`]).
//! - [`checksum`]: Kraken's v2 book checksum (CRC32 over the top 10 levels formatted at the
//!   pair's precision), for the order book to verify its state.
//!
//! Channel mapping (one Kraken request per Kraken stream in a batch, each carrying the batch's
//! request id as `req_id`):
//! - trades → `trade` with `snapshot: false`: the docs disagree on the default, and a snapshot
//!   replays the last 50 trades as if new on every (re)subscribe.
//! - bbo → `ticker` with `event_trigger: "bbo"`: v2 has no dedicated BBO stream (v1's `spread`
//!   is gone), and this is the documented stream published on every best bid/offer change; it
//!   carries `bid`/`bid_qty`/`ask`/`ask_qty`. (The `book` stream would need a book kept here.)
//! - ticker → `ticker` with `event_trigger: "trades"` (the default, stated).
//! - book → `book` with `depth: 10`, `snapshot: true` (the checksum covers the top 10 anyway).
//!
//! Both ticker streams send the same message shape without saying which trigger produced it,
//! so the adapter remembers which of bbo/ticker it subscribed per market and emits those
//! events from each `ticker` message (both if it subscribed to neither, e.g. on replay). With
//! both subscribed, each message yields both events.
//!
//! Kraken sends prices and quantities as JSON numbers, read here from their raw text with
//! [`Decimal::parse`] (never through `f64`); quoted decimals are accepted too (the checksum
//! guide writes them so). The number text may drop trailing zeros (`0.566` for `0.5660`), so
//! the checksum needs the pair's precision: [`Adapter::on_connect`] subscribes to the
//! `instrument` channel (request id [`INSTRUMENT_REQUEST_ID`]), whose `pairs` fill the precision
//! table, and book levels of a pair with a known precision are rescaled to it (same value,
//! printed as Kraken's precision: `0.5660`).
//!
//! Invariants: `parse` never panics and appends nothing on error; acks come one per symbol,
//! each [`Control::Ack`] with the request's id; any `success: false` answer is
//! [`Control::Rejected`] with Kraken's `error` text; `heartbeat` is [`Control::Heartbeat`], `pong`
//! [`Control::Pong`], `status` and `instrument` (after updating the precision table)
//! [`Control::Unknown`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::fields::{decimal, optional, optional_quantity, quantity, rfc3339_ns};
use super::json::{from_slice, from_str};
use super::{Action, Adapter, AppPing, Control, Spec, VenueError};
use crate::model::{
    Bbo, BookUpdate, Channel, Decimal, Event, InstrumentKind, Level, MarketCache, MarketRef, Side, Ticker,
    Trade, TradeId, Venue,
};

/// The `req_id` of the `instrument` subscription sent on connect; the tracker's ids start at 1.
pub const INSTRUMENT_REQUEST_ID: u64 = 0;

/// Levels per side the checksum covers.
pub const CHECKSUM_DEPTH: usize = 10;

/// The book depth subscribed to.
const BOOK_DEPTH: u32 = 10;

const SPEC: Spec = Spec {
    venue: Venue::Kraken,
    endpoint: "spot",
    url: "wss://ws.kraken.com/v2",
    // Kraken documents no per-request or per-connection cap for public L2 (PROTOCOLS.md §5 ⚠,
    // §8 q5): conservative choices.
    max_per_request: 50,
    max_per_connection: 200,
    // The spot WS message rate limit is dynamic and undocumented ("Exceeded msg rate"):
    // conservative.
    requests_per_second: 2.0,
    burst: 5,
    // Optional on Kraken; keeps a connection alive while it holds no subscription (heartbeats
    // only flow after one; idle connections are closed after about a minute).
    app_ping: Some(AppPing { interval: Duration::from_secs(30), message: r#"{"method":"ping"}"# }),
    subscribe_within: None,
};

/// The Kraken adapter for `kind`.
///
/// # Errors
///
/// [`VenueError::Unsupported`] for anything but spot.
pub fn adapter(kind: InstrumentKind) -> Result<Box<dyn Adapter>, VenueError> {
    if kind != InstrumentKind::Spot {
        return Err(unsupported(format!("{kind}")));
    }
    Ok(Box::new(KrakenAdapter::new()))
}

fn unsupported(what: String) -> VenueError {
    VenueError::Unsupported { venue: Venue::Kraken, endpoint: SPEC.endpoint, what }
}

/// Bit in [`KrakenAdapter::wanted`]: bbo events wanted from `ticker` messages.
const WANT_BBO: u8 = 1;
/// Bit in [`KrakenAdapter::wanted`]: ticker events wanted from `ticker` messages.
const WANT_TICKER: u8 = 2;

/// Kraken WebSocket v2 spot: one connection's protocol state. The precision table and the
/// bbo/ticker choices survive [`Adapter::reset`]: the instrument snapshot is sent again on the
/// new connection, and the subscriptions are re-sent through [`Adapter::subscribe`].
#[derive(Debug)]
pub struct KrakenAdapter {
    markets: MarketCache,
    /// `(price_precision, qty_precision)` per native symbol, from the `instrument` channel.
    precisions: HashMap<Box<str>, (u8, u8)>,
    /// Per [`Market::id`](crate::model::Market::id): which of `WANT_BBO`/`WANT_TICKER` were
    /// subscribed. A mutex because `subscribe` takes `&self`; `parse` reads it with `get_mut`.
    wanted: Mutex<Vec<u8>>,
}

impl Default for KrakenAdapter {
    fn default() -> Self {
        Self::new()
    }
}

/// A Kraken stream: what one request message subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Trade,
    TickerBbo,
    TickerTrades,
    Book,
}

impl Stream {
    const ALL: [Self; 4] = [Self::Trade, Self::TickerBbo, Self::TickerTrades, Self::Book];

    const fn of(channel: Channel) -> Self {
        match channel {
            Channel::Trades => Self::Trade,
            Channel::Bbo => Self::TickerBbo,
            Channel::Ticker => Self::TickerTrades,
            Channel::Book => Self::Book,
        }
    }

    /// Writes the `params` members after `"symbol":[…]`.
    fn write_options(self, subscribe: bool, out: &mut String) {
        match (self, subscribe) {
            (Self::Trade, true) => out.push_str(r#","snapshot":false"#),
            (Self::Trade, false) => {}
            (Self::TickerBbo, _) => out.push_str(r#","event_trigger":"bbo""#),
            (Self::TickerTrades, _) => out.push_str(r#","event_trigger":"trades""#),
            (Self::Book, _) => {
                let _ = write!(out, r#","depth":{BOOK_DEPTH}"#);
            }
        }
        if subscribe && self != Self::Trade {
            out.push_str(r#","snapshot":true"#);
        }
    }

    const fn channel_name(self) -> &'static str {
        match self {
            Self::Trade => "trade",
            Self::TickerBbo | Self::TickerTrades => "ticker",
            Self::Book => "book",
        }
    }
}

impl KrakenAdapter {
    /// A fresh adapter (no precisions known yet).
    #[must_use]
    pub fn new() -> Self {
        Self {
            markets: MarketCache::new(Venue::Kraken, Some(InstrumentKind::Spot)),
            precisions: HashMap::new(),
            wanted: Mutex::new(Vec::new()),
        }
    }

    /// `(price_precision, qty_precision)` of the pair named `native` (`"BTC/USD"`), once the
    /// `instrument` channel has told it: what [`checksum`] formats levels with.
    #[must_use]
    pub fn precision(&self, native: &str) -> Option<(u8, u8)> {
        self.precisions.get(native).copied()
    }

    fn write_request(
        &self,
        method: &str,
        request_id: u64,
        pairs: &[(MarketRef, Channel)],
        out: &mut Vec<String>,
    ) -> Result<(), VenueError> {
        SPEC.check_request_size(pairs.len())?;
        for (market, _) in pairs {
            if market.venue != Venue::Kraken || market.kind != InstrumentKind::Spot {
                return Err(unsupported(format!("{} on {}", market.unified, market.venue)));
            }
        }
        let subscribe = method == "subscribe";
        for stream in Stream::ALL {
            let mut message = String::new();
            for (market, channel) in pairs.iter().filter(|(_, channel)| Stream::of(*channel) == stream) {
                if message.is_empty() {
                    let _ = write!(
                        message,
                        r#"{{"method":"{method}","params":{{"channel":"{}","symbol":["#,
                        stream.channel_name()
                    );
                } else {
                    message.push(',');
                }
                // Canonical natives are `BASE/QUOTE` in letters and digits; escape regardless.
                message.push_str(&serde_json::to_string(&*market.native).unwrap_or_default());
                self.remember(market, *channel, subscribe);
            }
            if !message.is_empty() {
                message.push(']');
                stream.write_options(subscribe, &mut message);
                let _ = write!(message, r#"}},"req_id":{request_id}}}"#);
                out.push(message);
            }
        }
        Ok(())
    }

    /// Records which events `ticker` messages for `market` should yield.
    fn remember(&self, market: &MarketRef, channel: Channel, subscribe: bool) {
        let bit = match channel {
            Channel::Bbo => WANT_BBO,
            Channel::Ticker => WANT_TICKER,
            Channel::Trades | Channel::Book => return,
        };
        let mut wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner);
        let index = market.id as usize;
        if wanted.len() <= index {
            wanted.resize(index + 1, 0);
        }
        if subscribe {
            wanted[index] |= bit;
        } else {
            wanted[index] &= !bit;
        }
    }

    fn read(&mut self, raw: &[u8], receive_time_ns: u64, events: &mut Vec<Event>) -> Result<Control, String> {
        let envelope: Envelope<'_> = from_slice(raw)?;
        if let Some(channel) = envelope.channel {
            return self.read_channel(channel, &envelope, receive_time_ns, events);
        }
        if envelope.success == Some(false) {
            // A refusal of any request, including one too malformed to name its method.
            return Ok(answer(&envelope));
        }
        match envelope.method {
            Some("pong") => Ok(Control::Pong),
            Some("subscribe" | "unsubscribe") => Ok(answer(&envelope)),
            _ => Ok(Control::Unknown),
        }
    }

    fn read_channel(
        &mut self,
        channel: &str,
        envelope: &Envelope<'_>,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        if channel == "heartbeat" {
            return Ok(Control::Heartbeat);
        }
        let data = || envelope.data.map(RawValue::get).ok_or_else(|| format!("{channel} without data"));
        match channel {
            "trade" => {
                let trades: Vec<TradeData<'_>> = from_str(data()?)?;
                for trade in &trades {
                    events.push(Event::Trade(self.trade(trade, receive_time_ns)?));
                }
            }
            "ticker" => {
                let tickers: Vec<TickerData<'_>> = from_str(data()?)?;
                for ticker in &tickers {
                    self.ticker(ticker, receive_time_ns, events)?;
                }
            }
            "book" => {
                let is_snapshot = match envelope.kind {
                    Some("snapshot") => true,
                    Some("update") => false,
                    other => return Err(format!("book message of type {other:?}")),
                };
                let books: Vec<BookData<'_>> = from_str(data()?)?;
                for book in &books {
                    events.push(Event::Book(self.book(book, is_snapshot, receive_time_ns)?));
                }
            }
            "instrument" => {
                let instruments: InstrumentData<'_> = from_str(data()?)?;
                for pair in instruments.pairs.iter().flatten() {
                    if let (Some(price), Some(qty)) = (pair.price_precision, pair.qty_precision) {
                        self.precisions.insert(pair.symbol.into(), (price, qty));
                    }
                }
                return Ok(Control::Unknown);
            }
            _ => return Ok(Control::Unknown),
        }
        Ok(Control::Data)
    }

    fn market(&mut self, symbol: &str) -> Result<MarketRef, String> {
        self.markets.get(symbol).cloned().map_err(|error| error.to_string())
    }

    fn trade(&mut self, trade: &TradeData<'_>, receive_time_ns: u64) -> Result<Trade, String> {
        let side = match trade.side {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            other => return Err(format!("unknown trade side {other:?}")),
        };
        // A u64 has at most 20 digits: it always fits.
        let trade_id = TradeId::from(itoa::Buffer::new().format(trade.trade_id))
            .map_err(|_| "trade id too long".to_owned())?;
        Ok(Trade {
            market: self.market(trade.symbol)?,
            price: decimal(number(trade.price), "price")?,
            qty: quantity(number(trade.qty), "qty")?,
            side,
            trade_id,
            exchange_time_ns: rfc3339_ns(trade.timestamp, "timestamp")?,
            receive_time_ns,
        })
    }

    fn ticker(
        &mut self,
        ticker: &TickerData<'_>,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), String> {
        let market = self.market(ticker.symbol)?;
        let wanted = self.wanted.get_mut().unwrap_or_else(PoisonError::into_inner);
        let wanted = match wanted.get(market.id as usize).copied().unwrap_or(0) {
            0 => WANT_BBO | WANT_TICKER,
            bits => bits,
        };
        let exchange_time_ns =
            ticker.timestamp.map(|text| rfc3339_ns(text, "timestamp")).transpose()?.unwrap_or(0);
        let bid_price = optional(ticker.bid.map(number), "bid")?;
        let bid_qty = optional_quantity(ticker.bid_qty.map(number), "bid_qty")?;
        let ask_price = optional(ticker.ask.map(number), "ask")?;
        let ask_qty = optional_quantity(ticker.ask_qty.map(number), "ask_qty")?;
        let full = Ticker {
            market: MarketRef::clone(&market),
            last_price: optional(ticker.last.map(number), "last")?,
            bid_price,
            bid_qty,
            ask_price,
            ask_qty,
            open_24h: None,
            high_24h: optional(ticker.high.map(number), "high")?,
            low_24h: optional(ticker.low.map(number), "low")?,
            volume_24h: optional_quantity(ticker.volume.map(number), "volume")?,
            quote_volume_24h: None,
            change_24h: optional(ticker.change.map(number), "change")?,
            // Kraken's `change_pct` is already in percent: -0.17 is -0.17 % (docs' example:
            // change -0.00017 on a last of 0.10035).
            change_pct_24h: optional(ticker.change_pct.map(number), "change_pct")?,
            exchange_time_ns,
            receive_time_ns,
        };
        optional(ticker.vwap.map(number), "vwap")?;
        if wanted & WANT_BBO != 0
            && let (Some(bid_price), Some(bid_qty), Some(ask_price), Some(ask_qty)) =
                (bid_price, bid_qty, ask_price, ask_qty)
        {
            events.push(Event::Bbo(Bbo {
                market,
                bid_price,
                bid_qty,
                ask_price,
                ask_qty,
                exchange_time_ns,
                receive_time_ns,
            }));
        }
        if wanted & WANT_TICKER != 0 {
            events.push(Event::Ticker(Box::new(full)));
        }
        Ok(())
    }

    fn book(
        &mut self,
        book: &BookData<'_>,
        is_snapshot: bool,
        receive_time_ns: u64,
    ) -> Result<BookUpdate, String> {
        let market = self.market(book.symbol)?;
        let precision = self.precisions.get(book.symbol).copied();
        let levels = |raw: &[LevelData<'_>]| -> Result<Vec<Level>, String> {
            raw.iter()
                .map(|level| {
                    let mut price = decimal(number(level.price), "price")?;
                    let mut qty = quantity(number(level.qty), "qty")?;
                    if let Some((price_precision, qty_precision)) = precision {
                        price = pad(price, price_precision);
                        qty = pad(qty, qty_precision);
                    }
                    Ok(Level { price, qty })
                })
                .collect()
        };
        let checksum = match book.checksum.map(u32::try_from) {
            None | Some(Ok(0)) => None,
            Some(Ok(sum)) => Some(i64::from(sum)),
            Some(Err(_)) => return Err("checksum is not a 32-bit value".to_owned()),
        };
        Ok(BookUpdate {
            market,
            is_snapshot,
            bids: levels(&book.bids)?,
            asks: levels(&book.asks)?,
            first_sequence: None,
            last_sequence: None,
            prev_sequence: None,
            checksum,
            exchange_time_ns: book
                .timestamp
                .map(|text| rfc3339_ns(text, "timestamp"))
                .transpose()?
                .unwrap_or(0),
            receive_time_ns,
        })
    }
}

impl Adapter for KrakenAdapter {
    fn spec(&self) -> &Spec {
        &SPEC
    }

    /// Kraken acks each symbol of each channel message: one answer per pair.
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

    /// Subscribes to `instrument` (all pairs' precisions) under [`INSTRUMENT_REQUEST_ID`]:
    /// checksums need them, and Kraken's number text may drop trailing zeros.
    fn on_connect(&self, out: &mut Vec<String>) {
        out.push(format!(
            r#"{{"method":"subscribe","params":{{"channel":"instrument","snapshot":true}},"req_id":{INSTRUMENT_REQUEST_ID}}}"#
        ));
    }

    fn read_message(
        &mut self,
        raw: &[u8],
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        self.read(raw, receive_time_ns, events)
    }
}

/// An ack or refusal of a subscribe/unsubscribe (one per symbol).
fn answer(envelope: &Envelope<'_>) -> Control {
    let about_instrument = envelope.req_id == Some(INSTRUMENT_REQUEST_ID)
        || envelope.result.as_ref().is_some_and(|result| result.channel == Some("instrument"));
    if envelope.success == Some(true) {
        // The instrument subscription is ours, not a tracked request.
        return if about_instrument {
            Control::Unknown
        } else {
            Control::Ack { request_id: envelope.req_id }
        };
    }
    let reason = envelope.error.as_deref().unwrap_or("refused without a reason").to_owned();
    Control::Rejected { request_id: envelope.req_id, reason }
}

/// The decimal text of a raw JSON number (or of a quoted decimal), for the [`fields`](super::fields) readers.
fn number(raw: &RawValue) -> &str {
    let text = raw.get();
    text.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')).unwrap_or(text)
}

/// `value` at `precision` digits after the point when that only adds zeros.
fn pad(value: Decimal, precision: u8) -> Decimal {
    if value.scale() < precision { value.checked_rescale(precision).unwrap_or(value) } else { value }
}

/// Kraken's v2 book checksum: CRC32 (as an unsigned 32-bit value) of the top
/// [`CHECKSUM_DEPTH`] asks, lowest first, then the top [`CHECKSUM_DEPTH`] bids, highest first,
/// each level written as its price then its quantity, every number formatted with the pair's
/// precision (`price_precision` / `qty_precision` from the `instrument` channel), its point
/// removed and its leading zeros stripped (`0.00100000` → `100000`).
///
/// Pass the levels sorted as said; only the first [`CHECKSUM_DEPTH`] of each side count. The
/// precision is the number of digits written after the point, so it does not matter whether the
/// wire dropped trailing zeros (`0.566` at precision 4 is `5660`); a value with more significant
/// decimals than the precision (which Kraken never sends) is written with all of them. Never
/// allocates.
#[must_use]
pub fn checksum(asks: &[Level], bids: &[Level], price_precision: u8, qty_precision: u8) -> u32 {
    checksum_with(asks, bids, |_| (price_precision, qty_precision))
}

/// [`checksum`] of levels as this adapter hands them out: padded to the pair's precision once
/// the `instrument` channel has told it, so each number's own scale is the precision. A book
/// built from such levels needs no precision table. Levels of a pair whose precision is not
/// known yet keep the wire's digits; if the wire dropped trailing zeros their checksum
/// mismatches, the book is marked invalid and resubscribed — never trusted unproven.
#[must_use]
pub fn checksum_as_sent(asks: &[Level], bids: &[Level]) -> u32 {
    checksum_with(asks, bids, |level| (level.price.scale(), level.qty.scale()))
}

fn checksum_with(asks: &[Level], bids: &[Level], precision: impl Fn(&Level) -> (u8, u8)) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for level in asks.iter().take(CHECKSUM_DEPTH).chain(bids.iter().take(CHECKSUM_DEPTH)) {
        let (price_precision, qty_precision) = precision(level);
        hash_digits(&mut hasher, level.price, price_precision);
        hash_digits(&mut hasher, level.qty, qty_precision);
    }
    hasher.finalize()
}

/// Feeds the digits of `|value|` written with `precision` decimals, without the point and
/// without leading zeros (zero feeds nothing).
fn hash_digits(hasher: &mut crc32fast::Hasher, value: Decimal, precision: u8) {
    let normalized = value.normalized();
    let scaled = normalized.checked_rescale(precision.max(normalized.scale())).unwrap_or(normalized);
    let magnitude = scaled.mantissa().unsigned_abs();
    // The digits without the point and without leading zeros: zero hashes as nothing.
    if magnitude > 0 {
        let mut digits = itoa::Buffer::new();
        hasher.update(digits.format(magnitude).as_bytes());
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    channel: Option<&'a str>,
    #[serde(borrow, rename = "type")]
    kind: Option<&'a str>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<&'a str>,
    success: Option<bool>,
    req_id: Option<u64>,
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(borrow)]
    result: Option<AckResult<'a>>,
}

#[derive(Deserialize)]
struct AckResult<'a> {
    #[serde(borrow)]
    channel: Option<&'a str>,
}

#[derive(Deserialize)]
struct TradeData<'a> {
    symbol: &'a str,
    side: &'a str,
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
    trade_id: u64,
    timestamp: &'a str,
}

#[derive(Deserialize)]
struct TickerData<'a> {
    symbol: &'a str,
    #[serde(borrow)]
    bid: Option<&'a RawValue>,
    #[serde(borrow)]
    bid_qty: Option<&'a RawValue>,
    #[serde(borrow)]
    ask: Option<&'a RawValue>,
    #[serde(borrow)]
    ask_qty: Option<&'a RawValue>,
    #[serde(borrow)]
    last: Option<&'a RawValue>,
    #[serde(borrow)]
    volume: Option<&'a RawValue>,
    #[serde(borrow)]
    vwap: Option<&'a RawValue>,
    #[serde(borrow)]
    low: Option<&'a RawValue>,
    #[serde(borrow)]
    high: Option<&'a RawValue>,
    #[serde(borrow)]
    change: Option<&'a RawValue>,
    #[serde(borrow)]
    change_pct: Option<&'a RawValue>,
    timestamp: Option<&'a str>,
}

#[derive(Deserialize)]
struct BookData<'a> {
    symbol: &'a str,
    #[serde(borrow, default)]
    bids: Vec<LevelData<'a>>,
    #[serde(borrow, default)]
    asks: Vec<LevelData<'a>>,
    checksum: Option<u64>,
    timestamp: Option<&'a str>,
}

#[derive(Deserialize)]
struct LevelData<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
}

#[derive(Deserialize)]
struct InstrumentData<'a> {
    #[serde(borrow)]
    pairs: Option<Vec<PairData<'a>>>,
}

#[derive(Deserialize)]
struct PairData<'a> {
    symbol: &'a str,
    price_precision: Option<u8>,
    qty_precision: Option<u8>,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::market::intern_unified;

    const TRADE_UPDATE: &str = include_str!("../../tests/fixtures/kraken/trade_update.json");
    const TICKER_SNAPSHOT: &str = include_str!("../../tests/fixtures/kraken/ticker_snapshot.json");
    const TICKER_UPDATE: &str = include_str!("../../tests/fixtures/kraken/ticker_update.json");
    const BOOK_SNAPSHOT: &str = include_str!("../../tests/fixtures/kraken/book_snapshot.json");
    const BOOK_UPDATE: &str = include_str!("../../tests/fixtures/kraken/book_update.json");
    const BOOK_GUIDE: &str = include_str!("../../tests/fixtures/kraken/book_snapshot_checksum_guide.json");
    const SUBSCRIBE_ACK: &str = include_str!("../../tests/fixtures/kraken/subscribe_ack.json");
    const SUBSCRIBE_ERROR: &str = include_str!("../../tests/fixtures/kraken/subscribe_error.json");
    const UNSUBSCRIBE_ACK: &str = include_str!("../../tests/fixtures/kraken/unsubscribe_ack.json");
    const INSTRUMENT_ACK: &str = include_str!("../../tests/fixtures/kraken/instrument_subscribe_ack.json");
    const INSTRUMENT_SNAPSHOT: &str = include_str!("../../tests/fixtures/kraken/instrument_snapshot.json");
    const HEARTBEAT: &str = include_str!("../../tests/fixtures/kraken/heartbeat.json");
    const PONG: &str = include_str!("../../tests/fixtures/kraken/pong.json");
    const STATUS_UPDATE: &str = include_str!("../../tests/fixtures/kraken/status_update.json");

    const RECEIVED: u64 = 42;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    fn market(unified: &str) -> MarketRef {
        intern_unified(Venue::Kraken, unified).unwrap()
    }

    fn parse(adapter: &mut KrakenAdapter, raw: &str) -> (Control, Vec<Event>) {
        let mut events = Vec::new();
        let control = adapter.parse(raw.as_bytes(), RECEIVED, &mut events).unwrap();
        (control, events)
    }

    fn level(price: &str, qty: &str) -> Level {
        Level { price: d(price), qty: d(qty) }
    }

    #[test]
    fn spec_is_kraken_v2_spot() {
        let adapter = adapter(InstrumentKind::Spot).unwrap();
        let spec = adapter.spec();
        assert_eq!(spec.url, "wss://ws.kraken.com/v2");
        assert_eq!(spec.venue, Venue::Kraken);
        assert_eq!(spec.app_ping.unwrap().message, r#"{"method":"ping"}"#);
        assert!(super::adapter(InstrumentKind::Perpetual).is_err());
    }

    #[test]
    fn subscribe_sends_one_message_per_stream_with_the_request_id() {
        let adapter = KrakenAdapter::new();
        let (btc, eth) = (market("BTC/USD"), market("ETH/USD"));
        let pairs = [
            (btc.clone(), Channel::Trades),
            (eth.clone(), Channel::Trades),
            (btc.clone(), Channel::Bbo),
            (btc.clone(), Channel::Ticker),
            (eth.clone(), Channel::Book),
        ];
        let mut out = Vec::new();
        adapter.subscribe(7, &pairs, &mut out).unwrap();
        assert_eq!(
            out,
            [
                r#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD","ETH/USD"],"snapshot":false},"req_id":7}"#,
                r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"],"event_trigger":"bbo","snapshot":true},"req_id":7}"#,
                r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"],"event_trigger":"trades","snapshot":true},"req_id":7}"#,
                r#"{"method":"subscribe","params":{"channel":"book","symbol":["ETH/USD"],"depth":10,"snapshot":true},"req_id":7}"#,
            ]
        );
        for message in &out {
            serde_json::from_str::<serde_json::Value>(message).unwrap();
        }
        out.clear();
        adapter.unsubscribe(8, &pairs[3..], &mut out).unwrap();
        assert_eq!(
            out,
            [
                r#"{"method":"unsubscribe","params":{"channel":"ticker","symbol":["BTC/USD"],"event_trigger":"trades"},"req_id":8}"#,
                r#"{"method":"unsubscribe","params":{"channel":"book","symbol":["ETH/USD"],"depth":10},"req_id":8}"#,
            ]
        );
    }

    #[test]
    fn subscribe_refuses_other_venues_and_too_many_pairs() {
        let adapter = KrakenAdapter::new();
        let binance = intern_unified(Venue::Binance, "BTC/USDT").unwrap();
        let mut out = Vec::new();
        assert!(matches!(
            adapter.subscribe(1, &[(binance, Channel::Trades)], &mut out),
            Err(VenueError::Unsupported { .. })
        ));
        let many = vec![(market("BTC/USD"), Channel::Trades); SPEC.max_per_request + 1];
        assert!(matches!(adapter.subscribe(1, &many, &mut out), Err(VenueError::TooMany { .. })));
        assert!(out.is_empty());
    }

    #[test]
    fn on_connect_subscribes_to_instruments() {
        let mut out = Vec::new();
        KrakenAdapter::new().on_connect(&mut out);
        assert_eq!(
            out,
            [r#"{"method":"subscribe","params":{"channel":"instrument","snapshot":true},"req_id":0}"#]
        );
    }

    #[test]
    fn trade_fixture_field_by_field() {
        let mut adapter = KrakenAdapter::new();
        let (control, events) = parse(&mut adapter, TRADE_UPDATE);
        assert_eq!(control, Control::Data);
        let [Event::Trade(trade)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(&*trade.market.unified, "MATIC/USD");
        assert_eq!(&*trade.market.native, "MATIC/USD");
        assert_eq!(trade.price, d("0.5117"));
        assert_eq!(trade.price.to_string(), "0.5117");
        assert_eq!(trade.qty.to_string(), "40.0");
        assert_eq!(trade.side, Side::Sell);
        assert_eq!(trade.trade_id.as_str(), "4665906");
        assert_eq!(trade.exchange_time_ns, 1_695_628_177_708_706_000);
        assert_eq!(trade.receive_time_ns, RECEIVED);
    }

    #[test]
    fn ticker_fixtures_field_by_field() {
        let mut adapter = KrakenAdapter::new();
        for raw in [TICKER_SNAPSHOT, TICKER_UPDATE] {
            let (control, events) = parse(&mut adapter, raw);
            assert_eq!(control, Control::Data);
            // Never subscribed through this adapter: both events.
            let [Event::Bbo(bbo), Event::Ticker(ticker)] = events.as_slice() else { panic!("{events:?}") };
            assert_eq!(&*bbo.market.unified, "ALGO/USD");
            assert_eq!(bbo.bid_price, d("0.10025"));
            assert_eq!(bbo.bid_qty.to_string(), "740.0");
            assert_eq!(bbo.exchange_time_ns, 1_695_632_671_742_648_000);
            assert_eq!(ticker.last_price, Some(d("0.10035")));
            assert_eq!(ticker.bid_price, Some(d("0.10025")));
            assert_eq!(ticker.bid_qty, Some(d("740")));
            assert_eq!(ticker.volume_24h.unwrap().to_string(), "997038.98383185");
            assert_eq!(ticker.low_24h, Some(d("0.09979")));
            assert_eq!(ticker.high_24h, Some(d("0.10285")));
            assert_eq!(ticker.change_24h, Some(d("-0.00017")));
            assert_eq!(ticker.change_pct_24h, Some(d("-0.17")));
            assert_eq!(ticker.open_24h, None);
            assert_eq!(ticker.quote_volume_24h, None);
            assert_eq!(ticker.exchange_time_ns, bbo.exchange_time_ns);
            assert_eq!(ticker.receive_time_ns, RECEIVED);
        }
        let (_, events) = parse(&mut adapter, TICKER_SNAPSHOT);
        let [Event::Bbo(bbo), _] = events.as_slice() else { panic!() };
        assert_eq!((bbo.ask_price, bbo.ask_qty), (d("0.10036"), d("1361.44813783")));
        let (_, events) = parse(&mut adapter, TICKER_UPDATE);
        let [Event::Bbo(bbo), _] = events.as_slice() else { panic!() };
        assert_eq!((bbo.ask_price, bbo.ask_qty), (d("0.10035"), d("740.0")));
    }

    #[test]
    fn ticker_messages_yield_the_channels_subscribed() {
        let mut adapter = KrakenAdapter::new();
        let algo = market("ALGO/USD");
        let mut out = Vec::new();
        adapter.subscribe(1, &[(algo.clone(), Channel::Bbo)], &mut out).unwrap();
        let (_, events) = parse(&mut adapter, TICKER_UPDATE);
        assert!(matches!(events.as_slice(), [Event::Bbo(_)]));
        adapter.subscribe(2, &[(algo.clone(), Channel::Ticker)], &mut out).unwrap();
        adapter.unsubscribe(3, &[(algo, Channel::Bbo)], &mut out).unwrap();
        let (_, events) = parse(&mut adapter, TICKER_UPDATE);
        assert!(matches!(events.as_slice(), [Event::Ticker(_)]));
    }

    #[test]
    fn book_fixtures_field_by_field_and_checksums_verify() {
        let mut adapter = KrakenAdapter::new();
        let (control, _) = parse(&mut adapter, INSTRUMENT_SNAPSHOT);
        assert_eq!(control, Control::Unknown);
        assert_eq!(adapter.precision("MATIC/USD"), Some((4, 8)));
        assert_eq!(adapter.precision("BTC/USD"), Some((1, 8)));
        assert_eq!(adapter.precision("ETH/USD"), None);

        let (control, events) = parse(&mut adapter, BOOK_SNAPSHOT);
        assert_eq!(control, Control::Data);
        let [Event::Book(snapshot)] = events.as_slice() else { panic!("{events:?}") };
        assert!(snapshot.is_snapshot);
        assert_eq!(&*snapshot.market.unified, "MATIC/USD");
        assert_eq!((snapshot.bids.len(), snapshot.asks.len()), (10, 10));
        assert_eq!(snapshot.bids[0], level("0.5666", "4831.75496356"));
        // Padded to the pair's precision: same value, Kraken's digits.
        assert_eq!(snapshot.bids[6].price.to_string(), "0.5660");
        assert_eq!(snapshot.bids[6].qty.to_string(), "18097.15470000");
        assert_eq!(snapshot.asks[9], level("0.5677", "36304.0847022"));
        assert_eq!(snapshot.checksum, Some(2_439_117_997));
        assert_eq!(
            (snapshot.first_sequence, snapshot.last_sequence, snapshot.prev_sequence),
            (None, None, None)
        );
        assert_eq!(snapshot.exchange_time_ns, 1_696_613_755_440_295_000);
        assert_eq!(checksum(&snapshot.asks, &snapshot.bids, 4, 8), 2_439_117_997);

        let (_, events) = parse(&mut adapter, BOOK_UPDATE);
        let [Event::Book(update)] = events.as_slice() else { panic!("{events:?}") };
        assert!(!update.is_snapshot);
        assert_eq!(update.bids, [level("0.5657", "1098.3947558")]);
        assert!(update.asks.is_empty());
        assert_eq!(update.checksum, Some(2_114_181_697));
        let mut bids = snapshot.bids.clone();
        bids[9] = update.bids[0];
        assert_eq!(checksum(&snapshot.asks, &bids, 4, 8), 2_114_181_697);
    }

    #[test]
    fn checksum_needs_the_precision_not_the_wire_text() {
        let mut adapter = KrakenAdapter::new();
        let (_, events) = parse(&mut adapter, BOOK_SNAPSHOT);
        let [Event::Book(book)] = events.as_slice() else { panic!() };
        // Without the instrument the levels keep the wire's digits; the precision fixes it.
        assert_eq!(book.bids[6].price.to_string(), "0.566");
        assert_eq!(checksum(&book.asks, &book.bids, 4, 8), 2_439_117_997);
        assert_eq!(checksum(&book.asks, &book.bids, 0, 0), 3_830_085_102, "shortest text: the classic bug");
    }

    #[test]
    fn checksum_guide_example() {
        let mut adapter = KrakenAdapter::new();
        let (_, events) = parse(&mut adapter, BOOK_GUIDE);
        let [Event::Book(book)] = events.as_slice() else { panic!() };
        assert_eq!(book.checksum, Some(3_310_070_434));
        assert_eq!(checksum(&book.asks, &book.bids, 1, 8), 3_310_070_434);
        let mut text = Vec::new();
        for level in book.asks.iter().chain(&book.bids) {
            for (value, precision) in [(level.price, 1), (level.qty, 8)] {
                let mut hasher = crc32fast::Hasher::new();
                hash_digits(&mut hasher, value, precision);
                let scaled = value.checked_rescale(precision).unwrap();
                let digits = scaled.mantissa().to_string();
                text.extend_from_slice(digits.as_bytes());
                assert_eq!(hasher.finalize(), crc32fast::hash(digits.as_bytes()));
            }
        }
        let (asks, bids) = text.split_at(text.len() / 2);
        assert!(std::str::from_utf8(asks).unwrap().starts_with("452852100000452864154571953"));
        assert!(std::str::from_utf8(bids).unwrap().starts_with("4528351000000045283415458201"));
    }

    #[test]
    fn acks_errors_heartbeats_pongs_and_others() {
        let mut adapter = KrakenAdapter::new();
        assert_eq!(parse(&mut adapter, SUBSCRIBE_ACK).0, Control::Ack { request_id: None });
        assert_eq!(parse(&mut adapter, UNSUBSCRIBE_ACK).0, Control::Ack { request_id: None });
        let with_id = r#"{"method":"subscribe","result":{"channel":"trade","snapshot":false,"symbol":"BTC/USD"},"success":true,"time_in":"2023-10-06T17:35:55.219022Z","time_out":"2023-10-06T17:35:55.219067Z","req_id":12}"#;
        assert_eq!(parse(&mut adapter, with_id).0, Control::Ack { request_id: Some(12) });
        assert_eq!(
            parse(&mut adapter, SUBSCRIBE_ERROR).0,
            Control::Rejected { request_id: None, reason: "Currency pair not supported XBT/USD".into() }
        );
        let error_with_id = r#"{"error":"Currency pair not supported FOO/BAR","method":"subscribe","req_id":5,"success":false,"symbol":"FOO/BAR","time_in":"t","time_out":"t"}"#;
        assert_eq!(
            parse(&mut adapter, error_with_id).0,
            Control::Rejected { request_id: Some(5), reason: "Currency pair not supported FOO/BAR".into() }
        );
        assert_eq!(parse(&mut adapter, INSTRUMENT_ACK).0, Control::Unknown);
        assert_eq!(parse(&mut adapter, HEARTBEAT).0, Control::Heartbeat);
        assert_eq!(parse(&mut adapter, PONG).0, Control::Pong);
        assert_eq!(parse(&mut adapter, STATUS_UPDATE).0, Control::Unknown);
        assert_eq!(
            parse(&mut adapter, r#"{"channel":"ohlc","type":"update","data":[]}"#).0,
            Control::Unknown
        );
        assert_eq!(parse(&mut adapter, r#"{"method":"add_order","success":true}"#).0, Control::Unknown);
        assert_eq!(
            parse(&mut adapter, r#"{"error":"EGeneral:Invalid arguments","success":false}"#).0,
            Control::Rejected { request_id: None, reason: "EGeneral:Invalid arguments".into() }
        );
        assert_eq!(parse(&mut adapter, "{}").0, Control::Unknown);
        assert_eq!(parse(&mut adapter, r#"{"channel":"trade","type":"update","data":[]}"#).0, Control::Data);
    }

    #[test]
    fn bad_input_is_an_error_and_the_next_message_parses() {
        let mut adapter = KrakenAdapter::new();
        let long = format!(
            r#"{{"channel":"trade","type":"update","data":[{{"symbol":"BTC/USD","side":"buy","price":1{},"qty":1,"trade_id":1,"timestamp":"2023-09-25T07:49:37.708706Z"}}]}}"#,
            "0".repeat(40)
        );
        let huge = format!(
            r#"{{"channel":"book","type":"update","data":[{{"symbol":"BTC/USD","bids":[{}{{"price":1,"qty":-1}}],"asks":[],"checksum":1}}]}}"#,
            r#"{"price":1,"qty":1},"#.repeat(10_000)
        );
        let bad: Vec<&[u8]> = vec![
            b"",
            b"not json",
            b"\xff\xfe\x00garbage",
            b"[1,2,3]",
            b"null",
            &TRADE_UPDATE.as_bytes()[..TRADE_UPDATE.len() / 2],
            br#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":"x","qty":1,"trade_id":1,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
            br#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":true,"qty":1,"trade_id":1,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
            br#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1,"qty":-1,"trade_id":1,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
            br#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1e400,"qty":1,"trade_id":1,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
            br#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"up","price":1,"qty":1,"trade_id":1,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
            br#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1,"qty":1,"trade_id":-1,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
            br#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1,"qty":1,"trade_id":99999999999999999999999,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
            br#"{"channel":"trade","type":"update","data":[{"symbol":"XBT/USD","side":"buy","price":1,"qty":1,"trade_id":1,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
            br#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1,"qty":1,"trade_id":1,"timestamp":"yesterday"}]}"#,
            br#"{"channel":"trade","type":"update","data":{}}"#,
            br#"{"channel":"trade","type":"update"}"#,
            br#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[],"checksum":4294967296}]}"#,
            br#"{"channel":"book","type":"delta","data":[{"symbol":"BTC/USD","bids":[],"asks":[]}]}"#,
            br#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":[1]}]}"#,
            br#"{"channel":7}"#,
            long.as_bytes(),
            huge.as_bytes(),
        ];
        for raw in bad {
            let mut events = vec![Event::Trade(Trade {
                market: market("BTC/USD"),
                price: d("1"),
                qty: d("1"),
                side: Side::Buy,
                trade_id: TradeId::new(),
                exchange_time_ns: 0,
                receive_time_ns: 0,
            })];
            let result = adapter.parse(raw, RECEIVED, &mut events);
            assert!(result.is_err(), "{:?} → {result:?}", String::from_utf8_lossy(raw));
            assert_eq!(events.len(), 1);
            let (control, events) = parse(&mut adapter, TRADE_UPDATE);
            assert_eq!((control, events.len()), (Control::Data, 1));
        }
    }

    #[test]
    fn a_second_bad_trade_in_a_batch_leaves_no_events() {
        let mut adapter = KrakenAdapter::new();
        let raw = r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1,"qty":1,"trade_id":1,"timestamp":"2023-09-25T07:49:37.708706Z"},{"symbol":"BTC/USD","side":"buy","price":1,"qty":1,"trade_id":2,"timestamp":"bad"}]}"#;
        let mut events = Vec::new();
        assert!(adapter.parse(raw.as_bytes(), 0, &mut events).is_err());
        assert!(events.is_empty());
    }

    fn valid_messages() -> Vec<&'static str> {
        vec![
            TRADE_UPDATE,
            TICKER_SNAPSHOT,
            TICKER_UPDATE,
            BOOK_SNAPSHOT,
            BOOK_UPDATE,
            SUBSCRIBE_ACK,
            SUBSCRIBE_ERROR,
            INSTRUMENT_SNAPSHOT,
            HEARTBEAT,
            PONG,
            STATUS_UPDATE,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut adapter = KrakenAdapter::new();
            let mut events = Vec::new();
            if adapter.parse(&raw, 0, &mut events).is_err() {
                prop_assert!(events.is_empty());
            }
        }

        #[test]
        fn mutated_messages_never_panic(
            index in 0..11_usize,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut raw = valid_messages()[index].as_bytes().to_vec();
            for (at, byte) in edits {
                let at = at.index(raw.len());
                raw[at] = byte;
            }
            if truncate {
                raw.truncate(cut.index(raw.len()));
            }
            let mut adapter = KrakenAdapter::new();
            let mut events = Vec::new();
            if adapter.parse(&raw, 0, &mut events).is_err() {
                prop_assert!(events.is_empty());
            }
            let mut events = Vec::new();
            prop_assert!(adapter.parse(TRADE_UPDATE.as_bytes(), 0, &mut events).is_ok());
        }
    }
}
