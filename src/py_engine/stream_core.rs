//! `StreamCore`: the native base of `stream.Stream`, with its two per-message methods.
//!
//! A handler's `receive_message` / `send_message` run here without a Python frame; all
//! that is not the common case (Close, Ping, Pong, text given as bytes, buffer objects,
//! error decoration) goes back to `Stream`'s Python methods, looked up on the instance so a
//! subclass's overrides still apply. State stays where upstream keeps it, on the request.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

use super::{Engine, NO_OPCODE};
use crate::conn::{Fill, WriteNow};
use crate::error::{
    BadOperationException, InvalidFrameException, InvalidUTF8Exception, UnsupportedFrameException,
};
use crate::frame::{OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG};

/// What `StreamCore::receive_ready` found.
pub(crate) enum Ready<'py> {
    /// A data message (str or bytes), or a control frame's `(opcode, payload)`.
    Got(Bound<'py, PyAny>),
    /// Nothing yet: wait for the socket to become readable.
    Wait,
    /// EOF, another reader busy, a large frame, TLS: the engine's own receive takes over.
    Engine,
}

#[pyclass(subclass, frozen, module = "pywebsocket3._native")]
pub struct StreamCore {
    engine: OnceLock<Py<Engine>>,
    /// The opcode of the message the last received frame belonged to (`_original_opcode`).
    original_opcode: AtomicU8,
}

impl StreamCore {
    /// For async handlers (`py_aio::Receive`), the receive of the common case in one call: a
    /// message already buffered (str or bytes, or a control frame's `(opcode, payload)` for the
    /// caller to process), else what the socket holds is read (without waiting) and parsed, as
    /// often as it brings bytes. The request is checked once: nothing here can end the peer's
    /// side between two reads.
    pub(crate) fn receive_ready<'py>(slf: &Bound<'py, Self>) -> PyResult<Ready<'py>> {
        let py = slf.py();
        let core = slf.get();
        let engine = core.engine()?;
        let request = receivable_request(slf)?;
        loop {
            match engine.receive_buffered_py(py) {
                Some(Ok((opcode, payload))) => {
                    core.original_opcode.store(opcode, Ordering::Relaxed);
                    if opcode <= OPCODE_BINARY {
                        return Ok(Ready::Got(payload));
                    }
                    return Ok(Ready::Got((opcode, payload).into_pyobject(py)?.into_any()));
                }
                Some(Err(err)) => return Err(receive_failed(py, engine, &request, err)),
                None => {}
            }
            return Ok(match engine.fill_nowait()? {
                Fill::Read(n) if n > 0 => continue,
                Fill::WouldBlock => Ready::Wait,
                Fill::Read(_) | Fill::Busy => Ready::Engine,
            });
        }
    }

    fn engine(&self) -> PyResult<&Engine> {
        self.engine
            .get()
            .map(Py::get)
            .ok_or_else(|| PyRuntimeError::new_err("Stream.__init__ has not attached an engine"))
    }
}

