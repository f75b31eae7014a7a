//! A session: one logical connection that reconnects by itself.
//!
//! The session task opens a [`Connection`] into the session's own inbox, sends the on-connect
//! messages (the subscriptions of the moment, from the hook), waits for the connection to end,
//! and asks the [`Backoff`] and the venue's [`CircuitBreaker`] when to try again. Every state
//! change is published into the inbox as a [`SessionEvent`], in order with the messages, so a
//! consumer sees "disconnected … reconnecting … connected" exactly between the last message of
//! the old connection and the first of the new. The consumer keeps one inbox and one wake-up
//! descriptor for the session's whole life.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::breaker::{BreakerPolicy, CircuitBreaker};
use super::event::SessionEvent;
use super::policy::{Backoff, Decision, DisconnectCause, ReconnectPolicy};
use crate::config::ConnectConfig;
use crate::conn::{CloseInfo, Connection, Decoder, Inbox, Outbound};
use crate::error::{Error, Result};

/// Messages to send on every new connection, asked for at the moment it opens (so they reflect
/// the subscriptions active then).
pub type OnConnect = Box<dyn Fn() -> Vec<Outbound> + Send + Sync>;

/// How a session connects and reconnects.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// How each connection is opened.
    pub connect: ConnectConfig,
    /// When to retry.
    pub policy: ReconnectPolicy,
    /// When to leave the venue alone for a while; `None` for no breaker.
    pub breaker: Option<BreakerPolicy>,
}

struct SessionShared {
    inbox: Arc<Inbox>,
    current: Mutex<Option<Connection>>,
    stop: watch::Sender<bool>,
    ended: watch::Sender<bool>,
    /// The session's last event (closed or gave up), once it has ended.
    end: Mutex<Option<SessionEvent>>,
    reconnects: AtomicU64,
    /// Set by [`Session::reconnect`] until the session task sees the close it asked for.
    planned_reconnect: AtomicBool,
}

/// A running session; dropping it stops it.
pub struct Session {
    shared: Arc<SessionShared>,
    task: AbortHandle,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
        // The open connection's last handle goes with it, which closes its socket.
        drop(self.shared.current.lock().unwrap_or_else(PoisonError::into_inner).take());
        self.shared.inbox.finish();
    }
}

impl Session {
    /// Starts a session on the current tokio runtime; the first connection opens in the
    /// background (watch the inbox for [`SessionEvent::Connected`]).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] / [`Error::InvalidUrl`] for a configuration that can never
    /// connect; [`Error::Runtime`] when the inbox cannot be created.
    pub fn start(config: SessionConfig, on_connect: OnConnect) -> Result<Self> {
        Self::start_decoding(config, on_connect, None)
    }

    /// Like [`start`](Self::start), with a decoder for the inbox (a venue adapter), installed
    /// before the first connection opens.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_decoding(
        config: SessionConfig,
        on_connect: OnConnect,
        decoder: Option<Box<dyn Decoder>>,
    ) -> Result<Self> {
        config.connect.validate()?;
        crate::transport::Target::parse(&config.connect.url)?;
        let backoff = Backoff::new(config.policy.clone())?;
        let breaker = config
            .breaker
            .clone()
            .map(|policy| CircuitBreaker::new(config.connect.url.clone(), policy))
            .transpose()?;
        let inbox = Arc::new(Inbox::new(config.connect.max_queue).map_err(Error::Runtime)?);
        if let Some(decoder) = decoder {
            inbox.set_decoder(decoder);
        }
        let shared = Arc::new(SessionShared {
            inbox,
            current: Mutex::new(None),
            stop: watch::Sender::new(false),
            ended: watch::Sender::new(false),
            end: Mutex::new(None),
            reconnects: AtomicU64::new(0),
            planned_reconnect: AtomicBool::new(false),
        });
        let task =
            tokio::spawn(run(shared.clone(), config.connect, backoff, breaker, on_connect)).abort_handle();
        Ok(Self { shared, task })
    }

    /// Closes the open connection (1000, `reason`) and opens a new one at once, as after a
    /// lost connection: for a venue that announced it will close this one (Binance's
    /// `serverShutdown`). Returns whether a connection was open.
    #[must_use = "false means no connection was open, so none was closed"]
    pub fn reconnect(&self, reason: &str) -> bool {
        let Some(connection) = self.current() else { return false };
        self.shared.planned_reconnect.store(true, Ordering::Release);
        let reason = reason.to_owned();
        tokio::spawn(async move {
            // A reason over the limit is cut by close(); a failure means it already ended.
            let _ = connection.close(1000, &reason).await;
        });
        true
    }

    /// The inbox every connection of the session publishes into.
    #[must_use]
    pub fn inbox(&self) -> &Arc<Inbox> {
        &self.shared.inbox
    }

    /// The open connection, if there is one now.
    #[must_use]
    pub fn current(&self) -> Option<Connection> {
        self.shared.current.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Reconnections scheduled so far.
    #[must_use]
    pub fn reconnects(&self) -> u64 {
        self.shared.reconnects.load(Ordering::Relaxed)
    }

    /// Whether the session has ended (closed or gave up).
    #[must_use]
    pub fn is_ended(&self) -> bool {
        *self.shared.ended.borrow()
    }

    /// How the session ended ([`SessionEvent::Closed`] or [`SessionEvent::GaveUp`]), once it has.
    #[must_use]
    pub fn end(&self) -> Option<SessionEvent> {
        self.shared.end.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stops reconnecting, closes the open connection with 1000, and waits for the session to
    /// end (its last event, [`SessionEvent::Closed`], is then in the inbox).
    ///
    /// The future does not borrow the session, so it can be awaited elsewhere (on the runtime
    /// while the caller goes on).
    pub fn close(&self) -> impl Future<Output = ()> + Send + 'static {
        self.shared.stop.send_replace(true);
        let mut ended = self.shared.ended.subscribe();
        async move {
            // Err only when the task is gone, which means it has ended.
            let _ = ended.wait_for(|ended| *ended).await;
        }
    }
}

