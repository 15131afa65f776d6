//! The shared-memory ring's descriptors (`AsFd` on `Sender` / `Receiver`, the README's "Event
//! loops"): readable exactly when a non-blocking call would not return `WouldBlock`, on SPSC
//! and MPMC, named and anonymous, with peers in other processes; a peer's death wakes a
//! `poll` within the bound blocked calls meet; a busy ring with a descriptor waiter makes no
//! system call per message; the doorbells go with the ring.

mod common;

use common::{fork, serial, ShmName};
use ipcring::{Create, Error, Kind, Receiver, Ring, RingOptions, Sender, Timeout};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(20);

/// Whether `fd` is readable within `ms` milliseconds.
fn readable(fd: RawFd, ms: i32) -> bool {
    let mut p = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(p.as_mut_ptr(), 1, ms) };
    assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
    n == 1
}

fn addr(name: &str, kind: Kind) -> String {
    let mode = if kind == Kind::Spsc { "spsc" } else { "mpmc" };
    format!("shm://{name}?mode={mode}&capacity=4&msg_size=64")
}

fn kinds() -> [Kind; 2] {
    [Kind::Spsc, Kind::Mpmc]
}

/// A receiver's descriptor: not ready on an empty ring, ready once a process sends, still
/// ready while messages remain, not ready once drained; ready at end of stream.
#[test]
fn receiver_descriptor_follows_the_ring() {
    let _g = serial();
    for kind in kinds() {
        let name = ShmName::new("rdy-rx");
        let mut rx = Receiver::open(&addr(name.as_str(), kind), Create::IfMissing).unwrap();
        let fd = rx.as_raw_fd();
        assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
        assert!(!readable(fd, 0), "{kind:?}: empty ring reads as ready");
        let a = addr(name.as_str(), kind);
        let child = fork("sender", || {
            let mut tx = Sender::open(&a, Create::No).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            for i in 0..3u64 {
                tx.send(&common::encode_vec(0, i, 40)).unwrap();
            }
            // Stays attached until the parent has seen the three.
            std::thread::sleep(Duration::from_millis(300));
        });
        assert!(
            readable(fd, HANG.as_millis() as i32),
            "{kind:?}: a send did not wake the descriptor"
        );
        let mut check = common::SeqChecker::new(1, Some(40));
        // Receive one at a time, polling with a zero timeout in between: ready while any is left.
        let mut got = 0;
        let start = Instant::now();
        while got < 3 {
            match rx.try_recv_vec() {
                Ok(m) => {
                    check.check_or_panic(&m);
                    got += 1;
                    if got < 3 {
                        // The rest may still be on their way: wait for readiness, never spin.
                        assert!(
                            readable(fd, HANG.as_millis() as i32),
                            "{kind:?}: messages left, not ready"
                        );
                    }
                }
                Err(Error::WouldBlock) => assert!(readable(fd, HANG.as_millis() as i32)),
                Err(e) => panic!("{kind:?}: {e}"),
            }
            assert!(start.elapsed() < HANG);
        }
        check.assert_complete(3);
        assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
        assert!(!readable(fd, 0), "{kind:?}: drained ring reads as ready");
        // The sender process exits: end of stream makes the descriptor ready.
        assert!(
            readable(fd, HANG.as_millis() as i32),
            "{kind:?}: end of stream did not wake"
        );
        child.expect_success(HANG);
        let r = rx.try_recv_vec();
        assert!(
            matches!(r, Err(Error::EndOfStream) | Err(Error::WouldBlock)),
            "{kind:?}: {r:?}"
        );
        if matches!(r, Err(Error::WouldBlock)) {
            // Spurious at most once: the exit is certain to be seen by the next look.
            assert!(readable(fd, HANG.as_millis() as i32));
            assert!(matches!(rx.try_recv_vec(), Err(Error::EndOfStream)), "{kind:?}");
        }
    }
}

