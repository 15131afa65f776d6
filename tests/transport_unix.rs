//! The `unix:///path` transport (`ipcring::transport::unix`) over real `SOCK_SEQPACKET`
//! sockets: sizes, too-small buffers, timeouts, both start orders, several senders, senders
//! killed with SIGKILL, receivers that go away (never SIGPIPE) and come back, peers that are
//! not ipcring senders or do not agree on `msg_size`, and the socket file's safety (mode,
//! stale and live sockets, symlinks and other files, removal on drop).
//!
//! The tests after the UNIX-only ones are the same text as in `transport_tcp.rs`, over the
//! adapter (`Site`). `IPCRING_SOCK_MESSAGES` (default 100,000) sets the size of the main
//! cross-process run.

mod common;

use common::*;
use ipcring::address::Address;
use ipcring::transport::{unix, MsgReceiver, MsgSender, OpenSpec};
use ipcring::{Error, Timeout};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

const MSG_SIZE: usize = 1024;

// ---------------------------------------------------------------------------------------
// The adapter: where a channel lives, and its two ends
// ---------------------------------------------------------------------------------------

/// A channel's address: a unique socket path under the temporary directory (removed on
/// drop if a test left it behind).
struct Site {
    tmp: TempPath,
}

impl Site {
    fn new(tag: &str) -> Site {
        Site {
            tmp: TempPath::new(tag),
        }
    }

    /// A site where nobody listens yet.
    fn unused(tag: &str) -> Site {
        Site::new(tag)
    }

    fn path(&self) -> &Path {
        self.tmp.path()
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

    fn try_rx(&mut self, msg_size: usize) -> ipcring::Result<unix::UnixReceiver> {
        let a = Address::parse(&self.address(msg_size)).unwrap();
        unix::UnixReceiver::bind(&spec(&a))
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

impl Raw {
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
    OpenSpec {
        address: a,
        create: true,
        excl: false,
    }
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
    let excl = OpenSpec {
        address: &a,
        create: true,
        excl: true,
    };
    let err = unix::open_receiver(&excl).map(|_| ()).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists), "{err}");
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
    unix::unlink(site.path()).unwrap();
    assert!(!site.path().exists());
    assert!(matches!(unix::unlink(site.path()), Err(Error::NotFound)));
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
        unix::unlink(site.path()).unwrap_err(),
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
    check(unix::unlink(link.path()).unwrap_err());
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

#[test]
fn child_entry() {
    common::child_entry(|role| match role {
        "sender" => child_sender(),
        "sender_sigpipe" => child_sender_sigpipe(),
        other => panic!("unknown role {other:?}"),
    });
}

/// Message `seq` of the single-sender runs: a pseudo-random length in `0..=max`.
fn sized_msg(seq: u64, max: usize) -> Vec<u8> {
    let len = match seq % 8 {
        0 => 0,
        1 => max,
        2 => 1,
        _ => (mix(seq ^ 0x91e) % (max as u64 + 1)) as usize,
    };
    let mut v = vec![0u8; len];
    if len >= OVERHEAD {
        encode_with_payload_len(0, seq, len - OVERHEAD, &mut v);
    } else {
        fill_payload(7, seq, &mut v);
    }
    v
}

/// Checks that `got` is message `seq`: decoded (seq and checksum) when long enough, and
/// byte for byte what the seq implies.
fn check_msg(seq: u64, got: &[u8], max: usize) {
    let want = sized_msg(seq, max);
    if got.len() >= OVERHEAD {
        let (p, s) = decode(got, None).unwrap_or_else(|e| panic!("message #{seq}: {e}"));
        assert_eq!((p, s), (0, seq), "message #{seq}: wrong producer/seq");
    }
    assert!(
        got == want.as_slice(),
        "message #{seq}: {} bytes, expected {} (or bytes differ)",
        got.len(),
        want.len()
    );
}

/// Role `sender`: `COUNT` messages to `ADDR`; `PRODUCER` set: the `[producer][seq]` format,
/// otherwise `sized_msg`. `COUNT=0`: for ever (until killed).
fn child_sender() {
    let address = param("ADDR");
    let count = param_u64("COUNT");
    let producer = std::env::var("PRODUCER").ok().map(|p| p.parse::<u32>().unwrap());
    let mut tx = open_tx(&address);
    let max = tx.msg_size();
    let mut seq = 0u64;
    while count == 0 || seq < count {
        let m = match producer {
            Some(p) => encode_vec(p, seq, max - OVERHEAD),
            None => sized_msg(seq, max),
        };
        tx.send(&m, Timeout::after(HANG_BOUND))
            .unwrap_or_else(|e| panic!("send seq {seq}: {e}"));
        seq += 1;
    }
}

fn sigpipe_state() -> (bool, bool, libc::sighandler_t) {
    // SAFETY: plain-data sigsets and sigaction filled by the calls; querying only.
    unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        let mut pend: libc::sigset_t = std::mem::zeroed();
        let mut act: libc::sigaction = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
        libc::sigpending(&mut pend);
        libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut act);
        (
            libc::sigismember(&mask, libc::SIGPIPE) == 1,
            libc::sigismember(&pend, libc::SIGPIPE) == 1,
            act.sa_sigaction,
        )
    }
}

