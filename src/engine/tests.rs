use super::*;
use crate::frame::encode_frame;
use crate::transport::MemoryIo;
use proptest::prelude::*;

const MAX: usize = 1 << 20;

/// A client frame: masked, with explicit flags.
fn client_frame(opcode: u8, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, opcode, fin, rsv1, false, false, payload, true);
    out
}

fn receive_all(input: Vec<u8>, chunk: usize, deflate: bool) -> (Vec<Event>, Option<WsError>) {
    let mut receiver = Receiver::new(true, MAX);
    if deflate {
        receiver.enable_inflate(15, false);
    }
    let mut io = MemoryIo::new(input);
    io.chunk = chunk;
    let mut events = Vec::new();
    loop {
        match receiver.receive(&mut io) {
            Ok(event) => events.push(event),
            Err(err) => return (events, Some(err)),
        }
    }
}

fn first_error(input: Vec<u8>) -> WsError {
    receive_all(input, usize::MAX, false).1.expect("an error")
}

#[test]
fn receives_text_and_binary() {
    let mut input = client_frame(1, true, false, "héllo".as_bytes());
    input.extend(client_frame(2, true, false, b"\x00\x80\xfe\xff"));
    let (events, err) = receive_all(input, usize::MAX, false);
    assert_eq!(
        events,
        vec![
            Event::Text("héllo".into()),
            Event::Binary(b"\x00\x80\xfe\xff".to_vec())
        ]
    );
    assert!(
        matches!(err, Some(WsError::ConnectionTerminated(m)) if m.starts_with("Receiving 2 byte"))
    );
}

#[test]
fn control_frames_between_fragments() {
    let mut input = client_frame(1, false, false, b"Hel");
    input.extend(client_frame(9, true, false, b"ping"));
    input.extend(client_frame(0, false, false, b"lo "));
    input.extend(client_frame(0, true, false, b""));
    let (events, _) = receive_all(input, usize::MAX, false);
    assert_eq!(
        events,
        vec![Event::Ping(b"ping".to_vec()), Event::Text("Hello ".into())]
    );
}

#[test]
fn fragmentation_errors() {
    let err = first_error(client_frame(0, true, false, b"x"));
    assert!(matches!(err, WsError::InvalidFrame(_)));
    let mut input = client_frame(1, false, false, b"a");
    input.extend(client_frame(2, true, false, b"b"));
    assert!(matches!(first_error(input), WsError::InvalidFrame(_)));
}

#[test]
fn reserved_bits_and_opcodes_are_protocol_violations() {
    assert!(matches!(
        first_error(client_frame(1, true, true, b"x")),
        WsError::ProtocolViolation(_)
    ));
    let mut rsv3 = client_frame(1, true, false, b"x");
    rsv3[0] |= 0x10;
    assert!(matches!(first_error(rsv3), WsError::ProtocolViolation(_)));
    // An unknown opcode is consumed whole, so the next message can still be received.
    let mut input = client_frame(3, true, false, b"junk");
    input.extend(client_frame(1, true, false, b"after"));
    let mut receiver = Receiver::new(true, MAX);
    let mut io = MemoryIo::new(input);
    assert!(matches!(
        receiver.receive(&mut io),
        Err(WsError::ProtocolViolation(_))
    ));
    assert_eq!(
        receiver.receive(&mut io).expect("next"),
        Event::Text("after".into())
    );
}

#[test]
fn close_body_validation() {
    assert!(validate_close_body(b"").is_ok());
    assert!(validate_close_body(b"\x03\xe8").is_ok());
    assert!(validate_close_body(b"\x0d\x05sun").is_ok());
    assert!(matches!(
        validate_close_body(b"\x03"),
        Err(WsError::InvalidFrame(_))
    ));
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let body = code.to_be_bytes();
        assert!(
            matches!(validate_close_body(&body), Err(WsError::InvalidFrame(_))),
            "{code}"
        );
    }
    assert!(matches!(
        validate_close_body(b"\x03\xe8\xff"),
        Err(WsError::InvalidUtf8(_))
    ));
    let (events, _) = receive_all(client_frame(8, true, false, b"\x03\xe8bye"), 1, false);
    assert_eq!(events, vec![Event::Close(b"\x03\xe8bye".to_vec())]);
}

