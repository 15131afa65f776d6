//! Descriptor helpers, written once: poll with a deadline, fstat, pread/pwrite in full,
//! `O_NONBLOCK`, a `write(2)` that never raises SIGPIPE, and the EINTR retry loop.
//!
//! EINTR policy: every wrapper retries `EINTR` (a poll retries with the same absolute
//! deadline), so it never leaks out. Each system call notes itself in [`super::count`] inside
//! the wrapper, next to the call (`fstat` excepted: it only runs at open and in liveness
//! checks that were never counted, and counting it now would change `Stats::syscalls`).

// Its users are the transports and the inspector, which loom builds leave out: so its items
// are `pub` (in a normal build `sys` is private and only the crate sees them), not dead code
// to a loom build.

use crate::error::{Error, Result};
use crate::timeout::Timeout;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Runs `f` again while it fails with `EINTR`.
pub fn retry_eintr<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            r => return r,
        }
    }
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// Waits until one of `pfds` reports an event, until `timeout`; `EINTR` goes round with the
/// same deadline.
///
/// # Errors
///
/// [`Error::WouldBlock`] for `Timeout::NonBlocking`, [`Error::TimedOut`] once the deadline has
/// passed, [`Error::Io`] if `ppoll` fails or reports a closed descriptor,
/// [`Error::Interrupted`] if the calling thread answers to an interrupt token
/// ([`super::intr::enter`]) and it was raised.
pub fn poll(pfds: &mut [libc::pollfd], timeout: &Timeout) -> Result<()> {
    match super::intr::current() {
        None => poll_plain(pfds, timeout),
        Some(wake) => poll_interruptible(pfds, timeout, &wake),
    }
}

/// [`poll`] for a call that answers to an interrupt token (see [`super::intr`]): the token is
/// taken, and the wait ends with [`Error::Interrupted`], when the call is about to sleep with
/// it raised or it is raised during the sleep (the eventfd, polled beside `pfds`, wakes it).
fn poll_interruptible(pfds: &mut [libc::pollfd], timeout: &Timeout, wake: &super::intr::Wake) -> Result<()> {
    let Some(efd) = wake.fd() else {
        return poll_plain(pfds, timeout);
    };
    let mut all: Vec<libc::pollfd> = pfds.to_vec();
    all.push(libc::pollfd {
        fd: efd,
        events: libc::POLLIN,
        revents: 0,
    });
    loop {
        // Only a call that would sleep takes the token: an expired or non-blocking one first
        // reports that.
        timeout.remaining()?;
        if wake.take() {
            return Err(Error::Interrupted);
        }
        for p in all.iter_mut() {
            p.revents = 0;
        }
        poll_plain(&mut all, timeout)?;
        let (own, bell) = all.split_at(pfds.len());
        if bell[0].revents != 0 && super::intr::woken(wake) {
            return Err(Error::Interrupted);
        }
        if own.iter().any(|p| p.revents != 0) {
            for (dst, src) in pfds.iter_mut().zip(own) {
                dst.revents = src.revents;
            }
            return Ok(());
        }
        // Only a stale count on the eventfd: sleep again.
    }
}

fn poll_plain(pfds: &mut [libc::pollfd], timeout: &Timeout) -> Result<()> {
    loop {
        // `WouldBlock` / `TimedOut` before any wait, and after a wait the deadline ended.
        timeout.remaining()?;
        if poll_count(pfds, timeout)? > 0 {
            if pfds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
                return Err(Error::Io {
                    op: "ppoll",
                    source: io::Error::from_raw_os_error(libc::EBADF),
                });
            }
            return Ok(());
        }
    }
}

/// One wait of `ppoll` over `pfds` until `timeout` (a look without waiting for
/// `Timeout::NonBlocking` or a past deadline): how many descriptors reported, 0 if the time
/// ended first. `EINTR` goes round with the same deadline. A descriptor that is not open is
/// reported (`POLLNVAL`), not an error.
///
/// # Errors
///
/// [`Error::Io`] if `ppoll` fails.
pub fn poll_count(pfds: &mut [libc::pollfd], timeout: &Timeout) -> Result<usize> {
    loop {
        let rel = match timeout.remaining() {
            Ok(r) => r.map(timespec),
            Err(_) => Some(timespec(Duration::ZERO)),
        };
        let ts = rel.as_ref().map_or(std::ptr::null(), |r| r as *const libc::timespec);
        super::count::one();
        // SAFETY: pfds is a valid array of pfds.len() pollfds; ts is null or a valid
        // timespec; no signal mask.
        let rc = unsafe { libc::ppoll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ts, std::ptr::null()) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(Error::Io { op: "ppoll", source: e });
        }
        return Ok(rc as usize);
    }
}

