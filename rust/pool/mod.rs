//! Many connections that reconnect by themselves.
//!
//! - [`policy`]: when one connection reconnects and after how long: the [`ReconnectPolicy`],
//!   the [`DisconnectCause`] classes it tells apart, and the per-connection [`Backoff`].
//! - [`breaker`]: when a whole venue is left alone for a while: the [`CircuitBreaker`].
//! - [`session`]: the task that keeps one logical connection open with them, and the
//!   [`SessionEvent`]s ([`event`]) it reports in order with its messages.
//! - [`many`]: the [`ConnectionPool`] of many sessions on one runtime, with health by idle time.
//!
//! The policy and the breaker are pure logic with the time passed in; the session task sleeps
//! and reconnects by them.

pub mod breaker;
pub mod event;
pub mod many;
pub mod policy;
pub mod session;

pub use breaker::{BreakerOpen, BreakerPolicy, BreakerState, CircuitBreaker};
pub use event::SessionEvent;
pub use many::{ConnectionId, ConnectionPool, Health, PoolStats};
pub use policy::{Backoff, Decision, DisconnectCause, RATE_LIMITED_DELAY, ReconnectPolicy};
pub use session::{OnConnect, Session, SessionConfig};
