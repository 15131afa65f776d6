//! `mq://NAME`: POSIX message queues (`mq_open("/NAME")`), with pipe-like ends built from a
//! companion lock file.
//!
//! # Messages
//!
//! Every message is one `mq_send` of priority 0, so the queue is plain FIFO. The descriptor
//! is opened `O_NONBLOCK`; a call that has to wait polls it (`ppoll(2)`: on Linux an `mqd_t`
//! is a file descriptor, readable when a message is queued and writable when there is room)
//! for the time left to the absolute `CLOCK_MONOTONIC` deadline, and tries again. The
//! `mq_timed*` calls are not used: they take a `CLOCK_REALTIME` deadline, which a clock step
//! would stretch or cut. `EINTR` goes round again with the same deadline.
//!
//! `mq_receive` needs a buffer of at least `mq_msgsize` bytes: a caller's buffer that is at
//! least that long receives directly; a shorter one goes through an internal buffer, and a
//! message longer than the caller's buffer stays there ([`Error::BufferTooSmall`]) for the
//! next call of *this* receiver (a clone does not see it).
//!
//! # Ends: the companion file
//!
//! A POSIX queue does not count its readers or writers, and a queue outlives every process
//! that has it open, so "every sender has gone" cannot be asked of the kernel. Each queue
//! therefore has a companion file, `/dev/shm/ipcring-mq.NAME` ([`companion_path`]), laid out
//! as:
//!
//! | bytes | use |
//! |---|---|
//! | 0 | each live sender holds an OFD read lock on it |
//! | 1 | each live receiver holds an OFD read lock on it |
//! | 2, 3 | set to 1 by the first sender / receiver that ever attached (0 or 1, nothing else) |
//! | 4 | write-locked while the file's identity is checked or (re)initialised |
//! | 8..16 | magic `ipcrmq01` |
//! | 16..24, 24..32 | inode and device of the queue it belongs to (`fstat` on the mqd), LE |
//!
//! Open-file-description locks (`F_OFD_SETLK`) belong to the description, not the process,
//! so each endpoint (and each clone) opens the file again; the kernel drops the lock when
//! the description is closed, including when the process is killed, so a dead peer counts
//! as gone without anyone cleaning up. "Is a sender alive?" is `F_OFD_GETLK` asking for a
//! write lock on byte 0 through a description that holds no lock on that byte (a receiver's
//! own description locks only byte 1, so it asks through that one).
//!
//! An endpoint takes its lock *before* setting its role's marker, so a peer that sees the
//! marker also sees the lock (until the endpoint goes). Then:
//!
//! - a receive on an empty queue returns [`Error::EndOfStream`] when a sender has ever
//!   attached and none is alive now. Messages already queued are delivered first (the check
//!   is made before the last attempt to receive). A sender that attaches later makes data
//!   flow again;
//! - a send returns [`Error::Disconnected`] when a receiver has ever attached and none is
//!   alive now. The check costs one `fcntl` and is made before every send (and before every
//!   wait), so a send after the last receiver has gone fails at once, never later;
//! - before the first peer of the other side has ever attached, calls wait as usual: a
//!   receive waits for data, and a send queues messages until the queue is full, then
//!   waits (as on the ring, whose slots are there before any receiver is);
//! - while waiting on a full or empty queue, the poll is cut into slices of at most
//!   [`PEER_CHECK`] (20 ms) so that a peer's death is noticed within about that long even
//!   though nothing wakes the poll.
//!
//! "Ever attached" is per queue, not per endpoint: a receiver opened after the last sender
//! has gone (and the queue has been drained) sees end of stream at once, as on the ring.
//! The markers are reset when the queue is replaced: the companion records the queue's
//! inode, and an endpoint that finds another inode there (the queue was unlinked and made
//! again, say with `mq_unlink` directly) reinitialises the file under the byte-4 lock.
//! Endpoints still attached to the old queue then keep their locks on the same file and
//! count as peers of the new one; [`unlink`] avoids that by removing the companion too, so
//! new endpoints get a fresh file.
//!
//! A queue created by someone else with `mq_open` has no companion: the first endpoint
//! creates it (if the directory's permissions allow). Peer detection covers ipcring
//! endpoints only; a plain `mq_send` of another program is delivered but never counts as a
//! sender.
//!
//! # fork
//!
//! A child inherits its parent's ends the way it inherits descriptors: the lock belongs to
//! the open file description, which parent and child then share, so an end counts as alive
//! until every copy of it is closed (as with a pipe's ends). `O_CLOEXEC` keeps them out of
//! `exec`ed programs.
//!
//! # Creation, permissions and limits
//!
//! - `capacity` is `mq_maxmsg`; without it, a created queue gets [`default_capacity`]
//!   (`fs.mqueue.msg_max`, at most 1024: what any user may create). `msg_size` is
//!   `mq_msgsize` (default 256). Opening an existing queue checks the values the address
//!   gave ([`Error::Mismatch`]) and adopts the queue's otherwise.
//! - A created queue gets `perm` exactly, whatever the umask (`fchmod` on the mqd). The
//!   companion gets the same classes, each widened to read *and* write (`0640` becomes
//!   `0660`): every endpoint, even a receive-only one, writes its marker and takes locks.
//! - Limits ([`Error::KernelLimit`]): without `CAP_SYS_RESOURCE`, `mq_maxmsg` and
//!   `mq_msgsize` are bounded by `fs.mqueue.msg_max` and `fs.mqueue.msgsize_max`; with it,
//!   by the kernel's hard limits ([`HARD_MSGMAX`], [`HARD_MSGSIZEMAX`]). The error names the
//!   limit that applied (the capability is read from `/proc/self/status`). `ENOSPC` is the
//!   number of queues (`fs.mqueue.queues_max`, waived by `CAP_SYS_RESOURCE`), `EMFILE` the
//!   bytes of all of a user's queues (`RLIMIT_MSGQUEUE`, `ulimit -q`; `what: "queue bytes"`,
//!   `value` an estimate of this queue's share by the kernel's formula), unless the process
//!   is out of file descriptors.
//!
//! # Removal
//!
//! [`unlink`] removes the queue and the companion. Endpoints never unlink anything on drop;
//! endpoints still open keep working with each other (the queue lives until the last
//! descriptor closes), and a later `create` makes a new queue and a new companion.
//!
//! # Where it differs from the ring
//!
//! - `capacity` is a number of messages bounded by kernel limits (10 by default on Linux
//!   without privilege), not just by memory, and need not be a power of two (the default,
//!   `fs.mqueue.msg_max`, usually is not; neither need a queue made elsewhere be).
//! - Every message is a system call (a send two: `fcntl(F_OFD_GETLK)` and `mq_send`; a
//!   receive that finds a message one); no zero-copy, no batch publication.
//! - An endpoint that opens a queue just as it is being replaced may reinitialise the
//!   companion for the old queue; the next endpoint of the new queue reinitialises it back
//!   (and the markers start again from nothing). Replace queues with [`unlink`] and a new
//!   `create`, not by hand, to stay out of this.
//! - Several receivers share the messages (each message goes to one of them), like MPMC;
//!   there is no `Busy` role exclusion.
//! - A death is noticed within [`PEER_CHECK`] while waiting, rather than within a park
//!   slice, and only for ipcring endpoints.