#[test]
fn invalid_utf8_is_reported_before_the_message_ends() {
    // The second fragment never arrives: the error must still be InvalidUtf8, not EOF.
    let input = client_frame(1, false, false, b"ok\xc3(");
    assert!(matches!(first_error(input), WsError::InvalidUtf8(_)));
    assert!(matches!(
        first_error(client_frame(1, true, false, b"\x80")),
        WsError::InvalidUtf8(_)
    ));
    let mut cut = client_frame(1, false, false, b"\xe2\x82");
    cut.extend(client_frame(0, true, false, b""));
    assert!(matches!(first_error(cut), WsError::InvalidUtf8(_)));
}

#[test]
fn invalid_utf8_fails_a_frame_before_its_payload_is_complete() {
    // A header declaring 1000 bytes, then 10 of them, the 4th invalid; the rest never comes.
    let mut payload = b"abc\xffdefghi".to_vec();
    payload.resize(1000, b'x');
    let mut input = client_frame(1, true, false, &payload);
    input.truncate(input.len() - 990);
    assert!(matches!(
        first_error(input.clone()),
        WsError::InvalidUtf8(_)
    ));
    // The same bytes as binary wait for the rest (here: EOF).
    input[0] = 0x82;
    assert!(matches!(
        first_error(input),
        WsError::ConnectionTerminated(_)
    ));
}

#[test]
fn buffered_receive_fails_a_text_frame_still_arriving() {
    let mut payload = b"abc\xffdefghi".to_vec();
    payload.resize(1000, b'x');
    let frame = client_frame(1, true, false, &payload);
    let mut receiver = Receiver::new(true, MAX);
    // Header (2 + 2 length + 4 mask bytes) and 10 payload bytes: all taken.
    let (used, result) = receiver.receive_buffered(&frame[..18]);
    assert_eq!(used, 18);
    assert!(matches!(result, Err(WsError::InvalidUtf8(_))));
}

#[test]
fn buffered_receive_checks_a_growing_text_frame_and_then_takes_it() {
    let text = "s\u{e9}parer \u{20ac}\u{1f600}".repeat(20);
    let mut input = client_frame(1, false, false, b"start ");
    input.extend(client_frame(0, true, false, text.as_bytes()));
    let mut receiver = Receiver::new(true, MAX);
    let mut consumed = 0;
    for end in (1..input.len()).step_by(3) {
        let (used, result) = receiver.receive_buffered(&input[consumed..end]);
        assert!(matches!(result, Ok(None)), "at {end}: {result:?}");
        consumed += used;
    }
    let (used, result) = receiver.receive_buffered(&input[consumed..]);
    assert_eq!(consumed + used, input.len());
    let event = result.expect("the whole message");
    assert_eq!(event, Some(Event::Text(format!("start {text}"))));
}

#[test]
fn text_arriving_in_pieces_is_unmasked_and_validated_across_them() {
    let text = "h\u{e9}llo \u{20ac}\u{1f600} w\u{f6}rld".repeat(5);
    let mut input = client_frame(1, true, false, text.as_bytes());
    input.extend(client_frame(1, false, false, &text.as_bytes()[..7]));
    input.extend(client_frame(0, true, false, &text.as_bytes()[7..]));
    for chunk in [1, 2, 3, 5, 7, 64] {
        let (events, err) = receive_all(input.clone(), chunk, false);
        assert!(matches!(err, Some(WsError::ConnectionTerminated(_))));
        assert_eq!(
            events,
            vec![Event::Text(text.clone()), Event::Text(text.clone())]
        );
    }
}

#[test]
fn size_limit_is_checked_before_reading() {
    let mut receiver = Receiver::new(true, 10);
    // Declares 2^40 bytes and sends none: must fail without allocating or waiting.
    let header = b"\x82\xff\x00\x00\x01\x00\x00\x00\x00\x00\x01\x02\x03\x04".to_vec();
    let err = receiver
        .receive(&mut MemoryIo::new(header))
        .expect_err("must fail");
    assert!(matches!(err, WsError::MessageTooBig(_)));
    let mut input = client_frame(2, false, false, &[0; 6]);
    input.extend(client_frame(0, true, false, &[0; 5]));
    let err = Receiver::new(true, 10)
        .receive(&mut MemoryIo::new(input))
        .expect_err("must fail");
    assert!(matches!(err, WsError::MessageTooBig(_)));
}

