//! The Python edge of the protocol engine: the `Engine` class and the frame helpers.
//!
//! Deadlock rule: nothing here waits on a lock or a socket while attached to Python; the
//! receive and send halves have separate locks so one thread can receive while another sends.

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyString};

use crate::conn::Connection;
use crate::engine::{Event, Receiver, Sender};
use crate::error::WsResult;
use crate::frame::{self, apply_mask, encode_frame, Frame};

mod fast;
mod stream_core;
use crate::py_io::{to_py_result, Reader, Source, Transport, Writer};
pub(crate) use stream_core::{Ready, StreamCore};

type EventTuple<'py> = (u8, Bound<'py, PyAny>);
type FrameTuple<'py> = (u8, Bound<'py, PyBytes>, u8, u8, u8, u8);

#[pyclass(frozen, module = "pywebsocket3._native")]
pub struct Engine {
    transport: Transport,
    /// `repr(connection.remote_addr)`, for upstream's "Peer (...) closed connection".
    peer: String,
    receiver: Mutex<Receiver>,
    sender: Mutex<Sender>,
    /// Copied out of the receiver so reading it never waits for a blocked `receive`.
    last_opcode: AtomicU8,
    /// Messages taken in a row from the buffer without detaching (see `YIELD_EVERY`).
    streak: AtomicU32,
}

/// After this many buffered messages in a row the GIL is handed on (detach + yield): a
/// thread whose peer keeps its buffer full would otherwise keep the GIL from the others.
const YIELD_EVERY: u32 = 8;
/// Messages up to this size may be built under the GIL and held back (`send_held`).
const HOLD_PAYLOAD: usize = 8 * 1024;

