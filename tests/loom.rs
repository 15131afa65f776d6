//! Loom models of the ring algorithms and the park/notify protocol.
//!
//! Loom runs each model closure under every interleaving of its threads (up to a bound on
//! preemptions) and every value a load may read under the C++11 memory model, so a missing
//! Release/Acquire pair, a lost wake-up or a deadlock is found deterministically rather than by
//! luck. `src/sync.rs` is the only std/loom switch: under `--cfg ipcring_loom` the crate's
//! atomics, the slot payload trackers (`AccessTracker`, a loom `UnsafeCell` per slot, so a read
//! of a payload that does not happen-after its write is a loom "causality violation") and the
//! futex (a `Mutex` + `Condvar` owned by the word) are loom's. Under loom blocking calls do not
//! spin, and timeouts are not modelled (a timed wait sleeps like `Timeout::Forever`), so a lost
//! wake-up shows up as a loom deadlock rather than being papered over by the park slice.
//!
//! Most models drive the ring's ends directly (`Ring::in_process`, then `Ring::attach_sender` /
//! `attach_receiver`: the `ring::RingSender` / `RingReceiver` that the API's `Sender` /
//! `Receiver` hold for a ring), so they check the code the library runs: the SPSC / MPMC
//! algorithms, the blocking layer (`wait::block_on` / `wait::notify`) and the endpoint tracking
//! behind end-of-stream. The API types add only a dispatch (no atomics) and the loom build
//! leaves them out, with the addresses and the fallback transports: it holds only what the
//! models drive. The 2x2 MPMC models drive `ipcring::mpmc` directly over a `HeapRegion` (see
//! there for why).
//!
//! | model                       | what it checks                                                  |
//! |-----------------------------|-----------------------------------------------------------------|
//! | `spsc_wraparound_try`       | SPSC cap 2, 4 messages (each slot written twice) with           |
//! |                             | `try_send`/`try_recv`: order, exact bytes and lengths, slot reuse |
//! | `spsc_wraparound_blocking`  | the same with blocking `send`/`recv` (both sides may park)      |
//! | `mpmc_2x2`                  | MPMC cap 2, 2 producers x 2 messages, 2 consumers, all          |
//! |                             | concurrent: exactly once, exact bytes, FIFO per producer in     |
//! |                             | each consumer's view, slot reuse across laps                    |
//! | `mpmc_2x2_uneven`           | the same with 2 + 1 messages, one preemption deeper             |
//! | `blocking_wakeup_recv`      | a receiver parked on an empty ring is woken by a send           |
//! |                             | (every `blocking_wakeup_*` model runs on a ring with asymmetric |
//! |                             | fences, the default; its `_full` twin on one with `fence=full`) |
//! | `blocking_wakeup_send`      | cap 1: a sender parked on a full ring is woken by a receive     |
//! |                             | (the receiver blocks too)                                       |
//! | `blocking_wakeup_send_only` | the same, but only the sender parks (the receiver spins)        |
//! | `blocking_wakeup_mpmc`      | both wake-ups on an MPMC ring (cap 2, 3 messages)               |
//! | `mpmc_capacity_1`           | MPMC cap 1, both sides blocking (full/free stamps distinct)     |
//! | `close_eof`                 | a parked receiver gets the last message, then `EndOfStream`     |
//! | `close_eof_empty`           | a parked receiver gets `EndOfStream` when the sender just leaves |
//! | `close_disconnected`        | a sender parked on a full ring gets `Disconnected` when the     |
//! |                             | receiver leaves                                                 |
//! | `mpmc_dead_claim`           | a producer dies between claim and publish while another sends   |
//! |                             | behind it: the blocked receiver skips the slot, gets the rest   |
//! |                             | in order, then `EndOfStream`                                    |
//! | `mpmc_stuck_claim_alive`    | a stopped (live) claimer's slot is never skipped: `WouldBlock`  |
//! |                             | until it goes, then the message behind it and `EndOfStream`     |
//! | `mpmc_dead_hold`            | cap 1: a consumer dies holding a claimed message; the producer  |
//! |                             | blocked on that slot frees it; the next message arrives, then   |
//! |                             | `EndOfStream`                                                   |
//! | `rerun_receiver_first`      | a ring left by a run whose sender has gone: a new receiver      |
//! |                             | waits (no `EndOfStream`) while a new sender attaches, sends and |
//! |                             | leaves, racing the receiver's attach snapshot: the message,     |
//! |                             | then `EndOfStream`                                              |
//! | `rerun_sender_first`        | the same with the receiver's run gone: a new sender is not      |
//! |                             | `Disconnected`; a new receiver takes its message                |
//!
//! # Running
//!
//! ```text
//! scripts/loom.sh                      # every model; extra arguments go to the test binary
//! # by hand (a separate target dir, so the cfg never thrashes the normal build):
//! CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg ipcring_loom" cargo test --release --test loom
//! ```
//!
//! Each model explores exhaustively up to its own preemption bound (2 to 4, tuned so the whole
//! suite took about a minute on two cores before the asymmetric-fence models; the membarrier
//! model's extra scheduling points made it 9 minutes on the loaded 2-core machine of
//! 2026-12-06, the SPSC blocking models most; ABI 5's records (a message count beside each
//! cursor) pushed `spsc_wraparound_try`, `spsc_wraparound_blocking` and the asymmetric
//! `blocking_wakeup_send_only` past 10 minutes each at bound 3, so those three ran at 2
//! until ABI 6, whose consumer reads only record headers: the whole suite now takes about a
//! minute again, with those three back at 3; see the `model(..)` calls). `LOOM_MAX_PREEMPTIONS`,
//! if set, replaces every model's bound (2 runs the suite in about 20 s; 4 and above take
//! far longer, the MPMC and blocking SPSC models most). The other `LOOM_*` variables
//! (`LOOM_LOCATION=1` for source locations in reports, `LOOM_LOG`, `LOOM_MAX_BRANCHES`, ...)
//! work as usual. Each model prints how many executions it explored (`-- --nocapture`).
//!
//! The membarrier model (`ipcring::sync::barrier`): loom has no `membarrier`, so the modelled
//! call marks every other live, running thread as owing a barrier and waits (yielding) until
//! each has run `fence(SeqCst)` at one of its atomic operations (every shim operation is such
//! a point); a thread asleep in the futex model or in a `join` (the [`join`] helper here) or
//! finished owes none, and runs `fence(SeqCst)` around its context switch instead. So a test
//! that blocks a thread on anything else than the crate's futex must do it inside
//! `ipcring::sync::blocked`, or a waiter's barrier waits for it for ever.
//!
//! Spin loops: under loom, `yield_now` hands the processor to another thread for free (no
//! preemption is counted), so two threads that both spin-and-yield (two consumers on an
//! empty ring) can alternate forever, an unbounded model ("exceeded maximum number of
//! branches"). So at most one thread of a model spins with `yield_now`; the MPMC models make
//! a bounded number of attempts instead and drain the rest once every thread has joined.
//!
//! # Teeth
//!
//! Each model must fail when the ordering it exists to check is weakened. `src/sync.rs`
//! (`sync::orderings`) has one switch per weakening, selected by `--cfg ipcring_mutant="..."`:
//!
//! | mutant                 | what it weakens                                         | must fail             |
//! |------------------------|---------------------------------------------------------|-----------------------|
//! | `spsc_relaxed_publish` | the SPSC producer publishes `tail` with `Relaxed`, not  | `spsc_wraparound_*`:  |
//! |                        | `Release`: payload and length writes no longer          | causality violation   |
//! |                        | happen-before the consumer's read                       |                       |
//! | `mpmc_relaxed_seq`     | the MPMC producer stores the slot's full stamp with     | `mpmc_2x2`:           |
//! |                        | `Relaxed`, not `Release`: the same for the MPMC ring    | causality violation   |
//! |                        |                                                         | (and `_uneven`)       |
//! | `wait_no_recheck`      | a waiter no longer re-checks the ring after announcing  | `blocking_wakeup_*`:  |
//! |                        | itself (step 3 of the protocol in `src/wait.rs`): a     | deadlock (livelock    |
//! |                        | publish between its last poll and its announcement is   | for `_send_only`,     |
//! |                        | never rung for, a lost wake-up                          | whose receiver spins) |
//! | `wait_arm_after_recheck` | a waiter arms its bell after its re-check instead of  | `blocking_wakeup_*`:  |
//! |                        | before: a publish in between finds the bell unarmed and | deadlock (or          |
//! |                        | skips the wake-up, and the waiter sleeps through it     | livelock, as above)   |
//! | `wait_no_membarrier`   | on a ring with asymmetric fences, a waiter keeps only   | `blocking_wakeup_*`   |
//! |                        | its own SeqCst fence after announcing, not the modelled | (asymmetric): dead-   |
//! |                        | `membarrier`: the waker, with only a compiler fence,    | lock (or livelock)    |
//! |                        | reads `waiters` before the announcement while the       |                       |
//! |                        | re-check misses the publication (store buffering)       |                       |
//! | `wake_fast_no_look`    | the ring ends' inline fast paths never look at the bell | `blocking_wakeup_recv`,|
//! |                        | after a send or receive (`wait::anyone_waits` says      | `_send`, `_mpmc`:     |
//! |                        | nobody waits): a parked peer sleeps over the message    | deadlock              |
//! | `mpmc_no_claim_record` | an MPMC claimer no longer records its range before the  | `mpmc_stuck_claim_`   |
//! |                        | claiming CAS: a live claimer's slot looks dead and is   | `alive`: the slot is  |
//! |                        | skipped                                                 | skipped               |
//!
//! ```text
//! scripts/loom-teeth.sh                      # every mutant; exits non-zero if a model passes
//! scripts/loom-teeth.sh mpmc_relaxed_seq     # one mutant
//! # by hand:
//! CARGO_TARGET_DIR=target/loom-mutant \
//!   RUSTFLAGS='--cfg ipcring_loom --cfg ipcring_mutant="spsc_relaxed_publish"' \
//!   cargo test --release --test loom spsc_wraparound
//! ```
//!
//! Loom aborts the test process after it reports a deadlock (it panics again while unwinding
//! the blocked threads), so a deadlock ends the run; the teeth script runs each model in its
//! own process for that reason.
#![cfg(ipcring_loom)]

