//! Venue adapters: each exchange's protocol, from subscribe request to normalized [`Event`].
//!
//! Owns:
//! - [`Adapter`]: the contract every venue implements — its [`Spec`] (URL, limits, heartbeat
//!   rule), the subscribe/unsubscribe messages for a batch of (market, channel) pairs, and
//!   [`Adapter::parse`], which turns one received message into events or a [`Control`]
//!   (ack, refusal, heartbeat, planned reconnect, ignored).
//! - One module per venue: [`binance`], [`bybit`], [`okx`], [`coinbase`], [`kraken`].
//! - [`fields`]: the field readers the adapters share (decimals, non-negative and absent
//!   fields, millisecond and RFC 3339 times), each error naming the field.
//! - [`adapter`]: the adapter for a venue and instrument kind.
//! - [`VenueDecoder`]: an adapter as a connection inbox's [`Decoder`], so messages are parsed
//!   on the I/O thread and the consumer is handed [`Decoded`] items; with its [`DecodeStats`].
//!
//! Invariants:
//! - `parse` never panics on any input: malformed JSON, wrong types, absurd numbers and huge
//!   arrays are a [`ParseError`] (which keeps the raw text) or [`Control::Unknown`]; the adapter
//!   stays usable for the next message.
//! - `parse` appends to `events` only on success; on error it leaves `events` as it was.
//! - Numbers are parsed with [`Decimal::parse`](crate::model::Decimal::parse) from the wire
//!   text: exact, never through `f64`.
//! - JSON is read with `serde_json` into borrowed structs (`&str` fields, no allocation per
//!   field): the `json_parsers` bench chose it on these payloads. Adapters read through
//!   [`json`], which refuses arrays where structs are expected.

pub mod binance;
pub mod bybit;
pub mod coinbase;
pub mod fields;
pub mod json;
pub mod kraken;
pub mod mexc;
pub mod okx;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::conn::{Decoder, Payload};
use crate::model::{Channel, Event, InstrumentKind, MarketRef, SymbolError, Venue};

/// What a request asks of the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start sending these streams.
    Subscribe,
    /// Stop sending them.
    Unsubscribe,
}

/// A venue's fixed facts for one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The venue.
    pub venue: Venue,
    /// Which of the venue's endpoints (`"spot"`, `"linear"`, `"public"`): markets with the same
    /// endpoint share connections.
    pub endpoint: &'static str,
    /// Production URL (overridable by the user, e.g. with a simulator's).
    pub url: &'static str,
    /// Most (market, channel) pairs one subscribe request may carry.
    pub max_per_request: usize,
    /// Most pairs one connection may hold; more go to another connection.
    pub max_per_connection: usize,
    /// Requests (subscribe, unsubscribe, application pings) the venue accepts per second.
    pub requests_per_second: f64,
    /// Requests that may go at once before pacing starts.
    pub burst: u32,
    /// The application ping the venue wants, if any.
    pub app_ping: Option<AppPing>,
    /// The venue closes a connection with no subscription after this long (Coinbase: 5 s).
    pub subscribe_within: Option<Duration>,
}

impl Spec {
    /// Checks that one request may carry `pairs` (market, channel) pairs.
    ///
    /// # Errors
    ///
    /// [`VenueError::TooMany`] for more than [`Spec::max_per_request`].
    pub const fn check_request_size(&self, pairs: usize) -> Result<(), VenueError> {
        if pairs > self.max_per_request {
            return Err(VenueError::TooMany { venue: self.venue, count: pairs, max: self.max_per_request });
        }
        Ok(())
    }
}

/// An application-level ping a venue requires besides WebSocket pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppPing {
    /// Send it this often while connected.
    pub interval: Duration,
    /// The message, sent as a text frame.
    pub message: &'static str,
}

/// What a message was, when it carried no market events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Market events were appended (possibly none, e.g. an empty trade batch).
    Data,
    /// A subscribe or unsubscribe request was accepted; `None` when the venue does not echo
    /// request ids (Coinbase), meaning the oldest request awaiting an answer.
    Ack {
        /// The request's id, as sent in the request.
        request_id: Option<u64>,
    },
    /// A request was refused.
    Rejected {
        /// The request's id, where the venue echoes it.
        request_id: Option<u64>,
        /// The venue's words.
        reason: String,
    },
    /// A venue heartbeat (Kraken `heartbeat`, Coinbase `heartbeats`).
    Heartbeat,
    /// The answer to our application ping.
    Pong,
    /// The venue announced it will close the connection (Binance `serverShutdown`): reconnect
    /// now, on our terms.
    Reconnect {
        /// What the venue said.
        reason: String,
    },
    /// A well-formed message with nothing for us (status, info, a channel we did not ask for).
    Unknown,
}

/// A message the adapter could not read. Cold path: it owns the raw text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{venue}: cannot parse message: {reason}: {raw}", raw = shorten(raw))]
pub struct ParseError {
    /// The venue whose adapter failed.
    pub venue: Venue,
    /// What was wrong (a JSON syntax error, a missing field, a bad decimal …).
    pub reason: String,
    /// The message, lossily decoded as UTF-8, whole.
    pub raw: String,
}

