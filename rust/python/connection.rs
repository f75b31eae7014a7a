//! The `Connection` handle and `connect()` as Python sees them in `tickwire._core`.
//! Thin: argument conversion, then a call into [`crate::conn`] or [`super::bridge`].

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::bridge;
use crate::config::ConnectConfig;
use crate::conn::{Connection, Outbound, check_close};

/// Handle of one connection; wrapped by `tickwire.Connection`.
#[pyclass(name = "Connection", module = "tickwire._core", frozen)]
pub struct PyConnection {
    connection: Connection,
}

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).ok().filter(|duration| !duration.is_zero()).ok_or_else(|| {
        PyValueError::new_err(format!("{name} must be a positive number of seconds, not {value}"))
    })
}

/// Opens a connection; returns an awaitable of `Connection`.
#[pyfunction]
#[pyo3(signature = (
    url, *, nodelay, recv_buffer, send_buffer, max_message_size, max_frame_size, headers, ca_file,
    open_timeout, close_timeout, max_queue, read_buffer_size, ping_interval, stale_timeout
))]
#[allow(clippy::too_many_arguments, reason = "mirrors the keyword-only options of tickwire.connect")]
pub fn connect(
    py: Python<'_>,
    url: String,
    nodelay: bool,
    recv_buffer: Option<u32>,
    send_buffer: Option<u32>,
    max_message_size: usize,
    max_frame_size: usize,
    headers: Vec<(String, String)>,
    ca_file: Option<PathBuf>,
    open_timeout: f64,
    close_timeout: f64,
    max_queue: usize,
    read_buffer_size: usize,
    ping_interval: Option<f64>,
    stale_timeout: Option<f64>,
) -> PyResult<Bound<'_, PyAny>> {
    crate::runtime::runtime()?;
    let config = ConnectConfig {
        url,
        nodelay,
        recv_buffer_bytes: recv_buffer,
        send_buffer_bytes: send_buffer,
        max_message_bytes: max_message_size,
        max_frame_bytes: max_frame_size,
        headers,
        ca_file,
        open_timeout: seconds("open_timeout", open_timeout)?,
        close_timeout: seconds("close_timeout", close_timeout)?,
        max_queue,
        read_buffer_bytes: read_buffer_size,
        ping_interval: ping_interval.map(|value| seconds("ping_interval", value)).transpose()?,
        stale_timeout: stale_timeout.map(|value| seconds("stale_timeout", value)).transpose()?,
    };
    config.validate()?;
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        let connection = Connection::connect(config).await?;
        Ok(PyConnection { connection })
    })
}

/// `str` → text frame; `bytes`, `bytearray`, `memoryview` and other buffers → binary frame.
fn to_message(data: &Bound<'_, PyAny>) -> PyResult<Outbound> {
    if let Ok(text) = data.cast::<PyString>() {
        return Ok(Outbound::Text(text.to_str()?.to_owned()));
    }
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return Ok(Outbound::Binary(Bytes::copy_from_slice(bytes.as_bytes())));
    }
    match PyBuffer::<u8>::get(data) {
        Ok(buffer) => Ok(Outbound::Binary(Bytes::from(buffer.to_vec(data.py())?))),
        Err(_) => Err(PyTypeError::new_err(format!(
            "send() takes str or a bytes-like object, not {}",
            data.get_type().name()?
        ))),
    }
}

#[pymethods]
impl PyConnection {
    #[getter]
    fn url(&self) -> &str {
        self.connection.url()
    }

    #[getter]
    fn state(&self) -> &'static str {
        self.connection.state().as_str()
    }

    #[getter]
    fn terminated(&self) -> bool {
        self.connection.inbox().is_finished()
    }

    #[getter]
    fn close_code(&self) -> Option<u16> {
        self.connection.state().is_terminal().then(|| self.connection.close_info().map(|close| close.code))?
    }

    #[getter]
    fn close_reason(&self) -> Option<String> {
        self.connection
            .state()
            .is_terminal()
            .then(|| self.connection.close_info().map(|close| close.reason))?
    }

    fn fileno(&self) -> i32 {
        self.connection.inbox().wake_fd()
    }

    fn queue_len(&self) -> usize {
        self.connection.inbox().len()
    }

    fn clear_wake(&self) {
        self.connection.inbox().clear_wake();
    }

    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        bridge::try_recv(py, &self.connection)
    }

    fn dispatch(&self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<bool> {
        bridge::dispatch(py, &self.connection, callback)
    }

    fn dispatch_batch(&self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<bool> {
        bridge::dispatch_batch(py, &self.connection, callback)
    }

    fn try_send(&self, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.connection.try_send(to_message(data)?)?)
    }

    fn send_wait<'py>(&self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let message = to_message(data)?;
        let connection = self.connection.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(connection.send(message).await?) })
    }

    #[pyo3(signature = (code=1000, reason=""))]
    fn close<'py>(&self, py: Python<'py>, code: u16, reason: &str) -> PyResult<Bound<'py, PyAny>> {
        check_close(code, reason)?;
        let reason = reason.to_owned();
        let connection = self.connection.clone();
        pyo3_async_runtimes::tokio::future_into_py(
            py,
            async move { Ok(connection.close(code, &reason).await?) },
        )
    }

    fn set_read_buffer_capacity(&self, capacity: usize) -> PyResult<()> {
        Ok(self.connection.set_read_buffer_capacity(capacity)?)
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.connection.stats();
        let dict = PyDict::new(py);
        dict.set_item("state", self.connection.state().as_str())?;
        dict.set_item("messages_in", stats.messages_in)?;
        dict.set_item("bytes_in", stats.bytes_in)?;
        dict.set_item("messages_out", stats.messages_out)?;
        dict.set_item("bytes_out", stats.bytes_out)?;
        dict.set_item("connect_time_ns", stats.connect_time_ns)?;
        dict.set_item("connected_at_ns", stats.connected_at_ns)?;
        dict.set_item("last_message_ns", (stats.last_message_ns > 0).then_some(stats.last_message_ns))?;
        dict.set_item("queue_len", stats.queue_len)?;
        dict.set_item("queue_capacity", stats.queue_capacity)?;
        dict.set_item("queue_full_events", stats.queue_full_events)?;
        dict.set_item("queue_full_ns", stats.queue_full_ns)?;
        dict.set_item("messages_delivered", stats.messages_delivered)?;
        dict.set_item("batches_delivered", stats.batches_delivered)?;
        dict.set_item("callback_errors", stats.callback_errors)?;
        dict.set_item("read_buffer_capacity", stats.read_buffer_capacity)?;
        dict.set_item("last_receive_ns", stats.last_receive_ns)?;
        dict.set_item("pings_sent", stats.pings_sent)?;
        dict.set_item("pongs_received", stats.pongs_received)?;
        dict.set_item("last_pong_ns", (stats.last_pong_ns > 0).then_some(stats.last_pong_ns))?;
        dict.set_item("ping_rtt_ns", (stats.pongs_received > 0).then_some(stats.ping_rtt_ns))?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        format!("<tickwire._core.Connection {} {}>", self.connection.url(), self.connection.state().as_str())
    }
}
