//! Write coalescing: a reply sent while the peer's next frame is already buffered is held back
//! (at most `MAX_PENDING` bytes, at most `MAX_DELAY`) and goes out with the next write, so a
//! client that pipelines N messages costs one send per batch instead of one per message.
//!
//! Held bytes leave with whichever comes first: the next write on the connection (they are
//! written ahead of it, so order is kept), the reader running out of buffered bytes (flushed
//! before it blocks on the socket), the handler finishing, a control frame, or the flusher
//! thread, which writes whatever has waited `MAX_DELAY` (a handler that sends and then sleeps).

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::deliver::FrameGate;
use super::head_watch::HeadWatch;
use super::sockets::{send_nonblocking, write_cooperative};
use super::{ConnIo, Waiter};

/// A blocking send, or on a cooperative connection one that waits by switching greenlets.
/// On error, how many bytes went out (known only for cooperative sends; 0 otherwise).
fn send_all(
    stream: &TcpStream,
    data: &[u8],
    waiter: Option<&Waiter>,
) -> Result<(), (io::Error, usize)> {
    match waiter {
        Some(waiter) => write_cooperative(stream, data, waiter),
        None => (&*stream).write_all(data).map_err(|e| (e, 0)),
    }
}

/// Bytes held back per connection at most; a write that would pass it flushes everything.
pub const MAX_PENDING: usize = 64 * 1024;
/// A frame larger than this is never held back (it is a batch on its own).
pub const MAX_HELD_FRAME: usize = 16 * 1024;
/// The longest a held reply waits for the handler to come back.
pub const MAX_DELAY: Duration = Duration::from_millis(1);

/// The write side of a connection: its socket and the bytes held back.
pub struct Out {
    pub stream: Arc<TcpStream>,
    pub pending: Vec<u8>,
    /// When `pending` became non-empty.
    pub since: Option<Instant>,
    /// Whether the bytes written so far completed a 101 head (see `head_watch`).
    pub head: HeadWatch,
    /// What the frames sent after the 101 allow channel messages to do (see `deliver`).
    pub gate: FrameGate,
}

impl Out {
    pub fn new(stream: Arc<TcpStream>) -> Self {
        Out {
            stream,
            pending: Vec::new(),
            since: None,
            head: HeadWatch::default(),
            gate: FrameGate::default(),
        }
    }

    /// Writes the held bytes followed by `data`, in one send when they fit together.
    /// `waiter`: the connection is cooperative (its socket is non-blocking).
    pub fn write_with_pending(&mut self, data: &[u8], waiter: Option<&Waiter>) -> io::Result<()> {
        if self.pending.is_empty() {
            return self.send_keeping(data, waiter);
        }
        if self.pending.len() + data.len() <= MAX_PENDING {
            self.pending.extend_from_slice(data);
            return self.flush(waiter);
        }
        self.flush(waiter)?;
        self.send_keeping(data, waiter)
    }

