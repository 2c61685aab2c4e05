//! Idle mode: open N connections, hold them, then check that every one still echoes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncBufReadExt;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::args::Options;
use crate::conn::{self, Ws};
use crate::echo::close_quietly;
use crate::payload::Payloads;
use crate::stats::Report;

pub async fn run(opts: &Options) -> Report {
    let mut report = Report::default();
    let parallel = Arc::new(Semaphore::new(opts.open_parallel));
    let begun = Instant::now();
    let mut opening = Vec::with_capacity(opts.conns);
    // Fail fast: a server that stopped accepting would otherwise cost a timeout per batch.
    let failures = Arc::new(AtomicUsize::new(0));
    for _ in 0..opts.conns {
        let (parallel, url, timeout) = (parallel.clone(), opts.url.clone(), opts.timeout);
        let size = opts.size;
        let (failures, max_failures) = (failures.clone(), opts.max_open_errors);
        opening.push(tokio::spawn(async move {
            let _permit = parallel.acquire_owned().await.map_err(|e| e.to_string())?;
            if failures.load(Ordering::Relaxed) >= max_failures {
                return Err("not attempted: too many failed opens".to_string());
            }
            let opened = conn::open(&url, timeout, size).await;
            if opened.is_err() {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            opened
        }));
    }
    let mut held: Vec<Ws> = Vec::with_capacity(opts.conns);
    for task in opening {
        match task.await {
            Ok(Ok(ws)) => held.push(ws),
            Ok(Err(err)) => report.error(format!("open: {err}")),
            Err(err) => report.error(format!("open task failed: {err}")),
        }
    }
    report.set("conns", opts.conns as f64);
    report.set("opened", held.len() as f64);
    report.set("open_failures", failures.load(Ordering::Relaxed) as f64);
    report.set("open_seconds", begun.elapsed().as_secs_f64());
    hold(opts, held.len()).await;

    // Every held connection sends one message and must get it back intact.
    let payloads = Arc::new(Payloads::new(opts.size, opts.binary));
    let echo_begun = Instant::now();
    let mut checking = Vec::with_capacity(held.len());
    for (conn, mut ws) in held.into_iter().enumerate() {
        let (parallel, payloads, timeout) = (parallel.clone(), payloads.clone(), opts.timeout);
        checking.push(tokio::spawn(async move {
            let _permit = parallel.acquire_owned().await.map_err(|e| e.to_string())?;
            let outcome = tokio::time::timeout(timeout, echo_once(&mut ws, conn, &payloads)).await;
            close_quietly(&mut ws).await;
            outcome.unwrap_or_else(|_| Err(format!("conn {conn}: no echo after hold")))
        }));
    }
    let mut echoed = 0u64;
    for task in checking {
        match task.await {
            Ok(Ok(())) => echoed += 1,
            Ok(Err(err)) => report.error(err),
            Err(err) => report.error(format!("echo task failed: {err}")),
        }
    }
    report.set("echoed", echoed as f64);
    report.set("echo_seconds", echo_begun.elapsed().as_secs_f64());
    report
}

async fn echo_once(ws: &mut Ws, conn: usize, payloads: &Payloads) -> Result<(), String> {
    ws.send(payloads.build(conn, 0))
        .await
        .map_err(|e| format!("conn {conn}: send after hold: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) if payloads.matches(&message, conn, 0) => return Ok(()),
            Some(Ok(message)) => return Err(format!("conn {conn}: wrong echo {message:?}")),
            Some(Err(err)) => return Err(format!("conn {conn}: receive after hold: {err}")),
            None => return Err(format!("conn {conn}: closed during hold")),
        }
    }
}

/// Waits for a line on stdin (the runner has sampled the server) or the hold time.
async fn hold(opts: &Options, open: usize) {
    eprintln!("HELD {open}");
    let mut line = String::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let _ = tokio::time::timeout(opts.hold, stdin.read_line(&mut line)).await;
}
