//! [`BookSync`]: one market's [`OrderBook`] and the venue's rule for proving it, update by update.
//!
//! Each [`BookUpdate`] goes through [`BookSync::apply`], which returns an [`Outcome`]. The rules
//! (`PROTOCOLS.md` §1–5), one [`SyncRule`] per venue:
//! - **Binance**: diff events are buffered until the REST snapshot (a `BookUpdate` with
//!   `is_snapshot` and `last_sequence = lastUpdateId`) arrives; then events with
//!   `u <= lastUpdateId` are dropped and the first kept one must straddle `lastUpdateId + 1`
//!   (`U <= lastUpdateId + 1`), else the snapshot is older than the stream
//!   ([`Invalidity::SnapshotTooOld`]: fetch again). After that an event with `u <=` the book's
//!   id is ignored, and `U > id + 1` is a gap — the 2025-11 wording of Binance's procedure,
//!   which accepts overlapping events (absolute quantities make re-applying them exact); in
//!   normal operation it is exactly "each `U` is the previous `u + 1`".
//! - **Bybit**: a snapshot (also a re-sent one, and the `u = 1` one after a restart) replaces
//!   the book; each delta's `u` must be the previous `u + 1` (the continuity rule;
//!   `PROTOCOLS.md` §8 notes Bybit does not document it, the simulator follows it).
//! - **OKX**: each update's `prevSeqId` must equal the previous `seqId` (a smaller `seqId`
//!   after a maintenance reset is legal then); a non-zero `checksum` (the adapter maps OKX's
//!   current `0` to `None`) must equal the CRC32 of the top 25 levels
//!   ([`crate::venues::okx::checksum`]).
//! - **Kraken v2**: no sequence numbers; each update's checksum must equal the CRC32 of the top
//!   10 levels at the pair's precision. The adapter pads every level to that precision (from
//!   the `instrument` channel), so the book computes it from the levels as kept
//!   ([`crate::venues::kraken::checksum_as_sent`]) and needs no precision table. The book is
//!   kept to the subscribed depth (Kraken does not delete levels that leave it).
//! - **Coinbase**: `sequence_num` counts every message of the connection; the adapter puts the
//!   previous message's number in `prev_sequence`, so each update needs `last = prev + 1`.
//! - **Snapshot then range** (Gate.io v4 `spot.order_book_update`, a registered venue): the
//!   stream sends a full snapshot, then each delta's `U` must be the previous `u + 1`; a delta
//!   with `u <=` the book's id is already covered (ignored); anything else is a gap, and the
//!   book is resubscribed. Unlike Binance no overlap is accepted: the venue promises exact
//!   ranges, so an overlap means the stream is not what it claims.
//! - **Previous sequence**: OKX's `prevSeqId` chain without its checksum, for registered venues.
//!
//! Registered venues pick a rule by its mechanism name ([`SyncRule::mechanism`]): Binance's
//! (`rest_snapshot`), Bybit's (`snapshot_then_next`) and the two above; the checksum and
//! connection-wide rules stay their venue's.
//!
//! Every venue: after each update the book must not be crossed (best bid at or above best
//! ask). A gap, a checksum mismatch, a crossed book, a snapshot too old, or (when the owner
//! asks with [`BookSync::check_stale`]) a silent book marks the book invalid at once with the
//! typed reason ([`Outcome::Invalid`], with the [`Resync`] the venue needs). While invalid,
//! deltas are not applied ([`Outcome::AwaitingSnapshot`]; Binance buffers them for the next
//! snapshot) until a snapshot re-validates the book.
//!
//! Times are the updates' `receive_time_ns` (and `now_ns` given by the owner), on
//! [`crate::clock`]'s monotonic clock.

use std::collections::VecDeque;

use arrayvec::ArrayVec;

use super::OrderBook;
use crate::model::{BookUpdate, Decimal, Level};
use crate::venues::{kraken, okx};

/// Binance events held before the snapshot arrives; older ones are dropped first (the
/// straddle check then asks for a newer snapshot if needed).
pub const BINANCE_BUFFER_LIMIT: usize = 4096;

/// A venue's rule for proving its book.
///
/// Binance's, Bybit's and the two rules without a built-in venue are mechanisms any venue
/// can follow ([`is_generic`](Self::is_generic)); a registered venue names one by
/// [`mechanism`](Self::mechanism). OKX's, Kraken's and Coinbase's check what only their venue
/// sends (its checksum, its connection-wide numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncRule {
    /// `U`/`u` diff events over a REST snapshot (also MEXC's `fromVersion`/`toVersion`).
    Binance,
    /// Snapshot, then deltas whose `u` increases by one.
    Bybit,
    /// `seqId`/`prevSeqId` chain and the top-25 checksum when sent.
    Okx,
    /// The top-10 checksum at the pair's precision (the levels' own, as the adapter pads them).
    Kraken,
    /// Per-connection `sequence_num` without gaps.
    Coinbase,
    /// A snapshot in the stream, then `U`/`u` range deltas, each starting right after the
    /// previous one's end (Gate.io v4 `spot.order_book_update`).
    SnapshotThenRange,
    /// OKX's `prevSeqId` chain, without its checksum.
    PrevSequence,
}

impl SyncRule {
    /// The rules any venue may follow, by [`mechanism`](Self::mechanism) name.
    pub const GENERIC: [Self; 4] = [Self::Binance, Self::SnapshotThenRange, Self::Bybit, Self::PrevSequence];

