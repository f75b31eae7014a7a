//! Round trips per venue: the simulator's own encoder writes a synthetic market's book changes,
//! the venue's adapter parses them, and [`BookSync`] must rebuild the engine's book exactly,
//! see a dropped frame (a gap, or for Kraken a checksum mismatch), see a wrong checksum (OKX,
//! Kraken), and be re-validated by the snapshot its [`Resync`] asks for.
//!
//! The harness is this module's own (the simulator's test helpers are private to it): a
//! [`SimContext`] over [`VenueMarkets`], frames read back from the [`Outbox`].

use crate::book::{BookSync, Invalidity, Outcome, Resync, SyncRule};
use crate::model::market::intern;
use crate::model::{Channel, Event, Level, MarketRef, Venue};
use crate::sim::market::VenueMarkets;
use crate::sim::protocol::{EncodeFaults, Happening, Outbox, SimBook, SimContext, VenueSim, venue_sim};
use crate::venues::{Adapter, adapter, binance};

const ENGINE_DEPTH: usize = 30;
const START_NS: u64 = 1_700_000_000_000_000_000;

struct Ctx {
    markets: Vec<MarketRef>,
    engine: VenueMarkets,
    now_ns: u64,
}

impl SimContext for Ctx {
    fn markets(&self) -> &[MarketRef] {
        &self.markets
    }
    fn market(&self, native: &str) -> Option<MarketRef> {
        self.engine.find(native).map(|market| market.market().clone())
    }
    fn book(&self, market: &MarketRef) -> SimBook {
        self.engine.get(market).map(crate::sim::market::SimMarket::book).unwrap_or_default()
    }
    fn last_trade_id(&self, market: &MarketRef) -> u64 {
        self.engine.get(market).map_or(0, crate::sim::market::SimMarket::last_trade_id)
    }
    fn now_ns(&self) -> u64 {
        self.now_ns
    }
}

/// The text payloads of the server frames in `out`.
fn frames(out: &Outbox) -> Vec<String> {
    let mut bytes = out.bytes();
    let mut texts = Vec::new();
    while !bytes.is_empty() {
        let (len, header) = match bytes[1] {
            126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => (usize::try_from(u64::from_be_bytes(bytes[2..10].try_into().unwrap())).unwrap(), 10),
            len => (usize::from(len), 2),
        };
        texts.push(String::from_utf8(bytes[header..header + len].to_vec()).unwrap());
        bytes = &bytes[header + len..];
    }
    texts
}

struct Harness {
    ctx: Ctx,
    sim: Box<dyn VenueSim>,
    adapter: Box<dyn Adapter>,
    market: MarketRef,
    sync: BookSync,
    outcomes: Vec<Outcome>,
}

impl Harness {
    fn open(venue: Venue, native: &str, path: &str, rule: SyncRule, seed: u64) -> Self {
        let market = intern(venue, None, native).unwrap();
        let ctx = Ctx {
            markets: vec![market.clone()],
            engine: VenueMarkets::new(std::slice::from_ref(&market), ENGINE_DEPTH, seed),
            now_ns: START_NS,
        };
        let mut harness = Self {
            sim: venue_sim(venue).unwrap(),
            adapter: adapter(venue, market.kind).unwrap(),
            market,
            sync: BookSync::new(rule),
            outcomes: Vec::new(),
            ctx,
        };
        let mut out = Outbox::default();
        harness.sim.on_open(path, &harness.ctx, &mut out).unwrap();
        harness.read(&out);
        let mut requests = Vec::new();
        harness.adapter.on_connect(&mut requests);
        harness.send_all(&requests);
        harness.subscribe(true);
        harness
    }

    fn send_all(&mut self, requests: &[String]) {
        for request in requests {
            let mut out = Outbox::default();
            self.sim.on_message(request, &self.ctx, &mut out);
            self.read(&out);
        }
    }

    fn subscribe(&mut self, subscribe: bool) {
        let mut requests = Vec::new();
        let pairs = [(self.market.clone(), Channel::Book)];
        if subscribe {
            self.adapter.subscribe(1, &pairs, &mut requests).unwrap();
        } else {
            self.adapter.unsubscribe(2, &pairs, &mut requests).unwrap();
        }
        self.send_all(&requests);
    }

    /// Parses every frame (Kraken's `instrument` snapshot gives the adapter the pair's
    /// precision, to which it pads levels); book updates of the market go to the sync.
    fn read(&mut self, out: &Outbox) {
        for frame in frames(out) {
            let mut events = Vec::new();
            self.adapter.parse(frame.as_bytes(), self.ctx.now_ns, &mut events).unwrap();
            for event in events {
                if let Event::Book(update) = event
                    && update.market.id == self.market.id
                {
                    self.outcomes.push(self.sync.apply(&update));
                }
            }
        }
    }

    /// Generates `count` happenings and encodes each (with `faults`); frames of the first
    /// book change are dropped when `drop_first_book_frame`. Returns whether a frame was
    /// dropped.
    fn step(&mut self, count: usize, faults: EncodeFaults, drop_first_book_frame: bool) -> bool {
        self.ctx.now_ns += 1_000_000;
        let mut happenings = Vec::new();
        self.ctx.engine.generate(count, self.ctx.now_ns, &mut happenings);
        let mut dropped = !drop_first_book_frame;
        let dropping = !dropped;
        for happening in &happenings {
            let mut out = Outbox::default();
            let is_book = matches!(happening, Happening::Book { .. });
            self.sim.encode(happening, if is_book { faults } else { EncodeFaults::default() }, &mut out);
            if is_book && !dropped && out.frames() > 0 {
                dropped = true;
                continue;
            }
            self.read(&out);
        }
        dropping && dropped
    }

