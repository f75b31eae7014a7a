//! The `LatencyHistogram` handle as Python sees it in `tickwire._core`. Thin: argument checks,
//! then one call into [`crate::metrics::LatencyHistogram`] per method.

use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::metrics::LatencyHistogram;

/// A latency distribution in nanoseconds; `tickwire.Feed` keeps one per venue.
#[pyclass(name = "LatencyHistogram", module = "tickwire._core", frozen)]
pub struct PyLatencyHistogram {
    // Only the Python thread holding the interpreter touches it, so it is never contended.
    histogram: Mutex<LatencyHistogram>,
}

/// A duration in nanoseconds, which cannot be negative.
fn nanoseconds(name: &str, value: i64) -> PyResult<u64> {
    u64::try_from(value).map_err(|_| PyValueError::new_err(format!("{name} must be at least 0, not {value}")))
}

impl PyLatencyHistogram {
    pub(super) fn histogram(&self) -> MutexGuard<'_, LatencyHistogram> {
        self.histogram.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl PyLatencyHistogram {
    #[new]
    #[pyo3(signature = (max_ns = 60_000_000_000, significant_digits = 3))]
    fn new(max_ns: i64, significant_digits: i64) -> PyResult<Self> {
        let max_ns = u64::try_from(max_ns)
            .ok()
            .filter(|&top| top >= 2)
            .ok_or_else(|| PyValueError::new_err(format!("max_ns must be at least 2, not {max_ns}")))?;
        let digits =
            u8::try_from(significant_digits).ok().filter(|&digits| digits <= 5).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "significant_digits must be between 0 and 5, not {significant_digits}"
                ))
            })?;
        let histogram = LatencyHistogram::new(max_ns, digits)
            .map_err(|error| PyValueError::new_err(error.to_string()))?;
        Ok(Self { histogram: Mutex::new(histogram) })
    }

    fn record(&self, ns: i64) -> PyResult<()> {
        self.histogram().record(nanoseconds("ns", ns)?);
        Ok(())
    }

    /// All or nothing: one negative value and none is recorded.
    fn record_many(&self, values: Vec<i64>) -> PyResult<()> {
        let values =
            values.into_iter().map(|value| nanoseconds("each value", value)).collect::<PyResult<Vec<_>>>()?;
        let mut histogram = self.histogram();
        for value in values {
            histogram.record(value);
        }
        Ok(())
    }

    #[getter]
    fn count(&self) -> u64 {
        self.histogram().count()
    }

    #[getter]
    fn clamped(&self) -> u64 {
        self.histogram().clamped()
    }

    #[getter]
    fn max_ns(&self) -> u64 {
        self.histogram().max_ns()
    }

    #[getter]
    fn mean_ns(&self) -> f64 {
        self.histogram().mean_ns()
    }

    fn percentile_ns(&self, q: f64) -> PyResult<u64> {
        if !(0.0..=100.0).contains(&q) {
            return Err(PyValueError::new_err(format!("q must be between 0 and 100, not {q}")));
        }
        Ok(self.histogram().percentile_ns(q))
    }

    fn share_below(&self, ns: i64) -> PyResult<f64> {
        Ok(self.histogram().share_below(nanoseconds("ns", ns)?))
    }

    fn reset(&self) {
        self.histogram().reset();
    }

    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let histogram = self.histogram();
        let dict = PyDict::new(py);
        dict.set_item("count", histogram.count())?;
        dict.set_item("mean_ns", histogram.mean_ns())?;
        dict.set_item("p50_ns", histogram.percentile_ns(50.0))?;
        dict.set_item("p95_ns", histogram.percentile_ns(95.0))?;
        dict.set_item("p99_ns", histogram.percentile_ns(99.0))?;
        dict.set_item("max_ns", histogram.max_ns())?;
        dict.set_item("clamped", histogram.clamped())?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        let histogram = self.histogram();
        format!(
            "<tickwire._core.LatencyHistogram count={} p50_ns={} max_ns={}>",
            histogram.count(),
            histogram.percentile_ns(50.0),
            histogram.max_ns()
        )
    }
}
