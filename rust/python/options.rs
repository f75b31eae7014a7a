//! Options passed from Python as dicts (built by the `tickwire` package from its keyword
//! arguments and dataclasses), turned into the core's configuration types.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::config::ConnectConfig;
use crate::pool::{BreakerPolicy, ReconnectPolicy};

/// A positive number of seconds.
pub fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).ok().filter(|duration| !duration.is_zero()).ok_or_else(|| {
        PyValueError::new_err(format!("{name} must be a positive number of seconds, not {value}"))
    })
}

fn optional_seconds(name: &str, value: Option<f64>) -> PyResult<Option<Duration>> {
    value.map(|value| seconds(name, value)).transpose()
}

/// The keyword options of `tickwire.connect`.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct ConnectOptions {
    nodelay: bool,
    recv_buffer: Option<u32>,
    send_buffer: Option<u32>,
    max_message_size: usize,
    max_frame_size: usize,
    headers: Vec<(String, String)>,
    ca_file: Option<PathBuf>,
    open_timeout: f64,
    close_timeout: f64,
    max_queue: usize,
    read_buffer_size: usize,
    ping_interval: Option<f64>,
    stale_timeout: Option<f64>,
}

impl ConnectOptions {
    /// The connection configuration for `url`, validated.
    pub fn into_config(self, url: String) -> PyResult<ConnectConfig> {
        let config = ConnectConfig {
            url,
            nodelay: self.nodelay,
            recv_buffer_bytes: self.recv_buffer,
            send_buffer_bytes: self.send_buffer,
            max_message_bytes: self.max_message_size,
            max_frame_bytes: self.max_frame_size,
            headers: self.headers,
            ca_file: self.ca_file,
            open_timeout: seconds("open_timeout", self.open_timeout)?,
            close_timeout: seconds("close_timeout", self.close_timeout)?,
            max_queue: self.max_queue,
            read_buffer_bytes: self.read_buffer_size,
            ping_interval: optional_seconds("ping_interval", self.ping_interval)?,
            stale_timeout: optional_seconds("stale_timeout", self.stale_timeout)?,
        };
        config.validate()?;
        Ok(config)
    }
}

/// The fields of `tickwire.ReconnectPolicy`.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct PolicyOptions {
    max_attempts: Option<u32>,
    initial_delay: f64,
    backoff_factor: f64,
    max_delay: f64,
    jitter: f64,
    reset_on_1005: bool,
    stable_after: f64,
    handshake_4xx_attempts: u32,
}

impl PolicyOptions {
    /// The policy, validated.
    pub fn into_policy(self) -> PyResult<ReconnectPolicy> {
        let policy = ReconnectPolicy {
            max_attempts: self.max_attempts,
            initial_delay: seconds("initial_delay", self.initial_delay)?,
            backoff_factor: self.backoff_factor,
            max_delay: seconds("max_delay", self.max_delay)?,
            jitter: self.jitter,
            reset_on_1005: self.reset_on_1005,
            stable_after: seconds("stable_after", self.stable_after)?,
            handshake_4xx_attempts: self.handshake_4xx_attempts,
        };
        policy.validate()?;
        Ok(policy)
    }
}

/// The fields of `tickwire.BreakerPolicy`.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct BreakerOptions {
    failure_threshold: u32,
    window: f64,
    open_for: f64,
}

impl BreakerOptions {
    /// The breaker policy, validated.
    pub fn into_policy(self) -> PyResult<BreakerPolicy> {
        let policy = BreakerPolicy {
            failure_threshold: self.failure_threshold,
            window: seconds("window", self.window)?,
            open_for: seconds("open_for", self.open_for)?,
        };
        policy.validate()?;
        Ok(policy)
    }
}
