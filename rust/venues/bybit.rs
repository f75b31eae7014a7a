//! Bybit v5 public market data: the `spot` and `linear` endpoints.
//!
//! Owns the topic names (`publicTrade.{symbol}`, `orderbook.{depth}.{symbol}`,
//! `tickers.{symbol}`), the subscribe/unsubscribe requests (`req_id` carries the request id as a
//! decimal string; the venue echoes it in the ack), and the parsing of every message the public
//! endpoints send: data (routed by `topic`), acks and refusals (`op` + `success`), and pongs.
//!
//! Mapping (PROTOCOLS.md §2):
//! - trades → `publicTrade.{symbol}`: one [`Trade`] per element of `data` (up to 1024); `S` is
//!   the taker's side, `i` the trade id, `T` the fill time.
//! - bbo → `orderbook.1.{symbol}`: the venue pushes level-1 snapshots (a delta, should one come,
//!   changes the sides it names); one [`Bbo`] per message once both sides are known.
//! - book → `orderbook.50.{symbol}`: snapshot then deltas; `u` → `last_sequence` (a snapshot,
//!   including the `u = 1` one Bybit sends after a restart, always replaces the book); `seq`
//!   (cross sequence) has no slot in [`BookUpdate`] and is not kept. Bybit sends no checksum.
//! - ticker → `tickers.{symbol}`: spot sends snapshots without bid/ask; linear sends a snapshot
//!   then deltas in which absent fields are unchanged — each [`Ticker`] carries exactly the
//!   fields the message gave (`""` counts as absent). `price24hPcnt` is a fraction and becomes
//!   percent by moving the decimal point, exactly.
//!
//! Exchange times: trades `T`, books and BBO `cts` (matching-engine time; `ts` when absent),
//! tickers `ts`; milliseconds → ns.
//!
//! Invariants: [`Adapter::parse`] never panics on input and appends events only on success.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::fields::{millis_to_ns, optional_or_blank, quantity};
use super::{Action, Adapter, AppPing, Control, Spec, VenueError};
use crate::model::{
    Bbo, BookUpdate, Channel, Decimal, Event, InstrumentKind, Level, MarketCache, MarketRef, Side, Ticker,
    Trade, TradeId, Venue,
};

/// Spot endpoint URL.
pub const SPOT_URL: &str = "wss://stream.bybit.com/v5/public/spot";
/// Linear (USDT/USDC perpetual) endpoint URL.
pub const LINEAR_URL: &str = "wss://stream.bybit.com/v5/public/linear";

/// The application ping Bybit recommends every 20 s (its `req_id` is optional).
pub const PING: &str = r#"{"op":"ping"}"#;

/// Book depth subscribed for [`Channel::Book`].
pub const BOOK_DEPTH: u32 = 50;

/// Pairs per connection: Bybit caps the `args` of one public connection at 21,000 characters;
/// 500 topics of up to 40 characters each (quotes and comma included) stay below it.
const MAX_PER_CONNECTION: usize = 500;

/// Spot accepts at most 10 args per request (`"args size >10"` otherwise).
const SPOT_MAX_PER_REQUEST: usize = 10;

/// Linear documents no per-request limit; a bounded request keeps one refused topic from
/// failing hundreds of others.
const LINEAR_MAX_PER_REQUEST: usize = 100;

/// Bybit documents no request rate for public streams (only 500 connections per 5 minutes
/// per IP); this is a polite pace.
const REQUESTS_PER_SECOND: f64 = 10.0;
const BURST: u32 = 10;

const APP_PING: AppPing = AppPing { interval: Duration::from_secs(20), message: PING };

/// The Bybit adapter for `kind`: spot → the `spot` endpoint, perpetual → `linear`.
///
/// # Errors
///
/// [`VenueError::Unsupported`] for futures (they trade on `linear`, but are not mapped here).
pub fn adapter(kind: InstrumentKind) -> Result<Box<dyn Adapter>, VenueError> {
    let (endpoint, url, max_per_request) = match kind {
        InstrumentKind::Spot => ("spot", SPOT_URL, SPOT_MAX_PER_REQUEST),
        InstrumentKind::Perpetual => ("linear", LINEAR_URL, LINEAR_MAX_PER_REQUEST),
        InstrumentKind::Future(_) => {
            return Err(VenueError::Unsupported {
                venue: Venue::Bybit,
                endpoint: "linear",
                what: kind.to_string(),
            });
        }
    };
    let spec = Spec {
        venue: Venue::Bybit,
        endpoint,
        url,
        max_per_request,
        max_per_connection: MAX_PER_CONNECTION,
        requests_per_second: REQUESTS_PER_SECOND,
        burst: BURST,
        app_ping: Some(APP_PING),
        subscribe_within: None,
    };
    Ok(Box::new(Bybit::new(spec, kind)))
}