/// Waits until `fd` reports one of `events` (or an error or hang-up), until `timeout`.
/// Returns the reported events.
///
/// # Errors
///
/// As [`poll`].
pub fn wait_fd(fd: RawFd, events: libc::c_short, timeout: &Timeout) -> Result<libc::c_short> {
    let mut pfd = [libc::pollfd { fd, events, revents: 0 }];
    poll(&mut pfd, timeout)?;
    Ok(pfd[0].revents)
}

/// Waits for `events` on `fd` for at most `slice` or until `timeout`, whichever is sooner.
/// `Ok` when the caller should look again (an event came or the slice ran out); the error
/// the wait ends with otherwise ([`Error::WouldBlock`] for `NonBlocking`, [`Error::TimedOut`]
/// past the deadline).
pub fn wait_fd_slice(fd: RawFd, events: libc::c_short, timeout: &Timeout, slice: Duration) -> Result<()> {
    let slice = timeout.remaining()?.map_or(slice, |left| left.min(slice));
    match wait_fd(fd, events, &Timeout::after(slice)) {
        Ok(_) | Err(Error::TimedOut) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `fstat` on a descriptor (not counted: see the module docs).
pub fn fstat(fd: RawFd) -> Result<libc::stat> {
    // SAFETY: stat is plain data, filled by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is an open descriptor; st a valid out-pointer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(Error::last_os("fstat"));
    }
    Ok(st)
}

/// Reads up to `buf.len()` bytes at `off`, until end of file; returns how many were read.
pub fn pread_exact(fd: RawFd, buf: &mut [u8], off: usize) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let n = retry_eintr(|| {
            let rest = &mut buf[got..];
            super::count::one();
            // SAFETY: rest is valid for rest.len() writable bytes; fd is open.
            let n = unsafe { libc::pread(fd, rest.as_mut_ptr().cast(), rest.len(), (off + got) as libc::off_t) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(n as usize)
        })?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// Writes all of `buf` at `off` (a write of 0 bytes is `EIO`).
pub fn pwrite_all(fd: RawFd, buf: &[u8], off: usize) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = retry_eintr(|| {
            let rest = &buf[done..];
            super::count::one();
            // SAFETY: rest is valid for rest.len() bytes; fd is open for writing.
            let n = unsafe { libc::pwrite(fd, rest.as_ptr().cast(), rest.len(), (off + done) as libc::off_t) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(n as usize)
        })?;
        if n == 0 {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        done += n;
    }
    Ok(())
}

/// Makes `fd`'s open file description `O_NONBLOCK` (one `fcntl` if it is already).
pub fn set_nonblock(fd: RawFd) -> Result<()> {
    let flags = retry_eintr(|| {
        super::count::one();
        // SAFETY: fcntl on a descriptor the caller owns; F_GETFL takes no argument.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(flags)
    })
    .map_err(|e| Error::from_io("fcntl(F_GETFL)", e))?;
    if flags & libc::O_NONBLOCK == 0 {
        retry_eintr(|| {
            super::count::one();
            // SAFETY: as above; F_SETFL takes an int.
            if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
        .map_err(|e| Error::from_io("fcntl(F_SETFL)", e))?;
    }
    Ok(())
}

/// `write(2)` that turns a broken pipe into `EPIPE` only: SIGPIPE is blocked in this thread
/// for the duration, the SIGPIPE this write raised (if any, and if none was pending before)
/// is consumed, and the caller's mask is restored. The disposition is never touched. One
/// write: `EINTR` is returned to the caller, whose loop goes round (it may have to wait).
pub fn write_nosigpipe(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it below.
    let mut pipe_set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
    super::count::one(); // sigpending
                         // SAFETY: valid sigset_t pointers; SIGPIPE is a valid signal number.
    let was_pending = unsafe {
        libc::sigemptyset(&mut pipe_set);
        libc::sigaddset(&mut pipe_set, libc::SIGPIPE);
        libc::sigemptyset(&mut pending);
        libc::sigpending(&mut pending);
        libc::sigismember(&pending, libc::SIGPIPE) == 1
    };
    super::count::one();
    // SAFETY: valid sigset_t pointers; blocking a signal in this thread only.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &pipe_set, &mut old) };
    debug_assert_eq!(rc, 0);
    super::count::one();
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
                    super::count::one();
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
    super::count::one();
    // SAFETY: old is the mask saved above.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    debug_assert_eq!(rc, 0);
    result
}
