//! The heartbeat task: sends a WebSocket ping every `ping_interval` and drops the connection
//! when nothing at all has arrived for `stale_timeout` (no data, no pong, no ping), which is how
//! a peer that keeps TCP open but has stopped is told from a quiet market.
//!
//! It runs beside the reader and writer, never on the read path, and never touches Python, so
//! it keeps working while a Python callback blocks.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::Shared;
use super::close::CloseInfo;
use super::writer::Control;
use crate::clock::monotonic_ns;

/// What the heartbeat task needs.
pub(super) struct Heartbeat {
    pub(super) shared: Arc<Shared>,
    pub(super) control: mpsc::Sender<Control>,
    pub(super) ping_interval: Option<Duration>,
    pub(super) stale_timeout: Option<Duration>,
    /// The reader and writer, stopped when the connection goes stale.
    pub(super) io_tasks: [AbortHandle; 2],
}

impl Heartbeat {
    /// How often the task wakes: often enough for both jobs, at most once a second less than
    /// either needs.
    fn tick(&self) -> Option<Duration> {
        let stale_check = self.stale_timeout.map(|timeout| timeout / 4);
        match (self.ping_interval, stale_check) {
            (None, None) => None,
            (Some(interval), None) => Some(interval),
            (None, Some(check)) => Some(check),
            (Some(interval), Some(check)) => Some(interval.min(check)),
        }
    }
}

pub(super) async fn heartbeat_loop(heartbeat: Heartbeat) {
    let Some(tick) = heartbeat.tick() else { return };
    let shared = &heartbeat.shared;
    let mut terminated = shared.terminated.subscribe();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ping_ns = monotonic_ns();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = terminated.wait_for(|done| *done) => return,
        }
        let now = monotonic_ns();
        // A reader paused on a full inbox is not reading by choice; that is not staleness.
        if let Some(stale_timeout) = heartbeat.stale_timeout.filter(|_| !shared.inbox.is_reader_paused()) {
            let last = shared
                .stats
                .last_receive_ns
                .load(Ordering::Relaxed)
                .max(shared.stats.connected_at_ns.load(Ordering::Relaxed));
            let silent = Duration::from_nanos(now.saturating_sub(last));
            if silent > stale_timeout {
                for task in &heartbeat.io_tasks {
                    task.abort();
                }
                shared.terminate(CloseInfo::abnormal(format!(
                    "stale: nothing received for {:.1} s (stale_timeout {:.1} s)",
                    silent.as_secs_f64(),
                    stale_timeout.as_secs_f64()
                )));
                return;
            }
        }
        let ping_due = heartbeat
            .ping_interval
            .is_some_and(|interval| Duration::from_nanos(now.saturating_sub(last_ping_ns)) >= interval);
        if ping_due {
            last_ping_ns = now;
            // A full control queue means the writer is stuck: the stale check will tell.
            let _ = heartbeat.control.try_send(Control::Ping(now.to_be_bytes().to_vec()));
        }
    }
}
