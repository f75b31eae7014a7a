//! Coinbase Advanced Trade market data as the simulator speaks it, to one client.
//!
//! Owns [`CoinbaseSim`]: the subscribe/unsubscribe handling (one channel per message, answered
//! by a `subscriptions` message listing everything the connection holds, or by
//! `{"type":"error","message":…}`), the `heartbeats` channel (one message a second with a
//! counter), `level2` snapshots on subscribe then `l2_data` updates, `market_trades` and
//! `ticker` messages, all shaped as in `PROTOCOLS.md` §4a.
//!
//! Invariants:
//! - Every message sent to the client carries `sequence_num`, 0, 1, 2 … with no gap across all
//!   channels; errors carry none (as Coinbase's). A frame the engine drops after encoding has
//!   used its number, so the client sees the gap.
//! - A `level2` subscriber gets a snapshot of the engine's book, then only changes with a
//!   larger `update_id`, applied to a replica of its own.
//! - `market_trades.side` is the maker's side, as Coinbase documents it: the opposite of the
//!   happening's taker side.
//! - Encoding writes into one reused buffer, no allocation per message.
//!
//! Not simulated: the recent-trades snapshot of `market_trades` and the first `ticker`
//! snapshot (the engine keeps no trade history), channels other than `heartbeats`,
//! `market_trades`, `ticker` and `level2` (refused), JWTs (ignored). Coinbase answers only
//! `ticker` on matches, so a BBO subscriber (the `ticker` channel) hears of a new best price
//! with the next ticker, not with each book change. The words of errors other than
//! "failure to subscribe" and the answer to the message rate limit (8 a second; an error here)
//! are not documented and are this simulator's.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use serde::Deserialize;

use crate::model::time::{Fraction, write_rfc3339};
use crate::model::{Decimal, Level, MarketRef, Side, Venue};
use crate::sim::protocol::{
    BookChange, EncodeFaults, Happening, HappeningView, HeartbeatRules, Outbox, SimBook, SimContext,
    TradeFields, VenueSim, Verdict,
};

/// Unauthenticated messages Coinbase accepts from a client per second.
const MESSAGES_PER_SECOND: u32 = 8;
const SECOND_NS: u64 = 1_000_000_000;

/// One client's view of the simulated Coinbase.
#[derive(Debug, Default)]
pub struct CoinbaseSim {
    /// The next message's `sequence_num`.
    sequence: u64,
    heartbeats: bool,
    heartbeat_counter: u64,
    next_heartbeat_ns: u64,
    opened_ns: u64,
    /// Market id → market, per channel.
    trades: BTreeMap<u32, MarketRef>,
    tickers: BTreeMap<u32, MarketRef>,
    books: BTreeMap<u32, (MarketRef, SimBook)>,
    /// Start of the current one-second window of client messages, and their count in it.
    window_start_ns: u64,
    window_messages: u32,
    scratch: Vec<u8>,
}

#[derive(Deserialize)]
struct Request {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    product_ids: Option<Vec<String>>,
    channel: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WireChannel {
    Heartbeats,
    MarketTrades,
    Ticker,
    Level2,
}

impl WireChannel {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "heartbeats" => Some(Self::Heartbeats),
            "market_trades" => Some(Self::MarketTrades),
            "ticker" => Some(Self::Ticker),
            "level2" => Some(Self::Level2),
            _ => None,
        }
    }
}

impl VenueSim for CoinbaseSim {
    fn venue(&self) -> Venue {
        Venue::Coinbase
    }

    fn heartbeat_rules(&self) -> HeartbeatRules {
        HeartbeatRules { subscribe_within: Some(Duration::from_secs(5)), ..HeartbeatRules::default() }
    }

