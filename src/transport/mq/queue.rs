//! The queue itself: kernel limits and sysctls, the errors that name them, and the open
//! descriptor (`Mqd`).

use super::*;

/// Reads a non-negative integer from a `/proc/sys` file.
pub(super) fn read_sysctl(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `fs.mqueue.msg_max` (10 if it cannot be read, the kernel's default).
pub(super) fn sysctl_msg_max() -> u64 {
    read_sysctl("/proc/sys/fs/mqueue/msg_max").unwrap_or(10)
}

/// `fs.mqueue.msgsize_max` (8192 if it cannot be read, the kernel's default).
pub(super) fn sysctl_msgsize_max() -> u64 {
    read_sysctl("/proc/sys/fs/mqueue/msgsize_max").unwrap_or(8192)
}

/// The capacity of a queue created without `capacity`: `fs.mqueue.msg_max` (what any user
/// may create), at most 1024 (the ring's default capacity).
pub fn default_capacity() -> u64 {
    sysctl_msg_max().clamp(1, crate::options::RingOptions::DEFAULT_CAPACITY)
}

/// Whether this process has `CAP_SYS_RESOURCE` in its effective set (which lifts the
/// sysctl limits up to the hard ones). Read from `/proc/self/status`; if that cannot be
/// read, root is assumed to have it.
pub(super) fn has_cap_sys_resource() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let eff = status.as_deref().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    });
    match eff {
        Some(bits) => bits & (1 << CAP_SYS_RESOURCE) != 0,
        None => {
            // SAFETY: geteuid has no preconditions.
            let euid = unsafe { libc::geteuid() };
            euid == 0
        }
    }
}

/// The error of a failed queue creation, naming the kernel limit that refused it.
pub(super) fn creation_error(errno: i32, capacity: u64, msg_size: u64, source: io::Error) -> Error {
    match errno {
        libc::EINVAL => {
            let (max_msg, max_size, msg_hint, size_hint) = if has_cap_sys_resource() {
                (HARD_MSGMAX, HARD_MSGSIZEMAX, HARD_MSGMAX_HINT, HARD_MSGSIZE_HINT)
            } else {
                (sysctl_msg_max(), sysctl_msgsize_max(), MSGMAX_HINT, MSGSIZE_HINT)
            };
            if capacity > max_msg {
                Error::KernelLimit {
                    what: "capacity",
                    value: capacity,
                    limit: max_msg,
                    hint: if capacity > HARD_MSGMAX {
                        HARD_MSGMAX_HINT
                    } else {
                        msg_hint
                    },
                }
            } else if msg_size > max_size {
                Error::KernelLimit {
                    what: "msg_size",
                    value: msg_size,
                    limit: max_size,
                    hint: if msg_size > HARD_MSGSIZEMAX {
                        HARD_MSGSIZE_HINT
                    } else {
                        size_hint
                    },
                }
            } else {
                Error::Io { op: "mq_open", source }
            }
        }
        libc::ENOSPC => {
            let limit = read_sysctl("/proc/sys/fs/mqueue/queues_max").unwrap_or(256);
            Error::KernelLimit {
                what: "queues",
                // The queue count this creation would have reached (at least).
                value: limit.saturating_add(1),
                limit,
                hint: QUEUES_HINT,
            }
        }
        libc::EMFILE if !out_of_descriptors() => {
            // mqueue_get_inode's accounting: per message a `struct msg_msg` (48 bytes on
            // 64-bit) plus a tree node (48 bytes, at most MQ_PRIO_MAX of them) plus the payload.
            let nodes = capacity.min(32768);
            let value = capacity
                .saturating_mul(48)
                .saturating_add(nodes.saturating_mul(48))
                .saturating_add(capacity.saturating_mul(msg_size));
            // SAFETY: rlimit is plain data, filled by getrlimit.
            let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
            // SAFETY: rl is a valid out-pointer.
            let ok = unsafe { libc::getrlimit(libc::RLIMIT_MSGQUEUE, &mut rl) } == 0;
            if !ok {
                return Error::Io { op: "mq_open", source };
            }
            Error::KernelLimit {
                what: "queue bytes",
                value,
                limit: rl.rlim_cur,
                hint: QUEUE_BYTES_HINT,
            }
        }
        _ => Error::from_io("mq_open", source),
    }
}

/// Whether an `EMFILE` means "no descriptor left" (rather than `RLIMIT_MSGQUEUE`).
pub(super) fn out_of_descriptors() -> bool {
    // SAFETY: a valid C string; the flags need no mode.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return io::Error::last_os_error().raw_os_error() == Some(libc::EMFILE);
    }
    // SAFETY: fd was just opened and is ours.
    unsafe { libc::close(fd) };
    false
}

/// An open message queue descriptor, closed on drop.
#[derive(Debug)]
pub(super) struct Mqd(libc::mqd_t);

impl Drop for Mqd {
    fn drop(&mut self) {
        // SAFETY: self.0 is an open mqd we own, closed once here. An error (EBADF cannot
        // happen; EINTR still closes it on Linux) has nobody to report to.
        unsafe { libc::mq_close(self.0) };
    }
}

impl Mqd {
    pub(super) fn raw(&self) -> RawFd {
        self.0
    }

