//! The broadcast protocol's messages on the Rust side: the types ([`Kind`]), an outgoing
//! message serialized once ([`Outgoing`]), and what clients send ([`Request`]).
//!
//! The one definition of the protocol is `python/tickwire/protocol.py` (msgspec classes, from
//! which the JSON Schema is generated); the tests decode every message this server sends with
//! it. Envelope: `{"type", "seq", "timestamp" (ISO 8601 UTC), "data"?, "message"?}`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::model::time::{Fraction, write_rfc3339};

/// Every message type, server → client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Sent first on every connection.
    Connected,
    /// A symbol's price and 24 h statistics.
    MarketData,
    /// A candle.
    ChartUpdate,
    /// A position changed (critical).
    PositionUpdate,
    /// A trade was executed (critical).
    TradeExecuted,
    /// A model's signal.
    AiSignalReceived,
    /// The bot's status.
    BotStatusUpdate,
    /// An error (critical).
    Error,
    /// The answer to a `Ping`.
    Pong,
    /// A client's subscription after a change.
    SubscriptionConfirmed,
    /// Missed critical messages were sent again.
    Resumed,
    /// Missed critical messages are gone.
    ResyncRequired,
    /// A symbol's top of book.
    BookTop,
    /// A venue trade.
    MarketTrade,
}

impl Kind {
    /// Every type, in a fixed order (bit `i` of a channel mask is `ALL[i]`).
    pub const ALL: [Self; 14] = [
        Self::Connected,
        Self::MarketData,
        Self::ChartUpdate,
        Self::PositionUpdate,
        Self::TradeExecuted,
        Self::AiSignalReceived,
        Self::BotStatusUpdate,
        Self::Error,
        Self::Pong,
        Self::SubscriptionConfirmed,
        Self::Resumed,
        Self::ResyncRequired,
        Self::BookTop,
        Self::MarketTrade,
    ];

    /// The types a client can subscribe to (the broadcast ones).
    pub const CHANNELS: [Self; 9] = [
        Self::MarketData,
        Self::ChartUpdate,
        Self::PositionUpdate,
        Self::TradeExecuted,
        Self::AiSignalReceived,
        Self::BotStatusUpdate,
        Self::Error,
        Self::BookTop,
        Self::MarketTrade,
    ];

    /// The name on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "Connected",
            Self::MarketData => "MarketData",
            Self::ChartUpdate => "ChartUpdate",
            Self::PositionUpdate => "PositionUpdate",
            Self::TradeExecuted => "TradeExecuted",
            Self::AiSignalReceived => "AISignalReceived",
            Self::BotStatusUpdate => "BotStatusUpdate",
            Self::Error => "Error",
            Self::Pong => "Pong",
            Self::SubscriptionConfirmed => "SubscriptionConfirmed",
            Self::Resumed => "Resumed",
            Self::ResyncRequired => "ResyncRequired",
            Self::BookTop => "BookTop",
            Self::MarketTrade => "MarketTrade",
        }
    }

    /// The type named `name` on the wire.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The subscribable type named `name`.
    #[must_use]
    pub fn channel(name: &str) -> Option<Self> {
        Self::CHANNELS.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Bit of this type in a channel mask.
    #[must_use]
    pub const fn bit(self) -> u32 {
        1 << self as u32
    }

    /// Never dropped silently, kept for `Resume`: `TradeExecuted`, `PositionUpdate`, `Error`.
    #[must_use]
    pub const fn is_critical(self) -> bool {
        matches!(self, Self::TradeExecuted | Self::PositionUpdate | Self::Error)
    }
}

/// What a lagging client's queue keeps only the latest of: the type, the symbol (interned id)
/// and a sub-key (a candle's timeframe).
pub type ConflationKey = (Kind, Option<u32>, u8);

/// A message serialized once; every recipient shares its bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Its type.
    pub kind: Kind,
    /// Its symbol's interned id, for the subscription filter (`None`: no symbol, passes).
    pub symbol: Option<u32>,
    /// Its sequence number.
    pub seq: u64,
    /// Market data only: what a lagging queue conflates it by.
    pub conflation: Option<ConflationKey>,
    /// When it was published (monotonic ns), for the broadcast latency histogram.
    pub published_ns: u64,
    /// The JSON text.
    pub text: Utf8Bytes,
}

/// Shared by every recipient.
pub type Shared = Arc<Outgoing>;

/// The JSON text of a message: `data` is JSON already (an object), `message` plain text.
#[must_use]
pub fn encode(kind: Kind, seq: u64, unix_ns: u64, data: Option<&str>, message: Option<&str>) -> Utf8Bytes {
    let mut out = Vec::with_capacity(96 + data.map_or(0, str::len) + message.map_or(0, str::len));
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"seq\":");
    out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
    out.extend_from_slice(b",\"timestamp\":\"");
    write_rfc3339(&mut out, unix_ns, Fraction::Digits(6));
    out.push(b'"');
    if let Some(data) = data {
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data.as_bytes());
    }
    if let Some(message) = message {
        out.extend_from_slice(b",\"message\":");
        // Writing a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, message);
    }
    out.push(b'}');
    // Built from UTF-8 pieces only: the type names, digits, JSON text and escaped strings.
    Utf8Bytes::try_from(bytes::Bytes::from(out)).unwrap_or_else(|_| Utf8Bytes::from_static("{}"))
}

