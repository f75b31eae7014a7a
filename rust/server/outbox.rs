//! [`Outbox`]: one client's bounded queue of messages to write, with its subscription.
//!
//! Publishers push; the client's writer takes everything queued at once and writes it as one
//! batch (one flush, so one write for many messages). The queue keeps sequence order. Bounds:
//! - market data: once the queue holds more than `soft_limit` messages, a new message
//!   replaces the queued one with the same [`ConflationKey`] (type, symbol, timeframe): a slow
//!   client gets the latest of each instead of every one, and its queue stops growing with the
//!   stream (the replaced entry becomes a tombstone, compacted away as they pile up);
//! - critical messages (and direct replies) are never dropped silently: beyond
//!   `critical_limit` queued, the client is marked lagged ([`Push::Lagged`]) — its writer tells
//!   it (`Error` `LAGGED` with the count) and closes the connection so it resynchronises with
//!   `Resume`.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::filter::Filter;
use super::message::{ConflationKey, Shared};

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued; the writer must be woken if the queue was empty.
    Queued {
        /// The queue was empty before.
        was_empty: bool,
    },
    /// Replaced a queued message of the same key (the writer is awake already).
    Conflated,
    /// Not for this client (its subscription).
    Filtered,
    /// The client cannot keep up even with critical messages: it is to be told and dropped.
    Lagged,
}

#[derive(Debug)]
struct Entry {
    message: Shared,
    live: bool,
}

/// One client's queue and subscription.
#[derive(Debug)]
pub struct Outbox {
    filter: Filter,
    entries: VecDeque<Entry>,
    /// Absolute position of `entries[0]`.
    head: u64,
    /// Where the newest message of each key sits (absolute position).
    latest: FxHashMap<ConflationKey, u64>,
    tombstones: usize,
    critical_queued: usize,
    soft_limit: usize,
    critical_limit: usize,
    /// Critical messages refused since the client lagged (0: not lagged).
    lagged: u64,
    conflated: u64,
}

impl Outbox {
    /// An empty queue with the default subscription (everything).
    #[must_use]
    pub fn new(soft_limit: usize, critical_limit: usize) -> Self {
        Self {
            filter: Filter::default(),
            entries: VecDeque::new(),
            head: 0,
            latest: FxHashMap::default(),
            tombstones: 0,
            critical_queued: 0,
            soft_limit,
            critical_limit,
            lagged: 0,
            conflated: 0,
        }
    }

    /// The subscription.
    pub const fn filter(&mut self) -> &mut Filter {
        &mut self.filter
    }

    /// Queues a broadcast message if the subscription wants it.
    pub fn offer(&mut self, message: &Shared) -> Push {
        if !self.filter.passes(message.kind, message.symbol) {
            return Push::Filtered;
        }
        self.push(message.clone())
    }

    /// Queues a message for this client whatever its subscription (a reply, a replay).
    pub fn push(&mut self, message: Shared) -> Push {
        if self.lagged > 0 {
            self.lagged += u64::from(message.conflation.is_none());
            return Push::Lagged;
        }
        let live = self.entries.len() - self.tombstones;
        match message.conflation {
            None => {
                if self.critical_queued >= self.critical_limit {
                    self.lagged = 1;
                    return Push::Lagged;
                }
                self.critical_queued += 1;
            }
            Some(key) => {
                let position = self.head + self.entries.len() as u64;
                if let Some(old) = self.latest.insert(key, position)
                    && live >= self.soft_limit
                    && old >= self.head
                {
                    let index = usize::try_from(old - self.head).unwrap_or(usize::MAX);
                    if let Some(entry) = self.entries.get_mut(index)
                        && entry.live
                    {
                        entry.live = false;
                        self.tombstones += 1;
                        self.conflated += 1;
                        self.entries.push_back(Entry { message, live: true });
                        self.compact_if_needed();
                        return Push::Conflated;
                    }
                }
            }
        }
        self.entries.push_back(Entry { message, live: true });
        Push::Queued { was_empty: live == 0 }
    }

    /// Drops tombstones once they outnumber the live messages.
    fn compact_if_needed(&mut self) {
        if self.tombstones <= 64 || self.tombstones * 2 <= self.entries.len() {
            return;
        }
        let old_len = self.entries.len() as u64;
        self.entries.retain(|entry| entry.live);
        // The survivors get positions after every one handed out so far, so a stale position
        // in `latest` can never point at them.
        self.head += old_len;
        self.tombstones = 0;
        self.latest.clear();
        for (index, entry) in self.entries.iter().enumerate() {
            if let Some(key) = entry.message.conflation {
                self.latest.insert(key, self.head + index as u64);
            }
        }
    }

