//! The crate's one error type. Every variant names the URL it concerns and keeps its cause, so
//! a message read in a log says what happened, where, and why.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::conn::CloseInfo;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong opening or using a connection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not a `ws://` or `wss://` URL with a host.
    #[error("invalid WebSocket URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// An option is out of its range.
    #[error("invalid option {name}: {reason}")]
    InvalidOption { name: &'static str, reason: String },

    /// The host name did not resolve.
    #[error("cannot resolve host {host:?} for {url}: {source}")]
    Resolve {
        url: String,
        host: String,
        #[source]
        source: io::Error,
    },

    /// The TCP connection could not be made (refused, unreachable, …).
    #[error("cannot connect to {url} at {addr}: {source}")]
    Connect {
        url: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },

    /// The `ca_file` could not be read or held no usable certificate.
    #[error("cannot use CA file {path:?} for {url}: {reason}")]
    CaFile { url: String, path: PathBuf, reason: String },

    /// The TLS handshake failed (untrusted certificate, name mismatch, …).
    #[error("TLS handshake with {url} failed: {source}")]
    Tls {
        url: String,
        #[source]
        source: io::Error,
    },

    /// The server answered the upgrade request with an HTTP status other than 101.
    #[error("{url} rejected the WebSocket upgrade with HTTP {status}")]
    HandshakeRejected { url: String, status: u16 },

    /// The opening handshake failed for another reason (bad answer, connection lost).
    #[error("WebSocket handshake with {url} failed: {source}")]
    Handshake {
        url: String,
        #[source]
        source: tokio_tungstenite::tungstenite::Error,
    },

    /// An operation ran out of time.
    #[error("{operation} {url} timed out after {timeout:?}")]
    Timeout { url: String, operation: &'static str, timeout: Duration },

    /// The connection is closed (or closing); `close` says how.
    #[error("connection to {url} closed: {close}")]
    Closed { url: String, close: CloseInfo },

    /// The process forked after the runtime started; its threads did not survive the fork.
    #[error("tickwire's I/O runtime started in process {parent} cannot run in forked child {child}")]
    Forked { parent: u32, child: u32 },

    /// The I/O runtime could not start.
    #[error("cannot start tickwire's I/O runtime: {0}")]
    Runtime(#[source] io::Error),
}
