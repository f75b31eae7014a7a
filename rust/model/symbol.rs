//! Unified symbols: one spelling of an instrument across venues, mapped to and from each
//! venue's native symbol.
//!
//! # Unified notation
//!
//! ```text
//! BASE/QUOTE            spot                    BTC/USDT
//! BASE/QUOTE-PERP       perpetual swap          BTC/USDT-PERP   (OKX BTC-USDT-SWAP, Bybit linear BTCUSDT)
//! BASE/QUOTE-YYMMDD     dated future            BTC/USD-250328  (OKX BTC-USD-250328)
//! ```
//!
//! Assets are ASCII letters and digits, upper case (`1000PEPE`, `USDT`). Input is accepted in
//! any ASCII case on both sides; output is always canonical (unified upper case, natives as the
//! venue spells them), so a canonical symbol survives a round trip byte for byte.
//!
//! Why `-PERP` and `-YYMMDD`: the unified form carries exactly what the native forms carry, so
//! every mapping is a bijection needing no instrument metadata; `/` only ever splits base from
//! quote and `-` only ever introduces the kind, so parsing is one split each; and `PERP` is what
//! traders call the contract and how several venues and libraries spell it (Coinbase
//! International `BTC-PERP`, Deribit `BTC-PERPETUAL`, nautilus' `BTCUSDT-PERP`). ccxt's `BTC/USDT:USDT` was considered and not taken: its settle
//! currency is not in OKX's or Bybit's native symbol (it would have to be inferred or looked up),
//! and it reads less plainly. `YYMMDD` is the expiry as OKX and Binance write it and as ccxt
//! suffixes it, which keeps futures sortable by date. Linear and inverse contracts are told
//! apart by the quote as on the venue (OKX `BTC-USDT-SWAP` is linear, `BTC-USD-SWAP` inverse);
//! the unified form does not claim that `BTC/USD-PERP` is the same contract on two venues.
//!
//! # Native forms (`PROTOCOLS.md`)
//!
//! | venue    | spot        | perpetual                              | future           |
//! |----------|-------------|----------------------------------------|------------------|
//! | Binance  | `BTCUSDT`   | —                                      | —                |
//! | Bybit    | `BTCUSDT`   | `BTCUSDT` (linear endpoint)            | —                |
//! | OKX      | `BTC-USDT`  | `BTC-USDT-SWAP`                        | `BTC-USD-250328` |
//! | Coinbase | `BTC-USD`   | —                                      | —                |
//! | Kraken   | `BTC/USD`   | —                                      | —                |
//!
//! - Binance and Bybit concatenate base and quote. The split takes the longest entry of
//!   [`KNOWN_QUOTES`] the symbol ends with; a symbol ending in none is an error
//!   ([`SymbolError::UnknownQuote`]), never a guess. The list is *suffix-free* (no entry ends
//!   with another), which makes every pair quoted in a listed asset split correctly; a quote
//!   that ends with another (Binance's delisted `AEUR` ends with `EUR`) would make `ADAEUR`
//!   split as `AD`/`AEUR`, so such a quote must not be added without an exchange-info lookup. A
//!   pair quoted in an unlisted asset whose name ends in a listed one would split wrongly; venue
//!   adapters that load the venue's instrument list (`baseAsset`/`quoteAsset`) should prefer it.
//!   Binance's payloads spell symbols upper case (`"s": "BNBBTC"`) and its stream names lower
//!   case (`btcusdt@trade`): [`to_native`] returns the former, lower-case it for stream names,
//!   and [`to_unified`] accepts both.
//! - Bybit's spot and linear endpoints both call the BTC/USDT instrument `BTCUSDT`: the symbol
//!   does not say which, the endpoint does. [`to_unified`] reads a Bybit symbol as spot; a
//!   linear-endpoint adapter calls [`to_unified_as`] with [`InstrumentKind::Perpetual`]. Bybit's
//!   inverse (`BTCUSD`), USDC-perpetual (`BTCPERP`) and dated (`BTCUSDT-28MAR25`) symbols are not
//!   mapped (no protocol facts for them yet) and fail as [`SymbolError::UnknownQuote`] or
//!   [`SymbolError::InvalidNative`].
//! - Binance here is the spot venue (`stream.binance.com`): USD-M futures are another endpoint,
//!   not mapped yet.
//! - OKX options (`BTC-USD-250328-100000-C`) fail as [`SymbolError::UnsupportedKind`].
//! - Kraken v2 spells bitcoin `BTC`, not v1's `XBT` (v2 rejects `XBT/USD`), so `XBT` is refused
//!   on Kraken in both directions with a message saying so.
//!
//! Mapping allocates and is meant for the cold path (subscribing, interning); the hot path
//! routes by interned id.

use std::fmt;
use std::str::FromStr;

use super::registry::{self, RegisteredVenue, RegistryError, SymbolSeparator, VenueTraits};

/// An exchange whose market data tickwire normalizes: one of the five built-in venues, or one
/// registered at run time ([`Venue::register`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Venue {
    /// Binance spot.
    Binance,
    /// Bybit v5 (spot and linear).
    Bybit,
    /// OKX v5.
    Okx,
    /// Coinbase Advanced Trade.
    Coinbase,
    /// Kraken WebSocket v2 (spot).
    Kraken,
    /// A venue registered at run time (written in Python): spot symbols in the style its
    /// [`VenueTraits`] give.
    Registered(RegisteredVenue),
}

impl Venue {
    /// The built-in venues, in declaration order (registered ones: [`registry::all`]).
    pub const ALL: [Self; 5] = [Self::Binance, Self::Bybit, Self::Okx, Self::Coinbase, Self::Kraken];

