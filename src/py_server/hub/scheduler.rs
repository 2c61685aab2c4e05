//! Which greenlet runs next on the hub. A greenlet that must wait parks itself here, keyed by
//! its socket and what it waits for, and switches straight to the next greenlet of the
//! current batch, or to the hub's loop greenlet once the batch is done; the loop moves it to
//! the run queue when epoll reports that readiness. Switching greenlet to greenlet halves the
//! switches per message compared with going through the loop each time.
//!
//! All of this runs on the hub thread with the GIL held; the mutex only makes the state
//! `Sync` for pyo3 and is never held across a switch.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::conn::Wait;

/// A greenlet to switch into, with the arguments of its first switch (a new handler).
type Runnable = (Py<PyAny>, Option<Py<PyTuple>>);

#[derive(Default)]
struct State {
    /// The hub thread and its loop greenlet, once `Hub.run` has started.
    thread: Option<ThreadId>,
    loop_greenlet: Option<Py<PyAny>>,
    /// Its bound `switch`, looked up once.
    loop_switch: Option<Py<PyAny>>,
    waiting: HashMap<(i32, Wait), Py<PyAny>>,
    /// Sockets that became readable while their greenlet was busy: its next wait for them
    /// returns at once (a connection reads without waiting only when it may find data).
    unclaimed: HashSet<i32>,
    runnable: VecDeque<Runnable>,
    /// How many greenlets at the front of `runnable` belong to the batch being run.
    batch_left: usize,
}

/// Where a parking greenlet hands the thread: the next of the batch, or the loop's `switch`.
enum Target {
    Greenlet(Runnable),
    Loop(Option<Py<PyAny>>),
}

impl State {
    /// The next greenlet of the current batch, if any is left. `started_only`: not a new
    /// one, which must start from the loop: a greenlet's C stack and Python recursion depth
    /// begin where it is first switched into, so new greenlets started from handlers would
    /// pile up on each other's stacks (seen: RecursionError after a few hundred handshakes).
    fn next_in_batch(&mut self, started_only: bool) -> Option<Runnable> {
        let is_new = matches!(self.runnable.front(), Some((_, Some(_))));
        if self.batch_left == 0 || (started_only && is_new) {
            return None;
        }
        self.batch_left -= 1;
        self.runnable.pop_front()
    }
}

pub struct Scheduler {
    state: Mutex<State>,
    /// `greenlet.getcurrent`.
    getcurrent: Py<PyAny>,
    /// `wait(fd, kind)` for callers that are not hub greenlets (a handler's helper thread):
    /// blocks that thread without the GIL.
    wait_blocking: Py<PyAny>,
}

impl Scheduler {
    pub fn new(getcurrent: Py<PyAny>, wait_blocking: Py<PyAny>) -> Self {
        Scheduler {
            state: Mutex::new(State::default()),
            getcurrent,
            wait_blocking,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called on the hub thread by `Hub.run`, before its loop.
    pub fn start(&self, py: Python<'_>) -> PyResult<()> {
        let current = self.getcurrent.bind(py).call0()?;
        let switch = current.getattr(intern!(py, "switch"))?;
        let mut state = self.state();
        state.thread = Some(thread::current().id());
        state.loop_greenlet = Some(current.unbind());
        state.loop_switch = Some(switch.unbind());
        Ok(())
    }

    pub fn spawn(&self, greenlet: Py<PyAny>, args: Py<PyTuple>) {
        self.state().runnable.push_back((greenlet, Some(args)));
    }

    pub fn has_runnable(&self) -> bool {
        !self.state().runnable.is_empty()
    }

    /// Epoll said `fd` is readable and/or writable: its parked greenlet may run.
    pub fn ready(&self, fd: i32, readable: bool, writable: bool) {
        let mut state = self.state();
        if readable {
            match state.waiting.remove(&(fd, Wait::Readable)) {
                Some(greenlet) => state.runnable.push_back((greenlet, None)),
                None => {
                    state.unclaimed.insert(fd);
                }
            }
        }
        if writable {
            if let Some(greenlet) = state.waiting.remove(&(fd, Wait::Writable)) {
                state.runnable.push_back((greenlet, None));
            }
        }
    }

    pub fn forget(&self, fd: i32) {
        self.state().unclaimed.remove(&fd);
    }

    /// Runs every greenlet that was runnable when called; those that yield meanwhile wait
    /// for the next turn, after the next poll, so nobody starves the sockets. The loop starts
    /// the batch; a greenlet that parks hands on to the next one itself (`wait`), and control
    /// comes back here when the batch is done or a handler returned.
    pub fn run_batch(&self, py: Python<'_>) {
        {
            let mut state = self.state();
            state.batch_left = state.runnable.len();
        }
        loop {
            // Its own statement: the lock must be released before the switch.
            let next = self.state().next_in_batch(false);
            let Some(next) = next else { break };
            if let Err(err) = switch_to(py, next) {
                // The handler's own errors are logged by `_serve`; this is greenlet trouble.
                err.print(py);
            }
        }
    }

    /// The waiter of every cooperative connection: park the current greenlet until `fd` is
    /// ready (or, for `Yield`, until the others had a turn), and hand the thread on.
    pub fn wait(&self, py: Python<'_>, fd: i32, kind: Wait) -> io::Result<()> {
        let current = self.getcurrent.bind(py).call0().map_err(to_io)?;
        let target = {
            let mut state = self.state();
            let on_hub = state.thread == Some(thread::current().id());
            match &state.loop_greenlet {
                Some(hub) if on_hub && !hub.bind(py).is(&current) => {}
                _ => {
                    drop(state);
                    return self.wait_blocking(py, fd, kind);
                }
            }
            match kind {
                Wait::Yield => state.runnable.push_back((current.unbind(), None)),
                Wait::Readable if state.unclaimed.remove(&fd) => return Ok(()),
                Wait::Readable | Wait::Writable => {
                    state.waiting.insert((fd, kind), current.unbind());
                }
            }
            // The next greenlet of the batch, else the loop: decided under the one lock.
            match state.next_in_batch(true) {
                Some(next) => Target::Greenlet(next),
                None => Target::Loop(state.loop_switch.as_ref().map(|s| s.clone_ref(py))),
            }
        };
        // An error here was thrown into this greenlet while it was parked (or the switch
        // failed): either way it is this handler's to see.
        match target {
            Target::Greenlet(next) => switch_to(py, next).map_err(to_io),
            Target::Loop(Some(switch)) => switch.bind(py).call0().map(drop).map_err(to_io),
            Target::Loop(None) => Ok(()),
        }
    }

    fn wait_blocking(&self, py: Python<'_>, fd: i32, kind: Wait) -> io::Result<()> {
        self.wait_blocking
            .call1(py, (fd, kind as u8))
            .map(drop)
            .map_err(to_io)
    }
}

/// Switches into `greenlet` (starting it with its arguments if it is new); returns when
/// something switches back to the caller.
fn switch_to(py: Python<'_>, (greenlet, args): Runnable) -> PyResult<()> {
    let args = match args {
        Some(args) => args.into_bound(py),
        None => PyTuple::empty(py),
    };
    greenlet
        .bind(py)
        .call_method1(intern!(py, "switch"), args)?;
    Ok(())
}

fn to_io(err: PyErr) -> io::Error {
    io::Error::other(err.to_string())
}
