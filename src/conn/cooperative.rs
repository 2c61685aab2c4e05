//! Connections served by a greenlet on the hub (`--greenlets`): one thread runs many handlers,
//! so nothing may block it. The socket is made non-blocking, and wherever a threaded
//! connection would block, the waiter hands the thread to another greenlet until this one's
//! socket is ready (or, for `Yield`, until the others had a turn).

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, TryLockError};

use super::sockets::read_retrying;
use super::{lock, ConnIo};

/// What a cooperative connection waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Wait {
    Readable = 0,
    Writable = 1,
    /// A lock held by another greenlet, or a turn handed on for fairness.
    Yield = 2,
}

/// Called with the GIL held, from the greenlet that must wait; returns when it may go on.
pub type Waiter = Box<dyn Fn(Wait) -> io::Result<()> + Send + Sync>;

impl ConnIo {
    /// Hands the connection to the hub: before its first read or write, once.
    pub fn make_cooperative(&self, waiter: Waiter) -> io::Result<()> {
        if self.tls.is_some() {
            return Err(io::Error::other("TLS connections stay on handler threads"));
        }
        self.control.set_nonblocking(true)?;
        self.cooperative
            .set(waiter)
            .map_err(|_| io::Error::other("connection is cooperative already"))
    }

    pub fn is_cooperative(&self) -> bool {
        self.cooperative.get().is_some()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn fd(&self) -> i32 {
        self.control.as_raw_fd()
    }

    /// Lets the other greenlets run (cooperative connections only; elsewhere a no-op).
    pub fn yield_turn(&self) -> io::Result<()> {
        match self.cooperative.get() {
            Some(waiter) => waiter(Wait::Yield),
            None => Ok(()),
        }
    }
}

impl ConnIo {
    /// One read; on the hub, "would block" waits for the greenlet's turn and tries again.
    pub(super) fn read_socket(&self, stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        let Some(waiter) = self.cooperative.get() else {
            return read_retrying(stream, buf);
        };
        self.wait_if_drained()?;
        loop {
            match read_retrying(stream, buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => waiter(Wait::Readable)?,
                Ok(n) => {
                    self.drained
                        .store(n > 0 && n < buf.len(), Ordering::Relaxed);
                    return Ok(n);
                }
                other => return other,
            }
        }
    }

    /// After a short cooperative read: wait for readiness before reading again (a no-op on
    /// threaded connections).
    pub fn wait_if_drained(&self) -> io::Result<()> {
        match self.cooperative.get() {
            Some(waiter) if self.drained.swap(false, Ordering::Relaxed) => waiter(Wait::Readable),
            _ => Ok(()),
        }
    }

    /// A blocking lock; on the hub a held lock is waited out by yielding, since its holder
    /// may be another greenlet of this very thread.
    pub(super) fn lock_turn<'a, T>(&self, mutex: &'a Mutex<T>) -> io::Result<MutexGuard<'a, T>> {
        let Some(waiter) = self.cooperative.get() else {
            return lock(mutex);
        };
        loop {
            match mutex.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(TryLockError::Poisoned(_)) => {
                    return Err(io::Error::other("connection lock poisoned"))
                }
                Err(TryLockError::WouldBlock) => waiter(Wait::Yield)?,
            }
        }
    }
}