    /// The lower-case name: `"binance"`, `"bybit"`, `"okx"`, `"coinbase"`, `"kraken"`, or the
    /// name a registered venue was registered under.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Binance => "binance",
            Self::Bybit => "bybit",
            Self::Okx => "okx",
            Self::Coinbase => "coinbase",
            Self::Kraken => "kraken",
            Self::Registered(venue) => venue.name(),
        }
    }

    /// Registers a venue under `name` (`[a-z0-9_-]`, 1 to 32 characters, not a built-in's
    /// name), or gives the one registered under it with equal traits. Cold path: takes the
    /// registry's write lock.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidName`], [`RegistryError::BuiltIn`], [`RegistryError::Conflict`]
    /// if `name` is registered with other traits, [`RegistryError::VenueSpecificRule`] for a
    /// book rule only its own venue can use, [`RegistryError::Full`].
    pub fn register(name: &str, traits: VenueTraits) -> Result<Self, RegistryError> {
        registry::register(name, traits).map(Self::Registered)
    }

    /// A dense number, below 64: a built-in venue's position in [`Venue::ALL`], then registered
    /// venues in registration order.
    #[must_use]
    pub const fn ordinal(self) -> u8 {
        match self {
            Self::Binance => 0,
            Self::Bybit => 1,
            Self::Okx => 2,
            Self::Coinbase => 3,
            Self::Kraken => 4,
            #[expect(clippy::cast_possible_truncation, reason = "ALL has 5 venues")]
            Self::Registered(venue) => Self::ALL.len() as u8 + venue.index(),
        }
    }

    /// Whether this is one of [`Venue::ALL`].
    #[must_use]
    pub const fn is_builtin(self) -> bool {
        !matches!(self, Self::Registered(_))
    }

    /// A registered venue's traits; `None` for a built-in venue.
    #[must_use]
    pub const fn registered_traits(self) -> Option<VenueTraits> {
        match self {
            Self::Registered(venue) => Some(venue.traits()),
            _ => None,
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Venue {
    type Err = SymbolError;

    /// Parses a name as [`Venue::as_str`] gives it, in any ASCII case: a built-in venue's, or a
    /// registered one's (read without locking).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|venue| venue.as_str().eq_ignore_ascii_case(name))
            .or_else(|| registry::find(name).map(Self::Registered))
            .ok_or_else(|| SymbolError::UnknownVenue { name: name.into() })
    }
}

/// What an instrument is, as far as its symbol says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstrumentKind {
    /// Spot (and margin, which trades the same book).
    Spot,
    /// A perpetual swap, linear or inverse (unified suffix `-PERP`).
    Perpetual,
    /// A future expiring on a date (unified suffix `-YYMMDD`).
    Future(Expiry),
}

impl InstrumentKind {
    /// `"spot"`, `"perpetual"` or `"future"`, for messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Spot => "spot",
            Self::Perpetual => "perpetual",
            Self::Future(_) => "future",
        }
    }
}

/// The expiry date of a future, as written in its symbol (`YYMMDD`, years 2000–2099).
///
/// Month and day are range-checked (01–12, 01–31), not checked against the calendar: the venue
/// owns its calendar, and the symbol only has to survive the round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Expiry {
    year: u16,
    month: u8,
    day: u8,
}

impl Expiry {
    /// The year, 2000–2099.
    #[must_use]
    pub const fn year(self) -> u16 {
        self.year
    }

    /// The month, 1–12.
    #[must_use]
    pub const fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1–31.
    #[must_use]
    pub const fn day(self) -> u8 {
        self.day
    }

    /// Reads six ASCII digits `YYMMDD`.
    fn parse_yymmdd(text: &str) -> Option<Self> {
        let &[y1, y2, m1, m2, d1, d2] = text.as_bytes() else { return None };
        let two = |hi: u8, lo: u8| {
            (hi.is_ascii_digit() && lo.is_ascii_digit()).then(|| (hi - b'0') * 10 + (lo - b'0'))
        };
        let (yy, month, day) = (two(y1, y2)?, two(m1, m2)?, two(d1, d2)?);
        ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some(Self {
            year: 2000 + u16::from(yy),
            month,
            day,
        })
    }
}

impl fmt::Display for Expiry {
    /// `YYMMDD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}{:02}{:02}", self.year % 100, self.month, self.day)
    }
}

/// Quote assets that end concatenated Binance and Bybit symbols, longest first (within a
/// length: stablecoins, crypto, fiat).
///
/// Kept suffix-free (see the [module documentation](self)); a test checks both properties. A
/// quote asset a venue newly lists belongs here; until then its pairs fail as
/// [`SymbolError::UnknownQuote`].
pub const KNOWN_QUOTES: &[&str] = &[
    "FDUSD", //
    "BUSD", "TUSD", "USD1", "USDC", "USDP", "USDT", "DOGE", "EURI", //
    "DAI", "BNB", "BTC", "ETH", "TRX", "XRP", //
    "ARS", "AUD", "BRL", "COP", "CZK", "EUR", "GBP", "JPY", "MXN", "PLN", "RON", "TRY", "UAH", "ZAR",
];

