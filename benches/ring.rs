//! The ipcring benchmarks: throughput and round-trip latency between two *processes*, beside
//! the same work between threads with rtrb, crossbeam's `ArrayQueue`, raw atomics and a raw
//! futex. One `cargo bench --bench ring` run measures everything, so the ratios in
//! docs/benchmarks.md come from figures taken side by side.
//!
//! Process plumbing: each benchmark function creates its ring(s) once, then forks long-lived
//! workers. A worker loops: read a job (a count) from its job pipe, do the work, write an
//! acknowledgement to its ack pipe. The parent's `iter_custom` starts the clock, hands out the
//! jobs, does its own side of the work, waits for the acknowledgements and stops the clock.
//! Workers are killed and reaped when their [`Proc`] is dropped (also on a panic of the
//! parent), die with the parent (`PR_SET_PDEATHSIG`), and `_exit` instead of unwinding back
//! into criterion if they panic; the parent notices a dead worker while it waits.
//!
//! Groups:
//! - `throughput/*`: elements per second; one element = one message moved from the producer
//!   side to the consumer side (`Throughput::Elements`). `lamport_proc/*` is the reference row:
//!   a plain Lamport ring ([`Lamport`]) between two processes. The `*/1MiB` rows are in bytes
//!   per second (`Throughput::Bytes`): 1 MiB messages through the copying calls and through
//!   the zero-copy ones (`reserve`/`commit`, `peek`/`release`), beside one thread's memcpy.
//! - `anatomy/*`: a minimal SPSC ring in threads, with and without ipcring's slot size and
//!   notify step, to price the differences between rtrb and ipcring.
//! - `roundtrip/*`: the time of one ping-pong of an 8-byte message (or of two counters).
//! - `paired/*`: ipcring and its baseline in alternating sub-millisecond blocks; prints the
//!   median per-pair time ratio (`[paired]` on stderr), the figure to use for the targets on a
//!   host whose cache-line latency changes from second to second.
//! - `overhead/*`: single-threaded per-operation costs (nothing contended), to attribute the
//!   differences above.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::Backoff;
use ipcring::{Error, Kind, Ring, RingOptions, Timeout, WakeBackend};
use std::hint::{black_box, spin_loop};
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Slots in every ring and queue (ipcring, rtrb, ArrayQueue alike).
const CAP: usize = 1024;
/// Messages per `send_batch` / `recv_batch`.
const BATCH: usize = 32;
/// The job that tells a process worker to return (and `_exit`).
const EXIT: u64 = u64::MAX;
/// Jobs that ask an ipcring worker for its endpoint's park / wake counters.
const ASK_PARKS: u64 = u64::MAX - 1;
const ASK_WAKES: u64 = u64::MAX - 2;
/// First byte of the stop message of the thread baselines' 2x2 runs (data bytes are 0xA5).
const STOP_BYTE: u8 = 0xFF;

// ---------------------------------------------------------------------------------------------
// Plumbing: pipes, forked workers, thread workers.

/// A pipe carrying u64 words (jobs and acknowledgements).
struct Pipe {
    r: RawFd,
    w: RawFd,
}

impl Pipe {
    fn new() -> Pipe {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: fds is a valid out-array of two descriptors.
        let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
        assert_eq!(rc, 0, "pipe: {}", std::io::Error::last_os_error());
        Pipe { r: fds[0], w: fds[1] }
    }

    fn put(&self, v: u64) {
        let b = v.to_ne_bytes();
        loop {
            // SAFETY: b is 8 readable bytes; w is our open write end. 8 < PIPE_BUF: atomic.
            let n = unsafe { libc::write(self.w, b.as_ptr().cast(), b.len()) };
            if n == 8 {
                return;
            }
            let e = std::io::Error::last_os_error();
            assert!(n < 0 && e.kind() == std::io::ErrorKind::Interrupted, "pipe write: {e}");
        }
    }

    /// Whether a word is ready within `ms` milliseconds.
    fn ready(&self, ms: i32) -> bool {
        let mut p = libc::pollfd {
            fd: self.r,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: p is one valid pollfd.
        unsafe { libc::poll(&mut p, 1, ms) > 0 }
    }

    fn get(&self) -> u64 {
        let mut b = [0u8; 8];
        let mut got = 0;
        while got < 8 {
            // SAFETY: the destination is the unfilled tail of b; r is our open read end.
            let n = unsafe { libc::read(self.r, b[got..].as_mut_ptr().cast(), 8 - got) };
            if n > 0 {
                got += n as usize;
            } else if n == 0 {
                panic!("pipe closed");
            } else {
                let e = std::io::Error::last_os_error();
                assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "pipe read: {e}");
            }
        }
        u64::from_ne_bytes(b)
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: both descriptors are ours and closed once.
        unsafe {
            libc::close(self.r);
            libc::close(self.w);
        }
    }
}

/// A forked child, killed and reaped on drop.
struct Proc {
    pid: libc::pid_t,
    reaped: std::cell::Cell<bool>,
}

impl Proc {
    /// Forks; the child runs `f` and `_exit`s (101 if `f` panicked), never returning here.
    fn fork(f: impl FnOnce()) -> Proc {
        // SAFETY: getpid cannot fail.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the benchmark forks from criterion's only thread (the thread baselines
        // join their workers before returning), so the child inherits no held lock.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: prctl/getppid/_exit are async-signal-safe; die with the parent, and
            // never return into the benchmark harness.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
            }
            let code = match catch_unwind(AssertUnwindSafe(f)) {
                Ok(()) => 0,
                Err(_) => 101,
            };
            // SAFETY: as above; skips destructors and atexit handlers the child does not own.
            unsafe { libc::_exit(code) }
        }
        Proc {
            pid,
            reaped: std::cell::Cell::new(false),
        }
    }

    /// Reaps the child if it has exited; returns whether it has (its status then).
    fn try_reap(&self) -> Option<i32> {
        if self.reaped.get() {
            return Some(0);
        }
        let mut status = 0;
        // SAFETY: pid is our child, not yet reaped; status is a valid out-pointer.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        if r == 0 {
            return None;
        }
        self.reaped.set(true);
        Some(status)
    }

    /// Panics if the child has died (it never exits while the parent still needs it).
    fn check_alive(&self) {
        if let Some(status) = self.try_reap() {
            panic!("benchmark worker {} died (wait status {status:#x})", self.pid);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.reaped.get() {
            return; // never signal a pid that may have been recycled
        }
        // SAFETY: pid is our child and not yet reaped, so it cannot have been recycled.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, core::ptr::null_mut(), 0);
        }
    }
}

/// Something that takes jobs (a count) and acknowledges each with a word.
trait Worker {
    fn start(&self, n: u64);
    fn done(&self) -> u64;
}

/// A forked worker: job pipe in, ack pipe out.
struct ProcWorker {
    job: Pipe,
    ack: Pipe,
    proc: Proc,
}

impl ProcWorker {
    /// Forks a worker. `setup` runs in the child (attach endpoints there) and returns the
    /// job handler; the child loops until it reads [`EXIT`].
    fn fork<F: FnMut(u64) -> u64>(setup: impl FnOnce() -> F) -> ProcWorker {
        let (job, ack) = (Pipe::new(), Pipe::new());
        let proc = Proc::fork(|| {
            let mut handle = setup();
            loop {
                match job.get() {
                    EXIT => return,
                    n => ack.put(handle(n)),
                }
            }
        });
        ProcWorker { job, ack, proc }
    }

    /// Sends one job and waits for its answer (for the statistics queries).
    fn ask(&self, q: u64) -> u64 {
        self.start(q);
        self.done()
    }
}

impl Worker for ProcWorker {
    fn start(&self, n: u64) {
        self.job.put(n);
    }
    fn done(&self) -> u64 {
        while !self.ack.ready(500) {
            self.proc.check_alive();
        }
        self.ack.get()
    }
}

