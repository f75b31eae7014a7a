//! Market events → Python callbacks, routed in Rust: the `Dispatch` handle a `tickwire.Feed`
//! gives each venue session.
//!
//! A session whose inbox decodes (a built-in venue) hands over [`Decoded`] items. One call
//! into Rust per wake-up ([`dispatch_market`]) turns each event into its Python class and calls
//! the handlers registered for its channel and market — a table lookup by channel and market
//! id, then the channel's catch-all handlers — with no Python code in between. Acks, refusals
//! and reconnect notices go to the control handler; unreadable messages and exceptions raised
//! by handlers go to the error handler, and delivery goes on.
//!
//! The tables are copy-on-write: registering builds new tables, and a delivery pass holds the
//! ones it started with, so a handler may register or unregister handlers (even itself) while
//! it runs. Processing times are recorded once per pass, never while a handler runs, so a
//! handler may read the metrics.

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{PyTraverseError, PyVisit};

use super::bridge::{DISPATCH_LIMIT, session_event_to_python};
use super::events::{event_to_python, parse_error};
use super::metrics::PyLatencyHistogram;
use crate::clock::monotonic_ns;
use crate::conn::{Drained, Inbox, Payload};
use crate::model::{Channel, Event};
use crate::subscribe::BitSet;
use crate::venues::{Control, Decoded};

const CHANNELS: usize = Channel::ALL.len();

#[derive(Default)]
struct Tables {
    /// Per channel: handlers of every market.
    every_market: [Vec<Py<PyAny>>; CHANNELS],
    /// Per channel, per market id: that market's handlers.
    by_market: [Vec<Vec<Py<PyAny>>>; CHANNELS],
    /// Per channel: the market ids whose events are wanted; `None` wants all.
    wanted: [Option<BitSet>; CHANNELS],
    /// Also gets every event (for `async for` over a feed).
    sink: Option<Py<PyAny>>,
    /// The feed's handlers of acks and refusals, errors, and session events; `None` once the
    /// garbage collector has cleared the dispatch.
    feed: Option<FeedHandlers>,
}

/// What the feed itself handles.
struct FeedHandlers {
    control: Py<PyAny>,
    error: Py<PyAny>,
    state: Py<PyAny>,
}

impl FeedHandlers {
    fn clone_ref(&self, py: Python<'_>) -> Self {
        Self {
            control: self.control.clone_ref(py),
            error: self.error.clone_ref(py),
            state: self.state.clone_ref(py),
        }
    }
}

impl Tables {
    fn clone_ref(&self, py: Python<'_>) -> Self {
        let copy = |handlers: &Vec<Py<PyAny>>| handlers.iter().map(|h| h.clone_ref(py)).collect::<Vec<_>>();
        Self {
            every_market: std::array::from_fn(|channel| copy(&self.every_market[channel])),
            by_market: std::array::from_fn(|channel| self.by_market[channel].iter().map(copy).collect()),
            wanted: self.wanted.clone(),
            sink: self.sink.as_ref().map(|sink| sink.clone_ref(py)),
            feed: self.feed.as_ref().map(|feed| feed.clone_ref(py)),
        }
    }

    /// Every Python object the tables hold.
    fn objects(&self) -> impl Iterator<Item = &Py<PyAny>> {
        let handlers = self.every_market.iter().flatten().chain(self.by_market.iter().flatten().flatten());
        let feed = self.feed.iter().flat_map(|feed| [&feed.control, &feed.error, &feed.state]);
        handlers.chain(self.sink.iter()).chain(feed)
    }
}

#[derive(Default)]
struct Counters {
    events: u64,
    book_updates: u64,
    filtered: u64,
    latency_violations: u64,
}

/// Handler tables and counters of one venue session; `tickwire.Feed` drives it.
///
/// It takes part in garbage collection (`__traverse__`, `__clear__`): its handlers usually
/// refer back to the feed that holds it, and such a cycle would otherwise never be freed.
#[pyclass(name = "Dispatch", module = "tickwire._core", frozen)]
pub struct PyDispatch {
    tables: Mutex<Arc<Tables>>,
    processing: Py<PyLatencyHistogram>,
    latency_budget_ns: u64,
    url: String,
    counters: Mutex<Counters>,
}

fn channel_index(name: &str) -> PyResult<usize> {
    Channel::ALL.iter().position(|channel| channel.as_str() == name).ok_or_else(|| {
        PyValueError::new_err(format!("unknown channel {name:?}; expected trades, bbo, book or ticker"))
    })
}

impl PyDispatch {
    fn tables(&self) -> Arc<Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Applies `change` to a copy of the tables and installs the copy.
    fn update(&self, py: Python<'_>, change: impl FnOnce(&mut Tables)) {
        let mut slot = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        let mut tables = slot.clone_ref(py);
        change(&mut tables);
        *slot = Arc::new(tables);
    }

