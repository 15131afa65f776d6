//! `ipcring bridge` with a real `nats-server` (tests/common/nats.rs):
//!
//! - C → shm → bridge → NATS → bridge → shm → Rust on loopback (`common::nats::run_pipeline`,
//!   which `cli_bridge_netns.rs` runs across two network namespaces): `c-examples/
//!   pipeline_producer` writes checked messages into a ring, one bridge moves them into
//!   `nats://`, another out of it into a second ring, and a child consumer reads that ring
//!   checking every sequence number and checksum, then end of stream through the whole chain.
//!   The count is `IPCRING_NATS_PIPELINE_N`, default 1,000,000 (about 31 s on the 2-core test
//!   machine with batches, some 32,000 messages/s end to end); progress every 15 s and the
//!   rate go to stderr. Needs the C library built (`cargo build --release -p ipcring-capi`).
//! - The bridge SIGKILLed at random points (shm → nats, `IPCRING_NATS_KILL_ROUNDS` rounds,
//!   default 50, over `IPCRING_NATS_KILL_N` messages, default 400,000, enough for 50 kills
//!   mid-stream at the batched bridge's pace of 1,024-message batches): each round's bridge is
//!   killed while running, one round in eight during its start, the others once it released a
//!   random number of further messages (plus 0-3 ms); a last bridge moves the rest. Afterwards
//!   the stream holds every message exactly once, in order. The seed is printed;
//!   `IPCRING_NATS_KILL_SEED` replays one.
//! - The same out of `nats://` into a ring (`IPCRING_NATS_KILL_OUT_N`, default 60,000):
//!   nothing lost; what comes again is bounded per kill and counted.
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

/// What [`kill_rounds`] did.
struct Kills {
    killed: u64,
    at_start: u64,
    /// The progress count after each kill.
    points: Vec<u64>,
    seed: u64,
}

/// `rounds` bridges `from` → `to`, each SIGKILLed while running: one round in eight at a
/// random moment of its start (before or while it connects), the others once `moved()` (a
/// count of messages the bridge has moved) advanced by a random 1..=`n / rounds` more, plus
/// 0-3 ms (anywhere in a peek-send-release cycle). Fails if a bridge ends before its kill or
/// moves nothing for `HANG_BOUND`.
fn kill_rounds(from: &str, to: &str, n: u64, rounds: u64, moved: &mut dyn FnMut() -> u64) -> Kills {
    let seed = std::env::var("IPCRING_NATS_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            u64::from(std::process::id()) << 32 ^ t.as_nanos() as u64
        });
    let mut rng = common::rng::Rng::new(seed, 18);
    let mut k = Kills {
        killed: 0,
        at_start: 0,
        points: Vec::new(),
        seed,
    };
    for round in 0..rounds {
        let before = moved();
        let mut procs = Procs::default();
        procs.push(bridge("bridge", from, to));
        let ended = |procs: &mut Procs, s: std::process::ExitStatus| -> ! {
            let e = procs.finish(HANG_BOUND).pop().unwrap();
            panic!(
                "round {round} (seed {seed}): the bridge ended ({s}) before its kill:\n{}",
                e.describe()
            );
        };
        if rng.chance(8) {
            std::thread::sleep(Duration::from_millis(rng.below(60)));
            k.at_start += 1;
        } else {
            let target = before + 1 + rng.below(n / rounds);
            let t0 = Instant::now();
            while moved() < target {
                if let Some(s) = procs.0[0].try_wait() {
                    ended(&mut procs, s);
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
            ended(&mut procs, s);
        }
        procs.0[0].kill();
        let e = procs.finish(HANG_BOUND).pop().unwrap();
        assert!(
            e.status.is_some_and(|s| s.signal() == Some(libc::SIGKILL)),
            "round {round}: {}",
            e.describe()
        );
        k.killed += 1;
        k.points.push(moved());
    }
    assert_eq!(k.killed, rounds);
    k
}

#[test]
fn bridge_killed_at_random_points_loses_and_duplicates_nothing() {
    let _g = serial();
    let n = common::env_u64("IPCRING_NATS_KILL_N", 400_000);
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
    let mut released = move || cursors() - base;
    // The rounds cover about half the stream; a last bridge moves the rest.
    let k = kill_rounds(&a, &x, n, rounds, &mut released);
    let before_last = released();
    assert!(
        before_last < n,
        "the kill rounds moved everything ({before_last} of {n})"
    );
    let last = wait_all(vec![bridge("bridge", &a, &x)], HANG_BOUND).pop().unwrap();
    assert!(last.success(), "{}", last.describe());
    assert_eq!(released(), n, "the last bridge released the rest");
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
        "shm -> nats: bridge SIGKILLed {} times ({} during its start, seed {}) moving {n} messages, \
         at released counts {:?}; the last bridge moved {}: none lost, none twice ({end:?} at the end)",
        k.killed,
        k.at_start,
        k.seed,
        k.points,
        n - before_last
    );
}

