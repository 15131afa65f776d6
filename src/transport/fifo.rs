//! `fifo:///path`: named pipes. Creation, and opening either end without blocking.
//!
//! - [`create`] makes the FIFO with `mkfifo`, then sets its mode with `fchmod` on a
//!   descriptor opened `O_NOFOLLOW` (so the umask neither loosens nor tightens it, and a
//!   path swapped for a symlink in between is not followed). A FIFO already at the path is
//!   used as it is; anything else there is refused.
//! - [`open_receiver_at`] opens `O_RDONLY | O_NONBLOCK`, which never waits for a writer. Until a
//!   writer has come, a receive waits for data the way it does on an empty channel (a
//!   receiver started before its producer waits), honouring its timeout.
//! - [`open_sender_at`] opens `O_WRONLY | O_NONBLOCK`, which fails with `ENXIO` while no reader
//!   has the FIFO open. By the same rule (a sender started before its receiver waits), that
//!   is waited out: the open is retried (sleeps of 1 ms growing to 50 ms, since there is
//!   nothing to poll) until the timeout, then `WouldBlock` / `TimedOut`.
//! - Symbolic links are refused (`O_NOFOLLOW`), and so is anything that turns out not to be
//!   a FIFO (checked with `fstat` on the opened descriptor).

use super::stream::{FdReceiver, FdWriter, PIPE_BUF};
#[cfg(ipcring_test)]
use super::stream::FdSender;
use super::{frame, MsgReceiver, MsgSender, OpenSpec, Ops};
use crate::error::{Error, Result};
use crate::transport::readiness::{self as ready, Readiness};
use crate::timeout::Timeout;
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// The mode of a created FIFO unless the `perm` option says otherwise.
#[cfg(ipcring_test)] // used by the tests that drive this transport directly
pub const DEFAULT_PERM: u32 = 0o600;

const NOT_A_FIFO: Error = Error::NotARing {
    reason: "the path exists and is not a FIFO",
};
const SYMLINK: Error = Error::NotARing {
    reason: "the path is a symbolic link (refused)",
};

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::InvalidAddress {
        address: path.display().to_string(),
        part: path.display().to_string(),
        reason: "contains a NUL byte",
    })
}

/// Opens `path` with `flags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC` and checks it is a FIFO.
fn open_fifo(path: &CString, flags: libc::c_int) -> std::result::Result<OwnedFd, Error> {
    let fd: RawFd = loop {
        // SAFETY: path is a valid C string; the flags need no mode argument.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                flags | libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd >= 0 {
            break fd;
        }
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ELOOP) => SYMLINK,
            _ => Error::from_io("open", e),
        });
    };
    // SAFETY: open just returned fd; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let st = crate::sys::fd::fstat(fd.as_raw_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return Err(NOT_A_FIFO);
    }
    Ok(fd)
}

/// Creates a FIFO at `path` with mode `perm` (e.g. [`DEFAULT_PERM`]) whatever the umask.
/// Returns `true` if it created one, `false` if a FIFO was already there (its mode is left
/// alone).
///
/// # Errors
///
/// [`Error::NotARing`] if the path is a symbolic link or exists and is not a FIFO;
/// [`Error::NotFound`] / [`Error::PermissionDenied`] from the directory; [`Error::Io`].
pub fn create(path: &Path, perm: u32) -> Result<bool> {
    let c = c_path(path)?;
    // SAFETY: c is a valid C string.
    if unsafe { libc::mkfifo(c.as_ptr(), (perm & 0o777) as libc::mode_t) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(Error::from_io("mkfifo", e));
        }
        // Something is there: accept a FIFO, refuse anything else.
        // SAFETY: stat is plain data, filled by lstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: c is a valid C string; st a valid out-pointer.
        if unsafe { libc::lstat(c.as_ptr(), &mut st) } != 0 {
            return Err(Error::last_os("lstat"));
        }
        return match st.st_mode & libc::S_IFMT {
            libc::S_IFIFO => Ok(false),
            libc::S_IFLNK => Err(SYMLINK),
            _ => Err(NOT_A_FIFO),
        };
    }
    let fd = open_fifo(&c, libc::O_RDONLY)?;
    // SAFETY: fd is an open descriptor of the FIFO we just made.
    if unsafe { libc::fchmod(fd.as_raw_fd(), (perm & 0o777) as libc::mode_t) } != 0 {
        return Err(Error::last_os("fchmod"));
    }
    Ok(true)
}

