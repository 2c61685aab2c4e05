//! Tells when the bytes a handler writes have completed a `101 Switching Protocols` head:
//! only after that may the server put its own frames (keepalive pings, the shutdown Close) on
//! the connection. Handlers write the head in one piece or in several.

const STATUS_101: &[u8] = b"HTTP/1.1 101 ";
const END_OF_HEAD: &[u8] = b"\r\n\r\n";

#[derive(Debug, Default, PartialEq, Eq)]
pub enum HeadWatch {
    /// The first bytes written so far (fewer than `STATUS_101`).
    #[default]
    Start,
    Prefix(Vec<u8>),
    /// A 101 is being written; the last bytes seen, to find the blank line across writes.
    Switching(Vec<u8>),
    /// The head is complete: WebSocket frames follow.
    Open,
    /// Something else was written (an error page, raw bytes); a 101 may still follow.
    NotWebSocket,
}

impl HeadWatch {
    /// Follows `data`, written next on the connection; true once the 101 head is complete.
    pub fn advance(&mut self, data: &[u8]) -> bool {
        // Bytes a handler wrote before its 101 (the original allowed that) do not count.
        let start = &data[..data.len().min(STATUS_101.len())];
        if *self == HeadWatch::NotWebSocket && !start.is_empty() && STATUS_101.starts_with(start) {
            *self = HeadWatch::Start;
        }
        let mut rest = data;
        if let HeadWatch::Start | HeadWatch::Prefix(_) = self {
            let mut prefix = match std::mem::take(self) {
                HeadWatch::Prefix(prefix) => prefix,
                _ => Vec::new(),
            };
            let take = (STATUS_101.len() - prefix.len()).min(rest.len());
            prefix.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            *self = if !STATUS_101.starts_with(&prefix) {
                HeadWatch::NotWebSocket
            } else if prefix.len() == STATUS_101.len() {
                HeadWatch::Switching(prefix)
            } else {
                HeadWatch::Prefix(prefix)
            };
        }
        if let HeadWatch::Switching(tail) = self {
            tail.extend_from_slice(rest);
            if tail.windows(END_OF_HEAD.len()).any(|w| w == END_OF_HEAD) {
                *self = HeadWatch::Open;
            } else {
                let keep = tail.len().saturating_sub(END_OF_HEAD.len() - 1);
                tail.drain(..keep);
            }
        }
        *self == HeadWatch::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";

    #[test]
    fn one_write_or_any_split_completes_the_head() {
        let mut whole = HeadWatch::default();
        assert!(whole.advance(HEAD));
        for cut in 1..HEAD.len() {
            let mut watch = HeadWatch::default();
            assert!(!watch.advance(&HEAD[..cut]), "{cut}");
            assert!(watch.advance(&HEAD[cut..]), "{cut}");
        }
        let mut bytewise = HeadWatch::default();
        let opened: Vec<bool> = HEAD.iter().map(|b| bytewise.advance(&[*b])).collect();
        assert_eq!(opened.iter().position(|&o| o), Some(HEAD.len() - 1));
    }

    #[test]
    fn a_partial_head_or_another_status_is_not_open() {
        let mut watch = HeadWatch::default();
        assert!(!watch.advance(b"HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(!watch.advance(b"Upgrade: websocket\r\n"));
        let mut error = HeadWatch::default();
        assert!(!error.advance(b"HTTP/1.1 400 Bad Request\r\n\r\n"));
        assert!(!error.advance(b"\x81\x02hi"));
        assert_eq!(error, HeadWatch::NotWebSocket);
    }

    #[test]
    fn bytes_before_the_101_do_not_hide_it() {
        let mut watch = HeadWatch::default();
        assert!(!watch.advance(b"PREFIX-BYTES\r\n"));
        assert!(!watch.advance(&HEAD[..5]));
        assert!(watch.advance(&HEAD[5..]));
    }
}
