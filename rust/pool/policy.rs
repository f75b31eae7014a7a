//! When to reconnect one connection, and after how long.
//!
//! [`DisconnectCause`] sorts what ended a connection, or failed to open one, into the classes the
//! policy treats differently; [`Backoff`] is one connection's retry state under a
//! [`ReconnectPolicy`]. Both are pure: the caller passes the time in and sleeps for the delay it
//! gets back, so every decision is testable without a clock, a network or luck (jitter comes from
//! an injectable source).
//!
//! Invariants:
//! - a delay never exceeds `max_delay`, jitter included, except after HTTP 429, which waits at
//!   least [`RATE_LIMITED_DELAY`];
//! - only the first retry after an established connection was lost is immediate (that is how
//!   recovery stays under 100 ms when the peer is back); every later retry backs off until the
//!   sequence resets, so a connection that opens and drops again at once cannot spin;
//! - the sequence resets only when a connection stayed up for `stable_after`, or, with
//!   `reset_on_1005`, when the peer closes with 1005.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use crate::conn::{CloseInfo, CloseInitiator};
use crate::error::{Error, Result};

/// Least delay after a venue answered the upgrade with HTTP 429, even above `max_delay`: venues
/// ban clients that keep knocking after being told to slow down.
pub const RATE_LIMITED_DELAY: Duration = Duration::from_secs(10);

/// A close frame without a status code (RFC 6455 §7.1.5).
const NO_STATUS_RECEIVED: u16 = 1005;

/// Peer close codes that mean the connection went away rather than that the peer objected to
/// us: normal, going away, no status, abnormal, and the server-side failures 1011–1014.
const DROP_CODES: [u16; 8] = [1000, 1001, NO_STATUS_RECEIVED, 1006, 1011, 1012, 1013, 1014];

/// How one connection reconnects. [`Default`] gives 1 s, 2 s, 4 s … 60 s with ±10 % jitter,
/// forever.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectPolicy {
    /// Retries allowed since the last reset before giving up; `None` retries forever.
    pub max_attempts: Option<u32>,
    /// Delay of the first retry that backs off.
    pub initial_delay: Duration,
    /// What each further delay is multiplied by.
    pub backoff_factor: f64,
    /// Longest delay, jitter included.
    pub max_delay: Duration,
    /// Fraction by which each delay varies at random (0.1 = ±10 %), so that connections dropped
    /// together do not all come back in the same instant.
    pub jitter: f64,
    /// A peer's close without a status code (1005) starts the sequence over, as if the
    /// connection had been stable.
    pub reset_on_1005: bool,
    /// A connection that stayed up this long starts the sequence over when it ends.
    pub stable_after: Duration,
    /// Opening handshakes refused for good in a row (HTTP 4xx other than 429, another non-5xx
    /// status, or a TLS certificate failure) before giving up.
    pub handshake_4xx_attempts: u32,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            max_attempts: None,
            initial_delay: Duration::from_secs(1),
            backoff_factor: 2.0,
            max_delay: Duration::from_mins(1),
            jitter: 0.1,
            reset_on_1005: true,
            stable_after: Duration::from_secs(30),
            handshake_4xx_attempts: 3,
        }
    }
}

impl ReconnectPolicy {
    /// Checks every field's range.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        let invalid = |name, reason: &str| Err(Error::InvalidOption { name, reason: reason.into() });
        if self.initial_delay.is_zero() {
            return invalid("initial_delay", "must be positive");
        }
        if self.max_delay < self.initial_delay {
            return invalid("max_delay", "must be at least initial_delay");
        }
        if !(self.backoff_factor.is_finite() && self.backoff_factor >= 1.0) {
            return invalid("backoff_factor", "must be a finite number of at least 1");
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return invalid("jitter", "must be a fraction in [0, 1)");
        }
        if self.stable_after.is_zero() {
            return invalid("stable_after", "must be positive");
        }
        if self.handshake_4xx_attempts == 0 {
            return invalid("handshake_4xx_attempts", "must be at least 1");
        }
        Ok(())
    }
}

