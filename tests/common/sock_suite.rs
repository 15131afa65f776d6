//! The tests `transport_tcp.rs` and `transport_unix.rs` share, word for word, written once
//! over an [`Adapter`] (where a channel lives and its two ends) and a [`RawClient`] (a raw
//! client for protocol-breaking peers) that each file implements. `sock_suite!(Site)` in a
//! test file declares every test of the suite for its adapter.

use crate::common::*;
use ipcring::address::Address;
use ipcring::transport::{MsgReceiver, MsgSender, OpenSpec};
use ipcring::{Error, Timeout};
use std::time::{Duration, Instant};

/// `msg_size` of most of the suite's channels.
pub const MSG_SIZE: usize = 1024;

/// What a socket transport's test file provides to the suite.
pub trait Adapter: Sized + Send + Sync {
    /// Its raw client.
    type Raw: RawClient;
    /// A new place for a channel (`tag` names it for debugging).
    fn new(tag: &str) -> Self;
    /// A place where nobody listens (for senders started before their receiver).
    fn unused(tag: &str) -> Self;
    /// The channel's address with `msg_size`.
    fn address(&self, msg_size: usize) -> String;
    /// Opens the receiver (the listener).
    fn rx(&mut self, msg_size: usize) -> Box<dyn MsgReceiver>;
    /// Opens a sender.
    fn tx(&self, msg_size: usize) -> Box<dyn MsgSender>;
    /// A raw client of the listener.
    fn raw_client(&self) -> Self::Raw;
    /// Opens a sender on `address` (in a child process, say).
    fn open_tx(address: &str) -> Box<dyn MsgSender>;
    /// The transport module's `open_sender`.
    fn open_sender(spec: &OpenSpec) -> ipcring::Result<Box<dyn MsgSender>>;
    /// The transport module's `open_receiver`.
    fn open_receiver(spec: &OpenSpec) -> ipcring::Result<Box<dyn MsgReceiver>>;
}

/// A raw client of a listener, for peers that break the protocol.
pub trait RawClient {
    /// Sends `bytes` (one packet on `unix://`).
    fn write(&mut self, bytes: &[u8]);
    /// Sends `h` as a hello.
    fn write_hello(&mut self, h: &[u8]);
    /// Reads until EOF (bounded): what the receiver wrote.
    fn read_to_eof(&mut self) -> Vec<u8>;
}

/// Declares every test of the suite for the adapter `$site`.
macro_rules! sock_suite {
    ($site:ty) => {
        #[test]
        fn child_entry() {
            sock_suite::child_entry::<$site>()
        }
        #[test]
        fn size_limits_and_too_large() {
            sock_suite::size_limits_and_too_large::<$site>()
        }
        #[test]
        fn buffer_too_small_keeps_the_message() {
            sock_suite::buffer_too_small_keeps_the_message::<$site>()
        }
        #[test]
        fn receiver_first_waits_without_end_of_stream() {
            sock_suite::receiver_first_waits_without_end_of_stream::<$site>()
        }
        #[test]
        fn sender_first_waits_for_the_listener() {
            sock_suite::sender_first_waits_for_the_listener::<$site>()
        }
        #[test]
        fn refuses_ring_options() {
            sock_suite::refuses_ring_options::<$site>()
        }
        #[test]
        fn cross_process_random_sizes() {
            sock_suite::cross_process_random_sizes::<$site>()
        }
        #[test]
        fn several_sender_processes() {
            sock_suite::several_sender_processes::<$site>()
        }
        #[test]
        fn cloned_senders_in_threads() {
            sock_suite::cloned_senders_in_threads::<$site>()
        }
        #[test]
        fn sender_killed_gives_sender_died() {
            sock_suite::sender_killed_gives_sender_died::<$site>()
        }
        #[test]
        fn receiver_gone_is_disconnected_never_sigpipe() {
            sock_suite::receiver_gone_is_disconnected_never_sigpipe::<$site>()
        }
        #[test]
        fn restarted_receiver_flows_again() {
            sock_suite::restarted_receiver_flows_again::<$site>()
        }
        #[test]
        fn msg_size_mismatch_is_refused() {
            sock_suite::msg_size_mismatch_is_refused::<$site>()
        }
        #[test]
        fn garbage_clients_do_not_break_the_receiver() {
            sock_suite::garbage_clients_do_not_break_the_receiver::<$site>()
        }
    };
}
pub(crate) use sock_suite;

pub fn child_entry<S: Adapter>() {
    crate::common::child_entry(|role| match role {
        "sender" => child_sender::<S>(),
        "sender_sigpipe" => child_sender_sigpipe::<S>(),
        other => panic!("unknown role {other:?}"),
    });
}

