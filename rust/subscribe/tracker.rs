//! [`SubscriptionManager`]: the subscriptions of one connection, from the caller's wish to the
//! venue's confirmation.
//!
//! Two facts are kept per id. The *wish* (`wanted`) is what the caller asked for last. The *wire
//! state* is what the venue has or is being asked: idle, in a subscribe request, subscribed, or
//! in an unsubscribe request. The wire state of each id lives in exactly one place, and the
//! derived sets (`active`, and the two queues of ids that need a request) are recomputed from
//! the pair by one function, `place`, after every change, so they cannot drift apart. A wish
//! that changes while a request is in flight is honoured when the request is answered (or given
//! up), never by sending a contradicting request on top of it.
//!
//! A request ("batch") keeps its ids across attempts; each attempt gets a fresh request id, and
//! ids are never reused, so an answer to an earlier attempt or an earlier connection matches
//! nothing and is ignored.

use std::fmt;
use std::time::Duration;

use super::bitset::BitSet;
use super::rate::Gcra;

/// What a request asks the venue to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Start sending these ids.
    Subscribe,
    /// Stop sending these ids.
    Unsubscribe,
}

impl Kind {
    const fn in_flight(self) -> Wire {
        match self {
            Self::Subscribe => Wire::Subscribing,
            Self::Unsubscribe => Wire::Unsubscribing,
        }
    }

    const fn applied(self) -> Wire {
        match self {
            Self::Subscribe => Wire::OnVenue,
            Self::Unsubscribe => Wire::Idle,
        }
    }

    /// Where an id stands when its request was rejected or never answered: we assume the venue
    /// did not apply it.
    const fn not_applied(self) -> Wire {
        match self {
            Self::Subscribe => Wire::Idle,
            Self::Unsubscribe => Wire::OnVenue,
        }
    }

    const fn wants(self) -> bool {
        matches!(self, Self::Subscribe)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
        })
    }
}

/// One subscribe or unsubscribe message for the venue adapter to encode and send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Request id to put in the message; the venue echoes it in its answer, which the caller
    /// passes to [`SubscriptionManager::confirm`] or [`SubscriptionManager::reject`]. Ids start
    /// at 1 and are never reused.
    pub id: u64,
    /// Subscribe or unsubscribe.
    pub kind: Kind,
    /// The ids, ascending, at most [`SubscribeConfig::batch_size`] of them, never empty.
    pub ids: Vec<u32>,
}

/// Where an id stands, as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not wanted and not on the venue.
    Unsubscribed,
    /// Wanted, not yet confirmed: queued, in a request, or waiting to be retried.
    Pending,
    /// Wanted and confirmed by the venue.
    Active,
    /// No longer wanted; the venue may still be sending it until an unsubscribe is confirmed.
    Unsubscribing,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The venue answered with an error; the text is the venue's.
    Rejected(String),
    /// No answer came within the confirmation timeout.
    Unconfirmed(Duration),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(reason) => write!(f, "rejected: {reason}"),
            Self::Unconfirmed(timeout) => write!(f, "no confirmation within {timeout:?}"),
        }
    }
}

/// Ids given up on after [`SubscribeConfig::max_attempts`] failed attempts.
///
/// Failed subscriptions are no longer wanted (ask again to retry); failed unsubscriptions are
/// forgotten although the venue may still be sending them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} of {count} ids failed after {attempts} attempts: {reason}", count = ids.len())]
pub struct Failure {
    /// What the failed request asked.
    pub kind: Kind,
    /// The ids given up on, in request order.
    pub ids: Vec<u32>,
    /// Why the last attempt failed.
    pub reason: Reason,
    /// Attempts made, the last included.
    pub attempts: u32,
}

/// An answer named a request id that is not outstanding.
///
/// Expected now and then: an answer to an attempt already timed out, or to a request sent on
/// the connection before the last reconnect. The answer has been ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no outstanding request {0} (already answered, timed out, or sent before a reconnect)")]
pub struct UnknownRequest(pub u64);

/// Per-venue limits and the retry policy of a [`SubscriptionManager`].
///
/// The presets follow the venues' published limits (see `PROTOCOLS.md`); change a field with
/// `SubscribeConfig { max_attempts: 5, ..SubscribeConfig::BINANCE }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeConfig {
    /// Most ids in one request.
    pub batch_size: usize,
    /// Budget for subscribe and unsubscribe requests on one connection.
    pub rate: Gcra,
    /// Time a request may go unanswered before it is retried.
    pub confirm_timeout: Duration,
    /// Wait after a rejection or timeout before the next attempt.
    pub retry_delay: Duration,
    /// Attempts per request before its ids are reported as a [`Failure`].
    pub max_attempts: u32,
}

