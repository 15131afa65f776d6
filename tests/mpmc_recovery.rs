//! MPMC crash recovery across real processes (the robustness issue, item 3; the protocol is
//! in `src/mpmc.rs`, "Crash recovery").
//!
//! - A producer SIGKILLed between its claim and its publish (a `reserve` with half-written
//!   bytes): the receivers, blocked on its slot, skip it once the kernel has released the dead
//!   endpoint's lock; nothing of it is delivered, and every message committed before and after
//!   (by it and by a live producer) arrives once, whole, in order per producer. The latency
//!   from the kill to the blocked receiver getting the next message is printed.
//! - Every sender gone, one of them dead with a claimed slot and committed messages behind it:
//!   the receiver drains those messages, then gets end-of-stream (not end-of-stream early).
//! - A consumer SIGKILLed while holding a claimed message (a `peek`): a producer blocked on
//!   that slot's next lap frees it once the consumer is dead. That one message is lost (it had
//!   been handed to the consumer that died); every other one arrives once, in order.
//! - A claimer that is stopped (SIGSTOP), not dead, keeps its slot: peers time out; after
//!   SIGCONT it publishes and the message arrives.
//!
//! `IPCRING_RECOVERY_ROUNDS` sets the rounds of the latency cases (default 12 per wake
//! backend). Only a generous hang bound is asserted; the latencies are printed
//! (`--nocapture`).

mod common;

use common::{decode, encode_vec, fork, serial, SeqChecker};
use ipcring::{Error, Kind, Ring, RingOptions, Timeout, WakeBackend};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(20);
const MAX_PAYLOAD: usize = 24;

fn rounds() -> usize {
    common::env_u64("IPCRING_RECOVERY_ROUNDS", 12) as usize
}

fn opts(capacity: u64, wake: WakeBackend) -> RingOptions {
    RingOptions::new()
        .kind(Kind::Mpmc)
        .wake(wake)
        .capacity(capacity)
        .msg_size(64)
}

/// A one-byte signal from a child to the parent.
struct Signal(UnixStream, UnixStream);

impl Signal {
    fn new() -> Signal {
        let (a, b) = UnixStream::pair().unwrap();
        b.set_read_timeout(Some(HANG)).unwrap();
        Signal(a, b)
    }
    /// In the child.
    fn send(&self) {
        (&self.0).write_all(&[1]).unwrap();
    }
    /// In the parent: waits for the child's byte.
    fn wait(&self, what: &str) {
        let mut b = [0u8; 1];
        (&self.1)
            .read_exact(&mut b)
            .unwrap_or_else(|e| panic!("no signal from the child ({what}): {e}"));
    }
}

/// Kills `pid` after `delay` from another thread; sends back the instant of the kill.
fn kill_later(pid: libc::pid_t, delay: Duration) -> mpsc::Receiver<Instant> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let t = Instant::now();
        // SAFETY: pid is our unreaped child (reaped only after this thread reports).
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = tx.send(t);
    });
    rx
}

fn report(label: &str, mut v: Vec<Duration>) {
    v.sort();
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "[recovery] {label}: {} rounds, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        v.len(),
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3
    );
}

/// Sends `producer`'s messages `from..to`.
fn send_range(tx: &mut ipcring::Sender, producer: u32, from: u64, to: u64) {
    for s in from..to {
        tx.send(&encode_vec(producer, s, MAX_PAYLOAD)).unwrap();
    }
}

/// The dying producer (0): commits `committed` messages, claims one more slot and writes
/// half of a message into it, says so, and waits to be killed.
fn dying_producer(ring: &Ring, committed: u64, ready: &Signal) {
    let mut tx = ring.sender().unwrap();
    send_range(&mut tx, 0, 0, committed);
    let mut slot = tx.reserve(Timeout::Forever).unwrap();
    let msg = encode_vec(0, committed, MAX_PAYLOAD);
    let half = msg.len() / 2;
    slot.buf()[..half].copy_from_slice(&msg[..half]);
    ready.send();
    std::thread::sleep(HANG * 2); // killed long before
}

