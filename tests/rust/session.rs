//! Reconnecting sessions against a real tokio-tungstenite server on loopback that is killed and
//! restarted: backoff, resubscription, quick recovery, giving up, and closing.

use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::Message;

use tickwire::conn::Inbox;
use tickwire::pool::{ReconnectPolicy, Session, SessionConfig, SessionEvent};
use tickwire::{ConnectConfig, Inbound, Outbound};

const LIMIT: Duration = Duration::from_secs(20);

/// A WebSocket server on a fixed port that records each connection's first message, answers
/// "hello", then keeps reading. Dropping (killing) it drops every connection without a close.
struct Peer {
    task: JoinHandle<()>,
}

impl Peer {
    async fn start(port: u16, first_messages: Arc<Mutex<Vec<String>>>, drop_after: Option<Duration>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let first_messages = first_messages.clone();
                connections.spawn(async move {
                    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                    if let Some(Ok(Message::Text(text))) = ws.next().await {
                        first_messages.lock().unwrap().push(text.to_string());
                    }
                    ws.send(Message::text("hello")).await.unwrap();
                    if let Some(after) = drop_after {
                        tokio::time::sleep(after).await;
                        return; // drops TCP without a closing handshake
                    }
                    while let Some(Ok(_)) = ws.next().await {}
                });
            }
        });
        Self { task }
    }

    fn kill(self) {
        // Aborting the task drops the listener and the JoinSet, which aborts every connection.
        self.task.abort();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn config(port: u16, initial_delay: Duration) -> SessionConfig {
    let mut connect = ConnectConfig::new(format!("ws://127.0.0.1:{port}/"));
    connect.open_timeout = Duration::from_secs(2);
    let policy = ReconnectPolicy {
        initial_delay,
        max_delay: initial_delay * 8,
        jitter: 0.0,
        handshake_4xx_attempts: 2,
        ..ReconnectPolicy::default()
    };
    SessionConfig { connect, policy, breaker: None }
}

fn subscribe_on_connect() -> tickwire::pool::OnConnect {
    Box::new(|| vec![Outbound::Text("subscribe".into())])
}

/// The consumer side: what the session published next, `None` once it has ended.
struct Consumer<'a> {
    inbox: &'a Inbox,
    wake: AsyncFd<RawFd>,
}

impl<'a> Consumer<'a> {
    fn new(inbox: &'a Arc<Inbox>) -> Self {
        // SAFETY: the descriptor belongs to the inbox, which the test keeps alive longer.
        let wake = unsafe { AsyncFd::register(inbox.wake_fd()) }.unwrap();
        Self { inbox, wake }
    }

    async fn next(&self) -> Option<Inbound> {
        loop {
            if let Some(item) = self.inbox.pop_or_arm(Inbound::from_payload) {
                return Some(item);
            }
            if self.inbox.is_finished() {
                return self.inbox.pop_or_arm(Inbound::from_payload);
            }
            let mut ready = tokio::time::timeout(LIMIT, self.wake.readable()).await.unwrap().unwrap();
            self.inbox.clear_wake();
            ready.clear_ready();
        }
    }

    /// Collects everything up to and including the first item `until` accepts.
    async fn until(&self, until: impl Fn(&Inbound) -> bool) -> Vec<Inbound> {
        let mut seen = Vec::new();
        loop {
            let item = self.next().await.expect("the session ended early");
            let done = until(&item);
            seen.push(item);
            if done {
                return seen;
            }
        }
    }
}

fn is_hello(item: &Inbound) -> bool {
    *item == Inbound::Text("hello".into())
}

