//! Synthetic markets: one per configured (venue, symbol), each a random walk of trades over an
//! L2 book on an exact price and quantity grid.
//!
//! Invariants, for every market:
//! - Prices are whole multiples of the market's tick, quantities of its step; both are kept as
//!   integers (ticks, steps) and become [`Decimal`]s with the grid's scale only on the way out,
//!   so every number a client sees is exact and on the grid.
//! - The book is never crossed (best bid < best ask) and holds at most `depth` levels a side;
//!   every change to it is one [`Happening::Book`] with the changed levels, numbered
//!   `update_id` 1, 2, 3 … without gaps. Trades consume the touch (the best level on the side
//!   the taker hits), so a trade is followed by the book change it caused.
//! - Trade ids are 1, 2, 3 … without gaps.
//! - A run is reproducible: the same seed, symbols and number of happenings give the same
//!   happenings (times aside).

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::protocol::{Happening, SimBook};
use crate::model::{Decimal, Level, MarketRef, Side};

/// The price and quantity grid of a market, and where its price starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// The price increment.
    pub tick: Decimal,
    /// The quantity increment.
    pub step: Decimal,
    /// The first mid price, in ticks.
    pub start_ticks: i64,
    /// The largest quantity of a resting level, in steps.
    pub max_level_steps: i64,
}

impl Grid {
    /// The grid the simulator uses for a base asset (`BTC`: 0.01 / 0.00001 from 60 000).
    #[must_use]
    pub fn for_base(base: &str) -> Self {
        let (tick, step, start_ticks, max_level_steps) = match base {
            "BTC" | "XBT" => (Decimal::new(1, 2), Decimal::new(1, 5), 6_000_000, 50_000),
            "ETH" => (Decimal::new(1, 2), Decimal::new(1, 4), 300_000, 20_000),
            "SOL" => (Decimal::new(1, 2), Decimal::new(1, 3), 15_000, 50_000),
            _ => (Decimal::new(1, 4), Decimal::new(1, 1), 10_000, 10_000),
        };
        Self { tick, step, start_ticks, max_level_steps }
    }

    /// The price `ticks` ticks from zero.
    #[must_use]
    pub fn price(&self, ticks: i64) -> Decimal {
        Decimal::new(i128::from(ticks) * self.tick.mantissa(), self.tick.scale())
    }

    /// The quantity of `steps` steps.
    #[must_use]
    pub fn qty(&self, steps: i64) -> Decimal {
        Decimal::new(i128::from(steps) * self.step.mantissa(), self.step.scale())
    }

    /// The value of `notional` tick×step units (price × quantity summed).
    fn notional(&self, notional: i128) -> Decimal {
        Decimal::new(
            notional * self.tick.mantissa() * self.step.mantissa(),
            self.tick.scale() + self.step.scale(),
        )
    }
}

/// One side of the book: price in ticks → quantity in steps.
type Side2 = BTreeMap<i64, i64>;

/// Ticker figures since the start of the run (the simulator's "24 h").
#[derive(Debug, Clone, Copy)]
struct Rolling {
    open: i64,
    high: i64,
    low: i64,
    last: i64,
    volume_steps: i128,
    notional: i128,
}

/// One synthetic market.
#[derive(Debug, Clone)]
pub struct SimMarket {
    market: MarketRef,
    grid: Grid,
    depth: usize,
    bids: Side2,
    asks: Side2,
    update_id: u64,
    trade_id: u64,
    rolling: Rolling,
}

impl SimMarket {
    /// A market with a full book of `depth` levels a side around the grid's start price.
    #[must_use]
    pub fn new(market: MarketRef, grid: Grid, depth: usize, rng: &mut SmallRng) -> Self {
        let depth = depth.max(1);
        let mid = grid.start_ticks;
        let mut bids = Side2::new();
        let mut asks = Side2::new();
        for offset in 1..=i64::try_from(depth).unwrap_or(i64::MAX) {
            if mid - offset > 0 {
                bids.insert(mid - offset, rng.random_range(1..=grid.max_level_steps));
            }
            asks.insert(mid + offset, rng.random_range(1..=grid.max_level_steps));
        }
        let rolling = Rolling { open: mid, high: mid, low: mid, last: mid, volume_steps: 0, notional: 0 };
        Self { market, grid, depth, bids, asks, update_id: 0, trade_id: 0, rolling }
    }

    /// The market it simulates.
    #[must_use]
    pub const fn market(&self) -> &MarketRef {
        &self.market
    }

    /// Its grid.
    #[must_use]
    pub const fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The last trade id (0: none yet).
    #[must_use]
    pub const fn last_trade_id(&self) -> u64 {
        self.trade_id
    }

