//! OFD (open file description) locks on single bytes of a file: the crate's liveness
//! mechanism. A lock belongs to a file description, not to a process, so the kernel releases
//! it when the last descriptor of that description closes: at `close`, or at the death of
//! every process holding one. "Is byte N locked by someone else?" therefore means "is that
//! holder still alive?", with no PID and no timeout involved.
//!
//! The API (for the ring's endpoints and regions, `inspect`, and the fallbacks' companion
//! files, e.g. `transport::mq`):
//!
//! - [`try_take`]: take a read or write lock on a byte without waiting; `Ok(false)` if a
//!   conflicting lock is held through another description;
//! - [`take`]: the same, waiting until the lock is free (`F_OFD_SETLKW`);
//! - [`release`]: drop this description's lock on a byte;
//! - [`held_by_other`]: whether any *other* description holds a lock on a byte
//!   (`F_OFD_GETLK`; it also works through a read-only descriptor, and through a description
//!   that holds no locks itself it reports any lock at all).
//!
//! Errors are `Error::Io` with the `fcntl` command as the operation. EINTR policy: retried
//! (a blocking take goes back to waiting; the others cannot block, but are retried the same
//! way). Every call counts itself in [`count`](super::count).

use crate::error::{Error, Result};
use std::os::fd::RawFd;

/// The kind of lock to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A shared lock (`F_RDLCK`): many descriptions may hold it at once.
    #[allow(dead_code)] // for transport::mq, which converts to this API after the merge
    Read,
    /// An exclusive lock (`F_WRLCK`).
    Write,
}

impl Mode {
    fn l_type(self) -> libc::c_short {
        match self {
            Mode::Read => libc::F_RDLCK as libc::c_short,
            Mode::Write => libc::F_WRLCK as libc::c_short,
        }
    }
}

/// One `fcntl` lock command on byte `byte` of `fd`'s file, retried on EINTR; returns the
/// `flock` as the kernel left it.
fn fcntl(fd: RawFd, byte: usize, cmd: libc::c_int, l_type: libc::c_short) -> std::io::Result<libc::flock> {
    // SAFETY: flock is plain data; zero is a valid starting value.
    let mut fl: libc::flock = unsafe { core::mem::zeroed() };
    fl.l_type = l_type;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = byte as libc::off_t;
    fl.l_len = 1;
    fl.l_pid = 0; // required by OFD locks
    loop {
        super::count::one();
        // SAFETY: fd is an open descriptor the caller owns or borrows for the call (a closed
        // one is EBADF, not undefined behaviour); fl is a valid flock for the call.
        if unsafe { libc::fcntl(fd, cmd, &mut fl) } == 0 {
            return Ok(fl);
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Takes a `mode` lock on `byte` through `fd`'s description without waiting: `Ok(false)` if
/// another description holds a conflicting lock.
pub(crate) fn try_take(fd: RawFd, byte: usize, mode: Mode) -> Result<bool> {
    match fcntl(fd, byte, libc::F_OFD_SETLK, mode.l_type()) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => Ok(false),
        Err(source) => Err(Error::Io {
            op: "fcntl(F_OFD_SETLK)",
            source,
        }),
    }
}

/// Takes a `mode` lock on `byte` through `fd`'s description, waiting for as long as another
/// description holds a conflicting one.
#[allow(dead_code)] // for transport::mq, which converts to this API after the merge
pub(crate) fn take(fd: RawFd, byte: usize, mode: Mode) -> Result<()> {
    fcntl(fd, byte, libc::F_OFD_SETLKW, mode.l_type())
        .map(drop)
        .map_err(|source| Error::Io {
            op: "fcntl(F_OFD_SETLKW)",
            source,
        })
}

/// Releases this description's lock on `byte` (nothing happens if it holds none).
pub(crate) fn release(fd: RawFd, byte: usize) -> Result<()> {
    fcntl(fd, byte, libc::F_OFD_SETLK, libc::F_UNLCK as libc::c_short)
        .map(drop)
        .map_err(|source| Error::Io {
            op: "fcntl(F_OFD_SETLK, F_UNLCK)",
            source,
        })
}

/// Whether a description other than `fd`'s holds a lock on `byte` (one that would conflict
/// with a write lock: any lock).
pub(crate) fn held_by_other(fd: RawFd, byte: usize) -> Result<bool> {
    let fl = fcntl(fd, byte, libc::F_OFD_GETLK, libc::F_WRLCK as libc::c_short).map_err(|source| Error::Io {
        op: "fcntl(F_OFD_GETLK)",
        source,
    })?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}
