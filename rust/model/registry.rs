//! Venues registered at run time: venues written outside the crate (in Python) get a
//! [`Venue`] of their own, so their markets, events, books and broadcast work like a built-in
//! venue's.
//!
//! A registered venue is a [`RegisteredVenue`], a `Copy` handle to its write-once entry: its
//! name, the [`SymbolSeparator`] of its spot symbols and its book rule ([`VenueTraits`]).
//!
//! Invariants:
//! - Entries live in a fixed-capacity static table ([`CAPACITY`]) and are never changed or
//!   removed once written, so a handle is a `&'static` reference: reading a venue's name or
//!   traits (every event's `venue`, every market's symbol mapping) costs no lock and no lookup.
//!   Looking a name up ([`find`]) reads the table without locking; only registering locks, to
//!   keep names unique.
//! - A name is registered once. Registering it again with equal traits gives the same venue
//!   (modules that each register what they use need not coordinate); different traits are a
//!   [`RegistryError::Conflict`], never a silent change under existing markets.
//! - Built-in names stay built-in: [`Venue::ALL`] lists only them, and no registration can
//!   shadow one.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use arrayvec::ArrayString;

use super::symbol::Venue;
use crate::book::SyncRule;

/// How many venues can be registered in one process: with the built-ins, every venue's
/// [`ordinal`](Venue::ordinal) fits six bits (the broadcast server packs a venue and a
/// two-bit slot into one byte for conflation).
pub const CAPACITY: usize = 64 - Venue::ALL.len();

/// The longest venue name, in bytes.
pub const MAX_NAME_LEN: usize = 32;

/// What goes between base and quote in a registered venue's spot symbols (native symbols are
/// upper case: `BTCUSDT`, `BTC_USDT`, `BTC-USDT`, `BTC/USDT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SymbolSeparator {
    /// `BTCUSDT`: split at the longest [`KNOWN_QUOTES`](super::symbol::KNOWN_QUOTES) entry, as
    /// Binance symbols are (MEXC).
    #[default]
    None,
    /// `BTC_USDT` (Gate.io).
    Underscore,
    /// `BTC-USDT`.
    Hyphen,
    /// `BTC/USDT`.
    Slash,
}

impl SymbolSeparator {
    /// Every separator.
    pub const ALL: [Self; 4] = [Self::None, Self::Underscore, Self::Hyphen, Self::Slash];

    /// The separator as written: `""`, `"_"`, `"-"` or `"/"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Underscore => "_",
            Self::Hyphen => "-",
            Self::Slash => "/",
        }
    }

    /// The separator written as `text`, if it is one.
    #[must_use]
    pub fn from_text(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|separator| separator.as_str() == text)
    }
}

/// What a registered venue's markets and books follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VenueTraits {
    /// How spot symbols join base and quote.
    pub symbol_separator: SymbolSeparator,
    /// How the venue's books are proven; `None`: its books are not kept.
    pub book_sync: Option<SyncRule>,
}

impl fmt::Display for VenueTraits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let book = self.book_sync.map_or("none", SyncRule::mechanism);
        write!(f, "symbol_separator {:?}, book_sync {book}", self.symbol_separator.as_str())
    }
}

/// A venue cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The name is not 1 to 32 characters of `a-z`, `0-9`, `_` and `-`.
    #[error("invalid venue name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The name is a built-in venue's.
    #[error("{name:?} is a built-in venue and cannot be registered")]
    BuiltIn {
        /// The name given.
        name: String,
    },
    /// The name is registered with other traits.
    #[error("venue {name:?} is already registered with {registered}, not {requested}")]
    Conflict {
        /// The name given.
        name: String,
        /// The traits it has.
        registered: VenueTraits,
        /// The traits asked for.
        requested: VenueTraits,
    },
    /// The book rule checks something only one built-in venue sends (Coinbase's connection-wide
    /// numbers, Kraken's and OKX's checksums).
    #[error("venue {name:?}: the {rule:?} book rule is specific to its venue")]
    VenueSpecificRule {
        /// The name given.
        name: String,
        /// The rule asked for.
        rule: SyncRule,
    },
    /// [`CAPACITY`] venues are registered already.
    #[error("cannot register venue {name:?}: the registry holds {CAPACITY} venues already")]
    Full {
        /// The name given.
        name: String,
    },
}

