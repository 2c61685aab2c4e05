//! The HTTP/1.x request head: read with a size limit and a deadline, parsed once.
//!
//! Parsing follows `http.server.BaseHTTPRequestHandler.parse_request` and
//! `http.client.parse_headers` (line oriented, latin-1, the same statuses and messages), but the
//! whole head is bounded: no more than `max_bytes` are ever buffered.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// A parsed request head, shared by WebSocket routing, static files and CGI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// The request target as sent (absolute `ws://` targets reduced by routing).
    pub target: String,
    /// 'HTTP/1.1' or 'HTTP/1.0'.
    pub version: String,
    /// In order, original case, duplicates kept.
    pub headers: Vec<(String, String)>,
    /// Request line and header lines with their line endings (memorized lines).
    pub raw_lines: Vec<Vec<u8>>,
    /// Bytes that arrived after the blank line (start of a body or of WebSocket frames).
    pub leftover: Vec<u8>,
}

impl HttpRequest {
    /// A request built in tests: HTTP/1.1, no raw lines.
    #[cfg(test)]
    pub fn for_test(
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        leftover: &[u8],
    ) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            target: target.into(),
            version: "HTTP/1.1".into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            raw_lines: Vec::new(),
            leftover: leftover.to_vec(),
        }
    }

    /// First value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request line as http.server logs it (line ending removed).
    pub fn request_line(&self) -> String {
        self.raw_lines
            .first()
            .map(|l| latin1(l).trim_end_matches(['\r', '\n']).to_string())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// The whole head (request line, headers, blank line).
    pub max_bytes: usize,
    /// Header lines, as http.client's `_MAXHEADERS`.
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_bytes: 64 * 1024,
            max_headers: 100,
        }
    }
}

/// Why no request came out of the head.
#[derive(Debug)]
pub enum HeadError {
    /// Answer with http.server's `send_error(status, message, explain)` and close.
    Respond {
        status: u16,
        message: Option<String>,
        explain: Option<String>,
        request_line: String,
    },
    /// Close without answering (EOF before a full head, a blank request line).
    Silent,
    Io(io::Error),
}

impl HeadError {
    fn respond(status: u16, message: Option<String>, explain: Option<&str>, line: &str) -> Self {
        HeadError::Respond {
            status,
            message,
            explain: explain.map(str::to_string),
            request_line: line.to_string(),
        }
    }
}

/// Incremental head parser: feed it bytes in any chunks, get the same result.
#[derive(Debug)]
pub struct HeadParser {
    limits: HeadLimits,
    buf: Vec<u8>,
    /// Start of the line not yet complete.
    line_start: usize,
    request: HttpRequest,
    seen_any: bool,
}

impl HeadParser {
    pub fn new(limits: HeadLimits) -> Self {
        HeadParser {
            limits,
            buf: Vec::with_capacity(1024.min(limits.max_bytes)),
            line_start: 0,
            request: HttpRequest::default(),
            seen_any: false,
        }
    }

