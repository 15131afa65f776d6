//! The kill -9 matrix (the robustness issue, item 8): in each round a random participant of a
//! running channel is killed, at a random step of its stream or at a random failpoint (`src/failpoint.rs`)
//! of the send, receive or wait path, and the survivors and the messages are checked.
//!
//! Configurations: the shm ring SPSC (1 producer, 1 consumer) and MPMC 2x2, and every fallback
//! transport 1x1 (pipe, fifo, mq, unix, tcp). Every participant is a forked process. Producers
//! send `[producer][seq][payload][checksum]` messages and record, in a shared anonymous
//! mapping, how many sends have returned `Ok` ("committed"); consumers check every message's
//! checksum (a torn message fails the consumer) and append `(producer, seq)` to their own log
//! in that mapping after each receive.
//!
//! After each round:
//! - every survivor exited 0 within the hang bound: producers after sending everything or on
//!   `Disconnected` / `ReceiverDied` (their consumers all died), consumers on end-of-stream
//!   or `SenderDied` (a producer was killed);
//! - no message was received twice, and each consumer saw each producer's messages in order;
//! - nothing beyond what a producer committed was received, except the one message it was
//!   sending when killed (published, not yet recorded);
//! - loss: none if no consumer died; if a consumer died and another survived (MPMC), at most
//!   the one message the dead consumer held; if the only consumer died, what it received is a
//!   gapless prefix of each producer's stream;
//! - the channel's named objects are removed by the normal cleanup (`ipcring::unlink`), and
//!   this process's open descriptors are back to their count before the round.
//!
//! Rounds: `IPCRING_KILL_ROUNDS` per configuration (default 30, so 210 in the test command);
//! the long run is `IPCRING_KILL_ROUNDS=1500` (10,500 rounds, see docs/robustness.md).
//! `IPCRING_KILL_SEED` replays a run. Figures are printed (`--nocapture`).

// It drives the library's building blocks (or its failpoints) directly: only in the test build.
#![cfg(ipcring_test)]

mod common;

