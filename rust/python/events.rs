//! The normalized events as Python sees them: `tickwire.Trade`, `BBO`, `BookUpdate` and
//! `Ticker`, immutable wrappers of [`crate::model`]'s structs, and `tickwire.parse`.
//!
//! An event crosses into Python as the Rust struct moved into a Python object: nothing is
//! converted until it is read. Prices and quantities are read as `decimal.Decimal` (exact; made
//! on access) or, for speed, as `float` through the `*_float` accessors (correctly rounded).
//! Symbols are made into `str` on access.
//!
//! The classes keep freelists: a firehose creates and drops an event per message, and reusing
//! the objects spares the allocator (and the kernel's page zeroing when arenas come and go).

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use rustc_hash::FxHashMap;

use arrayvec::ArrayString;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyList, PyString, PyTuple, PyType};

use super::errors::raise;
use crate::model::market::intern_unified;
use crate::model::{
    Bbo, BookUpdate, Decimal, Event, InstrumentKind, Level, MarketRef, Side, Ticker, Trade, TradeId, Venue,
};
use crate::venues::{Control, ParseError, adapter};

/// `decimal.Decimal`, imported once.
fn decimal_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    DECIMAL.import(py, "decimal", "Decimal")
}

/// `value` as a `decimal.Decimal` with the digits the venue sent.
pub fn to_decimal(py: Python<'_>, value: Decimal) -> PyResult<Bound<'_, PyAny>> {
    // Sign, 39 digits and a point fit; Display never writes more.
    let mut text = ArrayString::<64>::new();
    write!(text, "{value}").map_err(|_| PyValueError::new_err("decimal too long to print"))?;
    decimal_type(py)?.call1((text.as_str(),))
}

fn to_optional_decimal(py: Python<'_>, value: Option<Decimal>) -> PyResult<Option<Bound<'_, PyAny>>> {
    value.map(|value| to_decimal(py, value)).transpose()
}

/// A price or quantity given from Python: `str`, `int` or `decimal.Decimal` — not `float`,
/// whose value is rarely the decimal its text shows.
fn decimal_from_python(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Decimal> {
    // The text a venue sent is the common case (every event a Python venue builds): read it
    // in place, without the type checks and the `str()` call the other kinds need.
    if let Ok(text) = value.cast::<PyString>() {
        return Decimal::parse(text.to_str()?)
            .map_err(|error| PyValueError::new_err(format!("{what}: {error}")));
    }
    if value.is_instance_of::<PyFloat>() || value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a str, int or decimal.Decimal, not float or bool"
        )));
    }
    let text = value.str()?;
    Decimal::parse(text.to_str()?).map_err(|error| PyValueError::new_err(format!("{what}: {error}")))
}

