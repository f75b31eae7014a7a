//! The `Connection` handle and `connect()` as Python sees them in `tickwire._core`.
//! Thin: argument conversion, then a call into [`crate::conn`] or [`super::bridge`].

use bytes::Bytes;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::awaitable::awaitable;
use super::bridge;
use super::options::ConnectOptions;
use crate::conn::{Connection, Outbound, check_close};

/// Handle of one connection; wrapped by `tickwire.Connection`.
#[pyclass(name = "Connection", module = "tickwire._core", frozen)]
pub struct PyConnection {
    connection: Connection,
}

/// Opens a connection; returns an awaitable of `Connection`.
#[pyfunction]
pub fn connect(py: Python<'_>, url: String, options: ConnectOptions) -> PyResult<Bound<'_, PyAny>> {
    crate::runtime::runtime()?;
    let config = options.into_config(url)?;
    awaitable(py, async move {
        let connection = Connection::connect(config).await?;
        Ok(PyConnection { connection })
    })
}

/// `str` → text frame; `bytes`, `bytearray`, `memoryview` and other buffers → binary frame.
pub(super) fn to_message(data: &Bound<'_, PyAny>) -> PyResult<Outbound> {
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
        bridge::try_recv(py, self.connection.inbox(), || self.connection.closed_error().into())
    }

    fn dispatch(&self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<bool> {
        bridge::dispatch(py, self.connection.inbox(), callback, None)
    }

    fn dispatch_batch(&self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<bool> {
        bridge::dispatch_batch(py, self.connection.inbox(), callback, None)
    }

    fn try_send(&self, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.connection.try_send(to_message(data)?)?)
    }

    fn send_wait<'py>(&self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let message = to_message(data)?;
        let connection = self.connection.clone();
        awaitable(py, async move { Ok(connection.send(message).await?) })
    }

    #[pyo3(signature = (code=1000, reason=""))]
    fn close<'py>(&self, py: Python<'py>, code: u16, reason: &str) -> PyResult<Bound<'py, PyAny>> {
        check_close(code, reason)?;
        let reason = reason.to_owned();
        let connection = self.connection.clone();
        awaitable(py, async move { Ok(connection.close(code, &reason).await?) })
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
