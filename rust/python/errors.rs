//! The one mapping from [`Error`] to Python exceptions.
//!
//! Argument errors become `ValueError`; runtime failures `RuntimeError`; everything else an
//! instance of the matching class of `tickwire.exceptions`, built with its fields (`url`,
//! `status`, `code`, `reason`, `timeout`) so Python code can branch on them.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;

impl From<Error> for PyErr {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::InvalidUrl { .. } | Error::InvalidOption { .. } => PyValueError::new_err(message),
            Error::Forked { .. } | Error::Runtime(_) => PyRuntimeError::new_err(message),
            Error::Resolve { url, .. } | Error::Connect { url, .. } => raise("NetworkError", (message, url)),
            Error::CaFile { url, .. } | Error::Tls { url, .. } => raise("TlsError", (message, url)),
            Error::HandshakeRejected { url, status } => raise("HandshakeError", (message, url, Some(status))),
            Error::Handshake { url, .. } => raise("HandshakeError", (message, url, None::<u16>)),
            Error::Timeout { url, timeout, .. } => {
                raise("TickwireTimeoutError", (message, url, timeout.as_secs_f64()))
            }
            Error::Closed { url, close } => {
                let class = if close.protocol_violation { "ProtocolError" } else { "ConnectionClosed" };
                raise(class, (message, url, close.code, close.reason))
            }
        }
    }
}

/// An instance of `tickwire.exceptions.<class>` built from `args`, or the error met importing it.
pub(super) fn raise<A>(class: &str, args: A) -> PyErr
where
    A: for<'py> pyo3::call::PyCallArgs<'py>,
{
    Python::attach(|py| {
        let built = py
            .import("tickwire.exceptions")
            .and_then(|module| module.getattr(class))
            .and_then(|class| class.call1(args));
        match built {
            Ok(instance) => PyErr::from_value(instance),
            Err(import_error) => import_error,
        }
    })
}
