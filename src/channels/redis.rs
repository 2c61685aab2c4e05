//! The Redis backend: publishes go to Redis (pipelined, from a queue, so no caller ever waits
//! on Redis), and one pattern subscription per process brings every channel's messages back
//! to the local hub, this process's own publishes included (each member gets each once).
//!
//! Runs on a thread of its own with a small tokio runtime, so it works the same in a server
//! worker and in a plain Python process (a cron job publishing). Redis connection:
//! redis-rs. Wire format: the Redis channel is `pywebsocket3:<db>:<name>` (pub/sub ignores
//! the database number, so it scopes the names instead); the payload is one byte, `t` (text)
//! or `b` (binary), then the message bytes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::Client;
use tokio::sync::{mpsc, watch};

use super::{hub, server_frame};

const LOGGER: &str = "pywebsocket3.channels";
/// Bytes of publishes waiting for Redis at most; past it they are dropped (and counted lost).
const MAX_WAITING: usize = 64 * 1024 * 1024;
/// Publishes sent in one pipeline at most.
const MAX_BATCH: usize = 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// While Redis is down, reconnecting is tried at most this often (publishes in between are lost).
const RETRY: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

type Outgoing = (String, Vec<u8>);

pub struct Redis {
    pub url: String,
    prefix: String,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    in_flight: Arc<AtomicUsize>,
    /// Bytes queued for the publisher task (bounded by `MAX_WAITING`).
    waiting: Arc<AtomicUsize>,
    pub lost: Arc<AtomicU64>,
    /// Whether the subscription is up (the tests and `stats()` read it).
    pub subscribed: Arc<std::sync::atomic::AtomicBool>,
    stop: watch::Sender<bool>,
    pid: u32,
    last_drop_log: Mutex<Option<Instant>>,
}

impl Redis {
    /// Starts the backend's thread; the URL is checked here (a bad one is the caller's error).
    pub fn start(url: &str) -> Result<Arc<Redis>, String> {
        let client = Client::open(url).map_err(|e| format!("bad Redis URL {url:?}: {e}"))?;
        let db = client.get_connection_info().redis_settings().db();
        let (outgoing, receiver) = mpsc::unbounded_channel();
        let (stop, stopped) = watch::channel(false);
        let redis = Arc::new(Redis {
            url: url.to_owned(),
            prefix: format!("pywebsocket3:{db}:"),
            outgoing,
            in_flight: Arc::new(AtomicUsize::new(0)),
            waiting: Arc::new(AtomicUsize::new(0)),
            lost: Arc::new(AtomicU64::new(0)),
            subscribed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            stop,
            pid: std::process::id(),
            last_drop_log: Mutex::new(None),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the Redis backend: {e}"))?;
        let publisher = Publisher {
            client: client.clone(),
            url: url.to_owned(),
            prefix: redis.prefix.clone(),
            in_flight: Arc::clone(&redis.in_flight),
            waiting: Arc::clone(&redis.waiting),
            lost: Arc::clone(&redis.lost),
        };
        let subscriber = Subscriber {
            client,
            url: url.to_owned(),
            prefix: redis.prefix.clone(),
            subscribed: Arc::clone(&redis.subscribed),
        };
        std::thread::Builder::new()
            .name("pywebsocket-redis".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::join!(
                        publisher.run(receiver, stopped.clone()),
                        subscriber.run(stopped)
                    );
                });
            })
            .map_err(|e| format!("cannot start the Redis backend: {e}"))?;
        Ok(redis)
    }

    pub fn is_current(&self) -> bool {
        self.pid == std::process::id()
    }

    /// Queues a publish; never waits. False when it was dropped (queue full or stopped).
    pub fn publish(&self, channel: &str, payload: &[u8], binary: bool) -> bool {
        let mut message = Vec::with_capacity(payload.len() + 1);
        message.push(if binary { b'b' } else { b't' });
        message.extend_from_slice(payload);
        let size = message.len() + channel.len();
        if self.waiting.fetch_add(size, Ordering::SeqCst) + size <= MAX_WAITING {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            if self.outgoing.send((channel.to_owned(), message)).is_ok() {
                return true;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        self.waiting.fetch_sub(size, Ordering::SeqCst);
        self.lost.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_drop_log.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            log::warn!(target: LOGGER,
                "{} MiB of publishes are waiting for Redis at {}: new ones are dropped",
                MAX_WAITING >> 20, self.url);
        }
        false
    }

    /// Publishes not yet handed to Redis (or given up on).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

struct Publisher {
    client: Client,
    url: String,
    prefix: String,
    in_flight: Arc<AtomicUsize>,
    waiting: Arc<AtomicUsize>,
    lost: Arc<AtomicU64>,
}

impl Publisher {
    async fn run(
        self,
        mut receiver: mpsc::UnboundedReceiver<Outgoing>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let mut connection: Option<MultiplexedConnection> = None;
        let mut down_since: Option<Instant> = None;
        let mut last_attempt: Option<Instant> = None;
        let mut lost_while_down = 0usize;
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                count = receiver.recv_many(&mut batch, MAX_BATCH) => if count == 0 { return },
                _ = stopped.changed() => return,
            }
            if connection.is_none() && last_attempt.is_none_or(|at| at.elapsed() >= RETRY) {
                last_attempt = Some(Instant::now());
                connection = self.connect().await;
            }
            let result = match connection.as_mut() {
                Some(conn) => self.send(conn, &batch).await,
                None => Err("not connected".to_owned()),
            };
            match result {
                Ok(()) => {
                    if let Some(since) = down_since.take() {
                        log::warn!(target: LOGGER,
                            "Redis at {} is back after {:.1} s: {lost_while_down} messages \
                             published meanwhile were lost", self.url, since.elapsed().as_secs_f64());
                        lost_while_down = 0;
                    }
                }
                Err(err) => {
                    connection = None;
                    if down_since.is_none() {
                        down_since = Some(Instant::now());
                        log::warn!(target: LOGGER,
                            "Redis at {} is unavailable ({err}): messages published until it \
                             is back are lost", self.url);
                    }
                    lost_while_down += batch.len();
                    self.lost.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
            }
            let size: usize = batch.iter().map(|(c, m)| c.len() + m.len()).sum();
            self.waiting.fetch_sub(size, Ordering::SeqCst);
            self.in_flight.fetch_sub(batch.len(), Ordering::SeqCst);
            batch.clear();
        }
    }

    async fn connect(&self) -> Option<MultiplexedConnection> {
        let connecting = self.client.get_multiplexed_async_connection();
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(conn)) => Some(conn),
            _ => None,
        }
    }

    async fn send(
        &self,
        conn: &mut MultiplexedConnection,
        batch: &[Outgoing],
    ) -> Result<(), String> {
        let mut pipe = redis::pipe();
        for (channel, message) in batch {
            pipe.publish(format!("{}{channel}", self.prefix), message.as_slice())
                .ignore();
        }
        match tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async::<()>(conn)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    }
}

