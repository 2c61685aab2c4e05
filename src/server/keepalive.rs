//! `--ping-interval` / `--ping-timeout`: one thread pings idle WebSockets and cuts the ones
//! whose peer sent nothing at all for interval + timeout (Close 1011, then shutdown).

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::Shared;
use crate::conn::now_ms;

const PING: [u8; 2] = [0x89, 0x00];
const INTERNAL_ERROR_CLOSE: [u8; 4] = [0x88, 0x02, 0x03, 0xf3];
/// A control frame that cannot go out at once is skipped (the writer is busy or stuck).
const CONTROL_WAIT: Duration = Duration::ZERO;

fn tick(interval: Option<Duration>) -> Duration {
    match interval {
        Some(interval) => {
            (interval / 4).clamp(Duration::from_millis(10), Duration::from_millis(500))
        }
        None => Duration::from_millis(500),
    }
}

pub fn run(shared: Arc<Shared>, stopped: Arc<(Mutex<bool>, Condvar)>) {
    loop {
        let settings = shared.settings();
        {
            let (flag, condvar) = &*stopped;
            let Ok(guard) = flag.lock() else { return };
            let wait = condvar.wait_timeout_while(guard, tick(settings.ping_interval), |s| !*s);
            match wait {
                Ok((guard, _)) if !*guard => {}
                _ => return,
            }
        }
        let Some(interval) = settings.ping_interval else {
            continue;
        };
        let interval_ms = interval.as_millis() as u64;
        let deadline_ms = settings
            .ping_timeout
            .map(|t| interval_ms + t.as_millis() as u64);
        let now = now_ms();
        for conn in shared.registry.snapshot() {
            if !conn.websocket_open() {
                continue;
            }
            let idle = now.saturating_sub(conn.last_received_ms());
            if deadline_ms.is_some_and(|limit| idle >= limit) {
                log::info!(target: super::route::SERVER_LOGGER,
                    "no data from {:?} for {idle} ms: closing (1011)", conn.meta.remote_addr);
                conn.send_control(&INTERNAL_ERROR_CLOSE, CONTROL_WAIT);
                conn.shutdown();
            } else if idle >= interval_ms
                && now.saturating_sub(conn.last_ping_ms()) >= interval_ms
                && conn.send_control(&PING, CONTROL_WAIT)
            {
                conn.set_last_ping_ms(now);
            }
        }
    }
}
