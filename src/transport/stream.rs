//! Framed messages over a file descriptor ([`FdSender`], [`FdReceiver`]), shared by
//! `pipe://` ([`super::pipe::pair`]) and `fifo:///path` (see [`super::fifo`]).
//!
//! - Both ends make their descriptor `O_NONBLOCK` (on the open file description, so a
//!   process sharing it across `fork` sees the flag too) and wait with `ppoll(2)` for the
//!   time left to the absolute `CLOCK_MONOTONIC` deadline; `EINTR` goes round again with the
//!   same deadline.
//! - A send writes one whole frame. If it managed to write part of a frame (only possible for
//!   frames longer than `PIPE_BUF`) it finishes the frame before returning, waiting as long
//!   as needed whatever its timeout: half a frame left in the stream would corrupt every
//!   message after it. A timeout (or `Timeout::NonBlocking`) is honoured only while nothing of the
//!   frame has been written.
//! - `EPIPE` becomes [`Error::Disconnected`] without a `SIGPIPE` ever being delivered and
//!   without touching the process's signal disposition: SIGPIPE is blocked in the calling
//!   thread around the write, a SIGPIPE the write raised is consumed with a zero-timeout
//!   `sigtimedwait` (only if none was pending before), and the mask is restored.
//! - Crash or close: each process that sends on a sender writes a [`frame::HELLO`] control
//!   frame before its first message, and a sender dropped in a process that wrote one writes
//!   a [`frame::BYE`] (both 4 bytes, atomic). The receiver counts them: an end of the stream
//!   with fewer goodbyes than hellos is [`Error::SenderDied`] instead of end of stream. A
//!   drop waits at most [`BYE_WAIT`] for room for its goodbye (a receiver that reads nothing
//!   for that long would then report the sender as dead). A sender that dies before it sent
//!   anything is not seen at all.

use super::frame::{self, FrameBuf};
use super::{MsgReceiver, MsgSender};
use crate::error::{Error, Result};
use crate::sys::fd::{set_nonblock, wait_fd, write_nosigpipe};
use crate::transport::readiness::{self as ready, Readiness};
use crate::timeout::Timeout;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// Frames of at most this many bytes (`msg_size + 4`) are written atomically by one
/// `write(2)`: frames of several writers never interleave.
pub const PIPE_BUF: usize = libc::PIPE_BUF;

pub(crate) fn check_msg_size(msg_size: usize) -> Result<()> {
    if msg_size > frame::MAX_PAYLOAD {
        return Err(Error::InvalidOption {
            option: "msg_size",
            value: msg_size as u64,
            reason: "a frame's length is a u32",
        });
    }
    Ok(())
}

/// How long a dropped sender waits for room for its goodbye frame.
pub const BYE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The sending end: one [`send`](Self::send) writes one frame.
///
/// Its readiness descriptor ([`MsgSender::fd`]) is an epoll instance watching the write end
/// for `EPOLLOUT` (room for a frame of up to `PIPE_BUF` bytes) and `EPOLLERR` (no reader
/// left): a send keeps no state between calls, so the kernel's readiness is the whole story.
#[derive(Debug)]
pub struct FdSender {
    w: FdWriter,
    ready: Readiness,
}

/// The frame writer behind [`FdSender`] and the FIFO's lazily opened sender.
#[derive(Debug)]
pub(crate) struct FdWriter {
    fd: OwnedFd,
    msg_size: usize,
    frame: Vec<u8>,
    /// The process that wrote this sender's hello (0: none yet). A forked child that sends
    /// writes its own; only the process that wrote one writes a goodbye.
    hello_pid: u32,
}

/// Writes a 4-byte control frame, waiting as `timeout` allows for room.
fn write_control(fd: RawFd, marker: u32, timeout: &Timeout) -> Result<()> {
    let b = marker.to_le_bytes();
    loop {
        match write_nosigpipe(fd, &b) {
            // Four bytes are below PIPE_BUF: written whole or not at all.
            Ok(_) => return Ok(()),
            Err(e) => match e.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => {
                    wait_fd(fd, libc::POLLOUT, timeout)?;
                }
                Some(libc::EPIPE) => return Err(Error::Disconnected),
                _ => return Err(Error::Io { op: "write", source: e }),
            },
        }
    }
}

