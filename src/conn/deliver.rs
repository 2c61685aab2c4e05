//! Frames the server writes on a connection besides its handler's: channel messages
//! (`crate::channels`). They go out between the handler's frames, never inside one: only while
//! no message of the handler's is half sent, before its Close, and each one either whole or
//! with its unsent rest held in `Out.pending`, which every later write sends first.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::time::Instant;

use super::sockets::{encrypt, send_nonblocking};
use super::ConnIo;
use crate::frame::OPCODE_CLOSE;

/// Slices per `sendmsg`: a backlog of small messages leaves in one system call.
const MAX_SLICES: usize = 64;

/// What the frames the handler sent so far allow (kept under the writer lock).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FrameGate {
    /// A text or binary message was started and not finished (`send_message(end=False)`).
    pub fragmenting: bool,
    /// A Close went out: nothing may follow it.
    pub closed: bool,
}

impl FrameGate {
    /// Follows one whole frame written after the 101 (by the handler or the server).
    pub fn note(&mut self, frame: &[u8]) {
        let Some(&first) = frame.first() else {
            return;
        };
        let fin = first & 0x80 != 0;
        match first & 0x0f {
            OPCODE_CLOSE => self.closed = true,
            // Text, binary or continuation: a message is open until its final frame.
            opcode if opcode <= 0x2 => self.fragmenting = !fin,
            _ => {}
        }
    }
}

/// What `deliver` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Every queued frame went out.
    Done,
    /// The socket is full: wait until it is writable, then deliver again.
    Blocked,
    /// The handler is writing, or is in the middle of a message: try again shortly.
    Busy,
    /// The connection is closing or broken: it takes no more channel messages.
    Gone,
}

impl ConnIo {
    /// Writes `frames` (whole server frames, in order) without waiting, after any bytes held
    /// before them; the frames that went out are removed and their sizes taken off `queued`.
    /// A frame cut short by a full socket leaves the queue and its rest is held, so the
    /// handler's next frame follows it intact.
    pub fn deliver(&self, frames: &mut VecDeque<Arc<[u8]>>, queued: &mut usize) -> Delivery {
        if !self.websocket_open() {
            return Delivery::Busy;
        }
        let Ok(mut out) = self.writer.try_lock() else {
            return Delivery::Busy;
        };
        if out.gate.closed {
            return Delivery::Gone;
        }
        if out.gate.fragmenting {
            return Delivery::Busy;
        }
        if let Some(tls) = &self.tls {
            // Encrypted in order under the writer lock; the ciphertext joins the held bytes.
            for frame in frames.drain(..) {
                *queued = queued.saturating_sub(frame.len());
                match encrypt(tls, &frame) {
                    Ok(bytes) => out.pending.extend_from_slice(&bytes),
                    Err(_) => return Delivery::Gone,
                }
            }
        }
        if !out.pending.is_empty() {
            match send_nonblocking(&out.stream, &out.pending, Instant::now()) {
                Ok(sent) if sent == out.pending.len() => out.clear(),
                Ok(sent) => {
                    out.pending.drain(..sent);
                    return Delivery::Blocked;
                }
                Err(_) => return Delivery::Gone,
            }
        }
        while !frames.is_empty() {
            let slices: Vec<IoSlice<'_>> = frames
                .iter()
                .take(MAX_SLICES)
                .map(|frame| IoSlice::new(frame))
                .collect();
            let sock = socket2::SockRef::from(&*out.stream);
            let sent = match sock
                .send_vectored_with_flags(&slices, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
            {
                Ok(sent) => sent,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Delivery::Blocked,
                Err(_) => return Delivery::Gone,
            };
            drop(slices);
            let mut left = sent;
            while let Some(frame) = frames.front() {
                if left >= frame.len() {
                    left -= frame.len();
                    *queued = queued.saturating_sub(frame.len());
                    frames.pop_front();
                } else {
                    if left > 0 {
                        out.pending.extend_from_slice(&frame[left..]);
                        *queued = queued.saturating_sub(frame.len());
                        frames.pop_front();
                        return Delivery::Blocked;
                    }
                    break;
                }
            }
        }
        Delivery::Done
    }

    /// Starts ending a member that fell too far behind: `close` (a Close frame) is queued
    /// after whatever is half sent and written as far as the socket takes it now. True when
    /// nothing is left to send (then `shutdown`); else `flush_held_now` on writable.
    pub fn close_behind(&self, close: &[u8]) -> bool {
        let Ok(mut out) = self.writer.try_lock() else {
            return true;
        };
        if !out.gate.closed && !out.gate.fragmenting {
            out.gate.closed = true;
            match &self.tls {
                None => out.pending.extend_from_slice(close),
                Some(tls) => {
                    if let Ok(bytes) = encrypt(tls, close) {
                        out.pending.extend_from_slice(&bytes);
                    }
                }
            }
        }
        out.gate.closed = true;
        out.flush_nonblocking()
    }

    /// Sends held bytes as far as the socket takes them; true when none are left (or the
    /// writer is busy elsewhere, which sends them itself).
    pub fn flush_held_now(&self) -> bool {
        match self.writer.try_lock() {
            Ok(mut out) => out.flush_nonblocking(),
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests;
