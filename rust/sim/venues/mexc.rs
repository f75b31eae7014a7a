//! MEXC spot v3's public market streams in the simulator: JSON requests on `/ws`, binary
//! protobuf pushes ([`crate::proto::mexc`]), and `GET /api/v3/depth` on the same port.
//!
//! MEXC is no built-in venue: it is the registered venue [`NAME`] with [`TRAITS`], registered
//! by [`venue`] the first time a simulator configuration names it.
//!
//! Owns [`MexcSim`], one client's view: its topics, a book replica per market whose best levels
//! it follows, and the encoder that writes each [`Happening`] as a `PushDataV3ApiWrapper`.
//!
//! Behaviour, as the venue (`PROTOCOLS.md` §6, MEXC's spot v3 docs):
//! - Requests `{"method":"SUBSCRIPTION"|"UNSUBSCRIPTION","params":[topics]}` and
//!   `{"method":"PING"}`; answers `{"id":0,"code":0,"msg":"<topics, comma-separated>"}` and
//!   `{"id":0,"code":0,"msg":"PONG"}` (`id` echoes the request's unsigned `id` if it has one).
//! - A subscription is all or nothing: a topic that is not one of the simulated kinds, a
//!   symbol not simulated (or not upper case), or more than [`MAX_SUBSCRIPTIONS`] topics on the
//!   connection refuses the whole request with MEXC's observed refusal,
//!   `Not Subscribed successfully! [<topics>].  Reason： Blocked! ` (still `code` 0). A request
//!   that is not JSON or names another method gets `code` 1 and the reason: the docs show no
//!   such answer, so this one is the simulator's.
//! - Topics `spot@public.aggre.{deals,depth,bookTicker}.v3.api.pb@{100ms,10ms}@SYMBOL`. Each
//!   push carries one happening rather than what an interval gathered: one trade per deals
//!   push (trade ids continue 1, 2, 3 …); one book change per depth push, `fromVersion` =
//!   `toVersion` = its `update_id`, so each push's `fromVersion` is the previous `toVersion`
//!   + 1; a book-ticker push whenever the best bid or ask (price or quantity) changes.
//! - Book sync is Binance's: `GET /api/v3/depth?symbol=BTCUSDT&limit=N` (default 100, at most
//!   5000) answers `{"lastUpdateId":V,"bids":[["p","q"],…],"asks":[…]}` from the engine's book,
//!   whose version `V` the depth pushes straddle.
//! - No valid subscription within 30 s closes the connection. MEXC sends no checksum, so a
//!   `bad_checksum` fault changes nothing (it is accepted and has no effect, as on Binance).
//!
//! Encoding reuses one wrapper, its bodies and one byte buffer: no allocation per push once
//! they have grown.

use std::fmt::{Display, Write as _};
use std::time::Duration;

use prost::Message as _;
use serde::Deserialize;
use serde_json::Value;

use super::binance::depth_snapshot;
use crate::model::{Level, MarketRef, Side, Venue};
use crate::proto::mexc::{
    Body, PublicAggreBookTickerV3Api, PublicAggreDealsV3Api, PublicAggreDealsV3ApiItem,
    PublicAggreDepthV3ApiItem, PublicAggreDepthsV3Api, PushDataV3ApiWrapper, TRADE_TYPE_BUY, TRADE_TYPE_SELL,
};
use crate::sim::protocol::{
    BookChange, EncodeFaults, Happening, HappeningView, HeartbeatRules, Outbox, SimBook, SimContext,
    TradeFields, VenueSim, Verdict,
};

/// Topics one connection may hold.
pub const MAX_SUBSCRIPTIONS: usize = 30;

/// The WebSocket path.
pub const PATH: &str = "/ws";

pub use crate::venues::mexc::{NAME, TRAITS, is_mexc, venue};

/// The topic kinds the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deals,
    Depth,
    BookTicker,
}

/// A topic the client holds.
#[derive(Debug)]
struct Topic {
    /// As subscribed: `spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT`.
    name: Box<str>,
    kind: Kind,
    market: MarketRef,
}

impl Topic {
    /// The topic without its symbol, the bodies' `eventType`.
    fn event_type(&self) -> &str {
        self.name.rsplit_once('@').map_or(&self.name, |(event_type, _)| event_type)
    }
}