/// A symbol cannot be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// Not a venue name ([`Venue::from_str`]).
    #[error("unknown venue {name:?} (expected binance, bybit, okx, coinbase, kraken or a registered venue)")]
    UnknownVenue {
        /// The name given.
        name: String,
    },
    /// Not in unified notation (`BASE/QUOTE`, `BASE/QUOTE-PERP`, `BASE/QUOTE-YYMMDD`), or not
    /// valid on the venue it was being mapped to.
    #[error(
        "{}{symbol:?} is not a unified symbol (BASE/QUOTE, BASE/QUOTE-PERP or BASE/QUOTE-YYMMDD): {reason}",
        venue_prefix(*.venue)
    )]
    InvalidUnified {
        /// The venue it was being mapped to, if any.
        venue: Option<Venue>,
        /// The symbol given.
        symbol: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Not in the venue's native form.
    #[error("{venue}: {symbol:?} is not a {venue} symbol: {reason}")]
    InvalidNative {
        /// The venue whose form was expected.
        venue: Venue,
        /// The symbol given.
        symbol: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A concatenated symbol ends in no [`KNOWN_QUOTES`] entry, or a unified symbol's quote is
    /// not one, so it cannot be split or would not split back.
    #[error("{venue}: the quote asset of {symbol:?} is not a known quote (symbol::KNOWN_QUOTES)")]
    UnknownQuote {
        /// The venue being mapped to or from.
        venue: Venue,
        /// The symbol given.
        symbol: String,
    },
    /// The instrument kind exists but is not mapped on this venue (a perpetual on Coinbase, an
    /// OKX option).
    #[error("{venue}: {symbol:?} is a {kind} instrument, which tickwire does not map on {venue}")]
    UnsupportedKind {
        /// The venue being mapped to or from.
        venue: Venue,
        /// The symbol given.
        symbol: String,
        /// `"perpetual"`, `"future"` or `"option"`.
        kind: &'static str,
    },
    /// [`to_unified_as`] was told one kind, and the native symbol names another.
    #[error("{venue}: {symbol:?} is a {found} symbol, not the {expected} expected")]
    KindMismatch {
        /// The venue being mapped from.
        venue: Venue,
        /// The symbol given.
        symbol: String,
        /// The kind the caller stated.
        expected: InstrumentKind,
        /// The kind the symbol names.
        found: InstrumentKind,
    },
}

fn venue_prefix(venue: Option<Venue>) -> String {
    venue.map_or_else(String::new, |venue| format!("{venue}: "))
}

impl fmt::Display for InstrumentKind {
    /// [`name`](Self::name), with the expiry for a future (`future 250328`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Future(expiry) => write!(f, "future {expiry}"),
            kind => f.write_str(kind.name()),
        }
    }
}

/// An instrument in unified terms: base and quote assets (upper case) and kind.
///
/// [`Display`](fmt::Display) gives the unified symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Instrument {
    base: String,
    quote: String,
    kind: InstrumentKind,
}

impl Instrument {
    /// Parses a unified symbol (`BTC/USDT`, `BTC/USDT-PERP`, `BTC/USD-250328`), in any ASCII case.
    ///
    /// # Errors
    ///
    /// [`SymbolError::InvalidUnified`] (with no venue) if `unified` is not in that notation.
    pub fn parse(unified: &str) -> Result<Self, SymbolError> {
        parse_unified(unified).map_err(|reason| SymbolError::InvalidUnified {
            venue: None,
            symbol: unified.into(),
            reason,
        })
    }

    /// Reads a venue's native symbol; where the symbol does not say the kind (Binance, Bybit)
    /// it is spot.
    ///
    /// # Errors
    ///
    /// [`SymbolError::InvalidNative`] if `native` is not in the venue's form,
    /// [`SymbolError::UnknownQuote`] if a concatenated symbol ends in no known quote,
    /// [`SymbolError::UnsupportedKind`] for an OKX option.
    pub fn from_native(venue: Venue, native: &str) -> Result<Self, SymbolError> {
        parse_native(venue, native, None)
    }

    /// Like [`from_native`](Self::from_native), stating the kind: for Bybit's linear endpoint,
    /// whose `BTCUSDT` is a perpetual. Where the symbol says the kind (OKX), it must agree.
    ///
    /// # Errors
    ///
    /// As [`from_native`](Self::from_native); also [`SymbolError::UnsupportedKind`] if the
    /// venue has no such kind here (a Bybit future, any Coinbase perpetual), and
    /// [`SymbolError::KindMismatch`] if the symbol names a different kind.
    pub fn from_native_as(venue: Venue, kind: InstrumentKind, native: &str) -> Result<Self, SymbolError> {
        parse_native(venue, native, Some(kind))
    }

    /// The venue's native symbol for this instrument (Binance's upper case, as in payloads).
    ///
    /// # Errors
    ///
    /// [`SymbolError::UnsupportedKind`] if the venue has no such kind here,
    /// [`SymbolError::UnknownQuote`] if a concatenated symbol's quote is not in
    /// [`KNOWN_QUOTES`] (it would not split back), [`SymbolError::InvalidUnified`] for `XBT` on
    /// Kraken.
    pub fn to_native(&self, venue: Venue) -> Result<String, SymbolError> {
        check_supported(venue, self.kind, || self.to_string())?;
        let Self { base, quote, kind } = self;
        match venue {
            Venue::Binance | Venue::Bybit => {
                if !KNOWN_QUOTES.contains(&quote.as_str()) {
                    return Err(SymbolError::UnknownQuote { venue, symbol: self.to_string() });
                }
                Ok(format!("{base}{quote}"))
            }
            Venue::Okx => Ok(match kind {
                InstrumentKind::Spot => format!("{base}-{quote}"),
                InstrumentKind::Perpetual => format!("{base}-{quote}-SWAP"),
                InstrumentKind::Future(expiry) => format!("{base}-{quote}-{expiry}"),
            }),
            Venue::Coinbase => Ok(format!("{base}-{quote}")),
            Venue::Kraken => {
                if is_xbt(base) || is_xbt(quote) {
                    return Err(SymbolError::InvalidUnified {
                        venue: Some(venue),
                        symbol: self.to_string(),
                        reason: KRAKEN_XBT,
                    });
                }
                Ok(format!("{base}/{quote}"))
            }
            Venue::Registered(registered) => {
                let separator = registered.traits().symbol_separator;
                if separator == SymbolSeparator::None && !KNOWN_QUOTES.contains(&quote.as_str()) {
                    return Err(SymbolError::UnknownQuote { venue, symbol: self.to_string() });
                }
                Ok(format!("{base}{}{quote}", separator.as_str()))
            }
        }
    }

