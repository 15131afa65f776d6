//! One conformance suite for every transport (the README's "Semantics"): the same rules, written once, run
//! over the shm ring (SPSC and MPMC), `pipe://`, `fifo://`, `mq://`, `unix://` and `tcp://`
//! with real processes (the sender or the receiver runs in a forked child).
//!
//! Each rule is a function taking a [`T`]; the `conformance!` macro makes one test per
//! (transport, rule), so a failure names both. The rules:
//! - `stream`: sizes 0, 1, 2, msg_size-1 and msg_size byte for byte, then 100,000 messages of
//!   random sizes with sequence number and checksum (`IPCRING_CONFORMANCE_MESSAGES`), in
//!   order, then end-of-stream once the sender has closed;
//! - `sender_dies`: `SenderDied` (not end-of-stream) after the sender process is SIGKILLed,
//!   once what it sent is drained; and it stays;
//! - `receiver_dies`: a sender whose receiver process was SIGKILLed gets a disconnection
//!   (`ReceiverDied` where the transport can tell: the ring and mq);
//! - `rerun`: the same pair of programs run twice on one name, receiver first and sender
//!   first, with no cleanup in between: every message, both times (transports whose name
//!   persists, and tcp);
//! - `late_receiver_waits`: a receiver opened after a run has ended waits for a sender
//!   (`TimedOut`, not end of stream), and a sender that comes then is received;
//! - `late_sender_not_disconnected`: a sender opened after the receiver of an earlier run has
//!   gone is not `Disconnected`: its send succeeds or waits;
//! - `disconnected`: the sender gets `Disconnected` once the receiver process has gone, and
//!   is never killed by SIGPIPE (the child runs with SIGPIPE at SIG_DFL);
//! - `too_large`: msg_size + 1 is refused with nothing sent; the next message arrives;
//! - `buffer_too_small`: the message stays and is received whole afterwards;
//! - `timeouts`: non-blocking and deadline receive on an empty channel, send on a full one;
//! - `zero_copy_and_batches`: reserve/commit, send_batch, peek/release, recv_batch;
//! - `clones`: several senders / receivers work, or are refused with a typed error;
//! - `bad_addresses`: malformed addresses of the transport name the offending part;
//! - `readiness_receive`, `readiness_send`: an event loop on the handle's descriptor
//!   (`AsFd`) misses no message, no room and no ending.
//!
//! `nats://` (with the `nats` feature; a server per test, tests/common/nats.rs) runs the same
//! rules with its documented differences (the README's transport table): `disconnected`
//! becomes `stored_without_receiver` (a send with no receiver is stored for the next one), and
//! `stream` runs a tenth of the count.

mod common;

use common::chan::{Chan, T};
use common::{fork, serial, SeqChecker};
use ipcring::{Create, Error, Receiver, Sender, Timeout};
use std::time::{Duration, Instant};

const MSG_SIZE: usize = 256;
const BOUND: Duration = Duration::from_secs(120);

fn messages() -> u64 {
    common::env_u64("IPCRING_CONFORMANCE_MESSAGES", 100_000)
}

/// nats:// moves some thousands of messages a second (one acknowledged publish each): its
/// stream rule runs a tenth of the others' count.
fn messages_for(t: T) -> u64 {
    if t == T::Nats {
        (messages() / 10).max(1)
    } else {
        messages()
    }
}

/// The boundary messages: sizes 0, 1, 2, msg_size-1, msg_size with recognisable bytes.
fn boundary(k: usize) -> Vec<u8> {
    let len = [0, 1, 2, MSG_SIZE - 1, MSG_SIZE][k];
    (0..len).map(|i| (i * 7 + k) as u8).collect()
}

fn expect_ok(label: &str, child: common::Forked) {
    let exit = child.wait(BOUND);
    assert!(exit.success(), "{label}: {}", exit.describe());
}

/// Receives until `f` has seen every message and then end-of-stream, within the bound.
fn drain_to_eos(rx: &mut Receiver, f: impl FnMut(&[u8])) {
    drain_to(rx, f, "end of stream", |e| matches!(e, Error::EndOfStream))
}

