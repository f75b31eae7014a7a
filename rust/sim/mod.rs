//! The exchange simulator: local WebSocket servers that speak each venue's protocol, over
//! consistent synthetic markets, with faults on demand.
//!
//! Owns:
//! - [`protocol`]: the contract between the engine and a venue's wire protocol.
//! - [`venues`]: one protocol per venue.

pub mod protocol;
pub mod venues;
