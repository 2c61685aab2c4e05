//! CGI scripts under the `-x/--cgi-paths` prefixes, like pywebsocket's is_cgi on top of
//! http.server's CGIHTTPRequestHandler, run with tokio::process.
//!
//! Deliberate differences from the stdlib: the script keeps the server's uid (the stdlib
//! switches to `nobody` when running as root, which broke upstream's test_cgi); the request
//! body is copied from the socket by the server (bounded), not handed over as the raw socket;
//! a script that cannot be started gets a 500 page instead of an empty 200; other request
//! headers are passed as HTTP_* variables.

mod env;

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, Command};

use crate::http_head::HttpRequest;
use crate::static_files::{self, http_error, path};
pub use env::build_env;

/// Bytes moved per read between the client, the script's stdin and its stdout.
const CHUNK_SIZE: usize = 64 * 1024;
/// Longest stderr line logged as one record; longer lines are split.
const MAX_STDERR_LINE: usize = 4096;

/// A request that maps to an executable script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiScript {
    /// The file to execute.
    pub script_path: PathBuf,
    /// SCRIPT_NAME: the decoded URL path of the script.
    pub script_name: String,
    /// PATH_INFO before decoding (empty: the whole path must name the file).
    pub path_info: String,
    /// QUERY_STRING as sent.
    pub query: String,
    /// Absolute document root, for PATH_TRANSLATED.
    pub document_root: PathBuf,
}

/// What the script learns about the server and the client.
#[derive(Debug, Clone)]
pub struct CgiContext {
    pub server_port: u16,
    pub server_name: String,
    pub remote_addr: SocketAddr,
    pub https: bool,
    pub server_version: String,
}

/// `_url_collapse_path` of http.server: `.`, `..` and empty segments resolved in the decoded
/// path; None when `..` climbs above the root (the stdlib raises IndexError there).
fn collapse_path(decoded: &str) -> Option<String> {
    let segments: Vec<&str> = decoded.split('/').collect();
    let (tail, head) = segments.split_last()?;
    let mut kept: Vec<&str> = Vec::new();
    for segment in head {
        match *segment {
            ".." => {
                kept.pop()?;
            }
            "" | "." => {}
            other => kept.push(other),
        }
    }
    let tail = match *tail {
        ".." => {
            kept.pop()?;
            ""
        }
        "." => "",
        other => other,
    };
    // Like the stdlib, a top-level name comes out as `//name`.
    Some(format!("/{}/{}", kept.join("/"), tail))
}

/// The script a request runs, if its path is under one of `cgi_paths` and names an
/// executable regular file; otherwise None and the request is served as a static file.
/// Does one blocking stat of the candidate file (only for paths under `cgi_paths`).
pub fn script_for(
    req: &HttpRequest,
    cgi_paths: &[String],
    document_root: &Path,
) -> Option<CgiScript> {
    let target = static_files::collapse_leading_slashes(&req.target);
    // pywebsocket refuses any '..' anywhere in the target, query included.
    if target.contains("..") {
        return None;
    }
    let target = target.split('#').next().unwrap_or("");
    let (raw_path, query) = target.split_once('?').unwrap_or((target, ""));
    let decoded = String::from_utf8_lossy(&path::unquote(raw_path)).into_owned();
    let collapsed = collapse_path(&decoded)?;
    let in_cgi_dir = collapsed
        .match_indices('/')
        .skip(1)
        .any(|(sep, _)| cgi_paths.iter().any(|prefix| *prefix == collapsed[..sep]));
    if !in_cgi_dir {
        return None;
    }
    let script_path = path::translate_path(raw_path, document_root);
    let metadata = std::fs::metadata(&script_path).ok()?;
    // os.access(X_OK) approximated by the mode bits: no libc call without `unsafe`.
    if !metadata.is_file() || metadata.permissions().mode() & 0o111 == 0 {
        return None;
    }
    let script_name = match collapsed.strip_prefix('/') {
        Some(rest) if rest.starts_with('/') => rest.to_owned(),
        _ => collapsed,
    };
    Some(CgiScript {
        script_path,
        script_name,
        path_info: String::new(),
        query: query.to_owned(),
        document_root: std::path::absolute(document_root).unwrap_or_else(|_| document_root.into()),
    })
}

