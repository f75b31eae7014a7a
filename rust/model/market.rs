//! Markets: a venue's instrument interned once, shared by every event that names it.
//!
//! An event carries an `Arc<Market>` instead of symbol strings, so parsing a message does not
//! allocate for its symbol: an adapter looks the native symbol up in its [`MarketCache`] (a
//! hash lookup by `&str`) and clones the `Arc` (one atomic increment). The first sight of a
//! symbol goes through the process-wide registry, which gives every (venue, kind, native
//! symbol) one dense [`Market::id`] for table lookups on the Python side and in the router.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rustc_hash::FxHashMap;

use super::symbol::{Instrument, InstrumentKind, SymbolError, Venue};

/// One instrument on one venue, named both ways.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Market {
    /// Dense, process-wide: the n-th market interned has id n; never reused.
    pub id: u32,
    /// The venue it trades on.
    pub venue: Venue,
    /// Spot, perpetual or future.
    pub kind: InstrumentKind,
    /// The unified symbol (`BTC/USDT`, `BTC/USDT-PERP`).
    pub unified: Box<str>,
    /// The venue's own spelling, canonical (`BTCUSDT`, `BTC-USDT-SWAP`, `BTC/USD`).
    pub native: Box<str>,
}

/// Shared handle to a [`Market`].
pub type MarketRef = Arc<Market>;

#[derive(Default)]
struct Registry {
    by_key: HashMap<(Venue, InstrumentKind, Box<str>), MarketRef>,
    by_id: Vec<MarketRef>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// The market for `native` on `venue`; with `kind` `None` the symbol says the kind (spot for
/// Binance and Bybit symbols). Cold path: takes the registry's lock.
///
/// # Errors
///
/// The [`SymbolError`] of [`Instrument::from_native`] / [`Instrument::from_native_as`].
///
/// # Panics
///
/// If more than 2^32 markets are interned.
pub fn intern(venue: Venue, kind: Option<InstrumentKind>, native: &str) -> Result<MarketRef, SymbolError> {
    let instrument = match kind {
        Some(kind) => Instrument::from_native_as(venue, kind, native)?,
        None => Instrument::from_native(venue, native)?,
    };
    let canonical_native = instrument.to_native(venue)?;
    let key = (venue, instrument.kind(), canonical_native.into_boxed_str());
    let mut registry = registry().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = registry.by_key.get(&key) {
        return Ok(Arc::clone(found));
    }
    let id = u32::try_from(registry.by_id.len()).expect("fewer than 2^32 markets");
    let market = Arc::new(Market {
        id,
        venue,
        kind: instrument.kind(),
        unified: instrument.to_string().into_boxed_str(),
        native: key.2.clone(),
    });
    registry.by_id.push(Arc::clone(&market));
    registry.by_key.insert(key, Arc::clone(&market));
    Ok(market)
}

/// The market for a unified symbol on `venue` (subscribe time).
///
/// # Errors
///
/// The [`SymbolError`] of [`Instrument::parse`] and [`Instrument::to_native`].
pub fn intern_unified(venue: Venue, unified: &str) -> Result<MarketRef, SymbolError> {
    let instrument = Instrument::parse(unified)?;
    let native = instrument.to_native(venue)?;
    intern(venue, Some(instrument.kind()), &native)
}

/// The market with `id`, if one was interned.
#[must_use]
pub fn by_id(id: u32) -> Option<MarketRef> {
    let registry = registry().lock().unwrap_or_else(PoisonError::into_inner);
    registry.by_id.get(id as usize).cloned()
}

/// An adapter's lock-free memo of the markets it has seen, keyed by the native symbol exactly
/// as the wire spells it (so `btcusdt` and `BTCUSDT` are two keys to one market). Hashed with
/// `FxHash`: the keys are a venue's own symbols, short and not chosen by an attacker who could
/// flood one bucket, and `SipHash` cost a multi-symbol stream several percent of its parse time.
#[derive(Debug)]
pub struct MarketCache {
    venue: Venue,
    kind: Option<InstrumentKind>,
    by_wire: FxHashMap<Box<str>, MarketRef>,
    /// The last symbol looked up, and its market: streams repeat a symbol more often than they
    /// switch, and a byte comparison is cheaper than hashing. The string's buffer is reused.
    last_wire: String,
    last: Option<MarketRef>,
}

impl MarketCache {
    /// A cache for `venue`'s symbols; `kind` as for [`intern`].
    #[must_use]
    pub fn new(venue: Venue, kind: Option<InstrumentKind>) -> Self {
        Self { venue, kind, by_wire: FxHashMap::default(), last_wire: String::new(), last: None }
    }

    /// The market `wire` names: a hash lookup after the first time.
    ///
    /// # Errors
    ///
    /// As [`intern`], for a symbol not seen before.
    ///
    /// # Panics
    ///
    /// Never: the memo is filled before it is read.
    #[inline]
    pub fn get(&mut self, wire: &str) -> Result<&MarketRef, SymbolError> {
        if self.last.is_none() || self.last_wire != wire {
            let market = if let Some(market) = self.by_wire.get(wire) {
                Arc::clone(market)
            } else {
                let market = intern(self.venue, self.kind, wire)?;
                self.by_wire.insert(wire.into(), Arc::clone(&market));
                market
            };
            self.last_wire.clear();
            self.last_wire.push_str(wire);
            return Ok(self.last.insert(market));
        }
        Ok(self.last.as_ref().expect("checked above"))
    }

    /// The venue this cache is for.
    #[must_use]
    pub const fn venue(&self) -> Venue {
        self.venue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_market_per_instrument_whatever_the_spelling() {
        let mut cache = MarketCache::new(Venue::Binance, None);
        let upper = Arc::clone(cache.get("BTCUSDT").unwrap());
        let lower = Arc::clone(cache.get("btcusdt").unwrap());
        assert!(Arc::ptr_eq(&upper, &lower));
        assert_eq!(&*upper.unified, "BTC/USDT");
        assert_eq!(&*upper.native, "BTCUSDT");
        assert!(Arc::ptr_eq(&upper, &by_id(upper.id).unwrap()));
        assert!(Arc::ptr_eq(&upper, &intern_unified(Venue::Binance, "btc/usdt").unwrap()));
    }

    #[test]
    fn kind_separates_bybit_spot_from_linear() {
        let spot = intern(Venue::Bybit, None, "ETHUSDT").unwrap();
        let linear = intern(Venue::Bybit, Some(InstrumentKind::Perpetual), "ETHUSDT").unwrap();
        assert_ne!(spot.id, linear.id);
        assert_eq!(&*linear.unified, "ETH/USDT-PERP");
    }

    #[test]
    fn unknown_symbol_is_an_error_not_a_market() {
        let mut cache = MarketCache::new(Venue::Binance, None);
        assert!(cache.get("NOTAPAIR").is_err());
    }
}