/// Splits a topic into its kind and symbol; `None` if it is not a simulated kind.
fn parse_topic(name: &str) -> Option<(Kind, &str)> {
    let rest = name.strip_prefix("spot@public.aggre.")?;
    let (stream, rest) = rest.split_once(".v3.api.pb@")?;
    let kind = match stream {
        "deals" => Kind::Deals,
        "depth" => Kind::Depth,
        "bookTicker" => Kind::BookTicker,
        _ => return None,
    };
    let (interval, symbol) = rest.split_once('@')?;
    let upper = symbol.bytes().all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit());
    (matches!(interval, "100ms" | "10ms") && !symbol.is_empty() && upper).then_some((kind, symbol))
}

/// The book as one client has been told its best levels.
#[derive(Debug)]
struct Replica {
    market_id: u32,
    book: SimBook,
    last_best: Option<(Level, Level)>,
}

/// One client's view of the simulated MEXC spot.
#[derive(Debug)]
pub struct MexcSim {
    /// MEXC as registered.
    venue: Venue,
    topics: Vec<Topic>,
    /// One per market the client follows the book ticker of.
    replicas: Vec<Replica>,
    push: PushEncoder,
}

#[derive(Deserialize)]
struct Request {
    method: String,
    #[serde(default)]
    params: Option<Vec<Value>>,
    #[serde(default)]
    id: Option<Value>,
}

/// Why a request was refused: the answer's `code` and `msg`.
struct Refusal {
    code: u8,
    msg: String,
}

impl Refusal {
    /// MEXC's answer to a subscription it will not serve, naming the whole request.
    fn blocked(topics: &[&str]) -> Self {
        Self {
            code: 0,
            msg: format!("Not Subscribed successfully! [{}].  Reason： Blocked! ", topics.join(",")),
        }
    }

    fn invalid(reason: impl Display) -> Self {
        Self { code: 1, msg: format!("Invalid request: {reason}") }
    }
}

impl MexcSim {
    /// A new client of `venue` (MEXC as [`venue`] registered it).
    #[must_use]
    pub fn new(venue: Venue) -> Self {
        Self { venue, topics: Vec::new(), replicas: Vec::new(), push: PushEncoder::default() }
    }

    /// Subscribes `names`, all or none.
    fn subscribe(&mut self, names: &[&str], ctx: &dyn SimContext) -> Result<(), Refusal> {
        let mut new = Vec::new();
        for &name in names {
            let market = parse_topic(name).and_then(|(kind, symbol)| Some((kind, ctx.market(symbol)?)));
            let Some((kind, market)) = market else { return Err(Refusal::blocked(names)) };
            let held = self.topics.iter().chain(&new).any(|topic: &Topic| &*topic.name == name);
            if !held {
                new.push(Topic { name: name.into(), kind, market });
            }
        }
        if self.topics.len() + new.len() > MAX_SUBSCRIPTIONS {
            return Err(Refusal::blocked(names));
        }
        for topic in new {
            if topic.kind == Kind::BookTicker && !self.replicas.iter().any(|r| r.market_id == topic.market.id)
            {
                let book = ctx.book(&topic.market);
                let last_best = book.top_bids(1).next().zip(book.top_asks(1).next());
                self.replicas.push(Replica { market_id: topic.market.id, book, last_best });
            }
            self.topics.push(topic);
        }
        Ok(())
    }

    /// Drops the topics named (topics not held are ignored, as MEXC acknowledges them too).
    fn unsubscribe(&mut self, names: &[&str]) {
        self.topics.retain(|topic| !names.contains(&&*topic.name));
        let topics = &self.topics;
        self.replicas.retain(|replica| {
            topics.iter().any(|t| t.kind == Kind::BookTicker && t.market.id == replica.market_id)
        });
    }

    /// The request's `id`, and the answer's `msg` or the refusal.
    fn answer(&mut self, text: &str, ctx: &dyn SimContext) -> (Option<u64>, Result<String, Refusal>) {
        let request = match serde_json::from_str::<Request>(text) {
            Ok(request) => request,
            Err(error) => return (None, Err(Refusal::invalid(error))),
        };
        let id = request.id.as_ref().and_then(Value::as_u64);
        let params = request.params.as_deref().unwrap_or_default();
        let Some(names) = params.iter().map(Value::as_str).collect::<Option<Vec<_>>>() else {
            return (id, Err(Refusal::invalid("params must be topic names")));
        };
        let result = match request.method.as_str() {
            "PING" => Ok("PONG".to_owned()),
            "SUBSCRIPTION" => self.subscribe(&names, ctx).map(|()| names.join(",")),
            "UNSUBSCRIPTION" => {
                self.unsubscribe(&names);
                Ok(names.join(","))
            }
            other => Err(Refusal::invalid(format_args!("unknown method {other:?}"))),
        };
        (id, result)
    }

