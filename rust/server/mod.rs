//! The broadcast server: normalized data out to many WebSocket clients — dashboards, tools —
//! with per-client subscriptions, a sequence number on every message, and no silent loss.
//!
//! Owns:
//! - [`bridge`]: a feed's events as broadcast messages (`MarketData`, `MarketTrade`, candles
//!   as `ChartUpdate`, `BookTop`), converted in Rust.
//! - [`config`]: [`ServerConfig`] (listen address, token, origins, limits) and [`ServerError`].
//! - [`message`]: the protocol's message types, a message serialized once for every
//!   recipient, and client requests. The one definition of the protocol is
//!   `python/tickwire/protocol.py`.
//! - [`filter`]: a client's subscription (types × symbols), compact.
//! - [`outbox`]: a client's bounded queue: market data conflated when it lags, critical
//!   messages never dropped silently (`LAGGED`, then the connection is closed).
//! - [`history`]: the recent critical messages, for `Resume`.
//! - [`hub`]: the clients, sequence numbers, publishing, the log lines for Python.
//! - [`metrics`]: the counters and histograms, in Prometheus' text format at `/metrics`.
//! - [`http`]: [`Server`]: the listener, the HTTP routes and the WebSocket upgrade.
//! - [`session`]: one client's connection: batched writes, requests, heartbeat, rate limit.

pub mod bridge;
pub mod config;
pub mod filter;
pub mod history;
pub mod http;
pub mod hub;
pub mod message;
pub mod metrics;
pub mod outbox;
pub mod session;

pub use config::{ServerConfig, ServerError, TlsFiles};
pub use http::Server;
pub use hub::Hub;
pub use message::Kind;