impl Drop for ProcWorker {
    fn drop(&mut self) {
        self.job.put(EXIT);
        // Give it a moment to exit by itself, then Proc's drop kills it.
        for _ in 0..100 {
            if self.proc.try_reap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A thread worker: std mpsc channels in and out.
struct ThreadWorker {
    job: Option<mpsc::Sender<u64>>,
    ack: mpsc::Receiver<u64>,
    handle: Option<JoinHandle<()>>,
}

impl ThreadWorker {
    fn spawn(mut f: impl FnMut(u64) -> u64 + Send + 'static) -> ThreadWorker {
        let (jt, jr) = mpsc::channel::<u64>();
        let (at, ar) = mpsc::channel::<u64>();
        let handle = std::thread::spawn(move || {
            while let Ok(n) = jr.recv() {
                if at.send(f(n)).is_err() {
                    return;
                }
            }
        });
        ThreadWorker {
            job: Some(jt),
            ack: ar,
            handle: Some(handle),
        }
    }
}

impl Worker for ThreadWorker {
    fn start(&self, n: u64) {
        self.job.as_ref().expect("live").send(n).expect("worker thread gone");
    }
    fn done(&self) -> u64 {
        self.ack.recv().expect("worker thread died")
    }
}

impl Drop for ThreadWorker {
    fn drop(&mut self) {
        drop(self.job.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Runs one 2x2 throughput sample: `iters` messages split between two producers, each
/// followed by a stop message; each consumer consumes until it takes one stop.
fn run_2x2(producers: &[impl Worker; 2], consumers: &[impl Worker; 2], iters: u64) -> Duration {
    let t = Instant::now();
    for c in consumers {
        c.start(1);
    }
    producers[0].start(iters / 2);
    producers[1].start(iters - iters / 2);
    let got: u64 = consumers.iter().map(|c| c.done()).sum();
    let elapsed = t.elapsed();
    let sent: u64 = producers.iter().map(|p| p.done()).sum();
    assert_eq!((sent, got), (iters, iters), "2x2: messages lost or duplicated");
    elapsed
}

fn opts(kind: Kind, size: usize) -> RingOptions {
    RingOptions::new()
        .kind(kind)
        .capacity(CAP as u64)
        .msg_size(size as u64)
        .wake(WakeBackend::Futex)
}

/// Spins until `try_once` succeeds, treating `WouldBlock` as "not yet".
#[inline]
fn spin_ipc<T>(mut try_once: impl FnMut() -> ipcring::Result<T>) -> T {
    loop {
        match try_once() {
            Ok(v) => return v,
            Err(Error::WouldBlock) => spin_loop(),
            Err(e) => panic!("ipcring: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Throughput.

/// ipcring, one producer (this process) and one consumer (a forked worker), `kind` ring.
fn tp_ipc_proc_1x1(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, kind: Kind, size: usize, batch: bool) {
    let ring = Ring::anonymous(&opts(kind, size)).unwrap();
    let consumer = ProcWorker::fork(|| {
        let mut rx = ring.receiver().unwrap();
        let mut buf = vec![0u8; size];
        move |n| match n {
            ASK_PARKS => rx.stats().parks,
            ASK_WAKES => rx.stats().wakes,
            n if batch => recv_batches(&mut rx, n),
            n => {
                for _ in 0..n {
                    black_box(rx.recv(&mut buf).unwrap());
                }
                n
            }
        }
    });
    let mut tx = ring.sender().unwrap();
    let msg = vec![0xA5u8; size];
    let msgs: Vec<&[u8]> = vec![&msg; BATCH];
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            consumer.start(iters);
            if batch {
                send_batches(&mut tx, &msgs, iters);
            } else {
                for _ in 0..iters {
                    tx.send(black_box(&msg)).unwrap();
                }
            }
            assert_eq!(consumer.done(), iters);
            t.elapsed()
        })
    });
    report_stats(name, &tx.stats(), &consumer);
}

/// Sends `n` messages, all `msgs[0]`, in `send_batch` calls of up to [`BATCH`] (`msgs` holds
/// [`BATCH`] of them).
fn send_batches(tx: &mut ipcring::Sender, msgs: &[&[u8]], n: u64) {
    let mut sent = 0;
    while sent < n {
        let k = (n - sent).min(BATCH as u64) as usize;
        sent += tx.send_batch(black_box(&msgs[..k]), Timeout::Forever).unwrap() as u64;
    }
}

/// Receives `n` messages in `recv_batch` calls of up to [`BATCH`], each handed on in place;
/// returns `n`.
fn recv_batches(rx: &mut ipcring::Receiver, n: u64) -> u64 {
    let mut got = 0;
    while got < n {
        let max = (n - got).min(BATCH as u64) as usize;
        got += rx
            .recv_batch(max, Timeout::Forever, |m| {
                black_box(m);
            })
            .unwrap() as u64;
    }
    got
}

/// Prints both endpoints' park / wake counts (system calls) to stderr, if the benchmark ran
/// (criterion's name filter skips the measurement, not our setup).
fn report_stats(name: &str, mine: &ipcring::Stats, peer: &ProcWorker) {
    if mine.messages == 0 {
        return;
    }
    let (pp, pw) = (peer.ask(ASK_PARKS), peer.ask(ASK_WAKES));
    eprintln!(
        "[stats] {name}: this side {} msgs, {} parks, {} wakes; peer {pp} parks, {pw} wakes",
        mine.messages, mine.parks, mine.wakes
    );
}

/// ipcring MPMC, two producer processes and two consumer processes (plus this coordinator).
/// Each producer sends its share then an empty stop message. `spin`: whether the workers'
/// blocking calls spin before they sleep ([`RingOptions::spin`]).
fn tp_ipc_proc_2x2(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, size: usize, spin: bool) {
    let ring = Ring::anonymous(&opts(Kind::Mpmc, size).spin(spin)).unwrap();
    let (producers, consumers) = ipc_2x2_workers(&ring, size);
    g.bench_function(name, |b| b.iter_custom(|iters| run_2x2(&producers, &consumers, iters)));
    drop(producers);
    drop(consumers);
}

/// The workers of a 2x2 run over the MPMC `ring`: two producer processes (each sends its
/// share, then an empty stop message) and two consumer processes (each receives until it
/// takes a stop).
fn ipc_2x2_workers(ring: &Ring, size: usize) -> ([ProcWorker; 2], [ProcWorker; 2]) {
    let consumer = || {
        ProcWorker::fork(|| {
            let mut rx = ring.receiver().unwrap();
            let mut buf = vec![0u8; size];
            move |_| {
                let mut got = 0;
                while rx.recv(&mut buf).unwrap() != 0 {
                    got += 1;
                }
                got
            }
        })
    };
    let producer = || {
        ProcWorker::fork(|| {
            let mut tx = ring.sender().unwrap();
            let msg = vec![0xA5u8; size];
            move |n| {
                for _ in 0..n {
                    tx.send(black_box(&msg)).unwrap();
                }
                tx.send(&[]).unwrap();
                n
            }
        })
    };
    let consumers = [consumer(), consumer()];
    ([producer(), producer()], consumers)
}

/// ipcring `Ring::in_process`, producer in this thread, consumer in a worker thread.
fn tp_ipc_thread_1x1(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, kind: Kind, size: usize) {
    let ring = Ring::in_process(&opts(kind, size)).unwrap();
    let mut tx = ring.sender().unwrap();
    let mut rx = ring.receiver().unwrap();
    let consumer = ThreadWorker::spawn(move |n| {
        let mut buf = vec![0u8; size];
        for _ in 0..n {
            black_box(rx.recv(&mut buf).unwrap());
        }
        n
    });
    let msg = vec![0xA5u8; size];
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            consumer.start(iters);
            for _ in 0..iters {
                tx.send(black_box(&msg)).unwrap();
            }
            assert_eq!(consumer.done(), iters);
            t.elapsed()
        })
    });
    let st = tx.stats();
    if st.messages > 0 {
        eprintln!(
            "[stats] {name}: producer {} msgs, {} parks, {} wakes",
            st.messages, st.parks, st.wakes
        );
    }
}

/// ipcring `Ring::in_process` MPMC, 2 producer threads and 2 consumer threads.
fn tp_ipc_thread_2x2(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, size: usize) {
    let ring = Ring::in_process(&opts(Kind::Mpmc, size)).unwrap();
    let consumer = || {
        let mut rx = ring.receiver().unwrap();
        ThreadWorker::spawn(move |_| {
            let mut buf = vec![0u8; size];
            let mut got = 0;
            while rx.recv(&mut buf).unwrap() != 0 {
                got += 1;
            }
            got
        })
    };
    let producer = || {
        let mut tx = ring.sender().unwrap();
        ThreadWorker::spawn(move |n| {
            let msg = vec![0xA5u8; size];
            for _ in 0..n {
                tx.send(black_box(&msg)).unwrap();
            }
            tx.send(&[]).unwrap();
            n
        })
    };
    let consumers = [consumer(), consumer()];
    let producers = [producer(), producer()];
    g.bench_function(name, |b| b.iter_custom(|iters| run_2x2(&producers, &consumers, iters)));
}

/// rtrb, producer in this thread, consumer in a worker thread; both wait with `Backoff::snooze`.
fn tp_rtrb<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let (mut p, mut c) = rtrb::RingBuffer::<[u8; N]>::new(CAP);
    let consumer = ThreadWorker::spawn(move |n| {
        for _ in 0..n {
            black_box(rtrb_pop(&mut c));
        }
        n
    });
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            consumer.start(iters);
            for _ in 0..iters {
                rtrb_push(&mut p, black_box([0xA5u8; N]));
            }
            assert_eq!(consumer.done(), iters);
            t.elapsed()
        })
    });
}

