//! MPMC rings between real processes: producer processes and consumer processes over a
//! named ring (the test binary re-executed). Each consumer checks every message (checksum,
//! payload, strictly increasing seq per producer) and writes every `(producer, seq)` it got
//! to a file; the parent checks that the union over the consumers is every message exactly
//! once.
//!
//! `IPCRING_MPMC_MESSAGES` (default 1,000,000) sets the messages per producer of the main runs.

mod common;

use common::*;
use ipcring::{Error, Kind, Ring, RingOptions, Timeout, WakeBackend};
use std::time::Instant;

const MSG_SIZE: u64 = 64;
const MAX_PAYLOAD: usize = 40;

#[test]
fn child_entry() {
    common::child_entry(|role| match role {
        "producer" => producer(),
        "consumer" => consumer(),
        other => panic!("unknown role {other:?}"),
    });
}

// ---------------------------------------------------------------------------------------
// Child roles
// ---------------------------------------------------------------------------------------

/// The options a child opens the ring with: MPMC, and `spin=off` if the parent says so.
fn child_options() -> RingOptions {
    RingOptions::new().kind(Kind::Mpmc).spin(param("SPIN") != "off")
}

/// Producer ID sends seqs 0..COUNT in MODE, then drops its sender and exits.
fn producer() {
    let name = param("RING");
    let id = param_u64("ID") as u32;
    let n = param_u64("COUNT");
    let mode = param("MODE");
    let ring = Ring::open_with(&name, &child_options()).expect("open ring");
    let mut tx = ring.sender().expect("attach sender");
    let max = tx.max_msg_size();
    let mut buf = vec![0u8; max];
    let mut tombstones = 0u64;
    match mode.as_str() {
        "plain" => {
            for seq in 0..n {
                let len = encode(id, seq, MAX_PAYLOAD, &mut buf);
                tx.send(&buf[..len]).unwrap_or_else(|e| panic!("send seq {seq}: {e}"));
            }
        }
        "batch" => {
            let mut seq = 0;
            let mut batch: Vec<Vec<u8>> = Vec::new();
            while seq < n {
                let k = (1 + mix(seq ^ id as u64) % 40).min(n - seq);
                batch.clear();
                for s in seq..seq + k {
                    batch.push(encode_vec(id, s, MAX_PAYLOAD));
                }
                let sent = tx.send_batch(&batch, Timeout::Forever).expect("send_batch");
                assert_eq!(sent as u64, k, "send_batch(Forever) sent {sent} of {k}");
                seq += k;
            }
        }
        "clones" => {
            // Two senders in this process (try_clone), alternating; the clone is dropped half
            // way, which must not end anybody's stream.
            let mut clone = Some(tx.try_clone().expect("try_clone"));
            let mut by_clone = 0;
            for seq in 0..n {
                let len = encode(id, seq, MAX_PAYLOAD, &mut buf);
                match clone.as_mut() {
                    Some(c) if seq % 2 == 1 => {
                        c.send(&buf[..len]).expect("send (clone)");
                        by_clone += 1;
                    }
                    _ => tx.send(&buf[..len]).expect("send"),
                }
                if seq == n / 2 {
                    let c = clone.take().unwrap();
                    assert_eq!(c.stats().messages, by_clone, "the clone's stats");
                }
            }
            assert!(by_clone > 0);
            // Only what went through tx itself.
            assert_eq!(tx.stats().messages, n - by_clone, "producer {id} stats().messages");
            return;
        }
        "tombstone" => {
            for seq in 0..n {
                if seq % 5 == 2 {
                    // Reserved and dropped without commit: a tombstone consumers skip.
                    let mut slot = tx.reserve(Timeout::Forever).expect("reserve");
                    slot.buf().fill(0xEE);
                    drop(slot);
                    tombstones += 1;
                }
                if seq % 13 == 4 {
                    // A refused commit gives the slot up too.
                    let mut slot = tx.reserve(Timeout::Forever).expect("reserve");
                    slot.buf()[..OVERHEAD].fill(0xDD);
                    assert!(matches!(slot.commit(max + 1), Err(Error::TooLarge { .. })));
                    tombstones += 1;
                }
                if seq % 2 == 0 {
                    let mut slot = tx.reserve(Timeout::Forever).expect("reserve");
                    let len = encode(id, seq, MAX_PAYLOAD, slot.buf());
                    slot.commit(len).expect("commit");
                } else {
                    let len = encode(id, seq, MAX_PAYLOAD, &mut buf);
                    tx.send(&buf[..len]).expect("send");
                }
            }
            // The last thing in the ring from this producer is a tombstone: the consumers
            // must still reach the end of the stream.
            drop(tx.reserve(Timeout::Forever).expect("reserve"));
            tombstones += 1;
        }
        other => panic!("unknown producer mode {other:?}"),
    }
    assert_eq!(tx.stats().messages, n, "producer {id} stats().messages");
    if tombstones > 0 {
        eprintln!("producer {id}: {tombstones} tombstones");
    }
    drop(tx);
}

