//! `ipcring bridge` with a real `nats-server` (tests/common/nats.rs):
//!
//! - C → shm → bridge → NATS → bridge → shm → Rust: `c-examples/pipeline_producer` writes
//!   checked messages into a ring, one bridge moves them into `nats://`, another out of it
//!   into a second ring, and this test reads that ring checking every sequence number and
//!   checksum, then end of stream through the whole chain. The count is
//!   `IPCRING_NATS_PIPELINE_N` (default 100,000; `IPCRING_NATS_PIPELINE_N=1000000` is the full
//!   run: about 31 s on the busy 2-core test machine, some 32,000 messages/s with batches). Needs the C library built (`cargo build --release -p ipcring-capi`).
//! - The bridge SIGKILLed at random points (shm → nats, `IPCRING_NATS_KILL_ROUNDS` rounds,
//!   default 50, over `IPCRING_NATS_KILL_N` messages, default 400,000, enough that all 50
//!   kills land mid-stream at the batched bridge's 25,000-40,000 msg/s; a round that finds
//!   the ring drained ends the rounds, since a bridge started on an empty ring whose sender
//!   is gone waits for a sender, as any receiver does): afterwards the stream holds every
//!   message exactly once, in order.
//! - Bad addresses and a missing server: the exit codes of docs/cli.md.
#![cfg(unix)]

#[path = "../../tests/common/mod.rs"]
mod common;

use common::nats::NatsServer;
use common::*;
use ipcring::{Create, Error, Receiver, Sender};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ipcring");

fn env_n(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn bridge(label: &str, from: &str, to: &str) -> ChildProc {
    let mut cmd = Command::new(BIN);
    cmd.args(["bridge", "--stats", from, to]);
    spawn_command(label, cmd)
}

#[test]
fn c_to_shm_to_nats_to_shm_to_rust() {
    let _g = serial();
    let n = env_n("IPCRING_NATS_PIPELINE_N", 100_000);
    let srv = NatsServer::start();
    let id = std::process::id();
    let a = format!("shm://ipcring-br-in-{id}?capacity=65536&msg_size=256");
    let b = format!("shm://ipcring-br-out-{id}?capacity=65536&msg_size=256");
    let x = srv.addr(&format!("pipe{id}"), "msg_size=256");
    let _names = (
        ShmName::from_name(format!("ipcring-br-in-{id}")),
        ShmName::from_name(format!("ipcring-br-out-{id}")),
    );
    let mut rx = Receiver::open(&b, Create::IfMissing).unwrap();
    let examples = common::c::make_examples();
    let t0 = Instant::now();
    let out = bridge("bridge nats->shm", &x, &b);
    let inb = bridge("bridge shm->nats", &a, &x);
    let mut prod = Command::new(examples.join("pipeline_producer"));
    prod.args([&a, &n.to_string(), "0"]);
    let prod = spawn_command("pipeline_producer", prod);
    let mut check = SeqChecker::new(1, Some(256 - OVERHEAD));
    let mut buf = vec![0u8; 256];
    loop {
        match rx.recv_timeout(&mut buf, HANG_BOUND) {
            Ok(len) => check.check_or_panic(&buf[..len]),
            Err(Error::EndOfStream) => break,
            Err(e) => panic!("recv after {} messages: {e}", check.count),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    check.assert_complete(n);
    for e in wait_all(vec![prod, inb, out], HANG_BOUND) {
        assert!(e.success(), "{}", e.describe());
        if e.label.starts_with("bridge") {
            eprintln!("{}: {}", e.label, e.stderr.lines().last().unwrap_or(""));
        }
    }
    eprintln!(
        "C -> shm -> bridge -> NATS -> bridge -> shm -> Rust: {n} messages in {secs:.1} s ({:.0} msg/s)",
        n as f64 / secs
    );
}

#[test]
fn bridge_killed_at_random_points_loses_and_duplicates_nothing() {
    let _g = serial();
    let n = env_n("IPCRING_NATS_KILL_N", 400_000);
    let rounds = env_n("IPCRING_NATS_KILL_ROUNDS", 50);
    let srv = NatsServer::start();
    let id = std::process::id();
    // The ring holds them all: the producer writes everything before any bridge reads.
    let a = format!(
        "shm://ipcring-br-kill-{id}?capacity={}&msg_size=128",
        n.next_power_of_two()
    );
    let _name = ShmName::from_name(format!("ipcring-br-kill-{id}"));
    let x = srv.addr(&format!("kill{id}"), "msg_size=128");
    // The source holds every message, written and closed before the bridges run (a ring's
    // sender sees Disconnected once its receiver died, so the producer finishes first).
    {
        let mut tx = Sender::open(&a, Create::IfMissing).unwrap();
        let _rx_keep = Receiver::open(&a, Create::No);
        for seq in 0..n {
            tx.send(&encode_vec(0, seq, 128 - OVERHEAD)).unwrap();
        }
    }
    let mut rng = common::rng::Rng::new(u64::from(id), 18);
    let mut killed = 0;
    let ring_name = format!("ipcring-br-kill-{id}");
    let drained = || {
        ipcring::inspect::inspect(&ring_name)
            .ok()
            .and_then(|i| i.counters)
            .and_then(|c| c.fill)
            == Some(0)
    };
    for _ in 0..rounds {
        if drained() {
            break; // a killed bridge moved the last message
        }
        let mut b = bridge("bridge", &a, &x);
        std::thread::sleep(Duration::from_millis(10 + rng.below(150)));
        b.kill();
        let e = wait_all(vec![b], HANG_BOUND).pop().unwrap();
        if e.status.is_some_and(|s| s.success()) {
            break; // it finished before the kill
        }
        killed += 1;
    }
    if !drained() {
        let last = wait_all(vec![bridge("bridge", &a, &x)], HANG_BOUND).pop().unwrap();
        assert!(last.success(), "{}", last.describe());
    }
    // Everything in the stream once, in order; the killed bridges' nats senders died, so the
    // end is SenderDied.
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
    eprintln!("bridge killed {killed} times moving {n} messages: none lost, none twice ({end:?} at the end)");
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
