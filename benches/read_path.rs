//! The receive hot path without Python: pre-encoded server frames of Binance-shaped trades are
//! read by tungstenite through the connection's reusable read buffer, queued in the inbox, and
//! drained as the Python bridge drains them. Also the same read without the buffer, to show
//! why it is there: tungstenite zero-fills its spare buffer room before every read.

use std::pin::Pin;
use std::task::{Context, Poll};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use tickwire::conn::{ConnStats, Inbox};
use tickwire::transport::{BufferedStream, FRAME_READ_WINDOW_BYTES, ReadCapacity};

const MESSAGES: usize = 10_000;

/// Serves pre-encoded frames, at most `chunk` bytes per read, as a socket would.
struct Replay {
    wire: Vec<u8>,
    position: usize,
    chunk: usize,
}

impl AsyncRead for Replay {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let end = (this.position + this.chunk.min(out.remaining())).min(this.wire.len());
        out.put_slice(&this.wire[this.position..end]);
        this.position = end;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// `MESSAGES` unmasked server text frames of trade JSON (~180 bytes each).
fn trade_frames() -> Vec<u8> {
    let mut wire = Vec::new();
    for n in 0..MESSAGES {
        let payload = format!(
            r#"{{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":{},"p":"16848.{:02}000000","q":"0.00100000","b":88,"a":50,"T":1672515782136,"m":true,"M":true}}"#,
            12_345 + n,
            n % 100
        );
        wire.push(0x81);
        wire.push(126);
        wire.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
        wire.extend_from_slice(payload.as_bytes());
    }
    wire
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

fn read_path(c: &mut Criterion) {
    let wire = trade_frames();
    let runtime = runtime();
    let mut group = c.benchmark_group("read_path");
    group.throughput(Throughput::Elements(MESSAGES as u64));

    for (name, socket_chunk) in [("firehose_64KiB_reads", 64 * 1024), ("quiet_one_frame_per_read", 200)] {
        group.bench_function(format!("buffered/{name}"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let replay = Replay { wire: wire.clone(), position: 0, chunk: socket_chunk };
                    let stream = BufferedStream::new(replay, ReadCapacity::new(256 * 1024));
                    let config = WebSocketConfig::default().read_buffer_size(FRAME_READ_WINDOW_BYTES);
                    let ws = WebSocketStream::from_raw_socket(stream, Role::Client, Some(config)).await;
                    queue_and_drain(ws).await
                })
            });
        });
        group.bench_function(format!("unbuffered_256KiB_window/{name}"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let replay = Replay { wire: wire.clone(), position: 0, chunk: socket_chunk };
                    let config = WebSocketConfig::default().read_buffer_size(256 * 1024);
                    let ws = WebSocketStream::from_raw_socket(replay, Role::Client, Some(config)).await;
                    queue_and_drain(ws).await
                })
            });
        });
    }
    group.finish();
}

/// Reads every frame, queues it in an inbox, and drains the inbox in batches as the bridge does.
async fn queue_and_drain<S>(mut ws: WebSocketStream<S>) -> usize
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let inbox = Inbox::new(4096).unwrap();
    let stats = ConnStats::default();
    let mut delivered = 0;
    for n in 1..=MESSAGES {
        let message = ws.next().await.unwrap().unwrap();
        inbox.push(tickwire::Inbound::Text(message.into_text().unwrap()), &stats).await;
        if n % 1024 == 0 || n == MESSAGES {
            inbox.wake_consumer();
            inbox.drain::<()>(usize::MAX, &stats, |message| {
                delivered += message.len();
                Ok(())
            });
        }
    }
    assert_eq!(inbox.len(), 0);
    delivered
}

criterion_group!(benches, read_path);
criterion_main!(benches);
