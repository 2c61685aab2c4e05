//! The byte transport the protocol engine runs over. Implementations block; callers that
//! hold the GIL must release it first (see `py_engine`).

use std::io;

/// The receive half: exact-size reads, as upstream `Stream._read` does.
pub trait FrameRead {
    /// Fill `buf` completely; `ErrorKind::UnexpectedEof` when the peer closed first.
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()>;

    /// Appends exactly `len` bytes to `out`. This default zero-fills, then reads; a source
    /// with its own buffer copies from it instead (for a large payload the zero fill is as
    /// costly as the copy).
    fn read_append(&mut self, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
        append_zero_filled(self, len, out)
    }

    /// Appends 1 to `max` bytes to `out` and returns how many: what one receive brings, so a
    /// caller can check a payload while it arrives. This default appends all `max`.
    fn read_some(&mut self, max: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        self.read_append(max, out).map(|()| max)
    }
}

/// The default `read_append`: zero-fill `len` more bytes of `out`, then `read_exact` them.
pub fn append_zero_filled<R: FrameRead + ?Sized>(
    io: &mut R,
    len: usize,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let start = out.len();
    out.resize(start + len, 0);
    io.read_exact(&mut out[start..])
}

/// The send half: one call writes one whole frame (or raw chunk), in order.
pub trait FrameWrite {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()>;
}

/// In-memory transport for tests: reads come from `input` in chunks of at most `chunk`.
#[derive(Debug, Default)]
pub struct MemoryIo {
    pub input: Vec<u8>,
    pub pos: usize,
    pub chunk: usize,
    pub output: Vec<u8>,
}

impl MemoryIo {
    pub fn new(input: Vec<u8>) -> Self {
        MemoryIo {
            input,
            pos: 0,
            chunk: usize::MAX,
            output: Vec::new(),
        }
    }
}

impl FrameRead for MemoryIo {
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let remaining = self.input.len() - self.pos;
            if remaining == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "end of input"));
            }
            let take = (buf.len() - filled).min(remaining).min(self.chunk.max(1));
            buf[filled..filled + take].copy_from_slice(&self.input[self.pos..self.pos + take]);
            self.pos += take;
            filled += take;
        }
        Ok(())
    }

    fn read_some(&mut self, max: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        let remaining = self.input.len() - self.pos;
        if remaining == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "end of input"));
        }
        let take = max.min(remaining).min(self.chunk.max(1));
        out.extend_from_slice(&self.input[self.pos..self.pos + take]);
        self.pos += take;
        Ok(take)
    }
}

impl FrameWrite for MemoryIo {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.output.extend_from_slice(data);
        Ok(())
    }
}
