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
//! Book updates go through the session's [`BookKeeper`] first: the handlers get only updates
//! of a book that is valid after them (or a whole-book snapshot), and a `BookInvalid` in the
//! place of an update that broke it; the keeper's resync orders go to the feed's resync
//! handler once per pass. A lost connection invalidates the session's books in stream order.
//!
//! The tables are copy-on-write: registering builds new tables, and a delivery pass holds the
//! ones it started with, so a handler may register or unregister handlers (even itself) while
//! it runs. Processing times are recorded once per pass, never while a handler runs, so a
//! handler may read the metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::{PyTraverseError, PyVisit};

use super::books::{PyBookInvalid, PyBookView, resync_name};
use super::bridge::{DISPATCH_LIMIT, session_event_to_python};
use super::events::{event_from_python, event_to_python, parse_error};
use super::metrics::PyLatencyHistogram;
use super::server::PyServer;
use crate::book::{BookInvalid, BookKeeper, KeeperConfig, ResyncPolicy, Verdict};
use crate::clock::monotonic_ns;
use crate::conn::{Drained, Inbox, Payload};
use crate::model::market::by_id;
use crate::model::{Channel, Event};
use crate::pool::SessionEvent;
use crate::server::bridge::Bridge;
use crate::subscribe::BitSet;
use crate::venues::binance;
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
    /// Handlers of `BookInvalid`, every market.
    book_invalid: Vec<Py<PyAny>>,
    /// Also publishes the events to a broadcast server.
    bridge: Option<Arc<Bridge>>,
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
    /// `resync(market_id, action, delay_s)`: carries out a book's resync order.
    resync: Py<PyAny>,
}

impl FeedHandlers {
    fn clone_ref(&self, py: Python<'_>) -> Self {
        Self {
            control: self.control.clone_ref(py),
            error: self.error.clone_ref(py),
            state: self.state.clone_ref(py),
            resync: self.resync.clone_ref(py),
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
            book_invalid: copy(&self.book_invalid),
            bridge: self.bridge.clone(),
            sink: self.sink.as_ref().map(|sink| sink.clone_ref(py)),
            feed: self.feed.as_ref().map(|feed| feed.clone_ref(py)),
        }
    }

    /// Every Python object the tables hold.
    fn objects(&self) -> impl Iterator<Item = &Py<PyAny>> {
        let handlers = self
            .every_market
            .iter()
            .flatten()
            .chain(self.by_market.iter().flatten().flatten())
            .chain(&self.book_invalid);
        let feed = self.feed.iter().flat_map(|feed| [&feed.control, &feed.error, &feed.state, &feed.resync]);
        handlers.chain(self.sink.iter()).chain(feed)
    }
}

#[derive(Default)]
struct Counters {
    events: u64,
    book_updates: u64,
    /// Book updates not handed on: buffered, covered already, or awaiting a snapshot.
    book_withheld: u64,
    filtered: u64,
    latency_violations: u64,
}

/// What became of one event.
enum Delivery {
    /// Handed to the handlers (or to none, if there were none).
    Delivered,
    /// Not wanted.
    Filtered,
    /// A book update the book did not vouch for.
    Withheld,
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
    /// Only the interpreter's thread takes it, never while Python code runs.
    books: Mutex<BookKeeper>,
    /// Set when the feed stops: the books go invalid with the closing connection as ever, but
    /// no `BookInvalid` reaches the handlers for a stop the feed asked for itself.
    stopping: AtomicBool,
}

/// The name `add` and `remove` take for `BookInvalid` handlers.
const BOOK_INVALID: &str = "book_invalid";

fn channel_index(name: &str) -> PyResult<usize> {
    Channel::ALL.iter().position(|channel| channel.as_str() == name).ok_or_else(|| {
        PyValueError::new_err(format!("unknown channel {name:?}; expected trades, bbo, book or ticker"))
    })
}

