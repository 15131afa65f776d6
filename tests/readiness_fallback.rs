//! The readiness descriptor of every fallback transport's ends (`MsgSender::fd`,
//! `MsgReceiver::fd`, what the channel's `AsFd` hands out), between real processes:
//!
//! - a receiver's descriptor is not readable on an empty channel, becomes readable after a
//!   peer process sends, stays readable while messages remain, is not readable once a
//!   non-blocking receive returned `WouldBlock`, and is readable at end of stream;
//! - a sender's descriptor is readable while there is room, not readable when the channel is
//!   full, readable again once the receiver (another process) takes messages, and readable
//!   once the receiver has gone (the send is then `Disconnected`);
//! - a child sends checked messages with pauses while the parent waits with `poll(2)` on the
//!   descriptor and receives without blocking: every message, in order.
//!
//! Spurious readiness is allowed by the contract: where an end polls (a POSIX queue's
//! peers, a lazy sender looking for its receiver: a 20 ms timer), a readable descriptor may
//! meet `WouldBlock`, and the "not readable" checks accept a few such ticks. Missed
//! readiness never is: every wait below has only a generous hang bound.

// It drives the transports' ends (building blocks) directly: only in the test build.
#![cfg(ipcring_test)]

mod common;

use common::*;
use ipcring::address::Address;
use ipcring::transport::{self, MsgReceiver, MsgSender};
use ipcring::{Error, Timeout};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

const MSG_SIZE: usize = 256;
const BOUND: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    Pipe,
    Fifo,
    Mq,
    Unix,
    Tcp,
}

/// A channel of one fallback transport, removed on drop.
struct Ch {
    t: T,
    addr: String,
}

impl Ch {
    fn new(t: T, tag: &str) -> Ch {
        let name = unique_name(tag);
        let tmp = std::env::temp_dir();
        let q = format!("msg_size={MSG_SIZE}");
        let addr = match t {
            T::Pipe => format!("pipe://?{q}"),
            T::Fifo => format!("fifo://{}/{name}.fifo?{q}", tmp.display()),
            T::Mq => format!("mq://{name}?capacity=8&{q}"),
            T::Unix => format!("unix://{}/{name}.sock?{q}", tmp.display()),
            T::Tcp => format!("tcp://127.0.0.1:{}?{q}", chan::free_tcp_port()),
        };
        Ch { t, addr }
    }

    fn ops(&self) -> &'static transport::Ops {
        let a = Address::parse(&self.addr).unwrap();
        transport::ops(a.transport().scheme()).expect("a fallback transport")
    }

    /// The receiving end, creating the channel (and for a pipe, the sender too).
    fn receiver(&self) -> (Box<dyn MsgReceiver>, Option<Box<dyn MsgSender>>) {
        let a = Address::parse(&self.addr).unwrap();
        let spec = a.open_spec(true, false);
        if self.t == T::Pipe {
            let (tx, rx) = (self.ops().pair.unwrap())(&spec).unwrap();
            (rx, Some(tx))
        } else {
            let rx = (self.ops().open_receiver.unwrap())(&spec).unwrap_or_else(|e| panic!("{}: {e}", self.addr));
            (rx, None)
        }
    }

    /// A sender: the inherited end of a pipe, or a new one by address.
    fn sender(&self, inherited: Option<Box<dyn MsgSender>>) -> Box<dyn MsgSender> {
        if let Some(tx) = inherited {
            return tx;
        }
        let a = Address::parse(&self.addr).unwrap();
        (self.ops().open_sender.unwrap())(&a.open_spec(true, false)).unwrap_or_else(|e| panic!("{}: {e}", self.addr))
    }

    /// Whether this end may tick spuriously (polls for something the kernel does not signal).
    fn rx_polled(&self) -> bool {
        self.t == T::Mq
    }
}

impl Drop for Ch {
    fn drop(&mut self) {
        if !matches!(self.t, T::Pipe | T::Tcp) {
            let _ = ipcring::unlink(&self.addr);
        }
    }
}

/// Whether `fd` is readable within `ms` milliseconds (0: now).
fn readable(fd: BorrowedFd<'_>, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: p is a valid pollfd.
        let rc = unsafe { libc::poll(&mut p, 1, ms) };
        if rc < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        assert!(rc >= 0, "poll: {}", std::io::Error::last_os_error());
        assert_eq!(p.revents & libc::POLLNVAL, 0, "the descriptor is not open");
        return rc > 0 && p.revents & libc::POLLIN != 0;
    }
}

