//! Each venue's protocol as the simulator speaks it: one [`VenueSim`](super::protocol::VenueSim)
//! per module.

pub mod binance;
pub mod bybit;
pub mod coinbase;
pub mod gateio;
pub mod kraken;
pub mod okx;

use super::error::SimError;
use crate::model::Venue;

/// The venue `name` names (any ASCII case). Venues whose adapters are written in Python (Gate.io)
/// are registered here first, with the traits their adapters register, so a configuration can
/// name them before any adapter was loaded.
///
/// # Errors
///
/// [`SimError::Symbol`]: an unknown name; [`SimError::InvalidOption`]: the name is registered
/// with other traits.
pub fn venue_by_name(name: &str) -> Result<Venue, SimError> {
    if name.eq_ignore_ascii_case(gateio::NAME) {
        return gateio::venue()
            .map_err(|error| SimError::InvalidOption { name: "venues", reason: error.to_string() });
    }
    Ok(name.parse::<Venue>()?)
}

/// Whether the simulator speaks private (authenticated) channels for `venue`.
#[must_use]
pub fn has_private_channels(venue: Venue) -> bool {
    gateio::is_gateio(venue)
}