/// `last_opcode` value meaning "no frame received yet".
const NO_OPCODE: u8 = u8::MAX;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Engine {
    /// Runs `op` on one half: a Python transport may go ahead attached when the lock is
    /// free (its read/write release the GIL themselves); otherwise wait detached. Err only
    /// on a cooperative connection whose wait for the half was interrupted (a cancelled task).
    fn with_half<S: Send, T: Send>(
        &self,
        py: Python<'_>,
        half: &Mutex<S>,
        op: impl FnOnce(&mut S) -> T + Send,
    ) -> io::Result<T> {
        match &self.transport {
            Transport::Python(_) => match half.try_lock() {
                Ok(mut guard) => return Ok(op(&mut guard)),
                Err(TryLockError::Poisoned(poisoned)) => return Ok(op(&mut poisoned.into_inner())),
                Err(TryLockError::WouldBlock) => {}
            },
            // On the hub or the loop the op stays attached (its waits switch greenlets), and a
            // half held by another greenlet of this thread is waited out by yielding, never by
            // blocking: its holder can only let go on this very thread.
            Transport::Native(io) if io.is_cooperative() => loop {
                match half.try_lock() {
                    Ok(mut guard) => return Ok(op(&mut guard)),
                    Err(TryLockError::Poisoned(poisoned)) => {
                        return Ok(op(&mut poisoned.into_inner()))
                    }
                    Err(TryLockError::WouldBlock) => io.yield_turn()?,
                }
            },
            Transport::Native(_) => {}
        }
        Ok(py.detach(|| op(&mut lock(half))))
    }

    /// Hands the GIL (or, on the hub, the thread) to the others for a moment.
    fn yield_turn(&self, py: Python<'_>) {
        match &self.transport {
            Transport::Native(io) if io.is_cooperative() => {
                let _ = io.yield_turn();
            }
            _ => py.detach(std::thread::yield_now),
        }
    }

    fn receive_with<T: Send>(
        &self,
        py: Python<'_>,
        op: impl FnOnce(&mut Receiver, &mut Reader<'_>) -> WsResult<T> + Send,
    ) -> PyResult<T> {
        let (result, error) = self.with_half(py, &self.receiver, |receiver| {
            let mut reader = Reader::new(Source::of(&self.transport), &self.peer);
            let result = op(receiver, &mut reader);
            let last = receiver.last_opcode().unwrap_or(NO_OPCODE);
            self.last_opcode.store(last, Ordering::Relaxed);
            (result, reader.error)
        })?;
        to_py_result(result, error)
    }

    fn send_with(
        &self,
        py: Python<'_>,
        op: impl FnOnce(&mut Sender, &mut Writer<'_>) -> WsResult<()> + Send,
    ) -> PyResult<()> {
        let (result, error) = self.with_half(py, &self.sender, |sender| {
            let mut writer = Writer::new(&self.transport);
            let result = op(sender, &mut writer);
            (result, writer.error)
        })?;
        to_py_result(result, error)
    }
}

impl Engine {
    /// One message (or a part of one) from a buffer the caller keeps alive and unchanged.
    fn send_payload(
        &self,
        py: Python<'_>,
        payload: &[u8],
        end: bool,
        binary: bool,
    ) -> PyResult<()> {
        if let Some(result) = self.send_held(py, payload, end, binary) {
            return result;
        }
        self.send_with(py, |sender, writer| {
            sender.send_message(writer, payload, end, binary)
        })
    }
}

fn event_to_py(py: Python<'_>, event: Event) -> EventTuple<'_> {
    let opcode = event.opcode();
    let value = match event {
        Event::Text(text) => PyString::new(py, &text).into_any(),
        Event::Binary(data) | Event::Close(data) | Event::Ping(data) | Event::Pong(data) => {
            PyBytes::new(py, &data).into_any()
        }
    };
    (opcode, value)
}

fn frame_to_py(py: Python<'_>, frame: Frame) -> FrameTuple<'_> {
    let payload = PyBytes::new(py, &frame.payload);
    (
        frame.opcode,
        payload,
        frame.fin.into(),
        frame.rsv1.into(),
        frame.rsv2.into(),
        frame.rsv3.into(),
    )
}

fn flag(name: &str, value: u8) -> PyResult<bool> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(PyValueError::new_err(format!("{name} must be 0 or 1"))),
    }
}

fn window_bits(value: u8) -> PyResult<u8> {
    if (8..=15).contains(&value) {
        Ok(value)
    } else {
        Err(PyValueError::new_err(
            "window bits must be between 8 and 15",
        ))
    }
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (connection, *, mask_send=false, unmask_receive=true, max_message_size=67108864))]
    fn new(
        connection: &Bound<'_, PyAny>,
        mask_send: bool,
        unmask_receive: bool,
        max_message_size: usize,
    ) -> PyResult<Self> {
        let transport = match connection.cast::<Connection>() {
            Ok(native) => Transport::Native(native.get().io.clone()),
            Err(_) => Transport::Python(connection.clone().unbind()),
        };
        let peer = connection
            .getattr("remote_addr")
            .and_then(|addr| addr.repr())
            .map(|repr| repr.to_string())
            .unwrap_or_else(|_| "None".to_owned());
        Ok(Engine {
            transport,
            peer,
            receiver: Mutex::new(Receiver::new(unmask_receive, max_message_size)),
            sender: Mutex::new(Sender::new(mask_send)),
            last_opcode: AtomicU8::new(NO_OPCODE),
            streak: AtomicU32::new(0),
        })
    }

    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (*, outgoing=true, incoming=true, outgoing_window_bits=15,
        outgoing_no_context_takeover=false, bfinal=false, incoming_window_bits=15,
        incoming_no_context_takeover=false))]
    fn enable_deflate(
        &self,
        py: Python<'_>,
        outgoing: bool,
        incoming: bool,
        outgoing_window_bits: u8,
        outgoing_no_context_takeover: bool,
        bfinal: bool,
        incoming_window_bits: u8,
        incoming_no_context_takeover: bool,
    ) -> PyResult<()> {
        let outgoing_bits = window_bits(outgoing_window_bits)?;
        let incoming_bits = window_bits(incoming_window_bits)?;
        if outgoing {
            self.with_half(py, &self.sender, |sender| {
                sender.enable_deflate(outgoing_bits, outgoing_no_context_takeover, bfinal)
            })?;
        }
        if incoming {
            self.with_half(py, &self.receiver, |receiver| {
                receiver.enable_inflate(incoming_bits, incoming_no_context_takeover)
            })?;
        }
        Ok(())
    }

    fn set_outgoing_compression(&self, py: Python<'_>, enabled: bool) -> PyResult<()> {
        self.with_half(py, &self.sender, |sender| {
            sender.set_outgoing_compression(enabled)
        })?;
        Ok(())
    }

    fn receive<'py>(&self, py: Python<'py>) -> PyResult<EventTuple<'py>> {
        let event = match self.receive_buffered() {
            Some(result) => {
                if self.streak.fetch_add(1, Ordering::Relaxed) + 1 >= YIELD_EVERY {
                    self.streak.store(0, Ordering::Relaxed);
                    self.yield_turn(py);
                }
                result?
            }
            None => {
                self.streak.store(0, Ordering::Relaxed);
                if let Transport::Native(io) = &self.transport {
                    // On the hub: wait for the peer here, where the stack is shallow (every
                    // switch copies it), rather than deep inside the frame reader.
                    io.wait_if_drained_and_empty()?;
                }
                self.receive_with(py, |receiver, reader| receiver.receive(reader))?
            }
        };
        Ok(event_to_py(py, event))
    }

    fn receive_frame<'py>(&self, py: Python<'py>) -> PyResult<FrameTuple<'py>> {
        let frame = self.receive_with(py, |receiver, reader| receiver.receive_frame(reader))?;
        Ok(frame_to_py(py, frame))
    }

    #[allow(clippy::too_many_arguments)]
    fn process_frame<'py>(
        &self,
        py: Python<'py>,
        opcode: u8,
        payload: &[u8],
        fin: u8,
        rsv1: u8,
        rsv2: u8,
        rsv3: u8,
    ) -> PyResult<Option<EventTuple<'py>>> {
        let frame = Frame {
            fin: flag("fin", fin)?,
            rsv1: flag("rsv1", rsv1)?,
            rsv2: flag("rsv2", rsv2)?,
            rsv3: flag("rsv3", rsv3)?,
            opcode: opcode & 0x0f,
            payload: payload.to_vec(),
        };
        let event = self.receive_with(py, |receiver, _| receiver.process_frame(frame))?;
        Ok(event.map(|event| event_to_py(py, event)))
    }

    #[pyo3(signature = (payload, end=true, binary=false))]
    fn send_message(
        &self,
        py: Python<'_>,
        payload: PyBackedBytes,
        end: bool,
        binary: bool,
    ) -> PyResult<()> {
        self.send_payload(py, &payload, end, binary)
    }

    fn send_frame(&self, py: Python<'_>, opcode: u8, payload: PyBackedBytes) -> PyResult<()> {
        self.send_with(py, |sender, writer| {
            sender.send_frame(writer, opcode, &payload)
        })
    }

    fn read<'py>(&self, py: Python<'py>, length: usize) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.receive_with(py, |_, reader| {
            let mut data = Vec::new();
            frame::read_into(reader, length, &mut data)?;
            Ok(data)
        })?;
        Ok(PyBytes::new(py, &data))
    }

    fn write(&self, py: Python<'_>, data: PyBackedBytes) -> PyResult<()> {
        self.send_with(py, |_, writer| {
            crate::transport::FrameWrite::write_all(writer, &data).map_err(Into::into)
        })
    }

    #[getter]
    fn last_opcode(&self) -> Option<u8> {
        let last = self.last_opcode.load(Ordering::Relaxed);
        (last != NO_OPCODE).then_some(last)
    }
}

