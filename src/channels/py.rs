//! The Python edge of channels (`pywebsocket3.channels` wraps these). Nothing here waits on
//! a socket or on Redis except `channels_flush`, which releases the GIL.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::hub::{self, Hub};
use super::redis::Redis;
use super::server_frame;
use crate::conn::Connection;

/// The Redis backend of this process, if configured: (URL, the running backend).
static BACKEND: Mutex<Option<(String, Arc<Redis>)>> = Mutex::new(None);

fn local_hub() -> PyResult<Arc<Hub>> {
    hub::hub().map_err(|e| PyOSError::new_err(format!("cannot start channel delivery: {e}")))
}

/// The Redis backend for this process: started again after a fork (its thread is gone).
fn redis_backend() -> PyResult<Option<Arc<Redis>>> {
    let mut slot = BACKEND.lock().unwrap_or_else(|p| p.into_inner());
    let Some((url, redis)) = slot.as_mut() else {
        return Ok(None);
    };
    if !redis.is_current() {
        *redis = Redis::start(url).map_err(PyValueError::new_err)?;
    }
    Ok(Some(Arc::clone(redis)))
}

#[pyfunction]
#[pyo3(signature = (url=None, queue_limit=None))]
fn channels_configure(url: Option<&str>, queue_limit: Option<usize>) -> PyResult<()> {
    if let Some(limit) = queue_limit {
        local_hub()?.set_queue_limit(limit);
    }
    let mut slot = BACKEND.lock().unwrap_or_else(|p| p.into_inner());
    let unchanged = match (slot.as_ref(), url) {
        (Some((current, redis)), Some(url)) => current == url && redis.is_current(),
        (None, None) => true,
        _ => false,
    };
    if unchanged {
        return Ok(());
    }
    if let Some((_, old)) = slot.take() {
        old.stop();
    }
    if let Some(url) = url.filter(|u| !u.is_empty()) {
        let redis = Redis::start(url).map_err(PyValueError::new_err)?;
        *slot = Some((url.to_owned(), redis));
    }
    Ok(())
}

/// Raises ValueError unless `url` is a Redis URL the client accepts (checked at start-up).
#[pyfunction]
fn channels_check_url(url: &str) -> PyResult<()> {
    redis::Client::open(url)
        .map(drop)
        .map_err(|e| PyValueError::new_err(format!("bad --channels-url {url:?}: {e}")))
}

#[pyfunction]
fn channels_subscribe(connection: &Bound<'_, Connection>, channel: &str) -> PyResult<()> {
    local_hub()?.subscribe(&connection.get().io, channel);
    Ok(())
}

#[pyfunction]
#[pyo3(signature = (connection, channel=None))]
fn channels_unsubscribe(connection: &Bound<'_, Connection>, channel: Option<&str>) -> PyResult<()> {
    local_hub()?.unsubscribe(&connection.get().io, channel);
    Ok(())
}

/// Queues `data` for the channel's members (through Redis when configured); never waits.
#[pyfunction]
fn channels_publish(channel: &str, data: &[u8], binary: bool) -> PyResult<bool> {
    if let Some(redis) = redis_backend()? {
        return Ok(redis.publish(channel, data, binary));
    }
    local_hub()?.publish_local(channel, server_frame(data, binary));
    Ok(true)
}

/// Waits (without the GIL) until every publish was handed to Redis or given up on.
#[pyfunction]
fn channels_flush(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    let Some(redis) = redis_backend()? else {
        return Ok(true);
    };
    let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
    Ok(py.detach(|| loop {
        if redis.in_flight() == 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }))
}

#[pyfunction]
fn channels_members(channel: &str) -> PyResult<usize> {
    Ok(local_hub()?.members(channel))
}

#[pyfunction]
fn channels_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let hub = local_hub()?;
    let stats = PyDict::new(py);
    stats.set_item("published", hub.stats.published.load(Ordering::Relaxed))?;
    stats.set_item("delivered", hub.stats.delivered.load(Ordering::Relaxed))?;
    stats.set_item("dropped", hub.stats.dropped.load(Ordering::Relaxed))?;
    stats.set_item("closed_slow", hub.stats.closed_slow.load(Ordering::Relaxed))?;
    match redis_backend()? {
        Some(redis) => {
            stats.set_item("backend", "redis")?;
            stats.set_item("url", &redis.url)?;
            stats.set_item("redis_lost", redis.lost.load(Ordering::Relaxed))?;
            stats.set_item("redis_subscribed", redis.subscribed.load(Ordering::SeqCst))?;
        }
        None => stats.set_item("backend", "local")?,
    }
    Ok(stats)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(channels_configure, m)?)?;
    m.add_function(wrap_pyfunction!(channels_check_url, m)?)?;
    m.add_function(wrap_pyfunction!(channels_subscribe, m)?)?;
    m.add_function(wrap_pyfunction!(channels_unsubscribe, m)?)?;
    m.add_function(wrap_pyfunction!(channels_publish, m)?)?;
    m.add_function(wrap_pyfunction!(channels_flush, m)?)?;
    m.add_function(wrap_pyfunction!(channels_members, m)?)?;
    m.add_function(wrap_pyfunction!(channels_stats, m)?)?;
    Ok(())
}
