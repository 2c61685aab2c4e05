//! From the acceptor to a Python handler thread. A handler thread that finished its connection
//! waits here, detached, for the next one (at most `MAX_IDLE` of them, `IDLE_SECONDS` each):
//! the acceptor hands a connection straight to such a thread (one futex wake, no GIL). Only
//! when none waits does the spawner thread attach and start a new `threading.Thread` (Python
//! threads, not Rust ones: CPython may end those at interpreter exit safely).

use std::collections::VecDeque;
use std::ffi::CStr;
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::RequestHead;
use crate::conn::{ConnIo, Connection};
use crate::http_head::HttpRequest;
use crate::server::Handoff;

const MAX_IDLE: usize = 64;

/// Run by every handler thread: its first connection, then whatever the pool gives it.
const HANDLER_THREAD_CODE: &CStr = cr#"
import logging
import threading

_IDLE_SECONDS = 10.0


def _run(on_websocket, connection, head, name):
    threading.current_thread().name = name
    try:
        on_websocket(connection, head)
    except Exception:
        logging.getLogger("pywebsocket3.websocket_server.WebSocketServer").exception(
            "Exception in processing request from: %r", connection.remote_addr)
    finally:
        connection._finish()


def _worker(pool, on_websocket, item):
    while item is not None:
        _run(on_websocket, *item)
        item = None
        item = pool.next(_IDLE_SECONDS)


def start(pool, on_websocket, connection, head, name):
    threading.Thread(
        target=_worker, args=(pool, on_websocket, (connection, head, name)), name=name,
        daemon=True).start()
"#;

type Item = (Arc<ConnIo>, HttpRequest);

/// Connections queued for idle handler threads; per server and per process.
pub struct Pool {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    /// The process these counts belong to (a forked worker starts with none waiting).
    pid: u32,
    /// Threads in `next` that may still take a connection; never fewer than queued ones.
    waiting: usize,
    /// Threads in `next` at all, until they hold the GIL again (the exit cut waits for 0).
    inside: usize,
    queue: VecDeque<Item>,
    closed: bool,
}

