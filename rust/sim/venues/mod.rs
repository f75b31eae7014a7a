//! Each venue's protocol as the simulator speaks it: one [`VenueSim`](super::protocol::VenueSim)
//! per module.

pub mod binance;
pub mod bybit;
pub mod coinbase;
pub mod gateio;
pub mod kraken;
pub mod mexc;
pub mod okx;
#[cfg(test)]
pub(crate) mod testing;

use super::SimError;
use crate::model::{Decimal, Venue};

/// The venue `name` names (any ASCII case), registering on first use a venue the simulator
/// speaks whose adapter is written in Python (Gate.io, MEXC), with the traits that adapter
/// registers, so a configuration can name it before any adapter was loaded.
///
/// # Errors
///
/// [`SimError::Symbol`] for an unknown name; [`SimError::Registry`] if the venue was
/// registered with other traits.
pub fn venue_named(name: &str) -> Result<Venue, SimError> {
    if name.eq_ignore_ascii_case(mexc::NAME) {
        return Ok(mexc::venue()?);
    }
    if name.eq_ignore_ascii_case(gateio::NAME) {
        return Ok(gateio::venue()?);
    }
    Ok(name.parse::<Venue>()?)
}

/// Whether the simulator speaks private (authenticated) channels for `venue`.
#[must_use]
pub fn has_private_channels(venue: Venue) -> bool {
    gateio::is_gateio(venue)
}

/// `(last - open) / open` rounded half away from zero to `places` decimals; `None` if `open` is
/// zero or the arithmetic overflows.
pub(crate) fn change_fraction(last: Decimal, open: Decimal, places: u8) -> Option<Decimal> {
    let scale = last.scale().max(open.scale());
    let last = last.checked_rescale(scale)?.mantissa();
    let open = open.checked_rescale(scale)?.mantissa();
    if open == 0 {
        return None;
    }
    let numerator = last.checked_sub(open)?.checked_mul(10_i128.checked_pow(u32::from(places))?)?;
    let (mut quotient, remainder) = (numerator / open, numerator % open);
    if remainder.unsigned_abs().checked_mul(2)? >= open.unsigned_abs() {
        quotient += if (numerator < 0) == (open < 0) { 1 } else { -1 };
    }
    Some(Decimal::new(quotient, places))
}