impl SubscribeConfig {
    /// Binance spot: no documented cap per request, 200 streams per request as ccxt does (a
    /// connection holds at most 1024). Five incoming messages per second per connection
    /// including pings and pongs, so at most four requests in any second, leaving room for the
    /// pong to the server's ping.
    pub const BINANCE: Self = Self {
        batch_size: 200,
        rate: Gcra::new(3, Duration::from_secs(1), 2),
        confirm_timeout: Duration::from_secs(10),
        retry_delay: Duration::from_secs(1),
        max_attempts: 3,
    };

    /// Bybit v5 public: at most 10 args per request on spot (the strictest category). No
    /// message rate is documented for public subscriptions; at most nine a second is a guess.
    pub const BYBIT: Self = Self {
        batch_size: 10,
        rate: Gcra::new(5, Duration::from_secs(1), 5),
        confirm_timeout: Duration::from_secs(10),
        retry_delay: Duration::from_secs(1),
        max_attempts: 3,
    };

    /// OKX v5 public: 480 subscribe/unsubscribe/login requests per hour per connection, so at
    /// most 479 in any hour with a burst of 10 for a reconnect. The maximum args length per
    /// request is not documented; 100 args stay far below the 64 KB usually quoted.
    pub const OKX: Self = Self {
        batch_size: 100,
        rate: Gcra::new(470, Duration::from_hours(1), 10),
        confirm_timeout: Duration::from_secs(10),
        retry_delay: Duration::from_secs(1),
        max_attempts: 3,
    };
}

/// Sizes for stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Ids wanted (active or pending).
    pub requested: usize,
    /// Ids wanted and confirmed.
    pub active: usize,
    /// Requests sent and not answered yet.
    pub in_flight: usize,
    /// Requests rejected or unanswered, waiting for their next attempt.
    pub retrying: usize,
    /// Requests handed out by [`SubscriptionManager::next_requests`] since creation.
    pub requests_sent: u64,
    /// Attempts that were rejected or timed out since creation.
    pub failed_attempts: u64,
}

/// What the venue has, or is being asked, for one id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Idle,
    Subscribing,
    OnVenue,
    Unsubscribing,
}

#[derive(Debug)]
struct Batch {
    kind: Kind,
    ids: Vec<u32>,
    attempts: u32,
    phase: Phase,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Sent { request_id: u64, deadline: Duration },
    Waiting { due: Duration },
}

enum Work {
    Retry(usize),
    Fresh(Kind),
}

/// The subscriptions of one connection: what is wanted, what the venue confirmed, and the
/// requests in between. Pure state: the caller sends, receives and keeps time (see the module
/// docs of [`crate::subscribe`] for the loop that drives it).
#[derive(Debug)]
pub struct SubscriptionManager {
    config: SubscribeConfig,
    limiter: Gcra,
    wanted: BitSet,
    // Wire state: an id is in at most one of `subscribing`, `unsubscribing`, and
    // `active ∪ to_unsubscribe` (on the venue); in none when idle.
    subscribing: BitSet,
    unsubscribing: BitSet,
    // On the venue and wanted, but to be unsubscribed and subscribed again (the venue then
    // sends a fresh snapshot): kept until the id leaves the venue.
    refresh: BitSet,
    // Derived by `place`: on the venue and wanted (not refreshing) / not wanted or refreshing;
    // idle and wanted.
    active: BitSet,
    to_unsubscribe: BitSet,
    to_subscribe: BitSet,
    // Few at a time (the rate limit bounds them), so a linear search beats a map.
    batches: Vec<Batch>,
    next_request_id: u64,
    failures: Vec<Failure>,
    requests_sent: u64,
    failed_attempts: u64,
}

impl SubscriptionManager {
    /// A manager with nothing wanted.
    ///
    /// # Panics
    /// If `config.batch_size` or `config.max_attempts` is zero.
    #[must_use]
    pub fn new(config: SubscribeConfig) -> Self {
        assert!(config.batch_size > 0, "batch_size must be at least 1");
        assert!(config.max_attempts > 0, "max_attempts must be at least 1");
        Self {
            limiter: config.rate.clone(),
            config,
            wanted: BitSet::new(),
            subscribing: BitSet::new(),
            unsubscribing: BitSet::new(),
            refresh: BitSet::new(),
            active: BitSet::new(),
            to_unsubscribe: BitSet::new(),
            to_subscribe: BitSet::new(),
            batches: Vec::new(),
            next_request_id: 1,
            failures: Vec::new(),
            requests_sent: 0,
            failed_attempts: 0,
        }
    }

    /// The configuration the manager was made with.
    #[must_use]
    pub const fn config(&self) -> &SubscribeConfig {
        &self.config
    }

    /// Wants `ids` subscribed; returns how many were not wanted already. Ids already active or
    /// pending are left alone, so nothing is ever subscribed twice.
    pub fn request_subscription(&mut self, ids: impl IntoIterator<Item = u32>) -> usize {
        self.set_wanted(ids, true)
    }

