//! The connection core from Rust alone, against a real tokio-tungstenite server on loopback:
//! echo in order, close codes, protocol failures, and opening errors.

use std::os::fd::RawFd;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::unix::AsyncFd;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use tickwire::{ConnState, ConnectConfig, Connection, Error, Inbound, Outbound};

const LIMIT: Duration = Duration::from_secs(20);

/// Serves one WebSocket connection with `handler` on a fresh loopback port; returns its URL.
async fn serve<F, Fut>(handler: F) -> String
where
    F: FnOnce(tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        handler(tokio_tungstenite::accept_async(tcp).await.unwrap()).await;
    });
    url
}

/// Waits for the next message the way the Python bridge does: pop, else wait on the wake-up fd.
async fn next_message(connection: &Connection, wake: &AsyncFd<RawFd>) -> Result<Inbound, Error> {
    loop {
        if let Some(message) = connection.try_recv(Inbound::from_payload) {
            return Ok(message);
        }
        if connection.inbox().is_finished() {
            return connection.try_recv(Inbound::from_payload).ok_or_else(|| connection.closed_error());
        }
        let mut ready = wake.readable().await.unwrap();
        connection.inbox().clear_wake();
        ready.clear_ready();
    }
}

fn watch_wake_fd(connection: &Connection) -> AsyncFd<RawFd> {
    // SAFETY: the descriptor belongs to `connection`, which every test keeps alive (and open)
    // for longer than the `AsyncFd` watching it.
    unsafe { AsyncFd::register(connection.inbox().wake_fd()) }.unwrap()
}

async fn open(url: &str) -> (Connection, AsyncFd<RawFd>) {
    let connection = Connection::connect(ConnectConfig::new(url)).await.unwrap();
    let wake = watch_wake_fd(&connection);
    (connection, wake)
}

#[tokio::test]
async fn echoes_text_and_binary_in_order() {
    let url = serve(|mut ws| async move {
        while let Some(Ok(message)) = ws.next().await {
            if message.is_text() || message.is_binary() {
                ws.send(message).await.unwrap();
            }
        }
    })
    .await;
    let (connection, wake) = open(&url).await;
    let count = 10_000_u32;
    tokio::time::timeout(LIMIT, async {
        for n in 0..count {
            let message = if n % 2 == 0 {
                Outbound::Text(n.to_string())
            } else {
                Outbound::Binary(n.to_be_bytes().to_vec().into())
            };
            connection.send(message).await.unwrap();
        }
        for n in 0..count {
            let expected = if n % 2 == 0 {
                Inbound::Text(n.to_string())
            } else {
                Inbound::Binary(n.to_be_bytes().to_vec())
            };
            assert_eq!(next_message(&connection, &wake).await.unwrap(), expected);
        }
    })
    .await
    .unwrap();
    let stats = connection.stats();
    assert_eq!((stats.messages_in, stats.messages_out), (u64::from(count), u64::from(count)));
    connection.close(1000, "done").await.unwrap();
    assert_eq!(connection.state(), ConnState::Closed);
    assert_eq!(connection.close_info().unwrap().code, 1000);
}

#[tokio::test]
async fn the_peers_close_code_and_reason_surface_after_the_messages() {
    let url = serve(|mut ws| async move {
        ws.send(Message::text("last words")).await.unwrap();
        let frame = CloseFrame { code: CloseCode::from(4001), reason: "bye".into() };
        ws.close(Some(frame)).await.unwrap();
        while ws.next().await.is_some() {}
    })
    .await;
    let (connection, wake) = open(&url).await;
    let first = tokio::time::timeout(LIMIT, next_message(&connection, &wake)).await.unwrap().unwrap();
    assert_eq!(first, Inbound::Text("last words".to_owned()));
    let end = tokio::time::timeout(LIMIT, next_message(&connection, &wake)).await.unwrap();
    match end {
        Err(Error::Closed { close, .. }) => {
            assert_eq!((close.code, close.reason.as_str()), (4001, "bye"));
            assert!(!close.protocol_violation);
        }
        other => panic!("expected the peer's close, got {other:?}"),
    }
    assert_eq!(connection.state(), ConnState::Closed);
}

#[tokio::test]
async fn a_message_over_the_limit_fails_the_connection_with_1009() {
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let url = serve(|mut ws| async move {
        ws.send(Message::binary(vec![7; 2000])).await.unwrap();
        let mut code = None;
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Close(Some(frame)) = message {
                code = Some(u16::from(frame.code));
            }
        }
        let _ = seen_tx.send(code);
    })
    .await;
    let mut config = ConnectConfig::new(&url);
    config.max_message_bytes = 1000;
    let connection = Connection::connect(config).await.unwrap();
    let wake = watch_wake_fd(&connection);
    let end = tokio::time::timeout(LIMIT, next_message(&connection, &wake)).await.unwrap();
    match end {
        Err(Error::Closed { close, .. }) => assert_eq!((close.code, close.protocol_violation), (1009, true)),
        other => panic!("expected a 1009 failure, got {other:?}"),
    }
    assert_eq!(tokio::time::timeout(LIMIT, seen_rx).await.unwrap().unwrap(), Some(1009));
    assert_eq!(connection.state(), ConnState::Error);
}

#[tokio::test]
async fn opening_errors_are_typed() {
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("ws://127.0.0.1:{port}/")
    };
    assert!(matches!(Connection::connect(ConnectConfig::new(&refused)).await, Err(Error::Connect { .. })));
    assert!(matches!(
        Connection::connect(ConnectConfig::new("http://127.0.0.1/")).await,
        Err(Error::InvalidUrl { .. })
    ));

    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = ConnectConfig::new(format!("ws://{}/", silent.local_addr().unwrap()));
    config.open_timeout = Duration::from_millis(200);
    let keep_open = tokio::spawn(async move { silent.accept().await.map(|(tcp, _)| tcp) });
    assert!(matches!(Connection::connect(config).await, Err(Error::Timeout { operation: "opening", .. })));
    keep_open.abort();
}
