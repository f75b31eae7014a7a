//! Subscriptions of one connection: which ids the venue should send, which it has confirmed,
//! and the rate-limited, batched requests that take it from one to the other.
//!
//! Owns the per-id subscription state, batching, matching answers to requests, retries and the
//! outbound request budget. Owns no I/O and reads no clock: the caller encodes and sends the
//! requests, parses the answers, and passes `now` as a [`Duration`](std::time::Duration) since
//! a fixed epoch (in the crate, `Duration::from_nanos(clock::monotonic_ns())`), so everything here
//! is deterministic and tested without sockets.
//!
//! Ids are dense `u32`s handed out by the caller: a symbol's interned index, or the index of a
//! (symbol, channel) pair. Memory is one bit per id per set up to the largest id.
//!
//! - [`BitSet`]: a growable set of ids; O(1) insert, remove, contains and len.
//! - [`Gcra`]: the request budget (generic cell rate algorithm); refusals say how long to wait.
//! - [`SubscriptionManager`]: the state machine, configured per venue by [`SubscribeConfig`].
//!
//! The connection task drives one manager per connection:
//!
//! ```text
//! request_subscription(ids) / request_unsubscription(ids)      whenever users ask
//! loop {
//!     expire(now);                                             time out unanswered requests
//!     for r in next_requests(now) { send(venue.encode(&r)) }   rate-limited, batched
//!     sleep until next_wakeup(), or until an answer or a user request arrives
//!     ack for r.id    → confirm(r.id)
//!     error for r.id  → reject(r.id, venue_message, now)
//!     take_failures() → tell the user
//! }
//! new connection → on_reconnect()                              re-sends everything wanted
//! ```
//!
//! Invariants (checked after every step of a property test):
//! - Each id is in exactly one state: unsubscribed, pending, active or unsubscribing
//!   ([`State`]); on the wire it is idle, in one request, or on the venue.
//! - An id is in at most one outstanding request, and a subscribe is never sent for an id that
//!   is active or already requested: no duplicate subscriptions.
//! - Every request carries between 1 and `batch_size` ids, and none is sent beyond the rate
//!   budget.
//! - Request ids are never reused, so an answer that matches no outstanding request (a timed-out
//!   attempt's, or one from before a reconnect) is ignored.
//! - A request rejected or left unanswered is assumed not applied by the venue; it is retried
//!   after `retry_delay` up to `max_attempts` times, then reported as a [`Failure`].

mod bitset;
mod rate;
mod tracker;

#[cfg(test)]
mod proptests;

pub use bitset::{BitSet, BitSetIter};
pub use rate::Gcra;
pub use tracker::{
    Counts, Failure, Kind, Reason, Request, State, SubscribeConfig, SubscriptionManager, UnknownRequest,
};
