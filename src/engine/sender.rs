//! The send side: one frame per call, written with exactly one `write_all`.

use crate::deflate::Deflater;
use crate::error::{WsError, WsResult};
use crate::frame::{
    encode_frame, is_control, MAX_CONTROL_PAYLOAD, OPCODE_BINARY, OPCODE_CONTINUATION, OPCODE_TEXT,
};
use crate::transport::FrameWrite;

/// Frame buffers above this size are released after the write instead of kept.
const KEEP_BUFFER: usize = 256 * 1024;

pub struct Sender {
    mask_send: bool,
    /// The type (text or binary) of the fragmented message being sent, if any.
    fragment_type: Option<u8>,
    deflater: Option<Deflater>,
    compress_outgoing: bool,
    /// A compressed message is in progress, so later frames carry no RSV1.
    compress_ongoing: bool,
    frame: Vec<u8>,
    compressed: Vec<u8>,
}

impl Sender {
    pub fn new(mask_send: bool) -> Self {
        Sender {
            mask_send,
            fragment_type: None,
            deflater: None,
            compress_outgoing: false,
            compress_ongoing: false,
            frame: Vec::new(),
            compressed: Vec::new(),
        }
    }

    /// Turns on permessage-deflate for outgoing messages.
    pub fn enable_deflate(&mut self, window_bits: u8, no_context_takeover: bool, bfinal: bool) {
        self.deflater = Some(Deflater::new(window_bits, no_context_takeover, bfinal));
        self.compress_outgoing = true;
    }

    /// Upstream `enable_outgoing_compression` / `disable_outgoing_compression`.
    pub fn set_outgoing_compression(&mut self, enabled: bool) {
        self.compress_outgoing = enabled;
    }

    /// Sends one frame of a (possibly fragmented) message; `payload` is UTF-8 for text.
    pub fn send_message(
        &mut self,
        io: &mut impl FrameWrite,
        payload: &[u8],
        end: bool,
        binary: bool,
    ) -> WsResult<()> {
        self.encode_message(payload, end, binary)?;
        self.write_frame(io)
    }

    /// The first half of `send_message`: the frame is built (and the compressor advanced);
    /// the caller must then either `write_frame` or hand `frame()` on itself.
    pub fn encode_message(&mut self, payload: &[u8], end: bool, binary: bool) -> WsResult<()> {
        let message_type = if binary { OPCODE_BINARY } else { OPCODE_TEXT };
        let opcode = match self.fragment_type {
            Some(started) if started != message_type => {
                return Err(WsError::BadOperation(
                    "Message types are different in frames for the same message".into(),
                ))
            }
            Some(_) => OPCODE_CONTINUATION,
            None => message_type,
        };
        self.frame.clear();
        match self.deflater.as_mut() {
            Some(deflater) if self.compress_outgoing => {
                self.compressed.clear();
                deflater.compress(payload, end, &mut self.compressed)?;
                let rsv1 = !self.compress_ongoing;
                let data = &self.compressed;
                encode_frame(
                    &mut self.frame,
                    opcode,
                    end,
                    rsv1,
                    false,
                    false,
                    data,
                    self.mask_send,
                );
                self.compress_ongoing = !end;
            }
            _ => encode_frame(
                &mut self.frame,
                opcode,
                end,
                false,
                false,
                false,
                payload,
                self.mask_send,
            ),
        }
        self.fragment_type = if end { None } else { Some(message_type) };
        Ok(())
    }

    /// The frame `encode_message` built.
    pub fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// Sends one unfragmented frame as is; control frames are limited to 125 bytes.
    pub fn send_frame(
        &mut self,
        io: &mut impl FrameWrite,
        opcode: u8,
        payload: &[u8],
    ) -> WsResult<()> {
        if opcode > 0x0f {
            return Err(WsError::Value("Opcode out of range".into()));
        }
        if is_control(opcode) && payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(WsError::BadOperation(
                "Payload data size of control frames must be 125 bytes or less".into(),
            ));
        }
        self.frame.clear();
        encode_frame(
            &mut self.frame,
            opcode,
            true,
            false,
            false,
            false,
            payload,
            self.mask_send,
        );
        self.write_frame(io)
    }

    pub fn write_frame(&mut self, io: &mut impl FrameWrite) -> WsResult<()> {
        let result = io.write_all(&self.frame);
        if self.frame.capacity() > KEEP_BUFFER {
            self.frame = Vec::new();
        }
        if self.compressed.capacity() > KEEP_BUFFER {
            self.compressed = Vec::new();
        }
        result.map_err(WsError::Io)
    }
}
