//! `unix:///path`: UNIX `SOCK_SEQPACKET` sockets, one packet per message.
//!
//! The roles, the hello, the lazy connect, end of stream and `Disconnected` are those of
//! [`super::sock`] (read its docs first). What is particular to this transport:
//!
//! - `SOCK_SEQPACKET` keeps message boundaries, and a message is one packet `[tag][payload]`
//!   (the tag byte tells a hello from data, and keeps a 0-byte message from reading as EOF).
//!   The receiver learns a packet's length with `recv(MSG_PEEK | MSG_TRUNC)` when the
//!   caller's buffer might be too short, so a `BufferTooSmall` packet stays queued.
//! - A packet must fit in the sender's socket send buffer (the kernel refuses longer ones
//!   with `EMSGSIZE`). Each sender socket raises `SO_SNDBUF` as needed for `msg_size + 1`
//!   bytes; if `net.core.wmem_max` does not allow it, both opens fail at once with
//!   [`Error::KernelLimit`] `{ what: "msg_size" }`, naming the largest `msg_size` that fits.
//! - A packet is also one kernel socket buffer, whose linear part is one allocation: Linux
//!   refuses packets above about 4 MiB + 64 KiB (`ENOBUFS`) whatever `wmem_max` says. For a
//!   `msg_size` of 64 KiB or more, both opens send one trial packet of `msg_size + 1` bytes
//!   over a socket pair and fail with [`Error::KernelLimit`] (naming the largest size that
//!   worked) if the kernel refuses it. Packets that large need high-order allocations: under
//!   memory fragmentation a send can still fail with [`Error::Io`] (`ENOBUFS`), nothing
//!   sent; use `tcp://` or `shm://` for messages of megabytes.
//! - A send either queues the whole packet or nothing: a timeout leaves nothing written, and
//!   packets of several senders never interleave.
//!
//! # The socket file
//!
//! The receiver creates it: `bind`, then `chmod` to `perm` (0600 unless the address says
//! otherwise) exactly, whatever the umask, through an `O_PATH | O_NOFOLLOW` descriptor of
//! the file it checked is a socket, and only then `listen`: a connect before `listen` is
//! refused, so nobody gets in through a looser mode in between. What may already be at the
//! path:
//!
//! - nothing: bound;
//! - a symbolic link, or anything that is not a socket: [`Error::NotARing`], and the file
//!   is left alone (never unlink someone else's file);
//! - a socket with a live listener (a probe connect succeeds): [`Error::Busy`]
//!   `{ role: "receiver" }` (one receiver per address);
//! - a stale socket (the probe is refused: its receiver died without removing it): removed
//!   and replaced, unless `excl` asks for a fresh path ([`Error::AlreadyExists`]).
//!
//! `create` does not matter: a listener always creates its socket file. On drop the receiver
//! removes the path, but only if it is still the socket it bound (same device and inode), so
//! a successor's socket is never removed. Senders refuse symbolic links and non-sockets at
//! the path too ([`Error::NotARing`]), at open and at each connect.

use super::sock::{self, Attempt, Connector, Framing, SockReceiver, SockSender};
use super::{MsgReceiver, MsgSender, OpenSpec, Ops};
use crate::error::{Error, Result};
use crate::timeout::Timeout;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The mode of a receiver's socket file unless the `perm` option says otherwise.
#[cfg(ipcring_test)] // used by the tests that drive this transport directly
pub const DEFAULT_PERM: u32 = 0o600;

/// Bytes of a packet the kernel charges against the send buffer besides its own (a packet
/// longer than `SO_SNDBUF - 32` is `EMSGSIZE`).
const SNDBUF_SLACK: usize = 32;

const SYMLINK: Error = Error::NotARing {
    reason: "the path is a symbolic link (refused)",
};
const NOT_A_SOCKET: Error = Error::NotARing {
    reason: "the path exists and is not a socket",
};
const OTHER_SOCKET: Error = Error::NotARing {
    reason: "the socket at the path is not SOCK_SEQPACKET (not an ipcring unix:// receiver)",
};

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::InvalidAddress {
        address: format!("unix://{}", path.display()),
        part: path.display().to_string(),
        reason: "contains a NUL byte",
    })
}

/// The socket address of `path`.
fn sockaddr(path: &Path) -> Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain data; all zero is a valid (empty) value.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= sa.sun_path.len() {
        return Err(Error::InvalidAddress {
            address: format!("unix://{}", path.display()),
            part: path.display().to_string(),
            reason: "path too long for a UNIX socket address (at most 107 bytes)",
        });
    }
    for (d, &s) in sa.sun_path.iter_mut().zip(bytes) {
        *d = s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((sa, len as libc::socklen_t))
}

