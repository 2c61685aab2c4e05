//! The byte transports an `Engine` runs over: a native `ConnIo` (called with the GIL
//! released) or a Python object's `read(n)` / `write(bytes)` methods (attached per call).

use std::io;
use std::sync::Arc;

use pyo3::exceptions::PyOSError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;

use crate::conn::ConnIo;
use crate::error::WsError;
use crate::transport::{FrameRead, FrameWrite};

pub enum Transport {
    Native(Arc<ConnIo>),
    /// Any object with `read(n) -> bytes` and `write(bytes)`.
    Python(Py<PyAny>),
}

/// Where the bytes of one read come from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    Native(&'a ConnIo),
    /// `obj.read(n)`; OSError becomes ConnectionTerminated like upstream `Stream._read`.
    ReadMethod(&'a Py<PyAny>),
    /// A bare `read(n)` callable (upstream `parse_frame`); its exceptions pass through.
    Callable(&'a Py<PyAny>),
}

impl<'a> Source<'a> {
    pub fn of(transport: &'a Transport) -> Self {
        match transport {
            Transport::Native(io) => Source::Native(io),
            Transport::Python(obj) => Source::ReadMethod(obj),
        }
    }
}

/// A `FrameRead` that remembers a Python exception so it can be raised unchanged.
pub struct Reader<'a> {
    source: Source<'a>,
    peer: &'a str,
    pub error: Option<PyErr>,
}

impl<'a> Reader<'a> {
    pub fn new(source: Source<'a>, peer: &'a str) -> Self {
        Reader {
            source,
            peer,
            error: None,
        }
    }

    fn closed(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("Peer ({}) closed connection", self.peer),
        )
    }

    /// The native connection's EOF, worded as upstream words it.
    fn eof_as_closed(&self, err: io::Error) -> io::Error {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            self.closed()
        } else {
            err
        }
    }

    fn python_read(
        &mut self,
        obj: &Py<PyAny>,
        call_method: bool,
        buf: &mut [u8],
    ) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let want = buf.len() - filled;
            let outcome = Python::attach(|py| {
                let target = obj.bind(py);
                let result = if call_method {
                    target.call_method1(intern!(py, "read"), (want,))
                } else {
                    target.call1((want,))
                };
                let data = result.and_then(|data| Ok(data.extract::<PyBackedBytes>()?));
                match data {
                    Ok(data) => {
                        let take = data.len().min(want);
                        buf[filled..filled + take].copy_from_slice(&data[..take]);
                        Ok(take)
                    }
                    Err(err) if call_method && err.is_instance_of::<PyOSError>(py) => {
                        Err(io::Error::other(err.value(py).to_string()))
                    }
                    Err(err) => {
                        self.error = Some(err);
                        Err(io::Error::other("exception raised by read"))
                    }
                }
            })?;
            if outcome == 0 {
                return Err(self.closed());
            }
            filled += outcome;
        }
        Ok(())
    }
}

impl FrameRead for Reader<'_> {
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        match self.source {
            Source::Native(io) => io.read_exact(buf).map_err(|err| self.eof_as_closed(err)),
            Source::ReadMethod(obj) => self.python_read(obj, true, buf),
            Source::Callable(obj) => self.python_read(obj, false, buf),
        }
    }

    fn read_append(&mut self, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
        match self.source {
            Source::Native(io) => io
                .read_append(len, out)
                .map_err(|err| self.eof_as_closed(err)),
            _ => crate::transport::append_zero_filled(self, len, out),
        }
    }

    fn read_some(&mut self, max: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        match self.source {
            Source::Native(io) => io
                .read_some(max, out)
                .map_err(|err| self.eof_as_closed(err)),
            _ => self.read_append(max, out).map(|()| max),
        }
    }
}

/// A `FrameWrite` over a transport; Python exceptions from `write` are kept as they are.
pub struct Writer<'a> {
    transport: &'a Transport,
    pub error: Option<PyErr>,
}

