//! What starting or driving the simulator can fail with.

use std::net::SocketAddr;

use crate::model::{RegistryError, SymbolError, Venue};

/// A simulator error: a bad configuration, a port that cannot be bound, an unknown name.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// No venue was configured.
    #[error("the simulator needs at least one venue")]
    NoVenues,
    /// A venue can name none of the configured symbols.
    #[error("{venue}: no market to simulate: {reasons}")]
    NoMarkets {
        /// The venue.
        venue: Venue,
        /// Why each symbol was refused (or that none was given).
        reasons: String,
    },
    /// A venue or symbol name that does not parse, or a symbol the venue does not list.
    #[error(transparent)]
    Symbol(#[from] SymbolError),
    /// A simulated registered venue (MEXC) that cannot be registered as the simulator needs it.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A symbol that is not simulated on that venue.
    #[error("{venue}: {symbol:?} is not simulated (markets: {markets})")]
    UnknownMarket {
        /// The venue.
        venue: Venue,
        /// The symbol given.
        symbol: String,
        /// The venue's simulated markets, comma-separated.
        markets: String,
    },
    /// A venue that is not simulated by this simulator.
    #[error("{venue} is not simulated here")]
    VenueNotSimulated {
        /// The venue.
        venue: Venue,
    },
    /// A fault name that is not one of [`super::Fault`]'s.
    #[error("unknown fault {name:?} (expected gap, bad_checksum, disconnect, stall, slow or malformed)")]
    UnknownFault {
        /// The name given.
        name: String,
    },
    /// An option out of its range.
    #[error("invalid simulator option {name}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A venue's listener could not bind its address.
    #[error("{venue}: cannot listen on {addr}: {source}")]
    Bind {
        /// The venue.
        venue: Venue,
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The crate's runtime could not start (or the process forked after it started).
    #[error(transparent)]
    Runtime(#[from] crate::Error),
}
