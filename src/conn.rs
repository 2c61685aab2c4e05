//! The native client connection handed to a handler thread: a blocking socket, plain or TLS.
//!
//! Contract used by `py_engine`: `Connection.io: Arc<ConnIo>`; `ConnIo::read_exact`,
//! `ConnIo::read_up_to` and `ConnIo::write_all` block and must be called with the GIL released.
//! Reads and writes use separate locks so one thread can receive while another sends. With TLS
//! the reader waits for ciphertext without holding the shared rustls lock, and the writer
//! encrypts under that lock but sends after releasing it, so neither side blocks the other.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use rustls::ServerConnection;

mod coalesce;
mod control;
mod cooperative;
mod deliver;
mod head_watch;
mod nowait;
mod py;
mod release;
mod sockets;

pub use coalesce::schedule_flush;
use coalesce::Out;
pub use cooperative::{Wait, Waiter};
pub use deliver::{Delivery, FrameGate};
pub use nowait::{Fill, WriteNow};
pub use py::{register, Connection};
use sockets::{encrypt, next_chunk, read_retrying, resize_for_read};

/// Read sizes adapt between these: an idle connection holds a small buffer, a busy one reads
/// big chunks (thousands of idle connections must not cost 64 KiB each).
const MIN_CHUNK: usize = 4 * 1024;
const READ_CHUNK: usize = 64 * 1024;
/// What a quiet connection reads into, on the stack, while it waits (see `fill`).
const LANDING: usize = 1024;
/// One TLS record at most, so decrypting it never overflows rustls's plaintext buffer.
const CIPHER_CHUNK: usize = 18 * 1024;
/// Plaintext encrypted per turn of the writer, bounding the ciphertext held in memory.
const TLS_WRITE_CHUNK: usize = 64 * 1024;

/// What the handler and the request object see besides the byte stream.
#[derive(Debug, Clone, Default)]
pub struct ConnMeta {
    pub remote_addr: Option<SocketAddr>,
    /// `(server_name, server_port)`: the `-H` value and the listening port, as upstream.
    pub local_addr: (String, u16),
    pub raw_lines: Vec<Vec<u8>>,
    pub peer_certificate: Option<Vec<u8>>,
}

pub struct ConnIo {
    reader: Mutex<Reader>,
    writer: Mutex<Out>,
    tls: Option<Mutex<ServerConnection>>,
    /// Separate handle for shutdown and non-blocking control frames (`release` swaps it).
    control: Mutex<Arc<TcpStream>>,
    pub meta: ConnMeta,
    last_received_ms: AtomicU64,
    last_ping_ms: AtomicU64,
    websocket_open: AtomicBool,
    /// Whether replies may be held back (`coalesce`); on unless the server says otherwise.
    write_coalescing: AtomicBool,
    /// Runs once when the handler is done (frees the server's connection slot).
    on_finish: Mutex<Option<FinishHook>>,
    /// Set when a greenlet on the hub serves this connection (`cooperative`): the socket is
    /// non-blocking and every wait goes through the waiter instead of blocking the thread.
    cooperative: OnceLock<Waiter>,
    /// A cooperative read came back short: the socket was empty then, so the next read waits
    /// for readiness first instead of spending a syscall on "would block".
    drained: AtomicBool,
}

pub type FinishHook = Box<dyn FnOnce() + Send>;

struct Reader {
    stream: Arc<TcpStream>,
    buf: Vec<u8>,
    pos: usize,
    cipher: Vec<u8>,
    cipher_pos: usize,
    chunk: usize,
    cipher_chunk: usize,
}

