//! [`BookKeeper`]: the books of one connection's markets, and what to do when one breaks.
//!
//! The keeper sits between a connection's decoded [`BookUpdate`]s and the user. Each update
//! goes to its market's [`BookSync`]; the [`Verdict`] says what the user gets:
//! - an applied update is handed on as it came ([`Verdict::Deliver`]); a Binance book made
//!   valid by its REST snapshot and the buffered diffs after it is handed on as one snapshot of
//!   the whole book ([`Verdict::DeliverSnapshot`]), so whoever mirrors the stream gets exactly
//!   snapshot, deltas, …;
//! - what the book did not apply (buffered, already covered, awaiting a snapshot) is withheld:
//!   no one receives a delta of a book that cannot be vouched for;
//! - a book that breaks yields a [`BookInvalid`] in the update's place.
//!
//! Resync: a broken book asks for a fresh snapshot ([`ResyncOrder`]: resubscribe, or fetch
//! Binance's REST snapshot), and so does a Binance book that starts buffering without one.
//! The owner carries the orders out ([`BookKeeper::take_orders`]) and reports a failed fetch
//! ([`BookKeeper::snapshot_failed`]). A per-book breaker bounds the resyncs: at most
//! [`ResyncPolicy::max_resyncs`] within [`ResyncPolicy::window_ns`]; beyond that the next waits
//! until the window allows it, and the [`BookInvalid`] says how long (`retry_in_ns`). An order
//! that brought no snapshot within [`ResyncPolicy::timeout_ns`] is given again.
//!
//! Connection-wide facts:
//! - a lost connection invalidates every valid book ([`Invalidity::Disconnected`]); the
//!   reconnect's resubscription brings the snapshots (Binance books order a fetch once the new
//!   connection's diffs arrive);
//! - Coinbase numbers every message of a connection, so a gap seen by one book may have been a
//!   message of another: a Coinbase gap invalidates every book of the connection.

use std::collections::VecDeque;

use super::sync::{BookCounters, BookSync, Invalidity, Outcome, Resync, SyncRule};
use crate::model::{BookUpdate, MarketRef, Venue};

/// When resyncs are ordered, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResyncPolicy {
    /// Resyncs of one book allowed within [`window_ns`](Self::window_ns).
    pub max_resyncs: usize,
    /// The breaker's window.
    pub window_ns: u64,
    /// An order that brought no snapshot in this long is given again.
    pub timeout_ns: u64,
}

impl Default for ResyncPolicy {
    fn default() -> Self {
        Self { max_resyncs: 5, window_ns: 60_000_000_000, timeout_ns: 10_000_000_000 }
    }
}

/// How the keeper keeps books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeeperConfig {
    /// Levels kept a side; `None`: the venue's subscribed depth
    /// ([`SyncRule::default_depth`]). A smaller window than the venue's is refused for
    /// checksum venues (the checksum covers the top 25 or 10 levels).
    pub depth: Option<usize>,
    /// A valid book silent for longer is marked stale; `None`: never.
    pub stale_after_ns: Option<u64>,
    /// The resync breaker.
    pub resync: ResyncPolicy,
}

/// A book that can no longer be trusted, as the user is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookInvalid {
    /// Venue and symbol.
    pub market: MarketRef,
    /// Why.
    pub reason: Invalidity,
    /// How the book gets a fresh snapshot: `None` when the reconnect brings it.
    pub resync: Option<Resync>,
    /// Nanoseconds until the resync is attempted: 0 now, more when the breaker holds it back.
    pub retry_in_ns: u64,
    /// When it was found (monotonic ns).
    pub time_ns: u64,
}

/// What the owner should do to get a book a fresh snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResyncOrder {
    /// Venue and symbol.
    pub market: MarketRef,
    /// Resubscribe, or fetch the REST snapshot.
    pub action: Resync,
    /// Wait this long first (the breaker's hold), ns.
    pub delay_ns: u64,
}

/// What the user gets for one update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The update, as it came: it was applied and the book is valid.
    Deliver,
    /// This snapshot of the whole book instead of the update (Binance, made valid).
    DeliverSnapshot(BookUpdate),
    /// Nothing: the update was buffered, already covered, or not applied to a book awaiting a
    /// snapshot.
    Withhold,
    /// The book (first) and, for a connection-wide gap, others became invalid.
    Invalid(Vec<BookInvalid>),
}