    fn encode_trade(&mut self, trade: TradeFields<'_>, out: &mut Outbox) {
        let market_id = trade.market.id;
        for topic in self.topics.iter().filter(|t| t.kind == Kind::Deals && t.market.id == market_id) {
            self.push.deals(topic, trade, out);
        }
    }

    fn encode_book(&mut self, change: BookChange<'_>, out: &mut Outbox) {
        let market_id = change.market.id;
        for topic in self.topics.iter().filter(|t| t.kind == Kind::Depth && t.market.id == market_id) {
            self.push.depths(topic, change, out);
        }
        let Some(replica) = self.replicas.iter_mut().find(|replica| replica.market_id == market_id) else {
            return;
        };
        // Changes the replica's snapshot already holds come through the ring after it.
        if change.update_id <= replica.book.update_id {
            return;
        }
        replica.book.apply(change.update_id, change.bids, change.asks);
        let best = replica.book.top_bids(1).next().zip(replica.book.top_asks(1).next());
        if best.is_none() || best == replica.last_best {
            return;
        }
        replica.last_best = best;
        let Some((bid, ask)) = best else { return };
        for topic in self.topics.iter().filter(|t| t.kind == Kind::BookTicker && t.market.id == market_id) {
            self.push.book_ticker(topic, bid, ask, change.time_ns, out);
        }
    }
}

/// Writes pushes: one wrapper and one body of each kind, refilled in place, and the bytes.
#[derive(Debug, Default)]
struct PushEncoder {
    wrapper: PushDataV3ApiWrapper,
    deals: PublicAggreDealsV3Api,
    depths: PublicAggreDepthsV3Api,
    book_ticker: PublicAggreBookTickerV3Api,
    bytes: Vec<u8>,
}

impl PushEncoder {
    fn deals(&mut self, topic: &Topic, trade: TradeFields<'_>, out: &mut Outbox) {
        let deals = &mut self.deals;
        deals.deals.truncate(1);
        if deals.deals.is_empty() {
            deals.deals.push(PublicAggreDealsV3ApiItem::default());
        }
        let item = &mut deals.deals[0];
        set(&mut item.price, trade.price);
        set(&mut item.quantity, trade.qty);
        item.trade_type = if trade.side == Side::Buy { TRADE_TYPE_BUY } else { TRADE_TYPE_SELL };
        item.time = millis(trade.time_ns);
        set(&mut item.trade_id, trade.trade_id);
        set(&mut deals.event_type, topic.event_type());
        let body = Body::PublicAggreDeals(std::mem::take(&mut self.deals));
        if let Some(Body::PublicAggreDeals(deals)) = self.send(topic, trade.time_ns, body, out) {
            self.deals = deals;
        }
    }

    fn depths(&mut self, topic: &Topic, change: BookChange<'_>, out: &mut Outbox) {
        let depths = &mut self.depths;
        fill(&mut depths.asks, change.asks);
        fill(&mut depths.bids, change.bids);
        set(&mut depths.event_type, topic.event_type());
        set(&mut depths.from_version, change.update_id);
        set(&mut depths.to_version, change.update_id);
        let body = Body::PublicAggreDepths(std::mem::take(&mut self.depths));
        if let Some(Body::PublicAggreDepths(depths)) = self.send(topic, change.time_ns, body, out) {
            self.depths = depths;
        }
    }

    fn book_ticker(&mut self, topic: &Topic, bid: Level, ask: Level, time_ns: u64, out: &mut Outbox) {
        let ticker = &mut self.book_ticker;
        set(&mut ticker.bid_price, bid.price);
        set(&mut ticker.bid_quantity, bid.qty);
        set(&mut ticker.ask_price, ask.price);
        set(&mut ticker.ask_quantity, ask.qty);
        let body = Body::PublicAggreBookTicker(std::mem::take(&mut self.book_ticker));
        if let Some(Body::PublicAggreBookTicker(ticker)) = self.send(topic, time_ns, body, out) {
            self.book_ticker = ticker;
        }
    }

