//! This process's channels: who is subscribed to what, and the delivery thread that writes
//! published frames to the members' sockets (mio epoll for sockets that were full).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::{too_slow_close, DEFAULT_QUEUE_LIMIT};
use crate::conn::{ConnIo, Delivery};

const LOGGER: &str = "pywebsocket3.channels";
const WAKE: Token = Token(0);
/// How often a member whose writer was busy is tried again.
const RETRY: Duration = Duration::from_millis(2);
/// How long a member closed for being slow gets to take its Close before the socket is shut.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Published bytes waiting for the delivery thread at most; past it publishes are dropped.
const MAX_QUEUED: usize = 64 * 1024 * 1024;

/// A member: its connection, keyed by the connection's address (stable while it is held).
type Key = usize;

fn key_of(conn: &Arc<ConnIo>) -> Key {
    Arc::as_ptr(conn) as usize
}

enum Command {
    Publish { channel: String, frame: Arc<[u8]> },
    Forget(Key),
}

#[derive(Default)]
struct Shared {
    channels: HashMap<String, HashMap<Key, Arc<ConnIo>>>,
    memberships: HashMap<Key, HashSet<String>>,
    /// Connections that ever subscribed and are not finished: the delivery thread may hold
    /// their queue, which `forget` drops.
    known: HashSet<Key>,
    commands: Vec<Command>,
    queued: usize,
    /// The delivery thread is (about to be) asleep in `poll`: a command must wake it.
    sleeping: bool,
}

/// Counters, for `channels.stats()` and the tests.
#[derive(Default)]
pub struct Stats {
    pub published: AtomicU64,
    pub delivered: AtomicU64,
    pub dropped: AtomicU64,
    pub closed_slow: AtomicU64,
}

pub struct Hub {
    shared: Mutex<Shared>,
    waker: Waker,
    queue_limit: AtomicUsize,
    pub stats: Stats,
    pid: u32,
}

static HUB: Mutex<Option<Arc<Hub>>> = Mutex::new(None);

/// A finished connection leaves its channels (nothing to do when no hub was ever started).
pub fn forget_finished(conn: &ConnIo) {
    let hub = HUB.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(hub) = hub.filter(|h| h.pid == std::process::id()) {
        hub.forget(conn);
    }
}

/// This process's hub, started on first use (again in a `--workers` child: threads do not
/// survive a fork).
pub fn hub() -> io::Result<Arc<Hub>> {
    let mut slot = HUB.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(hub) = slot.as_ref().filter(|h| h.pid == std::process::id()) {
        return Ok(Arc::clone(hub));
    }
    let poll = Poll::new()?;
    let hub = Arc::new(Hub {
        shared: Mutex::new(Shared {
            sleeping: true,
            ..Shared::default()
        }),
        waker: Waker::new(poll.registry(), WAKE)?,
        queue_limit: AtomicUsize::new(DEFAULT_QUEUE_LIMIT),
        stats: Stats::default(),
        pid: std::process::id(),
    });
    let thread_hub = Arc::clone(&hub);
    std::thread::Builder::new()
        .name("pywebsocket-channels".into())
        .spawn(move || Deliverer::run(thread_hub, poll))?;
    *slot = Some(Arc::clone(&hub));
    Ok(hub)
}

impl Hub {
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_queue_limit(&self, bytes: usize) {
        self.queue_limit.store(bytes.max(1), Ordering::Relaxed);
    }

    pub fn subscribe(&self, conn: &Arc<ConnIo>, channel: &str) {
        let key = key_of(conn);
        let mut shared = self.shared();
        shared
            .channels
            .entry(channel.to_owned())
            .or_default()
            .insert(key, Arc::clone(conn));
        shared
            .memberships
            .entry(key)
            .or_default()
            .insert(channel.to_owned());
        shared.known.insert(key);
    }

    /// Leaves `channel`, or every channel with None. Messages queued already still go out.
    pub fn unsubscribe(&self, conn: &Arc<ConnIo>, channel: Option<&str>) {
        let key = key_of(conn);
        let mut shared = self.shared();
        match channel {
            Some(name) => {
                leave(&mut shared, key, name);
                if let Some(set) = shared.memberships.get_mut(&key) {
                    set.remove(name);
                    if set.is_empty() {
                        shared.memberships.remove(&key);
                    }
                }
            }
            None => leave_all(&mut shared, key),
        }
    }

