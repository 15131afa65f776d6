//! The crate's error type: one variant per distinct failure, each saying what went wrong.

use std::fmt;
use std::io;

/// Everything that can go wrong when creating, opening or using a ring.
///
/// Variants are distinct so that callers (and the C ABI's status codes) can tell them apart;
/// `Display` gives a lowercase sentence naming the offending value.
///
/// # Examples
///
/// ```
/// use ipcring::{Error, RingOptions};
/// let err = RingOptions::new().capacity(0).validate().unwrap_err();
/// assert!(matches!(err, Error::InvalidOption { option: "capacity", .. }));
/// assert!(err.to_string().contains("at least 1"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A ring name is empty, too long, or contains a `/` or a NUL byte.
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An address string is malformed or names an unknown scheme or option.
    InvalidAddress {
        /// The address as given.
        address: String,
        /// The offending part of it.
        part: String,
        /// What is wrong with that part.
        reason: &'static str,
    },
    /// A creation option is out of range.
    InvalidOption {
        /// The option's name (`capacity`, `msg_size`, ...).
        option: &'static str,
        /// The value given.
        value: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// `create` found an object of that name already there.
    AlreadyExists {
        /// The address or name of the object (empty where the failing call did not know it).
        object: String,
    },
    /// `open` found no object of that name.
    NotFound {
        /// The address or name looked for (empty where the failing call did not know it).
        object: String,
    },
    /// The operating system refused access to the object.
    PermissionDenied {
        /// The address or name of the object (empty where the failing call did not know it).
        object: String,
    },
    /// The shared-memory filesystem has no room for a region of this size.
    NoSpace {
        /// Bytes that could not be reserved.
        size: u64,
    },
    /// The object exists but its creator has not finished initialising it within the open
    /// timeout (it may have died while creating it).
    NotReady,
    /// The object exists, is not initialised, and no creator is at work on it: its creator
    /// died (or was killed) while initialising it. Known at once, without waiting for the
    /// open timeout: the creator holds an init lock until it publishes READY, and the kernel
    /// releases the lock when it dies. Remove it with `Ring::remove`
    /// and create it again.
    CreatorDied,
    /// The object is not an ipcring region (wrong magic, or too small to hold a header).
    NotARing {
        /// What gave it away.
        reason: &'static str,
    },
    /// The region was created by an incompatible version of the library.
    AbiMismatch {
        /// Our ABI version.
        expected: u32,
        /// The region's.
        found: u32,
    },
    /// The region's layout hash (sizes, alignments, pointer width, endianness) differs from ours.
    LayoutMismatch {
        /// Our layout hash.
        expected: u64,
        /// The region's.
        found: u64,
    },
    /// The region is a valid ring but not the one asked for (kind, capacity, msg_size, wake).
    Mismatch {
        /// Which property differs.
        field: &'static str,
        /// What the caller asked for.
        expected: u64,
        /// What the region has.
        found: u64,
    },
    /// The object's real size differs from the size its header claims.
    SizeMismatch {
        /// The size the header implies.
        expected: u64,
        /// The object's size (fstat).
        actual: u64,
    },
    /// A value read from the shared region makes no sense; the ring is poisoned and every
    /// further operation on it returns this error.
    Corrupted {
        /// What was found to be wrong.
        what: &'static str,
    },
    /// A message is longer than the ring's `msg_size`; nothing was sent.
    TooLarge {
        /// The message's length.
        len: usize,
        /// The ring's limit.
        max: usize,
    },
    /// The receive buffer is shorter than the next message; the message stays in the ring.
    BufferTooSmall {
        /// The message's length.
        needed: usize,
        /// The buffer's length.
        capacity: usize,
    },
    /// A message is not the size a typed receive expects
    /// (`Receiver::recv_value`); it stays in the
    /// channel (except on an MPMC ring, where looking at a message takes it).
    MessageSize {
        /// `size_of::<T>()`.
        expected: usize,
        /// The message's length.
        found: usize,
    },
    /// The ring is full (send) or empty (receive) and the call was not allowed to wait.
    WouldBlock,
    /// The ring stayed full or empty for the whole timeout.
    TimedOut,
    /// The call was woken by an `Interrupter` of its end
    /// (C: `ipcring_interrupt`) before it could complete: nothing was sent or taken.
    Interrupted,
    /// Every receiver has gone: nothing sent now would ever be read.
    Disconnected,
    /// Every sender has gone and the ring is drained.
    EndOfStream,
    /// Where the receive would have returned [`EndOfStream`](Error::EndOfStream): a sender
    /// died without closing since this receiver attached (killed, crashed, or exited without
    /// dropping its end), so what was received may be incomplete. Every message it committed
    /// before it died has been received. Like end of stream, it stays until a sender
    /// attaches again. Its [`kind`](Error::kind) is [`ErrorKind::SenderDied`] (C:
    /// `IPCRING_EDIED`; `ipcring recv` exits with status 6).
    SenderDied,
    /// [`Disconnected`](Error::Disconnected), where the cause is known: every receiver has
    /// gone and at least one died without closing. Its [`kind`](Error::kind) is
    /// [`ErrorKind::Disconnected`] and its C status `IPCRING_EDISCONNECTED`, so code that
    /// branches on the kind treats it as a disconnection; code that matches the variant
    /// `Error::Disconnected` alone must add this one (or call
    /// [`is_disconnected`](Error::is_disconnected)).
    ReceiverDied,
    /// A `tcp://` or `unix://` sender's wait for its receiver ended (a `NonBlocking` call,
    /// or the deadline) and its last connection attempt was refused: nothing listens at the
    /// address. Nothing was sent. (A listener that is there but did not take the connection
    /// or the message in time is `WouldBlock` / `TimedOut`.)
    NoListener {
        /// The address tried (`tcp://HOST:PORT`, `unix:///path`).
        address: String,
        /// `"connection refused"` (tcp) or `"no listener"` (unix).
        reason: &'static str,
    },
    /// The role is already taken (an SPSC ring has one sender and one receiver); or, with
    /// role `"cleaner"`, another process is removing the object
    /// (`Ring::remove` waited for it for a while, or `create` found
    /// its brand-new object taken by a remove that judged it abandoned; create again).
    Busy {
        /// `"sender"`, `"receiver"` or `"cleaner"`.
        role: &'static str,
    },
    /// `Ring::remove` (or `ipcring::remove`) without `force`
    /// found the object in use: live endpoints, or a creator still initialising it. Nothing
    /// was removed.
    InUse {
        /// Live endpoints found (their locks are held). For `mq://`, the sides (sender,
        /// receiver) with at least one live endpoint.
        endpoints: u32,
        /// Whether a live creator is still initialising the ring.
        initialising: bool,
    },
    /// The ring's endpoint table is full.
    TooManyEndpoints,
    /// A kernel limit is lower than what was asked for (e.g. a POSIX queue's `msg_max`).
    KernelLimit {
        /// What was asked for (`"capacity"`, `"msg_size"`, `"queues"`).
        what: &'static str,
        /// The value asked for.
        value: u64,
        /// The limit in force.
        limit: u64,
        /// How to raise it (e.g. `"sysctl fs.mqueue.msg_max=N"`).
        hint: &'static str,
    },
    /// The ring uses asymmetric fences ([`FenceMode::Asymmetric`](crate::FenceMode)) and this
    /// process cannot register for `membarrier(2)`'s expedited barriers (a seccomp profile
    /// that refuses the call, a kernel before 4.16), or such a ring was asked for where they
    /// cannot be had. Joining anyway would leave this process's wake-ups uncovered (a waiter
    /// could sleep through them), so the open is refused. The fix: allow `membarrier` in the
    /// seccomp profile, or create the ring with `fence=full` (`IPCRING_FENCE=full` in the
    /// creator's environment). Its kind is [`ErrorKind::Unsupported`] (C:
    /// `IPCRING_EUNSUPPORTED`).
    FenceUnavailable {
        /// The `errno` of the failed registration.
        errno: i32,
    },
    /// The operation is not available on this ring or platform.
    Unsupported {
        /// What is not supported.
        what: &'static str,
    },
    /// A system call failed.
    Io {
        /// The call that failed.
        op: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
}

/// Shorthand for `Result<T, ipcring::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

/// What kind of failure an [`Error`] is, without its details: one value per variant, so a
/// caller can branch on it, store it or compare it (`e.kind() == ErrorKind::NotFound`), and so
/// that the C library's status codes and the command's exit codes are derived from one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // each is the variant of `Error` of the same name
pub enum ErrorKind {
    InvalidName,
    InvalidAddress,
    InvalidOption,
    AlreadyExists,
    NotFound,
    PermissionDenied,
    NoSpace,
    NotReady,
    CreatorDied,
    NotARing,
    AbiMismatch,
    LayoutMismatch,
    Mismatch,
    SizeMismatch,
    Corrupted,
    TooLarge,
    BufferTooSmall,
    MessageSize,
    WouldBlock,
    TimedOut,
    Interrupted,
    Disconnected,
    EndOfStream,
    Busy,
    InUse,
    TooManyEndpoints,
    KernelLimit,
    Unsupported,
    Io,
    SenderDied,
    NoListener,
}

impl Error {
    /// Which kind of failure this is (see [`ErrorKind`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{ErrorKind, Receiver, Create};
    /// let e = Receiver::open("shm://ipcring-doc-kind-missing", Create::No).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::NotFound);
    /// assert!(e.to_string().contains("shm://ipcring-doc-kind-missing"), "{e}");
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidName { .. } => ErrorKind::InvalidName,
            Error::InvalidAddress { .. } => ErrorKind::InvalidAddress,
            Error::InvalidOption { .. } => ErrorKind::InvalidOption,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::NoSpace { .. } => ErrorKind::NoSpace,
            Error::NotReady => ErrorKind::NotReady,
            Error::CreatorDied => ErrorKind::CreatorDied,
            Error::NotARing { .. } => ErrorKind::NotARing,
            Error::AbiMismatch { .. } => ErrorKind::AbiMismatch,
            Error::LayoutMismatch { .. } => ErrorKind::LayoutMismatch,
            Error::Mismatch { .. } => ErrorKind::Mismatch,
            Error::SizeMismatch { .. } => ErrorKind::SizeMismatch,
            Error::Corrupted { .. } => ErrorKind::Corrupted,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
            Error::MessageSize { .. } => ErrorKind::MessageSize,
            Error::WouldBlock => ErrorKind::WouldBlock,
            Error::TimedOut => ErrorKind::TimedOut,
            Error::Interrupted => ErrorKind::Interrupted,
            Error::Disconnected => ErrorKind::Disconnected,
            Error::EndOfStream => ErrorKind::EndOfStream,
            Error::SenderDied => ErrorKind::SenderDied,
            Error::ReceiverDied => ErrorKind::Disconnected,
            Error::NoListener { .. } => ErrorKind::NoListener,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::InUse { .. } => ErrorKind::InUse,
            Error::TooManyEndpoints => ErrorKind::TooManyEndpoints,
            Error::KernelLimit { .. } => ErrorKind::KernelLimit,
            Error::Unsupported { .. } | Error::FenceUnavailable { .. } => ErrorKind::Unsupported,
            Error::Io { .. } => ErrorKind::Io,
        }
    }

    /// Whether this is [`Error::Disconnected`] or [`Error::ReceiverDied`]: every receiver has
    /// gone (the same as `self.kind() == ErrorKind::Disconnected`).
    #[must_use]
    pub fn is_disconnected(&self) -> bool {
        self.kind() == ErrorKind::Disconnected
    }

    /// Names the object of a `NotFound`, `AlreadyExists` or `PermissionDenied` that does not
    /// name one yet (the API calls pass their address); other errors are returned as they are.
    pub(crate) fn on(mut self, object: &str) -> Error {
        if let Error::NotFound { object: o }
        | Error::AlreadyExists { object: o }
        | Error::PermissionDenied { object: o } = &mut self
        {
            if o.is_empty() {
                *o = object.to_string();
            }
        }
        self
    }

    /// Wraps the last OS error of `op`, mapping the errors that have their own variant.
    pub(crate) fn last_os(op: &'static str) -> Error {
        Error::from_io(op, io::Error::last_os_error())
    }

    /// Wraps `source`, mapping the errors that have their own variant.
    pub(crate) fn from_io(op: &'static str, source: io::Error) -> Error {
        match source.raw_os_error() {
            Some(libc::EEXIST) => Error::AlreadyExists { object: String::new() },
            Some(libc::ENOENT) => Error::NotFound { object: String::new() },
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::ELOOP) => {
                Error::PermissionDenied { object: String::new() }
            }
            _ => Error::Io { op, source },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidName { name, reason } => write!(f, "invalid name {name:?}: {reason}"),
            Error::InvalidAddress { address, part, reason } => {
                write!(f, "invalid address {address:?}: {part:?}: {reason}")
            }
            Error::InvalidOption { option, value, reason } => {
                write!(f, "invalid {option} {value}: {reason}")
            }
            Error::AlreadyExists { object } if object.is_empty() => f.write_str("the object already exists"),
            Error::AlreadyExists { object } => write!(f, "{object} already exists"),
            Error::NotFound { object } if object.is_empty() => f.write_str("no such object"),
            Error::NotFound { object } => write!(f, "{object} does not exist"),
            Error::PermissionDenied { object } if object.is_empty() => f.write_str("permission denied"),
            Error::PermissionDenied { object } => write!(f, "permission denied: {object}"),
            Error::NoSpace { size } => {
                write!(f, "no space left to reserve {size} bytes of shared memory")
            }
            Error::NotReady => f.write_str("the ring's creator did not finish initialising it in time"),
            Error::CreatorDied => f.write_str(
                "the ring's creator died during initialisation (the object is not initialised and no creator holds \
                 its init lock; remove it and create it again)",
            ),
            Error::NotARing { reason } => write!(f, "not an ipcring region: {reason}"),
            Error::AbiMismatch { expected, found } => {
                write!(f, "ring ABI version {found} is not ours ({expected})")
            }
            Error::LayoutMismatch { expected, found } => write!(
                f,
                "ring layout hash {found:#018x} differs from ours ({expected:#018x}): built for another target or version"
            ),
            Error::Mismatch { field, expected, found } => {
                // Kind and wake backend are stored as numbers; say them the way addresses do.
                let name = |v: u64| -> String {
                    let raw = u32::try_from(v).unwrap_or(u32::MAX);
                    let named = match *field {
                        "kind" => crate::kind::Kind::from_raw(raw).map(crate::kind::Kind::name),
                        "wake" => crate::kind::WakeBackend::from_raw(raw).map(crate::kind::WakeBackend::name),
                        "fence" => crate::kind::FenceMode::from_raw(raw).map(crate::kind::FenceMode::name),
                        _ => None,
                    };
                    named.map_or_else(|| v.to_string(), str::to_string)
                };
                let field = if *field == "kind" { "mode" } else { field };
                write!(f, "ring {field} is {}, expected {}", name(*found), name(*expected))
            }
            Error::SizeMismatch { expected, actual } => write!(
                f,
                "shared object is {actual} bytes but its header implies {expected}"
            ),
            Error::Corrupted { what } => write!(f, "ring corrupted: {what}"),
            Error::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the channel's msg_size of {max}")
            }
            Error::BufferTooSmall { needed, capacity } => write!(
                f,
                "receive buffer of {capacity} bytes is too small for a {needed}-byte message"
            ),
            Error::MessageSize { expected, found } => write!(
                f,
                "a message of {found} bytes is not the {expected}-byte value asked for (left in the channel)"
            ),
            Error::WouldBlock => f.write_str("operation would block"),
            Error::TimedOut => f.write_str("timed out"),
            Error::Interrupted => f.write_str("interrupted by an Interrupter of this end"),
            Error::Disconnected => f.write_str("every receiver has gone"),
            Error::EndOfStream => f.write_str("end of stream: every sender has gone"),
            Error::SenderDied => f.write_str("a sender died without closing: the stream may be incomplete"),
            Error::ReceiverDied => f.write_str("every receiver has gone (one died without closing)"),
            Error::NoListener { address, reason } => write!(f, "{address}: {reason} (nothing listens there)"),
            Error::Busy { role: "cleaner" } => f.write_str("another process is removing the object"),
            Error::Busy { role } => write!(f, "the channel already has its {role}"),
            Error::InUse {
                endpoints,
                initialising,
            } => {
                f.write_str("the object is in use")?;
                if *endpoints > 0 {
                    let s = if *endpoints == 1 { "" } else { "s" };
                    write!(f, ": {endpoints} live endpoint{s}")?;
                }
                if *initialising {
                    f.write_str(if *endpoints > 0 { " and" } else { ":" })?;
                    f.write_str(" its creator is still initialising it")?;
                }
                f.write_str(" (not removed; force removes it anyway)")
            }
            Error::TooManyEndpoints => f.write_str("the ring's endpoint table is full"),
            Error::KernelLimit { what, value, limit, hint } => {
                write!(f, "{what} {value} exceeds the kernel limit {limit} (raise it with: {hint})")
            }
            Error::Unsupported { what } => write!(f, "unsupported: {what}"),
            Error::FenceUnavailable { errno } => write!(
                f,
                "the ring uses asymmetric fences and this process cannot register for membarrier(2) \
                 MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED ({}): allow membarrier in the seccomp profile, or have the \
                 ring created with fence=full (IPCRING_FENCE=full)",
                io::Error::from_raw_os_error(*errno)
            ),
            Error::Io { op, source } => write!(f, "{op} failed: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