/// Role `sender_sigpipe`: with SIGPIPE at its default (which kills), sends until the
/// receiver goes away; expects `Disconnected` (twice) and the signal state unchanged.
fn child_sender_sigpipe() {
    // SAFETY: setting a disposition at the start of a single-threaded child role.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let before = sigpipe_state();
    assert_eq!(before, (false, false, libc::SIG_DFL));
    let mut tx = open_tx(&param("ADDR"));
    let max = tx.msg_size();
    let start = Instant::now();
    let mut seq = 0u64;
    loop {
        match tx.send(&sized_msg(seq, max), Timeout::after(HANG_BOUND)) {
            Ok(()) => seq += 1,
            Err(Error::Disconnected) => break,
            Err(e) => panic!("send seq {seq}: {e}"),
        }
        assert!(start.elapsed() < HANG_BOUND, "never disconnected");
        std::thread::sleep(Duration::from_micros(200));
    }
    // The receiver is gone for good: a connect is refused, and that is Disconnected too.
    for len in [0, 1, max] {
        let err = tx.send(&vec![3u8; len], Timeout::after(HANG_BOUND)).unwrap_err();
        assert!(matches!(err, Error::Disconnected), "{err}");
    }
    assert_eq!(sigpipe_state(), before, "signal state changed");
}

fn recv_checked_until_eos(rx: &mut dyn MsgReceiver, max: usize, expect: Option<u64>) -> u64 {
    let mut buf = vec![0u8; max];
    let mut seq = 0;
    loop {
        match rx.recv(&mut buf, Timeout::after(HANG_BOUND)) {
            Ok(n) => {
                check_msg(seq, &buf[..n], max);
                seq += 1;
            }
            Err(Error::EndOfStream) => break,
            Err(e) => panic!("recv after {seq} messages: {e}"),
        }
    }
    if let Some(n) = expect {
        assert_eq!(seq, n, "received {seq} of {n} messages");
    }
    seq
}

#[test]
fn size_limits_and_too_large() {
    let _g = serial();
    for msg_size in [MSG_SIZE, 65_536] {
        let mut site = Site::new("sizes");
        let mut rx = site.rx(msg_size);
        let mut tx = site.tx(msg_size);
        assert_eq!((tx.msg_size(), rx.msg_size()), (msg_size, msg_size));
        let mut buf = vec![0u8; msg_size];
        for len in [0, 1, msg_size, 0, 2] {
            let m: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            tx.send(&m, Timeout::after(HANG_BOUND)).unwrap();
            assert_eq!(rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap(), len);
            assert_eq!(&buf[..len], &m[..]);
        }
        let err = tx.send(&vec![9u8; msg_size + 1], Timeout::Forever).unwrap_err();
        assert!(
            matches!(err, Error::TooLarge { len, max } if len == msg_size + 1 && max == msg_size),
            "{err}"
        );
        // Nothing of it was sent: the next message received is the next one sent.
        assert!(matches!(rx.recv(&mut buf, Timeout::Never), Err(Error::WouldBlock)));
        tx.send(b"after", Timeout::after(HANG_BOUND)).unwrap();
        let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
        assert_eq!(&buf[..n], b"after");
    }
}

