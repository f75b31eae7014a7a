//! The receive path without Python, on pre-encoded server frames of Binance-shaped trades
//! (~180 bytes each): tickwire's frame reader (parse and validate in place, one span per
//! message) against tungstenite's `WebSocketStream` over the same bytes, which is what
//! tickwire used before its own reader. Socket reads are modelled by copying the wire into the
//! buffer in fixed-size pieces: 64 KiB for a firehose, one frame for a quiet stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use tickwire::protocol::{Event, MessageReader};

const MESSAGES: usize = 10_000;
const FIREHOSE_READ: usize = 64 * 1024;

/// Serves pre-encoded frames, at most `chunk` bytes per read, as a socket would.
struct Replay<'a> {
    wire: &'a [u8],
    position: usize,
    chunk: usize,
}

impl AsyncRead for Replay<'_> {
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

impl AsyncWrite for Replay<'_> {
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

/// `MESSAGES` unmasked server text frames of trade JSON, and the size of one.
fn trade_frames() -> (Vec<u8>, usize) {
    let mut wire = Vec::new();
    let mut frame_len = 0;
    for n in 0..MESSAGES {
        let payload = format!(
            r#"{{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":{},"p":"16848.{:02}000000","q":"0.00100000","b":88,"a":50,"T":1672515782136,"m":true,"M":true}}"#,
            12_345 + n,
            n % 100
        );
        let start = wire.len();
        wire.push(0x81);
        wire.push(126);
        wire.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
        wire.extend_from_slice(payload.as_bytes());
        frame_len = wire.len() - start;
    }
    (wire, frame_len)
}

/// tickwire's reader as the reader task runs it: socket-sized copies into a reused buffer,
/// frames parsed in place in batches of 64 spans, a read only when the parsed data runs out,
/// and the unparsed tail carried to the front when the buffer is full. Returns the payload
/// bytes seen.
fn message_reader(wire: &[u8], read_size: usize, buffer: &mut [u8]) -> usize {
    const BATCH: usize = 64;
    let mut reader = MessageReader::new(1 << 24, 1 << 24);
    let (mut filled, mut parsed, mut position, mut payload_bytes) = (0, 0, 0, 0);
    loop {
        let mut messages = 0;
        let progress = reader
            .parse(&buffer[..filled], parsed, BATCH, |event| {
                if let Event::Framed { len, .. } = event {
                    payload_bytes += len;
                    messages += 1;
                }
            })
            .unwrap();
        parsed = progress.consumed;
        if messages == BATCH {
            continue;
        }
        if position == wire.len() {
            return payload_bytes;
        }
        if filled == buffer.len() {
            buffer.copy_within(parsed..filled, 0);
            (filled, parsed) = (filled - parsed, 0);
        }
        let take = read_size.min(wire.len() - position).min(buffer.len() - filled);
        buffer[filled..filled + take].copy_from_slice(&wire[position..position + take]);
        (filled, position) = (filled + take, position + take);
    }
}

/// tungstenite's stream over the same bytes. Returns the payload bytes seen.
async fn tungstenite_stream(wire: &[u8], read_size: usize) -> usize {
    let replay = Replay { wire, position: 0, chunk: read_size };
    let config = WebSocketConfig::default().read_buffer_size(FIREHOSE_READ);
    let mut ws = WebSocketStream::from_raw_socket(replay, Role::Client, Some(config)).await;
    let mut payload_bytes = 0;
    for _ in 0..MESSAGES {
        payload_bytes += ws.next().await.unwrap().unwrap().len();
    }
    payload_bytes
}

fn read_path(c: &mut Criterion) {
    let (wire, frame_len) = trade_frames();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut buffer = vec![0; 256 * 1024];
    let expected = message_reader(&wire, FIREHOSE_READ, &mut buffer);
    assert_eq!(runtime.block_on(tungstenite_stream(&wire, FIREHOSE_READ)), expected);

    let mut group = c.benchmark_group("read_path");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    for (name, read_size) in
        [("firehose_64KiB_reads", FIREHOSE_READ), ("quiet_one_frame_per_read", frame_len)]
    {
        group.bench_function(format!("tickwire_reader/{name}"), |b| {
            b.iter(|| assert_eq!(message_reader(&wire, read_size, &mut buffer), expected));
        });
        group.bench_function(format!("tungstenite_stream/{name}"), |b| {
            b.iter(|| assert_eq!(runtime.block_on(tungstenite_stream(&wire, read_size)), expected));
        });
    }
    group.finish();
}

criterion_group!(benches, read_path);
criterion_main!(benches);