/// A sender's descriptor: ready while there is room, not when full, ready again when a
/// receiving process takes one, and ready when the receivers are gone (`Disconnected`).
#[test]
fn sender_descriptor_follows_the_room() {
    let _g = serial();
    for kind in kinds() {
        let name = ShmName::new("rdy-tx");
        let a = addr(name.as_str(), kind);
        let mut tx = Sender::open(&a, Create::IfMissing).unwrap();
        let fd = tx.as_raw_fd();
        let child = fork("receiver", || {
            let mut rx = Receiver::open(&a, Create::No).unwrap();
            let mut check = common::SeqChecker::new(1, Some(40));
            std::thread::sleep(Duration::from_millis(200));
            check.check_or_panic(&rx.recv_vec_timeout(HANG).unwrap());
            std::thread::sleep(Duration::from_millis(300));
        });
        let mut sent = 0u64;
        loop {
            match tx.try_send(&common::encode_vec(0, sent, 40)) {
                Ok(()) => sent += 1,
                Err(Error::WouldBlock) => break,
                Err(e) => panic!("{e}"),
            }
            assert!(sent <= 64, "{kind:?}: a ring of 4 took {sent}");
        }
        assert!(!readable(fd, 0), "{kind:?}: full ring reads as ready");
        // Ready when the receiver takes one (the first receiver's close may wake it too:
        // spurious readiness is allowed, a WouldBlock then re-arms).
        let deadline = Instant::now() + HANG;
        loop {
            assert!(
                readable(fd, HANG.as_millis() as i32),
                "{kind:?}: room did not wake the descriptor"
            );
            match tx.try_send(&common::encode_vec(0, sent, 40)) {
                Ok(()) => break,
                Err(Error::WouldBlock) => assert!(Instant::now() < deadline),
                Err(e) => panic!("{kind:?}: {e}"),
            }
        }
        // The receiver process exits: Disconnected makes the descriptor ready.
        child.expect_success(HANG);
        let deadline = Instant::now() + HANG;
        loop {
            assert!(
                readable(fd, HANG.as_millis() as i32),
                "{kind:?}: the receiver's exit did not wake"
            );
            match tx.try_send(b"x") {
                Err(Error::Disconnected) | Err(Error::ReceiverDied) => break,
                Err(Error::WouldBlock) => {}
                r => panic!("{kind:?}: {r:?}"),
            }
            assert!(
                Instant::now() < deadline,
                "{kind:?}: ready for ever without Disconnected"
            );
        }
    }
}

/// A sender SIGKILLed while the receiver sits in `poll`: the descriptor is ready within the
/// bound of blocked calls (p99 <= 50 ms, max <= 250 ms; printed, a hang bound asserted).
#[test]
fn a_killed_sender_wakes_the_descriptor() {
    let _g = serial();
    let mut lat = Vec::new();
    for round in 0..common::env_u64("IPCRING_DEATH_ROUNDS", 10) {
        let kind = kinds()[round as usize % 2];
        let name = ShmName::new("rdy-kill");
        let a = addr(name.as_str(), kind);
        let mut rx = Receiver::open(&a, Create::IfMissing).unwrap();
        let fd = rx.as_raw_fd();
        let child = fork("sender", || {
            let mut tx = Sender::open(&a, Create::No).unwrap();
            tx.send(b"attached").unwrap();
            std::thread::sleep(HANG * 2);
        });
        assert_eq!(rx.recv_vec_timeout(HANG).unwrap(), b"attached");
        assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
        assert!(!readable(fd, 0));
        std::thread::sleep(Duration::from_millis(20 + round * 7 % 40));
        let t = Instant::now();
        child.signal(libc::SIGKILL);
        let deadline = t + HANG;
        let ended = loop {
            assert!(
                readable(fd, HANG.as_millis() as i32),
                "the death did not wake the descriptor"
            );
            match rx.try_recv_vec() {
                Err(Error::WouldBlock) => assert!(Instant::now() < deadline, "ready for ever"),
                r => break r,
            }
        };
        lat.push(t.elapsed());
        assert!(matches!(ended, Err(Error::SenderDied)), "{kind:?}: {ended:?}");
        let _ = child.wait(HANG);
    }
    lat.sort();
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    println!(
        "[descriptor death] {} rounds: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3
    );
}

