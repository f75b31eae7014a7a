//! Coinbase Advanced Trade market data (`wss://advanced-trade-ws.coinbase.com`), spot only.
//!
//! Owns the Coinbase [`Adapter`]: subscribe messages, and the parsing of the `market_trades`,
//! `ticker`, `level2` (`l2_data`), `subscriptions`, `heartbeats` and error messages into
//! normalized events. Timestamps are read exactly with
//! [`parse_rfc3339_ns`](crate::model::time::parse_rfc3339_ns).
//!
//! Protocol facts (`PROTOCOLS.md` §4a):
//! - One channel per subscribe message: a batch appends one message per distinct Coinbase
//!   channel, in the order `market_trades`, `ticker`, `level2`. Coinbase echoes no request id:
//!   each message is answered by one `subscriptions` message (→ [`Control::Ack`] with
//!   `request_id: None`, the oldest request awaiting an answer) or one
//!   `{"type":"error","message":…}` (→ [`Control::Rejected`]).
//! - [`Channel::Bbo`] and [`Channel::Ticker`] are both the `ticker` channel: every ticker entry
//!   gives a [`Bbo`] (when it carries all four best bid/ask fields) and a [`Ticker`]; the feed
//!   keeps the ones that were subscribed. Unsubscribing either unsubscribes `ticker`.
//! - `on_connect` subscribes `heartbeats` (channels close after 60–90 s without updates
//!   otherwise). Its own `subscriptions` answer (the first after a reset, naming only
//!   `heartbeats`) is not a user request's ack: it is [`Control::Unknown`].
//! - `market_trades.side` is the MAKER's side: the channel docs say it "refers to the makers
//!   side" and the `AsyncAPI` schema calls it "The maker's side of the trade" (docs.cdp.coinbase.com,
//!   websocket-channels and api-reference/advanced-trade-api/websocket/market-trades). A maker
//!   `BUY` was hit by a selling taker, so the taker side is the opposite. Some clients read it
//!   as the taker's side (`PROTOCOLS.md` open question 2); we follow the venue's documentation.
//! - `sequence_num` counts every message of the connection across all channels. The adapter
//!   keeps the last one it read; a book update's `last_sequence` is its message's number and
//!   `prev_sequence` the number of the message read before it (any channel), so a book sees any
//!   missed message as `last_sequence != prev_sequence + 1`. A message that fails to parse does
//!   not advance it, which also shows up as a gap.
//! - Snapshot trades (`market_trades` `snapshot` events, recent history sent on subscribe) are
//!   emitted like live ones; their trade ids let a consumer drop the ones it already has.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::fields::{decimal, optional, optional_quantity, quantity, rfc3339_ns};
use super::{Action, Adapter, Control, Spec, VenueError};
use crate::model::{
    Bbo, BookUpdate, Channel, Event, InstrumentKind, Level, MarketCache, MarketRef, Side, Ticker, Trade,
    TradeId, Venue,
};

/// Production market-data endpoint.
pub const URL: &str = "wss://advanced-trade-ws.coinbase.com";

/// The message `on_connect` sends: the `heartbeats` channel needs no product.
pub const HEARTBEATS_SUBSCRIBE: &str = r#"{"type":"subscribe","channel":"heartbeats"}"#;

/// The message channels whose events are read: a message of one without `events` is broken.
const READ_CHANNELS: [&str; 5] = ["market_trades", "ticker", "l2_data", "subscriptions", "heartbeats"];

/// The Coinbase channel names of one batch, in the order their messages are appended.
const WIRE_CHANNELS: [&str; 3] = ["market_trades", "ticker", "level2"];

static SPEC: Spec = Spec {
    venue: Venue::Coinbase,
    endpoint: "public",
    url: URL,
    // No documented limit on product ids per message or per connection; these keep a message
    // short (≈ 1.5 KB) and a connection's traffic within one reader's reach.
    max_per_request: 50,
    max_per_connection: 200,
    // 8 unauthenticated messages per second per IP; one request is up to 3 messages (one per
    // channel), and the connection's `heartbeats` subscription is one more: 2 requests a
    // second would be the ceiling, 1.5 leaves room for it.
    requests_per_second: 1.5,
    burst: 1,
    app_ping: None,
    subscribe_within: Some(Duration::from_secs(5)),
};

/// The Coinbase adapter for `kind`.
///
/// # Errors
///
/// [`VenueError::Unsupported`] for anything but spot.
pub fn adapter(kind: InstrumentKind) -> Result<Box<dyn Adapter>, VenueError> {
    match kind {
        InstrumentKind::Spot => Ok(Box::new(CoinbaseAdapter::new())),
        other => Err(unsupported(format!("{other} instruments"))),
    }
}

fn unsupported(what: String) -> VenueError {
    VenueError::Unsupported { venue: Venue::Coinbase, endpoint: SPEC.endpoint, what }
}

/// Coinbase Advanced Trade's public market data, one connection at a time.
#[derive(Debug)]
pub struct CoinbaseAdapter {
    markets: MarketCache,
    /// `sequence_num` of the last message read on this connection.
    last_sequence: Option<u64>,
    /// The `heartbeats` subscription sent by `on_connect` has not been answered yet.
    heartbeats_ack_pending: bool,
    /// The (market id, channel) pairs subscribed through this adapter and not cancelled:
    /// bbo and ticker share Coinbase's `ticker` channel, so cancelling one must not cancel
    /// the other.
    held: Mutex<HashSet<(u32, Channel)>>,
}

