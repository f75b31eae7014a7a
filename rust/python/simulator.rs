//! The `Simulator` handle and `start_simulator()` as Python sees them in `tickwire._core`.
//! Thin: argument conversion, then calls into [`crate::sim`]; wrapped by `tickwire.Simulator`.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::model::{Decimal, Venue};
use crate::sim::protocol::venue_sim_with;
use crate::sim::{ApiKey, Credentials, Fault, SimConfig, SimError, Simulator};

impl From<SimError> for PyErr {
    fn from(error: SimError) -> Self {
        match error {
            SimError::Runtime(error) => error.into(),
            SimError::Bind { .. } => PyOSError::new_err(error.to_string()),
            _ => PyValueError::new_err(error.to_string()),
        }
    }
}

fn venue(name: &str) -> PyResult<Venue> {
    Ok(crate::sim::venues::venue_named(name)?)
}

/// One side of a book, best first, as (price, quantity) in their decimal text.
type Levels = Vec<(String, String)>;

/// Handle of one running simulator; wrapped by `tickwire.Simulator`.
#[pyclass(name = "Simulator", module = "tickwire._core", frozen)]
pub struct PySimulator {
    simulator: Mutex<Option<Simulator>>,
}

/// Starts a simulator: binds every venue's port and starts its markets.
#[pyfunction]
#[pyo3(signature = (venues, symbols, rate, seed, depth, faults_per_minute, host, port_base, heartbeat_scale, credentials=Vec::new()))]
#[expect(clippy::too_many_arguments, reason = "the keyword options of tickwire.Simulator, converted once")]
pub fn start_simulator(
    venues: Vec<String>,
    symbols: Vec<String>,
    rate: u64,
    seed: u64,
    depth: usize,
    faults_per_minute: f64,
    host: &str,
    port_base: Option<u16>,
    heartbeat_scale: f64,
    credentials: Vec<(String, String, String)>,
) -> PyResult<PySimulator> {
    let host: IpAddr =
        host.parse().map_err(|_| PyValueError::new_err(format!("host {host:?} is not an IP address")))?;
    let mut keys = Credentials::default();
    for (name, key, secret) in credentials {
        keys.insert(venue(&name)?, ApiKey { key, secret })?;
    }
    let config = SimConfig {
        venues: venues.into_iter().map(|name| venue(&name)).collect::<PyResult<_>>()?,
        symbols,
        rate,
        seed,
        depth,
        faults_per_minute,
        host,
        port_base,
        heartbeat_scale,
        protocol: Arc::new(move |venue| venue_sim_with(venue, &keys)),
        ..SimConfig::default()
    };
    Ok(PySimulator { simulator: Mutex::new(Some(Simulator::start(&config)?)) })
}

impl PySimulator {
    fn with<T>(&self, f: impl FnOnce(&Simulator) -> Result<T, SimError>) -> PyResult<T> {
        let guard: MutexGuard<'_, Option<Simulator>> =
            self.simulator.lock().unwrap_or_else(PoisonError::into_inner);
        let simulator = guard.as_ref().ok_or_else(|| PyValueError::new_err("the simulator is closed"))?;
        Ok(f(simulator)?)
    }
}

#[pymethods]
impl PySimulator {
    #[getter]
    fn closed(&self) -> bool {
        self.simulator.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    fn venues(&self) -> PyResult<Vec<&'static str>> {
        self.with(|sim| Ok(sim.venues().into_iter().map(Venue::as_str).collect()))
    }

    fn urls(&self) -> PyResult<Vec<(&'static str, String)>> {
        self.with(|sim| Ok(sim.urls()))
    }

    #[pyo3(signature = (venue, path=None))]
    fn url(&self, venue: &str, path: Option<&str>) -> PyResult<String> {
        let venue = self::venue(venue)?;
        self.with(|sim| match path {
            Some(path) => sim.url_at(venue, path),
            None => sim.url(venue),
        })
    }

    fn markets(&self, venue: &str) -> PyResult<Vec<(String, String)>> {
        let venue = self::venue(venue)?;
        self.with(|sim| {
            Ok(sim.markets(venue)?.iter().map(|m| (m.unified.to_string(), m.native.to_string())).collect())
        })
    }

    #[pyo3(signature = (venue, fault, symbol=None))]
    fn inject(&self, venue: &str, fault: &str, symbol: Option<&str>) -> PyResult<usize> {
        let venue = self::venue(venue)?;
        let fault: Fault = fault.parse()?;
        self.with(|sim| sim.inject(venue, fault, symbol))
    }

    #[pyo3(signature = (venue=None))]
    fn pause(&self, venue: Option<&str>) -> PyResult<()> {
        let venue = venue.map(self::venue).transpose()?;
        self.with(|sim| sim.pause(venue))
    }

    #[pyo3(signature = (venue=None))]
    fn resume(&self, venue: Option<&str>) -> PyResult<()> {
        let venue = venue.map(self::venue).transpose()?;
        self.with(|sim| sim.resume(venue))
    }

    fn book(&self, venue: &str, symbol: &str) -> PyResult<(Levels, Levels, u64)> {
        let venue = self::venue(venue)?;
        let book = self.with(|sim| sim.book(venue, symbol))?;
        let text = |(price, qty): (&Decimal, &Decimal)| (price.to_string(), qty.to_string());
        Ok((book.bids.iter().rev().map(text).collect(), book.asks.iter().map(text).collect(), book.update_id))
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.with(|sim| Ok(sim.stats()))?;
        let all = PyDict::new(py);
        for venue in stats.venues {
            let dict = PyDict::new(py);
            dict.set_item("happenings", venue.happenings)?;
            dict.set_item("frames_sent", venue.frames_sent)?;
            dict.set_item("bytes_sent", venue.bytes_sent)?;
            dict.set_item("clients_connected", venue.clients_connected)?;
            dict.set_item("clients_total", venue.clients_total)?;
            dict.set_item("http_requests", venue.http_requests)?;
            dict.set_item("slow_disconnects", venue.slow_disconnects)?;
            dict.set_item("heartbeat_disconnects", venue.heartbeat_disconnects)?;
            let faults = PyDict::new(py);
            for (fault, count) in Fault::ALL.iter().zip(venue.faults) {
                faults.set_item(fault.as_str(), count)?;
            }
            dict.set_item("faults", faults)?;
            all.set_item(venue.venue.map_or("?", Venue::as_str), dict)?;
        }
        Ok(all)
    }

    /// Stops the simulator, blocking (without the interpreter) for the few milliseconds that
    /// takes. Not an awaitable on purpose: a tokio task that resolves a Python future can still
    /// be inside the interpreter when the process exits right after, which aborts it.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let simulator = self.simulator.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(mut simulator) = simulator {
            let runtime = crate::runtime::runtime()?;
            py.detach(|| runtime.block_on(simulator.stop()));
        }
        Ok(())
    }

    fn __repr__(&self) -> String {
        match &*self.simulator.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(sim) => format!("<tickwire._core.Simulator {sim:?}>"),
            None => "<tickwire._core.Simulator closed>".to_owned(),
        }
    }
}