/// Waits (with the hang bound) for `fd` to be readable.
fn must_become_readable(fd: BorrowedFd<'_>, what: &str) {
    assert!(
        readable(fd, BOUND.as_millis() as i32),
        "{what}: the descriptor did not become readable within {BOUND:?} (missed readiness)"
    );
}

/// The receiver's descriptor is not readable now, after its receives said `WouldBlock`; a
/// polled end may tick spuriously (each tick must then be `WouldBlock`).
fn assert_rx_quiet(ch: &Ch, rx: &mut dyn MsgReceiver, what: &str) {
    let mut buf = vec![0u8; MSG_SIZE];
    for _ in 0..5 {
        match rx.recv(&mut buf, Timeout::NonBlocking) {
            Err(Error::WouldBlock) => {}
            other => panic!("{what}: expected WouldBlock, got {other:?}"),
        }
        if !readable(rx.fd(), 0) {
            return;
        }
        assert!(
            ch.rx_polled(),
            "{what}: {:?} receiver readable on an empty channel",
            ch.t
        );
    }
    panic!("{what}: receiver readable on an empty channel, again and again");
}

fn msg(seq: u64) -> Vec<u8> {
    encode_vec(0, seq, MSG_SIZE - OVERHEAD)
}

fn check(seq: u64, got: &[u8]) {
    let (p, s) = decode(got, Some(MSG_SIZE - OVERHEAD)).unwrap_or_else(|e| panic!("message #{seq}: {e}"));
    assert_eq!((p, s), (0, seq), "message out of order (lost or duplicated)");
}

fn recv_now(rx: &mut dyn MsgReceiver) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; MSG_SIZE];
    let n = rx.recv(&mut buf, Timeout::NonBlocking)?;
    buf.truncate(n);
    Ok(buf)
}

