//! Subscribe mode: N subscriber connections and one publisher connection. Every published
//! message carries its send time and a sequence number; subscribers measure delivery latency,
//! and count what they got, missed or got twice.
//!
//! Payload layout: send time (u64 LE, ns since the client started), sequence (u64 LE), phase
//! (0 = probe or warm-up, not counted; 1 = measured), then filler up to `--size`.
//! The publisher either keeps `--window` messages not yet delivered to every subscriber (the
//! saturating, loss-free rate) or sends at a fixed `--rate`.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{watch, Notify, Semaphore};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::args::Options;
use crate::conn;
use crate::histogram::Histogram;
use crate::rawws::RawWs;
use crate::stats::{Errors, Report};

pub const HEADER: usize = 17;
const MEASURED: u8 = 1;
/// Completion counters per sequence number, reused round robin (far more than any window).
const RING: usize = 1 << 18;
/// A message not delivered to every subscriber this long is given up on by the window.
const STALL: Duration = Duration::from_millis(500);
/// After the last publish, how long deliveries may stay silent before the run ends.
const DRAIN_QUIET: Duration = Duration::from_secs(2);

struct Shared {
    conns: usize,
    epoch: Instant,
    /// Subscribers that received anything: all of them are members once this reaches `conns`.
    seen: AtomicUsize,
    /// Per sequence number (mod RING): subscribers that received it.
    completions: Vec<AtomicU32>,
    completed: Notify,
    latency: Histogram,
    delivered: AtomicU64,
    last_delivery_ns: AtomicU64,
}

impl Shared {
    fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn complete(&self, seq: u64) {
        let slot = &self.completions[(seq as usize) % RING];
        if slot.fetch_add(1, Ordering::Relaxed) + 1 == self.conns as u32 {
            self.completed.notify_one();
        }
    }

    /// Waits until every subscriber has `seq` (then frees its slot); false if it stalled.
    async fn wait_complete(&self, seq: u64) -> bool {
        let slot = &self.completions[(seq as usize) % RING];
        let deadline = tokio::time::Instant::now() + STALL;
        loop {
            let notified = self.completed.notified();
            if slot.load(Ordering::Relaxed) >= self.conns as u32 {
                slot.store(0, Ordering::Relaxed);
                return true;
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(deadline) => {
                    slot.store(0, Ordering::Relaxed);
                    return false;
                }
            }
        }
    }
}

/// What one subscriber counted over the measured messages.
#[derive(Default)]
struct SubscriberResult {
    unique: u64,
    duplicates: u64,
    errors: Errors,
}

/// What the publisher did: measured sequence numbers are `first..end`.
#[derive(Default)]
struct PublisherResult {
    first: u64,
    end: u64,
    stalls: u64,
    measure_start_ns: u64,
    /// This process's CPU seconds when the measured messages began.
    cpu_at_start: f64,
    publish_seconds: f64,
    errors: Errors,
}