/// The other direction, out of `nats://` into a ring: nothing lost. What a killed bridge held
/// unacknowledged on the server comes again after `ack_wait` (1 s here), out of order: the
/// messages it had fetched ahead, and, twice, those it had already sent on whose
/// acknowledgement the server did not have yet (docs/cli.md: into another transport those
/// may arrive twice). The test bounds them per kill and prints how many.
#[test]
fn bridge_out_of_nats_killed_at_random_points_loses_nothing() {
    let _g = serial();
    let n = common::env_u64("IPCRING_NATS_KILL_OUT_N", 60_000);
    let rounds = common::env_u64("IPCRING_NATS_KILL_ROUNDS", 50);
    assert!(
        rounds >= 1 && n >= 4 * rounds,
        "IPCRING_NATS_KILL_OUT_N must be at least 4 x the rounds"
    );
    let srv = NatsServer::start();
    let ring = ShmName::new("br-kill-out");
    // Room for every message and every duplicate: nothing reads the ring until the end.
    let b = format!(
        "shm://{}?capacity={}&msg_size=128",
        ring.as_str(),
        (2 * n).next_power_of_two()
    );
    let x = srv.addr(ring.as_str(), "msg_size=128&ack_wait=1");
    {
        let mut tx = Sender::open(&x, Create::IfMissing).unwrap();
        for seq in 0..n {
            tx.send(&encode_vec(0, seq, 128 - OVERHEAD)).unwrap();
        }
    }
    // Opened before any bridge: every bridge is a sender that concerns it.
    let mut rx = Receiver::open(&b, Create::IfMissing).unwrap();
    // How far the bridges got: the ring's cursors (head fixed at 0, tail = sent into it).
    let mut cursors = ring_progress(ring.as_str());
    let base = cursors();
    let mut sent = move || cursors() - base;
    let k = kill_rounds(&x, &b, n, rounds, &mut sent);
    let before_last = sent();
    assert!(
        before_last < n,
        "the kill rounds moved everything ({before_last} of {n})"
    );
    let last = wait_all(vec![bridge("bridge", &x, &b)], HANG_BOUND).pop().unwrap();
    assert!(last.success(), "{}", last.describe());
    let mut seen = vec![0u32; n as usize];
    let mut buf = vec![0u8; 128];
    let end = loop {
        match rx.recv_timeout(&mut buf, HANG_BOUND) {
            Ok(len) => {
                let (p, seq) = decode(&buf[..len], Some(128 - OVERHEAD)).unwrap_or_else(|e| panic!("{e}"));
                assert!(p == 0 && seq < n, "producer {p} seq {seq}");
                seen[seq as usize] += 1;
            }
            Err(e) => break e,
        }
    };
    // The killed bridges were senders of the ring that died: the end is SenderDied.
    assert!(matches!(end, Error::SenderDied | Error::EndOfStream), "end: {end:?}");
    let lost: Vec<_> = (0..n as usize).filter(|&s| seen[s] == 0).collect();
    assert!(
        lost.is_empty(),
        "{} lost (first {:?}; seed {})",
        lost.len(),
        &lost[..lost.len().min(20)],
        k.seed
    );
    let twice: Vec<_> = (0..n as usize).filter(|&s| seen[s] > 1).collect();
    let most = seen.iter().copied().max().unwrap_or(0);
    // What may come again is what a killed bridge had delivered into the ring whose
    // acknowledgement had not reached the server: the message in hand, the receiver's group
    // of acknowledgements not yet confirmed (at most 256, `TICKET_EVERY` in
    // src/transport/nats/receiver.rs) and those queued behind it for the acknowledging task
    // (at most the 256 fetched ahead, `PREFETCH`). Fetched messages never delivered come
    // again too but only once, so they are not counted. Never more than that per kill
    // (measured: 82 per kill on average over 50 kills, 2026-12-06).
    let window = 256 + 256 + 1;
    assert!(
        twice.len() as u64 <= k.killed * window && u64::from(most) <= 1 + k.killed,
        "{} delivered more than once (at most {most} times) after {} kills: {:?} (seed {})",
        twice.len(),
        k.killed,
        &twice[..twice.len().min(20)],
        k.seed
    );
    eprintln!(
        "nats -> shm: bridge SIGKILLed {} times ({} during its start, seed {}) moving {n} messages; \
         the last bridge moved {}: none lost, {} more than once (at most {most} times; {:.1} per kill) ({end:?} at the end)",
        k.killed,
        k.at_start,
        k.seed,
        n - before_last,
        twice.len(),
        twice.len() as f64 / k.killed as f64
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