#[test]
fn permessage_deflate_vectors() {
    let hello = b"\xf2\x48\xcd\xc9\xc9\x07\x00";
    let mut input = client_frame(1, true, true, hello);
    input.extend(client_frame(1, false, true, &hello[..3]));
    input.extend(client_frame(0, true, false, &hello[3..]));
    input.extend(client_frame(1, true, true, b"\xf2\x00\x11\x00\x00"));
    let (events, err) = receive_all(input, 1, true);
    assert_eq!(events, vec![Event::Text("Hello".into()); 3], "{err:?}");

    let mut sender = Sender::new(false);
    sender.enable_deflate(15, false, false);
    let mut io = MemoryIo::new(Vec::new());
    sender
        .send_message(&mut io, b"Hello", true, false)
        .expect("send");
    sender
        .send_message(&mut io, b"Hello", true, false)
        .expect("send");
    sender.send_message(&mut io, b"", true, true).expect("send");
    sender.set_outgoing_compression(false);
    sender
        .send_message(&mut io, b"Hi", true, false)
        .expect("send");
    assert_eq!(
        io.output,
        b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00\xc1\x05\xf2\x00\x11\x00\x00\xc2\x01\x00\x81\x02Hi"
    );
}

#[test]
fn compressed_fragments_set_rsv1_once() {
    let mut sender = Sender::new(false);
    sender.enable_deflate(15, false, false);
    let mut io = MemoryIo::new(Vec::new());
    sender
        .send_message(&mut io, b"Hel", false, false)
        .expect("send");
    let split = io.output.len();
    sender
        .send_message(&mut io, b"lo", true, false)
        .expect("send");
    assert_eq!(io.output[0], 0x41);
    assert_eq!(io.output[split], 0x80);
}

#[test]
fn sender_fragments_and_type_change() {
    let mut sender = Sender::new(false);
    let mut io = MemoryIo::new(Vec::new());
    for (part, end) in [
        ("Hello", false),
        (" ", false),
        ("World", false),
        ("!", true),
    ] {
        sender
            .send_message(&mut io, part.as_bytes(), end, false)
            .expect("send");
    }
    assert_eq!(io.output, b"\x01\x05Hello\x00\x01 \x00\x05World\x80\x01!");
    sender
        .send_message(&mut io, b"a", false, true)
        .expect("send");
    let err = sender
        .send_message(&mut io, b"b", true, false)
        .expect_err("must fail");
    assert!(matches!(err, WsError::BadOperation(_)));
    let err = sender
        .send_frame(&mut io, 9, &[0; 126])
        .expect_err("must fail");
    assert!(matches!(err, WsError::BadOperation(_)));
}

#[test]
fn process_frame_feeds_assembly() {
    let mut receiver = Receiver::new(true, MAX);
    let frame = |opcode, fin, payload: &[u8]| Frame {
        fin,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        payload: payload.to_vec(),
    };
    assert_eq!(
        receiver.process_frame(frame(2, false, b"ab")).expect("ok"),
        None
    );
    assert_eq!(receiver.last_opcode(), Some(2));
    let event = receiver.process_frame(frame(0, true, b"c")).expect("ok");
    assert_eq!(event, Some(Event::Binary(b"abc".to_vec())));
    assert!(matches!(
        receiver.process_frame(frame(9, false, b"")),
        Err(WsError::InvalidFrame(_))
    ));
}

#[test]
fn deflate_bomb_is_bounded() {
    let mut sender = Sender::new(true);
    sender.enable_deflate(15, false, false);
    let mut io = MemoryIo::new(Vec::new());
    sender
        .send_message(&mut io, &vec![b'a'; 8 << 20], true, false)
        .expect("send");
    let mut receiver = Receiver::new(true, 1 << 20);
    receiver.enable_inflate(15, false);
    let err = receiver
        .receive(&mut MemoryIo::new(io.output))
        .expect_err("must fail");
    assert!(matches!(err, WsError::MessageTooBig(_)));
}

