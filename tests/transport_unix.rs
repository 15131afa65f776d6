//! The `unix:///path` transport (`ipcring::transport::unix`) over real `SOCK_SEQPACKET`
//! sockets: sizes, too-small buffers, timeouts, both start orders, several senders, senders
//! killed with SIGKILL, receivers that go away (never SIGPIPE) and come back, peers that are
//! not ipcring senders or do not agree on `msg_size`, and the socket file's safety (mode,
//! stale and live sockets, symlinks and other files, removal on drop).
//!
//! The tests after the UNIX-only ones are shared with `transport_tcp.rs` (`tests/common/sock_suite.rs`), over the
//! adapter (`Site`). `IPCRING_SOCK_MESSAGES` (default 100,000) sets the size of the main
//! cross-process run.

// It drives the library's building blocks (or its failpoints) directly: only in the test build.
#![cfg(ipcring_test)]

mod common;
#[path = "common/sock_suite.rs"]
mod sock_suite;

use common::*;
use ipcring::address::Address;
use ipcring::transport::{unix, MsgReceiver, MsgSender, OpenSpec};
use ipcring::{Error, Timeout};
use sock_suite::{Adapter, RawClient};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

// ---------------------------------------------------------------------------------------
// The adapter: where a channel lives, and its two ends
// ---------------------------------------------------------------------------------------

/// A channel's address: a unique socket path under the temporary directory (removed on
/// drop if a test left it behind).
struct Site {
    tmp: TempPath,
}

impl Adapter for Site {
    type Raw = Raw;

    fn open_tx(address: &str) -> Box<dyn MsgSender> {
        open_tx(address)
    }

    fn open_sender(spec: &OpenSpec) -> ipcring::Result<Box<dyn MsgSender>> {
        unix::open_sender(spec)
    }

    fn open_receiver(spec: &OpenSpec) -> ipcring::Result<Box<dyn MsgReceiver>> {
        unix::open_receiver(spec)
    }

    fn new(tag: &str) -> Site {
        Site {
            tmp: TempPath::new(tag),
        }
    }

    /// A site where nobody listens yet.
    fn unused(tag: &str) -> Site {
        Site::new(tag)
    }

    fn address(&self, msg_size: usize) -> String {
        format!("unix://{}?msg_size={msg_size}", self.tmp.as_str())
    }

    fn rx(&mut self, msg_size: usize) -> Box<dyn MsgReceiver> {
        Box::new(
            self.try_rx(msg_size)
                .unwrap_or_else(|e| panic!("bind {}: {e}", self.address(msg_size))),
        )
    }

    fn tx(&self, msg_size: usize) -> Box<dyn MsgSender> {
        open_tx(&self.address(msg_size))
    }

    /// A raw SOCK_SEQPACKET client of the listener, for protocol-breaking peers.
    fn raw_client(&self) -> Raw {
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0);
        // SAFETY: socket just returned fd.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let (sa, len) = sockaddr(self.path());
        // SAFETY: sa is a valid sockaddr_un of len bytes.
        let rc = unsafe { libc::connect(fd.as_raw_fd(), (&sa as *const libc::sockaddr_un).cast(), len) };
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        Raw(fd)
    }
}

impl Site {
    fn try_rx(&mut self, msg_size: usize) -> ipcring::Result<unix::UnixReceiver> {
        let a = Address::parse(&self.address(msg_size)).unwrap();
        unix::UnixReceiver::bind(&spec(&a))
    }
    fn path(&self) -> &Path {
        self.tmp.path()
    }
}

fn sockaddr(path: &Path) -> (libc::sockaddr_un, libc::socklen_t) {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: plain data; zero is valid.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let b = path.as_os_str().as_bytes();
    for (d, &s) in sa.sun_path.iter_mut().zip(b) {
        *d = s as libc::c_char;
    }
    (sa, (2 + b.len() + 1) as libc::socklen_t)
}

struct Raw(OwnedFd);

impl RawClient for Raw {
    /// Sends `bytes` as one packet.
    fn write(&mut self, bytes: &[u8]) {
        // SAFETY: bytes is valid; fd is our connected socket.
        let n = unsafe {
            libc::send(
                self.0.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        assert_eq!(n, bytes.len() as isize, "send: {}", std::io::Error::last_os_error());
    }
    /// Sends `h` as a hello packet (with the hello tag).
    fn write_hello(&mut self, h: &[u8]) {
        let mut p = vec![b'H'];
        p.extend_from_slice(h);
        self.write(&p);
    }
    /// Reads packets until EOF (bounded): what the receiver wrote.
    fn read_to_eof(&mut self) -> Vec<u8> {
        let start = Instant::now();
        let mut v = Vec::new();
        loop {
            assert!(start.elapsed() < HANG_BOUND, "no EOF");
            let mut pfd = libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 100) };
            let mut b = [0u8; 64];
            // SAFETY: b is valid; fd is our socket.
            let n = unsafe { libc::recv(self.0.as_raw_fd(), b.as_mut_ptr().cast(), b.len(), libc::MSG_DONTWAIT) };
            match n {
                0 => return v,
                n if n > 0 => v.extend_from_slice(&b[..n as usize]),
                _ => {}
            }
        }
    }
}