impl Drop for FdWriter {
    fn drop(&mut self) {
        if self.hello_pid != 0 && self.hello_pid == std::process::id() {
            let t = Timeout::after(BYE_WAIT);
            let _ = crate::sys::intr::shield(|| write_control(self.fd.as_raw_fd(), frame::BYE, &t));
        }
    }
}

impl FdSender {
    /// Takes over `fd` (the write end of a pipe or FIFO) and makes it `O_NONBLOCK`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a `msg_size` above `u32::MAX`; [`Error::Io`] if `fcntl`
    /// fails or the readiness descriptor cannot be made.
    pub fn new(fd: OwnedFd, msg_size: usize) -> Result<FdSender> {
        let w = FdWriter::new(fd, msg_size)?;
        let ready = Readiness::new(false)?;
        ready.watch(w.fd.as_raw_fd(), ready::OUT)?;
        Ok(FdSender { w, ready })
    }

    /// The largest message this end sends.
    #[cfg(ipcring_test)] // used by the tests that drive this transport directly
    pub fn msg_size(&self) -> usize {
        self.w.msg_size
    }

    /// Sends `msg` as one frame (see [`FdWriter::send`]).
    ///
    /// # Errors
    ///
    /// As [`FdWriter::send`].
    pub fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        let r = self.w.send(msg, timeout);
        self.ready.after(&r, || false, || false);
        r
    }
}

impl FdWriter {
    /// Takes over `fd` (the write end of a pipe or FIFO) and makes it `O_NONBLOCK`.
    pub(crate) fn new(fd: OwnedFd, msg_size: usize) -> Result<FdWriter> {
        check_msg_size(msg_size)?;
        set_nonblock(fd.as_raw_fd())?;
        Ok(FdWriter {
            fd,
            msg_size,
            frame: Vec::new(),
            hello_pid: 0,
        })
    }

    /// The write end.
    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends `msg` as one frame.
    ///
    /// Frames of up to [`PIPE_BUF`] bytes (`msg.len() + 4`) go out in one atomic `write`, so
    /// several senders on one pipe or FIFO never interleave. Longer frames may be written in
    /// pieces: with several senders their pieces can interleave and the receiver then sees
    /// garbage (`Corrupted`, or wrong messages). Use one sender per pipe when `msg_size + 4`
    /// exceeds `PIPE_BUF`. Once part of a frame is written the call finishes the frame,
    /// waiting as long as it takes, even with `Timeout::NonBlocking` (see the module docs).
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] (nothing written), [`Error::WouldBlock`] / [`Error::TimedOut`]
    /// (nothing written), [`Error::Disconnected`] when no reader is left, [`Error::Io`].
    pub fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        if msg.len() > self.msg_size {
            return Err(Error::TooLarge {
                len: msg.len(),
                max: self.msg_size,
            });
        }
        let fd = self.fd.as_raw_fd();
        let pid = std::process::id();
        if self.hello_pid != pid {
            write_control(fd, frame::HELLO, &timeout)?;
            self.hello_pid = pid;
        }
        frame::encode_into(msg, &mut self.frame);
        let mut off = 0;
        while off < self.frame.len() {
            match write_nosigpipe(fd, &self.frame[off..]) {
                Ok(0) => {
                    crate::sys::intr::shield(|| wait_fd(fd, libc::POLLOUT, &Timeout::Forever))?;
                }
                Ok(n) => off += n,
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EAGAIN) => {
                        // Part of the frame is out: the rest goes whatever the timeout, and
                        // an interrupt cannot cut it short either.
                        if off == 0 {
                            wait_fd(fd, libc::POLLOUT, &timeout)?;
                        } else {
                            crate::sys::intr::shield(|| wait_fd(fd, libc::POLLOUT, &Timeout::Forever))?;
                        }
                    }
                    Some(libc::EPIPE) => return Err(Error::Disconnected),
                    _ => return Err(Error::Io { op: "write", source: e }),
                },
            }
        }
        Ok(())
    }
}

