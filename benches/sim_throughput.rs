//! The simulator's throughput: messages per second one client receives at the maximum rate.
//!
//! The client is a plain blocking socket on a thread of its own that only splits frames and
//! counts them, so the figure is the simulator's (generator, encoder, writes on the crate's one
//! I/O thread), not a client's. Two protocols: Binance's (`/stream` with the trade, diff-depth
//! and ticker streams of one market: every happening is a frame) and a minimal one that writes
//! a fixed frame per happening, which shows the engine's own ceiling.
//!
//! Run: `cargo bench --bench sim_throughput` (target: ≥ 1,000,000 msg/s).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire::model::Venue;
use tickwire::protocol::frame::FrameHeader;
use tickwire::sim::protocol::{
    EncodeFaults, Happening, HeartbeatRules, Outbox, SimContext, VenueSim, Verdict,
};
use tickwire::sim::server::ProtocolFactory;
use tickwire::sim::{SimConfig, Simulator};

const WARM_UP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);

/// One frame per happening, a fixed 60-byte payload: the engine without a venue's encoding.
struct Minimal;

impl VenueSim for Minimal {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    fn heartbeat_rules(&self) -> HeartbeatRules {
        HeartbeatRules::default()
    }

    fn on_open(
        &mut self,
        _path: &str,
        _ctx: &dyn SimContext,
        _out: &mut Outbox,
    ) -> Result<(), (u16, String)> {
        Ok(())
    }

    fn on_message(&mut self, _text: &str, _ctx: &dyn SimContext, _out: &mut Outbox) -> Verdict {
        Verdict::Continue
    }

    fn encode(&mut self, _happening: &Happening, _faults: EncodeFaults, out: &mut Outbox) {
        out.text(br#"{"e":"trade","s":"BTCUSDT","t":123456789,"p":"60000.00","q":"0.001"}"#);
    }

    fn has_subscriptions(&self) -> bool {
        true
    }
}

/// Opens `path`, then counts frames for [`MEASURE`] after [`WARM_UP`]; returns (frames/s, bytes/s).
fn receive(sim: &Simulator, path: &str) -> (f64, f64) {
    let addr = sim.addr(Venue::Binance).expect("binance is simulated");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("upgrade request");
    let mut buffer = vec![0_u8; 1 << 20];
    let mut filled = 0;
    let head_end = loop {
        filled += stream.read(&mut buffer[filled..]).expect("101");
        if let Some(at) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    assert!(buffer.starts_with(b"HTTP/1.1 101"), "upgraded");
    buffer.copy_within(head_end..filled, 0);
    filled -= head_end;
    let started = Instant::now();
    let (mut frames, mut bytes, mut counting_since) = (0_u64, 0_u64, None);
    loop {
        let mut at = 0;
        while let Some(header) = FrameHeader::parse(&buffer[at..filled]) {
            let len = header.header_len + usize::try_from(header.payload_len).expect("fits");
            if at + len > filled {
                break;
            }
            at += len;
            frames += 1;
        }
        bytes += at as u64;
        buffer.copy_within(at..filled, 0);
        filled -= at;
        let elapsed = started.elapsed();
        match counting_since {
            None if elapsed >= WARM_UP => {
                counting_since = Some((Instant::now(), frames, bytes));
            }
            Some((since, frames0, bytes0)) if since.elapsed() >= MEASURE => {
                let seconds = since.elapsed().as_secs_f64();
                #[expect(clippy::cast_precision_loss, reason = "a rate")]
                return ((frames - frames0) as f64 / seconds, (bytes - bytes0) as f64 / seconds);
            }
            _ => {}
        }
        filled += stream.read(&mut buffer[filled..]).expect("frames");
    }
}

fn run(name: &str, protocol: ProtocolFactory, path: &str) {
    let config = SimConfig {
        venues: vec![Venue::Binance],
        symbols: vec!["BTC/USDT".into()],
        rate: 0,
        protocol,
        ..SimConfig::default()
    };
    let sim = Simulator::start(&config).expect("simulator");
    let (frames, bytes) = receive(&sim, path);
    let stats = &sim.stats().venues[0];
    println!(
        "sim_throughput/{name:<8} {frames:>12.0} msg/s  {:>7.1} MB/s  ({} happenings generated, {} frames sent)",
        bytes / 1e6,
        stats.happenings,
        stats.frames_sent
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter (any other argument) picks a protocol.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with("--"));
    let wanted = |name: &str| filter.as_deref().is_none_or(|filter| name.contains(filter));
    if wanted("binance") {
        run(
            "binance",
            Arc::new(tickwire::sim::protocol::venue_sim),
            "/stream?streams=btcusdt@trade/btcusdt@depth@100ms/btcusdt@ticker",
        );
    }
    if wanted("minimal") {
        run("minimal", Arc::new(|_| Some(Box::new(Minimal))), "/");
    }
}