/// One endpoint's adapter.
#[derive(Debug)]
pub struct Bybit {
    spec: Spec,
    kind: InstrumentKind,
    markets: MarketCache,
    /// Level-1 top per market id, for BBO (a level-1 delta names only the side that changed).
    tops: HashMap<u32, Top>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Top {
    bid: Option<Level>,
    ask: Option<Level>,
}

impl Bybit {
    fn new(spec: Spec, kind: InstrumentKind) -> Self {
        let cache_kind = match kind {
            InstrumentKind::Spot => None,
            other => Some(other),
        };
        Self { spec, kind, markets: MarketCache::new(Venue::Bybit, cache_kind), tops: HashMap::new() }
    }

    fn write_request(
        &self,
        op: &str,
        request_id: u64,
        pairs: &[(MarketRef, Channel)],
        out: &mut Vec<String>,
    ) -> Result<(), VenueError> {
        self.spec.check_request_size(pairs.len())?;
        let mut message = String::with_capacity(48 + pairs.len() * 32);
        // Writing to a String cannot fail.
        let _ = write!(message, r#"{{"req_id":"{request_id}","op":"{op}","args":["#);
        for (index, (market, channel)) in pairs.iter().enumerate() {
            if market.venue != Venue::Bybit || market.kind != self.kind {
                return Err(VenueError::Unsupported {
                    venue: Venue::Bybit,
                    endpoint: self.spec.endpoint,
                    what: format!("{} ({} on {})", market.unified, market.kind, market.venue),
                });
            }
            if index > 0 {
                message.push(',');
            }
            let _ = write!(message, "\"{}\"", Topic(*channel, &market.native));
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
        if let Some(topic) = envelope.topic {
            let Some(data) = envelope.data else { return Err(format!("{topic}: no data")) };
            let data = data.get();
            if topic.starts_with("publicTrade.") {
                return self.trades(data, receive_time_ns, events);
            }
            if let Some(rest) = topic.strip_prefix("orderbook.") {
                let exchange_time_ns = millis_to_ns(envelope.cts.or(envelope.ts).unwrap_or(0))?;
                let snapshot = match envelope.kind {
                    Some("snapshot") => true,
                    Some("delta") => false,
                    other => return Err(format!("book type {other:?}")),
                };
                return if rest.starts_with("1.") {
                    self.bbo(data, snapshot, exchange_time_ns, receive_time_ns, events)
                } else {
                    self.book(data, snapshot, exchange_time_ns, receive_time_ns, events)
                };
            }
            if topic.starts_with("tickers.") {
                let exchange_time_ns = millis_to_ns(envelope.ts.unwrap_or(0))?;
                return self.ticker(data, exchange_time_ns, receive_time_ns, events);
            }
            return Ok(Control::Unknown);
        }
        let Some(op) = envelope.op else { return Ok(Control::Unknown) };
        let request_id = envelope.req_id.and_then(request_id);
        let reason = || envelope.ret_msg.as_deref().unwrap_or_default().to_owned();
        Ok(match (op, envelope.success) {
            (_, Some(false)) => Control::Rejected { request_id, reason: reason() },
            // Spot and linear answer a ping with `"op":"ping"`, option/spread with `"op":"pong"`.
            ("ping" | "pong", _) => Control::Pong,
            ("subscribe" | "unsubscribe", Some(true)) => Control::Ack { request_id },
            ("subscribe" | "unsubscribe", None) => return Err(format!("{op} answer without success")),
            _ => Control::Unknown,
        })
    }

    fn market(&mut self, symbol: &str) -> Result<MarketRef, String> {
        self.markets.get(symbol).map(Arc::clone).map_err(|error| error.to_string())
    }

    fn trades(
        &mut self,
        data: &str,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        let trades: Vec<RawTrade<'_>> = super::json::from_str(data)?;
        events.reserve(trades.len());
        for trade in trades {
            let market = self.market(trade.symbol)?;
            let side = match trade.side {
                "Buy" => Side::Buy,
                "Sell" => Side::Sell,
                other => return Err(format!("trade side {other:?}")),
            };
            let trade_id = TradeId::from(trade.id)
                .map_err(|_| format!("trade id longer than 48 bytes: {:?}", trade.id))?;
            events.push(Event::Trade(Trade {
                market,
                price: quantity(trade.price, "price")?,
                qty: quantity(trade.qty, "size")?,
                side,
                trade_id,
                exchange_time_ns: millis_to_ns(trade.time_ms)?,
                receive_time_ns,
            }));
        }
        Ok(Control::Data)
    }

    fn book(
        &mut self,
        data: &str,
        is_snapshot: bool,
        exchange_time_ns: u64,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        let book: RawBook<'_> = super::json::from_str(data)?;
        let market = self.market(book.symbol)?;
        events.push(Event::Book(BookUpdate {
            market,
            is_snapshot,
            bids: book.bids.0,
            asks: book.asks.0,
            first_sequence: None,
            last_sequence: Some(book.update_id),
            prev_sequence: None,
            checksum: None,
            exchange_time_ns,
            receive_time_ns,
        }));
        Ok(Control::Data)
    }

    fn bbo(
        &mut self,
        data: &str,
        is_snapshot: bool,
        exchange_time_ns: u64,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        let book: RawBook<'_> = super::json::from_str(data)?;
        let market = self.market(book.symbol)?;
        let top = self.tops.entry(market.id).or_default();
        if is_snapshot {
            top.bid = book.bids.0.first().copied().filter(|level| !level.qty.is_zero());
            top.ask = book.asks.0.first().copied().filter(|level| !level.qty.is_zero());
        } else {
            apply_top(&mut top.bid, &book.bids.0);
            apply_top(&mut top.ask, &book.asks.0);
        }
        if let (Some(bid), Some(ask)) = (top.bid, top.ask) {
            events.push(Event::Bbo(Bbo {
                market,
                bid_price: bid.price,
                bid_qty: bid.qty,
                ask_price: ask.price,
                ask_qty: ask.qty,
                exchange_time_ns,
                receive_time_ns,
            }));
        }
        Ok(Control::Data)
    }

    fn ticker(
        &mut self,
        data: &str,
        exchange_time_ns: u64,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String> {
        let ticker: RawTicker<'_> = super::json::from_str(data)?;
        let market = self.market(ticker.symbol)?;
        let change_pct_24h = match optional_or_blank(ticker.change_fraction, "price24hPcnt")? {
            Some(fraction) => Some(fraction_to_percent(fraction).ok_or("price24hPcnt out of range")?),
            None => None,
        };
        events.push(Event::Ticker(Box::new(Ticker {
            market,
            last_price: optional_or_blank(ticker.last, "lastPrice")?,
            bid_price: optional_or_blank(ticker.bid_price, "bid1Price")?,
            bid_qty: optional_or_blank(ticker.bid_qty, "bid1Size")?,
            ask_price: optional_or_blank(ticker.ask_price, "ask1Price")?,
            ask_qty: optional_or_blank(ticker.ask_qty, "ask1Size")?,
            open_24h: optional_or_blank(ticker.open, "prevPrice24h")?,
            high_24h: optional_or_blank(ticker.high, "highPrice24h")?,
            low_24h: optional_or_blank(ticker.low, "lowPrice24h")?,
            volume_24h: optional_or_blank(ticker.volume, "volume24h")?,
            quote_volume_24h: optional_or_blank(ticker.quote_volume, "turnover24h")?,
            change_24h: None,
            change_pct_24h,
            exchange_time_ns,
            receive_time_ns,
        })));
        Ok(Control::Data)
    }
}

impl Adapter for Bybit {
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
            Action::Subscribe => "subscribe",
            Action::Unsubscribe => "unsubscribe",
        };
        self.write_request(op, request_id, pairs, out)
    }

    fn reset(&mut self) {
        self.tops.clear();
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

/// The topic a channel of `native` is published on.
struct Topic<'a>(Channel, &'a str);

impl fmt::Display for Topic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self(channel, symbol) = self;
        match channel {
            Channel::Trades => write!(f, "publicTrade.{symbol}"),
            Channel::Bbo => write!(f, "orderbook.1.{symbol}"),
            Channel::Book => write!(f, "orderbook.{BOOK_DEPTH}.{symbol}"),
            Channel::Ticker => write!(f, "tickers.{symbol}"),
        }
    }
}

/// Every field of every message the public endpoints send at the top level that we read.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    topic: Option<&'a str>,
    #[serde(rename = "type", borrow)]
    kind: Option<&'a str>,
    ts: Option<u64>,
    cts: Option<u64>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    success: Option<bool>,
    #[serde(borrow)]
    ret_msg: Option<Cow<'a, str>>,
    #[serde(borrow)]
    op: Option<&'a str>,
    #[serde(borrow)]
    req_id: Option<&'a RawValue>,
}

