//! Framed messages over a file descriptor ([`FdSender`], [`FdReceiver`]), shared by
//! `pipe://` ([`pair`]) and `fifo:///path` (see [`super::fifo`]).
//!
//! - Both ends make their descriptor `O_NONBLOCK` (on the open file description, so a
//!   process sharing it across `fork` sees the flag too) and wait with `ppoll(2)` for the
//!   time left to the absolute `CLOCK_MONOTONIC` deadline; `EINTR` goes round again with the
//!   same deadline.
//! - A send writes one whole frame. If it managed to write part of a frame (only possible for
//!   frames longer than `PIPE_BUF`) it finishes the frame before returning, waiting as long
//!   as needed whatever its timeout: half a frame left in the stream would corrupt every
//!   message after it. A timeout (or `Timeout::Never`) is honoured only while nothing of the
//!   frame has been written.
//! - `EPIPE` becomes [`Error::Disconnected`] without a `SIGPIPE` ever being delivered and
//!   without touching the process's signal disposition: SIGPIPE is blocked in the calling
//!   thread around the write, a SIGPIPE the write raised is consumed with a zero-timeout
//!   `sigtimedwait` (only if none was pending before), and the mask is restored.

use super::frame::{self, FrameBuf};
use super::{MsgReceiver, MsgSender};
use crate::error::{Error, Result};
use crate::wait::Timeout;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

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

fn set_nonblock(fd: RawFd) -> Result<()> {
    crate::sys::count::one();
    // SAFETY: fcntl on a descriptor we own; F_GETFL takes no argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(Error::last_os("fcntl(F_GETFL)"));
    }
    if flags & libc::O_NONBLOCK == 0 {
        crate::sys::count::one();
        // SAFETY: as above; F_SETFL takes an int.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(Error::last_os("fcntl(F_SETFL)"));
        }
    }
    Ok(())
}

/// Waits until `fd` reports one of `events` (or an error or hang-up), until `timeout`.
/// Returns the reported events.
///
/// # Errors
///
/// [`Error::WouldBlock`] for `Timeout::Never`, [`Error::TimedOut`] once the deadline has
/// passed, [`Error::Io`] if `ppoll` fails (`EINTR` is retried with the same deadline).
pub fn wait_fd(fd: RawFd, events: libc::c_short, timeout: &Timeout) -> Result<libc::c_short> {
    loop {
        let rel = timeout.remaining()?.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
            tv_nsec: d.subsec_nanos() as _,
        });
        let mut pfd = libc::pollfd { fd, events, revents: 0 };
        let ts = rel.as_ref().map_or(std::ptr::null(), |r| r as *const libc::timespec);
        crate::sys::count::one();
        // SAFETY: pfd is one valid pollfd; ts is null or a valid timespec; no signal mask.
        let rc = unsafe { libc::ppoll(&mut pfd, 1, ts, std::ptr::null()) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(Error::Io { op: "ppoll", source: e });
        }
        if rc > 0 {
            if pfd.revents & libc::POLLNVAL != 0 {
                return Err(Error::Io {
                    op: "ppoll",
                    source: io::Error::from_raw_os_error(libc::EBADF),
                });
            }
            return Ok(pfd.revents);
        }
        // rc == 0: the deadline passed (checked at the top).
    }
}

/// `write(2)` that turns a broken pipe into `EPIPE` only: SIGPIPE is blocked in this thread
/// for the duration, the SIGPIPE this write raised (if any, and if none was pending before)
/// is consumed, and the caller's mask is restored. The disposition is never touched.
fn write_nosigpipe(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it below.
    let mut pipe_set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
    crate::sys::count::one(); // sigpending
                              // SAFETY: valid sigset_t pointers; SIGPIPE is a valid signal number.
    let was_pending = unsafe {
        libc::sigemptyset(&mut pipe_set);
        libc::sigaddset(&mut pipe_set, libc::SIGPIPE);
        libc::sigemptyset(&mut pending);
        libc::sigpending(&mut pending);
        libc::sigismember(&pending, libc::SIGPIPE) == 1
    };
    crate::sys::count::one();
    // SAFETY: valid sigset_t pointers; blocking a signal in this thread only.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &pipe_set, &mut old) };
    debug_assert_eq!(rc, 0);
    crate::sys::count::one();
    // SAFETY: buf is valid for buf.len() bytes; fd is the caller's open descriptor.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    let result = if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    };
    if !was_pending {
        if let Err(e) = &result {
            if e.raw_os_error() == Some(libc::EPIPE) {
                let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                loop {
                    crate::sys::count::one();
                    // SAFETY: valid set and timespec; a null info pointer is allowed.
                    let r = unsafe { libc::sigtimedwait(&pipe_set, std::ptr::null_mut(), &zero) };
                    // EAGAIN: none pending (SIGPIPE ignored, or sent to the process and taken
                    // by another thread); EINTR: another signal came, try again.
                    if r >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                        break;
                    }
                }
            }
        }
    }
    crate::sys::count::one();
    // SAFETY: old is the mask saved above.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    debug_assert_eq!(rc, 0);
    result
}

/// The sending end: one [`send`](Self::send) writes one frame.
#[derive(Debug)]
pub struct FdSender {
    fd: OwnedFd,
    msg_size: usize,
    frame: Vec<u8>,
}