/// The next message, once the descriptor said one may be there. Readiness may be spurious:
/// a socket receiver's listener is readable as soon as a sender connects, before its hello
/// and message have come, and a polled end ticks; `WouldBlock` then means "wait again".
fn recv_when_ready(rx: &mut dyn MsgReceiver, what: &str) -> Vec<u8> {
    let start = Instant::now();
    loop {
        match recv_now(rx) {
            Err(Error::WouldBlock) if start.elapsed() < BOUND => must_become_readable(rx.fd(), what),
            r => return r.unwrap_or_else(|e| panic!("{what}: {e:?}")),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The receiver
// ---------------------------------------------------------------------------------------

fn receiver_rules(t: T) {
    let _g = serial();
    let ch = Ch::new(t, "rdy-rx");
    let (mut rx, mut inh) = ch.receiver();
    let (go, done) = (Pipe::new(), Pipe::new());
    let inh_ref = &mut inh;
    let child = fork("sender", || {
        let mut tx = ch.sender(inh_ref.take());
        let mut b = [0u8; 1];
        assert!(go.read_exact(&mut b, BOUND));
        tx.send(&msg(0), Timeout::Forever).unwrap();
        done.write(b"a");
        assert!(go.read_exact(&mut b, BOUND));
        for seq in 1..4 {
            tx.send(&msg(seq), Timeout::Forever).unwrap();
        }
        done.write(b"b");
        assert!(go.read_exact(&mut b, BOUND));
        drop(tx);
    });
    drop(inh.take());
    let what = format!("{t:?} receiver");

    // Empty: not readable (asked before anything was received, then after a WouldBlock).
    assert!(
        !readable(rx.fd(), 0) || ch.rx_polled(),
        "{what}: readable on an empty channel"
    );
    assert_rx_quiet(&ch, &mut *rx, &format!("{what}, empty"));

    // One message from the child: readable, then quiet again once it is taken.
    go.write(b"1");
    must_become_readable(rx.fd(), &format!("{what}, one message sent"));
    check(0, &recv_when_ready(&mut *rx, &what));
    assert_rx_quiet(&ch, &mut *rx, &format!("{what}, drained"));

    // Three: readable while any remains.
    go.write(b"2");
    let mut b = [0u8; 1];
    assert!(done.read_exact(&mut b, BOUND) && done.read_exact(&mut b, BOUND));
    for seq in 1..4 {
        let ms = if t == T::Tcp { 2000 } else { 0 }; // loopback TCP may still be delivering
        assert!(
            readable(rx.fd(), ms),
            "{what}: not readable with {} message(s) left",
            4 - seq
        );
        check(seq, &recv_when_ready(&mut *rx, &what));
    }
    assert_rx_quiet(&ch, &mut *rx, &format!("{what}, drained after three"));

    // End of stream once the sender process has gone: readable, and stays so.
    go.write(b"3");
    child.expect_success(BOUND);
    must_become_readable(rx.fd(), &format!("{what}, sender gone"));
    let start = Instant::now();
    loop {
        match recv_now(&mut *rx) {
            Err(Error::EndOfStream) => break,
            // A polled end sees the senders' end at its next look.
            Err(Error::WouldBlock) if ch.rx_polled() && start.elapsed() < BOUND => {
                must_become_readable(rx.fd(), &what);
            }
            other => panic!("{what}: expected end of stream, got {other:?}"),
        }
    }
    assert!(readable(rx.fd(), 0), "{what}: not readable at end of stream");
}

// ---------------------------------------------------------------------------------------
// The sender
// ---------------------------------------------------------------------------------------

fn sender_rules(t: T) {
    let _g = serial();
    let ch = Ch::new(t, "rdy-tx");
    let (cmd, reply) = (Pipe::new(), Pipe::new());
    // For a pipe the pair is made here and the child keeps the receiver; otherwise the
    // child makes the channel and says so.
    let mut pair = (t == T::Pipe).then(|| ch.receiver());
    let pair_ref = &mut pair;
    let child = fork("receiver", || {
        let mut rx = match pair_ref.take() {
            Some((rx, tx)) => {
                drop(tx);
                rx
            }
            None => ch.receiver().0,
        };
        reply.write(b"r");
        let mut next = 0u64;
        let mut buf = vec![0u8; MSG_SIZE];
        loop {
            let mut c = [0u8; 1];
            assert!(cmd.read_exact(&mut c, BOUND));
            match c[0] {
                b't' => {
                    let n = rx.recv(&mut buf, Timeout::Forever).unwrap();
                    check(next, &buf[..n]);
                    next += 1;
                }
                b'd' => loop {
                    match rx.recv(&mut buf, Timeout::NonBlocking) {
                        Ok(n) => {
                            check(next, &buf[..n]);
                            next += 1;
                        }
                        Err(Error::WouldBlock) => break,
                        Err(e) => panic!("drain: {e:?}"),
                    }
                },
                _ => break,
            }
            reply.write(b"k");
        }
        drop(rx);
    });
    let (tx_inh, rx_copy) = match pair.take() {
        Some((rx, tx)) => (tx, Some(rx)),
        None => (None, None),
    };
    drop(rx_copy); // only the child's receiver remains
    let mut b = [0u8; 1];
    assert!(reply.read_exact(&mut b, BOUND), "the receiver did not start");
    let mut tx = ch.sender(tx_inh);
    let what = format!("{t:?} sender");
    let mut seq = 0u64;
    let mut spurious = 0u64;

    // Room: readable (a lazy sender finds its receiver at a timer tick), and the send goes.
    let start = Instant::now();
    loop {
        must_become_readable(tx.fd(), &format!("{what}, room"));
        match tx.send(&msg(seq), Timeout::NonBlocking) {
            Ok(()) => break,
            Err(Error::WouldBlock) if start.elapsed() < BOUND => spurious += 1,
            Err(e) => panic!("{what}: first send: {e:?}"),
        }
    }
    seq += 1;

    // Full: fill until WouldBlock; then the descriptor settles not readable (room that
    // frees up meanwhile, on loopback TCP say, is taken).
    let fill = |tx: &mut Box<dyn MsgSender>, seq: &mut u64| loop {
        match tx.send(&msg(*seq), Timeout::NonBlocking) {
            Ok(()) => *seq += 1,
            Err(Error::WouldBlock) => break,
            Err(e) => panic!("{what}: filling: {e:?}"),
        }
        assert!(*seq < 10_000_000, "{what}: never full");
    };
    fill(&mut tx, &mut seq);
    let mut settled = false;
    for _ in 0..400 {
        std::thread::sleep(Duration::from_millis(5));
        if !readable(tx.fd(), 0) {
            settled = true;
            break;
        }
        match tx.send(&msg(seq), Timeout::NonBlocking) {
            Ok(()) => {
                seq += 1;
                fill(&mut tx, &mut seq);
            }
            Err(Error::WouldBlock) => spurious += 1,
            Err(e) => panic!("{what}: full: {e:?}"),
        }
    }
    assert!(settled, "{what}: still readable on a full channel ({seq} sent)");
    let full_at = seq;

    // The receiver takes one (then, if the kernel wants more room than that, everything
    // it has): readable again, and the send goes.
    cmd.write(b"t");
    assert!(reply.read_exact(&mut b, BOUND));
    let mut drains = 0;
    while !readable(tx.fd(), 300) {
        drains += 1;
        assert!(drains < 1000, "{what}: never readable again");
        cmd.write(b"d");
        assert!(reply.read_exact(&mut b, BOUND));
    }
    let start = Instant::now();
    loop {
        match tx.send(&msg(seq), Timeout::NonBlocking) {
            Ok(()) => break,
            Err(Error::WouldBlock) if start.elapsed() < BOUND => {
                spurious += 1;
                must_become_readable(tx.fd(), &what);
            }
            Err(e) => panic!("{what}: send after a take: {e:?}"),
        }
    }
    seq += 1;

    // The receiver goes: readable, and the send is Disconnected (and stays readable).
    cmd.write(b"x");
    child.expect_success(BOUND);
    must_become_readable(tx.fd(), &format!("{what}, receiver gone"));
    let start = Instant::now();
    loop {
        match tx.send(&msg(seq), Timeout::NonBlocking) {
            Err(Error::Disconnected) => break,
            Err(Error::WouldBlock) if start.elapsed() < BOUND => {
                spurious += 1;
                must_become_readable(tx.fd(), &what);
            }
            other => panic!("{what}: expected Disconnected, got {other:?}"),
        }
    }
    assert!(readable(tx.fd(), 0), "{what}: not readable after Disconnected");
    eprintln!(
        "{what}: full after {full_at} messages, {drains} drain(s) to readable again, {spurious} spurious wake-up(s)"
    );
}

// ---------------------------------------------------------------------------------------
// A checked stream received through poll(2)
// ---------------------------------------------------------------------------------------

fn polled_stream(t: T) {
    let _g = serial();
    let n: u64 = env_u64("IPCRING_READY_MESSAGES", 3000);
    let ch = Ch::new(t, "rdy-st");
    let (mut rx, mut inh) = ch.receiver();
    let inh_ref = &mut inh;
    let child = fork("sender", || {
        let mut tx = ch.sender(inh_ref.take());
        let mut r = rng::Rng::new(0x5eed, t as u64);
        for seq in 0..n {
            tx.send(&msg(seq), Timeout::Forever).unwrap();
            if r.chance(50) {
                std::thread::sleep(Duration::from_micros(r.below(3000)));
            }
        }
    });
    drop(inh.take());
    let mut checker = SeqChecker::new(1, Some(MSG_SIZE - OVERHEAD));
    let (mut wakes, mut spurious) = (0u64, 0u64);
    'outer: loop {
        must_become_readable(rx.fd(), &format!("{t:?} stream at message {}", checker.count));
        wakes += 1;
        let mut got = 0;
        loop {
            match recv_now(&mut *rx) {
                Ok(m) => {
                    checker.check_or_panic(&m);
                    got += 1;
                }
                Err(Error::WouldBlock) => break,
                Err(Error::EndOfStream) => break 'outer,
                Err(e) => panic!("{t:?} stream: {e:?}"),
            }
        }
        if got == 0 {
            spurious += 1;
        }
    }
    checker.assert_complete(n);
    child.expect_success(BOUND);
    eprintln!("{t:?}: {n} checked messages in {wakes} wake-ups ({spurious} spurious)");
}

macro_rules! per_transport {
    ($($name:ident => $t:expr;)*) => {$(
        mod $name {
            use super::*;
            #[test]
            fn receiver() {
                receiver_rules($t);
            }
            #[test]
            fn sender() {
                sender_rules($t);
            }
            #[test]
            fn stream_through_poll() {
                polled_stream($t);
            }
        }
    )*};
}

per_transport! {
    pipe => T::Pipe;
    fifo => T::Fifo;
    mq => T::Mq;
    unix => T::Unix;
    tcp => T::Tcp;
}
