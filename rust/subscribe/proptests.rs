//! Property test of the tracker against a model venue.
//!
//! Random interleavings of user requests, sends, acks and rejections in any order, silence,
//! time and reconnects must keep every invariant after every step; and once the venue answers
//! everything, the active set must be exactly what the user still wants.
//!
//! The model venue applies a request when it acks it; a request left unanswered past the
//! timeout, or cut off by a reconnect, was lost and never applied (the tracker's documented
//! assumption), and answers to it must be ignored.

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;

use super::{Gcra, Kind, Request, State, SubscribeConfig, SubscriptionManager};

const IDS: u32 = 40;

const CONFIG: SubscribeConfig = SubscribeConfig {
    batch_size: 3,
    rate: Gcra::new(5, Duration::from_secs(1), 2),
    confirm_timeout: Duration::from_secs(1),
    retry_delay: Duration::from_millis(300),
    max_attempts: 2,
};

#[derive(Debug, Clone)]
enum Op {
    Subscribe(Vec<u32>),
    Unsubscribe(Vec<u32>),
    Send,
    /// The venue acks the n-th outstanding request (modulo their number).
    Ack(usize),
    Reject(usize),
    WaitMs(u64),
    Reconnect,
    /// An answer arrives for the n-th lost or pre-reconnect request.
    LateAnswer(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let ids = prop::collection::vec(0..IDS, 0..8);
    prop_oneof![
        3 => ids.clone().prop_map(Op::Subscribe),
        2 => ids.prop_map(Op::Unsubscribe),
        4 => Just(Op::Send),
        4 => any::<usize>().prop_map(Op::Ack),
        2 => any::<usize>().prop_map(Op::Reject),
        2 => (0..1500_u64).prop_map(Op::WaitMs),
        1 => Just(Op::Reconnect),
        1 => any::<usize>().prop_map(Op::LateAnswer),
    ]
}

struct Harness {
    subs: SubscriptionManager,
    now: Duration,
    /// Sent on this connection and neither answered nor timed out, with their deadlines.
    outstanding: Vec<(Request, Duration)>,
    /// Request ids whose answers the tracker must ignore.
    lost: Vec<u64>,
    /// What the venue sends.
    venue: BTreeSet<u32>,
    /// What the user wants, minus ids reported as failed subscriptions.
    wanted: BTreeSet<u32>,
    /// Failed unsubscriptions: the venue may go on sending these.
    leaked: BTreeSet<u32>,
}

impl Harness {
    fn new() -> Self {
        Self {
            subs: SubscriptionManager::new(CONFIG),
            now: Duration::ZERO,
            outstanding: Vec::new(),
            lost: Vec::new(),
            venue: BTreeSet::new(),
            wanted: BTreeSet::new(),
            leaked: BTreeSet::new(),
        }
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Subscribe(ids) => {
                let new = ids.iter().filter(|&&id| self.wanted.insert(id)).count();
                assert_eq!(self.subs.request_subscription(ids.iter().copied()), new);
            }
            Op::Unsubscribe(ids) => {
                let gone = ids.iter().filter(|&&id| self.wanted.remove(&id)).count();
                assert_eq!(self.subs.request_unsubscription(ids.iter().copied()), gone);
            }
            Op::Send => self.send(),
            Op::Ack(n) => {
                if let Some(request) = self.take_outstanding(*n) {
                    self.subs.confirm(request.id).unwrap();
                    match request.kind {
                        Kind::Subscribe => self.venue.extend(&request.ids),
                        Kind::Unsubscribe => request.ids.iter().for_each(|id| {
                            self.venue.remove(id);
                        }),
                    }
                }
            }
            Op::Reject(n) => {
                if let Some(request) = self.take_outstanding(*n) {
                    self.subs.reject(request.id, "refused", self.now).unwrap();
                }
            }
            Op::WaitMs(ms) => {
                self.now += Duration::from_millis(*ms);
                let now = self.now;
                let (timed_out, left) =
                    self.outstanding.drain(..).partition(|(_, deadline)| *deadline <= now);
                self.outstanding = left;
                let timed_out: Vec<(Request, Duration)> = timed_out;
                assert_eq!(self.subs.expire(now), timed_out.len());
                self.lost.extend(timed_out.iter().map(|(request, _)| request.id));
            }
            Op::Reconnect => {
                self.subs.on_reconnect();
                self.lost.extend(self.outstanding.drain(..).map(|(request, _)| request.id));
                self.venue.clear();
                self.leaked.clear();
            }
            Op::LateAnswer(n) => {
                if !self.lost.is_empty() {
                    let id = self.lost[n % self.lost.len()];
                    assert!(self.subs.confirm(id).is_err());
                    assert!(self.subs.reject(id, "late", self.now).is_err());
                }
            }
        }
        self.collect_failures();
        self.check();
    }

    fn send(&mut self) {
        for request in self.subs.next_requests(self.now) {
            assert!(!request.ids.is_empty() && request.ids.len() <= CONFIG.batch_size);
            assert!(request.ids.is_sorted(), "{request:?}");
            for id in &request.ids {
                let on_venue = self.venue.contains(id) && !self.leaked.contains(id);
                match request.kind {
                    Kind::Subscribe => assert!(!on_venue, "duplicate subscription of {id}"),
                    Kind::Unsubscribe => assert!(self.venue.contains(id), "{id} is not subscribed"),
                }
            }
            self.outstanding.push((request, self.now + CONFIG.confirm_timeout));
        }
    }

    fn take_outstanding(&mut self, n: usize) -> Option<Request> {
        let len = self.outstanding.len();
        (len > 0).then(|| self.outstanding.remove(n % len).0)
    }

    fn collect_failures(&mut self) {
        for failure in self.subs.take_failures() {
            assert!(failure.attempts == CONFIG.max_attempts && !failure.ids.is_empty());
            for id in failure.ids {
                match failure.kind {
                    Kind::Subscribe => assert!(self.wanted.remove(&id), "failed {id} was not wanted"),
                    Kind::Unsubscribe => {
                        assert!(!self.wanted.contains(&id));
                        self.leaked.insert(id);
                    }
                }
            }
        }
    }

    fn check(&self) {
        self.subs.check_invariants();
        for id in 0..IDS {
            let state = self.subs.state(id);
            assert_eq!(
                matches!(state, State::Pending | State::Active),
                self.wanted.contains(&id),
                "id {id} is {state:?}"
            );
            assert_eq!(state == State::Active, self.subs.is_active(id));
        }
        let active: BTreeSet<u32> = self.subs.active().iter().collect();
        assert!(active.is_subset(&self.venue), "active {active:?} but the venue has {:?}", self.venue);
    }

    /// Lets the venue ack everything until the tracker has nothing left to do.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let Some(wakeup) = self.subs.next_wakeup() else {
                return;
            };
            self.now = self.now.max(wakeup);
            self.step(&Op::WaitMs(0));
            self.step(&Op::Send);
            while !self.outstanding.is_empty() {
                self.step(&Op::Ack(0));
            }
        }
        panic!("the tracker never settled");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_histories_keep_the_invariants_and_converge(ops in prop::collection::vec(op(), 0..200)) {
        let mut harness = Harness::new();
        for op in &ops {
            harness.step(op);
        }
        harness.settle();
        let active: BTreeSet<u32> = harness.subs.active().iter().collect();
        prop_assert_eq!(&active, &harness.wanted);
        prop_assert!(harness.venue.difference(&active).all(|id| harness.leaked.contains(id)));
    }
}