    /// The connection is finished: it leaves every channel and its queue is dropped.
    pub fn forget(&self, conn: &ConnIo) {
        let key = conn as *const ConnIo as usize;
        let mut shared = self.shared();
        if shared.known.remove(&key) {
            leave_all(&mut shared, key);
            self.push(shared, Command::Forget(key), 0);
        }
    }

    /// The delivery thread found the member gone: it leaves every channel.
    fn forget_key(&self, key: Key) {
        leave_all(&mut self.shared(), key);
    }

    /// Members of `channel` in this process.
    pub fn members(&self, channel: &str) -> usize {
        self.shared().channels.get(channel).map_or(0, HashMap::len)
    }

    /// Queues `frame` for every local member of `channel`; never waits.
    pub fn publish_local(&self, channel: &str, frame: Arc<[u8]>) {
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        let shared = self.shared();
        if !shared.channels.contains_key(channel) {
            return;
        }
        if shared.queued + frame.len() > MAX_QUEUED {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            log::warn!(target: LOGGER, "delivery queue full: a message to {channel:?} was dropped");
            return;
        }
        let size = frame.len();
        let command = Command::Publish {
            channel: channel.to_owned(),
            frame,
        };
        self.push(shared, command, size);
    }

    fn push(&self, mut shared: MutexGuard<'_, Shared>, command: Command, size: usize) {
        shared.commands.push(command);
        shared.queued += size;
        let wake = std::mem::replace(&mut shared.sleeping, false);
        drop(shared);
        if wake {
            let _ = self.waker.wake();
        }
    }
}

fn leave(shared: &mut Shared, key: Key, channel: &str) {
    if let Some(members) = shared.channels.get_mut(channel) {
        members.remove(&key);
        if members.is_empty() {
            shared.channels.remove(channel);
        }
    }
}

fn leave_all(shared: &mut Shared, key: Key) {
    for channel in shared.memberships.remove(&key).unwrap_or_default() {
        leave(shared, key, &channel);
    }
}

/// A member's frames not yet written.
struct Outbox {
    conn: Arc<ConnIo>,
    frames: VecDeque<Arc<[u8]>>,
    bytes: usize,
    registered: bool,
}

fn outbox_bytes(outboxes: &HashMap<Key, Outbox>, key: Key) -> usize {
    outboxes.get(&key).map_or(0, |o| o.bytes)
}

/// The delivery thread's own state.
struct Deliverer {
    hub: Arc<Hub>,
    poll: Poll,
    outboxes: HashMap<Key, Outbox>,
    /// Members whose writer was busy: tried again after `RETRY`.
    busy: HashSet<Key>,
    /// Members being closed for being slow, with the moment their socket is shut regardless.
    closing: HashMap<Key, (Arc<ConnIo>, Instant)>,
}

impl Deliverer {
    fn run(hub: Arc<Hub>, poll: Poll) {
        let mut delivery = Deliverer {
            hub,
            poll,
            outboxes: HashMap::new(),
            busy: HashSet::new(),
            closing: HashMap::new(),
        };
        let mut events = Events::with_capacity(256);
        let mut ready = Vec::new();
        loop {
            let timeout =
                (!delivery.busy.is_empty() || !delivery.closing.is_empty()).then_some(RETRY);
            if let Err(err) = delivery.poll.poll(&mut events, timeout) {
                if err.kind() != io::ErrorKind::Interrupted {
                    log::error!(target: LOGGER, "channel delivery stopped: {err}");
                    return;
                }
            }
            ready.extend(
                events
                    .iter()
                    .filter(|e| e.token() != WAKE)
                    .map(|e| e.token().0),
            );
            delivery.step(&mut ready);
        }
    }

