//! Signals and wrap-around (robustness issue, item 9).
//!
//! - **Signal storm**: blocking calls run in a thread that gets SIGUSR1 from two sources at
//!   once: a dedicated thread of the same process doing `pthread_kill` on it in a loop, and a
//!   POSIX timer (`SIGEV_THREAD_ID`, every 20 µs) aimed at it. The handler is installed with
//!   `sigaction` *without* `SA_RESTART` and only counts. No call may surface `EINTR` (or any
//!   error); a 50 ms deadline on an empty (or full) channel is `TimedOut` no earlier than the
//!   deadline and before 5 s; a 100,000-message stream across `fork` (a storm on each side,
//!   both sides pausing now and then so that the other one blocks) arrives exactly once, in
//!   order, every checksum right. Over the shm ring (SPSC and MPMC, futex and `sem_t`),
//!   `pipe://` and `unix://`. Every storm prints its delivered rate (signals handled /
//!   elapsed; 10,000/s and more on a quiet machine, `-- --nocapture`) and checks that it
//!   really stormed: at least [`MIN_HANDLED`] signals handled. A rate is not asserted: on
//!   the shared 2-core test machine a busy build halves it (9,202/s was seen), and a test
//!   that fails on load says nothing about the library.
//!
//!   The tests' own pauses sleep on absolute deadlines ([`pause`]): `std::thread::sleep`
//!   never returns under such a storm (see there). The library's waits all use absolute
//!   deadlines, which is why it has no such problem.
//! - **Wrap-around**: a ring whose cursors start just below 2^64 (and, for MPMC, whose doubled
//!   stamps start just below their own wrap at 2^63) and whose futex words start just below
//!   2^32 streams 100,000 messages across processes, blocking often enough on both sides that
//!   both futex words cross their wrap; afterwards the cursors and futex words are read back
//!   from `/dev/shm` to prove they did wrap. The start is set by the test hook
//!   `Ring::debug_start_at`.
//!
//! `IPCRING_STORM_MESSAGES` / `IPCRING_WRAP_MESSAGES` override the message counts.

mod common;

use common::*;
use ipcring::{Create, Error, Kind, Receiver, Ring, RingOptions, Sender, Timeout, WakeBackend};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MSG_SIZE: usize = 64;
const MAX_PAYLOAD: usize = MSG_SIZE - OVERHEAD;
/// The signals every storm must have delivered: enough that the calls under test were
/// interrupted again and again (the rate on a quiet machine is 10,000/s and more).
const MIN_HANDLED: u64 = 100;
/// The storm thread's sleep between two `pthread_kill`s (with a 1 ns timer slack; about
/// 50 µs a round on the test machine, wake-up latency included).
const STORM_GAP: Duration = Duration::from_micros(20);
/// The period of the storm's kernel timer (SIGEV_THREAD_ID, the same thread, the same signal).
const STORM_TIMER: Duration = Duration::from_micros(20);

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as _,
    }
}

// ---------------------------------------------------------------------------------------
// The storm
// ---------------------------------------------------------------------------------------

