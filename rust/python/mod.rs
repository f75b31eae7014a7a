//! All `PyO3` code: the compiled module `tickwire._core`. Nothing outside this folder imports
//! pyo3. The public Python API is the `tickwire` package, which wraps these handles.
//!
//! - [`connection`]: the `Connection` handle and `connect()`.
//! - [`session`]: the reconnecting `Session` handle and `open_session()`.
//! - [`server`]: the broadcast `Server` handle and `start_server()` over [`crate::server`].
//! - [`simulator`]: the `Simulator` handle and `start_simulator()` over [`crate::sim`].
//! - [`subscriptions`]: the `Subscriptions` handle over [`crate::subscribe`], for venues defined
//!   in Python.
//! - [`metrics`]: the `LatencyHistogram` handle over [`crate::metrics`].
//! - [`options`]: option dicts from Python → the core's configuration types.
//! - [`events`]: `Trade`, `BBO`, `BookUpdate`, `Ticker` and `parse()`.
//! - [`books`]: `BookInvalid` and `BookView`, a live read-only view of a feed's book.
//! - [`dispatch`]: market events routed to Python handlers by channel and market, in Rust.
//! - [`venues`]: a built-in venue's protocol (`VenueProtocol`) for the feed and sessions.
//! - [`mexc`]: `MexcPushDecoder`, MEXC's protobuf pushes decoded for its Python venue.
//! - [`registry`]: `register_venue()`, a venue written in Python named like a built-in one;
//!   `market_id()`.
//! - [`awaitable`]: Rust futures as counted Python awaitables; `quiesce()` for the exit.
//! - [`bridge`]: the one place where received messages become Python objects, in batches.
//! - [`errors`]: the one mapping from [`crate::Error`] to the classes of `tickwire.exceptions`.

mod awaitable;
mod books;
mod bridge;
mod connection;
mod dispatch;
mod errors;
mod events;
mod metrics;
mod mexc;
mod options;
mod registry;
mod server;
mod session;
mod simulator;
mod subscriptions;
mod venues;

use pyo3::prelude::*;

/// The read path hands payload buffers from the I/O thread to the loop's thread, which frees
/// them; glibc's per-thread arenas then shrink and regrow their heaps, paying page faults on
/// every regrowth. mimalloc frees across threads without that churn. It serves the extension's
/// Rust allocations only; Python's own objects keep Python's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
#[pyo3(name = "_core")]
fn core_module(module: &Bound<'_, PyModule>) -> PyResult<()> {
    // Start the runtime now, so that a failure shows at import rather than at first use.
    crate::runtime::runtime()?;
    module.add_class::<connection::PyConnection>()?;
    module.add_function(wrap_pyfunction!(connection::connect, module)?)?;
    module.add_class::<session::PySession>()?;
    module.add_function(wrap_pyfunction!(session::open_session, module)?)?;
    module.add_class::<server::PyServer>()?;
    module.add_function(wrap_pyfunction!(server::start_server, module)?)?;
    module.add_class::<simulator::PySimulator>()?;
    module.add_function(wrap_pyfunction!(simulator::start_simulator, module)?)?;
    module.add_class::<subscriptions::PySubscriptions>()?;
    module.add_class::<metrics::PyLatencyHistogram>()?;
    module.add_class::<events::PyTrade>()?;
    module.add_class::<events::PyBbo>()?;
    module.add_class::<events::PyBookUpdate>()?;
    module.add_class::<events::PyTicker>()?;
    module.add_function(wrap_pyfunction!(events::parse, module)?)?;
    module.add_class::<dispatch::PyDispatch>()?;
    module.add_class::<books::PyBookInvalid>()?;
    module.add_class::<books::PyBookView>()?;
    module.add_function(wrap_pyfunction!(awaitable::quiesce, module)?)?;
    module.add_class::<venues::PyVenueProtocol>()?;
    module.add_class::<mexc::PyMexcPushDecoder>()?;
    module.add_function(wrap_pyfunction!(venues::endpoint_kind, module)?)?;
    module.add_function(wrap_pyfunction!(registry::register_venue, module)?)?;
    module.add_function(wrap_pyfunction!(registry::market_id, module)?)?;
    module.add("DISPATCH_LIMIT", bridge::DISPATCH_LIMIT)?;
    module.add("WAKE_EVERY_MESSAGES", crate::conn::WAKE_EVERY_MESSAGES)?;
    Ok(())
}