fn rtrb_push<const N: usize>(p: &mut rtrb::Producer<[u8; N]>, mut m: [u8; N]) {
    let backoff = Backoff::new();
    while let Err(rtrb::PushError::Full(back)) = p.push(m) {
        m = back;
        backoff.snooze();
    }
}

fn rtrb_pop<const N: usize>(c: &mut rtrb::Consumer<[u8; N]>) -> [u8; N] {
    let backoff = Backoff::new();
    loop {
        match c.pop() {
            Ok(m) => return m,
            Err(_) => backoff.snooze(),
        }
    }
}

fn aq_push<const N: usize>(q: &ArrayQueue<[u8; N]>, mut m: [u8; N]) {
    let backoff = Backoff::new();
    while let Err(back) = q.push(m) {
        m = back;
        backoff.snooze();
    }
}

fn aq_pop<const N: usize>(q: &ArrayQueue<[u8; N]>) -> [u8; N] {
    let backoff = Backoff::new();
    loop {
        if let Some(m) = q.pop() {
            return m;
        }
        backoff.snooze();
    }
}

/// crossbeam ArrayQueue, producer in this thread, consumer in a worker thread; spinning.
fn tp_aq_1x1<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let q = Arc::new(ArrayQueue::<[u8; N]>::new(CAP));
    let qc = q.clone();
    let consumer = ThreadWorker::spawn(move |n| {
        for _ in 0..n {
            black_box(aq_pop(&qc));
        }
        n
    });
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            consumer.start(iters);
            for _ in 0..iters {
                aq_push(&q, black_box([0xA5u8; N]));
            }
            assert_eq!(consumer.done(), iters);
            t.elapsed()
        })
    });
}

/// crossbeam ArrayQueue, 2 producer threads and 2 consumer threads; spinning.
fn tp_aq_2x2<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let (producers, consumers) = aq_2x2_workers::<N>();
    g.bench_function(name, |b| b.iter_custom(|iters| run_2x2(&producers, &consumers, iters)));
}

/// The workers of a 2x2 run over a new ArrayQueue: two producer threads (each pushes its
/// share, then a stop message) and two consumer threads (each pops until it takes a stop).
fn aq_2x2_workers<const N: usize>() -> ([ThreadWorker; 2], [ThreadWorker; 2]) {
    let q = Arc::new(ArrayQueue::<[u8; N]>::new(CAP));
    let consumer = || {
        let q = q.clone();
        ThreadWorker::spawn(move |_| {
            let mut got = 0;
            while aq_pop(&q)[0] != STOP_BYTE {
                got += 1;
            }
            got
        })
    };
    let producer = || {
        let q = q.clone();
        ThreadWorker::spawn(move |n| {
            for _ in 0..n {
                aq_push(&q, black_box([0xA5u8; N]));
            }
            aq_push(&q, [STOP_BYTE; N]);
            n
        })
    };
    let consumers = [consumer(), consumer()];
    ([producer(), producer()], consumers)
}

// ---------------------------------------------------------------------------------------------
// 1 MiB messages: copying against zero-copy, beside memcpy.

/// The message size of the `*/1MiB` rows.
const BIG: usize = 1 << 20;
/// Slots of the rings of the `*/1MiB` rows (16 MiB of slots, as `ipcring bench` makes them by
/// default); the `*_4slots` rows use 4 (4 MiB: a ring that stays in this machine's cache).
const BIG_CAP: u64 = 16;

/// How the `*/1MiB` rows move a message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BigWay {
    /// `try_send` / `try_recv`: copied into the ring, and out of it into the consumer's buffer.
    Copy,
    /// `reserve` / `commit`, `peek` / `release`: copied into the ring from the producer's
    /// buffer; the consumer checks the stamps in place.
    Zc,
    /// As `Zc`, and the consumer also reads every word of the payload in place (a sum):
    /// what a consumer that uses the whole message pays on top.
    ZcRead,
}

/// Stamps `seq` into the first and the last 8 bytes of `msg` (as `ipcring bench` does).
fn stamp_big(msg: &mut [u8], seq: u64) {
    let n = msg.len();
    msg[..8].copy_from_slice(&seq.to_le_bytes());
    msg[n - 8..].copy_from_slice(&seq.to_le_bytes());
}

/// Panics unless `msg` is `BIG` bytes stamped with `seq` at both ends.
fn check_big(msg: &[u8], seq: u64) {
    assert_eq!(msg.len(), BIG, "message {seq}: wrong length");
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    assert_eq!(word(&msg[..8]), seq, "message {seq}: wrong first stamp");
    assert_eq!(word(&msg[BIG - 8..]), seq, "message {seq}: wrong last stamp (torn)");
}

/// Reads every 8-byte word of `msg` (a wrapping sum the compiler cannot drop).
fn read_all(msg: &[u8]) -> u64 {
    msg.chunks_exact(8).fold(0u64, |a, w| {
        a.wrapping_add(u64::from_le_bytes(w.try_into().expect("8 bytes")))
    })
}