fn lstat(path: &CStr) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data, filled by lstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is a valid C string; st a valid out-pointer.
    if unsafe { libc::lstat(path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// What is at `path`, for a sender: `Ok(true)` a socket, `Ok(false)` nothing; a symlink or
/// another kind of file is [`Error::NotARing`].
fn sender_path_ok(path: &CStr) -> Result<bool> {
    match lstat(path) {
        Ok(st) => match st.st_mode & libc::S_IFMT {
            libc::S_IFSOCK => Ok(true),
            libc::S_IFLNK => Err(SYMLINK),
            _ => Err(NOT_A_SOCKET),
        },
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(Error::from_io("lstat", e)),
    }
}

fn connect(fd: RawFd, sa: &libc::sockaddr_un, len: libc::socklen_t) -> io::Result<()> {
    crate::sys::count::one();
    // SAFETY: sa is a valid sockaddr_un of at least len bytes; fd is our socket.
    let rc = unsafe { libc::connect(fd, (sa as *const libc::sockaddr_un).cast(), len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises `fd`'s send buffer to hold a packet of `msg_size + 1` bytes.
///
/// # Errors
///
/// [`Error::KernelLimit`] if `net.core.wmem_max` keeps the buffer smaller; [`Error::Io`].
fn fit_sndbuf(fd: RawFd, msg_size: usize) -> Result<()> {
    let need = msg_size.saturating_add(1 + SNDBUF_SLACK);
    let io_err = |op| move |e| Error::Io { op, source: e };
    let cur = sock::get_int_opt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF).map_err(io_err("getsockopt"))? as usize;
    if cur < need.saturating_mul(2) {
        // The kernel doubles the value asked for (bookkeeping) and caps it at 2 * wmem_max:
        // this asks for room for two packets of msg_size.
        let ask = need.min(i32::MAX as usize) as libc::c_int;
        sock::set_int_opt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, ask).map_err(io_err("setsockopt"))?;
    }
    let got = sock::get_int_opt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF).map_err(io_err("getsockopt"))? as usize;
    if got < need {
        return Err(Error::KernelLimit {
            what: "msg_size",
            value: msg_size as u64,
            limit: got.saturating_sub(1 + SNDBUF_SLACK) as u64,
            hint: "sysctl net.core.wmem_max=N with N >= (msg_size + 33) / 2: a unix:// message is one packet",
        });
    }
    Ok(())
}

/// A non-blocking `SOCK_SEQPACKET` socket whose send buffer holds a packet of `msg_size + 1`
/// bytes.
///
/// # Errors
///
/// As [`fit_sndbuf`].
fn packet_socket(msg_size: usize) -> Result<OwnedFd> {
    let fd = sock::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET)?;
    fit_sndbuf(fd.as_raw_fd(), msg_size)?;
    Ok(fd)
}

/// Packets longer than this are tried once at open ([`probe_packet`]).
const PROBE_ABOVE: usize = 64 * 1024;

/// Checks that the kernel takes a packet of `msg_size + 1` bytes, by sending one over a
/// socket pair. Besides the send buffer, a packet is one socket buffer whose linear part
/// must come from one kernel allocation: on Linux, packets above about 4 MiB + 64 KiB are
/// refused with `ENOBUFS` whatever `wmem_max` says.
///
/// # Errors
///
/// [`Error::KernelLimit`] naming the largest `msg_size` found to work (to 4 KiB);
/// [`Error::Io`].
fn probe_packet(msg_size: usize) -> Result<()> {
    if msg_size < PROBE_ABOVE {
        return Ok(());
    }
    let mut fds = [0 as RawFd; 2];
    let kind = libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) } != 0 {
        return Err(Error::last_os("socketpair"));
    }
    // SAFETY: socketpair just returned these two descriptors; nothing else owns them.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    fit_sndbuf(a.as_raw_fd(), msg_size)?;
    let buf = vec![0u8; msg_size + 1];
    let fits = |len: usize| -> Result<bool> {
        match sock::send_nosignal(a.as_raw_fd(), &buf[..len]) {
            Ok(_) => {
                // Take it out again (MSG_TRUNC: discard the whole packet).
                let _ = sock::recv_flags(b.as_raw_fd(), &mut [0u8; 1], libc::MSG_TRUNC);
                Ok(true)
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOBUFS | libc::ENOMEM | libc::EMSGSIZE)) => Ok(false),
            Err(e) => Err(Error::Io { op: "send", source: e }),
        }
    };
    if fits(msg_size + 1)? {
        return Ok(());
    }
    let (mut lo, mut hi) = (PROBE_ABOVE, msg_size + 1);
    while hi - lo > 4096 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Err(Error::KernelLimit {
        what: "msg_size",
        value: msg_size as u64,
        limit: (lo - 1) as u64,
        hint: "none: the kernel's largest unix:// packet (one allocation, about 4 MiB); use tcp:// or shm://",
    })
}