    /// The base asset (`BTC` in `BTC/USDT`).
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The quote asset (`USDT` in `BTC/USDT`).
    #[must_use]
    pub fn quote(&self) -> &str {
        &self.quote
    }

    /// Spot, perpetual or future.
    #[must_use]
    pub const fn kind(&self) -> InstrumentKind {
        self.kind
    }
}

impl fmt::Display for Instrument {
    /// The unified symbol.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { base, quote, kind } = self;
        match kind {
            InstrumentKind::Spot => write!(f, "{base}/{quote}"),
            InstrumentKind::Perpetual => write!(f, "{base}/{quote}-PERP"),
            InstrumentKind::Future(expiry) => write!(f, "{base}/{quote}-{expiry}"),
        }
    }
}

impl FromStr for Instrument {
    type Err = SymbolError;

    /// Same as [`Instrument::parse`].
    fn from_str(unified: &str) -> Result<Self, Self::Err> {
        Self::parse(unified)
    }
}

/// The venue's native symbol for a unified one (`to_native(Venue::Okx, "BTC/USDT-PERP")` is
/// `"BTC-USDT-SWAP"`).
///
/// # Errors
///
/// [`SymbolError::InvalidUnified`] (naming the venue) if `unified` is not in unified notation,
/// and the errors of [`Instrument::to_native`].
pub fn to_native(venue: Venue, unified: &str) -> Result<String, SymbolError> {
    let instrument = parse_unified(unified).map_err(|reason| SymbolError::InvalidUnified {
        venue: Some(venue),
        symbol: unified.into(),
        reason,
    })?;
    instrument.to_native(venue)
}

/// The unified symbol for a venue's native one (`to_unified(Venue::Binance, "btcusdt")` is
/// `"BTC/USDT"`); Binance and Bybit symbols are read as spot.
///
/// # Errors
///
/// As [`Instrument::from_native`].
pub fn to_unified(venue: Venue, native: &str) -> Result<String, SymbolError> {
    Instrument::from_native(venue, native).map(|instrument| instrument.to_string())
}

/// Like [`to_unified`], stating the kind the symbol's endpoint trades
/// (`to_unified_as(Venue::Bybit, InstrumentKind::Perpetual, "BTCUSDT")` is `"BTC/USDT-PERP"`).
///
/// # Errors
///
/// As [`Instrument::from_native_as`].
pub fn to_unified_as(venue: Venue, kind: InstrumentKind, native: &str) -> Result<String, SymbolError> {
    Instrument::from_native_as(venue, kind, native).map(|instrument| instrument.to_string())
}

const KRAKEN_XBT: &str = "Kraken v2 names bitcoin BTC, not XBT";

fn is_xbt(asset: &str) -> bool {
    asset.eq_ignore_ascii_case("XBT")
}

/// A base or quote asset, upper-cased.
fn asset(text: &str) -> Result<String, &'static str> {
    if text.is_empty() {
        Err("an asset is empty")
    } else if !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Err("assets are ASCII letters and digits")
    } else {
        Ok(text.to_ascii_uppercase())
    }
}

fn parse_unified(unified: &str) -> Result<Instrument, &'static str> {
    let (base, rest) = unified.split_once('/').ok_or("no '/' between base and quote")?;
    let (quote, kind) = match rest.split_once('-') {
        None => (rest, InstrumentKind::Spot),
        Some((quote, suffix)) if suffix.eq_ignore_ascii_case("PERP") => (quote, InstrumentKind::Perpetual),
        Some((quote, suffix)) => {
            let expiry =
                Expiry::parse_yymmdd(suffix).ok_or("the suffix is neither PERP nor a YYMMDD date")?;
            (quote, InstrumentKind::Future(expiry))
        }
    };
    Ok(Instrument { base: asset(base)?, quote: asset(quote)?, kind })
}

fn parse_native(
    venue: Venue,
    native: &str,
    stated: Option<InstrumentKind>,
) -> Result<Instrument, SymbolError> {
    if let Some(stated) = stated {
        check_supported(venue, stated, || native.into())?;
    }
    let instrument = match venue {
        Venue::Binance | Venue::Bybit => {
            parse_concatenated(venue, native, stated.unwrap_or(InstrumentKind::Spot))?
        }
        Venue::Okx => parse_okx(native)?,
        Venue::Coinbase => parse_separated(venue, native, '-', "expected BASE-QUOTE")?,
        Venue::Kraken => parse_separated(venue, native, '/', "expected BASE/QUOTE")?,
        Venue::Registered(registered) => match registered.traits().symbol_separator {
            SymbolSeparator::None => parse_concatenated(venue, native, InstrumentKind::Spot)?,
            SymbolSeparator::Underscore => parse_separated(venue, native, '_', "expected BASE_QUOTE")?,
            SymbolSeparator::Hyphen => parse_separated(venue, native, '-', "expected BASE-QUOTE")?,
            SymbolSeparator::Slash => parse_separated(venue, native, '/', "expected BASE/QUOTE")?,
        },
    };
    if let Some(expected) = stated.filter(|&stated| stated != instrument.kind) {
        return Err(SymbolError::KindMismatch {
            venue,
            symbol: native.into(),
            expected,
            found: instrument.kind,
        });
    }
    check_supported(venue, instrument.kind, || native.into())?;
    Ok(instrument)
}

