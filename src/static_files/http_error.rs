//! Error responses byte for byte like http.server's `send_error`, and the status phrases.

use std::sync::atomic::{AtomicBool, Ordering};

use super::httpdate;

/// CPython 3.13 renamed four phrases (RFC 9110); true when the server runs under 3.13+.
static RFC_9110_PHRASES: AtomicBool = AtomicBool::new(false);

/// Answers with the phrases of the CPython version the server runs under ("3.13.0").
pub fn use_phrases_of(python_version: &str) {
    let mut numbers = python_version
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    RFC_9110_PHRASES.store(version >= (3, 13), Ordering::Relaxed);
}

/// `(phrase, description)` of a status code, as `http.HTTPStatus` has them (CPython 3.11, or
/// 3.13 after `use_phrases_of`).
pub fn status_phrase(code: u16) -> Option<(&'static str, &'static str)> {
    if RFC_9110_PHRASES.load(Ordering::Relaxed) {
        match code {
            413 => return Some(("Content Too Large", "Content is too large")),
            414 => return Some(("URI Too Long", "URI is too long")),
            416 => return Some(("Range Not Satisfiable", "Cannot satisfy request range")),
            422 => return Some(("Unprocessable Content", "")),
            _ => {}
        }
    }
    let entry = match code {
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
        407 => ("Proxy Authentication Required", "You must authenticate with this proxy before proceeding"),
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
        428 => ("Precondition Required", "The origin server requires the request to be conditional"),
        429 => ("Too Many Requests", "The user has sent too many requests in a given amount of time (\"rate limiting\")"),
        431 => ("Request Header Fields Too Large", "The server is unwilling to process the request because its header fields are too large"),
        451 => ("Unavailable For Legal Reasons", "The server is denying access to the resource as a consequence of a legal demand"),
        500 => ("Internal Server Error", "Server got itself in trouble"),
        501 => ("Not Implemented", "Server does not support this operation"),
        502 => ("Bad Gateway", "Invalid responses from another server/proxy"),
        503 => ("Service Unavailable", "The server cannot process the request due to a high load"),
        504 => ("Gateway Timeout", "The gateway server did not receive a timely response"),
        505 => ("HTTP Version Not Supported", "Cannot fulfill request"),
        506 => ("Variant Also Negotiates", ""),
        507 => ("Insufficient Storage", ""),
        508 => ("Loop Detected", ""),
        510 => ("Not Extended", ""),
        511 => ("Network Authentication Required", "The client needs to authenticate to gain network access"),
        _ => return None,
    };
    Some(entry)
}

/// `html.escape(text, quote=False)`: the error page and directory listing escape only these.
pub fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The body template of http.server.DEFAULT_ERROR_MESSAGE, filled in.
fn error_page(code: u16, message: &str, explain: &str) -> String {
    format!(
        "<!DOCTYPE HTML>\n\
         <html lang=\"en\">\n    \
         <head>\n        \
         <meta charset=\"utf-8\">\n        \
         <title>Error response</title>\n    \
         </head>\n    \
         <body>\n        \
         <h1>Error response</h1>\n        \
         <p>Error code: {code}</p>\n        \
         <p>Message: {message}.</p>\n        \
         <p>Error code explanation: {code} - {explain}.</p>\n    \
         </body>\n\
         </html>\n",
        message = html_escape(message),
        explain = html_escape(explain),
    )
}

/// Latin-1 bytes of a header line value; characters outside Latin-1 become '?' (Python would
/// raise instead, which only drops the connection).
pub(crate) fn push_latin1(out: &mut Vec<u8>, text: &str) {
    out.extend(
        text.chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')),
    );
}

/// `HTTP/1.0 <code> <phrase>` plus the Server and Date headers every response starts with.
pub fn status_head(code: u16, phrase: &str, server_version: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(128);
    head.extend_from_slice(format!("HTTP/1.0 {code} ").as_bytes());
    push_latin1(&mut head, phrase);
    head.extend_from_slice(b"\r\nServer: ");
    push_latin1(&mut head, server_version);
    head.extend_from_slice(b"\r\nDate: ");
    head.extend_from_slice(httpdate::now().as_bytes());
    head.extend_from_slice(b"\r\n");
    head
}