/// Our request ids are decimal strings; an empty or foreign `req_id` names no request.
fn request_id(raw: &RawValue) -> Option<u64> {
    let text = raw.get();
    text.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')).unwrap_or(text).parse().ok()
}

#[derive(Deserialize)]
struct RawTrade<'a> {
    #[serde(rename = "T")]
    time_ms: u64,
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "S")]
    side: &'a str,
    #[serde(rename = "v")]
    qty: &'a str,
    #[serde(rename = "p")]
    price: &'a str,
    #[serde(rename = "i")]
    id: &'a str,
}

#[derive(Deserialize)]
struct RawBook<'a> {
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "b", default)]
    bids: Levels,
    #[serde(rename = "a", default)]
    asks: Levels,
    #[serde(rename = "u")]
    update_id: u64,
}

#[derive(Deserialize)]
struct RawTicker<'a> {
    symbol: &'a str,
    #[serde(rename = "lastPrice")]
    last: Option<&'a str>,
    #[serde(rename = "prevPrice24h")]
    open: Option<&'a str>,
    #[serde(rename = "highPrice24h")]
    high: Option<&'a str>,
    #[serde(rename = "lowPrice24h")]
    low: Option<&'a str>,
    #[serde(rename = "volume24h")]
    volume: Option<&'a str>,
    #[serde(rename = "turnover24h")]
    quote_volume: Option<&'a str>,
    #[serde(rename = "price24hPcnt")]
    change_fraction: Option<&'a str>,
    #[serde(rename = "bid1Price")]
    bid_price: Option<&'a str>,
    #[serde(rename = "bid1Size")]
    bid_qty: Option<&'a str>,
    #[serde(rename = "ask1Price")]
    ask_price: Option<&'a str>,
    #[serde(rename = "ask1Size")]
    ask_qty: Option<&'a str>,
}

