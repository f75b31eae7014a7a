//! Order books: L2 books kept in Rust, proven against each venue's sequence numbers and
//! checksums.
//!
//! Owns:
//! - [`order_book`]: [`OrderBook`], one market's sorted bid and ask levels (each level as last
//!   sent, for checksums), top of book, top-n reads and an optional depth window.

pub mod order_book;

pub use order_book::OrderBook;
