//! The readiness primitives behind the handles' descriptors: epoll sets, pidfds, timerfds,
//! eventfds, and the doorbell FIFOs' open, drain and ring.
//!
//! EINTR policy: none of these calls sleeps (every wait here has a zero timeout, every
//! descriptor is non-blocking), and each is retried on `EINTR` all the same. Every call counts
//! itself in [`count`](super::count).

use crate::error::{Error, Result};
use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn check(op: &'static str, rc: libc::c_int) -> Result<libc::c_int> {
    if rc < 0 {
        return Err(Error::from_io(op, io::Error::last_os_error()));
    }
    Ok(rc)
}

/// Runs the raw call `f` (which returns -1 and sets errno on failure) until it does not fail
/// with `EINTR`, counting each attempt.
fn call(op: &'static str, mut f: impl FnMut() -> libc::c_int) -> Result<libc::c_int> {
    loop {
        super::count::one();
        let rc = f();
        if rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return check(op, rc);
    }
}

fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: fd was just returned by a successful call that creates a descriptor, and
    // nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A new epoll set (close-on-exec).
pub fn epoll_new() -> Result<OwnedFd> {
    // SAFETY: epoll_create1 takes no pointers.
    call("epoll_create1", || unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }).map(owned)
}

/// Adds `fd` to the set `ep`, watching `events` (level-triggered), tagged with `data`.
pub fn epoll_add(ep: RawFd, fd: RawFd, events: u32, data: u64) -> Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: ev is a valid epoll_event; both descriptors belong to the caller.
    call("epoll_ctl(ADD)", || unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) }).map(drop)
}

/// Removes `fd` from the set `ep`.
pub fn epoll_del(ep: RawFd, fd: RawFd) -> Result<()> {
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: as in epoll_add (a non-null event pointer for old kernels).
    call("epoll_ctl(DEL)", || unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_DEL, fd, &mut ev) }).map(drop)
}

/// The tags of the members of `ep` that are ready now (no waiting), at most `max`.
pub fn epoll_ready(ep: RawFd, max: usize) -> Result<Vec<u64>> {
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; max.max(1)];
    // SAFETY: evs holds evs.len() writable events; a zero timeout never sleeps.
    let n = call("epoll_wait", || unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), evs.len() as i32, 0) })?;
    Ok(evs[..n as usize].iter().map(|e| e.u64).collect())
}

/// A pidfd for process `pid` (Linux 5.3+): readable once the process has exited. `Ok(None)`
/// if there is no such process in our PID namespace (`ESRCH`) or the kernel has no pidfds.
pub fn pidfd_open(pid: u32) -> Result<Option<OwnedFd>> {
    super::count::one();
    // SAFETY: pidfd_open takes a pid and flags, no pointers.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ESRCH) | Some(libc::ENOSYS) | Some(libc::EINVAL) | Some(libc::EPERM) => Ok(None),
            _ => Err(Error::from_io("pidfd_open", e)),
        };
    }
    Ok(Some(owned(rc as libc::c_int)))
}

/// A non-blocking, close-on-exec timerfd on `CLOCK_MONOTONIC`, disarmed.
pub fn timerfd_new() -> Result<OwnedFd> {
    // SAFETY: timerfd_create takes no pointers.
    call("timerfd_create", || unsafe {
        libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
    })
    .map(owned)
}

/// Arms `tfd` to expire every `period` (`None` disarms it).
pub fn timerfd_every(tfd: RawFd, period: Option<Duration>) -> Result<()> {
    let ts = |d: Duration| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as _,
    };
    let p = period.map(ts).unwrap_or(libc::timespec { tv_sec: 0, tv_nsec: 0 });
    let spec = libc::itimerspec {
        it_interval: p,
        it_value: p,
    };
    // SAFETY: spec is a valid itimerspec; a null old value is allowed.
    call("timerfd_settime", || unsafe { libc::timerfd_settime(tfd, 0, &spec, std::ptr::null_mut()) }).map(drop)
}

/// A non-blocking, close-on-exec eventfd holding `initial`.
pub fn eventfd_new(initial: u32) -> Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    call("eventfd", || unsafe { libc::eventfd(initial, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) }).map(owned)
}

/// Reads everything `fd` (a non-blocking pipe, FIFO, timerfd or eventfd) holds now; whether
/// it held anything.
pub fn drain(fd: RawFd) -> bool {
    let mut buf = [0u8; 64];
    let mut any = false;
    loop {
        super::count::one();
        // SAFETY: buf is 64 writable bytes; fd is the caller's open non-blocking descriptor.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            any = true;
            if (n as usize) < buf.len() {
                return any;
            }
            continue;
        }
        if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        // 0 (no writer: cannot happen with our O_RDWR opens) or EAGAIN: empty.
        return any;
    }
}

/// Writes one byte to the doorbell `fd` (a non-blocking pipe or FIFO). A full pipe (`EAGAIN`)
/// already makes its readers ready, so the result does not matter.
pub fn ring(fd: RawFd) {
    let one = 1u8;
    loop {
        super::count::one();
        // SAFETY: one readable byte; fd is an open non-blocking pipe or FIFO.
        let n = unsafe { libc::write(fd, (&one as *const u8).cast(), 1) };
        if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return;
    }
}

/// A non-blocking, close-on-exec pipe: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors.
    call("pipe2", || unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// Opens the FIFO at `path` for reading and writing (so it never reports hang-up and never
/// blocks), non-blocking, close-on-exec, without following a symbolic link. With `mode`,
/// creates it first if it does not exist (`mkfifo`, then `fchmod` to exactly `mode`, whatever
/// the umask). Fails with [`Error::NotFound`]-kind I/O errors as `Error::Io`, and with
/// `Error::Corrupted` if the object there is not a FIFO.
pub fn fifo_open(path: &CStr, mode: Option<u32>) -> Result<OwnedFd> {
    if let Some(mode) = mode {
        super::count::one();
        // SAFETY: path is a valid C string.
        let rc = unsafe { libc::mkfifo(path.as_ptr(), (mode & 0o777) as libc::mode_t) };
        if rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
            return Err(Error::from_io("mkfifo (doorbell)", io::Error::last_os_error()));
        }
        if rc == 0 {
            // SAFETY: path is a valid C string; the FIFO was just made by us.
            let _ = unsafe { libc::chmod(path.as_ptr(), (mode & 0o777) as libc::mode_t) };
        }
    }
    let flags = libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    // SAFETY: path is a valid C string.
    let fd = owned(call("open (doorbell)", || unsafe { libc::open(path.as_ptr(), flags) })?);
    let st = super::fd::fstat(std::os::fd::AsRawFd::as_raw_fd(&fd))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return Err(Error::Corrupted {
            what: "the ring's doorbell is not a FIFO",
        });
    }
    Ok(fd)
}

/// Adds 1 to the eventfd `fd` (it becomes readable).
pub fn eventfd_add(fd: RawFd) -> Result<()> {
    let one: u64 = 1;
    // SAFETY: 8 readable bytes; fd is the caller's open eventfd.
    call("write (eventfd)", || unsafe { libc::write(fd, (&one as *const u64).cast(), 8) as libc::c_int }).map(drop)
}
