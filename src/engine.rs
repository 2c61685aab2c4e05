//! The protocol engine without pyo3: message assembly, validation and permessage-deflate
//! on the receive side (`Receiver`) and framing on the send side (`Sender`, in `sender`).

mod partial;
mod sender;
#[cfg(test)]
mod tests;

pub use sender::Sender;

use std::str;

use crate::deflate::Inflater;
use crate::error::{WsError, WsResult};
use crate::frame::{
    self, check_control, read_header, read_payload, read_payload_checked, too_big, Frame,
    FrameHeader, SliceReader, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_CONTINUATION, OPCODE_PING,
    OPCODE_PONG, OPCODE_TEXT,
};
use crate::transport::{FrameRead, MemoryIo};
use crate::utf8::Utf8Validator;

/// What `Receiver::receive` hands back: a whole data message or one control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Text(String),
    Binary(Vec<u8>),
    Close(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

impl Event {
    pub fn opcode(&self) -> u8 {
        match self {
            Event::Text(_) => OPCODE_TEXT,
            Event::Binary(_) => OPCODE_BINARY,
            Event::Close(_) => OPCODE_CLOSE,
            Event::Ping(_) => OPCODE_PING,
            Event::Pong(_) => OPCODE_PONG,
        }
    }
}

/// Scratch buffers above this size are released after use instead of kept.
const KEEP_SCRATCH: usize = 1 << 20;

#[derive(Debug, Clone, Copy)]
struct Fragmented {
    opcode: u8,
    compressed: bool,
}

enum FrameKind {
    Control,
    Data {
        opcode: u8,
        start: bool,
        compressed: bool,
    },
}

pub struct Receiver {
    unmask_receive: bool,
    max_message_size: usize,
    fragmented: Option<Fragmented>,
    message: Vec<u8>,
    compressed: Vec<u8>,
    utf8: Utf8Validator,
    inflater: Option<Inflater>,
    last_opcode: Option<u8>,
    /// Progress of the early check of a text frame still arriving into a buffer.
    partial_text: Option<partial::PartialText>,
}

impl Receiver {
    pub fn new(unmask_receive: bool, max_message_size: usize) -> Self {
        Receiver {
            unmask_receive,
            max_message_size,
            fragmented: None,
            message: Vec::new(),
            compressed: Vec::new(),
            utf8: Utf8Validator::new(),
            inflater: None,
            last_opcode: None,
            partial_text: None,
        }
    }

    /// Turns on decompression of messages whose first frame has RSV1 set.
    pub fn enable_inflate(&mut self, window_bits: u8, no_context_takeover: bool) {
        self.inflater = Some(Inflater::new(window_bits, no_context_takeover));
    }

    /// The opcode of the message (or control frame) the last frame belonged to.
    pub fn last_opcode(&self) -> Option<u8> {
        self.last_opcode
    }

    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Blocks until a whole data message or a control frame has arrived.
    pub fn receive(&mut self, io: &mut impl FrameRead) -> WsResult<Event> {
        loop {
            let header = read_header(io, self.unmask_receive)?;
            if let Some(event) = self.handle(io, &header)? {
                return Ok(event);
            }
        }
    }

    /// One raw frame, unmasked, with no effect on message assembly.
    pub fn receive_frame(&mut self, io: &mut impl FrameRead) -> WsResult<Frame> {
        frame::read_frame(io, self.unmask_receive, self.max_message_size as u64)
    }

    /// Feeds a frame obtained elsewhere (e.g. `receive_frame`) into message assembly.
    pub fn process_frame(&mut self, frame: Frame) -> WsResult<Option<Event>> {
        let header = FrameHeader {
            fin: frame.fin,
            rsv1: frame.rsv1,
            rsv2: frame.rsv2,
            rsv3: frame.rsv3,
            opcode: frame.opcode,
            mask_key: None,
            payload_len: frame.payload.len() as u64,
        };
        check_control(header.opcode, header.fin, header.payload_len)?;
        self.handle(&mut MemoryIo::new(frame.payload), &header)
    }

    /// Non-blocking receive from bytes already buffered: processes the complete frames at
    /// the start of `buf` until one yields an event. Returns the bytes consumed and the event
    /// (None when `buf` ends inside a frame, so the caller must wait for more).
    pub fn receive_buffered(&mut self, buf: &[u8]) -> (usize, WsResult<Option<Event>>) {
        let mut consumed = 0;
        while let Some(len) = frame::complete_frame_len(&buf[consumed..]) {
            let mut reader = SliceReader {
                data: &buf[consumed..consumed + len],
            };
            consumed += len;
            let result = read_header(&mut reader, self.unmask_receive)
                .and_then(|header| self.handle(&mut reader, &header));
            match result {
                Ok(None) => continue,
                other => return (consumed, other),
            }
        }
        if let Err(err) = self.check_partial_text(&buf[consumed..]) {
            self.abort_message();
            return (buf.len(), Err(err));
        }
        (consumed, Ok(None))
    }

    fn handle(&mut self, io: &mut impl FrameRead, header: &FrameHeader) -> WsResult<Option<Event>> {
        self.partial_text = None;
        let kind = match self.classify(header) {
            Ok(kind) => kind,
            Err(err) => {
                // Consume the payload so a caller that ignores the error stays in sync.
                self.skip_payload(io, header)?;
                return Err(err);
            }
        };
        match kind {
            FrameKind::Control => {
                let mut payload = Vec::with_capacity(header.payload_len as usize);
                read_payload(io, header, &mut payload)?;
                self.last_opcode = Some(header.opcode);
                control_event(header.opcode, payload).map(Some)
            }
            FrameKind::Data {
                opcode,
                start,
                compressed,
            } => {
                let result = self.data_frame(io, header, opcode, start, compressed);
                if result.is_err() {
                    self.abort_message();
                }
                result
            }
        }
    }

    fn classify(&self, header: &FrameHeader) -> WsResult<FrameKind> {
        if header.rsv2 || header.rsv3 {
            return Err(rsv_error(header));
        }
        match header.opcode {
            OPCODE_CLOSE | OPCODE_PING | OPCODE_PONG => {
                if header.rsv1 {
                    return Err(rsv_error(header));
                }
                Ok(FrameKind::Control)
            }
            OPCODE_TEXT | OPCODE_BINARY => {
                if self.fragmented.is_some() {
                    return Err(WsError::InvalidFrame(if header.fin {
                        "Received an unfragmented frame without terminating existing fragmentation"
                            .into()
                    } else {
                        "New fragmentation started without terminating existing fragmentation"
                            .into()
                    }));
                }
                if header.rsv1 && self.inflater.is_none() {
                    return Err(rsv_error(header));
                }
                Ok(FrameKind::Data {
                    opcode: header.opcode,
                    start: true,
                    compressed: header.rsv1,
                })
            }
            OPCODE_CONTINUATION => {
                if header.rsv1 {
                    // RFC 7692: only the first frame of a message may carry the RSV1 flag.
                    return Err(rsv_error(header));
                }
                let Some(message) = self.fragmented else {
                    return Err(WsError::InvalidFrame(if header.fin {
                        "Received a termination frame but fragmentation not started".into()
                    } else {
                        "Received an intermediate frame but fragmentation not started".into()
                    }));
                };
                Ok(FrameKind::Data {
                    opcode: message.opcode,
                    start: false,
                    compressed: message.compressed,
                })
            }
            other => Err(WsError::ProtocolViolation(format!(
                "Opcode {other} is not supported"
            ))),
        }
    }

    fn data_frame(
        &mut self,
        io: &mut impl FrameRead,
        header: &FrameHeader,
        opcode: u8,
        start: bool,
        compressed: bool,
    ) -> WsResult<Option<Event>> {
        if start {
            self.last_opcode = Some(opcode);
            self.message.clear();
            self.utf8.reset();
        }
        let max = self.max_message_size;
        let from = self.message.len();
        let whole_in_one = start && header.fin && !compressed;
        if let (true, Some(inflater)) = (compressed, self.inflater.as_mut()) {
            if header.payload_len > compressed_frame_limit(max) {
                return Err(too_big(header.payload_len, compressed_frame_limit(max)));
            }
            self.compressed.clear();
            read_payload(io, header, &mut self.compressed)?;
            inflater.inflate(&self.compressed, &mut self.message, max)?;
            if header.fin {
                inflater.finish_message(&mut self.message, max)?;
            }
            if self.compressed.capacity() > KEEP_SCRATCH {
                self.compressed = Vec::new();
            }
            if opcode == OPCODE_TEXT {
                self.utf8
                    .feed(&self.message[from..])
                    .map_err(|_| invalid_utf8())?;
            }
        } else {
            let total = from as u64 + header.payload_len;
            if total > max as u64 {
                return Err(too_big(total, max as u64));
            }
            if opcode == OPCODE_TEXT {
                let utf8 = &mut self.utf8;
                // Pieces are checked as they arrive (1007 before the rest of a bad frame); the
                // last piece of a one-frame message is left to the final from_utf8.
                read_payload_checked(io, header, &mut self.message, |piece, last| {
                    if whole_in_one && last {
                        return Ok(());
                    }
                    utf8.feed(piece).map_err(|_| invalid_utf8())
                })?;
            } else {
                read_payload(io, header, &mut self.message)?;
            }
        }
        if !header.fin {
            self.fragmented = Some(Fragmented { opcode, compressed });
            return Ok(None);
        }
        self.fragmented = None;
        let payload = std::mem::take(&mut self.message);
        if opcode == OPCODE_BINARY {
            return Ok(Some(Event::Binary(payload)));
        }
        if !whole_in_one {
            self.utf8.finish().map_err(|_| invalid_utf8())?;
        }
        String::from_utf8(payload)
            .map(|text| Some(Event::Text(text)))
            .map_err(|_| invalid_utf8())
    }

    /// Drops a half-received message after an error (the connection is normally closing).
    fn abort_message(&mut self) {
        self.fragmented = None;
        self.message = Vec::new();
        self.utf8.reset();
        self.partial_text = None;
        if let Some(inflater) = self.inflater.as_mut() {
            inflater.reset();
        }
    }

    fn skip_payload(&mut self, io: &mut impl FrameRead, header: &FrameHeader) -> WsResult<()> {
        if header.payload_len > self.max_message_size as u64 {
            return Ok(());
        }
        let mut remaining = header.payload_len as usize;
        // On the heap: this frame sits under every blocking read, and idle threads' stacks
        // count towards the memory each connection costs.
        let mut sink = vec![0u8; remaining.min(4096)];
        while remaining > 0 {
            let step = remaining.min(sink.len());
            frame::read_exact(io, &mut sink[..step])?;
            remaining -= step;
        }
        Ok(())
    }
}

/// Deflate can expand incompressible data slightly; allow for that in one compressed frame.
/// Saturating: a limit near `usize::MAX` (`--max-message-size` as "no limit") must not wrap.
fn compressed_frame_limit(max: usize) -> u64 {
    let max = max as u64;
    max.saturating_add(max / 64).saturating_add(1024)
}

fn rsv_error(header: &FrameHeader) -> WsError {
    WsError::ProtocolViolation(format!(
        "Unsupported flag is set (rsv = {}{}{})",
        u8::from(header.rsv1),
        u8::from(header.rsv2),
        u8::from(header.rsv3)
    ))
}

fn invalid_utf8() -> WsError {
    WsError::InvalidUtf8("Received a text message that is not valid UTF-8".into())
}

fn control_event(opcode: u8, payload: Vec<u8>) -> WsResult<Event> {
    match opcode {
        OPCODE_CLOSE => {
            validate_close_body(&payload)?;
            Ok(Event::Close(payload))
        }
        OPCODE_PING => Ok(Event::Ping(payload)),
        _ => Ok(Event::Pong(payload)),
    }
}

/// Close codes a peer may send (RFC 6455 §7.4; 1012-1014 are registered by IANA).
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// An empty body, or a valid code followed by a UTF-8 reason.
pub fn validate_close_body(body: &[u8]) -> WsResult<()> {
    match body {
        [] => Ok(()),
        [_] => Err(WsError::InvalidFrame(
            "If a close frame has status code, the length of status code must be 2 octet".into(),
        )),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !is_valid_close_code(code) {
                return Err(WsError::InvalidFrame(format!("Invalid close code {code}")));
            }
            str::from_utf8(reason).map(|_| ()).map_err(|_| {
                WsError::InvalidUtf8("The reason of a close frame is not valid UTF-8".into())
            })
        }
    }
}