/// 1 MiB messages between this process (producer) and a forked consumer, both spinning on
/// the non-blocking calls, every message's stamps checked: the copying API or the zero-copy
/// one ([`BigWay`]), on a `kind` ring of `cap` slots.
fn tp_ipc_proc_big(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, kind: Kind, way: BigWay, cap: u64) {
    let o = RingOptions::new()
        .kind(kind)
        .capacity(cap)
        .msg_size(BIG as u64)
        .wake(WakeBackend::Futex);
    let ring = Ring::anonymous(&o).unwrap();
    let consumer = ProcWorker::fork(|| {
        let mut rx = ring.receiver().unwrap();
        let mut buf = vec![0u8; BIG];
        let mut seq = 0u64;
        move |n| {
            for _ in 0..n {
                if way == BigWay::Copy {
                    let len = spin_ipc(|| rx.try_recv(&mut buf));
                    check_big(&buf[..len], seq);
                } else {
                    spin_until(
                        || match rx.peek(Timeout::NonBlocking) {
                            Ok(m) => {
                                check_big(&m, seq);
                                if way == BigWay::ZcRead {
                                    black_box(read_all(&m));
                                }
                                m.release();
                                true
                            }
                            Err(Error::WouldBlock) => false,
                            Err(e) => panic!("peek: {e}"),
                        },
                        None,
                    );
                }
                seq += 1;
            }
            n
        }
    });
    let mut tx = ring.sender().unwrap();
    let mut msg = vec![0xA5u8; BIG];
    let mut seq = 0u64;
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            consumer.start(iters);
            for _ in 0..iters {
                stamp_big(&mut msg, seq);
                let sent = || match way {
                    BigWay::Copy => match tx.try_send(&msg) {
                        Ok(()) => true,
                        Err(Error::WouldBlock) => false,
                        Err(e) => panic!("try_send: {e}"),
                    },
                    BigWay::Zc | BigWay::ZcRead => match tx.reserve(Timeout::NonBlocking) {
                        Ok(mut slot) => {
                            slot.buf()[..BIG].copy_from_slice(&msg);
                            slot.commit(BIG).unwrap();
                            true
                        }
                        Err(Error::WouldBlock) => false,
                        Err(e) => panic!("reserve: {e}"),
                    },
                };
                spin_until(sent, Some(&consumer.proc));
                seq += 1;
            }
            assert_eq!(consumer.done(), iters);
            t.elapsed()
        })
    });
    drop(consumer);
}

/// One thread's memcpy of 1 MiB between two warm buffers: the limit the `*/1MiB` rows are
/// set against (`ipcring bench`'s memcpy limit, in criterion's harness).
fn tp_memcpy_big(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let src = vec![0xA5u8; BIG];
    let mut dst = vec![0u8; BIG];
    dst.copy_from_slice(&src); // warm, and checked below even if the filter skips the row
    g.bench_function(name, |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        })
    });
    assert_eq!(dst, src);
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("throughput");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    tp_ipc_proc_1x1(&mut g, "ipc_spsc_proc/8B", Kind::Spsc, 8, false);
    tp_ipc_proc_1x1(&mut g, "ipc_spsc_proc/64B", Kind::Spsc, 64, false);
    tp_ipc_proc_1x1(&mut g, "ipc_spsc_proc_batch32/8B", Kind::Spsc, 8, true);
    tp_ipc_proc_1x1(&mut g, "ipc_mpmc_proc_1x1/8B", Kind::Mpmc, 8, false);
    tp_ipc_proc_1x1(&mut g, "ipc_mpmc_proc_1x1/64B", Kind::Mpmc, 64, false);
    tp_ipc_proc_1x1(&mut g, "ipc_mpmc_proc_1x1_batch32/8B", Kind::Mpmc, 8, true);
    tp_ipc_proc_2x2(&mut g, "ipc_mpmc_proc_2x2/8B", 8, true);
    tp_ipc_proc_2x2(&mut g, "ipc_mpmc_proc_2x2/64B", 64, true);
    tp_ipc_proc_2x2(&mut g, "ipc_mpmc_proc_2x2_spin_off/8B", 8, false);

    tp_ipc_thread_1x1(&mut g, "ipc_spsc_thread/8B", Kind::Spsc, 8);
    tp_ipc_thread_1x1(&mut g, "ipc_spsc_thread/64B", Kind::Spsc, 64);
    tp_ipc_thread_1x1(&mut g, "ipc_mpmc_thread_1x1/8B", Kind::Mpmc, 8);
    tp_ipc_thread_2x2(&mut g, "ipc_mpmc_thread_2x2/8B", 8);
    tp_lamport_proc::<8>(&mut g, "lamport_proc/8B");
    tp_lamport_proc::<64>(&mut g, "lamport_proc/64B");
    tp_rtrb::<8>(&mut g, "rtrb_thread/8B");
    tp_rtrb::<64>(&mut g, "rtrb_thread/64B");
    tp_aq_1x1::<8>(&mut g, "arrayqueue_thread_1x1/8B");
    tp_aq_1x1::<64>(&mut g, "arrayqueue_thread_1x1/64B");
    tp_aq_2x2::<8>(&mut g, "arrayqueue_thread_2x2/8B");
    tp_aq_2x2::<64>(&mut g, "arrayqueue_thread_2x2/64B");

    // 1 MiB messages, in bytes per second: copying and zero-copy against memcpy.
    g.throughput(Throughput::Bytes(BIG as u64));
    tp_memcpy_big(&mut g, "memcpy/1MiB");
    let (spsc, mpmc) = (Kind::Spsc, Kind::Mpmc);
    tp_ipc_proc_big(&mut g, "ipc_spsc_proc_copy/1MiB", spsc, BigWay::Copy, BIG_CAP);
    tp_ipc_proc_big(&mut g, "ipc_spsc_proc_zc/1MiB", spsc, BigWay::Zc, BIG_CAP);
    tp_ipc_proc_big(&mut g, "ipc_spsc_proc_zc_read/1MiB", spsc, BigWay::ZcRead, BIG_CAP);
    tp_ipc_proc_big(&mut g, "ipc_mpmc_proc_1x1_copy/1MiB", mpmc, BigWay::Copy, BIG_CAP);
    tp_ipc_proc_big(&mut g, "ipc_mpmc_proc_1x1_zc/1MiB", mpmc, BigWay::Zc, BIG_CAP);
    tp_ipc_proc_big(&mut g, "ipc_spsc_proc_copy_4slots/1MiB", spsc, BigWay::Copy, 4);
    tp_ipc_proc_big(&mut g, "ipc_spsc_proc_zc_4slots/1MiB", spsc, BigWay::Zc, 4);
    tp_ipc_proc_big(&mut g, "ipc_spsc_proc_zc_read_4slots/1MiB", spsc, BigWay::ZcRead, 4);
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// The reference ring: a plain Lamport ring between two processes.

/// Slots of the Lamport ring.
const LAMPORT_SLOTS: u64 = CAP as u64;
/// Bytes per Lamport slot (one cache line: a message of up to 64 bytes).
const LAMPORT_SLOT: usize = 64;
/// Where its slots start: after `tail` and `head`, each on its own 128-byte line.
const LAMPORT_AT: usize = 256;

/// A plain Lamport ring in an anonymous `MAP_SHARED` mapping shared with a forked child (the
/// same as `ipcring bench`'s limit): `tail` and `head` on separate 128-byte lines, then
/// [`LAMPORT_SLOTS`] 64-byte slots. A push loads `head` (Acquire), copies the message and
/// stores `tail + 1` (Release); a pop loads `tail` (Acquire), copies the message out and
/// stores `head + 1` (Release). No cached cursors, no length word, no wake-ups: spinning.
struct Lamport {
    base: *mut u8,
}

const LAMPORT_LEN: usize = LAMPORT_AT + LAMPORT_SLOTS as usize * LAMPORT_SLOT;