    /// Everything queued, in order, for one write; the queue is empty after.
    pub fn take(&mut self, into: &mut Vec<Shared>) {
        self.head += self.entries.len() as u64;
        into.extend(self.entries.drain(..).filter(|entry| entry.live).map(|entry| entry.message));
        self.tombstones = 0;
        self.critical_queued = 0;
        self.latest.clear();
    }

    /// Critical messages refused since the client lagged, if it has.
    #[must_use]
    pub const fn lagged(&self) -> Option<u64> {
        if self.lagged > 0 { Some(self.lagged) } else { None }
    }

    /// Messages queued (live).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len() - self.tombstones
    }

    /// Whether nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Market messages replaced by newer ones so far.
    #[must_use]
    pub const fn conflated(&self) -> u64 {
        self.conflated
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::server::message::{Kind, Outgoing, encode};

    fn message(kind: Kind, seq: u64, symbol: u32) -> Shared {
        let conflation = (!kind.is_critical()).then_some((kind, Some(symbol), 0));
        Arc::new(Outgoing {
            kind,
            symbol: Some(symbol),
            seq,
            conflation,
            published_ns: 0,
            text: encode(kind, seq, 0, None, None),
        })
    }

    fn seqs(outbox: &mut Outbox) -> Vec<u64> {
        let mut taken = Vec::new();
        outbox.take(&mut taken);
        taken.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn a_fast_client_gets_every_message_in_order() {
        let mut outbox = Outbox::new(4, 8);
        assert_eq!(outbox.offer(&message(Kind::MarketData, 1, 1)), Push::Queued { was_empty: true });
        assert_eq!(outbox.offer(&message(Kind::MarketData, 2, 1)), Push::Queued { was_empty: false });
        assert_eq!(outbox.offer(&message(Kind::TradeExecuted, 3, 1)), Push::Queued { was_empty: false });
        assert_eq!(seqs(&mut outbox), [1, 2, 3]);
        assert!(outbox.is_empty());
    }

    #[test]
    fn a_slow_client_gets_the_latest_market_data_per_key_in_sequence_order() {
        let mut outbox = Outbox::new(2, 100);
        for symbol in 1..=2_u32 {
            outbox.offer(&message(Kind::MarketData, u64::from(symbol), symbol));
        }
        // Over the soft limit: each symbol keeps its newest, moved to the back (order by seq).
        let mut seq = 3;
        for _ in 0..1000 {
            for symbol in 1..=2 {
                outbox.offer(&message(Kind::MarketData, seq, symbol));
                seq += 1;
            }
        }
        outbox.offer(&message(Kind::TradeExecuted, seq, 1));
        assert!(outbox.len() <= 3, "bounded: {}", outbox.len());
        assert!(outbox.entries.len() < 200, "tombstones compacted: {}", outbox.entries.len());
        let taken = seqs(&mut outbox);
        assert_eq!(taken, [seq - 2, seq - 1, seq]);
        assert!(outbox.conflated() >= 1998);
    }

    #[test]
    fn critical_messages_beyond_the_limit_mark_the_client_lagged() {
        let mut outbox = Outbox::new(2, 3);
        for seq in 1..=3 {
            assert!(matches!(outbox.offer(&message(Kind::PositionUpdate, seq, 1)), Push::Queued { .. }));
        }
        assert_eq!(outbox.offer(&message(Kind::PositionUpdate, 4, 1)), Push::Lagged);
        assert_eq!(outbox.offer(&message(Kind::TradeExecuted, 5, 1)), Push::Lagged);
        assert_eq!(outbox.offer(&message(Kind::MarketData, 6, 1)), Push::Lagged, "nothing more is queued");
        assert_eq!(outbox.lagged(), Some(2), "the two critical messages refused");
    }

    #[test]
    fn the_subscription_filters() {
        let mut outbox = Outbox::new(2, 3);
        outbox.filter().subscribe(Some(&[Kind::TradeExecuted]), None);
        assert_eq!(outbox.offer(&message(Kind::MarketData, 1, 1)), Push::Filtered);
        assert!(matches!(outbox.offer(&message(Kind::TradeExecuted, 2, 1)), Push::Queued { .. }));
    }
}