/// A registered venue: a handle to its entry (compared, hashed and ordered by registration
/// order).
#[derive(Clone, Copy)]
pub struct RegisteredVenue(&'static Entry);

#[derive(Debug)]
struct Entry {
    /// Position in [`ENTRIES`], below [`CAPACITY`].
    index: u8,
    name: ArrayString<MAX_NAME_LEN>,
    traits: VenueTraits,
}

impl RegisteredVenue {
    /// The name it was registered under.
    #[must_use]
    pub fn name(self) -> &'static str {
        self.0.name.as_str()
    }

    /// Its traits.
    #[must_use]
    pub const fn traits(self) -> VenueTraits {
        self.0.traits
    }

    /// Its position in registration order, below [`CAPACITY`].
    #[must_use]
    pub const fn index(self) -> u8 {
        self.0.index
    }
}

impl PartialEq for RegisteredVenue {
    fn eq(&self, other: &Self) -> bool {
        self.0.index == other.0.index
    }
}

impl Eq for RegisteredVenue {}

impl Hash for RegisteredVenue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.index.hash(state);
    }
}

impl PartialOrd for RegisteredVenue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RegisteredVenue {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.index.cmp(&other.0.index)
    }
}

impl fmt::Debug for RegisteredVenue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegisteredVenue({:?})", self.name())
    }
}

static ENTRIES: [OnceLock<Entry>; CAPACITY] = [const { OnceLock::new() }; CAPACITY];

/// Entries `0..LEN` are written: published after the entry, read before it.
static LEN: AtomicUsize = AtomicUsize::new(0);

/// Serializes registrations, so a name cannot be taken twice.
static WRITER: Mutex<()> = Mutex::new(());

fn registered() -> impl Iterator<Item = RegisteredVenue> {
    ENTRIES[..LEN.load(Ordering::Acquire)].iter().filter_map(OnceLock::get).map(RegisteredVenue)
}

/// The venue registered as `name` (in any ASCII case), without locking.
#[must_use]
pub fn find(name: &str) -> Option<RegisteredVenue> {
    registered().find(|venue| venue.name().eq_ignore_ascii_case(name))
}

/// Every registered venue, in registration order.
#[must_use]
pub fn all() -> Vec<RegisteredVenue> {
    registered().collect()
}

/// Registers `name` with `traits`; see [`Venue::register`].
pub(super) fn register(name: &str, traits: VenueTraits) -> Result<RegisteredVenue, RegistryError> {
    check_name(name)?;
    if let Some(rule) = traits.book_sync.filter(|rule| !rule.is_generic()) {
        return Err(RegistryError::VenueSpecificRule { name: name.into(), rule });
    }
    let _writer = WRITER.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(venue) = find(name) {
        return if venue.traits() == traits {
            Ok(venue)
        } else {
            Err(RegistryError::Conflict { name: name.into(), registered: venue.traits(), requested: traits })
        };
    }
    let len = LEN.load(Ordering::Acquire);
    let full = || RegistryError::Full { name: name.into() };
    let slot = ENTRIES.get(len).ok_or_else(full)?;
    let index = u8::try_from(len).map_err(|_| full())?;
    let name = ArrayString::from(name).map_err(|_| invalid_name(name, "longer than 32 characters"))?;
    // The slot past LEN is empty: it is written only here, under WRITER.
    let entry = slot.get_or_init(|| Entry { index, name, traits });
    LEN.store(len + 1, Ordering::Release);
    Ok(RegisteredVenue(entry))
}

fn invalid_name(name: &str, reason: &'static str) -> RegistryError {
    RegistryError::InvalidName { name: name.into(), reason }
}