use ipcring::layout::Geometry;
use ipcring::mpmc::{MpmcConsumer, MpmcProducer};
use ipcring::region::HeapRegion;
use ipcring::ring::{RingReceiver, RingSender};
use ipcring::{Error, FenceMode, Kind, Result, Ring, RingOptions, Timeout, WakeBackend};
use loom::thread;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Largest message in the models: big enough for distinct contents and lengths.
const MSG_SIZE: u64 = 4;

/// Message `i` of producer `p`: its length varies with `i` (1..=3 bytes), so that a stale
/// length word is caught as well as stale payload bytes.
fn msg(p: u8, i: u8) -> Vec<u8> {
    let len = 1 + (i as usize % 3);
    (0..len as u8)
        .map(|k| p.wrapping_mul(64) ^ i.wrapping_mul(8) ^ (k + 1))
        .collect()
}

/// A ring of the default fence mode: [`FenceMode::Asymmetric`] (what a creator picks where
/// `membarrier(2)` works; registration always succeeds in the model).
fn ring(kind: Kind, capacity: u64) -> Ring {
    let r = Ring::in_process(&RingOptions::new().kind(kind).capacity(capacity).msg_size(MSG_SIZE))
        .expect("in-process ring");
    assert_eq!(r.geometry().fence, FenceMode::Asymmetric);
    r
}