    /// Wants `ids` unsubscribed; returns how many were wanted. An id still queued is simply
    /// dropped; an id in a subscribe request is unsubscribed once that request is answered.
    pub fn request_unsubscription(&mut self, ids: impl IntoIterator<Item = u32>) -> usize {
        self.set_wanted(ids, false)
    }

    /// Wants the active ones of `ids` unsubscribed and subscribed again, so the venue starts
    /// them afresh (an order book's new snapshot); returns how many were active. Ids not active
    /// (pending, or not wanted) are left alone: their next subscription is fresh anyway.
    pub fn request_refresh(&mut self, ids: impl IntoIterator<Item = u32>) -> usize {
        let mut refreshed = 0;
        for id in ids {
            if self.active.contains(id) {
                self.refresh.insert(id);
                self.place(id, Wire::OnVenue);
                refreshed += 1;
            }
        }
        refreshed
    }

    fn set_wanted(&mut self, ids: impl IntoIterator<Item = u32>, wanted: bool) -> usize {
        let mut changed = 0;
        for id in ids {
            if self.wanted.contains(id) != wanted {
                let wire = self.wire(id);
                self.wanted.set(id, wanted);
                self.place(id, wire);
                changed += 1;
            }
        }
        changed
    }

    /// The requests to send now, as many as the rate limit allows at `now`: due retries first,
    /// then unsubscribes (they free the venue's per-connection stream slots), then subscribes.
    /// Call [`expire`](Self::expire) first so that timed-out requests are retried.
    pub fn next_requests(&mut self, now: Duration) -> Vec<Request> {
        let mut requests = Vec::new();
        while let Some(work) = self.next_work(now) {
            if self.limiter.try_acquire(now).is_err() {
                break;
            }
            let index = match work {
                Work::Retry(index) => index,
                Work::Fresh(kind) => self.open_batch(kind),
            };
            requests.push(self.send(index, now));
        }
        requests
    }

    fn next_work(&mut self, now: Duration) -> Option<Work> {
        while let Some(index) = self.due_retry(now) {
            self.drop_changed(index);
            if !self.batches[index].ids.is_empty() {
                return Some(Work::Retry(index));
            }
            self.batches.swap_remove(index);
        }
        if !self.to_unsubscribe.is_empty() {
            Some(Work::Fresh(Kind::Unsubscribe))
        } else if !self.to_subscribe.is_empty() {
            Some(Work::Fresh(Kind::Subscribe))
        } else {
            None
        }
    }

    /// The waiting batch due first, if any is due at `now`.
    fn due_retry(&self, now: Duration) -> Option<usize> {
        self.batches
            .iter()
            .enumerate()
            .filter_map(|(index, batch)| match batch.phase {
                Phase::Waiting { due } if due <= now => Some((due, index)),
                _ => None,
            })
            .min()
            .map(|(_, index)| index)
    }

    /// Takes out of a waiting batch the ids whose wish changed since it was sent; they go back
    /// to where the unapplied request left them (idle, or still on the venue).
    fn drop_changed(&mut self, index: usize) {
        let kind = self.batches[index].kind;
        let mut ids = std::mem::take(&mut self.batches[index].ids);
        ids.retain(|&id| {
            let refreshing = kind == Kind::Unsubscribe && self.refresh.contains(id);
            let unchanged = self.wanted.contains(id) == kind.wants() || refreshing;
            if !unchanged {
                self.place(id, kind.not_applied());
            }
            unchanged
        });
        self.batches[index].ids = ids;
    }

    fn open_batch(&mut self, kind: Kind) -> usize {
        let queue = match kind {
            Kind::Subscribe => &self.to_subscribe,
            Kind::Unsubscribe => &self.to_unsubscribe,
        };
        let mut ids = Vec::with_capacity(self.config.batch_size.min(queue.len()));
        ids.extend(queue.iter().take(self.config.batch_size));
        for &id in &ids {
            self.place(id, kind.in_flight());
        }
        self.batches.push(Batch { kind, ids, attempts: 0, phase: Phase::Waiting { due: Duration::ZERO } });
        self.batches.len() - 1
    }

    fn send(&mut self, index: usize, now: Duration) -> Request {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.requests_sent += 1;
        let batch = &mut self.batches[index];
        batch.attempts += 1;
        batch.phase = Phase::Sent { request_id, deadline: now + self.config.confirm_timeout };
        Request { id: request_id, kind: batch.kind, ids: batch.ids.clone() }
    }

