//! [`OrderBook`]: one market's L2 book, two sorted sides of price levels.
//!
//! Each side is a `BTreeMap` from price to the [`Level`] last sent for it: O(log n) per level
//! update (one tree walk: the entry is found once and then overwritten, removed or inserted),
//! best bid and ask in O(log n) from the ends, and top-n reads as in-order iteration.
//!
//! Invariants:
//! - No level has quantity zero: a zero deletes the price.
//! - A level keeps the price *and* quantity text of the latest message that named the price
//!   (the map's key only orders; the stored [`Level`] is the one sent), because venue
//!   checksums hash the text: `101.50` and `101.5` are one price, but OKX's CRC32 differs.
//! - With a depth limit, each side holds at most that many levels after every
//!   [`apply`](OrderBook::apply) / [`replace`](OrderBook::replace): the worst levels beyond
//!   it are dropped, as a venue drops levels that leave its depth window without a delete.
//!   Set it only for windowed feeds (Kraken's subscribed depth, Bybit's `orderbook.N`, OKX's 400
//!   levels): on a full-depth diff feed (Binance, Coinbase), a truncated tail would miss the
//!   deeper levels that move up when better ones go.
//!
//! The book does not judge its input: a crossed book is stored as given and reported by
//! [`is_crossed`](OrderBook::is_crossed); proving the book is [`super::sync`]'s job.

use std::collections::BTreeMap;

use crate::model::{BookUpdate, Decimal, Level};

/// One market's L2 book: bids and asks sorted by price, each level as last sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderBook {
    /// By price; the best bid is the last entry.
    bids: BTreeMap<Decimal, Level>,
    /// By price; the best ask is the first entry.
    asks: BTreeMap<Decimal, Level>,
    depth_limit: Option<usize>,
}

impl OrderBook {
    /// An empty book without a depth limit.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty book that keeps at most `depth` levels a side (the venue's depth window).
    #[must_use]
    pub fn with_depth_limit(depth: usize) -> Self {
        Self { depth_limit: Some(depth), ..Self::default() }
    }

    /// The most levels a side keeps, if limited.
    #[must_use]
    pub const fn depth_limit(&self) -> Option<usize> {
        self.depth_limit
    }

    /// Changes the depth limit; a smaller one drops the levels beyond it now.
    pub fn set_depth_limit(&mut self, depth: Option<usize>) {
        self.depth_limit = depth;
        self.truncate();
    }

    /// Applies a snapshot (replaces the book) or a delta (sets each level it names, in wire
    /// order; quantity zero deletes), then drops the levels beyond the depth limit.
    pub fn apply(&mut self, update: &BookUpdate) {
        if update.is_snapshot {
            self.replace(&update.bids, &update.asks);
        } else {
            self.apply_levels(&update.bids, &update.asks);
        }
    }

    /// Replaces the whole book with these levels (zero quantities are skipped), then drops the
    /// levels beyond the depth limit.
    pub fn replace(&mut self, bids: &[Level], asks: &[Level]) {
        self.bids.clear();
        self.asks.clear();
        self.apply_levels(bids, asks);
    }

    /// Sets each level, in order (quantity zero deletes), then drops the levels beyond the
    /// depth limit.
    pub fn apply_levels(&mut self, bids: &[Level], asks: &[Level]) {
        for &level in bids {
            set(&mut self.bids, level);
        }
        for &level in asks {
            set(&mut self.asks, level);
        }
        self.truncate();
    }

    /// Sets one bid level (quantity zero deletes), then enforces the depth limit.
    pub fn set_bid(&mut self, level: Level) {
        set(&mut self.bids, level);
        if self.depth_limit.is_some_and(|depth| self.bids.len() > depth) {
            self.bids.pop_first();
        }
    }

    /// Sets one ask level (quantity zero deletes), then enforces the depth limit.
    pub fn set_ask(&mut self, level: Level) {
        set(&mut self.asks, level);
        if self.depth_limit.is_some_and(|depth| self.asks.len() > depth) {
            self.asks.pop_last();
        }
    }