fn check_spec(spec: &OpenSpec) -> Result<(usize, PathBuf, CString)> {
    spec.refuse_ring_options(false)?;
    let msg_size = spec.msg_size();
    sock::check_msg_size(msg_size)?;
    let path = PathBuf::from(spec.target);
    let c = c_path(&path)?;
    sockaddr(&path)?;
    // Fails now, not at the first send, if a message cannot be one packet.
    match packet_socket(msg_size) {
        Ok(fd) => drop(fd),
        Err(Error::KernelLimit { limit, hint, .. }) if limit as usize >= PROBE_ABOVE => {
            // Name the lower of the two limits: a larger wmem_max may not be enough.
            return Err(match probe_packet(limit as usize) {
                Err(Error::KernelLimit { limit: lower, hint, .. }) => Error::KernelLimit {
                    what: "msg_size",
                    value: msg_size as u64,
                    limit: lower,
                    hint,
                },
                Err(e) => e,
                Ok(()) => Error::KernelLimit {
                    what: "msg_size",
                    value: msg_size as u64,
                    limit,
                    hint,
                },
            });
        }
        Err(e) => return Err(e),
    }
    probe_packet(msg_size)?;
    Ok((msg_size, path, c))
}

// ---------------------------------------------------------------------------------------
// Sender
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(crate) struct UnixConnector {
    path: PathBuf,
    c: CString,
    msg_size: usize,
}

impl Connector for UnixConnector {
    fn start(&mut self) -> Result<Attempt> {
        if !sender_path_ok(&self.c)? {
            return Ok(Attempt::Refused);
        }
        let (sa, len) = sockaddr(&self.path)?;
        let fd = packet_socket(self.msg_size)?;
        match connect(fd.as_raw_fd(), &sa, len) {
            Ok(()) => Ok(Attempt::Connected(fd)),
            Err(e) => match e.raw_os_error().unwrap_or(0) {
                libc::EAGAIN | libc::EINTR => Ok(Attempt::Again),
                libc::EPROTOTYPE => Err(OTHER_SOCKET),
                e2 if sock::is_refusal(e2) => Ok(Attempt::Refused),
                _ => Err(Error::from_io("connect", e)),
            },
        }
    }

    fn no_listener(&self) -> Error {
        Error::NoListener {
            address: format!("unix://{}", self.path.display()),
            reason: "no listener",
        }
    }
}

/// The sending end of `unix:///path` (see the module docs). It connects at its first send.
#[derive(Debug)]
pub struct UnixSender(SockSender<UnixConnector>);

impl UnixSender {
    /// Prepares a sender to the receiver at `spec`'s path. Nothing is connected yet.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] (a ring-only option, a path too long for a socket address),
    /// [`Error::InvalidOption`] (`msg_size` above `u32::MAX`), [`Error::KernelLimit`]
    /// (`msg_size` does not fit one packet), [`Error::NotARing`] (the path is a symbolic link
    /// or exists and is not a socket), [`Error::Io`].
    pub fn open(spec: &OpenSpec) -> Result<UnixSender> {
        let (msg_size, path, c) = check_spec(spec)?;
        sender_path_ok(&c)?;
        let connector = UnixConnector { path, c, msg_size };
        Ok(UnixSender(SockSender::new(connector, Framing::Packet, msg_size)?))
    }

}

impl sock::SockSend for UnixSender {
    type Conn = UnixConnector;
    fn sock(&self) -> &SockSender<UnixConnector> {
        &self.0
    }
    fn sock_mut(&mut self) -> &mut SockSender<UnixConnector> {
        &mut self.0
    }
    fn from_sock(s: SockSender<UnixConnector>) -> Self {
        UnixSender(s)
    }
}

/// Opens the sending end of a `unix:///path` address (see [`UnixSender::open`]).
///
/// # Errors
///
/// As [`UnixSender::open`].
pub fn open_sender(spec: &OpenSpec) -> Result<Box<dyn MsgSender>> {
    Ok(Box::new(UnixSender::open(spec)?))
}