/// Runs `script` for `req`: `HTTP/1.0 200 Script output follows`, Server and Date, then the
/// script's output as it comes. The body (Content-Length) goes to the script's stdin.
/// A client that goes away gets the script killed. Returns the status sent.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: &mut S,
    req: &HttpRequest,
    script: CgiScript,
    ctx: &CgiContext,
) -> io::Result<u16> {
    let mut child = match spawn(req, &script, ctx).await {
        Ok(child) => child,
        Err(err) => {
            log::error!(target: static_files::LOG_TARGET,
                "CGI script {} could not be started: {err}", script.script_name);
            let response = http_error::error_response(500, None, &ctx.server_version);
            stream.write_all(&response).await?;
            stream.flush().await?;
            return Ok(500);
        }
    };
    let head = http_error::status_head(200, "Script output follows", &ctx.server_version);
    if let Err(err) = stream.write_all(&head).await {
        kill(&mut child).await;
        return Err(err);
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(log_stderr(stderr, script.script_name.clone()));
    }
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let content_length = req
        .header("Content-Length")
        .and_then(|value| value.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let (mut client_in, mut client_out) = tokio::io::split(&mut *stream);
    let finished = tokio::select! {
        result = copy_output(stdout, &mut client_out) => result,
        gone = feed_input(&mut client_in, &req.leftover, content_length, stdin) => Err(gone),
    };
    match finished {
        Ok(()) => {
            let status = child.wait().await?;
            if !status.success() {
                log::warn!(target: static_files::LOG_TARGET,
                    "CGI script exit code {}", exit_code(status));
            }
            Ok(200)
        }
        Err(err) => {
            log::info!(target: static_files::LOG_TARGET,
                "client of CGI script {} went away ({err}); killing it", script.script_name);
            kill(&mut child).await;
            Err(err)
        }
    }
}

/// `os.waitstatus_to_exitcode`: the exit code, or minus the signal number.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| -signal))
        .unwrap_or(-1)
}

async fn kill(child: &mut Child) {
    if child.start_kill().is_ok() {
        let _ = child.wait().await;
    }
}

async fn spawn(req: &HttpRequest, script: &CgiScript, ctx: &CgiContext) -> io::Result<Child> {
    let name = script.script_name.rsplit('/').next().unwrap_or_default();
    let decoded_query = script.query.replace('+', " ");
    let mut command = Command::new(&script.script_path);
    command
        .arg0(name)
        .envs(build_env(req, script, ctx))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Like the stdlib: a query without '=' is also passed as the one argument.
    if !decoded_query.contains('=') {
        command.arg(decoded_query);
    }
    if let Some(dir) = script.script_path.parent() {
        command.current_dir(dir);
    }
    let mut attempts = 0;
    loop {
        match command.spawn() {
            // ETXTBSY: another thread forked while the script was open for writing.
            Err(err) if err.kind() == io::ErrorKind::ExecutableFileBusy && attempts < 5 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// Script stdout to the client; Err only when the client cannot be written to.
async fn copy_output<W: AsyncWrite + Unpin>(
    stdout: Option<tokio::process::ChildStdout>,
    client: &mut W,
) -> io::Result<()> {
    let Some(mut stdout) = stdout else {
        return Ok(());
    };
    let mut buffer = vec![0u8; CHUNK_SIZE];
    loop {
        let read = match stdout.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        client.write_all(&buffer[..read]).await?;
        client.flush().await?;
    }
    client.flush().await
}

/// Request body to the script's stdin, then watches the client; returns only when the
/// client connection fails (a half-close after the request is not a failure).
async fn feed_input<R: AsyncRead + Unpin>(
    client: &mut R,
    leftover: &[u8],
    content_length: u64,
    mut stdin: Option<ChildStdin>,
) -> io::Error {
    let prefix = usize::try_from(content_length).map_or(leftover.len(), |n| n.min(leftover.len()));
    write_stdin(&mut stdin, &leftover[..prefix]).await;
    let mut remaining = content_length - prefix as u64;
    let mut buffer = vec![0u8; CHUNK_SIZE];
    while remaining > 0 {
        let want = usize::try_from(remaining).map_or(CHUNK_SIZE, |n| n.min(CHUNK_SIZE));
        match client.read(&mut buffer[..want]).await {
            Ok(0) => break,
            Ok(read) => {
                write_stdin(&mut stdin, &buffer[..read]).await;
                remaining -= read as u64;
            }
            Err(err) => return err,
        }
    }
    // EOF on the script's stdin.
    drop(stdin);
    // Anything more the client sends is thrown away, as the stdlib does.
    loop {
        match client.read(&mut buffer).await {
            Ok(0) => std::future::pending::<()>().await,
            Ok(_) => {}
            Err(err) => return err,
        }
    }
}

/// Writes to the script's stdin; a script that stops reading just stops getting the body.
async fn write_stdin(stdin: &mut Option<ChildStdin>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    if let Some(pipe) = stdin {
        if pipe.write_all(data).await.is_err() {
            *stdin = None;
        }
    }
}

/// Logs the script's stderr line by line (lines longer than the bound are split).
async fn log_stderr(mut stderr: ChildStderr, script_name: String) {
    let mut pending: Vec<u8> = Vec::with_capacity(256);
    let mut buffer = vec![0u8; MAX_STDERR_LINE];
    loop {
        let read = match stderr.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        pending.extend_from_slice(&buffer[..read]);
        loop {
            let end = match memchr::memchr(b'\n', &pending) {
                Some(newline) => newline + 1,
                None if pending.len() >= MAX_STDERR_LINE => MAX_STDERR_LINE,
                None => break,
            };
            let line: Vec<u8> = pending.drain(..end).collect();
            log_line(&script_name, &line);
        }
    }
    if !pending.is_empty() {
        log_line(&script_name, &pending);
    }
}

fn log_line(script_name: &str, line: &[u8]) {
    let text = String::from_utf8_lossy(line);
    log::warn!(target: static_files::LOG_TARGET, "{script_name}: {}", text.trim_end());
}

#[cfg(test)]
mod tests;