fn optional_decimal_from_python(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Decimal>> {
    value.filter(|value| !value.is_none()).map(|value| decimal_from_python(value, what)).transpose()
}

/// Markets the event constructors have named, by `"venue\0symbol"` as Python passed them:
/// a venue written in Python builds an event per message, and interning the unified symbol
/// (parsing it, spelling the native one, taking the registry's lock) cost more than the rest
/// of the constructor. Only the interpreter's thread constructs events; the cap bounds what
/// a caller naming ever new symbols can make it hold.
struct MarketMemo {
    by_name: FxHashMap<Box<str>, MarketRef>,
    key: String,
}

const MARKET_MEMO_CAP: usize = 4096;

thread_local! {
    static MARKETS: RefCell<MarketMemo> =
        RefCell::new(MarketMemo { by_name: FxHashMap::default(), key: String::new() });
}

fn market_from_python(venue: &str, symbol: &str) -> PyResult<MarketRef> {
    MARKETS.with_borrow_mut(|memo| {
        memo.key.clear();
        memo.key.push_str(venue);
        memo.key.push('\0');
        memo.key.push_str(symbol);
        if let Some(market) = memo.by_name.get(memo.key.as_str()) {
            return Ok(market.clone());
        }
        let parsed = Venue::from_str(venue).map_err(|error| PyValueError::new_err(error.to_string()))?;
        let market =
            intern_unified(parsed, symbol).map_err(|error| PyValueError::new_err(error.to_string()))?;
        if memo.by_name.len() >= MARKET_MEMO_CAP {
            memo.by_name.clear();
        }
        memo.by_name.insert(memo.key.as_str().into(), market.clone());
        Ok(market)
    })
}

fn levels_from_python(levels: &Bound<'_, PyAny>, side: &str) -> PyResult<Vec<Level>> {
    levels
        .try_iter()?
        .map(|level| {
            let (price, qty): (Bound<'_, PyAny>, Bound<'_, PyAny>) = level?.extract()?;
            Ok(Level { price: decimal_from_python(&price, side)?, qty: decimal_from_python(&qty, side)? })
        })
        .collect()
}

fn levels_to_python<'py>(py: Python<'py>, levels: &[Level]) -> PyResult<Bound<'py, PyList>> {
    let items = levels
        .iter()
        .map(|level| PyTuple::new(py, [to_decimal(py, level.price)?, to_decimal(py, level.qty)?]))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// `Decimal` text for reprs: `'0.001'`.
fn quoted(value: Decimal) -> String {
    format!("'{value}'")
}

fn quoted_optional(value: Option<Decimal>) -> String {
    value.map_or_else(|| "None".to_owned(), quoted)
}

/// The getters and protocol methods every event class shares; `$extra` holds its own.
macro_rules! event_class {
    ($class:ident, $name:literal, { $($extra:tt)* }) => {
        #[pymethods]
        impl $class {
            /// The venue's name (`"binance"` …).
            #[getter]
            fn venue(&self) -> &'static str {
                self.0.market.venue.as_str()
            }

            /// The unified symbol (`"BTC/USDT"`).
            #[getter]
            fn symbol(&self) -> &str {
                &self.0.market.unified
            }

            /// The venue's own symbol (`"BTCUSDT"`).
            #[getter]
            fn native_symbol(&self) -> &str {
                &self.0.market.native
            }

            /// The venue's time of the event, Unix ns (0 when the venue sends none).
            #[getter]
            fn exchange_time_ns(&self) -> u64 {
                self.0.exchange_time_ns
            }

            /// When the frame carrying it was read, on `time.monotonic_ns()`'s clock.
            #[getter]
            fn receive_time_ns(&self) -> u64 {
                self.0.receive_time_ns
            }

            /// Equal when every field is (other types: `NotImplemented`).
            fn __eq__(&self, other: &Bound<'_, Self>) -> bool {
                self.0 == other.get().0
            }

            fn __hash__(&self) -> u64 {
                hash_of(&self.0)
            }

            $($extra)*
        }
    };
}

/// A trade, normalized: the venue, the unified symbol (`"BTC/USDT"`) and the venue's own
/// (`native_symbol`), exact `price` and `qty` (`decimal.Decimal`, the digits the venue sent;
/// `price_float`/`qty_float` for speed), the taker's `side` (`"buy"`/`"sell"`), the venue's
/// `trade_id`, `exchange_time_ns` (Unix) and `receive_time_ns` (`time.monotonic_ns()` clock,
/// when the frame was read). Immutable, comparable, hashable.
///
/// Built by the feed and by `tickwire.parse`; `Trade(venue, symbol, price, qty, side,
/// trade_id, exchange_time_ns, receive_time_ns=0)` makes one by hand (prices as `str`, `int`
/// or `Decimal`; `ValueError` for an unknown venue, symbol or side).
#[pyclass(name = "Trade", module = "tickwire", frozen, freelist = 4096)]
pub struct PyTrade(pub Trade);

