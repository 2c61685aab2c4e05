//! RFC 6455 frame headers: encoding, parsing with exact-size reads, and masking.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;

use crate::error::{WsError, WsResult};
use crate::transport::FrameRead;

pub const OPCODE_CONTINUATION: u8 = 0x0;
pub const OPCODE_TEXT: u8 = 0x1;
pub const OPCODE_BINARY: u8 = 0x2;
pub const OPCODE_CLOSE: u8 = 0x8;
pub const OPCODE_PING: u8 = 0x9;
pub const OPCODE_PONG: u8 = 0xa;

/// Control frames carry at most this many payload bytes (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Opcodes 0x8-0xF are control opcodes, known or not (upstream `is_control_opcode`).
pub fn is_control(opcode: u8) -> bool {
    opcode >> 3 == 1
}

/// The fixed part of a frame, read before its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: u8,
    pub mask_key: Option<[u8; 4]>,
    pub payload_len: u64,
}

/// A whole frame with its payload already unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Maps a failed read to upstream's `_read` message ("Receiving N byte failed. ...").
pub fn receive_error(length: usize, err: io::Error) -> WsError {
    if err.kind() == io::ErrorKind::UnexpectedEof {
        WsError::ConnectionTerminated(format!("Receiving {length} byte failed. {err}"))
    } else {
        WsError::ConnectionTerminated(format!(
            "Receiving {length} byte failed. IOError ({err}) occurred"
        ))
    }
}

pub fn read_exact(io: &mut impl FrameRead, buf: &mut [u8]) -> WsResult<()> {
    io.read_exact(buf).map_err(|e| receive_error(buf.len(), e))
}

/// Reads a frame header (2 bytes, extended length, mask key) and validates it.
pub fn read_header(io: &mut impl FrameRead, unmask_receive: bool) -> WsResult<FrameHeader> {
    let mut head = [0u8; 2];
    read_exact(io, &mut head)?;
    let masked = head[1] & 0x80 != 0;
    if masked != unmask_receive {
        return Err(WsError::InvalidFrame(
            "Mask bit on the received frame did'nt match masking configuration for received \
             frames"
                .into(),
        ));
    }
    let payload_len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            read_exact(io, &mut ext)?;
            u64::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            read_exact(io, &mut ext)?;
            let len = u64::from_be_bytes(ext);
            if len >> 63 != 0 {
                return Err(WsError::InvalidFrame(
                    "Extended payload length >= 2^63".into(),
                ));
            }
            len
        }
        short => u64::from(short),
    };
    let mask_key = if masked {
        let mut key = [0u8; 4];
        read_exact(io, &mut key)?;
        Some(key)
    } else {
        None
    };
    let header = FrameHeader {
        fin: head[0] & 0x80 != 0,
        rsv1: head[0] & 0x40 != 0,
        rsv2: head[0] & 0x20 != 0,
        rsv3: head[0] & 0x10 != 0,
        opcode: head[0] & 0x0f,
        mask_key,
        payload_len,
    };
    check_control(header.opcode, header.fin, header.payload_len)?;
    Ok(header)
}

/// Control frames must be unfragmented and short (checked before reading the payload).
pub fn check_control(opcode: u8, fin: bool, payload_len: u64) -> WsResult<()> {
    if !is_control(opcode) {
        return Ok(());
    }
    if payload_len > MAX_CONTROL_PAYLOAD as u64 {
        return Err(WsError::InvalidFrame(
            "Payload data size of control frames must be 125 bytes or less".into(),
        ));
    }
    if !fin {
        return Err(WsError::InvalidFrame(
            "Control frames must not be fragmented".into(),
        ));
    }
    Ok(())
}

/// First read size for a payload; later reads double, following the bytes that arrive.
const PAYLOAD_STEP: usize = 64 * 1024;

/// Appends the header's payload to `out` and unmasks it in place.
pub fn read_payload(
    io: &mut impl FrameRead,
    header: &FrameHeader,
    out: &mut Vec<u8>,
) -> WsResult<()> {
    let len = usize::try_from(header.payload_len)
        .map_err(|_| WsError::MessageTooBig("Frame payload does not fit in memory".into()))?;
    let start = out.len();
    read_into(io, len, out)?;
    if let Some(key) = header.mask_key {
        apply_mask(&mut out[start..], key, 0);
    }
    Ok(())
}