    /// The book now, as encoders keep it.
    #[must_use]
    pub fn book(&self) -> SimBook {
        let convert =
            |side: &Side2| side.iter().map(|(&p, &q)| (self.grid.price(p), self.grid.qty(q))).collect();
        SimBook { bids: convert(&self.bids), asks: convert(&self.asks), update_id: self.update_id }
    }

    /// One step of the walk: a trade and the book change it causes, a book change, or a ticker.
    pub fn step(&mut self, rng: &mut SmallRng, time_ns: u64, out: &mut Vec<Happening>) {
        match rng.random_range(0..100_u32) {
            0..30 => self.trade(rng, time_ns, out),
            30..34 => out.push(self.ticker(time_ns)),
            34..54 => self.improve_touch(rng, time_ns, out),
            54..62 => self.cancel_touch(rng, time_ns, out),
            _ => self.requote(rng, time_ns, out),
        }
    }

    /// A taker consumes part (sometimes all) of the best level on one side.
    fn trade(&mut self, rng: &mut SmallRng, time_ns: u64, out: &mut Vec<Happening>) {
        let buy = if self.bids.is_empty() { true } else { rng.random_bool(0.5) };
        let book = if buy { &mut self.asks } else { &mut self.bids };
        let touch = if buy { book.first_key_value() } else { book.last_key_value() };
        let Some((&price, &resting)) = touch else { return };
        let qty = if resting == 1 || rng.random_bool(0.3) { resting } else { rng.random_range(1..resting) };
        self.trade_id += 1;
        let rolling = &mut self.rolling;
        rolling.last = price;
        rolling.high = rolling.high.max(price);
        rolling.low = rolling.low.min(price);
        rolling.volume_steps += i128::from(qty);
        rolling.notional += i128::from(qty) * i128::from(price);
        out.push(Happening::Trade {
            market: self.market.clone(),
            price: self.grid.price(price),
            qty: self.grid.qty(qty),
            side: if buy { Side::Buy } else { Side::Sell },
            trade_id: self.trade_id,
            time_ns,
        });
        let mut changes = Vec::with_capacity(2);
        if qty == resting {
            book.remove(&price);
            changes.push((price, 0));
            changes.extend(self.refill(buy, rng));
        } else {
            book.insert(price, resting - qty);
            changes.push((price, resting - qty));
        }
        self.push_book(!buy, &changes, time_ns, out);
    }

    /// A new best level inside the spread (when the spread is wider than one tick), or else a
    /// new quantity at one level.
    fn improve_touch(&mut self, rng: &mut SmallRng, time_ns: u64, out: &mut Vec<Happening>) {
        let (Some((&bid, _)), Some((&ask, _))) = (self.bids.last_key_value(), self.asks.first_key_value())
        else {
            return self.requote(rng, time_ns, out);
        };
        if ask - bid <= 1 {
            return self.requote(rng, time_ns, out);
        }
        let is_bid = rng.random_bool(0.5);
        let price = if is_bid { bid + 1 } else { ask - 1 };
        let qty = rng.random_range(1..=self.grid.max_level_steps);
        let book = if is_bid { &mut self.bids } else { &mut self.asks };
        book.insert(price, qty);
        let mut changes = vec![(price, qty)];
        if book.len() > self.depth {
            let worst = if is_bid { book.pop_first() } else { book.pop_last() };
            changes.extend(worst.map(|(worst, _)| (worst, 0)));
        }
        self.push_book(is_bid, &changes, time_ns, out);
    }

    /// The best level on one side is withdrawn; a new level joins at the far end.
    fn cancel_touch(&mut self, rng: &mut SmallRng, time_ns: u64, out: &mut Vec<Happening>) {
        let is_bid = rng.random_bool(0.5);
        let book = if is_bid { &mut self.bids } else { &mut self.asks };
        if book.len() < 2 {
            return self.requote(rng, time_ns, out);
        }
        let best = if is_bid { book.pop_last() } else { book.pop_first() };
        let mut changes: Vec<(i64, i64)> = best.map(|(price, _)| (price, 0)).into_iter().collect();
        changes.extend(self.refill(!is_bid, rng));
        self.push_book(is_bid, &changes, time_ns, out);
    }

    /// One resting level gets a new quantity.
    fn requote(&mut self, rng: &mut SmallRng, time_ns: u64, out: &mut Vec<Happening>) {
        let is_bid = if self.bids.is_empty() { false } else { rng.random_bool(0.5) };
        let max = self.grid.max_level_steps;
        let book = if is_bid { &mut self.bids } else { &mut self.asks };
        let Some(&price) = book.keys().nth(rng.random_range(0..book.len().max(1))) else { return };
        let qty = rng.random_range(1..=max);
        book.insert(price, qty);
        self.push_book(is_bid, &[(price, qty)], time_ns, out);
    }