/// SIGUSR1s handled in this process.
static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_sigusr1(_sig: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// Installs the counting SIGUSR1 handler, deliberately without `SA_RESTART`: every system
/// call it interrupts fails with EINTR, which the library must absorb.
fn install_handler() {
    // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic
    // (async-signal-safe); sa_mask is initialised by sigemptyset.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigusr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()),
            0,
            "sigaction: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// What one storm achieved.
#[derive(Debug, Clone, Copy)]
struct StormReport {
    sent: u64,
    handled: u64,
    elapsed: Duration,
}

impl StormReport {
    fn rate(&self) -> f64 {
        self.handled as f64 / self.elapsed.as_secs_f64()
    }

    fn describe(&self) -> String {
        format!(
            "{} signals handled ({} sent) in {:.3} s = {:.0}/s",
            self.handled,
            self.sent,
            self.elapsed.as_secs_f64(),
            self.rate()
        )
    }

    fn assert_stormed(&self, what: &str) {
        eprintln!("storm {what}: {}", self.describe());
        assert!(
            self.handled >= MIN_HANDLED,
            "storm {what}: only {} (want >= {MIN_HANDLED} signals)",
            self.describe()
        );
    }
}

/// SIGUSR1 to the thread that started it from two sources until stopped: a thread doing
/// `pthread_kill` every [`STORM_GAP`] or so, and a POSIX timer (`SIGEV_THREAD_ID`) every
/// [`STORM_TIMER`]. The timer costs no CPU and keeps the rate up when the two cores are busy;
/// the thread adds signals from another thread at unrelated moments. Stopped (also on drop, so a failing test never leaves it signalling a dead thread).
struct Storm {
    stop: Arc<AtomicBool>,
    timer: libc::timer_t,
    thread: Option<JoinHandle<u64>>,
    start: Instant,
    handled0: u64,
}

impl Storm {
    fn start() -> Storm {
        install_handler();
        // SAFETY: pthread_self has no preconditions.
        let target = unsafe { libc::pthread_self() };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handled0 = HANDLED.load(Ordering::Relaxed);
        let start = Instant::now();
        let thread = std::thread::spawn(move || {
            // A 1 ns timer slack, so the short sleeps stay short (the default slack is 50 µs).
            // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's slack.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
            let gap = timespec(STORM_GAP);
            let mut sent = 0u64;
            while !flag.load(Ordering::Relaxed) {
                // SAFETY: the target thread outlives this one: `stop` (or drop) joins us
                // before the target can return.
                let rc = unsafe { libc::pthread_kill(target, libc::SIGUSR1) };
                assert_eq!(rc, 0, "pthread_kill: {rc}");
                sent += 1;
                // SAFETY: gap is a valid timespec; an early return is harmless.
                unsafe { libc::nanosleep(&gap, std::ptr::null_mut()) };
            }
            sent
        });
        // The kernel timer: SIGUSR1 to this very thread every STORM_TIMER.
        let mut timer: libc::timer_t = std::ptr::null_mut();
        // SAFETY: a zeroed sigevent is valid; gettid has no preconditions; timer is a valid
        // out-pointer; the timer is deleted in `halt`.
        unsafe {
            let mut sev: libc::sigevent = std::mem::zeroed();
            sev.sigev_notify = libc::SIGEV_THREAD_ID;
            sev.sigev_signo = libc::SIGUSR1;
            sev.sigev_notify_thread_id = libc::gettid();
            assert_eq!(
                libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, &mut timer),
                0,
                "timer_create: {}",
                std::io::Error::last_os_error()
            );
            let spec = libc::itimerspec {
                it_interval: timespec(STORM_TIMER),
                it_value: timespec(STORM_TIMER),
            };
            assert_eq!(
                libc::timer_settime(timer, 0, &spec, std::ptr::null_mut()),
                0,
                "timer_settime"
            );
        }
        Storm {
            stop,
            timer,
            thread: Some(thread),
            start,
            handled0,
        }
    }

    fn stop(mut self) -> StormReport {
        self.halt()
    }

    fn halt(&mut self) -> StormReport {
        // SAFETY: the timer was created in `start` and is deleted once (halt runs once).
        unsafe { libc::timer_delete(self.timer) };
        self.stop.store(true, Ordering::Relaxed);
        let sent = self.thread.take().map_or(0, |t| t.join().expect("storm thread"));
        let elapsed = self.start.elapsed();
        StormReport {
            sent,
            handled: HANDLED.load(Ordering::Relaxed) - self.handled0,
            elapsed,
        }
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.halt();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The channels under test
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Case {
    Shm(Kind, WakeBackend),
    Pipe,
    Unix,
}

const CASES: [Case; 6] = [
    Case::Shm(Kind::Spsc, WakeBackend::Futex),
    Case::Shm(Kind::Spsc, WakeBackend::Sem),
    Case::Shm(Kind::Mpmc, WakeBackend::Futex),
    Case::Shm(Kind::Mpmc, WakeBackend::Sem),
    Case::Pipe,
    Case::Unix,
];

impl Case {
    fn label(self) -> String {
        match self {
            Case::Shm(k, w) => format!("shm {} {}", kind_name(k), wake_name(w)),
            Case::Pipe => "pipe://".into(),
            Case::Unix => "unix://".into(),
        }
    }
}

/// A channel of `case`: both ends in this process (the sender may go to a forked child).
/// The returned path (unix://) is removed on drop.
fn channel(case: Case, capacity: u64) -> (Sender, Receiver, Option<TempPath>) {
    match case {
        Case::Shm(kind, wake) => {
            let opts = RingOptions::new()
                .kind(kind)
                .wake(wake)
                .capacity(capacity)
                .msg_size(MSG_SIZE as u64);
            let (tx, rx) = ipcring::pair(&opts).expect("pair");
            (tx, rx, None)
        }
        Case::Pipe => {
            let (tx, rx) = ipcring::pair_at(&format!("pipe://?msg_size={MSG_SIZE}")).expect("pipe pair");
            (tx, rx, None)
        }
        Case::Unix => {
            let path = TempPath::new("storm-sock");
            let addr = format!("unix://{}?msg_size={MSG_SIZE}", path.as_str());
            let rx = Receiver::open(&addr, Create::IfMissing).expect("unix receiver");
            let tx = Sender::open(&addr, Create::No).expect("unix sender");
            (tx, rx, Some(path))
        }
    }
}

fn check_bounds(what: &str, waited: Duration) {
    assert!(
        waited >= Duration::from_millis(50),
        "{what}: TimedOut after {waited:?}, before its 50 ms deadline"
    );
    assert!(
        waited < Duration::from_secs(5),
        "{what}: TimedOut only after {waited:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Storm: deadlines
// ---------------------------------------------------------------------------------------

/// Under a storm: `recv_timeout(50 ms)` on an empty channel and `send_timeout(50 ms)` on a
/// full one are `TimedOut`, within [50 ms, 5 s), never EINTR.
fn deadlines(case: Case) {
    let what = case.label();
    let (mut tx, mut rx, _path) = channel(case, 8);
    // One round trip first: it connects a lazy sender.
    tx.send_timeout(b"hello", Duration::from_secs(30)).expect("first send");
    assert_eq!(
        rx.recv_vec_timeout(Duration::from_secs(30)).expect("first recv"),
        b"hello"
    );
    let storm = Storm::start();
    let mut buf = [0u8; MSG_SIZE];
    for round in 0..4 {
        let start = Instant::now();
        match rx.recv_timeout(&mut buf, Duration::from_millis(50)) {
            Err(Error::TimedOut) => {}
            other => panic!("{what}: recv_timeout #{round} on an empty channel: {other:?}"),
        }
        check_bounds(&format!("{what} recv_timeout #{round}"), start.elapsed());
        let start = Instant::now();
        match rx.recv_with_timeout(&mut buf, Timeout::after(Duration::from_millis(50))) {
            Err(Error::TimedOut) => {}
            other => panic!("{what}: recv_with_timeout #{round} on an empty channel: {other:?}"),
        }
        check_bounds(&format!("{what} recv_with_timeout #{round}"), start.elapsed());
    }
    // Fill it (non-blocking sends), then time out on the full channel.
    let msg = [7u8; MSG_SIZE];
    let mut sent = 0u64;
    loop {
        match tx.try_send(&msg) {
            Ok(()) => sent += 1,
            Err(Error::WouldBlock) => break,
            Err(e) => panic!("{what}: try_send #{sent}: {e}"),
        }
        assert!(sent < 10_000_000, "{what}: never full after {sent} messages");
    }
    for round in 0..4 {
        let start = Instant::now();
        match tx.send_timeout(&msg, Duration::from_millis(50)) {
            Err(Error::TimedOut) => {}
            other => panic!("{what}: send_timeout #{round} on a full channel: {other:?}"),
        }
        check_bounds(&format!("{what} send_timeout #{round}"), start.elapsed());
    }
    let report = storm.stop();
    report.assert_stormed(&format!("{what} deadlines"));
    // Everything queued is still there, intact.
    for k in 0..sent {
        let n = rx
            .recv_timeout(&mut buf, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{what}: drain #{k} of {sent}: {e}"));
        assert_eq!(&buf[..n], &msg[..], "{what}: drained message #{k}");
    }
}

#[test]
fn storm_deadlines() {
    let _g = serial();
    for case in CASES {
        deadlines(case);
    }
}

// ---------------------------------------------------------------------------------------
// Storm: a stream across fork
// ---------------------------------------------------------------------------------------

/// Sleeps `d` under a storm. Not `std::thread::sleep`: it restarts a relative `nanosleep`
/// with the remaining time after each EINTR, and the kernel reports that remaining time
/// against the timer's expiry *plus the timer slack* (50 µs by default), so with a signal
/// every 10 to 25 µs the remaining time never shrinks and the sleep never ends (seen here: a
/// 1 ms sleep hung the stream for a minute). An absolute deadline always makes progress.
fn pause(d: Duration) {
    let mut deadline = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer; CLOCK_MONOTONIC exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut deadline) };
    let ns = deadline.tv_nsec as u64 + d.subsec_nanos() as u64;
    deadline.tv_sec += d.as_secs() as libc::time_t + (ns / 1_000_000_000) as libc::time_t;
    deadline.tv_nsec = (ns % 1_000_000_000) as _;
    // SAFETY: deadline is a valid timespec on CLOCK_MONOTONIC; the call only sleeps.
    while unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &deadline,
            std::ptr::null_mut(),
        )
    } == libc::EINTR
    {}
}

/// Every this many messages each side of a stream pauses for a millisecond (half a period
/// apart), so that the other side blocks, and is signalled while blocked, about
/// `2 * n / STREAM_PAUSE_EVERY` times.
const STREAM_PAUSE_EVERY: u64 = 200;

/// `n` messages from a forked child to this process, each side under its own storm, with
/// blocking sends and receives (`Forever` and long deadlines, alternately).
fn stream(case: Case, n: u64) {
    let what = case.label();
    let (tx, mut rx, _path) = channel(case, 8);
    let mut tx = Some(tx);
    let mut report = Pipe::new();
    let child = fork(&format!("{what} storm sender"), || {
        let mut tx = tx.take().unwrap();
        let storm = Storm::start();
        let mut buf = [0u8; MSG_SIZE];
        for seq in 0..n {
            if seq % STREAM_PAUSE_EVERY == 0 && seq > 0 {
                // The receiver runs dry and parks, under its storm.
                pause(Duration::from_millis(1));
            }
            let len = encode(0, seq, MAX_PAYLOAD, &mut buf);
            let r = match seq % 3 {
                0 => tx.send(&buf[..len]),
                1 => tx.send_timeout(&buf[..len], Duration::from_secs(60)),
                _ => tx.send_with_timeout(&buf[..len], Timeout::Forever),
            };
            r.unwrap_or_else(|e| panic!("{what}: send seq {seq}: {e}"));
        }
        drop(tx);
        let r = storm.stop();
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&r.sent.to_le_bytes());
        out[8..16].copy_from_slice(&r.handled.to_le_bytes());
        out[16..].copy_from_slice(&(r.elapsed.as_nanos() as u64).to_le_bytes());
        report.write(&out);
    });
    drop(tx);
    report.close_write();
    let storm = Storm::start();
    let mut check = SeqChecker::new(1, Some(MAX_PAYLOAD));
    let mut buf = [0u8; MSG_SIZE];
    loop {
        if check.count % STREAM_PAUSE_EVERY == STREAM_PAUSE_EVERY / 2 {
            // The sender fills the channel (a ring of 8, or the kernel's buffer) and parks.
            pause(Duration::from_millis(1));
        }
        let r = match check.count % 3 {
            0 => rx.recv(&mut buf),
            1 => rx.recv_timeout(&mut buf, Duration::from_secs(60)),
            _ => rx.recv_with_timeout(&mut buf, Timeout::Forever),
        };
        match r {
            Ok(len) => check.check_or_panic(&buf[..len]),
            Err(Error::EndOfStream) => break,
            Err(e) => panic!("{what}: recv after {} messages: {e}", check.count),
        }
    }
    let mine = storm.stop();
    check.assert_complete(n);
    eprintln!("{what}: receiver stats {:?}", rx.stats());
    let mut out = [0u8; 24];
    let reported = report.read_exact(&mut out, HANG_BOUND);
    child.expect_success(HANG_BOUND);
    assert!(reported, "{what}: the sender did not report its storm");
    let theirs = StormReport {
        sent: u64::from_le_bytes(out[..8].try_into().unwrap()),
        handled: u64::from_le_bytes(out[8..16].try_into().unwrap()),
        elapsed: Duration::from_nanos(u64::from_le_bytes(out[16..].try_into().unwrap())),
    };
    eprintln!("{what}: {n} messages checked");
    mine.assert_stormed(&format!("{what} stream, receiver"));
    theirs.assert_stormed(&format!("{what} stream, sender (child)"));
}

#[test]
fn storm_stream() {
    let _g = serial();
    let n = env_u64("IPCRING_STORM_MESSAGES", 100_000);
    for case in CASES {
        stream(case, n);
    }
}

// ---------------------------------------------------------------------------------------
// Wrap-around
// ---------------------------------------------------------------------------------------

/// Reads the u64 (cursor) or u32 (futex word) at `off` of shm object `name`.
fn peek_u64(name: &str, off: u64) -> u64 {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(shm_path(name)).expect("open the ring's object");
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, off).expect("read the ring's object");
    u64::from_le_bytes(b)
}

