//! The native client connection handed to a handler thread (plain TCP for now; TLS, the
//! connection registry for shutdown and pings come with the server work).
//!
//! Contract used by `py_engine`: `Connection.io: Arc<ConnIo>`; `ConnIo::read_exact`,
//! `ConnIo::read_up_to` and `ConnIo::write_all` block and must be called with the GIL released.
//! Reads and writes use separate locks so one thread can receive while another sends.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;

pub struct ConnIo {
    reader: Mutex<BufferedReader>,
    writer: Mutex<TcpStream>,
}

struct BufferedReader {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl BufferedReader {
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            self.buf.resize(64 * 1024, 0);
            let n = loop {
                match self.stream.read(&mut self.buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    self.buf.clear();
                    return Err(e);
                }
            };
            self.buf.truncate(n);
        }
        Ok(self.buf.len() - self.pos)
    }
}

impl ConnIo {
    /// `leftover` holds bytes that arrived after the request head.
    pub fn new(stream: TcpStream, leftover: Vec<u8>) -> io::Result<Self> {
        let writer = stream.try_clone()?;
        Ok(ConnIo {
            reader: Mutex::new(BufferedReader { stream, buf: leftover, pos: 0 }),
            writer: Mutex::new(writer),
        })
    }

    pub fn read_exact(&self, out: &mut [u8]) -> io::Result<()> {
        let mut reader = self.reader.lock().map_err(|_| poisoned())?;
        let mut filled = 0;
        while filled < out.len() {
            let available = reader.fill()?;
            if available == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
            }
            let take = available.min(out.len() - filled);
            let start = reader.pos;
            out[filled..filled + take].copy_from_slice(&reader.buf[start..start + take]);
            reader.pos += take;
            filled += take;
        }
        Ok(())
    }

    /// Up to `length` bytes, fewer only at EOF (mod_python's `read`).
    pub fn read_up_to(&self, length: usize) -> io::Result<Vec<u8>> {
        let mut reader = self.reader.lock().map_err(|_| poisoned())?;
        let mut out = Vec::with_capacity(length.min(1 << 20));
        while out.len() < length {
            let available = reader.fill()?;
            if available == 0 {
                break;
            }
            let take = available.min(length - out.len());
            let start = reader.pos;
            out.extend_from_slice(&reader.buf[start..start + take]);
            reader.pos += take;
        }
        Ok(out)
    }

    pub fn write_all(&self, data: &[u8]) -> io::Result<()> {
        let mut writer = self.writer.lock().map_err(|_| poisoned())?;
        writer.write_all(data)
    }
}

fn poisoned() -> io::Error {
    io::Error::other("connection lock poisoned")
}

#[pyclass(frozen, module = "pywebsocket3._native")]
pub struct Connection {
    pub io: Arc<ConnIo>,
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Connection>()?;
    Ok(())
}