/// Receives in MODE until EndOfStream, checking each message and recording it to OUT.
fn consumer() {
    let name = param("RING");
    let out = param("OUT");
    let producers = param_u64("PRODUCERS") as usize;
    let n = param_u64("COUNT");
    let mode = param("MODE");
    let ring = Ring::open_with(&name, &child_options()).expect("open ring");
    let mut rx = ring.receiver().expect("attach receiver");
    let max = rx.max_msg_size();
    let mut buf = vec![0u8; max];
    let mut rec = FifoRecorder::new(&out, producers, n, Some(MAX_PAYLOAD));
    let end = match mode.as_str() {
        "plain" => loop {
            match rx.recv(&mut buf) {
                Ok(len) => rec.check_or_panic(&buf[..len]),
                Err(e) => break e,
            }
        },
        "vec" => loop {
            match rx.recv_vec() {
                Ok(m) => rec.check_or_panic(&m),
                Err(e) => break e,
            }
        },
        "batch" => loop {
            let mut got = 0;
            match rx.recv_batch(32, Timeout::Forever, |m| {
                got += 1;
                rec.check_or_panic(m)
            }) {
                Ok(k) => assert_eq!(k, got, "recv_batch returned {k} but handed over {got}"),
                Err(e) => break e,
            }
        },
        "peek" => loop {
            match rx.peek(Timeout::Forever) {
                Ok(slot) => {
                    rec.check_or_panic(&slot);
                    slot.release();
                }
                Err(e) => break e,
            }
        },
        "small_buf" => loop {
            // One producer, one consumer: the next message is known, so its length is. A
            // buffer one byte short is BufferTooSmall and the message stays.
            let seq = rec.count;
            let want = msg_len(0, seq, MAX_PAYLOAD);
            match rx.recv(&mut buf[..want - 1]) {
                Err(Error::BufferTooSmall { needed, capacity }) => {
                    assert_eq!((needed, capacity), (want, want - 1), "seq {seq}: BufferTooSmall fields")
                }
                Err(Error::EndOfStream) if seq == n => break Error::EndOfStream,
                other => panic!("seq {seq}: recv into {} bytes: {other:?}", want - 1),
            }
            let got = rx.recv(&mut buf[..want]).expect("recv after BufferTooSmall");
            rec.check_or_panic(&buf[..got]);
        },
        other => panic!("unknown consumer mode {other:?}"),
    };
    assert!(
        matches!(end, Error::EndOfStream),
        "the stream ended with {end:?} after {} messages, not EndOfStream",
        rec.count
    );
    assert_eq!(rx.stats().messages, rec.count, "consumer stats().messages");
    assert!(
        matches!(rx.try_recv(&mut buf), Err(Error::EndOfStream)),
        "try_recv after the end"
    );
    eprintln!("consumer ({mode}): {} messages", rec.count);
    rec.finish();
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

struct Run {
    tag: &'static str,
    wake: WakeBackend,
    capacity: u64,
    per_producer: u64,
    producer_modes: &'static [&'static str],
    consumer_modes: &'static [&'static str],
    /// Whether the children's blocking calls spin before they sleep (`spin=off` if not).
    spin: bool,
}

fn run(r: Run) {
    let _serial = serial();
    let name = ShmName::new(r.tag);
    let ring = Ring::create(
        name.as_str(),
        &RingOptions::new()
            .kind(Kind::Mpmc)
            .capacity(r.capacity)
            .msg_size(MSG_SIZE)
            .wake(r.wake),
    )
    .expect("create");
    let producers = r.producer_modes.len();
    let files: Vec<TempPath> = (0..r.consumer_modes.len()).map(|_| TempPath::new("mpmc-rec")).collect();
    let start = Instant::now();
    let mut children = Vec::new();
    for (c, mode) in r.consumer_modes.iter().enumerate() {
        children.push(spawn(
            "consumer",
            &[
                ("RING", name.as_str().to_string()),
                ("OUT", files[c].as_str().to_string()),
                ("PRODUCERS", producers.to_string()),
                ("COUNT", r.per_producer.to_string()),
                ("MODE", mode.to_string()),
                ("SPIN", if r.spin { "on" } else { "off" }.to_string()),
            ],
        ));
    }
    for (p, mode) in r.producer_modes.iter().enumerate() {
        children.push(spawn(
            "producer",
            &[
                ("RING", name.as_str().to_string()),
                ("ID", p.to_string()),
                ("COUNT", r.per_producer.to_string()),
                ("MODE", mode.to_string()),
                ("SPIN", if r.spin { "on" } else { "off" }.to_string()),
            ],
        ));
    }
    let total = r.per_producer * producers as u64;
    run_all_progress(children, HANG_BOUND, ring_progress(name.as_str()));
    let secs = start.elapsed().as_secs_f64();
    let paths: Vec<&std::path::Path> = files.iter().map(|f| f.path()).collect();
    let split = verify_records(&paths, producers, r.per_producer);
    eprintln!(
        "{}: {producers} producers x {} messages, {} consumers ({:?}), {:?}, capacity {}: {secs:.2} s, \
         {:.2} M msg/s, split {split:?}",
        r.tag,
        r.per_producer,
        r.consumer_modes.len(),
        r.consumer_modes,
        r.wake,
        r.capacity,
        total as f64 / secs / 1e6
    );
    assert_eq!(split.iter().sum::<u64>(), total);
    assert!(ring.is_empty(), "ring not empty after every process finished");
}

