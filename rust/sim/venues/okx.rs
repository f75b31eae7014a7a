//! OKX v5 public in the simulator: `/ws/v5/public`, text `ping` → `pong`, subscribe and
//! unsubscribe with one ack (or error) per arg, and `trades` / `bbo-tbt` / `books` / `tickers`
//! pushes shaped as the docs' examples (`PROTOCOLS.md` §3).
//!
//! Invariants:
//! - One [`SimBook`] replica per market with a `books` or `bbo-tbt` subscription, fed every
//!   book change after its snapshot (`update_id > replica.update_id`); `books` pushes carry
//!   `seqId` = the change's `update_id` and `prevSeqId` = the previous push's `seqId` (`-1` on
//!   the snapshot), so a frame the engine drops breaks the chain as on OKX.
//! - `books` checksums are OKX's real CRC32 over the replica's top 25 levels (production OKX
//!   now sends 0; the simulator keeps the algorithm exercised), wrong but non-zero under
//!   [`EncodeFaults::bad_checksum`].
//! - `bbo-tbt` is pushed before `books` (OKX's fixed push order) whenever a change moves the
//!   replica's best bid or ask, and once on subscribe.
//! - Limits: 480 subscribe/unsubscribe requests per rolling hour (more → `60014`), requests over
//!   64 KB → `60013`.
//! - Heartbeats: the engine closes a connection silent for 30 s or without a subscription
//!   after 30 s ([`HeartbeatRules`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Deserialize;

use crate::model::{Channel, InstrumentKind, Level, MarketRef, Venue};
use crate::sim::protocol::{
    BookChange, EncodeFaults, Happening, HappeningView, HeartbeatRules, Outbox, SimBook, SimContext,
    TradeFields, VenueSim, Verdict,
};
use crate::venues::okx::{CHECKSUM_DEPTH, channel_name, checksum};

/// The only path served.
const PATH: &str = "/ws/v5/public";

/// Levels per side in a `books` snapshot.
const SNAPSHOT_DEPTH: usize = 400;

/// Subscribe/unsubscribe requests per connection per rolling hour.
const REQUESTS_PER_HOUR: usize = 480;

const HOUR_NS: u64 = 3_600_000_000_000;

/// Largest request accepted ("the total length of multiple channels cannot exceed 64 KB").
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// OKX cuts a connection without a subscription or traffic for this long.
const IDLE: Duration = Duration::from_secs(30);

static CONNECTIONS: AtomicU32 = AtomicU32::new(1);

/// One client's view of the simulated OKX.
#[derive(Debug, Default)]
pub struct OkxSim {
    /// OKX's `connId`: 8 hex digits.
    conn_id: [u8; 8],
    trades: HashSet<u32>,
    tickers: HashSet<u32>,
    /// `books` and `bbo-tbt` subscriptions by market id, sharing one replica.
    books: HashMap<u32, BookSub>,
    /// When recent subscribe/unsubscribe requests came (Unix ns), oldest first.
    requests: VecDeque<u64>,
    scratch: Vec<u8>,
}

#[derive(Debug)]
struct BookSub {
    book: SimBook,
    books: bool,
    bbo: bool,
    /// The best bid and ask last pushed on `bbo-tbt`.
    top: (Option<Level>, Option<Level>),
}

impl BookSub {
    fn top(&self) -> (Option<Level>, Option<Level>) {
        (self.book.top_bids(1).next(), self.book.top_asks(1).next())
    }
}

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    op: Option<serde_json::Value>,
    #[serde(default)]
    args: Option<serde_json::Value>,
}

/// One arg of a request as the client sent it.
struct Arg<'a> {
    channel: &'a str,
    inst_id: &'a str,
}