    fn step(&mut self, ready: &mut Vec<Key>) {
        let mut touched: HashSet<Key> = self.busy.drain().collect();
        touched.extend(ready.drain(..));
        // Under the lock only what it guards: the commands and each channel's members. The
        // fan-out runs after, so a publisher (holding the GIL) never waits for a whole pass.
        let (commands, mut members) = {
            let mut shared = self.hub.shared();
            shared.queued = 0;
            let commands = std::mem::take(&mut shared.commands);
            let mut members: HashMap<String, Vec<(Key, Arc<ConnIo>)>> = HashMap::new();
            for command in &commands {
                if let Command::Publish { channel, .. } = command {
                    if !members.contains_key(channel) {
                        let list = shared.channels.get(channel).map_or_else(Vec::new, |m| {
                            m.iter().map(|(k, c)| (*k, Arc::clone(c))).collect()
                        });
                        members.insert(channel.clone(), list);
                    }
                }
            }
            // A command pushed from now on wakes the poll below.
            shared.sleeping = true;
            (commands, members)
        };
        for command in commands {
            match command {
                Command::Publish { channel, frame } => {
                    for (key, conn) in members.get_mut(&channel).into_iter().flatten() {
                        let outbox = self.outboxes.entry(*key).or_insert_with(|| Outbox {
                            conn: Arc::clone(conn),
                            frames: VecDeque::new(),
                            bytes: 0,
                            registered: false,
                        });
                        outbox.bytes += frame.len();
                        outbox.frames.push_back(Arc::clone(&frame));
                        touched.insert(*key);
                    }
                }
                Command::Forget(key) => {
                    self.drop_outbox(key);
                    touched.remove(&key);
                    for list in members.values_mut() {
                        list.retain(|(k, _)| *k != key);
                    }
                }
            }
        }
        let limit = self.hub.queue_limit.load(Ordering::Relaxed);
        for key in touched {
            if let Some((conn, _)) = self.closing.get(&key) {
                if conn.flush_held_now() {
                    self.finish_closing(key);
                }
                continue;
            }
            self.pump(key, limit);
        }
        let now = Instant::now();
        let overdue: Vec<Key> = self
            .closing
            .iter()
            .filter(|(_, (_, deadline))| now >= *deadline)
            .map(|(key, _)| *key)
            .collect();
        for key in overdue {
            self.finish_closing(key);
        }
    }

    fn pump(&mut self, key: Key, limit: usize) {
        let Some(outbox) = self.outboxes.get_mut(&key) else {
            return;
        };
        let before = outbox.frames.len();
        let result = outbox.conn.deliver(&mut outbox.frames, &mut outbox.bytes);
        let sent = before - outbox.frames.len();
        self.hub
            .stats
            .delivered
            .fetch_add(sent as u64, Ordering::Relaxed);
        match result {
            Delivery::Done => {
                // Kept while the member is known (no map churn per pass), but not its memory.
                if outbox.frames.capacity() > 64 {
                    outbox.frames.shrink_to(16);
                }
            }
            Delivery::Busy => {
                self.busy.insert(key);
            }
            Delivery::Blocked => {
                if !outbox.registered {
                    let fd = outbox.conn.fd();
                    let registered = self.poll.registry().register(
                        &mut SourceFd(&fd),
                        Token(key),
                        Interest::WRITABLE,
                    );
                    outbox.registered = registered.is_ok();
                    if !outbox.registered {
                        // Never told when it drains: try again on the timer instead.
                        self.busy.insert(key);
                    }
                }
            }
            Delivery::Gone => {
                self.drop_outbox(key);
                self.hub.forget_key(key);
                return;
            }
        }
        if outbox_bytes(&self.outboxes, key) > limit {
            self.close_slow(key);
        }
    }

    /// Queue over the limit: Close 1008 after whatever is half sent, then the socket is shut.
    fn close_slow(&mut self, key: Key) {
        let Some(outbox) = self.outboxes.get(&key) else {
            return;
        };
        let conn = Arc::clone(&outbox.conn);
        let registered = outbox.registered;
        self.outboxes.remove(&key);
        self.busy.remove(&key);
        self.hub.forget_key(key);
        self.hub.stats.closed_slow.fetch_add(1, Ordering::Relaxed);
        log::info!(target: LOGGER,
            "closing {:?} (1008): its channel queue passed {} bytes",
            conn.meta.remote_addr, self.hub.queue_limit.load(Ordering::Relaxed));
        let fd = conn.fd();
        if conn.close_behind(&too_slow_close()) {
            if registered {
                let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            }
            conn.shutdown();
            return;
        }
        if !registered {
            let _ =
                self.poll
                    .registry()
                    .register(&mut SourceFd(&fd), Token(key), Interest::WRITABLE);
        }
        self.closing
            .insert(key, (conn, Instant::now() + CLOSE_GRACE));
    }

    fn finish_closing(&mut self, key: Key) {
        if let Some((conn, _)) = self.closing.remove(&key) {
            let fd = conn.fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            conn.shutdown();
        }
    }

    fn drop_outbox(&mut self, key: Key) {
        self.busy.remove(&key);
        if let Some(outbox) = self.outboxes.remove(&key) {
            if outbox.registered {
                let fd = outbox.conn.fd();
                let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            }
        }
    }
}
