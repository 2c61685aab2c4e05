#![no_main]
//! The permessage-deflate inflater under a message size limit: arbitrary compressed bytes never
//! produce more than the limit (plus the one byte that shows the overflow), and whatever our
//! deflater wrote inflates back to the same bytes.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pywebsocket::deflate::{Deflater, Inflater};
use pywebsocket::error::WsError;

#[derive(Arbitrary, Debug)]
struct Case {
    limit: u16,
    window_bits: u8,
    no_context_takeover: bool,
    /// Frames of untrusted compressed data; the flag ends the message after the frame.
    frames: Vec<(Vec<u8>, bool)>,
    /// Messages for the round trip through our own deflater.
    messages: Vec<Vec<u8>>,
}

fuzz_target!(|case: Case| {
    let limit = usize::from(case.limit);
    let window_bits = 9 + case.window_bits % 7;
    let mut inflater = Inflater::new(window_bits, case.no_context_takeover);
    let mut message = Vec::new();
    for (compressed, end) in &case.frames {
        let mut result = inflater.inflate(compressed, &mut message, limit);
        if result.is_ok() && *end {
            result = inflater.finish_message(&mut message, limit);
        }
        assert!(
            message.len() <= limit + 1,
            "{} bytes out, limit {limit}",
            message.len()
        );
        match result {
            Ok(()) => assert!(message.len() <= limit),
            Err(WsError::MessageTooBig(_)) => assert!(message.len() > limit),
            Err(WsError::InvalidFrame(_)) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
        if result.is_err() {
            inflater.reset();
            message.clear();
        } else if *end {
            message.clear();
        }
    }

    let mut deflater = Deflater::new(window_bits, case.no_context_takeover, false);
    let mut inflater = Inflater::new(window_bits, case.no_context_takeover);
    for original in case.messages.iter().take(8) {
        let mut compressed = Vec::new();
        deflater
            .compress(original, true, &mut compressed)
            .expect("compress");
        let mut out = Vec::new();
        inflater
            .inflate(&compressed, &mut out, original.len())
            .expect("inflate");
        inflater
            .finish_message(&mut out, original.len())
            .expect("finish");
        assert_eq!(&out, original);
    }
});
