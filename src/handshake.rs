//! Byte-exact pieces of the handshake and of http.server's responses: the accept key,
//! `send_error` pages, the 401 of basic auth. Pure Rust apart from `register`.

use base64::Engine as _;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sha1::{Digest, Sha1};

use crate::static_files::http_error::{error_response, status_head};

const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// base64(SHA-1(key + GUID)), RFC 6455 section 4.2.2.
pub fn compute_accept(key: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(key);
    hasher.update(WEBSOCKET_GUID);
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

/// `Server:` value of http.server's SimpleHTTPRequestHandler for a Python version.
pub fn server_version(python_version: &str) -> String {
    format!("SimpleHTTP/0.6 Python/{python_version}")
}

/// The 401 of `--basic-auth`: no body, not even a Content-Length.
pub fn basic_auth_challenge(server_version: &str) -> Vec<u8> {
    let mut out = status_head(401, "Unauthorized", server_version);
    out.extend_from_slice(b"WWW-Authenticate: Basic realm=\"Pywebsocket\"\r\n\r\n");
    out
}

/// The running interpreter's version, e.g. '3.11.7' (the `Python/x.y.z` of `Server:`).
pub fn python_version(py: Python<'_>) -> PyResult<String> {
    let version: String = py.import("sys")?.getattr("version")?.extract()?;
    Ok(version
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

#[pyfunction(name = "compute_accept")]
fn py_compute_accept<'py>(py: Python<'py>, key: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, compute_accept(key).as_bytes())
}

#[pyfunction(name = "http_error_response")]
#[pyo3(signature = (status, message=None))]
fn py_http_error_response<'py>(
    py: Python<'py>,
    status: u16,
    message: Option<&str>,
) -> PyResult<Bound<'py, PyBytes>> {
    let python = python_version(py)?;
    crate::static_files::http_error::use_phrases_of(&python);
    let version = server_version(&python);
    Ok(PyBytes::new(py, &error_response(status, message, &version)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_compute_accept, m)?)?;
    m.add_function(wrap_pyfunction!(py_http_error_response, m)?)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_from_rfc6455() {
        assert_eq!(
            compute_accept(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn basic_auth_challenge_has_no_body() {
        let text = String::from_utf8(basic_auth_challenge("S")).unwrap();
        assert!(text.starts_with("HTTP/1.0 401 Unauthorized\r\nServer: S\r\nDate: "));
        assert!(text.ends_with("\r\nWWW-Authenticate: Basic realm=\"Pywebsocket\"\r\n\r\n"));
        assert!(!text.contains("Content-Length"));
    }
}