fn peek_u32(name: &str, off: u64) -> u32 {
    peek_u64(name, off) as u32
}

// The shared layout (docs/architecture.md): tail at 128, head at 256, the data bell's futex
// word at 384, the space bell's at 512.
const TAIL_OFF: u64 = 128;
const HEAD_OFF: u64 = 256;
const DATA_BELL_OFF: u64 = 384;
const SPACE_BELL_OFF: u64 = 512;

/// Every this many messages (counted as the receiver counts them: every producer's) each side
/// pauses for a millisecond, half a period apart, so the other side parks and is woken: both
/// futex words move by one per such pause.
const PAUSE_EVERY: u64 = 400;

/// `producers` forked children send `per_producer` messages each through a ring that starts at
/// cursor `pos` with futex words at `bell`; this process receives and checks every one, then
/// reads the cursors and futex words back and checks that they crossed their wraps.
fn wrap_run(kind: Kind, wake: WakeBackend, pos: u64, bell: u32, producers: u32, per_producer: u64) {
    let what = format!("wrap {} {} from {pos:#x}", kind_name(kind), wake_name(wake));
    let name = ShmName::new("wrap");
    let opts = RingOptions::new()
        .kind(kind)
        .wake(wake)
        .capacity(16)
        .msg_size(MSG_SIZE as u64);
    let ring = Ring::create(name.as_str(), &opts).expect("create");
    ring.debug_start_at(pos, bell).expect("debug_start_at");
    // SPSC (ABI 6): the full message counts beside the cursor words start at `pos`, and the
    // words' 27-bit counts (bits 37 and up) at `pos`'s low bits, which wrap with it.
    let count_off = if kind == Kind::Spsc { 8 } else { 0 };
    assert_eq!(peek_u64(name.as_str(), TAIL_OFF + count_off), pos);
    assert_eq!(peek_u32(name.as_str(), DATA_BELL_OFF), bell);
    let mut rx = ring.receiver().expect("receiver");
    // One sender endpoint per producer, each taken by its child; ours are dropped below.
    let mut senders: Vec<Option<Sender>> = (0..producers).map(|_| Some(ring.sender().expect("sender"))).collect();
    let children: Vec<_> = (0..producers)
        .map(|p| {
            fork(&format!("{what} producer {p}"), || {
                let mut tx = senders[p as usize].take().unwrap();
                let mut buf = [0u8; MSG_SIZE];
                let mut batch: Vec<Vec<u8>> = Vec::new();
                let mut seq = 0;
                while seq < per_producer {
                    // Halfway between the receiver's pauses in its count (the messages of all
                    // producers): with two producers, pausing every PAUSE_EVERY of its own
                    // messages would line each pause up with one of the receiver's, and a
                    // receiver that is itself asleep does not park on the empty ring (a run
                    // on a loaded machine saw 77 data-bell wake-ups where 101 are needed).
                    if (seq * producers as u64) % PAUSE_EVERY == PAUSE_EVERY / 2 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    if seq % 7 == 3 && seq + 3 <= per_producer {
                        batch.clear();
                        for k in 0..3 {
                            let len = encode(p, seq + k, MAX_PAYLOAD, &mut buf);
                            batch.push(buf[..len].to_vec());
                        }
                        let sent = tx
                            .send_batch(&batch, Timeout::Forever)
                            .unwrap_or_else(|e| panic!("producer {p}: batch at seq {seq}: {e}"));
                        assert_eq!(sent, 3, "producer {p}: a Forever batch sent {sent} of 3");
                        seq += 3;
                    } else {
                        let len = encode(p, seq, MAX_PAYLOAD, &mut buf);
                        tx.send(&buf[..len])
                            .unwrap_or_else(|e| panic!("producer {p}: send seq {seq}: {e}"));
                        seq += 1;
                    }
                }
            })
        })
        .collect();
    drop(senders);
    let mut check = SeqChecker::new(producers as usize, Some(MAX_PAYLOAD));
    let mut buf = [0u8; MSG_SIZE];
    loop {
        if check.count % PAUSE_EVERY == 0 && check.count > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let r = if check.count % 5 == 2 {
            let mut bad = None;
            let r = rx.recv_batch(4, Timeout::Forever, |m| {
                if bad.is_none() {
                    bad = check.check(m).err();
                }
            });
            if let Some(e) = bad {
                panic!("{what}: {e}");
            }
            r.map(|_| ())
        } else {
            rx.recv(&mut buf).map(|len| check.check_or_panic(&buf[..len]))
        };
        match r {
            Ok(()) => {}
            Err(Error::EndOfStream) => break,
            Err(e) => panic!("{what}: recv after {} messages: {e}", check.count),
        }
    }
    check.assert_complete(per_producer);
    for c in children {
        c.expect_success(HANG_BOUND);
    }
    let total = producers as u64 * per_producer;
    let tail = peek_u64(name.as_str(), TAIL_OFF + count_off);
    let head = peek_u64(name.as_str(), HEAD_OFF + count_off);
    if kind == Kind::Spsc {
        let word = peek_u64(name.as_str(), TAIL_OFF);
        let mask = (1u64 << 27) - 1;
        assert!(
            word >> 37 == pos.wrapping_add(total) & mask && word >> 37 < pos & mask,
            "{what}: the cursor word's count did not wrap with the count: {word:#x}"
        );
    }
    let data = peek_u32(name.as_str(), DATA_BELL_OFF);
    let space = peek_u32(name.as_str(), SPACE_BELL_OFF);
    eprintln!(
        "{what}: {total} messages checked; tail {pos:#x} -> {tail:#x}, head -> {head:#x}; \
         futex words {bell:#x} -> data {data:#x} (+{}), space {space:#x} (+{})",
        data.wrapping_sub(bell),
        space.wrapping_sub(bell)
    );
    assert_eq!(tail, pos.wrapping_add(total), "{what}: tail");
    assert_eq!(head, pos.wrapping_add(total), "{what}: head");
    // Both futex words moved past 2^32 (each moved less than 2^31, so this is unambiguous).
    assert!(
        data.wrapping_sub(bell) > u32::MAX - bell && data < bell,
        "{what}: the data bell's futex word did not wrap: {bell:#x} -> {data:#x}"
    );
    assert!(
        space.wrapping_sub(bell) > u32::MAX - bell && space < bell,
        "{what}: the space bell's futex word did not wrap: {bell:#x} -> {space:#x}"
    );
}