/// `[["price","size"], …]` read straight into levels (no intermediate vector of strings).
#[derive(Default)]
struct Levels(Vec<Level>);

impl<'de> Deserialize<'de> for Levels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LevelsVisitor;

        impl<'de> Visitor<'de> for LevelsVisitor {
            type Value = Levels;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of [price, size] string pairs")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Levels, A::Error> {
                let mut levels = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some((price, qty)) = seq.next_element::<(&'de str, &'de str)>()? {
                    levels.push(Level {
                        price: quantity(price, "price").map_err(de::Error::custom)?,
                        qty: quantity(qty, "size").map_err(de::Error::custom)?,
                    });
                }
                Ok(Levels(levels))
            }
        }

        deserializer.deserialize_seq(LevelsVisitor)
    }
}

/// Applies a level-1 delta's levels for one side: a zero size removes the level at its price, a
/// positive size makes it the top.
fn apply_top(top: &mut Option<Level>, levels: &[Level]) {
    for level in levels {
        if !level.qty.is_zero() {
            *top = Some(*level);
        } else if top.is_some_and(|current| current.price == level.price) {
            *top = None;
        }
    }
}

/// `0.0146` (a fraction) → `1.46` (percent): the same digits, the point two places right.
fn fraction_to_percent(fraction: Decimal) -> Option<Decimal> {
    if let Some(scale) = fraction.scale().checked_sub(2) {
        return Some(Decimal::new(fraction.mantissa(), scale));
    }
    let factor = if fraction.scale() == 1 { 10 } else { 100 };
    fraction.mantissa().checked_mul(factor).map(|mantissa| Decimal::new(mantissa, 0))
}

#[cfg(test)]
mod tests {
    use crate::venues::ParseError;
    use proptest::prelude::*;