/// What to do after a connection ended or failed to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Reconnect after this long ([`Duration::ZERO`]: at once).
    RetryAfter(Duration),
    /// Stop reconnecting: retrying cannot help, or the attempts ran out. The reason says why in
    /// words meant for the user; report it together with the last error.
    GiveUp(String),
    /// The connection was closed here on purpose: nothing failed and nothing is retried.
    Stop,
}

/// What ended a connection, or kept one from opening, in the classes the policy tells apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectCause {
    /// The host did not resolve, or TCP was refused, unreachable or reset.
    Unreachable,
    /// The opening handshake broke off, or its answer was not a WebSocket upgrade.
    HandshakeFailed,
    /// Opening ran out of time (or, on an open connection, whatever was awaited: the connection
    /// is then treated as lost).
    Timeout,
    /// The TLS handshake failed on the certificate, the server name or the protocol.
    Tls,
    /// The server answered the upgrade with this HTTP status.
    HandshakeRejected {
        /// The HTTP status.
        status: u16,
    },
    /// A failure that retrying cannot fix: an invalid URL, option or `ca_file`, or no runtime.
    Fatal,
    /// An open connection ended.
    Closed(CloseInfo),
}

/// How the policy treats a cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Closed here on purpose.
    Stop,
    /// Retrying cannot help.
    Fatal,
    /// Refused in a way that rarely passes: a few tries, then give up.
    Rejected,
    /// Back off, waiting at least this long.
    Backoff { at_least: Duration },
    /// The connection was lost, not refused: if it had been up, the first retry is immediate.
    Lost,
}

impl DisconnectCause {
    /// Classifies a failure to open, or an [`Error::Closed`].
    #[must_use]
    pub fn from_error(error: &Error) -> Self {
        match error {
            // rustls reports certificate, name and protocol failures as InvalidData, and
            // tls.rs an unusable server name as InvalidInput; any other kind is the socket
            // failing mid-handshake, which may pass.
            Error::Tls { source, .. }
                if matches!(source.kind(), io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput) =>
            {
                Self::Tls
            }
            Error::Resolve { .. } | Error::Connect { .. } | Error::Tls { .. } => Self::Unreachable,
            Error::Handshake { .. } => Self::HandshakeFailed,
            Error::Timeout { .. } => Self::Timeout,
            Error::HandshakeRejected { status, .. } => Self::HandshakeRejected { status: *status },
            Error::Closed { close, .. } => Self::from_close(close),
            Error::InvalidUrl { .. }
            | Error::InvalidOption { .. }
            | Error::CaFile { .. }
            | Error::Forked { .. }
            | Error::Runtime(_) => Self::Fatal,
        }
    }

    /// Classifies how an open connection ended.
    #[must_use]
    pub fn from_close(close: &CloseInfo) -> Self {
        Self::Closed(close.clone())
    }

    /// Whether the policy reconnects after this cause at all: `false` for a close made here on
    /// purpose and for failures retrying cannot fix. Rejected handshakes count as `true`: they
    /// are retried a few times before [`Backoff`] gives up.
    #[must_use]
    pub fn should_reconnect(&self) -> bool {
        !matches!(self.class(), Class::Stop | Class::Fatal)
    }

    fn class(&self) -> Class {
        let backoff = Class::Backoff { at_least: Duration::ZERO };
        match self {
            Self::HandshakeRejected { status: 429 } => Class::Backoff { at_least: RATE_LIMITED_DELAY },
            Self::Unreachable | Self::HandshakeFailed | Self::HandshakeRejected { status: 500..=599 } => {
                backoff
            }
            Self::Tls | Self::HandshakeRejected { .. } => Class::Rejected,
            Self::Timeout => Class::Lost,
            Self::Fatal => Class::Fatal,
            Self::Closed(close) if close.protocol_violation => backoff,
            Self::Closed(close) => match close.initiator {
                CloseInitiator::Local => Class::Stop,
                CloseInitiator::Network => Class::Lost,
                CloseInitiator::Peer if DROP_CODES.contains(&close.code) => Class::Lost,
                // The peer objected (policy, protocol, an application code): hurrying back would
                // only repeat the objection.
                CloseInitiator::Peer => backoff,
            },
        }
    }
}