    /// Calls `handler(argument)`; an exception goes to the error handler.
    fn call(py: Python<'_>, tables: &Tables, handler: &Py<PyAny>, argument: &Bound<'_, PyAny>) {
        if let Err(error) = handler.call1(py, (argument,)) {
            Self::report(py, tables, error);
        }
    }

    fn report(py: Python<'_>, tables: &Tables, error: PyErr) {
        let Some(feed) = &tables.feed else {
            error.restore(py);
            write_unraisable(py);
            return;
        };
        if let Err(failed) = feed.error.call1(py, (error.into_value(py),)) {
            // The error handler itself failed: the loop's exception handler logs it.
            failed.restore(py);
            write_unraisable(py);
        }
    }

    /// Delivers one event; returns whether it was wanted.
    fn deliver_event(py: Python<'_>, tables: &Tables, event: &Event) -> PyResult<bool> {
        let channel = event.channel() as usize;
        let market = event.market().id;
        if tables.wanted[channel].as_ref().is_some_and(|wanted| !wanted.contains(market)) {
            return Ok(false);
        }
        let for_market = tables.by_market[channel].get(market as usize).map_or(&[][..], Vec::as_slice);
        let every = &tables.every_market[channel];
        if for_market.is_empty() && every.is_empty() && tables.sink.is_none() {
            return Ok(true);
        }
        let object = event_to_python(py, event.clone())?;
        for handler in for_market.iter().chain(every) {
            Self::call(py, tables, handler, &object);
        }
        if let Some(sink) = &tables.sink {
            Self::call(py, tables, sink, &object);
        }
        Ok(true)
    }

    fn deliver_control(py: Python<'_>, tables: &Tables, control: &Control) -> PyResult<()> {
        if let (Some(dict), Some(feed)) = (control_to_python(py, control)?, &tables.feed) {
            Self::call(py, tables, &feed.control, dict.as_any());
        }
        Ok(())
    }
}

/// An ack, refusal or reconnect notice as a `dict` with its `"event"` name (`"ack"`,
/// `"rejected"`, `"reconnect"`) and fields; `None` for the controls that are only counted.
pub(super) fn control_to_python<'py>(
    py: Python<'py>,
    control: &Control,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let dict = PyDict::new(py);
    match control {
        Control::Ack { request_id } => {
            dict.set_item("event", "ack")?;
            dict.set_item("request_id", request_id)?;
        }
        Control::Rejected { request_id, reason } => {
            dict.set_item("event", "rejected")?;
            dict.set_item("request_id", request_id)?;
            dict.set_item("reason", reason)?;
        }
        Control::Reconnect { reason } => {
            dict.set_item("event", "reconnect")?;
            dict.set_item("reason", reason)?;
        }
        Control::Data | Control::Heartbeat | Control::Pong | Control::Unknown => return Ok(None),
    }
    Ok(Some(dict))
}

/// Hands the pending exception to `sys.unraisablehook`.
fn write_unraisable(py: Python<'_>) {
    if let Some(error) = PyErr::take(py) {
        error.write_unraisable(py, None);
    }
}

/// Delivers up to [`DISPATCH_LIMIT`] queued items through `dispatch`'s tables; returns whether
/// the inbox has ended with everything delivered. Exceptions never escape: each goes to the
/// error handler and delivery goes on.
///
/// # Errors
/// Only when Python cannot allocate an event object.
pub fn dispatch_market(py: Python<'_>, inbox: &Inbox, dispatch: &PyDispatch) -> PyResult<bool> {
    let tables = dispatch.tables();
    let mut durations = Vec::with_capacity(inbox.len().min(DISPATCH_LIMIT));
    let mut counters = Counters::default();
    // One clock read per event: an event's time runs from the end of the one before, so the
    // inbox's own share is counted too.
    let mut last = monotonic_ns();
    let outcome = inbox.drain(DISPATCH_LIMIT, |payload| -> PyResult<()> {
        match payload {
            Payload::Decoded(Decoded::Event(event)) => {
                if PyDispatch::deliver_event(py, &tables, event)? {
                    let now = monotonic_ns();
                    let spent = now - last;
                    last = now;
                    durations.push(spent);
                    counters.events += 1;
                    counters.book_updates += u64::from(matches!(event, Event::Book(_)));
                    counters.latency_violations += u64::from(spent > dispatch.latency_budget_ns);
                } else {
                    counters.filtered += 1;
                    last = monotonic_ns();
                }
            }
            Payload::Decoded(Decoded::Control(control)) => {
                PyDispatch::deliver_control(py, &tables, control)?;
                last = monotonic_ns();
            }
            Payload::Decoded(Decoded::Error(error)) => {
                PyDispatch::report(py, &tables, parse_error(error, &dispatch.url));
                last = monotonic_ns();
            }
            Payload::Event(event) => {
                let event = session_event_to_python(py, event)?;
                if let Some(feed) = &tables.feed {
                    PyDispatch::call(py, &tables, &feed.state, event.as_any());
                }
                last = monotonic_ns();
            }
            Payload::Text(_) | Payload::Ascii(_) | Payload::Binary(_) => {
                // An inbox without a decoder: nothing to route. Never happens for a feed's
                // sessions, which always decode.
            }
        }
        Ok(())
    });
    {
        let mut histogram = dispatch.processing.get().histogram();
        for spent in durations {
            histogram.record(spent);
        }
    }
    {
        let mut total = dispatch.counters.lock().unwrap_or_else(PoisonError::into_inner);
        total.events += counters.events;
        total.book_updates += counters.book_updates;
        total.filtered += counters.filtered;
        total.latency_violations += counters.latency_violations;
    }
    match outcome {
        Drained::Done { .. } => Ok(inbox.is_finished() && inbox.is_empty()),
        Drained::Failed { error, .. } => Err(error),
    }
}

