//! Channels: publish/subscribe between connections, in this process (`hub`) or across
//! processes and machines through Redis (`redis`). A published message is framed once and
//! written to every local member's socket from one delivery thread, never by a Python loop.
//!
//! Delivery is at most once, in order per publisher. A member whose socket stays full gets a
//! bounded queue (`queue_limit` bytes); past it the member is sent Close 1008 and dropped, so
//! it never holds up the others.

use std::sync::Arc;

use crate::frame::{encode_frame, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_TEXT};

mod hub;
mod py;
mod redis;

pub use hub::{forget_finished, hub, Hub, Stats};
pub use py::register;

/// Bytes queued for one member at most, by default (about 1,000 messages of 1 KiB).
pub const DEFAULT_QUEUE_LIMIT: usize = 1024 * 1024;

/// The close a member gets when its queue overflows: 1008 (policy violation).
pub const TOO_SLOW_CODE: u16 = 1008;
const TOO_SLOW_REASON: &str = "channel member too slow";

/// The Close frame sent to a member whose queue overflowed.
pub fn too_slow_close() -> Vec<u8> {
    let mut payload = TOO_SLOW_CODE.to_be_bytes().to_vec();
    payload.extend_from_slice(TOO_SLOW_REASON.as_bytes());
    let mut frame = Vec::new();
    encode_frame(
        &mut frame,
        OPCODE_CLOSE,
        true,
        false,
        false,
        false,
        &payload,
        false,
    );
    frame
}

/// One unmasked, unfragmented, uncompressed server frame. A member that negotiated
/// permessage-deflate may receive it too: RSV1 clear marks a message sent uncompressed.
pub fn server_frame(payload: &[u8], binary: bool) -> Arc<[u8]> {
    let opcode = if binary { OPCODE_BINARY } else { OPCODE_TEXT };
    let mut frame = Vec::with_capacity(payload.len() + 10);
    encode_frame(
        &mut frame, opcode, true, false, false, false, payload, false,
    );
    frame.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_unmasked_and_final() {
        assert_eq!(&*server_frame(b"hi", false), b"\x81\x02hi");
        assert_eq!(&*server_frame(b"", true), b"\x82\x00");
        let long = server_frame(&[7u8; 300], true);
        assert_eq!(&long[..4], b"\x82\x7e\x01\x2c");
        assert_eq!(long.len(), 304);
    }

    #[test]
    fn the_too_slow_close_carries_1008() {
        let close = too_slow_close();
        assert_eq!(&close[..4], b"\x88\x19\x03\xf0");
        assert_eq!(&close[4..], b"channel member too slow");
    }
}