    /// The mechanism's name: `"rest_snapshot"` (Binance's), `"snapshot_then_range"`,
    /// `"snapshot_then_next"` (Bybit's), `"prev_sequence"`; the venue's name for the
    /// venue-specific rules.
    #[must_use]
    pub const fn mechanism(self) -> &'static str {
        match self {
            Self::Binance => "rest_snapshot",
            Self::SnapshotThenRange => "snapshot_then_range",
            Self::Bybit => "snapshot_then_next",
            Self::PrevSequence => "prev_sequence",
            Self::Okx => "okx",
            Self::Kraken => "kraken",
            Self::Coinbase => "coinbase",
        }
    }

    /// The generic rule named `name` ([`mechanism`](Self::mechanism)).
    #[must_use]
    pub fn from_mechanism(name: &str) -> Option<Self> {
        Self::GENERIC.into_iter().find(|rule| rule.mechanism() == name)
    }

    /// Whether any venue may follow the rule: it checks nothing only one venue sends.
    #[must_use]
    pub const fn is_generic(self) -> bool {
        !matches!(self, Self::Okx | Self::Kraken | Self::Coinbase)
    }

    /// How an invalid book of this venue gets a fresh snapshot.
    #[must_use]
    pub const fn resync(self) -> Resync {
        match self {
            Self::Binance => Resync::FetchSnapshot,
            _ => Resync::Resubscribe,
        }
    }

    /// The depth window the adapters subscribe to, kept by the book: Bybit `orderbook.50`,
    /// OKX `books` (400 levels), Kraken `depth: 10`; Binance and Coinbase send full-depth
    /// diffs (no window).
    #[must_use]
    pub const fn default_depth(self) -> Option<usize> {
        match self {
            Self::Bybit => Some(50),
            Self::Okx => Some(400),
            Self::Kraken => Some(kraken::CHECKSUM_DEPTH),
            Self::Binance | Self::Coinbase | Self::SnapshotThenRange | Self::PrevSequence => None,
        }
    }
}

/// How to get a fresh snapshot for an invalid book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resync {
    /// Unsubscribe and subscribe the book again: the venue sends a snapshot (Bybit, OKX,
    /// Kraken, Coinbase).
    Resubscribe,
    /// Fetch the REST depth snapshot again, keeping the stream (Binance).
    FetchSnapshot,
}

/// Why a book is not to be trusted: what the user must see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Invalidity {
    /// Updates were missed: the next update id (Binance `U`, Bybit `u`, Coinbase
    /// `sequence_num`) or, for OKX, the `prevSeqId` expected, and the one received.
    #[error("sequence gap: expected {expected}, got {got}")]
    Gap {
        /// What continuity required.
        expected: u64,
        /// What arrived.
        got: u64,
    },
    /// The venue's checksum of its book differs from ours.
    #[error("checksum mismatch: venue sent {expected}, the book gives {got}")]
    ChecksumMismatch {
        /// The venue's value (OKX signed, Kraken unsigned 32-bit).
        expected: i64,
        /// Computed from our book.
        got: i64,
    },
    /// The best bid is at or above the best ask.
    #[error("crossed book: best bid {bid} >= best ask {ask}")]
    Crossed {
        /// Best bid price.
        bid: Decimal,
        /// Best ask price.
        ask: Decimal,
    },
    /// Binance: the first buffered event after the snapshot starts after `lastUpdateId + 1`,
    /// so the snapshot predates the stream: fetch a newer one.
    #[error(
        "snapshot too old: lastUpdateId {last_update_id}, first buffered event starts at {first_buffered}"
    )]
    SnapshotTooOld {
        /// The snapshot's `lastUpdateId`.
        last_update_id: u64,
        /// The first kept event's `U`.
        first_buffered: u64,
    },
    /// A delta lacks the sequence field the venue's rule needs (an adapter bug, or a venue
    /// change).
    #[error("update without the sequence number the venue's rule needs")]
    MissingSequence,
    /// The connection carrying the book was lost: updates may be missing until the next
    /// connection's snapshot.
    #[error("the connection was lost")]
    Disconnected,
    /// No update for longer than the owner allows.
    #[error("stale book: no update for {silent_ns} ns")]
    Stale {
        /// Time since the last update.
        silent_ns: u64,
    },
}

/// What one update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The update was applied and the book is valid.
    Applied,
    /// Binance: held until the snapshot arrives (the owner fetches it: [`Resync::FetchSnapshot`]).
    Buffered,
    /// Binance, snapshot-then-range: an event the book already covers (`u <=` its id):
    /// ignored.
    Ignored,
    /// The book became invalid with this update; the owner tells the user and resyncs.
    Invalid {
        /// Why.
        reason: Invalidity,
        /// How to get a new snapshot.
        resync: Resync,
    },
    /// The book is invalid, or has no snapshot yet: the delta was not applied.
    AwaitingSnapshot,
}

/// Whether the book can be trusted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// No snapshot yet.
    Pending,
    /// Proven by every check so far.
    Valid,
    /// Not to be trusted since `since_ns`.
    Invalid {
        /// Why.
        reason: Invalidity,
        /// When it became invalid (monotonic ns).
        since_ns: u64,
    },
}

