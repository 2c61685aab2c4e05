//! Sends that never wait, for async handlers on the event loop: a frame goes out at once when
//! the writer is free and nothing is held back; what the socket does not take is held, in
//! order, and the caller then waits for it with `flush_out` (through the waiter).

use std::io;
use std::time::Instant;

use std::sync::atomic::Ordering;

use super::coalesce::MAX_PENDING;
use super::sockets::{next_chunk, read_retrying, send_nonblocking};
use super::{now_ms, ConnIo, Reader, LANDING, MIN_CHUNK, READ_CHUNK};
use crate::frame::declared_frame_len;

/// What `fill_nowait` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// This many bytes were appended to the read buffer (0: the peer closed).
    Read(usize),
    /// Nothing to read yet: wait for the socket to become readable.
    WouldBlock,
    /// Not now (another reader holds the buffer, a large frame, a socket error, not a loop
    /// connection): the engine's own receive takes over.
    Busy,
}

/// What `write_now` did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteNow {
    /// Nothing was built or written: the writer is busy or holds bytes; take the slow path.
    NotNow,
    /// The whole frame is on the socket.
    Written,
    /// Part of it went out and the rest is held; `flush_out` must follow.
    Partial,
    /// Held back whole, for the next write or the flusher (`first`: nothing was held
    /// before, so the caller hands the connection to the flusher).
    Held { first: bool },
}

impl ConnIo {
    /// Builds a frame with `encode` (only once the writer is known to be free, so a frame
    /// that advanced the compressor always goes out) and writes it without waiting. With
    /// `hold` (a small reply to a peer that pipelined more, see `coalesce`) it is held back
    /// for the next write instead. Bytes held before go out first, in order.
    pub fn write_now<'a, E>(
        &self,
        hold: bool,
        encode: impl FnOnce() -> Result<&'a [u8], E>,
    ) -> Result<io::Result<WriteNow>, E> {
        if !self.is_cooperative() {
            return Ok(Ok(WriteNow::NotNow));
        }
        let Ok(mut out) = self.writer.try_lock() else {
            return Ok(Ok(WriteNow::NotNow));
        };
        let frame = encode()?;
        out.gate.note(frame);
        if hold && out.pending.len() + frame.len() <= MAX_PENDING {
            out.pending.extend_from_slice(frame);
            let first = out.since.is_none();
            out.since.get_or_insert_with(Instant::now);
            return Ok(Ok(WriteNow::Held { first }));
        }
        if out.pending.is_empty() {
            match send_nonblocking(&out.stream, frame, Instant::now()) {
                Err(e) => return Ok(Err(e)),
                Ok(sent) if sent == frame.len() => return Ok(Ok(WriteNow::Written)),
                Ok(sent) => out.pending.extend_from_slice(&frame[sent..]),
            }
        } else {
            out.pending.extend_from_slice(frame);
            match send_nonblocking(&out.stream, &out.pending, Instant::now()) {
                Err(e) => {
                    out.clear();
                    return Ok(Err(e));
                }
                Ok(sent) => {
                    out.pending.drain(..sent);
                    if out.pending.is_empty() {
                        out.clear();
                        return Ok(Ok(WriteNow::Written));
                    }
                }
            }
        }
        out.since.get_or_insert_with(Instant::now);
        Ok(Ok(WriteNow::Partial))
    }

    /// Reads what the socket holds, appended after the bytes not yet consumed (so a frame that
    /// spans reads is whole once its last part came), without waiting. Before reporting
    /// `WouldBlock`, replies held back go out (as a blocking read flushes them first).
    pub fn fill_nowait(&self) -> io::Result<Fill> {
        if !self.is_cooperative() || self.tls.is_some() {
            return Ok(Fill::Busy);
        }
        let Ok(mut reader) = self.reader.try_lock() else {
            return Ok(Fill::Busy);
        };
        // A large frame is the engine's to read (streamed, its size checked before it is
        // buffered): only small ones are gathered here whole. This comes before the wait
        // below: a header already buffered (one that fails the connection, say) must reach
        // the engine now, not once the peer sends more.
        if declared_frame_len(&reader.buf[reader.pos..]).is_some_and(|len| len > READ_CHUNK as u64)
        {
            return Ok(Fill::Busy);
        }
        if self.drained.swap(false, Ordering::Relaxed) {
            // The last read came back short: the socket was empty then, so wait for
            // readability rather than spend a syscall on "would block".
            drop(reader);
            self.flush_held_nowait();
            return Ok(Fill::WouldBlock);
        }
        let Reader {
            stream,
            buf,
            pos,
            chunk,
            ..
        } = &mut *reader;
        if *pos > 0 {
            buf.drain(..*pos);
            *pos = 0;
        }
        let kept = buf.len();
        let asked = if kept == 0 && *chunk <= MIN_CHUNK {
            LANDING
        } else {
            *chunk
        };
        let result = if kept == 0 && *chunk <= MIN_CHUNK {
            // A quiet connection reads into the stack: idle ones keep no heap buffer.
            let mut landing = [0u8; LANDING];
            let result = read_retrying(stream, &mut landing);
            if let Ok(n) = result {
                *buf = landing[..n].to_vec();
            }
            result
        } else {
            buf.resize(kept + *chunk, 0);
            let result = read_retrying(stream, &mut buf[kept..]);
            buf.truncate(kept + *result.as_ref().unwrap_or(&0));
            result
        };
        match result {
            Ok(n) => {
                if n > 0 {
                    self.last_received_ms.store(now_ms(), Ordering::Relaxed);
                }
                self.drained.store(n > 0 && n < asked, Ordering::Relaxed);
                *chunk = if n == LANDING && *chunk <= MIN_CHUNK {
                    2 * MIN_CHUNK
                } else {
                    next_chunk(*chunk, n, READ_CHUNK)
                };
                Ok(Fill::Read(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                drop(reader);
                self.flush_held_nowait();
                Ok(Fill::WouldBlock)
            }
            // The engine's own receive reads again and reports it as the handler expects.
            Err(_) => Ok(Fill::Busy),
        }
    }

    /// Replies held back go out as far as the socket takes them (before a task waits).
    fn flush_held_nowait(&self) {
        if let Ok(mut out) = self.writer.try_lock() {
            out.flush_nonblocking();
        }
    }

    /// Writes every held byte, waiting for room as any write does.
    pub fn flush_out(&self) -> io::Result<()> {
        let mut out = self.lock_turn(&self.writer)?;
        out.flush(self.cooperative.get())
    }
}
