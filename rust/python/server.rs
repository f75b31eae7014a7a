//! The broadcast `Server` handle and `start_server()` as Python sees them in `tickwire._core`.
//! Thin: option conversion, then calls into [`crate::server`]; wrapped by `tickwire.Server`.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::awaitable::awaitable;
use crate::server::{Server, ServerConfig, ServerError, TlsFiles};

impl From<ServerError> for PyErr {
    fn from(error: ServerError) -> Self {
        match error {
            ServerError::Runtime(error) => error.into(),
            ServerError::Bind { .. } | ServerError::Dashboard { .. } | ServerError::Tls { .. } => {
                PyOSError::new_err(error.to_string())
            }
            ServerError::Config(_) | ServerError::Publish(_) => PyValueError::new_err(error.to_string()),
        }
    }
}

/// Handle of one running broadcast server; wrapped by `tickwire.Server`.
#[pyclass(name = "Server", module = "tickwire._core", frozen)]
pub struct PyServer {
    server: Mutex<Option<Server>>,
    host: String,
    port: u16,
}

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).ok().filter(|duration| !duration.is_zero()).ok_or_else(|| {
        PyValueError::new_err(format!("{name} must be a positive number of seconds, not {value}"))
    })
}

/// Starts a broadcast server: binds, then serves on the crate's runtime.
#[pyfunction]
#[pyo3(signature = (
    host, port, *, token = None, allowed_origins = None, max_connections = 1000,
    max_message_size = 65536, client_rate = 50, client_burst = 100, heartbeat_interval = 30.0,
    history = 10_000, queue_soft_limit = 1024, critical_limit = 4096, dashboard_dir = None,
    echo_route = false, tls_cert = None, tls_key = None,
))]
#[expect(clippy::too_many_arguments, reason = "the keyword options of tickwire.Server, converted once")]
pub fn start_server(
    host: String,
    port: u16,
    token: Option<String>,
    allowed_origins: Option<Vec<String>>,
    max_connections: usize,
    max_message_size: usize,
    client_rate: u32,
    client_burst: u32,
    heartbeat_interval: f64,
    history: usize,
    queue_soft_limit: usize,
    critical_limit: usize,
    dashboard_dir: Option<PathBuf>,
    echo_route: bool,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
) -> PyResult<PyServer> {
    let tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => return Err(PyValueError::new_err("tls_cert and tls_key go together")),
    };
    let config = ServerConfig {
        host: host.clone(),
        port,
        token,
        allowed_origins,
        max_connections,
        max_message_size,
        client_rate,
        client_burst,
        heartbeat_interval: seconds("heartbeat_interval", heartbeat_interval)?,
        history,
        queue_soft_limit,
        critical_limit,
        dashboard_dir,
        echo_route,
        tls,
    };
    let server = Server::start(config)?;
    let port = server.address().port();
    Ok(PyServer { server: Mutex::new(Some(server)), host, port })
}

impl PyServer {
    /// The running server's hub, for bridging a feed into it.
    pub(super) fn hub(&self) -> PyResult<std::sync::Arc<crate::server::Hub>> {
        self.with(|server| Ok(server.hub().clone()))
    }

    fn server(&self) -> MutexGuard<'_, Option<Server>> {
        self.server.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with<T>(&self, f: impl FnOnce(&Server) -> PyResult<T>) -> PyResult<T> {
        let guard = self.server();
        let server = guard.as_ref().ok_or_else(|| PyValueError::new_err("the server is stopped"))?;
        f(server)
    }
}

#[pymethods]
impl PyServer {
    #[getter]
    fn host(&self) -> &str {
        &self.host
    }

    #[getter]
    const fn port(&self) -> u16 {
        self.port
    }

    #[getter]
    fn running(&self) -> bool {
        self.server().is_some()
    }

    #[pyo3(signature = (kind, data = None, symbol = None, message = None, sub_key = 0))]
    fn publish(
        &self,
        kind: &str,
        data: Option<&str>,
        symbol: Option<&str>,
        message: Option<&str>,
        sub_key: u8,
    ) -> PyResult<u64> {
        self.with(|server| Ok(server.publish(kind, symbol, sub_key, data, message)?))
    }

    fn connections(&self) -> PyResult<usize> {
        self.with(|server| Ok(server.hub().client_count()))
    }

    fn last_seq(&self) -> PyResult<u64> {
        self.with(|server| Ok(server.hub().last_seq()))
    }

    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counters = self.with(|server| Ok(server.hub().metrics.counters()))?;
        let dict = PyDict::new(py);
        for (name, value) in counters {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    fn prometheus(&self) -> PyResult<String> {
        self.with(|server| Ok(server.hub().metrics.prometheus()))
    }

    /// The log lines since the last call as `(level, text)`, and how many were dropped.
    fn take_logs<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, u64)> {
        let (lines, dropped) = self.with(|server| Ok(server.hub().take_logs()))?;
        let lines = PyList::new(py, lines.into_iter().map(|line| (line.level, line.text)))?;
        Ok((lines, dropped))
    }

    /// Stops accepting and closes every connection (1001), waiting at most `timeout` seconds
    /// for them to end.
    #[pyo3(signature = (timeout = 2.0))]
    fn stop<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Bound<'py, PyAny>> {
        let timeout = seconds("timeout", timeout)?;
        let server = self.server().take();
        awaitable(py, async move {
            if let Some(mut server) = server {
                server.stop(timeout).await;
            }
            Ok(())
        })
    }

    fn __repr__(&self) -> String {
        let state = if self.server().is_some() { "running" } else { "stopped" };
        format!("<tickwire._core.Server {}:{} {state}>", self.host, self.port)
    }
}