/// 2^64 - 1000: the cursors (and the MPMC stamps, 2 * pos mod 2^64) cross zero after 1,000
/// messages, in the middle of a lap (1000 is not a multiple of the capacity).
const NEAR_2_64: u64 = 0u64.wrapping_sub(1000);
/// 2^63 - 1000: the MPMC stamps (2 * pos) wrap here while the cursors do not.
const NEAR_2_63: u64 = (1u64 << 63) - 1000;
/// u32::MAX - 100: the futex words cross zero after 101 wake-ups.
const BELL_START: u32 = u32::MAX - 100;

#[test]
fn wrap_spsc() {
    let _g = serial();
    let n = env_u64("IPCRING_WRAP_MESSAGES", 100_000);
    for wake in [WakeBackend::Futex, WakeBackend::Sem] {
        wrap_run(Kind::Spsc, wake, NEAR_2_64, BELL_START, 1, n);
    }
}

#[test]
fn wrap_mpmc() {
    let _g = serial();
    let n = env_u64("IPCRING_WRAP_MESSAGES", 100_000);
    for wake in [WakeBackend::Futex, WakeBackend::Sem] {
        wrap_run(Kind::Mpmc, wake, NEAR_2_64, BELL_START, 2, n / 2);
    }
    wrap_run(Kind::Mpmc, WakeBackend::Futex, NEAR_2_63, BELL_START, 2, n / 2);
}