/// Appends exactly `len` bytes to `out`, growing it as data arrives rather than up front.
pub fn read_into(io: &mut impl FrameRead, len: usize, out: &mut Vec<u8>) -> WsResult<()> {
    let start = out.len();
    let mut filled = 0;
    while filled < len {
        let step = (len - filled).min(filled.max(PAYLOAD_STEP));
        out.resize(start + filled + step, 0);
        read_exact(io, &mut out[start + filled..])?;
        filled += step;
    }
    Ok(())
}

/// Reads one whole frame whose payload is at most `max_payload` bytes.
pub fn read_frame(
    io: &mut impl FrameRead,
    unmask_receive: bool,
    max_payload: u64,
) -> WsResult<Frame> {
    let header = read_header(io, unmask_receive)?;
    if header.payload_len > max_payload {
        return Err(too_big(header.payload_len, max_payload));
    }
    let mut payload = Vec::new();
    read_payload(io, &header, &mut payload)?;
    Ok(Frame {
        fin: header.fin,
        rsv1: header.rsv1,
        rsv2: header.rsv2,
        rsv3: header.rsv3,
        opcode: header.opcode,
        payload,
    })
}

pub fn too_big(size: u64, limit: u64) -> WsError {
    WsError::MessageTooBig(format!(
        "Message of {size} bytes exceeds the limit of {limit} bytes"
    ))
}

/// XORs `data` with `key`, starting at key position `offset % 4`; 8 bytes per step.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let shift = offset % 4;
    let rotated = [
        key[shift],
        key[(shift + 1) % 4],
        key[(shift + 2) % 4],
        key[(shift + 3) % 4],
    ];
    let wide = u64::from_ne_bytes([
        rotated[0], rotated[1], rotated[2], rotated[3], rotated[0], rotated[1], rotated[2],
        rotated[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= rotated[i % 4];
    }
}

/// Appends a header with the minimal length encoding (and the mask key when masking).
#[allow(clippy::too_many_arguments)]
pub fn encode_header(
    out: &mut Vec<u8>,
    opcode: u8,
    fin: bool,
    rsv1: bool,
    rsv2: bool,
    rsv3: bool,
    payload_len: usize,
    mask_key: Option<[u8; 4]>,
) {
    let first = (u8::from(fin) << 7)
        | (u8::from(rsv1) << 6)
        | (u8::from(rsv2) << 5)
        | (u8::from(rsv3) << 4)
        | (opcode & 0x0f);
    let mask_bit = if mask_key.is_some() { 0x80 } else { 0 };
    out.push(first);
    if payload_len <= 125 {
        out.push(mask_bit | payload_len as u8);
    } else if let Ok(short) = u16::try_from(payload_len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(payload_len as u64).to_be_bytes());
    }
    if let Some(key) = mask_key {
        out.extend_from_slice(&key);
    }
}

/// Appends a complete frame (header, key, masked payload) to `out`.
#[allow(clippy::too_many_arguments)]
pub fn encode_frame(
    out: &mut Vec<u8>,
    opcode: u8,
    fin: bool,
    rsv1: bool,
    rsv2: bool,
    rsv3: bool,
    payload: &[u8],
    mask: bool,
) {
    let key = mask.then(random_mask_key);
    out.reserve(14 + payload.len());
    encode_header(out, opcode, fin, rsv1, rsv2, rsv3, payload.len(), key);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = key {
        apply_mask(&mut out[start..], key, 0);
    }
}

thread_local! {
    static MASK_RNG: Cell<u64> = Cell::new({
        // RandomState is seeded from the OS once per thread: unpredictable, and no new crate.
        let seed = RandomState::new().build_hasher().finish();
        seed | 1
    });
}

