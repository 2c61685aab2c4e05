//! Helpers shared by the fuzz targets in `fuzz_targets/`: how an input is cut into pieces,
//! and the receive loops whose results the targets compare.

use pywebsocket::engine::{Event, Receiver};
use pywebsocket::error::WsError;
use pywebsocket::transport::MemoryIo;

/// End offsets (increasing, the last one `len`) cutting `len` bytes into pieces: byte by
/// byte for seed 0, everything at once for 255, otherwise pseudo-random sizes in 1..=seed.
pub fn split_points(seed: u8, len: usize) -> Vec<usize> {
    match seed {
        0 => (1..=len).collect(),
        255 => vec![len],
        _ => {
            let mut state = u32::from(seed) | 0x9e37_7900;
            let mut ends = Vec::new();
            let mut at = 0;
            while at < len {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                at = (at + 1 + state as usize % usize::from(seed)).min(len);
                ends.push(at);
            }
            ends
        }
    }
}

/// Reads bytes off the front of a fuzz input; zero once it is used up.
pub struct Knobs<'a> {
    pub rest: &'a [u8],
}

impl Knobs<'_> {
    pub fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&first, rest)) => {
                self.rest = rest;
                first
            }
            None => 0,
        }
    }

    pub fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }
}

/// The variant of an error without its message (messages may quote read sizes).
pub fn error_kind(err: &WsError) -> &'static str {
    match err {
        WsError::ConnectionTerminated(_) => "ConnectionTerminated",
        WsError::InvalidFrame(_) => "InvalidFrame",
        WsError::ProtocolViolation(_) => "ProtocolViolation",
        WsError::InvalidUtf8(_) => "InvalidUtf8",
        WsError::MessageTooBig(_) => "MessageTooBig",
        WsError::BadOperation(_) => "BadOperation",
        WsError::Io(_) => "Io",
        WsError::Value(_) => "Value",
        WsError::Type(_) => "Type",
    }
}

/// Blocking receives over `input` (reads of at most `chunk` bytes) until the first error.
pub fn receive_blocking(
    receiver: &mut Receiver,
    input: &[u8],
    chunk: usize,
) -> (Vec<Event>, &'static str) {
    let mut io = MemoryIo::new(input.to_vec());
    io.chunk = chunk;
    let mut events = Vec::new();
    loop {
        match receiver.receive(&mut io) {
            Ok(event) => events.push(event),
            Err(err) => return (events, error_kind(&err)),
        }
    }
}

/// What the non-blocking path made of an input fed in pieces.
pub struct BufferedOutcome {
    pub events: Vec<Event>,
    pub error: Option<&'static str>,
    /// Bytes left in the buffer (an incomplete frame) when the input ran out.
    pub leftover: Vec<u8>,
}

/// `receive_buffered` as a loop-driven connection calls it: bytes arrive at `ends`, each
/// arrival is followed by calls until one returns no event.
pub fn receive_in_pieces(receiver: &mut Receiver, input: &[u8], ends: &[usize]) -> BufferedOutcome {
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    let mut start = 0;
    for &end in ends {
        buffer.extend_from_slice(&input[start..end]);
        start = end;
        loop {
            let (consumed, result) = receiver.receive_buffered(&buffer);
            assert!(consumed <= buffer.len(), "consumed past the buffer");
            buffer.drain(..consumed);
            match result {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(err) => {
                    return BufferedOutcome {
                        events,
                        error: Some(error_kind(&err)),
                        leftover: buffer,
                    }
                }
            }
        }
    }
    BufferedOutcome {
        events,
        error: None,
        leftover: buffer,
    }
}

/// The size of a message event's payload (control frames included).
pub fn event_len(event: &Event) -> usize {
    match event {
        Event::Text(text) => text.len(),
        Event::Binary(data) | Event::Close(data) | Event::Ping(data) | Event::Pong(data) => {
            data.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_points;

    #[test]
    fn pieces_cover_everything_in_order() {
        for seed in 0..=255u8 {
            for len in [0usize, 1, 7, 300] {
                let ends = split_points(seed, len);
                assert!(ends.windows(2).all(|w| w[0] < w[1]));
                assert_eq!(ends.last().copied().unwrap_or(0), len);
            }
        }
    }
}
