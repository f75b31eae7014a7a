//! When to stop trying a venue for a while: a circuit breaker shared by the venue's connections.
//!
//! [`Backoff`](super::Backoff) spaces one connection's retries; the breaker sees every
//! connection to a venue and, after `failure_threshold` failures within `window`, refuses all of
//! them for `open_for`, so that a venue that is down is not hammered by many sockets at once.
//! Then one trial is let through: its success closes the circuit, its failure opens it again.
//!
//! Like the backoff it is pure: the caller passes the time in. Invariants:
//! - while open, [`CircuitBreaker::allow`] refuses with the time left until the next trial;
//! - at most one trial is in flight per `open_for`: a trial that never reports back (its task was
//!   cancelled) is replaced by the next one after `open_for`, so the breaker cannot stay shut;
//! - memory is bounded by `failure_threshold` timestamps.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// When a venue's circuit opens and for how long. [`Default`]: 5 failures within 60 s open it
/// for 30 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Failures within `window` that open the circuit.
    pub failure_threshold: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long the circuit stays open before a trial.
    pub open_for: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self { failure_threshold: 5, window: Duration::from_mins(1), open_for: Duration::from_secs(30) }
    }
}

impl BreakerPolicy {
    /// Checks every field's range.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        let invalid = |name, reason: &str| Err(Error::InvalidOption { name, reason: reason.into() });
        if self.failure_threshold == 0 {
            return invalid("failure_threshold", "must be at least 1");
        }
        if self.window.is_zero() {
            return invalid("window", "must be positive");
        }
        if self.open_for.is_zero() {
            return invalid("open_for", "must be positive");
        }
        Ok(())
    }
}

/// Where a circuit stands, as of the last call that changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Attempts go through.
    Closed,
    /// Attempts are refused (until `open_for` has passed; the next [`CircuitBreaker::allow`]
    /// then half-opens it).
    Open,
    /// One trial attempt is in flight; the others are refused until it reports back.
    HalfOpen,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed,
    /// Refusing since `since`; `failures` is what opened it, kept for the message.
    Open {
        since: Instant,
        failures: u32,
    },
    /// A trial started at `since`.
    HalfOpen {
        since: Instant,
        failures: u32,
    },
}

/// The circuit breaker of one venue.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    venue: String,
    policy: BreakerPolicy,
    state: State,
    /// The latest failures, oldest first, at most `failure_threshold` of them.
    recent: VecDeque<Instant>,
}

impl CircuitBreaker {
    /// A closed circuit for `venue` (the name its refusals give).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when the policy is out of range.
    pub fn new(venue: impl Into<String>, policy: BreakerPolicy) -> Result<Self> {
        policy.validate()?;
        let recent = VecDeque::with_capacity(threshold(&policy));
        Ok(Self { venue: venue.into(), policy, state: State::Closed, recent })
    }

    /// The venue's name.
    #[must_use]
    pub fn venue(&self) -> &str {
        &self.venue
    }

    /// The policy followed.
    #[must_use]
    pub const fn policy(&self) -> &BreakerPolicy {
        &self.policy
    }

    /// Where the circuit stands as of the last call.
    #[must_use]
    pub const fn state(&self) -> BreakerState {
        match self.state {
            State::Closed => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to attempt a connection at `now`. Once `open_for` has passed since the circuit
    /// opened (or since the last trial started) this lets one trial through and half-opens it;
    /// report the trial's outcome with [`record_success`](Self::record_success) or
    /// [`record_failure`](Self::record_failure).
    ///
    /// # Errors
    /// [`BreakerOpen`] while the circuit is open or a trial is in flight: wait its `retry_in`.
    pub fn allow(&mut self, now: Instant) -> Result<(), BreakerOpen> {
        let (State::Open { since, failures } | State::HalfOpen { since, failures }) = self.state else {
            return Ok(());
        };
        let waited = now.saturating_duration_since(since);
        if waited >= self.policy.open_for {
            self.state = State::HalfOpen { since: now, failures };
            return Ok(());
        }
        Err(BreakerOpen {
            venue: self.venue.clone(),
            failures,
            window: self.policy.window,
            retry_in: self.policy.open_for.saturating_sub(waited),
        })
    }

    /// An attempt failed at `now`: opens the circuit after `failure_threshold` failures within
    /// `window`, or at once when the attempt was the trial.
    pub fn record_failure(&mut self, now: Instant) {
        if self.recent.len() == threshold(&self.policy) {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        let in_window =
            self.recent.iter().filter(|&&at| now.saturating_duration_since(at) < self.policy.window);
        let failures = u32::try_from(in_window.count()).unwrap_or(u32::MAX);
        match self.state {
            State::HalfOpen { .. } => self.state = State::Open { since: now, failures },
            State::Closed if failures >= self.policy.failure_threshold => {
                self.state = State::Open { since: now, failures };
            }
            // A late report from an attempt that started before the circuit opened.
            State::Closed | State::Open { .. } => {}
        }
    }

    /// An attempt succeeded: the venue answers again, so the circuit closes and earlier
    /// failures are forgotten.
    pub fn record_success(&mut self) {
        self.state = State::Closed;
        self.recent.clear();
    }
}

fn threshold(policy: &BreakerPolicy) -> usize {
    usize::try_from(policy.failure_threshold).unwrap_or(usize::MAX)
}

/// A venue's circuit is open: attempts are refused for `retry_in`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerOpen {
    /// The venue.
    pub venue: String,
    /// Failures within `window` when the circuit opened.
    pub failures: u32,
    /// The policy's window.
    pub window: Duration,
    /// Time left until the next trial is allowed.
    pub retry_in: Duration,
}

impl fmt::Display for BreakerOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.failures == 1 { "" } else { "s" };
        write!(
            f,
            "circuit open for {} after {} failure{s} in {}; next attempt in {}",
            self.venue,
            self.failures,
            Seconds(self.window),
            Seconds(self.retry_in)
        )
    }
}

