//! The greenlet hub (`--greenlets`): one Python thread per process runs every WebSocket
//! handler as a greenlet (`pywebsocket3._hub`). This is its native half: one epoll set for
//! the sockets of all its connections, the queue the acceptor hands connections to, the loop,
//! and the waiter each connection calls instead of blocking (`conn::cooperative`,
//! `scheduler`). TLS connections, and every connection of a process whose hub is not running,
//! go to handler threads.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::conn_queue::{ConnQueue, Item};
use super::RequestHead;
use crate::conn::{ConnIo, Connection, Waiter};
use crate::http_head::HttpRequest;
use crate::server::Handoff;

mod scheduler;
use scheduler::Scheduler;

const WAKE: Token = Token(usize::MAX);
const EVENTS_PER_POLL: usize = 1024;
/// How long an idle hub sleeps in epoll (new connections and `close` wake it earlier).
const IDLE_POLL: Duration = Duration::from_secs(5);

/// Readiness bits of `HubCore::wait`'s `(fd, mask)` pairs.
const READABLE: u8 = 1;
const WRITABLE: u8 = 2;

type Ready = Vec<(i32, u8)>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct HubCore {
    /// The process whose hub thread this is (a forked worker starts its own).
    pid: u32,
    /// The epoll set, with the event buffer each wait fills.
    poll: Mutex<(Poll, Events)>,
    registry: Registry,
    waker: Waker,
    queue: ConnQueue,
    /// The hub thread is inside `poll`, detached (the exit cut waits until it has left).
    inside: AtomicBool,
}

impl HubCore {
    /// Queues `item` for the hub; gives it back when the hub has closed meanwhile.
    fn push(&self, item: Item) -> Option<Item> {
        let refused = self.queue.push(item);
        if refused.is_none() {
            let _ = self.waker.wake();
        }
        refused
    }

    fn is_open(&self) -> bool {
        self.pid == std::process::id() && !self.queue.is_closed()
    }

    /// Ends queued connections, wakes the hub out of `poll` for good and waits (at most
    /// `limit`) until it has left native code.
    fn close(&self, limit: Duration) {
        let queued = self.queue.close();
        let _ = self.waker.wake();
        for (conn, _) in queued {
            conn.finish();
        }
        let deadline = Instant::now() + limit;
        while self.inside.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// One epoll wait; the readiness of every socket that changed, the waker left out.
    fn wait(&self, timeout: Duration) -> io::Result<Ready> {
        let mut guard = lock(&self.poll);
        let (poll, events) = &mut *guard;
        match poll.poll(events, Some(timeout)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Vec::new()),
            other => other?,
        }
        Ok(events
            .iter()
            .filter(|event| event.token() != WAKE)
            .map(|event| {
                let failed = event.is_error();
                let mut mask = 0;
                if failed || event.is_readable() || event.is_read_closed() {
                    mask |= READABLE;
                }
                if failed || event.is_writable() || event.is_write_closed() {
                    mask |= WRITABLE;
                }
                (event.token().0 as i32, mask)
            })
            .collect())
    }
}

/// Per server: the hub of this process, once `--greenlets` has started one.
#[derive(Default)]
pub struct HubSlot {
    current: Mutex<Option<Arc<HubCore>>>,
}

impl HubSlot {
    pub fn set(&self, core: Arc<HubCore>) {
        *lock(&self.current) = Some(core);
    }

    fn get(&self) -> Option<Arc<HubCore>> {
        lock(&self.current)
            .as_ref()
            .filter(|core| core.is_open())
            .cloned()
    }
}

/// Plain connections to the hub when one runs in this process; everything else to `threads`.
pub fn handoff(slot: Arc<HubSlot>, threads: Handoff) -> Handoff {
    Arc::new(move |conn: Arc<ConnIo>, request: HttpRequest| {
        if conn.is_tls() {
            return threads(conn, request);
        }
        let item = match slot.get() {
            Some(core) => match core.push((conn, request)) {
                None => return,
                Some(item) => item,
            },
            None => (conn, request),
        };
        threads(item.0, item.1)
    })
}

/// Hubs alive, for the interpreter-exit cut.
static LIVE_HUBS: Mutex<Vec<Weak<HubCore>>> = Mutex::new(Vec::new());

