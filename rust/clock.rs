//! Monotonic time in nanoseconds, read from `CLOCK_MONOTONIC`, and wall-clock Unix time.
//!
//! The monotonic clock is the one behind Python's `time.monotonic_ns()` and is system-wide, so
//! timestamps taken here, in Python, or in another process on the same machine compare
//! directly. Unix time is for what goes on the wire (venue and protocol timestamps).

/// Nanoseconds on `CLOCK_MONOTONIC`.
#[must_use]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    #[allow(clippy::cast_sign_loss, reason = "CLOCK_MONOTONIC is never negative")]
    let ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
    ns
}

/// Unix time now, ns (0 before 1970, saturating far in the future).
#[must_use]
pub fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::monotonic_ns;

    #[test]
    fn never_goes_backwards() {
        let mut last = monotonic_ns();
        for _ in 0..10_000 {
            let now = monotonic_ns();
            assert!(now >= last);
            last = now;
        }
    }
}
