//! The native server: listening sockets, the tokio acceptor, routing, the handler threads'
//! registry, keepalive pings and shutdown. No pyo3 here: `py_server` supplies the handoff.

mod bind;
pub mod forwarded;
mod keepalive;
pub mod proxy_protocol;
mod registry;
mod route;
mod trusted;
mod uri;

use std::collections::HashSet;
use std::net::TcpListener as StdListener;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use bind::{BindAddress, LogLine};
pub use proxy_protocol::ProxyProtocol;
pub use registry::Registry;
pub use trusted::TrustedProxies;
pub use uri::handler_key;

use crate::conn::ConnIo;
use crate::http_head::HttpRequest;
use crate::tls::TlsSettings;

/// Starts the handler for one routed upgrade without blocking; whoever runs the handler calls
/// `ConnIo::finish` when it is done (that frees the connection slot).
pub type Handoff = Arc<dyn Fn(Arc<ConnIo>, HttpRequest) + Send + Sync>;

/// Options that `update` may replace while serving; read once per request.
#[derive(Debug, Clone)]
pub struct Settings {
    pub basic_auth: Option<String>,
    pub validation_host: Option<String>,
    pub validation_port: Option<i64>,
    pub handshake_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    pub ping_interval: Option<Duration>,
    pub ping_timeout: Option<Duration>,
    /// Replies to pipelined messages may be held back and sent together (`conn::coalesce`).
    pub write_coalescing: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            basic_auth: None,
            validation_host: None,
            validation_port: None,
            handshake_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_connections: 0,
            ping_interval: None,
            ping_timeout: None,
            write_coalescing: true,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub addresses: Vec<BindAddress>,
    pub backlog: i32,
    pub document_root: PathBuf,
    pub cgi_paths: Vec<String>,
    pub tls: Option<TlsSettings>,
    /// The `-H` value, reported as `connection.local_addr[0]`.
    pub server_name: String,
    pub python_version: String,
    /// `--trusted-proxy`: peers whose forwarding headers and PROXY headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// `--proxy-protocol`: trusted peers must start with this header.
    pub proxy_protocol: Option<ProxyProtocol>,
    pub settings: Settings,
}

/// What every connection task and handler thread shares.
pub struct Shared {
    document_root: PathBuf,
    cgi_paths: Vec<String>,
    server_name: String,
    server_version: String,
    port: u16,
    tls: Option<TlsAcceptor>,
    trusted_proxies: TrustedProxies,
    proxy_protocol: Option<ProxyProtocol>,
    settings: RwLock<Arc<Settings>>,
    resources: RwLock<HashSet<String>>,
    registry: Arc<Registry>,
    handoff: Handoff,
}

