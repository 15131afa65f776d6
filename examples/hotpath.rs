//! The per-message cost of the API above the ring algorithms, in a form a profiler can count:
//! one thread alternates a send and a receive of 8-byte messages on an anonymous shared-memory
//! ring (`Ring::anonymous`: a memfd mapping with its endpoint locks, the same code path as a
//! named ring), so nothing waits and the machine's noise does not enter the instruction
//! counts. Every message's sequence number is checked on the way out.
//!
//! ```text
//! cargo run --release --example hotpath [-- MODE [MESSAGES]]
//! scripts/hotpath-profile.sh [MESSAGES]    # every mode under callgrind, by layer
//! ```
//!
//! MODE is one of `spsc-try` (`try_send` / `try_recv`), `spsc-block` (`send` / `recv`),
//! `mpmc-try`, `mpmc-block`, `spsc-batch` and `mpmc-batch` (`send_batch` / `recv_batch` of
//! 32), `spsc-empty` and `mpmc-empty` (`try_recv` on an empty ring: what a spinning
//! receiver pays per poll), `spsc-full` and `mpmc-full` (`try_send` on a full ring), the references `ref-arrayqueue` (crossbeam's `ArrayQueue`),
//! `ref-rtrb` and `ref-rtrb-batch` (rtrb, single elements and chunks of 32), or `all` (the
//! default: the ring modes without the empty ones). Run natively it prints nanoseconds per message; under
//! `valgrind --tool=callgrind --toggle-collect='hotpath::run_*'` only the message loops are
//! counted, and the script divides by the messages to get instructions per message, by layer
//! (docs/benchmarks.md, "Where the time goes").

use ipcring::{FenceMode, Kind, Receiver, Ring, RingOptions, Sender, Timeout};
use std::hint::black_box;
use std::time::Instant;

/// Messages per batch in the batch modes (as `benches/ring.rs` and `ipcring bench`).
const BATCH: usize = 32;

fn ends(kind: Kind) -> (Sender, Receiver) {
    let fence = match std::env::var("IPCRING_FENCE").as_deref() {
        Ok("full") => FenceMode::Full,
        _ => FenceMode::Asymmetric,
    };
    let opts = RingOptions::new().kind(kind).capacity(1024).msg_size(8).fence(fence);
    let ring = Ring::anonymous(&opts)
        .or_else(|_| Ring::anonymous(&RingOptions::new().kind(kind).capacity(1024).msg_size(8)))
        .expect("ring");
    (ring.sender().expect("sender"), ring.receiver().expect("receiver"))
}

fn check(i: u64, len: usize, buf: &[u8; 8]) {
    assert!(
        len == 8 && u64::from_le_bytes(*buf) == i,
        "message {i}: got {len} bytes {buf:?}"
    );
}

#[inline(never)]
fn run_try(tx: &mut Sender, rx: &mut Receiver, n: u64) {
    let mut buf = [0u8; 8];
    for i in 0..n {
        tx.try_send(black_box(&i.to_le_bytes())).expect("try_send");
        let len = rx.try_recv(black_box(&mut buf)).expect("try_recv");
        check(i, len, &buf);
    }
}

#[inline(never)]
fn run_block(tx: &mut Sender, rx: &mut Receiver, n: u64) {
    let mut buf = [0u8; 8];
    for i in 0..n {
        tx.send(black_box(&i.to_le_bytes())).expect("send");
        let len = rx.recv(black_box(&mut buf)).expect("recv");
        check(i, len, &buf);
    }
}

#[inline(never)]
fn run_batch(tx: &mut Sender, rx: &mut Receiver, n: u64) {
    let mut msgs = [[0u8; 8]; BATCH];
    let mut next = 0u64;
    let mut expect = 0u64;
    while next < n {
        for m in msgs.iter_mut() {
            *m = next.to_le_bytes();
            next += 1;
        }
        let sent = tx
            .send_batch(black_box(&msgs), Timeout::NonBlocking)
            .expect("send_batch");
        assert_eq!(sent, BATCH, "a batch fits an empty ring");
        let mut got = 0;
        while got < BATCH {
            got += rx
                .recv_batch(BATCH - got, Timeout::NonBlocking, |m| {
                    assert!(m.len() == 8 && m == expect.to_le_bytes(), "message {expect}: got {m:?}");
                    expect += 1;
                })
                .expect("recv_batch");
        }
    }
}

#[inline(never)]
fn run_empty(_tx: &mut Sender, rx: &mut Receiver, n: u64) {
    let mut buf = [0u8; 8];
    for _ in 0..n {
        let r = rx.try_recv(black_box(&mut buf));
        assert!(matches!(r, Err(ipcring::Error::WouldBlock)), "an empty ring: {r:?}");
    }
}

#[inline(never)]
fn run_full(tx: &mut Sender, _rx: &mut Receiver, n: u64) {
    for _ in 0..n {
        let r = tx.try_send(black_box(&[0xA5; 8]));
        assert!(matches!(r, Err(ipcring::Error::WouldBlock)), "a full ring: {r:?}");
    }
}

// The references, in one thread too: crossbeam's `ArrayQueue` (the MPMC targets' baseline)
// and rtrb (the SPSC and batch targets' baseline), 8-byte elements, as in `benches/ring.rs`.

