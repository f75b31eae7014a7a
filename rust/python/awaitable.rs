//! Rust futures as Python awaitables, counted so the interpreter's exit can wait for them.
//!
//! A Rust future runs on the tokio runtime; when it ends, its result is handed to the asyncio
//! future the caller awaits, through `loop.call_soon_threadsafe` — which takes the interpreter
//! on a tokio thread, and inside (writing to the loop's self-pipe) lets go of it and takes it
//! again. If the interpreter is finalizing by then, Python 3.11 ends that thread from inside
//! the lock (`pthread_exit`), and unwinding through Rust frames aborts the process. So every
//! awaitable is counted from its start until its result has been handed over, hand-over
//! included, and an `atexit` hook ([`quiesce`]) waits, without the interpreter, until none is
//! left (or a limit passes) before finalization starts.
//!
//! (`pyo3-async-runtimes`' `future_into_py`, used before, did the hand-over after the point
//! where it could be counted, and a process that ended right after its last awaitable aborted
//! about half the time when the peer was in another process.) Cancelling the awaitable aborts
//! the Rust future, as it did there.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;

/// Awaitables whose result has not been handed over yet.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

struct Counted;

impl Drop for Counted {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sets `future`'s result (or exception, when `failed`) unless it was cancelled meanwhile;
/// run by the loop, on its thread.
#[pyfunction]
fn _resolve(future: &Bound<'_, PyAny>, failed: bool, value: Bound<'_, PyAny>) -> PyResult<()> {
    if future.call_method0("cancelled")?.is_truthy()? {
        return Ok(());
    }
    future.call_method1(if failed { "set_exception" } else { "set_result" }, (value,))?;
    Ok(())
}

/// `future` as a Python awaitable on the running asyncio loop, counted until its result has
/// been handed over.
///
/// # Errors
/// No running asyncio loop; the crate's runtime cannot start.
pub fn awaitable<'py, F, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let awaited = event_loop.call_method0("create_future")?;
    let resolve = wrap_pyfunction!(_resolve, py)?.unbind();
    let runtime = crate::runtime::runtime()?;
    IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
    let counted = Counted;
    let (event_loop, target) = (event_loop.unbind(), awaited.clone().unbind());
    let task = runtime.spawn(async move {
        let result = future.await;
        Python::attach(|py| {
            let (failed, value) = match result.and_then(|value| value.into_bound_py_any(py)) {
                Ok(value) => (false, value),
                Err(error) => (true, error.into_value(py).into_bound(py).into_any()),
            };
            // A closed loop (the program ended without awaiting this) refuses: nothing to do.
            if event_loop.call_method1(py, "call_soon_threadsafe", (resolve, target, failed, value)).is_err()
            {
                PyErr::take(py);
            }
        });
        drop(counted);
    });
    // Cancelling the awaitable (a timeout, a cancelled task) stops the Rust future: a
    // connection attempt nobody waits for must not go on.
    awaited.call_method1("add_done_callback", (AbortOnCancel(task.abort_handle()),))?;
    Ok(awaited)
}

/// The done-callback of an awaitable: aborts its Rust future if it was cancelled.
#[pyclass(frozen)]
struct AbortOnCancel(tokio::task::AbortHandle);

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.abort();
        }
        Ok(())
    }
}

/// Waits, without the interpreter, until every awaitable's result has been handed over (at
/// most `timeout` seconds); returns how many were still in flight. Returns at once when none
/// is. Registered with `atexit` by `tickwire`.
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
        IN_FLIGHT.load(Ordering::Acquire)
    })
}