    /// Empties both sides (the depth limit stays).
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// The highest bid.
    #[must_use]
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.last_key_value().map(|(_, &level)| level)
    }

    /// The lowest ask.
    #[must_use]
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.first_key_value().map(|(_, &level)| level)
    }

    /// Best ask minus best bid, exactly (negative when crossed); `None` if a side is empty or
    /// the difference does not fit a [`Decimal`].
    #[must_use]
    pub fn spread(&self) -> Option<Decimal> {
        self.best_ask()?.price.checked_sub(self.best_bid()?.price)
    }

    /// The midpoint of the best bid and ask, exactly (one more decimal than the finer price
    /// when the sum is odd); `None` if a side is empty or it does not fit a [`Decimal`].
    #[must_use]
    pub fn mid(&self) -> Option<Decimal> {
        let (bid, ask) = (self.best_bid()?.price, self.best_ask()?.price);
        let scale = bid.scale().max(ask.scale());
        let sum =
            bid.checked_rescale(scale)?.mantissa().checked_add(ask.checked_rescale(scale)?.mantissa())?;
        if sum % 2 == 0 {
            Some(Decimal::new(sum / 2, scale))
        } else if scale < Decimal::MAX_SCALE {
            Some(Decimal::new(sum.checked_mul(5)?, scale + 1))
        } else {
            None
        }
    }

    /// The best `n` bids, highest first.
    pub fn top_bids(&self, n: usize) -> impl Iterator<Item = Level> + '_ {
        self.bids.values().rev().take(n).copied()
    }

    /// The best `n` asks, lowest first.
    pub fn top_asks(&self, n: usize) -> impl Iterator<Item = Level> + '_ {
        self.asks.values().take(n).copied()
    }

    /// Every bid, highest first.
    #[must_use]
    pub fn bids(&self) -> impl ExactSizeIterator<Item = Level> + DoubleEndedIterator + '_ {
        self.bids.values().rev().copied()
    }

    /// Every ask, lowest first.
    #[must_use]
    pub fn asks(&self) -> impl ExactSizeIterator<Item = Level> + DoubleEndedIterator + '_ {
        self.asks.values().copied()
    }

    /// The quantity at `price` on the bid side, if the level exists.
    #[must_use]
    pub fn bid_qty(&self, price: Decimal) -> Option<Decimal> {
        self.bids.get(&price).map(|level| level.qty)
    }

    /// The quantity at `price` on the ask side, if the level exists.
    #[must_use]
    pub fn ask_qty(&self, price: Decimal) -> Option<Decimal> {
        self.asks.get(&price).map(|level| level.qty)
    }

    /// Number of bid levels.
    #[must_use]
    pub fn bid_depth(&self) -> usize {
        self.bids.len()
    }

    /// Number of ask levels.
    #[must_use]
    pub fn ask_depth(&self) -> usize {
        self.asks.len()
    }

    /// Whether both sides are empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }

    /// The best bid and ask when the bid is at or above the ask (a locked book counts: no
    /// single venue's book can hold both, a trade would have matched them).
    #[must_use]
    pub fn crossed(&self) -> Option<(Level, Level)> {
        let (bid, ask) = (self.best_bid()?, self.best_ask()?);
        (bid.price >= ask.price).then_some((bid, ask))
    }

    /// Whether the best bid is at or above the best ask (see [`crossed`](Self::crossed)).
    #[must_use]
    pub fn is_crossed(&self) -> bool {
        self.crossed().is_some()
    }

    fn truncate(&mut self) {
        if let Some(depth) = self.depth_limit {
            while self.bids.len() > depth {
                self.bids.pop_first();
            }
            while self.asks.len() > depth {
                self.asks.pop_last();
            }
        }
    }
}

