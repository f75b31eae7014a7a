//! Coinbase: placeholder until its adapter lands.

use super::{Adapter, VenueError};
use crate::model::{InstrumentKind, Venue};

/// The Coinbase adapter for `kind`.
///
/// # Errors
///
/// Always, until implemented.
pub fn adapter(kind: InstrumentKind) -> Result<Box<dyn Adapter>, VenueError> {
    Err(VenueError::Unsupported { venue: Venue::Coinbase, endpoint: "public", what: format!("{kind}") })
}