    /// Feed the next bytes; `Ok(Some(_))` once the blank line has been seen.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<HttpRequest>, HeadError> {
        if !data.is_empty() {
            self.seen_any = true;
        }
        let room = self.limits.max_bytes.saturating_sub(self.buf.len());
        let taken = room.min(data.len());
        self.buf.extend_from_slice(&data[..taken]);
        while let Some(offset) = memchr::memchr(b'\n', &self.buf[self.line_start..]) {
            let end = self.line_start + offset + 1;
            let line = self.buf[self.line_start..end].to_vec();
            self.line_start = end;
            if self.take_line(line)? {
                let mut request = std::mem::take(&mut self.request);
                request.leftover = self.buf[end..].to_vec();
                request.leftover.extend_from_slice(&data[taken..]);
                return Ok(Some(request));
            }
        }
        if self.buf.len() >= self.limits.max_bytes {
            return Err(self.too_large());
        }
        Ok(None)
    }

    /// The peer closed before the head was complete.
    pub fn eof(&self) -> HeadError {
        HeadError::Silent
    }

    fn too_large(&self) -> HeadError {
        if self.request.raw_lines.is_empty() {
            HeadError::respond(414, None, None, "")
        } else {
            HeadError::respond(431, None, None, &self.request.request_line())
        }
    }

    /// Returns true when `line` was the blank line ending the head.
    fn take_line(&mut self, line: Vec<u8>) -> Result<bool, HeadError> {
        if self.request.raw_lines.is_empty() {
            self.parse_request_line(&line)?;
            self.request.raw_lines.push(line);
            return Ok(false);
        }
        if line == b"\r\n" || line == b"\n" {
            return Ok(true);
        }
        let request_line = self.request.request_line();
        if self.request.raw_lines.len() > self.limits.max_headers {
            let explain = format!("got more than {} headers", self.limits.max_headers);
            return Err(HeadError::respond(
                431,
                Some("Too many headers".into()),
                Some(&explain),
                &request_line,
            ));
        }
        let text = latin1(&line);
        if text.starts_with([' ', '\t']) {
            // obs-fold: the raw continuation line joins the previous value, as email's compat32.
            match self.request.headers.last_mut() {
                Some((_, value)) => {
                    value.push_str("\r\n");
                    value.push_str(text.trim_end_matches(['\r', '\n']));
                }
                None => return Err(bad_header(&request_line)),
            }
        } else {
            let (name, value) = text
                .split_once(':')
                .ok_or_else(|| bad_header(&request_line))?;
            if name.is_empty() || !name.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                return Err(bad_header(&request_line));
            }
            let value = value
                .trim_start_matches([' ', '\t'])
                .trim_end_matches(['\r', '\n']);
            self.request
                .headers
                .push((name.to_string(), value.to_string()));
        }
        self.request.raw_lines.push(line);
        Ok(false)
    }

    fn parse_request_line(&mut self, raw: &[u8]) -> Result<(), HeadError> {
        let line = latin1(raw);
        let line = line.trim_end_matches(['\r', '\n']);
        let words: Vec<&str> = line.split(is_py_space).filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            return Err(HeadError::Silent);
        }
        let mut version = "HTTP/0.9".to_string();
        if words.len() >= 3 {
            let candidate = words[words.len() - 1];
            let Some(numbers) = parse_version(candidate) else {
                let message = format!("Bad request version ({})", py_repr(candidate));
                return Err(HeadError::respond(400, Some(message), None, line));
            };
            if numbers.0 >= 2 {
                let base = &candidate["HTTP/".len()..];
                let message = format!("Invalid HTTP version ({base})");
                return Err(HeadError::respond(505, Some(message), None, line));
            }
            version = candidate.to_string();
        }
        if !(2..=3).contains(&words.len()) {
            let message = format!("Bad request syntax ({})", py_repr(line));
            return Err(HeadError::respond(400, Some(message), None, line));
        }
        if words.len() == 2 && words[0] != "GET" {
            let message = format!("Bad HTTP/0.9 request type ({})", py_repr(words[0]));
            return Err(HeadError::respond(400, Some(message), None, line));
        }
        let mut target = words[1].to_string();
        if target.starts_with("//") {
            // gh-87389, as http.server: never let '//host' look like a scheme-relative URI.
            target = format!("/{}", target.trim_start_matches('/'));
        }
        self.request.method = words[0].to_string();
        self.request.target = target;
        self.request.version = version;
        Ok(())
    }
}

fn bad_header(request_line: &str) -> HeadError {
    HeadError::respond(400, Some("Bad header line".into()), None, request_line)
}

/// `HTTP/<digits>.<digits>` with components of at most 10 digits, as http.server checks.
fn parse_version(word: &str) -> Option<(u64, u64)> {
    let rest = word.strip_prefix("HTTP/")?;
    let (major, minor) = rest.split_once('.')?;
    let valid = |s: &str| !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit());
    if !valid(major) || !valid(minor) {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Whitespace as Python's `str.split()` sees it, for latin-1 text.
fn is_py_space(c: char) -> bool {
    matches!(c, '\t'..='\r' | '\x1c'..=' ' | '\u{85}' | '\u{a0}')
}

pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// Python's `repr()` of a latin-1 string, for error messages that quote the request.
pub fn py_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c if (c as u32) > 0xa0 && c != '\u{ad}' => out.push(c),
            c => out.push_str(&format!("\\x{:02x}", c as u32)),
        }
    }
    out.push(quote);
    out
}

/// Read one request head. The caller bounds the whole call with the handshake timeout.
pub async fn read_head<R: AsyncRead + Unpin>(
    reader: &mut R,
    limits: HeadLimits,
) -> Result<HttpRequest, HeadError> {
    let mut parser = HeadParser::new(limits);
    let mut chunk = vec![0u8; 8192];
    loop {
        let n = reader.read(&mut chunk).await.map_err(HeadError::Io)?;
        if n == 0 {
            return Err(parser.eof());
        }
        if let Some(request) = parser.feed(&chunk[..n])? {
            return Ok(request);
        }
    }
}

#[cfg(test)]
#[path = "http_head_tests.rs"]
mod tests;