    fn on_open(
        &mut self,
        path_and_query: &str,
        ctx: &dyn SimContext,
        _out: &mut Outbox,
    ) -> Result<(), (u16, String)> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        if !path.is_empty() && path != "/" {
            return Err((404, format!("no such path: {path}")));
        }
        self.opened_ns = ctx.now_ns();
        Ok(())
    }

    fn on_message(&mut self, text: &str, ctx: &dyn SimContext, out: &mut Outbox) -> Verdict {
        let now_ns = ctx.now_ns();
        if now_ns.saturating_sub(self.window_start_ns) >= SECOND_NS {
            self.window_start_ns = now_ns;
            self.window_messages = 0;
        }
        self.window_messages += 1;
        if self.window_messages > MESSAGES_PER_SECOND {
            self.error("rate limit exceeded", out);
            return Verdict::Continue;
        }
        let Ok(request) = serde_json::from_str::<Request>(text) else {
            self.error("malformed request", out);
            return Verdict::Continue;
        };
        match request.kind.as_deref() {
            Some("subscribe") => self.subscribe(&request, ctx, now_ns, out),
            Some("unsubscribe") => self.unsubscribe(&request, ctx, now_ns, out),
            _ => self.error("unknown message type", out),
        }
        Verdict::Continue
    }

    fn encode(&mut self, happening: &Happening, _faults: EncodeFaults, out: &mut Outbox) {
        match happening.view() {
            HappeningView::Trade(trade) => {
                if self.trades.contains_key(&trade.market.id) {
                    self.trade(&trade, out);
                }
            }
            HappeningView::Book(change) => self.book_change(&change, out),
            HappeningView::Ticker => {
                if self.tickers.contains_key(&happening.market().id) {
                    self.ticker(happening, out);
                }
            }
        }
    }

    fn on_tick(&mut self, now_ns: u64, out: &mut Outbox) {
        if !self.heartbeats || now_ns < self.next_heartbeat_ns {
            return;
        }
        self.next_heartbeat_ns = now_ns + SECOND_NS;
        self.heartbeat_counter += 1;
        self.begin("heartbeats", now_ns);
        self.scratch.extend_from_slice(br#"{"current_time":""#);
        write_go_time(&mut self.scratch, now_ns);
        let uptime_ns = now_ns.saturating_sub(self.opened_ns);
        let _ = write!(
            self.scratch,
            r#" m=+{}.{:09}","heartbeat_counter":"{}"}}"#,
            uptime_ns / SECOND_NS,
            uptime_ns % SECOND_NS,
            self.heartbeat_counter
        );
        self.finish(out);
    }

    fn has_subscriptions(&self) -> bool {
        self.heartbeats || !self.trades.is_empty() || !self.tickers.is_empty() || !self.books.is_empty()
    }
}