#[test]
fn buffer_too_small_keeps_the_message() {
    let _g = serial();
    let mut site = Site::new("small");
    let mut rx = site.rx(MSG_SIZE);
    let mut tx = site.tx(MSG_SIZE);
    tx.send(&[5u8; 100], Timeout::after(HANG_BOUND)).unwrap();
    tx.send(b"next", Timeout::after(HANG_BOUND)).unwrap();
    let mut small = [0u8; 10];
    // The first call may have to wait for the data to arrive.
    let err = rx.recv(&mut small, Timeout::after(HANG_BOUND)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BufferTooSmall {
                needed: 100,
                capacity: 10
            }
        ),
        "{err}"
    );
    let err = rx.recv(&mut small, Timeout::Never).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BufferTooSmall {
                needed: 100,
                capacity: 10
            }
        ),
        "{err}"
    );
    let mut empty = [0u8; 0];
    assert!(matches!(
        rx.recv(&mut empty, Timeout::Never),
        Err(Error::BufferTooSmall {
            needed: 100,
            capacity: 0
        })
    ));
    let mut big = [0u8; 100];
    assert_eq!(rx.recv(&mut big, Timeout::Never).unwrap(), 100);
    assert_eq!(big, [5u8; 100]);
    let n = rx.recv(&mut small, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&small[..n], b"next");
}

#[test]
fn receiver_first_waits_without_end_of_stream() {
    let _g = serial();
    let mut site = Site::new("rx-first");
    let mut rx = site.rx(MSG_SIZE);
    let mut buf = vec![0u8; MSG_SIZE];
    assert!(matches!(rx.recv(&mut buf, Timeout::Never), Err(Error::WouldBlock)));
    let start = Instant::now();
    let err = rx
        .recv(&mut buf, Timeout::after(Duration::from_millis(50)))
        .unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, Error::TimedOut), "{err}");
    assert!(took >= Duration::from_millis(50), "returned after {took:?}");
    assert!(took < Duration::from_secs(10), "returned after {took:?}");
    // A sender opened but not used yet is not connected: still waiting.
    let mut tx = site.tx(MSG_SIZE);
    assert!(matches!(
        rx.recv(&mut buf, Timeout::after(Duration::from_millis(20))),
        Err(Error::TimedOut)
    ));
    tx.send(b"one", Timeout::after(HANG_BOUND)).unwrap();
    let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&buf[..n], b"one");
    assert!(matches!(rx.recv(&mut buf, Timeout::Never), Err(Error::WouldBlock)));
    drop(tx);
    assert!(matches!(
        rx.recv(&mut buf, Timeout::after(HANG_BOUND)),
        Err(Error::EndOfStream)
    ));
    // A sender that comes later makes data flow again.
    let mut tx = site.tx(MSG_SIZE);
    tx.send(b"two", Timeout::after(HANG_BOUND)).unwrap();
    let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&buf[..n], b"two");
    drop(tx);
    assert!(matches!(
        rx.recv(&mut buf, Timeout::after(HANG_BOUND)),
        Err(Error::EndOfStream)
    ));
    let err = rx.try_clone().unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
}