// ---------------------------------------------------------------------------------------
// Receiver
// ---------------------------------------------------------------------------------------

/// Makes `path` free for our bind: nothing there, or a stale socket removed.
fn clear_path(c: &CStr, sa: &libc::sockaddr_un, len: libc::socklen_t, excl: bool) -> Result<()> {
    let st = match lstat(c) {
        Ok(st) => st,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::from_io("lstat", e)),
    };
    match st.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => {}
        libc::S_IFLNK => return Err(SYMLINK),
        _ => return Err(NOT_A_SOCKET),
    }
    let probe = sock::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET)?;
    match connect(probe.as_raw_fd(), sa, len) {
        Ok(()) => return Err(Error::Busy { role: "receiver" }),
        Err(e) => match e.raw_os_error().unwrap_or(0) {
            libc::EAGAIN => return Err(Error::Busy { role: "receiver" }),
            libc::ECONNREFUSED => {}
            libc::ENOENT => return Ok(()), // removed meanwhile
            libc::EPROTOTYPE => return Err(OTHER_SOCKET),
            _ => return Err(Error::from_io("connect", e)),
        },
    }
    // Stale: its listener is gone.
    if excl {
        return Err(Error::AlreadyExists { object: String::new() });
    }
    // Remove it only if it is still the socket we looked at.
    match lstat(c) {
        Ok(now) if now.st_dev == st.st_dev && now.st_ino == st.st_ino => {}
        Ok(_) => return Ok(()), // replaced meanwhile: the bind decides
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::from_io("lstat", e)),
    }
    // SAFETY: c is a valid C string.
    if unsafe { libc::unlink(c.as_ptr()) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOENT) {
            return Err(Error::from_io("unlink", e));
        }
    }
    Ok(())
}

/// Sets the mode of the socket file we just bound, without following a symlink, and returns
/// its `(st_dev, st_ino)`.
fn set_mode(c: &CStr, perm: u32) -> Result<(u64, u64)> {
    // SAFETY: c is a valid C string; O_PATH needs no mode argument.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last_os("open(O_PATH)"));
    }
    // SAFETY: open just returned fd; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // fstat works on an O_PATH descriptor.
    let st = crate::sys::fd::fstat(fd.as_raw_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(NOT_A_SOCKET);
    }
    // fchmod does not work on an O_PATH descriptor; its /proc link names the very inode.
    let proc = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL");
    let mode = (perm & 0o777) as libc::mode_t;
    // SAFETY: proc is a valid C string.
    if unsafe { libc::chmod(proc.as_ptr(), mode) } != 0 {
        return Err(Error::last_os("chmod"));
    }
    Ok((st.st_dev, st.st_ino))
}

/// Removes `c` if it is still the socket `(dev, ino)`.
fn unlink_if_ours(c: &CStr, dev: u64, ino: u64) {
    if let Ok(st) = lstat(c) {
        if st.st_mode & libc::S_IFMT == libc::S_IFSOCK && st.st_dev == dev && st.st_ino == ino {
            // SAFETY: c is a valid C string. Failure leaves a stale socket, which the next
            // receiver replaces.
            unsafe { libc::unlink(c.as_ptr()) };
        }
    }
}

/// The receiving end of `unix:///path`: the listening socket (see the module docs).
#[derive(Debug)]
pub struct UnixReceiver {
    inner: SockReceiver,
    #[cfg_attr(not(ipcring_test), allow(dead_code))] // read by path (tests)
    path: PathBuf,
    c: CString,
    dev: u64,
    ino: u64,
    /// The process that bound the path: a copy inherited across `fork` closes its
    /// descriptor on drop but leaves the path to the process that made it.
    owner: u32,
}

