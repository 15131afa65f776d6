//! Status codes, their texts and the calling thread's last error.
//!
//! The codes have explicit numbers that are never renumbered or reused: a C
//! program compiled against an older header keeps its meaning. [`fail`] records the detailed
//! message in this thread's buffer, which `ipcring_last_error` hands out; [`err`] maps an
//! [`Error`] of the Rust crate to its code.

use ipcring::Error;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr};

// Status codes. Explicit numbers; never renumber or reuse one.

/// Success.
pub const IPCRING_OK: c_int = 0;
/// End of stream: every sender has closed (or died) and every message has been received.
pub const IPCRING_EOF: c_int = 1;
/// An argument is invalid: a NULL pointer where one is required, unknown flag bits, an
/// address that is not UTF-8, or a length that cannot be a buffer's.
pub const IPCRING_EINVAL: c_int = -1;
/// The address is malformed: unknown scheme or option, bad name, out-of-range option value.
pub const IPCRING_EADDRESS: c_int = -2;
/// The address's transport, or the operation, is not supported by this library or ring.
pub const IPCRING_EUNSUPPORTED: c_int = -3;
/// `IPCRING_CREATE | IPCRING_EXCL` found an object of that name already there.
pub const IPCRING_EEXIST: c_int = -4;
/// No object of that name exists.
pub const IPCRING_ENOENT: c_int = -5;
/// The operating system refused access (permissions, or a symlink where the object should be).
pub const IPCRING_EACCES: c_int = -6;
/// No room in the shared-memory filesystem for the ring (reserved at create, never a SIGBUS).
pub const IPCRING_ENOSPC: c_int = -7;
/// The object exists but its creator did not finish initialising it: it is still at it after
/// the open timeout, or it died while initialising it (known at once; `ipcring_last_error`
/// says which, and `ipcring_remove` clears such an object).
pub const IPCRING_ENOTREADY: c_int = -8;
/// The object is not an ipcring channel of the address's transport: not a ring (`shm://`),
/// not a FIFO or not a socket (or a symbolic link where one should be), or a TCP peer that is
/// not an ipcring receiver.
pub const IPCRING_ENOTRING: c_int = -9;
/// The ring was made by an incompatible version or build of the library (ABI or layout).
pub const IPCRING_EVERSION: c_int = -10;
/// The channel exists but differs from the options the address asked for (a ring's capacity,
/// msg_size, mode or wake backend; a queue's capacity or msg_size).
pub const IPCRING_EMISMATCH: c_int = -11;
/// The shared region holds values that make no sense (the ring is poisoned for this process),
/// or a stream transport delivered a truncated or malformed frame.
pub const IPCRING_ECORRUPT: c_int = -12;
/// The message is longer than the channel's msg_size; nothing was sent.
pub const IPCRING_ETOOLARGE: c_int = -13;
/// The buffer is too small for the next message; the message stays in the channel.
pub const IPCRING_ETOOSMALL: c_int = -14;
/// Non-blocking call (timeout 0): the channel is full (send) or empty (receive).
pub const IPCRING_EAGAIN: c_int = -15;
/// The channel stayed full or empty for the whole timeout.
pub const IPCRING_ETIMEDOUT: c_int = -16;
/// Every receiver has gone: nothing sent now would ever be read.
pub const IPCRING_EDISCONNECTED: c_int = -17;
/// The role is taken: an SPSC ring already has its sender (or receiver). Also: another
/// process is removing the channel (`ipcring_remove` waited for it; or a create found its new
/// object taken by a concurrent `ipcring_remove`: create again).
pub const IPCRING_EBUSY: c_int = -18;
/// The ring's endpoint table is full.
pub const IPCRING_ETOOMANY: c_int = -19;
/// The handle was already closed.
pub const IPCRING_ECLOSED: c_int = -20;
/// The pointer is not an ipcring handle. Detected only for pointers to readable memory that
/// ipcring never handed out; any other pointer is undefined behaviour, as for `free`.
pub const IPCRING_EBADHANDLE: c_int = -21;
/// The handle was not opened for this direction (send on a receive-only handle, or the reverse).
pub const IPCRING_EDIRECTION: c_int = -22;
/// The call is out of order: commit or cancel without a reservation, release without a
/// peek, or a send/receive while a reservation or peek is outstanding on the handle.
pub const IPCRING_ESTATE: c_int = -23;
/// A system call failed; `ipcring_last_error` names it and the OS error.
pub const IPCRING_EIO: c_int = -24;
/// A bug in ipcring was caught at the boundary (a Rust panic); the handle should be closed.
pub const IPCRING_EPANIC: c_int = -25;
/// A kernel limit is below what the address asks for (e.g. a POSIX queue's `msg_max`);
/// `ipcring_last_error` names the limit and how to raise it.
pub const IPCRING_ELIMIT: c_int = -26;
/// `ipcring_remove` without `IPCRING_REMOVE_FORCE` found the channel in use (a live endpoint,
/// or a creator still initialising the ring); nothing was removed.
pub const IPCRING_EINUSE: c_int = -27;
/// The blocked call was woken by `ipcring_interrupt` on its handle (or the handle had been
/// interrupted while no call waited, and this was the next call that had to wait): nothing
/// was sent or received. Retrying is safe.
pub const IPCRING_EINTR: c_int = -28;
/// End of stream after a crash: where the receive would have returned `IPCRING_EOF`, a sender
/// died without closing (killed, crashed, or exited without `ipcring_close`) since this
/// receiver attached, so what was received may be incomplete. Every message that sender
/// committed before it died has been received. Like `IPCRING_EOF` it stays until a sender
/// attaches again. (A sender whose receivers have all gone gets `IPCRING_EDISCONNECTED`
/// whether they closed or died; `ipcring_last_error` says "one died" when one did.)
pub const IPCRING_EDIED: c_int = -29;
/// A `tcp://` or `unix://` send waited for its receiver as long as its timeout allowed (not
/// at all with `IPCRING_NONBLOCK`) and the last connection attempt was refused: nothing
/// listens at the address (`ipcring_last_error` names it). Nothing was sent; a later send
/// tries again.
pub const IPCRING_ENOLISTENER: c_int = -30;

