//! Sends that never wait, for async handlers on the event loop: a frame goes out at once when
//! the writer is free and nothing is held back; what the socket does not take is held, in
//! order, and the caller then waits for it with `flush_out` (through the waiter).

use std::io;
use std::time::Instant;

use super::sockets::send_nonblocking;
use super::ConnIo;

/// What `write_now` did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteNow {
    /// Nothing was built or written: the writer is busy or holds bytes; take the slow path.
    NotNow,
    /// The whole frame is on the socket.
    Written,
    /// Part of it went out and the rest is held; `flush_out` must follow.
    Partial,
}

impl ConnIo {
    /// Builds a frame with `encode` (only once the writer is known to be free, so a frame
    /// that advanced the compressor always goes out) and writes it without waiting.
    pub fn write_now<'a, E>(
        &self,
        encode: impl FnOnce() -> Result<&'a [u8], E>,
    ) -> Result<io::Result<WriteNow>, E> {
        if !self.is_cooperative() {
            return Ok(Ok(WriteNow::NotNow));
        }
        let Ok(mut out) = self.writer.try_lock() else {
            return Ok(Ok(WriteNow::NotNow));
        };
        if !out.pending.is_empty() {
            return Ok(Ok(WriteNow::NotNow));
        }
        let frame = encode()?;
        let sent = match send_nonblocking(&out.stream, frame, Instant::now()) {
            Ok(sent) => sent,
            Err(e) => return Ok(Err(e)),
        };
        if sent == frame.len() {
            return Ok(Ok(WriteNow::Written));
        }
        out.pending.extend_from_slice(&frame[sent..]);
        out.since.get_or_insert_with(Instant::now);
        Ok(Ok(WriteNow::Partial))
    }

    /// Writes every held byte, waiting for room as any write does.
    pub fn flush_out(&self) -> io::Result<()> {
        let mut out = self.lock_turn(&self.writer)?;
        out.flush(self.cooperative.get())
    }
}
