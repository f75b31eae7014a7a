//! The outbound request budget: a GCRA (generic cell rate algorithm) limiter.
//!
//! GCRA is a token bucket kept as one timestamp, the theoretical arrival time (TAT): when the
//! next request would be due if requests had come exactly at the sustained rate. A request
//! conforms when it is at most `tolerance = interval × (burst − 1)` ahead of that schedule.
//! There is no refill loop, and a refusal says exactly how long to wait.
//!
//! The limiter reads no clock: `now` is a [`Duration`] since any fixed epoch the caller picks
//! (the crate's is `Duration::from_nanos(clock::monotonic_ns())`), which keeps tests exact.

use std::time::Duration;

/// A GCRA limiter: up to `burst` requests back to back, then one every `per / count`.
///
/// In any window `[t, t + per)`, at most `count + burst − 1` requests pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gcra {
    interval: Duration,
    tolerance: Duration,
    tat: Duration,
}

impl Gcra {
    /// Allows `count` requests per `per` on average and `burst` at once.
    ///
    /// The interval `per / count` is rounded up to the nanosecond so that the limiter is never
    /// faster than asked (`Gcra::new(3, Duration::from_secs(1), 1)` spaces requests by
    /// 333 333 334 ns). `count` is a count per period rather than a rate per second so that
    /// hourly budgets such as OKX's 480 requests per hour are exact.
    ///
    /// # Panics
    /// If `count` or `burst` is zero or `per` is zero (at compile time in a `const`).
    #[must_use]
    pub const fn new(count: u32, per: Duration, burst: u32) -> Self {
        assert!(count > 0 && burst > 0 && !per.is_zero(), "a rate needs count, per and burst above zero");
        let Some(mut interval) = per.checked_div(count) else { unreachable!() };
        if interval.saturating_mul(count).as_nanos() < per.as_nanos() {
            interval = interval.saturating_add(Duration::from_nanos(1));
        }
        Self { interval, tolerance: interval.saturating_mul(burst - 1), tat: Duration::ZERO }
    }

    /// Takes one request from the budget at `now`.
    ///
    /// # Errors
    /// When a request at `now` would exceed the rate: how long after `now` one will conform.
    /// The budget is left as it was.
    pub fn try_acquire(&mut self, now: Duration) -> Result<(), Duration> {
        if let Some(wait) = self.ready_at().checked_sub(now).filter(|wait| !wait.is_zero()) {
            return Err(wait);
        }
        self.tat = self.tat.max(now) + self.interval;
        Ok(())
    }

    /// The earliest time at which [`try_acquire`](Self::try_acquire) succeeds.
    #[must_use]
    pub const fn ready_at(&self) -> Duration {
        self.tat.saturating_sub(self.tolerance)
    }

    /// Forgets past requests, so the whole burst is available again. Venues count their limits
    /// per connection, so a new connection starts with a fresh budget.
    pub const fn reset(&mut self) {
        self.tat = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Gcra;

    const fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn burst_then_one_per_interval_with_exact_retry_after() {
        let mut gcra = Gcra::new(5, Duration::from_secs(1), 3);
        for _ in 0..3 {
            assert_eq!(gcra.try_acquire(ms(0)), Ok(()));
        }
        assert_eq!(gcra.try_acquire(ms(0)), Err(ms(200)));
        assert_eq!(gcra.try_acquire(ms(0)), Err(ms(200)), "a refusal takes nothing");
        assert_eq!(gcra.try_acquire(ms(150)), Err(ms(50)));
        assert_eq!(gcra.try_acquire(ms(200)), Ok(()));
        assert_eq!(gcra.try_acquire(ms(200)), Err(ms(200)));
        assert_eq!(gcra.try_acquire(ms(400)), Ok(()));
        assert_eq!(gcra.ready_at(), ms(600));
    }

    #[test]
    fn idle_time_refills_the_burst_and_no_more() {
        let mut gcra = Gcra::new(5, Duration::from_secs(1), 3);
        for _ in 0..3 {
            gcra.try_acquire(ms(0)).unwrap();
        }
        let later = ms(10_000);
        for _ in 0..3 {
            assert_eq!(gcra.try_acquire(later), Ok(()));
        }
        assert_eq!(gcra.try_acquire(later), Err(ms(200)));
    }

    #[test]
    fn interval_rounds_up_so_the_rate_is_never_exceeded() {
        let mut gcra = Gcra::new(3, Duration::from_secs(1), 1);
        assert_eq!(gcra.try_acquire(ms(0)), Ok(()));
        assert_eq!(gcra.try_acquire(ms(0)), Err(Duration::from_nanos(333_333_334)));
    }

    #[test]
    fn hourly_budget() {
        let mut gcra = Gcra::new(480, Duration::from_hours(1), 1);
        assert_eq!(gcra.try_acquire(ms(0)), Ok(()));
        assert_eq!(gcra.try_acquire(ms(0)), Err(ms(7_500)));
        assert_eq!(gcra.try_acquire(ms(7_500)), Ok(()));
    }

    #[test]
    fn reset_restores_the_burst() {
        let mut gcra = Gcra::new(1, Duration::from_secs(1), 2);
        gcra.try_acquire(ms(0)).unwrap();
        gcra.try_acquire(ms(0)).unwrap();
        assert!(gcra.try_acquire(ms(1)).is_err());
        gcra.reset();
        assert_eq!(gcra.try_acquire(ms(1)), Ok(()));
        assert_eq!(gcra.try_acquire(ms(1)), Ok(()));
        assert_eq!(gcra.try_acquire(ms(1)), Err(ms(1000)));
    }
}
