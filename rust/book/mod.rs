//! Order books: L2 books kept in Rust, proven against each venue's sequence numbers and
//! checksums. (Being built: see the module files as they land.)
