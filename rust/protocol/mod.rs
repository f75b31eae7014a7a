//! The WebSocket wire protocol (RFC 6455), client side, without I/O: the opening handshake,
//! frame headers and encoding, and the reader state machine that turns bytes into messages.
//!
//! Kept free of sockets and async so every rule is tested on plain byte slices; the
//! connection tasks in [`crate::conn`] drive it. tungstenite supplies the handshake key
//! functions and the close-code rules; framing is done here because tungstenite's read path
//! copies each frame into its own buffer and allocates per read, which the measurements in the
//! README show to be most of the Rust-side cost per message.

pub mod frame;
pub mod handshake;
pub mod reader;

pub use frame::{FrameHeader, Opcode, apply_mask, encode_client_frame};
pub use reader::{Event, Kind, MessageReader, Parsed, Violation};