fn reconnect_delays(items: &[Inbound]) -> Vec<Duration> {
    items
        .iter()
        .filter_map(|item| match item {
            Inbound::Event(SessionEvent::Reconnecting { delay, .. }) => Some(*delay),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn reconnects_with_backoff_and_resubscribes() {
    let port = free_port();
    let firsts = Arc::new(Mutex::new(Vec::new()));
    let peer = Peer::start(port, firsts.clone(), None).await;
    let session = Session::start(config(port, Duration::from_millis(100)), subscribe_on_connect()).unwrap();
    let consumer = Consumer::new(session.inbox());
    let opening = consumer.until(is_hello).await;
    assert!(matches!(
        opening[..],
        [
            Inbound::Event(SessionEvent::Connecting { attempt: 1 }),
            Inbound::Event(SessionEvent::Connected { attempt: 1 }),
            Inbound::Text(_)
        ]
    ));

    peer.kill();
    let killed_at = Instant::now();
    // Down long enough for the immediate retry and two backoff steps (100 ms, 200 ms) to fail.
    let restart = tokio::spawn({
        let firsts = firsts.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(450)).await;
            Peer::start(port, firsts, None).await
        }
    });
    let recovery = consumer.until(is_hello).await;
    let recovered_after = killed_at.elapsed();
    let peer = restart.await.unwrap();

    assert!(
        matches!(recovery[0], Inbound::Event(SessionEvent::Disconnected { ref close }) if close.code == 1006)
    );
    let delays = reconnect_delays(&recovery);
    assert!(delays.len() >= 3, "{recovery:?}");
    assert_eq!(delays[..3], [Duration::ZERO, Duration::from_millis(100), Duration::from_millis(200)]);
    assert!(recovery.iter().any(|item| matches!(item, Inbound::Event(SessionEvent::ConnectFailed { .. }))));
    assert!(matches!(recovery[recovery.len() - 2], Inbound::Event(SessionEvent::Connected { .. })));
    assert!(recovered_after >= Duration::from_millis(450));
    assert_eq!(*firsts.lock().unwrap(), ["subscribe", "subscribe"], "resubscribed on the new connection");
    assert_eq!(session.reconnects(), delays.len() as u64);

    session.close().await;
    let ending = consumer.until(|item| matches!(item, Inbound::Event(SessionEvent::Closed))).await;
    assert!(
        matches!(ending[0], Inbound::Event(SessionEvent::Disconnected { ref close }) if close.code == 1000)
    );
    assert_eq!(consumer.next().await, None, "nothing after Closed");
    assert!(session.is_ended());
    peer.kill();
}

#[tokio::test]
async fn a_dropped_connection_is_reopened_at_once() {
    let port = free_port();
    let firsts = Arc::new(Mutex::new(Vec::new()));
    let peer = Peer::start(port, firsts, Some(Duration::from_millis(50))).await;
    let session = Session::start(config(port, Duration::from_secs(1)), subscribe_on_connect()).unwrap();
    let consumer = Consumer::new(session.inbox());
    consumer.until(is_hello).await;
    let dropped =
        consumer.until(|item| matches!(item, Inbound::Event(SessionEvent::Disconnected { .. }))).await;
    let dropped_at = Instant::now();
    assert_eq!(dropped.len(), 1);
    let recovery =
        consumer.until(|item| matches!(item, Inbound::Event(SessionEvent::Connected { .. }))).await;
    let recovered_in = dropped_at.elapsed();
    assert_eq!(reconnect_delays(&recovery), [Duration::ZERO], "the first retry is immediate");
    // Loose bound: the recovery time itself is measured in the bench; here only "not a backoff".
    assert!(recovered_in < Duration::from_millis(900), "took {recovered_in:?}");
    session.close().await;
    peer.kill();
}

#[tokio::test]
async fn a_rejected_upgrade_gives_up_with_the_status() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let _ = tcp.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n").await;
        }
    });
    let session = Session::start(config(port, Duration::from_millis(10)), subscribe_on_connect()).unwrap();
    let consumer = Consumer::new(session.inbox());
    let events = tokio::time::timeout(
        LIMIT,
        consumer.until(|item| matches!(item, Inbound::Event(SessionEvent::GaveUp { .. }))),
    )
    .await
    .unwrap();
    let Some(Inbound::Event(SessionEvent::GaveUp { reason })) = events.last() else { unreachable!() };
    assert!(reason.contains("403"), "{reason}");
    assert_eq!(
        events
            .iter()
            .filter(|item| matches!(item, Inbound::Event(SessionEvent::ConnectFailed { .. })))
            .count(),
        2
    );
    assert_eq!(consumer.next().await, None);
    assert!(session.is_ended());
    server.abort();
}

#[tokio::test]
async fn a_pool_starts_watches_and_disconnects_its_members() {
    use tickwire::pool::{ConnectionPool, Health};

    let port = free_port();
    let firsts = Arc::new(Mutex::new(Vec::new()));
    let peer = Peer::start(port, firsts.clone(), None).await;
    let mut pool = ConnectionPool::new();
    let ids: Vec<_> = (0..3)
        .map(|_| pool.add_connection(config(port, Duration::from_millis(50)), subscribe_on_connect()))
        .collect();
    assert!(pool.maintenance(Duration::from_secs(1)).iter().all(|(_, health)| *health == Health::NotStarted));
    pool.connect_all().unwrap();
    for &id in &ids {
        let consumer = Consumer::new(pool.session(id).unwrap().inbox());
        consumer.until(is_hello).await;
    }
    assert_eq!(pool.stats().connected, 3);
    assert_eq!(firsts.lock().unwrap().len(), 3);
    let health = pool.maintenance(Duration::from_mins(1));
    assert!(health.iter().all(|(_, health)| *health == Health::Healthy), "{health:?}");
    tokio::time::sleep(Duration::from_millis(30)).await;
    let idle = pool.maintenance(Duration::from_millis(10));
    assert!(idle.iter().all(|(_, health)| matches!(health, Health::Idle { .. })), "{idle:?}");

    pool.disconnect(ids[1]).await.unwrap();
    assert_eq!((pool.stats().connections, pool.stats().connected), (2, 2));
    assert!(pool.disconnect(ids[1]).await.is_err(), "already gone");
    peer.kill();
    tokio::time::timeout(LIMIT, async {
        while pool.stats().connected > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let reconnecting = pool.maintenance(Duration::from_mins(1));
    assert!(reconnecting.iter().all(|(_, health)| *health == Health::Reconnecting), "{reconnecting:?}");
    assert!(pool.stats().reconnects >= 2);
}