impl CoinbaseAdapter {
    /// A fresh adapter, as for a new connection.
    #[must_use]
    pub fn new() -> Self {
        Self {
            markets: MarketCache::new(Venue::Coinbase, Some(InstrumentKind::Spot)),
            last_sequence: None,
            heartbeats_ack_pending: true,
            held: Mutex::default(),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<(u32, Channel)>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `sequence_num` of the last message read on this connection.
    #[must_use]
    pub const fn last_sequence(&self) -> Option<u64> {
        self.last_sequence
    }
}

impl Default for CoinbaseAdapter {
    fn default() -> Self {
        Self::new()
    }
}

fn wire_channel(channel: Channel) -> usize {
    match channel {
        Channel::Trades => 0,
        Channel::Bbo | Channel::Ticker => 1,
        Channel::Book => 2,
    }
}

fn requests(action: &str, pairs: &[(MarketRef, Channel)], out: &mut Vec<String>) -> Result<(), VenueError> {
    SPEC.check_request_size(pairs.len())?;
    for (market, _) in pairs {
        if market.venue != Venue::Coinbase || market.kind != InstrumentKind::Spot {
            return Err(unsupported(format!("{} ({} on {})", market.unified, market.kind, market.venue)));
        }
    }
    for (index, name) in WIRE_CHANNELS.iter().enumerate() {
        let mut message = String::new();
        let mut products: Vec<&str> = Vec::new();
        for (market, channel) in pairs {
            if wire_channel(*channel) == index && !products.contains(&&*market.native) {
                products.push(&market.native);
            }
        }
        if products.is_empty() {
            continue;
        }
        message.push_str(r#"{"type":""#);
        message.push_str(action);
        message.push_str(r#"","product_ids":["#);
        for (position, product) in products.iter().enumerate() {
            if position > 0 {
                message.push(',');
            }
            // Native symbols are ASCII letters, digits and `-`: nothing to escape.
            let _ = write!(message, "\"{product}\"");
        }
        let _ = write!(message, r#"],"channel":"{name}"}}"#);
        out.push(message);
    }
    Ok(())
}

impl Adapter for CoinbaseAdapter {
    fn spec(&self) -> &Spec {
        &SPEC
    }

    fn request(
        &self,
        action: Action,
        _request_id: u64,
        pairs: &[(MarketRef, Channel)],
        out: &mut Vec<String>,
    ) -> Result<(), VenueError> {
        let mut held = self.held();
        if action == Action::Subscribe {
            requests("subscribe", pairs, out)?;
            held.extend(pairs.iter().map(|(market, channel)| (market.id, *channel)));
            return Ok(());
        }
        for (market, channel) in pairs {
            held.remove(&(market.id, *channel));
        }
        // A product stays on the `ticker` channel while its bbo or its ticker is still wanted.
        let cancelled: Vec<(MarketRef, Channel)> = pairs
            .iter()
            .filter(|(market, channel)| match channel {
                Channel::Bbo => !held.contains(&(market.id, Channel::Ticker)),
                Channel::Ticker => !held.contains(&(market.id, Channel::Bbo)),
                Channel::Trades | Channel::Book => true,
            })
            .cloned()
            .collect();
        requests("unsubscribe", &cancelled, out)
    }

    fn on_connect(&self, out: &mut Vec<String>) {
        out.push(HEARTBEATS_SUBSCRIBE.to_owned());
    }

    fn reset(&mut self) {
        self.last_sequence = None;
        self.heartbeats_ack_pending = true;
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

/// Every message's outer object. When `channel` comes before `events` (as Coinbase sends it)
/// the events are read straight into that channel's types in the same pass; otherwise they
/// are kept raw and read once the object ends.
#[derive(Default)]
struct Envelope<'a> {
    channel: Option<&'a str>,
    kind: Option<&'a str>,
    message: Option<Cow<'a, str>>,
    reason: Option<Cow<'a, str>>,
    timestamp: Option<&'a str>,
    sequence_num: Option<u64>,
    events: Events<'a>,
}

/// A message's `events`, typed by its channel.
#[derive(Default)]
enum Events<'a> {
    /// No `events` field.
    #[default]
    Missing,
    Trades(Vec<TradesEvent<'a>>),
    Tickers(Vec<TickerEvent<'a>>),
    Book(Vec<L2Event<'a>>),
    Subscriptions(Vec<SubscriptionsEvent<'a>>),
    Heartbeats,
    /// A channel we do not read: well-formed JSON, skipped.
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Channel,
    #[serde(rename = "type")]
    Kind,
    Message,
    Reason,
    Timestamp,
    SequenceNum,
    Events,
    #[serde(other)]
    Other,
}

fn read_events<'de, D: Deserializer<'de>>(channel: Option<&str>, from: D) -> Result<Events<'de>, D::Error> {
    Ok(match channel {
        Some("market_trades") => Events::Trades(Vec::deserialize(from)?),
        Some("ticker") => Events::Tickers(Vec::deserialize(from)?),
        Some("l2_data") => Events::Book(Vec::deserialize(from)?),
        Some("subscriptions") => Events::Subscriptions(Vec::deserialize(from)?),
        Some("heartbeats") => {
            Vec::<IgnoredAny>::deserialize(from)?;
            Events::Heartbeats
        }
        _ => {
            IgnoredAny::deserialize(from)?;
            Events::Other
        }
    })
}

struct EventsSeed<'c>(Option<&'c str>);

impl<'de> DeserializeSeed<'de> for EventsSeed<'_> {
    type Value = Events<'de>;

    fn deserialize<D: Deserializer<'de>>(self, from: D) -> Result<Self::Value, D::Error> {
        read_events(self.0, from)
    }
}

fn once<T, E: de::Error>(slot: &mut Option<T>, value: Option<T>, name: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = value;
    Ok(())
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a Coinbase message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut envelope = Envelope::default();
        let mut raw_events: Option<&'de RawValue> = None;
        let mut seen_events = false;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Channel => once(&mut envelope.channel, map.next_value()?, "channel")?,
                Field::Kind => once(&mut envelope.kind, map.next_value()?, "type")?,
                Field::Message => once(&mut envelope.message, map.next_value()?, "message")?,
                Field::Reason => once(&mut envelope.reason, map.next_value()?, "reason")?,
                Field::Timestamp => once(&mut envelope.timestamp, map.next_value()?, "timestamp")?,
                Field::SequenceNum => once(&mut envelope.sequence_num, map.next_value()?, "sequence_num")?,
                Field::Events if seen_events => return Err(de::Error::duplicate_field("events")),
                Field::Events if envelope.channel.is_some() => {
                    seen_events = true;
                    envelope.events = map.next_value_seed(EventsSeed(envelope.channel))?;
                }
                Field::Events => {
                    seen_events = true;
                    raw_events = Some(map.next_value()?);
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(raw) = raw_events {
            let mut from = serde_json::Deserializer::from_str(raw.get());
            envelope.events = read_events(envelope.channel, &mut from).map_err(de::Error::custom)?;
        }
        Ok(envelope)
    }
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(from: D) -> Result<Self, D::Error> {
        from.deserialize_map(EnvelopeVisitor)
    }
}

#[derive(Deserialize)]
struct TradesEvent<'a> {
    #[serde(borrow)]
    trades: Vec<WireTrade<'a>>,
}

#[derive(Deserialize)]
struct WireTrade<'a> {
    trade_id: &'a str,
    product_id: &'a str,
    price: &'a str,
    size: &'a str,
    side: &'a str,
    time: &'a str,
}

#[derive(Deserialize)]
struct TickerEvent<'a> {
    #[serde(borrow)]
    tickers: Vec<WireTicker<'a>>,
}

#[derive(Deserialize)]
struct WireTicker<'a> {
    product_id: &'a str,
    #[serde(default)]
    price: Option<&'a str>,
    #[serde(default)]
    volume_24_h: Option<&'a str>,
    #[serde(default)]
    low_24_h: Option<&'a str>,
    #[serde(default)]
    high_24_h: Option<&'a str>,
    #[serde(default)]
    price_percent_chg_24_h: Option<&'a str>,
    #[serde(default)]
    best_bid: Option<&'a str>,
    #[serde(default)]
    best_bid_quantity: Option<&'a str>,
    #[serde(default)]
    best_ask: Option<&'a str>,
    #[serde(default)]
    best_ask_quantity: Option<&'a str>,
}

#[derive(Deserialize)]
struct L2Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    product_id: &'a str,
    #[serde(borrow)]
    updates: Vec<L2Level<'a>>,
}

