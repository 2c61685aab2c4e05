#![no_main]
//! Raw bytes from a client, received three ways: blocking reads of everything at once,
//! blocking reads in small chunks, and the non-blocking buffered path fed in pieces (byte by
//! byte or random sizes). All three must see the same events and agree on the error.

use libfuzzer_sys::fuzz_target;
use pywebsocket::engine::Receiver;
use pywebsocket::frame::declared_frame_len;
use pywebsocket_rs_fuzz::{event_len, receive_blocking, receive_in_pieces, split_points, Knobs};

fuzz_target!(|input: &[u8]| {
    let mut knobs = Knobs { rest: input };
    let cut_seed = knobs.byte();
    let max_message_size = (usize::from(knobs.byte()) + 1) * 64;
    let settings = knobs.byte();
    let unmask_receive = settings & 1 == 0;
    let deflate = settings & 2 != 0;
    let window_bits = 9 + (settings >> 4) % 7;
    let no_context_takeover = settings & 4 != 0;
    let stream = knobs.rest;
    let new_receiver = || {
        let mut receiver = Receiver::new(unmask_receive, max_message_size);
        if deflate {
            receiver.enable_inflate(window_bits, no_context_takeover);
        }
        receiver
    };

    let (whole_events, whole_error) = receive_blocking(&mut new_receiver(), stream, usize::MAX);
    for event in &whole_events {
        // Control frames are bounded by the protocol (125 bytes), not by the message limit.
        assert!(
            event_len(event) <= max_message_size.max(125),
            "event over the limit"
        );
    }
    let chunk = usize::from(cut_seed).max(1);
    let (chunked_events, chunked_error) = receive_blocking(&mut new_receiver(), stream, chunk);
    assert_eq!(
        whole_events, chunked_events,
        "chunked reads changed the events"
    );
    assert_eq!(
        whole_error, chunked_error,
        "chunked reads changed the error"
    );

    let ends = split_points(cut_seed, stream.len());
    let buffered = receive_in_pieces(&mut new_receiver(), stream, &ends);
    assert_eq!(
        whole_events, buffered.events,
        "the buffered path saw other events"
    );
    match buffered.error {
        // A text frame still arriving may fail its UTF-8 check before its size is known to be
        // too big (the buffered path waits for whole frames before the size check).
        Some("InvalidUtf8") if whole_error == "MessageTooBig" => {}
        Some(error) => assert_eq!(error, whole_error, "the buffered path failed otherwise"),
        None if buffered.leftover.is_empty() => {
            assert_eq!(
                whole_error, "ConnectionTerminated",
                "input ended on a frame boundary"
            );
        }
        None => {
            let incomplete = declared_frame_len(&buffered.leftover)
                .is_none_or(|len| len > buffered.leftover.len() as u64);
            assert!(incomplete, "a complete frame was left in the buffer");
        }
    }
});