impl std::error::Error for BreakerOpen {}

/// A duration for people: milliseconds below a second, else whole seconds rounded up (so "next
/// attempt in 1 s" never comes early).
struct Seconds(Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < Duration::from_secs(1) {
            write!(f, "{} ms", self.0.as_millis())
        } else {
            write!(f, "{} s", self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new("binance", BreakerPolicy::default()).unwrap()
    }

    fn fail(breaker: &mut CircuitBreaker, start: Instant, seconds: impl IntoIterator<Item = u32>) {
        for second in seconds {
            breaker.record_failure(start + second * SECOND);
        }
    }

    #[test]
    fn opens_after_the_threshold_and_says_so() {
        let mut breaker = breaker();
        let start = Instant::now();
        fail(&mut breaker, start, 0..4);
        assert!(breaker.allow(start + 4 * SECOND).is_ok());
        fail(&mut breaker, start, [7]);
        assert_eq!(breaker.state(), BreakerState::Open);
        let open = breaker.allow(start + 14 * SECOND).unwrap_err();
        assert_eq!(open.retry_in, 23 * SECOND);
        assert_eq!(
            open.to_string(),
            "circuit open for binance after 5 failures in 60 s; next attempt in 23 s"
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let mut breaker = breaker();
        let start = Instant::now();
        fail(&mut breaker, start, [0, 20, 40, 60, 80, 100]);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.allow(start + 100 * SECOND).is_ok());
    }

    #[test]
    fn half_opens_for_one_trial_and_closes_on_success() {
        let mut breaker = breaker();
        let start = Instant::now();
        fail(&mut breaker, start, 0..5);
        let later = start + 34 * SECOND;
        assert!(breaker.allow(later).is_ok());
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.allow(later).is_err(), "one trial at a time");
        breaker.record_success();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.allow(later).is_ok());
        fail(&mut breaker, later, 0..4);
        assert_eq!(breaker.state(), BreakerState::Closed, "earlier failures were forgotten");
    }

    #[test]
    fn a_failed_trial_opens_the_circuit_again() {
        let mut breaker = breaker();
        let start = Instant::now();
        fail(&mut breaker, start, 0..5);
        let trial = start + 40 * SECOND;
        breaker.allow(trial).unwrap();
        breaker.record_failure(trial + SECOND);
        assert_eq!(breaker.state(), BreakerState::Open);
        let open = breaker.allow(trial + 2 * SECOND).unwrap_err();
        assert_eq!(open.retry_in, 29 * SECOND);
        assert_eq!(open.failures, 5);
    }

    #[test]
    fn a_trial_that_never_reports_is_replaced() {
        let mut breaker = breaker();
        let start = Instant::now();
        fail(&mut breaker, start, 0..5);
        breaker.allow(start + 34 * SECOND).unwrap();
        assert!(breaker.allow(start + 63 * SECOND).is_err());
        assert!(breaker.allow(start + 64 * SECOND).is_ok());
    }

    #[test]
    fn short_waits_read_in_milliseconds() {
        let open = BreakerOpen {
            venue: "okx".into(),
            failures: 1,
            window: Duration::from_millis(1500),
            retry_in: Duration::from_millis(250),
        };
        assert_eq!(open.to_string(), "circuit open for okx after 1 failure in 2 s; next attempt in 250 ms");
    }

    #[test]
    fn policies_out_of_range_are_refused() {
        let zero = BreakerPolicy { failure_threshold: 0, ..BreakerPolicy::default() };
        assert!(matches!(zero.validate(), Err(Error::InvalidOption { name: "failure_threshold", .. })));
        let instant = BreakerPolicy { open_for: Duration::ZERO, ..BreakerPolicy::default() };
        assert!(CircuitBreaker::new("binance", instant).is_err());
    }
}