event_class!(PyTrade, "Trade", {
    #[new]
    #[pyo3(signature = (venue, symbol, price, qty, side, trade_id, exchange_time_ns, receive_time_ns = 0))]
    #[expect(clippy::too_many_arguments, reason = "the fields of a trade, as Python passes them")]
    fn new(
        venue: &str,
        symbol: &str,
        price: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        side: &str,
        trade_id: &Bound<'_, PyAny>,
        exchange_time_ns: u64,
        receive_time_ns: u64,
    ) -> PyResult<Self> {
        let side = match side {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            other => {
                return Err(PyValueError::new_err(format!("side must be 'buy' or 'sell', not {other:?}")));
            }
        };
        let id_text = trade_id.str()?;
        let trade_id = TradeId::from(id_text.to_str()?)
            .map_err(|_| PyValueError::new_err("trade_id is longer than 48 bytes"))?;
        Ok(Self(Trade {
            market: market_from_python(venue, symbol)?,
            price: decimal_from_python(price, "price")?,
            qty: decimal_from_python(qty, "qty")?,
            side,
            trade_id,
            exchange_time_ns,
            receive_time_ns,
        }))
    }

    /// Price, exact.
    #[getter]
    fn price<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_decimal(py, self.0.price)
    }

    /// Quantity, exact.
    #[getter]
    fn qty<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_decimal(py, self.0.qty)
    }

    /// Price as the nearest float.
    #[getter]
    fn price_float(&self) -> f64 {
        self.0.price.to_f64()
    }

    /// Quantity as the nearest float.
    #[getter]
    fn qty_float(&self) -> f64 {
        self.0.qty.to_f64()
    }

    /// The taker's side: `"buy"` or `"sell"`.
    #[getter]
    fn side(&self) -> &'static str {
        self.0.side.as_str()
    }

    /// The venue's trade id.
    #[getter]
    fn trade_id(&self) -> &str {
        &self.0.trade_id
    }

    fn __repr__(&self) -> String {
        let t = &self.0;
        format!(
            "Trade(venue='{}', symbol='{}', price={}, qty={}, side='{}', trade_id='{}', exchange_time_ns={}, receive_time_ns={})",
            t.market.venue,
            t.market.unified,
            quoted(t.price),
            quoted(t.qty),
            t.side.as_str(),
            t.trade_id,
            t.exchange_time_ns,
            t.receive_time_ns
        )
    }
});

/// Best bid and offer, normalized: venue, unified and native symbol, exact `bid_price`,
/// `bid_qty`, `ask_price`, `ask_qty` (`decimal.Decimal`; `bid_price_float`/`ask_price_float`
/// for speed), `exchange_time_ns` (0 where the venue sends no time, as Binance's
/// `bookTicker`) and `receive_time_ns`. Immutable, comparable, hashable.
#[pyclass(name = "BBO", module = "tickwire", frozen, freelist = 4096)]
pub struct PyBbo(pub Bbo);

