//! Read chunks: the reused buffers that socket data is read into and messages are handed over
//! in.
//!
//! The reader task fills a chunk with socket reads and parses frames in place; each message
//! goes to the consumer as a span of the chunk, so its payload is copied once by the kernel
//! into the chunk and once more into the Python object, and no allocation is made per message.
//! The reader keeps appending after everything it has parsed while the consumer reads spans
//! before that point: the two never touch the same bytes, which is what makes sharing one
//! buffer between threads sound here. When the last batch referring to a chunk is consumed,
//! the chunk goes back to its connection's pool for the next reads.

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_queue::ArrayQueue;

/// Chunks a pool keeps for reuse; more in flight are freed when consumed.
const POOLED_CHUNKS: usize = 16;

/// The chunks of one connection, and the size new ones get.
#[derive(Debug)]
pub struct ChunkPool {
    free: ArrayQueue<Box<[u8]>>,
    capacity: AtomicUsize,
}

impl ChunkPool {
    /// A pool whose chunks hold `capacity` bytes.
    #[must_use]
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self { free: ArrayQueue::new(POOLED_CHUNKS), capacity: AtomicUsize::new(capacity) })
    }

    /// Bytes per chunk (the read buffer size).
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Sets the size of chunks taken from now on; pooled chunks of another size are dropped.
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity, Ordering::Relaxed);
    }

    /// A chunk for exclusive writing, of at least `at_least` bytes.
    #[must_use]
    pub fn take(self: &Arc<Self>, at_least: usize) -> ChunkWriter {
        let capacity = self.capacity();
        let storage = if at_least <= capacity {
            std::iter::from_fn(|| self.free.pop())
                .find(|free| free.len() == capacity)
                .unwrap_or_else(|| vec![0; capacity].into_boxed_slice())
        } else {
            vec![0; at_least].into_boxed_slice()
        };
        let len = storage.len();
        let data = NonNull::from(Box::leak(storage)).cast::<u8>();
        ChunkWriter { chunk: Arc::new(Chunk { data, len, pool: self.clone() }), filled: 0 }
    }
}

/// One read buffer, shared by its writer (the reader task) and the batches that refer to it.
#[derive(Debug)]
pub struct Chunk {
    data: NonNull<u8>,
    len: usize,
    pool: Arc<ChunkPool>,
}

// SAFETY: the bytes are written only through the one `ChunkWriter`, and only past every span
// handed out; spans are read only after their batch was published through the inbox queue
// (a release/acquire pair). No byte is ever written and read concurrently.
unsafe impl Send for Chunk {}
// SAFETY: as above.
unsafe impl Sync for Chunk {}

impl Chunk {
    /// The bytes of a span the reader published.
    ///
    /// # Panics
    /// If the span lies outside the chunk (a bug in the reader).
    #[must_use]
    pub(crate) fn bytes(&self, start: usize, len: usize) -> &[u8] {
        assert!(start.checked_add(len).is_some_and(|end| end <= self.len), "span outside its chunk");
        // SAFETY: in bounds (checked); the span was filled and parsed before it was published,
        // and the writer never writes below what it has published.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr().add(start), len) }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.data.as_ptr(), self.len);
        // SAFETY: `data`/`len` came from `Box::leak` of a boxed slice and are reclaimed once.
        let storage = unsafe { Box::from_raw(slice) };
        if storage.len() == self.pool.capacity() {
            // A full pool frees the chunk instead.
            let _ = self.pool.free.push(storage);
        }
    }
}

/// Exclusive write access to the unfilled end of one chunk.
#[derive(Debug)]
pub struct ChunkWriter {
    chunk: Arc<Chunk>,
    filled: usize,
}

impl ChunkWriter {
    /// The chunk, to hand out with the spans read from it.
    #[must_use]
    pub fn chunk(&self) -> &Arc<Chunk> {
        &self.chunk
    }

    /// The bytes read so far.
    #[must_use]
    pub fn filled(&self) -> &[u8] {
        // SAFETY: `[0, filled)` was written by this writer and is never written again.
        unsafe { std::slice::from_raw_parts(self.chunk.data.as_ptr(), self.filled) }
    }

    /// The room left to read into.
    pub fn spare(&mut self) -> &mut [u8] {
        // SAFETY: `[filled, len)` is written only here (this writer is the chunk's only one)
        // and read by nobody: every span handed out lies below `filled`.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.chunk.data.as_ptr().add(self.filled),
                self.chunk.len - self.filled,
            )
        }
    }

    /// Marks `n` more bytes of the spare room as read.
    ///
    /// # Panics
    /// If `n` exceeds the spare room.
    pub fn advance(&mut self, n: usize) {
        assert!(n <= self.chunk.len - self.filled, "advanced past the chunk");
        self.filled += n;
    }

    /// Appends `bytes` (the bytes that followed the handshake answer).
    ///
    /// # Panics
    /// If they do not fit.
    pub fn append(&mut self, bytes: &[u8]) {
        self.spare()[..bytes.len()].copy_from_slice(bytes);
        self.advance(bytes.len());
    }

    /// Continues in a fresh chunk that starts with the unparsed tail (`filled()[from..]`) and
    /// can hold at least `at_least` bytes.
    #[must_use]
    pub fn continue_in_new(&self, from: usize, at_least: usize, pool: &Arc<ChunkPool>) -> Self {
        let tail = &self.filled()[from..];
        let mut next = pool.take(at_least.max(tail.len() + 1));
        next.append(tail);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_return_to_the_pool_and_carry_the_tail() {
        let pool = ChunkPool::new(64);
        let mut writer = pool.take(0);
        writer.spare()[..10].copy_from_slice(b"0123456789");
        writer.advance(10);
        let span = writer.chunk().clone();
        let next = writer.continue_in_new(6, 0, &pool);
        assert_eq!(next.filled(), b"6789");
        assert_eq!(span.bytes(2, 3), b"234");
        drop((writer, span));
        assert_eq!(pool.free.len(), 1, "the first chunk is back in the pool");
        let big = next.continue_in_new(0, 1000, &pool);
        assert_eq!(big.filled(), b"6789");
        assert_eq!(big.chunk().len, 1000);
        drop(big);
        assert_eq!(pool.free.len(), 1, "odd-sized chunks are freed, not pooled");
    }
}