/// Totals over a keeper's books, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeeperTotals {
    /// Books kept.
    pub books: usize,
    /// Books valid now.
    pub valid: usize,
    /// Every book's counters, summed.
    pub counters: BookCounters,
    /// Nanoseconds spent invalid, running periods included.
    pub time_invalid_ns: u64,
    /// Resyncs ordered.
    pub resync_orders: u64,
    /// Resyncs the breaker held back.
    pub resyncs_held: u64,
}

#[derive(Debug)]
struct Entry {
    market: MarketRef,
    sync: BookSync,
    /// When a resync was ordered and no snapshot has come since.
    ordered_at_ns: Option<u64>,
    /// Times of the recent orders, oldest first, at most `max_resyncs`.
    recent_orders: VecDeque<u64>,
}

/// The books of one connection's markets; see the [module documentation](self).
#[derive(Debug, Default)]
pub struct BookKeeper {
    config: KeeperConfig,
    /// By market id: ids are small and dense (interned), so a table beats a map.
    entries: Vec<Option<Entry>>,
    orders: Vec<ResyncOrder>,
    resync_orders: u64,
    resyncs_held: u64,
}

/// The rule for `venue`'s books: a built-in venue's own, a registered venue's from its
/// traits; `None` if its books are not kept.
#[must_use]
pub const fn rule_for(venue: Venue) -> Option<SyncRule> {
    match venue {
        Venue::Binance => Some(SyncRule::Binance),
        Venue::Bybit => Some(SyncRule::Bybit),
        Venue::Okx => Some(SyncRule::Okx),
        Venue::Coinbase => Some(SyncRule::Coinbase),
        Venue::Kraken => Some(SyncRule::Kraken),
        Venue::Registered(venue) => venue.traits().book_sync,
    }
}

impl BookKeeper {
    /// A keeper with no books yet; a market's book starts with its first update.
    #[must_use]
    pub fn new(config: KeeperConfig) -> Self {
        Self { config, ..Self::default() }
    }

    /// The book of `market_id`, if it has had an update.
    #[must_use]
    pub fn book(&self, market_id: u32) -> Option<&BookSync> {
        self.entries.get(market_id as usize)?.as_ref().map(|entry| &entry.sync)
    }

    /// Forgets `market_id`'s book (its subscription ended); a later update starts a new one.
    pub fn forget(&mut self, market_id: u32) {
        if let Some(slot) = self.entries.get_mut(market_id as usize) {
            *slot = None;
        }
    }

    /// The resyncs ordered since the last call, for the owner to carry out.
    pub fn take_orders(&mut self) -> Vec<ResyncOrder> {
        std::mem::take(&mut self.orders)
    }

    /// Whether resyncs wait to be taken (cheap; checked after every batch).
    #[must_use]
    pub fn has_orders(&self) -> bool {
        !self.orders.is_empty()
    }

    fn entry(&mut self, market: &MarketRef) -> Option<&mut Entry> {
        self.entries.get_mut(market.id as usize)?.as_mut()
    }

    fn entry_or_insert(&mut self, market: &MarketRef, rule: SyncRule) -> &mut Entry {
        let index = market.id as usize;
        if self.entries.len() <= index {
            self.entries.resize_with(index + 1, || None);
        }
        // A registered venue's depth window is not known: its books keep every level sent
        // unless the owner sets one.
        let venue_depth = if market.venue.is_builtin() { rule.default_depth() } else { None };
        let depth = self.config.depth.or(venue_depth);
        self.entries[index].get_or_insert_with(|| Entry {
            market: market.clone(),
            sync: BookSync::with_depth_limit(rule, depth),
            ordered_at_ns: None,
            recent_orders: VecDeque::new(),
        })
    }

