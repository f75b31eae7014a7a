//! [`ServerMetrics`]: the server's counters and histograms, named after the spec
//! (FR-WEBSOCKET-007), served at `/metrics` in Prometheus' text format by `prometheus-client`,
//! and readable from Python.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Every metric of one server.
#[derive(Debug)]
pub struct ServerMetrics {
    registry: Registry,
    /// Connections open now.
    pub connections_active: Gauge,
    /// Connections accepted ever.
    pub connections: Counter,
    /// Upgrade requests refused (token, origin, limit, bad request).
    pub connections_refused: Counter,
    /// Connections that ended in an error (I/O, protocol, size, encoding).
    pub connection_errors: Counter,
    /// Messages written to clients.
    pub messages_sent: Counter,
    /// Messages received from clients.
    pub messages_received: Counter,
    /// Messages published (each counted once, however many recipients).
    pub messages_published: Counter,
    /// Client messages that were not valid requests.
    pub parse_errors: Counter,
    /// Client messages refused by the rate limit.
    pub rate_limited: Counter,
    /// Clients told `LAGGED` and dropped.
    pub lagged_clients: Counter,
    /// Market messages replaced by newer ones in slow clients' queues.
    pub conflated: Counter,
    /// Publish to write, per message and recipient.
    pub broadcast_latency: Histogram,
    /// Sizes of the messages published.
    pub message_size: Histogram,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tickwire_server");
        let metrics = Self {
            connections_active: Gauge::default(),
            connections: Counter::default(),
            connections_refused: Counter::default(),
            connection_errors: Counter::default(),
            messages_sent: Counter::default(),
            messages_received: Counter::default(),
            messages_published: Counter::default(),
            parse_errors: Counter::default(),
            rate_limited: Counter::default(),
            lagged_clients: Counter::default(),
            conflated: Counter::default(),
            // 1 µs to about 4 s.
            broadcast_latency: Histogram::new(exponential_buckets(1e-6, 4.0, 12)),
            // 64 B to 1 MiB.
            message_size: Histogram::new(exponential_buckets(64.0, 4.0, 8)),
            registry: Registry::default(),
        };
        registry.register(
            "connections_active",
            "WebSocket connections open now",
            metrics.connections_active.clone(),
        );
        registry.register("connections", "WebSocket connections accepted", metrics.connections.clone());
        registry.register(
            "connections_refused",
            "Upgrade requests refused",
            metrics.connections_refused.clone(),
        );
        registry.register(
            "connection_errors",
            "Connections ended by an error",
            metrics.connection_errors.clone(),
        );
        registry.register("messages_sent", "Messages written to clients", metrics.messages_sent.clone());
        registry.register(
            "messages_received",
            "Messages received from clients",
            metrics.messages_received.clone(),
        );
        registry.register("messages_published", "Messages published", metrics.messages_published.clone());
        registry.register(
            "parse_errors",
            "Client messages that were not valid requests",
            metrics.parse_errors.clone(),
        );
        registry.register(
            "rate_limited",
            "Client messages refused by the rate limit",
            metrics.rate_limited.clone(),
        );
        registry.register("lagged_clients", "Clients dropped for lagging", metrics.lagged_clients.clone());
        registry.register(
            "conflated_messages",
            "Market messages conflated for slow clients",
            metrics.conflated.clone(),
        );
        registry.register(
            "broadcast_latency_seconds",
            "From publish to the write of the message, per recipient",
            metrics.broadcast_latency.clone(),
        );
        registry.register("message_size_bytes", "Sizes of published messages", metrics.message_size.clone());
        Self { registry, ..metrics }
    }
}

impl ServerMetrics {
    /// The Prometheus text exposition.
    #[must_use]
    pub fn prometheus(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }

    /// The counters as (name, value) pairs, for Python.
    #[must_use]
    pub fn counters(&self) -> [(&'static str, u64); 11] {
        [
            ("connections_active", u64::try_from(self.connections_active.get()).unwrap_or(0)),
            ("connections_total", self.connections.get()),
            ("connections_refused", self.connections_refused.get()),
            ("connection_errors", self.connection_errors.get()),
            ("messages_sent", self.messages_sent.get()),
            ("messages_received", self.messages_received.get()),
            ("messages_published", self.messages_published.get()),
            ("parse_errors", self.parse_errors.get()),
            ("rate_limited", self.rate_limited.get()),
            ("lagged_clients", self.lagged_clients.get()),
            ("conflated_messages", self.conflated.get()),
        ]
    }
}