impl FdSender {
    /// Takes over `fd` (the write end of a pipe or FIFO) and makes it `O_NONBLOCK`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a `msg_size` above `u32::MAX`; [`Error::Io`] if `fcntl`
    /// fails.
    pub fn new(fd: OwnedFd, msg_size: usize) -> Result<FdSender> {
        check_msg_size(msg_size)?;
        set_nonblock(fd.as_raw_fd())?;
        Ok(FdSender {
            fd,
            msg_size,
            frame: Vec::new(),
        })
    }

    /// The largest message this end sends.
    pub fn msg_size(&self) -> usize {
        self.msg_size
    }

    /// Sends `msg` as one frame.
    ///
    /// Frames of up to [`PIPE_BUF`] bytes (`msg.len() + 4`) go out in one atomic `write`, so
    /// several senders on one pipe or FIFO never interleave. Longer frames may be written in
    /// pieces: with several senders their pieces can interleave and the receiver then sees
    /// garbage (`Corrupted`, or wrong messages). Use one sender per pipe when `msg_size + 4`
    /// exceeds `PIPE_BUF`. Once part of a frame is written the call finishes the frame,
    /// waiting as long as it takes, even with `Timeout::Never` (see the module docs).
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
        frame::encode_into(msg, &mut self.frame);
        let fd = self.fd.as_raw_fd();
        let mut off = 0;
        while off < self.frame.len() {
            match write_nosigpipe(fd, &self.frame[off..]) {
                Ok(0) => {
                    wait_fd(fd, libc::POLLOUT, &Timeout::Forever)?;
                }
                Ok(n) => off += n,
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EAGAIN) => {
                        let t = if off == 0 { timeout } else { Timeout::Forever };
                        wait_fd(fd, libc::POLLOUT, &t)?;
                    }
                    Some(libc::EPIPE) => return Err(Error::Disconnected),
                    _ => return Err(Error::Io { op: "write", source: e }),
                },
            }
        }
        Ok(())
    }
}

impl FdSender {
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
        self.msg_size
    }

    /// Another descriptor for the same pipe (`dup`): frames of up to `PIPE_BUF` bytes are
    /// written atomically, so several senders are fine below that size and refused above.
    fn try_clone(&self) -> Result<Box<dyn MsgSender>> {
        if self.msg_size + frame::HEADER_LEN > PIPE_BUF {
            return Err(Error::Unsupported {
                what: "several senders on a pipe whose msg_size + 4 exceeds PIPE_BUF (frames would interleave)",
            });
        }
        let fd = self.fd.try_clone().map_err(|e| Error::Io { op: "dup", source: e })?;
        Ok(Box::new(FdSender {
            fd,
            msg_size: self.msg_size,
            frame: Vec::new(),
        }))
    }
}

impl AsFd for FdSender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for FdSender {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The receiving end: one [`recv`](Self::recv) returns one whole message.
#[derive(Debug)]
pub struct FdReceiver {
    fd: OwnedFd,
    buf: FrameBuf,
    /// Whether a writer has been seen. A FIFO opened before any writer reads 0 (EOF); until
    /// a writer has come, that means "no data yet", not end of stream.
    writer_seen: bool,
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
        Ok(FdReceiver {
            fd,
            buf: FrameBuf::new(msg_size),
            writer_seen,
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
    /// - [`Error::Corrupted`] `{ what: "truncated frame ..." }`: every writer closed in the
    ///   middle of a frame (a sender died mid-write); the partial frame is kept and each call
    ///   says so again. `"frame length exceeds msg_size"`: the stream is not framed by us, or
    ///   frames longer than `PIPE_BUF` of several writers interleaved;
    /// - [`Error::Io`].
    pub fn recv(&mut self, out: &mut [u8], timeout: Timeout) -> Result<usize> {
        let fd = self.fd.as_raw_fd();
        loop {
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
                    return Err(Error::EndOfStream);
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
    pub fn recv_vec(&mut self, timeout: Timeout) -> Result<Vec<u8>> {
        match self.recv(&mut [], timeout) {
            Ok(_) => Ok(Vec::new()),
            Err(Error::BufferTooSmall { needed, .. }) => {
                let mut v = vec![0; needed];
                let n = self.recv(&mut v, Timeout::Never)?;
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

/// `pipe://`: an anonymous pipe (`pipe2(O_CLOEXEC | O_NONBLOCK)`) as a (sender, receiver)
/// pair, to share with children across `fork` (each side drops the end it does not use, as
/// with pipe(2): the receiver sees end of stream only once every copy of the sender is gone).
///
/// # Errors
///
/// [`Error::InvalidOption`] for a `msg_size` above `u32::MAX`; [`Error::Io`] if `pipe2`
/// fails.
///
/// # Examples
///
/// ```
/// use ipcring::{transport::pipe, Error, Timeout};
/// let (mut tx, mut rx) = pipe::pair(64)?;
/// tx.send(b"hello", Timeout::Never)?;
/// assert_eq!(rx.recv_vec(Timeout::Never)?, b"hello");
/// drop(tx);
/// assert!(matches!(rx.recv_vec(Timeout::Forever), Err(Error::EndOfStream)));
/// # Ok::<(), ipcring::Error>(())
/// ```
pub fn pair(msg_size: usize) -> Result<(FdSender, FdReceiver)> {
    check_msg_size(msg_size)?;
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(Error::last_os("pipe2"));
    }
    // SAFETY: pipe2 just returned these two descriptors; nothing else owns them.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((FdSender::new(w, msg_size)?, FdReceiver::new(r, msg_size)?))
}
