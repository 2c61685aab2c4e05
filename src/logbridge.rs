//! Rust `log` records reach Python `logging` without any tokio thread attaching to Python:
//! records go into a bounded channel and one forwarding thread hands them over in batches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock};
use std::thread;

use log::{Level, LevelFilter, Log, Metadata, Record};
use pyo3::prelude::*;

/// Records waiting for the forwarding thread; past this they are dropped and counted.
const QUEUE_CAPACITY: usize = 8192;
/// Python's FINE level, registered by `server_util.configure_logging`.
const PY_FINE: i32 = 9;

struct ForwardedRecord {
    logger: String,
    level: i32,
    message: String,
}

struct Bridge {
    /// The queue and the process that owns its forwarding thread (a fork child starts its own).
    sender: Mutex<Option<(u32, SyncSender<ForwardedRecord>)>>,
    dropped: AtomicU64,
}

impl Bridge {
    fn queue(&self) -> Option<SyncSender<ForwardedRecord>> {
        let mut current = self.sender.lock().ok()?;
        let pid = std::process::id();
        if current.as_ref().is_none_or(|(owner, _)| *owner != pid) {
            let (sender, receiver) = mpsc::sync_channel(QUEUE_CAPACITY);
            thread::Builder::new()
                .name("pywebsocket3-log".to_owned())
                .spawn(move || forward(receiver))
                .ok()?;
            *current = Some((pid, sender));
        }
        current.as_ref().map(|(_, sender)| sender.clone())
    }
}

static BRIDGE: OnceLock<Bridge> = OnceLock::new();

impl Log for Bridge {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let forwarded = ForwardedRecord {
            logger: python_logger_name(record.target()),
            level: python_level(record.level()),
            message: record.args().to_string(),
        };
        let Some(queue) = self.queue() else { return };
        if let Err(TrySendError::Full(_)) = queue.try_send(forwarded) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) {}
}

/// Targets that already name a Python logger are kept; module paths become
/// `pywebsocket3.native.<module>`.
pub fn python_logger_name(target: &str) -> String {
    if target.starts_with("pywebsocket3") {
        return target.to_owned();
    }
    let module = target.rsplit("::").next().unwrap_or(target);
    format!("pywebsocket3.native.{module}")
}

pub fn python_level(level: Level) -> i32 {
    match level {
        Level::Error => 40,
        Level::Warn => 30,
        Level::Info => 20,
        Level::Debug => 10,
        Level::Trace => PY_FINE,
    }
}

/// The most verbose Rust level that a Python level lets through.
pub fn level_filter(python_level: i32) -> LevelFilter {
    match python_level {
        i32::MIN..=PY_FINE => LevelFilter::Trace,
        10..=19 => LevelFilter::Debug,
        20..=29 => LevelFilter::Info,
        30..=39 => LevelFilter::Warn,
        40..=50 => LevelFilter::Error,
        _ => LevelFilter::Off,
    }
}

fn forward(receiver: Receiver<ForwardedRecord>) {
    // recv blocks without the GIL: this thread attaches only while it has records to hand over.
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < 256 {
            match receiver.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        // try_attach: during interpreter finalization the records are dropped, not a crash.
        let _ = Python::try_attach(|py| {
            let dropped = BRIDGE
                .get()
                .map_or(0, |b| b.dropped.swap(0, Ordering::Relaxed));
            if dropped > 0 {
                batch.push(ForwardedRecord {
                    logger: "pywebsocket3.native".to_owned(),
                    level: 30,
                    message: format!("{dropped} log records dropped (logging fell behind)"),
                });
            }
            let Ok(logging) = py.import("logging") else {
                return;
            };
            for record in batch.drain(..) {
                let logged = logging
                    .call_method1("getLogger", (record.logger,))
                    .and_then(|logger| {
                        logger.call_method1("log", (record.level, "%s", record.message))
                    });
                if let Err(err) = logged {
                    err.print(py);
                }
            }
        });
    }
}

/// Install the bridge (once) and let records at or above `level` (a Python level) through.
#[pyfunction]
pub fn init_logging(level: i32) -> PyResult<()> {
    if BRIDGE.get().is_none() {
        let bridge = Bridge {
            sender: Mutex::new(None),
            dropped: AtomicU64::new(0),
        };
        if BRIDGE.set(bridge).is_ok() {
            if let Some(bridge) = BRIDGE.get() {
                // Fails only if another logger was installed first; then Rust logs go there.
                let _ = log::set_logger(bridge);
            }
        }
    }
    log::set_max_level(level_filter(level));
    Ok(())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(init_logging, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logger_names() {
        assert_eq!(
            python_logger_name("pywebsocket3.websocket_server"),
            "pywebsocket3.websocket_server"
        );
        assert_eq!(
            python_logger_name("_native::server::accept"),
            "pywebsocket3.native.accept"
        );
    }

    #[test]
    fn levels_round_trip() {
        for level in [
            Level::Error,
            Level::Warn,
            Level::Info,
            Level::Debug,
            Level::Trace,
        ] {
            assert!(level <= level_filter(python_level(level)));
        }
        assert_eq!(level_filter(30), LevelFilter::Warn);
        assert_eq!(level_filter(60), LevelFilter::Off);
    }
}