#[pymethods]
impl StreamCore {
    /// Arguments are `Stream.__init__`'s; nothing is set up until it attaches the engine.
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        StreamCore {
            engine: OnceLock::new(),
            original_opcode: AtomicU8::new(NO_OPCODE),
        }
    }

    fn _attach_engine(&self, engine: Py<Engine>) -> PyResult<()> {
        self.engine
            .set(engine)
            .map_err(|_| PyRuntimeError::new_err("this stream has an engine already"))
    }

    #[getter(_original_opcode)]
    fn original_opcode(&self) -> Option<u8> {
        let opcode = self.original_opcode.load(Ordering::Relaxed);
        (opcode != NO_OPCODE).then_some(opcode)
    }

    #[setter(_original_opcode)]
    fn set_original_opcode(&self, opcode: Option<u8>) {
        let value = opcode.unwrap_or(NO_OPCODE);
        self.original_opcode.store(value, Ordering::Relaxed);
    }

    /// The next data message: str (text), bytes (binary), or None once a Close arrived (the
    /// reply has been sent by then). Pings and pongs are handled on the way.
    fn receive_message<'py>(slf: &Bound<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = slf.py();
        let core = slf.get();
        let engine = core.engine()?;
        let request = receivable_request(slf)?;
        loop {
            let (opcode, payload) = match engine.receive(py) {
                Ok(event) => event,
                Err(err) => return Err(receive_failed(py, engine, &request, err)),
            };
            core.original_opcode.store(opcode, Ordering::Relaxed);
            let hook = match opcode {
                0..=OPCODE_BINARY => return Ok(Some(payload)),
                OPCODE_CLOSE => {
                    slf.call_method1(intern!(py, "_process_close_message"), (payload,))?;
                    return Ok(None);
                }
                OPCODE_PING => intern!(py, "_process_ping_message"),
                OPCODE_PONG => intern!(py, "_process_pong_message"),
                _ => {
                    return Err(UnsupportedFrameException::new_err(format!(
                        "Opcode {opcode} is not supported"
                    )))
                }
            };
            slf.call_method1(hook, (payload,))?;
        }
    }

    /// For async handlers: sends without waiting. 0: not sent (take the slow path), 1: sent,
    /// 2: partly sent, the rest held (the caller awaits the connection's `_flush`).
    #[pyo3(signature = (message, end=Truthy(true), binary=Truthy(false)))]
    fn _send_nowait(
        slf: &Bound<'_, Self>,
        message: &Bound<'_, PyAny>,
        end: Truthy,
        binary: Truthy,
    ) -> PyResult<u8> {
        let engine = slf.get().engine()?;
        if server_terminated(slf)? {
            return Ok(0);
        }
        let (Truthy(end), Truthy(binary)) = (end, binary);
        let sent = fast_payload(message, binary, |payload, binary| {
            engine.send_now(payload, end, binary)
        });
        match sent {
            None | Some(Ok(WriteNow::NotNow)) => Ok(0),
            Some(Ok(WriteNow::Written | WriteNow::Held { .. })) => Ok(1),
            Some(Ok(WriteNow::Partial)) => Ok(2),
            Some(Err(err)) => Err(send_failed(slf, err)),
        }
    }

    /// Send a message, or one part of it with `end=False` (one frame, one write). Binary
    /// bytes and text str go straight to the engine; anything else takes
    /// `_send_message_general`.
    #[pyo3(signature = (message, end=Truthy(true), binary=Truthy(false)))]
    fn send_message(
        slf: &Bound<'_, Self>,
        message: &Bound<'_, PyAny>,
        end: Truthy,
        binary: Truthy,
    ) -> PyResult<()> {
        let py = slf.py();
        let engine = slf.get().engine()?;
        if server_terminated(slf)? {
            return Err(BadOperationException::new_err(
                "Requested send_message after sending out a closing handshake",
            ));
        }
        let (Truthy(end), Truthy(binary)) = (end, binary);
        let sent = fast_payload(message, binary, |payload, binary| {
            engine.send_payload(py, payload, end, binary)
        });
        match sent {
            None => general(slf, message, end, binary),
            Some(result) => result.map_err(|err| send_failed(slf, err)),
        }
    }
}

/// Binary bytes or text str, as the engine takes them (`send(payload, binary)`); None for
/// anything else (`_send_message_general`'s to convert).
fn fast_payload<T>(
    message: &Bound<'_, PyAny>,
    binary: bool,
    send: impl FnOnce(&[u8], bool) -> T,
) -> Option<T> {
    if let (true, Ok(bytes)) = (binary, message.cast_exact::<PyBytes>()) {
        return Some(send(bytes.as_bytes(), true));
    }
    if binary || !message.is_exact_instance_of::<PyString>() {
        return None;
    }
    let text = message.extract::<PyBackedStr>().ok()?;
    Some(send(text.as_bytes(), false))
}

fn server_terminated(slf: &Bound<'_, StreamCore>) -> PyResult<bool> {
    let py = slf.py();
    slf.getattr(intern!(py, "_request"))?
        .getattr(intern!(py, "server_terminated"))?
        .is_truthy()
}

/// A send error as upstream shows it (remote address prepended, and so on).
fn send_failed(slf: &Bound<'_, StreamCore>, err: PyErr) -> PyErr {
    let py = slf.py();
    match slf.call_method1(intern!(py, "_send_failed"), (err.value(py),)) {
        Ok(_) => err,
        Err(raised) => raised,
    }
}

/// The stream's request, once checked that no Close has been received yet.
fn receivable_request<'py>(slf: &Bound<'py, StreamCore>) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let request = slf.getattr(intern!(py, "_request"))?;
    if request
        .getattr(intern!(py, "client_terminated"))?
        .is_truthy()?
    {
        return Err(BadOperationException::new_err(
            "Requested receive_message after receiving a closing handshake",
        ));
    }
    Ok(request)
}

/// A receive error as the handler sees it; an invalid Close also ends the peer's side.
fn receive_failed(
    py: Python<'_>,
    engine: &Engine,
    request: &Bound<'_, PyAny>,
    err: PyErr,
) -> PyErr {
    let invalid = err.is_instance_of::<InvalidFrameException>(py)
        || err.is_instance_of::<InvalidUTF8Exception>(py);
    if invalid && engine.last_opcode() == Some(OPCODE_CLOSE) {
        // The peer's (invalid) Close ends its side: our Close must not wait.
        if let Err(set_failed) = request.setattr(intern!(py, "client_terminated"), true) {
            return set_failed;
        }
    }
    err
}

/// A flag taken as Python's `if flag:` takes it (handlers pass 0/1, None, ...).
struct Truthy(bool);

impl FromPyObject<'_, '_> for Truthy {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        obj.is_truthy().map(Truthy)
    }
}

fn general(
    slf: &Bound<'_, StreamCore>,
    message: &Bound<'_, PyAny>,
    end: bool,
    binary: bool,
) -> PyResult<()> {
    let name = intern!(slf.py(), "_send_message_general");
    slf.call_method1(name, (message, end, binary)).map(drop)
}