#[test]
fn debug_start_at_refuses_a_ring_in_use() {
    let _g = serial();
    let ring = Ring::in_process(&RingOptions::new().kind(Kind::Mpmc).capacity(4)).unwrap();
    ring.debug_start_at(u64::MAX - 1, u32::MAX).unwrap();
    let (mut tx, mut rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    assert!(matches!(ring.debug_start_at(0, 0), Err(Error::Unsupported { .. })));
    for round in 0..3u8 {
        for k in 0..4u8 {
            tx.try_send(&[round, k]).unwrap();
        }
        assert!(matches!(tx.try_send(b"x"), Err(Error::WouldBlock)));
        for k in 0..4u8 {
            assert_eq!(rx.try_recv_vec().unwrap(), [round, k]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Storm: a sender waiting for its receiver to appear
// ---------------------------------------------------------------------------------------

/// A sender whose receiver is not there yet (`unix://`: nothing listens; `fifo://`: no
/// reader) waits for it with a back-off; under a storm its 50 ms deadline must still end the
/// wait, with `TimedOut`. Run in a forked child so that a hang is a failure, not a hung test.
fn sender_before_receiver(address: &str) {
    let child = fork(&format!("{address} sender before receiver"), || {
        let mut tx = Sender::open(address, Create::No).expect("open the sender");
        let storm = Storm::start();
        for round in 0..3 {
            let start = Instant::now();
            // Nothing listens on a socket address: NoListener once the deadline ends (a
            // FIFO's sender waits for a reader and times out).
            match tx.send_timeout(b"anyone?", Duration::from_millis(50)) {
                Err(Error::TimedOut) | Err(Error::NoListener { .. }) => {}
                other => panic!("{address}: send_timeout #{round} with no receiver: {other:?}"),
            }
            check_bounds(&format!("{address} send_timeout #{round}"), start.elapsed());
        }
        storm
            .stop()
            .assert_stormed(&format!("{address} sender before receiver"));
    });
    let exit = child.wait(Duration::from_secs(20));
    assert!(exit.success(), "{}", exit.describe());
}

#[test]
fn storm_sender_before_receiver_unix() {
    let _g = serial();
    let sock = TempPath::new("storm-nobody.sock");
    sender_before_receiver(&format!("unix://{}?msg_size={MSG_SIZE}", sock.as_str()));
}

#[test]
fn storm_sender_before_receiver_fifo() {
    let _g = serial();
    let fifo = TempPath::new("storm-nobody.fifo");
    let c = std::ffi::CString::new(fifo.as_str()).unwrap();
    // SAFETY: c is a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    sender_before_receiver(&format!("fifo://{}?msg_size={MSG_SIZE}", fifo.as_str()));
}
