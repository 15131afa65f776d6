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
//! | 8..16 | magic `ipcrmq02` |
//! | 16..24, 24..32 | inode and device of the queue it belongs to (`fstat` on the mqd), LE |
//! | 32..56 | u32 LE counters, each (sender, receiver): attaches, clean closes, deaths |
//!
//! Open-file-description locks (`F_OFD_SETLK`) belong to the description, not the process,
//! so each endpoint (and each clone) opens the file again; the kernel drops the lock when
//! the description is closed, including when the process is killed, so a dead peer counts
//! as gone without anyone cleaning up. "Is a sender alive?" is `F_OFD_GETLK` asking for a
//! write lock on byte 0 through a description that holds no lock on that byte (a receiver's
//! own description locks only byte 1, so it asks through that one).
//!
//! An endpoint takes its lock *before* setting its role's marker and counting its attach
//! (under the byte-4 lock), and a clean close counts itself closed before it releases its
//! lock; so when no endpoint of a role holds its lock, attaches minus clean closes is the
//! number of that role's endpoints that ever died, which the one that sees it records in the
//! deaths counter. Endings describe the present, for each endpoint (as on the ring): an end
//! snapshots the peer role's attach and death counters when it attaches, and a peer
//! concerns it if one was alive then, one attached since, or (a receiver) the queue held
//! messages. Then:
//!
//! - a receive on an empty queue returns [`Error::EndOfStream`] when a sender concerns it
//!   and none is alive now, or [`Error::SenderDied`] if a sender died since the receiver
//!   attached. Messages already queued are delivered first (the check is made before the
//!   last attempt to receive). A sender that attaches later makes data flow again;
//! - a send returns [`Error::Disconnected`] (or [`Error::ReceiverDied`]) when a receiver
//!   concerns it and none is alive now, or when it attached to a full queue whose receivers
//!   had all gone. The check costs one `fcntl` and is made before every send (and before
//!   every wait), so a send after the last receiver has gone fails at once, never later;
//! - before the first peer of the other side has ever attached, calls wait as usual: a
//!   receive waits for data, and a send queues messages until the queue is full, then
//!   waits (as on the ring, whose slots are there before any receiver is);
//! - while waiting on a full or empty queue, the poll is cut into slices of at most
//!   [`PEER_CHECK`] (20 ms) so that a peer's death is noticed within about that long even
//!   though nothing wakes the poll.
//!
//! So a receiver opened after the last sender has gone (and the queue has been drained)
//! waits for a sender, and running the same pair of programs twice on one queue works with
//! no cleanup in between. The marker bytes are informational. A death seen while a sender
//! of an earlier life still lived may be counted against a later receiver (the deaths
//! counter is brought up to date only when no sender is alive). After `fork`, only the
//! process that attached an end counts its close as clean: a child's drop of an inherited
//! end counts nothing, and a parent's close while a child still holds the end counts as the
//! end's clean close. The counters are reset when the queue is replaced: the companion records the queue's
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
use crate::timeout::Timeout;
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

/// The longest queue name this transport takes: a ring name's limit (240 bytes, the names
/// being checked by the same rules), which also leaves the companion's file name within
/// `NAME_MAX` (255) bytes.
pub const MAX_NAME_LEN: usize = {
    let companion = 255 - COMPANION_PREFIX.len();
    if crate::region::MAX_NAME_LEN < companion {
        crate::region::MAX_NAME_LEN
    } else {
        companion
    }
};

const MAGIC: &[u8; 8] = b"ipcrmq02";
const COMPANION_LEN: usize = 64;
/// Offset of the six u32 LE counters: attached, closed and died, each for (sender, receiver).
const COUNTERS: usize = 32;
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

mod companion;
mod ends;
mod queue;

use companion::*;
pub use ends::{MqReceiver, MqSender};
#[cfg(ipcring_test)] // used by the tests that drive this transport directly
pub use queue::default_capacity;
use queue::*;

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

/// The companion file of queue `name` (without the leading slash).
pub fn companion_path(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{COMPANION_DIR}/{COMPANION_PREFIX}{}",
        name.trim_start_matches('/')
    ))
}

/// Validates `name`; returns the queue's name for `mq_open` (`/NAME`) and the companion's
/// path as C strings.
fn names(name: &str) -> Result<(CString, CString)> {
    let queue = crate::region::validate_name(name)?;
    let bare = name.trim_start_matches('/');
    if bare.len() > MAX_NAME_LEN {
        return Err(Error::InvalidName {
            name: name.to_string(),
            reason: "longer than 240 bytes",
        });
    }
    let comp =
        CString::new(format!("{COMPANION_DIR}/{COMPANION_PREFIX}{bare}")).expect("NUL excluded by validate_name");
    Ok((queue, comp))
}

/// What both ends hold: the queue descriptor, the endpoint's lock on the companion, and the
/// queue's capacity and message size.
#[derive(Debug)]
struct Attached {
    q: Mqd,
    lock: Lock,
    capacity: u64,
    msg_size: usize,
}

impl Attached {
    /// Another endpoint of the same role on the same queue (its own descriptor and lock).
    fn try_clone(&self) -> Result<Attached> {
        Ok(Attached {
            q: self.q.dup()?,
            lock: self.lock.try_clone()?,
            capacity: self.capacity,
            msg_size: self.msg_size,
        })
    }
}

/// Opens the queue and the companion for `role`.
fn attach(spec: &OpenSpec, role: Role) -> Result<Attached> {
    spec.refuse_ring_options(true)?;
    let (qname, comp) = names(spec.target)?;
    let access = match role {
        Role::Sender => libc::O_WRONLY,
        Role::Receiver => libc::O_RDONLY,
    };
    let q = open_queue(spec, &qname, access)?;
    let (capacity, msg_size) = check_attr(spec, &q)?;
    let mut lock = Lock::attach(&comp, &q, role)?;
    lock.snapshot(q.attr()?.2, capacity)?;
    Ok(Attached {
        q,
        lock,
        capacity,
        msg_size,
    })
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
        return Err(Error::NotFound { object: String::new() });
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

#[cfg(test)]
mod examples {
    //! What the items above do, shown as tests (their module is not public API, so these
    //! are unit tests, not doc examples).

    #[test]
    fn companion_path() {
        let p = crate::transport::mq::companion_path("jobs");
        assert_eq!(p.to_str(), Some("/dev/shm/ipcring-mq.jobs"));
    }
}
