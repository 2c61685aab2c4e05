//! A bare WebSocket client for subscribers: the opening handshake by hand, then server frames
//! parsed straight out of one reusable buffer. tungstenite zero-fills its read buffer before
//! every read and allocates per message; with 1,000 subscribers that would make this client,
//! not the server, the bottleneck.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes of spare room the buffer keeps before each read.
const MIN_ROOM: usize = 8 << 10;
const MAX_FRAME: u64 = 64 << 20;

pub struct RawWs {
    tcp: TcpStream,
    buf: Vec<u8>,
    /// Where the first unparsed byte of `buf` is.
    start: usize,
}

/// `ws://HOST:PORT/PATH` split into the address to connect to, the Host header and the path.
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("only ws:// URLs: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok((authority.to_owned(), path.to_owned()))
}

impl RawWs {
    /// TCP connect and the opening handshake within `deadline`. The Sec-WebSocket-Accept value
    /// is not checked: this is a load client for servers that are tested elsewhere.
    pub async fn open(url: &str, deadline: Duration) -> Result<RawWs, String> {
        let (authority, path) = split_url(url)?;
        let work = async {
            let mut tcp = TcpStream::connect(&authority)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n"
            );
            tcp.write_all(request.as_bytes())
                .await
                .map_err(|e| format!("send handshake: {e}"))?;
            let mut buf = Vec::with_capacity(2 * MIN_ROOM);
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                if buf.len() > 16 << 10 {
                    return Err("handshake response too long".to_string());
                }
                let n = tcp
                    .read_buf(&mut buf)
                    .await
                    .map_err(|e| format!("read handshake: {e}"))?;
                if n == 0 {
                    return Err("closed during handshake".to_string());
                }
            };
            let status = buf.split(|b| *b == b'\r').next().unwrap_or_default();
            if !status.starts_with(b"HTTP/1.1 101") {
                return Err(format!(
                    "handshake refused: {}",
                    String::from_utf8_lossy(status)
                ));
            }
            Ok(RawWs {
                tcp,
                buf,
                start: head_end,
            })
        };
        match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err("open timed out".into()),
        }
    }

    /// Waits for bytes, then hands every complete data frame to `on_message(payload, arrived)`
    /// (a partial frame stays buffered). Err when the server closes or misbehaves.
    pub async fn read_some(
        &mut self,
        mut on_message: impl FnMut(&[u8], Instant),
    ) -> Result<(), String> {
        if self.start > 0 && self.buf.capacity() - self.buf.len() < MIN_ROOM {
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(self.buf.len() - self.start);
            self.start = 0;
        }
        self.buf.reserve(MIN_ROOM);
        let n = self
            .tcp
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("server closed the TCP connection".into());
        }
        let arrived = Instant::now();
        let mut pongs: Vec<Vec<u8>> = Vec::new();
        while let Some((opcode, fin, head, len)) = parse_header(&self.buf[self.start..])? {
            let end = self.start + head + len;
            if end > self.buf.len() {
                break;
            }
            let payload = &self.buf[self.start + head..end];
            match opcode {
                0x1 | 0x2 if fin => on_message(payload, arrived),
                0x9 => pongs.push(payload.to_vec()),
                0xA => {}
                0x8 => {
                    let code = payload
                        .get(..2)
                        .map_or(1005, |c| u16::from_be_bytes([c[0], c[1]]));
                    return Err(format!("server sent Close {code}"));
                }
                _ => return Err(format!("unexpected frame: opcode {opcode}, fin {fin}")),
            }
            self.start = end;
        }
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        for payload in pongs {
            self.send_control(0xA, &payload).await?;
        }
        Ok(())
    }

    /// A masked control frame; the all-zero mask key leaves the payload as it is.
    async fn send_control(&mut self, opcode: u8, payload: &[u8]) -> Result<(), String> {
        let len = payload.len().min(125);
        let mut frame = vec![0x80 | opcode, 0x80 | len as u8, 0, 0, 0, 0];
        frame.extend_from_slice(&payload[..len]);
        self.tcp
            .write_all(&frame)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// Sends Close 1000 and drops the connection without waiting for the reply.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            self.send_control(0x8, &1000u16.to_be_bytes()),
        )
        .await;
    }
}

/// (opcode, fin, header length, payload length) of the frame at the start of `bytes`, or None
/// while the header is incomplete.
fn parse_header(bytes: &[u8]) -> Result<Option<(u8, bool, usize, usize)>, String> {
    let [first, second, ..] = *bytes else {
        return Ok(None);
    };
    if second & 0x80 != 0 {
        return Err("server frame is masked".into());
    }
    let (head, len) = match second & 0x7f {
        126 => match bytes.get(2..4) {
            Some(b) => (4, u64::from(u16::from_be_bytes([b[0], b[1]]))),
            None => return Ok(None),
        },
        127 => match bytes.get(2..10) {
            Some(b) => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(b);
                (10, u64::from_be_bytes(raw))
            }
            None => return Ok(None),
        },
        short => (2, u64::from(short)),
    };
    if len > MAX_FRAME {
        return Err(format!("frame of {len} bytes"));
    }
    Ok(Some((first & 0x0f, first & 0x80 != 0, head, len as usize)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(parse_header(&[0x82]).unwrap(), None);
        assert_eq!(parse_header(&[0x82, 5]).unwrap(), Some((2, true, 2, 5)));
        assert_eq!(parse_header(&[0x01, 126, 1]).unwrap(), None);
        assert_eq!(
            parse_header(&[0x01, 126, 1, 0]).unwrap(),
            Some((1, false, 4, 256))
        );
        let long = [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0];
        assert_eq!(parse_header(&long).unwrap(), Some((2, true, 10, 65536)));
        assert!(parse_header(&[0x82, 0x85]).is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(
            split_url("ws://127.0.0.1:80/sub").unwrap(),
            ("127.0.0.1:80".to_string(), "/sub".to_string())
        );
        assert!(split_url("wss://x/").is_err());
    }
}