impl OkxSim {
    fn error(&mut self, id: Option<&str>, code: &str, msg: &str, out: &mut Outbox) {
        let buf = &mut self.scratch;
        open_answer(buf, id);
        let _ = write!(buf, r#""event":"error","code":"{code}","msg":"#);
        write_json_str(buf, msg);
        buf.extend_from_slice(b",\"connId\":\"");
        buf.extend_from_slice(&self.conn_id);
        buf.extend_from_slice(b"\"}");
        out.text(buf);
    }

    fn ack(&mut self, id: Option<&str>, op: &str, arg: &Arg<'_>, out: &mut Outbox) {
        let buf = &mut self.scratch;
        open_answer(buf, id);
        let _ = write!(buf, r#""event":"{op}","arg":{{"channel":"#);
        write_json_str(buf, arg.channel);
        buf.extend_from_slice(b",\"instId\":");
        write_json_str(buf, arg.inst_id);
        buf.extend_from_slice(b"},\"connId\":\"");
        buf.extend_from_slice(&self.conn_id);
        buf.extend_from_slice(b"\"}");
        out.text(buf);
    }

    /// Handles a well-formed request's args: one ack or error each.
    fn apply(
        &mut self,
        id: Option<&str>,
        subscribe: bool,
        args: &[Arg<'_>],
        ctx: &dyn SimContext,
        out: &mut Outbox,
    ) {
        let op = if subscribe { "subscribe" } else { "unsubscribe" };
        for arg in args {
            let channel = Channel::ALL.into_iter().find(|&channel| channel_name(channel) == arg.channel);
            let (Some(channel), Some(market)) = (channel, ctx.market(arg.inst_id)) else {
                let msg = format!(
                    "Wrong URL or channel:{},instId:{} doesn't exist. Please use the correct URL, channel and \
                     parameters referring to API document.",
                    arg.channel, arg.inst_id
                );
                self.error(id, "60018", &msg, out);
                continue;
            };
            self.ack(id, op, arg, out);
            if subscribe {
                self.subscribe(channel, &market, ctx, out);
            } else {
                self.unsubscribe(channel, &market);
            }
        }
    }

    fn subscribe(&mut self, channel: Channel, market: &MarketRef, ctx: &dyn SimContext, out: &mut Outbox) {
        match channel {
            Channel::Trades => {
                self.trades.insert(market.id);
            }
            Channel::Ticker => {
                self.tickers.insert(market.id);
            }
            Channel::Book | Channel::Bbo => {
                let sub = self.books.entry(market.id).or_insert_with(|| BookSub {
                    book: ctx.book(market),
                    books: false,
                    bbo: false,
                    top: (None, None),
                });
                if channel == Channel::Book {
                    // A fresh snapshot: the replica restarts from it.
                    sub.book = ctx.book(market);
                    sub.books = true;
                    write_books(&mut self.scratch, market, sub, ctx.now_ns(), None, false);
                    out.text(&self.scratch);
                } else {
                    sub.bbo = true;
                    sub.top = sub.top();
                    write_bbo(&mut self.scratch, market, sub, ctx.now_ns());
                    out.text(&self.scratch);
                }
            }
        }
    }

    fn unsubscribe(&mut self, channel: Channel, market: &MarketRef) {
        match channel {
            Channel::Trades => {
                self.trades.remove(&market.id);
            }
            Channel::Ticker => {
                self.tickers.remove(&market.id);
            }
            Channel::Book | Channel::Bbo => {
                if let Some(sub) = self.books.get_mut(&market.id) {
                    if channel == Channel::Book {
                        sub.books = false;
                    } else {
                        sub.bbo = false;
                    }
                    if !sub.books && !sub.bbo {
                        self.books.remove(&market.id);
                    }
                }
            }
        }
    }

    /// Whether another request fits in the rolling hour (and counts it if so).
    fn within_rate(&mut self, now_ns: u64) -> bool {
        while self.requests.front().is_some_and(|&at| now_ns.saturating_sub(at) >= HOUR_NS) {
            self.requests.pop_front();
        }
        if self.requests.len() >= REQUESTS_PER_HOUR {
            return false;
        }
        self.requests.push_back(now_ns);
        true
    }

    fn encode_book(&mut self, change: &BookChange<'_>, bad_checksum: bool, out: &mut Outbox) {
        let market = change.market;
        let Some(sub) = self.books.get_mut(&market.id) else { return };
        if change.update_id <= sub.book.update_id {
            return;
        }
        let prev = sub.book.update_id;
        apply_as_sent(&mut sub.book, change);
        if sub.bbo {
            let top = sub.top();
            if top != sub.top {
                sub.top = top;
                write_bbo(&mut self.scratch, market, sub, change.time_ns);
                out.text(&self.scratch);
            }
        }
        if sub.books {
            write_books(&mut self.scratch, market, sub, change.time_ns, Some((change, prev)), bad_checksum);
            out.text(&self.scratch);
        }
    }
}

impl VenueSim for OkxSim {
    fn venue(&self) -> Venue {
        Venue::Okx
    }

    fn heartbeat_rules(&self) -> HeartbeatRules {
        HeartbeatRules {
            server_ping_interval: None,
            pong_timeout: None,
            client_idle_timeout: Some(IDLE),
            subscribe_within: Some(IDLE),
        }
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
        let n = CONNECTIONS.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B1);
        let mut conn_id = Vec::with_capacity(8);
        let _ = write!(conn_id, "{n:08x}");
        self.conn_id.copy_from_slice(&conn_id[..8]);
        Ok(())
    }

    fn on_message(&mut self, text: &str, ctx: &dyn SimContext, out: &mut Outbox) -> Verdict {
        if text == "ping" {
            out.text(b"pong");
            return Verdict::Continue;
        }
        if text.len() > MAX_REQUEST_BYTES {
            self.error(None, "60013", "Invalid args", out);
            return Verdict::Continue;
        }
        let invalid = format!("Invalid request: {text}");
        let Ok(request) = serde_json::from_str::<Request>(text) else {
            self.error(None, "60012", &invalid, out);
            return Verdict::Continue;
        };
        let id = match &request.id {
            None => None,
            Some(serde_json::Value::String(id))
                if id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                Some(id.as_str())
            }
            Some(_) => {
                self.error(None, "60012", &invalid, out);
                return Verdict::Continue;
            }
        };
        let subscribe = match request.op.as_ref().and_then(serde_json::Value::as_str) {
            Some("subscribe") => true,
            Some("unsubscribe") => false,
            Some(op) => {
                let msg = format!("Invalid op: {op}");
                self.error(id, "60019", &msg, out);
                return Verdict::Continue;
            }
            None => {
                self.error(id, "60012", &invalid, out);
                return Verdict::Continue;
            }
        };
        let args: Option<Vec<Arg<'_>>> =
            request.args.as_ref().and_then(serde_json::Value::as_array).and_then(|args| {
                args.iter()
                    .map(|arg| {
                        Some(Arg {
                            channel: arg.get("channel")?.as_str()?,
                            inst_id: arg.get("instId").map_or(Some(""), serde_json::Value::as_str)?,
                        })
                    })
                    .collect()
            });
        let Some(args) = args else {
            self.error(id, "60012", &invalid, out);
            return Verdict::Continue;
        };
        if args.is_empty() {
            self.error(id, "60013", "Invalid args", out);
            return Verdict::Continue;
        }
        if !self.within_rate(ctx.now_ns()) {
            self.error(id, "60014", "Requests too frequent.", out);
            return Verdict::Continue;
        }
        self.apply(id, subscribe, &args, ctx, out);
        Verdict::Continue
    }

    fn encode(&mut self, happening: &Happening, faults: EncodeFaults, out: &mut Outbox) {
        match happening.view() {
            HappeningView::Trade(TradeFields { market, price, qty, side, trade_id, time_ns }) => {
                if self.trades.contains(&market.id) {
                    let buf = &mut self.scratch;
                    buf.clear();
                    write_arg(buf, "trades", market);
                    let native = &market.native;
                    let ts = time_ns / 1_000_000;
                    let side = side.as_str();
                    let _ = write!(
                        buf,
                        r#","data":[{{"instId":"{native}","tradeId":"{trade_id}","px":"{price}","sz":"{qty}","side":"{side}","ts":"{ts}","count":"1","source":"0","seqId":{trade_id}}}]}}"#
                    );
                    out.text(buf);
                }
            }
            HappeningView::Book(change) => {
                self.encode_book(&change, faults.bad_checksum, out);
            }
            HappeningView::Ticker => {
                if let Happening::Ticker {
                    market,
                    last,
                    open,
                    high,
                    low,
                    volume,
                    quote_volume,
                    bid,
                    ask,
                    time_ns,
                } = happening
                    && self.tickers.contains(&market.id)
                {
                    let buf = &mut self.scratch;
                    buf.clear();
                    write_arg(buf, "tickers", market);
                    let (inst_type, vol_ccy) = match market.kind {
                        InstrumentKind::Spot => ("SPOT", quote_volume),
                        // Contracts of one base unit: vol24h (contracts) = volCcy24h (base).
                        InstrumentKind::Perpetual => ("SWAP", volume),
                        InstrumentKind::Future(_) => ("FUTURES", volume),
                    };
                    let native = &market.native;
                    let ts = time_ns / 1_000_000;
                    let _ = write!(
                        buf,
                        r#","data":[{{"instType":"{inst_type}","instId":"{native}","last":"{last}","lastSz":"0","askPx":"{}","askSz":"{}","bidPx":"{}","bidSz":"{}","open24h":"{open}","high24h":"{high}","low24h":"{low}","volCcy24h":"{vol_ccy}","vol24h":"{volume}","sodUtc0":"{open}","sodUtc8":"{open}","ts":"{ts}"}}]}}"#,
                        ask.price, ask.qty, bid.price, bid.qty
                    );
                    out.text(buf);
                }
            }
        }
    }

    fn has_subscriptions(&self) -> bool {
        !self.trades.is_empty() || !self.tickers.is_empty() || !self.books.is_empty()
    }
}

/// Applies `change` keeping each level's latest text: [`SimBook::apply`] keeps the first key
/// inserted for a price (`BTreeMap::insert`), so `"101.5"` after `"101.50"` would still print
/// as `"101.50"` and the checksum would no longer be over the text as sent.
fn apply_as_sent(book: &mut SimBook, change: &BookChange<'_>) {
    for (side, levels) in [(&mut book.bids, change.bids), (&mut book.asks, change.asks)] {
        for level in levels {
            side.remove(&level.price);
        }
    }
    book.apply(change.update_id, change.bids, change.asks);
}

/// `{"arg":{"channel":…,"instId":…}` (the object left open).
fn write_arg(buf: &mut Vec<u8>, channel: &str, market: &MarketRef) {
    // Native OKX symbols are letters, digits and '-': nothing to escape.
    let _ = write!(buf, r#"{{"arg":{{"channel":"{channel}","instId":"{}"}}"#, market.native);
}

/// `[["px","sz","0","n"],…]`: n is the order count, 0 for a deleted level.
fn write_levels(buf: &mut Vec<u8>, levels: impl Iterator<Item = Level>) {
    buf.push(b'[');
    for (i, level) in levels.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let orders = u8::from(!level.qty.is_zero());
        let _ = write!(buf, r#"["{}","{}","0","{orders}"]"#, level.price, level.qty);
    }
    buf.push(b']');
}

/// A `books` snapshot (the replica's top [`SNAPSHOT_DEPTH`]) or, given the change and the
/// `seqId` it follows, an update.
fn write_books(
    buf: &mut Vec<u8>,
    market: &MarketRef,
    sub: &BookSub,
    time_ns: u64,
    update: Option<(&BookChange<'_>, u64)>,
    bad_checksum: bool,
) {
    buf.clear();
    write_arg(buf, "books", market);
    let action = if update.is_some() { "update" } else { "snapshot" };
    let _ = write!(buf, r#","action":"{action}","data":[{{"asks":"#);
    let prev = if let Some((change, prev)) = update {
        write_levels(buf, change.asks.iter().copied());
        buf.extend_from_slice(b",\"bids\":");
        write_levels(buf, change.bids.iter().copied());
        i128::from(prev)
    } else {
        write_levels(buf, sub.book.top_asks(SNAPSHOT_DEPTH));
        buf.extend_from_slice(b",\"bids\":");
        write_levels(buf, sub.book.top_bids(SNAPSHOT_DEPTH));
        -1
    };
    let mut sum = checksum(sub.book.top_bids(CHECKSUM_DEPTH), sub.book.top_asks(CHECKSUM_DEPTH));
    if bad_checksum {
        // Wrong, and never 0 (which reads as "absent").
        sum = sum.wrapping_add(1);
        if sum == 0 {
            sum = 1;
        }
    }
    let ts = time_ns / 1_000_000;
    let seq = sub.book.update_id;
    let _ = write!(buf, r#","ts":"{ts}","checksum":{sum},"prevSeqId":{prev},"seqId":{seq}}}]}}"#);
}

/// A `bbo-tbt` push of the replica's best levels (an empty side is `[]`).
fn write_bbo(buf: &mut Vec<u8>, market: &MarketRef, sub: &BookSub, time_ns: u64) {
    buf.clear();
    write_arg(buf, "bbo-tbt", market);
    buf.extend_from_slice(br#","data":[{"asks":"#);
    write_levels(buf, sub.book.top_asks(1));
    buf.extend_from_slice(b",\"bids\":");
    write_levels(buf, sub.book.top_bids(1));
    let ts = time_ns / 1_000_000;
    let _ = write!(buf, r#","ts":"{ts}","seqId":{}}}]}}"#, sub.book.update_id);
}

/// Clears `buf` and opens an answer to a request: `{`, and `"id":…,` when the request had one.
fn open_answer(buf: &mut Vec<u8>, id: Option<&str>) {
    buf.clear();
    buf.push(b'{');
    if let Some(id) = id {
        buf.extend_from_slice(b"\"id\":");
        write_json_str(buf, id);
        buf.push(b',');
    }
}

/// `text` as a JSON string literal.
fn write_json_str(buf: &mut Vec<u8>, text: &str) {
    buf.push(b'"');
    for &byte in text.as_bytes() {
        match byte {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            0..0x20 => {
                let _ = write!(buf, "\\u{byte:04x}");
            }
            _ => buf.push(byte),
        }
    }
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::market::intern;
    use crate::model::{Decimal, Event, Side};
    use crate::sim::venues::testing::{TestContext, dec, level, ticker};
    use crate::venues::okx::Okx;
    use crate::venues::{Adapter, Control};

    fn btc() -> MarketRef {
        intern(Venue::Okx, None, "BTC-USDT").unwrap()
    }

    fn swap() -> MarketRef {
        intern(Venue::Okx, None, "ETH-USDT-SWAP").unwrap()
    }

    /// Two markets; BTC-USDT's book holds 30 levels a side at update 10.
    fn ctx() -> TestContext {
        let mut book = SimBook::default();
        let bids: Vec<Level> = (0..30).map(|i| level(&format!("{}.5", 100 - i), "1.25")).collect();
        let asks: Vec<Level> = (0..30).map(|i| level(&format!("{}.50", 101 + i), "2")).collect();
        book.apply(10, &bids, &asks);
        TestContext::new(vec![btc(), swap()], 1_700_000_000_000_000_000)
            .exact_symbols()
            .with_book(&btc(), book)
    }

    /// The text payloads of the server frames in `out` (unmasked, as the engine writes them).
    fn frames(out: &Outbox) -> Vec<String> {
        let mut bytes = out.bytes();
        let mut texts = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0], 0x81, "a final text frame");
            let (len, header) = match bytes[1] {
                126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
                127 => (usize::try_from(u64::from_be_bytes(bytes[2..10].try_into().unwrap())).unwrap(), 10),
                len => (usize::from(len), 2),
            };
            texts.push(String::from_utf8(bytes[header..header + len].to_vec()).unwrap());
            bytes = &bytes[header + len..];
        }
        assert_eq!(texts.len(), out.frames());
        texts
    }

    struct Client {
        sim: OkxSim,
        adapter: Okx,
        ctx: TestContext,
        /// The client's own book, built from what it parsed.
        bids: BTreeMap<Decimal, Decimal>,
        asks: BTreeMap<Decimal, Decimal>,
    }

    impl Client {
        fn new() -> Self {
            let ctx = ctx();
            let mut sim = OkxSim::default();
            sim.on_open("/ws/v5/public", &ctx, &mut Outbox::default()).unwrap();
            Self { sim, adapter: Okx::new(), ctx, bids: BTreeMap::new(), asks: BTreeMap::new() }
        }

        fn send(&mut self, text: &str) -> Vec<(Control, Vec<Event>)> {
            let mut out = Outbox::default();
            assert_eq!(self.sim.on_message(text, &self.ctx, &mut out), Verdict::Continue);
            self.read(&out)
        }

        fn read(&mut self, out: &Outbox) -> Vec<(Control, Vec<Event>)> {
            frames(out)
                .iter()
                .map(|text| {
                    let mut events = Vec::new();
                    let control = self.adapter.parse(text.as_bytes(), 1, &mut events).unwrap();
                    for event in &events {
                        if let Event::Book(book) = event {
                            self.apply(book);
                        }
                    }
                    (control, events)
                })
                .collect()
        }

        fn apply(&mut self, book: &crate::model::BookUpdate) {
            if book.is_snapshot {
                self.bids.clear();
                self.asks.clear();
            }
            for (side, levels) in [(&mut self.bids, &book.bids), (&mut self.asks, &book.asks)] {
                for level in levels {
                    // Replace the key too: the checksum prints the latest text.
                    side.remove(&level.price);
                    if !level.qty.is_zero() {
                        side.insert(level.price, level.qty);
                    }
                }
            }
        }

        fn checksum(&self) -> i64 {
            let bids = self.bids.iter().rev().map(|(&price, &qty)| Level { price, qty });
            let asks = self.asks.iter().map(|(&price, &qty)| Level { price, qty });
            i64::from(checksum(bids, asks))
        }

        fn subscribe(&mut self, id: u64, pairs: &[(MarketRef, Channel)]) -> Vec<(Control, Vec<Event>)> {
            let mut requests = Vec::new();
            self.adapter.subscribe(id, pairs, &mut requests).unwrap();
            assert_eq!(requests.len(), 1);
            self.send(&requests[0])
        }

        fn encode(&mut self, happening: &Happening, faults: EncodeFaults) -> Vec<(Control, Vec<Event>)> {
            let mut out = Outbox::default();
            self.sim.encode(happening, faults, &mut out);
            self.read(&out)
        }
    }

    fn book_change(update_id: u64, bids: &[Level], asks: &[Level]) -> Happening {
        Happening::Book {
            market: btc(),
            update_id,
            bids: bids.to_vec(),
            asks: asks.to_vec(),
            time_ns: 1_700_000_000_123_000_000 + update_id * 1_000_000,
        }
    }

    fn only_book(replies: &[(Control, Vec<Event>)]) -> crate::model::BookUpdate {
        let books: Vec<_> = replies
            .iter()
            .flat_map(|(_, events)| events)
            .filter_map(|event| if let Event::Book(book) = event { Some(book.clone()) } else { None })
            .collect();
        assert_eq!(books.len(), 1, "{replies:?}");
        books.into_iter().next().unwrap()
    }

    #[test]
    fn serves_the_public_path_only() {
        let ctx = ctx();
        let mut sim = OkxSim::default();
        assert!(sim.on_open("/ws/v5/public", &ctx, &mut Outbox::default()).is_ok());
        assert_eq!(sim.on_open("/ws/v5/business", &ctx, &mut Outbox::default()).unwrap_err().0, 404);
        assert!(!sim.has_subscriptions());
        let rules = sim.heartbeat_rules();
        assert_eq!(rules.client_idle_timeout, Some(Duration::from_secs(30)));
        assert_eq!(rules.subscribe_within, Some(Duration::from_secs(30)));
    }

    #[test]
    fn ping_gets_pong() {
        let mut client = Client::new();
        assert_eq!(client.send("ping"), vec![(Control::Pong, vec![])]);
    }

    #[test]
    fn acks_carry_the_request_id_one_per_arg() {
        let mut client = Client::new();
        let replies = client.subscribe(77, &[(btc(), Channel::Trades), (swap(), Channel::Ticker)]);
        assert_eq!(replies, vec![(Control::Ack { request_id: Some(77) }, vec![]); 2]);
        assert!(client.sim.has_subscriptions());
        let mut requests = Vec::new();
        client
            .adapter
            .unsubscribe(78, &[(btc(), Channel::Trades), (swap(), Channel::Ticker)], &mut requests)
            .unwrap();
        assert_eq!(client.send(&requests[0]), vec![(Control::Ack { request_id: Some(78) }, vec![]); 2]);
        assert!(!client.sim.has_subscriptions());
        let trade = Happening::Trade {
            market: btc(),
            price: dec("1"),
            qty: dec("1"),
            side: Side::Buy,
            trade_id: 1,
            time_ns: 0,
        };
        assert!(client.encode(&trade, EncodeFaults::default()).is_empty());
    }

    #[test]
    fn ack_matches_the_docs_shape() {
        let mut client = Client::new();
        let mut out = Outbox::default();
        client.sim.on_message(
            r#"{"id":"1512","op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}"#,
            &client.ctx,
            &mut out,
        );
        let ack: serde_json::Value = serde_json::from_str(&frames(&out)[0]).unwrap();
        let mut docs: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/okx/subscribe_ack.json")).unwrap();
        docs["arg"]["channel"] = "trades".into();
        docs["connId"] = ack["connId"].clone();
        assert_eq!(ack, docs);
        assert_eq!(ack["connId"].as_str().unwrap().len(), 8);
    }

    #[test]
    fn refusals_name_the_problem() {
        let mut client = Client::new();
        let rejected = |replies: Vec<(Control, Vec<Event>)>| -> Vec<(Option<u64>, String)> {
            replies
                .into_iter()
                .map(|(control, _)| match control {
                    Control::Rejected { request_id, reason } => (request_id, reason),
                    other => panic!("not a refusal: {other:?}"),
                })
                .collect()
        };
        let unknown = rejected(client.send(
            r#"{"id":"5","op":"subscribe","args":[{"channel":"books","instId":"NOPE-USDT"},{"channel":"candle1m","instId":"BTC-USDT"}]}"#,
        ));
        assert_eq!(unknown.len(), 2);
        assert_eq!(unknown[0].0, Some(5));
        assert!(unknown[0].1.starts_with("60018: Wrong URL or channel:books,instId:NOPE-USDT doesn't exist"));
        assert!(unknown[1].1.starts_with("60018: Wrong URL or channel:candle1m,instId:BTC-USDT"));
        let malformed = rejected(client.send(r#"{"op":"subscribe","args":[{"channel":"#));
        assert_eq!(malformed[0].0, None);
        assert!(
            malformed[0].1.starts_with(r#"60012: Invalid request: {"op":"subscribe""#),
            "{}",
            malformed[0].1
        );
        assert!(
            rejected(client.send(r#"{"id":"6","op":"login","args":[]}"#))[0]
                .1
                .starts_with("60019: Invalid op: login")
        );
        assert!(rejected(client.send(r#"{"id":"7","op":"subscribe","args":[]}"#))[0].1.starts_with("60013"));
        assert!(rejected(client.send(r#"{"id":"8","op":"subscribe"}"#))[0].1.starts_with("60012"));
        assert!(
            rejected(client.send(r#"{"id":"not-alnum!","op":"subscribe","args":[]}"#))[0]
                .1
                .starts_with("60012")
        );
        let big = format!(r#"{{"id":"9","op":"subscribe","args":[{}]}}"#, "x".repeat(MAX_REQUEST_BYTES));
        assert!(rejected(client.send(&big))[0].1.starts_with("60013"));
        assert!(!client.sim.has_subscriptions());
    }

    #[test]
    fn more_than_480_requests_an_hour_are_refused() {
        let mut client = Client::new();
        for id in 0..480 {
            assert_eq!(
                client.subscribe(id, &[(btc(), Channel::Trades)])[0].0,
                Control::Ack { request_id: Some(id) }
            );
        }
        let Control::Rejected { request_id, reason } =
            client.subscribe(480, &[(btc(), Channel::Trades)])[0].0.clone()
        else {
            panic!("not refused")
        };
        assert_eq!(request_id, Some(480));
        assert!(reason.starts_with("60014"));
        client.ctx.advance(HOUR_NS);
        assert_eq!(
            client.subscribe(481, &[(btc(), Channel::Trades)])[0].0,
            Control::Ack { request_id: Some(481) }
        );
    }

    #[test]
    fn books_snapshot_then_chained_updates_with_real_checksums() {
        let mut client = Client::new();
        let replies = client.subscribe(3, &[(btc(), Channel::Book)]);
        assert_eq!(replies[0].0, Control::Ack { request_id: Some(3) });
        let snapshot = only_book(&replies);
        assert!(snapshot.is_snapshot);
        assert_eq!(snapshot.bids.len(), 30);
        assert_eq!(snapshot.bids[0], level("100.5", "1.25"));
        assert_eq!(snapshot.asks[0].price.to_string(), "101.50");
        assert_eq!((snapshot.prev_sequence, snapshot.last_sequence), (None, Some(10)));
        assert_eq!(snapshot.checksum, Some(client.checksum()));

        // Stale changes (already in the snapshot) are skipped.
        assert!(client.encode(&book_change(10, &[level("1", "1")], &[]), EncodeFaults::default()).is_empty());

        let mut last = 10;
        let changes = [
            book_change(11, &[level("100.5", "0")], &[level("101.50", "3")]),
            book_change(12, &[level("100.75", "4")], &[]),
            book_change(13, &[], &[level("101.50", "0"), level("101.25", "0.5")]),
        ];
        for change in &changes {
            let update = only_book(&client.encode(change, EncodeFaults::default()));
            assert!(!update.is_snapshot);
            assert_eq!(update.prev_sequence, Some(last));
            last = update.last_sequence.unwrap();
            assert_eq!(update.checksum, Some(client.checksum()));
            let Happening::Book { bids, asks, time_ns, .. } = change else { unreachable!() };
            assert_eq!(&update.bids, bids);
            assert_eq!(&update.asks, asks);
            assert_eq!(update.exchange_time_ns, time_ns / 1_000_000 * 1_000_000);
        }
        assert_eq!(last, 13);
        // The same price in another scale: the checksum follows the latest text.
        let rescaled = only_book(
            &client.encode(&book_change(14, &[], &[level("101.250", "0.5")]), EncodeFaults::default()),
        );
        assert_eq!(rescaled.checksum, Some(client.checksum()));
        assert_eq!(client.bids.len(), 30);
        assert_eq!(client.bids.keys().next_back(), Some(&dec("100.75")));

        let bad = only_book(
            &client.encode(&book_change(15, &[level("50", "1")], &[]), EncodeFaults { bad_checksum: true }),
        );
        assert_eq!(bad.prev_sequence, Some(14));
        assert!(bad.checksum.is_some());
        assert_ne!(bad.checksum, Some(client.checksum()));
    }

    #[test]
    fn bbo_tbt_follows_the_top_and_comes_before_books() {
        let mut client = Client::new();
        let replies = client.subscribe(4, &[(btc(), Channel::Bbo), (btc(), Channel::Book)]);
        let Event::Bbo(first) = &replies[1].1[0] else { panic!("{replies:?}") };
        assert_eq!((first.bid_price, first.bid_qty), (dec("100.5"), dec("1.25")));
        assert_eq!((first.ask_price, first.ask_qty), (dec("101.50"), dec("2")));
        // A change below the top: books only.
        let deep = client.encode(&book_change(11, &[level("80", "1")], &[]), EncodeFaults::default());
        assert_eq!(deep.len(), 1);
        assert!(matches!(deep[0].1[0], Event::Book(_)));
        // A new best ask: bbo-tbt first, then books.
        let top = client.encode(&book_change(12, &[], &[level("101", "7")]), EncodeFaults::default());
        assert_eq!(top.len(), 2);
        let Event::Bbo(bbo) = &top[0].1[0] else { panic!("{top:?}") };
        assert_eq!((bbo.ask_price, bbo.ask_qty), (dec("101"), dec("7")));
        assert_eq!(bbo.bid_price, dec("100.5"));
        assert_eq!(bbo.exchange_time_ns, 1_700_000_000_135_000_000);
        assert!(matches!(top[1].1[0], Event::Book(_)));
        // Unsubscribing books keeps bbo-tbt going from the same replica.
        let mut requests = Vec::new();
        client.adapter.unsubscribe(5, &[(btc(), Channel::Book)], &mut requests).unwrap();
        client.send(&requests[0]);
        let after = client.encode(&book_change(13, &[level("100.6", "1")], &[]), EncodeFaults::default());
        assert_eq!(after.len(), 1);
        let Event::Bbo(bbo) = &after[0].1[0] else { panic!("{after:?}") };
        assert_eq!(bbo.bid_price, dec("100.6"));
    }

    #[test]
    fn trades_and_tickers_round_trip_exactly() {
        let mut client = Client::new();
        client
            .subscribe(9, &[(swap(), Channel::Trades), (swap(), Channel::Ticker), (btc(), Channel::Ticker)]);
        let trade = Happening::Trade {
            market: swap(),
            price: dec("3012.70"),
            qty: dec("0.001"),
            side: Side::Sell,
            trade_id: 4242,
            time_ns: 1_700_000_000_987_654_321,
        };
        let replies = client.encode(&trade, EncodeFaults::default());
        let Event::Trade(got) = &replies[0].1[0] else { panic!("{replies:?}") };
        assert_eq!(&*got.market.native, "ETH-USDT-SWAP");
        assert_eq!(got.price.to_string(), "3012.70");
        assert_eq!(got.qty.to_string(), "0.001");
        assert_eq!(got.side, Side::Sell);
        assert_eq!(got.trade_id.as_str(), "4242");
        assert_eq!(got.exchange_time_ns, 1_700_000_000_987_000_000);
        for market in [btc(), swap()] {
            let ticker = ticker(&market, "101.5", 1_700_000_001_000_000_000);
            let replies = client.encode(&ticker, EncodeFaults::default());
            let Event::Ticker(got) = &replies[0].1[0] else { panic!("{replies:?}") };
            assert_eq!(got.market, market);
            assert_eq!(got.last_price, Some(dec("101.5")));
            assert_eq!(got.open_24h, Some(dec("100")));
            assert_eq!(got.high_24h, Some(dec("102")));
            assert_eq!(got.low_24h, Some(dec("99.25")));
            assert_eq!(got.volume_24h, Some(dec("12.5")));
            let quote = if market.kind == InstrumentKind::Spot { Some(dec("1262.5")) } else { None };
            assert_eq!(got.quote_volume_24h, quote);
            assert_eq!((got.bid_price, got.bid_qty), (Some(dec("101.4")), Some(dec("3"))));
            assert_eq!((got.ask_price, got.ask_qty), (Some(dec("101.6")), Some(dec("4"))));
            assert_eq!(got.change_24h, Some(dec("1.5")));
            assert_eq!(got.exchange_time_ns, 1_700_000_001_000_000_000);
        }
        // Not subscribed: nothing.
        let Happening::Trade { price, qty, side, trade_id, time_ns, .. } = trade else { unreachable!() };
        let other = Happening::Trade { market: btc(), price, qty, side, trade_id, time_ns };
        assert!(client.encode(&other, EncodeFaults::default()).is_empty());
    }

    #[test]
    fn bbo_subscribe_on_an_empty_book_yields_no_event() {
        let mut client = Client::new();
        let replies = client.subscribe(1, &[(swap(), Channel::Bbo)]);
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[1], (Control::Data, vec![]));
    }
}
