//! A built-in venue's protocol as Python sees it: `tickwire._core.VenueProtocol`, which
//! `tickwire.Feed` asks for the venue's URL, limits and request messages, and which
//! `open_session(venue=...)` turns into the decoder of a session's inbox.

use std::str::FromStr;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::events::{event_to_python, kind_from_name, parse_error};
use crate::model::market::intern_unified;
use crate::model::{Channel, Event, InstrumentKind, MarketRef, Venue};
use crate::venues::{Action, Adapter, Spec, VenueError, adapter, binance};

/// One venue endpoint's protocol: spec, request builders, adapters for sessions.
#[pyclass(name = "VenueProtocol", module = "tickwire._core", frozen)]
pub struct PyVenueProtocol {
    venue: Venue,
    kind: InstrumentKind,
    /// Builds requests only; sessions get adapters of their own.
    builder: std::sync::Mutex<Box<dyn Adapter>>,
    spec: Spec,
}

fn venue_error(error: &VenueError) -> PyErr {
    PyValueError::new_err(error.to_string())
}

impl PyVenueProtocol {
    /// A fresh adapter for a session of this endpoint.
    pub(super) fn new_adapter(&self) -> PyResult<Box<dyn Adapter>> {
        adapter(self.venue, self.kind).map_err(|error| venue_error(&error))
    }

    fn pairs(&self, pairs: Vec<(String, String)>) -> PyResult<Vec<(MarketRef, Channel)>> {
        pairs
            .into_iter()
            .map(|(symbol, channel)| {
                let market = intern_unified(self.venue, &symbol)
                    .map_err(|error| PyValueError::new_err(error.to_string()))?;
                let channel = Channel::from_name(&channel)
                    .ok_or_else(|| PyValueError::new_err(format!("unknown channel {channel:?}")))?;
                Ok((market, channel))
            })
            .collect()
    }

    fn build(&self, action: Action, request_id: u64, pairs: Vec<(String, String)>) -> PyResult<Vec<String>> {
        let pairs = self.pairs(pairs)?;
        let builder = self.builder.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = Vec::new();
        builder.request(action, request_id, &pairs, &mut out).map_err(|error| venue_error(&error))?;
        Ok(out)
    }
}

#[pymethods]
impl PyVenueProtocol {
    #[new]
    #[pyo3(signature = (venue, kind = "spot"))]
    fn new(venue: &str, kind: &str) -> PyResult<Self> {
        let venue = Venue::from_str(venue).map_err(|error| PyValueError::new_err(error.to_string()))?;
        let kind = kind_from_name(kind)?;
        let builder = adapter(venue, kind).map_err(|error| venue_error(&error))?;
        let spec = builder.spec().clone();
        Ok(Self { venue, kind, builder: std::sync::Mutex::new(builder), spec })
    }