    /// Wraps `body` for `topic`, appends the binary frame, and hands the body back for reuse.
    fn send(&mut self, topic: &Topic, time_ns: u64, body: Body, out: &mut Outbox) -> Option<Body> {
        let wrapper = &mut self.wrapper;
        set(&mut wrapper.channel, &topic.name);
        set(wrapper.symbol.get_or_insert_default(), &topic.market.native);
        wrapper.create_time = Some(millis(time_ns));
        wrapper.send_time = Some(millis(time_ns));
        wrapper.body = Some(body);
        self.bytes.clear();
        // Encoding into a Vec cannot run out of room.
        if wrapper.encode(&mut self.bytes).is_ok() {
            out.binary(&self.bytes);
        }
        wrapper.body.take()
    }
}

/// Replaces `text` with `value`, in its allocation.
fn set(text: &mut String, value: impl Display) {
    text.clear();
    let _ = write!(text, "{value}");
}

/// Makes `items` the `levels`, reusing the items' strings.
fn fill(items: &mut Vec<PublicAggreDepthV3ApiItem>, levels: &[Level]) {
    items.resize_with(levels.len(), PublicAggreDepthV3ApiItem::default);
    for (item, level) in items.iter_mut().zip(levels) {
        set(&mut item.price, level.price);
        set(&mut item.quantity, level.qty);
    }
}

fn millis(time_ns: u64) -> i64 {
    i64::try_from(time_ns / 1_000_000).unwrap_or(i64::MAX)
}