/// What the session task returns to its end-of-life handling.
enum End {
    Closed,
    GaveUp(String),
}

async fn run(
    shared: Arc<SessionShared>,
    config: ConnectConfig,
    mut backoff: Backoff,
    mut breaker: Option<CircuitBreaker>,
    on_connect: OnConnect,
) {
    let mut stop = shared.stop.subscribe();
    let end = loop {
        if let Some(open) = breaker.as_mut().and_then(|breaker| breaker.allow(Instant::now()).err()) {
            shared
                .inbox
                .push_event(SessionEvent::CircuitOpen { message: open.to_string(), retry_in: open.retry_in });
            if sleep_unless_stopped(open.retry_in, &mut stop).await {
                break End::Closed;
            }
            continue;
        }
        let attempt = backoff.attempt() + 1;
        shared.inbox.push_event(SessionEvent::Connecting { attempt });
        // The old connection's reader has ended; the new one's has not started.
        shared.inbox.reset_decoder();
        let opened = tokio::select! {
            opened = Connection::connect_into(config.clone(), shared.inbox.clone()) => opened,
            _ = stop.wait_for(|stop| *stop) => break End::Closed,
        };
        let (cause, last_error) = match opened {
            Ok(connection) => {
                backoff.on_connected(Instant::now());
                if let Some(breaker) = breaker.as_mut() {
                    breaker.record_success();
                }
                match serve(&shared, connection, attempt, &on_connect, &mut stop).await {
                    // Our own close, asked for by `reconnect`: retried like a lost connection.
                    Some(close) if shared.planned_reconnect.swap(false, Ordering::AcqRel) => (
                        DisconnectCause::from_close(&CloseInfo::abnormal("planned reconnect")),
                        close.to_string(),
                    ),
                    Some(close) => (DisconnectCause::from_close(&close), close.to_string()),
                    None => break End::Closed,
                }
            }
            Err(error) => {
                if let Some(breaker) = breaker.as_mut() {
                    breaker.record_failure(Instant::now());
                }
                shared.inbox.push_event(SessionEvent::ConnectFailed { error: error.to_string() });
                (DisconnectCause::from_error(&error), error.to_string())
            }
        };
        match backoff.on_disconnect(Instant::now(), &cause) {
            Decision::RetryAfter(delay) => {
                shared.reconnects.fetch_add(1, Ordering::Relaxed);
                shared.inbox.push_event(SessionEvent::Reconnecting { attempt: backoff.attempt() + 1, delay });
                if sleep_unless_stopped(delay, &mut stop).await {
                    break End::Closed;
                }
            }
            Decision::GiveUp(reason) => break End::GaveUp(format!("{reason}; last: {last_error}")),
            Decision::Stop => break End::Closed,
        }
    };
    let last = match end {
        End::Closed => SessionEvent::Closed,
        End::GaveUp(reason) => SessionEvent::GaveUp { reason },
    };
    *shared.end.lock().unwrap_or_else(PoisonError::into_inner) = Some(last.clone());
    shared.inbox.push_event(last);
    shared.inbox.finish();
    shared.ended.send_replace(true);
}

/// Runs one open connection until it ends (returns how) or the session is stopped (closes it
/// and returns `None`).
async fn serve(
    shared: &SessionShared,
    connection: Connection,
    attempt: u32,
    on_connect: &OnConnect,
    stop: &mut watch::Receiver<bool>,
) -> Option<CloseInfo> {
    *shared.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(connection.clone());
    for message in on_connect() {
        // A send that fails means the connection already ended; wait_closed says how.
        if connection.send(message).await.is_err() {
            break;
        }
    }
    shared.inbox.push_event(SessionEvent::Connected { attempt });
    let stopped = tokio::select! {
        () = connection.wait_closed() => false,
        _ = stop.wait_for(|stop| *stop) => true,
    };
    if stopped {
        // Validated code and empty reason: cannot fail.
        let _ = connection.close(1000, "").await;
    }
    *shared.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
    let close = connection
        .close_info()
        .unwrap_or_else(|| CloseInfo::abnormal("the connection ended without a close record"));
    shared.inbox.push_event(SessionEvent::Disconnected { close: close.clone() });
    (!stopped).then_some(close)
}

/// Sleeps for `delay`; returns whether the session was stopped meanwhile.
async fn sleep_unless_stopped(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        _ = stop.wait_for(|stop| *stop) => true,
    }
}