    /// The venue's name.
    #[getter]
    fn name(&self) -> &'static str {
        self.venue.as_str()
    }

    /// The endpoint's name (`"spot"`, `"linear"`, `"public"`).
    #[getter]
    fn endpoint(&self) -> &'static str {
        self.spec.endpoint
    }

    /// The production URL.
    #[getter]
    fn url(&self) -> &'static str {
        self.spec.url
    }

    /// Most subscriptions per request.
    #[getter]
    fn max_per_request(&self) -> usize {
        self.spec.max_per_request
    }

    /// Most subscriptions per connection.
    #[getter]
    fn max_per_connection(&self) -> usize {
        self.spec.max_per_connection
    }

    /// Requests per second the venue accepts.
    #[getter]
    fn requests_per_second(&self) -> f64 {
        self.spec.requests_per_second
    }

    /// Requests that may go at once.
    #[getter]
    fn burst(&self) -> u32 {
        self.spec.burst
    }

    /// Seconds between application pings, or `None`.
    #[getter]
    fn app_ping_interval(&self) -> Option<f64> {
        self.spec.app_ping.map(|ping| ping.interval.as_secs_f64())
    }

    /// The application ping message, or `None`.
    #[getter]
    fn app_ping_message(&self) -> Option<&'static str> {
        self.spec.app_ping.map(|ping| ping.message)
    }

    /// Seconds within which a new connection must subscribe, or `None`.
    #[getter]
    fn subscribe_within(&self) -> Option<f64> {
        self.spec.subscribe_within.map(|limit| limit.as_secs_f64())
    }

    /// The dense id of `symbol` (unified) on this venue, as events carry it.
    fn market_id(&self, symbol: &str) -> PyResult<u32> {
        let market =
            intern_unified(self.venue, symbol).map_err(|error| PyValueError::new_err(error.to_string()))?;
        if self.venue == Venue::Bybit && market.kind != self.kind {
            return Err(PyValueError::new_err(format!(
                "{symbol} is not traded on {}'s {} endpoint",
                self.venue, self.spec.endpoint
            )));
        }
        Ok(market.id)
    }

    /// The REST URL of `symbol`'s book snapshot, for venues whose books start from one
    /// (Binance); `base` replaces the production REST base (a simulator's `http://host:port`).
    /// `None` for venues that send snapshots on the stream.
    #[pyo3(signature = (symbol, base = None))]
    fn snapshot_url(&self, symbol: &str, base: Option<&str>) -> PyResult<Option<String>> {
        if self.venue != Venue::Binance {
            return Ok(None);
        }
        let market =
            intern_unified(self.venue, symbol).map_err(|error| PyValueError::new_err(error.to_string()))?;
        let base = base.unwrap_or(binance::REST_URL).trim_end_matches('/');
        Ok(Some(format!("{base}{}", binance::depth_snapshot_path(&market, binance::SNAPSHOT_LIMIT))))
    }

    /// The book snapshot of `symbol` in a REST answer `body` (the page of
    /// [`snapshot_url`](Self::snapshot_url)) as a `BookUpdate` with `is_snapshot` set and the
    /// snapshot's update id as `last_sequence`: how a replay turns a recorded fetch back into
    /// the event a feed starts the book from.
    ///
    /// `ParseError` for a body that is no snapshot (the venue's REST error, say); `ValueError`
    /// for a venue whose books start from no REST snapshot, or an unknown symbol.
    #[pyo3(signature = (symbol, body, receive_time_ns = 0))]
    fn parse_snapshot<'py>(
        &self,
        py: Python<'py>,
        symbol: &str,
        body: &[u8],
        receive_time_ns: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        if self.venue != Venue::Binance {
            return Err(PyValueError::new_err(format!("{} books start from no REST snapshot", self.venue)));
        }
        let market =
            intern_unified(self.venue, symbol).map_err(|error| PyValueError::new_err(error.to_string()))?;
        let snapshot = binance::parse_depth_snapshot(&market, body, receive_time_ns)
            .map_err(|error| parse_error(&error, binance::REST_URL))?;
        event_to_python(py, Event::Book(snapshot))
    }

    /// The messages subscribing to `pairs` of (unified symbol, channel) under `request_id`.
    fn subscribe_request(&self, request_id: u64, pairs: Vec<(String, String)>) -> PyResult<Vec<String>> {
        self.build(Action::Subscribe, request_id, pairs)
    }

    /// The messages cancelling `pairs` under `request_id`.
    fn unsubscribe_request(&self, request_id: u64, pairs: Vec<(String, String)>) -> PyResult<Vec<String>> {
        self.build(Action::Unsubscribe, request_id, pairs)
    }

    /// How many answers the venue sends to a request of `pairs` pairs built as `messages`
    /// messages.
    fn answers_expected(&self, pairs: usize, messages: usize) -> usize {
        self.builder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .answers_expected(pairs, messages)
    }

    /// Messages to send first on every new connection.
    fn on_connect(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.builder.lock().unwrap_or_else(std::sync::PoisonError::into_inner).on_connect(&mut out);
        out
    }

    fn __repr__(&self) -> String {
        format!("<tickwire._core.VenueProtocol {} {} {}>", self.venue, self.spec.endpoint, self.spec.url)
    }
}

/// The endpoint kind that serves `symbol` on `venue`: what `VenueProtocol(venue, kind)` takes.
#[pyfunction]
pub fn endpoint_kind(venue: &str, symbol: &str) -> PyResult<&'static str> {
    let venue = Venue::from_str(venue).map_err(|error| PyValueError::new_err(error.to_string()))?;
    let market = intern_unified(venue, symbol).map_err(|error| PyValueError::new_err(error.to_string()))?;
    Ok(match market.kind {
        InstrumentKind::Spot => "spot",
        _ => "perpetual",
    })
}
