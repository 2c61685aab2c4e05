//! Echo mode: every connection sends numbered messages (up to N in flight) and checks each echo.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Barrier, Notify, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::args::Options;
use crate::conn::{self, Ws};
use crate::payload::Payloads;
use crate::stats::{Errors, Prefix, Report};

/// What one connection measured.
#[derive(Default)]
struct ConnResult {
    received: u64,
    counted: u64,
    bytes: u64,
    latencies_us: Vec<u32>,
    errors: Errors,
}

/// Shared by a connection's writer and reader halves.
struct InFlight {
    sent_at: Mutex<VecDeque<Instant>>,
    permits: Semaphore,
    sent_total: AtomicU64,
    writer_done: Notify,
}

const NOT_DONE: u64 = u64::MAX;

pub async fn run(opts: &Options) -> Report {
    let opts = Arc::new(opts.clone());
    let payloads = Arc::new(Payloads::new(opts.size, opts.binary));
    let ready = Arc::new(Barrier::new(opts.conns + 1));
    let start = Arc::new(Mutex::new(None::<Instant>));
    let mut tasks = Vec::with_capacity(opts.conns);
    for conn in 0..opts.conns {
        let (opts, payloads, ready, start) =
            (opts.clone(), payloads.clone(), ready.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            let opened = conn::open(&opts.url, opts.timeout, opts.size).await;
            ready.wait().await;
            let begun = start
                .lock()
                .ok()
                .and_then(|s| *s)
                .unwrap_or_else(Instant::now);
            match opened {
                Ok(ws) => drive(ws, conn, &opts, &payloads, begun).await,
                Err(err) => {
                    let mut result = ConnResult::default();
                    result.errors.add(format!("conn {conn}: {err}"));
                    result
                }
            }
        }));
    }
    // Every connection is open (or failed) before the clock starts.
    let begun = Instant::now();
    if let Ok(mut slot) = start.lock() {
        *slot = Some(begun);
    }
    ready.wait().await;
    let mut report = Report::default();
    let (mut received, mut counted, mut bytes) = (0u64, 0u64, 0u64);
    let mut latencies = Vec::new();
    for task in tasks {
        match task.await {
            Ok(result) => {
                received += result.received;
                counted += result.counted;
                bytes += result.bytes;
                latencies.extend(result.latencies_us);
                report.merge_errors(result.errors);
            }
            Err(err) => report.error(format!("task failed: {err}")),
        }
    }
    let measured = begun.elapsed().saturating_sub(opts.warmup).as_secs_f64();
    report.set("conns", opts.conns as f64);
    report.set("size", opts.size as f64);
    report.set("inflight", opts.inflight as f64);
    report.set("msgs", counted as f64);
    report.set("total_msgs", received as f64);
    report.set("seconds", measured);
    report.set("msg_per_s", counted as f64 / measured.max(1e-9));
    report.set("mbytes_per_s", bytes as f64 / measured.max(1e-9) / 1e6);
    report.latencies(Prefix::Message, &mut latencies);
    report
}

async fn drive(
    ws: Ws,
    conn: usize,
    opts: &Options,
    payloads: &Payloads,
    begun: Instant,
) -> ConnResult {
    let state = InFlight {
        sent_at: Mutex::new(VecDeque::with_capacity(opts.inflight)),
        permits: Semaphore::new(opts.inflight),
        sent_total: AtomicU64::new(NOT_DONE),
        writer_done: Notify::new(),
    };
    let (mut sink, mut stream) = ws.split();
    let writer = async {
        let deadline = begun + opts.warmup + opts.duration;
        let mut seq = 0u64;
        let mut failure = None;
        'send: loop {
            let more = |seq: u64| {
                if opts.msgs > 0 {
                    seq < opts.msgs
                } else {
                    Instant::now() < deadline
                }
            };
            if !more(seq) {
                break;
            }
            match state.permits.acquire().await {
                Ok(permit) => permit.forget(),
                Err(_) => break,
            }
            // Send everything the in-flight window allows, then flush once.
            loop {
                if let Ok(mut queue) = state.sent_at.lock() {
                    queue.push_back(Instant::now());
                }
                let sent = tokio::time::timeout(opts.timeout, sink.feed(payloads.build(conn, seq)));
                if let Err(err) = flatten(sent.await) {
                    failure = Some(format!("conn {conn}: send: {err}"));
                    break 'send;
                }
                seq += 1;
                if !more(seq) {
                    break;
                }
                match state.permits.try_acquire() {
                    Ok(permit) => permit.forget(),
                    Err(_) => break,
                }
            }
            if let Err(err) = flatten(tokio::time::timeout(opts.timeout, sink.flush()).await) {
                failure = Some(format!("conn {conn}: flush: {err}"));
                break;
            }
        }
        state.sent_total.store(seq, Ordering::SeqCst);
        state.writer_done.notify_one();
        failure
    };
    let reader = async {
        let mut result = ConnResult::default();
        let warmup_end = begun + opts.warmup;
        let mut seq = 0u64;
        loop {
            if seq == state.sent_total.load(Ordering::SeqCst) {
                break;
            }
            let next = tokio::select! {
                next = tokio::time::timeout(opts.timeout, stream.next()) => next,
                () = state.writer_done.notified() => continue,
            };
            let message = match next {
                Err(_) => Err(format!("conn {conn}: no echo within {:?}", opts.timeout)),
                Ok(None) => Err(format!("conn {conn}: closed after {seq} echoes")),
                Ok(Some(Err(err))) => Err(format!("conn {conn}: receive: {err}")),
                Ok(Some(Ok(Message::Close(frame)))) => Err(format!("conn {conn}: close {frame:?}")),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => continue,
                Ok(Some(Ok(message))) => Ok(message),
            };
            let message = match message {
                Ok(message) => message,
                Err(err) => {
                    result.errors.add(err);
                    break;
                }
            };
            let sent_at = state.sent_at.lock().ok().and_then(|mut q| q.pop_front());
            if !payloads.matches(&message, conn, seq) {
                result.errors.add(format!(
                    "conn {conn}: echo {seq} differs ({} bytes)",
                    message.len()
                ));
                break;
            }
            if let Some(sent_at) = sent_at.filter(|t| *t >= warmup_end) {
                result.counted += 1;
                result.bytes += message.len() as u64;
                result.latencies_us.push(micros(sent_at.elapsed()));
            }
            seq += 1;
            result.received += 1;
            state.permits.add_permits(1);
        }
        // A failed reader must not leave the writer waiting for permits.
        state.permits.close();
        result
    };
    let (failure, mut result) = tokio::join!(writer, reader);
    if let Some(err) = failure {
        result.errors.add(err);
    }
    if let Ok(mut ws) = sink.reunite(stream) {
        close_quietly(&mut ws).await;
    }
    result
}

/// Starts the closing handshake and waits briefly for the server's reply.
pub async fn close_quietly(ws: &mut Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        if ws.close(None).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

/// A send that failed or that the server did not let through in time.
fn flatten<E: std::fmt::Display>(
    outcome: Result<Result<(), E>, tokio::time::error::Elapsed>,
) -> Result<(), String> {
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("server stopped reading".into()),
    }
}

pub fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}