impl ParseError {
    /// A parse error for `raw`.
    #[must_use]
    pub fn new(venue: Venue, reason: impl Into<String>, raw: &[u8]) -> Self {
        Self { venue, reason: reason.into(), raw: String::from_utf8_lossy(raw).into_owned() }
    }
}

fn shorten(raw: &str) -> String {
    const KEEP: usize = 200;
    if raw.len() <= KEEP {
        return raw.to_owned();
    }
    let mut end = KEEP;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &raw[..end], raw.len())
}

/// A request the adapter cannot build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VenueError {
    /// A symbol the venue cannot name.
    #[error(transparent)]
    Symbol(#[from] SymbolError),
    /// A channel or market this venue (or endpoint) does not offer.
    #[error("{venue} ({endpoint}) does not offer {what}")]
    Unsupported {
        /// The venue.
        venue: Venue,
        /// Its endpoint.
        endpoint: &'static str,
        /// What was asked for.
        what: String,
    },
    /// A registered venue: its adapter is written outside the crate (in Python), not here.
    #[error("{venue} is a registered venue: it has no Rust adapter")]
    NoAdapter {
        /// The venue.
        venue: Venue,
    },
    /// More pairs in one request than [`Spec::max_per_request`].
    #[error("{venue}: {count} subscriptions in one request, the most is {max}")]
    TooMany {
        /// The venue.
        venue: Venue,
        /// Pairs given.
        count: usize,
        /// The limit.
        max: usize,
    },
}

/// One venue endpoint's protocol. An adapter instance serves one connection at a time (it may
/// keep per-connection state such as a sequence counter; [`Adapter::reset`] clears it on
/// reconnect).
pub trait Adapter: Send {
    /// The endpoint's fixed facts.
    fn spec(&self) -> &Spec;

    /// Appends the text messages that subscribe to (or cancel) `pairs` (at most
    /// [`Spec::max_per_request`]) under `request_id`; venues that take one channel per message
    /// (Coinbase) append several.
    ///
    /// # Errors
    ///
    /// [`VenueError`] for a channel or market the endpoint does not offer, or too many pairs.
    fn request(
        &self,
        action: Action,
        request_id: u64,
        pairs: &[(MarketRef, Channel)],
        out: &mut Vec<String>,
    ) -> Result<(), VenueError>;

    /// [`request`](Self::request) with [`Action::Subscribe`].
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    fn subscribe(
        &self,
        request_id: u64,
        pairs: &[(MarketRef, Channel)],
        out: &mut Vec<String>,
    ) -> Result<(), VenueError> {
        self.request(Action::Subscribe, request_id, pairs, out)
    }

    /// [`request`](Self::request) with [`Action::Unsubscribe`].
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    fn unsubscribe(
        &self,
        request_id: u64,
        pairs: &[(MarketRef, Channel)],
        out: &mut Vec<String>,
    ) -> Result<(), VenueError> {
        self.request(Action::Unsubscribe, request_id, pairs, out)
    }

    /// How many answers (acks or refusals) the venue sends to one request of `pairs` pairs
    /// built as `messages` messages: one per message by default; OKX answers each channel
    /// argument, Kraken each symbol.
    fn answers_expected(&self, _pairs: usize, messages: usize) -> usize {
        messages
    }

    /// Appends messages to send first on every new connection (Coinbase's `heartbeats`
    /// subscription); none by default.
    fn on_connect(&self, _out: &mut Vec<String>) {}

    /// Forgets per-connection state (a new connection starts).
    fn reset(&mut self) {}

    /// Reads one message that is a JSON object, appending its market events to `events`
    /// stamped with `receive_time_ns`; on error `events` may hold partial output ([`parse`]
    /// removes it).
    ///
    /// # Errors
    ///
    /// What is wrong with the message, in words.
    ///
    /// [`parse`]: Adapter::parse
    fn read_message(
        &mut self,
        raw: &[u8],
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, String>;

    /// Reads a message that is not a JSON object: an error, unless the venue sends such
    /// messages (OKX's plain-text `pong`).
    ///
    /// # Errors
    ///
    /// What is wrong with the message, in words.
    fn read_other(&mut self, _raw: &[u8]) -> Result<Control, String> {
        Err("not a JSON object".to_owned())
    }

    /// Reads one message (a text frame's bytes, or a binary frame's), appending its market
    /// events to `events` stamped with `receive_time_ns`. A venue's messages are JSON objects
    /// (and what [`read_other`](Self::read_other) accepts), so anything else is refused before
    /// [`read_message`](Self::read_message): serde would otherwise read an array into a struct
    /// by position.
    ///
    /// # Errors
    ///
    /// [`ParseError`] for anything that is not a message of this venue's protocol; `events`
    /// is then unchanged.
    fn parse(
        &mut self,
        raw: &[u8],
        receive_time_ns: u64,
        events: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let before = events.len();
        let read = if raw.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'{') {
            self.read_message(raw, receive_time_ns, events)
        } else {
            self.read_other(raw)
        };
        read.map_err(|reason| {
            events.truncate(before);
            ParseError::new(self.spec().venue, reason, raw)
        })
    }
}

