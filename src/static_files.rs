//! Static files from the document root, answering like http.server's SimpleHTTPRequestHandler
//! (HTTP/1.0, one request per connection): files, index.html, directory listings, 301 for a
//! directory without its slash, If-Modified-Since, and send_error pages.

pub mod http_error;
pub mod httpdate;
mod listing;
pub mod mime;
pub mod path;

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::http_head::HttpRequest;
pub use http_error::{error_response, error_response_with, html_escape, status_phrase};

/// Python logger name of the original's request handler (log_error goes there).
pub const LOG_TARGET: &str = "pywebsocket3.request_handler.WebSocketRequestHandler";

/// Size of one read from a file while streaming it out.
const CHUNK_SIZE: usize = 64 * 1024;

/// Serve a GET or HEAD from `document_root`; other methods get 501. Returns the status sent.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: &mut S,
    req: &HttpRequest,
    document_root: &Path,
    server_version: &str,
) -> io::Result<u16> {
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        let message = if req.method == "POST" {
            "Can only POST to CGI scripts".to_owned()
        } else {
            format!("Unsupported method ({})", python_repr(&req.method))
        };
        return send_error(stream, 501, &message, server_version, false).await;
    }
    let target = collapse_leading_slashes(&req.target);
    let mut file_path = path::translate_path(target, document_root);
    if is_dir(&file_path).await {
        let (url_path, rest) = target.split_at(path::path_part(target).len());
        if !url_path.ends_with('/') {
            return redirect_to_slash(stream, url_path, rest, server_version).await;
        }
        match find_index(&file_path).await {
            Some(index) => file_path = index,
            None => {
                return send_listing(stream, target, file_path, server_version, head_only).await
            }
        }
    }
    if file_path.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return send_error(stream, 404, "File not found", server_version, head_only).await;
    }
    let Some((file, metadata)) = open_regular_file(&file_path).await else {
        return send_error(stream, 404, "File not found", server_version, head_only).await;
    };
    let modified = metadata.modified().ok().map(httpdate::unix_seconds);
    if let Some(modified) = modified {
        if not_modified_since(req, modified) {
            let mut head = http_error::status_head(304, "Not Modified", server_version);
            head.extend_from_slice(b"\r\n");
            stream.write_all(&head).await?;
            stream.flush().await?;
            return Ok(304);
        }
    }
    let length = metadata.len();
    let mut head = http_error::status_head(200, "OK", server_version);
    head.extend_from_slice(b"Content-type: ");
    head.extend_from_slice(mime::guess_type(file_path.as_os_str().as_encoded_bytes()).as_bytes());
    head.extend_from_slice(format!("\r\nContent-Length: {length}\r\n").as_bytes());
    if let Some(modified) = modified {
        head.extend_from_slice(
            format!("Last-Modified: {}\r\n", httpdate::format(modified)).as_bytes(),
        );
    }
    head.extend_from_slice(b"\r\n");
    stream.write_all(&head).await?;
    if !head_only {
        copy_file(file, stream, length).await?;
    }
    stream.flush().await?;
    Ok(200)
}

/// `'PUT'` as Python's %r shows a method name (tokens never contain `"` or `\`).
fn python_repr(text: &str) -> String {
    if text.contains('\'') {
        format!("\"{text}\"")
    } else {
        format!("'{text}'")
    }
}

/// `//evil.example/x` becomes `/evil.example/x` so a redirect cannot leave the site (gh-87389).
pub(crate) fn collapse_leading_slashes(target: &str) -> &str {
    if target.starts_with("//") {
        &target[target.len() - target.trim_start_matches('/').len() - 1..]
    } else {
        target
    }
}

async fn is_dir(path: &Path) -> bool {
    tokio::fs::metadata(path)
        .await
        .is_ok_and(|meta| meta.is_dir())
}

