//! Order books as Python sees them: `tickwire.BookInvalid` (a book that can no longer be
//! trusted) and `tickwire.BookView` (a live, read-only view of one market's book, kept by a
//! feed's [`PyDispatch`]).
//!
//! A view reads the book under the dispatch's lock, copies what it needs, and builds Python
//! objects only after letting go, so the lock is never held while Python code runs.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use super::dispatch::PyDispatch;
use super::events::to_decimal;
use crate::book::{BookInvalid, BookSync, Invalidity, Resync, Validity};
use crate::clock::monotonic_ns;
use crate::model::{Decimal, Level, MarketRef};

/// The short name of `reason`'s kind, as Python code compares it.
const fn reason_code(reason: &Invalidity) -> &'static str {
    match reason {
        Invalidity::Gap { .. } => "gap",
        Invalidity::ChecksumMismatch { .. } => "checksum_mismatch",
        Invalidity::Crossed { .. } => "crossed",
        Invalidity::SnapshotTooOld { .. } => "snapshot_too_old",
        Invalidity::MissingSequence => "missing_sequence",
        Invalidity::Disconnected => "disconnected",
        Invalidity::Stale { .. } => "stale",
    }
}

/// `(expected, got)` where the reason has them.
fn expected_got(reason: &Invalidity) -> (Option<i64>, Option<i64>) {
    let signed = |value: u64| i64::try_from(value).ok();
    match *reason {
        Invalidity::Gap { expected, got } => (signed(expected), signed(got)),
        Invalidity::ChecksumMismatch { expected, got } => (Some(expected), Some(got)),
        Invalidity::SnapshotTooOld { last_update_id, first_buffered } => {
            (signed(last_update_id.saturating_add(1)), signed(first_buffered))
        }
        Invalidity::Crossed { .. }
        | Invalidity::MissingSequence
        | Invalidity::Disconnected
        | Invalidity::Stale { .. } => (None, None),
    }
}

/// `"resubscribe"` or `"fetch_snapshot"`.
pub const fn resync_name(resync: Resync) -> &'static str {
    match resync {
        Resync::Resubscribe => "resubscribe",
        Resync::FetchSnapshot => "fetch_snapshot",
    }
}

/// A book that can no longer be trusted, delivered to `on_book_invalid` callbacks in the
/// update's place: `venue`, `symbol`, `native_symbol`, `reason` (`"gap"`,
/// `"checksum_mismatch"`, `"crossed"`, `"snapshot_too_old"`, `"missing_sequence"`,
/// `"disconnected"`, `"stale"`), `message` (in words), `expected` and `got` (sequence numbers
/// or checksums, where the reason has them), `resync` (`"resubscribe"`, `"fetch_snapshot"`, or
/// `None` when the reconnect brings the snapshot), `retry_in` (seconds until the resync; above
/// 0 when the breaker holds it back), `receive_time_ns`. A fresh snapshot `BookUpdate` follows
/// once the book is valid again.
#[pyclass(name = "BookInvalid", module = "tickwire", frozen)]
pub struct PyBookInvalid(pub BookInvalid);

#[pymethods]
impl PyBookInvalid {
    /// The venue's name.
    #[getter]
    fn venue(&self) -> &'static str {
        self.0.market.venue.as_str()
    }

    /// The unified symbol.
    #[getter]
    fn symbol(&self) -> &str {
        &self.0.market.unified
    }

    /// The venue's own symbol.
    #[getter]
    fn native_symbol(&self) -> &str {
        &self.0.market.native
    }

    /// The kind of reason.
    #[getter]
    fn reason(&self) -> &'static str {
        reason_code(&self.0.reason)
    }

    /// The reason in words, with its numbers.
    #[getter]
    fn message(&self) -> String {
        self.0.reason.to_string()
    }

    /// What continuity or the checksum required, where the reason has it.
    #[getter]
    fn expected(&self) -> Option<i64> {
        expected_got(&self.0.reason).0
    }

    /// What arrived (or was computed), where the reason has it.
    #[getter]
    fn got(&self) -> Option<i64> {
        expected_got(&self.0.reason).1
    }

    /// How the book gets a fresh snapshot; `None`: the reconnect brings it.
    #[getter]
    fn resync(&self) -> Option<&'static str> {
        self.0.resync.map(resync_name)
    }

    /// Seconds until the resync is attempted.
    #[getter]
    #[expect(clippy::cast_precision_loss, reason = "seconds for display and scheduling")]
    fn retry_in(&self) -> f64 {
        self.0.retry_in_ns as f64 / 1e9
    }

    /// When the book was found invalid (monotonic ns).
    #[getter]
    const fn receive_time_ns(&self) -> u64 {
        self.0.time_ns
    }

    fn __repr__(&self) -> String {
        let resync = self.0.resync.map_or("on reconnect", resync_name);
        format!(
            "BookInvalid(venue='{}', symbol='{}', reason='{}', message='{}', resync='{resync}', retry_in={:.3})",
            self.venue(),
            self.symbol(),
            self.reason(),
            self.message(),
            self.retry_in()
        )
    }
}

