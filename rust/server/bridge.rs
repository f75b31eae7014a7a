//! [`Bridge`]: a feed's normalized events as broadcast messages, converted and published in
//! Rust (no trip through Python objects).
//!
//! - Tickers become `MarketData` (last price, 24 h change and percent, volume, bid/ask).
//! - Trades become `MarketTrade`, and are aggregated into candles per market and timeframe
//!   (1m, 5m, 1h) sent as `ChartUpdate`: at most every [`CHART_EVERY_NS`] while a candle grows,
//!   and at once, `is_closed: true`, when the next trade opens the next candle.
//! - Books become `BookTop` (the top [`BOOK_LEVELS`] levels and whether the book is proven):
//!   at most every [`BOOK_EVERY_NS`], and at once when the book turns invalid or valid again.
//!
//! Symbols are the unified ones (`BTC/USDT`) with the venue in `data.venue`; the conflation
//! sub-key keeps venues (and timeframes) apart. Prices are written as JSON numbers with the
//! venue's exact digits. Candle times are the venue's (Unix ms), or the local clock where the
//! venue sends none.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use rustc_hash::FxHashMap;

use super::hub::Hub;
use super::message::Kind;
use crate::book::{BookInvalid, BookSync};
use crate::clock::unix_now_ns;
use crate::model::{Decimal, Event, Level, MarketRef, Ticker, Trade};

/// Open candles are sent at most this often (ns).
pub const CHART_EVERY_NS: u64 = 250_000_000;
/// Book tops are sent at most this often per market (ns).
pub const BOOK_EVERY_NS: u64 = 100_000_000;
/// Levels a side in `BookTop`.
pub const BOOK_LEVELS: usize = 10;

/// The candle timeframes: wire name and length in ms.
const TIMEFRAMES: [(&str, u64); 3] = [("1m", 60_000), ("5m", 300_000), ("1h", 3_600_000)];

#[derive(Debug, Clone, Copy)]
struct Candle {
    open_ms: u64,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
}

#[derive(Debug, Default)]
struct MarketState {
    candles: [Option<Candle>; 3],
    chart_sent_ns: [u64; 3],
    change_24h: Option<Decimal>,
    change_pct_24h: Option<Decimal>,
    volume_24h: Option<Decimal>,
    book_sent_ns: u64,
    book_valid: Option<bool>,
}

/// Feed events → broadcast messages for one server.
#[derive(Debug)]
pub struct Bridge {
    hub: Arc<Hub>,
    markets: Mutex<FxHashMap<u32, MarketState>>,
}

/// Unix time now, ms.
fn unix_now_ms() -> u64 {
    unix_now_ns() / 1_000_000
}

fn event_ms(exchange_time_ns: u64) -> u64 {
    if exchange_time_ns == 0 { unix_now_ms() } else { exchange_time_ns / 1_000_000 }
}

/// The conflation sub-key of a market's messages: its venue, and a timeframe slot.
fn sub_key(market: &MarketRef, slot: u8) -> u8 {
    market.venue.ordinal() * 4 + slot
}

/// Appends `"name":value` for an optional decimal (JSON `null` when absent).
fn field(out: &mut String, name: &str, value: Option<Decimal>) {
    match value {
        Some(value) => {
            let _ = write!(out, ",\"{name}\":{value}");
        }
        None => {
            let _ = write!(out, ",\"{name}\":null");
        }
    }
}

fn levels(out: &mut String, name: &str, levels: impl Iterator<Item = Level>) {
    let _ = write!(out, ",\"{name}\":[");
    for (index, level) in levels.enumerate() {
        let comma = if index == 0 { "" } else { "," };
        let _ = write!(out, "{comma}[{},{}]", level.price, level.qty);
    }
    out.push(']');
}

/// The start of a market's payload: `{"symbol":…,"venue":…`.
fn head(market: &MarketRef) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"symbol\":");
    out.push_str(&serde_json::to_string(&*market.unified).unwrap_or_default());
    let _ = write!(out, ",\"venue\":\"{}\"", market.venue);
    out
}

