//! The HTTP/1.x request head: read with a size limit and a deadline, parsed once.

/// A parsed request head, shared by WebSocket routing, static files and CGI.
#[derive(Debug, Clone, Default)]
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
    /// First value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