    fn fetch_snapshot(&mut self) {
        let path = binance::depth_snapshot_path(&self.market, 5000);
        let (status, body) = self.sim.http_get(&path, &self.ctx).unwrap();
        assert_eq!(status, 200, "{body}");
        let snapshot = binance::parse_depth_snapshot(&self.market, body.as_bytes(), self.ctx.now_ns).unwrap();
        self.outcomes.push(self.sync.apply(&snapshot));
    }

    fn resync(&mut self, resync: Resync) {
        match resync {
            Resync::FetchSnapshot => self.fetch_snapshot(),
            Resync::Resubscribe => {
                self.subscribe(false);
                self.subscribe(true);
            }
        }
        assert!(self.sync.is_valid(), "{:?} {:?}", self.sync.validity(), self.outcomes.last());
    }

    /// The sync's book equals the engine's, within the venue's depth window.
    fn assert_matches_engine(&self) {
        assert!(self.sync.is_valid(), "{:?}", self.sync.validity());
        let engine = self.ctx.book(&self.market);
        let depth = self.sync.book().depth_limit().unwrap_or(usize::MAX);
        let ours = |levels: &mut dyn Iterator<Item = Level>| levels.collect::<Vec<_>>();
        assert_eq!(ours(&mut self.sync.book().top_bids(depth)), ours(&mut engine.top_bids(depth)));
        assert_eq!(ours(&mut self.sync.book().top_asks(depth)), ours(&mut engine.top_asks(depth)));
    }

    /// Steps until the book is invalid; the reason and the resync asked for.
    fn step_until_invalid(&mut self, faults: EncodeFaults) -> (Invalidity, Resync) {
        for _ in 0..50 {
            let seen = self.outcomes.len();
            self.step(1, faults, false);
            if let Some(&Outcome::Invalid { reason, resync }) =
                self.outcomes[seen..].iter().find(|outcome| matches!(outcome, Outcome::Invalid { .. }))
            {
                return (reason, resync);
            }
        }
        panic!("still valid: {:?}", self.sync.validity());
    }

    fn run_valid(&mut self, steps: usize) {
        for _ in 0..steps {
            self.step(1, EncodeFaults::default(), false);
            self.assert_matches_engine();
        }
        assert!(
            !self.outcomes.iter().any(|outcome| matches!(outcome, Outcome::Invalid { .. })),
            "{:?}",
            self.outcomes
        );
        self.outcomes.clear();
    }
}

/// Builds, breaks by a dropped frame, resyncs, and (for checksum venues) breaks by a wrong
/// checksum and resyncs again; the book equals the engine's whenever valid.
fn round_trip(venue: Venue, native: &str, path: &str, rule: SyncRule, dropped: fn(Invalidity) -> bool) {
    let mut harness = Harness::open(venue, native, path, rule, 7);
    if rule == SyncRule::Binance {
        harness.step(20, EncodeFaults::default(), false);
        assert!(
            harness.outcomes.iter().all(|outcome| *outcome == Outcome::Buffered),
            "{:?}",
            harness.outcomes
        );
        harness.fetch_snapshot();
    }
    assert!(harness.sync.is_valid(), "{:?}", harness.outcomes);
    harness.outcomes.clear();
    harness.run_valid(200);

    assert!((0..50).any(|_| harness.step(1, EncodeFaults::default(), true)), "a book frame was dropped");
    let (reason, resync) = harness.step_until_invalid(EncodeFaults::default());
    assert!(dropped(reason), "{reason:?}");
    assert_eq!(resync, rule.resync());
    harness.resync(resync);
    harness.outcomes.clear();
    harness.run_valid(100);

    if matches!(rule, SyncRule::Okx | SyncRule::Kraken) {
        let (reason, resync) = harness.step_until_invalid(EncodeFaults { bad_checksum: true });
        assert!(matches!(reason, Invalidity::ChecksumMismatch { .. }), "{reason:?}");
        harness.resync(resync);
        harness.outcomes.clear();
        harness.run_valid(100);
    }
    let counters = harness.sync.counters();
    let checksum_failures = u64::from(matches!(rule, SyncRule::Okx | SyncRule::Kraken));
    let kraken = u64::from(matches!(rule, SyncRule::Kraken));
    assert_eq!(counters.gaps + counters.checksum_failures, 1 + checksum_failures, "{counters:?}");
    assert_eq!(counters.checksum_failures, checksum_failures + kraken, "{counters:?}");
    assert_eq!(counters.resyncs, 1 + checksum_failures);
    assert!(counters.updates_applied > 100, "{counters:?}");
}

fn is_gap(reason: Invalidity) -> bool {
    matches!(reason, Invalidity::Gap { .. })
}

#[test]
fn binance() {
    round_trip(Venue::Binance, "BTCUSDT", "/stream", SyncRule::Binance, is_gap);
}

#[test]
fn bybit() {
    round_trip(Venue::Bybit, "BTCUSDT", "/v5/public/spot", SyncRule::Bybit, is_gap);
}

#[test]
fn okx() {
    round_trip(Venue::Okx, "BTC-USDT", "/ws/v5/public", SyncRule::Okx, is_gap);
}

#[test]
fn coinbase() {
    round_trip(Venue::Coinbase, "BTC-USD", "/", SyncRule::Coinbase, is_gap);
}

#[test]
fn kraken() {
    // No sequence numbers: a dropped frame shows as the next checksum that differs.
    round_trip(Venue::Kraken, "BTC/USD", "/v2", SyncRule::Kraken, |reason| {
        matches!(reason, Invalidity::ChecksumMismatch { .. })
    });
}