impl Bridge {
    /// A bridge publishing into `hub`.
    #[must_use]
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub, markets: Mutex::new(FxHashMap::default()) }
    }

    fn with_market<T>(&self, market: &MarketRef, f: impl FnOnce(&mut MarketState) -> T) -> T {
        let mut markets = self.markets.lock().unwrap_or_else(PoisonError::into_inner);
        f(markets.entry(market.id).or_default())
    }

    /// A trade, ticker or BBO event (books go through [`on_book`](Self::on_book)).
    pub fn on_event(&self, event: &Event) {
        match event {
            Event::Trade(trade) => self.on_trade(trade),
            Event::Ticker(ticker) => self.on_ticker(ticker),
            Event::Bbo(_) | Event::Book(_) => {}
        }
    }

    fn on_ticker(&self, ticker: &Ticker) {
        let Some(price) = ticker.last_price else { return };
        self.with_market(&ticker.market, |state| {
            state.change_24h = ticker.change_24h.or(state.change_24h);
            state.change_pct_24h = ticker.change_pct_24h.or(state.change_pct_24h);
            state.volume_24h = ticker.volume_24h.or(state.volume_24h);
        });
        let mut data = head(&ticker.market);
        let _ = write!(data, ",\"price\":{price},\"timestamp\":{}", event_ms(ticker.exchange_time_ns));
        field(&mut data, "price_change_24h", ticker.change_24h);
        field(&mut data, "price_change_percent_24h", ticker.change_pct_24h);
        field(&mut data, "volume_24h", ticker.volume_24h);
        field(&mut data, "bid", ticker.bid_price);
        field(&mut data, "ask", ticker.ask_price);
        data.push('}');
        self.hub.publish(
            Kind::MarketData,
            Some(&ticker.market.unified),
            sub_key(&ticker.market, 0),
            Some(&data),
            None,
        );
    }

    fn on_trade(&self, trade: &Trade) {
        let ms = event_ms(trade.exchange_time_ns);
        let mut data = head(&trade.market);
        let _ = write!(
            data,
            ",\"price\":{},\"quantity\":{},\"side\":\"{}\",\"timestamp\":{ms}}}",
            trade.price,
            trade.qty,
            trade.side.as_str()
        );
        self.hub.publish(
            Kind::MarketTrade,
            Some(&trade.market.unified),
            sub_key(&trade.market, 0),
            Some(&data),
            None,
        );
        let updates = self.with_market(&trade.market, |state| candle_updates(state, trade, ms));
        for (slot, payload) in updates {
            self.hub.publish(
                Kind::ChartUpdate,
                Some(&trade.market.unified),
                sub_key(&trade.market, slot),
                Some(&payload),
                None,
            );
        }
    }

    /// A book after an update the keeper applied (or found invalid): its top, if due.
    pub fn on_book(&self, market: &MarketRef, book: &BookSync, now_ns: u64) {
        let valid = book.is_valid();
        let due = self.with_market(market, |state| {
            let changed = state.book_valid != Some(valid);
            let due = changed || now_ns.saturating_sub(state.book_sent_ns) >= BOOK_EVERY_NS;
            if due {
                state.book_sent_ns = now_ns;
                state.book_valid = Some(valid);
            }
            due
        });
        if !due {
            return;
        }
        let mut data = head(market);
        levels(&mut data, "bids", book.book().top_bids(BOOK_LEVELS));
        levels(&mut data, "asks", book.book().top_asks(BOOK_LEVELS));
        let _ = write!(data, ",\"is_valid\":{valid},\"timestamp\":{}", unix_now_ms());
        if let crate::book::Validity::Invalid { reason, .. } = book.validity() {
            let _ = write!(
                data,
                ",\"reason\":{}",
                serde_json::to_string(&reason.to_string()).unwrap_or_default()
            );
        }
        data.push('}');
        self.hub.publish(Kind::BookTop, Some(&market.unified), sub_key(market, 0), Some(&data), None);
    }

    /// A book the keeper found invalid.
    pub fn on_book_invalid(&self, invalid: &BookInvalid, book: Option<&BookSync>) {
        if let Some(book) = book {
            self.on_book(&invalid.market, book, invalid.time_ns);
        }
    }
}

/// Applies `trade` to the market's candles; returns the `ChartUpdate` payloads due, by
/// timeframe slot (1-based).
fn candle_updates(state: &mut MarketState, trade: &Trade, ms: u64) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    for (index, (name, length)) in TIMEFRAMES.iter().enumerate() {
        let open_ms = ms - ms % length;
        let slot = u8::try_from(index + 1).unwrap_or(0);
        let current_open = state.candles[index].map(|candle| candle.open_ms);
        if let Some(current) = state.candles[index].as_mut().filter(|candle| candle.open_ms == open_ms) {
            current.high = current.high.max(trade.price);
            current.low = current.low.min(trade.price);
            current.close = trade.price;
            current.volume = current.volume.checked_add(trade.qty).unwrap_or(current.volume);
        } else if current_open.is_some_and(|current| open_ms < current) {
            // A late trade of a candle already sent closed: leave that candle as sent.
            continue;
        } else {
            if let Some(closed) = state.candles[index].take() {
                out.push((
                    slot,
                    chart_payload(&trade.market, name, &closed, true, trade.price, ms, stats(state)),
                ));
            }
            state.candles[index] = Some(Candle {
                open_ms,
                open: trade.price,
                high: trade.price,
                low: trade.price,
                close: trade.price,
                volume: trade.qty,
            });
            state.chart_sent_ns[index] = 0;
        }
        let now = trade.receive_time_ns;
        // 0: not sent since it opened (a new candle goes out at once).
        let sent = state.chart_sent_ns[index];
        if (sent == 0 || now.saturating_sub(sent) >= CHART_EVERY_NS)
            && let Some(current) = &state.candles[index]
        {
            state.chart_sent_ns[index] = now.max(1);
            out.push((
                slot,
                chart_payload(&trade.market, name, current, false, trade.price, ms, stats(state)),
            ));
        }
    }
    out
}

