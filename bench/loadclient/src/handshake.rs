//! Handshake mode: workers loop connect + opening handshake + closing handshake.

use std::sync::Arc;
use std::time::Instant;

use crate::args::Options;
use crate::conn;
use crate::echo::{close_quietly, micros};
use crate::stats::{Errors, Prefix, Report};

pub async fn run(opts: &Options) -> Report {
    let opts = Arc::new(opts.clone());
    let begun = Instant::now();
    let deadline = begun + opts.duration;
    let mut tasks = Vec::with_capacity(opts.conns);
    for _ in 0..opts.conns {
        let opts = opts.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            let mut latencies = Vec::new();
            let mut errors = Errors::default();
            while Instant::now() < deadline {
                let started = Instant::now();
                match conn::open(&opts.url, opts.timeout, 0).await {
                    Ok(mut ws) => {
                        latencies.push(micros(started.elapsed()));
                        close_quietly(&mut ws).await;
                        done += 1;
                    }
                    Err(err) => {
                        errors.add(err);
                        // A refusing server must not turn this into a busy loop.
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
            }
            (done, latencies, errors)
        }));
    }
    let mut report = Report::default();
    let (mut done, mut latencies) = (0u64, Vec::new());
    for task in tasks {
        match task.await {
            Ok((n, lat, errors)) => {
                done += n;
                latencies.extend(lat);
                report.merge_errors(errors);
            }
            Err(err) => report.error(format!("task failed: {err}")),
        }
    }
    let seconds = begun.elapsed().as_secs_f64();
    report.set("workers", opts.conns as f64);
    report.set("handshakes", done as f64);
    report.set("seconds", seconds);
    report.set("handshakes_per_s", done as f64 / seconds.max(1e-9));
    report.latencies(Prefix::Handshake, &mut latencies);
    report
}