    /// A level one tick beyond the worst on the side a level left (`asks`: the ask side),
    /// keeping the book `depth` deep; none for bids that would reach price zero.
    fn refill(&mut self, asks: bool, rng: &mut SmallRng) -> Option<(i64, i64)> {
        let book = if asks { &mut self.asks } else { &mut self.bids };
        let price = if asks {
            book.last_key_value().map_or(self.rolling.last + 1, |(&worst, _)| worst + 1)
        } else {
            book.first_key_value().map_or(self.rolling.last - 1, |(&worst, _)| worst - 1)
        };
        if price <= 0 || book.len() >= self.depth {
            return None;
        }
        let qty = rng.random_range(1..=self.grid.max_level_steps);
        book.insert(price, qty);
        Some((price, qty))
    }

    /// One book change: `changes` (price, new quantity; zero deletes) all on one side.
    fn push_book(&mut self, is_bid: bool, changes: &[(i64, i64)], time_ns: u64, out: &mut Vec<Happening>) {
        self.update_id += 1;
        let levels = changes
            .iter()
            .map(|&(p, q)| Level { price: self.grid.price(p), qty: self.grid.qty(q) })
            .collect();
        let (bids, asks) = if is_bid { (levels, Vec::new()) } else { (Vec::new(), levels) };
        out.push(Happening::Book {
            market: self.market.clone(),
            update_id: self.update_id,
            bids,
            asks,
            time_ns,
        });
    }

    /// The ticker's figures now.
    fn ticker(&self, time_ns: u64) -> Happening {
        let rolling = &self.rolling;
        let level = |entry: Option<(&i64, &i64)>| {
            entry.map_or(Level { price: Decimal::ZERO, qty: Decimal::ZERO }, |(&p, &q)| Level {
                price: self.grid.price(p),
                qty: self.grid.qty(q),
            })
        };
        Happening::Ticker {
            market: self.market.clone(),
            last: self.grid.price(rolling.last),
            open: self.grid.price(rolling.open),
            high: self.grid.price(rolling.high),
            low: self.grid.price(rolling.low),
            volume: Decimal::new(rolling.volume_steps * self.grid.step.mantissa(), self.grid.step.scale()),
            quote_volume: self.grid.notional(rolling.notional),
            bid: level(self.bids.last_key_value()),
            ask: level(self.asks.first_key_value()),
            time_ns,
        }
    }

    /// Whether the book is sound: not crossed, no more than `depth` levels a side, positive
    /// prices and quantities.
    #[must_use]
    pub fn is_sound(&self) -> bool {
        let crossed = matches!(
            (self.bids.last_key_value(), self.asks.first_key_value()),
            (Some((bid, _)), Some((ask, _))) if bid >= ask
        );
        !crossed
            && self.bids.len() <= self.depth
            && self.asks.len() <= self.depth
            && self.bids.iter().chain(&self.asks).all(|(&p, &q)| p > 0 && q > 0)
    }
}

/// The synthetic markets of one venue, walked by one seeded generator.
#[derive(Debug)]
pub struct VenueMarkets {
    markets: Vec<SimMarket>,
    rng: SmallRng,
}

impl VenueMarkets {
    /// Markets for `markets` (already interned for the venue), `depth` levels a side, walked
    /// from `seed`.
    #[must_use]
    pub fn new(markets: &[MarketRef], depth: usize, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let markets = markets
            .iter()
            .map(|market| {
                let base = market.unified.split(['/', '-']).next().unwrap_or_default();
                SimMarket::new(market.clone(), Grid::for_base(base), depth, &mut rng)
            })
            .collect();
        Self { markets, rng }
    }

    /// Appends `count` happenings (a trade brings its book change along, so a few more may
    /// come), each in a market chosen at random.
    pub fn generate(&mut self, count: usize, time_ns: u64, out: &mut Vec<Happening>) {
        if self.markets.is_empty() {
            return;
        }
        let target = out.len() + count;
        while out.len() < target {
            let index = self.rng.random_range(0..self.markets.len());
            self.markets[index].step(&mut self.rng, time_ns, out);
        }
    }

    /// The markets.
    #[must_use]
    pub fn markets(&self) -> &[SimMarket] {
        &self.markets
    }

    /// The market whose native symbol is `native`, in any ASCII case.
    #[must_use]
    pub fn find(&self, native: &str) -> Option<&SimMarket> {
        self.markets.iter().find(|m| m.market.native.eq_ignore_ascii_case(native))
    }

