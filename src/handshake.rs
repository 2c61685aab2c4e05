//! Byte-exact pieces of the handshake and of http.server's responses: the accept key,
//! `send_error` pages, the 401 of basic auth. Pure Rust apart from `register`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sha1::{Digest, Sha1};

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

/// `BaseHTTPRequestHandler.responses`: (phrase, explanation) as CPython 3.11 has them.
pub fn status_texts(status: u16) -> (&'static str, &'static str) {
    match status {
        100 => ("Continue", "Request received, please continue"),
        101 => ("Switching Protocols", "Switching to new protocol; obey Upgrade header"),
        102 => ("Processing", ""),
        103 => ("Early Hints", ""),
        200 => ("OK", "Request fulfilled, document follows"),
        201 => ("Created", "Document created, URL follows"),
        202 => ("Accepted", "Request accepted, processing continues off-line"),
        203 => ("Non-Authoritative Information", "Request fulfilled from cache"),
        204 => ("No Content", "Request fulfilled, nothing follows"),
        205 => ("Reset Content", "Clear input form for further input"),
        206 => ("Partial Content", "Partial content follows"),
        207 => ("Multi-Status", ""),
        208 => ("Already Reported", ""),
        226 => ("IM Used", ""),
        300 => ("Multiple Choices", "Object has several resources -- see URI list"),
        301 => ("Moved Permanently", "Object moved permanently -- see URI list"),
        302 => ("Found", "Object moved temporarily -- see URI list"),
        303 => ("See Other", "Object moved -- see Method and URL list"),
        304 => ("Not Modified", "Document has not changed since given time"),
        305 => ("Use Proxy", "You must use proxy specified in Location to access this resource"),
        307 => ("Temporary Redirect", "Object moved temporarily -- see URI list"),
        308 => ("Permanent Redirect", "Object moved permanently -- see URI list"),
        400 => ("Bad Request", "Bad request syntax or unsupported method"),
        401 => ("Unauthorized", "No permission -- see authorization schemes"),
        402 => ("Payment Required", "No payment -- see charging schemes"),
        403 => ("Forbidden", "Request forbidden -- authorization will not help"),
        404 => ("Not Found", "Nothing matches the given URI"),
        405 => ("Method Not Allowed", "Specified method is invalid for this resource"),
        406 => ("Not Acceptable", "URI not available in preferred format"),
        407 => (
            "Proxy Authentication Required",
            "You must authenticate with this proxy before proceeding",
        ),
        408 => ("Request Timeout", "Request timed out; try again later"),
        409 => ("Conflict", "Request conflict"),
        410 => ("Gone", "URI no longer exists and has been permanently removed"),
        411 => ("Length Required", "Client must specify Content-Length"),
        412 => ("Precondition Failed", "Precondition in headers is false"),
        413 => ("Request Entity Too Large", "Entity is too large"),
        414 => ("Request-URI Too Long", "URI is too long"),
        415 => ("Unsupported Media Type", "Entity body in unsupported format"),
        416 => ("Requested Range Not Satisfiable", "Cannot satisfy request range"),
        417 => ("Expectation Failed", "Expect condition could not be satisfied"),
        418 => ("I'm a Teapot", "Server refuses to brew coffee because it is a teapot."),
        421 => ("Misdirected Request", "Server is not able to produce a response"),
        422 => ("Unprocessable Entity", ""),
        423 => ("Locked", ""),
        424 => ("Failed Dependency", ""),
        425 => ("Too Early", ""),
        426 => ("Upgrade Required", ""),
        428 => (
            "Precondition Required",
            "The origin server requires the request to be conditional",
        ),
        429 => (
            "Too Many Requests",
            "The user has sent too many requests in a given amount of time (\"rate limiting\")",
        ),
        431 => (
            "Request Header Fields Too Large",
            "The server is unwilling to process the request because its header fields are too large",
        ),
        451 => (
            "Unavailable For Legal Reasons",
            "The server is denying access to the resource as a consequence of a legal demand",
        ),
        500 => ("Internal Server Error", "Server got itself in trouble"),
        501 => ("Not Implemented", "Server does not support this operation"),
        502 => ("Bad Gateway", "Invalid responses from another server/proxy"),
        503 => (
            "Service Unavailable",
            "The server cannot process the request due to a high load",
        ),
        504 => ("Gateway Timeout", "The gateway server did not receive a timely response"),
        505 => ("HTTP Version Not Supported", "Cannot fulfill request"),
        506 => ("Variant Also Negotiates", ""),
        507 => ("Insufficient Storage", ""),
        508 => ("Loop Detected", ""),
        510 => ("Not Extended", ""),
        511 => (
            "Network Authentication Required",
            "The client needs to authenticate to gain network access",
        ),
        _ => ("???", "???"),
    }
}

