//! The process-wide tokio runtime that runs every connection's I/O.
//!
//! One runtime with few worker threads (one by default, `TICKWIRE_IO_THREADS` to change it): a
//! market-data client is bound by per-message work, not by parallel sockets, and one I/O thread
//! keeps every wake-up on one core. The runtime records the process id it started in, so a
//! forked child gets a clear error instead of a runtime whose threads did not survive the fork.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use crate::error::{Error, Result};

struct Started {
    runtime: Runtime,
    pid: u32,
}

static RUNTIME: OnceLock<std::result::Result<Started, String>> = OnceLock::new();

/// Worker threads used unless `TICKWIRE_IO_THREADS` says otherwise.
pub const DEFAULT_IO_THREADS: usize = 1;

/// The shared runtime, started on first use.
///
/// # Errors
/// [`Error::Runtime`] if it could not start; [`Error::Forked`] in a child process forked after
/// it started.
pub fn runtime() -> Result<&'static Runtime> {
    let started = RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(io_threads())
            .thread_name("tickwire-io")
            .enable_all()
            .build()
            .map(|runtime| Started { runtime, pid: std::process::id() })
            .map_err(|err| err.to_string())
    });
    match started {
        Ok(started) if started.pid == std::process::id() => Ok(&started.runtime),
        Ok(started) => Err(Error::Forked { parent: started.pid, child: std::process::id() }),
        Err(message) => Err(Error::Runtime(std::io::Error::other(message.clone()))),
    }
}

fn io_threads() -> usize {
    std::env::var("TICKWIRE_IO_THREADS")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
        .filter(|&threads| threads > 0)
        .unwrap_or(DEFAULT_IO_THREADS)
}