/// What a view copies out under the lock.
struct Copied {
    validity: Validity,
    bids: Vec<Level>,
    asks: Vec<Level>,
}

/// A live, read-only view of one market's order book in a feed: every read shows the book as
/// it stands now (inside an `on_book` callback: right after that update). Check `is_valid`: an
/// invalid book can be read, and says why (`reason`, `message`) so that no one mistakes it for
/// a good one.
#[pyclass(name = "BookView", module = "tickwire", frozen)]
pub struct PyBookView {
    dispatch: Py<PyDispatch>,
    market: MarketRef,
}

impl PyBookView {
    /// A view of `market`'s book kept by `dispatch`.
    pub const fn new(dispatch: Py<PyDispatch>, market: MarketRef) -> Self {
        Self { dispatch, market }
    }

    /// Calls `read` with the book (`None`: no update yet), under the lock.
    fn read<T>(&self, py: Python<'_>, read: impl FnOnce(Option<&BookSync>) -> T) -> T {
        let keeper = self.dispatch.bind(py).get().books();
        read(keeper.book(self.market.id))
    }

    fn copy(&self, py: Python<'_>, depth: usize) -> Copied {
        self.read(py, |sync| match sync {
            None => Copied { validity: Validity::Pending, bids: Vec::new(), asks: Vec::new() },
            Some(sync) => Copied {
                validity: sync.validity(),
                bids: sync.book().top_bids(depth).collect(),
                asks: sync.book().top_asks(depth).collect(),
            },
        })
    }
}

fn level_tuple(py: Python<'_>, level: Level) -> PyResult<Bound<'_, PyTuple>> {
    PyTuple::new(py, [to_decimal(py, level.price)?, to_decimal(py, level.qty)?])
}

fn optional_decimal(py: Python<'_>, value: Option<Decimal>) -> PyResult<Option<Bound<'_, PyAny>>> {
    value.map(|value| to_decimal(py, value)).transpose()
}

/// `levels` as an `(n, 2)` float64 `NumPy` array of (price, qty), read-only (it shares the
/// buffer of a `bytes`).
fn numpy_levels<'py>(
    py: Python<'py>,
    numpy: &Bound<'py, PyModule>,
    levels: &[Level],
) -> PyResult<Bound<'py, PyAny>> {
    let mut raw = Vec::with_capacity(levels.len() * 16);
    for level in levels {
        raw.extend_from_slice(&level.price.to_f64().to_ne_bytes());
        raw.extend_from_slice(&level.qty.to_f64().to_ne_bytes());
    }
    let bytes = pyo3::types::PyBytes::new(py, &raw);
    numpy.call_method1("frombuffer", (bytes, "float64"))?.call_method1("reshape", ((levels.len(), 2),))
}

