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

/// `read_payload` that hands each piece to `check` as soon as it has arrived and is unmasked,
/// with whether it completes the payload: a bad start fails before the rest is sent.
pub fn read_payload_checked(
    io: &mut impl FrameRead,
    header: &FrameHeader,
    out: &mut Vec<u8>,
    mut check: impl FnMut(&[u8], bool) -> WsResult<()>,
) -> WsResult<()> {
    let len = usize::try_from(header.payload_len)
        .map_err(|_| WsError::MessageTooBig("Frame payload does not fit in memory".into()))?;
    let start = out.len();
    let mut filled = 0;
    while filled < len {
        let got = io
            .read_some(len - filled, out)
            .map_err(|e| receive_error(len - filled, e))?;
        let piece = start + filled..start + filled + got;
        if let Some(key) = header.mask_key {
            apply_mask(&mut out[piece.clone()], key, filled);
        }
        filled += got;
        check(&out[piece], filled == len)?;
    }
    Ok(())
}

/// Appends exactly `len` bytes to `out`, growing it as data arrives rather than up front.
pub fn read_into(io: &mut impl FrameRead, len: usize, out: &mut Vec<u8>) -> WsResult<()> {
    let mut filled = 0;
    while filled < len {
        let step = (len - filled).min(filled.max(PAYLOAD_STEP));
        io.read_append(step, out)
            .map_err(|e| receive_error(step, e))?;
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

/// The size of the frame at the start of `buf` if all of it is there (header and payload).
pub fn complete_frame_len(buf: &[u8]) -> Option<usize> {
    let total = usize::try_from(declared_frame_len(buf)?).ok()?;
    (buf.len() >= total).then_some(total)
}

/// The whole length (header and payload) a frame starting at `buf` declares, once `buf`
/// holds its length field; None before that (or when it does not fit a u64).
pub fn declared_frame_len(buf: &[u8]) -> Option<u64> {
    let second = *buf.get(1)?;
    let (ext, len) = match second & 0x7f {
        126 => (
            2,
            u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
        ),
        127 => (8, u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)),
        short => (0, u64::from(short)),
    };
    let key = if second & 0x80 != 0 { 4 } else { 0 };
    len.checked_add(2 + ext + key)
}

/// A `FrameRead` over bytes already in memory.
pub struct SliceReader<'a> {
    pub data: &'a [u8],
}

impl FrameRead for SliceReader<'_> {
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if self.data.len() < buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "end of buffered data",
            ));
        }
        let (head, rest) = self.data.split_at(buf.len());
        buf.copy_from_slice(head);
        self.data = rest;
        Ok(())
    }
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
mod tests;