/// A fresh unpredictable masking key (xorshift64* over an OS-seeded state).
pub fn random_mask_key() -> [u8; 4] {
    MASK_RNG.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        let out = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let bytes = (out >> 32) as u32;
        bytes.to_be_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::MemoryIo;
    use proptest::prelude::*;

    fn frame_bytes(opcode: u8, fin: bool, payload: &[u8], mask: bool) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(&mut out, opcode, fin, false, false, false, payload, mask);
        out
    }

    #[test]
    fn encodes_upstream_examples() {
        assert_eq!(frame_bytes(1, true, b"Hello", false), b"\x81\x05Hello");
        let mid = frame_bytes(2, true, &[0; 126], false);
        assert_eq!(&mid[..4], b"\x82\x7e\x00\x7e");
        let big = frame_bytes(2, true, &[0; 65536], false);
        assert_eq!(&big[..10], b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00");
        assert_eq!(frame_bytes(0, false, b"", false), b"\x00\x00");
    }

    #[test]
    fn masked_frame_round_trips() {
        let bytes = frame_bytes(1, true, b"Hello", true);
        assert_eq!(bytes[1], 0x85);
        let frame = read_frame(&mut MemoryIo::new(bytes), true, 1000).expect("frame");
        assert_eq!(frame.payload, b"Hello");
        assert!(frame.fin);
    }

    #[test]
    fn rejects_mask_mismatch_and_huge_length() {
        let unmasked = frame_bytes(1, true, b"x", false);
        let err = read_frame(&mut MemoryIo::new(unmasked), true, 100).expect_err("must fail");
        assert!(matches!(err, WsError::InvalidFrame(_)));
        let masked = frame_bytes(1, true, b"x", true);
        let err = read_frame(&mut MemoryIo::new(masked), false, 100).expect_err("must fail");
        assert!(matches!(err, WsError::InvalidFrame(_)));
        let huge = b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00abcd".to_vec();
        let err = read_frame(&mut MemoryIo::new(huge), true, u64::MAX).expect_err("must fail");
        assert!(matches!(err, WsError::InvalidFrame(_)));
    }

    #[test]
    fn accepts_non_minimal_length() {
        let bytes = b"\x82\x7e\x00\x02ab".to_vec();
        let frame = read_frame(&mut MemoryIo::new(bytes), false, 100).expect("frame");
        assert_eq!(frame.payload, b"ab");
    }

    #[test]
    fn rejects_bad_control_frames() {
        let long_ping = frame_bytes(9, true, &[0; 126], true);
        let err = read_frame(&mut MemoryIo::new(long_ping), true, 1000).expect_err("must fail");
        assert!(matches!(err, WsError::InvalidFrame(_)));
        let fragmented_ping = frame_bytes(9, false, b"", true);
        let err =
            read_frame(&mut MemoryIo::new(fragmented_ping), true, 1000).expect_err("must fail");
        assert!(matches!(err, WsError::InvalidFrame(_)));
    }

    #[test]
    fn length_limit_and_eof() {
        let bytes = frame_bytes(2, true, &[1; 200], false);
        let err = read_frame(&mut MemoryIo::new(bytes.clone()), false, 199).expect_err("must fail");
        assert!(matches!(err, WsError::MessageTooBig(_)));
        let err = read_frame(&mut MemoryIo::new(bytes[..100].to_vec()), false, 1000)
            .expect_err("must fail");
        match err {
            WsError::ConnectionTerminated(m) => assert!(m.starts_with("Receiving 200 byte failed")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn mask_offset_matches_bytewise_xor() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..37).collect();
        for offset in 0..8 {
            let mut fast = data.clone();
            apply_mask(&mut fast, key, offset);
            let slow: Vec<u8> = data
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[(i + offset) % 4])
                .collect();
            assert_eq!(fast, slow);
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = read_frame(&mut MemoryIo::new(bytes.clone()), true, 1 << 20);
            let _ = read_frame(&mut MemoryIo::new(bytes), false, 1 << 20);
        }

        #[test]
        fn encode_parse_round_trip(
            opcode in 0u8..3,
            fin in any::<bool>(),
            rsv in 0u8..8,
            mask in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 0..70000),
        ) {
            let mut out = Vec::new();
            let (r1, r2, r3) = (rsv & 4 != 0, rsv & 2 != 0, rsv & 1 != 0);
            encode_frame(&mut out, opcode, fin, r1, r2, r3, &payload, mask);
            let mut io = MemoryIo::new(out);
            io.chunk = 7;
            let frame = read_frame(&mut io, mask, u64::MAX).expect("frame");
            prop_assert_eq!(frame, Frame { fin, rsv1: r1, rsv2: r2, rsv3: r3, opcode, payload });
            prop_assert_eq!(io.pos, io.input.len());
        }
    }
}
