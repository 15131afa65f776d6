//! `ipcring bridge` with a real `nats-server` (tests/common/nats.rs):
//!
//! - C → shm → bridge → NATS → bridge → shm → Rust on loopback (`common::nats::run_pipeline`,
//!   which `cli_bridge_netns.rs` runs across two network namespaces): `c-examples/
//!   pipeline_producer` writes checked messages into a ring, one bridge moves them into
//!   `nats://`, another out of it into a second ring, and a child consumer reads that ring
//!   checking every sequence number and checksum, then end of stream through the whole chain.
//!   The count is `IPCRING_NATS_PIPELINE_N`, default 1,000,000 (about 4.5-5 minutes on the
//!   2-core test machine, where the chain moves some 3,500-4,000 messages/s); progress every
//!   15 s and the rate go to stderr. Needs the C library built (`cargo build --release -p
//!   ipcring-capi`).
//! - The bridge SIGKILLed at random points (shm → nats, `IPCRING_NATS_KILL_ROUNDS` rounds,
//!   default 50, over `IPCRING_NATS_KILL_N` messages, default 100,000): each round's bridge is
//!   killed while running, one round in eight during its start, the others once it released a
//!   random number of further messages (plus 0-3 ms); a last bridge moves the rest. Afterwards
//!   the stream holds every message exactly once, in order.
//! - Bad addresses and a missing server: the exit codes of docs/cli.md.
#![cfg(unix)]

#[path = "../../tests/common/mod.rs"]
mod common;

use common::nats::{run_pipeline, Host, NatsServer, Procs};
use common::*;
use ipcring::{Create, Error, Receiver, Sender};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ipcring");

fn bridge(label: &str, from: &str, to: &str) -> ChildProc {
    let mut cmd = Command::new(BIN);
    cmd.args(["bridge", "--stats", from, to]);
    spawn_command(label, cmd)
}

#[test]
fn child_entry() {
    common::child_entry(common::nats::pipeline_role);
}

#[test]
fn c_to_shm_to_nats_to_shm_to_rust() {
    let _g = serial();
    let n = common::env_u64("IPCRING_NATS_PIPELINE_N", 1_000_000);
    let srv = NatsServer::start();
    let run = run_pipeline(Path::new(BIN), &srv, &Host::Local, &Host::Local, n, "loopback");
    assert_eq!(run.n, n);
}

