//! The per-message path of async handlers on the asyncio loop (`pywebsocket3._aio`), native so
//! that a message costs no Python frame of ours: `Receive` (what `ws_stream.receive_message()`
//! and `async for` await) and `ReadWatch` (the socket's readability, which the loop's selector
//! reports straight to `_fire`). Everything here runs on the loop's thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

use crate::py_engine::{Ready, StreamCore};

/// Messages a task takes from the buffer in a row before it lets the others run.
const FAST_STREAK: u32 = 16;

/// The readability of one connection's socket. The reader callback stays registered while the
/// connection keeps being waited for (a busy connection costs no epoll_ctl per message) and is
/// taken off the first time it fires with no one waiting.
#[pyclass(frozen, module = "pywebsocket3._native")]
pub struct ReadWatch {
    event_loop: Py<PyAny>,
    fd: i32,
    state: Mutex<WatchState>,
}

#[derive(Default)]
struct WatchState {
    /// Futures of the tasks waiting (one, unless a second reader waits on the same socket).
    waiters: Vec<Py<PyAny>>,
    registered: bool,
    closed: bool,
}

impl ReadWatch {
    fn state(&self) -> std::sync::MutexGuard<'_, WatchState> {
        // Python code is never called with the lock held, so it cannot be poisoned by it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Completes every waiter's future (one that fails does not keep the others waiting: the
    /// first error is raised once all were tried); called without the lock held.
    fn wake(py: Python<'_>, waiters: Vec<Py<PyAny>>) -> PyResult<()> {
        let mut first_error = None;
        for future in waiters {
            let future = future.bind(py);
            let woken = future
                .call_method0(intern!(py, "done"))
                .and_then(|done| done.is_truthy())
                .and_then(|done| match done {
                    true => Ok(()),
                    false => future
                        .call_method1(intern!(py, "set_result"), (py.None(),))
                        .map(drop),
                });
            if let Err(err) = woken {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[pymethods]
impl ReadWatch {
    #[new]
    fn new(event_loop: Py<PyAny>, fd: i32) -> Self {
        ReadWatch {
            event_loop,
            fd,
            state: Mutex::new(WatchState::default()),
        }
    }

    #[getter]
    fn event_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    #[getter]
    fn fd(&self) -> i32 {
        self.fd
    }

    /// Closed: the connection is done; a wait returns a future already done.
    #[getter]
    fn closed(&self) -> bool {
        self.state().closed
    }

    /// How many futures are waiting (for tests: cancelled waits must not pile up).
    #[getter]
    fn waiting(&self) -> usize {
        self.state().waiters.len()
    }

    /// A future of the loop, completed once the socket is readable (or the watch closed).
    fn wait<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let event_loop = this.event_loop.bind(py);
        let future = event_loop.call_method0(intern!(py, "create_future"))?;
        // Futures whose wait was cancelled (a timeout) go now, not at the next readability:
        // a handler that polls an idle connection with short timeouts adds none.
        let mut waiters = std::mem::take(&mut this.state().waiters);
        for waiter in std::mem::take(&mut waiters) {
            if !waiter
                .bind(py)
                .call_method0(intern!(py, "done"))?
                .is_truthy()?
            {
                waiters.push(waiter);
            }
        }
        waiters.push(future.clone().unbind());
        let register = {
            let mut state = this.state();
            if state.closed {
                drop(state);
                future.call_method1(intern!(py, "set_result"), (py.None(),))?;
                return Ok(future);
            }
            waiters.append(&mut state.waiters);
            state.waiters = waiters;
            !std::mem::replace(&mut state.registered, true)
        };
        if register {
            let fire = slf.getattr(intern!(py, "_fire"))?;
            if let Err(err) = event_loop.call_method1(intern!(py, "add_reader"), (this.fd, fire)) {
                let mut state = this.state();
                state.registered = false;
                state.waiters.clear();
                return Err(err);
            }
        }
        Ok(future)
    }

    /// The loop's reader callback.
    fn _fire(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let waiters = {
            let mut state = this.state();
            if state.waiters.is_empty() {
                state.registered = false;
                None
            } else {
                Some(std::mem::take(&mut state.waiters))
            }
        };
        match waiters {
            Some(waiters) => Self::wake(py, waiters),
            None => {
                let remove = intern!(py, "remove_reader");
                this.event_loop.bind(py).call_method1(remove, (this.fd,))?;
                Ok(())
            }
        }
    }

    /// The connection is done: the reader goes, and whoever still waits retries (and meets
    /// the closed connection instead of waiting forever).
    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let (registered, waiters) = {
            let mut state = this.state();
            state.closed = true;
            let registered = std::mem::replace(&mut state.registered, false);
            (registered, std::mem::take(&mut state.waiters))
        };
        let woken = Self::wake(py, waiters);
        if registered {
            let remove = intern!(py, "remove_reader");
            this.event_loop.bind(py).call_method1(remove, (this.fd,))?;
        }
        woken
    }
}

/// One `await` of the next message on an `AsyncStream` (Python, `_aio`): the common case (a
/// data message buffered or readable now, or a wait for readability) runs here; anything else
/// (a control frame, a receive cancelled earlier and still running, EOF, TLS) is handed to a
/// coroutine of the stream, which this awaitable then drives as `await` would.
#[pyclass(frozen, module = "pywebsocket3._native")]
pub struct Receive {
    stream: Py<PyAny>,
    /// Raised instead of returning None at the Close (`StopAsyncIteration` for `async for`).
    end: Option<Py<PyType>>,
    delegate: Mutex<Option<(Py<PyAny>, Delegate)>>,
    /// It returned or raised: awaiting it again is an error, as for a coroutine.
    finished: AtomicBool,
}

#[derive(Clone, Copy)]
enum Delegate {
    /// `_receive_engine`: its result is the message.
    Message,
    /// `_control`: processed a control frame; True if it was the Close.
    Control,
}

/// What one step of `Receive` did.
enum Step {
    /// Hand this to the task (a future to wait for, or None: run the others first).
    Yield(Py<PyAny>),
    /// The message (None at the Close).
    Done(Py<PyAny>),
    /// A control frame was processed: look for the next message (a loop, not a recursion, so
    /// a run of control frames cannot grow the native stack).
    Again,
}

impl Receive {
    fn delegate(&self, py: Python<'_>) -> Option<(Py<PyAny>, Delegate)> {
        let delegate = self.delegate.lock().unwrap_or_else(|p| p.into_inner());
        delegate
            .as_ref()
            .map(|(coroutine, kind)| (coroutine.clone_ref(py), *kind))
    }

    fn set_delegate(&self, delegate: Option<(Py<PyAny>, Delegate)>) {
        *self.delegate.lock().unwrap_or_else(|p| p.into_inner()) = delegate;
    }

    /// Resumes the delegate with `send(value)` or `throw(error)`, then goes on as its end says.
    fn resume(
        slf: &Bound<'_, Self>,
        kind: Delegate,
        resumed: PyResult<Bound<'_, PyAny>>,
    ) -> PyResult<Step> {
        let py = slf.py();
        let result = match resumed {
            Ok(yielded) => return Ok(Step::Yield(yielded.unbind())),
            Err(err) if err.is_instance_of::<PyStopIteration>(py) => {
                err.value(py).getattr(intern!(py, "value"))?
            }
            Err(err) => {
                slf.get().set_delegate(None);
                return Err(err);
            }
        };
        slf.get().set_delegate(None);
        match kind {
            Delegate::Message => slf.get().finish(py, result),
            Delegate::Control if result.is_truthy()? => {
                slf.get().finish(py, py.None().into_bound(py))
            }
            Delegate::Control => Ok(Step::Again),
        }
    }

    fn finish(&self, py: Python<'_>, message: Bound<'_, PyAny>) -> PyResult<Step> {
        match &self.end {
            Some(end) if message.is_none() => Err(PyErr::from_type(end.bind(py).clone(), ())),
            _ => Ok(Step::Done(message.unbind())),
        }
    }

    /// Starts a coroutine of the stream and drives it.
    fn hand_over(
        slf: &Bound<'_, Self>,
        coroutine: Bound<'_, PyAny>,
        kind: Delegate,
    ) -> PyResult<Step> {
        let py = slf.py();
        slf.get()
            .set_delegate(Some((coroutine.clone().unbind(), kind)));
        let resumed = coroutine.call_method1(intern!(py, "send"), (py.None(),));
        Self::resume(slf, kind, resumed)
    }

    /// Hands over to the stream's `_receive_engine` (which also resets the streak).
    fn engine_receive(slf: &Bound<'_, Self>) -> PyResult<Step> {
        let py = slf.py();
        let this = slf.get();
        let end = match &this.end {
            Some(end) => end.bind(py).clone().into_any(),
            None => py.None().into_bound(py),
        };
        let receive_engine = intern!(py, "_receive_engine");
        let coroutine = this.stream.bind(py).call_method1(receive_engine, (end,))?;
        Self::hand_over(slf, coroutine, Delegate::Message)
    }

    /// The common case, from the top.
    fn advance(slf: &Bound<'_, Self>) -> PyResult<Step> {
        let py = slf.py();
        let this = slf.get();
        let stream = this.stream.bind(py);
        if !stream.getattr(intern!(py, "_parked"))?.is_none() {
            return Self::engine_receive(slf);
        }
        let streak_name = intern!(py, "_streak");
        let streak: u32 = stream.getattr(streak_name)?.extract()?;
        if streak >= FAST_STREAK {
            stream.setattr(streak_name, 0)?;
            return Ok(Step::Yield(py.None()));
        }
        let blocking = stream.getattr(intern!(py, "_blocking"))?;
        let core = blocking.cast::<StreamCore>()?;
        match StreamCore::receive_ready(core)? {
            Ready::Got(got) if got.is_instance_of::<PyTuple>() => {
                // Counted too: a flood of pings lets the other tasks run.
                stream.setattr(streak_name, streak + 1)?;
                let coroutine = stream.call_method1(intern!(py, "_control"), (got,))?;
                Self::hand_over(slf, coroutine, Delegate::Control)
            }
            Ready::Got(message) => {
                stream.setattr(streak_name, streak + 1)?;
                Ok(Step::Done(message.unbind()))
            }
            Ready::Wait => {
                stream.setattr(streak_name, 0)?;
                let mut watch = stream.getattr(intern!(py, "_watch"))?;
                if watch.is_none() || watch.cast::<ReadWatch>()?.get().state().closed {
                    watch = stream.call_method0(intern!(py, "_new_watch"))?;
                }
                let future = ReadWatch::wait(watch.cast::<ReadWatch>()?)?;
                // What `await future` sets: the task then waits for it rather than complain.
                future.setattr(intern!(py, "_asyncio_future_blocking"), true)?;
                Ok(Step::Yield(future.unbind()))
            }
            Ready::Engine => Self::engine_receive(slf),
        }
    }

    /// Runs from `first` until something goes to the task: a yield is returned, the end is
    /// StopIteration (or the error), after which the awaitable is finished.
    fn run(slf: &Bound<'_, Self>, first: PyResult<Step>) -> PyResult<Py<PyAny>> {
        let mut step = first;
        loop {
            match step {
                Ok(Step::Yield(yielded)) => return Ok(yielded),
                Ok(Step::Again) => step = Self::advance(slf),
                Ok(Step::Done(message)) => {
                    slf.get().finished.store(true, Ordering::Relaxed);
                    return Err(PyStopIteration::new_err((message,)));
                }
                Err(err) => {
                    slf.get().finished.store(true, Ordering::Relaxed);
                    return Err(err);
                }
            }
        }
    }

    /// `send(value)` / `__next__`.
    fn step(slf: &Bound<'_, Self>, value: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if slf.get().finished.load(Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err(
                "cannot reuse already awaited receive",
            ));
        }
        let first = match slf.get().delegate(py) {
            Some((coroutine, kind)) => {
                let resumed = coroutine
                    .bind(py)
                    .call_method1(intern!(py, "send"), (value,));
                Self::resume(slf, kind, resumed)
            }
            None => Self::advance(slf),
        };
        Self::run(slf, first)
    }
}