impl FdWriter {
    /// Refuses a `msg_size` a frame header cannot describe.
    pub(crate) fn check_msg_size(msg_size: usize) -> Result<()> {
        check_msg_size(msg_size)
    }
}

impl MsgSender for FdSender {
    fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        FdSender::send(self, msg, timeout)
    }

    fn msg_size(&self) -> usize {
        self.w.msg_size
    }

    /// Another descriptor for the same pipe (`dup`): frames of up to `PIPE_BUF` bytes are
    /// written atomically, so several senders are fine below that size and refused above.
    fn try_clone(&self) -> Result<Box<dyn MsgSender>> {
        if self.w.msg_size + frame::HEADER_LEN > PIPE_BUF {
            return Err(Error::Unsupported {
                what: "several senders on a pipe whose msg_size + 4 exceeds PIPE_BUF (frames would interleave)",
            });
        }
        let fd = self.w.fd.try_clone().map_err(|e| Error::Io { op: "dup", source: e })?;
        Ok(Box::new(FdSender::new(fd, self.w.msg_size)?))
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.ready.fd()
    }
}

impl AsFd for FdSender {
    /// The pipe's write end (not the readiness descriptor: see [`MsgSender::fd`]).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.w.fd.as_fd()
    }
}

impl AsRawFd for FdSender {
    fn as_raw_fd(&self) -> RawFd {
        self.w.fd.as_raw_fd()
    }
}

/// The receiving end: one [`recv`](Self::recv) returns one whole message.
///
/// Its readiness descriptor ([`MsgReceiver::fd`]) is an epoll instance watching the read end
/// for `EPOLLIN` (data) and `EPOLLHUP` (every writer gone: end of stream, or a truncated
/// frame), plus an eventfd set while a whole frame is buffered here (one `read(2)` takes as
/// many frames as the buffer holds, and the pipe may then be empty).
#[derive(Debug)]
pub struct FdReceiver {
    fd: OwnedFd,
    buf: FrameBuf,
    /// Whether a writer has been seen. A FIFO opened before any writer reads 0 (EOF); until
    /// a writer has come, that means "no data yet", not end of stream.
    writer_seen: bool,
    ready: Readiness,
    /// Hello and goodbye control frames received (see the module docs).
    hellos: u64,
    byes: u64,
}

impl FdReceiver {
    /// Takes over `fd` (the read end of a pipe) and makes it `O_NONBLOCK`. A read of 0 at a
    /// frame boundary is end of stream.
    ///
    /// # Errors
    ///
    /// As [`FdSender::new`].
    pub fn new(fd: OwnedFd, msg_size: usize) -> Result<FdReceiver> {
        FdReceiver::with_writer_seen(fd, msg_size, true)
    }

    /// Like [`new`](Self::new), for a FIFO opened before any writer: reads of 0 count as
    /// "nothing yet" (the call waits) until a writer has written or come and gone.
    pub(crate) fn with_writer_seen(fd: OwnedFd, msg_size: usize, writer_seen: bool) -> Result<FdReceiver> {
        check_msg_size(msg_size)?;
        set_nonblock(fd.as_raw_fd())?;
        let ready = Readiness::new(false)?;
        ready.watch(fd.as_raw_fd(), ready::IN)?;
        Ok(FdReceiver {
            fd,
            buf: FrameBuf::new(msg_size),
            writer_seen,
            ready,
            hellos: 0,
            byes: 0,
        })
    }