#[test]
fn bridge_killed_at_random_points_loses_and_duplicates_nothing() {
    let _g = serial();
    let n = common::env_u64("IPCRING_NATS_KILL_N", 100_000);
    let rounds = common::env_u64("IPCRING_NATS_KILL_ROUNDS", 50);
    assert!(
        rounds >= 1 && n >= 4 * rounds,
        "IPCRING_NATS_KILL_N must be at least 4 x the rounds"
    );
    let srv = NatsServer::start();
    // The ring holds them all: the producer writes everything before any bridge reads (a
    // ring's sender sees Disconnected once its receiver died, so the producer finishes first).
    let ring = ShmName::new("br-kill");
    let a = format!(
        "shm://{}?capacity={}&msg_size=128",
        ring.as_str(),
        n.next_power_of_two()
    );
    let x = srv.addr(ring.as_str(), "msg_size=128");
    {
        let mut tx = Sender::open(&a, Create::IfMissing).unwrap();
        let _rx_keep = Receiver::open(&a, Create::No);
        for seq in 0..n {
            tx.send(&encode_vec(0, seq, 128 - OVERHEAD)).unwrap();
        }
    }
    // How far the bridges got: the ring's two cursors (tail fixed at n now, head = released).
    let mut cursors = ring_progress(ring.as_str());
    let base = cursors();
    let released = |c: &mut dyn FnMut() -> u64| c() - base;
    let seed = std::process::id() as u64;
    let mut rng = common::rng::Rng::new(seed, 18);
    // Each round: a bridge, killed either at a random moment of its start (1 round in 8:
    // before or while it connects) or once it released a random 1..=n/rounds more messages,
    // plus 0-3 ms (anywhere in a peek-publish-release cycle). The rounds cover about half the
    // stream; a last bridge moves the rest.
    let (mut killed, mut at_start, mut points) = (0u64, 0u64, Vec::new());
    for round in 0..rounds {
        let before = released(&mut cursors);
        let mut procs = Procs::default();
        procs.push(bridge("bridge", &a, &x));
        if rng.chance(8) {
            std::thread::sleep(Duration::from_millis(rng.below(60)));
            at_start += 1;
        } else {
            let target = before + 1 + rng.below(n / rounds);
            let t0 = Instant::now();
            while released(&mut cursors) < target {
                if let Some(s) = procs.0[0].try_wait() {
                    let e = procs.finish(HANG_BOUND).pop().unwrap();
                    panic!(
                        "round {round}: the bridge ended ({s}) before its kill:\n{}",
                        e.describe()
                    );
                }
                assert!(
                    t0.elapsed() < HANG_BOUND,
                    "round {round}: the bridge moved nothing for {HANG_BOUND:?}"
                );
                std::thread::sleep(Duration::from_micros(200));
            }
            std::thread::sleep(Duration::from_micros(rng.below(3000)));
        }
        if let Some(s) = procs.0[0].try_wait() {
            let e = procs.finish(HANG_BOUND).pop().unwrap();
            panic!(
                "round {round}: the bridge ended ({s}) before its kill:\n{}",
                e.describe()
            );
        }
        procs.0[0].kill();
        let e = procs.finish(HANG_BOUND).pop().unwrap();
        assert!(
            e.status.is_some_and(|s| s.signal() == Some(libc::SIGKILL)),
            "round {round}: {}",
            e.describe()
        );
        killed += 1;
        points.push(released(&mut cursors));
    }
    let before_last = released(&mut cursors);
    assert_eq!(killed, rounds);
    assert!(
        before_last < n,
        "the kill rounds moved everything ({before_last} of {n})"
    );
    let last = wait_all(vec![bridge("bridge", &a, &x)], HANG_BOUND).pop().unwrap();
    assert!(last.success(), "{}", last.describe());
    assert_eq!(released(&mut cursors), n, "the last bridge released the rest");
    // Everything in the stream once, in order (SeqChecker fails on a duplicate as on a loss);
    // the killed bridges' nats senders died, so the end is SenderDied.
    let mut rx = Receiver::open(&x, Create::No).unwrap();
    let mut check = SeqChecker::new(1, Some(128 - OVERHEAD));
    let mut buf = vec![0u8; 128];
    let end = loop {
        match rx.recv_timeout(&mut buf, HANG_BOUND) {
            Ok(len) => check.check_or_panic(&buf[..len]),
            Err(e) => break e,
        }
    };
    check.assert_complete(n);
    assert!(matches!(end, Error::SenderDied | Error::EndOfStream), "end: {end:?}");
    eprintln!(
        "bridge SIGKILLed {killed} times ({at_start} during its start, seed {seed}) moving {n} messages, \
         at released counts {points:?}; the last bridge moved {}: none lost, none twice ({end:?} at the end)",
        n - before_last
    );
}

#[test]
fn bad_addresses_and_no_server_give_the_documented_codes() {
    let run = |args: &[&str]| {
        let o = Command::new(BIN).args(args).stdin(Stdio::null()).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, err) = run(&["bridge", "nats://127.0.0.1/x", "shm://y"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("HOST:PORT"), "{err}");
    let (code, err) = run(&["bridge", "shm://y", "nats://127.0.0.1:1/x?colour=red"]);
    assert_eq!(code, Some(2), "{err}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, err) = run(&["bridge", &format!("nats://127.0.0.1:{port}/x"), "shm://ipcring-br-none"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("NATS server"), "{err}");
}