/// Room for this thread's last error message, NUL included. A fixed buffer rather than a
/// `CString`, so the pointer `ipcring_last_error` returns never dangles: a later failure
/// overwrites the text in place.
const LAST_ERROR_CAP: usize = 512;

thread_local! {
    static LAST_ERROR: RefCell<[u8; LAST_ERROR_CAP]> = const { RefCell::new([0; LAST_ERROR_CAP]) };
}

/// A failed call's status; the detailed message is already in `LAST_ERROR`.
pub(crate) type Status = c_int;

/// Records `msg` as this thread's last error and returns `code`.
pub(crate) fn fail(code: c_int, msg: &str) -> Status {
    let mut n = msg.len().min(LAST_ERROR_CAP - 1);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    LAST_ERROR.with(|l| {
        let mut buf = l.borrow_mut();
        for (dst, &b) in buf.iter_mut().zip(&msg.as_bytes()[..n]) {
            *dst = if b == 0 { b'?' } else { b };
        }
        buf[n] = 0;
    });
    code
}

/// The status code of the crate's error `e` (end of stream is `IPCRING_EOF`, not a failure).
pub(crate) fn code_of(e: &Error) -> c_int {
    use ipcring::ErrorKind as K;
    match e.kind() {
        K::InvalidName | K::InvalidAddress | K::InvalidOption => IPCRING_EADDRESS,
        K::AlreadyExists => IPCRING_EEXIST,
        K::NotFound => IPCRING_ENOENT,
        K::PermissionDenied => IPCRING_EACCES,
        K::NoSpace => IPCRING_ENOSPC,
        K::NotReady | K::CreatorDied => IPCRING_ENOTREADY,
        K::NotARing => IPCRING_ENOTRING,
        K::AbiMismatch | K::LayoutMismatch => IPCRING_EVERSION,
        K::Mismatch => IPCRING_EMISMATCH,
        K::SizeMismatch | K::Corrupted => IPCRING_ECORRUPT,
        K::TooLarge => IPCRING_ETOOLARGE,
        K::BufferTooSmall | K::MessageSize => IPCRING_ETOOSMALL,
        K::WouldBlock => IPCRING_EAGAIN,
        K::TimedOut => IPCRING_ETIMEDOUT,
        K::Interrupted => IPCRING_EINTR,
        K::Disconnected => IPCRING_EDISCONNECTED,
        K::EndOfStream => IPCRING_EOF,
        K::SenderDied => IPCRING_EDIED,
        K::NoListener => IPCRING_ENOLISTENER,
        K::Busy => IPCRING_EBUSY,
        K::InUse => IPCRING_EINUSE,
        K::TooManyEndpoints => IPCRING_ETOOMANY,
        K::Unsupported => IPCRING_EUNSUPPORTED,
        K::KernelLimit => IPCRING_ELIMIT,
        // Io, and kinds added to the crate after this library was written.
        _ => IPCRING_EIO,
    }
}

/// Records `e` as this thread's last error and returns its code. End of stream is not a
/// failure and leaves the last error alone.
pub(crate) fn err(e: Error) -> Status {
    match code_of(&e) {
        IPCRING_EOF => IPCRING_EOF,
        code => fail(code, &describe(&e)),
    }
}

