//! permessage-deflate (RFC 7692) with real zlib, byte-identical to upstream's CPython `zlib`
//! use: level 6, memLevel 8, raw window, sync flush with the `00 00 ff ff` tail stripped.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::{WsError, WsResult};
use crate::frame::too_big;

/// The empty stored block a sync flush ends with; stripped on send, restored on receive.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Output is produced in steps of this size so a deflate bomb is stopped early.
const INFLATE_STEP: usize = 64 * 1024;

fn clamp_window(bits: u8) -> u8 {
    // zlib rejects a raw window of 8, so upstream uses 9 instead.
    bits.clamp(9, 15)
}

/// Outgoing compression state (upstream `_RFC1979Deflater`).
pub struct Deflater {
    compress: Option<Compress>,
    window_bits: u8,
    no_context_takeover: bool,
    bfinal: bool,
}

impl Deflater {
    pub fn new(window_bits: u8, no_context_takeover: bool, bfinal: bool) -> Self {
        Deflater {
            compress: None,
            window_bits: clamp_window(window_bits),
            no_context_takeover,
            bfinal,
        }
    }

    /// Compresses one frame's data, appending to `out`; `end` marks the message's last frame.
    pub fn compress(&mut self, data: &[u8], end: bool, out: &mut Vec<u8>) -> WsResult<()> {
        let window = self.window_bits;
        let compress = self.compress.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(6), false, window)
        });
        // Same call sequence as CPython: compress() with no flush, then flush(mode).
        run_compress(compress, data, FlushCompress::None, out)?;
        if self.bfinal {
            run_compress(compress, &[], FlushCompress::Finish, out)?;
            // An empty non-final stored-block header, as upstream appends after Z_FINISH.
            out.push(0);
            self.compress = None;
            return Ok(());
        }
        run_compress(compress, &[], FlushCompress::Sync, out)?;
        if end {
            if out.ends_with(&SYNC_TAIL) {
                out.truncate(out.len() - SYNC_TAIL.len());
            }
            if self.no_context_takeover {
                self.compress = None;
            }
        }
        Ok(())
    }
}

fn run_compress(
    compress: &mut Compress,
    mut input: &[u8],
    flush: FlushCompress,
    out: &mut Vec<u8>,
) -> WsResult<()> {
    loop {
        out.reserve(input.len() / 2 + 64);
        let before_in = compress.total_in();
        let status = compress
            .compress_vec(input, out, flush)
            .map_err(|e| WsError::Value(format!("deflate failed: {e}")))?;
        let consumed = (compress.total_in() - before_in) as usize;
        input = &input[consumed..];
        let output_full = out.len() == out.capacity();
        match status {
            Status::StreamEnd => return Ok(()),
            _ if input.is_empty() && !output_full => return Ok(()),
            _ => {}
        }
    }
}

/// Incoming decompression state (upstream `_RFC1979Inflater` over `_Inflater`).
pub struct Inflater {
    decompress: Decompress,
    window_bits: u8,
    no_context_takeover: bool,
}

