//! `fifo:///path`: named pipes. Creation, and opening either end without blocking.
//!
//! - [`create`] makes the FIFO with `mkfifo`, then sets its mode with `fchmod` on a
//!   descriptor opened `O_NOFOLLOW` (so the umask neither loosens nor tightens it, and a
//!   path swapped for a symlink in between is not followed). A FIFO already at the path is
//!   used as it is; anything else there is refused.
//! - [`open_receiver`] opens `O_RDONLY | O_NONBLOCK`, which never waits for a writer. Until a
//!   writer has come, a receive waits for data the way it does on an empty channel (DESIGN
//!   §3: a receiver started before its producer waits), honouring its timeout.
//! - [`open_sender`] opens `O_WRONLY | O_NONBLOCK`, which fails with `ENXIO` while no reader
//!   has the FIFO open. By the same rule (a sender started before its receiver waits), that
//!   is waited out: the open is retried (sleeps of 1 ms growing to 50 ms, since there is
//!   nothing to poll) until the timeout, then `WouldBlock` / `TimedOut`.
//! - Symbolic links are refused (`O_NOFOLLOW`), and so is anything that turns out not to be
//!   a FIFO (checked with `fstat` on the opened descriptor).

use super::pipe::{FdReceiver, FdSender};
use crate::error::{Error, Result};
use crate::wait::Timeout;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// The mode of a created FIFO unless the `perm` option says otherwise.
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
    // SAFETY: stat is plain data, filled by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open; st is a valid out-pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(Error::last_os("fstat"));
    }
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

/// Removes the FIFO at `path`.
///
/// # Errors
///
/// [`Error::NotFound`], [`Error::PermissionDenied`], [`Error::Io`].
pub fn unlink(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| Error::from_io("unlink", e))
}

/// Opens the FIFO at `path` for reading, without waiting for a writer (see the module docs).
///
/// # Errors
///
/// [`Error::NotFound`], [`Error::NotARing`] (a symlink, or not a FIFO),
/// [`Error::PermissionDenied`], [`Error::InvalidOption`] for a `msg_size` above `u32::MAX`,
/// [`Error::Io`].
pub fn open_receiver(path: &Path, msg_size: usize) -> Result<FdReceiver> {
    let fd = open_fifo(&c_path(path)?, libc::O_RDONLY)?;
    FdReceiver::with_writer_seen(fd, msg_size, false)
}

/// Opens the FIFO at `path` for writing, waiting until `timeout` for a reader to open it.
///
/// A receiver that goes away later makes sends fail with [`Error::Disconnected`]; the sender
/// has to be opened again to reach a new receiver.
///
/// # Errors
///
/// As [`open_receiver`], plus [`Error::WouldBlock`] (`Timeout::Never`) or
/// [`Error::TimedOut`] when no reader came.
pub fn open_sender(path: &Path, msg_size: usize, timeout: Timeout) -> Result<FdSender> {
    let c = c_path(path)?;
    let mut nap = Duration::from_millis(1);
    loop {
        match open_fifo(&c, libc::O_WRONLY) {
            Ok(fd) => return FdSender::new(fd, msg_size),
            Err(Error::Io { source, .. }) if source.raw_os_error() == Some(libc::ENXIO) => {}
            Err(e) => return Err(e),
        }
        let sleep = timeout.remaining()?.map_or(nap, |left| nap.min(left));
        std::thread::sleep(sleep);
        nap = (nap * 2).min(Duration::from_millis(50));
    }
}
