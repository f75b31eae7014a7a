//! Binance spot: the combined-stream WebSocket (`wss://stream.binance.com:9443/stream`) and the
//! REST depth snapshot that seeds its books.
//!
//! Owns:
//! - [`BinanceSpot`], the [`Adapter`]: `SUBSCRIBE` / `UNSUBSCRIBE` requests carrying the request
//!   id (Binance echoes it in `{"result":null,"id":…}`), and the parser for the combined
//!   stream's `{"stream":…,"data":…}` envelopes, replies, errors and `serverShutdown`.
//! - [`parse_depth_snapshot`] and [`depth_snapshot_path`]: `GET /api/v3/depth`, the snapshot a
//!   diff-depth book starts from (Binance sends none on the WebSocket).
//!
//! Channels (stream names are lower case): trades → `<sym>@trade`, bbo → `<sym>@bookTicker`
//! (no event time: `exchange_time_ns` is 0), book → `<sym>@depth@100ms` (diffs: `U`/`u` are
//! `first_sequence`/`last_sequence`; `@depth`, the 1000 ms variant, parses the same), ticker →
//! `<sym>@ticker`.
//!
//! Invariants:
//! - `m` says whether the *buyer* was the maker: `true` means the taker sold.
//! - Routing is on the stream name, read from the envelope's first bytes when the message starts
//!   with `{"stream":"` (as Binance writes it), so a data message is deserialized once; any other
//!   layout goes through a general reader that also accepts raw (`/ws/…`) payloads.
//! - Anything that fails leaves `events` as it was.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::fields::{millis_to_ns, optional, quantity};
use super::json::from_slice;
use super::{Action, Adapter, Control, ParseError, Spec, VenueError};
use crate::model::{
    Bbo, BookUpdate, Channel, Event, InstrumentKind, Level, MarketCache, MarketRef, Side, Ticker, Trade,
    TradeId, Venue,
};

/// The production combined-stream endpoint; subscriptions are made with `SUBSCRIBE` messages.
pub const URL: &str = "wss://stream.binance.com:9443/stream";
/// Production REST base, where [`depth_snapshot_path`] is served.
pub const REST_URL: &str = "https://api.binance.com";
/// The `limit` of the depth snapshots a feed fetches: deep enough for a full book view, at
/// Binance's request weight 50 (limits 1001 to 5000 cost 250).
pub const SNAPSHOT_LIMIT: u32 = 1000;

/// Streams per `SUBSCRIBE` message. Binance documents no limit per message (only 1024 streams
/// per connection and 5 messages per second); 200 is the batch ccxt uses (ccxt PR #20745),
/// which keeps requests small while filling a connection in six messages.
pub const MAX_STREAMS_PER_REQUEST: usize = 200;

/// Streams one connection may hold ("WebSocket Limits": 1024).
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;

/// The Binance spot adapter for `kind`.
///
/// # Errors
///
/// [`VenueError::Unsupported`] for anything but spot: tickwire maps only Binance spot.
pub fn adapter(kind: InstrumentKind) -> Result<Box<dyn Adapter>, VenueError> {
    if kind == InstrumentKind::Spot {
        Ok(Box::new(BinanceSpot::new()))
    } else {
        Err(VenueError::Unsupported { venue: Venue::Binance, endpoint: "spot", what: format!("{kind}") })
    }
}

/// The Binance spot protocol for one connection.
#[derive(Debug)]
pub struct BinanceSpot {
    spec: Spec,
    markets: MarketCache,
}

impl BinanceSpot {
    /// An adapter for the production endpoint.
    #[must_use]
    pub fn new() -> Self {
        Self {
            spec: Spec {
                venue: Venue::Binance,
                endpoint: "spot",
                url: URL,
                max_per_request: MAX_STREAMS_PER_REQUEST,
                max_per_connection: MAX_STREAMS_PER_CONNECTION,
                // 5 incoming messages per second per connection, pongs included: one a second is
                // left for the pong that answers the server's ping every 20 s.
                requests_per_second: 4.0,
                burst: 4,
                app_ping: None,
                subscribe_within: None,
            },
            markets: MarketCache::new(Venue::Binance, Some(InstrumentKind::Spot)),
        }
    }