use super::{MsgReceiver, MsgSender, OpenSpec, Ops};
use crate::error::{Error, Result};
use crate::sys::fd::{fstat, pread_exact, pwrite_all, retry_eintr, wait_fd_slice};
use crate::wait::Timeout;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

/// The longest single poll while waiting on a full or empty queue: peers are re-checked at
/// least this often, so a dead peer is noticed within about this long.
pub const PEER_CHECK: Duration = Duration::from_millis(20);

/// The kernel's hard limit on `mq_maxmsg` (`HARD_MSGMAX`), even with `CAP_SYS_RESOURCE`.
pub const HARD_MSGMAX: u64 = 65536;

/// The kernel's hard limit on `mq_msgsize` (`HARD_MSGSIZEMAX`, 16 MiB), even with
/// `CAP_SYS_RESOURCE`.
pub const HARD_MSGSIZEMAX: u64 = 16 << 20;

/// The directory of the companion files.
pub const COMPANION_DIR: &str = "/dev/shm";

/// The companion file of queue `NAME` is `COMPANION_DIR/COMPANION_PREFIX NAME`.
pub const COMPANION_PREFIX: &str = "ipcring-mq.";

/// The longest queue name this transport takes: the companion's file name must fit in
/// `NAME_MAX` (255) bytes.
pub const MAX_NAME_LEN: usize = 255 - COMPANION_PREFIX.len();

const MAGIC: &[u8; 8] = b"ipcrmq01";
const COMPANION_LEN: usize = 32;
const SETUP_BYTE: usize = 4;

const MSGMAX_HINT: &str = "sysctl fs.mqueue.msg_max=N (or /proc/sys/fs/mqueue/msg_max; at most 65536)";
const MSGSIZE_HINT: &str = "sysctl fs.mqueue.msgsize_max=N (or /proc/sys/fs/mqueue/msgsize_max; at most 16777216)";
const HARD_MSGMAX_HINT: &str = "nothing: HARD_MSGMAX (65536) is fixed in the kernel, use a smaller capacity";
const HARD_MSGSIZE_HINT: &str = "nothing: HARD_MSGSIZEMAX (16 MiB) is fixed in the kernel, use a smaller msg_size";
const QUEUES_HINT: &str = "sysctl fs.mqueue.queues_max=N (or /proc/sys/fs/mqueue/queues_max), or unlink unused queues";
const QUEUE_BYTES_HINT: &str =
    "ulimit -q (RLIMIT_MSGQUEUE: the bytes of all of a user's queues), or unlink unused queues";