    /// One update of a market's book; see [`Verdict`]. A venue whose books are not kept
    /// ([`rule_for`] is `None`) has its updates handed on as they came, and no book.
    pub fn apply(&mut self, update: &BookUpdate) -> Verdict {
        let Some(rule) = rule_for(update.market.venue) else { return Verdict::Deliver };
        let now_ns = update.receive_time_ns;
        let policy = self.config.resync;
        let entry = self.entry_or_insert(&update.market, rule);
        let was_valid = entry.sync.is_valid();
        let outcome = entry.sync.apply(update);
        if update.is_snapshot {
            // The snapshot answers the order; if it did not make the book valid, the verdict
            // below orders another.
            entry.ordered_at_ns = None;
        }
        match outcome {
            Outcome::Applied if update.is_snapshot && entry.sync.rule() == SyncRule::Binance => {
                Verdict::DeliverSnapshot(whole_book(&entry.sync, update))
            }
            Outcome::Applied => Verdict::Deliver,
            Outcome::Buffered => {
                // A Binance book without a snapshot (first subscription, reconnect, gap): fetch
                // one unless a fetch is under way.
                if entry.ordered_at_ns.is_none() {
                    let market = entry.market.clone();
                    self.order(&market, Resync::FetchSnapshot, now_ns, policy);
                }
                Verdict::Withhold
            }
            Outcome::Ignored | Outcome::AwaitingSnapshot => Verdict::Withhold,
            Outcome::Invalid { reason, resync } => {
                let market = update.market.clone();
                let mut invalid = vec![self.invalid(&market, reason, Some(resync), now_ns)];
                if was_valid && matches!(reason, Invalidity::Gap { .. }) && market.venue == Venue::Coinbase {
                    invalid.extend(self.invalidate_others(&market, reason, now_ns));
                }
                Verdict::Invalid(invalid)
            }
        }
    }

    /// Every other valid book of the connection, invalid for `reason` (Coinbase's
    /// connection-wide sequence).
    fn invalidate_others(&mut self, market: &MarketRef, reason: Invalidity, now_ns: u64) -> Vec<BookInvalid> {
        let others: Vec<MarketRef> = self
            .entries
            .iter()
            .flatten()
            .filter(|entry| entry.market.id != market.id && entry.sync.is_valid())
            .map(|entry| entry.market.clone())
            .collect();
        others
            .into_iter()
            .filter_map(|other| {
                let entry = self.entry(&other)?;
                let Some(Outcome::Invalid { resync, .. }) = entry.sync.invalidate_for(reason, now_ns) else {
                    return None;
                };
                Some(self.invalid(&other, reason, Some(resync), now_ns))
            })
            .collect()
    }

    /// The connection was lost: every valid book becomes invalid; the reconnect resyncs them.
    pub fn disconnect(&mut self, now_ns: u64) -> Vec<BookInvalid> {
        let mut invalid = Vec::new();
        for entry in self.entries.iter_mut().flatten() {
            // Orders of the old connection are void: the new one brings its own snapshots.
            entry.ordered_at_ns = None;
            if let Some(Outcome::Invalid { reason, .. }) = entry.sync.disconnect(now_ns) {
                invalid.push(BookInvalid {
                    market: entry.market.clone(),
                    reason,
                    resync: None,
                    retry_in_ns: 0,
                    time_ns: now_ns,
                });
            }
        }
        self.orders.clear();
        invalid
    }

    /// The timer's check: valid books silent for longer than the configured limit become
    /// stale (and resync); resyncs that brought no snapshot in time are ordered again.
    pub fn check(&mut self, now_ns: u64) -> Vec<BookInvalid> {
        let policy = self.config.resync;
        let stale_after = self.config.stale_after_ns;
        let mut stale = Vec::new();
        let mut overdue = Vec::new();
        for entry in self.entries.iter_mut().flatten() {
            if let Some(limit) = stale_after
                && let Some(Outcome::Invalid { reason, resync }) = entry.sync.check_stale(now_ns, limit)
            {
                stale.push((entry.market.clone(), reason, resync));
            } else if entry.ordered_at_ns.is_some_and(|at| now_ns.saturating_sub(at) > policy.timeout_ns) {
                overdue.push((entry.market.clone(), entry.sync.rule().resync()));
            }
        }
        for (market, action) in overdue {
            if let Some(entry) = self.entry(&market) {
                entry.ordered_at_ns = None;
            }
            self.order(&market, action, now_ns, policy);
        }
        stale
            .into_iter()
            .map(|(market, reason, resync)| self.invalid(&market, reason, Some(resync), now_ns))
            .collect()
    }

    /// A REST snapshot fetch for `market_id` failed: order another (the breaker paces them).
    pub fn snapshot_failed(&mut self, market_id: u32, now_ns: u64) {
        let policy = self.config.resync;
        let Some(Some(entry)) = self.entries.get_mut(market_id as usize) else { return };
        entry.ordered_at_ns = None;
        let market = entry.market.clone();
        self.order(&market, Resync::FetchSnapshot, now_ns, policy);
    }