impl Inflater {
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        let window_bits = clamp_window(window_bits);
        Inflater {
            decompress: Decompress::new_with_window_bits(false, window_bits),
            window_bits,
            no_context_takeover,
        }
    }

    /// Inflates one frame's compressed bytes into `out`, failing once `out` passes `limit`.
    pub fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> WsResult<()> {
        self.run(input, out, limit)
    }

    /// Ends a message: inflates the restored sync-flush tail.
    pub fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> WsResult<()> {
        let result = self.run(&SYNC_TAIL, out, limit);
        if self.no_context_takeover {
            self.reset();
        }
        result
    }

    pub fn reset(&mut self) {
        self.decompress = Decompress::new_with_window_bits(false, self.window_bits);
    }

    fn run(&mut self, mut input: &[u8], out: &mut Vec<u8>, limit: usize) -> WsResult<()> {
        loop {
            if out.len() > limit {
                return Err(too_big(out.len() as u64, limit as u64));
            }
            // Never let capacity pass limit + 1: enough to notice the overflow, no more.
            // `limit - len` first: `limit + 1` overflows for a limit of usize::MAX.
            let room = (limit - out.len())
                .saturating_add(1)
                .min(out.len().max(INFLATE_STEP));
            if out.capacity() - out.len() < room {
                out.reserve_exact(room);
            }
            let before_in = self.decompress.total_in();
            let status = self
                .decompress
                .decompress_vec(input, out, FlushDecompress::Sync)
                .map_err(|e| WsError::InvalidFrame(format!("Invalid compressed data: {e}")))?;
            let consumed = (self.decompress.total_in() - before_in) as usize;
            input = &input[consumed..];
            let output_full = out.len() == out.capacity();
            match status {
                // A block with BFINAL=1 ended the stream; what follows is a new stream.
                Status::StreamEnd => {
                    self.reset();
                    if input.is_empty() {
                        break;
                    }
                }
                Status::BufError if !output_full => break,
                _ if input.is_empty() && !output_full => break,
                _ => {}
            }
        }
        if out.len() > limit {
            return Err(too_big(out.len() as u64, limit as u64));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn compress_message(deflater: &mut Deflater, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        deflater.compress(data, true, &mut out).expect("compress");
        out
    }

    fn inflate_message(inflater: &mut Inflater, data: &[u8], limit: usize) -> WsResult<Vec<u8>> {
        let mut out = Vec::new();
        inflater.inflate(data, &mut out, limit)?;
        inflater.finish_message(&mut out, limit)?;
        Ok(out)
    }

    #[test]
    fn matches_cpython_zlib_vectors() {
        let mut deflater = Deflater::new(15, false, false);
        assert_eq!(
            compress_message(&mut deflater, b"Hello"),
            b"\xf2\x48\xcd\xc9\xc9\x07\x00"
        );
        assert_eq!(
            compress_message(&mut deflater, b"Hello"),
            b"\xf2\x00\x11\x00\x00"
        );
        assert_eq!(compress_message(&mut deflater, b""), b"\x00");
        let mut fresh = Deflater::new(15, true, false);
        assert_eq!(
            compress_message(&mut fresh, b"Hello"),
            b"\xf2\x48\xcd\xc9\xc9\x07\x00"
        );
        assert_eq!(
            compress_message(&mut fresh, b"Hello"),
            b"\xf2\x48\xcd\xc9\xc9\x07\x00"
        );
    }

    #[test]
    fn fragments_keep_sync_tail_until_end() {
        let mut deflater = Deflater::new(15, false, false);
        let mut first = Vec::new();
        deflater
            .compress(b"Hel", false, &mut first)
            .expect("compress");
        assert!(first.ends_with(&SYNC_TAIL));
        let mut second = Vec::new();
        deflater
            .compress(b"lo", true, &mut second)
            .expect("compress");
        assert!(!second.ends_with(&SYNC_TAIL));
        let mut inflater = Inflater::new(15, false);
        let mut out = Vec::new();
        inflater.inflate(&first, &mut out, 100).expect("inflate");
        inflater.inflate(&second, &mut out, 100).expect("inflate");
        inflater.finish_message(&mut out, 100).expect("inflate");
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn bfinal_mode_starts_new_streams() {
        let mut deflater = Deflater::new(15, false, true);
        let one = compress_message(&mut deflater, b"Hello");
        assert_eq!(one.last(), Some(&0));
        let two = compress_message(&mut deflater, b"World");
        let mut inflater = Inflater::new(15, false);
        assert_eq!(
            inflate_message(&mut inflater, &one, 100).expect("one"),
            b"Hello"
        );
        assert_eq!(
            inflate_message(&mut inflater, &two, 100).expect("two"),
            b"World"
        );
    }

    #[test]
    fn small_window_still_inflates() {
        let mut deflater = Deflater::new(8, false, false);
        let data = b"abcdefgh".repeat(200);
        let packed = compress_message(&mut deflater, &data);
        let mut inflater = Inflater::new(15, false);
        assert_eq!(
            inflate_message(&mut inflater, &packed, 10_000).expect("inflate"),
            data
        );
    }

    #[test]
    fn bomb_is_stopped_near_the_limit() {
        let mut deflater = Deflater::new(15, false, false);
        let packed = compress_message(&mut deflater, &vec![0u8; 20 << 20]);
        assert!(packed.len() < 100_000);
        let mut inflater = Inflater::new(15, false);
        let mut out = Vec::new();
        let err = inflater
            .inflate(&packed, &mut out, 1 << 20)
            .expect_err("must fail");
        assert!(matches!(err, WsError::MessageTooBig(_)));
        assert!(out.capacity() <= (1 << 20) + 1);
    }

    /// Found by fuzz/frame_roundtrip: `limit + 1` overflowed (a debug-build panic).
    #[test]
    fn inflates_under_the_largest_limit() {
        let mut deflater = Deflater::new(15, false, false);
        let packed = compress_message(&mut deflater, b"Hello");
        let mut inflater = Inflater::new(15, false);
        let out = inflate_message(&mut inflater, &packed, usize::MAX).expect("inflate");
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn garbage_is_invalid() {
        let mut inflater = Inflater::new(15, false);
        let err = inflate_message(&mut inflater, b"\xff\xff\xff\xff", 100).expect_err("must fail");
        assert!(matches!(err, WsError::InvalidFrame(_)));
    }

    proptest! {
        #[test]
        fn round_trip_with_context_takeover(
            messages in proptest::collection::vec(
                proptest::collection::vec(0u8..4, 0..3000), 1..5),
            no_context_takeover in any::<bool>(),
        ) {
            let mut deflater = Deflater::new(15, no_context_takeover, false);
            let mut inflater = Inflater::new(15, no_context_takeover);
            for message in messages {
                let packed = compress_message(&mut deflater, &message);
                let out = inflate_message(&mut inflater, &packed, message.len()).expect("inflate");
                prop_assert_eq!(out, message);
            }
        }

        #[test]
        fn inflate_never_exceeds_limit(
            size in 0usize..200_000,
            limit in 0usize..100_000,
        ) {
            let mut deflater = Deflater::new(15, false, false);
            let packed = compress_message(&mut deflater, &vec![7u8; size]);
            let mut inflater = Inflater::new(15, false);
            let result = inflate_message(&mut inflater, &packed, limit);
            prop_assert_eq!(result.is_ok(), size <= limit);
            if let Ok(out) = result {
                prop_assert_eq!(out.len(), size);
            }
        }
    }
}