/// `fifo:///path` in the dispatch table.
pub(crate) const OPS: Ops = Ops {
    scheme: "fifo",
    open_sender: Some(open_sender),
    open_receiver: Some(open_receiver),
    pair: None,
    unlink: Ok(unlink),
    remove: Ok(remove),
};

/// Removes the FIFO at `path`.
///
/// # Errors
///
/// [`Error::NotFound`], [`Error::PermissionDenied`], [`Error::Io`].
pub fn unlink(path: &str) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| Error::from_io("unlink", e))
}

/// The same as [`unlink`]: a FIFO has no liveness check (`force` changes nothing).
///
/// # Errors
///
/// As [`unlink`].
pub fn remove(path: &str, _force: bool) -> Result<()> {
    unlink(path)
}

/// Opens the FIFO at `path` for reading, without waiting for a writer (see the module docs).
///
/// # Errors
///
/// [`Error::NotFound`], [`Error::NotARing`] (a symlink, or not a FIFO),
/// [`Error::PermissionDenied`], [`Error::InvalidOption`] for a `msg_size` above `u32::MAX`,
/// [`Error::Io`].
pub fn open_receiver_at(path: &Path, msg_size: usize) -> Result<FdReceiver> {
    let fd = open_fifo(&c_path(path)?, libc::O_RDONLY)?;
    FdReceiver::with_writer_seen(fd, msg_size, false)
}