impl Shared {
    fn settings(&self) -> Arc<Settings> {
        match self.settings.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn has_handler(&self, resource: &str) -> bool {
        self.resources
            .read()
            .map(|set| set.contains(resource))
            .unwrap_or(false)
    }
}

pub struct Server {
    shared: Arc<Shared>,
    listeners: Mutex<Vec<StdListener>>,
    fds: Vec<i32>,
    runtime: Mutex<Option<Runtime>>,
    stop_accepting: watch::Sender<bool>,
    stopped: Arc<(Mutex<bool>, Condvar)>,
    keepalive: Mutex<Option<JoinHandle<()>>>,
}

fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Server {
    /// Binds at once (as upstream's constructor); the log lines are for Python's logger.
    pub fn new(config: ServerConfig, handoff: Handoff) -> Result<(Server, Vec<LogLine>), String> {
        crate::static_files::http_error::use_phrases_of(&config.python_version);
        let tls = match &config.tls {
            Some(settings) => Some(crate::tls::build_acceptor(settings)?),
            None => None,
        };
        let bound = bind::bind_all(&config.addresses, config.backlog);
        let shared = Arc::new(Shared {
            document_root: config.document_root,
            cgi_paths: config.cgi_paths,
            server_name: config.server_name,
            server_version: crate::handshake::server_version(&config.python_version),
            port: bound.port,
            tls,
            trusted_proxies: config.trusted_proxies,
            proxy_protocol: config.proxy_protocol,
            settings: RwLock::new(Arc::new(config.settings)),
            resources: RwLock::new(HashSet::new()),
            registry: Arc::new(Registry::default()),
            handoff,
        });
        let fds = bound.listeners.iter().map(|l| l.as_raw_fd()).collect();
        let server = Server {
            shared,
            listeners: Mutex::new(bound.listeners),
            fds,
            runtime: Mutex::new(None),
            stop_accepting: watch::channel(false).0,
            stopped: Arc::new((Mutex::new(false), Condvar::new())),
            keepalive: Mutex::new(None),
        };
        Ok((server, bound.log))
    }

    pub fn listener_fds(&self) -> Vec<i32> {
        self.fds.clone()
    }

    pub fn port(&self) -> u16 {
        self.shared.port
    }

    pub fn set_handler_resources(&self, resources: Vec<String>) {
        if let Ok(mut set) = self.shared.resources.write() {
            *set = resources.into_iter().collect();
        }
    }

    pub fn update(&self, settings: Settings) {
        if let Ok(mut current) = self.shared.settings.write() {
            *current = Arc::new(settings);
        }
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.shared.settings()
    }

    /// Starts the runtime (2 workers), the accept loops and the keepalive thread; returns.
    pub fn start(&self) -> std::io::Result<()> {
        let mut runtime_slot = guard(&self.runtime);
        if runtime_slot.is_some() {
            return Ok(());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pywebsocket3-io")
            .enable_all()
            .build()?;
        for listener in guard(&self.listeners).drain(..) {
            listener.set_nonblocking(true)?;
            let _entered = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let shared = Arc::clone(&self.shared);
            let stop = self.stop_accepting.subscribe();
            runtime.spawn(route::accept_loop(listener, shared, stop));
        }
        *runtime_slot = Some(runtime);
        let shared = Arc::clone(&self.shared);
        let stopped = Arc::clone(&self.stopped);
        let handle = std::thread::Builder::new()
            .name("pywebsocket3-keepalive".into())
            .spawn(move || keepalive::run(shared, stopped))?;
        *guard(&self.keepalive) = Some(handle);
        Ok(())
    }

    /// Stop accepting; Close 1001 to open WebSockets; wait up to `timeout` for their handlers;
    /// then cut the sockets of those still running. Blocks: call without the GIL.
    pub fn shutdown(&self, timeout: Duration) {
        let _ = self.stop_accepting.send(true);
        const GOING_AWAY: [u8; 4] = [0x88, 0x02, 0x03, 0xe9];
        // A first pass never waits; writers that were busy get a share of a short budget.
        let open: Vec<_> = self.shared.registry.snapshot();
        let busy: Vec<_> = open
            .into_iter()
            .filter(|conn| conn.websocket_open() && !conn.send_control(&GOING_AWAY, Duration::ZERO))
            .collect();
        let budget_end = std::time::Instant::now() + timeout.min(Duration::from_millis(500));
        for conn in busy {
            let left = budget_end.saturating_duration_since(std::time::Instant::now());
            conn.send_control(&GOING_AWAY, left);
        }
        if !self.shared.registry.wait_empty(timeout) {
            let left = self.shared.registry.snapshot();
            log::info!(target: route::SERVER_LOGGER, "{} connections cut at shutdown", left.len());
            for conn in left {
                conn.shutdown();
            }
        }
        self.mark_stopped();
    }

    fn mark_stopped(&self) {
        let (flag, condvar) = &*self.stopped;
        *guard(flag) = true;
        condvar.notify_all();
    }

    /// True once stopped; waits up to `timeout` otherwise. Blocks: call without the GIL.
    pub fn wait(&self, timeout: Duration) -> bool {
        let (flag, condvar) = &*self.stopped;
        let stopped = guard(flag);
        match condvar.wait_timeout_while(stopped, timeout, |stopped| !*stopped) {
            Ok((stopped, _)) => *stopped,
            Err(poisoned) => *poisoned.into_inner().0,
        }
    }

    /// Closes the listening sockets and lets the runtime go (tasks end in the background).
    pub fn close(&self) {
        let _ = self.stop_accepting.send(true);
        guard(&self.listeners).clear();
        if let Some(runtime) = guard(&self.runtime).take() {
            runtime.shutdown_background();
        }
        self.mark_stopped();
        if let Some(handle) = guard(&self.keepalive).take() {
            let _ = handle.join();
        }
    }

    /// The open connections, for a last cut when the interpreter exits.
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.shared.registry)
    }

    pub fn active_connections(&self) -> usize {
        self.shared.registry.active()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.close();
    }
}