impl PyDispatch {
    /// The session's books.
    pub(super) fn books(&self) -> MutexGuard<'_, BookKeeper> {
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }

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

    /// Delivers one event, a book update through the session's books. `object` is the event
    /// as Python has it already (a venue written in Python made it), else one is made for
    /// the handlers.
    fn deliver_event(
        &self,
        py: Python<'_>,
        tables: &Tables,
        event: &Event,
        object: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Delivery> {
        let channel = event.channel() as usize;
        let market = event.market().id;
        if tables.wanted[channel].as_ref().is_some_and(|wanted| !wanted.contains(market)) {
            return Ok(Delivery::Filtered);
        }
        if let Event::Book(update) = event {
            let verdict = {
                let mut books = self.books();
                let verdict = books.apply(update);
                if let Some(bridge) = &tables.bridge
                    && !matches!(verdict, Verdict::Withhold)
                    && let Some(book) = books.book(update.market.id)
                {
                    bridge.on_book(&update.market, book, update.receive_time_ns);
                }
                verdict
            };
            match verdict {
                Verdict::Deliver => {}
                Verdict::DeliverSnapshot(snapshot) => {
                    Self::hand_on(py, tables, channel, market, &Event::Book(snapshot), None)?;
                    return Ok(Delivery::Delivered);
                }
                Verdict::Withhold => return Ok(Delivery::Withheld),
                Verdict::Invalid(invalid) => {
                    self.bridge_invalid(tables, &invalid);
                    Self::deliver_invalid(py, tables, invalid)?;
                    return Ok(Delivery::Withheld);
                }
            }
        }
        if let Some(bridge) = &tables.bridge {
            bridge.on_event(event);
        }
        Self::hand_on(py, tables, channel, market, event, object)?;
        Ok(Delivery::Delivered)
    }

    /// Publishes the state of books that became invalid, when bridged to a server.
    fn bridge_invalid(&self, tables: &Tables, invalid: &[BookInvalid]) {
        if let Some(bridge) = &tables.bridge {
            let books = self.books();
            for notice in invalid {
                bridge.on_book_invalid(notice, books.book(notice.market.id));
            }
        }
    }

    /// Calls `event`'s handlers: its market's, then its channel's, then the sink.
    fn hand_on(
        py: Python<'_>,
        tables: &Tables,
        channel: usize,
        market: u32,
        event: &Event,
        object: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let for_market = tables.by_market[channel].get(market as usize).map_or(&[][..], Vec::as_slice);
        let every = &tables.every_market[channel];
        if for_market.is_empty() && every.is_empty() && tables.sink.is_none() {
            return Ok(());
        }
        let object = match object {
            Some(object) => object.clone(),
            None => event_to_python(py, event.clone())?,
        };
        for handler in for_market.iter().chain(every) {
            Self::call(py, tables, handler, &object);
        }
        if let Some(sink) = &tables.sink {
            Self::call(py, tables, sink, &object);
        }
        Ok(())
    }

    /// Tells the `BookInvalid` handlers and the sink.
    fn deliver_invalid(py: Python<'_>, tables: &Tables, invalid: Vec<BookInvalid>) -> PyResult<()> {
        if tables.book_invalid.is_empty() && tables.sink.is_none() {
            return Ok(());
        }
        for notice in invalid {
            let object = Bound::new(py, PyBookInvalid(notice))?.into_any();
            for handler in &tables.book_invalid {
                Self::call(py, tables, handler, &object);
            }
            if let Some(sink) = &tables.sink {
                Self::call(py, tables, sink, &object);
            }
        }
        Ok(())
    }

    /// A lost connection: every book of the session becomes invalid, in stream order.
    fn invalidate_all(&self, py: Python<'_>, tables: &Tables) -> PyResult<()> {
        let invalid = self.books().disconnect(monotonic_ns());
        self.bridge_invalid(tables, &invalid);
        if self.stopping.load(Ordering::Relaxed) {
            return Ok(());
        }
        Self::deliver_invalid(py, tables, invalid)
    }

    fn add_counters(&self, counters: &Counters) {
        let mut total = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        total.events += counters.events;
        total.book_updates += counters.book_updates;
        total.book_withheld += counters.book_withheld;
        total.filtered += counters.filtered;
        total.latency_violations += counters.latency_violations;
    }

    /// Hands the books' resync orders to the feed.
    fn carry_out_orders(&self, py: Python<'_>, tables: &Tables) {
        let orders = {
            let mut books = self.books();
            if !books.has_orders() {
                return;
            }
            books.take_orders()
        };
        let Some(feed) = &tables.feed else { return };
        for order in orders {
            #[expect(clippy::cast_precision_loss, reason = "a delay in seconds")]
            let delay = order.delay_ns as f64 / 1e9;
            if let Err(error) = feed.resync.call1(py, (order.market.id, resync_name(order.action), delay)) {
                Self::report(py, tables, error);
            }
        }
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
                match dispatch.deliver_event(py, &tables, event, None)? {
                    Delivery::Delivered => {
                        let now = monotonic_ns();
                        let spent = now - last;
                        last = now;
                        durations.push(spent);
                        counters.events += 1;
                        counters.book_updates += u64::from(matches!(event, Event::Book(_)));
                        counters.latency_violations += u64::from(spent > dispatch.latency_budget_ns);
                    }
                    Delivery::Filtered => {
                        counters.filtered += 1;
                        last = monotonic_ns();
                    }
                    Delivery::Withheld => {
                        counters.book_withheld += 1;
                        last = monotonic_ns();
                    }
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
                if matches!(event, SessionEvent::Disconnected { .. } | SessionEvent::GaveUp { .. }) {
                    dispatch.invalidate_all(py, &tables)?;
                }
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
    dispatch.carry_out_orders(py, &tables);
    {
        let mut histogram = dispatch.processing.get().histogram();
        for spent in durations {
            histogram.record(spent);
        }
    }
    dispatch.add_counters(&counters);
    match outcome {
        Drained::Done { .. } => Ok(inbox.is_finished() && inbox.is_empty()),
        Drained::Failed { error, .. } => Err(error),
    }
}

#[pymethods]
impl PyDispatch {
    #[new]
    #[pyo3(signature = (
        url, on_control, on_error, on_state, on_resync, processing, latency_budget_ns,
        *, book_depth = None, book_stale_after_ns = None, resync_max = 5,
        resync_window_ns = 60_000_000_000, resync_timeout_ns = 10_000_000_000,
    ))]
    #[expect(clippy::too_many_arguments, reason = "a constructor taking the feed's settings by name")]
    fn new(
        url: String,
        on_control: Py<PyAny>,
        on_error: Py<PyAny>,
        on_state: Py<PyAny>,
        on_resync: Py<PyAny>,
        processing: Py<PyLatencyHistogram>,
        latency_budget_ns: u64,
        book_depth: Option<usize>,
        book_stale_after_ns: Option<u64>,
        resync_max: usize,
        resync_window_ns: u64,
        resync_timeout_ns: u64,
    ) -> PyResult<Self> {
        if book_depth == Some(0) || resync_max == 0 {
            return Err(PyValueError::new_err("book_depth and resync_max must be at least 1"));
        }
        let tables = Tables {
            feed: Some(FeedHandlers {
                control: on_control,
                error: on_error,
                state: on_state,
                resync: on_resync,
            }),
            ..Tables::default()
        };
        let books = BookKeeper::new(KeeperConfig {
            depth: book_depth,
            stale_after_ns: book_stale_after_ns,
            resync: ResyncPolicy {
                max_resyncs: resync_max,
                window_ns: resync_window_ns,
                timeout_ns: resync_timeout_ns,
            },
        });
        Ok(Self {
            tables: Mutex::new(Arc::new(tables)),
            processing,
            latency_budget_ns,
            url,
            counters: Mutex::default(),
            books: Mutex::new(books),
            stopping: AtomicBool::new(false),
        })
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
        if channel == BOOK_INVALID && market.is_none() {
            self.update(py, |tables| tables.book_invalid.push(handler));
            return Ok(());
        }
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
        let channel = if channel == BOOK_INVALID { None } else { Some(channel_index(channel)?) };
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
            match channel {
                None => keep(&mut tables.book_invalid),
                Some(channel) => {
                    keep(&mut tables.every_market[channel]);
                    tables.by_market[channel].iter_mut().for_each(keep);
                }
            }
        });
        failure.map_or(Ok(removed), Err)
    }

    /// Handlers registered, over every channel and market.
    fn handler_count(&self) -> usize {
        let tables = self.tables();
        tables.every_market.iter().map(Vec::len).sum::<usize>()
            + tables.by_market.iter().flatten().map(Vec::len).sum::<usize>()
            + tables.book_invalid.len()
    }

    /// Events of `channel` are delivered only for the markets `set_wanted` last named (`None`:
    /// every market).
    fn set_wanted(&self, py: Python<'_>, channel: &str, markets: Option<Vec<u32>>) -> PyResult<()> {
        let channel = channel_index(channel)?;
        self.update(py, |tables| tables.wanted[channel] = markets.map(|ids| ids.into_iter().collect()));
        Ok(())
    }

    /// Also publishes the events (tickers, trades as trades and candles, book tops) to the
    /// broadcast `server`, converted in Rust (`None`: stop).
    fn set_broadcast(&self, py: Python<'_>, server: Option<&Bound<'_, PyServer>>) -> PyResult<()> {
        let bridge =
            server.map(|server| server.get().hub().map(|hub| Arc::new(Bridge::new(hub)))).transpose()?;
        self.update(py, |tables| tables.bridge = bridge);
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
        dict.set_item("book_withheld", counters.book_withheld)?;
        dict.set_item("filtered", counters.filtered)?;
        dict.set_item("latency_violations", counters.latency_violations)?;
        Ok(dict)
    }

    /// A live view of market `market_id`'s book.
    fn book(slf: &Bound<'_, Self>, market_id: u32) -> PyResult<PyBookView> {
        let market =
            by_id(market_id).ok_or_else(|| PyValueError::new_err(format!("no market has id {market_id}")))?;
        Ok(PyBookView::new(slf.clone().unbind(), market))
    }

    /// Delivers the market events among `events`, what a venue written in Python parsed from
    /// one batch (`Trade`, `BBO`, `BookUpdate`, `Ticker`), each as a built-in venue's: book
    /// updates through the session's books (a `BookUpdate` snapshot fetched over REST
    /// included), then the handler tables, the broadcast bridge and the sink, with the objects
    /// Python made. One call per batch; returns the other items (acks, private events), in
    /// order, for the feed to handle.
    fn deliver<'py>(&self, py: Python<'py>, events: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyList>> {
        let tables = self.tables();
        let mut counters = Counters::default();
        let others = PyList::empty(py);
        for item in events.iter() {
            let Some(event) = event_from_python(&item) else {
                others.append(item)?;
                continue;
            };
            match self.deliver_event(py, &tables, &event, Some(&item))? {
                Delivery::Delivered => {
                    counters.events += 1;
                    counters.book_updates += u64::from(matches!(event, Event::Book(_)));
                }
                Delivery::Filtered => counters.filtered += 1,
                Delivery::Withheld => counters.book_withheld += 1,
            }
        }
        self.carry_out_orders(py, &tables);
        self.add_counters(&counters);
        Ok(others)
    }

    /// The session of a venue written in Python lost its connection: its books become invalid
    /// (`BookInvalid` with reason `disconnected`), in stream order.
    fn disconnected(&self, py: Python<'_>) -> PyResult<()> {
        self.invalidate_all(py, &self.tables())
    }

    /// The feed is stopping: the connection's end invalidates the books without telling the
    /// `BookInvalid` handlers (the broadcast server still learns it).
    fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// The feed starts again: `BookInvalid` handlers hear of lost connections again.
    fn start(&self) {
        self.stopping.store(false, Ordering::Relaxed);
    }

    /// Applies the body of a Binance REST depth snapshot (`GET /api/v3/depth`) to market
    /// `market_id`'s book, delivering what follows (a whole-book snapshot, or `BookInvalid`);
    /// a body that is no snapshot counts as a failed fetch (another is ordered) and raises
    /// `ParseError`.
    fn apply_snapshot(&self, py: Python<'_>, market_id: u32, body: &[u8]) -> PyResult<()> {
        let market =
            by_id(market_id).ok_or_else(|| PyValueError::new_err(format!("no market has id {market_id}")))?;
        let tables = self.tables();
        let result = match binance::parse_depth_snapshot(&market, body, monotonic_ns()) {
            Ok(snapshot) => self.deliver_event(py, &tables, &Event::Book(snapshot), None).map(|_| ()),
            Err(error) => {
                self.books().snapshot_failed(market_id, monotonic_ns());
                Err(parse_error(&error, &self.url))
            }
        };
        self.carry_out_orders(py, &tables);
        result
    }

    /// A REST snapshot fetch for market `market_id` failed: another is ordered (paced by the
    /// breaker).
    fn snapshot_failed(&self, py: Python<'_>, market_id: u32) {
        self.books().snapshot_failed(market_id, monotonic_ns());
        self.carry_out_orders(py, &self.tables());
    }

    /// The timer's check: stale books become invalid (delivered as `BookInvalid`), and
    /// resyncs that brought no snapshot in time are ordered again.
    fn check_books(&self, py: Python<'_>) -> PyResult<()> {
        let tables = self.tables();
        let invalid = self.books().check(monotonic_ns());
        self.bridge_invalid(&tables, &invalid);
        Self::deliver_invalid(py, &tables, invalid)?;
        self.carry_out_orders(py, &tables);
        Ok(())
    }

    /// Forgets market `market_id`'s book (its book subscription ended).
    fn forget_book(&self, market_id: u32) {
        self.books().forget(market_id);
    }

    /// The books' totals: `books`, `valid`, `updates_applied`, `gaps`, `checksum_failures`,
    /// `crossed`, `stale`, `resyncs`, `resync_orders`, `resyncs_held`, `time_invalid_s`.
    fn book_totals<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let totals = self.books().totals(monotonic_ns());
        let counters = totals.counters;
        let dict = PyDict::new(py);
        dict.set_item("books", totals.books)?;
        dict.set_item("valid", totals.valid)?;
        dict.set_item("updates_applied", counters.updates_applied)?;
        dict.set_item("gaps", counters.gaps)?;
        dict.set_item("checksum_failures", counters.checksum_failures)?;
        dict.set_item("crossed", counters.crossed)?;
        dict.set_item("stale", counters.stale)?;
        dict.set_item("resyncs", counters.resyncs)?;
        dict.set_item("resync_orders", totals.resync_orders)?;
        dict.set_item("resyncs_held", totals.resyncs_held)?;
        #[expect(clippy::cast_precision_loss, reason = "seconds for metrics")]
        dict.set_item("time_invalid_s", totals.time_invalid_ns as f64 / 1e9)?;
        Ok(dict)
    }
}
