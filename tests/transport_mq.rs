//! The `mq://` transport (`ipcring::transport::mq`) on real POSIX message queues: sizes,
//! too-small buffers, timeouts, creation and mismatch errors, permissions, kernel limits,
//! and the pipe-like ends (end of stream, disconnection, killed peers, late peers) between
//! forked processes.
//!
//! Every test takes `serial()` (they fork) and guards its queue name with [`Queue`], which
//! unlinks the queue and its companion file even when the test fails. Capacities stay at 8:
//! without `CAP_SYS_RESOURCE` the kernel's `fs.mqueue.msg_max` (10 by default) bounds them,
//! and small queues make the senders block. No duration is asserted except as an upper
//! bound on a hang (and a timed-out wait lasting at least its timeout).
//! `IPCRING_MQ_MESSAGES` (default 100,000) sets the size of the cross-process run.

// It drives the library's building blocks (or its failpoints) directly: only in the test build.
#![cfg(ipcring_test)]

mod common;

use common::*;
use ipcring::address::Address;
use ipcring::transport::mq::{self, MqReceiver, MqSender};
use ipcring::transport::{MsgReceiver, MsgSender, OpenSpec};
use ipcring::{Error, Timeout};
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// The bound on any single wait that should end quickly.
const HANG: Duration = Duration::from_secs(10);

/// A unique queue name; the queue and its companion are unlinked on drop.
struct Queue(String);

impl Queue {
    fn new(tag: &str) -> Queue {
        Queue(unique_name(&format!("mq-{tag}")))
    }
    fn name(&self) -> &str {
        &self.0
    }
    /// `mq://NAME?QUERY`.
    fn addr(&self, query: &str) -> Address {
        let text = if query.is_empty() {
            format!("mq://{}", self.0)
        } else {
            format!("mq://{}?{query}", self.0)
        };
        Address::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        let _ = mq::unlink(&self.0);
        let _ = std::fs::remove_file(mq::companion_path(&self.0));
        let _ = std::fs::remove_dir(mq::companion_path(&self.0));
    }
}

fn spec(a: &Address, create: bool, excl: bool) -> OpenSpec<'_> {
    a.open_spec(create, excl)
}

fn open_tx(a: &Address, create: bool) -> Box<dyn MsgSender> {
    mq::open_sender(&spec(a, create, false)).unwrap_or_else(|e| panic!("open_sender: {e}"))
}

fn open_rx(a: &Address, create: bool) -> Box<dyn MsgReceiver> {
    mq::open_receiver(&spec(a, create, false)).unwrap_or_else(|e| panic!("open_receiver: {e}"))
}

fn recv_vec(rx: &mut dyn MsgReceiver, timeout: Timeout) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; rx.msg_size()];
    let n = rx.recv(&mut buf, timeout)?;
    buf.truncate(n);
    Ok(buf)
}

/// The file mode of a descriptor.
fn fd_mode(fd: i32) -> u32 {
    // SAFETY: stat is plain data, filled by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open for the call; st is a valid out-pointer.
    assert_eq!(unsafe { libc::fstat(fd, &mut st) }, 0, "fstat");
    st.st_mode & 0o7777
}

/// Whether this process has CAP_SYS_RESOURCE in its effective set (computed here
/// independently of the library).
fn privileged() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).expect("CapEff is hex"))
        .expect("CapEff line");
    eff & (1 << 24) != 0
}

fn sysctl(name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/sys/fs/mqueue/{name}"))
        .expect("read /proc/sys/fs/mqueue")
        .trim()
        .parse()
        .expect("a number")
}