/// Role `sender`: `COUNT` messages to `ADDR`; `PRODUCER` set: the `[producer][seq]` format,
/// otherwise `sized_msg`. `COUNT=0`: for ever (until killed).
fn child_sender<S: Adapter>() {
    let address = param("ADDR");
    let count = param_u64("COUNT");
    let producer = std::env::var("PRODUCER").ok().map(|p| p.parse::<u32>().unwrap());
    let mut tx = S::open_tx(&address);
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
fn child_sender_sigpipe<S: Adapter>() {
    // SAFETY: setting a disposition at the start of a single-threaded child role.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let before = sigpipe_state();
    assert_eq!(before, (false, false, libc::SIG_DFL));
    let mut tx = S::open_tx(&param("ADDR"));
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

pub fn size_limits_and_too_large<S: Adapter>() {
    let _g = serial();
    for msg_size in [MSG_SIZE, 65_536] {
        let mut site = S::new("sizes");
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
        assert!(matches!(
            rx.recv(&mut buf, Timeout::NonBlocking),
            Err(Error::WouldBlock)
        ));
        tx.send(b"after", Timeout::after(HANG_BOUND)).unwrap();
        let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
        assert_eq!(&buf[..n], b"after");
    }
}

pub fn buffer_too_small_keeps_the_message<S: Adapter>() {
    let _g = serial();
    let mut site = S::new("small");
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
    let err = rx.recv(&mut small, Timeout::NonBlocking).unwrap_err();
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
        rx.recv(&mut empty, Timeout::NonBlocking),
        Err(Error::BufferTooSmall {
            needed: 100,
            capacity: 0
        })
    ));
    let mut big = [0u8; 100];
    assert_eq!(rx.recv(&mut big, Timeout::NonBlocking).unwrap(), 100);
    assert_eq!(big, [5u8; 100]);
    let n = rx.recv(&mut small, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&small[..n], b"next");
}

pub fn receiver_first_waits_without_end_of_stream<S: Adapter>() {
    let _g = serial();
    let mut site = S::new("rx-first");
    let mut rx = site.rx(MSG_SIZE);
    let mut buf = vec![0u8; MSG_SIZE];
    assert!(matches!(
        rx.recv(&mut buf, Timeout::NonBlocking),
        Err(Error::WouldBlock)
    ));
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
    assert!(matches!(
        rx.recv(&mut buf, Timeout::NonBlocking),
        Err(Error::WouldBlock)
    ));
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

pub fn sender_first_waits_for_the_listener<S: Adapter>() {
    let _g = serial();
    let mut site = S::unused("tx-first");
    let mut tx = site.tx(MSG_SIZE);
    // Nothing listens: a call that may not wait, and one whose deadline passes, say so and
    // name the address ("connection refused" on tcp://, "no listener" on unix://).
    let err = tx.send(b"x", Timeout::NonBlocking).unwrap_err();
    assert!(matches!(err, Error::NoListener { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("connection refused") || text.contains("no listener"),
        "{text}"
    );
    let start = Instant::now();
    let err = tx.send(b"x", Timeout::after(Duration::from_millis(50))).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, Error::NoListener { .. }), "{err}");
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

pub fn refuses_ring_options<S: Adapter>() {
    let _g = serial();
    let site = S::unused("opts");
    for opt in ["capacity=8", "mode=spsc", "wake=futex"] {
        let a = Address::parse(&format!("{}&{opt}", site.address(64))).unwrap();
        let s = a.open_spec(true, false);
        let name = opt.split('=').next().unwrap();
        for err in [
            S::open_sender(&s).map(|_| ()).unwrap_err(),
            S::open_receiver(&s).map(|_| ()).unwrap_err(),
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
pub fn cross_process_random_sizes<S: Adapter>() {
    let _g = serial();
    let n = env_u64("IPCRING_SOCK_MESSAGES", 100_000);
    let mut site = S::new("procs");
    let mut rx = site.rx(MSG_SIZE);
    let child = spawn("sender", &[("ADDR", site.address(MSG_SIZE)), ("COUNT", n.to_string())]);
    recv_checked_until_eos(&mut *rx, MSG_SIZE, Some(n));
    run_all(vec![child], HANG_BOUND);
}

/// Three sender processes and one receiver: per-sender FIFO, each message exactly once,
/// then end of stream once all have gone.
pub fn several_sender_processes<S: Adapter>() {
    let _g = serial();
    const SENDERS: u32 = 3;
    let n = env_u64("IPCRING_SOCK_MESSAGES", 100_000) / 4;
    let mut site = S::new("multi");
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
pub fn cloned_senders_in_threads<S: Adapter>() {
    let _g = serial();
    const SENDERS: u32 = 3;
    let n = 5_000u64;
    let mut site = S::new("clones");
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

/// A sender killed with SIGKILL: everything it fully sent arrives, in order, then
/// `SenderDied` (its connection ended without a goodbye; no partial message, no hang).
pub fn sender_killed_gives_sender_died<S: Adapter>() {
    let _g = serial();
    let mut site = S::new("kill");
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
            Err(Error::SenderDied) => break,
            Err(e) => panic!("recv after {seq} messages: {e} (expected SenderDied)"),
        }
    }
    let exits = wait_all(vec![child], HANG_BOUND);
    assert!(!exits[0].timed_out);
}

/// The receiver goes away while a child (SIGPIPE at its default) sends: the child gets
/// `Disconnected` and no signal.
pub fn receiver_gone_is_disconnected_never_sigpipe<S: Adapter>() {
    let _g = serial();
    let mut site = S::new("sigpipe");
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
pub fn restarted_receiver_flows_again<S: Adapter>() {
    let _g = serial();
    let mut site = S::new("restart");
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
pub fn msg_size_mismatch_is_refused<S: Adapter>() {
    let _g = serial();
    let mut site = S::new("mismatch");
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
    let err = big.send(b"x", Timeout::NonBlocking).unwrap_err();
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
pub fn garbage_clients_do_not_break_the_receiver<S: Adapter>() {
    let _g = serial();
    let mut site = S::new("garbage");
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