impl fmt::Display for DisconnectCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable => f.write_str("the venue could not be reached"),
            Self::HandshakeFailed => f.write_str("the opening handshake failed"),
            Self::Timeout => f.write_str("it timed out"),
            Self::Tls => f.write_str("the TLS handshake failed"),
            Self::HandshakeRejected { status } => {
                write!(f, "the server rejected the WebSocket upgrade with HTTP {status}")
            }
            Self::Fatal => f.write_str("an invalid URL, option or CA file, or no runtime"),
            Self::Closed(close) => write!(f, "the connection was {close}"),
        }
    }
}

/// One connection's retry state under a [`ReconnectPolicy`].
///
/// Call [`on_connected`](Self::on_connected) each time the connection opens and
/// [`on_disconnect`](Self::on_disconnect) each time it ends or fails to open; sleep for what the
/// latter returns. `J` returns a number in `[0, 1]` that places each delay within the jitter
/// band; [`Backoff::new`] draws it from `rand`.
pub struct Backoff<J = fn() -> f64> {
    policy: ReconnectPolicy,
    jitter: J,
    /// Retries since the last reset, the immediate one included.
    attempt: u32,
    /// Delays taken since the last reset: the exponent of the next one.
    step: u32,
    /// Handshakes refused for good in a row.
    rejections: u32,
    /// When the connection last opened, while it is up.
    up_since: Option<Instant>,
}

impl Backoff {
    /// Retry state with random jitter.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when the policy is out of range.
    pub fn new(policy: ReconnectPolicy) -> Result<Self> {
        Self::with_jitter(policy, rand::random::<f64>)
    }
}

impl<J: FnMut() -> f64> Backoff<J> {
    /// Retry state whose jitter comes from `jitter`: 0 gives the shortest delay of the band, 1
    /// the longest, 0.5 the delay without jitter.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when the policy is out of range.
    pub fn with_jitter(policy: ReconnectPolicy, jitter: J) -> Result<Self> {
        policy.validate()?;
        Ok(Self { policy, jitter, attempt: 0, step: 0, rejections: 0, up_since: None })
    }

    /// The policy followed.
    #[must_use]
    pub const fn policy(&self) -> &ReconnectPolicy {
        &self.policy
    }

    /// Retries decided since the sequence last reset (0 before the first).
    #[must_use]
    pub const fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The connection opened at `now`.
    pub const fn on_connected(&mut self, now: Instant) {
        self.up_since = Some(now);
        self.rejections = 0;
    }

    /// The connection ended, or failed to open, at `now`; says whether and when to retry.
    #[must_use = "the decision says whether and when to reconnect"]
    pub fn on_disconnect(&mut self, now: Instant, cause: &DisconnectCause) -> Decision {
        let up_since = self.up_since.take();
        if up_since.is_some_and(|since| now.saturating_duration_since(since) >= self.policy.stable_after) {
            self.reset();
        }
        let class = cause.class();
        match class {
            Class::Stop => return Decision::Stop,
            Class::Fatal => {
                return Decision::GiveUp(format!("not reconnecting after {cause}: retrying cannot fix it"));
            }
            Class::Rejected => {
                self.rejections += 1;
                if self.rejections >= self.policy.handshake_4xx_attempts {
                    return Decision::GiveUp(rejected(cause, self.rejections));
                }
            }
            Class::Backoff { .. } | Class::Lost => self.rejections = 0,
        }
        if self.policy.reset_on_1005
            && matches!(cause, DisconnectCause::Closed(close) if close.code == NO_STATUS_RECEIVED)
        {
            self.reset();
        }
        if self.policy.max_attempts.is_some_and(|max| self.attempt >= max) {
            return Decision::GiveUp(format!(
                "gave up after {} reconnection attempt{}; the last failed because {cause}",
                self.attempt,
                plural(self.attempt)
            ));
        }
        let immediate = up_since.is_some() && self.attempt == 0 && class == Class::Lost;
        self.attempt = self.attempt.saturating_add(1);
        if immediate {
            return Decision::RetryAfter(Duration::ZERO);
        }
        let delay = self.next_delay();
        Decision::RetryAfter(match class {
            Class::Backoff { at_least } => delay.max(at_least),
            _ => delay,
        })
    }

    const fn reset(&mut self) {
        self.attempt = 0;
        self.step = 0;
    }