#[test]
fn round_trip_sizes_and_too_large() {
    let _s = serial();
    let q = Queue::new("sizes");
    let a = q.addr("capacity=8&msg_size=64");
    let mut rx = open_rx(&a, true);
    let mut tx = open_tx(&a, false);
    assert_eq!((tx.msg_size(), rx.msg_size()), (64, 64));
    for len in [0usize, 1, 64] {
        let msg: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
        tx.send(&msg, Timeout::NonBlocking).unwrap();
        // A buffer of exactly msg_size (received directly) ...
        assert_eq!(recv_vec(&mut *rx, Timeout::NonBlocking).unwrap(), msg, "len {len}");
        // ... and one shorter than msg_size but long enough (through the internal buffer).
        tx.send(&msg, Timeout::NonBlocking).unwrap();
        let mut small = vec![0u8; len];
        assert_eq!(rx.recv(&mut small, Timeout::NonBlocking).unwrap(), len);
        assert_eq!(small, msg);
    }
    let err = tx.send(&[7u8; 65], Timeout::Forever).unwrap_err();
    assert!(matches!(err, Error::TooLarge { len: 65, max: 64 }), "{err}");
    assert_eq!(rx.queued(), Some(0), "nothing sent by a too-large send");
    tx.send(b"next", Timeout::NonBlocking).unwrap();
    assert_eq!(rx.queued(), Some(1));
    assert_eq!(recv_vec(&mut *rx, Timeout::NonBlocking).unwrap(), b"next");
}

/// A queue's capacity is a count of messages, not ring slots: any count from 1 (here 3 and
/// 10, the kernel's default limit), not only powers of two; 0 is refused by the address.
#[test]
fn capacity_need_not_be_a_power_of_two() {
    let _s = serial();
    for cap in [3u64, 10] {
        let q = Queue::new("cap");
        let a = q.addr(&format!("capacity={cap}&msg_size=8"));
        let rx = MqReceiver::open(&spec(&a, true, true)).unwrap_or_else(|e| panic!("capacity={cap}: {e}"));
        assert_eq!(rx.capacity(), Some(cap));
        let mut tx = open_tx(&a, false);
        for _ in 0..cap {
            tx.send(b"x", Timeout::NonBlocking).unwrap();
        }
        assert!(matches!(tx.send(b"x", Timeout::NonBlocking), Err(Error::WouldBlock)));
        drop((tx, rx));
        mq::unlink(q.name()).unwrap();
    }
    let err = Address::parse("mq://q?capacity=0").unwrap_err();
    assert!(
        matches!(err, Error::InvalidAddress { ref part, .. } if part == "capacity=0"),
        "{err}"
    );
}

#[test]
fn buffer_too_small_keeps_the_message() {
    let _s = serial();
    let q = Queue::new("small");
    let a = q.addr("capacity=8&msg_size=64");
    let mut rx = open_rx(&a, true);
    let mut tx = open_tx(&a, false);
    tx.send(b"0123456789", Timeout::NonBlocking).unwrap();
    tx.send(b"after", Timeout::NonBlocking).unwrap();
    let mut buf = [0u8; 4];
    for _ in 0..2 {
        let err = rx.recv(&mut buf, Timeout::NonBlocking).unwrap_err();
        assert!(
            matches!(
                err,
                Error::BufferTooSmall {
                    needed: 10,
                    capacity: 4
                }
            ),
            "{err}"
        );
    }
    let mut big = [0u8; 10];
    assert_eq!(rx.recv(&mut big, Timeout::NonBlocking).unwrap(), 10);
    assert_eq!(&big, b"0123456789");
    assert_eq!(recv_vec(&mut *rx, Timeout::NonBlocking).unwrap(), b"after");
    // An empty message fits an empty buffer.
    tx.send(b"", Timeout::NonBlocking).unwrap();
    assert_eq!(rx.recv(&mut [], Timeout::NonBlocking).unwrap(), 0);
}