    /// The venue accepted request `request_id`: its ids are now subscribed (or unsubscribed).
    /// Ids whose wish changed meanwhile are queued for the opposite request.
    ///
    /// # Errors
    /// [`UnknownRequest`] if no sent request has this id; the answer is then ignored.
    pub fn confirm(&mut self, request_id: u64) -> Result<(), UnknownRequest> {
        let batch = self.batches.swap_remove(self.find_sent(request_id)?);
        for &id in &batch.ids {
            self.place(id, batch.kind.applied());
        }
        Ok(())
    }

    /// The id of the oldest request sent and not yet answered: what an answer from a venue
    /// that echoes no request id (Coinbase) answers, since it answers in order.
    #[must_use]
    pub fn oldest_sent(&self) -> Option<u64> {
        self.batches
            .iter()
            .filter_map(|batch| match batch.phase {
                Phase::Sent { request_id, .. } => Some(request_id),
                Phase::Waiting { .. } => None,
            })
            .min()
    }

    /// The venue refused request `request_id`: it is sent again after
    /// [`SubscribeConfig::retry_delay`], or reported as a [`Failure`] once it has been tried
    /// [`SubscribeConfig::max_attempts`] times.
    ///
    /// # Errors
    /// [`UnknownRequest`] if no sent request has this id; the answer is then ignored.
    pub fn reject(
        &mut self,
        request_id: u64,
        reason: impl Into<String>,
        now: Duration,
    ) -> Result<(), UnknownRequest> {
        let index = self.find_sent(request_id)?;
        self.retry_or_fail(index, Reason::Rejected(reason.into()), now);
        Ok(())
    }

    /// Retries (or fails) every request unanswered for [`SubscribeConfig::confirm_timeout`] at
    /// `now`, as if rejected; returns how many timed out.
    pub fn expire(&mut self, now: Duration) -> usize {
        let mut expired = 0;
        let mut index = 0;
        while index < self.batches.len() {
            if matches!(self.batches[index].phase, Phase::Sent { deadline, .. } if deadline <= now) {
                expired += 1;
                let reason = Reason::Unconfirmed(self.config.confirm_timeout);
                if self.retry_or_fail(index, reason, now) {
                    // swap_remove moved the last batch here; look at this index again.
                    continue;
                }
            }
            index += 1;
        }
        expired
    }

    /// Schedules the next attempt of a failed batch, or gives up on it; returns whether the
    /// batch was removed.
    fn retry_or_fail(&mut self, index: usize, reason: Reason, now: Duration) -> bool {
        self.failed_attempts += 1;
        if self.batches[index].attempts < self.config.max_attempts {
            self.batches[index].phase = Phase::Waiting { due: now + self.config.retry_delay };
            return false;
        }
        self.drop_changed(index);
        let batch = self.batches.swap_remove(index);
        for &id in &batch.ids {
            self.wanted.remove(id);
            self.place(id, Wire::Idle);
        }
        if !batch.ids.is_empty() {
            self.failures.push(Failure {
                kind: batch.kind,
                ids: batch.ids,
                reason,
                attempts: batch.attempts,
            });
        }
        true
    }

    fn find_sent(&self, request_id: u64) -> Result<usize, UnknownRequest> {
        self.batches
            .iter()
            .position(
                |batch| matches!(batch.phase, Phase::Sent { request_id: sent, .. } if sent == request_id),
            )
            .ok_or(UnknownRequest(request_id))
    }

    /// The connection was replaced: the new one has nothing subscribed. Every wanted id is
    /// queued again (the next requests re-send the whole active and pending set), requests in
    /// flight are forgotten so answers from the old connection are ignored, and the rate
    /// budget starts afresh because venues count it per connection.
    pub fn on_reconnect(&mut self) {
        self.batches.clear();
        self.subscribing.clear();
        self.unsubscribing.clear();
        self.active.clear();
        self.to_unsubscribe.clear();
        self.refresh.clear();
        self.to_subscribe.clone_from(&self.wanted);
        self.limiter.reset();
    }

    /// Failures reported since the last call, oldest first.
    pub fn take_failures(&mut self) -> Vec<Failure> {
        std::mem::take(&mut self.failures)
    }

    /// When the manager next has something to do: a request the rate limit will allow, a retry
    /// falling due, or a confirmation timing out. `None` when everything is settled. A time at
    /// or before `now` means now: call [`expire`](Self::expire) and
    /// [`next_requests`](Self::next_requests).
    #[must_use]
    pub fn next_wakeup(&self) -> Option<Duration> {
        let ready = self.limiter.ready_at();
        let queued = !self.to_subscribe.is_empty() || !self.to_unsubscribe.is_empty();
        self.batches
            .iter()
            .map(|batch| match batch.phase {
                Phase::Sent { deadline, .. } => deadline,
                Phase::Waiting { due } => due.max(ready),
            })
            .chain(queued.then_some(ready))
            .min()
    }

