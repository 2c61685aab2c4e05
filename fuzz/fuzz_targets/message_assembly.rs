#![no_main]
//! Message assembly: a sequence of frames (fragments, control frames in between, reserved
//! bits, unknown opcodes, compressed messages) against a small model of RFC 6455 / 7692
//! written from the RFCs. The receiver must yield the model's events and fail where and how
//! the model does.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pywebsocket::deflate::Deflater;
use pywebsocket::engine::{validate_close_body, Event, Receiver};
use pywebsocket::frame::encode_frame;
use pywebsocket_rs_fuzz::{error_kind, receive_blocking};

#[derive(Arbitrary, Debug)]
struct FrameSpec {
    opcode: u8,
    fin: bool,
    rsv1: bool,
    rsv23: u8,
    payload: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct Case {
    max_message_size: u16,
    deflate: bool,
    no_context_takeover: bool,
    chunk: u8,
    frames: Vec<FrameSpec>,
}

/// The model's state: the message being assembled and the sender's compressor.
struct Model {
    deflate: bool,
    max: usize,
    /// Opcode and compression of the fragmented message in progress.
    fragmented: Option<(u8, bool)>,
    message: Vec<u8>,
    deflater: Deflater,
}

impl Model {
    /// The event or error a frame makes, and the wire bytes to send for it.
    fn step(
        &mut self,
        spec: &FrameSpec,
        wire: &mut Vec<u8>,
    ) -> Result<Option<Event>, &'static str> {
        let opcode = spec.opcode % 16;
        let (rsv2, rsv3) = (spec.rsv23 & 1 != 0, spec.rsv23 & 2 != 0);
        let is_data = matches!(opcode, 0..=2);
        let compressed = match (opcode, self.fragmented) {
            (1 | 2, _) => self.deflate && spec.rsv1,
            (0, Some((_, compressed))) => compressed,
            _ => false,
        };
        let payload = if compressed && is_data && !rsv2 && !rsv3 {
            let mut out = Vec::new();
            self.deflater
                .compress(&spec.payload, spec.fin, &mut out)
                .expect("compress");
            out
        } else {
            spec.payload.clone()
        };
        encode_frame(
            wire, opcode, spec.fin, spec.rsv1, rsv2, rsv3, &payload, true,
        );
        if opcode >= 8 && (payload.len() > 125 || !spec.fin) {
            return Err("InvalidFrame");
        }
        if rsv2 || rsv3 {
            return Err("ProtocolViolation");
        }
        let message_opcode = match opcode {
            8..=10 if spec.rsv1 => return Err("ProtocolViolation"),
            8 => {
                validate_close_body(&payload).map_err(|err| error_kind(&err))?;
                return Ok(Some(Event::Close(payload)));
            }
            9 => return Ok(Some(Event::Ping(payload))),
            10 => return Ok(Some(Event::Pong(payload))),
            1 | 2 if self.fragmented.is_some() => return Err("InvalidFrame"),
            1 | 2 if spec.rsv1 && !self.deflate => return Err("ProtocolViolation"),
            1 | 2 => {
                self.message.clear();
                opcode
            }
            0 if spec.rsv1 => return Err("ProtocolViolation"),
            0 => match self.fragmented {
                Some((opcode, _)) => opcode,
                None => return Err("InvalidFrame"),
            },
            _ => return Err("ProtocolViolation"),
        };
        self.message.extend_from_slice(&spec.payload);
        if self.message.len() > self.max {
            return Err("MessageTooBig");
        }
        if message_opcode == 1 {
            if let Err(err) = std::str::from_utf8(&self.message) {
                if err.error_len().is_some() || spec.fin {
                    return Err("InvalidUtf8");
                }
            }
        }
        if !spec.fin {
            self.fragmented = Some((message_opcode, compressed));
            return Ok(None);
        }
        self.fragmented = None;
        let message = std::mem::take(&mut self.message);
        Ok(Some(if message_opcode == 1 {
            Event::Text(String::from_utf8(message).expect("checked above"))
        } else {
            Event::Binary(message)
        }))
    }
}

fuzz_target!(|case: Case| {
    let max = usize::from(case.max_message_size);
    let mut model = Model {
        deflate: case.deflate,
        max,
        fragmented: None,
        message: Vec::new(),
        deflater: Deflater::new(15, case.no_context_takeover, false),
    };
    let mut wire = Vec::new();
    let mut expected_events = Vec::new();
    let mut expected_error = "ConnectionTerminated";
    for spec in case.frames.iter().take(32) {
        match model.step(spec, &mut wire) {
            Ok(Some(event)) => expected_events.push(event),
            Ok(None) => {}
            Err(kind) => {
                expected_error = kind;
                break;
            }
        }
    }
    let mut receiver = Receiver::new(true, max);
    if case.deflate {
        receiver.enable_inflate(15, case.no_context_takeover);
    }
    let chunk = usize::from(case.chunk).max(1);
    let (events, error) = receive_blocking(&mut receiver, &wire, chunk);
    assert_eq!(events, expected_events);
    assert_eq!(error, expected_error);
});
