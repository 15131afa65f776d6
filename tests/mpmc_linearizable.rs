//! crossbeam's `linearizable` test, ported to MPMC rings (crossbeam-channel's
//! `tests/array.rs` and crossbeam-queue's `tests/array_queue.rs`): `THREADS` workers share a
//! ring of capacity `THREADS`; each, `COUNT` times, sends one message (retrying while
//! `try_send` says full) and then must receive one with `try_recv` at once. The worker's own
//! message is in the ring (or was taken by a worker that left its own behind), so the ring is
//! never empty at that instant and `WouldBlock` would be a linearizability bug: before the
//! fix, `try_recv` reported empty while a message was ready behind a slot another producer
//! was still writing (in ~9 of 10 rounds). Run over threads (an in-process ring) and over
//! processes (a named shm ring, one process per worker). Every message is checked (checksum,
//! payload) and every `(worker, seq)` must be received exactly once across the workers.
//!
//! Also: `Ring::len` counts messages, not a cancelled reservation's tombstone.
//!
//! `IPCRING_LIN_COUNT` (default 25,000) sets the rounds per worker.

mod common;

use common::*;
use ipcring::{Error, Kind, Ring, RingOptions, Timeout};
use std::path::Path;

const THREADS: usize = 4;
const MAX_PAYLOAD: usize = 24;
const MSG_SIZE: u64 = 64;

fn count() -> u64 {
    env_u64("IPCRING_LIN_COUNT", 25_000)
}

fn opts() -> RingOptions {
    RingOptions::new()
        .kind(Kind::Mpmc)
        .capacity(THREADS as u64)
        .msg_size(MSG_SIZE)
}

/// One worker: `n` rounds of send-then-receive as worker `id`. Returns the `(producer, seq)`
/// of every message it received, each checked.
fn worker(ring: &Ring, id: u32, n: u64) -> Vec<(u32, u64)> {
    let mut tx = ring.sender().expect("attach sender");
    let mut rx = ring.receiver().expect("attach receiver");
    let mut buf = [0u8; MSG_SIZE as usize];
    let mut got = Vec::with_capacity(n as usize);
    for seq in 0..n {
        let len = encode(id, seq, MAX_PAYLOAD, &mut buf);
        loop {
            match tx.try_send(&buf[..len]) {
                Ok(()) => break,
                Err(Error::WouldBlock) => std::hint::spin_loop(),
                Err(e) => panic!("worker {id} try_send seq {seq}: {e}"),
            }
        }
        let mut m = [0u8; MSG_SIZE as usize];
        let l = rx
            .try_recv(&mut m)
            .unwrap_or_else(|e| panic!("worker {id} round {seq}: try_recv right after a send: {e}"));
        let (p, s) = decode(&m[..l], Some(MAX_PAYLOAD)).unwrap_or_else(|e| panic!("worker {id}: bad message: {e}"));
        got.push((p, s));
    }
    got
}

/// Every `(worker, seq)` received exactly once over all the workers' lists.
fn check_exactly_once(lists: &[Vec<(u32, u64)>], n: u64) {
    let mut seen = vec![vec![false; n as usize]; THREADS];
    for (p, s) in lists.iter().flatten() {
        let (p, s) = (*p as usize, *s as usize);
        assert!(p < THREADS && s < n as usize, "message ({p}, {s}) out of range");
        assert!(!seen[p][s], "message ({p}, {s}) received twice");
        seen[p][s] = true;
    }
    for (p, row) in seen.iter().enumerate() {
        if let Some(s) = row.iter().position(|x| !x) {
            panic!("message ({p}, {s}) never received");
        }
    }
}

#[test]
fn child_entry() {
    common::child_entry(|role| match role {
        "worker" => {
            let ring = Ring::open_with(&param("RING"), &opts()).expect("open ring");
            let id = param_u64("ID") as u32;
            // Start together, so the workers really overlap.
            wait_for_file(Path::new(&param("GO")), HANG_BOUND);
            let got = worker(&ring, id, param_u64("COUNT"));
            let text: String = got.iter().map(|(p, s)| format!("{p} {s}\n")).collect();
            std::fs::write(param("OUT"), text).expect("write records");
        }
        other => panic!("unknown role {other:?}"),
    });
}

#[test]
fn linearizable_threads() {
    let _g = serial();
    let n = count();
    let ring = Ring::in_process(&opts()).expect("ring");
    let lists: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS as u32)
            .map(|id| {
                s.spawn({
                    let ring = &ring;
                    move || worker(ring, id, n)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("worker panicked")).collect()
    });
    check_exactly_once(&lists, n);
    assert_eq!(ring.len(), 0, "every message was received");
}

