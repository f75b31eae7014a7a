//! Latency distributions: an HDR histogram of nanoseconds over a fixed range.
//!
//! Owns the range rule only; the bucketing and percentile arithmetic are `hdrhistogram`'s. The
//! histogram never resizes, so recording never allocates: a value above the range is recorded
//! as the range's top and counted in [`LatencyHistogram::clamped`], so an outlier shows up as a
//! count rather than vanishing or failing the caller. No reported value exceeds the range's top.

use hdrhistogram::{CreationError, Histogram};

/// A distribution of latencies in nanoseconds, from 1 ns to a fixed maximum, with
/// `significant_digits` decimal digits of precision at every magnitude.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    histogram: Histogram<u64>,
    clamped: u64,
}

impl LatencyHistogram {
    /// An empty histogram of values up to `max_ns`, to `significant_digits` digits.
    ///
    /// # Errors
    /// When `max_ns` is below 2 or `significant_digits` is above 5 (hdrhistogram's limits).
    pub fn new(max_ns: u64, significant_digits: u8) -> Result<Self, CreationError> {
        let histogram = Histogram::new_with_max(max_ns, significant_digits)?;
        Ok(Self { histogram, clamped: 0 })
    }

    /// Records one value; one above the range is recorded as [`highest_ns`](Self::highest_ns)
    /// and counted in [`clamped`](Self::clamped).
    pub fn record(&mut self, ns: u64) {
        let top = self.highest_ns();
        if ns > top {
            self.clamped += 1;
        }
        self.histogram.saturating_record(ns.min(top));
    }

    /// The top of the range, as constructed.
    #[must_use]
    pub fn highest_ns(&self) -> u64 {
        self.histogram.high()
    }

    /// Values recorded since creation or the last [`reset`](Self::reset).
    #[must_use]
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Of [`count`](Self::count), the values that were above the range.
    #[must_use]
    pub const fn clamped(&self) -> u64 {
        self.clamped
    }

    /// The largest value recorded, to the histogram's precision; 0 when empty.
    #[must_use]
    pub fn max_ns(&self) -> u64 {
        if self.histogram.is_empty() { 0 } else { self.capped(self.histogram.max()) }
    }

    /// The mean of the values recorded; 0.0 when empty.
    #[must_use]
    pub fn mean_ns(&self) -> f64 {
        self.histogram.mean()
    }

    /// The value that `percentile` % of the values recorded are at or below, to the histogram's
    /// precision; 0 when empty. `percentile` is in `0.0..=100.0` (above 100 means 100).
    #[must_use]
    pub fn percentile_ns(&self, percentile: f64) -> u64 {
        self.capped(self.histogram.value_at_percentile(percentile))
    }

    /// The fraction of the values recorded that are at or below `ns` (values within the
    /// histogram's precision of `ns` count as equal); 0.0 when empty.
    #[must_use]
    pub fn share_below(&self, ns: u64) -> f64 {
        if self.histogram.is_empty() { 0.0 } else { self.histogram.quantile_below(ns) }
    }

    /// Forgets every value recorded, keeping the range and precision.
    pub fn reset(&mut self) {
        self.histogram.reset();
        self.clamped = 0;
    }

    /// A bucket's top can lie above the range's top; a clamped value must not read as more than
    /// the range allows.
    fn capped(&self, ns: u64) -> u64 {
        ns.min(self.highest_ns())
    }
}

#[cfg(test)]
mod tests {
    use super::LatencyHistogram;

    fn one_to_a_thousand() -> LatencyHistogram {
        let mut histogram = LatencyHistogram::new(1_000_000, 3).unwrap();
        for ns in 1..=1000 {
            histogram.record(ns);
        }
        histogram
    }

    #[test]
    fn percentiles_of_one_to_a_thousand_are_exact_at_three_digits() {
        let histogram = one_to_a_thousand();
        assert_eq!(histogram.count(), 1000);
        assert_eq!(histogram.percentile_ns(50.0), 500);
        assert_eq!(histogram.percentile_ns(95.0), 950);
        assert_eq!(histogram.percentile_ns(99.0), 990);
        assert_eq!(histogram.percentile_ns(100.0), 1000);
        assert_eq!(histogram.percentile_ns(0.0), 1);
        assert_eq!(histogram.max_ns(), 1000);
        assert!((histogram.mean_ns() - 500.5).abs() < 1e-9);
        assert!((histogram.share_below(500) - 0.5).abs() < 1e-12);
        assert!((histogram.share_below(2_000_000) - 1.0).abs() < 1e-12);
        assert_eq!(histogram.clamped(), 0);
    }

    #[test]
    fn values_above_the_range_are_clamped_and_counted() {
        let mut histogram = LatencyHistogram::new(10_000, 3).unwrap();
        histogram.record(5);
        histogram.record(10_001);
        histogram.record(u64::MAX);
        assert_eq!((histogram.count(), histogram.clamped()), (3, 2));
        assert_eq!(histogram.highest_ns(), 10_000);
        assert_eq!(histogram.max_ns(), 10_000, "never above the range's top");
        assert_eq!(histogram.percentile_ns(100.0), 10_000);
        assert_eq!(histogram.percentile_ns(10.0), 5);
    }

    #[test]
    fn empty_and_reset_report_zeros() {
        let mut histogram = one_to_a_thousand();
        histogram.record(2_000_000);
        histogram.reset();
        for empty in [histogram, LatencyHistogram::new(2, 0).unwrap()] {
            assert_eq!((empty.count(), empty.clamped(), empty.max_ns()), (0, 0, 0));
            assert_eq!(empty.percentile_ns(99.0), 0);
            assert!(empty.mean_ns().abs() < f64::EPSILON);
            assert!(empty.share_below(u64::MAX).abs() < f64::EPSILON);
        }
    }

    #[test]
    fn invalid_ranges_are_refused() {
        assert!(LatencyHistogram::new(1, 3).is_err());
        assert!(LatencyHistogram::new(1000, 6).is_err());
        assert!(LatencyHistogram::new(60_000_000_000, 5).is_ok());
    }
}
