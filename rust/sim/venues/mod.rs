//! Each venue's protocol as the simulator speaks it: one [`VenueSim`](super::protocol::VenueSim)
//! per module.

pub mod binance;
pub mod bybit;
pub mod coinbase;
pub mod kraken;
pub mod mexc;
pub mod okx;

use super::SimError;
use crate::model::Venue;

/// The venue `name` names (any ASCII case), registering a registered venue the simulator
/// speaks (MEXC) on first use, so a configuration can name it.
///
/// # Errors
///
/// [`SimError::Symbol`] for an unknown name; [`SimError::Registry`] if `mexc` was registered
/// with other traits.
pub fn venue_named(name: &str) -> Result<Venue, SimError> {
    if name.eq_ignore_ascii_case(mexc::NAME) {
        return Ok(mexc::venue()?);
    }
    Ok(name.parse::<Venue>()?)
}