fn stats(state: &MarketState) -> [Option<Decimal>; 3] {
    [state.change_24h, state.change_pct_24h, state.volume_24h]
}

fn chart_payload(
    market: &MarketRef,
    timeframe: &str,
    candle: &Candle,
    is_closed: bool,
    latest: Decimal,
    ms: u64,
    stats: [Option<Decimal>; 3],
) -> String {
    let mut data = head(market);
    let _ = write!(
        data,
        ",\"timeframe\":\"{timeframe}\",\"candle\":{{\"timestamp\":{},\"open\":{},\"high\":{},\"low\":{},\"close\":{},\"volume\":{},\"is_closed\":{is_closed}}},\"latest_price\":{latest},\"timestamp\":{ms}",
        candle.open_ms, candle.open, candle.high, candle.low, candle.close, candle.volume
    );
    field(&mut data, "price_change_24h", stats[0]);
    field(&mut data, "price_change_percent_24h", stats[1]);
    field(&mut data, "volume_24h", stats[2]);
    data.push('}');
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::market::intern;
    use crate::model::{Side, TradeId, Venue};

    fn trade(price: &str, qty: &str, ms: u64, receive_ns: u64) -> Trade {
        Trade {
            market: intern(Venue::Binance, None, "BTCUSDT").unwrap(),
            price: Decimal::parse(price).unwrap(),
            qty: Decimal::parse(qty).unwrap(),
            side: Side::Buy,
            trade_id: TradeId::new(),
            exchange_time_ns: ms * 1_000_000,
            receive_time_ns: receive_ns,
        }
    }

    fn candle(payload: &str) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(payload).unwrap()
    }

    #[test]
    fn a_registered_venue_is_named_and_conflated_apart() {
        use crate::model::{SymbolSeparator, VenueTraits};
        let traits = VenueTraits { symbol_separator: SymbolSeparator::Underscore, book_sync: None };
        let gate = Venue::register("bridge-gate", traits).unwrap();
        let market = intern(gate, None, "BTC_USDT").unwrap();
        assert!(head(&market).ends_with(r#""symbol":"BTC/USDT","venue":"bridge-gate""#));
        let binance = intern(Venue::Binance, None, "BTCUSDT").unwrap();
        let keys: Vec<u8> = (0..4).map(|slot| sub_key(&market, slot)).collect();
        assert!((0..4).all(|slot| !keys.contains(&sub_key(&binance, slot))));
    }

    #[test]
    fn trades_make_candles_sent_while_growing_and_when_closed() {
        let mut state = MarketState::default();
        let first = candle_updates(&mut state, &trade("100", "1", 60_000, 1), 60_000);
        assert_eq!(first.len(), 3, "every timeframe's new candle goes out");
        // Within the throttle: nothing; the candle still grows.
        assert!(candle_updates(&mut state, &trade("105", "2", 61_000, 2), 61_000).is_empty());
        assert!(candle_updates(&mut state, &trade("95", "0.5", 62_000, 3), 62_000).is_empty());
        // Next minute: the 1m candle goes out closed, a new one opens; 5m and 1h are throttled.
        let next = candle_updates(&mut state, &trade("101", "1", 120_000, 4), 120_000);
        let (slot, closed) = &next[0];
        let closed = candle(closed);
        assert_eq!(*slot, 1);
        assert_eq!(closed["timeframe"], "1m");
        let c = &closed["candle"];
        assert_eq!(
            (c["open"].as_f64(), c["high"].as_f64(), c["low"].as_f64(), c["close"].as_f64()),
            (Some(100.0), Some(105.0), Some(95.0), Some(95.0))
        );
        assert_eq!(
            (c["volume"].as_f64(), c["is_closed"].as_bool(), c["timestamp"].as_u64()),
            (Some(3.5), Some(true), Some(60_000))
        );
        let open = candle(&next[1].1);
        assert_eq!(
            (open["candle"]["timestamp"].as_u64(), open["candle"]["is_closed"].as_bool()),
            (Some(120_000), Some(false))
        );
        // A late trade of the closed minute does not reopen it.
        assert!(candle_updates(&mut state, &trade("1", "1", 119_000, 5), 119_000).is_empty());
        // After the throttle, the growing candles go out again.
        let later = candle_updates(&mut state, &trade("102", "1", 121_000, CHART_EVERY_NS + 10), 121_000);
        assert_eq!(later.len(), 3);
    }
}
