//! Socket and buffer helpers of `ConnIo`: adaptive read sizes, TLS encryption under the
//! session lock, non-blocking sends with a deadline.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustls::ServerConnection;

use super::{lock, MIN_CHUNK};

/// Doubles after a full read, halves after a mostly empty one.
pub(super) fn next_chunk(current: usize, got: usize, max: usize) -> usize {
    if got >= current {
        (current * 2).min(max)
    } else if got < current / 4 {
        (current / 2).max(MIN_CHUNK)
    } else {
        current
    }
}

/// An empty buffer of `size` bytes, giving memory back when it had grown much larger.
pub(super) fn resize_for_read(buf: &mut Vec<u8>, size: usize) {
    buf.clear();
    if buf.capacity() > 2 * size {
        buf.shrink_to(size);
    }
    buf.resize(size, 0);
}

/// Plaintext in, ciphertext out, holding the rustls lock only for the encryption.
pub(super) fn encrypt(tls: &Mutex<ServerConnection>, plaintext: &[u8]) -> io::Result<Vec<u8>> {
    let mut session = lock(tls)?;
    if !plaintext.is_empty() {
        session.writer().write_all(plaintext)?;
    }
    let mut out = Vec::with_capacity(plaintext.len() + 64);
    while session.wants_write() {
        session.write_tls(&mut out)?;
    }
    Ok(out)
}

pub(super) fn read_retrying(mut stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Writes everything to a non-blocking socket, waiting through `waiter` whenever it is full.
/// On error, also how many bytes had gone out (the caller keeps the rest in order).
pub(super) fn write_cooperative(
    mut stream: &TcpStream,
    data: &[u8],
    waiter: &super::Waiter,
) -> Result<(), (io::Error, usize)> {
    let mut sent = 0;
    while sent < data.len() {
        match stream.write(&data[sent..]) {
            Ok(0) => return Err((io::ErrorKind::WriteZero.into(), sent)),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                waiter(super::Wait::Writable).map_err(|e| (e, sent))?
            }
            Err(e) => return Err((e, sent)),
        }
    }
    Ok(())
}

/// `send(MSG_DONTWAIT)` until everything is out or the deadline passes; bytes sent.
pub(super) fn send_nonblocking(
    socket: &TcpStream,
    bytes: &[u8],
    deadline: Instant,
) -> io::Result<usize> {
    let sock = socket2::SockRef::from(socket);
    let mut sent = 0;
    while sent < bytes.len() {
        match sock.send_with_flags(&bytes[sent..], libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return if sent == 0 { Ok(0) } else { Err(e) },
        }
    }
    Ok(sent)
}