#[test]
fn timeouts_on_empty_and_full() {
    let _s = serial();
    let q = Queue::new("timeouts");
    let a = q.addr("capacity=8&msg_size=16");
    let mut rx = open_rx(&a, true);
    let mut tx = open_tx(&a, false);
    let mut buf = [0u8; 16];
    assert!(matches!(
        rx.recv(&mut buf, Timeout::NonBlocking),
        Err(Error::WouldBlock)
    ));
    let start = Instant::now();
    let r = rx.recv(&mut buf, Timeout::after(Duration::from_millis(50)));
    let took = start.elapsed();
    assert!(matches!(r, Err(Error::TimedOut)), "{r:?}");
    assert!(took >= Duration::from_millis(50) && took < HANG, "{took:?}");
    for i in 0..8u8 {
        tx.send(&[i], Timeout::NonBlocking).unwrap();
    }
    assert!(matches!(tx.send(b"x", Timeout::NonBlocking), Err(Error::WouldBlock)));
    let start = Instant::now();
    let r = tx.send(b"x", Timeout::after(Duration::from_millis(50)));
    let took = start.elapsed();
    assert!(matches!(r, Err(Error::TimedOut)), "{r:?}");
    assert!(took >= Duration::from_millis(50) && took < HANG, "{took:?}");
    assert_eq!(rx.queued(), Some(8), "a timed-out send leaves nothing behind");
    for i in 0..8u8 {
        assert_eq!(recv_vec(&mut *rx, Timeout::NonBlocking).unwrap(), [i]);
    }
}

#[test]
fn create_open_errors_and_mismatch() {
    let _s = serial();
    let q = Queue::new("errors");
    let a = q.addr("capacity=4&msg_size=32");
    assert!(matches!(
        mq::open_receiver(&spec(&a, false, false)),
        Err(Error::NotFound { .. })
    ));
    let rx = mq::open_receiver(&spec(&a, true, true)).unwrap();
    assert!(matches!(
        mq::open_sender(&spec(&a, true, true)),
        Err(Error::AlreadyExists { .. })
    ));
    // create without excl opens the existing queue.
    let tx = mq::open_sender(&spec(&a, true, false)).unwrap();
    assert_eq!(tx.msg_size(), 32);
    let b = q.addr("msg_size=64");
    let err = mq::open_sender(&spec(&b, false, false)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Mismatch {
                field: "msg_size",
                expected: 64,
                found: 32
            }
        ),
        "{err}"
    );
    let c = q.addr("capacity=8");
    let err = mq::open_sender(&spec(&c, true, false)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Mismatch {
                field: "capacity",
                expected: 8,
                found: 4
            }
        ),
        "{err}"
    );
    // Without msg_size, the queue's is adopted.
    let d = q.addr("");
    let rx2 = MqReceiver::open(&spec(&d, false, false)).unwrap();
    assert_eq!((rx2.msg_size(), rx2.capacity()), (32, Some(4)));
    drop((rx, tx, rx2));
    // Ring-only options are refused.
    let e = Address::parse(&format!("mq://{}?mode=spsc", q.name())).unwrap();
    assert!(matches!(
        mq::open_sender(&spec(&e, true, false)),
        Err(Error::InvalidAddress { ref part, .. }) if part == "mode"
    ));
    let e = Address::parse(&format!("mq://{}?wake=sem", q.name())).unwrap();
    assert!(matches!(
        mq::open_receiver(&spec(&e, true, false)),
        Err(Error::InvalidAddress { ref part, .. }) if part == "wake"
    ));
}

#[test]
fn unlink_removes_queue_and_companion() {
    let _s = serial();
    let q = Queue::new("unlink");
    assert!(matches!(mq::unlink(q.name()), Err(Error::NotFound { .. })));
    let a = q.addr("capacity=4&msg_size=8");
    let mut tx = open_tx(&a, true);
    let comp = mq::companion_path(q.name());
    assert!(comp.exists());
    mq::unlink(q.name()).unwrap();
    assert!(!comp.exists());
    assert!(matches!(mq::unlink(q.name()), Err(Error::NotFound { .. })));
    assert!(matches!(
        mq::open_receiver(&spec(&a, false, false)),
        Err(Error::NotFound { .. })
    ));
    // The open end still works (the queue lives while open); nothing else sees it.
    tx.send(b"x", Timeout::NonBlocking).unwrap();
    // A new queue of the same name is a fresh one.
    let mut rx = open_rx(&a, true);
    assert!(matches!(
        rx.recv(&mut [0u8; 8], Timeout::NonBlocking),
        Err(Error::WouldBlock)
    ));
}

#[test]
fn default_capacity_and_msg_size() {
    let _s = serial();
    let q = Queue::new("defaults");
    let a = q.addr("");
    let rx = MqReceiver::open(&spec(&a, true, true)).unwrap();
    assert_eq!(rx.msg_size(), 256);
    assert_eq!(rx.capacity(), Some(mq::default_capacity()));
    assert_eq!(mq::default_capacity(), sysctl("msg_max").min(1024));
}