/// The adapter for `venue`'s endpoint that serves `kind` (Bybit: spot → `spot`, perpetual →
/// `linear`; the others have one public endpoint for everything they offer).
///
/// # Errors
///
/// [`VenueError::Unsupported`] for a kind the venue does not offer here,
/// [`VenueError::NoAdapter`] for a registered venue.
pub fn adapter(venue: Venue, kind: InstrumentKind) -> Result<Box<dyn Adapter>, VenueError> {
    match venue {
        Venue::Binance => binance::adapter(kind),
        Venue::Bybit => bybit::adapter(kind),
        Venue::Okx => okx::adapter(kind),
        Venue::Coinbase => coinbase::adapter(kind),
        Venue::Kraken => kraken::adapter(kind),
        Venue::Registered(_) => Err(VenueError::NoAdapter { venue }),
    }
}

/// What a venue connection hands its consumer: market events, the controls the consumer acts
/// on (acks, refusals, planned reconnects), and messages that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A market event.
    Event(Event),
    /// An ack, refusal or reconnect notice ([`Control::Ack`], [`Control::Rejected`],
    /// [`Control::Reconnect`]); heartbeats, pongs and unknown messages are only counted.
    Control(Control),
    /// A message the adapter could not read, raw text kept.
    Error(ParseError),
}

/// Counts of what a [`VenueDecoder`] has seen, readable from any thread.
#[derive(Debug, Default)]
pub struct DecodeStats {
    /// Messages decoded.
    pub messages: AtomicU64,
    /// Market events produced.
    pub events: AtomicU64,
    /// Acks and refusals.
    pub acks: AtomicU64,
    /// Venue heartbeats.
    pub heartbeats: AtomicU64,
    /// Answers to application pings.
    pub pongs: AtomicU64,
    /// Well-formed messages with nothing for us.
    pub unknown: AtomicU64,
    /// Messages that could not be read.
    pub parse_errors: AtomicU64,
}

impl DecodeStats {
    /// The counters as (name, value) pairs, for `stats()` dicts.
    #[must_use]
    pub fn snapshot(&self) -> [(&'static str, u64); 7] {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        [
            ("messages_decoded", get(&self.messages)),
            ("events", get(&self.events)),
            ("acks", get(&self.acks)),
            ("heartbeats", get(&self.heartbeats)),
            ("pongs", get(&self.pongs)),
            ("unknown_messages", get(&self.unknown)),
            ("parse_errors", get(&self.parse_errors)),
        ]
    }
}

/// A venue [`Adapter`] decoding a connection's messages on the reader's side of its inbox.
pub struct VenueDecoder {
    adapter: Box<dyn Adapter>,
    events: Vec<Event>,
    stats: Arc<DecodeStats>,
}

impl VenueDecoder {
    /// Decodes with `adapter`, counting into `stats`.
    #[must_use]
    pub fn new(adapter: Box<dyn Adapter>, stats: Arc<DecodeStats>) -> Self {
        Self { adapter, events: Vec::new(), stats }
    }
}

impl std::fmt::Debug for VenueDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let spec = self.adapter.spec();
        write!(f, "VenueDecoder({} {})", spec.venue, spec.endpoint)
    }
}

impl Decoder for VenueDecoder {
    fn decode(&mut self, message: Payload<'_>, receive_time_ns: u64, out: &mut Vec<Decoded>) {
        let raw = match message {
            Payload::Text(text) | Payload::Ascii(text) => text.as_bytes(),
            Payload::Binary(data) => data,
            Payload::Event(_) | Payload::Decoded(_) => return,
        };
        let stats = &*self.stats;
        stats.messages.fetch_add(1, Ordering::Relaxed);
        self.events.clear();
        match self.adapter.parse(raw, receive_time_ns, &mut self.events) {
            Ok(Control::Data) => {
                stats.events.fetch_add(self.events.len() as u64, Ordering::Relaxed);
                out.extend(self.events.drain(..).map(Decoded::Event));
            }
            Ok(Control::Heartbeat) => _ = stats.heartbeats.fetch_add(1, Ordering::Relaxed),
            Ok(Control::Pong) => _ = stats.pongs.fetch_add(1, Ordering::Relaxed),
            Ok(Control::Unknown) => _ = stats.unknown.fetch_add(1, Ordering::Relaxed),
            Ok(control @ (Control::Ack { .. } | Control::Rejected { .. })) => {
                stats.acks.fetch_add(1, Ordering::Relaxed);
                out.push(Decoded::Control(control));
            }
            Ok(control @ Control::Reconnect { .. }) => out.push(Decoded::Control(control)),
            Err(error) => {
                stats.parse_errors.fetch_add(1, Ordering::Relaxed);
                out.push(Decoded::Error(error));
            }
        }
    }

    fn reset(&mut self) {
        self.adapter.reset();
    }
}
