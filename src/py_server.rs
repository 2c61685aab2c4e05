//! `Server` and `RequestHead` for Python: config dict conversion (in one place), GIL-free
//! waits, the interpreter-exit cut; the handoff to handler threads is in `handoff`, to the
//! greenlet hub in `hub`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::http_head::HttpRequest;
use crate::server::{
    self, BindAddress, ProxyProtocol, Registry, ServerConfig, Settings, TrustedProxies,
};
use crate::tls::TlsSettings;

mod aio;
mod conn_queue;
mod handoff;
mod hub;

const SERVER_LOGGER: &str = "pywebsocket3.websocket_server.WebSocketServer";

/// The parsed head of a request routed to a WebSocket handler.
#[pyclass(frozen, module = "pywebsocket3._native")]
pub struct RequestHead {
    #[pyo3(get)]
    method: String,
    #[pyo3(get)]
    path: String,
    #[pyo3(get)]
    protocol: String,
    #[pyo3(get)]
    headers: Vec<(String, String)>,
    #[pyo3(get)]
    raw_lines: Vec<Py<PyBytes>>,
}

impl RequestHead {
    pub(crate) fn new(py: Python<'_>, request: HttpRequest) -> Self {
        RequestHead {
            raw_lines: request
                .raw_lines
                .iter()
                .map(|l| PyBytes::new(py, l).unbind())
                .collect(),
            method: request.method,
            path: request.target,
            protocol: request.version,
            headers: request.headers,
        }
    }
}

fn item<'py, T: FromPyObjectOwned<'py>>(
    config: &Bound<'py, PyDict>,
    key: &str,
) -> PyResult<Option<T>> {
    match config.get_item(key)? {
        Some(value) if !value.is_none() => Ok(Some(value.extract::<T>().map_err(|e| {
            let e: PyErr = e.into();
            PyValueError::new_err(format!("config key {key:?}: {e}"))
        })?)),
        _ => Ok(None),
    }
}

fn seconds(value: f64, key: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("config key {key:?}: not a duration: {value}")))
}

/// Keys present in `config` replace those of `settings` (`update` passes only some).
fn apply_settings(config: &Bound<'_, PyDict>, settings: &mut Settings) -> PyResult<()> {
    if config.contains("basic_auth")? {
        settings.basic_auth = item(config, "basic_auth")?;
    }
    if config.contains("validation_host")? {
        settings.validation_host = item(config, "validation_host")?;
    }
    if config.contains("validation_port")? {
        settings.validation_port = item(config, "validation_port")?;
    }
    if let Some(value) = item::<f64>(config, "handshake_timeout")? {
        settings.handshake_timeout = seconds(value, "handshake_timeout")?;
    }
    if let Some(value) = item(config, "max_header_bytes")? {
        settings.max_header_bytes = value;
    }
    if let Some(value) = item(config, "max_connections")? {
        settings.max_connections = value;
    }
    if config.contains("ping_interval")? {
        let value: Option<f64> = item(config, "ping_interval")?;
        settings.ping_interval = value.map(|v| seconds(v, "ping_interval")).transpose()?;
    }
    if let Some(value) = item(config, "write_coalescing")? {
        settings.write_coalescing = value;
    }
    if config.contains("ping_timeout")? {
        let value: Option<f64> = item(config, "ping_timeout")?;
        settings.ping_timeout = value.map(|v| seconds(v, "ping_timeout")).transpose()?;
    }
    Ok(())
}

fn tls_settings(tls: &Bound<'_, PyDict>) -> PyResult<TlsSettings> {
    let path = |key: &str| -> PyResult<Option<PathBuf>> {
        Ok(item::<String>(tls, key)?
            .filter(|p| !p.is_empty())
            .map(PathBuf::from))
    };
    Ok(TlsSettings {
        certificate: path("certificate")?.unwrap_or_default(),
        private_key: path("private_key")?.unwrap_or_default(),
        client_ca: path("client_ca")?,
        client_auth: item(tls, "client_auth")?.unwrap_or(false),
        client_cert_optional: item(tls, "client_cert_optional")?.unwrap_or(false),
    })
}

fn server_config(py: Python<'_>, config: &Bound<'_, PyDict>) -> PyResult<ServerConfig> {
    let addresses: Vec<(i32, String, u16)> = item(config, "addresses")?.unwrap_or_default();
    let tls = match config.get_item("tls")? {
        Some(value) if !value.is_none() => Some(tls_settings(value.cast::<PyDict>()?)?),
        _ => None,
    };
    let python_version = match item(config, "python_version")? {
        Some(version) => version,
        None => crate::handshake::python_version(py)?,
    };
    let mut settings = Settings::default();
    apply_settings(config, &mut settings)?;
    let trusted: Vec<String> = item(config, "trusted_proxy")?.unwrap_or_default();
    let trusted_proxies = TrustedProxies::parse(&trusted).map_err(PyValueError::new_err)?;
    let proxy_protocol = item::<String>(config, "proxy_protocol")?
        .map(|mode| ProxyProtocol::parse(&mode))
        .transpose()
        .map_err(PyValueError::new_err)?;
    if proxy_protocol.is_some() && trusted_proxies.is_empty() {
        return Err(PyValueError::new_err(
            "--proxy-protocol needs --trusted-proxy (the addresses or networks of the load \
             balancers that send the PROXY header)",
        ));
    }
    Ok(ServerConfig {
        addresses: addresses
            .into_iter()
            .map(|(family, host, port)| BindAddress { family, host, port })
            .collect(),
        backlog: item(config, "backlog")?.unwrap_or(128),
        document_root: item::<String>(config, "document_root")?
            .unwrap_or_else(|| ".".into())
            .into(),
        cgi_paths: item(config, "cgi_paths")?.unwrap_or_default(),
        tls,
        server_name: item(config, "server_name")?.unwrap_or_default(),
        python_version,
        trusted_proxies,
        proxy_protocol,
        settings,
    })
}