#[test]
fn perm_is_exact_whatever_the_umask() {
    let _s = serial();
    let q1 = Queue::new("perm-default");
    let q2 = Queue::new("perm-0640");
    let a1 = q1.addr("capacity=4&msg_size=8");
    let a2 = q2.addr("capacity=4&msg_size=8&perm=0640");
    let (n1, n2) = (q1.name(), q2.name());
    // umask is per process: change it in a forked child only.
    fork("umask", || {
        // SAFETY: umask has no preconditions.
        unsafe { libc::umask(0) };
        let tx = MqSender::open(&spec(&a1, true, true)).unwrap();
        assert_eq!(fd_mode(tx.as_raw_fd()), 0o600, "default perm under umask 0");
        let m = std::fs::metadata(mq::companion_path(n1)).unwrap().permissions().mode();
        assert_eq!(m & 0o777, 0o600, "companion");
        // SAFETY: as above.
        unsafe { libc::umask(0o077) };
        let rx = MqReceiver::open(&spec(&a2, true, true)).unwrap();
        assert_eq!(fd_mode(rx.as_raw_fd()), 0o640, "perm=0640 under umask 077");
        let m = std::fs::metadata(mq::companion_path(n2)).unwrap().permissions().mode();
        assert_eq!(
            m & 0o777,
            0o660,
            "companion: every class that may use the queue reads and writes"
        );
    })
    .expect_success(HANG);
}

#[test]
fn kernel_limits_are_named() {
    let _s = serial();
    let priv_ = privileged();
    let q = Queue::new("limits");
    // Above the hard limit HARD_MSGMAX (65536): refused even with CAP_SYS_RESOURCE.
    let a = q.addr("capacity=131072&msg_size=8");
    let err = mq::open_sender(&spec(&a, true, true)).unwrap_err();
    let want = if priv_ { 65536 } else { sysctl("msg_max") };
    match &err {
        Error::KernelLimit {
            what,
            value,
            limit,
            hint,
        } => {
            assert_eq!((*what, *value, *limit), ("capacity", 131072, want), "{err}");
            let text = err.to_string();
            assert!(text.contains(&want.to_string()) && text.contains(hint), "{text}");
            assert!(hint.contains("65536"), "{hint}");
        }
        other => panic!("expected KernelLimit, got {other:?}"),
    }
    // Above HARD_MSGSIZEMAX (16 MiB).
    let a = q.addr("capacity=4&msg_size=33554432");
    let err = mq::open_receiver(&spec(&a, true, true)).unwrap_err();
    let want = if priv_ { 16 << 20 } else { sysctl("msgsize_max") };
    match &err {
        Error::KernelLimit {
            what,
            value,
            limit,
            hint,
        } => {
            assert_eq!((*what, *value, *limit), ("msg_size", 32 << 20, want), "{err}");
            let text = err.to_string();
            assert!(text.contains(&want.to_string()) && text.contains(hint), "{text}");
        }
        other => panic!("expected KernelLimit, got {other:?}"),
    }
    // Between the sysctl and the hard limit: allowed only with CAP_SYS_RESOURCE, and the
    // error then names the sysctl.
    let msg_max = sysctl("msg_max");
    if msg_max < 65536 {
        let cap = (msg_max + 1).next_power_of_two();
        let a = q.addr(&format!("capacity={cap}&msg_size=8"));
        match mq::open_sender(&spec(&a, true, true)) {
            Ok(tx) => {
                assert!(priv_, "capacity {cap} above msg_max {msg_max} without CAP_SYS_RESOURCE");
                drop(tx);
                mq::unlink(q.name()).unwrap();
            }
            Err(err) => {
                assert!(!priv_, "{err}");
                match &err {
                    Error::KernelLimit { what, limit, hint, .. } => {
                        assert_eq!((*what, *limit), ("capacity", msg_max));
                        assert!(hint.contains("fs.mqueue.msg_max"), "{hint}");
                        assert!(err.to_string().contains("sysctl fs.mqueue.msg_max"), "{err}");
                    }
                    other => panic!("expected KernelLimit, got {other:?}"),
                }
            }
        }
    }
    // Nothing was left behind by the failed creations.
    assert!(matches!(mq::unlink(q.name()), Err(Error::NotFound { .. })));
}