impl UnixReceiver {
    /// Creates the socket file at `spec`'s path with mode `perm` and listens on it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`], [`Error::InvalidOption`], [`Error::KernelLimit`] as for
    /// [`UnixSender::open`]; [`Error::NotARing`] (a symlink, a non-socket, or a socket of
    /// another type at the path: left alone); [`Error::Busy`] `{ role: "receiver" }` (a live
    /// listener is there); [`Error::AlreadyExists`] (`excl` and a stale socket is there);
    /// [`Error::NotFound`] / [`Error::PermissionDenied`] from the directory; [`Error::Io`].
    pub fn bind(spec: &OpenSpec) -> Result<UnixReceiver> {
        let (msg_size, path, c) = check_spec(spec)?;
        let (sa, len) = sockaddr(&path)?;
        let fd = sock::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET)?;
        let mut tries = 0;
        loop {
            clear_path(&c, &sa, len, spec.excl)?;
            // SAFETY: sa is a valid sockaddr_un of len bytes; fd is our socket.
            if unsafe { libc::bind(fd.as_raw_fd(), (&sa as *const libc::sockaddr_un).cast(), len) } == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            tries += 1;
            match e.raw_os_error() {
                // Another receiver bound it between our check and our bind: look again.
                Some(libc::EADDRINUSE) if tries < 3 => {}
                Some(libc::EADDRINUSE) => return Err(Error::Busy { role: "receiver" }),
                _ => return Err(Error::from_io("bind", e)),
            }
        }
        // Nobody can connect before listen(2): no window with the umask's mode.
        let (dev, ino) = match set_mode(&c, spec.perm()) {
            Ok(id) => id,
            Err(e) => {
                // Ours if it is a socket: we just bound it. Best effort.
                if let Ok(st) = lstat(&c) {
                    unlink_if_ours(&c, st.st_dev, st.st_ino);
                }
                return Err(e);
            }
        };
        // SAFETY: fd is our bound socket.
        if unsafe { libc::listen(fd.as_raw_fd(), libc::SOMAXCONN) } != 0 {
            let e = Error::last_os("listen");
            unlink_if_ours(&c, dev, ino);
            return Err(e);
        }
        let inner = match SockReceiver::new(fd, Framing::Packet, msg_size) {
            Ok(inner) => inner,
            Err(e) => {
                unlink_if_ours(&c, dev, ino);
                return Err(e);
            }
        };
        Ok(UnixReceiver {
            inner,
            path,
            c,
            dev,
            ino,
            owner: std::process::id(),
        })
    }

    /// The socket path.
    #[cfg(ipcring_test)] // used by the tests that drive this transport directly
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for UnixReceiver {
    fn drop(&mut self) {
        if std::process::id() == self.owner {
            unlink_if_ours(&self.c, self.dev, self.ino);
        }
    }
}

impl MsgReceiver for UnixReceiver {
    /// Receives one whole message from any sender (round robin among them).
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] (the message stays), [`Error::WouldBlock`] /
    /// [`Error::TimedOut`], [`Error::EndOfStream`] (every sender has gone; a new one makes
    /// data flow again), [`Error::Io`] (`ppoll` or `accept4` failed, e.g. out of
    /// descriptors). A misbehaving peer is dropped, never an error here.
    fn recv(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        self.inner.recv(buf, timeout)
    }

    fn msg_size(&self) -> usize {
        self.inner.msg_size()
    }

    /// Always [`Error::Unsupported`]: one listener per address.
    fn try_clone(&self) -> Result<Box<dyn MsgReceiver>> {
        Err(Error::Unsupported {
            what: "a second receiver on a unix:// address (one listener per address)",
        })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd()
    }

    fn set_held(&self, held: bool) {
        self.inner.set_held(held);
    }
}

/// Opens the receiving end of a `unix:///path` address (see [`UnixReceiver::bind`]).
///
/// # Errors
///
/// As [`UnixReceiver::bind`].
pub fn open_receiver(spec: &OpenSpec) -> Result<Box<dyn MsgReceiver>> {
    Ok(Box::new(UnixReceiver::bind(spec)?))
}

/// `unix:///path` in the dispatch table.
pub(crate) const OPS: Ops = Ops {
    scheme: "unix",
    open_sender: Some(open_sender),
    open_receiver: Some(open_receiver),
    pair: None,
    unlink: Ok(unlink),
    remove: Ok(remove),
};

/// Removes the socket file at `path` (a receiver left behind by a process that died).
///
/// # Errors
///
/// [`Error::NotFound`] if nothing is there; [`Error::NotARing`] if it is a symbolic link or
/// not a socket (left alone); [`Error::PermissionDenied`]; [`Error::Io`].
pub fn unlink(path: &str) -> Result<()> {
    let path = Path::new(path);
    let c = c_path(path)?;
    if !sender_path_ok(&c)? {
        return Err(Error::NotFound { object: String::new() });
    }
    std::fs::remove_file(path).map_err(|e| Error::from_io("unlink", e))
}

/// The same as [`unlink`]: a socket path has no liveness check (`force` changes nothing).
///
/// # Errors
///
/// As [`unlink`].
pub fn remove(path: &str, _force: bool) -> Result<()> {
    unlink(path)
}