impl Lamport {
    fn new() -> Lamport {
        // SAFETY: a fresh anonymous shared mapping; checked for MAP_FAILED below.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                LAMPORT_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(p != libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
        Lamport { base: p.cast() }
    }
    fn word(&self, off: usize) -> &AtomicU64 {
        // SAFETY: offsets 0 and 128 are inside the page-aligned mapping, 8-aligned,
        // zero-initialised and only ever accessed atomically.
        unsafe { &*(self.base.add(off) as *const AtomicU64) }
    }
    fn slot(&self, pos: u64) -> *mut u8 {
        // SAFETY: pos % LAMPORT_SLOTS < LAMPORT_SLOTS: the slot lies inside the mapping.
        unsafe {
            self.base
                .add(LAMPORT_AT + (pos % LAMPORT_SLOTS) as usize * LAMPORT_SLOT)
        }
    }
    #[inline]
    fn try_push(&self, msg: &[u8]) -> bool {
        let (tail, head) = (self.word(0), self.word(128));
        let t = tail.load(Ordering::Relaxed);
        if t.wrapping_sub(head.load(Ordering::Acquire)) >= LAMPORT_SLOTS {
            return false;
        }
        // SAFETY: the slot of `t` is free (the consumer's Release of head, seen by our
        // Acquire, came after its last read of it) and ours until tail moves; <= 64 bytes.
        unsafe { core::ptr::copy_nonoverlapping(msg.as_ptr(), self.slot(t), msg.len().min(LAMPORT_SLOT)) };
        tail.store(t.wrapping_add(1), Ordering::Release);
        true
    }
    #[inline]
    fn try_pop(&self, out: &mut [u8]) -> bool {
        let (tail, head) = (self.word(0), self.word(128));
        let h = head.load(Ordering::Relaxed);
        if tail.load(Ordering::Acquire) == h {
            return false;
        }
        // SAFETY: the slot of `h` is published (the producer's Release of tail, seen by our
        // Acquire, came after its write) and not reused before head moves; <= 64 bytes.
        unsafe { core::ptr::copy_nonoverlapping(self.slot(h), out.as_mut_ptr(), out.len().min(LAMPORT_SLOT)) };
        head.store(h.wrapping_add(1), Ordering::Release);
        true
    }
}

impl Drop for Lamport {
    fn drop(&mut self) {
        // SAFETY: our mapping, unmapped once; every child using it has been killed by then
        // (declared before the workers, so dropped after them).
        unsafe { libc::munmap(self.base.cast(), LAMPORT_LEN) };
    }
}

/// Lamport ring throughput between this process (producer) and a forked consumer; both spin.
fn tp_lamport_proc<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let q = Lamport::new();
    let consumer = lamport_consumer::<N>(&q);
    let msg = [0xA5u8; N];
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            consumer.start(iters);
            for _ in 0..iters {
                spin_until(|| q.try_push(black_box(&msg)), Some(&consumer.proc));
            }
            assert_eq!(consumer.done(), iters);
            t.elapsed()
        })
    });
    drop(consumer);
}

/// A forked worker popping `N`-byte messages from `q`, spinning.
fn lamport_consumer<const N: usize>(q: &Lamport) -> ProcWorker {
    ProcWorker::fork(|| {
        move |n| {
            let mut m = [0u8; N];
            for _ in 0..n {
                spin_until(|| q.try_pop(&mut m), None);
                black_box(&m);
            }
            n
        }
    })
}

/// Lamport ring ping-pong of an 8-byte message between this process and a forked echo
/// worker over two rings; both spin.
fn rt_lamport_proc(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let (ab, ba) = (Lamport::new(), Lamport::new());
    let echo = ProcWorker::fork(|| {
        let (ab, ba) = (&ab, &ba);
        move |n| {
            let mut m = [0u8; 8];
            for _ in 0..n {
                spin_until(|| ab.try_pop(&mut m), None);
                spin_until(|| ba.try_push(&m), None);
            }
            n
        }
    });
    let mut m = [0u8; 8];
    g.bench_function(name, |bch| {
        bch.iter_custom(|iters| {
            let t = Instant::now();
            echo.start(iters);
            for i in 0..iters {
                spin_until(|| ab.try_push(&i.to_le_bytes()), Some(&echo.proc));
                spin_until(|| ba.try_pop(&mut m), Some(&echo.proc));
                assert_eq!(u64::from_le_bytes(m), i);
            }
            assert_eq!(echo.done(), iters);
            t.elapsed()
        })
    });
    drop(echo);
}

// ---------------------------------------------------------------------------------------------
// Anatomy: a minimal SPSC ring in threads, to price the differences between rtrb and ipcring.

#[repr(align(128))]
struct Line<T>(T);

/// A minimal SPSC ring (rigtorp / rtrb design: each side caches the other's cursor) whose
/// slots are `stride` words apart, messages of one word.
struct RawSpsc {
    head: Line<AtomicU64>,
    tail: Line<AtomicU64>,
    waiters: Line<AtomicU32>,
    slots: Box<[AtomicU64]>,
    stride: usize,
}

/// ipcring's `wait::notify` minus the wake: a SeqCst fence, then a Relaxed load of the
/// waiter count (always zero here).
#[inline(always)]
fn notify_step(w: &AtomicU32) {
    fence(Ordering::SeqCst);
    if black_box(w.load(Ordering::Relaxed)) != 0 {
        unreachable!("nobody waits here");
    }
}

/// Throughput of [`RawSpsc`] with `STRIDE`-word slots (1: 8-byte slots like rtrb's `[u8; 8]`;
/// 8: one 64-byte line per slot like ipcring's 8-byte-message slots), with (`NOTIFY`) or
/// without ipcring's notify step after each publish on both sides.
fn tp_raw_spsc<const STRIDE: usize, const NOTIFY: bool>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let r = Arc::new(RawSpsc {
        head: Line(AtomicU64::new(0)),
        tail: Line(AtomicU64::new(0)),
        waiters: Line(AtomicU32::new(0)),
        slots: (0..CAP * STRIDE).map(|_| AtomicU64::new(0)).collect(),
        stride: STRIDE,
    });
    let rc = r.clone();
    let (mut head, mut cached_tail) = (0u64, 0u64);
    let consumer = ThreadWorker::spawn(move |n| {
        let r = &*rc;
        for _ in 0..n {
            let backoff = Backoff::new();
            while cached_tail == head {
                cached_tail = r.tail.0.load(Ordering::Acquire);
                if cached_tail == head {
                    backoff.snooze();
                }
            }
            black_box(r.slots[(head as usize & (CAP - 1)) * r.stride].load(Ordering::Relaxed));
            head += 1;
            r.head.0.store(head, Ordering::Release);
            if NOTIFY {
                notify_step(&r.waiters.0);
            }
        }
        n
    });
    let (mut tail, mut cached_head) = (0u64, 0u64);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            consumer.start(iters);
            for i in 0..iters {
                let backoff = Backoff::new();
                while tail - cached_head == CAP as u64 {
                    cached_head = r.head.0.load(Ordering::Acquire);
                    if tail - cached_head == CAP as u64 {
                        backoff.snooze();
                    }
                }
                r.slots[(tail as usize & (CAP - 1)) * r.stride].store(black_box(i), Ordering::Relaxed);
                tail += 1;
                r.tail.0.store(tail, Ordering::Release);
                if NOTIFY {
                    notify_step(&r.waiters.0);
                }
            }
            assert_eq!(consumer.done(), iters);
            t.elapsed()
        })
    });
}