    use super::*;
    use crate::model::market::intern;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/bybit/", $name))
        };
    }

    const FIXTURES: [&str; 16] = [
        fixture!("trades_snapshot.json"),
        fixture!("book_delta.json"),
        fixture!("book_snapshot.json"),
        fixture!("book_snapshot_restart.json"),
        fixture!("bbo_snapshot.json"),
        fixture!("ticker_spot_snapshot.json"),
        fixture!("ticker_linear_snapshot.json"),
        fixture!("ticker_linear_delta.json"),
        fixture!("ack_spot_subscribe.json"),
        fixture!("ack_linear_subscribe.json"),
        fixture!("pong_spot.json"),
        fixture!("pong_linear.json"),
        fixture!("pong_option.json"),
        fixture!("error_unknown_topic.json"),
        fixture!("error_args_size.json"),
        r#"{"topic":"kline.5.BTCUSDT","type":"snapshot","ts":1,"data":[]}"#,
    ];

    fn spot() -> Box<dyn Adapter> {
        adapter(InstrumentKind::Spot).unwrap()
    }

    fn linear() -> Box<dyn Adapter> {
        adapter(InstrumentKind::Perpetual).unwrap()
    }

    fn parse(adapter: &mut dyn Adapter, text: &str) -> (Result<Control, ParseError>, Vec<Event>) {
        let mut events = Vec::new();
        let result = adapter.parse(text.as_bytes(), 7, &mut events);
        (result, events)
    }

    fn dec(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    fn level(price: &str, qty: &str) -> Level {
        Level { price: dec(price), qty: dec(qty) }
    }

    /// Asserts value and the exact text the venue sent.
    fn assert_dec(value: Decimal, text: &str) {
        assert_eq!(value.to_string(), text);
    }

    #[test]
    fn specs_follow_the_docs() {
        let spot = spot();
        let spec = spot.spec();
        assert_eq!((spec.venue, spec.endpoint, spec.url), (Venue::Bybit, "spot", SPOT_URL));
        assert_eq!((spec.max_per_request, spec.max_per_connection), (10, 500));
        assert_eq!(
            spec.app_ping,
            Some(AppPing { interval: Duration::from_secs(20), message: r#"{"op":"ping"}"# })
        );
        assert_eq!(spec.subscribe_within, None);
        let linear = linear();
        assert_eq!((linear.spec().endpoint, linear.spec().url), ("linear", LINEAR_URL));
        assert_eq!(linear.spec().max_per_request, 100);
        let future = crate::model::Instrument::parse("BTC/USDT-250328").unwrap().kind();
        assert!(matches!(adapter(future), Err(VenueError::Unsupported { .. })));
    }

    #[test]
    fn subscribe_names_topics_and_carries_the_request_id() {
        let btc = intern(Venue::Bybit, None, "BTCUSDT").unwrap();
        let eth = intern(Venue::Bybit, None, "ETHUSDT").unwrap();
        let pairs = [
            (Arc::clone(&btc), Channel::Trades),
            (Arc::clone(&btc), Channel::Bbo),
            (Arc::clone(&btc), Channel::Book),
            (eth, Channel::Ticker),
        ];
        let mut out = Vec::new();
        spot().subscribe(42, &pairs, &mut out).unwrap();
        spot().unsubscribe(43, &pairs[..1], &mut out).unwrap();
        assert_eq!(
            out,
            [
                r#"{"req_id":"42","op":"subscribe","args":["publicTrade.BTCUSDT","orderbook.1.BTCUSDT","orderbook.50.BTCUSDT","tickers.ETHUSDT"]}"#,
                r#"{"req_id":"43","op":"unsubscribe","args":["publicTrade.BTCUSDT"]}"#,
            ]
        );
        for message in &out {
            serde_json::from_str::<serde_json::Value>(message).unwrap();
        }
    }

    #[test]
    fn subscribe_refuses_too_many_and_the_wrong_kind() {
        let btc = intern(Venue::Bybit, None, "BTCUSDT").unwrap();
        let perp = intern(Venue::Bybit, Some(InstrumentKind::Perpetual), "BTCUSDT").unwrap();
        let mut out = Vec::new();
        let eleven = vec![(Arc::clone(&btc), Channel::Trades); 11];
        assert_eq!(
            spot().subscribe(1, &eleven, &mut out),
            Err(VenueError::TooMany { venue: Venue::Bybit, count: 11, max: 10 })
        );
        assert!(matches!(
            spot().subscribe(1, &[(Arc::clone(&perp), Channel::Book)], &mut out),
            Err(VenueError::Unsupported { .. })
        ));
        assert!(matches!(
            linear().subscribe(1, &[(btc, Channel::Book)], &mut out),
            Err(VenueError::Unsupported { .. })
        ));
        assert!(out.is_empty());
        linear().subscribe(2, &[(perp, Channel::Book)], &mut out).unwrap();
        assert_eq!(out, [r#"{"req_id":"2","op":"subscribe","args":["orderbook.50.BTCUSDT"]}"#]);
    }

    #[test]
    fn trade_fixture_field_by_field() {
        let (result, events) = parse(&mut *linear(), fixture!("trades_snapshot.json"));
        assert_eq!(result, Ok(Control::Data));
        let [Event::Trade(trade)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(&*trade.market.unified, "BTC/USDT-PERP");
        assert_dec(trade.price, "16578.50");
        assert_dec(trade.qty, "0.001");
        assert_eq!(trade.side, Side::Buy);
        assert_eq!(trade.trade_id.as_str(), "20f43950-d8dd-5b31-9112-a178eb6023af");
        assert_eq!(trade.exchange_time_ns, 1_672_304_486_865_000_000);
        assert_eq!(trade.receive_time_ns, 7);
    }

    #[test]
    fn every_trade_of_a_batch_is_an_event_with_the_takers_side() {
        let message = r#"{"topic":"publicTrade.ETHUSDT","type":"snapshot","ts":2,"data":[
            {"T":1,"s":"ETHUSDT","S":"Sell","v":"1","p":"2000","i":"2290000000061666327","BT":false},
            {"T":2,"s":"ETHUSDT","S":"Buy","v":"0.5","p":"2000.5","i":"2290000000061666328","BT":false}]}"#;
        let (result, events) = parse(&mut *spot(), message);
        assert_eq!(result, Ok(Control::Data));
        let sides: Vec<_> = events
            .iter()
            .map(|event| match event {
                Event::Trade(trade) => (trade.side, trade.trade_id.to_string(), &*trade.market.unified),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            sides,
            [
                (Side::Sell, "2290000000061666327".into(), "ETH/USDT"),
                (Side::Buy, "2290000000061666328".into(), "ETH/USDT")
            ]
        );
        let (result, events) = parse(&mut *spot(), r#"{"topic":"publicTrade.ETHUSDT","ts":2,"data":[]}"#);
        assert_eq!((result, events.len()), (Ok(Control::Data), 0));
    }

    #[test]
    fn book_delta_fixture_field_by_field() {
        let (result, events) = parse(&mut *spot(), fixture!("book_delta.json"));
        assert_eq!(result, Ok(Control::Data));
        let [Event::Book(book)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(&*book.market.unified, "BTC/USDT");
        assert!(!book.is_snapshot);
        let bids = [
            ("30247.20", "30.028"),
            ("30245.40", "0.224"),
            ("30242.10", "1.593"),
            ("30240.30", "1.305"),
            ("30240.00", "0"),
        ];
        let asks = [
            ("30248.70", "0"),
            ("30249.30", "0.892"),
            ("30249.50", "1.778"),
            ("30249.60", "0"),
            ("30251.90", "2.947"),
            ("30252.20", "0.659"),
            ("30252.50", "4.591"),
        ];
        for (levels, expected) in [(&book.bids, &bids[..]), (&book.asks, &asks[..])] {
            assert_eq!(levels.len(), expected.len());
            for (level, (price, qty)) in levels.iter().zip(expected) {
                assert_dec(level.price, price);
                assert_dec(level.qty, qty);
            }
        }
        assert_eq!(
            (book.first_sequence, book.last_sequence, book.prev_sequence),
            (None, Some(177_400_507), None)
        );
        assert_eq!(book.checksum, None);
        assert_eq!(book.exchange_time_ns, 1_687_940_967_464_000_000, "cts, not ts");
        assert_eq!(book.receive_time_ns, 7);
    }

    #[test]
    fn book_snapshots_replace_the_book_including_after_a_restart() {
        let mut adapter = spot();
        let (result, events) = parse(&mut *adapter, fixture!("book_snapshot.json"));
        assert_eq!(result, Ok(Control::Data));
        let [Event::Book(book)] = events.as_slice() else { panic!("{events:?}") };
        assert!(book.is_snapshot);
        assert_eq!(book.bids[0], level("17440.00", "40.833"));
        assert_eq!(book.bids[3], level("17415.50", "32.268"));
        assert_eq!(book.asks[0], level("17440.50", "78.815"));
        assert_eq!(book.asks[3], level("17465.00", "5.744"));
        assert_eq!(book.last_sequence, Some(13_079_592));
        assert_eq!(book.exchange_time_ns, 1_671_179_923_028_000_000, "ts when there is no cts");
        let (_, events) = parse(&mut *adapter, fixture!("book_snapshot_restart.json"));
        let [Event::Book(book)] = events.as_slice() else { panic!("{events:?}") };
        assert!(book.is_snapshot);
        assert_eq!((book.last_sequence, &*book.market.unified), (Some(1), "ETH/USDT"));
    }

    #[test]
    fn bbo_fixture_and_level_one_deltas() {
        let mut adapter = linear();
        let (result, events) = parse(&mut *adapter, fixture!("bbo_snapshot.json"));
        assert_eq!(result, Ok(Control::Data));
        let [Event::Bbo(bbo)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(&*bbo.market.unified, "BTC/USDT-PERP");
        assert_dec(bbo.bid_price, "16493.50");
        assert_dec(bbo.bid_qty, "0.006");
        assert_dec(bbo.ask_price, "16611.00");
        assert_dec(bbo.ask_qty, "0.029");
        assert_eq!(bbo.exchange_time_ns, 1_672_304_484_976_000_000);
        let delta = |bids: &str, asks: &str| {
            format!(
                r#"{{"topic":"orderbook.1.BTCUSDT","type":"delta","ts":5,"data":{{"s":"BTCUSDT","b":{bids},"a":{asks},"u":9,"seq":9}},"cts":4}}"#
            )
        };
        let (_, events) = parse(&mut *adapter, &delta(r#"[["16493.50","0"],["16494.00","1"]]"#, "[]"));
        let [Event::Bbo(bbo)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!((bbo.bid_price, bbo.bid_qty, bbo.ask_price), (dec("16494.00"), dec("1"), dec("16611.00")));
        let (result, events) = parse(&mut *adapter, &delta("[]", r#"[["16611.00","0"]]"#));
        assert_eq!((result, events.len()), (Ok(Control::Data), 0), "one side unknown: no BBO");
        adapter.reset();
        let (_, events) = parse(&mut *adapter, &delta("[]", r#"[["16612","2"]]"#));
        assert!(events.is_empty(), "reset forgets the top");
    }

    #[test]
    fn ticker_spot_fixture_field_by_field() {
        let (result, events) = parse(&mut *spot(), fixture!("ticker_spot_snapshot.json"));
        assert_eq!(result, Ok(Control::Data));
        let [Event::Ticker(ticker)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(&*ticker.market.unified, "BTC/USDT");
        assert_dec(ticker.last_price.unwrap(), "21109.77");
        assert_dec(ticker.high_24h.unwrap(), "21426.99");
        assert_dec(ticker.low_24h.unwrap(), "20575");
        assert_dec(ticker.open_24h.unwrap(), "20704.93");
        assert_dec(ticker.volume_24h.unwrap(), "6780.866843");
        assert_dec(ticker.quote_volume_24h.unwrap(), "141946527.22907118");
        assert_dec(ticker.change_pct_24h.unwrap(), "1.96");
        assert_eq!(
            (ticker.bid_price, ticker.bid_qty, ticker.ask_price, ticker.ask_qty),
            (None, None, None, None)
        );
        assert_eq!(ticker.change_24h, None);
        assert_eq!(ticker.exchange_time_ns, 1_673_853_746_003_000_000);
    }

    #[test]
    fn ticker_linear_snapshot_and_delta() {
        let mut adapter = linear();
        let (_, events) = parse(&mut *adapter, fixture!("ticker_linear_snapshot.json"));
        let [Event::Ticker(ticker)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(&*ticker.market.unified, "BTC/USDT-PERP");
        assert_dec(ticker.last_price.unwrap(), "66666.60");
        assert_dec(ticker.open_24h.unwrap(), "79206.20");
        assert_dec(ticker.high_24h.unwrap(), "79266.30");
        assert_dec(ticker.low_24h.unwrap(), "65076.90");
        assert_dec(ticker.volume_24h.unwrap(), "73191.3870");
        assert_dec(ticker.quote_volume_24h.unwrap(), "4936790807.6521");
        assert_dec(ticker.change_pct_24h.unwrap(), "-15.8315");
        assert_dec(ticker.bid_price.unwrap(), "66666.60");
        assert_dec(ticker.bid_qty.unwrap(), "23789.165");
        assert_dec(ticker.ask_price.unwrap(), "66666.70");
        assert_dec(ticker.ask_qty.unwrap(), "23775.469");
        assert_eq!(ticker.exchange_time_ns, 1_760_325_052_630_000_000);
        let (_, events) = parse(&mut *adapter, fixture!("ticker_linear_delta.json"));
        let [Event::Ticker(ticker)] = events.as_slice() else { panic!("{events:?}") };
        assert_dec(ticker.last_price.unwrap(), "66666.70");
        assert_dec(ticker.change_pct_24h.unwrap(), "-15.8314");
        assert_dec(ticker.bid_qty.unwrap(), "23790.001");
        assert_eq!(
            (ticker.ask_price, ticker.open_24h, ticker.volume_24h),
            (None, None, None),
            "absent: unchanged"
        );
        let empty =
            r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","lastPrice":""},"ts":1}"#;
        let (_, events) = parse(&mut *adapter, empty);
        let [Event::Ticker(ticker)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(ticker.last_price, None);
    }

    #[test]
    fn fraction_becomes_percent_exactly() {
        for (fraction, percent) in [
            ("0.0146", "1.46"),
            ("-0.158315", "-15.8315"),
            ("0", "0"),
            ("1", "100"),
            ("0.5", "50"),
            ("0.01", "1"),
            ("2.00", "200"),
        ] {
            let converted = fraction_to_percent(dec(fraction)).unwrap();
            assert_eq!(converted, dec(percent), "{fraction}");
        }
        assert_dec(fraction_to_percent(dec("0.0146")).unwrap(), "1.46");
        assert_eq!(fraction_to_percent(Decimal::new(i128::MAX, 0)), None);
    }

    #[test]
    fn acks_errors_and_pongs() {
        let mut adapter = spot();
        let cases: [(&str, Control); 8] = [
            (fixture!("ack_spot_subscribe.json"), Control::Ack { request_id: Some(10001) }),
            (fixture!("ack_linear_subscribe.json"), Control::Ack { request_id: None }),
            (fixture!("pong_spot.json"), Control::Pong),
            (fixture!("pong_linear.json"), Control::Pong),
            (fixture!("pong_option.json"), Control::Pong),
            (
                fixture!("error_unknown_topic.json"),
                Control::Rejected {
                    request_id: Some(7),
                    reason: "error:handler not found,topic:orderbook.7.BTCUSDT".into(),
                },
            ),
            (
                fixture!("error_args_size.json"),
                Control::Rejected { request_id: None, reason: "args size >10".into() },
            ),
            (
                r#"{"success":true,"ret_msg":"unsubscribe","conn_id":"x","req_id":"5","op":"unsubscribe"}"#,
                Control::Ack { request_id: Some(5) },
            ),
        ];
        for (message, expected) in cases {
            let (result, events) = parse(&mut *adapter, message);
            assert_eq!(result, Ok(expected), "{message}");
            assert!(events.is_empty());
        }
    }

    #[test]
    fn unknown_but_well_formed_is_unknown() {
        for message in [
            r#"{"topic":"kline.5.BTCUSDT","type":"snapshot","ts":1,"data":[]}"#,
            r#"{"op":"auth","success":true}"#,
            "{}",
            r#"{"foo":[1,2,3]}"#,
        ] {
            let (result, events) = parse(&mut *spot(), message);
            assert_eq!(result, Ok(Control::Unknown), "{message}");
            assert!(events.is_empty());
        }
    }

    fn trade_with(field: &str, value: &str) -> String {
        let mut trade = serde_json::json!({"T":1,"s":"BTCUSDT","S":"Buy","v":"1","p":"2","i":"9","BT":false});
        trade[field] = serde_json::from_str(value).unwrap();
        serde_json::json!({"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[trade, trade]})
            .to_string()
    }

    #[test]
    fn bad_input_is_an_error_and_the_next_message_still_parses() {
        let long_id = format!("\"{}\"", "x".repeat(49));
        let bad: Vec<String> = vec![
            String::new(),
            "{".into(),
            "not json".into(),
            "\u{0}\u{1}\u{ff}".into(),
            fixture!("trades_snapshot.json")[..100].into(),
            fixture!("book_delta.json")[..300].into(),
            r#"{"topic":"publicTrade.BTCUSDT","ts":1}"#.into(),
            r#"{"topic":"publicTrade.BTCUSDT","ts":1,"data":{}}"#.into(),
            r#"{"topic":"orderbook.50.BTCUSDT","type":"weird","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1}}"#.into(),
            r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[["1"]],"a":[],"u":1}}"#.into(),
            r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[["1","-2"]],"a":[],"u":1}}"#.into(),
            r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[[1,2]],"a":[],"u":1}}"#.into(),
            r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":-1}}"#.into(),
            r#"{"topic":"orderbook.50.NOTAPAIR","type":"delta","ts":1,"data":{"s":"NOTAPAIR","b":[],"a":[],"u":1}}"#.into(),
            r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":99999999999999999,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1}}"#.into(),
            r#"{"topic":"tickers.BTCUSDT","ts":1,"data":{"symbol":"BTCUSDT","lastPrice":"1e999"}}"#.into(),
            r#"{"topic":"tickers.BTCUSDT","ts":1,"data":{"symbol":"BTCUSDT","price24hPcnt":"abc"}}"#.into(),
            r#"{"success":true,"op":"subscribe"}{"#.into(),
            r#"{"op":"subscribe","req_id":"1"}"#.into(),
            trade_with("p", r#""123456789012345678901234567890123456789""#),
            trade_with("v", r#""-1""#),
            trade_with("p", r#""NaN""#),
            trade_with("p", "2.5"),
            trade_with("S", r#""Bid""#),
            trade_with("T", r#""1""#),
            trade_with("T", "-1"),
            trade_with("i", &long_id),
            trade_with("s", r#""NOTAPAIR""#),
            r#"{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTC\u0055SDT","S":"Buy","v":"1","p":"2","i":"9"}]}"#
                .into(),
        ];
        let mut adapter = spot();
        for message in &bad {
            let mut events = vec![];
            let (result, _) = parse(&mut *adapter, fixture!("trades_snapshot.json"));
            assert_eq!(result, Ok(Control::Data));
            let before = events.len();
            let result = adapter.parse(message.as_bytes(), 1, &mut events);
            assert!(result.is_err(), "{message}: {result:?}");
            assert_eq!(events.len(), before, "{message}");
            assert_eq!(result.unwrap_err().venue, Venue::Bybit);
        }
        // Exponents are JSON numbers' business; a huge array is just large.
        let (result, events) = parse(&mut *adapter, &trade_with("p", r#""1.5E+3""#));
        assert_eq!(result, Ok(Control::Data));
        let Event::Trade(trade) = &events[0] else { panic!() };
        assert_eq!(trade.price, dec("1500"));
        let levels = vec![r#"["1","1"]"#; 100_000].join(",");
        let huge = format!(
            r#"{{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{{"s":"BTCUSDT","b":[{levels}],"a":[],"u":1}}}}"#
        );
        let (result, events) = parse(&mut *adapter, &huge);
        assert_eq!(result, Ok(Control::Data));
        let Event::Book(book) = &events[0] else { panic!() };
        assert_eq!(book.bids.len(), 100_000);
    }

    #[test]
    fn an_error_midway_through_a_batch_leaves_events_unchanged() {
        let message = r#"{"topic":"publicTrade.BTCUSDT","ts":1,"data":[
            {"T":1,"s":"BTCUSDT","S":"Buy","v":"1","p":"2","i":"9"},
            {"T":1,"s":"BTCUSDT","S":"Sideways","v":"1","p":"2","i":"10"}]}"#;
        let mut events = vec![];
        let mut adapter = spot();
        adapter.parse(fixture!("trades_snapshot.json").as_bytes(), 1, &mut events).unwrap();
        let error = adapter.parse(message.as_bytes(), 1, &mut events).unwrap_err();
        assert_eq!(events.len(), 1);
        assert!(error.reason.contains("Sideways"), "{error}");
        assert_eq!(error.raw, message);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut adapter = linear();
            let mut events = Vec::new();
            if adapter.parse(&bytes, 1, &mut events).is_err() {
                prop_assert!(events.is_empty());
            }
        }

        #[test]
        fn mutated_fixtures_never_panic(
            which in 0..FIXTURES.len(),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            cut in any::<usize>(),
        ) {
            let mut bytes = FIXTURES[which].as_bytes().to_vec();
            for (at, byte) in edits {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            let mut adapter = spot();
            let mut events = vec![];
            let (result, _) = parse(&mut *adapter, fixture!("book_delta.json"));
            prop_assert_eq!(result, Ok(Control::Data));
            if adapter.parse(&bytes, 1, &mut events).is_err() {
                prop_assert!(events.is_empty());
            }
            let (result, _) = parse(&mut *adapter, fixture!("book_delta.json"));
            prop_assert_eq!(result, Ok(Control::Data));
        }
    }
}