/// Counts over the book's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookCounters {
    /// Snapshots and deltas applied.
    pub updates_applied: u64,
    /// Sequence gaps (including snapshots too old for the stream).
    pub gaps: u64,
    /// Checksum mismatches.
    pub checksum_failures: u64,
    /// Crossed books.
    pub crossed: u64,
    /// Books found stale.
    pub stale: u64,
    /// Snapshots that re-validated an invalid book.
    pub resyncs: u64,
    /// Nanoseconds spent invalid, over finished invalid periods (see
    /// [`BookSync::time_invalid_ns`] for the running one).
    pub invalid_ns: u64,
}

/// One market's book and the venue's rule that proves it.
#[derive(Debug, Clone)]
pub struct BookSync {
    rule: SyncRule,
    book: OrderBook,
    validity: Validity,
    /// The last update id applied (Binance `u`, Bybit `u`, OKX `seqId`, Coinbase
    /// `sequence_num`).
    last_sequence: Option<u64>,
    /// Binance events waiting for a snapshot.
    buffer: VecDeque<BookUpdate>,
    counters: BookCounters,
    last_update_ns: u64,
}

impl BookSync {
    /// A book for `rule` with the venue's [default depth window](SyncRule::default_depth).
    #[must_use]
    pub fn new(rule: SyncRule) -> Self {
        Self::with_depth_limit(rule, rule.default_depth())
    }

    /// A book for `rule` keeping at most `depth` levels a side (`None`: all).
    #[must_use]
    pub fn with_depth_limit(rule: SyncRule, depth: Option<usize>) -> Self {
        Self {
            rule,
            book: depth.map_or_else(OrderBook::new, OrderBook::with_depth_limit),
            validity: Validity::Pending,
            last_sequence: None,
            buffer: VecDeque::new(),
            counters: BookCounters::default(),
            last_update_ns: 0,
        }
    }

    /// The rule.
    #[must_use]
    pub const fn rule(&self) -> SyncRule {
        self.rule
    }

    /// The book as built so far; check [`is_valid`](Self::is_valid) before trusting it.
    #[must_use]
    pub const fn book(&self) -> &OrderBook {
        &self.book
    }

    /// Whether the book is proven (has a snapshot and failed no check since).
    #[must_use]
    pub const fn is_valid(&self) -> bool {
        matches!(self.validity, Validity::Valid)
    }

    /// Pending, valid, or invalid with the reason and since when.
    #[must_use]
    pub const fn validity(&self) -> Validity {
        self.validity
    }

    /// The last update id applied, if the venue numbers updates.
    #[must_use]
    pub const fn last_sequence(&self) -> Option<u64> {
        self.last_sequence
    }

    /// The counters.
    #[must_use]
    pub const fn counters(&self) -> BookCounters {
        self.counters
    }

    /// Binance events waiting for a snapshot.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Nanoseconds spent invalid up to `now_ns`, the running period included.
    #[must_use]
    pub const fn time_invalid_ns(&self, now_ns: u64) -> u64 {
        match self.validity {
            Validity::Invalid { since_ns, .. } => self.counters.invalid_ns + now_ns.saturating_sub(since_ns),
            _ => self.counters.invalid_ns,
        }
    }

    /// Applies one update under the venue's rule; see the [module documentation](self).
    pub fn apply(&mut self, update: &BookUpdate) -> Outcome {
        if update.is_snapshot {
            return self.on_snapshot(update);
        }
        if self.rule == SyncRule::Binance {
            return self.on_binance_event(update);
        }
        if !self.is_valid() {
            return Outcome::AwaitingSnapshot;
        }
        match self.check_sequence(update) {
            Ok(Continuity::Next) => self.apply_delta(update),
            Ok(Continuity::Covered) => Outcome::Ignored,
            Err(reason) => self.invalidate(reason, update.receive_time_ns),
        }
    }

    /// Marks a valid book invalid if nothing arrived for more than `max_silence_ns` before
    /// `now_ns` (a venue that stops sending without closing). Call it from a timer.
    pub fn check_stale(&mut self, now_ns: u64, max_silence_ns: u64) -> Option<Outcome> {
        let silent_ns = now_ns.saturating_sub(self.last_update_ns);
        (self.is_valid() && silent_ns > max_silence_ns)
            .then(|| self.invalidate(Invalidity::Stale { silent_ns }, now_ns))
    }

    /// Marks a valid book invalid for a reason found outside it (a connection-wide gap);
    /// `None` if it was not valid.
    pub fn invalidate_for(&mut self, reason: Invalidity, now_ns: u64) -> Option<Outcome> {
        self.is_valid().then(|| self.invalidate(reason, now_ns))
    }

    /// When the last update was applied (monotonic ns; 0: never).
    #[must_use]
    pub const fn last_update_ns(&self) -> u64 {
        self.last_update_ns
    }

    /// The connection was lost: a valid book becomes invalid ([`Invalidity::Disconnected`]);
    /// events buffered from the old connection are dropped either way. The next connection's
    /// snapshot re-validates the book.
    pub fn disconnect(&mut self, now_ns: u64) -> Option<Outcome> {
        self.buffer.clear();
        self.is_valid().then(|| self.invalidate(Invalidity::Disconnected, now_ns))
    }

    /// Forgets the book and its buffer (a new connection): pending until the next snapshot.
    /// An invalid period ends here for the counters.
    pub fn reset(&mut self, now_ns: u64) {
        self.close_invalid_period(now_ns);
        self.book.clear();
        self.buffer.clear();
        self.last_sequence = None;
        self.validity = Validity::Pending;
    }