/// One complete frame; with `mask` a random key is drawn and the payload masked.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (opcode, payload, fin=1, rsv1=0, rsv2=0, rsv3=0, mask=false))]
fn build_frame<'py>(
    py: Python<'py>,
    opcode: u8,
    payload: &[u8],
    fin: u8,
    rsv1: u8,
    rsv2: u8,
    rsv3: u8,
    mask: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    if opcode > 0x0f {
        return Err(PyValueError::new_err("Opcode out of range"));
    }
    let (fin, rsv1, rsv2, rsv3) = (
        flag("fin", fin)?,
        flag("rsv1", rsv1)?,
        flag("rsv2", rsv2)?,
        flag("rsv3", rsv3)?,
    );
    let mut out = Vec::new();
    encode_frame(&mut out, opcode, fin, rsv1, rsv2, rsv3, payload, mask);
    Ok(PyBytes::new(py, &out))
}

/// Reads one frame through `read(n)`: `(opcode, payload, fin, rsv1, rsv2, rsv3)`.
#[pyfunction]
#[pyo3(signature = (read, unmask_receive=true))]
fn parse_frame<'py>(
    py: Python<'py>,
    read: Py<PyAny>,
    unmask_receive: bool,
) -> PyResult<FrameTuple<'py>> {
    let mut reader = Reader::new(Source::Callable(&read), "None");
    let result = frame::read_frame(&mut reader, unmask_receive, u64::MAX);
    let frame = to_py_result(result, reader.error.take())?;
    Ok(frame_to_py(py, frame))
}

/// XORs `data` with the 4-byte `key`, starting at key position `offset % 4`.
#[pyfunction]
#[pyo3(signature = (key, data, offset=0))]
fn mask<'py>(
    py: Python<'py>,
    key: &[u8],
    data: &[u8],
    offset: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let key: [u8; 4] = key
        .try_into()
        .map_err(|_| PyValueError::new_err("mask key must be 4 bytes"))?;
    PyBytes::new_with(py, data.len(), |out| {
        out.copy_from_slice(data);
        apply_mask(out, key, offset);
        Ok(())
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<StreamCore>()?;
    m.add_function(wrap_pyfunction!(build_frame, m)?)?;
    m.add_function(wrap_pyfunction!(parse_frame, m)?)?;
    m.add_function(wrap_pyfunction!(mask, m)?)?;
    Ok(())
}