impl CoinbaseSim {
    fn error(&mut self, message: &str, out: &mut Outbox) {
        self.scratch.clear();
        let _ = write!(self.scratch, r#"{{"type":"error","message":"{message}"}}"#);
        out.text(&self.scratch);
    }

    /// The markets a request names, or `None` if it names none or one the venue lacks.
    fn markets(request: &Request, ctx: &dyn SimContext) -> Option<Vec<MarketRef>> {
        let products = request.product_ids.as_deref().unwrap_or_default();
        products.iter().map(|product| ctx.market(product)).collect()
    }

    fn subscribe(&mut self, request: &Request, ctx: &dyn SimContext, now_ns: u64, out: &mut Outbox) {
        let channel = request.channel.as_deref().and_then(WireChannel::from_name);
        let markets = Self::markets(request, ctx);
        let (Some(channel), Some(markets)) = (channel, markets) else {
            return self.error("failure to subscribe", out);
        };
        if markets.is_empty() && channel != WireChannel::Heartbeats {
            return self.error("failure to subscribe", out);
        }
        match channel {
            WireChannel::Heartbeats => {
                if !self.heartbeats {
                    self.heartbeats = true;
                    self.next_heartbeat_ns = 0;
                }
            }
            WireChannel::MarketTrades => self.trades.extend(markets.iter().map(|m| (m.id, m.clone()))),
            WireChannel::Ticker => self.tickers.extend(markets.iter().map(|m| (m.id, m.clone()))),
            WireChannel::Level2 => {
                for market in &markets {
                    self.books.insert(market.id, (market.clone(), ctx.book(market)));
                }
            }
        }
        self.subscriptions(now_ns, out);
        if channel == WireChannel::Level2 {
            for market in &markets {
                self.snapshot(market, now_ns, out);
            }
        }
    }

    fn unsubscribe(&mut self, request: &Request, ctx: &dyn SimContext, now_ns: u64, out: &mut Outbox) {
        let channel = request.channel.as_deref().and_then(WireChannel::from_name);
        let markets = Self::markets(request, ctx);
        let (Some(channel), Some(markets)) = (channel, markets) else {
            return self.error("failure to unsubscribe", out);
        };
        // No product ids: the whole channel.
        let whole = markets.is_empty();
        let keep = |id: &u32| !whole && !markets.iter().any(|market| market.id == *id);
        match channel {
            WireChannel::Heartbeats => self.heartbeats = false,
            WireChannel::MarketTrades => self.trades.retain(|id, _| keep(id)),
            WireChannel::Ticker => self.tickers.retain(|id, _| keep(id)),
            WireChannel::Level2 => self.books.retain(|id, _| keep(id)),
        }
        self.subscriptions(now_ns, out);
    }

    /// The `subscriptions` answer: everything the connection now holds, per channel.
    fn subscriptions(&mut self, now_ns: u64, out: &mut Outbox) {
        self.begin("subscriptions", now_ns);
        let lists = [
            ("heartbeats", if self.heartbeats { vec!["heartbeats"] } else { Vec::new() }),
            ("level2", natives(self.books.values().map(|(market, _)| market))),
            ("market_trades", natives(self.trades.values())),
            ("ticker", natives(self.tickers.values())),
        ];
        self.scratch.extend_from_slice(br#"{"subscriptions":{"#);
        let mut first = true;
        for (name, list) in lists.iter().filter(|(_, list)| !list.is_empty()) {
            let _ = write!(self.scratch, r#"{}"{name}":["#, if first { "" } else { "," });
            first = false;
            for (position, native) in list.iter().enumerate() {
                let _ = write!(self.scratch, r#"{}"{native}""#, if position > 0 { "," } else { "" });
            }
            self.scratch.push(b']');
        }
        self.scratch.extend_from_slice(b"}}");
        self.finish(out);
    }

    fn snapshot(&mut self, market: &MarketRef, now_ns: u64, out: &mut Outbox) {
        // Cold path: a copy keeps the replica apart from the buffer being written.
        let Some((_, book)) = self.books.get(&market.id).cloned() else { return };
        self.begin("l2_data", now_ns);
        let _ = write!(self.scratch, r#"{{"type":"snapshot","product_id":"{}","updates":["#, market.native);
        let bids = book.top_bids(usize::MAX).map(|level| ("bid", level));
        let asks = book.top_asks(usize::MAX).map(|level| ("offer", level));
        let mut first = true;
        for (side, level) in bids.chain(asks) {
            // Coinbase stamps snapshot levels with the epoch.
            write_level(&mut self.scratch, &mut first, side, level, 0);
        }
        self.scratch.extend_from_slice(b"]}");
        self.finish(out);
    }

    fn trade(&mut self, trade: &TradeFields<'_>, out: &mut Outbox) {
        let TradeFields { market, price, qty, side, trade_id, time_ns } = *trade;
        // The wire names the maker's side, the other side of the taker's.
        let maker_side = match side {
            Side::Buy => "SELL",
            Side::Sell => "BUY",
        };
        self.begin("market_trades", time_ns);
        let _ = write!(
            self.scratch,
            r#"{{"type":"update","trades":[{{"trade_id":"{trade_id}","product_id":"{}","price":"{price}","size":"{qty}","side":"{maker_side}","time":""#,
            market.native
        );
        write_time(&mut self.scratch, time_ns);
        self.scratch.extend_from_slice(br#""}]}"#);
        self.finish(out);
    }

    fn ticker(&mut self, happening: &Happening, out: &mut Outbox) {
        let Happening::Ticker { market, last, open, high, low, volume, bid, ask, time_ns, .. } = happening
        else {
            return;
        };
        self.begin("ticker", *time_ns);
        let buf = &mut self.scratch;
        let _ = write!(
            buf,
            r#"{{"type":"update","tickers":[{{"type":"ticker","product_id":"{}","price":"{last}","volume_24_h":"{volume}","low_24_h":"{low}","high_24_h":"{high}","low_52_w":"{low}","high_52_w":"{high}","#,
            market.native
        );
        if let Some(change) = percent_change(*last, *open) {
            let _ = write!(buf, r#""price_percent_chg_24_h":"{change}","#);
        }
        let _ = write!(
            buf,
            r#""best_bid":"{}","best_bid_quantity":"{}","best_ask":"{}","best_ask_quantity":"{}"}}]}}"#,
            bid.price, bid.qty, ask.price, ask.qty
        );
        self.finish(out);
    }

    fn book_change(&mut self, change: &BookChange<'_>, out: &mut Outbox) {
        let BookChange { market, update_id, bids, asks, time_ns } = *change;
        let Some((_, replica)) = self.books.get_mut(&market.id) else { return };
        if update_id <= replica.update_id {
            return;
        }
        replica.apply(update_id, bids, asks);
        self.begin("l2_data", time_ns);
        let _ = write!(self.scratch, r#"{{"type":"update","product_id":"{}","updates":["#, market.native);
        let mut first = true;
        for (side, level) in bids.iter().map(|l| ("bid", l)).chain(asks.iter().map(|l| ("offer", l))) {
            write_level(&mut self.scratch, &mut first, side, *level, time_ns);
        }
        self.scratch.extend_from_slice(b"]}");
        self.finish(out);
    }

    /// Starts a message in the scratch buffer: the envelope up to the events' opening bracket.
    fn begin(&mut self, channel: &str, time_ns: u64) {
        self.scratch.clear();
        let _ = write!(self.scratch, r#"{{"channel":"{channel}","client_id":"","timestamp":""#);
        write_time(&mut self.scratch, time_ns);
        let _ = write!(self.scratch, r#"","sequence_num":{},"events":["#, self.sequence);
        self.sequence += 1;
    }

    fn finish(&mut self, out: &mut Outbox) {
        self.scratch.extend_from_slice(b"]}");
        out.text(&self.scratch);
    }
}

/// The markets' product ids, sorted.
fn natives<'a>(markets: impl Iterator<Item = &'a MarketRef>) -> Vec<&'a str> {
    let mut names: Vec<&str> = markets.map(|market| &*market.native).collect();
    names.sort_unstable();
    names
}

fn write_level(buf: &mut Vec<u8>, first: &mut bool, side: &str, level: Level, time_ns: u64) {
    if !*first {
        buf.push(b',');
    }
    *first = false;
    let _ = write!(buf, r#"{{"side":"{side}","event_time":""#);
    write_time(buf, time_ns);
    let _ = write!(buf, r#"","price_level":"{}","new_quantity":"{}"}}"#, level.price, level.qty);
}

/// `(last − open) / open × 100`, truncated to 8 decimals; `None` if `open` is zero or the
/// figures are too large to compute exactly.
fn percent_change(last: Decimal, open: Decimal) -> Option<Decimal> {
    const DECIMALS: u8 = 8;
    let scale = last.scale().max(open.scale());
    let last = last.checked_rescale(scale)?.mantissa();
    let open = open.checked_rescale(scale)?.mantissa();
    if open == 0 {
        return None;
    }
    let numerator =
        last.checked_sub(open)?.checked_mul(100)?.checked_mul(10_i128.pow(u32::from(DECIMALS)))?;
    Some(Decimal::new(numerator / open, DECIMALS))
}

/// Writes Unix `time_ns` as Coinbase does: `2023-02-09T20:32:50.714964855Z`.
fn write_time(buf: &mut Vec<u8>, time_ns: u64) {
    write_rfc3339(buf, time_ns, Fraction::Shortest);
}

/// Writes Unix `time_ns` as Go's `Time.String` (the heartbeats' `current_time`):
/// `2023-06-23 20:31:56.121961769 +0000 UTC`, which is the RFC 3339 text with a space for the
/// `T` and ` +0000 UTC` for the `Z`.
fn write_go_time(buf: &mut Vec<u8>, time_ns: u64) {
    let start = buf.len();
    write_time(buf, time_ns);
    buf[start + "YYYY-MM-DD".len()] = b' ';
    buf.pop();
    buf.extend_from_slice(b" +0000 UTC");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::market::intern_unified;
    use crate::model::{Channel, Event};
    use crate::sim::venues::testing::{TestContext, dec as d, level};
    use crate::venues::Adapter;
    use crate::venues::Control;
    use crate::venues::coinbase::CoinbaseAdapter;

    const T0: u64 = 1_675_974_770_714_964_855;

    fn btc() -> MarketRef {
        intern_unified(Venue::Coinbase, "BTC/USD").unwrap()
    }

    fn ctx() -> TestContext {
        let btc = btc();
        let mut book = SimBook::default();
        book.apply(
            10,
            &[level("100.5", "2"), level("100", "1.25")],
            &[level("101", "0.5"), level("102.25", "3")],
        );
        let eth = intern_unified(Venue::Coinbase, "ETH/USD").unwrap();
        TestContext::new(vec![btc.clone(), eth], T0).exact_symbols().with_book(&btc, book)
    }

    /// The text payloads of the frames in `out`, which is then emptied.
    fn frames(out: &mut Outbox) -> Vec<String> {
        let mut bytes = out.bytes();
        let mut texts = Vec::new();
        while let [head, len, rest @ ..] = bytes {
            assert_eq!(*head, 0x81, "a final text frame");
            let (len, rest) = match *len {
                126 => (usize::from(u16::from_be_bytes([rest[0], rest[1]])), &rest[2..]),
                127 => {
                    (usize::try_from(u64::from_be_bytes(rest[..8].try_into().unwrap())).unwrap(), &rest[8..])
                }
                len => (usize::from(len), rest),
            };
            texts.push(String::from_utf8(rest[..len].to_vec()).unwrap());
            bytes = &rest[len..];
        }
        assert!(bytes.is_empty());
        out.clear();
        texts
    }

    /// A sim and an adapter that subscribed `pairs` through each other, with the replies read.
    fn session(
        pairs: &[(MarketRef, Channel)],
    ) -> (CoinbaseSim, CoinbaseAdapter, TestContext, Vec<(Control, Vec<Event>)>) {
        let ctx = ctx();
        let mut sim = CoinbaseSim::default();
        let mut adapter = CoinbaseAdapter::new();
        let mut out = Outbox::default();
        sim.on_open("/", &ctx, &mut out).unwrap();
        let mut requests = Vec::new();
        adapter.on_connect(&mut requests);
        adapter.subscribe(1, pairs, &mut requests).unwrap();
        for request in &requests {
            assert_eq!(sim.on_message(request, &ctx, &mut out), Verdict::Continue);
        }
        let replies = read(&mut adapter, &mut out);
        (sim, adapter, ctx, replies)
    }

    fn read(adapter: &mut CoinbaseAdapter, out: &mut Outbox) -> Vec<(Control, Vec<Event>)> {
        frames(out)
            .iter()
            .map(|frame| {
                let mut events = Vec::new();
                let control =
                    adapter.parse(frame.as_bytes(), 7, &mut events).unwrap_or_else(|e| panic!("{e}"));
                (control, events)
            })
            .collect()
    }

    fn books(replies: &[(Control, Vec<Event>)]) -> Vec<&crate::model::BookUpdate> {
        replies
            .iter()
            .flat_map(|(_, events)| events)
            .filter_map(|event| if let Event::Book(book) = event { Some(book) } else { None })
            .collect()
    }

    #[test]
    fn rules_and_paths() {
        let mut sim = CoinbaseSim::default();
        assert_eq!(sim.venue(), Venue::Coinbase);
        assert_eq!(sim.heartbeat_rules().subscribe_within, Some(Duration::from_secs(5)));
        assert!(!sim.has_subscriptions());
        let mut out = Outbox::default();
        assert!(sim.on_open("/", &ctx(), &mut out).is_ok());
        assert!(sim.on_open("", &ctx(), &mut out).is_ok());
        assert_eq!(sim.on_open("/ws/stream", &ctx(), &mut out).unwrap_err().0, 404);
        assert_eq!(out.frames(), 0);
    }

    #[test]
    fn subscribing_answers_each_channel_message_then_sends_the_book() {
        let btc = btc();
        let (sim, _, _, replies) = session(&[(btc.clone(), Channel::Book), (btc.clone(), Channel::Trades)]);
        assert!(sim.has_subscriptions());
        let controls: Vec<&Control> = replies.iter().map(|(control, _)| control).collect();
        // The heartbeats answer, then one ack per channel message, then the level2 snapshot.
        assert_eq!(
            controls,
            [
                &Control::Unknown,
                &Control::Ack { request_id: None },
                &Control::Ack { request_id: None },
                &Control::Data
            ]
        );
        let [book] = books(&replies)[..] else { panic!("{replies:?}") };
        assert!(book.is_snapshot);
        assert!(std::sync::Arc::ptr_eq(&book.market, &btc));
        assert_eq!(book.bids, [level("100.5", "2"), level("100", "1.25")]);
        assert_eq!(book.asks, [level("101", "0.5"), level("102.25", "3")]);
        assert_eq!((book.last_sequence, book.prev_sequence), (Some(3), Some(2)));
        assert_eq!(book.exchange_time_ns, T0);
    }

    #[test]
    fn the_subscriptions_message_lists_what_the_connection_holds() {
        let btc = btc();
        let (mut sim, _, ctx, _) = session(&[(btc, Channel::Book), (btc_eth().1, Channel::Trades)]);
        let mut out = Outbox::default();
        sim.on_message(
            r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"market_trades"}"#,
            &ctx,
            &mut out,
        );
        let texts = frames(&mut out);
        assert_eq!(
            texts,
            [
                r#"{"channel":"subscriptions","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":4,"events":[{"subscriptions":{"heartbeats":["heartbeats"],"level2":["BTC-USD"],"market_trades":["BTC-USD","ETH-USD"]}}]}"#
            ]
        );
    }

    fn btc_eth() -> (MarketRef, MarketRef) {
        (btc(), intern_unified(Venue::Coinbase, "ETH/USD").unwrap())
    }

    #[test]
    fn trades_round_trip_with_the_taker_side() {
        let btc = btc();
        let (mut sim, mut adapter, _, _) = session(&[(btc.clone(), Channel::Trades)]);
        let mut out = Outbox::default();
        for (side, trade_id) in [(Side::Buy, 41), (Side::Sell, 42)] {
            let happening = Happening::Trade {
                market: btc.clone(),
                price: d("96251.470"),
                qty: d("0.00049321"),
                side,
                trade_id,
                time_ns: T0 + 1000,
            };
            sim.encode(&happening, EncodeFaults::default(), &mut out);
        }
        let texts = frames(&mut out);
        assert!(texts[0].contains(r#""side":"SELL""#), "the maker's side on the wire: {}", texts[0]);
        let mut trades = Vec::new();
        for text in &texts {
            let mut events = Vec::new();
            assert_eq!(adapter.parse(text.as_bytes(), 7, &mut events), Ok(Control::Data));
            trades.extend(events);
        }
        let [Event::Trade(buy), Event::Trade(sell)] = trades.as_slice() else { panic!("{trades:?}") };
        assert_eq!((buy.side, sell.side), (Side::Buy, Side::Sell));
        assert_eq!(buy.price.to_string(), "96251.470");
        assert_eq!(buy.qty.to_string(), "0.00049321");
        assert_eq!((buy.trade_id.as_str(), sell.trade_id.as_str()), ("41", "42"));
        assert_eq!(buy.exchange_time_ns, T0 + 1000);
        assert_eq!(adapter.last_sequence(), Some(3));
    }

    #[test]
    fn book_changes_follow_the_snapshot_and_chain() {
        let btc = btc();
        let (mut sim, mut adapter, _, _) = session(&[(btc.clone(), Channel::Book)]);
        let mut out = Outbox::default();
        let change = |update_id, bids: Vec<Level>, asks: Vec<Level>| Happening::Book {
            market: btc.clone(),
            update_id,
            bids,
            asks,
            time_ns: T0 + update_id,
        };
        // Already in the snapshot: skipped.
        sim.encode(&change(10, vec![level("1", "1")], vec![]), EncodeFaults::default(), &mut out);
        assert_eq!(out.frames(), 0);
        sim.encode(
            &change(11, vec![level("100.5", "0")], vec![level("101", "0.75")]),
            EncodeFaults::default(),
            &mut out,
        );
        sim.encode(
            &change(12, vec![], vec![level("100.75", "1")]),
            EncodeFaults { bad_checksum: true },
            &mut out,
        );
        let replies = read(&mut adapter, &mut out);
        let [first, second] = books(&replies)[..] else { panic!("{replies:?}") };
        assert!(!first.is_snapshot);
        assert_eq!(first.bids, [level("100.5", "0")]);
        assert_eq!(first.asks, [level("101", "0.75")]);
        assert_eq!(first.exchange_time_ns, T0 + 11);
        assert_eq!(second.asks, [level("100.75", "1")]);
        assert!(second.bids.is_empty());
        assert_eq!(first.prev_sequence.map(|s| s + 1), first.last_sequence);
        assert_eq!(second.prev_sequence, first.last_sequence);
        assert_eq!(second.last_sequence, Some(4));
        let replica = &sim.books[&btc.id].1;
        assert_eq!(replica.update_id, 12);
        assert_eq!(replica.top_asks(1).next(), Some(level("100.75", "1")));
    }

    #[test]
    fn a_dropped_frame_shows_as_a_sequence_gap() {
        let btc = btc();
        let (mut sim, mut adapter, _, _) = session(&[(btc.clone(), Channel::Book)]);
        let mut out = Outbox::default();
        let change = |update_id| Happening::Book {
            market: btc.clone(),
            update_id,
            bids: vec![level("99", "1")],
            asks: vec![],
            time_ns: T0,
        };
        sim.encode(&change(11), EncodeFaults::default(), &mut out);
        let mark = out.mark();
        sim.encode(&change(12), EncodeFaults::default(), &mut out);
        out.truncate(mark);
        sim.encode(&change(13), EncodeFaults::default(), &mut out);
        let replies = read(&mut adapter, &mut out);
        let [first, after_gap] = books(&replies)[..] else { panic!() };
        assert_eq!(first.prev_sequence.map(|s| s + 1), first.last_sequence);
        assert_eq!(after_gap.prev_sequence.map(|s| s + 2), after_gap.last_sequence);
    }

    #[test]
    fn tickers_give_bbo_and_ticker() {
        let btc = btc();
        let (mut sim, mut adapter, _, _) = session(&[(btc.clone(), Channel::Bbo)]);
        let mut out = Outbox::default();
        let ticker = Happening::Ticker {
            market: btc.clone(),
            last: d("101.50"),
            open: d("100"),
            high: d("102"),
            low: d("99.5"),
            volume: d("1234.5678"),
            quote_volume: d("125000"),
            bid: level("101.25", "0.5"),
            ask: level("101.75", "2"),
            time_ns: T0 + 5,
        };
        sim.encode(&ticker, EncodeFaults::default(), &mut out);
        let replies = read(&mut adapter, &mut out);
        let [(Control::Data, events)] = replies.as_slice() else { panic!("{replies:?}") };
        let [Event::Bbo(bbo), Event::Ticker(ticker)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(
            (bbo.bid_price, bbo.bid_qty, bbo.ask_price, bbo.ask_qty),
            (d("101.25"), d("0.5"), d("101.75"), d("2"))
        );
        assert_eq!(bbo.exchange_time_ns, T0 + 5);
        assert_eq!(ticker.last_price.unwrap().to_string(), "101.50");
        assert_eq!(ticker.high_24h, Some(d("102")));
        assert_eq!(ticker.low_24h, Some(d("99.5")));
        assert_eq!(ticker.volume_24h, Some(d("1234.5678")));
        assert_eq!(ticker.change_pct_24h, Some(d("1.5")));
        assert_eq!(percent_change(d("99"), d("3")), Some(d("3200")));
        assert_eq!(percent_change(d("1"), d("3")).unwrap().to_string(), "-66.66666666");
        assert_eq!(percent_change(d("1"), d("0")), None);
    }

    #[test]
    fn nothing_goes_to_a_client_that_did_not_subscribe() {
        let (btc, eth) = btc_eth();
        let (mut sim, _, ctx, _) = session(&[(btc.clone(), Channel::Trades)]);
        let mut out = Outbox::default();
        let trade = |market: &MarketRef| Happening::Trade {
            market: market.clone(),
            price: d("1"),
            qty: d("1"),
            side: Side::Buy,
            trade_id: 1,
            time_ns: T0,
        };
        sim.encode(&trade(&eth), EncodeFaults::default(), &mut out);
        sim.encode(
            &Happening::Book { market: btc.clone(), update_id: 99, bids: vec![], asks: vec![], time_ns: T0 },
            EncodeFaults::default(),
            &mut out,
        );
        assert_eq!(out.frames(), 0);
        sim.on_message(
            r#"{"type":"unsubscribe","product_ids":["BTC-USD"],"channel":"market_trades"}"#,
            &ctx,
            &mut out,
        );
        let mut adapter = CoinbaseAdapter::new();
        adapter.reset();
        assert_eq!(read(&mut adapter, &mut out)[0].0, Control::Unknown, "only heartbeats are left");
        sim.encode(&trade(&btc), EncodeFaults::default(), &mut out);
        assert_eq!(out.frames(), 0);
        sim.on_message(r#"{"type":"unsubscribe","channel":"heartbeats"}"#, &ctx, &mut out);
        assert!(!sim.has_subscriptions());
    }

    #[test]
    fn unsubscribing_without_products_ends_the_whole_channel() {
        let (btc, eth) = btc_eth();
        let (mut sim, _, ctx, _) = session(&[(btc, Channel::Book), (eth, Channel::Book)]);
        assert_eq!(sim.books.len(), 2);
        let mut out = Outbox::default();
        sim.on_message(
            r#"{"type":"unsubscribe","product_ids":["ETH-USD"],"channel":"level2"}"#,
            &ctx,
            &mut out,
        );
        assert_eq!(sim.books.len(), 1);
        sim.on_message(r#"{"type":"unsubscribe","channel":"level2"}"#, &ctx, &mut out);
        assert!(sim.books.is_empty());
        let answers = frames(&mut out);
        assert!(answers[1].contains(r#""subscriptions":{"heartbeats":["heartbeats"]}"#), "{}", answers[1]);
    }

    #[test]
    fn refusals_are_coinbase_errors() {
        let ctx = ctx();
        let mut adapter = CoinbaseAdapter::new();
        for (request, reason) in [
            (r#"{"type":"subscribe","product_ids":["DOGE-EUR"],"channel":"level2"}"#, "failure to subscribe"),
            (r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level3"}"#, "failure to subscribe"),
            (r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"candles"}"#, "failure to subscribe"),
            (r#"{"type":"subscribe","product_ids":[],"channel":"level2"}"#, "failure to subscribe"),
            (r#"{"type":"subscribe","channel":"ticker"}"#, "failure to subscribe"),
            (r#"{"type":"subscribe","product_ids":["BTC-USD"]}"#, "failure to subscribe"),
            (r#"{"type":"unsubscribe","product_ids":["X-Y"],"channel":"ticker"}"#, "failure to unsubscribe"),
            (r#"{"type":"subscribe","product_ids":"BTC-USD","channel":"ticker"}"#, "malformed request"),
            ("not json", "malformed request"),
            (r#"{"type":"ping"}"#, "unknown message type"),
        ] {
            let mut sim = CoinbaseSim::default();
            let mut out = Outbox::default();
            assert_eq!(sim.on_message(request, &ctx, &mut out), Verdict::Continue);
            let replies = read(&mut adapter, &mut out);
            assert_eq!(
                replies[0].0,
                Control::Rejected { request_id: None, reason: reason.into() },
                "{request}"
            );
            assert!(!sim.has_subscriptions(), "{request}");
        }
    }

    #[test]
    fn more_than_eight_messages_a_second_are_refused() {
        let ctx = ctx();
        let mut sim = CoinbaseSim::default();
        let mut out = Outbox::default();
        let request = r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"ticker"}"#;
        for _ in 0..8 {
            sim.on_message(request, &ctx, &mut out);
        }
        assert!(frames(&mut out).iter().all(|text| text.contains("subscriptions")));
        sim.on_message(request, &ctx, &mut out);
        assert_eq!(frames(&mut out), [r#"{"type":"error","message":"rate limit exceeded"}"#]);
        ctx.advance(SECOND_NS);
        sim.on_message(request, &ctx, &mut out);
        assert!(frames(&mut out)[0].contains("subscriptions"));
    }

    #[test]
    fn heartbeats_come_once_a_second_with_a_counter() {
        let (mut sim, mut adapter, _, _) = session(&[]);
        let mut out = Outbox::default();
        for tick in 0..25 {
            sim.on_tick(T0 + tick * SECOND_NS / 10, &mut out);
        }
        let texts = frames(&mut out);
        assert_eq!(texts.len(), 3);
        assert_eq!(
            texts[0],
            r#"{"channel":"heartbeats","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":1,"events":[{"current_time":"2023-02-09 20:32:50.714964855 +0000 UTC m=+0.000000000","heartbeat_counter":"1"}]}"#
        );
        assert!(texts[2].contains(r#""heartbeat_counter":"3""#));
        assert!(texts[2].contains("m=+2.000000000"));
        for text in &texts {
            assert_eq!(adapter.parse(text.as_bytes(), 0, &mut Vec::new()), Ok(Control::Heartbeat));
        }
        assert_eq!(adapter.last_sequence(), Some(3));
        let mut quiet = CoinbaseSim::default();
        quiet.on_tick(T0, &mut out);
        assert_eq!(out.frames(), 0);
    }

    #[test]
    fn times_print_as_go_prints_them() {
        let print = |write: fn(&mut Vec<u8>, u64), time_ns| {
            let mut buf = b"x".to_vec();
            write(&mut buf, time_ns);
            String::from_utf8(buf).unwrap()
        };
        assert_eq!(print(write_time, 1_675_973_975_396_251_350), "x2023-02-09T20:19:35.39625135Z");
        assert_eq!(print(write_time, 0), "x1970-01-01T00:00:00Z");
        assert_eq!(
            print(write_go_time, 1_687_552_316_121_961_769),
            "x2023-06-23 20:31:56.121961769 +0000 UTC"
        );
        assert_eq!(print(write_go_time, 0), "x1970-01-01 00:00:00 +0000 UTC");
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn any_request_text_gets_an_answer_and_no_panic(text in ".{0,200}") {
                let mut sim = CoinbaseSim::default();
                let mut out = Outbox::default();
                prop_assert_eq!(sim.on_message(&text, &ctx(), &mut out), Verdict::Continue);
                prop_assert_eq!(out.frames(), 1);
            }
        }
    }
}
