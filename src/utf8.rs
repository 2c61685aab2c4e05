//! Incremental UTF-8 validation across fragments: an error is reported as soon as a byte
//! makes the message invalid, not only when the message is complete.

use std::str;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error;

/// Remembers an incomplete trailing sequence (at most 3 bytes) between chunks.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    carry: [u8; 4],
    carry_len: usize,
}

/// Length of the sequence a valid lead byte starts (only called on std-approved prefixes).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

impl Utf8Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn reset(&mut self) {
        self.carry_len = 0;
    }

    /// Validates the next chunk of the message.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), Utf8Error> {
        if self.carry_len > 0 {
            let need = sequence_len(self.carry[0]) - self.carry_len;
            let take = need.min(chunk.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&chunk[..take]);
            self.carry_len += take;
            chunk = &chunk[take..];
            match str::from_utf8(&self.carry[..self.carry_len]) {
                Ok(_) => self.carry_len = 0,
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(Utf8Error),
            }
        }
        match str::from_utf8(chunk) {
            Ok(_) => Ok(()),
            // A valid prefix of a sequence cut at the chunk boundary: wait for the rest.
            Err(e) if e.error_len().is_none() => {
                let tail = &chunk[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len();
                Ok(())
            }
            Err(_) => Err(Utf8Error),
        }
    }

    /// Ends the message: an incomplete trailing sequence is invalid. Resets the state.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let complete = self.carry_len == 0;
        self.carry_len = 0;
        if complete {
            Ok(())
        } else {
            Err(Utf8Error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn validate_split(bytes: &[u8], cuts: &[usize]) -> Result<(), Utf8Error> {
        let mut validator = Utf8Validator::new();
        let mut start = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        for cut in cuts {
            validator.feed(&bytes[start..cut])?;
            start = cut;
        }
        validator.feed(&bytes[start..])?;
        validator.finish()
    }

    #[test]
    fn known_cases() {
        assert!(validate_split("κόσμε".as_bytes(), &[1, 3, 4]).is_ok());
        assert!(validate_split(b"\xf0\x9f\x98\x80", &[1, 2, 3]).is_ok());
        assert!(validate_split(b"\xf0\x9f\x98", &[1]).is_err());
        assert!(validate_split(b"\xed\xa0\x80", &[1]).is_err());
        assert!(validate_split(b"\x80", &[]).is_err());
    }

    #[test]
    fn reports_invalid_before_message_end() {
        let mut validator = Utf8Validator::new();
        assert!(validator.feed(b"\xce").is_ok());
        // 0xce must be followed by a continuation byte: fails on this chunk, not at finish.
        assert!(validator.feed(b"A").is_err());
        let mut validator = Utf8Validator::new();
        assert!(validator.feed(b"ok\xf4\x90").is_err());
    }

    proptest! {
        #[test]
        fn equals_std_on_any_split(
            bytes in proptest::collection::vec(
                prop_oneof![any::<u8>(), 0x80u8..0xc0, 0xc2u8..0xf5], 0..40),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let expected = str::from_utf8(&bytes).is_ok();
            prop_assert_eq!(validate_split(&bytes, &cuts).is_ok(), expected);
        }

        #[test]
        fn valid_text_on_any_split(
            text in "\\PC*",
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            prop_assert!(validate_split(text.as_bytes(), &cuts).is_ok());
        }
    }
}