event_class!(PyBbo, "BBO", {
    #[new]
    #[pyo3(signature = (venue, symbol, bid_price, bid_qty, ask_price, ask_qty, exchange_time_ns, receive_time_ns = 0))]
    #[expect(clippy::too_many_arguments, reason = "the fields of a quote, as Python passes them")]
    fn new(
        venue: &str,
        symbol: &str,
        bid_price: &Bound<'_, PyAny>,
        bid_qty: &Bound<'_, PyAny>,
        ask_price: &Bound<'_, PyAny>,
        ask_qty: &Bound<'_, PyAny>,
        exchange_time_ns: u64,
        receive_time_ns: u64,
    ) -> PyResult<Self> {
        Ok(Self(Bbo {
            market: market_from_python(venue, symbol)?,
            bid_price: decimal_from_python(bid_price, "bid_price")?,
            bid_qty: decimal_from_python(bid_qty, "bid_qty")?,
            ask_price: decimal_from_python(ask_price, "ask_price")?,
            ask_qty: decimal_from_python(ask_qty, "ask_qty")?,
            exchange_time_ns,
            receive_time_ns,
        }))
    }

    /// Best bid price, exact.
    #[getter]
    fn bid_price<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_decimal(py, self.0.bid_price)
    }

    /// Quantity at the best bid, exact.
    #[getter]
    fn bid_qty<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_decimal(py, self.0.bid_qty)
    }

    /// Best ask price, exact.
    #[getter]
    fn ask_price<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_decimal(py, self.0.ask_price)
    }

    /// Quantity at the best ask, exact.
    #[getter]
    fn ask_qty<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_decimal(py, self.0.ask_qty)
    }

    /// Best bid price as the nearest float.
    #[getter]
    fn bid_price_float(&self) -> f64 {
        self.0.bid_price.to_f64()
    }

    /// Best ask price as the nearest float.
    #[getter]
    fn ask_price_float(&self) -> f64 {
        self.0.ask_price.to_f64()
    }

    fn __repr__(&self) -> String {
        let q = &self.0;
        format!(
            "BBO(venue='{}', symbol='{}', bid_price={}, bid_qty={}, ask_price={}, ask_qty={}, exchange_time_ns={}, receive_time_ns={})",
            q.market.venue,
            q.market.unified,
            quoted(q.bid_price),
            quoted(q.bid_qty),
            quoted(q.ask_price),
            quoted(q.ask_qty),
            q.exchange_time_ns,
            q.receive_time_ns
        )
    }
});

/// An L2 book snapshot (`is_snapshot`) or delta: `bids` and `asks` as lists of exact
/// `(price, qty)` in the order the venue sent them (qty 0 removes the level), the venue's
/// sequence fields where it sends them (`first_sequence`, `last_sequence`, `prev_sequence`),
/// its `checksum` where it sends one, and the times. Immutable, comparable, hashable.
#[pyclass(name = "BookUpdate", module = "tickwire", frozen, freelist = 1024)]
pub struct PyBookUpdate(pub BookUpdate);

event_class!(PyBookUpdate, "BookUpdate", {
    #[new]
    #[pyo3(signature = (
        venue, symbol, is_snapshot, bids, asks, exchange_time_ns, receive_time_ns = 0, *,
        first_sequence = None, last_sequence = None, prev_sequence = None, checksum = None
    ))]
    #[expect(clippy::too_many_arguments, reason = "the fields of a book update, as Python passes them")]
    fn new(
        venue: &str,
        symbol: &str,
        is_snapshot: bool,
        bids: &Bound<'_, PyAny>,
        asks: &Bound<'_, PyAny>,
        exchange_time_ns: u64,
        receive_time_ns: u64,
        first_sequence: Option<u64>,
        last_sequence: Option<u64>,
        prev_sequence: Option<u64>,
        checksum: Option<i64>,
    ) -> PyResult<Self> {
        Ok(Self(BookUpdate {
            market: market_from_python(venue, symbol)?,
            is_snapshot,
            bids: levels_from_python(bids, "bids")?,
            asks: levels_from_python(asks, "asks")?,
            first_sequence,
            last_sequence,
            prev_sequence,
            checksum,
            exchange_time_ns,
            receive_time_ns,
        }))
    }

    /// Whether it replaces the book (else it changes the levels it names).
    #[getter]
    fn is_snapshot(&self) -> bool {
        self.0.is_snapshot
    }

    /// Bid levels in wire order: `(price, qty)` decimals; qty 0 removes the level.
    #[getter]
    fn bids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        levels_to_python(py, &self.0.bids)
    }

    /// Ask levels in wire order: `(price, qty)` decimals; qty 0 removes the level.
    #[getter]
    fn asks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        levels_to_python(py, &self.0.asks)
    }

    /// First update id covered, where the venue sends one.
    #[getter]
    fn first_sequence(&self) -> Option<u64> {
        self.0.first_sequence
    }

    /// Last update id covered, where the venue sends one.
    #[getter]
    fn last_sequence(&self) -> Option<u64> {
        self.0.last_sequence
    }

    /// The previous update's last id, where the venue sends one.
    #[getter]
    fn prev_sequence(&self) -> Option<u64> {
        self.0.prev_sequence
    }

    /// The venue's checksum of the book after this update, where it sends one.
    #[getter]
    fn checksum(&self) -> Option<i64> {
        self.0.checksum
    }

    fn __repr__(&self) -> String {
        let b = &self.0;
        let option = |value: Option<u64>| value.map_or_else(|| "None".to_owned(), |v| v.to_string());
        format!(
            "BookUpdate(venue='{}', symbol='{}', is_snapshot={}, bids=<{} levels>, asks=<{} levels>, last_sequence={}, checksum={}, exchange_time_ns={}, receive_time_ns={})",
            b.market.venue,
            b.market.unified,
            if b.is_snapshot { "True" } else { "False" },
            b.bids.len(),
            b.asks.len(),
            option(b.last_sequence),
            b.checksum.map_or_else(|| "None".to_owned(), |c| c.to_string()),
            b.exchange_time_ns,
            b.receive_time_ns
        )
    }
});