impl Pool {
    fn new() -> Self {
        Pool {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if state.pid != pid {
            *state = State {
                pid,
                ..State::default()
            };
        }
        state
    }

    /// Hands `item` to a waiting thread; gives it back when none is free.
    fn offer(&self, item: Item) -> Option<Item> {
        let mut state = self.state();
        if state.closed || state.waiting <= state.queue.len() {
            return Some(item);
        }
        state.queue.push_back(item);
        drop(state);
        self.ready.notify_one();
        None
    }

    fn wait(&self, timeout: Duration) -> Option<Item> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        loop {
            if let Some(item) = state.queue.pop_front() {
                state.waiting -= 1;
                return Some(item);
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                state.waiting -= 1;
                return None;
            }
            state = self
                .ready
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Interpreter exit: waiting threads return None and leave native code; queued
    /// connections are ended. Waits (at most `limit`) until no thread is inside `next`.
    pub fn close(&self, limit: Duration) {
        let queued: Vec<Item> = {
            let mut state = self.state();
            state.closed = true;
            state.queue.drain(..).collect()
        };
        self.ready.notify_all();
        for (io, _) in queued {
            io.finish();
        }
        let deadline = Instant::now() + limit;
        while self.state().inside > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The pool as handler threads see it.
#[pyclass(frozen, module = "pywebsocket3._native")]
pub struct HandlerPool {
    pool: Arc<Pool>,
}

#[pymethods]
impl HandlerPool {
    /// The next `(connection, head, name)` for a thread whose handler returned, or None
    /// after `timeout` seconds (or at once when enough threads wait already).
    fn next(
        &self,
        py: Python<'_>,
        timeout: f64,
    ) -> PyResult<Option<(Connection, RequestHead, String)>> {
        {
            let mut state = self.pool.state();
            if state.closed || state.waiting >= MAX_IDLE {
                return Ok(None);
            }
            state.waiting += 1;
            state.inside += 1;
        }
        let timeout = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::ZERO);
        let item = py.detach(|| self.pool.wait(timeout));
        // Attached again: only now may the exit cut go on.
        self.pool.state().inside -= 1;
        Ok(item.map(|(io, request)| {
            let name = thread_name(&io);
            (Connection { io }, RequestHead::new(py, request), name)
        }))
    }
}

fn thread_name(io: &ConnIo) -> String {
    let peer = io.meta.remote_addr.map(|a| a.to_string());
    format!("ws {}", peer.unwrap_or_default())
}

/// Pools of the servers alive, for the interpreter-exit cut.
static LIVE_POOLS: Mutex<Vec<Weak<Pool>>> = Mutex::new(Vec::new());

pub fn close_pools(limit: Duration) {
    let pools: Vec<Arc<Pool>> = match LIVE_POOLS.lock() {
        Ok(live) => live.iter().filter_map(Weak::upgrade).collect(),
        Err(_) => return,
    };
    for pool in pools {
        pool.close(limit);
    }
}

/// The server's handoff: to an idle handler thread, else through the spawner thread (one per
/// server and process, started again after a fork), which attaches to start a new one.
pub fn handoff(py: Python<'_>, on_websocket: Py<PyAny>) -> PyResult<Handoff> {
    type Queue = mpsc::Sender<Item>;
    let pool = Arc::new(Pool::new());
    if let Ok(mut live) = LIVE_POOLS.lock() {
        live.retain(|pool| pool.strong_count() > 0);
        live.push(Arc::downgrade(&pool));
    }
    let py_pool = Arc::new(Py::new(
        py,
        HandlerPool {
            pool: Arc::clone(&pool),
        },
    )?);
    let on_websocket = Arc::new(on_websocket);
    let spawner: Mutex<Option<(u32, Queue)>> = Mutex::new(None);
    Ok(Arc::new(move |io: Arc<ConnIo>, request: HttpRequest| {
        let Some(item) = pool.offer((io, request)) else {
            return;
        };
        let Ok(mut current) = spawner.lock() else {
            item.0.finish();
            return;
        };
        let pid = std::process::id();
        if current.as_ref().is_none_or(|(owner, _)| *owner != pid) {
            let (sender, receiver) = mpsc::channel::<Item>();
            let on_websocket = Arc::clone(&on_websocket);
            let py_pool = Arc::clone(&py_pool);
            let spawned = thread::Builder::new()
                .name("pywebsocket3-spawn".into())
                .spawn(move || {
                    while let Ok((io, request)) = receiver.recv() {
                        let started = Python::try_attach(|py| {
                            start_handler(py, &py_pool, &on_websocket, &io, request)
                        });
                        if !matches!(started, Some(true)) {
                            io.finish();
                        }
                    }
                });
            if spawned.is_err() {
                item.0.finish();
                return;
            }
            *current = Some((pid, sender));
        }
        if let Some((_, queue)) = current.as_ref() {
            if let Err(mpsc::SendError((io, _))) = queue.send(item) {
                io.finish();
            }
        }
    }))
}

fn start_handler(
    py: Python<'_>,
    pool: &Py<HandlerPool>,
    on_websocket: &Py<PyAny>,
    io: &Arc<ConnIo>,
    request: HttpRequest,
) -> bool {
    static STARTER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let run = || -> PyResult<()> {
        let starter = STARTER.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            let module = PyModule::from_code(
                py,
                HANDLER_THREAD_CODE,
                c"pywebsocket3/_handler_thread.py",
                c"pywebsocket3._handler_thread",
            )?;
            Ok(module.getattr("start")?.unbind())
        })?;
        let connection = Py::new(py, Connection { io: Arc::clone(io) })?;
        let head = Py::new(py, RequestHead::new(py, request))?;
        starter.call1(py, (pool, on_websocket, connection, head, thread_name(io)))?;
        Ok(())
    };
    match run() {
        Ok(()) => true,
        Err(err) => {
            err.print(py);
            false
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<HandlerPool>()
}