#[test]
fn sender_first_waits_for_the_listener() {
    let _g = serial();
    let mut site = Site::unused("tx-first");
    let mut tx = site.tx(MSG_SIZE);
    assert!(matches!(tx.send(b"x", Timeout::Never), Err(Error::WouldBlock)));
    let start = Instant::now();
    let err = tx.send(b"x", Timeout::after(Duration::from_millis(50))).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, Error::TimedOut), "{err}");
    assert!(took >= Duration::from_millis(50), "returned after {took:?}");
    assert!(took < Duration::from_secs(10), "returned after {took:?}");
    // The receiver comes up while the send waits.
    let rx = std::thread::scope(|s| {
        let t = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            site.rx(MSG_SIZE)
        });
        tx.send(b"first", Timeout::after(HANG_BOUND)).unwrap();
        t.join().unwrap()
    });
    let mut rx = rx;
    let mut buf = vec![0u8; MSG_SIZE];
    let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&buf[..n], b"first");
}

#[test]
fn refuses_ring_options() {
    let _g = serial();
    let site = Site::unused("opts");
    for opt in ["capacity=8", "mode=spsc", "wake=futex"] {
        let a = Address::parse(&format!("{}&{opt}", site.address(64))).unwrap();
        let s = spec(&a);
        let name = opt.split('=').next().unwrap();
        for err in [
            ipcring::transport::unix::open_sender(&s).map(|_| ()).unwrap_err(),
            ipcring::transport::unix::open_receiver(&s).map(|_| ()).unwrap_err(),
        ] {
            assert!(
                matches!(&err, Error::InvalidAddress { part, .. } if part == name),
                "{opt}: {err}"
            );
        }
    }
}

/// The main run: a child process sends messages of random sizes with seq and checksum; the
/// parent checks each one, then sees end of stream.
#[test]
fn cross_process_random_sizes() {
    let _g = serial();
    let n = env_u64("IPCRING_SOCK_MESSAGES", 100_000);
    let mut site = Site::new("procs");
    let mut rx = site.rx(MSG_SIZE);
    let child = spawn("sender", &[("ADDR", site.address(MSG_SIZE)), ("COUNT", n.to_string())]);
    recv_checked_until_eos(&mut *rx, MSG_SIZE, Some(n));
    run_all(vec![child], HANG_BOUND);
}

/// Three sender processes and one receiver: per-sender FIFO, each message exactly once,
/// then end of stream once all have gone.
#[test]
fn several_sender_processes() {
    let _g = serial();
    const SENDERS: u32 = 3;
    let n = env_u64("IPCRING_SOCK_MESSAGES", 100_000) / 4;
    let mut site = Site::new("multi");
    let mut rx = site.rx(MSG_SIZE);
    let children: Vec<_> = (0..SENDERS)
        .map(|p| {
            spawn(
                "sender",
                &[
                    ("ADDR", site.address(MSG_SIZE)),
                    ("COUNT", n.to_string()),
                    ("PRODUCER", p.to_string()),
                ],
            )
        })
        .collect();
    let mut check = SeqChecker::new(SENDERS as usize, Some(MSG_SIZE - OVERHEAD));
    let mut buf = vec![0u8; MSG_SIZE];
    // End of stream may come early if one child has not connected yet when the others are
    // done: go on until every message is in, then expect it.
    while check.count < n * SENDERS as u64 {
        match rx.recv(&mut buf, Timeout::after(HANG_BOUND)) {
            Ok(len) => check.check_or_panic(&buf[..len]),
            Err(Error::EndOfStream) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("recv after {} messages: {e}", check.count),
        }
    }
    check.assert_complete(n);
    assert!(matches!(
        rx.recv(&mut buf, Timeout::after(HANG_BOUND)),
        Err(Error::EndOfStream)
    ));
    run_all(children, HANG_BOUND);
}