    /// Receives one whole message into `out` and returns its length.
    ///
    /// Bytes of a partly received frame are kept across calls (a non-blocking call that got
    /// half a frame returns `WouldBlock` and the next call goes on from there).
    ///
    /// # Errors
    ///
    /// - [`Error::BufferTooSmall`]: the message stays here and the next call returns it;
    /// - [`Error::WouldBlock`] / [`Error::TimedOut`];
    /// - [`Error::EndOfStream`]: every writer has closed, at a frame boundary. The ends
    ///   describe the present: on a FIFO, a writer that opens it later makes data flow again;
    /// - [`Error::SenderDied`] instead, once a sender process that sent on this stream ended
    ///   without its goodbye (see the module docs);
    /// - [`Error::Corrupted`] `{ what: "truncated frame ..." }`: every writer closed in the
    ///   middle of a frame (a sender died mid-write); the partial frame is kept and each call
    ///   says so again. `"frame length exceeds msg_size"`: the stream is not framed by us, or
    ///   frames longer than `PIPE_BUF` of several writers interleaved;
    /// - [`Error::Io`].
    pub fn recv(&mut self, out: &mut [u8], timeout: Timeout) -> Result<usize> {
        let r = self.recv_inner(out, timeout);
        let buf = &self.buf;
        // A whole frame (or a frame header no message fits: `Corrupted` at once) buffered.
        self.ready.after(&r, || !matches!(buf.next_frame(), Ok(None)), || false);
        r
    }

    fn recv_inner(&mut self, out: &mut [u8], timeout: Timeout) -> Result<usize> {
        let fd = self.fd.as_raw_fd();
        loop {
            match self.buf.take_control() {
                Some(frame::HELLO) => {
                    self.hellos += 1;
                    continue;
                }
                Some(_) => {
                    self.byes += 1;
                    continue;
                }
                None => {}
            }
            if let Some(len) = self.buf.next_frame()? {
                if out.len() < len {
                    return Err(Error::BufferTooSmall {
                        needed: len,
                        capacity: out.len(),
                    });
                }
                out[..len].copy_from_slice(self.buf.frame(len));
                self.buf.consume(len);
                return Ok(len);
            }
            let space = self.buf.space();
            crate::sys::count::one();
            // SAFETY: space is valid for space.len() writable bytes; fd is ours.
            let n = unsafe { libc::read(fd, space.as_mut_ptr().cast(), space.len()) };
            if n > 0 {
                self.buf.filled(n as usize);
                self.writer_seen = true;
                continue;
            }
            if n == 0 {
                if self.buf.buffered() > 0 {
                    return Err(Error::Corrupted {
                        what: "truncated frame: every writer closed in the middle of a message",
                    });
                }
                if self.writer_seen {
                    return Err(if self.hellos > self.byes {
                        Error::SenderDied
                    } else {
                        Error::EndOfStream
                    });
                }
                // A FIFO without a writer yet. poll(2) reports POLLHUP on a FIFO's read end
                // only once a writer has come and gone since it was opened, so this waits
                // for the first writer.
                let rev = wait_fd(fd, libc::POLLIN, &timeout)?;
                if rev & libc::POLLHUP != 0 {
                    self.writer_seen = true;
                }
                continue;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => {
                    wait_fd(fd, libc::POLLIN, &timeout)?;
                }
                _ => return Err(Error::Io { op: "read", source: e }),
            }
        }
    }

    /// Receives one whole message into a new vector.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv), never `BufferTooSmall`.
    #[cfg(ipcring_test)] // used by the tests that drive this transport directly
    pub fn recv_vec(&mut self, timeout: Timeout) -> Result<Vec<u8>> {
        match self.recv(&mut [], timeout) {
            Ok(_) => Ok(Vec::new()),
            Err(Error::BufferTooSmall { needed, .. }) => {
                let mut v = vec![0; needed];
                let n = self.recv(&mut v, Timeout::NonBlocking)?;
                debug_assert_eq!(n, needed);
                Ok(v)
            }
            Err(e) => Err(e),
        }
    }
}

impl MsgReceiver for FdReceiver {
    fn recv(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        FdReceiver::recv(self, buf, timeout)
    }

    fn msg_size(&self) -> usize {
        self.buf.msg_size()
    }

    fn try_clone(&self) -> Result<Box<dyn MsgReceiver>> {
        Err(Error::Unsupported {
            what: "a second receiver on a pipe or FIFO (readers would split each other's frames)",
        })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.ready.fd()
    }

    fn set_held(&self, held: bool) {
        self.ready.set_held(held);
    }
}

impl AsFd for FdReceiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for FdReceiver {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