    /// The market `market` names, if simulated here.
    #[must_use]
    pub fn get(&self, market: &MarketRef) -> Option<&SimMarket> {
        self.markets.iter().find(|m| m.market.id == market.id)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::model::Venue;
    use crate::model::market::intern_unified;

    fn markets(seed: u64) -> VenueMarkets {
        let refs: Vec<_> = ["BTC/USDT", "ETH/USDT", "DOGE/USDT"]
            .iter()
            .map(|symbol| intern_unified(Venue::Binance, symbol).unwrap())
            .collect();
        VenueMarkets::new(&refs, 10, seed)
    }

    fn on_grid(value: Decimal, unit: Decimal) -> bool {
        value.scale() == unit.scale() && value.mantissa() % unit.mantissa() == 0 && value.mantissa() > 0
    }

    #[test]
    fn books_stay_sound_and_replay_from_the_changes() {
        let mut venue = markets(7);
        let mut replayed: HashMap<u32, SimBook> =
            venue.markets().iter().map(|m| (m.market().id, m.book())).collect();
        let mut out = Vec::new();
        for _ in 0..200 {
            out.clear();
            venue.generate(100, 1, &mut out);
            assert!(venue.markets().iter().all(SimMarket::is_sound));
            for happening in &out {
                if let Happening::Book { market, update_id, bids, asks, .. } = happening {
                    let book = replayed.get_mut(&market.id).unwrap();
                    assert_eq!(*update_id, book.update_id + 1, "update ids are contiguous");
                    book.apply(*update_id, bids, asks);
                }
            }
        }
        for market in venue.markets() {
            assert_eq!(replayed[&market.market().id], market.book(), "deltas rebuild the book");
            let book = market.book();
            assert!(book.update_id > 100);
            let (bid, ask) = (book.bids.keys().next_back().unwrap(), book.asks.keys().next().unwrap());
            assert!(bid < ask);
        }
    }

    #[test]
    fn trades_are_numbered_on_the_grid_and_consume_the_touch() {
        let mut venue = markets(11);
        let mut next_ids: HashMap<u32, u64> = HashMap::new();
        let mut out = Vec::new();
        for _ in 0..100 {
            let before: HashMap<u32, SimBook> =
                venue.markets().iter().map(|m| (m.market().id, m.book())).collect();
            out.clear();
            venue.generate(1, 5, &mut out);
            if let Some(Happening::Trade { market, price, qty, side, trade_id, .. }) = out.first() {
                let grid = venue.get(market).unwrap().grid();
                assert!(on_grid(*price, grid.tick) && on_grid(*qty, grid.step), "{price} {qty}");
                let expected = next_ids.entry(market.id).or_insert(1);
                assert_eq!(*trade_id, *expected);
                *expected += 1;
                let book = &before[&market.id];
                let touch = match side {
                    Side::Buy => book.asks.keys().next(),
                    Side::Sell => book.bids.keys().next_back(),
                };
                assert_eq!(Some(price), touch);
                assert!(matches!(out.get(1), Some(Happening::Book { .. })), "a trade changes the book");
            }
        }
        assert!(next_ids.values().any(|&id| id > 2));
    }

    #[test]
    fn levels_and_tickers_are_exact_on_the_grid() {
        let mut venue = markets(3);
        let mut out = Vec::new();
        venue.generate(5_000, 0, &mut out);
        let mut tickers = 0;
        for happening in &out {
            let grid = *venue.get(happening.market()).unwrap().grid();
            match happening {
                Happening::Book { bids, asks, .. } => {
                    for level in bids.iter().chain(asks) {
                        assert!(on_grid(level.price, grid.tick));
                        assert!(level.qty.is_zero() || on_grid(level.qty, grid.step));
                    }
                }
                Happening::Ticker { last, high, low, bid, ask, volume, .. } => {
                    tickers += 1;
                    assert!(low <= last && last <= high);
                    assert!(bid.price < ask.price);
                    assert!(volume.is_zero() || on_grid(*volume, grid.step));
                }
                Happening::Trade { .. } => {}
            }
        }
        assert!(tickers > 0);
        let btc = venue.find("btcusdt").unwrap();
        assert_eq!(btc.grid().tick.to_string(), "0.01");
        assert_eq!(btc.grid().step.to_string(), "0.00001");
    }

    #[test]
    fn a_seed_replays_the_same_run() {
        let run = |seed| {
            let mut venue = markets(seed);
            let mut out = Vec::new();
            venue.generate(2_000, 0, &mut out);
            format!("{out:?}")
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }
}
