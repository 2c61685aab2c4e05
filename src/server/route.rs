//! One accepted connection: TLS handshake, request head, basic auth, routing to a WebSocket
//! handler thread or to static files and CGI. Runs on tokio; never touches Python.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;

use super::forwarded::client_address;
use super::proxy_protocol::{read_header, starts_with_header};
use super::registry::Slot;
use super::uri::{handler_key, parse_ws_uri, Target};
use super::{Settings, Shared};
use crate::conn::{ConnIo, ConnMeta};
use crate::handshake::basic_auth_challenge;
use crate::http_head::{read_head, HeadError, HeadLimits, HttpRequest};
use crate::static_files::http_error::{send_error_bytes, status_phrase};
use crate::{cgi, static_files};

pub const SERVER_LOGGER: &str = "pywebsocket3.websocket_server.WebSocketServer";
pub const REQUEST_LOGGER: &str = "pywebsocket3.request_handler.WebSocketRequestHandler";
/// Back-off after an accept error such as EMFILE, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    tokio::spawn(handle_connection(Arc::clone(&shared), tcp, peer));
                }
                Err(e) => {
                    log::warn!(target: SERVER_LOGGER, "accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}

/// What came out of the HTTP part of a connection.
enum Outcome {
    Done,
    /// The request, its connection slot and the client's address.
    WebSocket(HttpRequest, Slot, SocketAddr),
}

async fn handle_connection(shared: Arc<Shared>, mut tcp: TcpStream, tcp_peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let settings = shared.settings();
    let Some(peer) = proxy_header_peer(&shared, &settings, &mut tcp, tcp_peer).await else {
        return;
    };
    let Some(acceptor) = shared.tls.clone() else {
        if let Outcome::WebSocket(request, slot, client) =
            serve(&mut tcp, &shared, &settings, peer, false).await
        {
            hand_off(&shared, tcp, None, request, slot, client, None);
        }
        return;
    };
    let mut stream = match timeout(settings.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            log::info!(target: SERVER_LOGGER, "TLS handshake with {peer} failed: {e}");
            return;
        }
        Err(_) => {
            log::info!(target: SERVER_LOGGER, "TLS handshake with {peer} timed out");
            return;
        }
    };
    let session = stream.get_ref().1;
    log::info!(target: SERVER_LOGGER, "{peer}: {}", crate::tls::describe_session(session));
    let certificate = crate::tls::peer_certificate(session);
    if let Outcome::WebSocket(request, slot, client) =
        serve(&mut stream, &shared, &settings, peer, true).await
    {
        let (tcp, session) = stream.into_inner();
        hand_off(
            &shared,
            tcp,
            Some(session),
            request,
            slot,
            client,
            certificate,
        );
    }
}

/// `--proxy-protocol`: the address a trusted peer's PROXY header names (its own for LOCAL or
/// UNKNOWN); an untrusted peer's own address. None: the connection is to be dropped.
async fn proxy_header_peer(
    shared: &Shared,
    settings: &Settings,
    tcp: &mut TcpStream,
    peer: SocketAddr,
) -> Option<SocketAddr> {
    let Some(expected) = shared.proxy_protocol else {
        return Some(peer);
    };
    let limit = settings.handshake_timeout;
    if !shared.trusted_proxies.contains(peer.ip()) {
        return match timeout(limit, starts_with_header(tcp)).await {
            Ok(Ok(false)) => Some(peer),
            Ok(Ok(true)) => {
                log::warn!(target: SERVER_LOGGER,
                    "PROXY protocol header from {peer}, which is not a --trusted-proxy: closing");
                None
            }
            Ok(Err(_)) => None,
            Err(_) => {
                log::info!(target: REQUEST_LOGGER, "{}: request head timed out", peer.ip());
                None
            }
        };
    }
    match timeout(limit, read_header(tcp, expected)).await {
        Ok(Ok(source)) => Some(source.unwrap_or(peer)),
        Ok(Err(reason)) => {
            log::warn!(target: SERVER_LOGGER, "{peer}: {reason}: closing");
            None
        }
        Err(_) => {
            log::warn!(target: SERVER_LOGGER,
                "{peer}: no complete PROXY protocol header within {limit:?}: closing");
            None
        }
    }
}

/// The HTTP part, over plain TCP or TLS alike. Writes every non-WebSocket response.
async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: &mut S,
    shared: &Shared,
    on_accept: &Settings,
    peer: SocketAddr,
    https: bool,
) -> Outcome {
    let limits = HeadLimits {
        max_bytes: on_accept.max_header_bytes,
        ..HeadLimits::default()
    };
    let mut request = match timeout(on_accept.handshake_timeout, read_head(stream, limits)).await {
        Err(_) => {
            log::info!(target: REQUEST_LOGGER, "{}: request head timed out", peer.ip());
            return Outcome::Done;
        }
        Ok(Err(HeadError::Respond {
            status,
            message,
            explain,
            request_line,
        })) => {
            let page = send_error_bytes(
                status,
                message.as_deref(),
                explain.as_deref(),
                &shared.server_version,
                true,
            );
            log_error(peer, status, message.as_deref());
            log_access(shared, peer, &request_line, status);
            let _ = write_and_close(stream, &page).await;
            return Outcome::Done;
        }
        Ok(Err(_)) => return Outcome::Done,
        Ok(Ok(request)) => request,
    };
    let peer = client_address(&request, peer, &shared.trusted_proxies);
    // Upstream read its options once the head was parsed: a change made meanwhile applies.
    let current = shared.settings();
    let settings: &Settings = &current;
    if let Some(expected) = &settings.basic_auth {
        if request.header("Authorization") != Some(expected.as_str()) {
            log_access(shared, peer, &request.request_line(), 401);
            log::info!(target: REQUEST_LOGGER, "Request basic authentication");
            let challenge = basic_auth_challenge(&shared.server_version);
            let _ = write_and_close(stream, &challenge).await;
            return Outcome::Done;
        }
    }
    if let Some(resource) = websocket_resource(&request.target, settings) {
        let (key, has_fragment) = handler_key(&resource);
        if shared.has_handler(key) {
            if has_fragment {
                log::info!(target: REQUEST_LOGGER,
                    "Dispatch failed for error: Fragment identifiers MUST NOT be used on WebSocket URIs");
                send_error(stream, shared, &request, peer, 400, None).await;
                return Outcome::Done;
            }
            let Some(slot) = shared.registry.reserve(settings.max_connections) else {
                log::warn!(target: REQUEST_LOGGER, "max connections reached, refusing {peer}");
                send_error(stream, shared, &request, peer, 503, None).await;
                return Outcome::Done;
            };
            request.target = resource;
            return Outcome::WebSocket(request, slot, peer);
        }
        log::info!(target: REQUEST_LOGGER, "No handler for resource: {resource:?}");
    }
    log::info!(target: REQUEST_LOGGER, "Fallback to CGIHTTPRequestHandler");
    let status = serve_files(stream, shared, &request, peer, https).await;
    if let Ok(status) = status {
        log_access(shared, peer, &request.request_line(), status);
    }
    let _ = stream.shutdown().await;
    Outcome::Done
}