    /// Whether `id` is wanted and confirmed by the venue.
    #[must_use]
    pub fn is_active(&self, id: u32) -> bool {
        self.active.contains(id)
    }

    /// The ids wanted and confirmed by the venue.
    #[must_use]
    pub const fn active(&self) -> &BitSet {
        &self.active
    }

    /// Where `id` stands.
    #[must_use]
    pub fn state(&self, id: u32) -> State {
        match (self.wire(id), self.wanted.contains(id)) {
            (Wire::Idle, false) => State::Unsubscribed,
            (Wire::OnVenue, true) if !self.refresh.contains(id) => State::Active,
            (_, true) => State::Pending,
            (_, false) => State::Unsubscribing,
        }
    }

    /// Sizes for stats.
    #[must_use]
    pub fn counts(&self) -> Counts {
        let in_flight = self.batches.iter().filter(|batch| matches!(batch.phase, Phase::Sent { .. })).count();
        Counts {
            requested: self.wanted.len(),
            active: self.active.len(),
            in_flight,
            retrying: self.batches.len() - in_flight,
            requests_sent: self.requests_sent,
            failed_attempts: self.failed_attempts,
        }
    }

    fn wire(&self, id: u32) -> Wire {
        if self.subscribing.contains(id) {
            Wire::Subscribing
        } else if self.unsubscribing.contains(id) {
            Wire::Unsubscribing
        } else if self.active.contains(id) || self.to_unsubscribe.contains(id) {
            Wire::OnVenue
        } else {
            Wire::Idle
        }
    }

    /// Puts `id` in `wire` state and recomputes its derived sets from the wish: the one place
    /// that writes them.
    fn place(&mut self, id: u32, wire: Wire) {
        let wanted = self.wanted.contains(id);
        if matches!(wire, Wire::Idle | Wire::Subscribing) {
            self.refresh.remove(id);
        }
        let refreshing = self.refresh.contains(id);
        self.subscribing.set(id, wire == Wire::Subscribing);
        self.unsubscribing.set(id, wire == Wire::Unsubscribing);
        self.active.set(id, wire == Wire::OnVenue && wanted && !refreshing);
        self.to_unsubscribe.set(id, wire == Wire::OnVenue && (!wanted || refreshing));
        self.to_subscribe.set(id, wire == Wire::Idle && wanted);
    }

    /// Panics unless every invariant in the module docs holds.
    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        use std::collections::BTreeMap;

