//! `tickwire._core.MexcPushDecoder`: MEXC's binary protobuf pushes decoded in Rust
//! ([`crate::venues::mexc`]) for the MEXC venue written in Python, which hands each binary
//! frame here and gets the finished events back.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::events::{event_to_python, parse_error};
use crate::model::Event;
use crate::venues::mexc::PushDecoder;

/// Decodes one connection's MEXC push frames into `Trade`, `BookUpdate` and `BBO` events.
#[pyclass(name = "MexcPushDecoder", module = "tickwire._core")]
pub struct PyMexcPushDecoder {
    decoder: PushDecoder,
    /// Reused between frames: most hold one event.
    events: Vec<Event>,
}

#[pymethods]
impl PyMexcPushDecoder {
    #[new]
    fn new() -> PyResult<Self> {
        let decoder = PushDecoder::new().map_err(|error| PyValueError::new_err(error.to_string()))?;
        Ok(Self { decoder, events: Vec::new() })
    }

    /// The events of one binary push `frame`, stamped `receive_time_ns`; `ParseError` (raw
    /// frame kept, lossily as text) for a frame that is no MEXC push.
    fn decode<'py>(
        &mut self,
        py: Python<'py>,
        frame: &[u8],
        receive_time_ns: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        self.events.clear();
        self.decoder
            .decode(frame, receive_time_ns, &mut self.events)
            .map_err(|error| parse_error(&error, ""))?;
        let list = PyList::empty(py);
        for event in self.events.drain(..) {
            list.append(event_to_python(py, event)?)?;
        }
        Ok(list)
    }
}