use common::chan::{Chan, T};
use common::{decode, encode_vec, fork, serial};
use ipcring::failpoint::{self, Action};
use ipcring::{Error, Receiver, Sender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(30);
/// Messages per producer: enough for a kill to land mid-stream, past what the kernel buffers
/// of the fallbacks hold (the ring moves ten times as fast).
fn per_producer(t: T) -> u64 {
    if matches!(t, T::ShmSpsc | T::ShmMpmc) {
        20_000
    } else {
        10_000
    }
}
const MAX_PER_PRODUCER: u64 = 20_000;
const MAX_PAYLOAD: usize = 40;
const MSG_SIZE: usize = 64;
/// Log words per consumer.
const LOG: usize = 2 * MAX_PER_PRODUCER as usize;

/// The shared anonymous mapping the participants report through.
struct Board {
    words: &'static [AtomicU64],
}

/// Word indices.
const COMMITTED: usize = 0; // 2 words: per producer
const ATTACHED: usize = 2; // consumers attached
const PRODUCERS: usize = 3; // producers with their sender open
const COUNT: usize = 4; // 2 words: per consumer log length
const LOGS: usize = 8;

impl Board {
    fn new() -> Board {
        let n = LOGS + 2 * LOG;
        // SAFETY: an anonymous shared mapping of n words, zero-filled; inherited across fork.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                n * 8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap");
        // SAFETY: the mapping is n zeroed, 8-aligned words, valid as AtomicU64 for the rest of
        // the process (never unmapped: one small mapping per round is leaked on purpose, so
        // that no child can outlive it).
        let words = unsafe { core::slice::from_raw_parts(p as *const AtomicU64, n) };
        Board { words }
    }
    fn w(&self, i: usize) -> &AtomicU64 {
        &self.words[i]
    }
    fn log(&self, consumer: usize) -> Vec<(u32, u64)> {
        let n = self.w(COUNT + consumer).load(Ordering::Acquire) as usize;
        (0..n)
            .map(|k| {
                let v = self.w(LOGS + consumer * LOG + k).load(Ordering::Relaxed);
                ((v >> 48) as u32, v & 0xffff_ffff_ffff)
            })
            .collect()
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        common::mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The named objects a channel leaves in the file system (none for pipe and tcp).
fn objects(ch: &Chan) -> Vec<std::path::PathBuf> {
    let name = |a: &str| a.split("://").nth(1).unwrap().split('?').next().unwrap().to_string();
    match ch.t {
        T::ShmSpsc | T::ShmMpmc => vec![format!("/dev/shm/{}", name(&ch.addr)).into()],
        T::Mq => vec![
            format!("/dev/mqueue/{}", name(&ch.addr)).into(),
            format!("/dev/shm/ipcring-mq.{}", name(&ch.addr)).into(),
        ],
        T::Fifo | T::Unix => vec![name(&ch.addr).into()],
        T::Pipe | T::Tcp | T::Nats => vec![],
    }
}

/// How the victim dies.
#[derive(Debug, Clone, Copy)]
enum Death {
    /// SIGKILL from this process once the victim has made `k` steps (sends committed, or
    /// messages received), so that kills land mid-stream on fast and slow transports alike
    /// (and never before a producer's first send: a receiver whose only sender died before
    /// ever attaching waits for a sender, by design).
    Progress(u64),
    /// SIGKILL by itself at a failpoint, on its `skip + 1`-th hit.
    Point(&'static str, u32),
}

fn producer(ch: &Chan, inherited: Option<Sender>, board: &Board, p: usize) {
    let mut tx = ch.sender(inherited);
    board.w(PRODUCERS).fetch_add(1, Ordering::AcqRel);
    for seq in 0..per_producer(ch.t) {
        match tx.send_timeout(&encode_vec(p as u32, seq, MAX_PAYLOAD), HANG) {
            Ok(()) => board.w(COMMITTED + p).store(seq + 1, Ordering::Release),
            // Disconnected, or ReceiverDied: the consumers all died.
            // NoListener: the socket receiver died before this sender's first connect.
            Err(e) if e.is_disconnected() || matches!(e, Error::NoListener { .. }) => return,
            Err(e) => panic!("producer {p}: send {seq}: {e}"),
        }
    }
}

fn consumer(rx: &mut Receiver, board: &Board, c: usize) {
    let mut buf = vec![0u8; MSG_SIZE];
    let started = Instant::now();
    loop {
        match rx.recv_timeout(&mut buf, Duration::from_secs(1)) {
            Ok(n) => {
                let (p, seq) = decode(&buf[..n], Some(MAX_PAYLOAD))
                    .unwrap_or_else(|e| panic!("consumer {c}: a torn or corrupt message: {e}"));
                let k = board.w(COUNT + c).load(Ordering::Relaxed) as usize;
                assert!(k < LOG, "consumer {c}: more messages than were sent");
                board
                    .w(LOGS + c * LOG + k)
                    .store(((p as u64) << 48) | seq, Ordering::Relaxed);
                board.w(COUNT + c).store(k as u64 + 1, Ordering::Release);
            }
            // SenderDied when the victim was a producer (a crash is not a clean end).
            Err(Error::EndOfStream | Error::SenderDied) => return,
            Err(Error::TimedOut) => assert!(started.elapsed() < HANG, "consumer {c}: no end-of-stream"),
            Err(e) => panic!("consumer {c}: {e}"),
        }
    }
}

/// The failpoints a participant of `role` passes on transport `t`.
fn points(t: T, producer: bool) -> &'static [&'static str] {
    let ring = matches!(t, T::ShmSpsc | T::ShmMpmc);
    match (ring, producer) {
        (true, true) => &[
            failpoint::SEND_AFTER_CLAIM,
            failpoint::SEND_AFTER_WRITE,
            failpoint::SEND_BEFORE_PUBLISH,
            failpoint::SEND_BEFORE_WAKE,
            failpoint::WAIT_BEFORE_PARK,
        ],
        (true, false) => &[
            failpoint::RECV_AFTER_CLAIM,
            failpoint::RECV_BEFORE_RELEASE,
            failpoint::WAIT_BEFORE_PARK,
        ],
        // The fallbacks wait in the kernel (ppoll, mq_timedreceive): kills at a random step only.
        (false, _) => &[],
    }
}

#[derive(Default)]
struct Figures {
    rounds: u64,
    point_kills: u64,
    timer_kills: u64,
    victim_finished_first: u64,
    messages_checked: u64,
    lost_with_dead_consumer: u64,
    worst_unblock: Duration,
}

fn round(t: T, rng: &mut Rng, figures: &mut Figures) {
    let (np, nc) = if t == T::ShmMpmc { (2usize, 2usize) } else { (1, 1) };
    let fds_before = open_fds();
    let ch = Chan::sized(t, "km", MSG_SIZE, 8);
    let board = Board::new();
    let victim = rng.below((np + nc) as u64) as usize; // < np: a producer
    let victim_is_producer = victim < np;
    let pts = points(t, victim_is_producer);
    let death = if !pts.is_empty() && rng.below(2) == 0 {
        let point = pts[rng.below(pts.len() as u64) as usize];
        // A send or receive point is passed once per message; parking is rarer.
        let hits = if point == failpoint::WAIT_BEFORE_PARK {
            4
        } else {
            per_producer(t)
        };
        Death::Point(point, rng.below(hits) as u32)
    } else {
        Death::Progress(1 + rng.below(per_producer(t) - 1))
    };
    let arm = |me: usize| {
        if let (true, Death::Point(name, skip)) = (me == victim, death) {
            failpoint::arm(name, Action::Kill, skip).unwrap();
        }
    };

    // Consumers first (they create the channel), then the producers.
    let (first_rx, pair_tx) = if ch.anonymous() {
        let (rx, tx) = ch.receiver();
        (Some(rx), tx)
    } else {
        (None, None)
    };
    let mut first_rx = first_rx;
    let mut pair_tx = pair_tx;
    let mut kids = Vec::new();
    for c in 0..nc {
        kids.push(fork(&format!("consumer {c}"), || {
            drop(pair_tx.take());
            let mut rx = match first_rx.take() {
                Some(rx) => rx,
                None => ch.receiver().0,
            };
            board.w(ATTACHED).fetch_add(1, Ordering::AcqRel);
            // Armed only once every producer has its sender: a consumer that died before a
            // producer attached was never that producer's receiver, and the producer would
            // rightly wait for another instead of being disconnected (endings per endpoint).
            let start = Instant::now();
            while board.w(PRODUCERS).load(Ordering::Acquire) < np as u64 {
                assert!(start.elapsed() < HANG, "the producers never opened their senders");
                std::thread::sleep(Duration::from_micros(200));
            }
            arm(np + c);
            consumer(&mut rx, &board, c);
        }));
        let start = Instant::now();
        while board.w(ATTACHED).load(Ordering::Acquire) < c as u64 + 1 {
            assert!(start.elapsed() < HANG, "consumer {c} never attached");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    drop(first_rx.take());
    for p in 0..np {
        kids.push(fork(&format!("producer {p}"), || {
            arm(p);
            producer(&ch, pair_tx.take(), &board, p);
        }));
    }
    drop(pair_tx.take());
    let victim_pid = kids[if victim_is_producer { nc + victim } else { victim - np }].pid();
    let order: Vec<usize> = (0..nc).map(|c| np + c).chain(0..np).collect(); // kids[i] is participant order[i]
    let mut killed_at = None;
    if let Death::Progress(k) = death {
        let progress = if victim_is_producer {
            board.w(COMMITTED + victim)
        } else {
            board.w(COUNT + victim - np)
        };
        let start = Instant::now();
        // SAFETY: waitpid with WNOWAIT on our own child only peeks at whether it has exited.
        let exited = || unsafe {
            let mut info: libc::siginfo_t = core::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                victim_pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            ) == 0
                && info.si_pid() != 0
        };
        while progress.load(Ordering::Acquire) < k && start.elapsed() < HANG && !exited() {
            std::thread::yield_now();
        }
        killed_at = Some(Instant::now());
        // SAFETY: victim_pid is our unreaped child (a zombie at worst).
        unsafe { libc::kill(victim_pid, libc::SIGKILL) };
    }

    // Reap everyone, noting when each survivor finished.
    let mut exits = Vec::new();
    for (i, kid) in kids.into_iter().enumerate() {
        let who = order[i];
        let e = kid.wait(HANG);
        exits.push((who, e, Instant::now()));
    }
    let mut victim_died = false;
    for (who, e, _) in &exits {
        if *who == victim {
            let by_kill = libc::WIFSIGNALED(e.status) && libc::WTERMSIG(e.status) == libc::SIGKILL;
            assert!(by_kill || e.success(), "{t:?} victim {death:?}: {}", e.describe());
            victim_died = by_kill;
        } else {
            assert!(
                e.success(),
                "{t:?} survivor, victim {victim} {death:?}: {}",
                e.describe()
            );
        }
    }
    figures.rounds += 1;
    match (death, victim_died) {
        (_, false) => figures.victim_finished_first += 1,
        (Death::Point(..), true) => figures.point_kills += 1,
        (Death::Progress(_), true) => figures.timer_kills += 1,
    }
    if let Some(k) = killed_at {
        // When the victim was the last of its role, the survivors had to learn of its death.
        let alone = if victim_is_producer { np == 1 } else { nc == 1 };
        if victim_died && alone {
            let last = exits
                .iter()
                .filter(|(w, ..)| *w != victim)
                .map(|(_, _, at)| *at)
                .max()
                .unwrap();
            figures.worst_unblock = figures.worst_unblock.max(last.saturating_duration_since(k));
        }
    }

    // The messages.
    let logs: Vec<Vec<(u32, u64)>> = (0..nc).map(|c| board.log(c)).collect();
    let mut seen = std::collections::HashSet::new();
    for (c, log) in logs.iter().enumerate() {
        let mut last = [None::<u64>; 2];
        for &(p, seq) in log {
            assert!((p as usize) < np, "{t:?}: consumer {c} got producer {p}");
            assert!(seen.insert((p, seq)), "{t:?}: ({p}, {seq}) received twice");
            if let Some(l) = last[p as usize] {
                assert!(seq > l, "{t:?}: consumer {c}: producer {p} seq {seq} after {l}");
            }
            last[p as usize] = Some(seq);
        }
        figures.messages_checked += log.len() as u64;
    }
    let consumer_died = victim_died && !victim_is_producer;
    let mut missing = 0u64;
    for p in 0..np {
        let committed = board.w(COMMITTED + p).load(Ordering::Acquire);
        let got: Vec<u64> = seen.iter().filter(|(q, _)| *q as usize == p).map(|(_, s)| *s).collect();
        let max = got.iter().copied().max();
        // Only the message a killed producer was sending may go beyond what it committed.
        let limit = if victim_died && victim == p {
            committed
        } else {
            committed.saturating_sub(1)
        };
        assert!(
            max.map_or(true, |m| m <= limit),
            "{t:?}: producer {p} committed {committed}, yet seq {max:?} was received"
        );
        if !victim_died || victim_is_producer {
            // No consumer died: everything committed arrived.
            let lost = (0..committed).filter(|s| !got.contains(s)).count();
            assert_eq!(
                lost, 0,
                "{t:?}: producer {p}: {lost} committed messages lost ({death:?})"
            );
        } else if nc > 1 {
            missing += (0..committed).filter(|s| !got.contains(s)).count() as u64;
        } else {
            // The only consumer died: it got a gapless prefix.
            let n = got.len() as u64;
            assert!(
                got.iter().all(|&s| s < n),
                "{t:?}: producer {p}: the dead consumer's messages have a gap"
            );
        }
    }
    if consumer_died && nc > 1 {
        assert!(missing <= 1, "{t:?}: {missing} messages lost with one dead consumer");
        figures.lost_with_dead_consumer += missing;
    }

    // Resources: the normal cleanup removes what the dead left; our descriptors are back.
    let paths = objects(&ch);
    drop(ch);
    for p in paths {
        assert!(!p.exists(), "{t:?}: {} left behind", p.display());
    }
    assert_eq!(open_fds(), fds_before, "{t:?}: descriptors leaked in the parent");
}

fn matrix(t: T) {
    let _s = serial();
    let rounds = common::env_u64("IPCRING_KILL_ROUNDS", 30);
    let seed = common::env_u64("IPCRING_KILL_SEED", 0x6b69_6c6c ^ t as u64);
    let mut rng = Rng(seed);
    let mut f = Figures::default();
    let started = Instant::now();
    for _ in 0..rounds {
        round(t, &mut rng, &mut f);
    }
    println!(
        "[kill] {t:?}: {} rounds ({} at a failpoint, {} at a random step, {} victims finished first), \
         {} messages checked, {} lost with a dead consumer, worst unblock {:.1} ms, {:.1} s (seed {seed:#x})",
        f.rounds,
        f.point_kills,
        f.timer_kills,
        f.victim_finished_first,
        f.messages_checked,
        f.lost_with_dead_consumer,
        f.worst_unblock.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn kill_shm_spsc() {
    matrix(T::ShmSpsc)
}
#[test]
fn kill_shm_mpmc_2x2() {
    matrix(T::ShmMpmc)
}
#[test]
fn kill_pipe() {
    matrix(T::Pipe)
}
#[test]
fn kill_fifo() {
    matrix(T::Fifo)
}
#[test]
fn kill_mq() {
    matrix(T::Mq)
}
#[test]
fn kill_unix() {
    matrix(T::Unix)
}
#[test]
fn kill_tcp() {
    matrix(T::Tcp)
}

/// ABI 6: an SPSC sender SIGKILLed after its records are published but before its cursor
/// word (the failpoint `send.before_publish`; single sends, and batches of 3), then a second
/// sender process on the same ring, then the receiver: every message of the killed sender up
/// to and including the one it was publishing arrives, then every message of the second, each
/// once and in order, and the message counts `ipcring stat` reads agree. Without the repair a
/// sender makes at attach (`spsc::SpscProducer::new`), the second sender would write over the
/// killed one's last records.
#[test]
fn spsc_sender_killed_before_its_cursor_word_then_another_sender() {
    let _g = serial();
    const AFTER: u64 = 30;
    for (batch, skip) in [(false, 57u32), (true, 13)] {
        let name = common::ShmName::new("kill-word");
        let addr = format!("shm://{}?capacity=256&msg_size=64", name.as_str());
        let ring_rx = Receiver::open(&addr, ipcring::Create::IfMissing).unwrap();
        let per_publish = if batch { 3 } else { 1 };
        let a = fork("sender killed before its word", || {
            let mut tx = Sender::open(&addr, ipcring::Create::No).unwrap();
            failpoint::arm(failpoint::SEND_BEFORE_PUBLISH, Action::Kill, skip).unwrap();
            let mut seq = 0;
            loop {
                if batch {
                    let msgs: Vec<Vec<u8>> = (seq..seq + 3).map(|s| encode_vec(0, s, MAX_PAYLOAD)).collect();
                    tx.send_batch(&msgs, ipcring::Timeout::Forever).unwrap();
                    seq += 3;
                } else {
                    tx.send(&encode_vec(0, seq, MAX_PAYLOAD)).unwrap();
                    seq += 1;
                }
            }
        })
        .wait(HANG);
        assert!(
            libc::WIFSIGNALED(a.status) && libc::WTERMSIG(a.status) == libc::SIGKILL,
            "batch {batch}: {}",
            a.describe()
        );
        fork("second sender", || {
            let mut tx = Sender::open(&addr, ipcring::Create::No).unwrap();
            for seq in 0..AFTER {
                tx.send(&encode_vec(1, seq, MAX_PAYLOAD)).unwrap();
            }
        })
        .expect_success(HANG);
        let mut rx = ring_rx;
        let published = (skip as u64 + 1) * per_publish;
        let mut want = (0u32, 0u64);
        loop {
            match rx.recv_vec_timeout(HANG) {
                Ok(m) => {
                    let got = decode(&m, Some(MAX_PAYLOAD)).unwrap_or_else(|e| panic!("batch {batch}: {e}"));
                    if want.0 == 0 && want.1 == published {
                        want = (1, 0);
                    }
                    assert_eq!(got, want, "batch {batch}: expected {want:?}, got {got:?}");
                    want.1 += 1;
                }
                Err(Error::EndOfStream | Error::SenderDied) => break,
                Err(e) => panic!("batch {batch}: recv after {want:?}: {e}"),
            }
        }
        assert_eq!(want, (1, AFTER), "batch {batch}: the stream ended early");
        let c = ipcring::inspect::inspect(name.as_str()).unwrap().counters.unwrap();
        assert_eq!(c.counts, Some((published + AFTER, published + AFTER)), "batch {batch}");
        eprintln!("batch {batch}: killed after publishing {published} records, before its word; {AFTER} more from the next sender; all received once, in order");
        drop(rx);
        ipcring::unlink(&addr).unwrap();
    }
}