/// The resource a WebSocket handler would see, or None when an absolute target fails -V/-P.
fn websocket_resource(target: &str, settings: &Settings) -> Option<String> {
    match parse_ws_uri(target) {
        Target::Relative => Some(target.to_string()),
        Target::Invalid => {
            log::info!(target: REQUEST_LOGGER, "Invalid URI: {target:?}");
            None
        }
        Target::Absolute { host, port, path } => {
            if settings
                .validation_host
                .as_ref()
                .is_some_and(|expected| *expected != host)
            {
                log::info!(target: REQUEST_LOGGER, "Invalid host: {host:?}");
                return None;
            }
            if settings
                .validation_port
                .is_some_and(|expected| expected != i64::from(port))
            {
                log::info!(target: REQUEST_LOGGER, "Invalid port: {port}");
                return None;
            }
            Some(path)
        }
    }
}

async fn serve_files<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: &mut S,
    shared: &Shared,
    request: &HttpRequest,
    peer: SocketAddr,
    https: bool,
) -> std::io::Result<u16> {
    if let Some(script) = cgi::script_for(request, &shared.cgi_paths, &shared.document_root) {
        let context = cgi::CgiContext {
            server_port: shared.port,
            server_name: shared.server_name.clone(),
            remote_addr: peer,
            https,
            server_version: shared.server_version.clone(),
        };
        return cgi::run(stream, request, script, &context).await;
    }
    static_files::serve(
        stream,
        request,
        &shared.document_root,
        &shared.server_version,
    )
    .await
}

async fn send_error<S: AsyncWrite + Unpin>(
    stream: &mut S,
    shared: &Shared,
    request: &HttpRequest,
    peer: SocketAddr,
    status: u16,
    message: Option<&str>,
) {
    let with_body = request.method != "HEAD";
    let page = send_error_bytes(status, message, None, &shared.server_version, with_body);
    log_error(peer, status, message);
    log_access(shared, peer, &request.request_line(), status);
    let _ = write_and_close(stream, &page).await;
}

async fn write_and_close<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await?;
    stream.shutdown().await
}

/// http.server's `log_error("code %d, message %s")`, at WARNING as upstream.
fn log_error(peer: SocketAddr, status: u16, message: Option<&str>) {
    let message = message.unwrap_or(status_phrase(status).map_or("???", |(phrase, _)| phrase));
    log::warn!(target: REQUEST_LOGGER, "{} - code {status}, message {message}", peer.ip());
}

/// http.server's `log_request`: `"GET /x HTTP/1.1" 404 -` at INFO; behind a trusted proxy
/// the client's address comes first (`203.0.113.7 - "GET /x HTTP/1.1" 404 -`).
fn log_access(shared: &Shared, client: SocketAddr, request_line: &str, status: u16) {
    if shared.trusted_proxies.is_empty() {
        log::info!(target: REQUEST_LOGGER, "\"{request_line}\" {status} -");
    } else {
        log::info!(target: REQUEST_LOGGER, "{} - \"{request_line}\" {status} -", client.ip());
    }
}

/// Turns the socket into a blocking one and hands it to the handler-thread starter.
fn hand_off(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    session: Option<rustls::ServerConnection>,
    mut request: HttpRequest,
    mut slot: Slot,
    peer: SocketAddr,
    peer_certificate: Option<Vec<u8>>,
) {
    let io = match tcp.into_std().and_then(|std_stream| {
        std_stream.set_nonblocking(false)?;
        let meta = ConnMeta {
            remote_addr: Some(peer),
            local_addr: (shared.server_name.clone(), shared.port),
            raw_lines: request.raw_lines.clone(),
            peer_certificate,
        };
        ConnIo::from_parts(
            std_stream,
            session,
            std::mem::take(&mut request.leftover),
            meta,
        )
    }) {
        Ok(io) => Arc::new(io),
        Err(e) => {
            log::warn!(target: SERVER_LOGGER, "cannot hand {peer} to a handler thread: {e}");
            return;
        }
    };
    io.set_write_coalescing(shared.settings().write_coalescing);
    slot.attach(Arc::clone(&io));
    io.set_on_finish(Box::new(move || drop(slot)));
    // Must not block: it queues the connection for a handler thread, which calls finish().
    (shared.handoff)(io, request);
}