#[pymethods]
impl PyBookView {
    /// The venue's name.
    #[getter]
    fn venue(&self) -> &'static str {
        self.market.venue.as_str()
    }

    /// The unified symbol.
    #[getter]
    fn symbol(&self) -> &str {
        &self.market.unified
    }

    /// Whether the book is proven: it has a snapshot and has failed no check since.
    #[getter]
    fn is_valid(&self, py: Python<'_>) -> bool {
        self.read(py, |sync| sync.is_some_and(BookSync::is_valid))
    }

    /// `"pending"` (no snapshot yet), `"valid"` or `"invalid"`.
    #[getter]
    fn state(&self, py: Python<'_>) -> &'static str {
        match self.read(py, |sync| sync.map_or(Validity::Pending, BookSync::validity)) {
            Validity::Pending => "pending",
            Validity::Valid => "valid",
            Validity::Invalid { .. } => "invalid",
        }
    }

    /// Why the book is invalid (as `BookInvalid.reason`); `None` when valid or pending.
    #[getter]
    fn reason(&self, py: Python<'_>) -> Option<&'static str> {
        match self.read(py, |sync| sync.map(BookSync::validity)) {
            Some(Validity::Invalid { reason, .. }) => Some(reason_code(&reason)),
            _ => None,
        }
    }

    /// The reason in words; `None` when valid.
    #[getter]
    fn message(&self, py: Python<'_>) -> Option<String> {
        match self.read(py, |sync| sync.map_or(Validity::Pending, BookSync::validity)) {
            Validity::Invalid { reason, .. } => Some(reason.to_string()),
            Validity::Pending => Some("no snapshot yet".to_owned()),
            Validity::Valid => None,
        }
    }

    /// The last update id applied (where the venue numbers updates).
    #[getter]
    fn last_sequence(&self, py: Python<'_>) -> Option<u64> {
        self.read(py, |sync| sync.and_then(BookSync::last_sequence))
    }

    /// When the last update was applied (monotonic ns, as events' `receive_time_ns`; 0: never).
    #[getter]
    fn last_update_ns(&self, py: Python<'_>) -> u64 {
        self.read(py, |sync| sync.map_or(0, BookSync::last_update_ns))
    }

    /// Seconds the book has been invalid, over its life (the running period included).
    #[getter]
    #[expect(clippy::cast_precision_loss, reason = "seconds for display")]
    fn time_invalid(&self, py: Python<'_>) -> f64 {
        let now = monotonic_ns();
        self.read(py, |sync| sync.map_or(0, |sync| sync.time_invalid_ns(now))) as f64 / 1e9
    }

    /// `(price, qty)` of the best bid, as `decimal.Decimal`; `None` when the side is empty.
    #[getter]
    fn best_bid<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let level = self.read(py, |sync| sync.and_then(|sync| sync.book().best_bid()));
        level.map(|level| level_tuple(py, level)).transpose()
    }

    /// `(price, qty)` of the best ask; `None` when the side is empty.
    #[getter]
    fn best_ask<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let level = self.read(py, |sync| sync.and_then(|sync| sync.book().best_ask()));
        level.map(|level| level_tuple(py, level)).transpose()
    }

    /// Best ask minus best bid, exactly; `None` when a side is empty.
    #[getter]
    fn spread<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        optional_decimal(py, self.read(py, |sync| sync.and_then(|sync| sync.book().spread())))
    }

    /// The midpoint of the best bid and ask, exactly; `None` when a side is empty.
    #[getter]
    fn mid<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        optional_decimal(py, self.read(py, |sync| sync.and_then(|sync| sync.book().mid())))
    }

    /// `(bid levels, ask levels)` kept: the depth of each side.
    #[getter]
    fn depth(&self, py: Python<'_>) -> (usize, usize) {
        self.read(py, |sync| sync.map_or((0, 0), |sync| (sync.book().bid_depth(), sync.book().ask_depth())))
    }

    /// The top `n` levels of each side, best first: `(bids, asks)`, lists of `(price, qty)`
    /// `decimal.Decimal` tuples.
    #[pyo3(signature = (n = 10))]
    fn levels<'py>(&self, py: Python<'py>, n: usize) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let Copied { bids, asks, .. } = self.copy(py, n);
        let side = |levels: Vec<Level>| {
            let tuples =
                levels.into_iter().map(|level| level_tuple(py, level)).collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, tuples)
        };
        Ok((side(bids)?, side(asks)?))
    }

    /// The top `n` levels of each side as two read-only float64 `NumPy` arrays of shape
    /// `(levels, 2)` (price, qty), best first; one copy out of the book per call, none after.
    /// Needs `NumPy`.
    #[pyo3(signature = (n = 10))]
    fn to_numpy<'py>(&self, py: Python<'py>, n: usize) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let numpy = py.import("numpy")?;
        let Copied { bids, asks, .. } = self.copy(py, n);
        Ok((numpy_levels(py, &numpy, &bids)?, numpy_levels(py, &numpy, &asks)?))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let Copied { validity, bids, asks } = self.copy(py, 1);
        let state = match validity {
            Validity::Pending => "pending".to_owned(),
            Validity::Valid => "valid".to_owned(),
            Validity::Invalid { reason, .. } => format!("INVALID ({reason})"),
        };
        let side = |level: Option<&Level>| {
            level.map_or_else(|| "-".to_owned(), |l| format!("{} x {}", l.price, l.qty))
        };
        format!(
            "<BookView {} {} {state}: bid {} / ask {}>",
            self.market.venue,
            self.market.unified,
            side(bids.first()),
            side(asks.first())
        )
    }
}
