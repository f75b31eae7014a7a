//! The faults the engine injects into a client's stream, on demand
//! ([`Simulator::inject`](super::Simulator::inject)) or at random for soak tests.
//!
//! A fault ordered for a venue reaches every client connected to it at that moment; each client
//! keeps the faults it has yet to suffer in a [`Pending`], consumed as the stream goes by (a gap
//! drops the next book frame of the market, a bad checksum marks the next book update).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::error::SimError;

/// How long a `slow` fault throttles a client's writes.
pub const SLOW_FOR: Duration = Duration::from_secs(5);

/// Bytes a slowed client is written per [`SLOW_PAUSE`].
pub const SLOW_CHUNK_BYTES: usize = 1024;

/// The pause after each chunk written to a slowed client (about 20 KiB/s).
pub const SLOW_PAUSE: Duration = Duration::from_millis(50);

/// A fault the simulator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The next book frame of the market (of any market without a symbol) is dropped after it
    /// was encoded: the client sees a sequence gap.
    Gap,
    /// The next book update carries a wrong checksum (venues that send checksums).
    BadChecksum,
    /// The TCP connection is reset, without a close frame.
    Disconnect,
    /// The connection stays open and goes silent for good: nothing sent, nothing answered.
    Stall,
    /// Writes are throttled to about 20 KiB/s for [`SLOW_FOR`].
    Slow,
    /// One text frame of broken JSON.
    Malformed,
}

impl Fault {
    /// Every fault, in declaration order.
    pub const ALL: [Self; 6] =
        [Self::Gap, Self::BadChecksum, Self::Disconnect, Self::Stall, Self::Slow, Self::Malformed];

    /// The name: `"gap"`, `"bad_checksum"`, `"disconnect"`, `"stall"`, `"slow"`, `"malformed"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gap => "gap",
            Self::BadChecksum => "bad_checksum",
            Self::Disconnect => "disconnect",
            Self::Stall => "stall",
            Self::Slow => "slow",
            Self::Malformed => "malformed",
        }
    }

    /// Its position in [`Fault::ALL`] (for counters).
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Fault {
    type Err = SimError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|fault| fault.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| SimError::UnknownFault { name: name.into() })
    }
}

/// A fault ordered for one client: which, and for which market (its id; `None`: any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// The fault.
    pub fault: Fault,
    /// The market's [`crate::model::Market::id`], or any market.
    pub market: Option<u32>,
}

/// The per-happening faults a client has yet to suffer.
#[derive(Debug, Default)]
pub struct Pending {
    gaps: Vec<Option<u32>>,
    bad_checksums: Vec<Option<u32>>,
}

impl Pending {
    /// Queues a gap or bad checksum; other faults are not per happening and are ignored here.
    pub fn add(&mut self, order: Order) {
        match order.fault {
            Fault::Gap => self.gaps.push(order.market),
            Fault::BadChecksum => self.bad_checksums.push(order.market),
            _ => {}
        }
    }

    /// Nothing pending: the encode loop's fast path.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.gaps.is_empty() && self.bad_checksums.is_empty()
    }

    /// Whether a gap is pending for `market` (not consumed: see [`Pending::consume_gap`]).
    #[must_use]
    pub fn gap_for(&self, market: u32) -> Option<usize> {
        position(&self.gaps, market)
    }

    /// Whether a bad checksum is pending for `market`.
    #[must_use]
    pub fn bad_checksum_for(&self, market: u32) -> Option<usize> {
        position(&self.bad_checksums, market)
    }

    /// The gap at `index` happened.
    pub fn consume_gap(&mut self, index: usize) {
        self.gaps.swap_remove(index);
    }

    /// The bad checksum at `index` was sent.
    pub fn consume_bad_checksum(&mut self, index: usize) {
        self.bad_checksums.swap_remove(index);
    }
}

fn position(orders: &[Option<u32>], market: u32) -> Option<usize> {
    orders.iter().position(|&wanted| wanted.is_none_or(|id| id == market))
}

/// Random faults at a mean rate, rolled every tick.
#[derive(Debug)]
pub struct Dice {
    per_tick: f64,
    rng: SmallRng,
}

impl Dice {
    /// `per_minute` faults a minute on average, rolled every `tick`, from `seed`.
    #[must_use]
    pub fn new(per_minute: f64, tick: Duration, seed: u64) -> Self {
        let per_tick = (per_minute * tick.as_secs_f64() / 60.0).clamp(0.0, 1.0);
        Self { per_tick, rng: SmallRng::seed_from_u64(seed) }
    }

    /// The fault to inject this tick, if any, of a kind chosen at random.
    pub fn roll(&mut self) -> Option<Fault> {
        if self.per_tick > 0.0 && self.rng.random_bool(self.per_tick) {
            Some(Fault::ALL[self.rng.random_range(0..Fault::ALL.len())])
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for fault in Fault::ALL {
            assert_eq!(fault.as_str().parse::<Fault>().unwrap(), fault);
        }
        assert!("flood".parse::<Fault>().is_err());
    }

    #[test]
    fn pending_faults_match_their_market() {
        let mut pending = Pending::default();
        assert!(pending.is_empty());
        pending.add(Order { fault: Fault::Gap, market: Some(3) });
        pending.add(Order { fault: Fault::BadChecksum, market: None });
        assert_eq!(pending.gap_for(2), None);
        let index = pending.gap_for(3).unwrap();
        pending.consume_gap(index);
        assert_eq!(pending.gap_for(3), None);
        let index = pending.bad_checksum_for(9).unwrap();
        pending.consume_bad_checksum(index);
        assert!(pending.is_empty());
    }

    #[test]
    fn dice_roll_near_their_rate() {
        let mut dice = Dice::new(600.0, Duration::from_millis(100), 1);
        let rolled = (0..10_000).filter(|_| dice.roll().is_some()).count();
        assert!((9_000..=10_000).contains(&rolled), "{rolled}");
        let mut never = Dice::new(0.0, Duration::from_millis(100), 1);
        assert!((0..1000).all(|_| never.roll().is_none()));
    }
}
