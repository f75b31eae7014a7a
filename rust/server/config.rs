//! [`ServerConfig`]: how a broadcast server listens, whom it lets in, and its bounds; and
//! [`ServerError`].
//!
//! The defaults are safe for a local deployment: loopback only, browser pages admitted only
//! from the server's own and loopback origins, bounded queues, a history of critical messages,
//! an inbound rate limit. For a public one: bind `0.0.0.0`, set a `token`, list the
//! dashboard's origins in `allowed_origins`, and serve TLS ([`TlsFiles`]) or put it in front.

use std::path::PathBuf;
use std::time::Duration;

/// A broadcast server's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on.
    pub host: String,
    /// Port (0: any free one).
    pub port: u16,
    /// Required from clients as `?token=` or `Authorization: Bearer …` (401 otherwise).
    pub token: Option<String>,
    /// Origins whose pages may connect (`"*"`: any); `None`: the server's own origin and
    /// loopback ones. Clients that send no `Origin` (not browsers) are not checked.
    pub allowed_origins: Option<Vec<String>>,
    /// Connections at once; more are refused with 503.
    pub max_connections: usize,
    /// Largest client message (frame or message) accepted; larger closes with 1009.
    pub max_message_size: usize,
    /// Client messages per second allowed, sustained.
    pub client_rate: u32,
    /// Client messages allowed at once before the rate applies.
    pub client_burst: u32,
    /// Server pings this often; a client silent for two intervals is dropped.
    pub heartbeat_interval: Duration,
    /// Critical messages kept for `Resume`.
    pub history: usize,
    /// Queued messages beyond which a client's market data is conflated.
    pub queue_soft_limit: usize,
    /// Critical messages queued beyond which a client is told `LAGGED` and dropped.
    pub critical_limit: usize,
    /// Where the dashboard's files are (`index.html` at `/`, the rest under `/static/`).
    pub dashboard_dir: Option<PathBuf>,
    /// Serve TLS (`https`, `wss`) with this certificate chain and key (PEM files).
    pub tls: Option<TlsFiles>,
    /// Also serve `/echo`: the same accept path and close-code policy as `/ws`, echoing every
    /// message (for conformance tests).
    pub echo_route: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            token: None,
            allowed_origins: None,
            max_connections: 1000,
            max_message_size: 64 * 1024,
            client_rate: 50,
            client_burst: 100,
            heartbeat_interval: Duration::from_secs(30),
            history: 10_000,
            queue_soft_limit: 1024,
            critical_limit: 4096,
            dashboard_dir: None,
            echo_route: false,
            tls: None,
        }
    }
}

impl ServerConfig {
    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`ServerError::Config`] naming the setting out of range.
    pub fn validate(&self) -> Result<(), ServerError> {
        let positive = [
            ("max_connections", self.max_connections),
            ("max_message_size", self.max_message_size),
            ("client_rate", self.client_rate as usize),
            ("client_burst", self.client_burst as usize),
            ("queue_soft_limit", self.queue_soft_limit),
            ("critical_limit", self.critical_limit),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ServerError::Config(format!("{name} must be at least 1")));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(ServerError::Config("heartbeat_interval must be above 0".into()));
        }
        if self.token.as_deref() == Some("") {
            return Err(ServerError::Config("token must not be empty (None for no token)".into()));
        }
        Ok(())
    }
}

/// The PEM files of a server's TLS identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why a server cannot start or a message cannot be published.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A setting out of range.
    #[error("invalid server setting: {0}")]
    Config(String),
    /// The address cannot be listened on.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// `host:port`.
        address: String,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The dashboard's files cannot be read.
    #[error("cannot read the dashboard files in {path}: {source}")]
    Dashboard {
        /// The folder.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("cannot use the TLS certificate {cert} and key {key}: {reason}")]
    Tls {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A message that cannot be published.
    #[error("cannot publish: {0}")]
    Publish(String),
    /// The crate's runtime.
    #[error(transparent)]
    Runtime(#[from] crate::error::Error),
}