const SYMLINK: Error = Error::NotARing {
    reason: "the mq:// companion file is a symbolic link (refused)",
};
const NOT_REGULAR: Error = Error::NotARing {
    reason: "the mq:// companion path is not a regular file",
};
const NOT_OURS: Error = Error::NotARing {
    reason: "the mq:// companion file has an unexpected size or magic",
};

/// The two ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Sender = 0,
    Receiver = 1,
}

impl Role {
    /// The byte this role's endpoints hold a shared lock on.
    fn lock_byte(self) -> usize {
        self as usize
    }
    /// The byte that says an endpoint of this role has ever attached.
    fn marker_byte(self) -> usize {
        2 + self as usize
    }
    fn peer(self) -> Role {
        match self {
            Role::Sender => Role::Receiver,
            Role::Receiver => Role::Sender,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

/// The companion file of queue `name` (without the leading slash).
///
/// # Examples
///
/// ```
/// let p = ipcring::transport::mq::companion_path("jobs");
/// assert_eq!(p.to_str(), Some("/dev/shm/ipcring-mq.jobs"));
/// ```
pub fn companion_path(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{COMPANION_DIR}/{COMPANION_PREFIX}{}",
        name.trim_start_matches('/')
    ))
}

/// Validates `name`; returns the queue's name for `mq_open` (`/NAME`) and the companion's
/// path as C strings.
fn names(name: &str) -> Result<(CString, CString)> {
    let queue = crate::shm::validate_name(name)?;
    let bare = name.trim_start_matches('/');
    if bare.len() > MAX_NAME_LEN {
        return Err(Error::InvalidName {
            name: name.to_string(),
            reason: "longer than 244 bytes (the mq:// companion file name must fit in 255)",
        });
    }
    let comp =
        CString::new(format!("{COMPANION_DIR}/{COMPANION_PREFIX}{bare}")).expect("NUL excluded by validate_name");
    Ok((queue, comp))
}

/// Reads a non-negative integer from a `/proc/sys` file.
fn read_sysctl(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `fs.mqueue.msg_max` (10 if it cannot be read, the kernel's default).
fn sysctl_msg_max() -> u64 {
    read_sysctl("/proc/sys/fs/mqueue/msg_max").unwrap_or(10)
}

/// `fs.mqueue.msgsize_max` (8192 if it cannot be read, the kernel's default).
fn sysctl_msgsize_max() -> u64 {
    read_sysctl("/proc/sys/fs/mqueue/msgsize_max").unwrap_or(8192)
}

/// The capacity of a queue created without `capacity`: `fs.mqueue.msg_max` (what any user
/// may create), at most 1024 (the ring's default capacity).
///
/// # Examples
///
/// ```
/// let c = ipcring::transport::mq::default_capacity();
/// assert!(c >= 1 && c <= 1024);
/// ```
pub fn default_capacity() -> u64 {
    sysctl_msg_max().clamp(1, crate::ring::RingOptions::DEFAULT_CAPACITY)
}

/// Whether this process has `CAP_SYS_RESOURCE` in its effective set (which lifts the
/// sysctl limits up to the hard ones). Read from `/proc/self/status`; if that cannot be
/// read, root is assumed to have it.
fn has_cap_sys_resource() -> bool {
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
fn creation_error(errno: i32, capacity: u64, msg_size: u64, source: io::Error) -> Error {
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
fn out_of_descriptors() -> bool {
    // SAFETY: a valid C string; the flags need no mode.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return io::Error::last_os_error().raw_os_error() == Some(libc::EMFILE);
    }
    // SAFETY: fd was just opened and is ours.
    unsafe { libc::close(fd) };
    false
}

/// One `fcntl` lock command on one byte; returns the `flock` as the kernel left it.
fn ofd_lock(fd: RawFd, byte: usize, cmd: libc::c_int, kind: libc::c_int) -> io::Result<libc::flock> {
    // SAFETY: flock is plain data; zero is a valid starting value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = byte as libc::off_t;
    fl.l_len = 1;
    fl.l_pid = 0; // required by OFD locks
    retry_eintr(|| {
        crate::sys::count::one();
        // SAFETY: fd is an open descriptor we own; fl is a valid flock for the call.
        if unsafe { libc::fcntl(fd, cmd, &mut fl) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    })?;
    Ok(fl)
}

// ---------------------------------------------------------------------------------------
// The queue descriptor
// ---------------------------------------------------------------------------------------

/// An open message queue descriptor, closed on drop.
#[derive(Debug)]
struct Mqd(libc::mqd_t);

impl Drop for Mqd {
    fn drop(&mut self) {
        // SAFETY: self.0 is an open mqd we own, closed once here. An error (EBADF cannot
        // happen; EINTR still closes it on Linux) has nobody to report to.
        unsafe { libc::mq_close(self.0) };
    }
}

impl Mqd {
    fn raw(&self) -> RawFd {
        self.0
    }

    /// A second descriptor of the same queue (and the same open description).
    fn dup(&self) -> Result<Mqd> {
        // SAFETY: self.0 is open; F_DUPFD_CLOEXEC takes an int (the lowest number to use).
        let fd = unsafe { libc::fcntl(self.0, libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            return Err(Error::last_os("fcntl(F_DUPFD_CLOEXEC)"));
        }
        Ok(Mqd(fd))
    }

    /// `mq_getattr`, checked: `(maxmsg, msgsize, curmsgs)`.
    fn attr(&self) -> Result<(u64, u64, u64)> {
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
fn open_queue(spec: &OpenSpec, qname: &CString, access: libc::c_int) -> Result<Mqd> {
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
                    return Err(Error::AlreadyExists);
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
fn check_attr(spec: &OpenSpec, q: &Mqd) -> Result<(u64, usize)> {
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

// ---------------------------------------------------------------------------------------
// The companion file
// ---------------------------------------------------------------------------------------

/// One endpoint's description of the companion file: it holds the endpoint's lock and is
/// used to ask about the other role. Dropping it closes it and releases the lock.
#[derive(Debug)]
struct Lock {
    fd: OwnedFd,
    role: Role,
    /// Whether a peer has ever attached (cached once seen: the marker only goes back to 0
    /// when the queue is replaced).
    peer_seen: bool,
}

/// The companion's mode: the queue's classes, each widened to read and write.
fn companion_mode(queue_mode: u32) -> libc::mode_t {
    let mut m = 0;
    for class in [0o600, 0o060, 0o006] {
        if queue_mode & class != 0 {
            m |= class;
        }
    }
    m as libc::mode_t
}

/// Opens the companion at `path` (creating it with `mode` if missing) as a new open file
/// description, checking it is a regular file.
fn open_companion_fd(path: &CString, mode: libc::mode_t) -> Result<OwnedFd> {
    let base = libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    let open = |flags: libc::c_int| -> io::Result<OwnedFd> {
        retry_eintr(|| {
            // SAFETY: path is a valid C string; the mode argument is read with O_CREAT only.
            let fd = unsafe { libc::open(path.as_ptr(), flags, mode as libc::c_uint) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: open just returned fd; nothing else owns it.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })
    };
    let map = |e: io::Error| match e.raw_os_error() {
        Some(libc::ELOOP) => SYMLINK,
        Some(libc::EISDIR) | Some(libc::ENXIO) => NOT_REGULAR,
        _ => Error::from_io("open (mq companion)", e),
    };
    let fd = loop {
        match open(base | libc::O_CREAT | libc::O_EXCL) {
            Ok(fd) => {
                // SAFETY: fd is the file we just created.
                if unsafe { libc::fchmod(fd.as_raw_fd(), mode) } != 0 {
                    return Err(Error::last_os("fchmod (mq companion)"));
                }
                break fd;
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => match open(base) {
                Ok(fd) => break fd,
                // Removed in between: create it again.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(map(e)),
            },
            Err(e) => return Err(map(e)),
        }
    };
    if fstat(fd.as_raw_fd())?.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(NOT_REGULAR);
    }
    Ok(fd)
}

/// Under the setup lock, checks that the companion belongs to the queue `ident`
/// (inode, device), initialising it if it is new or belongs to a replaced queue.
fn setup_companion(fd: RawFd, ident: (u64, u64)) -> Result<()> {
    ofd_lock(fd, SETUP_BYTE, libc::F_OFD_SETLKW, libc::F_WRLCK).map_err(|source| Error::Io {
        op: "fcntl(F_OFD_SETLKW) (mq companion)",
        source,
    })?;
    let result = (|| {
        let mut head = [0u8; COMPANION_LEN];
        let n = pread_exact(fd, &mut head, 0).map_err(|e| Error::from_io("pread (mq companion)", e))?;
        let size = fstat(fd)?.st_size;
        let fresh = |head: &mut [u8; COMPANION_LEN]| {
            *head = [0; COMPANION_LEN];
            head[8..16].copy_from_slice(MAGIC);
            head[16..24].copy_from_slice(&ident.0.to_le_bytes());
            head[24..32].copy_from_slice(&ident.1.to_le_bytes());
            pwrite_all(fd, head, 0).map_err(|e| Error::from_io("pwrite (mq companion)", e))
        };
        if n == 0 && size == 0 {
            return fresh(&mut head);
        }
        if n != COMPANION_LEN || size != COMPANION_LEN as libc::off_t || &head[8..16] != MAGIC {
            return Err(NOT_OURS);
        }
        if head[2] > 1 || head[3] > 1 {
            return Err(Error::Corrupted {
                what: "mq companion file: a marker byte is neither 0 nor 1",
            });
        }
        let ino = u64::from_le_bytes(head[16..24].try_into().expect("8 bytes"));
        let dev = u64::from_le_bytes(head[24..32].try_into().expect("8 bytes"));
        if (ino, dev) != ident {
            // Left by a queue of the same name that has been replaced: start afresh.
            return fresh(&mut head);
        }
        Ok(())
    })();
    let unlocked = ofd_lock(fd, SETUP_BYTE, libc::F_OFD_SETLK, libc::F_UNLCK);
    result?;
    unlocked.map_err(|source| Error::Io {
        op: "fcntl(F_OFD_SETLK) (mq companion)",
        source,
    })?;
    Ok(())
}

impl Lock {
    /// Opens the companion of the queue `q` (creating or reinitialising it as needed) and
    /// attaches as `role`: takes the role's lock, then sets its marker.
    fn attach(path: &CString, q: &Mqd, role: Role) -> Result<Lock> {
        let st = fstat(q.raw())?;
        let fd = open_companion_fd(path, companion_mode(st.st_mode & 0o777))?;
        setup_companion(fd.as_raw_fd(), (st.st_ino, st.st_dev))?;
        Lock::take(fd, role)
    }

    /// Takes `role`'s lock through `fd` (a new description), then sets the role's marker.
    fn take(fd: OwnedFd, role: Role) -> Result<Lock> {
        ofd_lock(fd.as_raw_fd(), role.lock_byte(), libc::F_OFD_SETLK, libc::F_RDLCK).map_err(|source| Error::Io {
            op: "fcntl(F_OFD_SETLK) (mq companion)",
            source,
        })?;
        pwrite_all(fd.as_raw_fd(), &[1], role.marker_byte()).map_err(|e| Error::from_io("pwrite (mq companion)", e))?;
        Ok(Lock {
            fd,
            role,
            peer_seen: false,
        })
    }

    /// Another description of the same file (the same inode, even if the path has been
    /// unlinked or replaced since), attached as the same role.
    fn try_clone(&self) -> Result<Lock> {
        let path = CString::new(format!("/proc/self/fd/{}", self.fd.as_raw_fd())).expect("no NUL in a number");
        let flags = libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK;
        // SAFETY: path is a valid C string; no O_CREAT, so no mode.
        let fd = unsafe { libc::open(path.as_ptr(), flags) };
        if fd < 0 {
            return Err(Error::last_os("open /proc/self/fd (mq companion)"));
        }
        // SAFETY: open just returned fd; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let (a, b) = (fstat(fd.as_raw_fd())?, fstat(self.fd.as_raw_fd())?);
        if (a.st_ino, a.st_dev) != (b.st_ino, b.st_dev) {
            return Err(Error::Unsupported {
                what: "cloning an mq:// endpoint without /proc/self/fd",
            });
        }
        let mut lock = Lock::take(fd, self.role)?;
        lock.peer_seen = self.peer_seen;
        Ok(lock)
    }

    /// Whether every peer has gone: one has attached once and none holds its lock now.
    fn peers_gone(&mut self) -> Result<bool> {
        let peer = self.role.peer();
        let fd = self.fd.as_raw_fd();
        if !self.peer_seen {
            let mut b = [0u8; 1];
            let n =
                pread_exact(fd, &mut b, peer.marker_byte()).map_err(|e| Error::from_io("pread (mq companion)", e))?;
            match (n, b[0]) {
                (0, _) | (1, 0) => return Ok(false),
                (1, 1) => self.peer_seen = true,
                _ => {
                    return Err(Error::Corrupted {
                        what: "mq companion file: a marker byte is neither 0 nor 1",
                    })
                }
            }
        }
        // This description locks only our own role's byte, so it can ask about the peer's.
        let fl = ofd_lock(fd, peer.lock_byte(), libc::F_OFD_GETLK, libc::F_WRLCK).map_err(|source| Error::Io {
            op: "fcntl(F_OFD_GETLK) (mq companion)",
            source,
        })?;
        match fl.l_type as libc::c_int {
            libc::F_UNLCK => Ok(true),
            libc::F_RDLCK | libc::F_WRLCK => Ok(false),
            _ => Err(Error::Corrupted {
                what: "fcntl(F_OFD_GETLK) returned an unknown lock type",
            }),
        }
    }
}

/// Opens the queue and the companion for `role`: the descriptor, its lock, the capacity and
/// the message size.
fn attach(spec: &OpenSpec, role: Role) -> Result<(Mqd, Lock, u64, usize)> {
    spec.refuse_ring_options(true)?;
    let (qname, comp) = names(spec.target)?;
    let access = match role {
        Role::Sender => libc::O_WRONLY,
        Role::Receiver => libc::O_RDONLY,
    };
    let q = open_queue(spec, &qname, access)?;
    let (capacity, msg_size) = check_attr(spec, &q)?;
    let lock = Lock::attach(&comp, &q, role)?;
    Ok((q, lock, capacity, msg_size))
}

// ---------------------------------------------------------------------------------------
// The ends
// ---------------------------------------------------------------------------------------

/// A sending end of an `mq://` queue (see the module docs).
#[derive(Debug)]
pub struct MqSender {
    q: Mqd,
    lock: Lock,
    capacity: u64,
    msg_size: usize,
}

impl MqSender {
    /// Opens (with `spec.create`, creates) the queue and attaches as a sender.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidAddress`] for `mode` or `wake` in the address;
    ///   [`Error::InvalidName`] for a name longer than [`MAX_NAME_LEN`];
    /// - [`Error::NotFound`] (no queue and no `create`), [`Error::AlreadyExists`] (`excl`),
    ///   [`Error::PermissionDenied`];
    /// - [`Error::Mismatch`] when the address's `capacity` or `msg_size` differs from the
    ///   existing queue's;
    /// - [`Error::KernelLimit`] when creation exceeds `capacity` / `msg_size` / number of
    ///   queues / queue bytes limits (see the module docs);
    /// - [`Error::NotARing`] when the companion path is a symlink, not a regular file, or
    ///   not ours; [`Error::Corrupted`] for a companion with impossible contents;
    /// - [`Error::Io`].
    pub fn open(spec: &OpenSpec) -> Result<MqSender> {
        let (q, lock, capacity, msg_size) = attach(spec, Role::Sender)?;
        Ok(MqSender {
            q,
            lock,
            capacity,
            msg_size,
        })
    }

    /// The queue's capacity (`mq_maxmsg`).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The largest message (`mq_msgsize`).
    pub fn msg_size(&self) -> usize {
        self.msg_size
    }

    /// Sends `msg` as one message of priority 0.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] (nothing sent); [`Error::WouldBlock`] / [`Error::TimedOut`] on a
    /// full queue (nothing sent); [`Error::Disconnected`] once every receiver that came has
    /// gone (checked before every attempt); [`Error::Io`].
    pub fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        if msg.len() > self.msg_size {
            return Err(Error::TooLarge {
                len: msg.len(),
                max: self.msg_size,
            });
        }
        loop {
            if self.lock.peers_gone()? {
                return Err(Error::Disconnected);
            }
            crate::sys::count::one();
            // SAFETY: msg is valid for msg.len() bytes; the mqd is open.
            let rc = unsafe { libc::mq_send(self.q.raw(), msg.as_ptr().cast(), msg.len(), 0) };
            if rc == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => {}
                Some(libc::EMSGSIZE) => {
                    return Err(Error::TooLarge {
                        len: msg.len(),
                        max: self.msg_size,
                    })
                }
                _ => {
                    return Err(Error::Io {
                        op: "mq_send",
                        source: e,
                    })
                }
            }
            wait_fd_slice(self.q.raw(), libc::POLLOUT, &timeout, PEER_CHECK)?;
        }
    }

    /// Another sender on the same queue: a duplicate of the queue descriptor (sharing its
    /// open description) and a lock of its own.
    ///
    /// # Errors
    ///
    /// [`Error::Io`]; [`Error::Unsupported`] without `/proc/self/fd`.
    pub fn try_clone(&self) -> Result<MqSender> {
        Ok(MqSender {
            q: self.q.dup()?,
            lock: self.lock.try_clone()?,
            capacity: self.capacity,
            msg_size: self.msg_size,
        })
    }
}

impl AsRawFd for MqSender {
    /// The queue descriptor (pollable for `POLLOUT`).
    fn as_raw_fd(&self) -> RawFd {
        self.q.raw()
    }
}

impl MsgSender for MqSender {
    fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        MqSender::send(self, msg, timeout)
    }
    fn msg_size(&self) -> usize {
        self.msg_size
    }
    fn try_clone(&self) -> Result<Box<dyn MsgSender>> {
        Ok(Box::new(MqSender::try_clone(self)?))
    }
    fn queued(&self) -> Option<u64> {
        self.q.attr().ok().map(|a| a.2)
    }
}

/// A receiving end of an `mq://` queue (see the module docs).
pub struct MqReceiver {
    q: Mqd,
    lock: Lock,
    capacity: u64,
    msg_size: usize,
    /// Receives shorter than `msg_size` land here (`mq_receive` wants the full size).
    buf: Vec<u8>,
    /// The length of a message waiting in `buf` (after `BufferTooSmall`).
    pending: Option<usize>,
}

impl std::fmt::Debug for MqReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqReceiver")
            .field("q", &self.q)
            .field("lock", &self.lock)
            .field("capacity", &self.capacity)
            .field("msg_size", &self.msg_size)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl MqReceiver {
    /// Opens (with `spec.create`, creates) the queue and attaches as a receiver.
    ///
    /// # Errors
    ///
    /// As [`MqSender::open`].
    pub fn open(spec: &OpenSpec) -> Result<MqReceiver> {
        let (q, lock, capacity, msg_size) = attach(spec, Role::Receiver)?;
        Ok(MqReceiver {
            q,
            lock,
            capacity,
            msg_size,
            buf: Vec::new(),
            pending: None,
        })
    }

    /// The queue's capacity (`mq_maxmsg`).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The largest message (`mq_msgsize`).
    pub fn msg_size(&self) -> usize {
        self.msg_size
    }

    /// Messages in the queue now (`mq_curmsgs`), not counting one kept by this receiver
    /// after [`Error::BufferTooSmall`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if `mq_getattr` fails.
    pub fn queued(&self) -> Result<u64> {
        Ok(self.q.attr()?.2)
    }

    /// One non-blocking `mq_receive` into `dst` (at least `msg_size` bytes): `Some(len)`,
    /// or `None` if the queue is empty.
    fn try_receive(q: &Mqd, dst: &mut [u8]) -> Result<Option<usize>> {
        loop {
            let mut prio: libc::c_uint = 0;
            crate::sys::count::one();
            // SAFETY: dst is valid for dst.len() writable bytes; the mqd is open.
            let n = unsafe { libc::mq_receive(q.raw(), dst.as_mut_ptr().cast(), dst.len(), &mut prio) };
            if n >= 0 {
                let n = n as usize;
                if n > dst.len() {
                    return Err(Error::Corrupted {
                        what: "mq_receive returned more bytes than the buffer holds",
                    });
                }
                return Ok(Some(n));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Ok(None),
                _ => {
                    return Err(Error::Io {
                        op: "mq_receive",
                        source: e,
                    })
                }
            }
        }
    }

    /// One attempt: `Some(len)` if a message was delivered to `out`, `None` if the queue is
    /// empty; a message too long for `out` is kept ([`Error::BufferTooSmall`]).
    fn attempt(&mut self, out: &mut [u8]) -> Result<Option<usize>> {
        if self.pending.is_none() {
            if out.len() >= self.msg_size {
                return Self::try_receive(&self.q, out);
            }
            self.buf.resize(self.msg_size, 0);
            match Self::try_receive(&self.q, &mut self.buf)? {
                Some(n) => self.pending = Some(n),
                None => return Ok(None),
            }
        }
        let len = self.pending.expect("set above");
        if out.len() < len {
            return Err(Error::BufferTooSmall {
                needed: len,
                capacity: out.len(),
            });
        }
        out[..len].copy_from_slice(&self.buf[..len]);
        self.pending = None;
        Ok(Some(len))
    }

    /// Receives one message into `out`; returns its length.
    ///
    /// # Errors
    ///
    /// - [`Error::BufferTooSmall`]: the message is kept and the next call returns it;
    /// - [`Error::WouldBlock`] / [`Error::TimedOut`] on an empty queue;
    /// - [`Error::EndOfStream`]: the queue is empty and every sender that came has gone (a
    ///   sender that attaches later makes data flow again);
    /// - [`Error::Io`].
    pub fn recv(&mut self, out: &mut [u8], timeout: Timeout) -> Result<usize> {
        loop {
            if let Some(n) = self.attempt(out)? {
                return Ok(n);
            }
            // Empty. Check the senders *before* trying once more, so that whatever a sender
            // queued before it went is still delivered.
            if self.lock.peers_gone()? {
                return match self.attempt(out)? {
                    Some(n) => Ok(n),
                    None => Err(Error::EndOfStream),
                };
            }
            wait_fd_slice(self.q.raw(), libc::POLLIN, &timeout, PEER_CHECK)?;
        }
    }

    /// Another receiver on the same queue: a duplicate of the queue descriptor (sharing its
    /// open description) and a lock of its own. Receivers share the messages: each message
    /// goes to one of them. A message this receiver keeps after `BufferTooSmall` stays here.
    ///
    /// # Errors
    ///
    /// [`Error::Io`]; [`Error::Unsupported`] without `/proc/self/fd`.
    pub fn try_clone(&self) -> Result<MqReceiver> {
        Ok(MqReceiver {
            q: self.q.dup()?,
            lock: self.lock.try_clone()?,
            capacity: self.capacity,
            msg_size: self.msg_size,
            buf: Vec::new(),
            pending: None,
        })
    }
}

impl AsRawFd for MqReceiver {
    /// The queue descriptor (pollable for `POLLIN`).
    fn as_raw_fd(&self) -> RawFd {
        self.q.raw()
    }
}

impl MsgReceiver for MqReceiver {
    fn recv(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        MqReceiver::recv(self, buf, timeout)
    }
    fn msg_size(&self) -> usize {
        self.msg_size
    }
    fn try_clone(&self) -> Result<Box<dyn MsgReceiver>> {
        Ok(Box::new(MqReceiver::try_clone(self)?))
    }
    fn queued(&self) -> Option<u64> {
        MqReceiver::queued(self).ok()
    }
}

/// `mq://NAME` in the dispatch table.
pub(crate) const OPS: Ops = Ops {
    scheme: "mq",
    open_sender: Some(open_sender),
    open_receiver: Some(open_receiver),
    pair: None,
    unlink: Ok(unlink),
    remove: Ok(remove),
};

/// Opens a sender on `mq://NAME` (see [`MqSender::open`]).
///
/// # Errors
///
/// As [`MqSender::open`].
pub fn open_sender(spec: &OpenSpec) -> Result<Box<dyn MsgSender>> {
    Ok(Box::new(MqSender::open(spec)?))
}

/// Opens a receiver on `mq://NAME` (see [`MqReceiver::open`]).
///
/// # Errors
///
/// As [`MqSender::open`].
pub fn open_receiver(spec: &OpenSpec) -> Result<Box<dyn MsgReceiver>> {
    Ok(Box::new(MqReceiver::open(spec)?))
}

/// Removes queue `name` and its companion file. Open endpoints keep working with each
/// other; new ones make or find a new queue.
///
/// # Errors
///
/// [`Error::NotFound`] if neither exists; [`Error::InvalidName`];
/// [`Error::PermissionDenied`], [`Error::Io`] (the queue's error first).
pub fn unlink(name: &str) -> Result<()> {
    let (qname, comp) = names(name)?;
    // SAFETY: qname is a valid C string.
    let q = if unsafe { libc::mq_unlink(qname.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    };
    // SAFETY: comp is a valid C string.
    let c = if unsafe { libc::unlink(comp.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    };
    // Ok(true): removed; Ok(false): was not there.
    let removed = |r: io::Result<()>| match r {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    };
    let q = removed(q).map_err(|e| Error::from_io("mq_unlink", e))?;
    let c = removed(c).map_err(|e| Error::from_io("unlink (mq companion)", e))?;
    if !q && !c {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Removes queue `name` and its companion file unless an ipcring endpoint is attached:
/// refuses with [`Error::InUse`] (unless `force`) while any sender or receiver holds its
/// lock on the companion (`endpoints` counts the sides with a live endpoint; `initialising`
/// says an endpoint holds the setup lock, i.e. is attaching now). Endpoints that died do not
/// count. A queue without a companion has no ipcring endpoints and is removed.
///
/// Best effort, unlike the ring's `remove`: an endpoint that attaches between the check and
/// the removal is not seen, and is left on the removed queue (as with [`unlink`]).
///
/// # Errors
///
/// Those of [`unlink`], and [`Error::InUse`]; [`Error::NotARing`] for a companion path that
/// is a symbolic link or not a regular file (unless `force`).
pub fn remove(name: &str, force: bool) -> Result<()> {
    let (_, comp) = names(name)?;
    let flags = libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: comp is a valid C string; no O_CREAT, so no mode argument.
    let fd = unsafe { libc::open(comp.as_ptr(), flags) };
    if fd >= 0 {
        // SAFETY: open just returned fd; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let regular = fstat(fd.as_raw_fd())?.st_mode & libc::S_IFMT == libc::S_IFREG;
        if !regular && !force {
            return Err(NOT_REGULAR);
        }
        if regular {
            // This description holds no lock, so F_OFD_GETLK reports any other's.
            let held = |byte: usize| -> Result<bool> {
                let fl =
                    ofd_lock(fd.as_raw_fd(), byte, libc::F_OFD_GETLK, libc::F_WRLCK).map_err(|source| Error::Io {
                        op: "fcntl(F_OFD_GETLK) (mq companion)",
                        source,
                    })?;
                Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
            };
            let mut endpoints = 0u32;
            for role in [Role::Sender, Role::Receiver] {
                if held(role.lock_byte())? {
                    endpoints += 1;
                }
            }
            let initialising = held(SETUP_BYTE)?;
            if (endpoints > 0 || initialising) && !force {
                return Err(Error::InUse {
                    endpoints,
                    initialising,
                });
            }
        }
    } else {
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOENT) => {} // no companion: no ipcring endpoint ever attached
            Some(libc::ELOOP) if !force => return Err(SYMLINK),
            _ if force => {}
            _ => return Err(Error::from_io("open (mq companion)", e)),
        }
    }
    unlink(name)
}