    fn on_snapshot(&mut self, update: &BookUpdate) -> Outcome {
        let now_ns = update.receive_time_ns;
        let was_invalid = matches!(self.validity, Validity::Invalid { .. });
        self.book.replace(&update.bids, &update.asks);
        self.last_sequence = update.last_sequence;
        self.last_update_ns = now_ns;
        self.counters.updates_applied += 1;
        if let Err(reason) = self.verify(update) {
            return self.invalidate(reason, now_ns);
        }
        self.close_invalid_period(now_ns);
        if was_invalid {
            self.counters.resyncs += 1;
        }
        self.validity = Validity::Valid;
        if self.rule == SyncRule::Binance {
            return self.drain_binance_buffer(update);
        }
        Outcome::Applied
    }

    /// Applies the buffered events after a Binance snapshot: drop what it covers, then the
    /// first kept event must straddle `lastUpdateId + 1`.
    fn drain_binance_buffer(&mut self, snapshot: &BookUpdate) -> Outcome {
        let Some(last_update_id) = snapshot.last_sequence else {
            return self.invalidate(Invalidity::MissingSequence, snapshot.receive_time_ns);
        };
        let buffer = std::mem::take(&mut self.buffer);
        let kept = buffer.iter().filter(|event| event.last_sequence.is_none_or(|u| u > last_update_id));
        if let Some(first) = kept.clone().next()
            && let Some(first_id) = first.first_sequence
            && first_id > last_update_id + 1
        {
            let reason = Invalidity::SnapshotTooOld { last_update_id, first_buffered: first_id };
            let outcome = self.invalidate(reason, snapshot.receive_time_ns);
            // The stream is fine: the events wait for a newer snapshot.
            self.buffer = buffer;
            return outcome;
        }
        let mut outcome = Outcome::Applied;
        for event in kept {
            if self.is_valid() {
                if let invalid @ Outcome::Invalid { .. } = self.on_binance_event(event) {
                    outcome = invalid;
                }
            } else {
                // A gap while draining: what follows waits for the next snapshot.
                self.buffer.push_back(event.clone());
            }
        }
        outcome
    }

    fn on_binance_event(&mut self, update: &BookUpdate) -> Outcome {
        if !self.is_valid() {
            if self.buffer.len() == BINANCE_BUFFER_LIMIT {
                self.buffer.pop_front();
            }
            self.buffer.push_back(update.clone());
            return Outcome::Buffered;
        }
        match range_continuity(update, self.last_sequence, true) {
            Ok(Continuity::Next) => self.apply_delta(update),
            Ok(Continuity::Covered) => Outcome::Ignored,
            Err(reason @ Invalidity::Gap { .. }) => {
                let outcome = self.invalidate(reason, update.receive_time_ns);
                // Binance restarts from the stream: this event may follow the next snapshot.
                self.buffer.push_back(update.clone());
                outcome
            }
            Err(reason) => self.invalidate(reason, update.receive_time_ns),
        }
    }

    /// The venue's continuity rule for a delta of a valid book (not Binance).
    fn check_sequence(&self, update: &BookUpdate) -> Result<Continuity, Invalidity> {
        match self.rule {
            SyncRule::Binance | SyncRule::Kraken => Ok(Continuity::Next),
            SyncRule::SnapshotThenRange => range_continuity(update, self.last_sequence, false),
            SyncRule::Bybit => {
                let (Some(got), Some(last)) = (update.last_sequence, self.last_sequence) else {
                    return Err(Invalidity::MissingSequence);
                };
                if got == last + 1 {
                    Ok(Continuity::Next)
                } else {
                    Err(Invalidity::Gap { expected: last + 1, got })
                }
            }
            SyncRule::Okx | SyncRule::PrevSequence => {
                let (Some(got), Some(last), Some(_)) =
                    (update.prev_sequence, self.last_sequence, update.last_sequence)
                else {
                    return Err(Invalidity::MissingSequence);
                };
                if got == last { Ok(Continuity::Next) } else { Err(Invalidity::Gap { expected: last, got }) }
            }
            SyncRule::Coinbase => match (update.prev_sequence, update.last_sequence) {
                (Some(prev), Some(got)) if got == prev + 1 => Ok(Continuity::Next),
                (Some(prev), Some(got)) => Err(Invalidity::Gap { expected: prev + 1, got }),
                _ => Err(Invalidity::MissingSequence),
            },
        }
    }

    fn apply_delta(&mut self, update: &BookUpdate) -> Outcome {
        self.book.apply_levels(&update.bids, &update.asks);
        self.last_sequence = update.last_sequence.or(self.last_sequence);
        self.last_update_ns = update.receive_time_ns;
        self.counters.updates_applied += 1;
        match self.verify(update) {
            Ok(()) => Outcome::Applied,
            Err(reason) => self.invalidate(reason, update.receive_time_ns),
        }
    }

    /// The checks on the book after an update: the venue's checksum (more specific, so
    /// first), then crossing.
    fn verify(&self, update: &BookUpdate) -> Result<(), Invalidity> {
        if let Some(expected) = update.checksum
            && let Some(got) = self.checksum()
            && got != expected
        {
            return Err(Invalidity::ChecksumMismatch { expected, got });
        }
        match self.book.crossed() {
            Some((bid, ask)) => Err(Invalidity::Crossed { bid: bid.price, ask: ask.price }),
            None => Ok(()),
        }
    }