fn anatomy(c: &mut Criterion) {
    let mut g = c.benchmark_group("anatomy");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    tp_raw_spsc::<1, false>(&mut g, "raw_spsc_thread/8B_slots");
    tp_raw_spsc::<1, true>(&mut g, "raw_spsc_thread/8B_slots+notify");
    tp_raw_spsc::<8, false>(&mut g, "raw_spsc_thread/64B_slots");
    tp_raw_spsc::<8, true>(&mut g, "raw_spsc_thread/64B_slots+notify");
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// Round trip.

/// An anonymous MAP_SHARED mapping holding two words on separate 128-byte lines; shared with
/// children across fork.
struct SharedWords {
    base: *mut u8,
}

const MAP_LEN: usize = 4096;

impl SharedWords {
    fn new() -> SharedWords {
        // SAFETY: a fresh anonymous shared mapping; checked for MAP_FAILED below.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                MAP_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(p != libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
        SharedWords { base: p.cast() }
    }
    fn u64(&self, i: usize) -> &AtomicU64 {
        // SAFETY: offsets 0 and 128 are inside the page, 8-aligned, zero-initialised and only
        // ever accessed atomically.
        unsafe { &*(self.base.add(i * 128) as *const AtomicU64) }
    }
    fn u32(&self, i: usize) -> &AtomicU32 {
        // SAFETY: as in `u64`, for a 32-bit word at the start of the same line.
        unsafe { &*(self.base.add(i * 128) as *const AtomicU32) }
    }
}

impl Drop for SharedWords {
    fn drop(&mut self) {
        // SAFETY: our mapping, unmapped once; every child using it has been killed by then
        // (it is declared before the workers, so dropped after them).
        unsafe { libc::munmap(self.base.cast(), MAP_LEN) };
    }
}

/// Spins until `done()`; every 2^22 rounds checks that the peer process is still alive.
#[inline]
fn spin_until(mut done: impl FnMut() -> bool, peer: Option<&Proc>) {
    let mut n = 0u32;
    while !done() {
        spin_loop();
        n = n.wrapping_add(1);
        if n & ((1 << 22) - 1) == 0 {
            if let Some(p) = peer {
                p.check_alive();
            }
        }
    }
}

/// ipcring ping-pong between this process and a forked echo worker over two `kind` rings.
/// `spin`: try_send/try_recv busy loops; otherwise blocking send/recv (spin, then park).
fn rt_ipc_proc(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, kind: Kind, spin: bool) {
    let o = opts(kind, 8);
    let (ab, ba) = (Ring::anonymous(&o).unwrap(), Ring::anonymous(&o).unwrap());
    let echo = ProcWorker::fork(|| {
        let mut rx = ab.receiver().unwrap();
        let mut tx = ba.sender().unwrap();
        let mut buf = [0u8; 8];
        move |n| match n {
            ASK_PARKS => rx.stats().parks + tx.stats().parks,
            ASK_WAKES => rx.stats().wakes + tx.stats().wakes,
            n => {
                for _ in 0..n {
                    if spin {
                        spin_ipc(|| rx.try_recv(&mut buf));
                        spin_ipc(|| tx.try_send(&buf));
                    } else {
                        rx.recv(&mut buf).unwrap();
                        tx.send(&buf).unwrap();
                    }
                }
                n
            }
        }
    });
    let mut tx = ab.sender().unwrap();
    let mut rx = ba.receiver().unwrap();
    let mut buf = [0u8; 8];
    let mut seq = 0u64;
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            echo.start(iters);
            for _ in 0..iters {
                seq += 1;
                if spin {
                    spin_ipc(|| tx.try_send(&seq.to_ne_bytes()));
                    spin_ipc(|| rx.try_recv(&mut buf));
                } else {
                    tx.send(&seq.to_ne_bytes()).unwrap();
                    rx.recv(&mut buf).unwrap();
                }
                debug_assert_eq!(u64::from_ne_bytes(buf), seq);
            }
            assert_eq!(echo.done(), iters);
            t.elapsed()
        })
    });
    let mut mine = tx.stats();
    mine.parks += rx.stats().parks;
    mine.wakes += rx.stats().wakes;
    report_stats(name, &mine, &echo);
}

/// ipcring `Ring::in_process` spinning ping-pong between this thread and a worker thread.
fn rt_ipc_thread(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let o = opts(Kind::Spsc, 8);
    let (ab, ba) = (Ring::in_process(&o).unwrap(), Ring::in_process(&o).unwrap());
    let (mut erx, mut etx) = (ab.receiver().unwrap(), ba.sender().unwrap());
    let echo = ThreadWorker::spawn(move |n| {
        let mut buf = [0u8; 8];
        for _ in 0..n {
            spin_ipc(|| erx.try_recv(&mut buf));
            spin_ipc(|| etx.try_send(&buf));
        }
        n
    });
    let (mut tx, mut rx) = (ab.sender().unwrap(), ba.receiver().unwrap());
    let mut buf = [0u8; 8];
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            echo.start(iters);
            for i in 0..iters {
                spin_ipc(|| tx.try_send(&i.to_ne_bytes()));
                spin_ipc(|| rx.try_recv(&mut buf));
            }
            assert_eq!(echo.done(), iters);
            t.elapsed()
        })
    });
}

/// Raw two-atomic ping-pong across processes: A stores `seq` in its word and spins until B's
/// word equals it; B spins until A's word moves, then copies it.
fn rt_atomic_proc(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let words = SharedWords::new();
    let echo = ProcWorker::fork(|| {
        let (a, b) = (words.u64(0), words.u64(1));
        let mut seq = 0u64;
        move |n| {
            for _ in 0..n {
                seq += 1;
                spin_until(|| a.load(Ordering::Acquire) == seq, None);
                b.store(seq, Ordering::Release);
            }
            n
        }
    });
    let (a, b) = (words.u64(0), words.u64(1));
    let mut seq = 0u64;
    g.bench_function(name, |bch| {
        bch.iter_custom(|iters| {
            let t = Instant::now();
            echo.start(iters);
            for _ in 0..iters {
                seq += 1;
                a.store(seq, Ordering::Release);
                spin_until(|| b.load(Ordering::Acquire) == seq, Some(&echo.proc));
            }
            assert_eq!(echo.done(), iters);
            t.elapsed()
        })
    });
    drop(echo);
}

/// The same two-atomic ping-pong between two threads.
fn rt_atomic_thread(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let words = Arc::new([Line(AtomicU64::new(0)), Line(AtomicU64::new(0))]);
    let w = words.clone();
    let mut eseq = 0u64;
    let echo = ThreadWorker::spawn(move |n| {
        for _ in 0..n {
            eseq += 1;
            spin_until(|| w[0].0.load(Ordering::Acquire) == eseq, None);
            w[1].0.store(eseq, Ordering::Release);
        }
        n
    });
    let mut seq = 0u64;
    g.bench_function(name, |bch| {
        bch.iter_custom(|iters| {
            let t = Instant::now();
            echo.start(iters);
            for _ in 0..iters {
                seq += 1;
                words[0].0.store(seq, Ordering::Release);
                spin_until(|| words[1].0.load(Ordering::Acquire) == seq, None);
            }
            assert_eq!(echo.done(), iters);
            t.elapsed()
        })
    });
}

fn futex_wait(w: &AtomicU32, expected: u32) {
    // SAFETY: w is a valid aligned u32 in a shared mapping; a shared (not PRIVATE) futex, as
    // the peer is another process. EAGAIN/EINTR just mean "look again".
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            w.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            core::ptr::null::<libc::timespec>(),
        );
    }
}

fn futex_wake(w: &AtomicU32) {
    // SAFETY: as in futex_wait; FUTEX_WAKE of one waiter.
    unsafe {
        libc::syscall(libc::SYS_futex, w.as_ptr(), libc::FUTEX_WAKE, 1);
    }
}

/// Raw futex ping-pong across processes: every hop is a store, a FUTEX_WAKE and a FUTEX_WAIT
/// (no spinning): the floor for a round trip in which both sides sleep.
fn rt_futex_proc(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let words = SharedWords::new();
    let echo = ProcWorker::fork(|| {
        let (a, b) = (words.u32(0), words.u32(1));
        let mut seq = 0u32;
        move |n| {
            for _ in 0..n {
                seq = seq.wrapping_add(1);
                loop {
                    let v = a.load(Ordering::Acquire);
                    if v == seq {
                        break;
                    }
                    futex_wait(a, v);
                }
                b.store(seq, Ordering::Release);
                futex_wake(b);
            }
            n
        }
    });
    let (a, b) = (words.u32(0), words.u32(1));
    let mut seq = 0u32;
    g.bench_function(name, |bch| {
        bch.iter_custom(|iters| {
            let t = Instant::now();
            echo.start(iters);
            for _ in 0..iters {
                seq = seq.wrapping_add(1);
                a.store(seq, Ordering::Release);
                futex_wake(a);
                loop {
                    let v = b.load(Ordering::Acquire);
                    if v == seq {
                        break;
                    }
                    futex_wait(b, v);
                }
            }
            assert_eq!(echo.done(), iters);
            t.elapsed()
        })
    });
    drop(echo);
}

