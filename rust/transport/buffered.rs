//! The connection's reusable read buffer.
//!
//! The socket is read in large chunks into one buffer allocated at connect time and reused for
//! every read (reallocated only when [`ReadCapacity::set`] changes its size); tungstenite then
//! takes bytes from it in small windows. Reads at least as large as the buffer bypass it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The read-buffer size, shared between the connection handle (which sets it) and the stream
/// (which applies it at its next refill).
#[derive(Debug, Clone)]
pub struct ReadCapacity(Arc<AtomicUsize>);

impl ReadCapacity {
    /// A capacity of `bytes`.
    #[must_use]
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(AtomicUsize::new(bytes)))
    }

    /// Sets the size used from the next socket read on.
    pub fn set(&self, bytes: usize) {
        self.0.store(bytes, Ordering::Relaxed);
    }

    /// The size in force.
    #[must_use]
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// A stream whose reads go through one reusable buffer.
pub struct BufferedStream<S> {
    inner: S,
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    capacity: ReadCapacity,
}

impl<S> BufferedStream<S> {
    /// Wraps `inner`; the buffer is allocated now, at `capacity`'s size.
    pub fn new(inner: S, capacity: ReadCapacity) -> Self {
        let buffer = vec![0; capacity.get()];
        Self { inner, buffer, start: 0, end: 0, capacity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for BufferedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.start == this.end {
            let wanted = this.capacity.get();
            if this.buffer.len() != wanted {
                this.buffer = vec![0; wanted];
            }
            if out.remaining() >= this.buffer.len() {
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            let mut fill = ReadBuf::new(&mut this.buffer);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut fill))?;
            this.start = 0;
            this.end = fill.filled().len();
        }
        let available = &this.buffer[this.start..this.end];
        let taken = available.len().min(out.remaining());
        out.put_slice(&available[..taken]);
        this.start += taken;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for BufferedStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn delivers_every_byte_in_order_across_small_and_large_reads() {
        let (mut writer, reader) = tokio::io::duplex(1 << 20);
        let payload: Vec<u8> = (0..200_000_u32).map(|i| (i % 251) as u8).collect();
        let sent = payload.clone();
        let write = tokio::spawn(async move {
            writer.write_all(&sent).await.unwrap();
        });
        let capacity = ReadCapacity::new(4096);
        let mut stream = BufferedStream::new(reader, capacity.clone());
        let mut received = Vec::new();
        let mut chunk = vec![0; 700];
        while received.len() < payload.len() {
            if received.len() > 100_000 {
                capacity.set(8192);
                chunk.resize(10_000, 0);
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            received.extend_from_slice(&chunk[..n]);
        }
        write.await.unwrap();
        assert_eq!(received, payload);
        assert_eq!(stream.buffer.len(), 8192);
    }
}