pub fn close_hubs(limit: Duration) {
    let hubs: Vec<Arc<HubCore>> = lock(&LIVE_HUBS).iter().filter_map(Weak::upgrade).collect();
    for hub in hubs {
        hub.close(limit);
    }
}

#[pyclass(frozen, module = "pywebsocket3._native")]
pub struct Hub {
    pub(super) core: Arc<HubCore>,
    scheduler: Arc<Scheduler>,
    /// `greenlet.greenlet`, and `serve(connection, head)`, which every new greenlet runs.
    greenlet_type: Py<PyAny>,
    serve: Py<PyAny>,
}

impl Hub {
    fn adopt(&self, conn: &ConnIo) -> io::Result<()> {
        let scheduler = Arc::clone(&self.scheduler);
        let fd = conn.fd();
        let waiter: Waiter =
            Box::new(move |kind| Python::attach(|py| scheduler.wait(py, fd, kind)));
        conn.make_cooperative(waiter)?;
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.core
            .registry
            .register(&mut SourceFd(&fd), Token(fd as usize), interest)
    }

    /// The body of `run`.
    fn run_loop(&self, py: Python<'_>) -> PyResult<()> {
        self.scheduler.start(py)?;
        let core = &self.core;
        while !core.queue.is_closed() {
            let timeout = if self.scheduler.has_runnable() {
                Duration::ZERO
            } else {
                IDLE_POLL
            };
            core.inside.store(true, Ordering::Release);
            let ready = py.detach(|| core.wait(timeout));
            core.inside.store(false, Ordering::Release);
            if core.queue.is_closed() {
                break;
            }
            for (fd, mask) in ready? {
                self.scheduler
                    .ready(fd, mask & READABLE != 0, mask & WRITABLE != 0);
            }
            self.spawn_queued(py)?;
            self.scheduler.run_batch(py);
        }
        Ok(())
    }

    /// Connections the acceptor handed over since the last turn each get a greenlet.
    fn spawn_queued(&self, py: Python<'_>) -> PyResult<()> {
        let queued = self.core.queue.take();
        for (conn, request) in queued {
            if let Err(err) = self.adopt(&conn) {
                log::warn!("Cannot serve a connection on the hub: {err}");
                conn.finish();
                continue;
            }
            let greenlet = self.greenlet_type.call1(py, (self.serve.clone_ref(py),))?;
            let connection = Py::new(py, Connection { io: conn })?;
            let head = Py::new(py, RequestHead::new(py, request))?;
            let args = PyTuple::new(py, [connection.into_any(), head.into_any()])?;
            self.scheduler.spawn(greenlet, args.unbind());
        }
        Ok(())
    }
}

#[pymethods]
impl Hub {
    #[new]
    fn new(
        getcurrent: Py<PyAny>,
        wait_blocking: Py<PyAny>,
        greenlet_type: Py<PyAny>,
        serve: Py<PyAny>,
    ) -> PyResult<Self> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKE)?;
        let core = Arc::new(HubCore {
            pid: std::process::id(),
            poll: Mutex::new((poll, Events::with_capacity(EVENTS_PER_POLL))),
            registry,
            waker,
            queue: ConnQueue::default(),
            inside: AtomicBool::new(false),
        });
        let mut live = lock(&LIVE_HUBS);
        live.retain(|hub| hub.strong_count() > 0);
        live.push(Arc::downgrade(&core));
        Ok(Hub {
            core,
            scheduler: Arc::new(Scheduler::new(getcurrent, wait_blocking)),
            greenlet_type,
            serve,
        })
    }

    /// The hub's loop, on its own thread, until `close`: wait (detached) for sockets and
    /// new connections, then run every greenlet that may go on.
    fn run(&self, py: Python<'_>) -> PyResult<()> {
        let result = self.run_loop(py);
        // However the loop ended, later connections must go to handler threads instead.
        py.detach(|| self.core.close(Duration::ZERO));
        result
    }

    /// Stops watching the connection's socket (its handler has returned).
    fn forget(&self, connection: &Connection) {
        let fd = connection.io.fd();
        self.scheduler.forget(fd);
        let _ = self.core.registry.deregister(&mut SourceFd(&fd));
    }

    /// Connections still queued are ended; `run` returns soon after.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.core.close(Duration::from_secs(1)));
    }
}
