//! The engine against real clients on loopback (tokio-tungstenite, and raw TCP where a client
//! must misbehave), with a small protocol of its own so these tests do not depend on any
//! venue's: handshake, frames, snapshots then contiguous deltas, heartbeat rules, each fault,
//! slow consumers, the maximum rate, and stopping.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::protocol::{EncodeFaults, Happening, HeartbeatRules, Outbox, SimContext, VenueSim, Verdict};
use super::{Fault, SimConfig, SimError, Simulator};
use crate::model::Venue;

const LIMIT: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<TcpStream>;

/// A protocol for tests: `sub` subscribes to everything (ack, then a snapshot of the first
/// market's book), `bye` makes the venue close with 4000; trades and book changes are small
/// JSON objects; a bad checksum is `"cs":"bad"`.
#[derive(Default)]
struct TestSim {
    rules: HeartbeatRules,
    subscribed: bool,
    snapshot_id: u64,
}

impl VenueSim for TestSim {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    fn heartbeat_rules(&self) -> HeartbeatRules {
        self.rules
    }

    fn on_open(&mut self, path: &str, _ctx: &dyn SimContext, out: &mut Outbox) -> Result<(), (u16, String)> {
        if path != "/stream" {
            return Err((404, format!("no such path: {path}")));
        }
        out.text(br#"{"hello":1}"#);
        Ok(())
    }

    fn on_message(&mut self, text: &str, ctx: &dyn SimContext, out: &mut Outbox) -> Verdict {
        match text {
            "sub" => {
                self.subscribed = true;
                let book = ctx.book(&ctx.markets()[0]);
                self.snapshot_id = book.update_id;
                out.text(br#"{"ack":"sub"}"#);
                out.text(
                    format!(r#"{{"snapshot":{},"levels":{}}}"#, book.update_id, book.bids.len()).as_bytes(),
                );
                Verdict::Continue
            }
            "bye" => Verdict::Close { code: 4000, reason: "bye".into() },
            other => {
                out.text(format!(r#"{{"error":"unknown request {other}"}}"#).as_bytes());
                Verdict::Continue
            }
        }
    }

    fn encode(&mut self, happening: &Happening, faults: EncodeFaults, out: &mut Outbox) {
        if !self.subscribed {
            return;
        }
        match happening {
            Happening::Trade { market, trade_id, .. } => {
                out.text(format!(r#"{{"m":"{}","t":{trade_id}}}"#, market.native).as_bytes());
            }
            Happening::Book { market, update_id, .. }
                if market.native.as_ref() == "BTCUSDT" && *update_id > self.snapshot_id =>
            {
                let checksum = if faults.bad_checksum { "bad" } else { "ok" };
                out.text(
                    format!(r#"{{"m":"{}","u":{update_id},"cs":"{checksum}"}}"#, market.native).as_bytes(),
                );
            }
            _ => {}
        }
    }

    fn has_subscriptions(&self) -> bool {
        self.subscribed
    }

    fn http_get(&mut self, path: &str, ctx: &dyn SimContext) -> Option<(u16, String)> {
        (path == "/depth")
            .then(|| (200, format!(r#"{{"lastUpdateId":{}}}"#, ctx.book(&ctx.markets()[0]).update_id)))
    }
}

fn config(rate: u64, rules: HeartbeatRules) -> SimConfig {
    SimConfig {
        venues: vec![Venue::Binance],
        symbols: vec!["BTC/USDT".into(), "ETH/USDT".into()],
        rate,
        protocol: Arc::new(move |_| Some(Box::new(TestSim { rules, ..TestSim::default() }))),
        ..SimConfig::default()
    }
}

async fn open(sim: &Simulator) -> Ws {
    let addr = sim.addr(Venue::Binance).unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(sim.url(Venue::Binance).unwrap(), stream).await.unwrap();
    ws
}

/// The next text message as JSON (`None`: the connection ended), answering nothing.
async fn next_json(ws: &mut Ws) -> Option<Value> {
    loop {
        match timeout(LIMIT, ws.next()).await.expect("a message in time")? {
            Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).expect("JSON")),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Subscribes and returns the snapshot's update id.
async fn subscribe(ws: &mut Ws) -> u64 {
    assert_eq!(next_json(ws).await.unwrap()["hello"], 1);
    ws.send(Message::text("sub")).await.unwrap();
    assert_eq!(next_json(ws).await.unwrap()["ack"], "sub");
    let snapshot = next_json(ws).await.unwrap();
    assert_eq!(snapshot["levels"], 20);
    snapshot["snapshot"].as_u64().unwrap()
}

/// Reads until `count` book updates have come; returns their ids, checksums and other frames.
async fn books(ws: &mut Ws, count: usize) -> (Vec<u64>, Vec<String>) {
    let (mut ids, mut checksums) = (Vec::new(), Vec::new());
    while ids.len() < count {
        let message = next_json(ws).await.expect("open");
        if let Some(id) = message["u"].as_u64() {
            ids.push(id);
            checksums.push(message["cs"].as_str().unwrap().to_owned());
        }
    }
    (ids, checksums)
}

/// Reads book updates onto `ids` and `checksums` until `seen` holds (checked after each, so it
/// looks at the last ones), then 100 more.
async fn books_until(
    ws: &mut Ws,
    ids: &mut Vec<u64>,
    checksums: &mut Vec<String>,
    seen: impl Fn(&[u64], &[String]) -> bool,
) {
    while !seen(ids, checksums) {
        let (more_ids, more_checksums) = books(ws, 1).await;
        ids.extend(more_ids);
        checksums.extend(more_checksums);
    }
    let (more_ids, more_checksums) = books(ws, 100).await;
    ids.extend(more_ids);
    checksums.extend(more_checksums);
}

fn contiguous(ids: &[u64]) -> bool {
    ids.windows(2).all(|pair| pair[1] == pair[0] + 1)
}

#[tokio::test]
async fn serves_a_snapshot_then_every_later_change() {
    let mut sim = Simulator::start(&config(4_000, HeartbeatRules::default())).unwrap();
    let mut ws = open(&sim).await;
    let snapshot = subscribe(&mut ws).await;
    let (ids, _) = books(&mut ws, 300).await;
    assert_eq!(ids[0], snapshot + 1, "the first change after the snapshot");
    assert!(contiguous(&ids));
    ws.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
    let pong = timeout(LIMIT, async {
        loop {
            if let Message::Pong(payload) = ws.next().await.unwrap().unwrap() {
                return payload;
            }
        }
    });
    assert_eq!(&pong.await.unwrap()[..], b"hi");
    ws.send(Message::text("bye")).await.unwrap();
    let close = timeout(LIMIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    });
    assert_eq!(close.await.unwrap(), Some(4000), "the venue's verdict closes");
    let stats = sim.stats();
    assert!(stats.venues[0].frames_sent > 300);
    assert!(stats.venues[0].happenings > 300);
    assert_eq!(stats.venues[0].clients_total, 1);
    sim.stop().await;
    assert!(TcpStream::connect(sim.addr(Venue::Binance).unwrap()).await.is_err(), "stopped");
}

#[tokio::test]
async fn refuses_unknown_paths_and_answers_plain_http() {
    let sim = Simulator::start(&config(1_000, HeartbeatRules::default())).unwrap();
    let addr = sim.addr(Venue::Binance).unwrap();
    let get = |path: &'static str| async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
        let mut answer = String::new();
        timeout(LIMIT, stream.read_to_string(&mut answer)).await.unwrap().unwrap();
        answer
    };
    let depth = get("/depth").await;
    assert!(depth.starts_with("HTTP/1.1 200 OK\r\n"), "{depth}");
    assert!(depth.contains("Content-Type: application/json") && depth.contains("lastUpdateId"));
    assert!(get("/other").await.starts_with("HTTP/1.1 404"));
    let stream = TcpStream::connect(addr).await.unwrap();
    let refused = tokio_tungstenite::client_async(format!("ws://{addr}/elsewhere"), stream).await;
    assert!(refused.is_err(), "an upgrade to an unknown path is refused");
    assert_eq!(sim.stats().venues[0].http_requests, 2);
}

/// A raw client: upgrades, then never answers; returns the opcodes and close code it got.
async fn silent_client(sim: &Simulator, wait: Duration) -> (Vec<u8>, Option<u16>) {
    let mut stream = TcpStream::connect(sim.addr(Venue::Binance).unwrap()).await.unwrap();
    stream
        .write_all(
            b"GET /stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut received = Vec::new();
    let _ = timeout(wait, async {
        let mut chunk = [0_u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut chunk).await {
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    let head = received.windows(4).position(|w| w == b"\r\n\r\n").expect("a 101") + 4;
    assert!(received.starts_with(b"HTTP/1.1 101"));
    let (mut opcodes, mut close) = (Vec::new(), None);
    let mut rest = &received[head..];
    while let Some(header) = crate::protocol::frame::FrameHeader::parse(rest) {
        let end = header.header_len + usize::try_from(header.payload_len).unwrap();
        let payload = &rest[header.header_len..end];
        opcodes.push(header.opcode.bits());
        if header.opcode.bits() == 0x8 {
            close = Some(u16::from_be_bytes([payload[0], payload[1]]));
        }
        rest = &rest[end..];
    }
    (opcodes, close)
}

#[tokio::test]
async fn drops_a_client_that_does_not_answer_pings() {
    let rules = HeartbeatRules {
        server_ping_interval: Some(Duration::from_secs(2)),
        pong_timeout: Some(Duration::from_secs(4)),
        ..HeartbeatRules::default()
    };
    let sim = Simulator::start(&SimConfig { heartbeat_scale: 0.05, ..config(100, rules) }).unwrap();
    let started = Instant::now();
    let (opcodes, close) = silent_client(&sim, LIMIT).await;
    assert!(started.elapsed() < Duration::from_secs(3), "ping at 100 ms, no pong by 300 ms");
    assert!(opcodes.contains(&0x9), "pinged: {opcodes:?}");
    assert_eq!(close, Some(1008));
    assert_eq!(sim.stats().venues[0].heartbeat_disconnects, 1);
    // A client that answers pings (tungstenite does, while it reads) stays.
    let mut ws = open(&sim).await;
    subscribe(&mut ws).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    books(&mut ws, 1).await;
}

#[tokio::test]
async fn drops_an_idle_or_unsubscribed_client() {
    for rules in [
        HeartbeatRules { client_idle_timeout: Some(Duration::from_millis(200)), ..HeartbeatRules::default() },
        HeartbeatRules { subscribe_within: Some(Duration::from_millis(200)), ..HeartbeatRules::default() },
    ] {
        let sim = Simulator::start(&config(100, rules)).unwrap();
        let (_, close) = silent_client(&sim, LIMIT).await;
        assert_eq!(close, Some(1008), "{rules:?}");
    }
}

#[tokio::test]
async fn gap_and_bad_checksum_hit_the_next_book_update() {
    let sim = Simulator::start(&config(4_000, HeartbeatRules::default())).unwrap();
    let mut ws = open(&sim).await;
    subscribe(&mut ws).await;
    let (mut ids, mut checksums) = books(&mut ws, 10).await;
    assert_eq!(sim.inject(Venue::Binance, Fault::Gap, Some("BTC/USDT")).unwrap(), 1);
    // Frames written before the order took effect may still be queued ahead of the reader.
    books_until(&mut ws, &mut ids, &mut checksums, |ids, _| matches!(ids, [.., a, b] if *b != a + 1)).await;
    let gaps: Vec<_> = ids.windows(2).filter(|pair| pair[1] != pair[0] + 1).collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0][1], gaps[0][0] + 2, "exactly one update dropped");
    let (mut ids, mut checksums) = books(&mut ws, 1).await;
    sim.inject(Venue::Binance, Fault::BadChecksum, None).unwrap();
    books_until(&mut ws, &mut ids, &mut checksums, |_, checksums| {
        checksums.last().is_some_and(|c| c == "bad")
    })
    .await;
    assert!(contiguous(&ids));
    assert_eq!(checksums.iter().filter(|c| *c == "bad").count(), 1);
    assert!(matches!(
        sim.inject(Venue::Binance, Fault::Gap, Some("DOGE/USDT")),
        Err(SimError::UnknownMarket { .. })
    ));
    assert!(matches!(sim.inject(Venue::Okx, Fault::Gap, None), Err(SimError::VenueNotSimulated { .. })));
    let faults = sim.stats().venues[0].faults;
    assert_eq!((faults[Fault::Gap.index()], faults[Fault::BadChecksum.index()]), (1, 1));
}

#[tokio::test]
async fn malformed_sends_broken_json_and_the_stream_goes_on() {
    let sim = Simulator::start(&config(4_000, HeartbeatRules::default())).unwrap();
    let mut ws = open(&sim).await;
    subscribe(&mut ws).await;
    sim.inject(Venue::Binance, Fault::Malformed, None).unwrap();
    let found = timeout(LIMIT, async {
        loop {
            if let Message::Text(text) = ws.next().await.unwrap().unwrap()
                && serde_json::from_str::<Value>(&text).is_err()
            {
                return text;
            }
        }
    });
    assert!(found.await.unwrap().starts_with("{\"malformed\""));
    books(&mut ws, 10).await;
}

#[tokio::test]
async fn disconnect_resets_without_a_close_frame() {
    let sim = Simulator::start(&config(4_000, HeartbeatRules::default())).unwrap();
    let mut ws = open(&sim).await;
    subscribe(&mut ws).await;
    sim.inject(Venue::Binance, Fault::Disconnect, None).unwrap();
    let ended = timeout(LIMIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) => return "close frame",
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return "reset",
            }
        }
    });
    assert_eq!(ended.await.unwrap(), "reset");
}

#[tokio::test]
async fn stall_keeps_the_connection_open_and_silent() {
    let sim = Simulator::start(&config(4_000, HeartbeatRules::default())).unwrap();
    let mut ws = open(&sim).await;
    subscribe(&mut ws).await;
    sim.inject(Venue::Binance, Fault::Stall, None).unwrap();
    // Frames already on their way may still come; then nothing, not even a pong.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while timeout(Duration::from_millis(100), ws.next()).await.is_ok() {}
    ws.send(Message::Ping(b"x".to_vec().into())).await.unwrap();
    assert!(timeout(Duration::from_millis(500), ws.next()).await.is_err(), "silent");
    assert_eq!(sim.stats().venues[0].clients_connected, 1, "still connected");
}

#[tokio::test]
async fn slow_throttles_and_a_client_that_falls_behind_is_dropped() {
    let sim = Simulator::start(&config(100_000, HeartbeatRules::default())).unwrap();
    let mut ws = open(&sim).await;
    subscribe(&mut ws).await;
    sim.inject(Venue::Binance, Fault::Slow, None).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = sim.stats().venues[0].bytes_sent;
    let started = Instant::now();
    let mut ended = false;
    while started.elapsed() < Duration::from_secs(8) {
        match timeout(Duration::from_millis(200), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1008));
                ended = true;
                break;
            }
            Ok(None | Some(Err(_))) => break,
            _ => {}
        }
    }
    assert!(ended, "dropped with a close frame after falling a ring behind");
    let stats = sim.stats();
    assert_eq!(stats.venues[0].slow_disconnects, 1);
    assert!(stats.venues[0].bytes_sent - before < 400_000, "throttled");
}

#[tokio::test]
async fn max_rate_follows_the_client() {
    let sim = Simulator::start(&config(0, HeartbeatRules::default())).unwrap();
    assert_eq!(sim.stats().venues[0].happenings, 0, "nothing generated without clients");
    let mut ws = open(&sim).await;
    subscribe(&mut ws).await;
    let (ids, _) = books(&mut ws, 20_000).await;
    assert!(contiguous(&ids));
    let stats = &sim.stats().venues[0];
    assert!(
        stats.happenings < stats.frames_sent * 4 + 100_000,
        "the generator waits for the client: {stats:?}"
    );
}

#[test]
fn refuses_bad_configurations() {
    let start = |config: SimConfig| Simulator::start(&config).map(|_| ()).unwrap_err();
    assert!(matches!(start(SimConfig { venues: vec![], ..SimConfig::default() }), SimError::NoVenues));
    let nothing = start(SimConfig {
        venues: vec![Venue::Okx],
        symbols: vec!["nonsense".into()],
        ..SimConfig::default()
    });
    assert!(matches!(nothing, SimError::NoMarkets { venue: Venue::Okx, .. }), "{nothing}");
    assert!(nothing.to_string().contains("nonsense"));
    let twice = SimConfig { venues: vec![Venue::Okx, Venue::Okx], ..SimConfig::default() };
    assert!(matches!(start(twice), SimError::InvalidOption { name: "venues", .. }));
    assert!(matches!(start(SimConfig { depth: 0, ..SimConfig::default() }), SimError::InvalidOption { .. }));
}

#[test]
fn urls_name_each_venues_path() {
    let sim = Simulator::start(&SimConfig {
        venues: vec![Venue::Binance, Venue::Bybit],
        ..config(10, HeartbeatRules::default())
    })
    .unwrap();
    let binance = sim.url(Venue::Binance).unwrap();
    assert!(binance.starts_with("ws://127.0.0.1:") && binance.ends_with("/stream"), "{binance}");
    assert!(sim.url(Venue::Bybit).unwrap().ends_with("/v5/public/spot"));
    assert!(sim.url_at(Venue::Bybit, "/v5/public/linear").unwrap().ends_with("/linear"));
    let names: Vec<_> = sim.urls().into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["binance", "bybit", "bybit-linear"]);
    assert_ne!(sim.addr(Venue::Binance).unwrap(), sim.addr(Venue::Bybit).unwrap());
    assert_eq!(sim.markets(Venue::Bybit).unwrap().len(), 2);
}