    fn write_request(
        &self,
        method: &str,
        request_id: u64,
        pairs: &[(MarketRef, Channel)],
        out: &mut Vec<String>,
    ) -> Result<(), VenueError> {
        self.spec.check_request_size(pairs.len())?;
        if pairs.is_empty() {
            return Ok(());
        }
        let mut message = format!(r#"{{"method":"{method}","params":["#);
        for (index, (market, channel)) in pairs.iter().enumerate() {
            if market.venue != Venue::Binance || market.kind != InstrumentKind::Spot {
                return Err(VenueError::Unsupported {
                    venue: Venue::Binance,
                    endpoint: "spot",
                    what: format!("{} {} market {}", market.venue, market.kind, market.unified),
                });
            }
            if index > 0 {
                message.push(',');
            }
            message.push('"');
            push_stream_name(&mut message, market, *channel);
            message.push('"');
        }
        let _ = write!(message, r#"],"id":{request_id}}}"#);
        out.push(message);
        Ok(())
    }

    fn read(&mut self, raw: &[u8], receive_time_ns: u64, events: &mut Vec<Event>) -> Result<Control, String> {
        if let Some(stream) = leading_stream_name(raw) {
            return match StreamKind::of(stream) {
                StreamKind::Trade => {
                    self.trade(from_slice::<Combined<TradeRaw>>(raw)?.data, receive_time_ns, events)
                }
                StreamKind::BookTicker => {
                    self.bbo(from_slice::<Combined<BookTickerRaw>>(raw)?.data, receive_time_ns, events)
                }
                StreamKind::Depth => {
                    self.depth(from_slice::<Combined<DepthRaw>>(raw)?.data, receive_time_ns, events)
                }
                StreamKind::Ticker => {
                    self.ticker(from_slice::<Combined<TickerRaw>>(raw)?.data, receive_time_ns, events)
                }
                StreamKind::Shutdown => Ok(shutdown(from_slice::<Combined<ShutdownRaw>>(raw)?.data)),
                StreamKind::Other => {
                    from_slice::<IgnoredAny>(raw)?;
                    Ok(Control::Unknown)
                }
            };
        }
        // A raw `/ws` trade payload, the busiest raw stream, without the general path's
        // second pass.
        if leading_string(raw, br#"{"e":""#) == Some("trade") {
            return self.trade(from_slice(raw)?, receive_time_ns, events);
        }
        self.read_general(raw, receive_time_ns, events)
    }

    /// Any message not starting with `{"stream":"`: replies, errors, raw-stream payloads, and
    /// envelopes laid out differently.
    fn read_general(
        &mut self,
        raw: &[u8],
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        if raw.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
            return Err("not a JSON object".to_owned());
        }
        let message: General = from_slice(raw)?;
        if let (Some(stream), Some(data)) = (message.stream, message.data) {
            let data = data.get().as_bytes();
            return match StreamKind::of(&stream) {
                StreamKind::Trade => self.trade(from_slice(data)?, receive_time_ns, events),
                StreamKind::BookTicker => self.bbo(from_slice(data)?, receive_time_ns, events),
                StreamKind::Depth => self.depth(from_slice(data)?, receive_time_ns, events),
                StreamKind::Ticker => self.ticker(from_slice(data)?, receive_time_ns, events),
                StreamKind::Shutdown => Ok(shutdown(from_slice(data)?)),
                StreamKind::Other => Ok(Control::Unknown),
            };
        }
        let request_id = message.id.and_then(|id| id.get().parse::<u64>().ok());
        if let Some(error) = message.error {
            return Ok(Control::Rejected { request_id, reason: error.msg.into_owned() });
        }
        if let (Some(_), Some(msg)) = (message.code, message.msg) {
            return Ok(Control::Rejected { request_id, reason: msg.into_owned() });
        }
        if let Some(result) = message.result {
            return Ok(match request_id {
                Some(id) if result.get() == "null" => Control::Ack { request_id: Some(id) },
                _ => Control::Unknown,
            });
        }
        match message.event.as_deref() {
            Some("trade") => self.trade(from_slice(raw)?, receive_time_ns, events),
            Some("depthUpdate") => self.depth(from_slice(raw)?, receive_time_ns, events),
            Some("24hrTicker") => self.ticker(from_slice(raw)?, receive_time_ns, events),
            Some("serverShutdown") => Ok(shutdown(from_slice(raw)?)),
            // A raw `bookTicker` payload is the one event without an `e`.
            None if message.update_id.is_some() && message.symbol.is_some() => {
                self.bbo(from_slice(raw)?, receive_time_ns, events)
            }
            Some(_) | None => Ok(Control::Unknown),
        }
    }

    fn market(&mut self, symbol: &str) -> Result<MarketRef, String> {
        self.markets.get(symbol).cloned().map_err(|error| error.to_string())
    }

    fn trade(
        &mut self,
        raw: TradeRaw<'_>,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        // A u64 has at most 20 digits: it always fits.
        let trade_id = TradeId::from(itoa::Buffer::new().format(raw.trade_id))
            .map_err(|_| "trade id too long".to_owned())?;
        events.push(Event::Trade(Trade {
            market: self.market(raw.symbol)?,
            price: quantity(raw.price, "price")?,
            qty: quantity(raw.qty, "quantity")?,
            side: if raw.buyer_is_maker { Side::Sell } else { Side::Buy },
            trade_id,
            exchange_time_ns: millis_to_ns(raw.trade_time_ms)?,
            receive_time_ns,
        }));
        Ok(Control::Data)
    }

    fn bbo(
        &mut self,
        raw: BookTickerRaw<'_>,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        events.push(Event::Bbo(Bbo {
            market: self.market(raw.symbol)?,
            bid_price: quantity(raw.bid_price, "bid price")?,
            bid_qty: quantity(raw.bid_qty, "bid quantity")?,
            ask_price: quantity(raw.ask_price, "ask price")?,
            ask_qty: quantity(raw.ask_qty, "ask quantity")?,
            exchange_time_ns: 0,
            receive_time_ns,
        }));
        Ok(Control::Data)
    }

    fn depth(
        &mut self,
        raw: DepthRaw<'_>,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        if raw.first_update_id > raw.last_update_id {
            return Err(format!("first update id {} after last {}", raw.first_update_id, raw.last_update_id));
        }
        events.push(Event::Book(BookUpdate {
            market: self.market(raw.symbol)?,
            is_snapshot: false,
            bids: raw.bids,
            asks: raw.asks,
            first_sequence: Some(raw.first_update_id),
            last_sequence: Some(raw.last_update_id),
            prev_sequence: None,
            checksum: None,
            exchange_time_ns: millis_to_ns(raw.event_time_ms)?,
            receive_time_ns,
        }));
        Ok(Control::Data)
    }

    fn ticker(
        &mut self,
        raw: TickerRaw<'_>,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        let ticker = Ticker {
            market: self.market(raw.symbol)?,
            last_price: optional(raw.last, "last price")?,
            bid_price: optional(raw.bid_price, "bid price")?,
            bid_qty: optional(raw.bid_qty, "bid quantity")?,
            ask_price: optional(raw.ask_price, "ask price")?,
            ask_qty: optional(raw.ask_qty, "ask quantity")?,
            open_24h: optional(raw.open, "open price")?,
            high_24h: optional(raw.high, "high price")?,
            low_24h: optional(raw.low, "low price")?,
            volume_24h: optional(raw.volume, "volume")?,
            quote_volume_24h: optional(raw.quote_volume, "quote volume")?,
            change_24h: optional(raw.change, "price change")?,
            change_pct_24h: optional(raw.change_pct, "price change percent")?,
            exchange_time_ns: millis_to_ns(raw.event_time_ms)?,
            receive_time_ns,
        };
        events.push(Event::Ticker(Box::new(ticker)));
        Ok(Control::Data)
    }
}

