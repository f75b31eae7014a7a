//! The reconnecting `Session` handle and `open_session()` as Python sees them in
//! `tickwire._core`. Thin: option conversion, then calls into [`crate::pool::Session`] and
//! [`super::bridge`].

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::awaitable::awaitable;
use super::bridge;
use super::connection::to_message;
use super::dispatch::{self, PyDispatch};
use super::options::{BreakerOptions, ConnectOptions, PolicyOptions};
use super::venues::PyVenueProtocol;
use crate::conn::{CloseInfo, Decoder, Outbound};
use crate::error::Error;
use crate::pool::{Session, SessionConfig, SessionEvent};
use crate::venues::{DecodeStats, VenueDecoder};

/// Handle of one reconnecting session; wrapped by `tickwire.Session`.
#[pyclass(name = "Session", module = "tickwire._core", frozen)]
pub struct PySession {
    session: Session,
    url: String,
    on_connect: Arc<Mutex<Vec<Outbound>>>,
    decode_stats: Option<Arc<DecodeStats>>,
}

/// Starts a session; its first connection opens in the background. With `venue` (a
/// [`PyVenueProtocol`]), messages are decoded by the venue's adapter on the I/O thread.
#[pyfunction]
#[pyo3(signature = (url, options, policy, breaker, on_connect, venue = None))]
pub fn open_session(
    url: String,
    options: ConnectOptions,
    policy: PolicyOptions,
    breaker: Option<BreakerOptions>,
    on_connect: Vec<Bound<'_, PyAny>>,
    venue: Option<&Bound<'_, PyVenueProtocol>>,
) -> PyResult<PySession> {
    let runtime = crate::runtime::runtime()?;
    let config = SessionConfig {
        connect: options.into_config(url.clone())?,
        policy: policy.into_policy()?,
        breaker: breaker.map(BreakerOptions::into_policy).transpose()?,
    };
    let messages =
        on_connect.into_iter().map(|message| to_message(&message)).collect::<PyResult<Vec<_>>>()?;
    let on_connect = Arc::new(Mutex::new(messages));
    let hook = {
        let on_connect = on_connect.clone();
        Box::new(move || on_connect.lock().unwrap_or_else(PoisonError::into_inner).clone())
    };
    let _entered = runtime.enter();
    let (decoder, decode_stats) = match venue {
        None => (None, None),
        Some(venue) => {
            let stats = Arc::new(DecodeStats::default());
            let decoder: Box<dyn Decoder> =
                Box::new(VenueDecoder::new(venue.get().new_adapter()?, stats.clone()));
            (Some(decoder), Some(stats))
        }
    };
    let session = Session::start_decoding(config, hook, decoder)?;
    Ok(PySession { session, url, on_connect, decode_stats })
}

impl PySession {
    fn not_connected(&self) -> PyErr {
        let close = CloseInfo::abnormal("not connected: the session is reconnecting or has ended");
        Error::Closed { url: self.url.clone(), close }.into()
    }

    fn ended(&self) -> PyErr {
        let close = match self.session.end() {
            Some(SessionEvent::GaveUp { reason }) => {
                CloseInfo::abnormal(format!("the session gave up: {reason}"))
            }
            _ => CloseInfo::by_us(1000, "the session was closed"),
        };
        Error::Closed { url: self.url.clone(), close }.into()
    }
}

#[pymethods]
impl PySession {
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    #[getter]
    fn terminated(&self) -> bool {
        self.session.inbox().is_finished()
    }

    #[getter]
    fn connected(&self) -> bool {
        self.session.current().is_some()
    }

    fn fileno(&self) -> i32 {
        self.session.inbox().wake_fd()
    }

    fn queue_len(&self) -> usize {
        self.session.inbox().len()
    }

    fn clear_wake(&self) {
        self.session.inbox().clear_wake();
    }

    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        bridge::try_recv(py, self.session.inbox(), || self.ended())
    }

    fn dispatch(
        &self,
        py: Python<'_>,
        callback: &Bound<'_, PyAny>,
        on_event: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        bridge::dispatch(py, self.session.inbox(), callback, Some(on_event))
    }

    fn dispatch_batch(
        &self,
        py: Python<'_>,
        callback: &Bound<'_, PyAny>,
        on_event: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        bridge::dispatch_batch(py, self.session.inbox(), callback, Some(on_event))
    }

    fn dispatch_market(&self, py: Python<'_>, dispatch: &Bound<'_, PyDispatch>) -> PyResult<bool> {
        dispatch::dispatch_market(py, self.session.inbox(), dispatch.get())
    }

    fn reconnect(&self, reason: &str) -> bool {
        let _entered = crate::runtime::runtime().map(|runtime| runtime.enter());
        self.session.reconnect(reason)
    }

    fn set_on_connect(&self, messages: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
        let messages =
            messages.into_iter().map(|message| to_message(&message)).collect::<PyResult<Vec<_>>>()?;
        *self.on_connect.lock().unwrap_or_else(PoisonError::into_inner) = messages;
        Ok(())
    }

    fn try_send(&self, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        let connection = self.session.current().ok_or_else(|| self.not_connected())?;
        Ok(connection.try_send(to_message(data)?)?)
    }

    fn send_wait<'py>(&self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let message = to_message(data)?;
        let connection = self.session.current().ok_or_else(|| self.not_connected())?;
        awaitable(py, async move { Ok(connection.send(message).await?) })
    }

    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let closed = self.session.close();
        awaitable(py, async move {
            closed.await;
            Ok(())
        })
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        let delivered = self.session.inbox().delivered();
        dict.set_item("connected", self.session.current().is_some())?;
        dict.set_item("reconnects", self.session.reconnects())?;
        dict.set_item("queue_len", self.session.inbox().len())?;
        dict.set_item("queue_capacity", self.session.inbox().capacity())?;
        dict.set_item("messages_delivered", delivered.messages)?;
        dict.set_item("batches_delivered", delivered.batches)?;
        dict.set_item("callback_errors", delivered.callback_errors)?;
        if let Some(decode_stats) = &self.decode_stats {
            for (name, value) in decode_stats.snapshot() {
                dict.set_item(name, value)?;
            }
        }
        if let Some(connection) = self.session.current() {
            let stats = connection.stats();
            dict.set_item("messages_in", stats.messages_in)?;
            dict.set_item("bytes_in", stats.bytes_in)?;
            dict.set_item("queue_full_events", stats.queue_full_events)?;
            dict.set_item("ping_rtt_ns", (stats.pongs_received > 0).then_some(stats.ping_rtt_ns))?;
        }
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        let state = if self.session.is_ended() {
            "ended"
        } else if self.session.current().is_some() {
            "connected"
        } else {
            "reconnecting"
        };
        format!("<tickwire._core.Session {} {state}>", self.url)
    }
}