    /// The venue's checksum of the book as it is (OKX as a signed, Kraken as an unsigned
    /// 32-bit value); `None` for venues without one.
    #[must_use]
    pub fn checksum(&self) -> Option<i64> {
        match self.rule {
            SyncRule::Okx => Some(i64::from(okx_checksum(&self.book))),
            SyncRule::Kraken => Some(i64::from(kraken_checksum(&self.book))),
            SyncRule::Binance
            | SyncRule::Bybit
            | SyncRule::Coinbase
            | SyncRule::SnapshotThenRange
            | SyncRule::PrevSequence => None,
        }
    }

    fn invalidate(&mut self, reason: Invalidity, now_ns: u64) -> Outcome {
        match reason {
            Invalidity::Gap { .. } | Invalidity::SnapshotTooOld { .. } => self.counters.gaps += 1,
            Invalidity::ChecksumMismatch { .. } => self.counters.checksum_failures += 1,
            Invalidity::Crossed { .. } => self.counters.crossed += 1,
            Invalidity::Stale { .. } => self.counters.stale += 1,
            Invalidity::MissingSequence | Invalidity::Disconnected => {}
        }
        let since_ns = match self.validity {
            Validity::Invalid { since_ns, .. } => since_ns,
            Validity::Pending | Validity::Valid => now_ns,
        };
        self.validity = Validity::Invalid { reason, since_ns };
        self.buffer.clear();
        Outcome::Invalid { reason, resync: self.rule.resync() }
    }

    fn close_invalid_period(&mut self, now_ns: u64) {
        if let Validity::Invalid { since_ns, .. } = self.validity {
            self.counters.invalid_ns += now_ns.saturating_sub(since_ns);
        }
    }
}

/// Where a delta stands against the book's last applied id.
enum Continuity {
    /// It continues the book: apply it.
    Next,
    /// The book already covers it (`u <=` the book's id).
    Covered,
}

/// A `U`/`u` range event against the last applied id `local`: covered when `u <= local`,
/// next when it starts at `local + 1` (or, with `overlap`, anywhere up to it: Binance's
/// absolute quantities make re-applying exact), a gap otherwise.
fn range_continuity(
    update: &BookUpdate,
    local: Option<u64>,
    overlap: bool,
) -> Result<Continuity, Invalidity> {
    let (Some(first), Some(last), Some(local)) = (update.first_sequence, update.last_sequence, local) else {
        return Err(Invalidity::MissingSequence);
    };
    if last <= local {
        return Ok(Continuity::Covered);
    }
    let continues = if overlap { first <= local + 1 } else { first == local + 1 };
    if continues { Ok(Continuity::Next) } else { Err(Invalidity::Gap { expected: local + 1, got: first }) }
}

/// OKX's checksum of `book`: the top 25 levels a side, as last sent.
#[must_use]
pub fn okx_checksum(book: &OrderBook) -> i32 {
    okx::checksum(book.top_bids(okx::CHECKSUM_DEPTH), book.top_asks(okx::CHECKSUM_DEPTH))
}

