//! Early UTF-8 failure for a text frame that is still arriving into a buffer
//! (`Receiver::receive_buffered`, the path of loop-driven connections): its payload prefix
//! is checked as it grows, each byte once, so a bad start fails before the rest is sent.

use super::{invalid_utf8, FrameKind, Receiver};
use crate::error::WsResult;
use crate::frame::{apply_mask, read_header, SliceReader, OPCODE_TEXT};
use crate::utf8::Utf8Validator;

/// How far the payload of the incomplete frame at the front of the buffer has been checked.
#[derive(Debug, Clone)]
pub(super) struct PartialText {
    checked: usize,
    validator: Utf8Validator,
}

impl Receiver {
    /// Checks the new payload bytes of the incomplete frame that starts `rest`, when it is an
    /// uncompressed text frame; anything else (an incomplete header, a frame error, binary
    /// or compressed data) is left to the complete frame.
    pub(super) fn check_partial_text(&mut self, rest: &[u8]) -> WsResult<()> {
        let mut reader = SliceReader { data: rest };
        let Ok(header) = read_header(&mut reader, self.unmask_receive) else {
            return Ok(());
        };
        let Ok(FrameKind::Data {
            opcode: OPCODE_TEXT,
            start,
            compressed: false,
        }) = self.classify(&header)
        else {
            return Ok(());
        };
        let arrived = reader.data;
        let mut partial = self.partial_text.take().unwrap_or_else(|| PartialText {
            checked: 0,
            validator: if start {
                Utf8Validator::new()
            } else {
                self.utf8.clone()
            },
        });
        if arrived.len() > partial.checked {
            let mut piece = arrived[partial.checked..].to_vec();
            if let Some(key) = header.mask_key {
                apply_mask(&mut piece, key, partial.checked);
            }
            partial.validator.feed(&piece).map_err(|_| invalid_utf8())?;
            partial.checked = arrived.len();
        }
        self.partial_text = Some(partial);
        Ok(())
    }
}
