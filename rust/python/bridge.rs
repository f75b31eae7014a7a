//! Received messages → Python objects: the only crossing from the I/O side into Python.
//!
//! It runs on the asyncio loop's thread, entered once per wake-up: [`dispatch`] turns every
//! queued message (up to [`DISPATCH_LIMIT`]) into `str` or `bytes` and calls the callback with
//! each (or [`dispatch_batch`] with lists of them), inside that one entry; session events go to
//! the event handler in their place in the stream. The I/O tasks never get here. Connections
//! and sessions are consumed alike, through their [`Inbox`].

use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use super::dispatch::control_to_python;
use super::events::{event_to_python, parse_error};
use crate::conn::{Drained, Inbox, Payload};
use crate::pool::SessionEvent;
use crate::venues::Decoded;

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
        Payload::Ascii(text) => ascii_string(py, text)?.into_any(),
        Payload::Binary(data) => PyBytes::new(py, data).into_any(),
        Payload::Event(event) => session_event_to_python(py, event)?.into_any(),
        Payload::Decoded(Decoded::Event(event)) => event_to_python(py, event.clone())?,
        Payload::Decoded(Decoded::Control(control)) => match control_to_python(py, control)? {
            Some(dict) => dict.into_any(),
            None => py.None().into_bound(py),
        },
        Payload::Decoded(Decoded::Error(error)) => {
            parse_error(error, "").into_value(py).into_bound(py).into_any()
        }
    })
}

/// A `str` of ASCII text, made by copying the bytes into a compact ASCII string: the reader
/// has already checked them, so `CPython`'s own decoding pass is skipped.
fn ascii_string<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyString>> {
    debug_assert!(text.is_ascii());
    let len = pyo3::ffi::Py_ssize_t::try_from(text.len())
        .map_err(|_| PyOverflowError::new_err("message too long"))?;
    // SAFETY: PyUnicode_New(len, 127) returns a new compact ASCII string of `len` one-byte
    // characters (or null with an exception set); we fill exactly `len` bytes of its data with
    // ASCII bytes, which is its required content, before anything else sees it.
    unsafe {
        let string = pyo3::ffi::PyUnicode_New(len, 127);
        if string.is_null() {
            return Err(PyErr::fetch(py));
        }
        std::ptr::copy_nonoverlapping(text.as_ptr(), pyo3::ffi::PyUnicode_1BYTE_DATA(string), text.len());
        Ok(Bound::from_owned_ptr(py, string).cast_into_unchecked())
    }
}

pub(super) fn session_event_to_python<'py>(
    py: Python<'py>,
    event: &SessionEvent,
) -> PyResult<Bound<'py, PyDict>> {
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

/// Calls `on_event` with an event, or `callback` when the consumer has no event handler.
fn deliver_event(
    py: Python<'_>,
    event: &SessionEvent,
    callback: &Bound<'_, PyAny>,
    on_event: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    on_event.unwrap_or(callback).call1((session_event_to_python(py, event)?,)).map(drop)
}

/// Delivers queued messages to `callback`, one call each, and events to `on_event`; returns
/// whether the inbox has ended with everything delivered.
///
/// # Errors
/// A callback's exception, after counting it; what is behind it stays queued and a wake-up is
/// left pending for it.
pub fn dispatch(
    py: Python<'_>,
    inbox: &Inbox,
    callback: &Bound<'_, PyAny>,
    on_event: Option<&Bound<'_, PyAny>>,
) -> PyResult<bool> {
    let outcome = inbox.drain(DISPATCH_LIMIT, |message| match message {
        Payload::Event(event) => deliver_event(py, event, callback, on_event),
        message => to_python(py, message).and_then(|object| callback.call1((object,))).map(drop),
    });
    finish(inbox, outcome)
}

/// Delivers queued messages to `callback` as lists, one call per run of messages, and events to
/// `on_event` between them, in order; returns whether the inbox has ended with everything
/// delivered.
///
/// # Errors
/// A callback's exception, after counting it; the messages of a failed list count as delivered.
pub fn dispatch_batch(
    py: Python<'_>,
    inbox: &Inbox,
    callback: &Bound<'_, PyAny>,
    on_event: Option<&Bound<'_, PyAny>>,
) -> PyResult<bool> {
    let mut batch = Vec::with_capacity(inbox.len().min(DISPATCH_LIMIT));
    let flush = |batch: &mut Vec<Bound<'_, PyAny>>| -> PyResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let list = PyList::new(py, batch.drain(..))?;
        callback.call1((list,)).map(drop)
    };
    let outcome = inbox.drain(DISPATCH_LIMIT, |message| match message {
        Payload::Event(event) => {
            flush(&mut batch)?;
            deliver_event(py, event, callback, on_event)
        }
        message => {
            batch.push(to_python(py, message)?);
            Ok(())
        }
    });
    let outcome = match outcome {
        Drained::Done { delivered } => match flush(&mut batch) {
            Ok(()) => Drained::Done { delivered },
            Err(error) => Drained::Failed { delivered, error },
        },
        failed @ Drained::Failed { .. } => failed,
    };
    finish(inbox, outcome)
}

fn finish(inbox: &Inbox, outcome: Drained<PyErr>) -> PyResult<bool> {
    match outcome {
        Drained::Done { .. } => Ok(inbox.is_finished() && inbox.is_empty()),
        Drained::Failed { error, .. } => {
            inbox.count_callback_error();
            Err(error)
        }
    }
}

/// The next message (or event, as a `dict`), `None` when none is waiting (the wake-up is then
/// armed).
///
/// # Errors
/// `ended()` once the inbox has ended and everything has been taken.
pub fn try_recv<'py>(
    py: Python<'py>,
    inbox: &Inbox,
    ended: impl FnOnce() -> PyErr,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if let Some(message) = inbox.pop_or_arm(|message| to_python(py, message)) {
        return message.map(Some);
    }
    if !inbox.is_finished() {
        return Ok(None);
    }
    // Finished: everything was queued before the flag was set, so one more look is final.
    match inbox.pop_or_arm(|message| to_python(py, message)) {
        Some(message) => message.map(Some),
        None => Err(ended()),
    }
}