/// Runs `N` checked messages from this process to a forked receiver that waits on its
/// descriptor whenever the ring is empty and spends `work` on each message; returns the
/// sender's statistics.
fn descriptor_receiver_run(tag: &str, n: u64, work: Duration) -> ipcring::Stats {
    let name = ShmName::new(tag);
    let a = format!("shm://{}?capacity=1024&msg_size=64", name.as_str());
    let mut tx = Sender::open(&a, Create::IfMissing).unwrap();
    let child = fork("poll-receiver", || {
        let mut rx = Receiver::open(&a, Create::No).unwrap();
        let fd = rx.as_raw_fd();
        let mut check = common::SeqChecker::new(1, Some(16));
        let mut got = 0;
        while got < n {
            match rx.try_recv_vec() {
                Ok(m) => {
                    check.check_or_panic(&m);
                    got += 1;
                    let t = Instant::now();
                    while t.elapsed() < work {
                        std::hint::spin_loop();
                    }
                }
                Err(Error::WouldBlock) => assert!(readable(fd, HANG.as_millis() as i32), "stalled at {got}"),
                Err(e) => panic!("{e}"),
            }
        }
        check.assert_complete(n);
    });
    let mut buf = [0u8; 64];
    for i in 0..n {
        let len = common::encode(0, i, 16, &mut buf);
        tx.send_with_timeout(&buf[..len], Timeout::after(HANG)).unwrap();
    }
    child.expect_success(HANG);
    let s = tx.stats();
    println!(
        "[descriptor {tag}] {n} messages: sender {} calls ({:.5}/msg), {} wakes, {} parks",
        s.syscalls,
        s.syscalls as f64 / n as f64,
        s.wakes,
        s.parks
    );
    s
}

/// With a receiver waiting on its descriptor, a saturated ring (the receiver slower than the
/// sender, so the ring stays full) makes fewer than 0.001 system calls per message on the
/// sending side: the doorbell is written only after the receiver announced itself, which it
/// does only when it finds the ring empty.
#[test]
fn a_saturated_ring_with_a_descriptor_waiter_makes_no_call_per_message() {
    let _g = serial();
    const N: u64 = 100_000;
    let s = descriptor_receiver_run("saturated", N, Duration::from_micros(2));
    // Each ring of the receiver's bell (a futex wake and a doorbell write) is a wake; the
    // sender's own sleeps on the full ring are parks, which it makes with or without a
    // descriptor waiter, as many as the scheduler makes it (measured here: 34 to 192 calls
    // in all, 0.0003 to 0.002/msg, with 1 or 2 wakes, on a machine busy compiling).
    assert!(s.wakes * 1000 < N, "{s:?}");
}

/// A receiver that keeps up finds the ring empty again and again: each time it re-arms, and
/// the next message rings once (a futex wake and a doorbell write), never once per message.
#[test]
fn a_busy_ring_rings_once_per_rearm() {
    let _g = serial();
    const N: u64 = 200_000;
    let s = descriptor_receiver_run("busy", N, Duration::ZERO);
    assert!(s.syscalls < N / 4, "{s:?}");
}

/// The doorbells are made with the ring, with its permissions, and removed with it.
#[test]
fn doorbells_have_the_rings_mode_and_go_with_it() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let _g = serial();
    let name = ShmName::new("rdy-bells");
    let ring = Ring::create(name.as_str(), &RingOptions::new().capacity(4)).unwrap();
    let rx = ring.receiver().unwrap();
    let tx = ring.sender().unwrap();
    let bells = [".bell-rx", ".bell-tx"].map(|s| common::shm_path(&format!("{}{s}", name.as_str())));
    let _ = (rx.as_raw_fd(), tx.as_raw_fd());
    for b in &bells {
        let m = std::fs::symlink_metadata(b).unwrap();
        assert!(m.file_type().is_fifo(), "{b:?}");
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{b:?}");
    }
    drop((rx, tx));
    Ring::remove(name.as_str(), false).unwrap();
    for b in &bells {
        assert!(!b.exists(), "{b:?} left behind");
    }
    // A name that is a bell's is not a ring name.
    assert!(matches!(
        Ring::create(&format!("{}.bell-rx", name.as_str()), &RingOptions::new()),
        Err(Error::InvalidName { .. })
    ));
}