/// A 24 h ticker: `last_price`, best bid/ask with quantities, `open_24h`, `high_24h`,
/// `low_24h`, `volume_24h` (base), `quote_volume_24h`, `change_24h` and `change_pct_24h`
/// (percent), each an exact `decimal.Decimal` or `None` where the venue does not send it, and
/// the times. Immutable, comparable, hashable.
#[pyclass(name = "Ticker", module = "tickwire", frozen)]
pub struct PyTicker(pub Box<Ticker>);

event_class!(PyTicker, "Ticker", {
    #[new]
    #[pyo3(signature = (
        venue, symbol, exchange_time_ns, receive_time_ns = 0, *, last_price = None, bid_price = None,
        bid_qty = None, ask_price = None, ask_qty = None, open_24h = None, high_24h = None, low_24h = None,
        volume_24h = None, quote_volume_24h = None, change_24h = None, change_pct_24h = None
    ))]
    #[expect(clippy::too_many_arguments, reason = "the fields of a ticker, as Python passes them")]
    fn new(
        venue: &str,
        symbol: &str,
        exchange_time_ns: u64,
        receive_time_ns: u64,
        last_price: Option<&Bound<'_, PyAny>>,
        bid_price: Option<&Bound<'_, PyAny>>,
        bid_qty: Option<&Bound<'_, PyAny>>,
        ask_price: Option<&Bound<'_, PyAny>>,
        ask_qty: Option<&Bound<'_, PyAny>>,
        open_24h: Option<&Bound<'_, PyAny>>,
        high_24h: Option<&Bound<'_, PyAny>>,
        low_24h: Option<&Bound<'_, PyAny>>,
        volume_24h: Option<&Bound<'_, PyAny>>,
        quote_volume_24h: Option<&Bound<'_, PyAny>>,
        change_24h: Option<&Bound<'_, PyAny>>,
        change_pct_24h: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Self(Box::new(Ticker {
            market: market_from_python(venue, symbol)?,
            last_price: optional_decimal_from_python(last_price, "last_price")?,
            bid_price: optional_decimal_from_python(bid_price, "bid_price")?,
            bid_qty: optional_decimal_from_python(bid_qty, "bid_qty")?,
            ask_price: optional_decimal_from_python(ask_price, "ask_price")?,
            ask_qty: optional_decimal_from_python(ask_qty, "ask_qty")?,
            open_24h: optional_decimal_from_python(open_24h, "open_24h")?,
            high_24h: optional_decimal_from_python(high_24h, "high_24h")?,
            low_24h: optional_decimal_from_python(low_24h, "low_24h")?,
            volume_24h: optional_decimal_from_python(volume_24h, "volume_24h")?,
            quote_volume_24h: optional_decimal_from_python(quote_volume_24h, "quote_volume_24h")?,
            change_24h: optional_decimal_from_python(change_24h, "change_24h")?,
            change_pct_24h: optional_decimal_from_python(change_pct_24h, "change_pct_24h")?,
            exchange_time_ns,
            receive_time_ns,
        })))
    }

    /// Last traded price.
    #[getter]
    fn last_price<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        to_optional_decimal(py, self.0.last_price)
    }

    /// Best bid price, where sent.
    #[getter]
    fn bid_price<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        to_optional_decimal(py, self.0.bid_price)
    }

    /// Quantity at the best bid, where sent.
    #[getter]
    fn bid_qty<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        to_optional_decimal(py, self.0.bid_qty)
    }

    /// Best ask price, where sent.
    #[getter]
    fn ask_price<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        to_optional_decimal(py, self.0.ask_price)
    }

    /// Quantity at the best ask, where sent.
    #[getter]
    fn ask_qty<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        to_optional_decimal(py, self.0.ask_qty)
    }

    /// Price 24 h ago, where sent.
    #[getter]
    fn open_24h<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        to_optional_decimal(py, self.0.open_24h)
    }

    /// Highest price in 24 h, where sent.
    #[getter]
    fn high_24h<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        to_optional_decimal(py, self.0.high_24h)
    }

    /// Lowest price in 24 h, where sent.
    #[getter]
    fn low_24h<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        to_optional_decimal(py, self.0.low_24h)
    }

    /// Volume in 24 h (base asset), where sent.
    #[getter]
    fn volume_24h<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        to_optional_decimal(py, self.0.volume_24h)
    }

    /// Volume in 24 h (quote asset), where sent.
    #[getter]
    fn quote_volume_24h<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        to_optional_decimal(py, self.0.quote_volume_24h)
    }

    /// Price change over 24 h, where sent or exactly derivable.
    #[getter]
    fn change_24h<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        to_optional_decimal(py, self.0.change_24h)
    }

    /// Price change over 24 h in percent (`2.5` = +2.5 %), where sent.
    #[getter]
    fn change_pct_24h<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        to_optional_decimal(py, self.0.change_pct_24h)
    }

    fn __repr__(&self) -> String {
        let t = &*self.0;
        format!(
            "Ticker(venue='{}', symbol='{}', last_price={}, bid_price={}, ask_price={}, volume_24h={}, change_pct_24h={}, exchange_time_ns={}, receive_time_ns={})",
            t.market.venue,
            t.market.unified,
            quoted_optional(t.last_price),
            quoted_optional(t.bid_price),
            quoted_optional(t.ask_price),
            quoted_optional(t.volume_24h),
            quoted_optional(t.change_pct_24h),
            t.exchange_time_ns,
            t.receive_time_ns
        )
    }
});

