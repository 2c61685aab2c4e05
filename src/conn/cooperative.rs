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
        self.control_socket().set_nonblocking(true)?;
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
        self.control_socket().as_raw_fd()
    }

    /// Runs `op`, which may wait on this connection: detached from Python on a handler thread,
    /// attached on the hub (where its waits switch greenlets, which needs the GIL).
    pub fn run_waiting<T: Send>(&self, py: pyo3::Python<'_>, op: impl FnOnce() -> T + Send) -> T {
        if self.is_cooperative() {
            op()
        } else {
            py.detach(op)
        }
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

    /// Before a receive that found no whole message: wait for the peer as `wait_if_drained`
    /// does, unless bytes are buffered (a frame's head that a non-waiting fill gathered, say),
    /// which the engine must parse first: the peer may have sent all it will until we answer.
    pub fn wait_if_drained_and_empty(&self) -> io::Result<()> {
        let buffered = self
            .reader
            .try_lock()
            .is_ok_and(|reader| reader.pos < reader.buf.len());
        if buffered {
            return Ok(());
        }
        self.wait_if_drained()
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    use std::thread;
    use std::time::Duration;

    use super::super::tests::pair;
    use super::*;

    /// A waiter that records what it was asked for and lets the peer act meanwhile.
    fn recording_waiter(
        calls: Arc<Mutex<Vec<Wait>>>,
        on_wait: impl Fn() + Send + Sync + 'static,
    ) -> Waiter {
        Box::new(move |kind| {
            calls.lock().unwrap().push(kind);
            on_wait();
            Ok(())
        })
    }

    #[test]
    fn reads_wait_through_the_waiter_and_skip_the_syscall_after_a_short_read() {
        let (server, client) = pair();
        let client = Arc::new(Mutex::new(client));
        let io = ConnIo::new(server, Vec::new()).unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let peer = Arc::clone(&client);
        let first = Arc::new(Mutex::new(true));
        let waiter = recording_waiter(Arc::clone(&calls), move || {
            // The first wait is answered by the peer sending a byte.
            if std::mem::take(&mut *first.lock().unwrap()) {
                peer.lock().unwrap().write_all(b"1").unwrap();
                thread::sleep(Duration::from_millis(20));
            }
        });
        io.make_cooperative(waiter).unwrap();
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).unwrap();
        assert_eq!(byte, *b"1");
        assert_eq!(*calls.lock().unwrap(), vec![Wait::Readable]);
        // The read came back short: the next one waits for readiness before its syscall
        // (the hub answers at once when the socket became readable meanwhile).
        client.lock().unwrap().write_all(b"2").unwrap();
        thread::sleep(Duration::from_millis(20));
        io.read_exact(&mut byte).unwrap();
        assert_eq!(byte, *b"2");
        assert_eq!(*calls.lock().unwrap(), vec![Wait::Readable, Wait::Readable]);
    }

    #[test]
    fn a_full_socket_waits_for_room_and_loses_nothing() {
        let (server, client) = pair();
        // Small fixed buffers and a late reader: the 8 MiB must run into a full socket even
        // when this thread is slow to write (a loaded machine).
        socket2::SockRef::from(&server)
            .set_send_buffer_size(64 << 10)
            .unwrap();
        socket2::SockRef::from(&client)
            .set_recv_buffer_size(64 << 10)
            .unwrap();
        let io = ConnIo::new(server, Vec::new()).unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let reader = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            let mut client = client;
            let mut all = Vec::new();
            client.read_to_end(&mut all).unwrap();
            all
        });
        let waiter = recording_waiter(Arc::clone(&calls), || {
            thread::sleep(Duration::from_millis(1))
        });
        io.make_cooperative(waiter).unwrap();
        let data: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        io.write_all(&data).unwrap();
        io.shutdown();
        assert_eq!(reader.join().unwrap(), data);
        assert!(calls
            .lock()
            .unwrap()
            .iter()
            .all(|kind| *kind == Wait::Writable));
        assert!(!calls.lock().unwrap().is_empty());
    }

    #[test]
    fn a_lock_held_elsewhere_is_waited_out_by_yielding() {
        let (server, mut client) = pair();
        let io = ConnIo::new(server, Vec::new()).unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let waiter = recording_waiter(Arc::clone(&calls), || {
            thread::sleep(Duration::from_millis(5))
        });
        io.make_cooperative(waiter).unwrap();
        let (locked, release) = std::sync::mpsc::channel::<()>();
        thread::scope(|scope| {
            let io = &io;
            let holder = scope.spawn(move || {
                let _guard = io.writer.lock().unwrap();
                locked.send(()).unwrap();
                thread::sleep(Duration::from_millis(50));
            });
            release.recv().unwrap();
            io.write_all(b"x").unwrap();
            holder.join().unwrap();
        });
        let mut byte = [0u8; 1];
        client.read_exact(&mut byte).unwrap();
        assert_eq!(byte, *b"x");
        let calls = calls.lock().unwrap();
        assert!(!calls.is_empty());
        assert!(calls.iter().all(|kind| *kind == Wait::Yield));
    }
}
