//! `tickwire._core.register_venue`: a venue written in Python gets a [`Venue`] of its own
//! ([`crate::model::registry`]), so the event constructors, books and broadcast take its name.

use std::str::FromStr;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::book::SyncRule;
use crate::model::market::intern_unified;
use crate::model::{SymbolSeparator, Venue, VenueTraits};

/// Registers a venue under `name`: its spot symbols join base and quote with
/// `symbol_separator` (`""`, `"_"`, `"-"` or `"/"`), and its books follow the `book_sync`
/// mechanism (`"rest_snapshot"`, `"snapshot_then_range"`, `"snapshot_then_next"`,
/// `"prev_sequence"`; `None`: its books are not kept). Registering a name again with the same
/// options does nothing.
///
/// Raises:
///     `ValueError`: A bad name (1 to 32 of `a-z0-9_-`), a built-in venue's name, an unknown
///     separator or mechanism, a name registered with other options, or a full registry.
#[pyfunction]
#[pyo3(signature = (name, *, symbol_separator = "", book_sync = None))]
pub fn register_venue(name: &str, symbol_separator: &str, book_sync: Option<&str>) -> PyResult<()> {
    let symbol_separator = SymbolSeparator::from_text(symbol_separator).ok_or_else(|| {
        PyValueError::new_err(format!(
            "symbol_separator {symbol_separator:?} is not one of \"\", \"_\", \"-\" or \"/\""
        ))
    })?;
    let book_sync = book_sync
        .map(|mechanism| {
            SyncRule::from_mechanism(mechanism).ok_or_else(|| {
                let known: Vec<&str> = SyncRule::GENERIC.iter().map(|rule| rule.mechanism()).collect();
                PyValueError::new_err(format!(
                    "book_sync {mechanism:?} is not one of {} or None",
                    known.join(", ")
                ))
            })
        })
        .transpose()?;
    Venue::register(name, VenueTraits { symbol_separator, book_sync })
        .map(drop)
        .map_err(|error| PyValueError::new_err(error.to_string()))
}

/// The market id of `symbol` (unified, `"BTC/USDT"`) on `venue` (a registered venue, or a
/// built-in one's spot market): the id `Dispatch.book` and the resync orders name it by.
///
/// Raises:
///     `ValueError`: An unknown venue, or a symbol the venue cannot name.
#[pyfunction]
pub fn market_id(venue: &str, symbol: &str) -> PyResult<u32> {
    let venue = Venue::from_str(venue).map_err(|error| PyValueError::new_err(error.to_string()))?;
    intern_unified(venue, symbol)
        .map(|market| market.id)
        .map_err(|error| PyValueError::new_err(error.to_string()))
}
