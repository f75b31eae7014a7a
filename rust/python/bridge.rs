//! Received messages → Python objects: the only crossing from the I/O side into Python.
//!
//! It runs on the asyncio loop's thread, entered once per wake-up: [`dispatch`] turns every
//! queued message (up to [`DISPATCH_LIMIT`]) into `str` or `bytes` and calls the callback with
//! each, inside that one entry. The I/O tasks never get here.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::conn::{Connection, Drained, Payload};
use crate::pool::SessionEvent;

/// Most messages handed over in one loop turn, so a firehose cannot starve the asyncio loop;
/// the rest follow on the next turn.
pub const DISPATCH_LIMIT: usize = 2048;

/// A received message as the Python object users get: text → `str`, binary → `bytes`; a
/// session event → a `dict` with its `"event"` name and fields.
///
/// # Errors
/// Only if building an event's `dict` fails (out of memory).
pub fn to_python<'py>(py: Python<'py>, message: Payload<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match message {
        Payload::Text(text) => PyString::new(py, text).into_any(),
        Payload::Binary(data) => PyBytes::new(py, data).into_any(),
        Payload::Event(event) => event_to_python(py, event)?.into_any(),
    })
}

fn event_to_python<'py>(py: Python<'py>, event: &SessionEvent) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("event", event.name())?;
    dict.set_item("message", event.to_string())?;
    match event {
        SessionEvent::Connecting { attempt } | SessionEvent::Connected { attempt } => {
            dict.set_item("attempt", attempt)?;
        }
        SessionEvent::Reconnecting { attempt, delay } => {
            dict.set_item("attempt", attempt)?;
            dict.set_item("delay", delay.as_secs_f64())?;
        }
        SessionEvent::Disconnected { close } => {
            dict.set_item("code", close.code)?;
            dict.set_item("reason", &close.reason)?;
        }
        SessionEvent::CircuitOpen { retry_in, .. } => dict.set_item("retry_in", retry_in.as_secs_f64())?,
        SessionEvent::ConnectFailed { .. } | SessionEvent::GaveUp { .. } | SessionEvent::Closed => {}
    }
    Ok(dict)
}

/// Delivers queued messages to `callback`; returns whether the connection has ended with every
/// message delivered.
///
/// # Errors
/// The callback's exception, after counting it; the messages behind it stay queued and a
/// wake-up is left pending for them.
pub fn dispatch(py: Python<'_>, connection: &Connection, callback: &Bound<'_, PyAny>) -> PyResult<bool> {
    let outcome = connection.drain(DISPATCH_LIMIT, |message| {
        to_python(py, message).and_then(|object| callback.call1((object,))).map(drop)
    });
    match outcome {
        Drained::Done { .. } => Ok(connection.is_drained()),
        Drained::Failed { error, .. } => {
            connection.inbox().count_callback_error();
            Err(error)
        }
    }
}

/// Delivers queued messages to `callback` as one `list`, in one call; returns whether the
/// connection has ended with every message delivered.
///
/// # Errors
/// The callback's exception, after counting it; the list's messages count as delivered.
pub fn dispatch_batch(
    py: Python<'_>,
    connection: &Connection,
    callback: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let mut batch = Vec::with_capacity(connection.inbox().len().min(DISPATCH_LIMIT));
    let outcome = connection.drain(DISPATCH_LIMIT, |message| {
        batch.push(to_python(py, message)?);
        Ok::<(), PyErr>(())
    });
    if let Drained::Failed { error, .. } = outcome {
        return Err(error);
    }
    if !batch.is_empty() {
        let list = PyList::new(py, batch)?;
        if let Err(error) = callback.call1((list,)) {
            connection.inbox().count_callback_error();
            return Err(error);
        }
    }
    Ok(connection.is_drained())
}

/// The next message, `None` when none is waiting (the wake-up is then armed).
///
/// # Errors
/// `ConnectionClosed` (or `ProtocolError`) once the connection has ended and every message
/// has been taken.
pub fn try_recv<'py>(py: Python<'py>, connection: &Connection) -> PyResult<Option<Bound<'py, PyAny>>> {
    if let Some(message) = connection.try_recv(|message| to_python(py, message)) {
        return message.map(Some);
    }
    if !connection.inbox().is_finished() {
        return Ok(None);
    }
    // Finished: everything was queued before the flag was set, so one more look is final.
    match connection.try_recv(|message| to_python(py, message)) {
        Some(message) => message.map(Some),
        None => Err(connection.closed_error().into()),
    }
}