#[derive(Deserialize)]
struct L2Level<'a> {
    side: &'a str,
    event_time: &'a str,
    price_level: &'a str,
    new_quantity: &'a str,
}

#[derive(Deserialize)]
struct SubscriptionsEvent<'a> {
    #[serde(borrow)]
    subscriptions: BTreeMap<Cow<'a, str>, &'a RawValue>,
}

type Reason = String;

impl CoinbaseAdapter {
    fn parse_message(
        &mut self,
        raw: &[u8],
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, Reason> {
        let envelope: Envelope<'_> = super::json::from_slice(raw)?;
        if envelope.kind == Some("error") {
            let mut reason = envelope.message.as_deref().unwrap_or("error without a message").to_owned();
            if let Some(detail) = envelope.reason.as_deref() {
                reason.push_str(": ");
                reason.push_str(detail);
            }
            return Ok(Control::Rejected { request_id: None, reason });
        }
        let control = match envelope.events {
            Events::Trades(list) => self.trades(list, receive_time_ns, events)?,
            Events::Tickers(list) => self.tickers(envelope.timestamp, list, receive_time_ns, events)?,
            Events::Book(list) => {
                self.book(envelope.timestamp, envelope.sequence_num, list, receive_time_ns, events)?
            }
            Events::Subscriptions(list) => self.subscriptions(&list),
            Events::Heartbeats => Control::Heartbeat,
            Events::Missing if envelope.channel.is_some_and(|channel| READ_CHANNELS.contains(&channel)) => {
                return Err("no events".into());
            }
            Events::Missing | Events::Other => Control::Unknown,
        };
        if let Some(sequence) = envelope.sequence_num {
            self.last_sequence = Some(sequence);
        }
        Ok(control)
    }

    fn market(&mut self, product_id: &str) -> Result<MarketRef, Reason> {
        self.markets.get(product_id).cloned().map_err(|error| error.to_string())
    }

    fn trades(
        &mut self,
        list: Vec<TradesEvent<'_>>,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, Reason> {
        for event in list {
            for trade in event.trades {
                // The wire gives the maker's side (module docs): the taker took the other one.
                let side = match trade.side {
                    "BUY" => Side::Sell,
                    "SELL" => Side::Buy,
                    other => return Err(format!("side: unknown {other:?}")),
                };
                let trade_id = TradeId::from(trade.trade_id)
                    .map_err(|_| format!("trade_id: longer than 48 bytes: {:?}", trade.trade_id))?;
                events.push(Event::Trade(Trade {
                    market: self.market(trade.product_id)?,
                    price: decimal(trade.price, "price")?,
                    qty: quantity(trade.size, "size")?,
                    side,
                    trade_id,
                    exchange_time_ns: rfc3339_ns(trade.time, "time")?,
                    receive_time_ns,
                }));
            }
        }
        Ok(Control::Data)
    }

    fn tickers(
        &mut self,
        timestamp: Option<&str>,
        list: Vec<TickerEvent<'_>>,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, Reason> {
        let exchange_time_ns = rfc3339_ns(timestamp.ok_or("no timestamp")?, "timestamp")?;
        for event in list {
            for ticker in event.tickers {
                let market = self.market(ticker.product_id)?;
                let bid_price = optional(ticker.best_bid, "best_bid")?;
                let bid_qty = optional_quantity(ticker.best_bid_quantity, "best_bid_quantity")?;
                let ask_price = optional(ticker.best_ask, "best_ask")?;
                let ask_qty = optional_quantity(ticker.best_ask_quantity, "best_ask_quantity")?;
                if let (Some(bid_price), Some(bid_qty), Some(ask_price), Some(ask_qty)) =
                    (bid_price, bid_qty, ask_price, ask_qty)
                {
                    events.push(Event::Bbo(Bbo {
                        market: market.clone(),
                        bid_price,
                        bid_qty,
                        ask_price,
                        ask_qty,
                        exchange_time_ns,
                        receive_time_ns,
                    }));
                }
                events.push(Event::Ticker(Box::new(Ticker {
                    market,
                    last_price: optional(ticker.price, "price")?,
                    bid_price,
                    bid_qty,
                    ask_price,
                    ask_qty,
                    open_24h: None,
                    high_24h: optional(ticker.high_24_h, "high_24_h")?,
                    low_24h: optional(ticker.low_24_h, "low_24_h")?,
                    volume_24h: optional_quantity(ticker.volume_24_h, "volume_24_h")?,
                    quote_volume_24h: None,
                    change_24h: None,
                    change_pct_24h: optional(ticker.price_percent_chg_24_h, "price_percent_chg_24_h")?,
                    exchange_time_ns,
                    receive_time_ns,
                })));
            }
        }
        Ok(Control::Data)
    }

    fn book(
        &mut self,
        timestamp: Option<&str>,
        sequence: Option<u64>,
        list: Vec<L2Event<'_>>,
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, Reason> {
        let sequence = sequence.ok_or("no sequence_num")?;
        let message_time_ns = rfc3339_ns(timestamp.ok_or("no timestamp")?, "timestamp")?;
        for event in list {
            let is_snapshot = match event.kind {
                "snapshot" => true,
                "update" => false,
                other => return Err(format!("l2_data event type: unknown {other:?}")),
            };
            let mut bids = Vec::new();
            let mut asks = Vec::new();
            let mut latest_ns = 0;
            for update in &event.updates {
                let level = Level {
                    price: decimal(update.price_level, "price_level")?,
                    qty: quantity(update.new_quantity, "new_quantity")?,
                };
                match update.side {
                    "bid" => bids.push(level),
                    "offer" | "ask" => asks.push(level),
                    other => return Err(format!("l2_data side: unknown {other:?}")),
                }
                latest_ns = latest_ns.max(rfc3339_ns(update.event_time, "event_time")?);
            }
            events.push(Event::Book(BookUpdate {
                market: self.market(event.product_id)?,
                is_snapshot,
                bids,
                asks,
                first_sequence: None,
                last_sequence: Some(sequence),
                prev_sequence: self.last_sequence,
                checksum: None,
                // Snapshot levels carry the epoch as event time: the message's time stands in.
                exchange_time_ns: if latest_ns == 0 { message_time_ns } else { latest_ns },
                receive_time_ns,
            }));
        }
        Ok(Control::Data)
    }

    fn subscriptions(&mut self, answered: &[SubscriptionsEvent<'_>]) -> Control {
        if self.heartbeats_ack_pending {
            self.heartbeats_ack_pending = false;
            let only_heartbeats = answered.iter().all(|event| {
                event.subscriptions.keys().all(|channel| channel == "heartbeats")
                    && !event.subscriptions.is_empty()
            });
            if only_heartbeats && !answered.is_empty() {
                return Control::Unknown;
            }
        }
        Control::Ack { request_id: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Decimal;
    use crate::model::market::intern_unified;
    use crate::model::time::parse_rfc3339_ns;

    const TRADES_SNAPSHOT: &str = include_str!("../../tests/fixtures/coinbase/market_trades_snapshot.json");
    const TRADES_UPDATE: &str = include_str!("../../tests/fixtures/coinbase/market_trades_update.json");
    const TICKER_SNAPSHOT: &str = include_str!("../../tests/fixtures/coinbase/ticker_snapshot.json");
    const L2_SNAPSHOT: &str = include_str!("../../tests/fixtures/coinbase/level2_snapshot.json");
    const L2_UPDATE: &str = include_str!("../../tests/fixtures/coinbase/level2_update.json");
    const HEARTBEATS: &str = include_str!("../../tests/fixtures/coinbase/heartbeats_message.json");
    const SUBSCRIPTIONS: &str = include_str!("../../tests/fixtures/coinbase/subscriptions_ack.json");
    const ERROR: &str = include_str!("../../tests/fixtures/coinbase/error_failure_to_subscribe.json");
    const FIXTURES: [&str; 8] = [
        TRADES_SNAPSHOT,
        TRADES_UPDATE,
        TICKER_SNAPSHOT,
        L2_SNAPSHOT,
        L2_UPDATE,
        HEARTBEATS,
        SUBSCRIPTIONS,
        ERROR,
    ];

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    fn ns(text: &str) -> u64 {
        parse_rfc3339_ns(text).unwrap()
    }

    fn market(unified: &str) -> MarketRef {
        intern_unified(Venue::Coinbase, unified).unwrap()
    }

    fn parse(adapter: &mut CoinbaseAdapter, raw: &str) -> (Control, Vec<Event>) {
        let mut events = Vec::new();
        let control = adapter.parse(raw.as_bytes(), 42, &mut events).unwrap();
        (control, events)
    }

    #[test]
    fn spec_is_the_documented_endpoint() {
        let adapter = adapter(InstrumentKind::Spot).unwrap();
        let spec = adapter.spec();
        assert_eq!(spec.url, "wss://advanced-trade-ws.coinbase.com");
        assert_eq!(spec.venue, Venue::Coinbase);
        assert_eq!(spec.subscribe_within, Some(Duration::from_secs(5)));
        assert!(spec.app_ping.is_none());
        assert!(spec.requests_per_second * 4.0 <= 8.0, "three channel messages a request, plus heartbeats");
        assert!(super::adapter(InstrumentKind::Perpetual).is_err());
    }

    #[test]
    fn cancelling_bbo_keeps_the_ticker_channel_while_the_ticker_is_wanted() {
        let adapter = CoinbaseAdapter::new();
        let btc = market("BTC/USD");
        let mut out = Vec::new();
        adapter
            .subscribe(1, &[(btc.clone(), Channel::Bbo), (btc.clone(), Channel::Ticker)], &mut out)
            .unwrap();
        out.clear();
        adapter.unsubscribe(2, &[(btc.clone(), Channel::Bbo)], &mut out).unwrap();
        assert!(out.is_empty(), "the ticker still needs the channel: {out:?}");
        adapter.unsubscribe(3, &[(btc.clone(), Channel::Ticker)], &mut out).unwrap();
        assert_eq!(out, [r#"{"type":"unsubscribe","product_ids":["BTC-USD"],"channel":"ticker"}"#]);
    }

    #[test]
    fn subscribe_appends_one_message_per_channel() {
        let adapter = CoinbaseAdapter::new();
        let (btc, eth) = (market("BTC/USD"), market("ETH/USD"));
        let pairs = [
            (btc.clone(), Channel::Book),
            (btc.clone(), Channel::Bbo),
            (eth.clone(), Channel::Trades),
            (btc.clone(), Channel::Ticker),
            (eth.clone(), Channel::Book),
            (btc.clone(), Channel::Trades),
        ];
        let mut out = Vec::new();
        adapter.subscribe(7, &pairs, &mut out).unwrap();
        assert_eq!(
            out,
            [
                r#"{"type":"subscribe","product_ids":["ETH-USD","BTC-USD"],"channel":"market_trades"}"#,
                r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"ticker"}"#,
                r#"{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"level2"}"#,
            ]
        );
        let mut out = Vec::new();
        adapter.unsubscribe(8, &[(eth, Channel::Bbo)], &mut out).unwrap();
        assert_eq!(out, [r#"{"type":"unsubscribe","product_ids":["ETH-USD"],"channel":"ticker"}"#]);
        let mut out = Vec::new();
        adapter.subscribe(9, &[], &mut out).unwrap();
        assert!(out.is_empty());
        let mut out = Vec::new();
        adapter.on_connect(&mut out);
        assert_eq!(out, [HEARTBEATS_SUBSCRIBE]);
        serde_json::from_str::<serde_json::Value>(&out[0]).unwrap();
    }

    #[test]
    fn subscribe_refuses_too_many_pairs_and_other_venues() {
        let adapter = CoinbaseAdapter::new();
        let btc = market("BTC/USD");
        let pairs = vec![(btc, Channel::Trades); 51];
        let mut out = Vec::new();
        assert!(matches!(
            adapter.subscribe(1, &pairs, &mut out),
            Err(VenueError::TooMany { count: 51, max: 50, .. })
        ));
        let binance = intern_unified(Venue::Binance, "BTC/USDT").unwrap();
        assert!(matches!(
            adapter.subscribe(1, &[(binance, Channel::Trades)], &mut out),
            Err(VenueError::Unsupported { .. })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn market_trades_docs_example_gives_the_taker_side() {
        let mut adapter = CoinbaseAdapter::new();
        let (control, events) = parse(&mut adapter, TRADES_SNAPSHOT);
        assert_eq!(control, Control::Data);
        let [Event::Trade(trade)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(&*trade.market.unified, "ETH/USD");
        assert_eq!(trade.price.to_string(), "1260.01");
        assert_eq!(trade.qty.to_string(), "0.3");
        // "BUY" is the maker's side: a selling taker hit that bid.
        assert_eq!(trade.side, Side::Sell);
        assert_eq!(trade.trade_id.as_str(), "000000000");
        assert_eq!(trade.exchange_time_ns, 1_565_815_347_265_000_000);
        assert_eq!(trade.receive_time_ns, 42);
        assert_eq!(adapter.last_sequence(), Some(0));
    }

    #[test]
    fn market_trades_update_with_several_trades() {
        let mut adapter = CoinbaseAdapter::new();
        let (_, events) = parse(&mut adapter, TRADES_UPDATE);
        let trades: Vec<&Trade> = events
            .iter()
            .map(|event| if let Event::Trade(trade) = event { trade } else { panic!() })
            .collect();
        assert_eq!(trades.len(), 2);
        assert_eq!(trades[0].side, Side::Buy);
        assert_eq!(trades[0].trade_id.as_str(), "594838363");
        assert_eq!(trades[0].price, d("96251.47"));
        assert_eq!(trades[0].qty.to_string(), "0.00049321");
        assert_eq!(trades[0].exchange_time_ns, ns("2025-01-14T22:11:19.104385Z"));
        assert_eq!(trades[1].side, Side::Sell);
        assert_eq!(&*trades[1].market.unified, "BTC/USD");
        assert_eq!(adapter.last_sequence(), Some(5));
    }

    #[test]
    fn ticker_docs_example_gives_bbo_and_ticker() {
        let mut adapter = CoinbaseAdapter::new();
        let (control, events) = parse(&mut adapter, TICKER_SNAPSHOT);
        assert_eq!(control, Control::Data);
        let [Event::Bbo(bbo), Event::Ticker(ticker)] = events.as_slice() else { panic!("{events:?}") };
        let time = ns("2023-02-09T20:30:37.167359596Z");
        assert_eq!(time, 1_675_974_637_167_359_596);
        assert_eq!(&*bbo.market.unified, "BTC/USD");
        assert_eq!(bbo.bid_price.to_string(), "21931.98");
        assert_eq!(bbo.bid_qty.to_string(), "8000.21");
        assert_eq!(bbo.ask_price.to_string(), "21933.98");
        assert_eq!(bbo.ask_qty.to_string(), "8038.07770938");
        assert_eq!((bbo.exchange_time_ns, bbo.receive_time_ns), (time, 42));
        assert_eq!(ticker.last_price, Some(d("21932.98")));
        assert_eq!(ticker.volume_24h.unwrap().to_string(), "16038.28770938");
        assert_eq!(ticker.low_24h, Some(d("21835.29")));
        assert_eq!(ticker.high_24h, Some(d("23011.18")));
        assert_eq!(ticker.change_pct_24h.unwrap().to_string(), "-4.15775596190603");
        assert_eq!(ticker.bid_price, Some(bbo.bid_price));
        assert_eq!(ticker.ask_qty, Some(bbo.ask_qty));
        assert_eq!((ticker.open_24h, ticker.quote_volume_24h, ticker.change_24h), (None, None, None));
        assert_eq!(ticker.exchange_time_ns, time);
    }

    #[test]
    fn ticker_without_best_quotes_gives_only_a_ticker() {
        let mut adapter = CoinbaseAdapter::new();
        let raw = r#"{"channel":"ticker","timestamp":"2023-02-09T20:30:37Z","sequence_num":3,
            "events":[{"type":"update","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"1"}]}]}"#;
        let (_, events) = parse(&mut adapter, raw);
        let [Event::Ticker(ticker)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(ticker.last_price, Some(d("1")));
        assert_eq!(ticker.bid_price, None);
    }

    #[test]
    fn level2_docs_example_is_a_snapshot_with_sequence() {
        let mut adapter = CoinbaseAdapter::new();
        let (control, events) = parse(&mut adapter, L2_SNAPSHOT);
        assert_eq!(control, Control::Data);
        let [Event::Book(book)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(&*book.market.unified, "BTC/USD");
        assert!(book.is_snapshot);
        assert_eq!(
            book.bids,
            [
                Level { price: d("21921.73"), qty: d("0.06317902") },
                Level { price: d("21921.3"), qty: d("0.02") }
            ]
        );
        assert_eq!(book.bids[1].price.to_string(), "21921.3");
        assert!(book.asks.is_empty());
        assert_eq!((book.first_sequence, book.last_sequence, book.prev_sequence), (None, Some(0), None));
        assert_eq!(book.checksum, None);
        // Snapshot levels carry the epoch: the message time stands in.
        assert_eq!(book.exchange_time_ns, ns("2023-02-09T20:32:50.714964855Z"));
        assert_eq!(book.receive_time_ns, 42);
    }

    #[test]
    fn level2_update_chains_to_the_previous_message_on_any_channel() {
        let mut adapter = CoinbaseAdapter::new();
        parse(&mut adapter, L2_SNAPSHOT);
        parse(&mut adapter, HEARTBEATS.replace(r#""sequence_num": 0"#, r#""sequence_num": 1"#).as_str());
        assert_eq!(adapter.last_sequence(), Some(1));
        let (_, events) = parse(&mut adapter, L2_UPDATE);
        let [Event::Book(book)] = events.as_slice() else { panic!("{events:?}") };
        assert!(!book.is_snapshot);
        assert_eq!((book.last_sequence, book.prev_sequence), (Some(2), Some(1)));
        assert_eq!(book.bids, [Level { price: d("21921.73"), qty: d("0") }]);
        assert!(book.bids[0].qty.is_zero());
        assert_eq!(book.asks, [Level { price: d("21925.11"), qty: d("1.5") }]);
        assert_eq!(book.exchange_time_ns, ns("2023-02-09T20:32:51.123456789Z"));
        adapter.reset();
        assert_eq!(adapter.last_sequence(), None);
        let (_, events) = parse(&mut adapter, L2_UPDATE);
        let [Event::Book(book)] = events.as_slice() else { panic!() };
        assert_eq!(book.prev_sequence, None);
    }

    #[test]
    fn events_before_the_channel_are_read_the_same() {
        let mut in_order = CoinbaseAdapter::new();
        let mut reordered = CoinbaseAdapter::new();
        for fixture in [TRADES_UPDATE, TICKER_SNAPSHOT, L2_SNAPSHOT, HEARTBEATS, SUBSCRIPTIONS] {
            let value: serde_json::Value = serde_json::from_str(fixture).unwrap();
            let events = value["events"].to_string();
            let channel = value["channel"].as_str().unwrap();
            let timestamp = value["timestamp"].as_str().unwrap();
            let moved = format!(
                r#"{{"events":{events},"sequence_num":{},"timestamp":"{timestamp}","channel":"{channel}"}}"#,
                value["sequence_num"]
            );
            assert_eq!(parse(&mut reordered, &moved), parse(&mut in_order, fixture), "{moved}");
        }
    }

    #[test]
    fn heartbeats_and_counters_of_either_type() {
        let mut adapter = CoinbaseAdapter::new();
        assert_eq!(parse(&mut adapter, HEARTBEATS).0, Control::Heartbeat);
        let numeric = r#"{"channel":"heartbeats","client_id":"","timestamp":"2023-06-23T20:31:26Z","sequence_num":9,
            "events":[{"current_time":"x","heartbeat_counter":3049}]}"#;
        assert_eq!(parse(&mut adapter, numeric).0, Control::Heartbeat);
        assert_eq!(adapter.last_sequence(), Some(9));
    }

    #[test]
    fn the_heartbeats_ack_is_not_a_request_ack() {
        let mut adapter = CoinbaseAdapter::new();
        let heartbeats_ack = r#"{"channel":"subscriptions","client_id":"","timestamp":"2023-02-09T20:32:50Z",
            "sequence_num":0,"events":[{"subscriptions":{"heartbeats":["heartbeats"]}}]}"#;
        assert_eq!(parse(&mut adapter, heartbeats_ack).0, Control::Unknown);
        assert_eq!(parse(&mut adapter, SUBSCRIPTIONS).0, Control::Ack { request_id: None });
        assert_eq!(parse(&mut adapter, heartbeats_ack).0, Control::Ack { request_id: None });
        adapter.reset();
        assert_eq!(parse(&mut adapter, heartbeats_ack).0, Control::Unknown);
        // Where the heartbeats subscription was not answered apart, the first ack is a request's.
        adapter.reset();
        assert_eq!(parse(&mut adapter, SUBSCRIPTIONS).0, Control::Ack { request_id: None });
    }

    #[test]
    fn errors_are_rejections_in_the_venues_words() {
        let mut adapter = CoinbaseAdapter::new();
        assert_eq!(
            parse(&mut adapter, ERROR).0,
            Control::Rejected { request_id: None, reason: "failure to subscribe".into() }
        );
        let with_reason =
            r#"{"type":"error","message":"Failed to subscribe","reason":"BAD-X is not a valid product"}"#;
        assert_eq!(
            parse(&mut adapter, with_reason).0,
            Control::Rejected {
                request_id: None,
                reason: "Failed to subscribe: BAD-X is not a valid product".into()
            }
        );
        let escaped = r#"{"type":"error","message":"bad \"jwt\""}"#;
        assert_eq!(
            parse(&mut adapter, escaped).0,
            Control::Rejected { request_id: None, reason: "bad \"jwt\"".into() }
        );
    }

    #[test]
    fn other_well_formed_messages_are_unknown() {
        let mut adapter = CoinbaseAdapter::new();
        for raw in [
            "{}",
            r#"{"channel":"ticker_batch","sequence_num":4,"events":[]}"#,
            r#"{"channel":"status","events":[{"type":"snapshot","products":[]}]}"#,
            r#"{"type":"something_new"}"#,
        ] {
            assert_eq!(parse(&mut adapter, raw).0, Control::Unknown, "{raw}");
        }
        assert_eq!(adapter.last_sequence(), Some(4));
    }

    #[test]
    fn bad_input_is_an_error_and_the_adapter_goes_on() {
        let mut adapter = CoinbaseAdapter::new();
        let long_id = format!(
            r#"{{"channel":"market_trades","events":[{{"type":"update","trades":[{{"trade_id":"{}","product_id":"BTC-USD","price":"1","size":"1","side":"BUY","time":"2023-02-09T20:19:35Z"}}]}}]}}"#,
            "9".repeat(49)
        );
        let trade = |field: &str, value: &str| {
            TRADES_UPDATE.replacen(&format!(r#""{field}": "#), &format!(r#""{field}": {value}, "was": "#), 1)
        };
        let huge_events = format!(
            r#"{{"channel":"l2_data","timestamp":"2023-02-09T20:32:50Z","sequence_num":1,"events":[{}]}}"#,
            [r#"{"type":"update","product_id":"BTC-USD","updates":[]}"#; 2].join(",")
        );
        let cases: Vec<String> = vec![
            String::new(),
            "{".into(),
            "nonsense".into(),
            "\u{0}\u{1}\u{ff}".into(),
            TRADES_UPDATE[..TRADES_UPDATE.len() / 2].into(),
            long_id,
            trade("price", r#""1e400""#),
            trade("price", r#""123456789012345678901234567890123456789""#),
            trade("price", "96251.47"),
            trade("size", r#""-1""#),
            trade("side", r#""buy""#),
            trade("time", r#""yesterday""#),
            trade("product_id", r#""BTCUSD""#),
            trade("trade_id", "17"),
            r#"{"channel":"market_trades","events":{}}"#.into(),
            r#"{"channel":"market_trades"}"#.into(),
            r#"{"channel":"ticker","events":[]}"#.into(),
            r#"{"channel":"l2_data","timestamp":"2023-02-09T20:32:50Z","events":[]}"#.into(),
            L2_UPDATE.replace(r#""offer""#, r#""sell""#),
            L2_UPDATE.replace(r#""update""#, r#""delta""#),
            L2_UPDATE.replace(r#""1.5""#, r#""-1.5""#),
            r#"{"channel":"heartbeats","events":3}"#.into(),
            r#"{"channel":"subscriptions","events":[{"subscriptions":[]}]}"#.into(),
            r#"{"channel":"l2_data","sequence_num":-1}"#.into(),
            r#"{"channel":"l2_data","sequence_num":1e3}"#.into(),
            r#"{"channel":7}"#.into(),
            r#"{"channel":"ticker","channel":"ticker","events":[]}"#.into(),
            r#"{"events":[],"channel":"l2_data","events":[]}"#.into(),
            r#"{"events":[{"type":"update"}],"channel":"l2_data","timestamp":"2023-02-09T20:32:50Z","sequence_num":1}"#.into(),
            "[1,2,3]".into(),
        ];
        for raw in cases {
            let mut events =
                vec![Event::Trade(match parse(&mut CoinbaseAdapter::new(), TRADES_SNAPSHOT).1.remove(0) {
                    Event::Trade(trade) => trade,
                    _ => unreachable!(),
                })];
            let error = adapter.parse(raw.as_bytes(), 1, &mut events).unwrap_err();
            assert_eq!(events.len(), 1, "{raw}");
            assert_eq!(error.venue, Venue::Coinbase);
            assert_eq!(error.raw, String::from_utf8_lossy(raw.as_bytes()));
            assert_eq!(parse(&mut adapter, TRADES_SNAPSHOT).1.len(), 1);
        }
        // A good multi-event message is all or nothing.
        assert_eq!(parse(&mut adapter, &huge_events).1.len(), 2);
        let broken = huge_events.replacen("\"updates\":[]", r#""updates":[{"side":"bid","event_time":"2023-02-09T20:32:50Z","price_level":"x","new_quantity":"1"}]"#, 2);
        let mut events = Vec::new();
        assert!(adapter.parse(broken.as_bytes(), 1, &mut events).is_err());
        assert!(events.is_empty());
    }

    #[test]
    fn every_fixture_is_strict_json() {
        for fixture in FIXTURES {
            serde_json::from_str::<serde_json::Value>(fixture).unwrap();
        }
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..256)) {
                let mut adapter = CoinbaseAdapter::new();
                let mut events = Vec::new();
                if adapter.parse(&raw, 0, &mut events).is_err() {
                    prop_assert!(events.is_empty());
                }
            }

            #[test]
            fn mutated_fixtures_never_panic_nor_half_append(
                which in 0..FIXTURES.len(),
                cut in any::<prop::sample::Index>(),
                edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            ) {
                let mut raw = FIXTURES[which].as_bytes().to_vec();
                for (at, byte) in edits {
                    let at = at.index(raw.len());
                    raw[at] = byte;
                }
                raw.truncate(cut.index(raw.len() + 1));
                let mut adapter = CoinbaseAdapter::new();
                let mut events = Vec::new();
                if adapter.parse(&raw, 0, &mut events).is_err() {
                    prop_assert!(events.is_empty());
                }
                let mut events = Vec::new();
                prop_assert!(adapter.parse(TRADES_SNAPSHOT.as_bytes(), 0, &mut events).is_ok());
            }
        }
    }
}