/// Receives until `f` has seen every message and then the ending `is_end` accepts.
fn drain_to(rx: &mut Receiver, mut f: impl FnMut(&[u8]), what: &str, is_end: impl Fn(&Error) -> bool) {
    let start = Instant::now();
    let mut buf = vec![0u8; MSG_SIZE];
    loop {
        match rx.recv_timeout(&mut buf, Duration::from_secs(1)) {
            Ok(n) => f(&buf[..n]),
            Err(e) if is_end(&e) => return,
            Err(e @ (Error::EndOfStream | Error::SenderDied)) => panic!("recv: {e} (expected {what})"),
            Err(Error::TimedOut) => assert!(start.elapsed() < BOUND, "no end-of-stream within {BOUND:?}"),
            Err(e) => panic!("recv: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------------------

fn stream(t: T) {
    let _s = serial();
    let ch = Chan::new(t, "stream");
    let (rx, tx) = ch.receiver();
    let mut rx = Some(rx);
    let n = messages_for(t);
    let child = fork("sender", || {
        drop(rx.take()); // this process's copy only
        let mut tx = ch.sender(tx);
        for k in 0..5 {
            tx.send(&boundary(k)).expect("send boundary");
        }
        let mut buf = vec![0u8; MSG_SIZE];
        for seq in 0..n {
            let len = common::encode(0, seq, MSG_SIZE - common::OVERHEAD, &mut buf);
            tx.send(&buf[..len]).expect("send");
        }
    });
    let mut got = 0usize;
    let mut check = SeqChecker::new(1, Some(MSG_SIZE - common::OVERHEAD));
    drain_to_eos(rx.as_mut().unwrap(), |m| {
        if got < 5 {
            assert_eq!(
                m,
                &boundary(got)[..],
                "boundary message {got} (size {})",
                boundary(got).len()
            );
        } else {
            check.check_or_panic(m);
        }
        got += 1;
    });
    check.assert_complete(n);
    expect_ok("sender", child);
}

fn sender_dies(t: T) {
    let _s = serial();
    let ch = Chan::new(t, "dies");
    let (rx, tx) = ch.receiver();
    let mut rx = Some(rx);
    let child = fork("sender", || {
        drop(rx.take()); // this process's copy only
        let mut tx = ch.sender(tx);
        for seq in 0..5 {
            tx.send(&common::encode_vec(0, seq, 64)).expect("send");
        }
        // SAFETY: raising a signal at ourselves; SIGKILL ends this child at once.
        unsafe { libc::raise(libc::SIGKILL) };
    });
    let mut check = SeqChecker::new(1, Some(64));
    let rx = rx.as_mut().unwrap();
    drain_to(
        rx,
        |m| check.check_or_panic(m),
        "SenderDied",
        |e| matches!(e, Error::SenderDied),
    );
    check.assert_complete(5);
    // It stays (until a sender attaches again), and C and the command see it too. (nats://
    // reports an ending once and then looks again: the README's transport table.)
    if t != T::Nats {
        let again = rx.recv_vec_timeout(Duration::from_millis(10)).unwrap_err();
        assert!(matches!(again, Error::SenderDied), "{again}");
        assert_eq!(again.kind(), ipcring::ErrorKind::SenderDied);
    }
    let exit = child.wait(BOUND);
    assert!(
        libc::WIFSIGNALED(exit.status) && libc::WTERMSIG(exit.status) == libc::SIGKILL,
        "{}",
        exit.describe()
    );
}

fn disconnected(t: T) {
    if t == T::Nats {
        return stored_without_receiver(t);
    }
    let _s = serial();
    let ch = Chan::new(t, "disc");
    let (rx, tx) = ch.receiver();
    let mut rx = Some(rx);
    let child = fork("sender", || {
        // A SIGPIPE must not happen; with the default action it would kill this child.
        // SAFETY: setting a signal disposition in this single-threaded forked child.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        drop(rx.take()); // this process's copy only
        let mut tx = ch.sender(tx);
        tx.send(b"hello").expect("send hello");
        let start = Instant::now();
        loop {
            match tx.send_timeout(b"more", Duration::from_millis(100)) {
                Err(Error::Disconnected) => break,
                Ok(()) | Err(Error::TimedOut) => {}
                Err(e) => panic!("send: {e} (expected Disconnected)"),
            }
            assert!(start.elapsed() < BOUND, "no Disconnected within {BOUND:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
        // It stays disconnected.
        assert!(matches!(tx.try_send(b"again"), Err(Error::Disconnected)));
    });
    let first = rx.as_mut().unwrap().recv_vec_timeout(BOUND).expect("first message");
    assert_eq!(first, b"hello");
    drop(rx.take()); // the only receiver left: the child's sends must now fail
    expect_ok("sender", child);
}

fn receiver_dies(t: T) {
    if t == T::Pipe {
        return; // an anonymous pipe's receiver is inherited, never opened by a child alone
    }
    if t == T::Nats {
        // nats:// never reports `Disconnected`: a send with no receiver is stored for the next
        // one (the README's transport table); `stored_without_receiver` checks that instead.
        return;
    }
    let _s = serial();
    let ch = Chan::new(t, "rdies");
    let addr = ch.addr.clone();
    // The receiver process opens (creates, listens) and dies after one message.
    let child = fork("receiver", move || {
        let mut rx = Receiver::open(&addr, Create::IfMissing).expect("receiver");
        let m = rx.recv_vec_timeout(BOUND).expect("first message");
        assert_eq!(m, b"hello");
        // SAFETY: raising a signal at ourselves; SIGKILL ends this child at once.
        unsafe { libc::raise(libc::SIGKILL) };
    });
    let mut tx = Sender::open(&ch.addr, Create::IfMissing).unwrap_or_else(|e| panic!("Sender::open({}): {e}", ch.addr));
    tx.send_timeout(b"hello", BOUND).expect("send hello");
    let start = Instant::now();
    let err = loop {
        match tx.send_timeout(b"more", Duration::from_millis(100)) {
            Ok(()) | Err(Error::TimedOut) => {}
            Err(e) => break e,
        }
        assert!(start.elapsed() < BOUND, "no disconnection within {BOUND:?}");
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(err.is_disconnected(), "{err} (expected a disconnection)");
    assert_eq!(err.kind(), ipcring::ErrorKind::Disconnected);
    if matches!(t, T::ShmSpsc | T::ShmMpmc | T::Mq) {
        assert!(matches!(err, Error::ReceiverDied), "{err} (expected ReceiverDied)");
    }
    let exit = child.wait(BOUND);
    assert!(libc::WIFSIGNALED(exit.status), "{}", exit.describe());
}

/// A sender process that opens `addr` (creating it if missing) and sends `n` messages of
/// producer `p`, then closes cleanly.
fn sender_process(addr: &str, p: u32, n: u64) -> common::Forked {
    let addr = addr.to_string();
    fork("sender", move || {
        let mut tx = Sender::open(&addr, Create::IfMissing).expect("sender");
        for seq in 0..n {
            tx.send_timeout(&common::encode_vec(p, seq, 64), BOUND).expect("send");
        }
    })
}

fn rerun(t: T) {
    if t == T::Pipe {
        return; // no name
    }
    let _s = serial();
    let ch = Chan::new(t, "rerun");
    const N: u64 = 20;
    for receiver_first in [true, false, true, false] {
        let (mut rx, child) = if receiver_first {
            let (rx, _) = ch.receiver();
            (rx, sender_process(&ch.addr, 0, N))
        } else {
            let child = sender_process(&ch.addr, 0, N);
            std::thread::sleep(Duration::from_millis(100));
            (ch.receiver().0, child)
        };
        let mut check = SeqChecker::new(1, Some(64));
        drain_to_eos(&mut rx, |m| check.check_or_panic(m));
        check.assert_complete(N);
        expect_ok("sender", child);
    }
}

fn late_receiver_waits(t: T) {
    if t == T::Pipe {
        return;
    }
    let _s = serial();
    let ch = Chan::new(t, "late-rx");
    {
        let (mut rx, _) = ch.receiver();
        let child = sender_process(&ch.addr, 0, 3);
        let mut check = SeqChecker::new(1, Some(64));
        drain_to_eos(&mut rx, |m| check.check_or_panic(m));
        expect_ok("sender", child);
    }
    // The run is over (its sender closed, everything drained). A new receiver waits.
    let (mut rx, _) = ch.receiver();
    let r = rx.recv_vec_timeout(Duration::from_millis(200));
    assert!(
        matches!(r, Err(Error::TimedOut)),
        "{r:?} (expected to wait for a sender)"
    );
    let child = sender_process(&ch.addr, 0, 3);
    let mut check = SeqChecker::new(1, Some(64));
    drain_to_eos(&mut rx, |m| check.check_or_panic(m));
    check.assert_complete(3);
    expect_ok("sender", child);
}

fn late_sender_not_disconnected(t: T) {
    if t == T::Pipe {
        return;
    }
    let _s = serial();
    let ch = Chan::new(t, "late-tx");
    {
        let (mut rx, _) = ch.receiver();
        let child = sender_process(&ch.addr, 0, 3);
        drain_to_eos(&mut rx, |_| {});
        expect_ok("sender", child);
    }
    // The receiver has gone. A new sender is not told "disconnected": nobody it concerns
    // has left; it sends (ring, mq: room) or waits for a receiver (fifo, sockets).
    let mut tx = Sender::open(&ch.addr, Create::IfMissing).expect("late sender");
    match tx.send_timeout(b"late", Duration::from_millis(200)) {
        Ok(()) | Err(Error::TimedOut | Error::NoListener { .. }) => {}
        Err(e) => panic!("late sender: {e}"),
    }
}

/// nats:// in place of `disconnected`: a send with no receiver is stored for the next one
/// (the server keeps it; nothing tells a sender that no receiver is left).
fn stored_without_receiver(t: T) {
    let _s = serial();
    let ch = Chan::new(t, "disc");
    let (rx, _) = ch.receiver();
    let mut rx = Some(rx);
    let child = fork("sender", || {
        drop(rx.take());
        let mut tx = ch.sender(None);
        tx.send(b"hello").expect("send hello");
        // Wait for the parent's receiver to have gone (it took "hello" and closed).
        std::thread::sleep(Duration::from_millis(500));
        tx.send_timeout(b"more", BOUND)
            .expect("a send with no receiver is stored");
    });
    let first = rx.as_mut().unwrap().recv_vec_timeout(BOUND).expect("first message");
    assert_eq!(first, b"hello");
    drop(rx.take());
    expect_ok("sender", child);
    let (mut rx, _) = ch.receiver();
    assert_eq!(rx.recv_vec_timeout(BOUND).expect("the stored message"), b"more");
}

fn too_large(t: T) {
    let _s = serial();
    let ch = Chan::new(t, "large");
    let (rx, tx) = ch.receiver();
    let mut rx = Some(rx);
    let child = fork("sender", || {
        drop(rx.take()); // this process's copy only
        let mut tx = ch.sender(tx);
        assert_eq!(tx.max_msg_size(), MSG_SIZE);
        let big = vec![1u8; MSG_SIZE + 1];
        match tx.send(&big) {
            Err(Error::TooLarge { len, max }) => assert_eq!((len, max), (MSG_SIZE + 1, MSG_SIZE)),
            other => panic!("send of msg_size+1: {other:?}"),
        }
        assert!(matches!(tx.try_send(&big), Err(Error::TooLarge { .. })));
        tx.send(b"after").expect("send after");
    });
    assert_eq!(rx.as_mut().unwrap().recv_vec_timeout(BOUND).expect("recv"), b"after");
    drain_to_eos(rx.as_mut().unwrap(), |m| panic!("unexpected message {m:?}"));
    expect_ok("sender", child);
}

fn buffer_too_small(t: T) {
    let _s = serial();
    let ch = Chan::new(t, "small");
    let (rx, tx) = ch.receiver();
    let mut rx = Some(rx);
    let child = fork("sender", || {
        drop(rx.take()); // this process's copy only
        let mut tx = ch.sender(tx);
        tx.send(&[9u8; 100]).expect("send");
        tx.send(b"next").expect("send");
    });
    let rx = rx.as_mut().unwrap();
    let mut small = [0u8; 10];
    let start = Instant::now();
    loop {
        match rx.recv_timeout(&mut small, Duration::from_secs(1)) {
            Err(Error::BufferTooSmall { needed, capacity }) => {
                assert_eq!((needed, capacity), (100, 10));
                break;
            }
            Err(Error::TimedOut) if start.elapsed() < BOUND => {}
            other => panic!("recv into 10 bytes: {other:?}"),
        }
    }
    // Asked again, the same answer: the message is still first.
    assert!(matches!(
        rx.recv_timeout(&mut small, BOUND),
        Err(Error::BufferTooSmall { needed: 100, .. })
    ));
    assert_eq!(rx.recv_vec_timeout(BOUND).expect("recv whole"), vec![9u8; 100]);
    assert_eq!(rx.recv_vec_timeout(BOUND).expect("recv next"), b"next");
    expect_ok("sender", child);
}

fn timeouts(t: T) {
    let _s = serial();
    let ch = Chan::new(t, "timeout");
    let (mut rx, tx) = ch.receiver();
    // Empty: non-blocking and deadline receives.
    assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
    let start = Instant::now();
    assert!(matches!(
        rx.recv_vec_timeout(Duration::from_millis(50)),
        Err(Error::TimedOut)
    ));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(50), "returned after {waited:?}");
    assert!(waited < Duration::from_secs(30), "hung for {waited:?}");
    // Full: a child fills the channel while nobody reads, then checks both send modes and
    // reports how many it sent through a pipe; the parent drains concurrently with the
    // child's exit (a stream sender may still be delivering the tail of its last frame).
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let child = fork("sender", || {
        let mut tx = ch.sender(tx);
        let msg = [5u8; MSG_SIZE];
        // The first send waits for the receiver where the transport connects lazily.
        tx.send_timeout(&msg, BOUND).expect("first send");
        let mut sent = 1u64;
        loop {
            match tx.try_send(&msg) {
                Ok(()) => sent += 1,
                Err(Error::WouldBlock) => break,
                Err(e) => panic!("try_send #{sent}: {e}"),
            }
            assert!(sent < 10_000_000, "never full after {sent} messages");
        }
        let start = Instant::now();
        match tx.send_timeout(&msg, Duration::from_millis(50)) {
            Err(Error::TimedOut) => {}
            other => panic!("send on a full channel: {other:?}"),
        }
        assert!(start.elapsed() >= Duration::from_millis(50));
        // SAFETY: writing 8 bytes from a valid buffer to our copy of the pipe.
        assert_eq!(unsafe { libc::write(fds[1], sent.to_le_bytes().as_ptr().cast(), 8) }, 8);
    });
    let mut count = [0u8; 8];
    // SAFETY: closing our copy of the write end; reading 8 bytes into a valid buffer (a
    // child that failed closes its end and the read returns 0).
    let n = unsafe {
        libc::close(fds[1]);
        let n = libc::read(fds[0], count.as_mut_ptr().cast(), 8);
        libc::close(fds[0]);
        n
    };
    if n != 8 {
        let exit = child.wait(BOUND);
        panic!("the child did not report its count: {}", exit.describe());
    }
    let sent = u64::from_le_bytes(count);
    // Everything the child sent is there, whole, then end-of-stream.
    let mut got = 0u64;
    drain_to_eos(&mut rx, |m| {
        assert_eq!(m, &[5u8; MSG_SIZE][..]);
        got += 1;
    });
    assert_eq!(got, sent);
    expect_ok("sender", child);
}

fn zero_copy_and_batches(t: T) {
    let _s = serial();
    let ch = Chan::new(t, "zc");
    let (rx, tx) = ch.receiver();
    let mut rx = Some(rx);
    let child = fork("sender", || {
        drop(rx.take()); // this process's copy only
        let mut tx = ch.sender(tx);
        let mut slot = tx.reserve(Timeout::Forever).expect("reserve");
        assert_eq!(slot.buf().len(), MSG_SIZE);
        slot.buf()[..4].copy_from_slice(b"slot");
        slot.commit(4).expect("commit");
        let slot = tx.reserve(Timeout::Forever).expect("reserve");
        drop(slot); // cancelled: nothing sent
        let batch: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; i as usize]).collect();
        let mut sent = 0;
        while sent < batch.len() {
            sent += tx.send_batch(&batch[sent..], Timeout::Forever).expect("send_batch");
        }
        let too_big = [vec![0u8; 1], vec![0u8; MSG_SIZE + 1]];
        assert!(matches!(
            tx.send_batch(&too_big, Timeout::Forever),
            Err(Error::TooLarge { .. })
        ));
    });
    let rx = rx.as_mut().unwrap();
    {
        let peeked = rx.peek(Timeout::after(BOUND)).expect("peek");
        assert_eq!(&*peeked, b"slot");
        // Not released: on every transport but an MPMC ring, it is still first.
        drop(peeked);
    }
    if t != T::ShmMpmc {
        let again = rx.peek(Timeout::after(BOUND)).expect("peek again");
        assert_eq!(&*again, b"slot");
        again.release();
    }
    let mut got: Vec<Vec<u8>> = Vec::new();
    let start = Instant::now();
    while got.len() < 20 {
        match rx.recv_batch(7, Timeout::after(Duration::from_secs(1)), |m| got.push(m.to_vec())) {
            Ok(n) => assert!((1..=7).contains(&n)),
            Err(Error::TimedOut) => assert!(start.elapsed() < BOUND, "batch stalled"),
            Err(e) => panic!("recv_batch: {e}"),
        }
    }
    let want: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; i as usize]).collect();
    assert_eq!(got, want);
    drain_to_eos(rx, |m| panic!("unexpected message {m:?} (the cancelled slot?)"));
    expect_ok("sender", child);
}

fn clones(t: T) {
    let _s = serial();
    let ch = Chan::new(t, "clone");
    let (mut rx, tx) = ch.receiver();
    // Several receivers: where a second one would split or steal parts of messages, a typed
    // refusal; otherwise a working receiver.
    match (t, rx.try_clone()) {
        (T::ShmSpsc, Err(Error::Busy { .. })) => {}
        (T::ShmMpmc | T::Mq | T::Nats, Ok(_)) => {}
        (T::Pipe | T::Fifo | T::Unix | T::Tcp, Err(Error::Unsupported { .. })) => {}
        (t, other) => panic!("{t:?}: receiver try_clone gave {other:?}"),
    }
    if t == T::ShmSpsc {
        // One sender at a time: a second open or a clone is Busy.
        let s1 = Sender::open(&ch.addr, Create::No).expect("sender");
        assert!(matches!(Sender::open(&ch.addr, Create::No), Err(Error::Busy { .. })));
        assert!(matches!(s1.try_clone(), Err(Error::Busy { .. })));
        return;
    }
    // Several senders, each in its own process: every message once, FIFO per sender. The
    // parent holds a sender of its own (which has sent one "hold" message, so that it is
    // connected on the socket transports) until all 2000 are in: otherwise one child could
    // come and go before the other arrives, and the receiver would rightly see the end of
    // the stream in between.
    let mut hold = match &tx {
        Some(tx) => tx.try_clone().expect("clone"),
        None => Sender::open(&ch.addr, Create::No).expect("hold sender"),
    };
    hold.send(b"hold").expect("send hold");
    let children: Vec<_> = (0..2u32)
        .map(|p| {
            let tx = tx.as_ref().map(|tx| tx.try_clone().expect("clone the pair's sender"));
            let ch = &ch;
            fork("sender", move || {
                let mut tx = ch.sender(tx);
                for seq in 0..1000 {
                    tx.send(&common::encode_vec(p, seq, 64)).expect("send");
                }
            })
        })
        .collect();
    drop(tx);
    let mut check = SeqChecker::new(2, Some(64));
    let mut holds = 0;
    let mut take = |m: &[u8]| match m {
        b"hold" => holds += 1,
        m => check.check_or_panic(m),
    };
    let start = Instant::now();
    let mut got = 0;
    while got < 2000 {
        match rx.recv_vec_timeout(Duration::from_secs(1)) {
            Ok(m) => {
                got += (m != b"hold") as usize;
                take(&m)
            }
            Err(Error::TimedOut) => assert!(start.elapsed() < BOUND, "stalled at {got}"),
            Err(e) => panic!("recv after {got} messages: {e}"),
        }
    }
    drop(hold);
    drain_to_eos(&mut rx, &mut take);
    assert_eq!(holds, 1);
    check.assert_complete(1000);
    for c in children {
        expect_ok("sender", c);
    }
}

fn bad_addresses(t: T) {
    let tmp = std::env::temp_dir();
    let (bad, part): (String, &str) = match t {
        T::ShmSpsc => ("shm://a/b".into(), "a/b"),
        T::ShmMpmc => ("shm://x?mode=mpcm".into(), "mode=mpcm"),
        T::Pipe => ("pipe://name".into(), "name"),
        T::Fifo => ("fifo://relative".into(), "relative"),
        T::Mq => ("mq://".into(), "mq://"),
        T::Unix => ("unix://rel.sock".into(), "rel.sock"),
        T::Tcp => ("tcp://127.0.0.1".into(), "127.0.0.1"),
        T::Nats => ("nats://127.0.0.1:4222/a.b".into(), "a.b"),
    };
    for r in [
        Receiver::open(&bad, Create::IfMissing).map(|_| ()),
        Sender::open(&bad, Create::IfMissing).map(|_| ()),
    ] {
        match r {
            Err(Error::InvalidAddress { part: p, .. }) => assert_eq!(p, part, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // Ring-only options on a fallback name the option.
    let ring_only = match t {
        T::ShmSpsc | T::ShmMpmc => return,
        T::Pipe => "pipe://?mode=mpmc".to_string(),
        T::Fifo => format!("fifo://{}/x.fifo?wake=sem", tmp.display()),
        T::Mq => "mq://x?mode=mpmc".to_string(),
        T::Unix => format!("unix://{}/x.sock?capacity=8", tmp.display()),
        T::Tcp => "tcp://127.0.0.1:1?mode=spsc".to_string(),
        T::Nats => "nats://127.0.0.1:1/x?wake=sem".to_string(),
    };
    let r = if t == T::Pipe {
        ipcring::pair_at(&ring_only).map(|_| ())
    } else {
        Receiver::open(&ring_only, Create::IfMissing).map(|_| ())
    };
    assert!(matches!(r, Err(Error::InvalidAddress { .. })), "{ring_only}: {r:?}");
    // `spin` too: a fallback's blocking calls wait in the kernel, with no spin to turn off.
    let spin_off = match t {
        T::ShmSpsc | T::ShmMpmc => unreachable!(),
        T::Pipe => "pipe://?spin=off".to_string(),
        T::Fifo => format!("fifo://{}/x.fifo?spin=off", tmp.display()),
        T::Mq => "mq://x?spin=off".to_string(),
        T::Unix => format!("unix://{}/x.sock?spin=off", tmp.display()),
        T::Tcp => "tcp://127.0.0.1:1?spin=off".to_string(),
        T::Nats => "nats://127.0.0.1:1/x?spin=off".to_string(),
    };
    let r = if t == T::Pipe {
        ipcring::pair_at(&spin_off).map(|_| ())
    } else {
        Receiver::open(&spin_off, Create::IfMissing).map(|_| ())
    };
    match r {
        Err(Error::InvalidAddress { part, .. }) => assert_eq!(part, "spin", "{spin_off}"),
        other => panic!("{spin_off}: {other:?}"),
    }
}

/// Whether `fd` reads as ready within `bound`.
fn readable(fd: std::os::fd::RawFd, bound: Duration) -> bool {
    let mut p = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(p.as_mut_ptr(), 1, bound.as_millis() as i32) };
    assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
    n == 1
}

/// Readiness, receiving side (the README's "Event loops"): an event loop that calls
/// `try_recv` and waits on the handle's descriptor after each `WouldBlock` gets every message
/// of a sender process that pauses now and then (readiness is never missed), then end of
/// stream; the descriptor is never ready for ever while the calls say `WouldBlock`.
fn readiness_receive(t: T) {
    use std::os::fd::AsRawFd;
    let _s = serial();
    let ch = Chan::new(t, "ready-rx");
    let (rx, tx) = ch.receiver();
    let mut rx = Some(rx);
    const N: u64 = 2000;
    let child = fork("sender", || {
        drop(rx.take());
        let mut tx = ch.sender(tx);
        for seq in 0..N {
            tx.send_with_timeout(&common::encode_vec(0, seq, 64), Timeout::after(BOUND))
                .expect("send");
            if seq % 250 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    });
    let rx = rx.as_mut().unwrap();
    let fd = rx.as_raw_fd();
    let mut check = SeqChecker::new(1, Some(64));
    let (mut got, mut waits) = (0u64, 0u64);
    let start = Instant::now();
    loop {
        match rx.try_recv_vec() {
            Ok(m) => {
                check.check_or_panic(&m);
                got += 1;
            }
            Err(Error::WouldBlock) => {
                assert!(
                    readable(fd, BOUND),
                    "{t:?}: not ready within {BOUND:?} after {got} messages"
                );
                waits += 1;
            }
            Err(Error::EndOfStream) => break,
            Err(e) => panic!("{t:?}: {e} after {got}"),
        }
        assert!(start.elapsed() < BOUND, "{t:?}: no end of stream within {BOUND:?}");
    }
    check.assert_complete(N);
    expect_ok("sender", child);
    println!("{t:?}: {N} messages through the descriptor, {waits} waits");
}

/// Readiness, sending side: a sender process that fills the channel, then waits on its
/// descriptor after each `WouldBlock`, gets everything through to a slow receiver, and its
/// descriptor becomes ready (with `Disconnected`) once the receiver has gone.
fn readiness_send(t: T) {
    use std::os::fd::AsRawFd;
    let _s = serial();
    let ch = Chan::new(t, "ready-tx");
    let (rx, tx) = ch.receiver();
    let mut rx = Some(rx);
    const N: u64 = 3000;
    let child = fork("sender", || {
        drop(rx.take()); // this process's copy only
        let mut tx = ch.sender(tx);
        let fd = tx.as_raw_fd();
        let start = Instant::now();
        let (mut seq, mut blocked) = (0, 0u64);
        while seq < N {
            match tx.try_send(&common::encode_vec(0, seq, 64)) {
                Ok(()) => seq += 1,
                Err(Error::WouldBlock) => {
                    assert!(readable(fd, BOUND), "{t:?}: no room within {BOUND:?} at {seq}");
                    blocked += 1;
                }
                Err(e) => panic!("{t:?}: {e} at {seq}"),
            }
            assert!(
                start.elapsed() < BOUND,
                "{t:?}: {seq} of {N} sent in {BOUND:?}, {blocked} WouldBlock"
            );
        }
        // nats:// never reports `Disconnected` (a send with no receiver is stored).
        if t != T::Nats {
            loop {
                assert!(
                    readable(fd, BOUND),
                    "{t:?}: the receiver's exit did not make the sender ready"
                );
                match tx.try_send(b"after") {
                    Err(Error::Disconnected) => break,
                    Ok(()) | Err(Error::WouldBlock) => {}
                    Err(e) => panic!("{t:?}: {e} (expected Disconnected)"),
                }
                assert!(start.elapsed() < BOUND, "{t:?}: no Disconnected within {BOUND:?}");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    // The receiver: slow now and then, then gone.
    let mut rx = rx.take().unwrap();
    let mut check = SeqChecker::new(1, Some(64));
    for k in 0..N {
        let m = rx.recv_vec_timeout(BOUND).expect("recv");
        check.check_or_panic(&m);
        if k % 500 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    check.assert_complete(N);
    drop(rx);
    expect_ok("sender", child);
}

macro_rules! conformance {
    ($($transport:ident => $t:expr),* $(,)?) => {
        $(
            mod $transport {
                use super::*;
                #[test] fn stream() { super::stream($t) }
                #[test] fn sender_dies() { super::sender_dies($t) }
                #[test] fn disconnected() { super::disconnected($t) }
                #[test] fn receiver_dies() { super::receiver_dies($t) }
                #[test] fn rerun() { super::rerun($t) }
                #[test] fn late_receiver_waits() { super::late_receiver_waits($t) }
                #[test] fn late_sender_not_disconnected() { super::late_sender_not_disconnected($t) }
                #[test] fn too_large() { super::too_large($t) }
                #[test] fn buffer_too_small() { super::buffer_too_small($t) }
                #[test] fn timeouts() { super::timeouts($t) }
                #[test] fn zero_copy_and_batches() { super::zero_copy_and_batches($t) }
                #[test] fn clones() { super::clones($t) }
                #[test] fn bad_addresses() { super::bad_addresses($t) }
                #[test] fn readiness_receive() { super::readiness_receive($t) }
                #[test] fn readiness_send() { super::readiness_send($t) }
            }
        )*
    };
}

conformance! {
    shm_spsc => T::ShmSpsc,
    shm_mpmc => T::ShmMpmc,
    pipe => T::Pipe,
    fifo => T::Fifo,
    mq => T::Mq,
    unix => T::Unix,
    tcp => T::Tcp,
}

#[cfg(feature = "nats")]
conformance! {
    nats => T::Nats,
}