fn spec(a: &Address) -> OpenSpec<'_> {
    a.open_spec(true, false)
}

fn open_tx(address: &str) -> Box<dyn MsgSender> {
    let a = Address::parse(address).unwrap();
    unix::open_sender(&spec(&a)).unwrap_or_else(|e| panic!("open sender {address}: {e}"))
}

// ---------------------------------------------------------------------------------------
// UNIX only: the socket file
// ---------------------------------------------------------------------------------------

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn is_socket(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

#[test]
fn socket_mode_is_perm_whatever_the_umask() {
    let _g = serial();
    for umask in [0o000, 0o077, 0o022] {
        for perm in [None, Some(0o640), Some(0o666)] {
            let site = Site::new("mode");
            let mut address = site.address(64);
            if let Some(p) = perm {
                address.push_str(&format!("&perm={p:04o}"));
            }
            let a = Address::parse(&address).unwrap();
            // SAFETY: umask is process-wide; the tests of this binary run one at a time.
            let old = unsafe { libc::umask(umask) };
            let r = unix::open_receiver(&spec(&a));
            // SAFETY: as above, restoring.
            unsafe { libc::umask(old) };
            let rx = r.unwrap();
            let want = perm.unwrap_or(unix::DEFAULT_PERM);
            assert_eq!(mode_of(site.path()), want, "umask {umask:03o} perm {perm:?}");
            drop(rx);
            assert!(!site.path().exists(), "the receiver's drop removes its socket");
        }
    }
}

/// A socket whose receiver died (std's listener leaves its file behind).
fn make_stale(p: &Path) {
    drop(std::os::unix::net::UnixListener::bind(p).unwrap());
    assert!(is_socket(p));
}

#[test]
fn stale_socket_is_replaced_unless_excl() {
    let _g = serial();
    let mut site = Site::new("stale");
    make_stale(site.path());
    let a = Address::parse(&site.address(64)).unwrap();
    let excl = a.open_spec(true, true);
    let err = unix::open_receiver(&excl).map(|_| ()).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert!(is_socket(site.path()), "left alone");
    let mut rx = site.rx(64);
    let mut tx = site.tx(64);
    tx.send(b"through the new one", Timeout::after(HANG_BOUND)).unwrap();
    let mut buf = [0u8; 64];
    let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&buf[..n], b"through the new one");
    // unlink() removes a stale socket and says NotFound when nothing is there.
    drop(tx);
    drop(rx);
    make_stale(site.path());
    unix::unlink(site.path().to_str().unwrap()).unwrap();
    assert!(!site.path().exists());
    assert!(matches!(
        unix::unlink(site.path().to_str().unwrap()),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn live_socket_is_busy() {
    let _g = serial();
    let mut site = Site::new("live");
    let mut rx = site.rx(64);
    let err = site.try_rx(64).unwrap_err();
    assert!(matches!(err, Error::Busy { role: "receiver" }), "{err}");
    // The first receiver is unharmed (the probe connection is not a sender).
    let mut tx = site.tx(64);
    tx.send(b"still here", Timeout::after(HANG_BOUND)).unwrap();
    let mut buf = [0u8; 64];
    let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&buf[..n], b"still here");
    drop(tx);
    assert!(matches!(
        rx.recv(&mut buf, Timeout::after(HANG_BOUND)),
        Err(Error::EndOfStream)
    ));
    drop(rx);
    // A live listener of another type (SOCK_STREAM) is someone else's: refused, left alone.
    let other = std::os::unix::net::UnixListener::bind(site.path()).unwrap();
    let err = site.try_rx(64).unwrap_err();
    assert!(matches!(err, Error::NotARing { .. }), "{err}");
    let mut tx = site.tx(64);
    let err = tx.send(b"x", Timeout::after(HANG_BOUND)).unwrap_err();
    assert!(matches!(err, Error::NotARing { .. }), "{err}");
    assert!(is_socket(site.path()));
    drop(other);
}

#[test]
fn file_or_symlink_at_the_path_is_refused_and_left_alone() {
    let _g = serial();
    let mut site = Site::new("file");
    std::fs::write(site.path(), b"not a socket").unwrap();
    let a = Address::parse(&site.address(64)).unwrap();
    for err in [
        site.try_rx(64).map(|_| ()).unwrap_err(),
        unix::open_sender(&spec(&a)).map(|_| ()).unwrap_err(),
        unix::unlink(site.path().to_str().unwrap()).unwrap_err(),
    ] {
        assert!(
            matches!(err, Error::NotARing { reason } if reason.contains("not a socket")),
            "{err}"
        );
    }
    assert_eq!(std::fs::read(site.path()).unwrap(), b"not a socket", "file untouched");

    // A symlink, to a stale socket and to a live receiver alike.
    let target = Site::new("target");
    make_stale(target.path());
    let mut link = Site::new("link");
    std::os::unix::fs::symlink(target.path(), link.path()).unwrap();
    let la = Address::parse(&link.address(64)).unwrap();
    let check = |err: Error| {
        assert!(
            matches!(err, Error::NotARing { reason } if reason.contains("symbolic link")),
            "{err}"
        )
    };
    check(link.try_rx(64).map(|_| ()).unwrap_err());
    check(unix::open_sender(&spec(&la)).map(|_| ()).unwrap_err());
    check(unix::unlink(link.path().to_str().unwrap()).unwrap_err());
    assert!(is_socket(target.path()), "the link's target untouched");
    assert!(std::fs::symlink_metadata(link.path()).unwrap().file_type().is_symlink());
    // A sender opened before the path became a symlink refuses it at connect time.
    let mut target = target;
    std::fs::remove_file(target.path()).unwrap();
    let _rx = target.rx(64);
    std::fs::remove_file(link.path()).unwrap();
    let mut tx = link.tx(64);
    std::os::unix::fs::symlink(target.path(), link.path()).unwrap();
    check(tx.send(b"x", Timeout::after(HANG_BOUND)).unwrap_err());
    std::fs::remove_file(link.path()).unwrap();
}

/// The receiver's drop removes its own socket only: a successor's at the same path stays.
#[test]
fn drop_removes_only_its_own_socket() {
    let _g = serial();
    let mut site = Site::new("own");
    let rx1 = site.rx(64);
    let moved = TempPath::new("moved");
    std::fs::rename(site.path(), moved.path()).unwrap();
    let mut rx2 = site.rx(64);
    drop(rx1);
    assert!(is_socket(site.path()), "the successor's socket was removed");
    assert!(
        is_socket(moved.path()),
        "the moved socket is not at the bound path any more"
    );
    let mut tx = site.tx(64);
    tx.send(b"to the successor", Timeout::after(HANG_BOUND)).unwrap();
    let mut buf = [0u8; 64];
    let n = rx2.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&buf[..n], b"to the successor");
    drop(rx2);
    assert!(!site.path().exists());
}

fn wmem_max() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/net/core/wmem_max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Large messages are one packet each: they work up to what the kernel allows, and beyond
/// it both opens say so at once, naming a limit that does work.
#[test]
fn large_messages_and_the_kernel_limit() {
    let _g = serial();
    let wmem = wmem_max().unwrap_or(0);
    let send_one = |msg_size: usize| {
        let mut site = Site::new("big");
        let mut rx = site.rx(msg_size);
        let mut tx = site.tx(msg_size);
        let mut buf = vec![0u8; msg_size];
        for seq in [1, 9, 3] {
            // seq % 8 == 1: exactly msg_size bytes.
            let m = sized_msg(seq, msg_size);
            tx.send(&m, Timeout::after(HANG_BOUND)).unwrap();
            let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
            check_msg(seq, &buf[..n], msg_size);
        }
    };
    send_one(65_536);
    if wmem >= (1 << 20) {
        send_one(1 << 20);
    }
    // Above what the kernel takes (the send buffer, 2 * wmem_max, or one allocation of
    // about 4 MiB): refused at open, with a limit that works.
    for asked in [6 << 20, (wmem as usize * 4).clamp(16 << 20, 1 << 28)] {
        let site = Site::new("huge");
        let a = Address::parse(&site.address(asked)).unwrap();
        let mut limits = Vec::new();
        for err in [
            unix::open_sender(&spec(&a)).map(|_| ()).unwrap_err(),
            unix::open_receiver(&spec(&a)).map(|_| ()).unwrap_err(),
        ] {
            match err {
                Error::KernelLimit {
                    what: "msg_size",
                    value,
                    limit,
                    ..
                } => {
                    assert_eq!(value, asked as u64);
                    assert!(limit < value, "limit {limit}");
                    limits.push(limit);
                }
                other => panic!("msg_size {asked}: expected KernelLimit, got {other}"),
            }
        }
        assert!(!site.path().exists());
        send_one(limits[0] as usize);
    }
}

// ---------------------------------------------------------------------------------------
// The same tests as transport_tcp.rs
// ---------------------------------------------------------------------------------------

// The tests shared with the other socket transport (see tests/common/sock_suite.rs).
sock_suite::sock_suite!(Site);