fn invalid_native(venue: Venue, native: &str) -> impl Fn(&'static str) -> SymbolError {
    move |reason| SymbolError::InvalidNative { venue, symbol: native.into(), reason }
}

/// Splits a concatenated symbol (Binance, Bybit, registered venues without a separator) at the
/// longest known quote it ends with.
fn parse_concatenated(venue: Venue, native: &str, kind: InstrumentKind) -> Result<Instrument, SymbolError> {
    let upper = asset(native).map_err(invalid_native(venue, native))?;
    let quote = KNOWN_QUOTES
        .iter()
        .find(|quote| upper.len() > quote.len() && upper.ends_with(*quote))
        .ok_or_else(|| SymbolError::UnknownQuote { venue, symbol: native.into() })?;
    let base = upper[..upper.len() - quote.len()].to_owned();
    Ok(Instrument { base, quote: (*quote).to_owned(), kind })
}

/// Reads a spot `BASE<separator>QUOTE` (Coinbase, Kraken, registered venues with a separator).
fn parse_separated(
    venue: Venue,
    native: &str,
    separator: char,
    expected: &'static str,
) -> Result<Instrument, SymbolError> {
    let invalid = invalid_native(venue, native);
    let (base, quote) = native.split_once(separator).ok_or_else(|| invalid(expected))?;
    if venue == Venue::Kraken && (is_xbt(base) || is_xbt(quote)) {
        return Err(invalid(KRAKEN_XBT));
    }
    Ok(Instrument {
        base: asset(base).map_err(&invalid)?,
        quote: asset(quote).map_err(&invalid)?,
        kind: InstrumentKind::Spot,
    })
}

/// Reads OKX's `BASE-QUOTE`, `BASE-QUOTE-SWAP` or `BASE-QUOTE-YYMMDD`, and recognizes options
/// (`BASE-QUOTE-YYMMDD-STRIKE-C|P`) to refuse them by name.
fn parse_okx(native: &str) -> Result<Instrument, SymbolError> {
    const EXPECTED: &str = "expected BASE-QUOTE, BASE-QUOTE-SWAP or BASE-QUOTE-YYMMDD";
    let invalid = invalid_native(Venue::Okx, native);
    let parts: Vec<&str> = native.split('-').collect();
    let (base, quote, kind) = match parts[..] {
        [base, quote] => (base, quote, InstrumentKind::Spot),
        [base, quote, swap] if swap.eq_ignore_ascii_case("SWAP") => (base, quote, InstrumentKind::Perpetual),
        [base, quote, date] => {
            let expiry = Expiry::parse_yymmdd(date)
                .ok_or_else(|| invalid("the suffix is neither SWAP nor a YYMMDD expiry"))?;
            (base, quote, InstrumentKind::Future(expiry))
        }
        [_, _, date, _, call_put]
            if Expiry::parse_yymmdd(date).is_some() && matches!(call_put, "C" | "P" | "c" | "p") =>
        {
            return Err(SymbolError::UnsupportedKind {
                venue: Venue::Okx,
                symbol: native.into(),
                kind: "option",
            });
        }
        _ => return Err(invalid(EXPECTED)),
    };
    Ok(Instrument { base: asset(base).map_err(&invalid)?, quote: asset(quote).map_err(&invalid)?, kind })
}

