//! The `Subscriptions` handle as Python sees it in `tickwire._core`: a
//! [`SubscriptionManager`] driven by `tickwire.Feed` for a venue defined in Python. Thin:
//! argument checks, then one call into [`crate::subscribe`] per method.
//!
//! Time crosses as `time.monotonic_ns()` values, which become the manager's `Duration` since
//! the clock's epoch. Arguments are checked here so that no panic of the manager's constructors
//! and no `Duration` overflow of its arithmetic can reach Python.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::options::seconds;
use crate::subscribe::{Gcra, Kind, SubscribeConfig, SubscriptionManager};

/// One request for the venue: `(request id, is_subscribe, ids)`.
type RequestTuple = (u64, bool, Vec<u32>);
/// One failure: `(was_subscribe, ids, reason, attempts)`.
type FailureTuple = (bool, Vec<u32>, String, u32);

/// Subscriptions of one venue connection; wrapped by `tickwire.Feed`.
#[pyclass(name = "Subscriptions", module = "tickwire._core", frozen)]
pub struct PySubscriptions {
    // Only the Python thread holding the interpreter touches it, so it is never contended.
    manager: Mutex<SubscriptionManager>,
}

/// A count of at least 1 that fits `T`.
fn positive<T: TryFrom<i64>>(name: &str, value: i64) -> PyResult<T> {
    if value < 1 {
        return Err(PyValueError::new_err(format!("{name} must be at least 1, not {value}")));
    }
    T::try_from(value).map_err(|_| PyValueError::new_err(format!("{name} is too large: {value}")))
}

/// A positive number of seconds no longer than the `monotonic_ns()` clock can count, so that
/// `now + duration` cannot overflow.
fn span(name: &str, value: f64) -> PyResult<Duration> {
    let duration = seconds(name, value)?;
    if duration > Duration::from_nanos(u64::MAX) {
        return Err(PyValueError::new_err(format!("{name} is too long: {value} seconds")));
    }
    Ok(duration)
}

const fn since_epoch(now_ns: u64) -> Duration {
    Duration::from_nanos(now_ns)
}

impl PySubscriptions {
    fn manager(&self) -> MutexGuard<'_, SubscriptionManager> {
        self.manager.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl PySubscriptions {
    #[new]
    #[pyo3(signature = (batch_size, rate_count, rate_per, burst, confirm_timeout, retry_delay, max_attempts))]
    fn new(
        batch_size: i64,
        rate_count: i64,
        rate_per: f64,
        burst: i64,
        confirm_timeout: f64,
        retry_delay: f64,
        max_attempts: i64,
    ) -> PyResult<Self> {
        let config = SubscribeConfig {
            batch_size: positive("batch_size", batch_size)?,
            rate: Gcra::new(
                positive("rate_count", rate_count)?,
                span("rate_per", rate_per)?,
                positive("burst", burst)?,
            ),
            confirm_timeout: span("confirm_timeout", confirm_timeout)?,
            retry_delay: span("retry_delay", retry_delay)?,
            max_attempts: positive("max_attempts", max_attempts)?,
        };
        Ok(Self { manager: Mutex::new(SubscriptionManager::new(config)) })
    }

    fn request(&self, ids: Vec<u32>) -> usize {
        self.manager().request_subscription(ids)
    }

    fn unrequest(&self, ids: Vec<u32>) -> usize {
        self.manager().request_unsubscription(ids)
    }

    fn refresh(&self, ids: Vec<u32>) -> usize {
        self.manager().request_refresh(ids)
    }

    fn next_requests(&self, now_ns: u64) -> Vec<RequestTuple> {
        let requests = self.manager().next_requests(since_epoch(now_ns));
        requests
            .into_iter()
            .map(|request| (request.id, request.kind == Kind::Subscribe, request.ids))
            .collect()
    }

    /// A negative id is one the manager never issued, hence unknown like any other.
    fn confirm(&self, request_id: i64) -> bool {
        u64::try_from(request_id).is_ok_and(|id| self.manager().confirm(id).is_ok())
    }

    fn reject(&self, request_id: i64, reason: String, now_ns: u64) -> bool {
        u64::try_from(request_id)
            .is_ok_and(|id| self.manager().reject(id, reason, since_epoch(now_ns)).is_ok())
    }

    fn oldest_sent(&self) -> Option<u64> {
        self.manager().oldest_sent()
    }

    fn expire(&self, now_ns: u64) -> usize {
        self.manager().expire(since_epoch(now_ns))
    }

    fn on_reconnect(&self) {
        self.manager().on_reconnect();
    }

    fn take_failures(&self) -> Vec<FailureTuple> {
        let failures = self.manager().take_failures();
        failures
            .into_iter()
            .map(|failure| {
                let reason = failure.reason.to_string();
                (failure.kind == Kind::Subscribe, failure.ids, reason, failure.attempts)
            })
            .collect()
    }

    fn next_wakeup_ns(&self) -> Option<u64> {
        let wakeup = self.manager().next_wakeup()?;
        // A deadline past the clock's range is as good as never; saturate rather than wrap.
        Some(u64::try_from(wakeup.as_nanos()).unwrap_or(u64::MAX))
    }

    fn is_active(&self, id: u32) -> bool {
        self.manager().is_active(id)
    }

    fn active(&self) -> Vec<u32> {
        self.manager().active().iter().collect()
    }

    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counts = self.manager().counts();
        let dict = PyDict::new(py);
        dict.set_item("requested", counts.requested)?;
        dict.set_item("active", counts.active)?;
        dict.set_item("in_flight", counts.in_flight)?;
        dict.set_item("retrying", counts.retrying)?;
        dict.set_item("requests_sent", counts.requests_sent)?;
        dict.set_item("failed_attempts", counts.failed_attempts)?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        let counts = self.manager().counts();
        format!(
            "<tickwire._core.Subscriptions requested={} active={} in_flight={}>",
            counts.requested, counts.active, counts.in_flight
        )
    }
}