#[inline(never)]
fn run_ref_arrayqueue(q: &crossbeam_queue::ArrayQueue<[u8; 8]>, n: u64) {
    for i in 0..n {
        q.push(black_box(i.to_le_bytes())).expect("push");
        let m = q.pop().expect("pop");
        assert!(u64::from_le_bytes(black_box(m)) == i, "message {i}");
    }
}

#[inline(never)]
fn run_ref_rtrb(p: &mut rtrb::Producer<[u8; 8]>, c: &mut rtrb::Consumer<[u8; 8]>, n: u64) {
    for i in 0..n {
        p.push(black_box(i.to_le_bytes())).expect("push");
        let m = c.pop().expect("pop");
        assert!(u64::from_le_bytes(black_box(m)) == i, "message {i}");
    }
}

#[inline(never)]
fn run_ref_rtrb_batch(p: &mut rtrb::Producer<[u8; 8]>, c: &mut rtrb::Consumer<[u8; 8]>, n: u64) {
    let mut next = 0u64;
    let mut expect = 0u64;
    while next < n {
        let chunk = p.write_chunk_uninit(BATCH).expect("room for a batch");
        let k = chunk.fill_from_iter((0..BATCH as u64).map(|j| black_box((next + j).to_le_bytes())));
        assert_eq!(k, BATCH);
        next += BATCH as u64;
        let chunk = c.read_chunk(BATCH).expect("a batch");
        for m in chunk {
            assert!(u64::from_le_bytes(black_box(m)) == expect, "message {expect}");
            expect += 1;
        }
    }
}

/// Runs a reference mode; the messages and the nanoseconds per message.
fn reference(mode: &str, n: u64) -> (u64, f64) {
    let n = n.next_multiple_of(BATCH as u64);
    let q = crossbeam_queue::ArrayQueue::new(1024);
    let (mut p, mut c) = rtrb::RingBuffer::new(1024);
    let f = |n| match mode {
        "ref-arrayqueue" => run_ref_arrayqueue(&q, n),
        "ref-rtrb" => run_ref_rtrb(&mut p, &mut c, n),
        "ref-rtrb-batch" => run_ref_rtrb_batch(&mut p, &mut c, n),
        _ => unreachable!(),
    };
    let mut f = f;
    f(2048);
    let t = Instant::now();
    f(n);
    (n, t.elapsed().as_nanos() as f64 / n as f64)
}

/// Runs `mode` for `n` messages (rounded up to whole batches); the messages and the
/// nanoseconds per message.
fn run(mode: &str, n: u64) -> (u64, f64) {
    if mode.starts_with("ref-") {
        return reference(mode, n);
    }
    let (kind, f): (Kind, fn(&mut Sender, &mut Receiver, u64)) = match mode {
        "spsc-try" => (Kind::Spsc, run_try),
        "spsc-block" => (Kind::Spsc, run_block),
        "spsc-batch" => (Kind::Spsc, run_batch),
        "mpmc-try" => (Kind::Mpmc, run_try),
        "mpmc-block" => (Kind::Mpmc, run_block),
        "mpmc-batch" => (Kind::Mpmc, run_batch),
        "spsc-empty" => (Kind::Spsc, run_empty),
        "mpmc-empty" => (Kind::Mpmc, run_empty),
        "spsc-full" => (Kind::Spsc, run_full),
        "mpmc-full" => (Kind::Mpmc, run_full),
        _ => panic!(
            "unknown mode {mode:?}: spsc-try, spsc-block, spsc-batch, mpmc-try, mpmc-block, mpmc-batch, \
             spsc-empty, mpmc-empty, ref-arrayqueue, ref-rtrb, ref-rtrb-batch, all"
        ),
    };
    // A batch mode moves whole batches.
    let n = if mode.ends_with("batch") {
        n.next_multiple_of(BATCH as u64)
    } else {
        n
    };
    let (mut tx, mut rx) = ends(kind);
    let mut filled = 0;
    if mode.ends_with("full") {
        while tx.try_send(&[0xA5; 8]).is_ok() {
            filled += 1;
        }
    }
    // Warm up (and touch every slot once) outside the counted loop's first lap.
    f(&mut tx, &mut rx, 2048);
    let t = Instant::now();
    f(&mut tx, &mut rx, n);
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    let (mut s, r) = (tx.stats(), rx.stats());
    s.messages -= filled;
    let moved = if mode.ends_with("empty") || mode.ends_with("full") {
        0
    } else {
        n + 2048
    };
    assert_eq!(
        (s.messages, r.messages),
        (moved, moved),
        "statistics count every message"
    );
    // The sender's first call looks the receiver up once (its attach moved the epoch); an
    // empty poll looks at the senders' liveness now and then (a system call, paced by time).
    let calls = if moved == 0 { 2 + n / 100 } else { 2 };
    assert!(
        s.syscalls + r.syscalls <= calls,
        "no system call per message: {s:?} {r:?}"
    );
    (n, ns)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "all".into());
    let n: u64 = args.next().map_or(1_000_000, |a| a.parse().expect("MESSAGES"));
    let modes: Vec<&str> = if mode == "all" {
        vec![
            "spsc-try",
            "spsc-block",
            "spsc-batch",
            "mpmc-try",
            "mpmc-block",
            "mpmc-batch",
        ]
    } else {
        vec![mode.as_str()]
    };
    for m in modes {
        let (n, ns) = run(m, n);
        println!("{m:<11} {n} messages  {ns:.1} ns/msg");
    }
}
