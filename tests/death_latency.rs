//! How long a blocked caller takes to learn that its peer died without closing (the
//! robustness issue's target: p99 ≤ 50 ms, max ≤ 250 ms).
//!
//! Each round: a forked child attaches the peer end of a ring and says so (one message, or by
//! filling the ring), then sleeps; this process blocks with `Timeout::Forever`, and a second
//! thread SIGKILLs the child. The latency is from the `kill` call to the blocked call
//! returning `SenderDied` (receiver blocked, sender killed) or `ReceiverDied` (sender blocked
//! on a full ring, receiver killed), both on this process's monotonic clock.
//!
//! The figures are printed (`--nocapture`), not asserted: the machine is shared and noisy.
//! The only bound asserted is a generous hang bound. `IPCRING_DEATH_ROUNDS` sets the rounds
//! per case (default 20).

mod common;

use common::{fork, serial, ShmName};
use ipcring::{Error, Kind, Ring, RingOptions, WakeBackend};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(10);

fn rounds() -> usize {
    common::env_u64("IPCRING_DEATH_ROUNDS", 20) as usize
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

/// The kill comes 20..60 ms after the call blocks, spread over the rounds, so that it falls
/// at every point of the park slice.
fn delay(round: usize) -> Duration {
    Duration::from_micros(20_000 + (round as u64 * 7_919) % 40_000)
}

fn report(label: &str, mut v: Vec<Duration>) {
    v.sort();
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "[death] {label}: {} rounds, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        v.len(),
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3
    );
    assert!(
        v[v.len() - 1] < HANG,
        "{label}: a blocked call took {:?}",
        v[v.len() - 1]
    );
}

fn opts(kind: Kind, wake: WakeBackend) -> RingOptions {
    RingOptions::new().kind(kind).wake(wake).capacity(4).msg_size(64)
}

/// Receiver blocked, sender killed: `SenderDied`.
fn sender_killed(kind: Kind, wake: WakeBackend) -> Vec<Duration> {
    let mut out = Vec::new();
    for i in 0..rounds() {
        let name = ShmName::new("death-tx");
        let ring = Ring::create(name.as_str(), &opts(kind, wake)).unwrap();
        let mut rx = ring.receiver().unwrap();
        let child = fork("sender", || {
            let mut tx = Ring::open(name.as_str()).unwrap().sender().unwrap();
            tx.send(b"attached").unwrap();
            std::thread::sleep(HANG * 2); // killed long before
        });
        assert_eq!(rx.recv_vec_timeout(HANG).unwrap(), b"attached");
        let killed = kill_later(child.pid(), delay(i));
        let r = rx.recv_vec();
        let back = Instant::now();
        assert!(matches!(r, Err(Error::SenderDied)), "{r:?}");
        out.push(back.saturating_duration_since(killed.recv().unwrap()));
        let _ = child.wait(HANG);
    }
    out
}

/// Sender blocked on a full ring, receiver killed: `ReceiverDied`.
fn receiver_killed(kind: Kind, wake: WakeBackend) -> Vec<Duration> {
    let mut out = Vec::new();
    for i in 0..rounds() {
        let name = ShmName::new("death-rx");
        let ring = Ring::create(name.as_str(), &opts(kind, wake)).unwrap();
        let mut tx = ring.sender().unwrap();
        let child = fork("receiver", || {
            let mut rx = Ring::open(name.as_str()).unwrap().receiver().unwrap();
            assert_eq!(rx.recv_vec_timeout(HANG).unwrap(), b"hello");
            std::thread::sleep(HANG * 2); // killed long before
        });
        // The child has attached once it has taken "hello"; then fill the ring.
        tx.send(b"hello").unwrap();
        let start = Instant::now();
        while !ring.is_empty() {
            assert!(start.elapsed() < HANG, "the child never received");
            std::thread::sleep(Duration::from_millis(1));
        }
        while tx.try_send(b"fill").is_ok() {}
        let killed = kill_later(child.pid(), delay(i));
        let r = tx.send(b"blocked");
        let back = Instant::now();
        assert!(matches!(r, Err(Error::ReceiverDied)), "{r:?}");
        out.push(back.saturating_duration_since(killed.recv().unwrap()));
        let _ = child.wait(HANG);
    }
    out
}

#[test]
fn blocked_callers_learn_of_a_death_promptly() {
    let _s = serial();
    let mut all = Vec::new();
    for (kind, wake, k, w) in [
        (Kind::Spsc, WakeBackend::Futex, "spsc", "futex"),
        (Kind::Mpmc, WakeBackend::Futex, "mpmc", "futex"),
        (Kind::Spsc, WakeBackend::Sem, "spsc", "sem"),
    ] {
        let a = sender_killed(kind, wake);
        report(
            &format!("{k}/{w} receiver blocked, sender killed -> SenderDied"),
            a.clone(),
        );
        let b = receiver_killed(kind, wake);
        report(
            &format!("{k}/{w} sender blocked, receiver killed -> Disconnected"),
            b.clone(),
        );
        all.extend(a);
        all.extend(b);
    }
    report("all cases", all);
}

/// A stopped process is alive: its endpoint lock stays held, so a receiver waiting on it
/// times out instead of seeing the end of the stream; once continued, it sends again.
#[test]
fn a_stopped_peer_is_alive() {
    let _s = serial();
    let name = ShmName::new("death-stop");
    let ring = Ring::create(name.as_str(), &opts(Kind::Spsc, WakeBackend::Futex)).unwrap();
    let mut rx = ring.receiver().unwrap();
    let child = fork("sender", || {
        let mut tx = Ring::open(name.as_str()).unwrap().sender().unwrap();
        tx.send(b"before").unwrap();
        // SAFETY: stopping ourselves; the parent continues us.
        unsafe { libc::raise(libc::SIGSTOP) };
        tx.send(b"after").unwrap();
    });
    assert_eq!(rx.recv_vec_timeout(HANG).unwrap(), b"before");
    // Wait until the child is really stopped (waitpid with WUNTRACED reports it).
    let mut st = 0;
    // SAFETY: pid is our child; st a valid out-pointer.
    let r = unsafe { libc::waitpid(child.pid(), &mut st, libc::WUNTRACED) };
    assert!(r == child.pid() && libc::WIFSTOPPED(st), "child not stopped: {st:#x}");
    // Ten park slices and more: a dead peer would have been noticed by now.
    let r = rx.recv_vec_timeout(Duration::from_millis(300));
    assert!(matches!(r, Err(Error::TimedOut)), "a stopped sender looked gone: {r:?}");
    child.signal(libc::SIGCONT);
    assert_eq!(rx.recv_vec_timeout(HANG).unwrap(), b"after");
    assert!(matches!(rx.recv_vec_timeout(HANG), Err(Error::EndOfStream)));
    let exit = child.wait(HANG);
    assert!(exit.success(), "{}", exit.describe());
}