fn roundtrip(c: &mut Criterion) {
    let mut g = c.benchmark_group("roundtrip");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    rt_ipc_proc(&mut g, "ipc_spin_proc", Kind::Spsc, true);
    rt_ipc_proc(&mut g, "ipc_block_proc", Kind::Spsc, false);
    rt_ipc_proc(&mut g, "ipc_spin_proc_mpmc", Kind::Mpmc, true);
    rt_ipc_thread(&mut g, "ipc_spin_thread");
    rt_lamport_proc(&mut g, "lamport_spin_proc");
    rt_atomic_proc(&mut g, "atomic_spin_proc");
    rt_atomic_thread(&mut g, "atomic_spin_thread");
    rt_futex_proc(&mut g, "futex_proc");
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// Paired: ipcring and its baseline in alternating blocks, for ratios that survive a noisy host.
//
// On a virtual machine the host moves the two vCPUs between physical cores, and a cache-line
// hand-off costs 2-4x more in some placements than in others, for seconds at a time; two
// benchmarks measured a few seconds apart can land in different placements. A paired benchmark
// alternates a block of ipcring work with a block of the same work done by the baseline (a few
// hundred microseconds each), so that each pair of blocks sees the same placement, and prints
// the median of the per-pair time ratios to stderr (`[paired]`). The time criterion reports is
// ipcring's alone. Each block first moves one untimed message / round trip so that the
// worker is awake (not in the pipe or channel read) when the clock starts, and the clock stops
// when the last message has been consumed (the ring or queue is empty again).

/// Messages per throughput block, round trips per round-trip block.
const TP_BLOCK: u64 = 16 * 1024;
/// Messages per 2x2 block: each block wakes four worker processes (or threads) through their
/// job pipes (channels) and waits for four acknowledgements, tens of microseconds that
/// processes pay more than threads and that have nothing to do with the ring; longer blocks
/// keep that start-up a small share of each side's time (in 16 Ki-message blocks, about
/// 0.5 ms, it need not be).
const TP_BLOCK_2X2: u64 = 256 * 1024;
const RT_BLOCK: u64 = 2 * 1024;
/// Marks a job for the raw-atomic side of the paired round-trip echo worker.
const ATOMIC_JOB: u64 = 1 << 62;

/// Runs a paired benchmark: `ipc(k)` and `base(k)` each time a block of `k` units.
fn paired(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    block: u64,
    mut ipc: impl FnMut(u64) -> Duration,
    mut base: impl FnMut(u64) -> Duration,
) {
    let mut ratios = Vec::new();
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let k = left.min(block);
                let (ti, tb) = (ipc(k), base(k));
                total += ti;
                left -= k;
                if k >= block.min(256) {
                    ratios.push(ti.as_secs_f64() / tb.as_secs_f64());
                }
            }
            total
        })
    });
    if ratios.is_empty() {
        return;
    }
    ratios.sort_by(f64::total_cmp);
    let q = |f: f64| ratios[((ratios.len() - 1) as f64 * f).round() as usize];
    eprintln!(
        "[paired] {name}: time ratio ipcring/baseline over {} block pairs: median {:.3} (p10 {:.3}, p90 {:.3})",
        ratios.len(),
        q(0.5),
        q(0.1),
        q(0.9)
    );
}

/// Spins until `cond`.
fn spin_while(mut cond: impl FnMut() -> bool) {
    while cond() {
        spin_loop();
    }
}

/// ipcring across processes (`kind`, `N`-byte messages, this process sends with `send`, a
/// forked worker receives with `recv`) paired with rtrb (for SPSC) or ArrayQueue (for MPMC)
/// between this thread and a worker thread.
fn paired_tp<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, kind: Kind) {
    let ring = Ring::anonymous(&opts(kind, N)).unwrap();
    let consumer = ipc_consumer::<N>(&ring);
    let mut tx = ring.sender().unwrap();
    let msg = [0xA5u8; N];
    let ipc = |k: u64| ipc_block(&ring, &mut tx, &consumer, &msg, k);
    match kind {
        Kind::Spsc => paired(g, name, TP_BLOCK, ipc, rtrb_side(msg)),
        Kind::Mpmc => {
            let q = Arc::new(ArrayQueue::<[u8; N]>::new(CAP));
            let qc = q.clone();
            let worker = ThreadWorker::spawn(move |n| {
                for _ in 0..n {
                    black_box(aq_pop(&qc));
                }
                n
            });
            let base = |k: u64| {
                worker.start(k + 1);
                aq_push(&q, msg);
                spin_while(|| !q.is_empty());
                let t = Instant::now();
                for _ in 0..k {
                    aq_push(&q, black_box(msg));
                }
                spin_while(|| !q.is_empty());
                let e = t.elapsed();
                assert_eq!(worker.done(), k + 1);
                e
            };
            paired(g, name, TP_BLOCK, ipc, base);
        }
    }
}

/// A forked worker receiving `N`-byte messages from `ring` with `recv`.
fn ipc_consumer<const N: usize>(ring: &Ring) -> ProcWorker {
    ProcWorker::fork(|| {
        let mut rx = ring.receiver().unwrap();
        let mut buf = [0u8; N];
        move |n| {
            for _ in 0..n {
                black_box(rx.recv(&mut buf).unwrap());
            }
            n
        }
    })
}

/// The rtrb side of a paired throughput benchmark: `k` single pushes of `msg` from this
/// thread to a worker thread that pops them one by one (after one untimed element that wakes
/// it), timed until the buffer is empty.
fn rtrb_side<const N: usize>(msg: [u8; N]) -> impl FnMut(u64) -> Duration {
    let (mut p, mut c) = rtrb::RingBuffer::<[u8; N]>::new(CAP);
    let worker = ThreadWorker::spawn(move |n| {
        for _ in 0..n {
            black_box(rtrb_pop(&mut c));
        }
        n
    });
    move |k: u64| {
        worker.start(k + 1);
        rtrb_push(&mut p, msg);
        spin_while(|| p.slots() != CAP);
        let t = Instant::now();
        for _ in 0..k {
            rtrb_push(&mut p, black_box(msg));
        }
        spin_while(|| p.slots() != CAP);
        let e = t.elapsed();
        assert_eq!(worker.done(), k + 1);
        e
    }
}

/// ipcring SPSC batches across processes (`send_batch` / `recv_batch` of [`BATCH`]) paired
/// with rtrb's single pushes and pops in threads ([`rtrb_side`]): issue 15's "batches at 8 B
/// >= 0.8x rtrb in threads" as a ratio that survives the host's placement changes.
fn paired_batch<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let ring = Ring::anonymous(&opts(Kind::Spsc, N)).unwrap();
    let consumer = ProcWorker::fork(|| {
        let mut rx = ring.receiver().unwrap();
        move |n| recv_batches(&mut rx, n)
    });
    let mut tx = ring.sender().unwrap();
    let msg = [0xA5u8; N];
    let msgs: Vec<&[u8]> = vec![&msg; BATCH];
    let ipc = |k: u64| {
        consumer.start(k + 1);
        tx.send(&msg).unwrap();
        spin_while(|| !ring.is_empty());
        let t = Instant::now();
        send_batches(&mut tx, &msgs, k);
        spin_while(|| !ring.is_empty());
        let e = t.elapsed();
        assert_eq!(consumer.done(), k + 1);
        e
    };
    paired(g, name, TP_BLOCK, ipc, rtrb_side(msg));
}