fn per_producer() -> u64 {
    env_u64("IPCRING_MPMC_MESSAGES", 1_000_000)
}

#[test]
fn mpmc_2x2_processes_futex() {
    run(Run {
        tag: "mpmc-futex",
        wake: WakeBackend::Futex,
        capacity: 256,
        per_producer: per_producer(),
        producer_modes: &["plain", "plain"],
        consumer_modes: &["plain", "vec"],
        spin: true,
    });
}

/// The 2x2 run with `spin=off` in every child (`RingOptions::spin(false)`): every blocking
/// call that finds the ring empty or full sleeps at once, so nearly every hand-over between
/// the four processes goes through a sleep and a wake-up; nothing may be lost or doubled.
#[test]
fn mpmc_2x2_processes_spin_off() {
    run(Run {
        tag: "mpmc-spin-off",
        wake: WakeBackend::Futex,
        capacity: 256,
        per_producer: per_producer(),
        producer_modes: &["plain", "batch"],
        consumer_modes: &["plain", "vec"],
        spin: false,
    });
}

#[test]
fn mpmc_2x2_processes_sem() {
    run(Run {
        tag: "mpmc-sem",
        wake: WakeBackend::Sem,
        capacity: 256,
        per_producer: per_producer(),
        producer_modes: &["plain", "plain"],
        consumer_modes: &["plain", "peek"],
        spin: true,
    });
}

#[test]
fn mpmc_2x2_batches_futex() {
    run(Run {
        tag: "mpmc-batch-futex",
        wake: WakeBackend::Futex,
        capacity: 256,
        per_producer: per_producer(),
        producer_modes: &["batch", "batch"],
        consumer_modes: &["batch", "batch"],
        spin: true,
    });
}

#[test]
fn mpmc_2x2_batches_sem() {
    run(Run {
        tag: "mpmc-batch-sem",
        wake: WakeBackend::Sem,
        capacity: 64,
        per_producer: per_producer() / 2,
        producer_modes: &["batch", "clones"],
        consumer_modes: &["batch", "plain"],
        spin: true,
    });
}

/// Reservations dropped without commit (and commits refused as too large) leave tombstones
/// that consumers skip: no tombstone is delivered, no message is lost or duplicated, and a
/// trailing tombstone does not keep consumers from the end of the stream.
#[test]
fn mpmc_tombstones_skipped_nothing_lost() {
    for wake in [WakeBackend::Futex, WakeBackend::Sem] {
        run(Run {
            tag: "mpmc-tombstone",
            wake,
            capacity: 32,
            per_producer: 200_000,
            producer_modes: &["tombstone", "tombstone"],
            consumer_modes: &["plain", "peek"],
            spin: true,
        });
    }
}

/// A small ring (two slots) under 2 x 2 processes: every slot is contended all the time.
#[test]
fn mpmc_capacity_two_2x2() {
    run(Run {
        tag: "mpmc-cap2",
        wake: WakeBackend::Futex,
        capacity: 2,
        per_producer: 50_000,
        producer_modes: &["plain", "plain"],
        consumer_modes: &["plain", "plain"],
        spin: true,
    });
}

/// Capacity 1 is accepted for MPMC rings, so it must work like any other.
#[test]
fn mpmc_capacity_one_2x2() {
    run(Run {
        tag: "mpmc-cap1",
        wake: WakeBackend::Futex,
        capacity: 1,
        per_producer: 20_000,
        producer_modes: &["plain", "plain"],
        consumer_modes: &["plain", "plain"],
        spin: true,
    });
}

/// A receive buffer one byte short is BufferTooSmall on MPMC too, and the message stays.
#[test]
fn mpmc_buffer_too_small_keeps_message() {
    run(Run {
        tag: "mpmc-smallbuf",
        wake: WakeBackend::Futex,
        capacity: 16,
        per_producer: 20_000,
        producer_modes: &["plain"],
        consumer_modes: &["small_buf"],
        spin: true,
    });
}

/// The smallest reproduction of the capacity-1 MPMC defect, in one process: a ring of one
/// slot must refuse a second message until the first is received.
#[test]
fn mpmc_capacity_one_holds_one_message() {
    let ring = Ring::in_process(&RingOptions::new().kind(Kind::Mpmc).capacity(1).msg_size(8)).unwrap();
    let (mut tx, mut rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    tx.try_send(b"first").unwrap();
    let second = tx.try_send(b"second");
    let got = rx.try_recv_vec();
    assert!(
        matches!(second, Err(Error::WouldBlock)),
        "second try_send into a full 1-slot ring: {second:?} (then try_recv gave {got:?})"
    );
    assert_eq!(got.unwrap(), b"first");
}
