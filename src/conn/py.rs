//! `Connection`: mod_python's `mp_conn` over a native socket. Every wait releases the GIL (on
//! the hub, a cooperative connection's waits switch greenlets instead).

use std::net::SocketAddr;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;

use super::{ConnIo, Waiter};
use std::io;

#[pyclass(frozen, module = "pywebsocket3._native")]
pub struct Connection {
    pub io: Arc<ConnIo>,
}

/// A socket address as Python's `getpeername()` gives it (4-tuple for IPv6).
pub fn address_to_py<'py>(py: Python<'py>, addr: &SocketAddr) -> PyResult<Bound<'py, PyAny>> {
    match addr {
        SocketAddr::V4(v4) => Ok((v4.ip().to_string(), v4.port())
            .into_pyobject(py)?
            .into_any()),
        SocketAddr::V6(v6) => Ok(
            (v6.ip().to_string(), v6.port(), v6.flowinfo(), v6.scope_id())
                .into_pyobject(py)?
                .into_any(),
        ),
    }
}

#[pymethods]
impl Connection {
    #[getter]
    fn remote_addr<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.io.meta.remote_addr {
            Some(addr) => address_to_py(py, addr),
            None => Ok(py.None().into_bound(py)),
        }
    }

    #[getter]
    fn local_addr<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (name, port) = &self.io.meta.local_addr;
        Ok((name.as_str(), *port).into_pyobject(py)?.into_any())
    }

    /// What one receive brings, at most `length` bytes (b'' only at EOF), as upstream's
    /// socket file; a negative length reads to EOF.
    fn read<'py>(&self, py: Python<'py>, length: i64) -> PyResult<Bound<'py, PyBytes>> {
        let io = Arc::clone(&self.io);
        let data = match usize::try_from(length) {
            Ok(length) => self.io.run_waiting(py, move || io.read_up_to(length))?,
            Err(_) => self.io.run_waiting(py, move || io.read_to_eof())?,
        };
        Ok(PyBytes::new(py, &data))
    }

    /// sendall: bytes-like only (a str raises TypeError, as a socket file does).
    fn write(&self, py: Python<'_>, data: PyBackedBytes) -> PyResult<()> {
        let io = Arc::clone(&self.io);
        self.io.run_waiting(py, move || io.write_all(&data))?;
        Ok(())
    }

    fn get_memorized_lines<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        self.io
            .meta
            .raw_lines
            .iter()
            .map(|line| PyBytes::new(py, line))
            .collect()
    }

    fn peer_certificate<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.io
            .meta
            .peer_certificate
            .as_deref()
            .map(|der| PyBytes::new(py, der))
    }

    /// Shut the socket down (after a TLS close_notify); blocked reads and writes return.
    fn close(&self, py: Python<'_>) {
        let io = Arc::clone(&self.io);
        self.io.run_waiting(py, move || io.close());
    }

    /// Hands the connection to an asyncio loop (`pywebsocket3._aio`): its socket becomes
    /// non-blocking and every wait calls `waiter(fd, kind)` (0 readable, 1 writable, 2 yield)
    /// with the GIL held; the waiter returns once the connection may go on.
    fn _make_async(&self, waiter: Py<PyAny>) -> PyResult<()> {
        let fd = self.io.fd();
        let wait: Waiter = Box::new(move |kind| {
            Python::attach(|py| {
                waiter
                    .call1(py, (fd, kind as u8))
                    .map(drop)
                    .map_err(|err| io::Error::other(err.to_string()))
            })
        });
        self.io.make_cooperative(wait)?;
        Ok(())
    }

    #[getter]
    fn _fd(&self) -> i32 {
        self.io.fd()
    }

    #[getter]
    fn _is_async(&self) -> bool {
        self.io.is_cooperative()
    }

    /// Writes the bytes a non-waiting send left held (see `conn::nowait`).
    fn _flush(&self, py: Python<'_>) -> PyResult<()> {
        let io = Arc::clone(&self.io);
        self.io.run_waiting(py, move || io.flush_out())?;
        Ok(())
    }

    /// Called by the handler thread once `on_websocket` returned: close and free the slot.
    fn _finish(&self, py: Python<'_>) {
        let io = Arc::clone(&self.io);
        // Flushing held replies may wait (on the hub: switch greenlets).
        self.io.run_waiting(py, move || io.finish());
    }

    /// The hub and the asyncio loop, once they no longer name the descriptor: close it now
    /// rather than when the cycle collector frees this object (handler threads need not).
    fn _release(&self) {
        self.io.release_socket();
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Connection>()?;
    Ok(())
}
