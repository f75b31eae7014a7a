//! The connection pool: many sessions on one runtime, added, started, stopped and watched
//! together (per venue, or per venue and data type when a venue caps streams per connection).

use std::time::Duration;

use super::session::{OnConnect, Session, SessionConfig};
use crate::clock::monotonic_ns;
use crate::error::{Error, Result};

/// A pool member's id, stable for the pool's life (ids are not reused).
pub type ConnectionId = usize;

struct Member {
    config: SessionConfig,
    on_connect: Option<OnConnect>,
    session: Option<Session>,
}

/// How one member is doing, as [`ConnectionPool::maintenance`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Connected, and something arrived within the idle limit.
    Healthy,
    /// Connected, but nothing arrived for `idle` (the heartbeat drops it at `stale_timeout`).
    Idle {
        /// Time since anything arrived.
        idle: Duration,
    },
    /// Between connections (the session is retrying).
    Reconnecting,
    /// Added but not started yet.
    NotStarted,
    /// The session ended (gave up or was closed); removed from the pool by this call.
    Ended,
}

/// Counters of the whole pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Members in the pool.
    pub connections: usize,
    /// Members with a connection open now.
    pub connected: usize,
    /// Reconnections scheduled by all members so far.
    pub reconnects: u64,
}

/// Many reconnecting sessions on one runtime.
#[derive(Default)]
pub struct ConnectionPool {
    members: Vec<Option<Member>>,
}

impl ConnectionPool {
    /// An empty pool.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a member, not started until [`ConnectionPool::connect_all`].
    pub fn add_connection(&mut self, config: SessionConfig, on_connect: OnConnect) -> ConnectionId {
        self.members.push(Some(Member { config, on_connect: Some(on_connect), session: None }));
        self.members.len() - 1
    }

    /// Starts every member not started yet, on the current tokio runtime.
    ///
    /// # Errors
    /// The first member whose configuration cannot connect at all ([`Error::InvalidUrl`],
    /// [`Error::InvalidOption`]); members before it are started.
    pub fn connect_all(&mut self) -> Result<()> {
        for member in self.members.iter_mut().flatten() {
            if let Some(on_connect) = member.on_connect.take() {
                member.session = Some(Session::start(member.config.clone(), on_connect)?);
            }
        }
        Ok(())
    }

    /// The session of a started member.
    #[must_use]
    pub fn session(&self, id: ConnectionId) -> Option<&Session> {
        self.members.get(id)?.as_ref()?.session.as_ref()
    }

    /// Closes a member's session (if started) and removes it.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for an id that is not in the pool.
    pub async fn disconnect(&mut self, id: ConnectionId) -> Result<()> {
        let member = self.members.get_mut(id).and_then(Option::take).ok_or_else(|| Error::InvalidOption {
            name: "id",
            reason: format!("no connection {id} in the pool"),
        })?;
        if let Some(session) = member.session {
            session.close().await;
        }
        Ok(())
    }

    /// Checks every member: connected and active, idle for longer than `idle_limit`,
    /// reconnecting, not started, or ended (ended members are removed).
    pub fn maintenance(&mut self, idle_limit: Duration) -> Vec<(ConnectionId, Health)> {
        let now = monotonic_ns();
        let mut report = Vec::new();
        for (id, slot) in self.members.iter_mut().enumerate() {
            let Some(member) = slot else { continue };
            let health = match &member.session {
                None => Health::NotStarted,
                Some(session) if session.is_ended() => Health::Ended,
                Some(session) => match session.current() {
                    None => Health::Reconnecting,
                    Some(connection) => {
                        let idle =
                            Duration::from_nanos(now.saturating_sub(connection.stats().last_receive_ns));
                        if idle > idle_limit { Health::Idle { idle } } else { Health::Healthy }
                    }
                },
            };
            if health == Health::Ended {
                *slot = None;
            }
            report.push((id, health));
        }
        report
    }

    /// Counters of the whole pool.
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        let mut stats = PoolStats::default();
        for member in self.members.iter().flatten() {
            stats.connections += 1;
            if let Some(session) = &member.session {
                stats.connected += usize::from(session.current().is_some());
                stats.reconnects += session.reconnects();
            }
        }
        stats
    }
}