/// `{"id":ID,"code":C,"msg":"…"}`.
fn answer_text(id: Option<u64>, code: u8, msg: &str) -> String {
    let msg = serde_json::to_string(msg).unwrap_or_else(|_| "\"\"".to_owned());
    format!(r#"{{"id":{},"code":{code},"msg":{msg}}}"#, id.unwrap_or(0))
}

impl VenueSim for MexcSim {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn heartbeat_rules(&self) -> HeartbeatRules {
        HeartbeatRules { subscribe_within: Some(Duration::from_secs(30)), ..HeartbeatRules::default() }
    }

    fn on_open(
        &mut self,
        path_and_query: &str,
        _ctx: &dyn SimContext,
        _out: &mut Outbox,
    ) -> Result<(), (u16, String)> {
        let path = path_and_query.split_once('?').map_or(path_and_query, |(path, _)| path);
        if path == PATH { Ok(()) } else { Err((404, "Not Found".to_owned())) }
    }

    fn on_message(&mut self, text: &str, ctx: &dyn SimContext, out: &mut Outbox) -> Verdict {
        let reply = match self.answer(text, ctx) {
            (id, Ok(msg)) => answer_text(id, 0, &msg),
            (id, Err(refusal)) => answer_text(id, refusal.code, &refusal.msg),
        };
        out.text(reply.as_bytes());
        Verdict::Continue
    }

    fn encode(&mut self, happening: &Happening, _faults: EncodeFaults, out: &mut Outbox) {
        match happening.view() {
            HappeningView::Trade(trade) => self.encode_trade(trade, out),
            HappeningView::Book(change) => self.encode_book(change, out),
            // No topic served here carries the 24 h ticker.
            HappeningView::Ticker => {}
        }
    }

    fn has_subscriptions(&self) -> bool {
        !self.topics.is_empty()
    }

    fn http_get(&mut self, path_and_query: &str, ctx: &dyn SimContext) -> Option<(u16, String)> {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        (path == "/api/v3/depth").then(|| depth_snapshot(query, ctx, self.venue))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::time::timeout;
    use tokio_tungstenite::tungstenite::Message;

    use super::*;
    use crate::model::{InstrumentKind, market::intern};
    use crate::sim::venues::testing::{TestContext, dec, level};
    use crate::sim::{Fault, SimConfig, Simulator};

    const DEPTH: &str = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT";
    const DEALS: &str = "spot@public.aggre.deals.v3.api.pb@10ms@BTCUSDT";
    const TICKER: &str = "spot@public.aggre.bookTicker.v3.api.pb@100ms@BTCUSDT";
    const LIMIT: Duration = Duration::from_secs(10);

    fn btc() -> MarketRef {
        intern(venue().unwrap(), Some(InstrumentKind::Spot), "BTCUSDT").unwrap()
    }

    fn context() -> TestContext {
        let eth = intern(venue().unwrap(), Some(InstrumentKind::Spot), "ETHUSDT").unwrap();
        TestContext::new(vec![btc(), eth], 1_700_000_000_000_000_000)
    }

    /// The frames in `out` as (opcode, payload) (server frames: header, length, payload).
    fn frames(out: &Outbox) -> Vec<(u8, Vec<u8>)> {
        let mut bytes = out.bytes();
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let (length, header) = match bytes[1] {
                126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
                length => (usize::from(length), 2),
            };
            frames.push((bytes[0] & 0x0F, bytes[header..header + length].to_vec()));
            bytes = &bytes[header + length..];
        }
        frames
    }

    fn pushes(out: &Outbox) -> Vec<PushDataV3ApiWrapper> {
        frames(out)
            .into_iter()
            .map(|(opcode, payload)| {
                assert_eq!(opcode, 0x2, "pushes are binary");
                PushDataV3ApiWrapper::decode(payload.as_slice()).unwrap()
            })
            .collect()
    }

    fn reply(sim: &mut MexcSim, ctx: &TestContext, text: &str) -> String {
        let mut out = Outbox::default();
        assert_eq!(sim.on_message(text, ctx, &mut out), Verdict::Continue);
        let [(0x1, payload)] = &frames(&out)[..] else { panic!("not one text answer") };
        String::from_utf8(payload.clone()).unwrap()
    }

    fn subscribe_request(topics: &[&str]) -> String {
        serde_json::json!({"method": "SUBSCRIPTION", "params": topics}).to_string()
    }

    fn client(ctx: &TestContext, topics: &[&str]) -> MexcSim {
        let mut sim = MexcSim::new(venue().unwrap());
        sim.on_open("/ws", ctx, &mut Outbox::default()).unwrap();
        assert!(
            reply(&mut sim, ctx, &subscribe_request(topics)).starts_with(r#"{"id":0,"code":0,"msg":"spot@"#)
        );
        sim
    }

    #[test]
    fn identity_is_one_registration() {
        let mexc = venue().unwrap();
        assert_eq!(venue().unwrap(), mexc, "registering again is the same venue");
        assert_eq!((mexc.as_str(), mexc.registered_traits()), (NAME, Some(TRAITS)));
        assert!(is_mexc(mexc) && !is_mexc(Venue::Binance));
        assert_eq!(crate::sim::venues::venue_named("MEXC").unwrap(), mexc);
        let sim = crate::sim::protocol::venue_sim(mexc).expect("simulated");
        assert_eq!(sim.venue(), mexc);
        assert_eq!(sim.heartbeat_rules().subscribe_within, Some(Duration::from_secs(30)));
        assert_eq!(crate::sim::server::venue_endpoints(mexc), &[("mexc", "/ws")]);
    }

    #[test]
    fn requests_are_answered_as_mexc_does() {
        let ctx = context();
        let mut sim = MexcSim::new(venue().unwrap());
        assert_eq!(sim.on_open("/ws/v3", &ctx, &mut Outbox::default()).unwrap_err().0, 404);
        sim.on_open("/ws", &ctx, &mut Outbox::default()).unwrap();
        let blocked = "Not Subscribed successfully! [spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT,spot@public.aggre.depth.v3.api.pb@100ms@DOGEUSDT].  Reason： Blocked! ";
        let cases = [
            (r#"{"method":"PING"}"#.to_owned(), r#"{"id":0,"code":0,"msg":"PONG"}"#.to_owned()),
            (subscribe_request(&[DEPTH]), format!(r#"{{"id":0,"code":0,"msg":"{DEPTH}"}}"#)),
            (subscribe_request(&[DEPTH, DEALS]), format!(r#"{{"id":0,"code":0,"msg":"{DEPTH},{DEALS}"}}"#)),
            (
                subscribe_request(&[DEPTH, "spot@public.aggre.depth.v3.api.pb@100ms@DOGEUSDT"]),
                format!(r#"{{"id":0,"code":0,"msg":"{blocked}"}}"#),
            ),
            (
                subscribe_request(&["spot@public.aggre.deals.v3.api.pb@100ms@btcusdt"]),
                r#"{"id":0,"code":0,"msg":"Not Subscribed successfully! [spot@public.aggre.deals.v3.api.pb@100ms@btcusdt].  Reason： Blocked! "}"#.to_owned(),
            ),
            (
                subscribe_request(&["spot@public.deals.v3.api@BTCUSDT"]),
                r#"{"id":0,"code":0,"msg":"Not Subscribed successfully! [spot@public.deals.v3.api@BTCUSDT].  Reason： Blocked! "}"#.to_owned(),
            ),
            (
                format!(r#"{{"method":"SUBSCRIPTION","params":["{TICKER}"],"id":7}}"#),
                format!(r#"{{"id":7,"code":0,"msg":"{TICKER}"}}"#),
            ),
            (
                r#"{"method":"UNSUBSCRIPTION","params":["spot@public.aggre.deals.v3.api.pb@10ms@BTCUSDT"]}"#.to_owned(),
                format!(r#"{{"id":0,"code":0,"msg":"{DEALS}"}}"#),
            ),
            ("{".to_owned(), r#"{"id":0,"code":1,"msg":"Invalid request: EOF while parsing an object at line 1 column 1"}"#.to_owned()),
            (
                r#"{"method":"SUBSCRIBE","params":[],"id":3}"#.to_owned(),
                r#"{"id":3,"code":1,"msg":"Invalid request: unknown method \"SUBSCRIBE\""}"#.to_owned(),
            ),
            (
                r#"{"method":"SUBSCRIPTION","params":[1]}"#.to_owned(),
                r#"{"id":0,"code":1,"msg":"Invalid request: params must be topic names"}"#.to_owned(),
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(reply(&mut sim, &ctx, &request), expected, "{request}");
        }
        let held: Vec<&str> = sim.topics.iter().map(|topic| &*topic.name).collect();
        assert_eq!(held, [DEPTH, TICKER], "refusals subscribe nothing; unsubscribing drops");
        assert_eq!(sim.replicas.len(), 1);
        reply(
            &mut sim,
            &ctx,
            &serde_json::json!({"method": "UNSUBSCRIPTION", "params": [DEPTH, TICKER]}).to_string(),
        );
        assert!(!sim.has_subscriptions() && sim.replicas.is_empty());
    }

    #[test]
    fn a_connection_holds_at_most_thirty_topics() {
        let ctx = context();
        let topics: Vec<String> = ["deals", "depth", "bookTicker"]
            .iter()
            .flat_map(|stream| ["100ms", "10ms"].map(|interval| (stream, interval)))
            .flat_map(|(stream, interval)| {
                ["BTCUSDT", "ETHUSDT"]
                    .map(|symbol| format!("spot@public.aggre.{stream}.v3.api.pb@{interval}@{symbol}"))
            })
            .collect();
        assert_eq!(topics.len(), 12);
        let mut sim = client(&ctx, &topics.iter().map(String::as_str).collect::<Vec<_>>());
        // 18 more would make 30: the same symbols cannot, so fill with a market the test adds.
        let mut wide = context();
        for index in 0..20 {
            let native = format!("C{index}USDT");
            wide.markets.push(intern(venue().unwrap(), Some(InstrumentKind::Spot), &native).unwrap());
        }
        let more: Vec<String> =
            (0..18).map(|index| format!("spot@public.aggre.deals.v3.api.pb@100ms@C{index}USDT")).collect();
        let answer =
            reply(&mut sim, &wide, &subscribe_request(&more.iter().map(String::as_str).collect::<Vec<_>>()));
        assert_eq!(answer, format!(r#"{{"id":0,"code":0,"msg":"{}"}}"#, more.join(",")));
        assert_eq!(sim.topics.len(), MAX_SUBSCRIPTIONS);
        let again = reply(&mut sim, &wide, &subscribe_request(&[DEPTH]));
        assert_eq!(again, format!(r#"{{"id":0,"code":0,"msg":"{DEPTH}"}}"#), "a topic held is no new one");
        let over = "spot@public.aggre.deals.v3.api.pb@100ms@C18USDT";
        let refused = reply(&mut sim, &wide, &subscribe_request(&[over]));
        assert_eq!(
            refused,
            format!(
                r#"{{"id":0,"code":0,"msg":"Not Subscribed successfully! [{over}].  Reason： Blocked! "}}"#
            )
        );
        assert_eq!(sim.topics.len(), MAX_SUBSCRIPTIONS);
    }

    #[test]
    fn deals_are_protobuf_with_continuous_trade_ids() {
        let ctx = context();
        let mut sim = client(&ctx, &[DEALS]);
        let mut out = Outbox::default();
        for (trade_id, side) in [(41, Side::Sell), (42, Side::Buy)] {
            let trade = Happening::Trade {
                market: btc(),
                price: dec("93220.00"),
                qty: dec("0.04438243"),
                side,
                trade_id,
                time_ns: 1_736_409_765_051_123_456,
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
        let pushes = pushes(&out);
        assert_eq!(pushes.len(), 2, "nothing for a market not subscribed");
        for (push, (id, trade_type)) in pushes.iter().zip([("41", TRADE_TYPE_SELL), ("42", TRADE_TYPE_BUY)]) {
            assert_eq!((push.channel.as_str(), push.symbol.as_deref()), (DEALS, Some("BTCUSDT")));
            assert_eq!(
                (push.create_time, push.send_time),
                (Some(1_736_409_765_051), Some(1_736_409_765_051))
            );
            let Some(Body::PublicAggreDeals(deals)) = &push.body else { panic!("not deals") };
            assert_eq!(deals.event_type, "spot@public.aggre.deals.v3.api.pb@10ms");
            assert_eq!(
                deals.deals,
                [PublicAggreDealsV3ApiItem {
                    price: "93220.00".into(),
                    quantity: "0.04438243".into(),
                    trade_type,
                    time: 1_736_409_765_051,
                    trade_id: id.into(),
                }]
            );
        }
    }

    #[test]
    fn depth_versions_chain_after_the_rest_snapshot_and_the_ticker_follows_the_top() {
        let mut ctx = context();
        let mut engine = SimBook::default();
        engine.apply(5, &[level("100.0", "1"), level("99.5", "2")], &[level("100.5", "3")]);
        ctx.books.insert(btc().id, engine.clone());
        let mut sim = client(&ctx, &[DEPTH, TICKER]);
        let (status, body) = sim.http_get("/api/v3/depth?symbol=BTCUSDT&limit=1000", &ctx).unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, r#"{"lastUpdateId":5,"bids":[["100.0","1"],["99.5","2"]],"asks":[["100.5","3"]]}"#);
        assert_eq!(
            sim.http_get("/api/v3/depth?symbol=BTCUSDT&limit=1", &ctx).unwrap().1.matches('[').count(),
            4
        );
        assert_eq!(sim.http_get("/api/v3/depth?symbol=NOPE", &ctx).unwrap().0, 400);
        assert_eq!(sim.http_get("/api/v3/ticker", &ctx), None);

        let changes = [
            (4, vec![level("98", "1")], vec![]),
            (5, vec![level("98", "1")], vec![]),
            (6, vec![level("99.5", "0")], vec![]),
            (7, vec![level("100.0", "4")], vec![level("100.25", "1")]),
        ];
        let mut out = Outbox::default();
        for (update_id, bids, asks) in &changes {
            let change = Happening::Book {
                market: btc(),
                update_id: *update_id,
                bids: bids.clone(),
                asks: asks.clone(),
                time_ns: 0,
            };
            sim.encode(&change, EncodeFaults { bad_checksum: true }, &mut out);
            if *update_id > engine.update_id {
                engine.apply(*update_id, bids, asks);
            }
        }
        // The Binance procedure: drop pushes the snapshot holds, apply from the one that
        // straddles it, each fromVersion the previous toVersion + 1.
        let mut local = SimBook::default();
        local.apply(5, &[level("100.0", "1"), level("99.5", "2")], &[level("100.5", "3")]);
        let (mut versions, mut tickers) = (Vec::new(), Vec::new());
        for push in pushes(&out) {
            match push.body {
                Some(Body::PublicAggreDepths(depths)) => {
                    assert_eq!(depths.event_type, "spot@public.aggre.depth.v3.api.pb@100ms");
                    let from: u64 = depths.from_version.parse().unwrap();
                    let to: u64 = depths.to_version.parse().unwrap();
                    versions.push((from, to));
                    if to <= local.update_id {
                        continue;
                    }
                    assert_eq!(from, local.update_id + 1);
                    let side = |items: &[PublicAggreDepthV3ApiItem]| -> Vec<Level> {
                        items.iter().map(|item| level(&item.price, &item.quantity)).collect()
                    };
                    local.apply(to, &side(&depths.bids), &side(&depths.asks));
                }
                Some(Body::PublicAggreBookTicker(ticker)) => tickers.push(ticker),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(versions, [(4, 4), (5, 5), (6, 6), (7, 7)], "continuous, straddling the snapshot's 5");
        assert_eq!(local, engine);
        assert_eq!(
            tickers,
            [PublicAggreBookTickerV3Api {
                bid_price: "100.0".into(),
                bid_quantity: "4".into(),
                ask_price: "100.25".into(),
                ask_quantity: "1".into(),
            }],
            "the top changed only at 7"
        );
    }

    type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

    fn config(rate: u64) -> SimConfig {
        SimConfig {
            venues: vec![venue().unwrap()],
            symbols: vec!["BTC/USDT".into(), "ETH/USDT".into()],
            rate,
            ..SimConfig::default()
        }
    }

    async fn open(sim: &Simulator) -> Ws {
        let url = &sim.urls()[0].1;
        let stream = TcpStream::connect(sim.addr(venue().unwrap()).unwrap()).await.unwrap();
        tokio_tungstenite::client_async(url, stream).await.unwrap().0
    }

    /// The next frame: a text answer or a decoded push; `None` when the connection ends.
    async fn next(ws: &mut Ws) -> Option<Result<String, PushDataV3ApiWrapper>> {
        loop {
            match timeout(LIMIT, ws.next()).await.expect("a frame in time")? {
                Ok(Message::Text(text)) => return Some(Ok(text.to_string())),
                Ok(Message::Binary(bytes)) => return Some(Err(PushDataV3ApiWrapper::decode(bytes).unwrap())),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next depth push's (fromVersion, toVersion).
    async fn next_versions(ws: &mut Ws) -> (u64, u64) {
        loop {
            if let Some(Err(PushDataV3ApiWrapper { body: Some(Body::PublicAggreDepths(depths)), .. })) =
                next(ws).await
            {
                return (depths.from_version.parse().unwrap(), depths.to_version.parse().unwrap());
            }
        }
    }

    async fn http_get(sim: &Simulator, path: &str) -> String {
        let mut stream = TcpStream::connect(sim.addr(venue().unwrap()).unwrap()).await.unwrap();
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
        let mut response = Vec::new();
        timeout(LIMIT, stream.read_to_end(&mut response)).await.unwrap().unwrap();
        let response = String::from_utf8(response).unwrap();
        response.split_once("\r\n\r\n").unwrap().1.to_owned()
    }

    #[tokio::test]
    async fn pushes_straddle_the_rest_snapshot_and_a_gap_skips_one_push() {
        let sim = Simulator::start(&config(2_000)).unwrap();
        let mut ws = open(&sim).await;
        ws.send(Message::text(subscribe_request(&[DEPTH]))).await.unwrap();
        assert_eq!(next(&mut ws).await.unwrap().unwrap(), format!(r#"{{"id":0,"code":0,"msg":"{DEPTH}"}}"#));
        let first = next_versions(&mut ws).await;
        let snapshot: Value =
            serde_json::from_str(&http_get(&sim, "/api/v3/depth?symbol=BTCUSDT&limit=5").await).unwrap();
        let version = snapshot["lastUpdateId"].as_u64().unwrap();
        assert_eq!(snapshot["bids"].as_array().unwrap().len(), 5);
        assert!(first.1 <= version, "the snapshot is no older than what was pushed before it");
        let mut previous = first;
        while previous.1 <= version {
            let versions = next_versions(&mut ws).await;
            assert_eq!(versions.0, previous.1 + 1, "continuous");
            previous = versions;
        }
        assert!(previous.0 <= version + 1, "a push follows the snapshot's version with no hole");

        assert_eq!(sim.inject(venue().unwrap(), Fault::Gap, Some("BTC/USDT")).unwrap(), 1);
        let mut holes = 0;
        for _ in 0..200 {
            let versions = next_versions(&mut ws).await;
            assert_eq!(versions.0, versions.1, "one change per push");
            if versions.0 != previous.1 + 1 {
                assert_eq!(versions.0, previous.1 + 2, "exactly one push skipped");
                holes += 1;
            }
            previous = versions;
        }
        assert_eq!(holes, 1);
    }

    #[tokio::test]
    async fn no_subscription_within_thirty_seconds_closes() {
        let sim = Simulator::start(&SimConfig { heartbeat_scale: 0.01, ..config(100) }).unwrap();
        let mut ws = open(&sim).await;
        ws.send(Message::text(r#"{"method":"PING"}"#)).await.unwrap();
        assert_eq!(next(&mut ws).await.unwrap().unwrap(), r#"{"id":0,"code":0,"msg":"PONG"}"#);
        let closed = timeout(LIMIT, async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => return frame.map(|frame| frame.reason.to_string()),
                    Some(Ok(_)) => {}
                    _ => return None,
                }
            }
        });
        assert_eq!(closed.await.unwrap().unwrap(), "no subscription within 300ms");

        let mut subscribed = open(&sim).await;
        subscribed.send(Message::text(subscribe_request(&[DEALS]))).await.unwrap();
        let reads = async { while next(&mut subscribed).await.is_some() {} };
        assert!(timeout(Duration::from_millis(900), reads).await.is_err(), "a subscribed client stays open");
    }
}