impl<'a> Writer<'a> {
    pub fn new(transport: &'a Transport) -> Self {
        Writer {
            transport,
            error: None,
        }
    }
}

impl FrameWrite for Writer<'_> {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self.transport {
            Transport::Native(io) => io.write_all(data),
            Transport::Python(obj) => Python::attach(|py| {
                let bytes = PyBytes::new(py, data);
                match obj.bind(py).call_method1(intern!(py, "write"), (bytes,)) {
                    Ok(_) => Ok(()),
                    Err(err) => {
                        self.error = Some(err);
                        Err(io::Error::other("exception raised by write"))
                    }
                }
            }),
        }
    }
}

/// A Python exception raised by the transport wins over the error it caused in the engine.
pub fn to_py_result<T>(result: Result<T, WsError>, error: Option<PyErr>) -> PyResult<T> {
    match (result, error) {
        (Ok(value), _) => Ok(value),
        (Err(_), Some(err)) => Err(err),
        // Keep the OS error's own class (BrokenPipeError, ...), as upstream `_write` does.
        (Err(WsError::Io(err)), None) => Err(PyErr::from(err)),
        (Err(err), None) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Event, Receiver, Sender};
    use crate::frame::encode_frame;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    /// The native path end to end over real sockets: engine <-> ConnIo <-> TCP peer.
    #[test]
    fn native_connection_round_trip_and_eof() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut peer = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        let mut leftover = Vec::new();
        encode_frame(&mut leftover, 1, false, false, false, false, b"Hel", true);
        let io = Arc::new(ConnIo::new(server, leftover).expect("conn"));
        let conn = Transport::Native(io.clone());
        let mut rest = Vec::new();
        encode_frame(&mut rest, 0, true, false, false, false, b"lo", true);
        peer.write_all(&rest).expect("write");

        let mut receiver = Receiver::new(true, 1 << 20);
        let mut reader = Reader::new(Source::Native(&io), "('127.0.0.1', 1)");
        assert_eq!(
            receiver.receive(&mut reader).expect("event"),
            Event::Text("Hello".into())
        );

        let mut sender = Sender::new(false);
        sender
            .send_message(&mut Writer::new(&conn), b"Hi", true, false)
            .expect("send");
        let mut echoed = [0u8; 4];
        std::io::Read::read_exact(&mut peer, &mut echoed).expect("read");
        assert_eq!(&echoed, b"\x81\x02Hi");

        drop(peer);
        let err = receiver.receive(&mut reader).expect_err("eof");
        assert_eq!(
            err.to_string(),
            "Receiving 2 byte failed. Peer (('127.0.0.1', 1)) closed connection"
        );
    }

    /// Whole frames already buffered are taken without a read; a partial one is left intact
    /// for the blocking path, which finishes it.
    #[test]
    fn buffered_frames_then_blocking_rest() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut peer = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        let mut leftover = Vec::new();
        encode_frame(&mut leftover, 1, true, false, false, false, b"one", true);
        encode_frame(&mut leftover, 2, true, false, false, false, b"two", true);
        let mut third = Vec::new();
        encode_frame(&mut third, 1, true, false, false, false, b"three", true);
        leftover.extend_from_slice(&third[..4]);
        let io = ConnIo::new(server, leftover).expect("conn");
        let mut receiver = Receiver::new(true, 1 << 20);

        let mut take = || {
            io.with_buffered(|buf| receiver.receive_buffered(buf))
                .expect("reader free")
                .expect("valid")
        };
        assert_eq!(take(), Some(Event::Text("one".into())));
        assert_eq!(take(), Some(Event::Binary(b"two".to_vec())));
        assert_eq!(take(), None);

        peer.write_all(&third[4..]).expect("write");
        let mut reader = Reader::new(Source::Native(&io), "peer");
        assert_eq!(
            receiver.receive(&mut reader).expect("event"),
            Event::Text("three".into())
        );
    }
}
