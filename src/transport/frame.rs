//! The frame codec of the byte-stream transports: `[len u32 LE][payload]`.
//!
//! [`encode_into`] builds one frame; [`FrameBuf`] reassembles frames from whatever pieces
//! `read(2)` returns. A frame that is complete stays in the buffer until the caller
//! [`consume`](FrameBuf::consume)s it, which is how a receive into a buffer that is too small
//! keeps the message for the next call; a frame that is incomplete stays too, so a
//! non-blocking receive that got half a frame loses nothing.

use crate::error::{Error, Result};

/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 4;

/// The largest payload a frame can describe (the two largest lengths are control frames).
pub const MAX_PAYLOAD: usize = u32::MAX as usize - 2;

/// A control frame (a length prefix with no payload): the sender process has started
/// sending on this stream (`pipe://`, `fifo://`: each process that sends writes one first).
pub const HELLO: u32 = u32::MAX - 1;
/// A control frame: the sender closes cleanly. A stream that ends without one (for a
/// `fifo://` or `pipe://`: fewer goodbyes than hellos) lost a sender that died.
pub const BYE: u32 = u32::MAX;

/// The buffer's initial size: the default capacity of a Linux pipe, so one `read` can take
/// everything a pipe holds.
const INITIAL_BUF: usize = 64 * 1024;

/// Replaces the contents of `out` with the frame carrying `payload`.
///
/// # Panics
///
/// If `payload` is longer than [`MAX_PAYLOAD`] (callers check `msg_size` first).
pub fn encode_into(payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).expect("frame payload longer than u32::MAX");
    out.clear();
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Receive-side reassembly: bytes read so far, `buf[start..end]`, beginning at a frame
/// boundary.
#[derive(Debug)]
pub struct FrameBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    msg_size: usize,
}

impl FrameBuf {
    /// An empty buffer for frames of at most `msg_size` payload bytes. It starts at 64 KiB
    /// (or less for small messages) and grows to hold the largest frame met.
    pub fn new(msg_size: usize) -> FrameBuf {
        let size = INITIAL_BUF.min(HEADER_LEN.saturating_add(msg_size).max(4 * HEADER_LEN).max(512));
        FrameBuf {
            buf: vec![0; size],
            start: 0,
            end: 0,
            msg_size,
        }
    }

    /// The largest payload a frame may carry.
    pub fn msg_size(&self) -> usize {
        self.msg_size
    }

    /// Bytes held: part of a frame, or whole frames not yet consumed.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// The length in the header of the first frame, if its header is complete.
    fn header_len(&self) -> Option<usize> {
        let h = self.buf.get(self.start..self.start + HEADER_LEN)?;
        if self.buffered() < HEADER_LEN {
            return None;
        }
        Some(u32::from_le_bytes(h.try_into().expect("4 bytes")) as usize)
    }

    /// If the first frame is a control frame ([`HELLO`], [`BYE`]), takes it and returns it.
    pub fn take_control(&mut self) -> Option<u32> {
        let len = self.header_len()? as u32;
        if len != HELLO && len != BYE {
            return None;
        }
        self.consume(0);
        Some(len)
    }

    /// The payload length of the first frame if it is complete; `None` if more bytes are
    /// needed.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupted`] if the header announces more than `msg_size` bytes (the stream is
    /// not ours, or frames of several writers interleaved; nothing after it can be trusted).
    pub fn next_frame(&self) -> Result<Option<usize>> {
        let Some(len) = self.header_len() else {
            return Ok(None);
        };
        if len > self.msg_size {
            return Err(Error::Corrupted {
                what: "frame length exceeds msg_size",
            });
        }
        Ok((self.buffered() >= HEADER_LEN + len).then_some(len))
    }

    /// The payload of the first frame, of length `len` as returned by
    /// [`next_frame`](Self::next_frame).
    pub fn frame(&self, len: usize) -> &[u8] {
        &self.buf[self.start + HEADER_LEN..self.start + HEADER_LEN + len]
    }

