//! Protocol Buffers messages that venues send, as `prost` structs written by hand from the
//! venues' published `.proto` schemas (no build script, no `protoc`): field numbers and types
//! are the schemas', so a decoder and the simulator's encoder agree with the venue by
//! construction.
//!
//! Owns:
//! - [`mexc`]: MEXC spot v3's push wrapper and its aggregated deals, depth and book-ticker
//!   bodies.

pub mod mexc;