    /// `initial_delay × factor^step`, capped, jittered, and capped again.
    fn next_delay(&mut self) -> Duration {
        let exponent = i32::try_from(self.step).unwrap_or(i32::MAX);
        self.step = self.step.saturating_add(1);
        let max = self.policy.max_delay.as_secs_f64();
        // Growth past the cap is infinite at worst, never NaN: the initial delay is positive.
        let base =
            (self.policy.initial_delay.as_secs_f64() * self.policy.backoff_factor.powi(exponent)).min(max);
        let unit = (self.jitter)();
        let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.5 };
        let jittered = base * self.policy.jitter.mul_add(2.0 * unit - 1.0, 1.0);
        Duration::try_from_secs_f64(jittered.min(max)).unwrap_or(self.policy.max_delay)
    }
}

impl<J> fmt::Debug for Backoff<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("policy", &self.policy)
            .field("attempt", &self.attempt)
            .field("step", &self.step)
            .field("rejections", &self.rejections)
            .field("up_since", &self.up_since)
            .finish_non_exhaustive()
    }
}

/// The reason for giving up on a handshake that keeps being refused.
fn rejected(cause: &DisconnectCause, times: u32) -> String {
    let hint = match cause {
        DisconnectCause::HandshakeRejected { .. } => "check the URL, the credentials and the IP allow-list",
        _ => "certificate problems do not fix themselves: check ca_file and the host name",
    };
    format!("{cause}, {times} time{} in a row; giving up ({hint})", plural(times))
}

const fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use proptest::prelude::*;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn no_jitter() -> ReconnectPolicy {
        ReconnectPolicy { jitter: 0.0, ..ReconnectPolicy::default() }
    }

    fn new_backoff(policy: ReconnectPolicy) -> Backoff {
        Backoff::new(policy).unwrap()
    }

    fn fail_to_open(backoff: &mut Backoff, now: Instant, times: usize) {
        for _ in 0..times {
            assert!(matches!(
                backoff.on_disconnect(now, &DisconnectCause::Unreachable),
                Decision::RetryAfter(_)
            ));
        }
    }

    fn retry(seconds: u64) -> Decision {
        Decision::RetryAfter(Duration::from_secs(seconds))
    }

    fn dropped() -> DisconnectCause {
        DisconnectCause::from_close(&CloseInfo::abnormal("connection reset"))
    }

    fn refused() -> Error {
        Error::Connect {
            url: "ws://127.0.0.1:1/".into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
        }
    }

    #[test]
    fn default_policy_doubles_from_one_second_to_a_minute() {
        let mut backoff = new_backoff(no_jitter());
        let now = Instant::now();
        let cause = DisconnectCause::from_error(&refused());
        let delays: Vec<_> = (0..8).map(|_| backoff.on_disconnect(now, &cause)).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60].map(retry));
        assert_eq!(backoff.attempt(), 8);
    }

    #[test]
    fn first_retry_after_losing_an_established_connection_is_immediate() {
        let mut backoff = new_backoff(no_jitter());
        let start = Instant::now();
        backoff.on_connected(start);
        assert_eq!(
            backoff.on_disconnect(start + 5 * SECOND, &dropped()),
            Decision::RetryAfter(Duration::ZERO)
        );
        let refused = DisconnectCause::Unreachable;
        assert_eq!(backoff.on_disconnect(start + 5 * SECOND, &refused), retry(1));
        assert_eq!(backoff.on_disconnect(start + 6 * SECOND, &refused), retry(2));
        assert_eq!(backoff.attempt(), 3);
    }

    #[test]
    fn a_connection_that_keeps_dropping_backs_off() {
        let mut backoff = new_backoff(no_jitter());
        let mut now = Instant::now();
        let mut decisions = Vec::new();
        for _ in 0..4 {
            backoff.on_connected(now);
            now += SECOND;
            decisions.push(backoff.on_disconnect(now, &dropped()));
        }
        assert_eq!(decisions, [Decision::RetryAfter(Duration::ZERO), retry(1), retry(2), retry(4)]);
    }

    #[test]
    fn failing_to_open_is_never_immediate() {
        let mut backoff = new_backoff(no_jitter());
        assert_eq!(backoff.on_disconnect(Instant::now(), &DisconnectCause::Timeout), retry(1));
    }

    #[test]
    fn a_stable_connection_resets_the_sequence() {
        let mut backoff = new_backoff(no_jitter());
        let start = Instant::now();
        fail_to_open(&mut backoff, start, 5);
        backoff.on_connected(start);
        let short = start + 29 * SECOND;
        assert_eq!(backoff.on_disconnect(short, &dropped()), retry(32));
        backoff.on_connected(short);
        assert_eq!(
            backoff.on_disconnect(short + 30 * SECOND, &dropped()),
            Decision::RetryAfter(Duration::ZERO)
        );
        assert_eq!(backoff.attempt(), 1);
    }

    #[test]
    fn a_close_without_status_resets_the_sequence_when_asked() {
        let no_status = DisconnectCause::from_close(&CloseInfo::by_peer(1005, ""));
        for (reset_on_1005, expected) in [(true, Decision::RetryAfter(Duration::ZERO)), (false, retry(8))] {
            let mut backoff = new_backoff(ReconnectPolicy { reset_on_1005, ..no_jitter() });
            let now = Instant::now();
            fail_to_open(&mut backoff, now, 3);
            backoff.on_connected(now);
            assert_eq!(
                backoff.on_disconnect(now + SECOND, &no_status),
                expected,
                "reset_on_1005={reset_on_1005}"
            );
        }
    }

    #[test]
    fn forbidden_gives_up_after_the_allowed_rejections_naming_the_status() {
        let mut backoff = new_backoff(no_jitter());
        let now = Instant::now();
        let forbidden = DisconnectCause::from_error(&Error::HandshakeRejected {
            url: "wss://stream.example/ws".into(),
            status: 403,
        });
        assert_eq!(backoff.on_disconnect(now, &forbidden), retry(1));
        assert_eq!(backoff.on_disconnect(now, &forbidden), retry(2));
        let Decision::GiveUp(reason) = backoff.on_disconnect(now, &forbidden) else {
            panic!("the third 403 must give up");
        };
        assert!(reason.contains("HTTP 403") && reason.contains("3 times in a row"), "{reason}");
    }

    #[test]
    fn server_errors_back_off_and_rate_limits_wait_longer() {
        let mut backoff = new_backoff(no_jitter());
        let now = Instant::now();
        for _ in 0..5 {
            assert!(matches!(
                backoff.on_disconnect(now, &DisconnectCause::HandshakeRejected { status: 503 }),
                Decision::RetryAfter(_)
            ));
        }
        assert_eq!(
            backoff.on_disconnect(now, &DisconnectCause::HandshakeRejected { status: 429 }),
            retry(32)
        );
        let mut fresh = new_backoff(no_jitter());
        assert_eq!(fresh.on_disconnect(now, &DisconnectCause::HandshakeRejected { status: 429 }), retry(10));
    }

    #[test]
    fn invalid_url_gives_up_at_once() {
        let error = Error::InvalidUrl { url: "http://x".into(), reason: "not ws:// or wss://".into() };
        let cause = DisconnectCause::from_error(&error);
        assert!(!cause.should_reconnect());
        assert!(matches!(
            new_backoff(no_jitter()).on_disconnect(Instant::now(), &cause),
            Decision::GiveUp(_)
        ));
    }

    #[test]
    fn a_close_made_here_stops_but_a_protocol_violation_backs_off() {
        let mut backoff = new_backoff(no_jitter());
        let now = Instant::now();
        let ours = DisconnectCause::from_close(&CloseInfo::by_us(1000, "bye"));
        assert!(!ours.should_reconnect());
        backoff.on_connected(now);
        assert_eq!(backoff.on_disconnect(now, &ours), Decision::Stop);
        let violation = DisconnectCause::from_close(&CloseInfo::failed(1002, "masked frame"));
        assert!(violation.should_reconnect());
        backoff.on_connected(now);
        assert_eq!(backoff.on_disconnect(now, &violation), retry(1));
    }

    #[test]
    fn peer_objections_back_off_but_server_restarts_retry_at_once() {
        let now = Instant::now();
        for (code, immediate) in [(1001, true), (1012, true), (1008, false), (4000, false)] {
            let mut backoff = new_backoff(no_jitter());
            backoff.on_connected(now);
            let decision =
                backoff.on_disconnect(now, &DisconnectCause::from_close(&CloseInfo::by_peer(code, "")));
            assert_eq!(decision == Decision::RetryAfter(Duration::ZERO), immediate, "code {code}");
        }
    }

    #[test]
    fn max_attempts_is_honoured() {
        let mut backoff = new_backoff(ReconnectPolicy { max_attempts: Some(2), ..no_jitter() });
        let now = Instant::now();
        assert_eq!(backoff.on_disconnect(now, &DisconnectCause::Unreachable), retry(1));
        assert_eq!(backoff.on_disconnect(now, &DisconnectCause::Unreachable), retry(2));
        let Decision::GiveUp(reason) = backoff.on_disconnect(now, &DisconnectCause::Unreachable) else {
            panic!("the third attempt is over the limit");
        };
        assert!(reason.contains("2 reconnection attempts"), "{reason}");
    }

    #[test]
    fn errors_are_classified() {
        let tls = |kind| Error::Tls { url: String::new(), source: io::Error::from(kind) };
        let cases = [
            (refused(), DisconnectCause::Unreachable),
            (tls(io::ErrorKind::InvalidData), DisconnectCause::Tls),
            (tls(io::ErrorKind::ConnectionReset), DisconnectCause::Unreachable),
            (
                Error::Timeout { url: String::new(), operation: "opening", timeout: SECOND },
                DisconnectCause::Timeout,
            ),
            (
                Error::Handshake { url: String::new(), reason: String::new() },
                DisconnectCause::HandshakeFailed,
            ),
            (Error::InvalidOption { name: "max_queue", reason: String::new() }, DisconnectCause::Fatal),
        ];
        for (error, cause) in cases {
            assert_eq!(DisconnectCause::from_error(&error), cause, "{error}");
        }
    }

    #[test]
    fn policies_out_of_range_are_refused() {
        let cases = [
            (
                "initial_delay",
                ReconnectPolicy { initial_delay: Duration::ZERO, ..ReconnectPolicy::default() },
            ),
            (
                "max_delay",
                ReconnectPolicy { max_delay: Duration::from_millis(10), ..ReconnectPolicy::default() },
            ),
            ("backoff_factor", ReconnectPolicy { backoff_factor: f64::NAN, ..ReconnectPolicy::default() }),
            ("jitter", ReconnectPolicy { jitter: 1.0, ..ReconnectPolicy::default() }),
            (
                "handshake_4xx_attempts",
                ReconnectPolicy { handshake_4xx_attempts: 0, ..ReconnectPolicy::default() },
            ),
        ];
        for (field, policy) in cases {
            assert!(
                matches!(policy.validate(), Err(Error::InvalidOption { name, .. }) if name == field),
                "{field}"
            );
        }
        ReconnectPolicy::default().validate().unwrap();
    }

    proptest! {
        #[test]
        fn jitter_stays_in_its_band_and_under_the_cap(
            initial_ms in 1_u64..10_000,
            extra_ms in 0_u64..100_000,
            factor in 1.0_f64..4.0,
            jitter in 0.0_f64..1.0,
            unit in 0.0_f64..=1.0,
            failures in 1_usize..50,
        ) {
            let policy = ReconnectPolicy {
                initial_delay: Duration::from_millis(initial_ms),
                max_delay: Duration::from_millis(initial_ms + extra_ms),
                backoff_factor: factor,
                jitter,
                ..ReconnectPolicy::default()
            };
            let max = policy.max_delay;
            let mut backoff = Backoff::with_jitter(policy, move || unit).unwrap();
            let mut base = Duration::from_millis(initial_ms).as_secs_f64();
            for _ in 0..failures {
                let Decision::RetryAfter(delay) = backoff.on_disconnect(Instant::now(), &DisconnectCause::Unreachable)
                else {
                    panic!("retries forever by default");
                };
                let capped = base.min(max.as_secs_f64());
                prop_assert!(delay <= max);
                prop_assert!(delay.as_secs_f64() >= capped * (1.0 - jitter) - 1e-9);
                prop_assert!(delay.as_secs_f64() <= capped * (1.0 + jitter) + 1e-9);
                base *= factor;
            }
        }
    }
}
