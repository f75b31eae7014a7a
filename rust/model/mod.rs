//! The normalized model venue adapters produce: exact numbers and unified symbols.
//!
//! Owns:
//! - [`Decimal`]: an exact decimal (`i128` mantissa, `u8` scale) parsed from a venue's price or
//!   quantity text in one pass, without allocation or floats; printed back at the scale it was
//!   sent with; compared, ordered and hashed by value; with a correctly rounded `to_f64`.
//! - [`symbol`]: [`Venue`], the unified notation (`BTC/USDT`, `BTC/USDT-PERP`,
//!   `BTC/USD-250328`) and the mapping to and from each venue's native symbols.
//! - [`registry`]: venues registered at run time (written in Python): a `Copy` handle to a
//!   write-once entry with the venue's name, symbol style and book rule, read without locks.
//! - [`time`]: RFC 3339 date-times to and from exact Unix nanoseconds (Coinbase's and Kraken's
//!   timestamps, read by the adapters and written by the simulators).
//!
//! Invariants:
//! - Prices and quantities are exact: for every number a venue sends, `Decimal::parse` keeps its
//!   value, and its `Display` prints that value (byte for byte for canonical plain text such as
//!   `"16848.51000000"`), so Python's `Decimal(str(price))` equals what the venue sent.
//! - Symbol mapping is a bijection on what it accepts: a canonical unified symbol maps to a
//!   native one and back unchanged, and an input it cannot map without guessing (an unknown
//!   quote asset, an unsupported instrument kind) is a typed error naming the venue and input.
//! - Nothing here does I/O or depends on `PyO3`; parsing numbers is hot-path code, symbol
//!   mapping is cold-path (subscribe and intern time).

pub mod decimal;
pub mod event;
pub mod market;
pub mod registry;
pub mod symbol;
pub mod time;

pub use decimal::{Decimal, DecimalError, PlainText};
pub use event::{Bbo, BookUpdate, Channel, Event, Level, Side, Ticker, Trade, TradeId};
pub use market::{Market, MarketCache, MarketRef};
pub use registry::{RegisteredVenue, RegistryError, SymbolSeparator, VenueTraits};
pub use symbol::{
    Expiry, Instrument, InstrumentKind, SymbolError, Venue, to_native, to_unified, to_unified_as,
};