    /// Writes the held bytes, blocking like any send. On error a blocking send drops them; a
    /// cooperative one (whose wait may have been cut short: a cancelled task) keeps what did
    /// not go out, so a frame is never left half-written ahead of the next one.
    pub fn flush(&mut self, waiter: Option<&Waiter>) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        match send_all(&self.stream, &self.pending, waiter) {
            Ok(()) => {
                self.clear();
                Ok(())
            }
            Err((e, sent)) => {
                if waiter.is_some() {
                    self.pending.drain(..sent);
                } else {
                    self.clear();
                }
                Err(e)
            }
        }
    }

    /// `data` written whole; on a cooperative error its unsent rest is held (see `flush`).
    fn send_keeping(&mut self, data: &[u8], waiter: Option<&Waiter>) -> io::Result<()> {
        send_all(&self.stream, data, waiter).map_err(|(e, sent)| {
            if waiter.is_some() && sent < data.len() {
                self.pending.extend_from_slice(&data[sent..]);
                self.since.get_or_insert_with(Instant::now);
            }
            e
        })
    }

    /// Sends as much of the held bytes as goes without waiting; true when none are left.
    pub(super) fn flush_nonblocking(&mut self) -> bool {
        match send_nonblocking(&self.stream, &self.pending, Instant::now()) {
            Ok(sent) if sent < self.pending.len() => {
                self.pending.drain(..sent);
                false
            }
            // All sent, or the socket failed: the handler's next call sees the error.
            _ => {
                self.clear();
                true
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.pending.clear();
        self.since = None;
        if self.pending.capacity() > MAX_PENDING {
            self.pending = Vec::new();
        }
    }
}

impl ConnIo {
    /// Holds `frame` back instead of writing it when the peer's next frame is already
    /// buffered (the handler will be back at once) and the writer is free. Never blocks.
    /// `Some(first)` when held; `first` (nothing was held before) asks for `schedule_flush`.
    pub fn try_hold(&self, frame: &[u8]) -> Option<bool> {
        if !self.may_hold(frame.len()) {
            return None;
        }
        let mut out = self.writer.try_lock().ok()?;
        if out.pending.len() + frame.len() > MAX_PENDING {
            return None;
        }
        out.gate.note(frame);
        out.pending.extend_from_slice(frame);
        let first = out.since.is_none();
        out.since.get_or_insert_with(Instant::now);
        Some(first)
    }

    pub fn set_write_coalescing(&self, enabled: bool) {
        self.write_coalescing.store(enabled, Ordering::Relaxed);
    }

    /// Whether a frame of `len` bytes may be held back now: a plain socket, coalescing on, a
    /// small frame, and the peer's next frame buffered already. Never blocks.
    pub fn may_hold(&self, len: usize) -> bool {
        self.tls.is_none()
            && len <= MAX_HELD_FRAME
            && self.write_coalescing.load(Ordering::Relaxed)
            && self.next_frame_buffered()
    }

    fn next_frame_buffered(&self) -> bool {
        let Ok(reader) = self.reader.try_lock() else {
            return false;
        };
        crate::frame::complete_frame_len(&reader.buf[reader.pos..]).is_some()
    }

    /// Writes held bytes if the writer is free (before the reader blocks on the socket).
    pub(super) fn flush_held(&self) -> io::Result<()> {
        match self.writer.try_lock() {
            Ok(mut out) => out.flush(self.cooperative.get()),
            Err(_) => Ok(()),
        }
    }

    /// The flusher's turn: true when nothing is held any more.
    fn flush_if_stale(&self, now: Instant) -> bool {
        let Ok(mut out) = self.writer.try_lock() else {
            return false;
        };
        match out.since {
            None => true,
            Some(since) if now.duration_since(since) >= MAX_DELAY => out.flush_nonblocking(),
            Some(_) => false,
        }
    }
}

/// Hands a connection with held bytes to the flusher thread.
pub fn schedule_flush(conn: &Arc<ConnIo>) {
    let flusher = flusher();
    let Ok(mut queue) = flusher.queue.lock() else {
        return;
    };
    queue.conns.push(Arc::downgrade(conn));
    if queue.idle {
        flusher.wake.notify_one();
    }
}

struct Flusher {
    queue: Mutex<Queue>,
    wake: Condvar,
}

struct Queue {
    conns: Vec<Weak<ConnIo>>,
    /// The thread waits with no deadline (nothing queued): a push must wake it.
    idle: bool,
}

fn flusher() -> &'static Flusher {
    static FLUSHER: OnceLock<Flusher> = OnceLock::new();
    FLUSHER.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("pywebsocket-flush".into())
            .stack_size(64 * 1024)
            .spawn(run);
        if let Err(err) = spawned {
            log::warn!("cannot start the write flusher: {err}");
        }
        Flusher {
            queue: Mutex::new(Queue {
                conns: Vec::new(),
                idle: false,
            }),
            wake: Condvar::new(),
        }
    })
}

/// Wakes every `MAX_DELAY` while something is queued (no wake-up per batch under load) and
/// sleeps without a deadline otherwise.
fn run() {
    let flusher = flusher();
    let mut batch = Vec::new();
    loop {
        {
            let Ok(mut queue) = flusher.queue.lock() else {
                return;
            };
            while queue.conns.is_empty() {
                queue.idle = true;
                queue = match flusher.wake.wait(queue) {
                    Ok(queue) => queue,
                    Err(_) => return,
                };
            }
            queue.idle = false;
        }
        std::thread::sleep(MAX_DELAY);
        if let Ok(mut queue) = flusher.queue.lock() {
            std::mem::swap(&mut batch, &mut queue.conns);
        }
        let now = Instant::now();
        let mut again = Vec::new();
        for weak in batch.drain(..) {
            if let Some(conn) = weak.upgrade() {
                if !conn.flush_if_stale(now) {
                    again.push(weak);
                }
            }
        }
        if !again.is_empty() {
            if let Ok(mut queue) = flusher.queue.lock() {
                queue.conns.append(&mut again);
            }
        }
    }
}

#[cfg(test)]
mod tests;
