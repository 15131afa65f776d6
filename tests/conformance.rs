//! One conformance suite for every transport (the README's "Semantics"): the same rules, written once, run
//! over the shm ring (SPSC and MPMC), `pipe://`, `fifo://`, `mq://`, `unix://` and `tcp://`
//! with real processes (the sender or the receiver runs in a forked child).
//!
//! Each rule is a function taking a [`T`]; the `conformance!` macro makes one test per
//! (transport, rule), so a failure names both. The rules:
//! - `stream`: sizes 0, 1, 2, msg_size-1 and msg_size byte for byte, then 100,000 messages of
//!   random sizes with sequence number and checksum (`IPCRING_CONFORMANCE_MESSAGES`), in
//!   order, then end-of-stream once the sender has closed;
//! - `sender_dies`: end-of-stream after the sender process is SIGKILLed, once what it sent
//!   is drained;
//! - `disconnected`: the sender gets `Disconnected` once the receiver process has gone, and
//!   is never killed by SIGPIPE (the child runs with SIGPIPE at SIG_DFL);
//! - `too_large`: msg_size + 1 is refused with nothing sent; the next message arrives;
//! - `buffer_too_small`: the message stays and is received whole afterwards;
//! - `timeouts`: non-blocking and deadline receive on an empty channel, send on a full one;
//! - `zero_copy_and_batches`: reserve/commit, send_batch, peek/release, recv_batch;
//! - `clones`: several senders / receivers work, or are refused with a typed error;
//! - `bad_addresses`: malformed addresses of the transport name the offending part.
//!
//! `nats://` (with the `nats` feature; a server per test, tests/common/nats.rs) runs the same
//! rules with its documented differences (the README's transport table): `sender_dies` ends
//! in `SenderDied`, `disconnected` becomes `stored_without_receiver` (a send with no receiver
//! is stored for the next one), and `stream` runs a tenth of the count.

mod common;

use common::chan::{Chan, T};
use common::{fork, serial, SeqChecker};
use ipcring::{Create, Error, ErrorKind, Receiver, Sender, Timeout};
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
    let end = drain_to_end(rx, f);
    assert!(matches!(end, Error::EndOfStream), "recv: {end}");
}

/// Receives until an error other than a timeout (the end), within the bound; returns it.
fn drain_to_end(rx: &mut Receiver, mut f: impl FnMut(&[u8])) -> Error {
    let start = Instant::now();
    let mut buf = vec![0u8; MSG_SIZE];
    loop {
        match rx.recv_timeout(&mut buf, Duration::from_secs(1)) {
            Ok(n) => f(&buf[..n]),
            Err(Error::TimedOut) => assert!(start.elapsed() < BOUND, "no end-of-stream within {BOUND:?}"),
            Err(e) => return e,
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
    let end = drain_to_end(rx.as_mut().unwrap(), |m| check.check_or_panic(m));
    // nats:// tells a sender that died from one that closed (its connection dropped without
    // its close marker): SenderDied where the others report end-of-stream.
    let want = if t == T::Nats {
        ErrorKind::SenderDied
    } else {
        ErrorKind::EndOfStream
    };
    assert_eq!(end.kind(), want, "{end}");
    check.assert_complete(5);
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

/// nats:// instead of `disconnected`: the server keeps the stream whether or not a receiver
/// exists, so a send with no receiver left succeeds (stored), never `Disconnected`, and the
/// next receiver gets the message.
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
}

macro_rules! conformance {
    ($($transport:ident => $t:expr),* $(,)?) => {
        $(
            mod $transport {
                use super::*;
                #[test] fn stream() { super::stream($t) }
                #[test] fn sender_dies() { super::sender_dies($t) }
                #[test] fn disconnected() { super::disconnected($t) }
                #[test] fn too_large() { super::too_large($t) }
                #[test] fn buffer_too_small() { super::buffer_too_small($t) }
                #[test] fn timeouts() { super::timeouts($t) }
                #[test] fn zero_copy_and_batches() { super::zero_copy_and_batches($t) }
                #[test] fn clones() { super::clones($t) }
                #[test] fn bad_addresses() { super::bad_addresses($t) }
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