        let sets = [
            &self.wanted,
            &self.subscribing,
            &self.unsubscribing,
            &self.active,
            &self.to_unsubscribe,
            &self.to_subscribe,
        ];
        for set in sets {
            assert_eq!(set.len(), set.iter().count(), "a bitset's length drifted");
        }
        let mut in_batch = BTreeMap::new();
        for batch in &self.batches {
            assert!(batch.attempts <= self.config.max_attempts);
            assert!(batch.ids.len() <= self.config.batch_size);
            if let Phase::Sent { .. } = batch.phase {
                assert!(!batch.ids.is_empty(), "an empty request was sent");
            }
            for &id in &batch.ids {
                assert_eq!(in_batch.insert(id, batch.kind), None, "id {id} is in two requests");
            }
        }
        for id in sets.iter().flat_map(|set| set.iter()) {
            let wanted = self.wanted.contains(id);
            let places = [
                self.subscribing.contains(id),
                self.unsubscribing.contains(id),
                self.active.contains(id),
                self.to_unsubscribe.contains(id),
                self.to_subscribe.contains(id),
            ];
            assert!(places.iter().filter(|&&p| p).count() <= 1, "id {id} is in two states");
            assert!(!self.active.contains(id) || wanted);
            assert!(!self.to_subscribe.contains(id) || wanted);
            assert!(!self.to_unsubscribe.contains(id) || !wanted || self.refresh.contains(id));
            assert!(!wanted || places.contains(&true), "wanted id {id} is nowhere");
            let kind = match self.wire(id) {
                Wire::Subscribing => Some(Kind::Subscribe),
                Wire::Unsubscribing => Some(Kind::Unsubscribe),
                Wire::Idle | Wire::OnVenue => None,
            };
            assert_eq!(in_batch.get(&id).copied(), kind, "id {id}: wire state and requests disagree");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::{
        Failure, Kind, Reason, Request, State, SubscribeConfig, SubscriptionManager, UnknownRequest,
    };
    use crate::subscribe::Gcra;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Batches of 200, a rate that never gets in the way, 10 s to confirm, 1 s between attempts.
    fn manager() -> SubscriptionManager {
        SubscriptionManager::new(SubscribeConfig {
            batch_size: 200,
            rate: Gcra::new(1000, secs(1), 1000),
            confirm_timeout: secs(10),
            retry_delay: secs(1),
            max_attempts: 3,
        })
    }

    fn send_one(subs: &mut SubscriptionManager, now: Duration) -> Request {
        let mut requests = subs.next_requests(now);
        assert_eq!(requests.len(), 1, "{requests:?}");
        requests.pop().unwrap()
    }

    fn ids(subs: &SubscriptionManager) -> Vec<u32> {
        subs.active().iter().collect()
    }

    #[test]
    fn five_hundred_ids_go_out_in_three_batches_and_are_never_sent_twice() {
        let mut subs = manager();
        assert_eq!(subs.request_subscription(0..500), 500);
        assert_eq!(subs.request_subscription(0..500), 0, "pending ids are not requested again");

        let requests = subs.next_requests(secs(0));
        let sizes: Vec<usize> = requests.iter().map(|r| r.ids.len()).collect();
        assert_eq!(sizes, [200, 200, 100]);
        assert!(requests.iter().all(|r| r.kind == Kind::Subscribe));
        let sent: BTreeSet<u32> = requests.iter().flat_map(|r| r.ids.iter().copied()).collect();
        assert_eq!(sent, (0..500).collect(), "every id exactly once");
        assert_eq!(subs.counts().in_flight, 3);

        for request in &requests {
            subs.confirm(request.id).unwrap();
        }
        assert_eq!(subs.active().len(), 500);
        assert!(subs.is_active(0) && subs.is_active(499) && !subs.is_active(500));
        assert_eq!(subs.request_subscription(0..500), 0);
        assert_eq!(subs.request_subscription([499, 500, 500]), 1);
        assert_eq!(send_one(&mut subs, secs(0)).ids, [500]);
        subs.check_invariants();
    }

    #[test]
    fn answers_without_ids_confirm_the_oldest_request_first() {
        let mut subs = manager();
        subs.request_subscription(0..450);
        let requests = subs.next_requests(secs(0));
        assert_eq!(subs.oldest_sent(), Some(requests[0].id));
        subs.confirm(requests[0].id).unwrap();
        assert_eq!(subs.oldest_sent(), Some(requests[1].id), "the next oldest, whatever the storage order");
        subs.confirm(requests[1].id).unwrap();
        subs.confirm(requests[2].id).unwrap();
        assert_eq!(subs.oldest_sent(), None);
    }

    #[test]
    fn a_rejected_request_is_retried_then_reported() {
        let mut subs = manager();
        subs.request_subscription([7, 8, 9]);
        let first = send_one(&mut subs, secs(0));
        subs.reject(first.id, "invalid symbol", secs(0)).unwrap();
        assert_eq!(subs.state(7), State::Pending);
        assert_eq!(subs.counts().retrying, 1);
        assert_eq!(subs.next_requests(Duration::from_millis(999)), []);
        assert_eq!(subs.next_wakeup(), Some(secs(1)));

        let second = send_one(&mut subs, secs(1));
        assert_eq!((second.kind, &second.ids), (Kind::Subscribe, &first.ids));
        assert_ne!(second.id, first.id, "every attempt has its own request id");
        assert_eq!(subs.reject(first.id, "late", secs(1)), Err(UnknownRequest(first.id)));
        subs.reject(second.id, "invalid symbol", secs(1)).unwrap();
        assert!(subs.take_failures().is_empty());

        let third = send_one(&mut subs, secs(2));
        subs.reject(third.id, "invalid symbol", secs(2)).unwrap();
        let failures = subs.take_failures();
        let expected = Failure {
            kind: Kind::Subscribe,
            ids: vec![7, 8, 9],
            reason: Reason::Rejected("invalid symbol".into()),
            attempts: 3,
        };
        assert_eq!(failures, [expected]);
        assert_eq!(
            failures[0].to_string(),
            "subscribe of 3 ids failed after 3 attempts: rejected: invalid symbol"
        );
        assert_eq!(subs.state(7), State::Unsubscribed);
        assert_eq!(subs.counts().requested, 0);
        assert_eq!(subs.next_wakeup(), None, "nothing left to do");
        assert_eq!(subs.request_subscription([7]), 1, "a failed id can be asked for again");
        subs.check_invariants();
    }

    #[test]
    fn an_unconfirmed_request_is_retried_after_the_timeout() {
        let mut subs = manager();
        subs.request_subscription(0..3);
        let first = send_one(&mut subs, secs(0));
        assert_eq!(subs.next_wakeup(), Some(secs(10)));
        assert_eq!(subs.expire(Duration::from_nanos(9_999_999_999)), 0);
        assert_eq!(subs.expire(secs(10)), 1);
        assert_eq!(subs.next_requests(secs(10)), []);

        let second = send_one(&mut subs, secs(11));
        assert_eq!(second.ids, first.ids);
        assert_eq!(
            subs.confirm(first.id),
            Err(UnknownRequest(first.id)),
            "a timed-out attempt's late ack is ignored"
        );
        subs.confirm(second.id).unwrap();
        assert_eq!(ids(&subs), [0, 1, 2]);
        assert_eq!(subs.counts().failed_attempts, 1);
        subs.check_invariants();
    }

    #[test]
    fn requests_that_never_get_an_answer_fail_with_the_timeout_as_reason() {
        let mut subs = manager();
        subs.request_subscription([1]);
        let mut now = secs(0);
        for _ in 0..3 {
            send_one(&mut subs, now);
            now += secs(10);
            assert_eq!(subs.expire(now), 1);
            now += secs(1);
        }
        let failures = subs.take_failures();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].reason, Reason::Unconfirmed(secs(10)));
        assert_eq!(failures[0].reason.to_string(), "no confirmation within 10s");
        assert_eq!(subs.state(1), State::Unsubscribed);
    }

    #[test]
    fn answers_from_before_a_reconnect_are_ignored() {
        let mut subs =
            SubscriptionManager::new(SubscribeConfig { batch_size: 2, ..manager().config().clone() });
        subs.request_subscription(0..4);
        let [old_a, old_b] = <[Request; 2]>::try_from(subs.next_requests(secs(0))).unwrap();
        subs.confirm(old_a.id).unwrap();

        subs.on_reconnect();
        assert_eq!(subs.confirm(old_b.id), Err(UnknownRequest(old_b.id)));
        assert_eq!(subs.reject(old_b.id, "gone", secs(0)), Err(UnknownRequest(old_b.id)));
        assert!(subs.active().is_empty(), "a new connection has nothing confirmed");
        assert_eq!(subs.state(0), State::Pending);

        let fresh = subs.next_requests(secs(0));
        assert!(fresh.iter().all(|r| r.id > old_b.id), "request ids are never reused");
        assert_eq!(subs.confirm(old_a.id), Err(UnknownRequest(old_a.id)));
        for request in &fresh {
            subs.confirm(request.id).unwrap();
        }
        assert_eq!(ids(&subs), [0, 1, 2, 3]);
        subs.check_invariants();
    }

    #[test]
    fn a_reconnect_resends_exactly_the_active_and_pending_set() {
        let mut subs = manager();
        subs.request_subscription(0..10);
        let confirmed = send_one(&mut subs, secs(0));
        subs.confirm(confirmed.id).unwrap();
        subs.request_subscription([20, 21]);
        let _in_flight = send_one(&mut subs, secs(0));
        subs.request_subscription([30]);
        subs.request_unsubscription([3]);

        subs.on_reconnect();
        let requests = subs.next_requests(secs(0));
        assert!(
            requests.iter().all(|r| r.kind == Kind::Subscribe),
            "the old connection's unsubscribes are moot"
        );
        let resent: Vec<u32> = requests.iter().flat_map(|r| r.ids.iter().copied()).collect();
        assert_eq!(resent, [0, 1, 2, 4, 5, 6, 7, 8, 9, 20, 21, 30]);
        assert_eq!(subs.state(3), State::Unsubscribed);
        subs.check_invariants();
    }

    #[test]
    fn unsubscribe_an_active_id_a_queued_id_and_an_unknown_id() {
        let mut subs = manager();
        subs.request_subscription(0..5);
        let sub = send_one(&mut subs, secs(0));
        subs.confirm(sub.id).unwrap();
        subs.request_subscription([50]);

        assert_eq!(subs.request_unsubscription([1, 2, 50, 99]), 3);
        assert_eq!(subs.state(1), State::Unsubscribing);
        assert_eq!(subs.state(50), State::Unsubscribed, "never sent, so nothing to undo");
        assert!(!subs.is_active(1));
        let unsub = send_one(&mut subs, secs(0));
        assert_eq!((unsub.kind, unsub.ids.as_slice()), (Kind::Unsubscribe, [1, 2].as_slice()));
        assert_eq!(subs.state(1), State::Unsubscribing);
        subs.confirm(unsub.id).unwrap();
        assert_eq!(subs.state(1), State::Unsubscribed);
        assert_eq!(ids(&subs), [0, 3, 4]);
        assert_eq!(subs.next_wakeup(), None);
        subs.check_invariants();
    }

    #[test]
    fn a_wish_that_changes_mid_request_is_honoured_after_the_answer() {
        let mut subs = manager();
        subs.request_subscription([1]);
        let sub = send_one(&mut subs, secs(0));
        subs.request_unsubscription([1]);
        assert_eq!(subs.next_requests(secs(0)), [], "no unsubscribe while the subscribe is in flight");
        subs.confirm(sub.id).unwrap();
        let unsub = send_one(&mut subs, secs(0));
        assert_eq!((unsub.kind, unsub.ids.as_slice()), (Kind::Unsubscribe, [1].as_slice()));

        subs.request_subscription([1]);
        assert_eq!(subs.state(1), State::Pending);
        assert_eq!(subs.next_requests(secs(0)), []);
        subs.confirm(unsub.id).unwrap();
        let again = send_one(&mut subs, secs(0));
        assert_eq!((again.kind, again.ids.as_slice()), (Kind::Subscribe, [1].as_slice()));
        subs.confirm(again.id).unwrap();
        assert_eq!(subs.state(1), State::Active);
        subs.check_invariants();
    }

    #[test]
    fn a_retry_drops_ids_no_longer_wanted() {
        let mut subs = manager();
        subs.request_subscription([1, 2]);
        let sub = send_one(&mut subs, secs(0));
        subs.reject(sub.id, "busy", secs(0)).unwrap();
        subs.request_unsubscription([2]);
        assert_eq!(send_one(&mut subs, secs(1)).ids, [1]);
        assert_eq!(subs.state(2), State::Unsubscribed, "a rejected subscribe left nothing to undo");

        let mut subs = manager();
        subs.request_subscription([1]);
        let sub = send_one(&mut subs, secs(0));
        subs.confirm(sub.id).unwrap();
        subs.request_unsubscription([1]);
        let unsub = send_one(&mut subs, secs(0));
        subs.reject(unsub.id, "busy", secs(0)).unwrap();
        subs.request_subscription([1]);
        assert_eq!(subs.next_requests(secs(1)), [], "a rejected unsubscribe left it subscribed");
        assert_eq!(subs.state(1), State::Active);
        assert_eq!(subs.next_wakeup(), None);
        subs.check_invariants();
    }

    #[test]
    fn the_rate_limit_holds_requests_back_until_the_budget_allows() {
        let mut subs = SubscriptionManager::new(SubscribeConfig {
            batch_size: 1,
            rate: Gcra::new(1, secs(1), 2),
            ..manager().config().clone()
        });
        subs.request_subscription(0..4);
        assert_eq!(subs.next_requests(secs(0)).len(), 2, "the burst");
        assert_eq!(subs.next_wakeup(), Some(secs(1)));
        assert_eq!(subs.next_requests(Duration::from_millis(999)), []);
        assert_eq!(send_one(&mut subs, secs(1)).ids, [2]);
        assert_eq!(send_one(&mut subs, secs(2)).ids, [3]);
        assert_eq!(subs.next_requests(secs(9)), []);
    }

    /// Greedy requests at every step never exceed, in any window of the venue's period, what
    /// each preset's docs promise.
    #[test]
    fn presets_respect_the_venue_limits() {
        let cases = [
            (SubscribeConfig::BINANCE, secs(1), 4),
            (SubscribeConfig::BYBIT, secs(1), 9),
            (SubscribeConfig::OKX, Duration::from_hours(1), 479),
        ];
        for (config, window, most) in cases {
            let mut rate = config.rate.clone();
            let mut sent = Vec::new();
            let step = window / 1000;
            for tick in 0..5000 {
                let now = step * tick;
                while rate.try_acquire(now).is_ok() {
                    sent.push(now);
                }
            }
            let busiest = sent
                .iter()
                .enumerate()
                .map(|(i, &start)| sent[i..].iter().take_while(|&&t| t < start + window).count())
                .max();
            assert_eq!(busiest, Some(most), "{config:?}");
        }
    }

    #[test]
    fn a_refresh_unsubscribes_then_subscribes_again_and_survives_a_retry() {
        let mut subs = manager();
        subs.request_subscription([1, 2]);
        let first = send_one(&mut subs, secs(0));
        subs.confirm(first.id).unwrap();
        assert_eq!(subs.request_refresh([1, 3]), 1, "3 was never active");
        subs.check_invariants();
        assert_eq!((subs.state(1), subs.state(2)), (State::Pending, State::Active));
        let unsubscribe = send_one(&mut subs, secs(1));
        assert_eq!((unsubscribe.kind, &unsubscribe.ids[..]), (Kind::Unsubscribe, &[1][..]));
        // Refused once: the retry still unsubscribes, although the id is wanted.
        subs.reject(unsubscribe.id, "busy", secs(1)).unwrap();
        let retry = send_one(&mut subs, secs(3));
        assert_eq!((retry.kind, &retry.ids[..]), (Kind::Unsubscribe, &[1][..]));
        subs.confirm(retry.id).unwrap();
        subs.check_invariants();
        let subscribe = send_one(&mut subs, secs(3));
        assert_eq!((subscribe.kind, &subscribe.ids[..]), (Kind::Subscribe, &[1][..]));
        subs.confirm(subscribe.id).unwrap();
        assert_eq!(ids(&subs), [1, 2]);
        assert!(subs.next_requests(secs(4)).is_empty(), "nothing more");
        subs.check_invariants();
    }
}