fn producer_killed_mid_claim(wake: WakeBackend) -> Vec<Duration> {
    let mut lat = Vec::new();
    for round in 0..rounds() {
        let ring = Ring::anonymous(&opts(8, wake)).unwrap();
        let mut rx = ring.receiver().unwrap();
        let committed = (round % 5) as u64;
        let ready = Signal::new();
        let dying = fork("dying producer", || dying_producer(&ring, committed, &ready));
        ready.wait("dying producer reserved");
        // A live producer (1) sends behind the stuck slot, blocking once the ring is full.
        let live = fork("live producer", || {
            let mut tx = ring.sender().unwrap();
            send_range(&mut tx, 1, 0, 200);
        });
        let mut check = SeqChecker::new(2, Some(MAX_PAYLOAD));
        for _ in 0..committed {
            check.check_or_panic(&rx.recv_vec_timeout(HANG).unwrap());
        }
        let killed = kill_later(
            dying.pid(),
            Duration::from_micros(20_000 + (round as u64 * 7_919) % 40_000),
        );
        // Blocked on the dead producer's slot until it is skipped.
        let m = rx.recv_vec_timeout(HANG).unwrap();
        let back = Instant::now();
        lat.push(back.saturating_duration_since(killed.recv().unwrap()));
        assert_eq!(
            decode(&m, Some(MAX_PAYLOAD)).unwrap(),
            (1, 0),
            "the first message after the stuck slot"
        );
        check.check_or_panic(&m);
        loop {
            match rx.recv_vec_timeout(HANG) {
                Ok(m) => check.check_or_panic(&m),
                // A producer was killed: the end is not a clean one.
                Err(Error::SenderDied) => break,
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        // Producer 0's half-written message was never delivered; all the rest was.
        assert_eq!(
            (check.next_seq(0), check.next_seq(1)),
            (committed, 200),
            "round {round}"
        );
        let d = dying.wait(HANG);
        assert!(
            libc::WIFSIGNALED(d.status) && libc::WTERMSIG(d.status) == libc::SIGKILL,
            "{}",
            d.describe()
        );
        let l = live.wait(HANG);
        assert!(l.success(), "{}", l.describe());
    }
    lat
}

#[test]
fn producer_killed_between_claim_and_publish_is_skipped() {
    let _s = serial();
    for wake in [WakeBackend::Futex, WakeBackend::Sem] {
        let lat = producer_killed_mid_claim(wake);
        report(&format!("producer killed mid-claim, {wake:?}"), lat);
    }
}

/// Both senders gone (one killed holding a claim, one closed after sending behind it): the
/// receiver drains everything committed, through each receive path, then end-of-stream.
#[test]
fn end_of_stream_waits_for_messages_behind_a_dead_claim() {
    let _s = serial();
    for path in ["recv", "recv_batch", "peek", "try_recv"] {
        let ring = Ring::anonymous(&opts(16, WakeBackend::Futex)).unwrap();
        let mut rx = ring.receiver().unwrap();
        let ready = Signal::new();
        let dying = fork("dying producer", || dying_producer(&ring, 3, &ready));
        ready.wait("dying producer reserved");
        let live = fork("live producer", || {
            let mut tx = ring.sender().unwrap();
            send_range(&mut tx, 1, 0, 10);
        });
        let l = live.wait(HANG);
        assert!(l.success(), "{}", l.describe());
        // SAFETY: dying is our unreaped child.
        unsafe { libc::kill(dying.pid(), libc::SIGKILL) };
        let _ = dying.wait(HANG);

        let mut check = SeqChecker::new(2, Some(MAX_PAYLOAD));
        let started = Instant::now();
        loop {
            assert!(started.elapsed() < HANG, "{path}: no end-of-stream");
            let r: Result<Vec<Vec<u8>>, Error> = match path {
                "recv" => rx.recv_vec_timeout(HANG).map(|m| vec![m]),
                "recv_batch" => {
                    let mut got = Vec::new();
                    rx.recv_batch(4, Timeout::after(HANG), |m| got.push(m.to_vec()))
                        .map(|_| got)
                }
                "peek" => rx.peek(Timeout::after(HANG)).map(|slot| {
                    let m = slot.to_vec();
                    slot.release();
                    vec![m]
                }),
                _ => match rx.try_recv_vec() {
                    Err(Error::WouldBlock) => continue,
                    r => r.map(|m| vec![m]),
                },
            };
            match r {
                Ok(ms) => ms.iter().for_each(|m| check.check_or_panic(m)),
                // The claimer was killed: the end is not a clean one.
                Err(Error::SenderDied) => break,
                Err(e) => panic!("{path}: {e} after {} messages", check.count),
            }
        }
        assert_eq!((check.next_seq(0), check.next_seq(1)), (3, 10), "{path}");
    }
}

fn consumer_killed_holding(wake: WakeBackend) -> Vec<Duration> {
    let mut lat = Vec::new();
    for round in 0..rounds() {
        let ring = Ring::anonymous(&opts(4, wake)).unwrap();
        let mut tx = ring.sender().unwrap();
        send_range(&mut tx, 0, 0, 4); // fills the ring
        let ready = Signal::new();
        let holder = fork("holding consumer", || {
            let mut rx = ring.receiver().unwrap();
            let slot = rx.peek(Timeout::after(HANG)).unwrap();
            assert_eq!(decode(&slot, Some(MAX_PAYLOAD)).unwrap(), (0, 0));
            ready.send();
            std::thread::sleep(HANG * 2); // killed long before
            drop(slot);
        });
        ready.wait("consumer holds message 0");
        let total = 100u64;
        let drained = Signal::new();
        let mut tx = Some(tx);
        let reader = fork("live consumer", || {
            // The copy of the parent's sender this child inherited would keep the sending
            // end alive (fork shares the endpoint): close it, or no end-of-stream comes.
            drop(tx.take());
            let mut rx = ring.receiver().unwrap();
            let mut check = SeqChecker::new(1, Some(MAX_PAYLOAD));
            check.expect_next(0, 1); // message 0 went to the consumer that died
            for _ in 1..4 {
                check.check_or_panic(&rx.recv_vec_timeout(HANG).unwrap());
            }
            drained.send();
            loop {
                match rx.recv_vec_timeout(HANG) {
                    Ok(m) => check.check_or_panic(&m),
                    Err(Error::EndOfStream) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            check.assert_complete(total);
        });
        drained.wait("live consumer took messages 1..4");
        let mut tx = tx.unwrap();
        // The next position (4) maps to slot 0, which the consumer holds: this send waits for
        // it, through the consumer's death.
        let killed = kill_later(
            holder.pid(),
            Duration::from_micros(20_000 + (round as u64 * 7_919) % 40_000),
        );
        tx.send_timeout(&encode_vec(0, 4, MAX_PAYLOAD), HANG).unwrap();
        let back = Instant::now();
        lat.push(back.saturating_duration_since(killed.recv().unwrap()));
        send_range(&mut tx, 0, 5, total);
        drop(tx);
        let r = reader.wait(HANG);
        assert!(r.success(), "round {round}: {}", r.describe());
        let _ = holder.wait(HANG);
    }
    lat
}

#[test]
fn consumer_killed_holding_a_message_frees_its_slot() {
    let _s = serial();
    for wake in [WakeBackend::Futex, WakeBackend::Sem] {
        let lat = consumer_killed_holding(wake);
        report(&format!("consumer killed holding a slot, {wake:?}"), lat);
    }
}

/// A stopped claimer is alive: its slot is not skipped, peers time out, and after SIGCONT its
/// message arrives.
#[test]
fn stopped_claimer_keeps_its_slot() {
    let _s = serial();
    let ring = Ring::anonymous(&opts(8, WakeBackend::Futex)).unwrap();
    let mut rx = ring.receiver().unwrap();
    let ready = Signal::new();
    let child = fork("stopping producer", || {
        let mut tx = ring.sender().unwrap();
        let mut slot = tx.reserve(Timeout::Forever).unwrap();
        let msg = encode_vec(0, 0, MAX_PAYLOAD);
        slot.buf()[..msg.len()].copy_from_slice(&msg);
        ready.send();
        // SAFETY: raise stops this process until SIGCONT.
        unsafe { libc::raise(libc::SIGSTOP) };
        slot.commit(msg.len()).unwrap();
    });
    ready.wait("producer reserved");
    // Give it time to stop; either way it is alive, and its slot stays.
    std::thread::sleep(Duration::from_millis(50));
    // A live producer's message lands behind the claimed slot and cannot be delivered yet.
    let mut tx = ring.sender().unwrap();
    tx.send(&encode_vec(1, 0, MAX_PAYLOAD)).unwrap();
    for _ in 0..3 {
        assert!(matches!(
            rx.recv_vec_timeout(Duration::from_millis(100)),
            Err(Error::TimedOut)
        ));
    }
    drop(tx);
    // SAFETY: child is our unreaped, stopped child.
    unsafe { libc::kill(child.pid(), libc::SIGCONT) };
    let mut check = SeqChecker::new(2, Some(MAX_PAYLOAD));
    check.check_or_panic(&rx.recv_vec_timeout(HANG).unwrap());
    check.check_or_panic(&rx.recv_vec_timeout(HANG).unwrap());
    assert!(matches!(rx.recv_vec_timeout(HANG), Err(Error::EndOfStream)));
    check.assert_complete(1);
    let c = child.wait(HANG);
    assert!(c.success(), "{}", c.describe());
}