/// A ring with symmetric full fences (`fence=full`): a `SeqCst` fence on both sides.
fn ring_full(kind: Kind, capacity: u64) -> Ring {
    Ring::in_process(
        &RingOptions::new()
            .kind(kind)
            .capacity(capacity)
            .msg_size(MSG_SIZE)
            .fence(FenceMode::Full),
    )
    .expect("in-process ring")
}

/// Joins `h`, as a thread that sleeps meanwhile: the membarrier model does not wait for a
/// barrier from a thread blocked in `join` (the kernel does not interrupt a sleeping
/// thread; it passes a barrier when it is scheduled in), see `ipcring::sync::barrier`.
fn join<T>(h: thread::JoinHandle<T>) -> T {
    ipcring::sync::blocked(|| h.join().unwrap())
}

/// Runs `f` under loom, exhaustively up to `bound` preemptions (this model's default, tuned
/// so that the whole suite stays well inside CI's budget; `LOOM_MAX_PREEMPTIONS`, if set,
/// replaces it), and reports how many executions were explored and how long they took.
fn model<F>(name: &'static str, bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    // (The peer-liveness cache never re-counts endpoints by the age of its last count under
    // the model: real time would make an execution and its replay differ. See `ring::peers`.)
    let mut b = loom::model::Builder::new();
    let bound = b.preemption_bound.unwrap_or(bound);
    b.preemption_bound = Some(bound);
    let executions = Arc::new(AtomicU64::new(0));
    let counter = executions.clone();
    let start = std::time::Instant::now();
    b.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f()
    });
    eprintln!(
        "loom model {name}: {} executions, preemption bound {bound}, {:.2?}",
        executions.load(Ordering::Relaxed),
        start.elapsed()
    );
}

/// The API's shorthands (`Sender::send`, `try_send`) over a ring's sending end, which takes
/// the timeout explicitly.
trait SendCalls {
    fn send(&mut self, m: &[u8]) -> Result<()>;
    fn try_send(&mut self, m: &[u8]) -> Result<()>;
}

impl SendCalls for RingSender {
    fn send(&mut self, m: &[u8]) -> Result<()> {
        self.send_with_timeout(m, Timeout::Forever)
    }
    fn try_send(&mut self, m: &[u8]) -> Result<()> {
        self.send_with_timeout(m, Timeout::NonBlocking)
    }
}

/// The same for a ring's receiving end (`Receiver::recv`, `recv_vec`, `try_recv_vec`).
trait RecvCalls {
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize>;
    fn recv_vec(&mut self) -> Result<Vec<u8>>;
    fn try_recv_vec(&mut self) -> Result<Vec<u8>>;
}

impl RecvCalls for RingReceiver {
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_with_timeout(buf, Timeout::Forever)
    }
    fn recv_vec(&mut self) -> Result<Vec<u8>> {
        self.recv_vec_with_timeout(Timeout::Forever)
    }
    fn try_recv_vec(&mut self) -> Result<Vec<u8>> {
        self.recv_vec_with_timeout(Timeout::NonBlocking)
    }
}

