//! The handoff to async handlers (`pywebsocket3._aio`): connections for a resource whose
//! handler file is `async def` go to a queue that the process's asyncio loop drains. The
//! acceptor never attaches to Python: it queues and writes one byte to a socket pair whose
//! other end the loop watches (`add_reader`). TLS connections, and every connection of a
//! process whose loop is not running, go on down the chain (threads or the hub), where the
//! async hooks are run on the loop from there.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use pyo3::prelude::*;

use super::conn_queue::{ConnQueue, Item};
use super::RequestHead;
use crate::conn::{ConnIo, Connection};
use crate::http_head::HttpRequest;
use crate::server::{handler_key, Handoff};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct AsyncCore {
    /// The process whose loop this is (a forked worker starts its own).
    pid: u32,
    queue: ConnQueue,
    /// Written by the acceptor (one byte per wake-up), read by the loop.
    wake_tx: UnixStream,
    wake_rx: UnixStream,
    /// A wake-up byte is in flight: later pushes need not write another.
    signalled: AtomicBool,
}

impl AsyncCore {
    /// Queues `item` for the loop; gives it back when the loop has closed meanwhile.
    fn push(&self, item: Item) -> Option<Item> {
        let refused = self.queue.push(item);
        if refused.is_none() && !self.signalled.swap(true, Ordering::AcqRel) {
            // A full pipe means a wake-up is pending already.
            let _ = (&self.wake_tx).write(&[1]);
        }
        refused
    }

    fn is_open(&self) -> bool {
        self.pid == std::process::id() && !self.queue.is_closed()
    }
}

/// Per server: which resources are async, and the loop of this process once it runs.
#[derive(Default)]
pub struct AsyncSlot {
    current: Mutex<Option<Arc<AsyncCore>>>,
    resources: RwLock<HashSet<String>>,
}

impl AsyncSlot {
    pub fn set(&self, core: Arc<AsyncCore>) {
        *lock(&self.current) = Some(core);
    }

    pub fn set_resources(&self, resources: Vec<String>) {
        if let Ok(mut set) = self.resources.write() {
            *set = resources.into_iter().collect();
        }
    }

    fn serves(&self, target: &str) -> Option<Arc<AsyncCore>> {
        let (key, _) = handler_key(target);
        let is_async = self
            .resources
            .read()
            .map(|set| set.contains(key))
            .unwrap_or(false);
        if !is_async {
            return None;
        }
        lock(&self.current)
            .as_ref()
            .filter(|core| core.is_open())
            .cloned()
    }
}

/// Plain connections for async resources to the loop; everything else to `next`.
pub fn handoff(slot: Arc<AsyncSlot>, next: Handoff) -> Handoff {
    Arc::new(move |conn: Arc<ConnIo>, request: HttpRequest| {
        if conn.is_tls() {
            return next(conn, request);
        }
        let Some(core) = slot.serves(&request.target) else {
            return next(conn, request);
        };
        if let Some((conn, request)) = core.push((conn, request)) {
            next(conn, request);
        }
    })
}

/// The loop's end of the queue (`pywebsocket3._aio.AsyncRunner` holds one per process).
#[pyclass(frozen, module = "pywebsocket3._native")]
pub struct AsyncQueue {
    pub(super) core: Arc<AsyncCore>,
}

#[pymethods]
impl AsyncQueue {
    #[new]
    fn new() -> PyResult<Self> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        Ok(AsyncQueue {
            core: Arc::new(AsyncCore {
                pid: std::process::id(),
                queue: ConnQueue::default(),
                wake_tx,
                wake_rx,
                signalled: AtomicBool::new(false),
            }),
        })
    }

    /// The descriptor the loop watches for readability.
    fn wake_fd(&self) -> i32 {
        self.core.wake_rx.as_raw_fd()
    }

    /// Every connection queued since the last call, as `(connection, head)` pairs.
    fn take(&self, py: Python<'_>) -> PyResult<Vec<(Connection, RequestHead)>> {
        let mut sink = [0u8; 64];
        while matches!((&self.core.wake_rx).read(&mut sink), Ok(n) if n > 0) {}
        // Cleared before draining: a push after this point writes a new wake-up byte.
        self.core.signalled.store(false, Ordering::Release);
        let queued = self.core.queue.take();
        Ok(queued
            .into_iter()
            .map(|(io, request)| (Connection { io }, RequestHead::new(py, request)))
            .collect())
    }

    /// No more connections are queued; those still queued are ended.
    fn close(&self, py: Python<'_>) {
        let queued = self.core.queue.close();
        py.detach(|| {
            for (conn, _) in queued {
                conn.finish();
            }
        });
    }
}