    /// A second descriptor of the same queue (and the same open description).
    pub(super) fn dup(&self) -> Result<Mqd> {
        // SAFETY: self.0 is open; F_DUPFD_CLOEXEC takes an int (the lowest number to use).
        let fd = unsafe { libc::fcntl(self.0, libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            return Err(Error::last_os("fcntl(F_DUPFD_CLOEXEC)"));
        }
        Ok(Mqd(fd))
    }

    /// `mq_getattr`, checked: `(maxmsg, msgsize, curmsgs)`.
    pub(super) fn attr(&self) -> Result<(u64, u64, u64)> {
        // SAFETY: mq_attr is plain data, filled by mq_getattr.
        let mut a: libc::mq_attr = unsafe { std::mem::zeroed() };
        crate::sys::count::one();
        // SAFETY: self.0 is an open mqd; a a valid out-pointer.
        if unsafe { libc::mq_getattr(self.0, &mut a) } != 0 {
            return Err(Error::last_os("mq_getattr"));
        }
        let maxmsg = u64::try_from(a.mq_maxmsg).ok().filter(|&m| m > 0);
        let msgsize = u64::try_from(a.mq_msgsize)
            .ok()
            .filter(|&m| m > 0 && m <= usize::MAX as u64);
        let cur = u64::try_from(a.mq_curmsgs).ok();
        match (maxmsg, msgsize, cur) {
            (Some(m), Some(s), Some(c)) => Ok((m, s, c)),
            _ => Err(Error::Corrupted {
                what: "mq_getattr reported a non-positive capacity or message size",
            }),
        }
    }
}

/// Opens (and with `spec.create` maybe creates) the queue.
pub(super) fn open_queue(spec: &OpenSpec, qname: &CString, access: libc::c_int) -> Result<Mqd> {
    let flags = access | libc::O_CLOEXEC | libc::O_NONBLOCK;
    let open = |extra: libc::c_int, attr: Option<&libc::mq_attr>| -> io::Result<Mqd> {
        let attr_ptr = attr.map_or(std::ptr::null(), |a| a as *const libc::mq_attr);
        retry_eintr(|| {
            // SAFETY: qname is a valid C string; with O_CREAT the variadic arguments are the
            // mode (promoted to an unsigned int) and a valid mq_attr pointer.
            let mqd = unsafe { libc::mq_open(qname.as_ptr(), flags | extra, spec.perm() as libc::c_uint, attr_ptr) };
            if mqd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Mqd(mqd))
        })
    };
    if !spec.create {
        return open(0, None).map_err(|e| Error::from_io("mq_open", e));
    }
    let capacity = spec.capacity().unwrap_or_else(default_capacity);
    let msg_size = spec.msg_size() as u64;
    // SAFETY: mq_attr is plain data; zero is valid (flags 0, curmsgs ignored by mq_open).
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    attr.mq_maxmsg = capacity.try_into().unwrap_or(libc::c_long::MAX);
    attr.mq_msgsize = msg_size.try_into().unwrap_or(libc::c_long::MAX);
    // Create exclusively first, so we know whether we made it (and must fchmod it); if it
    // is there, open it (and if it vanished in between, try creating again).
    for _ in 0..100 {
        match open(libc::O_CREAT | libc::O_EXCL, Some(&attr)) {
            Ok(q) => {
                // The umask applied to mq_open's mode: set the mode asked for exactly.
                // SAFETY: q is an open mqd, which on Linux is a file descriptor.
                if unsafe { libc::fchmod(q.raw(), (spec.perm() & 0o777) as libc::mode_t) } != 0 {
                    return Err(Error::last_os("fchmod (mq)"));
                }
                return Ok(q);
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                if spec.excl {
                    return Err(Error::AlreadyExists { object: String::new() });
                }
            }
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(0);
                return Err(creation_error(errno, capacity, msg_size, e));
            }
        }
        match open(0, None) {
            Ok(q) => return Ok(q),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(Error::from_io("mq_open", e)),
        }
    }
    Err(Error::NotReady)
}

/// Checks the values the address gave against the queue's; returns `(capacity, msg_size)`.
pub(super) fn check_attr(spec: &OpenSpec, q: &Mqd) -> Result<(u64, usize)> {
    let (maxmsg, msgsize, _) = q.attr()?;
    if let Some(m) = spec.options().msg_size_given() {
        if m != msgsize {
            return Err(Error::Mismatch {
                field: "msg_size",
                expected: m,
                found: msgsize,
            });
        }
    }
    if let Some(c) = spec.capacity() {
        if c != maxmsg {
            return Err(Error::Mismatch {
                field: "capacity",
                expected: c,
                found: maxmsg,
            });
        }
    }
    Ok((maxmsg, msgsize as usize))
}

#[cfg(all(test, not(miri)))] // real sockets, pipes, shm objects or /proc: foreign calls Miri cannot run
mod examples {
    //! What the items above do, shown as tests (their module is not public API, so these
    //! are unit tests, not doc examples).

    #[test]
    fn default_capacity() {
        let c = crate::transport::mq::default_capacity();
        assert!((1..=1024).contains(&c));
    }
}