/// Senders made with `try_clone`, one per thread, each its own connection.
#[test]
fn cloned_senders_in_threads() {
    let _g = serial();
    const SENDERS: u32 = 3;
    let n = 5_000u64;
    let mut site = Site::new("clones");
    let mut rx = site.rx(MSG_SIZE);
    let tx = site.tx(MSG_SIZE);
    let txs: Vec<Box<dyn MsgSender>> = (0..SENDERS).map(|_| tx.try_clone().unwrap()).collect();
    drop(tx); // never connected: the receiver never knew it
    let mut check = SeqChecker::new(SENDERS as usize, Some(MSG_SIZE - OVERHEAD));
    std::thread::scope(|s| {
        for (p, mut tx) in txs.into_iter().enumerate() {
            s.spawn(move || {
                for seq in 0..n {
                    let m = encode_vec(p as u32, seq, MSG_SIZE - OVERHEAD);
                    tx.send(&m, Timeout::after(HANG_BOUND)).unwrap();
                }
            });
        }
        let mut buf = vec![0u8; MSG_SIZE];
        while check.count < n * SENDERS as u64 {
            match rx.recv(&mut buf, Timeout::after(HANG_BOUND)) {
                Ok(len) => check.check_or_panic(&buf[..len]),
                Err(Error::EndOfStream) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("recv after {} messages: {e}", check.count),
            }
        }
    });
    check.assert_complete(n);
    let mut buf = vec![0u8; MSG_SIZE];
    assert!(matches!(
        rx.recv(&mut buf, Timeout::after(HANG_BOUND)),
        Err(Error::EndOfStream)
    ));
}

/// A sender killed with SIGKILL: everything it fully sent arrives, in order, then end of
/// stream (no partial message, no hang).
#[test]
fn sender_killed_gives_end_of_stream() {
    let _g = serial();
    let mut site = Site::new("kill");
    let mut rx = site.rx(MSG_SIZE);
    let mut child = spawn(
        "sender",
        &[("ADDR", site.address(MSG_SIZE)), ("COUNT", "0".to_string())],
    );
    let mut buf = vec![0u8; MSG_SIZE];
    let mut seq = 0u64;
    while seq < 2_000 {
        let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
        check_msg(seq, &buf[..n], MSG_SIZE);
        seq += 1;
    }
    child.kill();
    loop {
        match rx.recv(&mut buf, Timeout::after(HANG_BOUND)) {
            Ok(n) => {
                check_msg(seq, &buf[..n], MSG_SIZE);
                seq += 1;
            }
            Err(Error::EndOfStream) => break,
            Err(e) => panic!("recv after {seq} messages: {e}"),
        }
    }
    let exits = wait_all(vec![child], HANG_BOUND);
    assert!(!exits[0].timed_out);
}

/// The receiver goes away while a child (SIGPIPE at its default) sends: the child gets
/// `Disconnected` and no signal.
#[test]
fn receiver_gone_is_disconnected_never_sigpipe() {
    let _g = serial();
    let mut site = Site::new("sigpipe");
    let mut rx = site.rx(MSG_SIZE);
    let child = spawn("sender_sigpipe", &[("ADDR", site.address(MSG_SIZE))]);
    let mut buf = vec![0u8; MSG_SIZE];
    for seq in 0..20 {
        let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
        check_msg(seq, &buf[..n], MSG_SIZE);
    }
    drop(rx);
    run_all(vec![child], HANG_BOUND);
}

/// A receiver that comes back on the same address: the same sender flows again.
#[test]
fn restarted_receiver_flows_again() {
    let _g = serial();
    let mut site = Site::new("restart");
    let mut rx = site.rx(MSG_SIZE);
    let mut tx = site.tx(MSG_SIZE);
    let mut buf = vec![0u8; MSG_SIZE];
    tx.send(b"to the first", Timeout::after(HANG_BOUND)).unwrap();
    let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&buf[..n], b"to the first");
    drop(rx);
    // Sends into the dying connection may still succeed (lost, as on a pipe); then
    // Disconnected, and again while nobody listens.
    let start = Instant::now();
    while tx.send(b"lost", Timeout::after(HANG_BOUND)).is_ok() {
        assert!(start.elapsed() < HANG_BOUND, "never disconnected");
        std::thread::sleep(Duration::from_millis(1));
    }
    let err = tx.send(b"lost", Timeout::after(HANG_BOUND)).unwrap_err();
    assert!(matches!(err, Error::Disconnected), "{err}");
    let mut rx = site.rx(MSG_SIZE);
    tx.send(b"to the second", Timeout::after(HANG_BOUND)).unwrap();
    let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&buf[..n], b"to the second");
    // A clone made now connects to the new receiver too.
    let mut tx2 = tx.try_clone().unwrap();
    tx2.send(b"from a clone", Timeout::after(HANG_BOUND)).unwrap();
    let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&buf[..n], b"from a clone");
}