/// The complete bytes http.server's `send_error(status, message)` writes for a GET.
pub fn error_response(status: u16, message: Option<&str>, server_version: &str) -> Vec<u8> {
    error_response_with(status, message, server_version, true)
}

/// Like [`error_response`]; `with_body` false gives what send_error writes for HEAD
/// (headers including Content-Length, no body).
pub fn error_response_with(
    status: u16,
    message: Option<&str>,
    server_version: &str,
    with_body: bool,
) -> Vec<u8> {
    send_error_bytes(status, message, None, server_version, with_body)
}

/// `send_error(status, message, explain)` in full: the one place error pages are made.
pub fn send_error_bytes(
    status: u16,
    message: Option<&str>,
    explain: Option<&str>,
    server_version: &str,
    with_body: bool,
) -> Vec<u8> {
    let (phrase, default_explain) = status_phrase(status).unwrap_or(("???", "???"));
    let explain = explain.unwrap_or(default_explain);
    let message = message.unwrap_or(phrase);
    // A reason phrase must stay on one line.
    let message: String = message
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    let mut response = status_head(status, &message, server_version);
    response.extend_from_slice(b"Connection: close\r\n");
    // No body for 1xx, 204, 205 and 304, as the stdlib does.
    let body = if status >= 200 && !matches!(status, 204 | 205 | 304) {
        Some(error_page(status, &message, explain).into_bytes())
    } else {
        None
    };
    if let Some(body) = &body {
        response.extend_from_slice(b"Content-Type: text/html;charset=utf-8\r\n");
        response.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    response.extend_from_slice(b"\r\n");
    if let (Some(body), true) = (body, with_body) {
        response.extend_from_slice(&body);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a response into (head lines without Date, body).
    fn parts(response: &[u8]) -> (Vec<String>, Vec<u8>) {
        let text = String::from_utf8_lossy(response).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("blank line");
        let lines = head
            .split("\r\n")
            .filter(|line| !line.starts_with("Date: "))
            .map(str::to_owned)
            .collect();
        (lines, body.as_bytes().to_vec())
    }

    #[test]
    fn not_found_matches_send_error() {
        let expected_body = "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        \
            <meta charset=\"utf-8\">\n        <title>Error response</title>\n    </head>\n    \
            <body>\n        <h1>Error response</h1>\n        <p>Error code: 404</p>\n        \
            <p>Message: File not found.</p>\n        \
            <p>Error code explanation: 404 - Nothing matches the given URI.</p>\n    \
            </body>\n</html>\n";
        let response = error_response(404, Some("File not found"), "SimpleHTTP/0.6 Python/3.11.7");
        let (lines, body) = parts(&response);
        assert_eq!(
            lines,
            [
                "HTTP/1.0 404 File not found",
                "Server: SimpleHTTP/0.6 Python/3.11.7",
                "Connection: close",
                "Content-Type: text/html;charset=utf-8",
                &format!("Content-Length: {}", expected_body.len()),
            ]
        );
        assert_eq!(body, expected_body.as_bytes());
        let date_line = String::from_utf8_lossy(&response)
            .split("\r\n")
            .nth(2)
            .map(str::to_owned);
        assert!(date_line.is_some_and(|line| line.starts_with("Date: ") && line.ends_with(" GMT")));
    }

    #[test]
    fn default_message_is_the_phrase_and_is_escaped() {
        let (lines, body) = parts(&error_response(403, None, "S"));
        assert_eq!(lines[0], "HTTP/1.0 403 Forbidden");
        let body = String::from_utf8(body).expect("utf-8");
        assert!(body.contains("<p>Message: Forbidden.</p>"));
        assert!(body.contains("403 - Request forbidden -- authorization will not help."));
        let (_, body) = parts(&error_response(400, Some("<b>&"), "S"));
        assert!(String::from_utf8_lossy(&body).contains("Message: &lt;b&gt;&amp;."));
    }

    #[test]
    fn unknown_code_and_bodyless_codes() {
        let (lines, body) = parts(&error_response(599, None, "S"));
        assert_eq!(lines[0], "HTTP/1.0 599 ???");
        assert!(String::from_utf8_lossy(&body).contains("599 - ???."));
        let (lines, body) = parts(&error_response(304, None, "S"));
        assert_eq!(
            lines,
            [
                "HTTP/1.0 304 Not Modified",
                "Server: S",
                "Connection: close"
            ]
        );
        assert!(body.is_empty());
    }

    #[test]
    fn head_request_has_length_but_no_body() {
        let response = error_response_with(404, Some("File not found"), "S", false);
        let (lines, body) = parts(&response);
        assert!(lines
            .iter()
            .any(|line| line.starts_with("Content-Length: ")));
        assert!(body.is_empty());
    }

    /// What CPython's own send_error writes, Date line removed.
    fn python_send_error(code: u16, message: Option<&str>, command: &str) -> Vec<u8> {
        let script = "import io, sys, http.server as s\n\
            h = object.__new__(s.BaseHTTPRequestHandler)\n\
            h.request_version, h.command, h.requestline = 'HTTP/1.1', sys.argv[3], ''\n\
            h.wfile = io.BytesIO()\n\
            h.log_message = lambda *a: None\n\
            h.version_string = lambda: 'S'\n\
            h.date_time_string = lambda: 'D'\n\
            h.send_error(int(sys.argv[1]), sys.argv[2] or None)\n\
            sys.stdout.buffer.write(h.wfile.getvalue())\n";
        let output = std::process::Command::new("python3")
            .args([
                "-c",
                script,
                &code.to_string(),
                message.unwrap_or(""),
                command,
            ])
            .output()
            .expect("python3 runs");
        assert!(output.status.success(), "{output:?}");
        output.stdout
    }

    fn without_date(response: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(response);
        let mut lines: Vec<&str> = text.split("\r\n").collect();
        lines.retain(|line| !line.starts_with("Date: "));
        lines.join("\r\n").into_bytes()
    }

    #[test]
    fn byte_for_byte_like_cpython() {
        let cases: &[(u16, Option<&str>)] = &[
            (404, Some("File not found")),
            (403, None),
            (400, Some("Bad request version ('HTTP/9') & <more>")),
            (431, None),
            (501, Some("Unsupported method ('PUT')")),
            (503, None),
            (304, None),
            (599, None),
        ];
        for (code, message) in cases {
            let ours = without_date(&error_response(*code, *message, "S"));
            let theirs = without_date(&python_send_error(*code, *message, "GET"));
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
            let ours = without_date(&error_response_with(*code, *message, "S", false));
            let theirs = without_date(&python_send_error(*code, *message, "HEAD"));
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
        }
    }

    #[test]
    fn phrases_follow_the_python_version() {
        // Only the four renamed codes differ, so tests running meanwhile are unaffected.
        use_phrases_of("3.13.0");
        assert_eq!(
            status_phrase(414),
            Some(("URI Too Long", "URI is too long"))
        );
        assert_eq!(status_phrase(413).map(|p| p.0), Some("Content Too Large"));
        assert_eq!(status_phrase(404).map(|p| p.0), Some("Not Found"));
        use_phrases_of("3.11.7");
        assert_eq!(
            status_phrase(414).map(|p| p.0),
            Some("Request-URI Too Long")
        );
        use_phrases_of("3.9");
        assert_eq!(
            status_phrase(422).map(|p| p.0),
            Some("Unprocessable Entity")
        );
    }

    #[test]
    fn phrases_used_by_the_server() {
        for (code, phrase) in [
            (400, "Bad Request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (431, "Request Header Fields Too Large"),
            (501, "Not Implemented"),
            (503, "Service Unavailable"),
        ] {
            assert_eq!(status_phrase(code).map(|p| p.0), Some(phrase));
        }
    }
}