/// `e`'s message for C callers: the crate's own, except where it says "ring" for an error
/// that every transport returns (a FIFO, queue or socket path can be missing too).
fn describe(e: &Error) -> String {
    match e {
        Error::AlreadyExists { .. } => "a channel of that name already exists".into(),
        Error::NotFound { .. } => "no channel of that name exists".into(),
        Error::NotReady => "the object's creator did not finish initialising it in time".into(),
        Error::CreatorDied => "the object's creator died while initialising it (it is not \
                               initialised and no creator holds its init lock; remove it with \
                               ipcring_remove and create it again)"
            .into(),
        Error::TooLarge { len, max } => format!("message of {len} bytes exceeds the channel's msg_size of {max}"),
        Error::NotARing { reason } => format!("not an ipcring channel: {reason}"),
        Error::Corrupted { what } => format!("channel corrupted: {what}"),
        e => e.to_string(),
    }
}

/// [`err`] for errors about a named object: the message names the address.
pub(crate) fn err_at(address: &str) -> impl Fn(Error) -> Status + '_ {
    move |e| match e {
        Error::AlreadyExists { .. }
        | Error::NotFound { .. }
        | Error::PermissionDenied { .. }
        | Error::NotReady
        | Error::CreatorDied
        | Error::NotARing { .. }
        | Error::InUse { .. }
        | Error::Busy { role: "cleaner" } => fail(code_of(&e), &format!("{address}: {}", describe(&e))),
        e => err(e),
    }
}

/// A static, NUL-terminated description of any status code (unknown codes included).
///
/// Thread safety: may be called from any thread at any time.
#[no_mangle]
pub extern "C" fn ipcring_strerror(status: c_int) -> *const c_char {
    let text: &'static CStr = match status {
        IPCRING_OK => c"success",
        IPCRING_EOF => c"end of stream: every sender has closed",
        IPCRING_EINVAL => c"invalid argument (NULL pointer, bad flags or non-UTF-8 string)",
        IPCRING_EADDRESS => c"malformed address or option",
        IPCRING_EUNSUPPORTED => c"transport or operation not supported",
        IPCRING_EEXIST => c"a channel of that name already exists",
        IPCRING_ENOENT => c"no channel of that name exists",
        IPCRING_EACCES => c"permission denied",
        IPCRING_ENOSPC => c"no space left in shared memory for the ring",
        IPCRING_ENOTREADY => c"the object's creator did not finish initialising it (still at it, or died)",
        IPCRING_ENOTRING => c"not an ipcring channel of that transport",
        IPCRING_EVERSION => c"ring made by an incompatible version of ipcring",
        IPCRING_EMISMATCH => c"the channel differs from the options asked for",
        IPCRING_ECORRUPT => c"channel corrupted (ring state or message framing)",
        IPCRING_ETOOLARGE => c"message larger than the channel's msg_size",
        IPCRING_ETOOSMALL => c"buffer too small for the message (it stays in the channel)",
        IPCRING_EAGAIN => c"operation would block",
        IPCRING_ETIMEDOUT => c"timed out",
        IPCRING_EDISCONNECTED => c"every receiver has gone",
        IPCRING_EBUSY => c"the channel already has its sender or receiver, or is being removed",
        IPCRING_ETOOMANY => c"the ring's endpoint table is full",
        IPCRING_ECLOSED => c"handle already closed",
        IPCRING_EBADHANDLE => c"not an ipcring handle",
        IPCRING_EDIRECTION => c"handle not opened for this direction",
        IPCRING_ESTATE => c"call out of order (reserve/commit or peek/release)",
        IPCRING_EIO => c"system call failed",
        IPCRING_EPANIC => c"internal error in ipcring",
        IPCRING_ELIMIT => c"a kernel limit is too low for this channel",
        IPCRING_EINUSE => c"the channel is in use (not removed)",
        IPCRING_EINTR => c"interrupted by ipcring_interrupt (nothing was sent or received)",
        IPCRING_ENOLISTENER => {
            c"nothing listens at the address (connection refused, or no listener on the socket path)"
        }
        IPCRING_EDIED => c"end of stream after a crash: a sender died without closing (the stream may be incomplete)",
        _ => c"unknown ipcring status code",
    };
    text.as_ptr()
}

/// The calling thread's message for its last failed call, naming the offending value (e.g.
/// `invalid address "shm://x?capacity=0": "capacity=0": must be at least 1`); "" if none
/// failed yet. The pointer stays valid for the thread's lifetime; the text is replaced by the
/// thread's next failure, so read it before calling ipcring again.
///
/// Thread safety: may be called from any thread; each thread has its own message.
#[no_mangle]
pub extern "C" fn ipcring_last_error() -> *const c_char {
    LAST_ERROR.with(|l| l.borrow().as_ptr() as *const c_char)
}
