//! Monotonic time in nanoseconds, read from `CLOCK_MONOTONIC`.
//!
//! It is the clock behind Python's `time.monotonic_ns()` and is system-wide, so timestamps taken
//! here, in Python, or in another process on the same machine compare directly.

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