/// A sender whose msg_size exceeds the receiver's is refused with a clear error; the
/// receiver is not disturbed and still serves a good sender.
#[test]
fn msg_size_mismatch_is_refused() {
    let _g = serial();
    let mut site = Site::new("mismatch");
    let mut rx = site.rx(64);
    let mut big = site.tx(128);
    let mut buf = vec![0u8; 64];
    let start = Instant::now();
    let err = loop {
        match big.send(b"too big a promise", Timeout::after(HANG_BOUND)) {
            Ok(()) => {}
            Err(e) => break e,
        }
        // The receiver reads the hello, rejects it and delivers nothing.
        assert!(matches!(
            rx.recv(&mut buf, Timeout::after(Duration::from_millis(10))),
            Err(Error::TimedOut)
        ));
        assert!(start.elapsed() < HANG_BOUND, "never refused");
    };
    assert!(
        matches!(
            err,
            Error::Mismatch {
                field: "msg_size",
                expected: 128,
                found: 64
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("msg_size"), "{err}");
    // It stays refused.
    let err = big.send(b"x", Timeout::Never).unwrap_err();
    assert!(matches!(err, Error::Mismatch { field: "msg_size", .. }), "{err}");
    // A sender with a smaller msg_size is fine.
    let mut small = site.tx(32);
    small.send(b"ok", Timeout::after(HANG_BOUND)).unwrap();
    let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&buf[..n], b"ok");
    drop(small);
    drop(big);
    assert!(matches!(
        rx.recv(&mut buf, Timeout::after(HANG_BOUND)),
        Err(Error::EndOfStream)
    ));
}

/// Clients that are not ipcring senders get a reject code and are dropped; the receiver
/// keeps serving a real sender, and they do not hold the stream open.
#[test]
fn garbage_clients_do_not_break_the_receiver() {
    let _g = serial();
    let mut site = Site::new("garbage");
    let mut rx = site.rx(MSG_SIZE);
    let mut junk = site.raw_client();
    junk.write(b"GET / HTTP/1.0\r\n\r\nand more bytes after it");
    let mut wrong_version = site.raw_client();
    let mut h = b"IPCR".to_vec();
    h.extend_from_slice(&99u32.to_le_bytes());
    h.extend_from_slice(&16u32.to_le_bytes());
    wrong_version.write_hello(&h);
    let mut tx = site.tx(MSG_SIZE);
    let mut buf = vec![0u8; MSG_SIZE];
    for seq in 0..100 {
        tx.send(&sized_msg(seq, MSG_SIZE), Timeout::after(HANG_BOUND)).unwrap();
        let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
        check_msg(seq, &buf[..n], MSG_SIZE);
    }
    let mut want = vec![1u8];
    want.extend_from_slice(&(MSG_SIZE as u32).to_le_bytes());
    assert_eq!(junk.read_to_eof(), want, "reject code, then EOF");
    assert_eq!(wrong_version.read_to_eof(), want);
    // The rejected clients are still connected; they do not count as senders.
    drop(tx);
    assert!(matches!(
        rx.recv(&mut buf, Timeout::after(HANG_BOUND)),
        Err(Error::EndOfStream)
    ));
    drop(junk);
    drop(wrong_version);
}