/// Sets one level of a side in one tree walk: overwrite (keeping the new text), remove, or
/// insert.
#[inline]
fn set(side: &mut BTreeMap<Decimal, Level>, level: Level) {
    use std::collections::btree_map::Entry;
    match side.entry(level.price) {
        Entry::Occupied(mut entry) => {
            if level.qty.is_zero() {
                entry.remove();
            } else {
                *entry.get_mut() = level;
            }
        }
        Entry::Vacant(entry) => {
            if !level.qty.is_zero() {
                entry.insert(level);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    fn level(price: &str, qty: &str) -> Level {
        Level { price: dec(price), qty: dec(qty) }
    }

    fn texts(levels: impl Iterator<Item = Level>) -> Vec<(String, String)> {
        levels.map(|level| (level.price.to_string(), level.qty.to_string())).collect()
    }

    #[test]
    fn top_of_book_spread_and_mid() {
        let mut book = OrderBook::new();
        assert_eq!((book.best_bid(), book.best_ask(), book.spread(), book.mid()), (None, None, None, None));
        book.apply_levels(
            &[level("100.5", "1"), level("99", "2"), level("100", "3")],
            &[level("101.25", "4"), level("102", "5")],
        );
        assert_eq!(book.best_bid(), Some(level("100.5", "1")));
        assert_eq!(book.best_ask(), Some(level("101.25", "4")));
        assert_eq!(book.spread().unwrap().to_string(), "0.75");
        assert_eq!(book.mid().unwrap().to_string(), "100.875");
        assert_eq!(texts(book.top_bids(2)), [("100.5".into(), "1".into()), ("100".into(), "3".into())]);
        assert_eq!(texts(book.top_asks(9)).len(), 2);
        assert_eq!((book.bid_depth(), book.ask_depth()), (3, 2));
        assert!(!book.is_crossed());
        book.set_bid(level("101", "1"));
        assert_eq!(book.mid().unwrap().to_string(), "101.125");
        book.set_ask(level("101.25", "0"));
        assert_eq!(book.crossed(), None);
        book.set_bid(level("102", "1"));
        assert_eq!(book.crossed(), Some((level("102", "1"), level("102", "5"))), "locked counts");
        assert_eq!(book.spread(), Some(dec("0")));
    }

    #[test]
    fn a_level_keeps_the_latest_text() {
        let mut book = OrderBook::new();
        book.apply_levels(&[level("101.50", "1.0")], &[]);
        book.apply_levels(&[level("101.5", "2")], &[]);
        assert_eq!(texts(book.bids()), [("101.5".into(), "2".into())]);
        assert_eq!(book.bid_qty(dec("101.500")), Some(dec("2")));
        book.apply_levels(&[level("101.500", "0.00")], &[]);
        assert!(book.is_empty());
    }

    #[test]
    fn depth_limit_drops_the_worst_levels() {
        let mut book = OrderBook::with_depth_limit(2);
        book.replace(
            &[level("1", "1"), level("3", "1"), level("2", "1")],
            &[level("6", "1"), level("4", "1"), level("5", "1"), level("7", "0")],
        );
        assert_eq!(book.bids().map(|l| l.price).collect::<Vec<_>>(), [dec("3"), dec("2")]);
        assert_eq!(book.asks().map(|l| l.price).collect::<Vec<_>>(), [dec("4"), dec("5")]);
        book.set_bid(level("2.5", "1"));
        book.set_ask(level("3.5", "1"));
        assert_eq!(book.bids().map(|l| l.price).collect::<Vec<_>>(), [dec("3"), dec("2.5")]);
        assert_eq!(book.asks().map(|l| l.price).collect::<Vec<_>>(), [dec("3.5"), dec("4")]);
        book.set_depth_limit(Some(1));
        assert_eq!((book.bid_depth(), book.ask_depth()), (1, 1));
        assert_eq!(book.depth_limit(), Some(1));
    }

    #[test]
    fn snapshot_replaces_delta_changes() {
        let market = crate::model::market::intern(crate::model::Venue::Okx, None, "BTC-USDT").unwrap();
        let update = |is_snapshot, bids: Vec<Level>, asks: Vec<Level>| BookUpdate {
            market: market.clone(),
            is_snapshot,
            bids,
            asks,
            first_sequence: None,
            last_sequence: None,
            prev_sequence: None,
            checksum: None,
            exchange_time_ns: 0,
            receive_time_ns: 0,
        };
        let mut book = OrderBook::new();
        book.apply(&update(true, vec![level("1", "1"), level("2", "1")], vec![level("3", "1")]));
        book.apply(&update(false, vec![level("1", "0")], vec![level("4", "2")]));
        assert_eq!(texts(book.bids()), [("2".into(), "1".into())]);
        assert_eq!(texts(book.asks()), [("3".into(), "1".into()), ("4".into(), "2".into())]);
        book.apply(&update(true, vec![], vec![level("5", "1")]));
        assert_eq!((book.bid_depth(), texts(book.asks())), (0, vec![("5".into(), "1".into())]));
    }

    /// The naive model: per side a `Vec` of levels, searched linearly and sorted by hand.
    #[derive(Debug, Default)]
    struct Model {
        bids: Vec<Level>,
        asks: Vec<Level>,
        depth: Option<usize>,
    }

    impl Model {
        fn set(side: &mut Vec<Level>, level: Level) {
            side.retain(|old| old.price != level.price);
            if !level.qty.is_zero() {
                side.push(level);
            }
        }

        fn apply(&mut self, snapshot: bool, bids: &[Level], asks: &[Level]) {
            if snapshot {
                self.bids.clear();
                self.asks.clear();
            }
            for &level in bids {
                Self::set(&mut self.bids, level);
            }
            for &level in asks {
                Self::set(&mut self.asks, level);
            }
            self.bids.sort_by_key(|level| std::cmp::Reverse(level.price));
            self.asks.sort_by_key(|level| level.price);
            if let Some(depth) = self.depth {
                self.bids.truncate(depth);
                self.asks.truncate(depth);
            }
        }
    }

    /// A price on a grid of 40 ticks written at scale 1 to 3 (so one price has several texts),
    /// and a quantity that is zero one time in four.
    fn arb_level() -> impl Strategy<Value = Level> {
        (0_i128..40, 1_u8..4, 0_i128..4, 1_i128..1000).prop_map(|(tick, scale, zero, qty)| {
            let price = Decimal::new((1000 + tick) * 10_i128.pow(u32::from(scale) - 1), scale);
            let qty = if zero == 0 { Decimal::new(0, scale) } else { Decimal::new(qty, 3) };
            Level { price, qty }
        })
    }

    fn arb_update() -> impl Strategy<Value = (bool, Vec<Level>, Vec<Level>)> {
        (
            prop::bool::weighted(0.1),
            prop::collection::vec(arb_level(), 0..12),
            prop::collection::vec(arb_level(), 0..12),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn equals_the_naive_model(
            depth in prop::option::of(1_usize..8),
            updates in prop::collection::vec(arb_update(), 1..40),
        ) {
            let mut book = depth.map_or_else(OrderBook::new, OrderBook::with_depth_limit);
            let mut model = Model { depth, ..Model::default() };
            for (snapshot, bids, asks) in &updates {
                if *snapshot {
                    book.replace(bids, asks);
                } else {
                    book.apply_levels(bids, asks);
                }
                model.apply(*snapshot, bids, asks);
                // Text too: the stored level is the one last sent.
                prop_assert_eq!(texts(book.bids()), texts(model.bids.iter().copied()));
                prop_assert_eq!(texts(book.asks()), texts(model.asks.iter().copied()));
                prop_assert_eq!(book.best_bid(), model.bids.first().copied());
                prop_assert_eq!(book.best_ask(), model.asks.first().copied());
                prop_assert_eq!(texts(book.top_bids(3)), texts(model.bids.iter().take(3).copied()));
                prop_assert_eq!(texts(book.top_asks(3)), texts(model.asks.iter().take(3).copied()));
                let crossed = matches!((model.bids.first(), model.asks.first()), (Some(b), Some(a)) if b.price >= a.price);
                prop_assert_eq!(book.is_crossed(), crossed);
            }
        }

        #[test]
        fn single_level_setters_equal_the_model(
            depth in prop::option::of(1_usize..8),
            ops in prop::collection::vec((any::<bool>(), arb_level()), 1..80),
        ) {
            let mut book = depth.map_or_else(OrderBook::new, OrderBook::with_depth_limit);
            let mut model = Model { depth, ..Model::default() };
            for (is_bid, level) in ops {
                if is_bid {
                    book.set_bid(level);
                    model.apply(false, &[level], &[]);
                } else {
                    book.set_ask(level);
                    model.apply(false, &[], &[level]);
                }
                prop_assert_eq!(texts(book.bids()), texts(model.bids.iter().copied()));
                prop_assert_eq!(texts(book.asks()), texts(model.asks.iter().copied()));
            }
        }

        #[test]
        fn mid_is_exact(a in 1_i128..1_000_000, b in 1_i128..1_000_000, sa in 0_u8..6, sb in 0_u8..6) {
            let mut book = OrderBook::new();
            book.apply_levels(&[Level { price: Decimal::new(a, sa), qty: Decimal::new(1, 0) }],
                              &[Level { price: Decimal::new(b, sb), qty: Decimal::new(1, 0) }]);
            let mid = book.mid().unwrap();
            // 2 × mid == bid + ask, compared at a common scale.
            let scale = sa.max(sb).max(mid.scale());
            let twice = mid.checked_rescale(scale).unwrap().mantissa() * 2;
            let sum = Decimal::new(a, sa).checked_rescale(scale).unwrap().mantissa()
                + Decimal::new(b, sb).checked_rescale(scale).unwrap().mantissa();
            prop_assert_eq!(twice, sum);
        }
    }
}