/// Registries of the servers alive, for the interpreter-exit cut below.
static LIVE: Mutex<Vec<Weak<Registry>>> = Mutex::new(Vec::new());

/// atexit: cut every open WebSocket so handler threads blocked in native reads return and end
/// before CPython finalizes (a thread woken inside native code during finalization aborts).
#[pyfunction]
fn _close_connections_at_exit(py: Python<'_>) {
    let registries: Vec<Arc<Registry>> = match LIVE.lock() {
        Ok(live) => live.iter().filter_map(Weak::upgrade).collect(),
        Err(_) => return,
    };
    py.detach(|| {
        handoff::close_pools(Duration::from_secs(1));
        for registry in &registries {
            for conn in registry.snapshot() {
                conn.shutdown();
            }
        }
        for registry in &registries {
            registry.wait_empty(Duration::from_secs(1));
        }
        // After the wait: the hub must still run for its greenlets to see the cut and end.
        hub::close_hubs(Duration::from_secs(1));
    });
}

#[pyclass(frozen, module = "pywebsocket3._native", name = "Server")]
pub struct PyServer {
    inner: server::Server,
    hub: Arc<hub::HubSlot>,
    aio: Arc<aio::AsyncSlot>,
}

#[pymethods]
impl PyServer {
    #[new]
    fn new(py: Python<'_>, config: &Bound<'_, PyDict>, on_websocket: Py<PyAny>) -> PyResult<Self> {
        let config = server_config(py, config)?;
        let hub = Arc::new(hub::HubSlot::default());
        let aio = Arc::new(aio::AsyncSlot::default());
        let threads = handoff::handoff(py, on_websocket)?;
        let chain = aio::handoff(Arc::clone(&aio), hub::handoff(Arc::clone(&hub), threads));
        let (inner, log_lines) = server::Server::new(config, chain).map_err(PyOSError::new_err)?;
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|registry| registry.strong_count() > 0);
            live.push(Arc::downgrade(&inner.registry()));
        }
        let logger = py
            .import("logging")?
            .call_method1("getLogger", (SERVER_LOGGER,))?;
        for (level, message) in log_lines {
            logger.call_method1("log", (level, "%s", message))?;
        }
        Ok(PyServer { inner, hub, aio })
    }

    /// From now on this process's plain WebSocket connections go to `hub` (`--greenlets`).
    fn use_hub(&self, hub: &Bound<'_, hub::Hub>) {
        self.hub.set(Arc::clone(&hub.get().core));
    }

    /// From now on this process's plain connections for async resources go to `queue`.
    fn use_async(&self, queue: &Bound<'_, aio::AsyncQueue>) {
        self.aio.set(Arc::clone(&queue.get().core));
    }

    /// The resources whose handler file is `async def` (served on the asyncio loop).
    fn set_async_resources(&self, resources: Vec<String>) {
        self.aio.set_resources(resources);
    }

    fn listener_fds(&self) -> Vec<i32> {
        self.inner.listener_fds()
    }

    fn set_handler_resources(&self, resources: Vec<String>) {
        self.inner.set_handler_resources(resources);
    }

    fn update(&self, config: &Bound<'_, PyDict>) -> PyResult<()> {
        let mut settings = (*self.inner.settings()).clone();
        apply_settings(config, &mut settings)?;
        self.inner.update(settings);
        Ok(())
    }

    fn start(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.start())?;
        Ok(())
    }

    fn wait(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let timeout = seconds(timeout.max(0.0), "timeout")?;
        Ok(py.detach(|| self.inner.wait(timeout)))
    }

    fn shutdown(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = seconds(timeout.max(0.0), "timeout")?;
        py.detach(|| self.inner.shutdown(timeout));
        Ok(())
    }

    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    fn active_connections(&self) -> usize {
        self.inner.active_connections()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyServer>()?;
    m.add_class::<RequestHead>()?;
    handoff::register(m)?;
    m.add_class::<hub::Hub>()?;
    m.add_class::<aio::AsyncQueue>()?;
    let at_exit = wrap_pyfunction!(_close_connections_at_exit, m)?;
    m.py()
        .import("atexit")?
        .call_method1("register", (at_exit,))?;
    Ok(())
}