/// An error page exactly as `BaseHTTPRequestHandler.send_error(status, message, explain)`.
pub struct ErrorPage<'a> {
    pub status: u16,
    pub message: Option<&'a str>,
    pub explain: Option<&'a str>,
    pub server_version: &'a str,
    /// HEAD requests get the headers without the body.
    pub head_request: bool,
}

impl ErrorPage<'_> {
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_at(SystemTime::now())
    }

    pub fn to_bytes_at(&self, now: SystemTime) -> Vec<u8> {
        let (short, long) = status_texts(self.status);
        let message = self.message.unwrap_or(short);
        let explain = self.explain.unwrap_or(long);
        let mut out = status_head(self.status, message, self.server_version, now);
        out.extend_from_slice(b"Connection: close\r\n");
        let has_body = self.status >= 200 && !matches!(self.status, 204 | 205 | 304);
        let mut body = Vec::new();
        if has_body {
            body = format!(
                "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n        \
                 <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n        \
                 <p>Error code: {code}</p>\n        <p>Message: {message}.</p>\n        \
                 <p>Error code explanation: {code} - {explain}.</p>\n    </body>\n</html>\n",
                code = self.status,
                message = html_escape(message),
                explain = html_escape(explain),
            )
            .into_bytes();
            out.extend_from_slice(b"Content-Type: text/html;charset=utf-8\r\n");
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if !self.head_request {
            out.extend_from_slice(&body);
        }
        out
    }
}

/// `send_response(status)` + `Server` + `Date`, without the blank line; latin-1 as http.server.
pub fn status_head(status: u16, message: &str, server_version: &str, now: SystemTime) -> Vec<u8> {
    let text = format!(
        "HTTP/1.0 {status} {message}\r\nServer: {server_version}\r\nDate: {}\r\n",
        http_date(now)
    );
    text.chars()
        .map(|c| if (c as u32) < 256 { c as u8 } else { b'?' })
        .collect()
}

/// The 401 of `--basic-auth`: no body, not even a Content-Length.
pub fn basic_auth_challenge(server_version: &str, now: SystemTime) -> Vec<u8> {
    let mut out = status_head(401, "Unauthorized", server_version, now);
    out.extend_from_slice(b"WWW-Authenticate: Basic realm=\"Pywebsocket\"\r\n\r\n");
    out
}

/// `html.escape(s, quote=False)`.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// RFC 7231 IMF-fixdate, as `email.utils.formatdate(usegmt=True)`.
pub fn http_date(now: SystemTime) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let (year, month, day) = civil_from_days(days);
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!(
        "{weekday}, {day:02} {month_name} {year:04} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's civil calendar algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
    let version = server_version(&python_version(py)?);
    let page = ErrorPage {
        status,
        message,
        explain: None,
        server_version: &version,
        head_request: false,
    };
    Ok(PyBytes::new(py, &page.to_bytes()))
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
    use std::time::Duration;

    #[test]
    fn accept_key_from_rfc6455() {
        assert_eq!(
            compute_accept(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn dates_match_formatdate() {
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(http_date(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(at(1_796_042_225)),
            "Mon, 30 Nov 2026 12:37:05 GMT"
        );
        assert_eq!(http_date(at(951_782_400)), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn error_page_is_send_error() {
        let page = ErrorPage {
            status: 404,
            message: Some("File <not> found"),
            explain: None,
            server_version: "SimpleHTTP/0.6 Python/3.11.7",
            head_request: false,
        };
        let bytes = page.to_bytes_at(UNIX_EPOCH);
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(
            head,
            "HTTP/1.0 404 File <not> found\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\n\
             Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nConnection: close\r\n\
             Content-Type: text/html;charset=utf-8\r\nContent-Length: 343"
        );
        assert_eq!(body.len(), 343);
        assert!(body.contains("<p>Message: File &lt;not&gt; found.</p>"));
        assert!(body.contains("Error code explanation: 404 - Nothing matches the given URI."));
    }

    #[test]
    fn head_requests_and_bodyless_statuses() {
        let mut page = ErrorPage {
            status: 400,
            message: None,
            explain: None,
            server_version: "S",
            head_request: true,
        };
        let bytes = page.to_bytes_at(UNIX_EPOCH);
        assert!(bytes.ends_with(b"\r\n\r\n"));
        page.status = 304;
        page.head_request = false;
        let text = String::from_utf8(page.to_bytes_at(UNIX_EPOCH)).unwrap();
        assert!(!text.contains("Content-Length"));
    }
}