    /// Drops the first frame (payload length `len`).
    pub fn consume(&mut self, len: usize) {
        self.start += HEADER_LEN + len;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space to `read` into, never empty, large enough for the rest of the first frame
    /// (the buffer is compacted or grown as needed).
    pub fn space(&mut self) -> &mut [u8] {
        let need = self
            .header_len()
            .map_or(HEADER_LEN, |len| HEADER_LEN + len.min(self.msg_size));
        if self.start + need > self.buf.len() || self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if need > self.buf.len() || self.end == self.buf.len() {
            let grown = need.max(self.end + 1);
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into [`space`](Self::space).
    pub fn filled(&mut self, n: usize) {
        self.end += n;
        debug_assert!(self.end <= self.buf.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` to a FrameBuf in pieces of at most `piece` bytes and collects frames.
    fn reassemble(stream: &[u8], piece: usize, msg_size: usize) -> Result<Vec<Vec<u8>>> {
        let mut fb = FrameBuf::new(msg_size);
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            while let Some(len) = fb.next_frame()? {
                out.push(fb.frame(len).to_vec());
                fb.consume(len);
            }
            if pos == stream.len() {
                break;
            }
            let space = fb.space();
            assert!(!space.is_empty());
            let n = piece.min(space.len()).min(stream.len() - pos);
            space[..n].copy_from_slice(&stream[pos..pos + n]);
            fb.filled(n);
            pos += n;
        }
        assert_eq!(fb.buffered(), 0, "bytes left over");
        Ok(out)
    }

    fn stream_of(msgs: &[Vec<u8>]) -> Vec<u8> {
        let mut s = Vec::new();
        let mut f = Vec::new();
        for m in msgs {
            encode_into(m, &mut f);
            s.extend_from_slice(&f);
        }
        s
    }

    #[test]
    fn encode_layout() {
        let mut f = vec![9; 3];
        encode_into(&[], &mut f);
        assert_eq!(f, [0, 0, 0, 0]);
        encode_into(&[7; 300], &mut f);
        assert_eq!(&f[..4], &300u32.to_le_bytes());
        assert_eq!(f.len(), 304);
    }

    #[test]
    #[cfg_attr(miri, ignore = "megabytes of byte-wise work: minutes under Miri")]
    fn round_trip_every_piece_size() {
        let msgs: Vec<Vec<u8>> = (0..40usize)
            .map(|i| (0..i * 7 % 97).map(|b| b as u8 ^ i as u8).collect())
            .collect();
        let stream = stream_of(&msgs);
        for piece in 1..=stream.len().min(300) {
            assert_eq!(reassemble(&stream, piece, 96).unwrap(), msgs, "piece {piece}");
        }
        assert_eq!(reassemble(&stream, usize::MAX, 96).unwrap(), msgs);
    }

    #[test]
    #[cfg_attr(miri, ignore = "megabytes of byte-wise work: minutes under Miri")]
    fn grows_for_large_frames() {
        let msgs = vec![vec![1u8; 200_000], vec![], vec![2u8; 70_000], vec![3u8; 1]];
        let stream = stream_of(&msgs);
        for piece in [1, 4095, 4096, 65_536, usize::MAX] {
            assert_eq!(reassemble(&stream, piece, 200_000).unwrap(), msgs, "piece {piece}");
        }
    }

    #[test]
    fn oversized_header_is_corrupted() {
        let stream = stream_of(&[vec![0u8; 17]]);
        let err = reassemble(&stream, 3, 16).unwrap_err();
        assert!(matches!(err, Error::Corrupted { .. }), "{err}");
        // Exactly msg_size is fine.
        assert_eq!(reassemble(&stream, 3, 17).unwrap().len(), 1);
    }

    #[test]
    fn incomplete_frame_is_kept() {
        let stream = stream_of(&[b"hello".to_vec()]);
        let mut fb = FrameBuf::new(16);
        for (i, &b) in stream.iter().enumerate() {
            assert_eq!(fb.next_frame().unwrap(), None, "after {i} bytes");
            fb.space()[0] = b;
            fb.filled(1);
        }
        let len = fb.next_frame().unwrap().unwrap();
        assert_eq!(fb.frame(len), b"hello");
        // Not consumed: still there.
        assert_eq!(fb.next_frame().unwrap(), Some(5));
        fb.consume(len);
        assert_eq!(fb.buffered(), 0);
    }
}

#[cfg(test)]
mod examples {
    //! What the items above do, shown as tests (their module is not public API, so these
    //! are unit tests, not doc examples).

    #[test]
    fn encode_into() {
        let mut f = Vec::new();
        crate::transport::frame::encode_into(b"hi", &mut f);
        assert_eq!(f, [2, 0, 0, 0, b'h', b'i']);
    }
}