/// Which kinds each venue maps: the endpoints `PROTOCOLS.md` covers.
fn check_supported(
    venue: Venue,
    kind: InstrumentKind,
    symbol: impl FnOnce() -> String,
) -> Result<(), SymbolError> {
    let supported = match venue {
        Venue::Okx => true,
        Venue::Bybit => matches!(kind, InstrumentKind::Spot | InstrumentKind::Perpetual),
        Venue::Binance | Venue::Coinbase | Venue::Kraken | Venue::Registered(_) => {
            kind == InstrumentKind::Spot
        }
    };
    if supported {
        Ok(())
    } else {
        Err(SymbolError::UnsupportedKind { venue, symbol: symbol(), kind: kind.name() })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    use InstrumentKind::{Perpetual, Spot};
    use Venue::{Binance, Bybit, Coinbase, Kraken, Okx};

    fn future(yymmdd: &str) -> InstrumentKind {
        InstrumentKind::Future(Expiry::parse_yymmdd(yymmdd).unwrap())
    }

    /// (venue, kind the endpoint trades, native, unified): every venue, both directions.
    const TABLE: &[(Venue, InstrumentKind, &str, &str)] = &[
        (Binance, Spot, "BTCUSDT", "BTC/USDT"),
        (Binance, Spot, "BNBBTC", "BNB/BTC"),
        (Binance, Spot, "ETHFDUSD", "ETH/FDUSD"),
        (Binance, Spot, "BTCTUSD", "BTC/TUSD"),
        (Binance, Spot, "USDCUSDT", "USDC/USDT"),
        (Binance, Spot, "ADAEUR", "ADA/EUR"),
        (Binance, Spot, "1000SATSUSDT", "1000SATS/USDT"),
        (Binance, Spot, "BTCTRY", "BTC/TRY"),
        (Bybit, Spot, "BTCUSDT", "BTC/USDT"),
        (Bybit, Spot, "ETHUSDC", "ETH/USDC"),
        (Bybit, Perpetual, "BTCUSDT", "BTC/USDT-PERP"),
        (Bybit, Perpetual, "1000PEPEUSDT", "1000PEPE/USDT-PERP"),
        (Okx, Spot, "BTC-USDT", "BTC/USDT"),
        (Okx, Perpetual, "BTC-USDT-SWAP", "BTC/USDT-PERP"),
        (Okx, Perpetual, "BCH-USDT-SWAP", "BCH/USDT-PERP"),
        (Okx, Perpetual, "BTC-USD-SWAP", "BTC/USD-PERP"),
        (Coinbase, Spot, "BTC-USD", "BTC/USD"),
        (Coinbase, Spot, "ETH-USDC", "ETH/USDC"),
        (Kraken, Spot, "BTC/USD", "BTC/USD"),
        (Kraken, Spot, "MATIC/USD", "MATIC/USD"),
        (Kraken, Spot, "ALGO/USD", "ALGO/USD"),
    ];

    #[test]
    fn table_maps_both_ways() {
        for &(venue, kind, native, unified) in TABLE {
            assert_eq!(to_native(venue, unified).as_deref(), Ok(native), "{venue} {unified}");
            assert_eq!(to_unified_as(venue, kind, native).as_deref(), Ok(unified), "{venue} {native}");
            let instrument = Instrument::parse(unified).unwrap();
            assert_eq!(instrument.kind(), kind);
            assert_eq!(instrument.to_string(), unified);
            assert_eq!(Instrument::from_native_as(venue, kind, native), Ok(instrument));
        }
    }

    #[test]
    fn okx_futures_carry_their_expiry() {
        assert_eq!(to_unified(Okx, "BTC-USD-250328").as_deref(), Ok("BTC/USD-250328"));
        assert_eq!(to_native(Okx, "BTC/USD-250328").as_deref(), Ok("BTC-USD-250328"));
        assert_eq!(to_native(Okx, "eth/usdt-261225").as_deref(), Ok("ETH-USDT-261225"));
        let InstrumentKind::Future(expiry) = Instrument::parse("BTC/USD-250328").unwrap().kind() else {
            panic!()
        };
        assert_eq!((expiry.year(), expiry.month(), expiry.day()), (2025, 3, 28));
        assert_eq!(to_unified_as(Okx, future("250328"), "BTC-USD-250328").as_deref(), Ok("BTC/USD-250328"));
    }

    #[test]
    fn kind_comes_from_the_symbol_where_it_says_and_is_spot_otherwise() {
        assert_eq!(to_unified(Okx, "BTC-USDT-SWAP").as_deref(), Ok("BTC/USDT-PERP"));
        assert_eq!(to_unified(Bybit, "BTCUSDT").as_deref(), Ok("BTC/USDT"));
        assert_eq!(
            to_unified_as(Okx, Spot, "BTC-USDT-SWAP"),
            Err(SymbolError::KindMismatch {
                venue: Okx,
                symbol: "BTC-USDT-SWAP".into(),
                expected: Spot,
                found: Perpetual
            })
        );
        let mismatch = to_unified_as(Okx, future("250627"), "BTC-USD-250328").unwrap_err();
        assert_eq!(
            mismatch.to_string(),
            r#"okx: "BTC-USD-250328" is a future 250328 symbol, not the future 250627 expected"#
        );
    }

    #[test]
    fn case_is_accepted_and_canonicalized() {
        assert_eq!(to_unified(Binance, "btcusdt").as_deref(), Ok("BTC/USDT"), "stream names are lower case");
        assert_eq!(to_native(Binance, "btc/usdt").as_deref(), Ok("BTCUSDT"));
        assert_eq!(to_native(Okx, "btc/usdt-perp").as_deref(), Ok("BTC-USDT-SWAP"));
        assert_eq!(to_unified(Okx, "btc-usdt-swap").as_deref(), Ok("BTC/USDT-PERP"));
        assert_eq!(to_unified(Kraken, "btc/usd").as_deref(), Ok("BTC/USD"));
    }

    #[test]
    fn unknown_quotes_are_errors_not_guesses() {
        for (venue, native) in [(Binance, "BTCXYZ"), (Bybit, "BTCUSD"), (Bybit, "BTCPERP"), (Binance, "USDT")]
        {
            assert_eq!(
                to_unified(venue, native),
                Err(SymbolError::UnknownQuote { venue, symbol: native.into() }),
                "{venue} {native}"
            );
        }
        assert_eq!(
            to_native(Binance, "BTC/XYZ"),
            Err(SymbolError::UnknownQuote { venue: Binance, symbol: "BTC/XYZ".into() })
        );
        assert_eq!(
            to_unified(Binance, "BTCXYZ").unwrap_err().to_string(),
            r#"binance: the quote asset of "BTCXYZ" is not a known quote (symbol::KNOWN_QUOTES)"#
        );
    }

    #[test]
    fn malformed_symbols_are_rejected_naming_venue_and_input() {
        let natives = [
            (Binance, ""),
            (Binance, "BTC-USDT"),
            (Binance, "BTC/USDT"),
            (Bybit, "BTCUSDT-28MAR25"),
            (Okx, "BTCUSDT"),
            (Okx, "BTC-"),
            (Okx, "-USDT"),
            (Okx, "BTC-USDT-PERP"),
            (Okx, "BTC-USD-251328"),
            (Okx, "BTC-USD-250300"),
            (Okx, "BTC-USD-25032"),
            (Okx, "BTC-USDT-SWAP-X"),
            (Okx, "BTC-USD-250328-100000-X"),
            (Coinbase, "BTCUSD"),
            (Coinbase, "BTC-USD-X"),
            (Coinbase, "BTC/USD"),
            (Kraken, "BTC-USD"),
            (Kraken, "BTC/USD/X"),
            (Kraken, "BTC /USD"),
            (Kraken, "XBT/USD"),
            (Kraken, "ETH/XBT"),
        ];
        for (venue, native) in natives {
            match to_unified(venue, native) {
                Err(SymbolError::InvalidNative { venue: v, symbol, .. }) => {
                    assert_eq!((v, symbol.as_str()), (venue, native));
                }
                other => panic!("{venue} {native:?} gave {other:?}"),
            }
        }
        assert_eq!(
            to_unified(Kraken, "XBT/USD").unwrap_err().to_string(),
            r#"kraken: "XBT/USD" is not a kraken symbol: Kraken v2 names bitcoin BTC, not XBT"#
        );

        let unified = [
            "",
            "BTCUSDT",
            "BTC-USDT",
            "/USDT",
            "BTC/",
            "BTC/USDT/X",
            "BTC/USDT-SWAP",
            "BTC/USDT-",
            "BTC/USD-2503",
            "BTC /USDT",
            "BTC/USDT-PERP-1",
            "BT€/USDT",
        ];
        for text in unified {
            assert!(
                matches!(Instrument::parse(text), Err(SymbolError::InvalidUnified { venue: None, ref symbol, .. }) if symbol == text),
                "{text:?}"
            );
            for venue in Venue::ALL {
                assert!(
                    matches!(to_native(venue, text), Err(SymbolError::InvalidUnified { venue: Some(v), ref symbol, .. }) if v == venue && symbol == text),
                    "{venue} {text:?}"
                );
            }
        }
        assert_eq!(
            to_native(Okx, "BTCUSDT").unwrap_err().to_string(),
            r#"okx: "BTCUSDT" is not a unified symbol (BASE/QUOTE, BASE/QUOTE-PERP or BASE/QUOTE-YYMMDD): no '/' between base and quote"#
        );
        assert!(matches!(
            to_native(Kraken, "XBT/USD"),
            Err(SymbolError::InvalidUnified { venue: Some(Kraken), .. })
        ));
    }

    #[test]
    fn unsupported_kinds_are_named() {
        let unsupported = [
            (to_native(Binance, "BTC/USDT-PERP"), Binance, "BTC/USDT-PERP", "perpetual"),
            (to_native(Coinbase, "BTC/USD-PERP"), Coinbase, "BTC/USD-PERP", "perpetual"),
            (to_native(Kraken, "BTC/USD-250328"), Kraken, "BTC/USD-250328", "future"),
            (to_native(Bybit, "BTC/USDT-250328"), Bybit, "BTC/USDT-250328", "future"),
            (to_unified_as(Binance, Perpetual, "BTCUSDT"), Binance, "BTCUSDT", "perpetual"),
            (to_unified_as(Kraken, Perpetual, "BTC/USD"), Kraken, "BTC/USD", "perpetual"),
            (to_unified_as(Bybit, future("250328"), "BTCUSDT"), Bybit, "BTCUSDT", "future"),
            (to_unified(Okx, "BTC-USD-250328-100000-C"), Okx, "BTC-USD-250328-100000-C", "option"),
        ];
        for (result, venue, symbol, kind) in unsupported {
            assert_eq!(result, Err(SymbolError::UnsupportedKind { venue, symbol: symbol.into(), kind }));
        }
        assert_eq!(
            to_native(Coinbase, "BTC/USD-PERP").unwrap_err().to_string(),
            r#"coinbase: "BTC/USD-PERP" is a perpetual instrument, which tickwire does not map on coinbase"#
        );
    }

    #[test]
    fn venues_parse_and_print_their_names() {
        for venue in Venue::ALL {
            assert_eq!(venue.as_str().parse(), Ok(venue));
            assert_eq!(venue.as_str().to_uppercase().parse(), Ok(venue));
            assert_eq!(venue.to_string(), venue.as_str());
        }
        assert_eq!(
            "ftx".parse::<Venue>().unwrap_err().to_string(),
            r#"unknown venue "ftx" (expected binance, bybit, okx, coinbase, kraken or a registered venue)"#
        );
    }

    fn registered(name: &str, separator: SymbolSeparator) -> Venue {
        Venue::register(name, VenueTraits { symbol_separator: separator, book_sync: None }).unwrap()
    }

    #[test]
    fn registered_venues_map_spot_symbols_in_their_style() {
        let cases = [
            (registered("sym-plain", SymbolSeparator::None), "BTCUSDT", "btcusdt"),
            (registered("sym-under", SymbolSeparator::Underscore), "BTC_USDT", "btc_usdt"),
            (registered("sym-hyphen", SymbolSeparator::Hyphen), "BTC-USDT", "Btc-Usdt"),
            (registered("sym-slash", SymbolSeparator::Slash), "BTC/USDT", "btc/usdt"),
        ];
        for (venue, native, lower) in cases {
            assert_eq!(to_native(venue, "BTC/USDT").as_deref(), Ok(native), "{venue}");
            assert_eq!(to_native(venue, "btc/usdt").as_deref(), Ok(native), "{venue}");
            assert_eq!(to_unified(venue, native).as_deref(), Ok("BTC/USDT"), "{venue}");
            assert_eq!(to_unified(venue, lower).as_deref(), Ok("BTC/USDT"), "{venue}: any case");
            assert_eq!(to_unified_as(venue, Spot, native).as_deref(), Ok("BTC/USDT"), "{venue}");
            for (unified, kind) in [("BTC/USDT-PERP", "perpetual"), ("BTC/USD-250328", "future")] {
                assert_eq!(
                    to_native(venue, unified),
                    Err(SymbolError::UnsupportedKind { venue, symbol: unified.into(), kind }),
                    "{venue}"
                );
            }
            assert_eq!(
                to_unified_as(venue, Perpetual, native),
                Err(SymbolError::UnsupportedKind { venue, symbol: native.into(), kind: "perpetual" })
            );
        }
        let [(plain, ..), (under, ..), (hyphen, ..), _] = cases;
        // Without a separator the split is Binance's: the longest known quote.
        assert_eq!(to_unified(plain, "ETHFDUSD").as_deref(), Ok("ETH/FDUSD"));
        assert_eq!(
            to_unified(plain, "BTCXYZ"),
            Err(SymbolError::UnknownQuote { venue: plain, symbol: "BTCXYZ".into() })
        );
        assert_eq!(
            to_native(plain, "BTC/XYZ"),
            Err(SymbolError::UnknownQuote { venue: plain, symbol: "BTC/XYZ".into() })
        );
        // With one, any quote goes, and symbols in another style are refused naming the venue.
        assert_eq!(to_native(under, "PEPE/XYZ").as_deref(), Ok("PEPE_XYZ"));
        for (venue, native) in [
            (under, "BTC-USDT"),
            (under, "BTCUSDT"),
            (under, "BTC_USDT_X"),
            (hyphen, "BTC_USDT"),
            (under, "_USDT"),
        ] {
            assert!(
                matches!(to_unified(venue, native), Err(SymbolError::InvalidNative { venue: v, ref symbol, .. }) if v == venue && symbol == native),
                "{venue} {native:?}"
            );
        }
        assert_eq!(
            to_unified(under, "BTC-USDT").unwrap_err().to_string(),
            r#"sym-under: "BTC-USDT" is not a sym-under symbol: expected BASE_QUOTE"#
        );
        assert_eq!(
            to_native(under, "BTC/USDT-PERP").unwrap_err().to_string(),
            r#"sym-under: "BTC/USDT-PERP" is a perpetual instrument, which tickwire does not map on sym-under"#
        );
    }

    #[test]
    fn known_quotes_are_longest_first_and_suffix_free() {
        assert!(KNOWN_QUOTES.windows(2).all(|pair| pair[0].len() >= pair[1].len()));
        for a in KNOWN_QUOTES {
            assert!(asset(a).as_deref() == Ok(*a), "{a} is a canonical asset");
            for b in KNOWN_QUOTES {
                assert!(a == b || !a.ends_with(b), "{a} ends with {b}: splits would be ambiguous");
            }
        }
    }

    fn supported_kind(venue: Venue) -> BoxedStrategy<InstrumentKind> {
        let date = (0..100_u8, 1..=12_u8, 1..=31_u8)
            .prop_map(|(yy, mm, dd)| future(&format!("{yy:02}{mm:02}{dd:02}")));
        match venue {
            Okx => prop_oneof![Just(Spot), Just(Perpetual), date].boxed(),
            Bybit => prop_oneof![Just(Spot), Just(Perpetual)].boxed(),
            Binance | Coinbase | Kraken | Venue::Registered(_) => Just(Spot).boxed(),
        }
    }

    fn venue_and_instrument() -> impl Strategy<Value = (Venue, String, InstrumentKind)> {
        let base = "[A-Z0-9]{1,10}".prop_filter("Kraken refuses XBT", |base| base != "XBT");
        let quote = prop::sample::select(KNOWN_QUOTES);
        (prop::sample::select(&Venue::ALL[..]), base, quote).prop_flat_map(|(venue, base, quote)| {
            supported_kind(venue).prop_map(move |kind| {
                let unified = Instrument { base: base.clone(), quote: quote.into(), kind }.to_string();
                (venue, unified, kind)
            })
        })
    }

    proptest! {
        #[test]
        fn unified_round_trips_through_every_venue((venue, unified, kind) in venue_and_instrument()) {
            let native = to_native(venue, &unified).unwrap();
            prop_assert_eq!(to_unified_as(venue, kind, &native).unwrap(), unified.as_str());
            if !matches!(venue, Bybit) || kind == Spot {
                // The symbol alone says the kind everywhere except on Bybit's linear endpoint.
                prop_assert_eq!(to_unified(venue, &native).unwrap(), unified.as_str());
            }
        }

        #[test]
        fn registered_venues_round_trip(separator in prop::sample::select(&SymbolSeparator::ALL[..]), base in "[A-Z0-9]{1,10}", quote in prop::sample::select(KNOWN_QUOTES)) {
            let style = SymbolSeparator::ALL.iter().position(|&each| each == separator).unwrap_or_default();
            let venue = registered(&format!("sym-prop-{style}"), separator);
            let unified = format!("{base}/{quote}");
            let native = to_native(venue, &unified).unwrap();
            prop_assert_eq!(&native, &format!("{base}{}{quote}", separator.as_str()));
            prop_assert_eq!(to_unified(venue, &native).unwrap(), unified);
        }

        #[test]
        fn any_native_that_maps_maps_back(venue in prop::sample::select(&Venue::ALL[..]), native in "[A-Za-z0-9/-]{0,16}") {
            if let Ok(unified) = to_unified(venue, &native) {
                prop_assert_eq!(to_native(venue, &unified).unwrap(), native.to_ascii_uppercase());
            }
        }
    }
}
