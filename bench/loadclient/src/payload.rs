//! Deterministic message contents, so every echo can be checked byte for byte.

use tokio_tungstenite::tungstenite::{Bytes, Message};

/// Builds message `seq` of connection `conn`: a hex tag over a fixed pseudo-random fill.
pub struct Payloads {
    fill: Vec<u8>,
    binary: bool,
}

const TAG_LEN: usize = 16;

impl Payloads {
    pub fn new(size: usize, binary: bool) -> Payloads {
        let mut state: u32 = 0x2545_f491;
        let fill = (0..size)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let byte = (state >> 16) as u8;
                if binary {
                    byte
                } else {
                    b'a' + byte % 26
                }
            })
            .collect();
        Payloads { fill, binary }
    }

    fn body(&self, conn: usize, seq: u64) -> Vec<u8> {
        let mut body = self.fill.clone();
        let n = TAG_LEN.min(body.len());
        body[..n].copy_from_slice(&self.body_tag(conn, seq)[..n]);
        body
    }

    pub fn build(&self, conn: usize, seq: u64) -> Message {
        let body = self.body(conn, seq);
        if self.binary {
            Message::Binary(Bytes::from(body))
        } else {
            // The fill and the tag are ASCII, so this never replaces anything.
            Message::Text(String::from_utf8_lossy(&body).into_owned().into())
        }
    }

    /// Whether `got` is exactly message `seq` of connection `conn`, of the right kind.
    pub fn matches(&self, got: &Message, conn: usize, seq: u64) -> bool {
        let bytes: &[u8] = match got {
            Message::Binary(b) if self.binary => b,
            Message::Text(t) if !self.binary => t.as_bytes(),
            _ => return false,
        };
        if bytes.len() != self.fill.len() {
            return false;
        }
        let n = TAG_LEN.min(bytes.len());
        bytes[..n] == self.body_tag(conn, seq)[..n] && bytes[n..] == self.fill[n..]
    }

    fn body_tag(&self, conn: usize, seq: u64) -> [u8; TAG_LEN] {
        let tag = format!("{:06x}{:010x}", conn & 0xff_ffff, seq & 0xff_ffff_ffff);
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&tag.as_bytes()[..TAG_LEN]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_kinds() {
        for size in [0, 1, 16, 1024, 70_000] {
            for binary in [false, true] {
                let payloads = Payloads::new(size, binary);
                let msg = payloads.build(3, 42);
                assert_eq!(msg.len(), size);
                assert_eq!(msg.is_binary(), binary);
                assert!(payloads.matches(&msg, 3, 42));
            }
        }
        let payloads = Payloads::new(64, false);
        assert!(!payloads.matches(&payloads.build(3, 41), 3, 42));
        assert!(!payloads.matches(&payloads.build(2, 42), 3, 42));
        let corrupt = Message::Text("x".repeat(64).into());
        assert!(!payloads.matches(&corrupt, 3, 42));
        assert!(!Payloads::new(64, true).matches(&payloads.build(3, 42), 3, 42));
    }
}