    /// Totals for metrics, time invalid up to `now_ns`.
    #[must_use]
    pub fn totals(&self, now_ns: u64) -> KeeperTotals {
        let mut totals = KeeperTotals {
            resync_orders: self.resync_orders,
            resyncs_held: self.resyncs_held,
            ..KeeperTotals::default()
        };
        for entry in self.entries.iter().flatten() {
            let c = entry.sync.counters();
            let sum = &mut totals.counters;
            sum.updates_applied += c.updates_applied;
            sum.gaps += c.gaps;
            sum.checksum_failures += c.checksum_failures;
            sum.crossed += c.crossed;
            sum.stale += c.stale;
            sum.resyncs += c.resyncs;
            sum.invalid_ns += c.invalid_ns;
            totals.books += 1;
            totals.valid += usize::from(entry.sync.is_valid());
            totals.time_invalid_ns += entry.sync.time_invalid_ns(now_ns);
        }
        totals
    }

    /// A [`BookInvalid`] for `market`, ordering its resync (if any) through the breaker.
    fn invalid(
        &mut self,
        market: &MarketRef,
        reason: Invalidity,
        resync: Option<Resync>,
        now_ns: u64,
    ) -> BookInvalid {
        let policy = self.config.resync;
        let retry_in_ns = resync.map_or(0, |action| self.order(market, action, now_ns, policy));
        BookInvalid { market: market.clone(), reason, resync, retry_in_ns, time_ns: now_ns }
    }

    /// Orders a resync of `market` unless one is under way; returns its delay (the breaker's
    /// hold).
    fn order(&mut self, market: &MarketRef, action: Resync, now_ns: u64, policy: ResyncPolicy) -> u64 {
        let Some(entry) = self.entry(market) else { return 0 };
        if entry.ordered_at_ns.is_some() {
            return 0;
        }
        let recent = &mut entry.recent_orders;
        while recent.front().is_some_and(|&at| now_ns.saturating_sub(at) >= policy.window_ns) {
            recent.pop_front();
        }
        // Full window: the next order may go once the oldest leaves it.
        let delay_ns = if recent.len() >= policy.max_resyncs.max(1) {
            recent.front().map_or(0, |&oldest| (oldest + policy.window_ns).saturating_sub(now_ns))
        } else {
            0
        };
        let due_ns = now_ns + delay_ns;
        recent.push_back(due_ns);
        if recent.len() > policy.max_resyncs.max(1) {
            recent.pop_front();
        }
        entry.ordered_at_ns = Some(due_ns);
        self.resync_orders += 1;
        self.resyncs_held += u64::from(delay_ns > 0);
        self.orders.push(ResyncOrder { market: market.clone(), action, delay_ns });
        delay_ns
    }
}

