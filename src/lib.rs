//! pywebsocket-rs native core. This file only registers; each concern has its own module.
//!
//! Pure protocol code (no pyo3): `frame`, `utf8`, `deflate`, `engine`, `http_head`,
//! `handshake`, `static_files`, `cgi`. Python edge: `py_engine`, `conn`, `py_server`, `logbridge`,
//! `channels` (publish/subscribe, local and Redis), `py_aio` (the asyncio loop's read watch).

// Windows has no fork (--workers), Unix signals, mio's Unix sources or raw fds: README "Installing".
#[cfg(not(unix))]
compile_error!("pywebsocket-rs builds on Unix only (Linux, macOS); Windows is not supported");

pub mod cgi;
pub mod channels;
pub mod conn;
pub mod deflate;
pub mod engine;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod http_head;
pub mod logbridge;
pub mod py_aio;
pub mod py_engine;
pub mod py_io;
pub mod py_server;
pub mod server;
pub mod static_files;
pub mod tls;
pub mod transport;
pub mod utf8;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    py_engine::register(m)?;
    conn::register(m)?;
    py_server::register(m)?;
    logbridge::register(m)?;
    handshake::register(m)?;
    channels::register(m)?;
    py_aio::register(m)?;
    Ok(())
}