pub async fn run(opts: &Options) -> Report {
    let shared = Arc::new(Shared {
        conns: opts.conns,
        epoch: Instant::now(),
        seen: AtomicUsize::new(0),
        completions: (0..RING).map(|_| AtomicU32::new(0)).collect(),
        completed: Notify::new(),
        latency: Histogram::new(),
        delivered: AtomicU64::new(0),
        last_delivery_ns: AtomicU64::new(0),
    });
    let mut report = Report::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let parallel = Arc::new(Semaphore::new(opts.open_parallel));
    let begun = Instant::now();
    let mut opening = Vec::with_capacity(opts.conns);
    for _ in 0..opts.conns {
        let (parallel, url, timeout) = (parallel.clone(), opts.url.clone(), opts.timeout);
        opening.push(tokio::spawn(async move {
            let _permit = parallel.acquire_owned().await.map_err(|e| e.to_string())?;
            RawWs::open(&url, timeout).await
        }));
    }
    let mut subscribers = Vec::with_capacity(opts.conns);
    for (id, task) in opening.into_iter().enumerate() {
        match task.await {
            Ok(Ok(ws)) => {
                let (shared, stop) = (shared.clone(), stop_rx.clone());
                subscribers.push(tokio::spawn(subscriber(id, ws, shared, stop)));
            }
            Ok(Err(err)) => report.error(format!("subscriber {id}: {err}")),
            Err(err) => report.error(format!("open task failed: {err}")),
        }
    }
    report.set("conns", opts.conns as f64);
    report.set("opened", subscribers.len() as f64);
    report.set("open_seconds", begun.elapsed().as_secs_f64());
    if subscribers.len() < opts.conns {
        let _ = stop_tx.send(true);
        return report;
    }

    let published = publisher(opts, &shared).await;
    // Let the last messages arrive: until every delivery is in, or none came for a while.
    let expected = (published.end - published.first) * opts.conns as u64;
    let mut last_count = shared.delivered.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    while shared.delivered.load(Ordering::Relaxed) < expected {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let count = shared.delivered.load(Ordering::Relaxed);
        if count != last_count {
            (last_count, quiet_since) = (count, Instant::now());
        } else if quiet_since.elapsed() >= DRAIN_QUIET {
            break;
        }
    }
    let client_cpu = own_cpu_seconds() - published.cpu_at_start;
    eprintln!("MEASURED");
    let _ = stop_tx.send(true);

    let (mut unique, mut duplicates) = (0u64, 0u64);
    for task in subscribers {
        match task.await {
            Ok(result) => {
                unique += result.unique;
                duplicates += result.duplicates;
                report.merge_errors(result.errors);
            }
            Err(err) => report.error(format!("subscriber task failed: {err}")),
        }
    }
    let delivered = shared.delivered.load(Ordering::Relaxed);
    let end_ns = shared.last_delivery_ns.load(Ordering::Relaxed);
    let seconds = end_ns.saturating_sub(published.measure_start_ns) as f64 / 1e9;
    report.set("size", opts.size as f64);
    report.set(
        "window",
        if opts.rate > 0.0 {
            0.0
        } else {
            opts.window as f64
        },
    );
    report.set("rate", opts.rate);
    report.set("published", (published.end - published.first) as f64);
    report.set(
        "published_per_s",
        (published.end - published.first) as f64 / published.publish_seconds.max(1e-9),
    );
    report.set("delivered", delivered as f64);
    report.set("seconds", seconds);
    report.set("delivered_per_s", delivered as f64 / seconds.max(1e-9));
    report.set("lost", expected.saturating_sub(unique) as f64);
    report.set("duplicated", duplicates as f64);
    report.set("stalls", published.stalls as f64);
    report.set("p50_us", shared.latency.quantile(0.50) as f64);
    report.set("p99_us", shared.latency.quantile(0.99) as f64);
    report.set("max_us", shared.latency.quantile(1.0) as f64);
    report.set("client_cpu_s", client_cpu);
    report.set("client_busy", client_cpu / seconds.max(1e-9));
    report.merge_errors(published.errors);
    report
}