/// The whole valid book as one snapshot update, stamped like `update`.
fn whole_book(sync: &BookSync, update: &BookUpdate) -> BookUpdate {
    BookUpdate {
        market: update.market.clone(),
        is_snapshot: true,
        bids: sync.book().bids().collect(),
        asks: sync.book().asks().collect(),
        first_sequence: None,
        last_sequence: sync.last_sequence(),
        prev_sequence: None,
        checksum: None,
        exchange_time_ns: update.exchange_time_ns,
        receive_time_ns: update.receive_time_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::market::intern;
    use crate::model::{Decimal, Level};

    fn level(price: &str, qty: &str) -> Level {
        Level { price: Decimal::parse(price).unwrap(), qty: Decimal::parse(qty).unwrap() }
    }

    /// An update of `market` at time `now`: `(first, last, prev)` sequence fields.
    fn update(
        market: &MarketRef,
        snapshot: bool,
        seq: (Option<u64>, Option<u64>, Option<u64>),
        bids: &[(&str, &str)],
        asks: &[(&str, &str)],
        now: u64,
    ) -> BookUpdate {
        BookUpdate {
            market: market.clone(),
            is_snapshot: snapshot,
            bids: bids.iter().map(|&(p, q)| level(p, q)).collect(),
            asks: asks.iter().map(|&(p, q)| level(p, q)).collect(),
            first_sequence: seq.0,
            last_sequence: seq.1,
            prev_sequence: seq.2,
            checksum: None,
            exchange_time_ns: 0,
            receive_time_ns: now,
        }
    }

    const SECOND: u64 = 1_000_000_000;

    fn keeper() -> BookKeeper {
        BookKeeper::new(KeeperConfig {
            depth: None,
            stale_after_ns: Some(5 * SECOND),
            resync: ResyncPolicy { max_resyncs: 2, window_ns: 60 * SECOND, timeout_ns: 10 * SECOND },
        })
    }

    #[test]
    fn binance_fetches_once_then_hands_on_the_whole_book_then_deltas() {
        let btc = intern(Venue::Binance, None, "BTCUSDT").unwrap();
        let mut keeper = keeper();
        let diff = |first, last, bid: &str, now| {
            update(&btc, false, (Some(first), Some(last), None), &[(bid, "1")], &[], now)
        };
        assert_eq!(keeper.apply(&diff(10, 12, "99", 1)), Verdict::Withhold);
        assert_eq!(keeper.apply(&diff(13, 14, "98", 2)), Verdict::Withhold);
        let orders = keeper.take_orders();
        assert_eq!(
            orders,
            [ResyncOrder { market: btc.clone(), action: Resync::FetchSnapshot, delay_ns: 0 }],
            "one fetch"
        );
        let snapshot = update(&btc, true, (None, Some(12), None), &[("97", "5")], &[("101", "1")], 3);
        let Verdict::DeliverSnapshot(whole) = keeper.apply(&snapshot) else {
            panic!("{:?}", keeper.book(btc.id))
        };
        let prices: Vec<String> = whole.bids.iter().map(|l| l.price.to_string()).collect();
        assert_eq!(prices, ["98", "97"], "the diff after lastUpdateId is in, the covered one is not");
        assert_eq!((whole.last_sequence, whole.is_snapshot), (Some(14), true));
        assert_eq!(keeper.apply(&diff(15, 15, "96", 4)), Verdict::Deliver);
        assert_eq!(keeper.apply(&diff(14, 15, "96", 4)), Verdict::Withhold, "covered already");
        let Verdict::Invalid(invalid) = keeper.apply(&diff(17, 18, "95", 5)) else { panic!() };
        assert_eq!(invalid.len(), 1);
        assert_eq!(
            (invalid[0].reason, invalid[0].resync, invalid[0].retry_in_ns),
            (Invalidity::Gap { expected: 16, got: 17 }, Some(Resync::FetchSnapshot), 0)
        );
        assert_eq!(keeper.apply(&diff(19, 19, "94", 6)), Verdict::Withhold);
        assert_eq!(keeper.take_orders().len(), 1, "the gap's fetch, not one per buffered diff");
        assert!(!keeper.book(btc.id).unwrap().is_valid());
    }

    #[test]
    fn a_snapshot_older_than_the_stream_orders_another_fetch() {
        let btc = intern(Venue::Binance, None, "ETHUSDT").unwrap();
        let mut keeper = keeper();
        keeper.apply(&update(&btc, false, (Some(50), Some(52), None), &[("9", "1")], &[], 1));
        keeper.take_orders();
        let old = update(&btc, true, (None, Some(40), None), &[("8", "1")], &[("10", "1")], 2);
        let Verdict::Invalid(invalid) = keeper.apply(&old) else { panic!() };
        assert!(matches!(invalid[0].reason, Invalidity::SnapshotTooOld { .. }));
        assert_eq!(keeper.take_orders().len(), 1);
    }

    #[test]
    fn the_breaker_holds_back_resyncs_beyond_its_window_and_says_so() {
        let eth = intern(Venue::Bybit, None, "ETHUSDT").unwrap();
        let mut keeper = keeper();
        let mut delays = Vec::new();
        for round in 0..4_u64 {
            let now = round * SECOND;
            keeper.apply(&update(&eth, true, (None, Some(1), None), &[("1", "1")], &[("2", "1")], now));
            let Verdict::Invalid(invalid) =
                keeper.apply(&update(&eth, false, (None, Some(3), None), &[], &[], now + 1))
            else {
                panic!()
            };
            delays.push(invalid[0].retry_in_ns);
            assert_eq!(keeper.take_orders()[0].delay_ns, invalid[0].retry_in_ns);
        }
        // Two per minute: ordered at 0 s and 1 s, the third waits until the first leaves the
        // window (60 s), the fourth until the second does (61 s).
        assert_eq!(delays, [0, 0, 58 * SECOND, 58 * SECOND]);
        let totals = keeper.totals(4 * SECOND);
        assert_eq!((totals.resync_orders, totals.resyncs_held, totals.counters.gaps), (4, 2, 4));
    }

    #[test]
    fn a_coinbase_gap_invalidates_every_book_of_the_connection() {
        let btc = intern(Venue::Coinbase, None, "BTC-USD").unwrap();
        let eth = intern(Venue::Coinbase, None, "ETH-USD").unwrap();
        let mut keeper = keeper();
        keeper.apply(&update(&btc, true, (None, Some(1), Some(0)), &[("1", "1")], &[("2", "1")], 1));
        keeper.apply(&update(&eth, true, (None, Some(2), Some(1)), &[("1", "1")], &[("2", "1")], 1));
        // Message 3 (an ETH update, say) was lost; BTC's next update shows the gap.
        let Verdict::Invalid(invalid) =
            keeper.apply(&update(&btc, false, (None, Some(4), Some(2)), &[], &[], 2))
        else {
            panic!()
        };
        let markets: Vec<&str> = invalid.iter().map(|i| &*i.market.native).collect();
        assert_eq!(markets, ["BTC-USD", "ETH-USD"]);
        assert!(invalid.iter().all(|i| i.resync == Some(Resync::Resubscribe)));
        assert_eq!(keeper.take_orders().len(), 2);
        assert_eq!(keeper.totals(3).valid, 0);
    }

    #[test]
    fn a_disconnect_invalidates_valid_books_and_voids_orders() {
        let sol = intern(Venue::Okx, None, "SOL-USDT").unwrap();
        let ada = intern(Venue::Okx, None, "ADA-USDT").unwrap();
        let mut keeper = keeper();
        keeper.apply(&update(&sol, true, (None, Some(5), None), &[("1", "1")], &[("2", "1")], 1));
        assert_eq!(
            keeper.apply(&update(&ada, false, (None, Some(5), Some(4)), &[], &[], 1)),
            Verdict::Withhold,
            "no snapshot yet"
        );
        let invalid = keeper.disconnect(7);
        assert_eq!(invalid.len(), 1, "the pending book is not news");
        assert_eq!((invalid[0].reason, invalid[0].resync), (Invalidity::Disconnected, None));
        assert!(keeper.take_orders().is_empty());
        assert_eq!(
            keeper.apply(&update(&sol, false, (None, Some(6), Some(5)), &[], &[], 8)),
            Verdict::Withhold
        );
        assert_eq!(
            keeper.apply(&update(&sol, true, (None, Some(9), None), &[("1", "1")], &[("2", "1")], 9)),
            Verdict::Deliver
        );
        assert_eq!(keeper.book(sol.id).unwrap().counters().resyncs, 1);
    }

    fn registered(name: &str, book_sync: Option<SyncRule>) -> Venue {
        let symbol_separator = crate::model::SymbolSeparator::Underscore;
        Venue::register(name, crate::model::VenueTraits { symbol_separator, book_sync }).unwrap()
    }

    #[test]
    fn a_snapshot_then_range_venue_delivers_in_order_and_resubscribes_on_a_gap() {
        let gate = registered("keeper-gate", Some(SyncRule::SnapshotThenRange));
        let btc = intern(gate, None, "BTC_USDT").unwrap();
        let mut keeper = keeper();
        let delta =
            |first, last, now| update(&btc, false, (Some(first), Some(last), None), &[("99", "1")], &[], now);
        let snapshot =
            |last, now| update(&btc, true, (None, Some(last), None), &[("98", "1")], &[("101", "1")], now);
        assert_eq!(keeper.apply(&delta(1, 2, 1)), Verdict::Withhold, "no snapshot yet");
        assert!(keeper.take_orders().is_empty(), "the subscription brings the snapshot");
        assert_eq!(keeper.apply(&snapshot(100, 2)), Verdict::Deliver);
        assert_eq!(keeper.apply(&delta(101, 103, 3)), Verdict::Deliver);
        assert_eq!(keeper.apply(&delta(104, 104, 4)), Verdict::Deliver);
        assert_eq!(keeper.apply(&delta(102, 104, 5)), Verdict::Withhold, "covered already");
        let Verdict::Invalid(invalid) = keeper.apply(&delta(106, 107, 6)) else { panic!() };
        assert_eq!(
            (invalid.len(), invalid[0].reason, invalid[0].resync),
            (1, Invalidity::Gap { expected: 105, got: 106 }, Some(Resync::Resubscribe))
        );
        assert_eq!(
            keeper.take_orders(),
            [ResyncOrder { market: btc.clone(), action: Resync::Resubscribe, delay_ns: 0 }]
        );
        assert_eq!(keeper.apply(&delta(108, 108, 7)), Verdict::Withhold, "not applied while invalid");
        assert_eq!(keeper.apply(&snapshot(200, 8)), Verdict::Deliver);
        assert_eq!(keeper.apply(&delta(201, 201, 9)), Verdict::Deliver);
        let book = keeper.book(btc.id).unwrap();
        assert_eq!((book.is_valid(), book.last_sequence(), book.counters().resyncs), (true, Some(201), 1));
    }

    #[test]
    fn a_registered_venue_can_follow_binances_mechanism() {
        let mexc = registered("keeper-mexc", Some(SyncRule::Binance));
        let btc = intern(mexc, None, "BTC_USDT").unwrap();
        let mut keeper = keeper();
        let diff = |first, last, bid: &str, now| {
            update(&btc, false, (Some(first), Some(last), None), &[(bid, "1")], &[], now)
        };
        assert_eq!(keeper.apply(&diff(10, 12, "99", 1)), Verdict::Withhold, "buffered");
        assert_eq!(keeper.apply(&diff(13, 14, "98", 2)), Verdict::Withhold, "buffered");
        assert_eq!(
            keeper.take_orders(),
            [ResyncOrder { market: btc.clone(), action: Resync::FetchSnapshot, delay_ns: 0 }]
        );
        // The REST snapshot's id 13 lies inside the second diff's range: it straddles.
        let rest = update(&btc, true, (None, Some(13), None), &[("97", "5")], &[("101", "1")], 3);
        let Verdict::DeliverSnapshot(whole) = keeper.apply(&rest) else { panic!() };
        let prices: Vec<String> = whole.bids.iter().map(|l| l.price.to_string()).collect();
        assert_eq!((prices, whole.last_sequence), (vec!["98".to_owned(), "97".to_owned()], Some(14)));
        assert_eq!(keeper.apply(&diff(15, 16, "96", 4)), Verdict::Deliver);
        let Verdict::Invalid(invalid) = keeper.apply(&diff(18, 18, "95", 5)) else { panic!() };
        assert_eq!(invalid[0].resync, Some(Resync::FetchSnapshot));
        // A snapshot older than the buffered stream asks for another.
        let old = update(&btc, true, (None, Some(10), None), &[("97", "5")], &[("101", "1")], 6);
        keeper.take_orders();
        let Verdict::Invalid(invalid) = keeper.apply(&old) else { panic!() };
        assert_eq!(invalid[0].reason, Invalidity::SnapshotTooOld { last_update_id: 10, first_buffered: 18 });
        assert_eq!(keeper.take_orders().len(), 1);
    }

    #[test]
    fn a_registered_venue_without_a_rule_has_its_updates_handed_on_and_no_book() {
        let plain = registered("keeper-unkept", None);
        let btc = intern(plain, None, "BTC_USDT").unwrap();
        let mut keeper = keeper();
        let delta = update(&btc, false, (None, None, None), &[("1", "1")], &[], 1);
        assert_eq!(keeper.apply(&delta), Verdict::Deliver);
        assert!(keeper.book(btc.id).is_none());
        assert_eq!(keeper.totals(2).books, 0);
    }

    #[test]
    fn silent_books_go_stale_and_unanswered_resyncs_are_ordered_again() {
        let xbt = intern(Venue::Kraken, None, "BTC/USD").unwrap();
        let mut keeper = keeper();
        keeper.apply(&update(&xbt, true, (None, None, None), &[("1", "1")], &[("2", "1")], SECOND));
        assert!(keeper.check(5 * SECOND).is_empty());
        let stale = keeper.check(7 * SECOND);
        assert_eq!(stale.len(), 1);
        assert!(matches!(stale[0].reason, Invalidity::Stale { silent_ns } if silent_ns == 6 * SECOND));
        assert_eq!(keeper.take_orders().len(), 1);
        assert!(keeper.check(16 * SECOND).is_empty());
        assert!(keeper.take_orders().is_empty(), "within the timeout");
        assert!(keeper.check(18 * SECOND).is_empty(), "reported once");
        assert_eq!(keeper.take_orders().len(), 1, "no snapshot in 10 s: ordered again");
        keeper.forget(xbt.id);
        assert!(keeper.book(xbt.id).is_none());
    }
}