impl Default for BinanceSpot {
    fn default() -> Self {
        Self::new()
    }
}

impl Adapter for BinanceSpot {
    fn spec(&self) -> &Spec {
        &self.spec
    }

    fn request(
        &self,
        action: Action,
        request_id: u64,
        pairs: &[(MarketRef, Channel)],
        out: &mut Vec<String>,
    ) -> Result<(), VenueError> {
        let op = match action {
            Action::Subscribe => "SUBSCRIBE",
            Action::Unsubscribe => "UNSUBSCRIBE",
        };
        self.write_request(op, request_id, pairs, out)
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

/// The stream suffix (after `<symbol>@`) that carries `channel`.
#[must_use]
pub const fn stream_suffix(channel: Channel) -> &'static str {
    match channel {
        Channel::Trades => "trade",
        Channel::Bbo => "bookTicker",
        Channel::Book => "depth@100ms",
        Channel::Ticker => "ticker",
    }
}

/// Appends `<lower-case symbol>@<suffix>`, the stream name for `market`'s `channel`.
pub fn push_stream_name(out: &mut String, market: &MarketRef, channel: Channel) {
    out.extend(market.native.chars().map(|c| c.to_ascii_lowercase()));
    out.push('@');
    out.push_str(stream_suffix(channel));
}

/// `GET /api/v3/depth?symbol=<SYMBOL>&limit=<limit>`: the REST path of `market`'s book snapshot
/// (Binance takes `limit` 1 to 5000, default 100).
#[must_use]
pub fn depth_snapshot_path(market: &MarketRef, limit: u32) -> String {
    format!("/api/v3/depth?symbol={}&limit={limit}", market.native)
}

/// Reads the body of [`depth_snapshot_path`]'s answer (`{"lastUpdateId":…,"bids":…,"asks":…}`)
/// as a snapshot of `market` whose `last_sequence` is `lastUpdateId`; the REST answer carries no
/// time, so `exchange_time_ns` is 0.
///
/// # Errors
///
/// [`ParseError`] for anything else, including Binance's REST errors
/// (`{"code":-1121,"msg":"Invalid symbol."}`, whose `msg` becomes the reason).
pub fn parse_depth_snapshot(
    market: &MarketRef,
    raw: &[u8],
    receive_time_ns: u64,
) -> Result<BookUpdate, ParseError> {
    #[derive(Deserialize)]
    struct RestError<'a> {
        code: i64,
        #[serde(borrow)]
        msg: Cow<'a, str>,
    }
    let snapshot: DepthSnapshotRaw = super::json::from_slice(raw).map_err(|error| {
        let reason = match super::json::from_slice::<RestError>(raw) {
            Ok(rest) => format!("Binance error {}: {}", rest.code, rest.msg),
            Err(_) => error.clone(),
        };
        ParseError::new(Venue::Binance, reason, raw)
    })?;
    Ok(BookUpdate {
        market: MarketRef::clone(market),
        is_snapshot: true,
        bids: snapshot.bids,
        asks: snapshot.asks,
        first_sequence: None,
        last_sequence: Some(snapshot.last_update_id),
        prev_sequence: None,
        checksum: None,
        exchange_time_ns: 0,
        receive_time_ns,
    })
}

