//! Ending a connection and writing control frames from outside its handler: keepalive pings,
//! the shutdown Close, TLS close_notify, the handler's finish.

use std::net::Shutdown;
use std::time::{Duration, Instant};

use super::sockets::{encrypt, send_nonblocking};
use super::{ConnIo, FinishHook};

/// How long a finishing handler waits for another thread's write before closing anyway.
const FINISH_FLUSH_WAIT: Duration = Duration::from_millis(100);

impl ConnIo {
    /// Writes a small control frame (ping, close) without ever blocking for long: the writer
    /// lock and the socket are tried until `wait` passes. A frame cut in half ends the
    /// connection, since the stream can no longer be framed. Returns whether it went out whole.
    /// Replies held back go first (a Close must follow them).
    pub fn send_control(&self, frame: &[u8], wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut guard = loop {
            if let Ok(guard) = self.writer.try_lock() {
                break guard;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        guard.gate.note(frame);
        let bytes = match &self.tls {
            None => {
                let mut bytes = std::mem::take(&mut guard.pending);
                guard.since = None;
                bytes.extend_from_slice(frame);
                bytes
            }
            Some(tls) => match encrypt(tls, frame) {
                // Ciphertext held by channel messages (`deliver`) goes first.
                Ok(bytes) => {
                    let mut held = std::mem::take(&mut guard.pending);
                    guard.since = None;
                    held.extend_from_slice(&bytes);
                    held
                }
                Err(_) => return false,
            },
        };
        let sent = send_nonblocking(&guard.stream, &bytes, deadline);
        if matches!(sent, Ok(0)) && self.tls.is_none() {
            // Nothing went out: the held replies stay held.
            let held = bytes.len() - frame.len();
            guard.pending = bytes;
            guard.pending.truncate(held);
            guard.since = (!guard.pending.is_empty()).then(Instant::now);
            return false;
        }
        if matches!(sent, Ok(0)) {
            // TLS: the records are encrypted already and must go out, in order, later.
            guard.pending = bytes;
            return false;
        }
        drop(guard);
        match sent {
            Ok(n) if n == bytes.len() => true,
            Ok(0) => false,
            _ => {
                self.shutdown();
                false
            }
        }
    }

    /// Ends both directions so blocked reads and writes on other threads return.
    pub fn shutdown(&self) {
        let _ = self.control_socket().shutdown(Shutdown::Both);
    }

    /// Close notify for TLS (best effort, never blocking), then shut the socket down.
    pub fn close(&self) {
        if let Some(tls) = &self.tls {
            if let Ok(mut session) = tls.lock() {
                session.send_close_notify();
            }
            if let Ok(out) = self.writer.try_lock() {
                if let Ok(bytes) = encrypt(tls, &[]) {
                    let _ = send_nonblocking(&out.stream, &bytes, Instant::now());
                }
            }
        } else if let Ok(mut out) = self.writer.try_lock() {
            // Replies held back leave before the socket is shut (best effort, never waiting).
            let pending = std::mem::take(&mut out.pending);
            out.since = None;
            let _ = send_nonblocking(&out.stream, &pending, Instant::now());
        }
        self.shutdown();
    }

    pub fn set_on_finish(&self, hook: FinishHook) {
        if let Ok(mut slot) = self.on_finish.lock() {
            *slot = Some(hook);
        }
    }

    /// The handler returned: close the connection and run the finish hook (once).
    pub fn finish(&self) {
        // Its last replies may be held back: they go out as a blocking send would have sent
        // them. A writer that keeps the lock (another thread blocked on a peer that does not
        // read) has written them already, and must not keep this connection open.
        let deadline = Instant::now() + FINISH_FLUSH_WAIT;
        loop {
            if let Ok(mut out) = self.writer.try_lock() {
                let _ = out.flush(self.cooperative.get());
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.close();
        crate::channels::forget_finished(self);
        if !self.is_cooperative() {
            self.release_socket();
        }
        let hook = self.on_finish.lock().ok().and_then(|mut slot| slot.take());
        if let Some(hook) = hook {
            hook();
        }
    }
}
