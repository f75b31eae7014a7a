//! Order books: L2 books kept in Rust, proven against each venue's sequence numbers and
//! checksums.
//!
//! Owns:
//! - [`order_book`]: [`OrderBook`], one market's sorted bid and ask levels (each level as last
//!   sent, for checksums), top of book, top-n reads and an optional depth window.
//! - [`sync`]: [`BookSync`], a book with its venue's rule ([`SyncRule`]): Binance's buffered
//!   diffs over a REST snapshot, Bybit's and Coinbase's update numbers, OKX's `seqId` chain and
//!   checksum, Kraken's checksum, and for registered venues Gate.io's snapshot-then-range; each update's [`Outcome`], the book's [`Validity`] with a typed
//!   [`Invalidity`], and its [`BookCounters`].
//! - [`keeper`]: [`BookKeeper`], the books of one connection's markets: what the user gets for
//!   each update ([`Verdict`]: the update, a whole-book snapshot, nothing, or [`BookInvalid`]),
//!   the resyncs to carry out ([`ResyncOrder`]) under a per-book breaker, disconnects, stale
//!   books, and totals for metrics.
//! - `roundtrip` (tests): each venue's simulator encoder → adapter → [`BookSync`], against the
//!   engine's book, with dropped frames, wrong checksums and resyncs.

pub mod keeper;
pub mod order_book;
#[cfg(test)]
mod roundtrip;
pub mod sync;

pub use keeper::{BookInvalid, BookKeeper, KeeperConfig, KeeperTotals, ResyncOrder, ResyncPolicy, Verdict};
pub use order_book::OrderBook;
pub use sync::{BookCounters, BookSync, Invalidity, Outcome, Resync, SyncRule, Validity};