/// What a stream name carries, by its part after the first `@`.
enum StreamKind {
    Trade,
    BookTicker,
    Depth,
    Ticker,
    Shutdown,
    Other,
}

impl StreamKind {
    fn of(stream: &str) -> Self {
        // Suffix tests, busiest first: cheaper than splitting at the `@` on every message.
        if stream.ends_with("@trade") {
            Self::Trade
        } else if stream.ends_with("@bookTicker") {
            Self::BookTicker
        } else if stream.ends_with("@depth@100ms") || stream.ends_with("@depth") {
            Self::Depth
        } else if stream.ends_with("@ticker") {
            Self::Ticker
        } else if stream == "!serverShutdown" {
            Self::Shutdown
        } else {
            Self::Other
        }
    }
}

/// The stream name of a message that starts `{"stream":"<name>"`, as Binance writes envelopes.
fn leading_stream_name(raw: &[u8]) -> Option<&str> {
    leading_string(raw, br#"{"stream":""#)
}

/// The string value right after `prefix`, if the message starts with it and the value has no
/// escapes.
fn leading_string<'a>(raw: &'a [u8], prefix: &[u8]) -> Option<&'a str> {
    let rest = raw.strip_prefix(prefix)?;
    let end = rest.iter().position(|&byte| byte == b'"' || byte == b'\\')?;
    if rest[end] == b'\\' {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

fn shutdown(raw: ShutdownRaw) -> Control {
    Control::Reconnect { reason: format!("serverShutdown (event time {} ms)", raw.event_time_ms) }
}

/// The combined stream's envelope; `stream` was read already.
#[derive(Deserialize)]
struct Combined<D> {
    data: D,
}

/// Any message, for the general path: every field optional, values left unread.
#[derive(Deserialize)]
struct General<'a> {
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    /// Present (`Some`) even when `null`, which is how Binance says a request succeeded.
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<ErrorRaw<'a>>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(borrow, default)]
    msg: Option<Cow<'a, str>>,
    #[serde(rename = "e", borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(rename = "u", default)]
    update_id: Option<IgnoredAny>,
    #[serde(rename = "s", default)]
    symbol: Option<IgnoredAny>,
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
struct ErrorRaw<'a> {
    #[serde(borrow)]
    msg: Cow<'a, str>,
}

#[derive(Clone, Copy, Deserialize)]
struct TradeRaw<'a> {
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "t")]
    trade_id: u64,
    #[serde(rename = "p")]
    price: &'a str,
    #[serde(rename = "q")]
    qty: &'a str,
    #[serde(rename = "T")]
    trade_time_ms: u64,
    #[serde(rename = "m")]
    buyer_is_maker: bool,
}

#[derive(Clone, Copy, Deserialize)]
struct BookTickerRaw<'a> {
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "b")]
    bid_price: &'a str,
    #[serde(rename = "B")]
    bid_qty: &'a str,
    #[serde(rename = "a")]
    ask_price: &'a str,
    #[serde(rename = "A")]
    ask_qty: &'a str,
}

/// A `depthUpdate`; its levels are parsed to [`Level`]s as they are read, with no
/// intermediate vector.
#[derive(Deserialize)]
struct DepthRaw<'a> {
    #[serde(rename = "E")]
    event_time_ms: u64,
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "U")]
    first_update_id: u64,
    #[serde(rename = "u")]
    last_update_id: u64,
    #[serde(rename = "b", deserialize_with = "levels")]
    bids: Vec<Level>,
    #[serde(rename = "a", deserialize_with = "levels")]
    asks: Vec<Level>,
}

#[derive(Deserialize)]
struct DepthSnapshotRaw {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    #[serde(deserialize_with = "levels")]
    bids: Vec<Level>,
    #[serde(deserialize_with = "levels")]
    asks: Vec<Level>,
}

#[derive(Clone, Copy, Deserialize)]
struct TickerRaw<'a> {
    #[serde(rename = "E")]
    event_time_ms: u64,
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "p", default)]
    change: Option<&'a str>,
    #[serde(rename = "P", default)]
    change_pct: Option<&'a str>,
    #[serde(rename = "c", default)]
    last: Option<&'a str>,
    #[serde(rename = "b", default)]
    bid_price: Option<&'a str>,
    #[serde(rename = "B", default)]
    bid_qty: Option<&'a str>,
    #[serde(rename = "a", default)]
    ask_price: Option<&'a str>,
    #[serde(rename = "A", default)]
    ask_qty: Option<&'a str>,
    #[serde(rename = "o", default)]
    open: Option<&'a str>,
    #[serde(rename = "h", default)]
    high: Option<&'a str>,
    #[serde(rename = "l", default)]
    low: Option<&'a str>,
    #[serde(rename = "v", default)]
    volume: Option<&'a str>,
    #[serde(rename = "q", default)]
    quote_volume: Option<&'a str>,
}

#[derive(Clone, Copy, Deserialize)]
struct ShutdownRaw {
    #[serde(rename = "E")]
    event_time_ms: u64,
}

