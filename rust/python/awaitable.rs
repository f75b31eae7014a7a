//! Rust futures as Python awaitables, counted so the interpreter's exit can wait for them.
//!
//! `pyo3-async-runtimes` completes an awaitable from a tokio thread, which takes the
//! interpreter to hand over the result. If the interpreter is finalizing by then, Python 3.11
//! ends that thread from inside the lock (`pthread_exit`), and unwinding through Rust frames
//! aborts the process. So every awaitable is counted while its Rust future runs, and an
//! `atexit` hook ([`quiesce`]) waits, without the interpreter, until none is left (or a limit
//! passes) before finalization starts.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// Awaitables whose Rust future has not finished.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// How long the hand-over of a finished future's result may take after the future itself.
const HAND_OVER: Duration = Duration::from_millis(20);

struct Counted;

impl Drop for Counted {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `future` as a Python awaitable, counted until it finishes.
///
/// # Errors
/// As `pyo3_async_runtimes::tokio::future_into_py`: no running asyncio loop.
pub fn awaitable<'py, F, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
    let counted = Counted;
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        let _counted = counted;
        future.await
    })
}

/// Waits, without the interpreter, until no awaitable is in flight (at most `timeout`
/// seconds), then a moment for the last results to be handed over; returns how many were
/// still in flight. Returns at once when none is. Registered with `atexit` by `tickwire`.
#[pyfunction]
#[pyo3(signature = (timeout = 1.0))]
pub fn quiesce(py: Python<'_>, timeout: f64) -> usize {
    let limit = Duration::try_from_secs_f64(timeout).unwrap_or(Duration::ZERO);
    if IN_FLIGHT.load(Ordering::Acquire) == 0 {
        return 0;
    }
    py.detach(|| {
        let deadline = Instant::now() + limit;
        while IN_FLIGHT.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(HAND_OVER);
        IN_FLIGHT.load(Ordering::Acquire)
    })
}