/// Opens the FIFO at `path` for writing without waiting: `None` while no reader has it
/// open (`ENXIO`).
fn try_open_writer(path: &CString) -> Result<Option<OwnedFd>> {
    match open_fifo(path, libc::O_WRONLY) {
        Ok(fd) => Ok(Some(fd)),
        Err(Error::Io { source, .. }) if source.raw_os_error() == Some(libc::ENXIO) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sleeps for the next back-off step (1 ms doubling to 50 ms), never past `timeout`.
///
/// # Errors
///
/// `WouldBlock` / `TimedOut` once the timeout allows no more waiting.
fn nap(step: &mut Duration, timeout: &Timeout) -> Result<()> {
    // Inside a send (the lazy writer), an interrupt ends the wait before the next step.
    crate::sys::intr::before_nap(timeout)?;
    crate::wait::nap(*step, timeout)?;
    *step = (*step * 2).min(Duration::from_millis(50));
    Ok(())
}

/// Opens the FIFO at `path` for writing, waiting until `timeout` for a reader to open it.
///
/// A receiver that goes away later makes sends fail with [`Error::Disconnected`]; the sender
/// has to be opened again to reach a new receiver ([`open_sender`] does that itself).
///
/// # Errors
///
/// As [`open_receiver_at`], plus [`Error::WouldBlock`] (`Timeout::NonBlocking`) or
/// [`Error::TimedOut`] when no reader came.
#[cfg(ipcring_test)] // used by the tests that drive this transport directly
pub fn open_sender_at(path: &Path, msg_size: usize, timeout: Timeout) -> Result<FdSender> {
    let c = c_path(path)?;
    let mut step = Duration::from_millis(1);
    loop {
        if let Some(fd) = try_open_writer(&c)? {
            return FdSender::new(fd, msg_size);
        }
        nap(&mut step, &timeout)?;
    }
}

/// Creates the FIFO of `spec` if asked to (`AlreadyExists` for an exclusive create of a
/// FIFO that is there), and refuses the ring-only options.
fn prepare(spec: &OpenSpec) -> Result<CString> {
    spec.refuse_ring_options(false)?;
    let path = Path::new(spec.target);
    if spec.create && !create(path, spec.perm())? && spec.excl {
        return Err(Error::AlreadyExists { object: String::new() });
    }
    let c = c_path(path)?;
    // SAFETY: stat is plain data, filled by lstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string; st a valid out-pointer.
    if unsafe { libc::lstat(c.as_ptr(), &mut st) } != 0 {
        return Err(Error::last_os("lstat"));
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO => Ok(c),
        libc::S_IFLNK => Err(SYMLINK),
        _ => Err(NOT_A_FIFO),
    }
}

/// `fifo:///path` receiver for the channel layer: creates the FIFO if `spec` says so, then
/// [`open_receiver_at`].
///
/// # Errors
///
/// As [`create`] and [`open_receiver_at`]; [`Error::InvalidAddress`] for ring-only options.
pub fn open_receiver(spec: &OpenSpec) -> Result<Box<dyn MsgReceiver>> {
    prepare(spec)?;
    Ok(Box::new(open_receiver_at(Path::new(spec.target), spec.msg_size())?))
}

/// `fifo:///path` sender for the channel layer: creates the FIFO if `spec` says so and
/// checks it is one, but opens it for writing only at the first send ([`FifoSender`]).
///
/// # Errors
///
/// As [`open_receiver`].
pub fn open_sender(spec: &OpenSpec) -> Result<Box<dyn MsgSender>> {
    let path = prepare(spec)?;
    let msg_size = spec.msg_size();
    FdWriter::check_msg_size(msg_size)?;
    Ok(Box::new(FifoSender {
        path,
        msg_size,
        end: None,
        connected: false,
        ready: Readiness::new(true)?,
    }))
}

/// A FIFO's sending end that opens the FIFO when it first sends, so that a sender started
/// before its receiver waits for it as on a full channel (honouring the send's timeout)
/// instead of failing at open. After the receiver has gone, a send reopens the FIFO once:
/// a new reader makes data flow again, none is [`Error::Disconnected`].
///
/// Its readiness descriptor watches the write end once open (`EPOLLOUT`, `EPOLLERR`); before
/// the first reader came there is nothing to watch (opening for writing fails with `ENXIO`
/// until one has the FIFO open, and no event says when), so a timer wakes the descriptor every
/// 20 ms meanwhile, and a send looks again. After the reader has gone a send returns at once
/// (reopening once, then `Disconnected`): the descriptor stays readable.
#[derive(Debug)]
pub struct FifoSender {
    path: CString,
    msg_size: usize,
    end: Option<FdWriter>,
    /// Whether a reader was ever reached: from then on, no reader means `Disconnected`.
    connected: bool,
    ready: Readiness,
}

impl FifoSender {
    /// Stops watching the write end and closes it.
    fn close_end(&mut self) {
        if let Some(end) = self.end.take() {
            self.ready.unwatch(end.raw());
        }
    }

    fn send_inner(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        if msg.len() > self.msg_size {
            return Err(Error::TooLarge {
                len: msg.len(),
                max: self.msg_size,
            });
        }
        let mut step = Duration::from_millis(1);
        loop {
            if let Some(end) = &mut self.end {
                let r = end.send(msg, timeout);
                if matches!(r, Err(Error::Disconnected)) {
                    self.close_end();
                }
                return r;
            }
            match try_open_writer(&self.path)? {
                Some(fd) => {
                    let end = FdWriter::new(fd, self.msg_size)?;
                    self.ready.watch(end.raw(), ready::OUT)?;
                    self.end = Some(end);
                    self.connected = true;
                }
                None if self.connected => return Err(Error::Disconnected),
                None => nap(&mut step, &timeout)?,
            }
        }
    }
}

impl MsgSender for FifoSender {
    fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        let r = self.send_inner(msg, timeout);
        let (open, connected) = (self.end.is_some(), self.connected);
        // Not open after a reader was reached: the next send returns at once. Never reached
        // one: poll for the first.
        self.ready.after(&r, || !open && connected, || !connected);
        r
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.ready.fd()
    }

    fn msg_size(&self) -> usize {
        self.msg_size
    }

    fn try_clone(&self) -> Result<Box<dyn MsgSender>> {
        if self.msg_size + frame::HEADER_LEN > PIPE_BUF {
            return Err(Error::Unsupported {
                what: "several senders on a FIFO whose msg_size + 4 exceeds PIPE_BUF (frames would interleave)",
            });
        }
        Ok(Box::new(FifoSender {
            path: self.path.clone(),
            msg_size: self.msg_size,
            end: None,
            connected: false,
            ready: Readiness::new(true)?,
        }))
    }
}