#[pymethods]
impl Receive {
    #[new]
    #[pyo3(signature = (stream, end=None))]
    fn new(stream: Py<PyAny>, end: Option<Py<PyType>>) -> Self {
        Receive {
            stream,
            end,
            delegate: Mutex::new(None),
            finished: AtomicBool::new(false),
        }
    }

    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::step(slf, slf.py().None().into_bound(slf.py()))
    }

    fn send(slf: &Bound<'_, Self>, value: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::step(slf, value)
    }

    /// An exception thrown in by the task (a cancellation): into the delegate if there is
    /// one (with the arguments as given), else raised here, where the wait for readability was.
    #[pyo3(signature = (*args))]
    fn throw(slf: &Bound<'_, Self>, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let thrown = match slf.get().delegate(py) {
            Some((coroutine, kind)) => {
                let thrown = coroutine.bind(py).call_method1(intern!(py, "throw"), args);
                Self::resume(slf, kind, thrown)
            }
            None => Err(as_error(args)?),
        };
        Self::run(slf, thrown)
    }

    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        if let Some((coroutine, _)) = slf.get().delegate(py) {
            slf.get().set_delegate(None);
            coroutine.bind(py).call_method0(intern!(py, "close"))?;
        }
        Ok(())
    }
}

/// `throw(type[, value[, traceback]])` or `throw(exception)`: the exception they name, as
/// CPython's generators take them.
fn as_error(args: &Bound<'_, PyTuple>) -> PyResult<PyErr> {
    let first = args.get_item(0)?;
    let value = args.get_item(1).ok().filter(|value| !value.is_none());
    let error = if !first.is_instance_of::<PyType>() {
        first
    } else {
        match value {
            Some(value) if value.is_instance(&first)? => value,
            Some(value) => first.call1((value,))?,
            None => first.call0()?,
        }
    };
    if let Ok(traceback) = args.get_item(2) {
        if !traceback.is_none() {
            let with_traceback = intern!(args.py(), "with_traceback");
            return Ok(PyErr::from_value(
                error.call_method1(with_traceback, (traceback,))?,
            ));
        }
    }
    Ok(PyErr::from_value(error))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ReadWatch>()?;
    m.add_class::<Receive>()?;
    Ok(())
}