/// `data` as the JSON text of an `Error` payload.
#[must_use]
pub fn error_data(message: &str, code: &str, details: Option<&serde_json::Value>) -> String {
    serde_json::json!({ "message": message, "code": code, "details": details }).to_string()
}

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Asks for a `Pong`.
    Ping,
    /// Adds channels and symbols.
    Subscribe(Selection),
    /// Removes channels and symbols.
    Unsubscribe(Selection),
    /// Send again the critical messages after this sequence number.
    Resume {
        /// The last sequence number the client received.
        last_seq: u64,
    },
}

/// The channels and symbols a `Subscribe` or `Unsubscribe` names (`None`: not named).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Selection {
    /// Message type names.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Symbols, as publishers name them.
    #[serde(default)]
    pub symbols: Option<Vec<String>>,
}

/// Why a client message was not a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not JSON, or not an object with a string `type`.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// A known type whose `data` is wrong.
    #[error("invalid {kind} message: {reason}")]
    Invalid {
        /// The type.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A type this server does not know (ignored, with a warning).
    #[error("unknown message type {0:?}")]
    UnknownType(String),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ResumeData {
    last_seq: u64,
}

/// Reads one client message.
///
/// # Errors
///
/// [`RequestError`]: invalid JSON, bad data of a known type, or an unknown type.
pub fn parse_request(text: &str) -> Result<Request, RequestError> {
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|error| RequestError::InvalidJson(error.to_string()))?;
    let data = envelope.data.map_or("null", RawValue::get);
    let invalid = |kind: &'static str| {
        move |error: serde_json::Error| RequestError::Invalid { kind, reason: error.to_string() }
    };
    match envelope.kind {
        "Ping" => Ok(Request::Ping),
        "Subscribe" => Ok(Request::Subscribe(selection(data).map_err(invalid("Subscribe"))?)),
        "Unsubscribe" => Ok(Request::Unsubscribe(selection(data).map_err(invalid("Unsubscribe"))?)),
        "Resume" => {
            let resume: ResumeData = serde_json::from_str(data).map_err(invalid("Resume"))?;
            Ok(Request::Resume { last_seq: resume.last_seq })
        }
        other => Err(RequestError::UnknownType(other.chars().take(64).collect())),
    }
}

fn selection(data: &str) -> Result<Selection, serde_json::Error> {
    if data == "null" { Ok(Selection::default()) } else { serde_json::from_str(data) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_written_once_as_the_protocol_says() {
        let text = encode(
            Kind::MarketData,
            7,
            1_735_689_600_123_456_000,
            Some(r#"{"symbol":"BTCUSDT"}"#),
            Some("a \"q\""),
        );
        assert_eq!(
            text.as_str(),
            r#"{"type":"MarketData","seq":7,"timestamp":"2025-01-01T00:00:00.123456Z","data":{"symbol":"BTCUSDT"},"message":"a \"q\""}"#
        );
        assert_eq!(
            encode(Kind::Pong, 1, 0, None, None).as_str(),
            r#"{"type":"Pong","seq":1,"timestamp":"1970-01-01T00:00:00.000000Z"}"#
        );
        assert_eq!(Kind::AiSignalReceived.as_str(), "AISignalReceived");
        assert_eq!(Kind::channel("Pong"), None, "replies are not channels");
        assert!(Kind::ALL.iter().all(|kind| Kind::from_name(kind.as_str()) == Some(*kind)));
    }

    #[test]
    fn client_messages_parse_or_say_why_not() {
        assert_eq!(parse_request(r#"{"type":"Ping","timestamp":"x"}"#), Ok(Request::Ping));
        assert_eq!(
            parse_request(r#"{"type":"Subscribe","data":{"channels":["MarketData"],"symbols":["BTCUSDT"]}}"#),
            Ok(Request::Subscribe(Selection {
                channels: Some(vec!["MarketData".into()]),
                symbols: Some(vec!["BTCUSDT".into()])
            }))
        );
        assert_eq!(
            parse_request(r#"{"type":"Unsubscribe"}"#),
            Ok(Request::Unsubscribe(Selection::default()))
        );
        assert_eq!(
            parse_request(r#"{"type":"Resume","data":{"last_seq":41}}"#),
            Ok(Request::Resume { last_seq: 41 })
        );
        assert!(matches!(parse_request("{nope"), Err(RequestError::InvalidJson(_))));
        assert!(matches!(parse_request("[1]"), Err(RequestError::InvalidJson(_))));
        assert!(matches!(
            parse_request(r#"{"type":"Resume"}"#),
            Err(RequestError::Invalid { kind: "Resume", .. })
        ));
        assert!(matches!(
            parse_request(r#"{"type":"Subscribe","data":{"channels":"MarketData"}}"#),
            Err(RequestError::Invalid { .. })
        ));
        assert_eq!(parse_request(r#"{"type":"Hello"}"#), Err(RequestError::UnknownType("Hello".into())));
    }
}
