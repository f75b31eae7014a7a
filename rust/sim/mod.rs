//! The exchange simulator: local WebSocket servers that speak each venue's protocol, over
//! consistent synthetic markets, with faults on demand.
//!
//! Owns:
//! - [`protocol`]: the contract between the engine and a venue's wire protocol.
//! - [`venues`]: one protocol per venue.
//! - [`market`]: the synthetic markets (random-walk trades over exact, never-crossed books).
//! - [`faults`]: the faults the engine injects, on demand or at random.
//! - [`server`]: the engine: [`Simulator`], one listener and market generator per venue.
//! - [`credentials`]: the API keys the simulated venues accept on private channels.
//! - `client`, `wire`: one client connection (handshake, frames, heartbeat rules, faults).
//! - [`error`]: [`SimError`], what starting or driving the simulator can fail with.

mod client;
pub mod credentials;
pub mod error;
pub mod faults;
pub mod market;
pub mod protocol;
pub mod server;
#[cfg(test)]
mod tests;
pub mod venues;
mod wire;

pub use credentials::{ApiKey, Credentials};
pub use error::SimError;
pub use faults::Fault;
pub use server::{SimConfig, SimStats, Simulator, VenueStats};