async fn subscriber(
    id: usize,
    mut ws: RawWs,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> SubscriberResult {
    let mut result = SubscriberResult::default();
    let mut last_seq: Option<u64> = None;
    let mut malformed = 0u64;
    loop {
        let read = tokio::select! {
            biased;
            _ = stop.changed() => break,
            read = ws.read_some(|payload, arrived| {
                let Some(header) = payload.get(..HEADER) else {
                    malformed += 1;
                    return;
                };
                if last_seq.is_none() {
                    shared.seen.fetch_add(1, Ordering::Relaxed);
                }
                let sent_ns = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
                let seq = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
                if last_seq.is_some_and(|last| seq <= last) {
                    if header[16] == MEASURED {
                        result.duplicates += 1;
                    }
                    return;
                }
                last_seq = Some(seq);
                shared.complete(seq);
                if header[16] != MEASURED {
                    return;
                }
                let arrived_ns = shared.ns(arrived);
                shared.latency.record(arrived_ns.saturating_sub(sent_ns) / 1000);
                shared.delivered.fetch_add(1, Ordering::Relaxed);
                shared.last_delivery_ns.fetch_max(arrived_ns, Ordering::Relaxed);
                result.unique += 1;
            }) => read,
        };
        if let Err(err) = read {
            result.errors.add(format!("subscriber {id}: {err}"));
            break;
        }
    }
    if malformed > 0 {
        result
            .errors
            .add(format!("subscriber {id}: {malformed} messages too short"));
    }
    ws.close().await;
    result
}

/// Probes until every subscriber is a member, warms up, then publishes the measured messages.
async fn publisher(opts: &Options, shared: &Shared) -> PublisherResult {
    let mut result = PublisherResult::default();
    let ws = match conn::open(&opts.pub_url, opts.timeout, opts.size).await {
        Ok(ws) => ws,
        Err(err) => {
            result.errors.add(format!("publisher: {err}"));
            return result;
        }
    };
    let (mut sink, mut stream) = ws.split();
    // Nothing is expected back; the reader only keeps the connection serviced.
    let drain = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            if message.is_close() {
                return Some(format!("publisher got {message:?}"));
            }
        }
        None
    });
    let mut filler = vec![b'x'; opts.size];
    let mut build = |seq: u64, phase: u8| {
        filler[..8].copy_from_slice(&shared.ns(Instant::now()).to_le_bytes());
        filler[8..16].copy_from_slice(&seq.to_le_bytes());
        filler[16] = phase;
        Message::Binary(Bytes::copy_from_slice(&filler))
    };
    let mut seq = 0u64;
    let probe_deadline = Instant::now() + opts.timeout;
    while shared.seen.load(Ordering::Relaxed) < shared.conns {
        if Instant::now() > probe_deadline {
            result.errors.add(format!(
                "only {} of {} subscribers got a probe",
                shared.seen.load(Ordering::Relaxed),
                shared.conns
            ));
            return result;
        }
        if let Err(err) = sink.send(build(seq, 0)).await {
            result.errors.add(format!("publisher: send: {err}"));
            return result;
        }
        seq += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let windowed_from = seq;
    for probe in 0..seq {
        shared.completions[(probe as usize) % RING].store(0, Ordering::Relaxed);
    }
    let begun = Instant::now();
    let measure_from = begun + opts.warmup;
    let end = measure_from + opts.duration;
    let mut measured = false;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if !measured && now >= measure_from {
            measured = true;
            result.first = seq;
            result.measure_start_ns = shared.ns(now);
            // The runner samples the server's CPU time between these two lines.
            eprintln!("MEASURE");
            result.cpu_at_start = own_cpu_seconds();
        }
        let phase = u8::from(measured);
        let sent = if opts.rate > 0.0 {
            // Everything due by now, then one flush, then a tick.
            let due = (now.duration_since(begun).as_secs_f64() * opts.rate) as u64;
            let mut fed = Ok(());
            while seq - windowed_from < due && fed.is_ok() {
                fed = sink.feed(build(seq, phase)).await;
                seq += 1;
            }
            let flushed = fed.and(sink.flush().await);
            tokio::time::sleep(Duration::from_millis(1)).await;
            flushed
        } else {
            let window = opts.window as u64;
            if seq >= windowed_from + window && !shared.wait_complete(seq - window).await {
                result.stalls += 1;
            }
            seq += 1;
            sink.send(build(seq - 1, phase)).await
        };
        if let Err(err) = sent {
            result.errors.add(format!("publisher: send: {err}"));
            break;
        }
    }
    if !measured {
        result.first = seq;
    }
    result.end = seq;
    result.publish_seconds = opts.duration.as_secs_f64();
    if let Ok(Ok(Some(err))) = tokio::time::timeout(Duration::from_millis(1), drain).await {
        result.errors.add(err);
    }
    let _ = sink.close().await;
    result
}

/// utime + stime of this process, in seconds (Linux /proc; 0 elsewhere).
fn own_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => 0.0,
    }
}
