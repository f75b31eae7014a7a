//! Routing normalized events to handlers: symbols interned to dense ids, and one handler table
//! per channel indexed by those ids.
//!
//! Owns:
//! - [`SymbolTable`]: unified symbol names (`"BTC/USDT"`) ↔ [`Symbol`] ids, up to a capacity
//!   fixed at construction.
//! - [`Router`]: per [`Channel`], a handler per symbol and a fallback, plus registered counts.
//!
//! Invariants:
//! - A [`Symbol`] is minted only by a [`SymbolTable`], densely from 0, so
//!   `symbol.index() < table.len() <= table.capacity()`; ids are never reused or moved.
//! - A [`Router`] owns its symbol table and sizes every handler table to that table's capacity
//!   when it is built, so a symbol it interned always indexes in bounds. Routing is one array
//!   lookup and never allocates; registration and interning (which may allocate) are the cold
//!   path.
//! - Using a symbol from another table is a caller bug: every index is checked, so at worst it
//!   panics or routes to that id's handler, never reads out of bounds.
//!
//! Python handlers are not fn pointers: the batched delivery bridge will keep its own per-channel
//! table of callables indexed by the same dense [`Symbol`] ids, sized by
//! [`SymbolTable::capacity`], and use [`Routed`] to learn what the Rust side did with an event.

mod symbols;
mod table;

pub use symbols::{Symbol, SymbolTable};
pub use table::{Channel, Handler, Routed, Router};

/// What can go wrong interning symbols.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// Every id below the capacity is taken; the name was not interned.
    #[error("symbol table is full: {capacity} symbols interned, cannot add {name:?}")]
    SymbolTableFull {
        /// The table's capacity, fixed when it was built.
        capacity: usize,
        /// The name that did not fit.
        name: String,
    },
}