/// Reads `[[price, qty], …]` straight into levels: decimals, quantity not negative.
fn levels<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Level>, D::Error> {
    struct LevelsVisitor;

    impl<'de> Visitor<'de> for LevelsVisitor {
        type Value = Vec<Level>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("an array of [price, quantity] string pairs")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Level>, A::Error> {
            // A hint from the input is not trusted beyond a small bound.
            let mut levels = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            while let Some(WireLevel(level)) = seq.next_element()? {
                levels.push(level);
            }
            Ok(levels)
        }
    }

    deserializer.deserialize_seq(LevelsVisitor)
}

struct WireLevel(Level);

impl<'de> Deserialize<'de> for WireLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LevelVisitor;

        impl<'de> Visitor<'de> for LevelVisitor {
            type Value = WireLevel;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a [price, quantity] pair of decimal strings")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireLevel, A::Error> {
                let price: &str = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let qty: &str = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                let price = quantity(price, "level price").map_err(de::Error::custom)?;
                let qty = quantity(qty, "level quantity").map_err(de::Error::custom)?;
                Ok(WireLevel(Level { price, qty }))
            }
        }

        deserializer.deserialize_seq(LevelVisitor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use std::sync::Arc;

    use super::*;
    use crate::model::Decimal;
    use crate::model::market::{intern, intern_unified};

    const TRADE: &str = include_str!("../../tests/fixtures/binance/trades_trade.json");
    const BOOK_TICKER: &str = include_str!("../../tests/fixtures/binance/bbo_book_ticker.json");
    const DEPTH: &str = include_str!("../../tests/fixtures/binance/book_depth_update.json");
    const SNAPSHOT: &str = include_str!("../../tests/fixtures/binance/book_depth_snapshot.json");
    const TICKER: &str = include_str!("../../tests/fixtures/binance/ticker_24hr.json");
    const SHUTDOWN: &str = include_str!("../../tests/fixtures/binance/control_server_shutdown.json");
    const SUBSCRIBE_ACK: &str = include_str!("../../tests/fixtures/binance/control_subscribe_ack.json");
    const UNSUBSCRIBE_ACK: &str = include_str!("../../tests/fixtures/binance/control_unsubscribe_ack.json");
    const ERROR: &str = include_str!("../../tests/fixtures/binance/control_error.json");
    const ERROR_FLAT: &str = include_str!("../../tests/fixtures/binance/control_error_flat.json");
    const LIST: &str = include_str!("../../tests/fixtures/binance/control_list_subscriptions.json");

    const RECEIVED: u64 = 42;

    fn dec(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    fn level(price: &str, qty: &str) -> Level {
        Level { price: dec(price), qty: dec(qty) }
    }

    fn parse(raw: &str) -> (Result<Control, ParseError>, Vec<Event>) {
        let mut adapter = BinanceSpot::new();
        let mut events = Vec::new();
        let control = adapter.parse(raw.as_bytes(), RECEIVED, &mut events);
        (control, events)
    }

    fn one_event(raw: &str) -> Event {
        let (control, mut events) = parse(raw);
        assert_eq!(control, Ok(Control::Data), "{raw}");
        assert_eq!(events.len(), 1);
        events.pop().unwrap()
    }

    fn market(native: &str) -> MarketRef {
        intern(Venue::Binance, Some(InstrumentKind::Spot), native).unwrap()
    }

    #[test]
    fn trade_fixture_field_by_field() {
        let Event::Trade(trade) = one_event(TRADE) else { panic!("not a trade") };
        assert!(Arc::ptr_eq(&trade.market, &market("BNBBTC")));
        assert_eq!(&*trade.market.unified, "BNB/BTC");
        assert_eq!(trade.price.to_string(), "0.001");
        assert_eq!(trade.qty.to_string(), "100");
        assert_eq!(trade.side, Side::Sell, "m: true means the buyer made, so the taker sold");
        assert_eq!(trade.trade_id.as_str(), "12345");
        assert_eq!(trade.exchange_time_ns, 1_672_515_782_136_000_000);
        assert_eq!(trade.receive_time_ns, RECEIVED);

        let buy = TRADE.replace(r#""m":true"#, r#""m":false"#);
        let Event::Trade(trade) = one_event(&buy) else { panic!("not a trade") };
        assert_eq!(trade.side, Side::Buy);
    }

    #[test]
    fn book_ticker_fixture_field_by_field() {
        let Event::Bbo(bbo) = one_event(BOOK_TICKER) else { panic!("not a bbo") };
        assert_eq!(&*bbo.market.native, "BNBUSDT");
        assert_eq!(bbo.bid_price.to_string(), "25.35190000");
        assert_eq!(bbo.bid_qty.to_string(), "31.21000000");
        assert_eq!(bbo.ask_price.to_string(), "25.36520000");
        assert_eq!(bbo.ask_qty.to_string(), "40.66000000");
        assert_eq!(bbo.exchange_time_ns, 0, "bookTicker carries no time");
        assert_eq!(bbo.receive_time_ns, RECEIVED);
    }

    #[test]
    fn depth_fixture_field_by_field() {
        let Event::Book(book) = one_event(DEPTH) else { panic!("not a book update") };
        assert_eq!(&*book.market.native, "BNBBTC");
        assert!(!book.is_snapshot);
        assert_eq!(book.bids, vec![level("0.0024", "10")]);
        assert_eq!(book.asks, vec![level("0.0026", "100")]);
        assert_eq!(book.bids[0].price.to_string(), "0.0024");
        assert_eq!(
            (book.first_sequence, book.last_sequence, book.prev_sequence),
            (Some(157), Some(160), None)
        );
        assert_eq!(book.checksum, None);
        assert_eq!(book.exchange_time_ns, 1_672_515_782_136_000_000);
        assert_eq!(book.receive_time_ns, RECEIVED);

        let slow = DEPTH.replace("@depth@100ms", "@depth");
        assert_eq!(one_event(&slow), Event::Book(book));
    }

    #[test]
    fn ticker_fixture_field_by_field() {
        let Event::Ticker(ticker) = one_event(TICKER) else { panic!("not a ticker") };
        assert_eq!(&*ticker.market.native, "BNBBTC");
        let text = |value: Option<Decimal>| value.map(|value| value.to_string());
        assert_eq!(text(ticker.last_price).as_deref(), Some("0.0025"));
        assert_eq!(text(ticker.bid_price).as_deref(), Some("0.0024"));
        assert_eq!(text(ticker.bid_qty).as_deref(), Some("10"));
        assert_eq!(text(ticker.ask_price).as_deref(), Some("0.0026"));
        assert_eq!(text(ticker.ask_qty).as_deref(), Some("100"));
        assert_eq!(text(ticker.open_24h).as_deref(), Some("0.0010"));
        assert_eq!(text(ticker.high_24h).as_deref(), Some("0.0025"));
        assert_eq!(text(ticker.low_24h).as_deref(), Some("0.0010"));
        assert_eq!(text(ticker.volume_24h).as_deref(), Some("10000"));
        assert_eq!(text(ticker.quote_volume_24h).as_deref(), Some("18"));
        assert_eq!(text(ticker.change_24h).as_deref(), Some("0.0015"));
        assert_eq!(text(ticker.change_pct_24h).as_deref(), Some("250.00"));
        assert_eq!(ticker.exchange_time_ns, 1_672_515_782_136_000_000);
        assert_eq!(ticker.receive_time_ns, RECEIVED);

        let negative = TICKER.replace(r#""p":"0.0015""#, r#""p":"-0.0015""#);
        let Event::Ticker(ticker) = one_event(&negative) else { panic!("not a ticker") };
        assert_eq!(ticker.change_24h, Some(dec("-0.0015")), "a change may be negative");
    }

    #[test]
    fn depth_snapshot_fixture_field_by_field() {
        let btc = market("BNBBTC");
        let book = parse_depth_snapshot(&btc, SNAPSHOT.as_bytes(), RECEIVED).unwrap();
        assert!(Arc::ptr_eq(&book.market, &btc));
        assert!(book.is_snapshot);
        assert_eq!(book.bids, vec![level("4.00000000", "431.00000000")]);
        assert_eq!(book.asks, vec![level("4.00000200", "12.00000000")]);
        assert_eq!(book.asks[0].price.to_string(), "4.00000200");
        assert_eq!(
            (book.first_sequence, book.last_sequence, book.prev_sequence),
            (None, Some(1_027_024), None)
        );
        assert_eq!((book.checksum, book.exchange_time_ns, book.receive_time_ns), (None, 0, RECEIVED));

        assert_eq!(depth_snapshot_path(&market("BTCUSDT"), 5000), "/api/v3/depth?symbol=BTCUSDT&limit=5000");
        let error = parse_depth_snapshot(&btc, br#"{"code":-1121,"msg":"Invalid symbol."}"#, 0).unwrap_err();
        assert_eq!(error.reason, "Binance error -1121: Invalid symbol.");
        for bad in [
            &b""[..],
            b"{",
            br#"{"lastUpdateId":-1,"bids":[],"asks":[]}"#,
            br#"{"lastUpdateId":1,"bids":[["1","-2"]],"asks":[]}"#,
        ] {
            assert!(parse_depth_snapshot(&btc, bad, 0).is_err());
        }
    }

    #[test]
    fn replies_errors_and_shutdown() {
        assert_eq!(parse(SUBSCRIBE_ACK).0, Ok(Control::Ack { request_id: Some(1) }));
        assert_eq!(parse(UNSUBSCRIBE_ACK).0, Ok(Control::Ack { request_id: Some(312) }));
        assert_eq!(parse(r#"{"id":9,"result":null}"#).0, Ok(Control::Ack { request_id: Some(9) }));
        assert_eq!(
            parse(ERROR).0,
            Ok(Control::Rejected { request_id: Some(2), reason: "Invalid request: invalid stream".into() })
        );
        assert_eq!(
            parse(ERROR_FLAT).0,
            Ok(Control::Rejected { request_id: Some(7), reason: "Unknown property".into() })
        );
        assert_eq!(
            parse(
                r#"{"error":{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"},"id":null}"#
            )
            .0,
            Ok(Control::Rejected {
                request_id: None,
                reason: "Invalid JSON: expected value at line 1 column 1".into()
            })
        );
        assert_eq!(
            parse(r#"{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"}"#).0,
            Ok(Control::Rejected {
                request_id: None,
                reason: "Invalid request: request ID must be an unsigned integer".into()
            })
        );
        assert_eq!(parse(LIST).0, Ok(Control::Unknown), "we never list subscriptions");
        assert!(
            matches!(parse(SHUTDOWN).0, Ok(Control::Reconnect { reason }) if reason.starts_with("serverShutdown"))
        );
        let unwrapped = r#"{"e":"serverShutdown","E":1770123456789}"#;
        assert!(matches!(parse(unwrapped).0, Ok(Control::Reconnect { .. })));
    }

    #[test]
    fn other_well_formed_messages_are_unknown() {
        for raw in [
            r#"{"stream":"bnbbtc@aggTrade","data":{"e":"aggTrade","a":1}}"#,
            r#"{"stream":"bnbbtc@kline_1m","data":{}}"#,
            r#"{"data":{"x":1},"stream":"bnbbtc@kline_1m"}"#,
            r#"{"e":"kline","E":1}"#,
            r#"{"hello":"world"}"#,
            "{}",
        ] {
            let (control, events) = parse(raw);
            assert_eq!(control, Ok(Control::Unknown), "{raw}");
            assert!(events.is_empty());
        }
    }

    #[test]
    fn other_layouts_and_raw_payloads_parse_the_same() {
        let reordered = r#"{ "data": {"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}, "stream": "bnbbtc@trade" }"#;
        assert_eq!(one_event(reordered), one_event(TRADE));
        let raw_trade = r#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}"#;
        assert_eq!(one_event(raw_trade), one_event(TRADE));
        let raw_ticker = r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
        assert_eq!(one_event(raw_ticker), one_event(BOOK_TICKER));
        let raw_depth = r#"{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}"#;
        assert_eq!(one_event(raw_depth), one_event(DEPTH));
        let escaped = TRADE.replace("bnbbtc@trade", r"bnbbtc\u0040trade");
        assert_eq!(one_event(&escaped), one_event(TRADE));
    }

    #[test]
    fn subscribe_and_unsubscribe_messages() {
        let adapter = BinanceSpot::new();
        let btc = intern_unified(Venue::Binance, "BTC/USDT").unwrap();
        let eth = intern_unified(Venue::Binance, "ETH/USDT").unwrap();
        let pairs = [
            (Arc::clone(&btc), Channel::Trades),
            (Arc::clone(&btc), Channel::Bbo),
            (Arc::clone(&eth), Channel::Book),
            (Arc::clone(&eth), Channel::Ticker),
        ];
        let mut out = Vec::new();
        adapter.subscribe(7, &pairs, &mut out).unwrap();
        adapter.unsubscribe(8, &pairs[..1], &mut out).unwrap();
        assert_eq!(
            out,
            [
                r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@bookTicker","ethusdt@depth@100ms","ethusdt@ticker"],"id":7}"#,
                r#"{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":8}"#,
            ]
        );
        adapter.subscribe(9, &[], &mut out).unwrap();
        assert_eq!(out.len(), 2, "no pairs, no message");

        let many = vec![(Arc::clone(&btc), Channel::Trades); MAX_STREAMS_PER_REQUEST + 1];
        assert_eq!(
            adapter.subscribe(1, &many, &mut out),
            Err(VenueError::TooMany { venue: Venue::Binance, count: 201, max: 200 })
        );
        let okx = intern_unified(Venue::Okx, "BTC/USDT-PERP").unwrap();
        assert!(matches!(
            adapter.subscribe(1, &[(okx, Channel::Trades)], &mut out),
            Err(VenueError::Unsupported { venue: Venue::Binance, .. })
        ));
        assert_eq!(out.len(), 2, "a refused request appends nothing");
    }

    #[test]
    fn spec_and_kinds() {
        let adapter = adapter(InstrumentKind::Spot).unwrap();
        let spec = adapter.spec();
        assert_eq!(
            (spec.venue, spec.endpoint, spec.url),
            (Venue::Binance, "spot", "wss://stream.binance.com:9443/stream")
        );
        assert_eq!((spec.max_per_request, spec.max_per_connection), (200, 1024));
        assert!(spec.requests_per_second < 5.0 && spec.burst < 5);
        assert_eq!((spec.app_ping, spec.subscribe_within), (None, None));
        assert!(super::adapter(InstrumentKind::Perpetual).is_err());
    }

    /// Messages that must be refused, each with the reason it should be.
    const BAD: &[&str] = &[
        "",
        " ",
        "{",
        "\u{0}\u{1}\u{2}",
        "not json",
        r#"{"stream":"bnbbtc@trade""#,
        r#"{"stream":"bnbbtc@trade","data":"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"0.001","q":"100","T":1,"m":true"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":"1","p":"0.001","q":"100","T":1,"m":true}}"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":0.001,"q":"100","T":1,"m":true}}"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"0.001","q":"-100","T":1,"m":true}}"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"123456789012345678901234567890123456789","q":"1","T":1,"m":true}}"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"1e999","q":"1","T":1,"m":true}}"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"NaN","q":"1","T":1,"m":true}}"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":99999999999999999999999,"p":"1","q":"1","T":1,"m":true}}"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":-1,"p":"1","q":"1","T":1,"m":true}}"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"1","q":"1","T":18446744073709551615,"m":true}}"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"NOTAPAIR","t":1,"p":"1","q":"1","T":1,"m":true}}"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"1","q":"1","T":1,"m":"yes"}}"#,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"1","q":"1","T":1}}"#,
        r#"{"stream":"bnbbtc@trade","data":null}"#,
        r#"{"stream":"bnbbtc@trade"}"#,
        r#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":9,"u":8,"b":[],"a":[]}}"#,
        r#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["1"]],"a":[]}}"#,
        r#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["1","2","3"]],"a":[]}}"#,
        r#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[[1,2]],"a":[]}}"#,
        r#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["1","-2"]],"a":[]}}"#,
        r#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":{},"a":[]}}"#,
        r#"{"stream":"bnbusdt@bookTicker","data":{"u":1,"s":"BNBUSDT","b":"1","B":"1","a":"1"}}"#,
        r#"{"stream":"bnbbtc@ticker","data":{"e":"24hrTicker","E":1,"s":"BNBBTC","c":"1.2.3"}}"#,
        r#"{"stream":"!serverShutdown","data":{"e":"serverShutdown"}}"#,
        r#"{"result":null,"id":1"#,
        r#"{"error":{"code":2},"id":1}"#,
        r#"{"e":"trade","s":"BNBBTC"}"#,
        r#"{"u":1,"s":"BNBUSDT"}"#,
        "[]",
        "null",
        "1",
        r#""text""#,
    ];

    #[test]
    fn bad_input_is_an_error_and_the_next_message_still_parses() {
        let mut adapter = BinanceSpot::new();
        let mut events = Vec::new();
        adapter.parse(TRADE.as_bytes(), 1, &mut events).unwrap();
        for raw in BAD {
            let result = adapter.parse(raw.as_bytes(), 2, &mut events);
            assert!(result.is_err(), "{raw}: {result:?}");
            assert_eq!(result.unwrap_err().raw, *raw);
            assert_eq!(events.len(), 1, "{raw} left events behind");
            adapter.parse(TRADE.as_bytes(), 3, &mut events).unwrap();
            events.truncate(1);
        }
        for garbage in [&[0xFF_u8, 0xFE, 0x00][..], b"{\"stream\":\"\xFF\xFE\"}", b"\x80\x81"] {
            assert!(adapter.parse(garbage, 2, &mut events).is_err());
            assert_eq!(events.len(), 1);
        }
    }

    #[test]
    fn huge_arrays_parse_or_fail_cleanly() {
        let levels = vec![r#"["1.5","2"]"#; 100_000].join(",");
        let raw = format!(
            r#"{{"stream":"bnbbtc@depth@100ms","data":{{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[{levels}],"a":[]}}}}"#
        );
        let Event::Book(book) = one_event(&raw) else { panic!("not a book update") };
        assert_eq!(book.bids.len(), 100_000);
        let bad = raw.replacen(r#"["1.5","2"]"#, r#"["1.5","x"]"#, 1);
        let (result, events) = parse(&bad);
        assert!(result.is_err() && events.is_empty());
    }

    fn valid_messages() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            TRADE,
            BOOK_TICKER,
            DEPTH,
            TICKER,
            SHUTDOWN,
            SUBSCRIBE_ACK,
            ERROR,
            ERROR_FLAT,
        ])
    }

    fn check_never_appends_on_error(raw: &[u8]) -> Result<(), TestCaseError> {
        let mut adapter = BinanceSpot::new();
        let mut events = vec![one_event(TRADE)];
        match adapter.parse(raw, 0, &mut events) {
            Ok(Control::Data) => prop_assert!(!events.is_empty()),
            Ok(_) => prop_assert_eq!(events.len(), 1),
            Err(_) => prop_assert_eq!(events.len(), 1),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..256)) {
            check_never_appends_on_error(&raw)?;
        }

        #[test]
        fn mutated_messages_never_panic(
            message in valid_messages(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut raw = message.as_bytes().to_vec();
            for (at, byte) in &edits {
                let at = at.index(raw.len());
                raw[at] = *byte;
            }
            check_never_appends_on_error(&raw)?;
            check_never_appends_on_error(&message.as_bytes()[..cut.index(message.len())])?;
        }

        #[test]
        fn trades_keep_every_value(price in 0_u64..u64::MAX, scale in 0_u8..18, id in any::<u64>(), time_ms in 0_u64..10_000_000_000_000) {
            let price = Decimal::new(i128::from(price), scale).to_string();
            let raw = format!(
                r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","E":1,"s":"BTCUSDT","t":{id},"p":"{price}","q":"1","T":{time_ms},"m":false,"M":true}}}}"#
            );
            let Event::Trade(trade) = one_event(&raw) else { panic!("not a trade") };
            prop_assert_eq!(trade.price.to_string(), price);
            prop_assert_eq!(trade.trade_id.as_str(), id.to_string());
            prop_assert_eq!(trade.exchange_time_ns, time_ms * 1_000_000);
        }
    }
}
