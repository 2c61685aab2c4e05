//! The paths that stay under the GIL: a message already buffered is taken, and a small reply to
//! a peer that pipelined more is held back (`conn::coalesce`), with no detach and no syscall.

use std::sync::atomic::Ordering;

use pyo3::prelude::*;

use super::{Engine, HOLD_PAYLOAD, NO_OPCODE};
use crate::conn::{Fill, WriteNow};
use crate::engine::{Event, Sender};
use crate::py_io::{to_py_result, Transport, Writer};

impl Engine {
    /// On a native connection, a message whose frames are all buffered already is taken
    /// under the GIL: no detach, no syscall. None means "wait for more, detached".
    pub(super) fn receive_buffered(&self) -> Option<PyResult<Event>> {
        let Transport::Native(io) = &self.transport else {
            return None;
        };
        let mut receiver = self.receiver.try_lock().ok()?;
        let result = io.with_buffered(|buf| receiver.receive_buffered(buf))?;
        let last = receiver.last_opcode().unwrap_or(NO_OPCODE);
        self.last_opcode.store(last, Ordering::Relaxed);
        match result {
            Ok(Some(event)) => Some(Ok(event)),
            Ok(None) => None,
            Err(err) => Some(to_py_result(Err(err), None)),
        }
    }

    /// A small message to a peer that has pipelined more: built under the GIL and held back
    /// for the next write (see `conn::coalesce`), no detach, no syscall. None: not this path.
    pub(super) fn send_held(
        &self,
        py: Python<'_>,
        payload: &[u8],
        end: bool,
        binary: bool,
    ) -> Option<PyResult<()>> {
        let Transport::Native(io) = &self.transport else {
            return None;
        };
        // Checked before the frame is built, so a frame that cannot be held is built detached.
        if payload.len() > HOLD_PAYLOAD || !io.may_hold(payload.len()) {
            return None;
        }
        let mut sender = self.sender.try_lock().ok()?;
        if let Err(err) = sender.encode_message(payload, end, binary) {
            return Some(to_py_result(Err(err), None));
        }
        match io.try_hold(sender.frame()) {
            Some(first) => {
                if first {
                    crate::conn::schedule_flush(io);
                }
                Some(Ok(()))
            }
            // Built already (the compressor has moved on): it must go out now, detached.
            None => {
                let sender: &mut Sender = &mut sender;
                let mut writer = Writer::new(&self.transport);
                let result = io.run_waiting(py, || sender.write_frame(&mut writer));
                Some(to_py_result(result, writer.error))
            }
        }
    }
}

impl Engine {
    /// For async handlers: one message sent without waiting, or `NotNow` when it cannot be
    /// (busy writer, held bytes, not a loop connection); then the caller takes the slow path.
    pub(super) fn send_now(&self, payload: &[u8], end: bool, binary: bool) -> PyResult<WriteNow> {
        let Transport::Native(io) = &self.transport else {
            return Ok(WriteNow::NotNow);
        };
        if !io.is_cooperative() {
            return Ok(WriteNow::NotNow);
        }
        let Ok(mut sender) = self.sender.try_lock() else {
            return Ok(WriteNow::NotNow);
        };
        // Decided before the frame is built; held or written under one writer lock, so
        // nothing here ever waits (the loop thread must not).
        let hold = payload.len() <= HOLD_PAYLOAD && io.may_hold(payload.len());
        let sender: &mut Sender = &mut sender;
        let written = io.write_now(hold, move || {
            sender.encode_message(payload, end, binary)?;
            Ok(sender.frame())
        });
        match written {
            Ok(Ok(WriteNow::Held { first: true })) => {
                crate::conn::schedule_flush(io);
                Ok(WriteNow::Held { first: true })
            }
            Ok(Ok(how)) => Ok(how),
            Ok(Err(err)) => Err(err.into()),
            Err(err) => to_py_result(Err(err), None),
        }
    }
}

impl Engine {
    /// For async handlers: what the socket holds, read without waiting (`ConnIo::fill_nowait`);
    /// `Busy` for a transport that is not a loop connection.
    pub(super) fn fill_nowait(&self) -> std::io::Result<Fill> {
        match &self.transport {
            Transport::Native(io) => io.fill_nowait(),
            Transport::Python(_) => Ok(Fill::Busy),
        }
    }

    /// `receive_buffered` as `(opcode, payload)` for Python (async handlers' fast path).
    pub(super) fn receive_buffered_py<'py>(
        &self,
        py: Python<'py>,
    ) -> Option<PyResult<(u8, Bound<'py, PyAny>)>> {
        let result = self.receive_buffered()?;
        Some(result.map(|event| super::event_to_py(py, event)))
    }
}