/// `try_send` until it succeeds, yielding to the other threads while the ring is full.
fn send_spin(tx: &mut RingSender, m: &[u8]) {
    loop {
        match tx.try_send(m) {
            Ok(()) => return,
            Err(Error::WouldBlock) => thread::yield_now(),
            Err(e) => panic!("try_send: {e}"),
        }
    }
}

/// `try_recv` until a message comes, yielding while the ring is empty.
fn recv_spin(rx: &mut RingReceiver) -> Vec<u8> {
    loop {
        match rx.try_recv_vec() {
            Ok(m) => return m,
            Err(Error::WouldBlock) => thread::yield_now(),
            Err(e) => panic!("try_recv: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. SPSC with wrap-around.

/// Messages through a capacity-2 SPSC ring: each slot is written twice (positions 2 and 3
/// reuse slots 0 and 1).
const SPSC_MSGS: u8 = 4;

/// Non-blocking: the producer spins on `try_send` (full), the consumer on `try_recv` (empty).
/// Every message arrives once, in order, with its exact length and bytes; the payload
/// trackers check that each read happens-after its write and each rewrite of a slot
/// (the wrap) happens-after the read of its previous message.
#[test]
fn spsc_wraparound_try() {
    // Bound 3 again since ABI 6 (the consumer reads only record headers, the cursors are one
    // word each): about 10 s here; with ABI 5's records bound 3 ran past 10 minutes.
    model("spsc_wraparound_try", 3, || {
        let ring = ring(Kind::Spsc, 2);
        let mut tx = ring.attach_sender().unwrap();
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        let producer = thread::spawn(move || {
            for i in 0..SPSC_MSGS {
                send_spin(&mut tx, &msg(0, i));
            }
            tx
        });
        for i in 0..SPSC_MSGS {
            assert_eq!(recv_spin(&mut rx), msg(0, i), "message {i}");
        }
        let tx = join(producer);
        assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
        drop((tx, rx));
    });
}

/// Blocking: `send` / `recv` with `Timeout::Forever`, so each side parks on its bell when
/// the ring is full / empty and must be woken by the other (a lost wake-up is a deadlock).
#[test]
fn spsc_wraparound_blocking() {
    // Bound 3 again since ABI 6 (see `spsc_wraparound_try`); with ABI 5's records and the
    // membarrier model's scheduling points, bound 3 ran past 10 minutes.
    model("spsc_wraparound_blocking", 3, || {
        let ring = ring(Kind::Spsc, 2);
        let mut tx = ring.attach_sender().unwrap();
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        let producer = thread::spawn(move || {
            for i in 0..SPSC_MSGS {
                tx.send(&msg(0, i)).unwrap();
            }
            tx
        });
        let mut buf = [0u8; MSG_SIZE as usize];
        for i in 0..SPSC_MSGS {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &msg(0, i)[..], "message {i}");
        }
        let tx = join(producer);
        drop((tx, rx));
    });
}

// ---------------------------------------------------------------------------------------------
// 2. MPMC, 2 producers x 2 consumers.
//
// These drive the MPMC algorithm (`ipcring::mpmc`) directly over a heap region, without the
// ring's ends: with four threads, the ends' extra atomics per call (endpoint epoch, poison
// flag, the notify fence and waiter count) multiply loom's state space past what CI can
// afford (with one message per producer and one attempt per consumer, the version through
// the API's `Sender` / `Receiver` had not finished after several minutes even at one
// preemption; this one explores 2 x 2 messages exhaustively at two preemptions in seconds).
// The ends are covered for MPMC by `blocking_wakeup_mpmc` and `mpmc_capacity_1`. The
// algorithm code is the same.

/// `try_send` attempts per message before a producer gives up (and stops, so that what it
/// sent is a prefix of its messages).
const MPMC_SEND_TRIES: usize = 2;
/// `try_recv` attempts per consumer.
const MPMC_RECV_TRIES: usize = 3;

/// A heap region holding an MPMC ring of `capacity` slots, shared by the model's threads.
fn mpmc_region(capacity: u64) -> Arc<HeapRegion> {
    let g = Geometry::new(Kind::Mpmc, WakeBackend::Futex, capacity, MSG_SIZE).unwrap();
    Arc::new(HeapRegion::new(g).unwrap())
}

/// Producer `p`: sends `msg(p, 0..n)` in order, each with up to `MPMC_SEND_TRIES` attempts.
/// Returns how many it sent. The attempts are bounded, and do not yield: under loom, two
/// threads that spin with `yield_now` (two consumers on an empty ring, two producers on a
/// full one) can hand the processor to each other forever, an unbounded model.
fn mpmc_produce(region: &HeapRegion, p: u8, n: u8) -> u8 {
    let tx = MpmcProducer::new(region.raw(), p as usize, p as u32 + 1);
    for i in 0..n {
        let mut sent = false;
        for _ in 0..MPMC_SEND_TRIES {
            if tx.try_send(&msg(p, i)).expect("try_send") {
                sent = true;
                break;
            }
        }
        if !sent {
            return i;
        }
    }
    n
}

/// Up to `tries` receive attempts by a consumer in endpoint entry `entry` (2 or 3: the
/// producers use 0 and 1); returns the messages received, in order.
fn mpmc_consume(region: &HeapRegion, entry: usize, tries: usize) -> Vec<Vec<u8>> {
    let rx = MpmcConsumer::new(region.raw(), entry);
    let mut got = Vec::new();
    for _ in 0..tries {
        // One message at most: what `RingReceiver` runs for a receive on an MPMC ring.
        rx.try_recv_batch(1, |m| got.push(m.to_vec())).expect("try_recv");
    }
    got
}

/// Two producers (sending `counts[0]` and `counts[1]` messages) and two consumers (the main
/// thread and one more) run concurrently on a ring of capacity 2; then, with every thread
/// joined, the rest is drained. Every message sent is received exactly once, with its exact
/// bytes, and each consumer sees each producer's messages in the order they were sent.
fn mpmc_2x2_model(name: &'static str, bound: usize, counts: [u8; 2]) {
    model(name, bound, move || {
        let region = mpmc_region(2);
        let producers: Vec<_> = (0..2u8)
            .map(|p| {
                let r = region.clone();
                thread::spawn(move || mpmc_produce(&r, p, counts[p as usize]))
            })
            .collect();
        let r = region.clone();
        let consumer = thread::spawn(move || mpmc_consume(&r, 3, MPMC_RECV_TRIES));
        let mine = mpmc_consume(&region, 2, MPMC_RECV_TRIES);
        let theirs = join(consumer);
        let sent: Vec<u8> = producers.into_iter().map(|h| join(h)).collect();
        let rest = mpmc_consume(&region, 2, 2 * MPMC_TOTAL_MAX);

        // FIFO per producer within each consumer's view.
        for view in [&mine, &theirs, &rest] {
            for p in 0..2u8 {
                let seen: Vec<u8> = view
                    .iter()
                    .filter_map(|m| (0..counts[p as usize]).find(|&i| *m == msg(p, i)))
                    .collect();
                assert!(
                    seen.windows(2).all(|w| w[0] < w[1]),
                    "producer {p} out of order: {view:?}"
                );
            }
        }
        // Exactly once, exact contents.
        let mut all: Vec<Vec<u8>> = mine.into_iter().chain(theirs).chain(rest).collect();
        all.sort();
        let mut want: Vec<Vec<u8>> = (0..2u8)
            .flat_map(|p| (0..sent[p as usize]).map(move |i| msg(p, i)))
            .collect();
        want.sort();
        assert_eq!(
            all, want,
            "every message sent is received exactly once (sent per producer: {sent:?})"
        );
    });
}

/// The most messages any MPMC model sends (bounds the final drain).
const MPMC_TOTAL_MAX: usize = 4;

/// Capacity 2, two messages per producer: the second lap reuses both slots, so producers
/// wait for (and the trackers check) consumers' releases of the previous lap, and the
/// producers' full-ring sanity checks (`head <= tail <= head + capacity`) run with both
/// cursors moving. (This model found those checks reporting a false `Corrupted` when the
/// cursor CASes were `Relaxed`: a producer could see the tail moved by another producer
/// without the head moves that allowed it. Fixed in 89d51ac.)
#[test]
fn mpmc_2x2() {
    mpmc_2x2_model("mpmc_2x2", 2, [2, 2]);
}

/// Producers of 2 and 1 messages (the third message still reuses slot 0), which leaves room
/// for one more preemption in the same time.
#[test]
fn mpmc_2x2_uneven() {
    mpmc_2x2_model("mpmc_2x2_uneven", 3, [2, 1]);
}

// ---------------------------------------------------------------------------------------------
// 3. Blocking wake-ups.

/// A receiver parks on an empty ring; the sender's publish must wake it. Two messages, so
/// that the receiver can park again after its first wake-up.
#[test]
fn blocking_wakeup_recv() {
    blocking_wakeup_recv_model("blocking_wakeup_recv", 4, ring);
}

/// The same on a ring with full fences (`fence=full`).
#[test]
fn blocking_wakeup_recv_full() {
    blocking_wakeup_recv_model("blocking_wakeup_recv_full", 4, ring_full);
}

fn blocking_wakeup_recv_model(name: &'static str, bound: usize, ring: fn(Kind, u64) -> Ring) {
    model(name, bound, move || {
        let ring = ring(Kind::Spsc, 2);
        let mut tx = ring.attach_sender().unwrap();
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        let consumer = thread::spawn(move || {
            let mut buf = [0u8; MSG_SIZE as usize];
            for i in 0..2 {
                let n = rx.recv(&mut buf).unwrap();
                assert_eq!(&buf[..n], &msg(0, i)[..]);
            }
            rx
        });
        for i in 0..2 {
            tx.send(&msg(0, i)).unwrap();
        }
        let rx = join(consumer);
        drop((tx, rx));
    });
}

/// A sender parks on a full ring (capacity 1: every send after the first finds it full until
/// the receiver consumes); the receiver's consume must wake it. The receiver blocks too: a
/// spinning receiver would turn a lost wake-up of the sender into a livelock (loom's "exceeded
/// maximum number of branches") instead of the deadlock loom reports when every thread sleeps.
#[test]
fn blocking_wakeup_send() {
    blocking_wakeup_send_model("blocking_wakeup_send", 3, ring);
}

/// The same on a ring with full fences (`fence=full`).
#[test]
fn blocking_wakeup_send_full() {
    blocking_wakeup_send_model("blocking_wakeup_send_full", 3, ring_full);
}

fn blocking_wakeup_send_model(name: &'static str, bound: usize, ring: fn(Kind, u64) -> Ring) {
    model(name, bound, move || {
        let ring = ring(Kind::Spsc, 1);
        let mut tx = ring.attach_sender().unwrap();
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        let producer = thread::spawn(move || {
            for i in 0..3 {
                tx.send(&msg(0, i)).unwrap();
            }
            tx
        });
        for i in 0..3 {
            assert_eq!(rx.recv_vec().unwrap(), msg(0, i));
        }
        let tx = join(producer);
        drop((tx, rx));
    });
}

/// The sender alone parks: capacity 1, and the receiver drains with `try_recv`, yielding
/// while the ring is empty, so only the sender's wake-up is under test. A lost wake-up leaves
/// the sender asleep with room in the ring while the receiver spins on an empty one forever:
/// loom reports it as "Model exceeded maximum number of branches" (a livelock) rather than a
/// deadlock.
#[test]
fn blocking_wakeup_send_only() {
    // Bound 3, as its full-fence twin below, since ABI 6 (with ABI 5's records and the
    // membarrier model it ran past 10 minutes at 3, so it ran at 2).
    blocking_wakeup_send_only_model("blocking_wakeup_send_only", 3, ring);
}

/// The same on a ring with full fences (`fence=full`).
#[test]
fn blocking_wakeup_send_only_full() {
    blocking_wakeup_send_only_model("blocking_wakeup_send_only_full", 3, ring_full);
}

fn blocking_wakeup_send_only_model(name: &'static str, bound: usize, ring: fn(Kind, u64) -> Ring) {
    model(name, bound, move || {
        let ring = ring(Kind::Spsc, 1);
        let mut tx = ring.attach_sender().unwrap();
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        let producer = thread::spawn(move || {
            for i in 0..3 {
                tx.send(&msg(0, i)).unwrap();
            }
            tx
        });
        for i in 0..3 {
            assert_eq!(recv_spin(&mut rx), msg(0, i));
        }
        let tx = join(producer);
        drop((tx, rx));
    });
}

/// The same two wake-ups over the MPMC algorithm (capacity 2, 3 messages): the sender parks
/// while the ring is full, the receiver while it is empty, both blocking.
#[test]
fn blocking_wakeup_mpmc() {
    blocking_wakeup_mpmc_model("blocking_wakeup_mpmc", 3, ring);
}

/// The same on a ring with full fences (`fence=full`).
#[test]
fn blocking_wakeup_mpmc_full() {
    blocking_wakeup_mpmc_model("blocking_wakeup_mpmc_full", 3, ring_full);
}

fn blocking_wakeup_mpmc_model(name: &'static str, bound: usize, ring: fn(Kind, u64) -> Ring) {
    model(name, bound, move || {
        let ring = ring(Kind::Mpmc, 2);
        let mut tx = ring.attach_sender().unwrap();
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        let producer = thread::spawn(move || {
            for i in 0..3 {
                tx.send(&msg(0, i)).unwrap();
            }
            tx
        });
        for i in 0..3 {
            assert_eq!(rx.recv_vec().unwrap(), msg(0, i));
        }
        let tx = join(producer);
        drop((tx, rx));
    });
}

/// Two receivers park on an empty MPMC ring and two senders publish one message each. The
/// bell's `armed` flag lets only one of the racing wakers ring (src/wait.rs): that ring must
/// reach both sleepers, and a receiver that re-arms after the first ring must still be rung
/// by the second message's sender. A lost wake-up leaves a receiver asleep: a deadlock here.
#[test]
fn blocking_wakeup_2x2() {
    blocking_wakeup_2x2_model("blocking_wakeup_2x2", 2, ring);
}

/// The same on a ring with full fences (`fence=full`).
#[test]
fn blocking_wakeup_2x2_full() {
    blocking_wakeup_2x2_model("blocking_wakeup_2x2_full", 2, ring_full);
}

fn blocking_wakeup_2x2_model(name: &'static str, bound: usize, ring: fn(Kind, u64) -> Ring) {
    model(name, bound, move || {
        let ring = ring(Kind::Mpmc, 2);
        let mut rx1 = ring.attach_receiver().unwrap();
        let mut rx2 = ring.attach_receiver().unwrap();
        let mut tx1 = ring.attach_sender().unwrap();
        let mut tx2 = ring.attach_sender().unwrap();
        drop(ring);
        let c1 = thread::spawn(move || {
            let m = rx1.recv_vec().unwrap();
            (rx1, m)
        });
        let c2 = thread::spawn(move || {
            let m = rx2.recv_vec().unwrap();
            (rx2, m)
        });
        let p = thread::spawn(move || {
            tx2.send(&msg(1, 0)).unwrap();
            tx2
        });
        tx1.send(&msg(0, 0)).unwrap();
        let (rx1, m1) = join(c1);
        let (rx2, m2) = join(c2);
        let tx2 = join(p);
        let mut got = [m1, m2];
        got.sort();
        assert_eq!(got, [msg(0, 0), msg(1, 0)]);
        drop((tx1, tx2, rx1, rx2));
    });
}

/// MPMC with capacity 1, blocking on both sides: with one slot, "holds the message of
/// position p" and "free for position p + 1" must still be told apart (the doubled stamps of
/// `ipcring::mpmc`; with Vyukov's original `pos` / `pos + 1` they were the same number and a
/// second send overwrote an unread message).
#[test]
fn mpmc_capacity_1() {
    model("mpmc_capacity_1", 4, || {
        let ring = ring(Kind::Mpmc, 1);
        let mut tx = ring.attach_sender().unwrap();
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        let producer = thread::spawn(move || {
            for i in 0..2 {
                tx.send(&msg(0, i)).unwrap();
            }
            tx
        });
        for i in 0..2 {
            assert_eq!(rx.recv_vec().unwrap(), msg(0, i));
        }
        let tx = join(producer);
        drop((tx, rx));
    });
}

// ---------------------------------------------------------------------------------------------
// 4. Close and end of stream racing a blocked peer.

/// A receiver blocked in `recv` while the sender sends one message and drops: the receiver
/// gets the message, then `EndOfStream`, never a deadlock (the drop detaches the endpoint and
/// rings every bell).
#[test]
fn close_eof() {
    model("close_eof", 4, || {
        let ring = ring(Kind::Spsc, 2);
        let mut tx = ring.attach_sender().unwrap();
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        let consumer = thread::spawn(move || {
            assert_eq!(rx.recv_vec().unwrap(), msg(0, 0));
            match rx.recv_vec() {
                Err(Error::EndOfStream) => {}
                other => panic!("expected EndOfStream, got {other:?}"),
            }
        });
        tx.send(&msg(0, 0)).unwrap();
        drop(tx);
        join(consumer);
    });
}

/// A receiver blocked in `recv` while the only sender leaves without sending: `EndOfStream`.
#[test]
fn close_eof_empty() {
    model("close_eof_empty", 4, || {
        let ring = ring(Kind::Spsc, 2);
        let tx = ring.attach_sender().unwrap();
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        let consumer = thread::spawn(move || match rx.recv_vec() {
            Err(Error::EndOfStream) => {}
            other => panic!("expected EndOfStream, got {other:?}"),
        });
        drop(tx);
        join(consumer);
    });
}

/// A sender blocked on a full ring (capacity 1) while the only receiver leaves without
/// reading: `Disconnected`, never a deadlock.
#[test]
fn close_disconnected() {
    model("close_disconnected", 4, || {
        let ring = ring(Kind::Spsc, 1);
        let mut tx = ring.attach_sender().unwrap();
        let rx = ring.attach_receiver().unwrap();
        drop(ring);
        tx.send(&msg(0, 0)).unwrap();
        let producer = thread::spawn(move || match tx.send(&msg(0, 1)) {
            Err(Error::Disconnected) => {}
            other => panic!("expected Disconnected, got {other:?}"),
        });
        drop(rx);
        join(producer);
    });
}

/// Endings describe the present, per endpoint (`ring::peers`): a ring whose earlier sender
/// has gone (and was drained) does not end the stream of a receiver that attaches now; a
/// sender that attaches while it does (before, during or after the receiver's snapshot of
/// the attach counter) sends one message and leaves: the receiver gets the message, then
/// `EndOfStream`, never `EndOfStream` first and never a deadlock.
#[test]
fn rerun_receiver_first() {
    model("rerun_receiver_first", 3, || {
        let ring = ring(Kind::Spsc, 2);
        drop(ring.attach_sender().unwrap()); // the earlier run's sender, gone
        let r2 = ring.clone();
        let producer = thread::spawn(move || {
            let mut tx = r2.attach_sender().unwrap();
            tx.send(&msg(0, 0)).unwrap();
        });
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        match rx.recv_vec() {
            Ok(m) => assert_eq!(m, msg(0, 0)),
            other => panic!("expected the message, got {other:?}"),
        }
        match rx.recv_vec() {
            Err(Error::EndOfStream) => {}
            other => panic!("expected EndOfStream, got {other:?}"),
        }
        join(producer);
    });
}

/// The other order: the earlier run's receiver has gone; a new sender is not `Disconnected`
/// (no receiver of its life has left) while a new receiver attaches and takes its message.
#[test]
fn rerun_sender_first() {
    model("rerun_sender_first", 3, || {
        let ring = ring(Kind::Spsc, 2);
        drop(ring.attach_receiver().unwrap()); // the earlier run's receiver, gone
        let r2 = ring.clone();
        let consumer = thread::spawn(move || {
            let mut rx = r2.attach_receiver().unwrap();
            assert_eq!(rx.recv_vec().unwrap(), msg(0, 1));
        });
        let mut tx = ring.attach_sender().unwrap();
        drop(ring);
        tx.send(&msg(0, 1)).unwrap();
        join(consumer);
        drop(tx);
    });
}

// ---------------------------------------------------------------------------------------------
// 5. A claimer that stops forever (crash recovery, `ipcring::mpmc` "Crash recovery").
//
// In a heap ring an endpoint's entry is freed by its own `Drop`, so "the process died" is
// modelled as a claim leaked with `mem::forget` and the endpoint then dropped: exactly the
// state a SIGKILL leaves (a claimed slot that is never finished, an entry no longer held).

/// A producer claims a slot and dies (racing everything else) while another producer sends
/// a message behind it; the receiver, blocking, skips the dead claim, gets the message, then
/// `EndOfStream`: never a deadlock, never a torn or empty message for the dead claim.
#[test]
fn mpmc_dead_claim() {
    model("mpmc_dead_claim", 2, || {
        let ring = ring(Kind::Mpmc, 2);
        let mut dying = ring.attach_sender().unwrap();
        let mut live = ring.attach_sender().unwrap();
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        // A claim that is neither committed nor cancelled.
        dying.reserve_raw(Timeout::NonBlocking).unwrap();
        let a = thread::spawn(move || drop(dying));
        let b = thread::spawn(move || live.send(&msg(1, 0)).unwrap());
        assert_eq!(rx.recv_vec().unwrap(), msg(1, 0));
        assert!(matches!(rx.recv_vec(), Err(Error::EndOfStream)));
        join(a);
        join(b);
    });
}

/// A producer that claimed a slot and stopped is alive: its slot is never skipped, so the
/// message another producer sent behind it is not delivered (non-blocking calls say
/// `WouldBlock`, as a timed call would time out). When that producer's endpoint goes (racing
/// a blocked receive), the message arrives, then `EndOfStream`.
#[test]
fn mpmc_stuck_claim_alive() {
    model("mpmc_stuck_claim_alive", 3, || {
        let ring = ring(Kind::Mpmc, 2);
        let mut stuck = ring.attach_sender().unwrap();
        let mut live = ring.attach_sender().unwrap();
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        stuck.reserve_raw(Timeout::NonBlocking).unwrap();
        live.send(&msg(1, 0)).unwrap();
        drop(live);
        let d = thread::spawn(move || {
            match rx.try_recv_vec() {
                Err(Error::WouldBlock) => {}
                other => panic!("a live claimer's slot was skipped: {other:?}"),
            }
            rx
        });
        let mut rx = join(d);
        let d = thread::spawn(move || drop(stuck));
        assert_eq!(rx.recv_vec().unwrap(), msg(1, 0));
        assert!(matches!(rx.recv_vec(), Err(Error::EndOfStream)));
        join(d);
    });
}

/// Capacity 1. A consumer claims a message (`peek`) and dies holding it (racing the rest)
/// while the producer sends a second message into that slot's next lap: the producer, blocked,
/// frees the dead consumer's slot instead of waiting forever. The held message is lost (it
/// went to the consumer that died); the other arrives, then `EndOfStream`.
#[test]
fn mpmc_dead_hold() {
    model("mpmc_dead_hold", 3, || {
        let ring = ring(Kind::Mpmc, 1);
        let mut tx = ring.attach_sender().unwrap();
        let mut dying = ring.attach_receiver().unwrap();
        let mut rx = ring.attach_receiver().unwrap();
        drop(ring);
        tx.send(&msg(0, 0)).unwrap();
        // Claimed, and never released.
        let (ptr, len, _) = dying.peek_raw(Timeout::NonBlocking).unwrap();
        // SAFETY: the claimed message is `len` bytes at `ptr`, in the region that `dying`
        // keeps mapped, and nobody writes the slot while the claim stands.
        let held = unsafe { std::slice::from_raw_parts(ptr, len) };
        assert_eq!(held, msg(0, 0));
        let c = thread::spawn(move || drop(dying));
        tx.send(&msg(0, 1)).unwrap();
        drop(tx);
        assert_eq!(rx.recv_vec().unwrap(), msg(0, 1));
        assert!(matches!(rx.recv_vec(), Err(Error::EndOfStream)));
        join(c);
    });
}