async fn find_index(dir: &Path) -> Option<PathBuf> {
    for name in ["index.html", "index.htm"] {
        let candidate = dir.join(name);
        if tokio::fs::metadata(&candidate)
            .await
            .is_ok_and(|meta| meta.is_file())
        {
            return Some(candidate);
        }
    }
    None
}

/// Opens a regular file; anything else (missing, unreadable, a FIFO or device) is a miss.
async fn open_regular_file(path: &Path) -> Option<(tokio::fs::File, std::fs::Metadata)> {
    let file = tokio::fs::File::open(path).await.ok()?;
    let metadata = file.metadata().await.ok()?;
    metadata.is_file().then_some((file, metadata))
}

/// True when If-Modified-Since (without If-None-Match) is a UTC date not before `modified`.
fn not_modified_since(req: &HttpRequest, modified: i64) -> bool {
    if req.header("If-None-Match").is_some() {
        return false;
    }
    req.header("If-Modified-Since")
        .and_then(httpdate::parse)
        .is_some_and(|since| modified <= since)
}

/// Streams at most `length` bytes (the announced Content-Length) in bounded chunks.
async fn copy_file<S: AsyncWrite + Unpin>(
    mut file: tokio::fs::File,
    stream: &mut S,
    length: u64,
) -> io::Result<()> {
    let mut buffer = vec![0u8; CHUNK_SIZE];
    let mut remaining = length;
    while remaining > 0 {
        let want = usize::try_from(remaining).map_or(CHUNK_SIZE, |r| r.min(CHUNK_SIZE));
        let read = file.read(&mut buffer[..want]).await?;
        if read == 0 {
            break;
        }
        stream.write_all(&buffer[..read]).await?;
        remaining -= read as u64;
    }
    Ok(())
}

async fn redirect_to_slash<S: AsyncWrite + Unpin>(
    stream: &mut S,
    url_path: &str,
    rest: &str,
    server_version: &str,
) -> io::Result<u16> {
    // urlunsplit drops an empty query or fragment.
    let (query, fragment) = match rest.split_once('#') {
        Some((query, fragment)) => (query, fragment),
        None => (rest, ""),
    };
    let mut location = format!("{url_path}/");
    if query.len() > 1 {
        location.push_str(query);
    }
    if !fragment.is_empty() {
        location.push('#');
        location.push_str(fragment);
    }
    let mut head = http_error::status_head(301, "Moved Permanently", server_version);
    head.extend_from_slice(b"Location: ");
    http_error::push_latin1(&mut head, &location);
    head.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(&head).await?;
    stream.flush().await?;
    Ok(301)
}

async fn send_listing<S: AsyncWrite + Unpin>(
    stream: &mut S,
    target: &str,
    dir: PathBuf,
    server_version: &str,
    head_only: bool,
) -> io::Result<u16> {
    let display_path = String::from_utf8_lossy(&path::unquote(target)).into_owned();
    let listing = tokio::task::spawn_blocking(move || listing::render(&dir, &display_path))
        .await
        .map_err(io::Error::other)?;
    let Ok(body) = listing else {
        let message = "No permission to list directory";
        return send_error(stream, 404, message, server_version, head_only).await;
    };
    let mut head = http_error::status_head(200, "OK", server_version);
    head.extend_from_slice(b"Content-type: text/html; charset=utf-8\r\n");
    head.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    stream.write_all(&head).await?;
    if !head_only {
        stream.write_all(&body).await?;
    }
    stream.flush().await?;
    Ok(200)
}

/// Writes a send_error page and logs it like the original's log_error.
async fn send_error<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    message: &str,
    server_version: &str,
    head_only: bool,
) -> io::Result<u16> {
    log::warn!(target: LOG_TARGET, "code {status}, message {message}");
    let response = error_response_with(status, Some(message), server_version, !head_only);
    stream.write_all(&response).await?;
    stream.flush().await?;
    Ok(status)
}

#[cfg(test)]
mod tests;
