#![no_main]
//! Differential: what our encoders write, our parsers read back unchanged. Raw frames through
//! `encode_frame` / `read_frame`, and whole messages through `Sender` / `Receiver` (fragmented,
//! masked or not, compressed or not).

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pywebsocket::engine::{Event, Receiver, Sender};
use pywebsocket::frame::{
    complete_frame_len, declared_frame_len, encode_frame, read_frame, SliceReader,
};
use pywebsocket::transport::MemoryIo;

#[derive(Arbitrary, Debug)]
struct RawFrame {
    first_byte: u8,
    mask: bool,
    payload: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct Message {
    binary: bool,
    /// The message's frames; text messages use the lossy UTF-8 form of each piece.
    pieces: Vec<Vec<u8>>,
}

#[derive(Arbitrary, Debug)]
struct Case {
    raw: Vec<RawFrame>,
    messages: Vec<Message>,
    mask: bool,
    deflate: bool,
    window_bits: u8,
    no_context_takeover: bool,
}

fn check_raw(frame: &RawFrame) {
    let opcode = frame.first_byte & 0x0f;
    let [fin, rsv1, rsv2, rsv3] = [0x80, 0x40, 0x20, 0x10].map(|bit| frame.first_byte & bit != 0);
    let mut wire = Vec::new();
    encode_frame(
        &mut wire,
        opcode,
        fin,
        rsv1,
        rsv2,
        rsv3,
        &frame.payload,
        frame.mask,
    );
    assert_eq!(declared_frame_len(&wire), Some(wire.len() as u64));
    assert_eq!(complete_frame_len(&wire), Some(wire.len()));
    assert_eq!(complete_frame_len(&wire[..wire.len() - 1]), None);
    let mut reader = SliceReader { data: &wire };
    match read_frame(&mut reader, frame.mask, u64::MAX) {
        Ok(parsed) => {
            assert!(reader.data.is_empty(), "bytes left after the frame");
            assert_eq!(
                (
                    parsed.opcode,
                    parsed.fin,
                    parsed.rsv1,
                    parsed.rsv2,
                    parsed.rsv3
                ),
                (opcode, fin, rsv1, rsv2, rsv3)
            );
            assert_eq!(parsed.payload, frame.payload);
        }
        // Only the control frame rules may refuse what the encoder wrote.
        Err(_) => assert!(opcode >= 8 && (frame.payload.len() > 125 || !fin)),
    }
}

fuzz_target!(|case: Case| {
    for frame in case.raw.iter().take(8) {
        check_raw(frame);
    }
    let window_bits = 9 + case.window_bits % 7;
    let mut sender = Sender::new(case.mask);
    let mut receiver = Receiver::new(case.mask, usize::MAX);
    if case.deflate {
        sender.enable_deflate(window_bits, case.no_context_takeover, false);
        receiver.enable_inflate(window_bits, case.no_context_takeover);
    }
    let mut io = MemoryIo::new(Vec::new());
    let mut expected = Vec::new();
    for message in case.messages.iter().take(16) {
        let mut whole = Vec::new();
        let pieces: Vec<Vec<u8>> = if message.binary {
            message.pieces.clone()
        } else {
            let texts = message
                .pieces
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned());
            texts.map(String::into_bytes).collect()
        };
        let count = pieces.len().max(1);
        for index in 0..count {
            let piece = pieces.get(index).map_or(&[][..], Vec::as_slice);
            whole.extend_from_slice(piece);
            let end = index + 1 == count;
            sender
                .send_message(&mut io, piece, end, message.binary)
                .expect("send");
        }
        expected.push(if message.binary {
            Event::Binary(whole)
        } else {
            Event::Text(String::from_utf8(whole).expect("lossy text is UTF-8"))
        });
    }
    io.input = std::mem::take(&mut io.output);
    for want in expected {
        let got = receiver.receive(&mut io).expect("our own frames are valid");
        assert_eq!(got, want);
    }
    assert_eq!(io.pos, io.input.len(), "bytes left after the last message");
});