#[test]
fn cross_process_stream_then_end_of_stream() {
    let _s = serial();
    let n = env_u64("IPCRING_MQ_MESSAGES", 100_000);
    const MAX: usize = 256;
    let q = Queue::new("stream");
    let a = q.addr(&format!("capacity=8&msg_size={MAX}"));
    let mut rx = open_rx(&a, true);
    let child = fork("sender", || {
        let mut tx = open_tx(&a, false);
        for seq in 0..n {
            tx.send(&sized_msg(seq, MAX), Timeout::after(Duration::from_secs(60)))
                .unwrap_or_else(|e| panic!("send #{seq}: {e}"));
        }
    });
    let mut buf = vec![0u8; MAX];
    let mut seq = 0;
    loop {
        match rx.recv(&mut buf, Timeout::after(Duration::from_secs(60))) {
            Ok(len) => {
                check_msg(seq, &buf[..len], MAX);
                seq += 1;
            }
            Err(Error::EndOfStream) => break,
            Err(e) => panic!("recv after {seq} messages: {e}"),
        }
    }
    child.expect_success(HANG);
    assert_eq!(seq, n, "messages received before end of stream");
    // End of stream stays (until a sender comes).
    assert!(matches!(
        rx.recv(&mut buf, Timeout::NonBlocking),
        Err(Error::EndOfStream)
    ));
}