/// One timed block of a paired throughput benchmark's ipcring side: `k` sends of `msg` to
/// `consumer` (after one untimed message that wakes it), timed until the ring is empty.
fn ipc_block(ring: &Ring, tx: &mut ipcring::Sender, consumer: &ProcWorker, msg: &[u8], k: u64) -> Duration {
    consumer.start(k + 1);
    tx.send(msg).unwrap();
    spin_while(|| !ring.is_empty());
    let t = Instant::now();
    for _ in 0..k {
        tx.send(black_box(msg)).unwrap();
    }
    spin_while(|| !ring.is_empty());
    let e = t.elapsed();
    assert_eq!(consumer.done(), k + 1);
    e
}

/// ipcring MPMC with two producer and two consumer processes ([`tp_ipc_proc_2x2`]) paired
/// with ArrayQueue with two producer and two consumer threads ([`tp_aq_2x2`]): issue 15's
/// "MPMC 2P2C at 8 B >= 1.5x ArrayQueue" as a ratio that survives the host's placement
/// changes. Only one side's workers run at a time (idle workers wait on their job pipes).
/// `spin`: whether ipcring's workers spin before they sleep ([`RingOptions::spin`]).
fn paired_2x2<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, spin: bool) {
    let ring = Ring::anonymous(&opts(Kind::Mpmc, N).spin(spin)).unwrap();
    let (ipc_p, ipc_c) = ipc_2x2_workers(&ring, N);
    let (aq_p, aq_c) = aq_2x2_workers::<N>();
    paired(
        g,
        name,
        TP_BLOCK_2X2,
        |k| run_2x2(&ipc_p, &ipc_c, k),
        |k| run_2x2(&aq_p, &aq_c, k),
    );
    drop(ipc_p);
    drop(ipc_c);
}

/// Spinning round trips over two `kind` rings between this process and a forked echo worker,
/// paired with the raw two-atomic ping-pong between the same two processes.
fn paired_rt(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, kind: Kind) {
    let o = opts(kind, 8);
    let (ab, ba) = (Ring::anonymous(&o).unwrap(), Ring::anonymous(&o).unwrap());
    let words = SharedWords::new();
    let echo = ProcWorker::fork(|| {
        let mut rx = ab.receiver().unwrap();
        let mut tx = ba.sender().unwrap();
        let (a, b) = (words.u64(0), words.u64(1));
        let mut buf = [0u8; 8];
        let mut seq = 0u64;
        move |job| {
            let n = job & !ATOMIC_JOB;
            for _ in 0..n {
                if job & ATOMIC_JOB != 0 {
                    seq += 1;
                    spin_until(|| a.load(Ordering::Acquire) == seq, None);
                    b.store(seq, Ordering::Release);
                } else {
                    spin_ipc(|| rx.try_recv(&mut buf));
                    spin_ipc(|| tx.try_send(&buf));
                }
            }
            n
        }
    });
    let mut tx = ab.sender().unwrap();
    let mut rx = ba.receiver().unwrap();
    let mut buf = [0u8; 8];
    let mut ipc_rt = |i: u64| {
        spin_ipc(|| tx.try_send(&i.to_ne_bytes()));
        spin_ipc(|| rx.try_recv(&mut buf));
    };
    let ipc = |k: u64| {
        echo.start(k + 1);
        ipc_rt(0);
        let t = Instant::now();
        for i in 0..k {
            ipc_rt(i);
        }
        let e = t.elapsed();
        assert_eq!(echo.done(), k + 1);
        e
    };
    let (a, b) = (words.u64(0), words.u64(1));
    let mut seq = 0u64;
    let mut atomic_rt = || {
        seq += 1;
        a.store(seq, Ordering::Release);
        spin_until(|| b.load(Ordering::Acquire) == seq, Some(&echo.proc));
    };
    let base = |k: u64| {
        echo.start(ATOMIC_JOB | (k + 1));
        atomic_rt();
        let t = Instant::now();
        for _ in 0..k {
            atomic_rt();
        }
        let e = t.elapsed();
        assert_eq!(echo.done(), k + 1);
        e
    };
    paired(g, name, RT_BLOCK, ipc, base);
}

fn paired_group(c: &mut Criterion) {
    let mut g = c.benchmark_group("paired");
    // The baseline blocks run too but are not counted: a sample takes about twice as long.
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    paired_tp::<8>(&mut g, "spsc_proc_vs_rtrb_thread/8B", Kind::Spsc);
    paired_batch::<8>(&mut g, "spsc_proc_batch32_vs_rtrb_thread/8B");
    paired_tp::<8>(&mut g, "mpmc_proc_vs_arrayqueue_thread/8B", Kind::Mpmc);
    paired_tp::<64>(&mut g, "mpmc_proc_vs_arrayqueue_thread/64B", Kind::Mpmc);
    paired_2x2::<8>(&mut g, "mpmc_proc_2x2_vs_arrayqueue_thread_2x2/8B", true);
    paired_2x2::<8>(&mut g, "mpmc_proc_2x2_spin_off_vs_arrayqueue_thread_2x2/8B", false);
    paired_rt(&mut g, "spin_rt_spsc_proc_vs_atomic_proc", Kind::Spsc);
    paired_rt(&mut g, "spin_rt_mpmc_proc_vs_atomic_proc", Kind::Mpmc);
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// Single-threaded overheads (nothing contended): where the per-message time goes.

fn overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("overhead");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));

    let ring = Ring::in_process(&opts(Kind::Spsc, 8)).unwrap();
    let (mut tx, mut rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    let mut buf = [0u8; 8];
    g.bench_function("ipc_spsc_send_recv/8B", |b| {
        b.iter(|| {
            tx.try_send(black_box(&[0xA5u8; 8])).unwrap();
            rx.try_recv(&mut buf).unwrap();
        })
    });
    g.bench_function("ipc_spsc_try_recv_empty", |b| {
        b.iter(|| black_box(rx.try_recv(&mut buf).is_err()))
    });
    let ring = Ring::in_process(&opts(Kind::Mpmc, 8)).unwrap();
    let (mut tx, mut rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    g.bench_function("ipc_mpmc_send_recv/8B", |b| {
        b.iter(|| {
            tx.try_send(black_box(&[0xA5u8; 8])).unwrap();
            rx.try_recv(&mut buf).unwrap();
        })
    });
    let (mut p, mut cns) = rtrb::RingBuffer::<[u8; 8]>::new(CAP);
    g.bench_function("rtrb_push_pop/8B", |b| {
        b.iter(|| {
            p.push(black_box([0xA5u8; 8])).unwrap();
            black_box(cns.pop().unwrap());
        })
    });
    let q = ArrayQueue::<[u8; 8]>::new(CAP);
    g.bench_function("arrayqueue_push_pop/8B", |b| {
        b.iter(|| {
            q.push(black_box([0xA5u8; 8])).unwrap();
            black_box(q.pop().unwrap());
        })
    });
    // The notify path's extra work per publish, in isolation: a Release store alone, and the
    // same store followed by wait.rs's `fence(SeqCst)` + Relaxed load of a waiter count.
    let (x, waiters) = (AtomicU64::new(0), AtomicU32::new(0));
    let mut i = 0u64;
    g.bench_function("store_release", |b| {
        b.iter(|| {
            i += 1;
            x.store(black_box(i), Ordering::Release);
        })
    });
    g.bench_function("store_release+fence_seqcst+load", |b| {
        b.iter(|| {
            i += 1;
            x.store(black_box(i), Ordering::Release);
            fence(Ordering::SeqCst);
            black_box(waiters.load(Ordering::Relaxed));
        })
    });
    g.finish();
}

criterion_group!(benches, throughput, anatomy, roundtrip, paired_group, overhead);
criterion_main!(benches);