/// Found by fuzz/frame_roundtrip: the compressed-frame allowance overflowed (a panic in
/// debug builds) for a limit near usize::MAX, as `--max-message-size` can set.
#[test]
fn compressed_message_under_the_largest_limit() {
    let mut sender = Sender::new(true);
    sender.enable_deflate(15, false, false);
    let mut io = MemoryIo::new(Vec::new());
    sender
        .send_message(&mut io, b"Hello", true, false)
        .expect("send");
    let mut receiver = Receiver::new(true, usize::MAX);
    receiver.enable_inflate(15, false);
    let event = receiver
        .receive(&mut MemoryIo::new(io.output))
        .expect("receive");
    assert_eq!(event, Event::Text("Hello".into()));
}

/// One message to send: (fragments, binary).
fn message_strategy() -> impl Strategy<Value = (Vec<Vec<u8>>, bool)> {
    let fragment = proptest::collection::vec(prop_oneof![Just(b'a'), any::<u8>()], 0..300);
    (proptest::collection::vec(fragment, 1..4), any::<bool>())
}

proptest! {
    #[test]
    fn send_receive_round_trip_any_chunking(
        messages in proptest::collection::vec(message_strategy(), 1..5),
        deflate in any::<bool>(),
        chunk in 1usize..20,
    ) {
        let mut sender = Sender::new(true);
        if deflate {
            sender.enable_deflate(15, false, false);
        }
        let mut io = MemoryIo::new(Vec::new());
        let mut expected = Vec::new();
        for (fragments, binary) in &messages {
            let whole: Vec<u8> = fragments.concat();
            let last = fragments.len() - 1;
            for (i, fragment) in fragments.iter().enumerate() {
                sender.send_message(&mut io, fragment, i == last, *binary).expect("send");
            }
            expected.push(if *binary {
                Some(Event::Binary(whole))
            } else {
                String::from_utf8(whole).ok().map(Event::Text)
            });
        }
        let (all_at_once, err_one) = receive_all(io.output.clone(), usize::MAX, deflate);
        let (byte_by_byte, err_chunked) = receive_all(io.output, chunk, deflate);
        prop_assert_eq!(&all_at_once, &byte_by_byte);
        prop_assert_eq!(format!("{err_one:?}"), format!("{err_chunked:?}"));
        // Events match the sent messages up to the first invalid text message.
        let valid: Vec<Event> = expected.into_iter().map_while(|e| e).collect();
        prop_assert_eq!(all_at_once, valid);
    }

    #[test]
    fn buffered_receive_matches_blocking_receive(
        messages in proptest::collection::vec(message_strategy(), 1..4),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut sender = Sender::new(true);
        let mut io = MemoryIo::new(Vec::new());
        for (fragments, binary) in &messages {
            let last = fragments.len() - 1;
            for (i, fragment) in fragments.iter().enumerate() {
                sender.send_message(&mut io, fragment, i == last, *binary).expect("send");
            }
            sender.send_frame(&mut io, 9, b"p").expect("ping");
        }
        let wire = io.output;
        let (expected, _) = receive_all(wire.clone(), usize::MAX, false);
        // Deliver the wire in arbitrary pieces into a buffer, as a socket reader would.
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.push(wire.len());
        cuts.sort_unstable();
        let mut receiver = Receiver::new(true, MAX);
        let (mut buffered, mut delivered, mut events) = (Vec::new(), 0, Vec::new());
        for cut in cuts {
            buffered.extend_from_slice(&wire[delivered..cut]);
            delivered = cut;
            loop {
                let (used, result) = receiver.receive_buffered(&buffered);
                buffered.drain(..used);
                match result {
                    Ok(Some(event)) => events.push(event),
                    Ok(None) => break,
                    Err(_) => {
                        prop_assert_eq!(&events, &expected);
                        return Ok(());
                    }
                }
            }
        }
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn receiver_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), deflate in any::<bool>()) {
        let (_, err) = receive_all(bytes, 3, deflate);
        prop_assert!(err.is_some());
    }
}
