//! The engine as the venue simulators' unit tests drive it by hand: they set the markets, books,
//! trade ids and clock, so each test sees exactly the state it asserts against.

use std::cell::Cell;
use std::collections::HashMap;

use crate::model::{Decimal, Level, MarketRef};
use crate::sim::protocol::{Happening, SimBook, SimContext};

/// How [`SimContext::market`] matches a native symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Symbols {
    /// In any ASCII case, as the engine does.
    AnyCase,
    /// Only as spelled: stricter than the engine, as the Bybit, Coinbase, Gate.io and OKX tests
    /// have always looked symbols up, so a sim that hands on a symbol in a case its venue
    /// refuses still fails them.
    Exact,
}

/// A [`SimContext`] whose state the test sets through its fields.
pub(crate) struct TestContext {
    pub(crate) markets: Vec<MarketRef>,
    /// By market id; a market without one has an empty book.
    pub(crate) books: HashMap<u32, SimBook>,
    /// By market id; a market without one has had no trade (0).
    pub(crate) trade_ids: HashMap<u32, u64>,
    /// A `Cell` because sims see the context only as `&dyn SimContext`, while a test moves the
    /// clock between their calls (rate limits, timeouts).
    pub(crate) now_ns: Cell<u64>,
    pub(crate) symbols: Symbols,
}

impl TestContext {
    /// Empty books and no trades until a test sets them; symbols in any case, as the engine.
    pub(crate) fn new(markets: Vec<MarketRef>, now_ns: u64) -> Self {
        Self {
            markets,
            books: HashMap::new(),
            trade_ids: HashMap::new(),
            now_ns: Cell::new(now_ns),
            symbols: Symbols::AnyCase,
        }
    }

    pub(crate) fn exact_symbols(mut self) -> Self {
        self.symbols = Symbols::Exact;
        self
    }

    pub(crate) fn with_book(mut self, market: &MarketRef, book: SimBook) -> Self {
        self.books.insert(market.id, book);
        self
    }

    pub(crate) fn advance(&self, ns: u64) {
        self.now_ns.set(self.now_ns.get() + ns);
    }
}

impl SimContext for TestContext {
    fn markets(&self) -> &[MarketRef] {
        &self.markets
    }

    fn market(&self, native: &str) -> Option<MarketRef> {
        let matches = |market: &&MarketRef| match self.symbols {
            Symbols::AnyCase => market.native.eq_ignore_ascii_case(native),
            Symbols::Exact => &*market.native == native,
        };
        self.markets.iter().find(matches).cloned()
    }

    fn book(&self, market: &MarketRef) -> SimBook {
        self.books.get(&market.id).cloned().unwrap_or_default()
    }

    fn last_trade_id(&self, market: &MarketRef) -> u64 {
        self.trade_ids.get(&market.id).copied().unwrap_or(0)
    }

    fn now_ns(&self) -> u64 {
        self.now_ns.get()
    }
}

pub(crate) fn dec(text: &str) -> Decimal {
    Decimal::parse(text).unwrap()
}

/// Prices and quantities as text, so a test states them as the venue writes them.
pub(crate) fn level(price: &str, qty: &str) -> Level {
    Level { price: dec(price), qty: dec(qty) }
}

/// A ticker with the venues' tests' figures: opened at 100, high 102, low 99.25, 12.5 traded
/// for 1262.5, best bid 101.4 × 3 and ask 101.6 × 4; `last` is the test's.
pub(crate) fn ticker(market: &MarketRef, last: &str, time_ns: u64) -> Happening {
    Happening::Ticker {
        market: market.clone(),
        last: dec(last),
        open: dec("100"),
        high: dec("102"),
        low: dec("99.25"),
        volume: dec("12.5"),
        quote_volume: dec("1262.5"),
        bid: level("101.4", "3"),
        ask: level("101.6", "4"),
        time_ns,
    }
}