/// `event` as its Python class.
///
/// # Errors
/// Only when Python cannot allocate the object.
/// The Rust event inside a `Trade`, `BBO`, `BookUpdate` or `Ticker` object (a copy), or
/// `None` for any other object.
pub fn event_from_python(object: &Bound<'_, PyAny>) -> Option<Event> {
    if let Ok(trade) = object.cast::<PyTrade>() {
        return Some(Event::Trade(trade.get().0.clone()));
    }
    if let Ok(update) = object.cast::<PyBookUpdate>() {
        return Some(Event::Book(update.get().0.clone()));
    }
    if let Ok(bbo) = object.cast::<PyBbo>() {
        return Some(Event::Bbo(bbo.get().0.clone()));
    }
    if let Ok(ticker) = object.cast::<PyTicker>() {
        return Some(Event::Ticker(ticker.get().0.clone()));
    }
    None
}

pub fn event_to_python(py: Python<'_>, event: Event) -> PyResult<Bound<'_, PyAny>> {
    Ok(match event {
        Event::Trade(trade) => Bound::new(py, PyTrade(trade))?.into_any(),
        Event::Bbo(bbo) => Bound::new(py, PyBbo(bbo))?.into_any(),
        Event::Book(update) => Bound::new(py, PyBookUpdate(update))?.into_any(),
        Event::Ticker(ticker) => Bound::new(py, PyTicker(ticker))?.into_any(),
    })
}

/// `tickwire.exceptions.ParseError` for `error`, from a connection to `url` (`""` for none).
pub fn parse_error(error: &ParseError, url: &str) -> PyErr {
    let ParseError { venue, reason, raw } = error;
    raise("ParseError", (error.to_string(), url.to_owned(), venue.as_str(), reason.clone(), raw.clone()))
}

/// Parses `kind`'s name: `"spot"`, `"perpetual"` (also `"linear"`, Bybit's endpoint name).
pub fn kind_from_name(name: &str) -> PyResult<InstrumentKind> {
    match name {
        "spot" => Ok(InstrumentKind::Spot),
        "perpetual" | "linear" | "swap" => Ok(InstrumentKind::Perpetual),
        other => Err(PyValueError::new_err(format!(
            "unknown instrument kind {other:?}; expected 'spot' or 'perpetual'"
        ))),
    }
}

/// The market events in one message of a venue's protocol: `Trade`, `BBO`, `BookUpdate` and
/// `Ticker` objects, as a feed would deliver them; `[]` for acks, heartbeats, pongs, refusals
/// and other messages without market data.
///
/// Args:
///     venue: `"binance"`, `"bybit"`, `"okx"`, `"coinbase"` or `"kraken"`.
///     raw: One message, `str` or `bytes`.
///     kind: The endpoint's instrument kind where the message does not say it: `"spot"`
///         (default) or `"perpetual"` (Bybit's linear endpoint; also `"linear"`).
///     `receive_time_ns`: The events' `receive_time_ns` (`time.monotonic_ns()` clock); default
///         now. A replay passes the recorded time, so replayed events equal the live ones.
///
/// Raises:
///     `ParseError`: The message is not one of the venue's (malformed JSON, a missing or
///         mistyped field, a bad number); `.raw` keeps it whole.
///     `ValueError`: An unknown venue or kind.
///     `TypeError`: `raw` is neither `str` nor `bytes`.
#[pyfunction]
#[pyo3(signature = (venue, raw, kind = "spot", receive_time_ns = None))]
pub fn parse<'py>(
    py: Python<'py>,
    venue: &str,
    raw: &Bound<'py, PyAny>,
    kind: &str,
    receive_time_ns: Option<u64>,
) -> PyResult<Bound<'py, PyList>> {
    let venue = Venue::from_str(venue).map_err(|error| PyValueError::new_err(error.to_string()))?;
    let mut adapter =
        adapter(venue, kind_from_name(kind)?).map_err(|error| PyValueError::new_err(error.to_string()))?;
    let bytes: Vec<u8> = if let Ok(text) = raw.cast::<PyString>() {
        // Lone surrogates: no venue sends them, and they have no UTF-8 form to parse.
        let Ok(utf8) = text.to_str() else {
            let lossy = text.to_string_lossy();
            let reason = "the text has lone surrogates, which are not UTF-8";
            let message = ParseError::new(venue, reason, lossy.as_bytes()).to_string();
            // The exception keeps the very string given, surrogates and all.
            return Err(raise("ParseError", (message, "", venue.as_str(), reason, text.clone().unbind())));
        };
        utf8.as_bytes().to_vec()
    } else if let Ok(data) = raw.cast::<PyBytes>() {
        data.as_bytes().to_vec()
    } else {
        return Err(PyTypeError::new_err("raw must be str or bytes"));
    };
    let mut events = Vec::new();
    let receive_time_ns = receive_time_ns.unwrap_or_else(crate::clock::monotonic_ns);
    match adapter.parse(&bytes, receive_time_ns, &mut events) {
        Ok(Control::Data) => {}
        Ok(_) => events.clear(),
        Err(error) => return Err(parse_error(&error, "")),
    }
    let objects = events.into_iter().map(|event| event_to_python(py, event)).collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, objects)
}