/// Milliseconds on a process-wide monotonic clock.
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl ConnIo {
    /// `leftover` holds bytes that arrived after the request head.
    pub fn new(stream: TcpStream, leftover: Vec<u8>) -> io::Result<Self> {
        let meta = ConnMeta {
            remote_addr: stream.peer_addr().ok(),
            ..ConnMeta::default()
        };
        Self::from_parts(stream, None, leftover, meta)
    }

    /// A blocking socket, optionally with the TLS session negotiated on it.
    pub fn from_parts(
        stream: TcpStream,
        tls: Option<ServerConnection>,
        leftover: Vec<u8>,
        meta: ConnMeta,
    ) -> io::Result<Self> {
        // One descriptor per connection, shared: 10,000 connections must fit a 20,000 fd limit.
        let stream = Arc::new(stream);
        let writer = Arc::clone(&stream);
        let control = Arc::clone(&stream);
        let tls = tls.map(|mut session| {
            // The writer drains ciphertext after every chunk, so rustls needs no limit of its own.
            session.set_buffer_limit(None);
            Mutex::new(session)
        });
        let reader = Reader {
            stream,
            buf: leftover,
            pos: 0,
            cipher: Vec::new(),
            cipher_pos: 0,
            chunk: MIN_CHUNK,
            cipher_chunk: MIN_CHUNK,
        };
        Ok(ConnIo {
            reader: Mutex::new(reader),
            writer: Mutex::new(Out::new(writer)),
            tls,
            control: Mutex::new(control),
            meta,
            last_received_ms: AtomicU64::new(now_ms()),
            last_ping_ms: AtomicU64::new(0),
            websocket_open: AtomicBool::new(false),
            write_coalescing: AtomicBool::new(true),
            on_finish: Mutex::new(None),
            cooperative: OnceLock::new(),
            drained: AtomicBool::new(false),
        })
    }

    pub fn read_exact(&self, out: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        self.read_chunks(out.len(), |chunk| {
            out[filled..filled + chunk.len()].copy_from_slice(chunk);
            filled += chunk.len();
        })
    }

    /// Appends exactly `len` bytes to `out`, copied from the read buffer (no zero fill).
    pub fn read_append(&self, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
        out.reserve(len);
        self.read_chunks(len, |chunk| out.extend_from_slice(chunk))
    }

    /// Hands exactly `len` bytes to `take`, in the pieces the read buffer holds them.
    fn read_chunks(&self, len: usize, mut take: impl FnMut(&[u8])) -> io::Result<()> {
        let mut reader = self.lock_turn(&self.reader)?;
        let mut left = len;
        while left > 0 {
            let available = self.fill(&mut reader)?;
            if available == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            let start = reader.pos;
            let step = available.min(left);
            take(&reader.buf[start..start + step]);
            reader.pos += step;
            left -= step;
        }
        Ok(())
    }

    /// Fills `out` only if the bytes are already buffered: no syscall, no waiting, so a caller
    /// holding the GIL may try this before detaching. False leaves the buffer untouched.
    pub fn try_read_buffered(&self, out: &mut [u8]) -> bool {
        let Ok(mut reader) = self.reader.try_lock() else {
            return false;
        };
        let start = reader.pos;
        if reader.buf.len() - start < out.len() {
            return false;
        }
        out.copy_from_slice(&reader.buf[start..start + out.len()]);
        reader.pos += out.len();
        true
    }

    /// At most `length` bytes from one receive, as a socket file's `read` gives them: what is
    /// buffered, else what one socket read brings (waiting for it); empty only at EOF.
    pub fn read_up_to(&self, length: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        if length > 0 {
            self.append_one_receive(length, &mut out)?;
        }
        Ok(out)
    }

    /// Appends 1 to `max` bytes from one receive (`FrameRead::read_some`); EOF is an error.
    pub fn read_some(&self, max: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        match self.append_one_receive(max, out)? {
            0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            )),
            n => Ok(n),
        }
    }

    /// Appends up to `max` buffered bytes, reading the socket once if none are; 0 at EOF.
    fn append_one_receive(&self, max: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut reader = self.lock_turn(&self.reader)?;
        let take = self.fill(&mut reader)?.min(max);
        let start = reader.pos;
        out.extend_from_slice(&reader.buf[start..start + take]);
        reader.pos += take;
        Ok(take)
    }

    /// Everything until the peer closes (`read(-1)`).
    pub fn read_to_eof(&self) -> io::Result<Vec<u8>> {
        let mut reader = self.lock_turn(&self.reader)?;
        let mut out = Vec::new();
        loop {
            let available = self.fill(&mut reader)?;
            if available == 0 {
                return Ok(out);
            }
            let start = reader.pos;
            out.extend_from_slice(&reader.buf[start..start + available]);
            reader.pos += available;
        }
    }

    pub fn write_all(&self, data: &[u8]) -> io::Result<()> {
        let mut out = self.lock_turn(&self.writer)?;
        // Flagged under the writer lock, so a control frame can only follow the whole 101.
        if self.websocket_open.load(Ordering::Relaxed) {
            out.gate.note(data);
        } else if out.head.advance(data) {
            self.websocket_open.store(true, Ordering::Relaxed);
        }
        match &self.tls {
            None => out.write_with_pending(data, self.cooperative.get())?,
            Some(tls) => {
                // Channel messages may have left ciphertext held (`deliver`): it goes first.
                out.flush(None)?;
                let mut socket: &TcpStream = &out.stream;
                for chunk in data.chunks(TLS_WRITE_CHUNK) {
                    let ciphertext = encrypt(tls, chunk)?;
                    socket.write_all(&ciphertext)?;
                }
                if data.is_empty() {
                    socket.write_all(&encrypt(tls, &[])?)?;
                }
            }
        }
        Ok(())
    }

    /// Buffered plaintext available, reading more from the socket when there is none; 0 at EOF.
    fn fill(&self, reader: &mut Reader) -> io::Result<usize> {
        if reader.pos < reader.buf.len() {
            return Ok(reader.buf.len() - reader.pos);
        }
        // About to wait for the peer: replies held back for this moment go out first.
        self.flush_held()?;
        // On the hub, wait here rather than deeper down: a shallower stack is cheaper to switch.
        self.wait_if_drained()?;
        reader.pos = 0;
        let result = match &self.tls {
            // A quiet connection waits without a heap buffer: idle ones must stay small.
            None if reader.chunk <= MIN_CHUNK => {
                reader.buf = Vec::new();
                let mut landing = [0u8; LANDING];
                let result = self.read_socket(&reader.stream, &mut landing);
                if let Ok(n) = result {
                    reader.buf.extend_from_slice(&landing[..n]);
                }
                result
            }
            None => {
                resize_for_read(&mut reader.buf, reader.chunk);
                self.read_socket(&reader.stream, &mut reader.buf)
            }
            Some(tls) => {
                resize_for_read(&mut reader.buf, reader.chunk);
                self.fill_tls(tls, reader)
            }
        };
        match result {
            Ok(n) => {
                if n > 0 {
                    self.last_received_ms.store(now_ms(), Ordering::Relaxed);
                }
                reader.buf.truncate(n);
                reader.chunk = if n == LANDING && reader.chunk <= MIN_CHUNK {
                    // The landing was too small: the next read gets a real buffer.
                    2 * MIN_CHUNK
                } else {
                    next_chunk(reader.chunk, n, READ_CHUNK)
                };
                Ok(n)
            }
            Err(e) => {
                reader.buf.clear();
                Err(e)
            }
        }
    }

    fn fill_tls(&self, tls: &Mutex<ServerConnection>, reader: &mut Reader) -> io::Result<usize> {
        let Reader {
            stream,
            buf,
            cipher,
            cipher_pos,
            cipher_chunk,
            ..
        } = reader;
        loop {
            let mut wants_write = false;
            let mut fed = false;
            {
                let mut session = lock(tls)?;
                match session.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if *cipher_pos < cipher.len() {
                    let mut pending = &cipher[*cipher_pos..];
                    let used = session.read_tls(&mut pending)?;
                    if used == 0 {
                        return Err(io::Error::other("TLS receive buffer stalled"));
                    }
                    *cipher_pos += used;
                    fed = true;
                    let state = session.process_new_packets().map_err(io::Error::other);
                    wants_write = session.wants_write();
                    if let Err(e) = state {
                        drop(session);
                        self.flush_tls_best_effort();
                        return Err(e);
                    }
                }
            }
            if wants_write {
                self.flush_tls_best_effort();
            }
            // Decrypted records may hold plaintext now: look again before reading the socket.
            if !fed {
                resize_for_read(cipher, *cipher_chunk);
                let n = read_retrying(stream, cipher)?;
                cipher.truncate(n);
                *cipher_chunk = next_chunk(*cipher_chunk, n, CIPHER_CHUNK);
                *cipher_pos = 0;
                if n == 0 {
                    return Ok(0);
                }
            }
        }
    }

    /// Sends alerts or handshake replies the reader produced, unless a writer is busy anyway.
    fn flush_tls_best_effort(&self) {
        let (Some(tls), Ok(guard)) = (&self.tls, self.writer.try_lock()) else {
            return;
        };
        if let Ok(ciphertext) = encrypt(tls, &[]) {
            let _ = (&*guard.stream).write_all(&ciphertext);
        }
    }

    pub fn last_received_ms(&self) -> u64 {
        self.last_received_ms.load(Ordering::Relaxed)
    }

    pub fn last_ping_ms(&self) -> u64 {
        self.last_ping_ms.load(Ordering::Relaxed)
    }

    pub fn set_last_ping_ms(&self, at: u64) {
        self.last_ping_ms.store(at, Ordering::Relaxed);
    }

    /// True once the 101 went out: only then may the server inject ping or close frames.
    pub fn websocket_open(&self) -> bool {
        self.websocket_open.load(Ordering::Relaxed)
    }

    pub fn mark_websocket_open(&self) {
        self.websocket_open.store(true, Ordering::Relaxed);
    }

    // For a caller holding the GIL (py_engine): never waits on a lock or a socket.

    /// Runs `parse` over the plaintext already buffered and consumes the bytes it reports
    /// used; None, without calling it, when another thread holds the reader. No syscall.
    pub fn with_buffered<T>(&self, parse: impl FnOnce(&[u8]) -> (usize, T)) -> Option<T> {
        let mut reader = self.reader.try_lock().ok()?;
        let start = reader.pos;
        let (used, value) = parse(&reader.buf[start..]);
        reader.pos = start + used.min(reader.buf.len() - start);
        Some(value)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> io::Result<MutexGuard<'_, T>> {
    mutex
        .lock()
        .map_err(|_| io::Error::other("connection lock poisoned"))
}

/// Shared handle used by the server registry.
pub type SharedConn = Arc<ConnIo>;

#[cfg(test)]
mod tests;