#[pymethods]
impl PyDispatch {
    #[new]
    #[pyo3(signature = (url, on_control, on_error, on_state, processing, latency_budget_ns))]
    fn new(
        url: String,
        on_control: Py<PyAny>,
        on_error: Py<PyAny>,
        on_state: Py<PyAny>,
        processing: Py<PyLatencyHistogram>,
        latency_budget_ns: u64,
    ) -> Self {
        let tables = Tables {
            feed: Some(FeedHandlers { control: on_control, error: on_error, state: on_state }),
            ..Tables::default()
        };
        Self {
            tables: Mutex::new(Arc::new(tables)),
            processing,
            latency_budget_ns,
            url,
            counters: Mutex::default(),
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Only the interpreter's thread takes the lock, and never while running Python code,
        // so it is free whenever the collector runs.
        if let Ok(tables) = self.tables.try_lock() {
            for object in tables.objects() {
                visit.call(object)?;
            }
        }
        visit.call(&self.processing)
    }

    fn __clear__(&self) {
        *self.tables.lock().unwrap_or_else(PoisonError::into_inner) = Arc::default();
    }

    /// Adds `handler` for `channel`, for one market id or (`None`) every market.
    #[pyo3(signature = (channel, handler, market = None))]
    fn add(&self, py: Python<'_>, channel: &str, handler: Py<PyAny>, market: Option<u32>) -> PyResult<()> {
        let channel = channel_index(channel)?;
        self.update(py, |tables| match market {
            None => tables.every_market[channel].push(handler),
            Some(id) => {
                let by_market = &mut tables.by_market[channel];
                if by_market.len() <= id as usize {
                    by_market.resize_with(id as usize + 1, Vec::new);
                }
                by_market[id as usize].push(handler);
            }
        });
        Ok(())
    }

    /// Removes `handler` from `channel`, compared as `list.remove` compares (so a bound
    /// method taken again is the same handler); returns how many were removed.
    fn remove(&self, py: Python<'_>, channel: &str, handler: &Bound<'_, PyAny>) -> PyResult<usize> {
        let channel = channel_index(channel)?;
        let mut removed = 0;
        let mut failure = None;
        self.update(py, |tables| {
            let mut keep = |handlers: &mut Vec<Py<PyAny>>| {
                let before = handlers.len();
                handlers.retain(|h| match h.bind(py).eq(handler) {
                    Ok(equal) => !equal,
                    Err(error) => {
                        failure.get_or_insert(error);
                        true
                    }
                });
                removed += before - handlers.len();
            };
            keep(&mut tables.every_market[channel]);
            tables.by_market[channel].iter_mut().for_each(keep);
        });
        failure.map_or(Ok(removed), Err)
    }

    /// Handlers registered, over every channel and market.
    fn handler_count(&self) -> usize {
        let tables = self.tables();
        tables.every_market.iter().map(Vec::len).sum::<usize>()
            + tables.by_market.iter().flatten().map(Vec::len).sum::<usize>()
    }

    /// Events of `channel` are delivered only for the markets `set_wanted` last named (`None`:
    /// every market).
    fn set_wanted(&self, py: Python<'_>, channel: &str, markets: Option<Vec<u32>>) -> PyResult<()> {
        let channel = channel_index(channel)?;
        self.update(py, |tables| tables.wanted[channel] = markets.map(|ids| ids.into_iter().collect()));
        Ok(())
    }

    /// Also hands every delivered event to `sink` (`None`: stop).
    fn set_sink(&self, py: Python<'_>, sink: Option<Py<PyAny>>) {
        self.update(py, |tables| tables.sink = sink);
    }

    /// Events delivered, book updates among them, events filtered out as unwanted, and
    /// events whose handlers took longer than the latency budget.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let dict = PyDict::new(py);
        dict.set_item("events", counters.events)?;
        dict.set_item("book_updates", counters.book_updates)?;
        dict.set_item("filtered", counters.filtered)?;
        dict.set_item("latency_violations", counters.latency_violations)?;
        Ok(dict)
    }
}