/// Kraken's v2 checksum of `book`: the top 10 levels a side, each number at its own scale
/// (the pair's precision, as the adapter pads levels).
#[must_use]
pub fn kraken_checksum(book: &OrderBook) -> u32 {
    let asks: ArrayVec<Level, { kraken::CHECKSUM_DEPTH }> = book.top_asks(kraken::CHECKSUM_DEPTH).collect();
    let bids: ArrayVec<Level, { kraken::CHECKSUM_DEPTH }> = book.top_bids(kraken::CHECKSUM_DEPTH).collect();
    kraken::checksum_as_sent(&asks, &bids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::market::intern;
    use crate::model::{Event, MarketRef, Venue};
    use crate::venues::Adapter;

    fn dec(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    fn level(price: &str, qty: &str) -> Level {
        Level { price: dec(price), qty: dec(qty) }
    }

    fn levels(pairs: &[(&str, &str)]) -> Vec<Level> {
        pairs.iter().map(|&(price, qty)| level(price, qty)).collect()
    }

    fn market() -> MarketRef {
        intern(Venue::Okx, None, "BTC-USDT").unwrap()
    }

    /// An update at time `seq`: `(first, last, prev)` sequence fields.
    fn update(
        snapshot: bool,
        seq: (Option<u64>, Option<u64>, Option<u64>),
        bids: &[(&str, &str)],
        asks: &[(&str, &str)],
    ) -> BookUpdate {
        BookUpdate {
            market: market(),
            is_snapshot: snapshot,
            bids: levels(bids),
            asks: levels(asks),
            first_sequence: seq.0,
            last_sequence: seq.1,
            prev_sequence: seq.2,
            checksum: None,
            exchange_time_ns: 0,
            receive_time_ns: seq.1.unwrap_or(0) * 10,
        }
    }

    fn binance(first: u64, last: u64, bids: &[(&str, &str)]) -> BookUpdate {
        update(false, (Some(first), Some(last), None), bids, &[])
    }

    const ASK: &[(&str, &str)] = &[("200", "1")];

    #[test]
    fn okx_docs_worked_checksums_through_the_book() {
        let mut sync = BookSync::new(SyncRule::Okx);
        let mut snapshot = update(
            true,
            (None, Some(10), None),
            &[("3366.1", "7"), ("3366", "6")],
            &[("3366.8", "9"), ("3368", "8")],
        );
        snapshot.checksum = Some(-1_881_014_294);
        assert_eq!(sync.apply(&snapshot), Outcome::Applied);
        // The second example: a book with fewer than 25 levels on one side.
        let mut delta = update(false, (None, Some(15), Some(10)), &[("3366", "0")], &[("3372", "8")]);
        delta.checksum = Some(831_078_360);
        assert_eq!(sync.apply(&delta), Outcome::Applied);
        assert_eq!(sync.checksum(), Some(831_078_360));
        let mut wrong = update(false, (None, Some(16), Some(15)), &[], &[("3372", "8.0")]);
        wrong.checksum = Some(831_078_360);
        let got = sync.checksum_after(&wrong);
        assert_eq!(
            sync.apply(&wrong),
            Outcome::Invalid {
                reason: Invalidity::ChecksumMismatch { expected: 831_078_360, got },
                resync: Resync::Resubscribe,
            },
            "the text counts: 8.0 is not 8"
        );
        assert_eq!(sync.counters().checksum_failures, 1);
    }

    impl BookSync {
        fn checksum_after(&self, update: &BookUpdate) -> i64 {
            let mut copy = self.clone();
            copy.book.apply(update);
            copy.checksum().unwrap()
        }
    }

    fn kraken_events(adapter: &mut crate::venues::kraken::KrakenAdapter, raw: &str) -> Vec<BookUpdate> {
        let mut events = Vec::new();
        adapter.parse(raw.as_bytes(), 1, &mut events).unwrap();
        events
            .into_iter()
            .filter_map(|event| if let Event::Book(book) = event { Some(book) } else { None })
            .collect()
    }

    #[test]
    fn kraken_docs_worked_checksums_through_the_book() {
        let mut adapter = crate::venues::kraken::KrakenAdapter::new();
        kraken_events(&mut adapter, include_str!("../../tests/fixtures/kraken/instrument_snapshot.json"));
        assert_eq!(adapter.precision("MATIC/USD"), Some((4, 8)), "levels are padded to it");
        let mut sync = BookSync::new(SyncRule::Kraken);
        let [snapshot] =
            &kraken_events(&mut adapter, include_str!("../../tests/fixtures/kraken/book_snapshot.json"))[..]
        else {
            panic!()
        };
        assert_eq!(snapshot.checksum, Some(2_439_117_997));
        assert_eq!(sync.apply(snapshot), Outcome::Applied);
        // The update's new bid pushes the 11th out: the depth window keeps the checksum right.
        let [delta] =
            &kraken_events(&mut adapter, include_str!("../../tests/fixtures/kraken/book_update.json"))[..]
        else {
            panic!()
        };
        assert_eq!(delta.checksum, Some(2_114_181_697));
        assert_eq!(sync.apply(delta), Outcome::Applied);
        assert_eq!(sync.book().bid_depth(), 10);

        // The guide's BTC/USD example, precision 1 / 8, levels written without padding: padded
        // as the adapter pads them.
        let asks = [
            ("45285.2", "0.001"),
            ("45286.4", "1.54571953"),
            ("45286.6", "1.54571109"),
            ("45289.6", "1.54560911"),
            ("45290.2", "0.1589066"),
            ("45291.8", "1.54553491"),
            ("45294.7", "0.04454749"),
            ("45296.1", "0.3538"),
            ("45297.5", "0.09945542"),
            ("45299.5", "0.18772827"),
        ];
        let bids = [
            ("45283.5", "0.1"),
            ("45283.4", "1.54582015"),
            ("45282.1", "0.1"),
            ("45281.0", "0.1"),
            ("45280.3", "1.54592586"),
            ("45279.0", "0.0799"),
            ("45277.6", "0.03310103"),
            ("45277.5", "0.3"),
            ("45277.3", "1.54602737"),
            ("45276.6", "0.15445238"),
        ];
        let mut guide = update(true, (None, None, None), &bids, &asks);
        guide.checksum = Some(3_310_070_434);
        let mut unpadded = BookSync::new(SyncRule::Kraken);
        assert!(
            matches!(
                unpadded.apply(&guide),
                Outcome::Invalid { reason: Invalidity::ChecksumMismatch { .. }, .. }
            ),
            "the precision matters: unpadded levels are not trusted"
        );
        let pad = |levels: &mut Vec<Level>| {
            for level in levels {
                level.price = level.price.checked_rescale(1).unwrap();
                level.qty = level.qty.checked_rescale(8).unwrap();
            }
        };
        pad(&mut guide.bids);
        pad(&mut guide.asks);
        let mut sync = BookSync::new(SyncRule::Kraken);
        assert_eq!(sync.apply(&guide), Outcome::Applied);
    }

    #[test]
    fn binance_buffers_then_straddles_then_chains() {
        let mut sync = BookSync::new(SyncRule::Binance);
        assert_eq!(sync.apply(&binance(95, 99, &[("100", "1")])), Outcome::Buffered);
        assert_eq!(sync.apply(&binance(100, 104, &[("101", "1")])), Outcome::Buffered);
        assert_eq!(sync.apply(&binance(105, 105, &[("102", "1")])), Outcome::Buffered);
        assert_eq!(sync.validity(), Validity::Pending);
        // lastUpdateId 102 lies inside [100; 104]: 95..99 is dropped, the rest applied.
        let snapshot = update(true, (None, Some(102), None), &[("99", "5")], ASK);
        assert_eq!(sync.apply(&snapshot), Outcome::Applied);
        assert_eq!(sync.buffered(), 0);
        assert_eq!(sync.last_sequence(), Some(105));
        assert_eq!(
            sync.book().bids().map(|l| l.price).collect::<Vec<_>>(),
            [dec("102"), dec("101"), dec("99")]
        );
        assert_eq!(sync.apply(&binance(100, 105, &[("103", "1")])), Outcome::Ignored);
        assert_eq!(sync.apply(&binance(104, 107, &[("103", "1")])), Outcome::Applied, "overlap is fine");
        assert_eq!(
            sync.apply(&binance(109, 110, &[])),
            Outcome::Invalid {
                reason: Invalidity::Gap { expected: 108, got: 109 },
                resync: Resync::FetchSnapshot
            }
        );
        assert_eq!(sync.buffered(), 1, "the event after the gap waits for the next snapshot");
        assert_eq!(sync.apply(&binance(111, 111, &[("50", "1")])), Outcome::Buffered);
        let snapshot = update(true, (None, Some(110), None), &[("99", "5")], ASK);
        assert_eq!(sync.apply(&snapshot), Outcome::Applied);
        assert_eq!(sync.last_sequence(), Some(111));
        let counters = sync.counters();
        assert_eq!((counters.gaps, counters.resyncs, counters.updates_applied), (1, 1, 6));
        assert_eq!(counters.invalid_ns, 0, "invalid from 110 ns to 110 ns");
    }

    #[test]
    fn binance_snapshot_older_than_the_stream_asks_for_another() {
        let mut sync = BookSync::new(SyncRule::Binance);
        sync.apply(&binance(100, 104, &[("101", "1")]));
        let snapshot = update(true, (None, Some(90), None), &[("99", "5")], ASK);
        assert_eq!(
            sync.apply(&snapshot),
            Outcome::Invalid {
                reason: Invalidity::SnapshotTooOld { last_update_id: 90, first_buffered: 100 },
                resync: Resync::FetchSnapshot
            }
        );
        assert_eq!(sync.buffered(), 1, "kept for the next snapshot");
        assert_eq!(sync.apply(&update(true, (None, Some(100), None), &[], ASK)), Outcome::Applied);
        assert_eq!(sync.last_sequence(), Some(104));
    }

    #[test]
    fn bybit_needs_u_plus_one_and_snapshots_reset() {
        let mut sync = BookSync::new(SyncRule::Bybit);
        assert_eq!(sync.apply(&update(false, (None, Some(5), None), &[], &[])), Outcome::AwaitingSnapshot);
        assert_eq!(sync.apply(&update(true, (None, Some(5), None), &[("1", "1")], ASK)), Outcome::Applied);
        assert_eq!(sync.apply(&update(false, (None, Some(6), None), &[("2", "1")], &[])), Outcome::Applied);
        let gap = sync.apply(&update(false, (None, Some(8), None), &[("3", "1")], &[]));
        assert_eq!(
            gap,
            Outcome::Invalid { reason: Invalidity::Gap { expected: 7, got: 8 }, resync: Resync::Resubscribe }
        );
        assert_eq!(
            sync.apply(&update(false, (None, Some(9), None), &[("4", "1")], &[])),
            Outcome::AwaitingSnapshot
        );
        assert_eq!(sync.book().bid_qty(dec("4")), None, "not applied while invalid");
        // The restart snapshot (u = 1) replaces the book and re-validates it.
        let mut restart = update(true, (None, Some(1), None), &[("1", "2")], ASK);
        restart.receive_time_ns = 100;
        assert_eq!(sync.apply(&restart), Outcome::Applied);
        assert!(sync.is_valid());
        assert_eq!(sync.apply(&update(false, (None, Some(2), None), &[], &[])), Outcome::Applied);
        assert_eq!((sync.counters().invalid_ns, sync.counters().resyncs), (20, 1));
    }

    #[test]
    fn okx_chain_allows_resets_and_keepalives() {
        let mut sync = BookSync::new(SyncRule::Okx);
        sync.apply(&update(true, (None, Some(100), None), &[("1", "1")], ASK));
        assert_eq!(sync.apply(&update(false, (None, Some(107), Some(100)), &[], &[])), Outcome::Applied);
        assert_eq!(
            sync.apply(&update(false, (None, Some(107), Some(107)), &[], &[])),
            Outcome::Applied,
            "keepalive"
        );
        assert_eq!(
            sync.apply(&update(false, (None, Some(3), Some(107)), &[], &[])),
            Outcome::Applied,
            "reset"
        );
        assert_eq!(
            sync.apply(&update(false, (None, Some(9), Some(5)), &[], &[])),
            Outcome::Invalid { reason: Invalidity::Gap { expected: 3, got: 5 }, resync: Resync::Resubscribe }
        );
    }

    #[test]
    fn coinbase_needs_consecutive_message_numbers() {
        let mut sync = BookSync::new(SyncRule::Coinbase);
        sync.apply(&update(true, (None, Some(1), Some(0)), &[("1", "1")], ASK));
        assert_eq!(sync.apply(&update(false, (None, Some(2), Some(1)), &[], &[])), Outcome::Applied);
        assert_eq!(
            sync.apply(&update(false, (None, Some(7), Some(6)), &[], &[])),
            Outcome::Applied,
            "other channels"
        );
        assert_eq!(
            sync.apply(&update(false, (None, Some(9), Some(7)), &[], &[])),
            Outcome::Invalid { reason: Invalidity::Gap { expected: 8, got: 9 }, resync: Resync::Resubscribe }
        );
        assert_eq!(
            sync.apply(&update(false, (None, None, None), &[], &[])),
            Outcome::AwaitingSnapshot,
            "no check on an invalid book"
        );
    }

    fn range(first: u64, last: u64, bids: &[(&str, &str)]) -> BookUpdate {
        update(false, (Some(first), Some(last), None), bids, &[])
    }

    #[test]
    fn snapshot_then_range_needs_each_range_to_start_after_the_last() {
        let mut sync = BookSync::new(SyncRule::SnapshotThenRange);
        assert_eq!(sync.book().depth_limit(), None, "no venue window");
        assert_eq!(sync.apply(&range(1, 4, &[("1", "1")])), Outcome::AwaitingSnapshot);
        assert_eq!(sync.apply(&update(true, (None, Some(10), None), &[("1", "1")], ASK)), Outcome::Applied);
        assert_eq!(sync.apply(&range(11, 13, &[("2", "1")])), Outcome::Applied);
        assert_eq!(sync.apply(&range(14, 14, &[("3", "1")])), Outcome::Applied);
        assert_eq!(sync.apply(&range(12, 14, &[("9", "1")])), Outcome::Ignored, "covered");
        assert_eq!(sync.book().bid_qty(dec("9")), None, "not applied");
        assert_eq!(
            sync.apply(&range(14, 16, &[])),
            Outcome::Invalid {
                reason: Invalidity::Gap { expected: 15, got: 14 },
                resync: Resync::Resubscribe
            },
            "an overlap is not what the venue promises"
        );
        assert_eq!(sync.apply(&update(true, (None, Some(20), None), &[("1", "1")], ASK)), Outcome::Applied);
        assert_eq!(
            sync.apply(&range(22, 23, &[])),
            Outcome::Invalid {
                reason: Invalidity::Gap { expected: 21, got: 22 },
                resync: Resync::Resubscribe
            }
        );
        assert_eq!(sync.buffered(), 0, "nothing is buffered: the resubscription brings a snapshot");
        sync.apply(&update(true, (None, Some(30), None), &[("1", "1")], ASK));
        assert_eq!(
            sync.apply(&update(false, (None, Some(31), None), &[], &[])),
            Outcome::Invalid { reason: Invalidity::MissingSequence, resync: Resync::Resubscribe }
        );
        assert_eq!((sync.counters().gaps, sync.counters().resyncs), (2, 2));
    }

    #[test]
    fn prev_sequence_chains_without_a_checksum() {
        let mut sync = BookSync::new(SyncRule::PrevSequence);
        let mut snapshot = update(true, (None, Some(100), None), &[("1", "1")], ASK);
        snapshot.checksum = Some(12_345);
        assert_eq!(sync.apply(&snapshot), Outcome::Applied, "a checksum it cannot check is not OKX's");
        assert_eq!(sync.checksum(), None);
        assert_eq!(sync.apply(&update(false, (None, Some(107), Some(100)), &[], &[])), Outcome::Applied);
        assert_eq!(
            sync.apply(&update(false, (None, Some(109), Some(108)), &[], &[])),
            Outcome::Invalid {
                reason: Invalidity::Gap { expected: 107, got: 108 },
                resync: Resync::Resubscribe
            }
        );
    }

    #[test]
    fn mechanisms_are_named_and_only_generic_ones_are_found_by_name() {
        for rule in SyncRule::GENERIC {
            assert_eq!(SyncRule::from_mechanism(rule.mechanism()), Some(rule));
            assert!(rule.is_generic());
        }
        let names: Vec<&str> = SyncRule::GENERIC.iter().map(|rule| rule.mechanism()).collect();
        assert_eq!(names, ["rest_snapshot", "snapshot_then_range", "snapshot_then_next", "prev_sequence"]);
        for rule in [SyncRule::Okx, SyncRule::Kraken, SyncRule::Coinbase] {
            assert!(!rule.is_generic());
            assert_eq!(SyncRule::from_mechanism(rule.mechanism()), None);
        }
    }

    #[test]
    fn a_delta_that_crosses_marks_the_book_invalid() {
        let mut sync = BookSync::new(SyncRule::Bybit);
        sync.apply(&update(true, (None, Some(1), None), &[("100", "1")], &[("101", "1")]));
        assert_eq!(
            sync.apply(&update(false, (None, Some(2), None), &[("101", "3")], &[])),
            Outcome::Invalid {
                reason: Invalidity::Crossed { bid: dec("101"), ask: dec("101") },
                resync: Resync::Resubscribe
            }
        );
        assert_eq!(sync.counters().crossed, 1);
        let Validity::Invalid { reason, since_ns } = sync.validity() else { panic!() };
        assert_eq!(
            (reason.to_string().as_str(), since_ns),
            ("crossed book: best bid 101 >= best ask 101", 20)
        );
        assert_eq!(sync.time_invalid_ns(50), 30);
    }

    #[test]
    fn a_silent_book_goes_stale() {
        let mut sync = BookSync::new(SyncRule::Coinbase);
        assert_eq!(sync.check_stale(1_000, 10), None, "pending, not stale");
        sync.apply(&update(true, (None, Some(1), None), &[("1", "1")], ASK));
        assert_eq!(sync.check_stale(15, 10), None);
        assert_eq!(
            sync.check_stale(30, 10),
            Some(Outcome::Invalid {
                reason: Invalidity::Stale { silent_ns: 20 },
                resync: Resync::Resubscribe
            })
        );
        assert_eq!(sync.check_stale(40, 10), None, "reported once");
        sync.reset(45);
        assert_eq!(
            (sync.validity(), sync.counters().invalid_ns, sync.counters().stale),
            (Validity::Pending, 15, 1)
        );
    }
}