fn check_name(name: &str) -> Result<(), RegistryError> {
    if name.is_empty() {
        return Err(invalid_name(name, "it is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid_name(name, "longer than 32 characters"));
    }
    if !name.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-')) {
        return Err(invalid_name(name, "only lower-case a-z, 0-9, '_' and '-' are allowed"));
    }
    if Venue::ALL.iter().any(|venue| venue.as_str() == name) {
        return Err(RegistryError::BuiltIn { name: name.into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::SyncRule;

    const GATE: VenueTraits = VenueTraits {
        symbol_separator: SymbolSeparator::Underscore,
        book_sync: Some(SyncRule::SnapshotThenRange),
    };

    #[test]
    fn registering_is_idempotent_for_equal_traits() {
        let first = Venue::register("reg-idem", GATE).unwrap();
        let again = Venue::register("reg-idem", GATE).unwrap();
        assert_eq!(first, again);
        assert_eq!(first.as_str(), "reg-idem");
        assert_eq!(first.to_string(), "reg-idem");
        assert_eq!("REG-IDEM".parse::<Venue>(), Ok(first));
        assert_eq!(first.registered_traits(), Some(GATE));
        assert!(!Venue::ALL.contains(&first), "ALL lists the built-ins only");
        assert!(all().iter().any(|venue| Venue::Registered(*venue) == first));
    }

    #[test]
    fn conflicting_traits_are_refused() {
        Venue::register("reg-conflict", GATE).unwrap();
        let other = VenueTraits { symbol_separator: SymbolSeparator::Hyphen, ..GATE };
        let err = Venue::register("reg-conflict", other).unwrap_err();
        assert_eq!(
            err,
            RegistryError::Conflict { name: "reg-conflict".into(), registered: GATE, requested: other }
        );
        assert_eq!(
            err.to_string(),
            r#"venue "reg-conflict" is already registered with symbol_separator "_", book_sync snapshot_then_range, not symbol_separator "-", book_sync snapshot_then_range"#
        );
        let unkept = VenueTraits { book_sync: None, ..GATE };
        assert!(matches!(Venue::register("reg-conflict", unkept), Err(RegistryError::Conflict { .. })));
    }

    #[test]
    fn bad_and_built_in_names_are_refused() {
        for (name, reason) in [
            ("", "it is empty"),
            ("Gate", "only lower-case a-z, 0-9, '_' and '-' are allowed"),
            ("gate io", "only lower-case a-z, 0-9, '_' and '-' are allowed"),
            ("gate.io", "only lower-case a-z, 0-9, '_' and '-' are allowed"),
            ("gäte", "only lower-case a-z, 0-9, '_' and '-' are allowed"),
            ("a23456789012345678901234567890123", "longer than 32 characters"),
        ] {
            assert_eq!(
                Venue::register(name, GATE),
                Err(RegistryError::InvalidName { name: name.into(), reason }),
                "{name:?}"
            );
        }
        assert!(Venue::register("a2345678901234567890123456789012", GATE).is_ok(), "32 is allowed");
        for venue in Venue::ALL {
            assert_eq!(
                Venue::register(venue.as_str(), GATE),
                Err(RegistryError::BuiltIn { name: venue.as_str().into() })
            );
        }
        assert_eq!("binance".parse::<Venue>(), Ok(Venue::Binance), "still the built-in");
    }

    #[test]
    fn venue_specific_book_rules_are_refused() {
        for rule in [SyncRule::Coinbase, SyncRule::Kraken, SyncRule::Okx] {
            let traits = VenueTraits { book_sync: Some(rule), ..GATE };
            assert_eq!(
                Venue::register("reg-specific", traits),
                Err(RegistryError::VenueSpecificRule { name: "reg-specific".into(), rule })
            );
        }
        assert!("reg-specific".parse::<Venue>().is_err(), "nothing was registered");
    }

    #[test]
    fn the_name_round_trips_and_unknown_names_still_fail() {
        let venue = Venue::register("reg-names", VenueTraits::default()).unwrap();
        assert_eq!(venue.as_str().parse::<Venue>(), Ok(venue));
        assert_eq!(format!("{venue:?}"), r#"Registered(RegisteredVenue("reg-names"))"#);
        assert!("reg-unknown".parse::<Venue>().is_err());
        assert_eq!(Venue::Binance.registered_traits(), None);
    }
}