/// An anonymous ring's descriptors work across `fork` (the pipes are made with the ring).
#[test]
fn anonymous_ring_descriptor_across_fork() {
    let _g = serial();
    let (tx, mut rx) = ipcring::pair_at("shm://?capacity=4&msg_size=64").unwrap();
    let fd = rx.as_raw_fd();
    assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
    let mut tx = Some(tx);
    let child = fork("anon-sender", || {
        let mut tx = tx.take().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        tx.send(&common::encode_vec(0, 0, 30)).unwrap();
    });
    drop(tx.take());
    assert!(readable(fd, HANG.as_millis() as i32));
    let mut check = common::SeqChecker::new(1, Some(30));
    check.check_or_panic(&rx.recv_vec_timeout(HANG).unwrap());
    child.expect_success(HANG);
    assert!(readable(fd, HANG.as_millis() as i32), "end of stream did not wake");
    let r = rx.recv_vec_timeout(HANG);
    assert!(matches!(r, Err(Error::EndOfStream)), "{r:?}");
}

/// Both ends as event loops (each waits on its own descriptor after `WouldBlock`, with
/// `poll(2)` or with `ipcring::poll`), a fast sender filling the ring: no wake-up is lost in
/// either direction.
#[test]
fn both_ends_on_descriptors() {
    let _g = serial();
    const N: u64 = 100_000;
    for (kind, with_ipcring_poll) in [
        (Kind::Spsc, false),
        (Kind::Mpmc, false),
        (Kind::Spsc, true),
        (Kind::Mpmc, true),
    ] {
        let wait_tx = |tx: &mut Sender, at: u64| {
            if with_ipcring_poll {
                let n = ipcring::poll(&mut [ipcring::PollItem::sender(tx)], Timeout::after(HANG)).unwrap();
                assert_eq!(n, 1, "sender stalled at {at}");
            } else {
                assert!(
                    readable(tx.as_raw_fd(), HANG.as_millis() as i32),
                    "sender stalled at {at}"
                );
            }
        };
        let wait_rx = |rx: &mut Receiver, at: u64| {
            if with_ipcring_poll {
                let n = ipcring::poll(&mut [ipcring::PollItem::receiver(rx)], Timeout::after(HANG)).unwrap();
                assert_eq!(n, 1, "receiver stalled at {at}");
            } else {
                assert!(
                    readable(rx.as_raw_fd(), HANG.as_millis() as i32),
                    "receiver stalled at {at}"
                );
            }
        };
        let name = ShmName::new("rdy-both");
        let a = addr(name.as_str(), kind);
        let mut rx = Receiver::open(&a, Create::IfMissing).unwrap();
        let child = fork("fd-sender", || {
            let mut tx = Sender::open(&a, Create::No).unwrap();
            let mut buf = [0u8; 64];
            for i in 0..N {
                let len = common::encode(0, i, 16, &mut buf);
                loop {
                    match tx.try_send(&buf[..len]) {
                        Ok(()) => break,
                        Err(Error::WouldBlock) => wait_tx(&mut tx, i),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        let mut check = common::SeqChecker::new(1, Some(16));
        let mut got = 0;
        while got < N {
            match rx.try_recv_vec() {
                Ok(m) => {
                    check.check_or_panic(&m);
                    got += 1;
                }
                Err(Error::WouldBlock) => wait_rx(&mut rx, got),
                Err(e) => panic!("{kind:?}: {e} at {got}"),
            }
        }
        check.assert_complete(N);
        child.expect_success(HANG);
    }
}
