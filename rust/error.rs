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
    InvalidUrl {
        /// The URL of the connection.
        url: String,
        /// What is wrong.
        reason: String,
    },

    /// An option is out of its range.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option's Python name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// The host name did not resolve.
    #[error("cannot resolve host {host:?} for {url}: {source}")]
    Resolve {
        /// The URL of the connection.
        url: String,
        /// The host name that was looked up.
        host: String,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },

    /// The TCP connection could not be made (refused, unreachable, …).
    #[error("cannot connect to {url} at {addr}: {source}")]
    Connect {
        /// The URL of the connection.
        url: String,
        /// The last address tried.
        addr: SocketAddr,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },

    /// The `ca_file` could not be read or held no usable certificate.
    #[error("cannot use CA file {path:?} for {url}: {reason}")]
    CaFile {
        /// The URL of the connection.
        url: String,
        /// The file given as `ca_file`.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The TLS handshake failed (untrusted certificate, name mismatch, …).
    #[error("TLS handshake with {url} failed: {source}")]
    Tls {
        /// The URL of the connection.
        url: String,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },

    /// The server answered the upgrade request with an HTTP status other than 101.
    #[error("{url} rejected the WebSocket upgrade with HTTP {status}")]
    HandshakeRejected {
        /// The URL of the connection.
        url: String,
        /// The HTTP status of the answer.
        status: u16,
    },

    /// The opening handshake failed for another reason (bad answer, connection lost).
    #[error("WebSocket handshake with {url} failed: {reason}")]
    Handshake {
        /// The URL of the connection.
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// An operation ran out of time.
    #[error("{operation} {url} timed out after {timeout:?}")]
    Timeout {
        /// The URL of the connection.
        url: String,
        /// What was being done.
        operation: &'static str,
        /// The limit that ran out.
        timeout: Duration,
    },

    /// The connection is closed (or closing); `close` says how.
    #[error("connection to {url} closed: {close}")]
    Closed {
        /// The URL of the connection.
        url: String,
        /// How it closed.
        close: CloseInfo,
    },

    /// The process forked after the runtime started; its threads did not survive the fork.
    #[error("tickwire's I/O runtime started in process {parent} cannot run in forked child {child}")]
    Forked {
        /// The process the runtime started in.
        parent: u32,
        /// This process.
        child: u32,
    },

    /// The I/O runtime could not start.
    #[error("cannot start tickwire's I/O runtime: {0}")]
    Runtime(#[source] io::Error),
}