#[test]
fn killed_sender_is_sender_died_and_a_new_sender_revives() {
    let _s = serial();
    let q = Queue::new("killed");
    let a = q.addr("capacity=8&msg_size=8");
    let mut rx = open_rx(&a, true);
    let sender_then_hang = |first: u8| {
        let p = Pipe::new();
        let child = fork("sender", || {
            let mut tx = open_tx(&a, false);
            for i in 0..3 {
                tx.send(&[first + i], Timeout::Forever).unwrap();
            }
            p.write(b"s");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        assert!(p.read_exact(&mut [0u8], HANG), "the sender did not start");
        child
    };

    // 1. Killed while the receiver is blocked (Forever) on the empty queue.
    let child = sender_then_hang(0);
    for i in 0..3u8 {
        assert_eq!(recv_vec(&mut *rx, Timeout::after(HANG)).unwrap(), [i]);
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let r = recv_vec(&mut *rx, Timeout::Forever);
        done_tx.send(r).unwrap();
        rx
    });
    std::thread::sleep(Duration::from_millis(50)); // likely blocked by now (not relied on)
    child.signal(libc::SIGKILL);
    let exit = child.wait(HANG);
    assert!(libc::WIFSIGNALED(exit.status), "{}", exit.describe());
    let r = done_rx.recv_timeout(HANG).expect("the blocked receive did not return");
    // Killed, not closed: SenderDied where a close would be end of stream.
    assert!(matches!(r, Err(Error::SenderDied)), "{r:?}");
    let mut rx = waiter.join().unwrap();

    // 2. A new sender revives the stream; killed after sending, what it sent is still
    // delivered, then end of stream again.
    let child = sender_then_hang(10);
    child.signal(libc::SIGKILL);
    child.wait(HANG);
    for i in 10..13u8 {
        assert_eq!(recv_vec(&mut *rx, Timeout::after(HANG)).unwrap(), [i]);
    }
    assert!(matches!(
        recv_vec(&mut *rx, Timeout::after(HANG)),
        Err(Error::SenderDied)
    ));
}

#[test]
fn receiver_gone_is_disconnected() {
    let _s = serial();
    let q = Queue::new("disconnected");
    let a = q.addr("capacity=8&msg_size=8");
    let mut tx = open_tx(&a, true);
    // No receiver has come yet: sends queue up, then wait (no Disconnected).
    for i in 0..8u8 {
        tx.send(&[i], Timeout::NonBlocking).unwrap();
    }
    assert!(matches!(
        tx.send(b"x", Timeout::after(Duration::from_millis(30))),
        Err(Error::TimedOut)
    ));
    let p = Pipe::new();
    let child = fork("receiver", || {
        let mut rx = open_rx(&a, false);
        p.write(b"r");
        for i in 0..8u8 {
            assert_eq!(recv_vec(&mut *rx, Timeout::after(HANG)).unwrap(), [i]);
        }
        // Exits without closing anything explicitly.
    });
    assert!(p.read_exact(&mut [0u8], HANG));
    child.expect_success(HANG);
    // Every receiver has gone: Disconnected at once, and never SIGPIPE.
    let start = Instant::now();
    let r = tx.send(b"x", Timeout::after(HANG));
    assert!(matches!(r, Err(Error::Disconnected)), "{r:?}");
    assert!(start.elapsed() < HANG);

    // A sender blocked on a full queue notices a receiver killed while it waits.
    let mut rx = open_rx(&a, false);
    while rx.recv(&mut [0u8; 8], Timeout::NonBlocking).is_ok() {}
    drop(rx);
    let p = Pipe::new();
    let child = fork("receiver", || {
        let _rx = open_rx(&a, false);
        p.write(b"r");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(p.read_exact(&mut [0u8], HANG));
    for i in 0..8u8 {
        tx.send(&[i], Timeout::NonBlocking).unwrap();
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        done_tx.send(tx.send(b"blocked", Timeout::Forever)).unwrap();
    });
    std::thread::sleep(Duration::from_millis(50));
    child.signal(libc::SIGKILL);
    child.wait(HANG);
    let r = done_rx.recv_timeout(HANG).expect("the blocked send did not return");
    assert!(matches!(r, Err(Error::ReceiverDied)), "{r:?}");
    waiter.join().unwrap();
}

#[test]
fn receiver_before_any_sender_waits_and_late_senders_revive() {
    let _s = serial();
    let q = Queue::new("late");
    let a = q.addr("capacity=8&msg_size=8");
    let mut rx = open_rx(&a, true);
    let mut buf = [0u8; 8];
    assert!(matches!(
        rx.recv(&mut buf, Timeout::NonBlocking),
        Err(Error::WouldBlock)
    ));
    assert!(matches!(
        rx.recv(&mut buf, Timeout::after(Duration::from_millis(30))),
        Err(Error::TimedOut)
    ));
    let mut tx = open_tx(&a, false);
    tx.send(b"one", Timeout::NonBlocking).unwrap();
    drop(tx);
    // Queued before the sender left: delivered, then end of stream.
    assert_eq!(recv_vec(&mut *rx, Timeout::NonBlocking).unwrap(), b"one");
    assert!(matches!(
        rx.recv(&mut buf, Timeout::NonBlocking),
        Err(Error::EndOfStream)
    ));
    assert!(matches!(rx.recv(&mut buf, Timeout::Forever), Err(Error::EndOfStream)));
    // A receiver opened now waits for a sender: the one that left was not of its life
    // (endings are per endpoint).
    let mut rx2 = open_rx(&a, false);
    assert!(matches!(
        rx2.recv(&mut buf, Timeout::after(Duration::from_millis(30))),
        Err(Error::TimedOut)
    ));
    // A sender that comes later makes data flow again.
    let mut tx = open_tx(&a, false);
    assert!(matches!(
        rx.recv(&mut buf, Timeout::NonBlocking),
        Err(Error::WouldBlock)
    ));
    tx.send(b"two", Timeout::NonBlocking).unwrap();
    assert_eq!(recv_vec(&mut *rx, Timeout::NonBlocking).unwrap(), b"two");
}

#[test]
fn clones_count_as_ends_and_receivers_share() {
    let _s = serial();
    let q = Queue::new("clones");
    let a = q.addr("capacity=8&msg_size=8");
    let mut rx = open_rx(&a, true);
    let tx = open_tx(&a, false);
    let mut tx2 = tx.try_clone().unwrap();
    drop(tx);
    // The clone keeps the stream open.
    assert!(matches!(
        rx.recv(&mut [0u8; 8], Timeout::NonBlocking),
        Err(Error::WouldBlock)
    ));
    let mut rx2 = rx.try_clone().unwrap();
    for i in 0..4u8 {
        tx2.send(&[i], Timeout::NonBlocking).unwrap();
    }
    // Each message goes to one receiver.
    let mut got = Vec::new();
    for k in 0..4 {
        let r: &mut dyn MsgReceiver = if k % 2 == 0 { &mut *rx } else { &mut *rx2 };
        got.extend(recv_vec(r, Timeout::NonBlocking).unwrap());
    }
    assert_eq!(got, [0, 1, 2, 3]);
    assert!(matches!(
        rx2.recv(&mut [0u8; 8], Timeout::NonBlocking),
        Err(Error::WouldBlock)
    ));
    // One receiver left is enough for the sender.
    drop(rx);
    tx2.send(b"x", Timeout::NonBlocking).unwrap();
    drop(rx2);
    assert!(matches!(tx2.send(b"y", Timeout::NonBlocking), Err(Error::Disconnected)));
    drop(tx2);
}

/// `mq_open` a queue by hand (as another program would), without a companion.
fn raw_queue(name: &str, maxmsg: i64, msgsize: i64) {
    let c = CString::new(format!("/{name}")).unwrap();
    // SAFETY: mq_attr is plain data.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    attr.mq_maxmsg = maxmsg;
    attr.mq_msgsize = msgsize;
    // SAFETY: valid C string; mode and attr pointer for O_CREAT.
    let mqd = unsafe {
        libc::mq_open(
            c.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
            0o600 as libc::c_uint,
            &attr as *const libc::mq_attr,
        )
    };
    assert!(mqd >= 0, "mq_open: {}", std::io::Error::last_os_error());
    // SAFETY: mqd was just opened.
    unsafe { libc::mq_close(mqd) };
}

#[test]
fn foreign_queue_gets_a_companion() {
    let _s = serial();
    let q = Queue::new("foreign");
    raw_queue(q.name(), 4, 16);
    assert!(!mq::companion_path(q.name()).exists());
    let a = q.addr("");
    let mut rx = open_rx(&a, false);
    assert_eq!(rx.msg_size(), 16);
    assert!(mq::companion_path(q.name()).is_file());
    let mut tx = open_tx(&a, false);
    tx.send(b"hi", Timeout::NonBlocking).unwrap();
    drop(tx);
    assert_eq!(recv_vec(&mut *rx, Timeout::NonBlocking).unwrap(), b"hi");
    assert!(matches!(
        rx.recv(&mut [0u8; 16], Timeout::NonBlocking),
        Err(Error::EndOfStream)
    ));
}

#[test]
fn stale_companion_of_a_replaced_queue_is_reset() {
    let _s = serial();
    let q = Queue::new("stale");
    let a = q.addr("capacity=4&msg_size=8");
    drop(open_tx(&a, true)); // the sender marker is set
                             // Replace the queue behind the library's back (the companion stays).
    let c = CString::new(format!("/{}", q.name())).unwrap();
    // SAFETY: valid C string.
    assert_eq!(unsafe { libc::mq_unlink(c.as_ptr()) }, 0);
    assert!(mq::companion_path(q.name()).exists());
    let mut rx = open_rx(&a, true);
    // No sender of *this* queue has come: waiting, not end of stream.
    assert!(matches!(
        rx.recv(&mut [0u8; 8], Timeout::after(Duration::from_millis(30))),
        Err(Error::TimedOut)
    ));
}

#[test]
fn companion_symlink_or_directory_is_refused() {
    let _s = serial();
    let q = Queue::new("symlink");
    let comp = mq::companion_path(q.name());
    std::os::unix::fs::symlink("/dev/null", &comp).unwrap();
    let a = q.addr("capacity=4&msg_size=8");
    let err = mq::open_sender(&spec(&a, true, false)).unwrap_err();
    assert!(matches!(err, Error::NotARing { .. }), "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    std::fs::remove_file(&comp).unwrap();
    std::fs::create_dir(&comp).unwrap();
    let err = mq::open_receiver(&spec(&a, true, false)).unwrap_err();
    assert!(matches!(err, Error::NotARing { .. }), "{err}");
    std::fs::remove_dir(&comp).unwrap();
    // A regular file that is not ours.
    std::fs::write(&comp, b"something else entirely, longer than 32 bytes").unwrap();
    let err = mq::open_receiver(&spec(&a, true, false)).unwrap_err();
    assert!(matches!(err, Error::NotARing { .. }), "{err}");
}

#[test]
fn long_names_are_refused() {
    let name = "n".repeat(mq::MAX_NAME_LEN + 1);
    // The address says so before any system call; the transport's own calls say it too.
    let err = Address::parse(&format!("mq://{name}")).unwrap_err();
    assert!(matches!(err, Error::InvalidAddress { .. }), "{err}");
    assert!(matches!(mq::unlink(&name), Err(Error::InvalidName { .. })));
    let ok = "n".repeat(mq::MAX_NAME_LEN);
    assert!(Address::parse(&format!("mq://{ok}")).is_ok());
}

#[test]
fn queue_bytes_limit_is_named() {
    let _s = serial();
    let q = Queue::new("rlimit");
    let a = q.addr("capacity=8&msg_size=8192");
    // RLIMIT_MSGQUEUE is per process: lower it in a forked child only.
    fork("rlimit", || {
        let rl = libc::rlimit {
            rlim_cur: 1000,
            rlim_max: 1000,
        };
        // SAFETY: rl is a valid rlimit; lowering a limit needs no privilege.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_MSGQUEUE, &rl) }, 0);
        let err = mq::open_sender(&spec(&a, true, true)).unwrap_err();
        match &err {
            Error::KernelLimit {
                what,
                value,
                limit,
                hint,
            } => {
                assert_eq!((*what, *limit), ("queue bytes", 1000), "{err}");
                assert!(*value > 8 * 8192, "{err}");
                assert!(hint.contains("ulimit -q"), "{hint}");
            }
            other => panic!("expected KernelLimit, got {other:?}"),
        }
    })
    .expect_success(HANG);
}

#[test]
fn queue_count_limit_is_named() {
    let _s = serial();
    if privileged() {
        eprintln!("skipped: CAP_SYS_RESOURCE waives fs.mqueue.queues_max");
        return;
    }
    let qs: Vec<Queue> = (0..3).map(|_| Queue::new("count")).collect();
    let addrs: Vec<Address> = qs.iter().map(|q| q.addr("capacity=1&msg_size=8")).collect();
    // A private IPC namespace has its own queues and its own fs.mqueue sysctls, so the
    // limit can be lowered without touching anyone else's queues.
    let exit = fork("ipc-namespace", || {
        // SAFETY: unshare has no memory preconditions; the child is single-threaded.
        if unsafe { libc::unshare(libc::CLONE_NEWIPC) } != 0 {
            raw_stderr(&format!(
                "skipped: unshare(CLONE_NEWIPC): {}\n",
                std::io::Error::last_os_error()
            ));
            return;
        }
        if std::fs::write("/proc/sys/fs/mqueue/queues_max", "2").is_err() {
            raw_stderr("skipped: /proc/sys/fs/mqueue/queues_max is not writable\n");
            return;
        }
        let _a = mq::open_sender(&spec(&addrs[0], true, true)).unwrap();
        let _b = mq::open_sender(&spec(&addrs[1], true, true)).unwrap();
        let err = mq::open_sender(&spec(&addrs[2], true, true)).unwrap_err();
        match &err {
            Error::KernelLimit {
                what,
                value,
                limit,
                hint,
            } => {
                assert_eq!((*what, *value, *limit), ("queues", 3, 2), "{err}");
                assert!(err.to_string().contains(hint) && hint.contains("fs.mqueue.queues_max"));
            }
            other => panic!("expected KernelLimit, got {other:?}"),
        }
        raw_stderr("ran\n");
    })
    .wait(HANG);
    assert!(exit.success(), "{}", exit.describe());
    eprintln!("child: {}", exit.stderr.trim_end()); // "ran" or why it skipped
}
