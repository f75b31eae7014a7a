//! Recovery time of a reconnecting session when the venue drops the connection but is still
//! there (a load balancer cycling connections, a server closing idle ones): from the moment
//! the session sees the connection end to the moment its new connection is open and its
//! subscription sent. The first retry after a lost connection is immediate, so this is one TCP
//! and WebSocket handshake on loopback. Prints the median and the maximum of 20.
//!
//! Run: `cargo bench --bench reconnect`.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::unix::AsyncFd;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use tickwire::conn::Inbox;
use tickwire::pool::{ReconnectPolicy, Session, SessionConfig, SessionEvent};
use tickwire::{ConnectConfig, Inbound, Outbound};

const DROPS: usize = 20;

/// A server that answers each connection's subscription with "hello" and drops the connection
/// 20 ms later, without a closing handshake, while the listener stays up.
async fn dropping_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let _subscription = ws.next().await;
                ws.send(Message::text("hello")).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            });
        }
    });
    port
}

async fn next_event(inbox: &Arc<Inbox>, wake: &AsyncFd<RawFd>) -> SessionEvent {
    loop {
        while let Some(item) = inbox.pop_or_arm(Inbound::from_payload) {
            if let Inbound::Event(event) = item {
                return event;
            }
        }
        let mut ready =
            tokio::time::timeout(Duration::from_secs(10), wake.readable()).await.unwrap().unwrap();
        inbox.clear_wake();
        ready.clear_ready();
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let mut recoveries = runtime.block_on(async {
        let port = dropping_server().await;
        let config = SessionConfig {
            connect: ConnectConfig::new(format!("ws://127.0.0.1:{port}/")),
            policy: ReconnectPolicy { stable_after: Duration::from_millis(10), ..ReconnectPolicy::default() },
            breaker: None,
        };
        let session = Session::start(config, Box::new(|| vec![Outbound::Text("subscribe".into())])).unwrap();
        // SAFETY: the descriptor belongs to the session's inbox, which outlives this watcher.
        let wake = unsafe { AsyncFd::register(session.inbox().wake_fd()) }.unwrap();
        let mut recoveries = Vec::with_capacity(DROPS);
        let mut dropped_at = None;
        while recoveries.len() < DROPS {
            match next_event(session.inbox(), &wake).await {
                SessionEvent::Disconnected { .. } => dropped_at = Some(Instant::now()),
                SessionEvent::Connected { .. } => {
                    if let Some(at) = dropped_at.take() {
                        recoveries.push(at.elapsed());
                    }
                }
                SessionEvent::GaveUp { reason } => panic!("gave up: {reason}"),
                _ => {}
            }
        }
        session.close().await;
        recoveries
    });
    recoveries.sort();
    let median = recoveries[DROPS / 2];
    let max = recoveries[DROPS - 1];
    println!(
        "reconnect recovery after a dropped connection ({DROPS} drops): median {:.0} µs, max {:.0} µs",
        median.as_secs_f64() * 1e6,
        max.as_secs_f64() * 1e6
    );
}