struct Subscriber {
    client: Client,
    url: String,
    prefix: String,
    subscribed: Arc<std::sync::atomic::AtomicBool>,
}

impl Subscriber {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        let mut lost_at: Option<Instant> = None;
        loop {
            match self.subscribe().await {
                Ok(mut messages) => {
                    self.subscribed.store(true, Ordering::SeqCst);
                    backoff = Duration::from_millis(100);
                    if let Some(at) = lost_at.take() {
                        log::warn!(target: LOGGER,
                            "subscribed to Redis at {} again after {:.1} s: messages published \
                             in between were not delivered here", self.url, at.elapsed().as_secs_f64());
                    }
                    loop {
                        tokio::select! {
                            message = messages.next() => match message {
                                Some(message) => self.deliver(&message),
                                None => break,
                            },
                            _ = stopped.changed() => return,
                        }
                    }
                    self.subscribed.store(false, Ordering::SeqCst);
                    lost_at = Some(Instant::now());
                    log::warn!(target: LOGGER,
                        "lost the subscription to Redis at {}: reconnecting", self.url);
                }
                Err(err) => {
                    if lost_at.is_none() {
                        lost_at = Some(Instant::now());
                        log::warn!(target: LOGGER,
                            "cannot subscribe to Redis at {} ({err}): retrying", self.url);
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stopped.changed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn subscribe(&self) -> Result<redis::aio::PubSubStream, String> {
        let pattern = format!("{}*", self.prefix);
        let subscribing = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.psubscribe(pattern).await?;
            Ok::<_, redis::RedisError>(pubsub.into_on_message())
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, subscribing).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    }

    fn deliver(&self, message: &redis::Msg) {
        let Some(channel) = message.get_channel_name().strip_prefix(&self.prefix) else {
            return;
        };
        let (binary, payload) = match message.get_payload_bytes().split_first() {
            Some((b't', rest)) => (false, rest),
            Some((b'b', rest)) => (true, rest),
            _ => {
                log::warn!(target: LOGGER, "ignoring a malformed message on Redis channel {channel:?}");
                return;
            }
        };
        if !binary && std::str::from_utf8(payload).is_err() {
            log::warn!(target: LOGGER, "ignoring text that is not UTF-8 on Redis channel {channel:?}");
            return;
        }
        if let Ok(hub) = hub() {
            hub.publish_local(channel, server_frame(payload, binary));
        }
    }
}