#[test]
fn linearizable_processes() {
    let _g = serial();
    let n = count();
    let name = ShmName::new("lin");
    let ring = Ring::create(name.as_str(), &opts()).expect("create ring");
    let go = TempPath::new("lin-go");
    let outs: Vec<TempPath> = (0..THREADS).map(|_| TempPath::new("lin-out")).collect();
    let children: Vec<_> = outs
        .iter()
        .enumerate()
        .map(|(id, out)| {
            spawn(
                "worker",
                &[
                    ("RING", name.as_str().to_string()),
                    ("ID", id.to_string()),
                    ("COUNT", n.to_string()),
                    ("GO", go.as_str().to_string()),
                    ("OUT", out.as_str().to_string()),
                ],
            )
        })
        .collect();
    touch(go.as_str());
    run_all(children, HANG_BOUND);
    let lists: Vec<Vec<(u32, u64)>> = outs
        .iter()
        .map(|o| {
            std::fs::read_to_string(o.path())
                .expect("records")
                .lines()
                .map(|l| {
                    let mut it = l.split(' ').map(|x| x.parse::<u64>().expect("number"));
                    (it.next().unwrap() as u32, it.next().unwrap())
                })
                .collect()
        })
        .collect();
    check_exactly_once(&lists, n);
    assert_eq!(ring.len(), 0, "every message was received");
}

/// A cancelled reservation leaves a tombstone in an MPMC ring: not a message.
#[test]
fn len_counts_messages_not_tombstones() {
    let _g = serial();
    let ring = Ring::in_process(&opts()).expect("ring");
    let mut tx = ring.sender().expect("sender");
    let mut rx = ring.receiver().expect("receiver");
    let slot = tx.reserve(Timeout::NonBlocking).expect("reserve");
    drop(slot); // cancelled: a tombstone
    assert_eq!(ring.len(), 0, "a tombstone is not a message");
    assert!(ring.is_empty());
    let msg = encode_vec(0, 0, MAX_PAYLOAD);
    tx.send(&msg).expect("send");
    assert_eq!(ring.len(), 1);
    // A reservation held open (a claim still being written) is not a message either.
    let held = tx.reserve(Timeout::NonBlocking).expect("reserve");
    assert_eq!(ring.len(), 1);
    let mut m = [0u8; MSG_SIZE as usize];
    let l = rx.try_recv(&mut m).expect("the message behind the tombstone");
    assert_eq!(decode(&m[..l], Some(MAX_PAYLOAD)).expect("valid"), (0, 0));
    assert_eq!(ring.len(), 0);
    // Nothing ready behind the held reservation: empty, at once (no bounded wait).
    assert!(matches!(rx.try_recv(&mut m), Err(Error::WouldBlock)));
    drop(held);
    assert!(matches!(rx.try_recv(&mut m), Err(Error::WouldBlock)));
    assert_eq!(ring.len(), 0);
}

/// A message ready behind a reservation held open: `try_recv` waits a bounded while for the
/// holder (it is alive, so it is not recovered), then says `WouldBlock` rather than hang; once
/// the holder commits, both messages come out in order.
#[test]
fn held_reservation_bounds_try_recv() {
    let _g = serial();
    let ring = Ring::in_process(&opts()).expect("ring");
    let mut tx = ring.sender().expect("sender");
    let mut tx2 = ring.sender().expect("sender");
    let mut rx = ring.receiver().expect("receiver");
    let mut held = tx.reserve(Timeout::NonBlocking).expect("reserve");
    let first = encode_vec(0, 0, MAX_PAYLOAD);
    held.buf()[..first.len()].copy_from_slice(&first);
    tx2.send(&encode_vec(1, 0, MAX_PAYLOAD))
        .expect("send behind the reservation");
    let mut m = [0u8; MSG_SIZE as usize];
    let t = std::time::Instant::now();
    assert!(matches!(rx.try_recv(&mut m), Err(Error::WouldBlock)));
    // The second look at the same stuck slot gives up quickly; only a hang bound is asserted.
    assert!(matches!(rx.try_recv(&mut m), Err(Error::WouldBlock)));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(30),
        "try_recv hung on a held slot"
    );
    held.commit(first.len()).expect("commit");
    for want in [(0, 0), (1, 0)] {
        let l = rx.try_recv(&mut m).expect("in order");
        assert_eq!(decode(&m[..l], Some(MAX_PAYLOAD)).expect("valid"), want);
    }
}
