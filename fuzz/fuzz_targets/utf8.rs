#![no_main]
//! UTF-8 validation against `std::str::from_utf8`: the incremental validator fed in random
//! pieces, and the early check of a text frame still arriving (`engine/partial.rs`), which
//! must fail as soon as the bytes so far can no longer be UTF-8, and not before.

use libfuzzer_sys::fuzz_target;
use pywebsocket::engine::{Event, Receiver};
use pywebsocket::frame::{encode_frame, OPCODE_CONTINUATION, OPCODE_TEXT};
use pywebsocket::utf8::Utf8Validator;
use pywebsocket_rs_fuzz::{error_kind, split_points};

/// Whether the bytes so far already break UTF-8, whatever follows.
fn surely_invalid(prefix: &[u8]) -> bool {
    std::str::from_utf8(prefix).is_err_and(|err| err.error_len().is_some())
}

fn check_validator(cut_seed: u8, text: &[u8]) {
    let mut validator = Utf8Validator::new();
    let mut verdict = Ok(());
    let mut start = 0;
    for end in split_points(cut_seed, text.len()) {
        verdict = validator.feed(&text[start..end]);
        start = end;
        if verdict.is_err() {
            break;
        }
        assert!(
            !surely_invalid(&text[..end]),
            "missed an error before byte {end}"
        );
    }
    if verdict.is_ok() {
        verdict = validator.finish();
    }
    assert_eq!(
        verdict.is_ok(),
        std::str::from_utf8(text).is_ok(),
        "{text:x?}"
    );
}

/// The text as two frames (a first fragment of `split` bytes, then the rest), fed to the
/// buffered receive path in pieces.
fn check_partial_frames(cut_seed: u8, split: usize, text: &[u8]) {
    let split = split.min(text.len());
    let mut wire = Vec::new();
    encode_frame(
        &mut wire,
        OPCODE_TEXT,
        false,
        false,
        false,
        false,
        &text[..split],
        true,
    );
    let second_start = wire.len();
    encode_frame(
        &mut wire,
        OPCODE_CONTINUATION,
        true,
        false,
        false,
        false,
        &text[split..],
        true,
    );
    let second_header = second_start + (wire.len() - second_start) - (text.len() - split);
    // Where each payload byte sits on the wire.
    let payload_offset = |index: usize| {
        if index < split {
            second_start - split + index
        } else {
            second_header + index - split
        }
    };
    let mut receiver = Receiver::new(true, 1 << 20);
    let mut buffer = Vec::new();
    let mut start = 0;
    for end in split_points(cut_seed, wire.len()) {
        buffer.extend_from_slice(&wire[start..end]);
        start = end;
        let (consumed, result) = receiver.receive_buffered(&buffer);
        buffer.drain(..consumed);
        let arrived = (0..text.len())
            .take_while(|&i| payload_offset(i) < end)
            .count();
        match result {
            Err(err) => {
                assert_eq!(error_kind(&err), "InvalidUtf8");
                assert!(
                    surely_invalid(&text[..arrived]) || end == wire.len(),
                    "failed early on valid bytes: {text:x?} at {arrived}"
                );
                return;
            }
            Ok(Some(event)) => {
                assert_eq!(end, wire.len());
                let Event::Text(received) = event else {
                    panic!("not text: {event:?}")
                };
                assert_eq!(received.as_bytes(), text);
                return;
            }
            Ok(None) => {
                assert!(
                    !surely_invalid(&text[..arrived]),
                    "missed an error at {arrived}"
                );
            }
        }
    }
    panic!("the message never completed");
}

fuzz_target!(|input: &[u8]| {
    let [cut_seed, split, text @ ..] = input else {
        return;
    };
    check_validator(*cut_seed, text);
    check_partial_frames(*cut_seed, usize::from(*split), text);
});
