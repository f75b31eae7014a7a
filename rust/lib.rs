//! tickwire's Rust core: market-data WebSocket connections that feed Python without letting
//! Python stall the network.
//!
//! Table of contents:
//! - [`config`]: what a connection is opened with, and its defaults.
//! - [`protocol`]: RFC 6455 without I/O: handshake, frame headers, the frame reader.
//! - [`transport`]: DNS, TCP socket options, TLS, and the handshake over the socket.
//! - [`conn`]: one connection: its state, counters, read chunks, reader and writer tasks, and
//!   the bounded inbox that hands messages to the consumer (Python) with one wake-up per batch.
//! - [`pool`]: many connections that reconnect by themselves: policy, heartbeats, staleness.
//! - [`subscribe`]: which symbols are subscribed, batched requests, confirmations, rate limits.
//! - [`router`]: symbols interned to dense ids and per-channel handler tables.
//! - [`model`]: the normalized model: exact decimals, unified symbols, markets, events.
//! - [`venues`]: each exchange's protocol, from subscribe request to normalized event.
//! - [`proto`]: Protocol Buffers messages venues send (MEXC), written from their schemas.
//! - [`sim`]: the exchange simulator: each venue's protocol over synthetic markets, faults.
//! - [`book`]: L2 order books and each venue's rule for proving them (sequences, checksums).
//! - [`server`]: the broadcast server: normalized data out to many WebSocket clients.
//! - [`metrics`]: the latency histogram behind the feed's processing-time figures.
//! - [`runtime`]: the process-wide tokio runtime that runs every connection.
//! - [`error`]: the one error type, carrying its cause.
//! - [`clock`]: monotonic nanoseconds on the clock Python's `time.monotonic_ns()` reads.
//!
//! The `PyO3` glue lives in `python/`, compiled only with the `python` feature.

pub mod book;
pub mod clock;
pub mod config;
pub mod conn;
pub mod error;
pub mod metrics;
pub mod model;
pub mod pool;
pub mod proto;
pub mod protocol;
pub mod router;
pub mod runtime;
pub mod server;
pub mod sim;
pub mod subscribe;
pub mod transport;
pub mod venues;

#[cfg(feature = "python")]
mod python;

pub use config::ConnectConfig;
pub use conn::{CloseInfo, ConnState, Connection, Inbound, Outbound, Payload, StatsSnapshot};
pub use error::{Error, Result};
