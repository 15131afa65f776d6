//! Live scribbling: random bytes written over a ring's header, cursors, wake words, endpoint
//! table and slots while two other processes send and receive through it.
//!
//! Each round creates a named ring (SPSC or MPMC, futex or `sem_t` wake-ups, small capacity
//! and msg_size) and starts two C processes, `tests/c/scribble_peer.c`, that open it by name:
//! a sender and a receiver. They make calls of every kind the header has for their side with
//! 20 ms timeouts for a fixed time (see the peer's own comment). In half the rounds both run
//! under valgrind (`--error-exitcode=99`), which checks the library's Rust code inside the C
//! process too: every read and write it makes must stay inside the mapping and the buffers.
//!
//! Meanwhile this process maps the same object (`/dev/shm/NAME`, `MAP_SHARED`) and writes into
//! it about every 100 µs, in phases: first the damage a live peer does not detect (payload
//! bytes, the endpoint table's words with the MPMC claim records, the bells' futex words,
//! waiter counts and `sem_t` bytes, identity fields other than `poison`), then the damage it
//! must detect (random bytes in the header, slot `seq` / `len` / `owner` words, random bytes
//! anywhere) in a random order, and last the cursors `tail` and `head` set to values that
//! make no sense, until the peers end.
//!
//! What must hold, per round:
//! - each peer exits by itself with status 0: no signal, no status outside the header's set
//!   for the call, no length above the buffer or msg_size, no panic across the C boundary
//!   (`IPCRING_EPANIC` is outside every set); under valgrind, no error reported;
//! - each peer ends within a generous hang bound (its run time plus 60 s, or 300 s under
//!   valgrind): no call spins or blocks past its timeout for good;
//! - the ring reports `IPCRING_ECORRUPT` to at least one of them (cursors that make no sense
//!   must be detected), and across the run to both a sender and a receiver;
//! - "stops spinning": after its first `IPCRING_ECORRUPT` a peer's next call returns it again,
//!   and so do 1000 further calls with a 1 s timeout each, which must all fail at once (the
//!   batch must take far less than 1000 s: the bound asserted is 100 s), and every call until
//!   its run ends, 20 ms timeouts and 10 ms naps apart, while the scribbling goes on (it may
//!   clear the shared `poison` word; the handle stays poisoned). Over that last stretch the
//!   peer's CPU time must stay under half its wall time (a call that spun until its timeout
//!   would use two thirds).
//!
//! Payload bytes are data: a damaged message may arrive, and is only counted.
//!
//! Knobs (environment):
//! - `IPCRING_SCRIBBLE_ROUNDS` (default 1): passes over the eight rounds (four ring configs,
//!   plain and under valgrind; later passes pick capacity and msg_size at random). One pass
//!   takes about 20-30 s.
//! - `IPCRING_SCRIBBLE_SEED` (default from the clock, printed): the run's seed. It fixes what
//!   is written where, not when: the interleaving with the peers is the scheduler's.
//! - `IPCRING_SCRIBBLE_VALGRIND=0`: plain rounds only (valgrind missing is reported loudly and
//!   skipped the same way).
//!
//! A long run:
//!
//! ```sh
//! IPCRING_SCRIBBLE_ROUNDS=20 cargo test --release --test live_scribble -- --nocapture
//! ```

mod common;

use common::c::{cc, profile_dir, repo};
use common::rng::Rng;
use common::{env_u64, monotonic_ns, serial, spawn_command, wait_all, Exit, ShmName, TempPath};
use ipcring::{Kind, Ring, RingOptions, WakeBackend};
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// Offsets pinned by src/layout.rs.
const HEADER: usize = 4096;
const OFF_TAIL: usize = 128;
const OFF_HEAD: usize = 256;
const OFF_DATA_BELL: usize = 384;
const OFF_SPACE_BELL: usize = 512;
const OFF_ENDPOINTS: usize = 640;
const ENDPOINTS: usize = 64;
/// Bytes per endpoint entry: role, pid, generation, reserved (u32 each), claim_lo, claim_hi.
const ENTRY: usize = 32;
const SLOT_HEADER: usize = 16;
/// (offset, width) of each identity field except `poison` (at 76, which a live peer reads).
const IDENTITY: [(usize, usize); 14] = [
    (0, 8),
    (8, 4),
    (12, 4),
    (16, 8),
    (24, 4),
    (28, 4),
    (32, 8),
    (40, 8),
    (48, 8),
    (56, 8),
    (64, 8),
    (72, 4),
    (80, 4),
    (84, 4),
];

/// Run time of a plain peer, and of a peer under valgrind (from its open to its close).
const RUN_PLAIN: Duration = Duration::from_millis(1200);
const RUN_VALGRIND: Duration = Duration::from_millis(2500);
/// How long the peers may take beyond their run time before they count as hung.
const HANG_PLAIN: Duration = Duration::from_secs(60);
const HANG_VALGRIND: Duration = Duration::from_secs(300);
/// Calls a poisoned peer makes with a 1 s timeout each, and the bound on their total time.
const BATCH: u64 = 1000;
const BATCH_BOUND_MS: u64 = 100_000;
/// The pause between two writes.
const WRITE_EVERY: Duration = Duration::from_micros(100);

// ---------------------------------------------------------------------------------------
// The scribbler's own mapping of the ring
// ---------------------------------------------------------------------------------------

/// `/dev/shm/NAME` mapped shared, read-write, in this process; unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; only the scribbler thread uses it, through
// volatile accesses inside [ptr, ptr + len).
unsafe impl Send for Mapping {}

impl Mapping {
    fn new(path: &Path) -> Mapping {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let len = f.metadata().expect("fstat the ring").len() as usize;
        assert!(len > HEADER, "{} is only {len} bytes", path.display());
        // SAFETY: a fresh shared mapping of the whole object through a descriptor we own; the
        // object is not truncated while mapped (only this test and the peers use it, and
        // neither resizes it), so every byte in [ptr, ptr + len) stays accessible.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
        Mapping { ptr: p.cast(), len }
    }

    /// Writes `bytes` at `off` (clipped to the mapping), one volatile byte store each.
    fn write(&self, off: usize, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.len.saturating_sub(off));
        for (i, &b) in bytes[..n].iter().enumerate() {
            // SAFETY: off + i < len: inside the mapping. Volatile, because other processes
            // read and write the same memory; there is no Rust reference to it anywhere.
            unsafe { self.ptr.add(off + i).write_volatile(b) };
        }
        n
    }

    /// Writes the low `width` bytes of `v` at `off` (little-endian) with one store when the
    /// field is aligned, as a peer's own store of that field would be.
    fn put(&self, off: usize, width: usize, v: u64) -> usize {
        if off + width > self.len {
            return 0;
        }
        // SAFETY: [off, off + width) is inside the mapping; aligned as each arm requires
        // (the mapping is page-aligned and off is a multiple of width where used).
        unsafe {
            match width {
                8 if off % 8 == 0 => self.ptr.add(off).cast::<u64>().write_volatile(v),
                4 if off % 4 == 0 => self.ptr.add(off).cast::<u32>().write_volatile(v as u32),
                _ => return self.write(off, &v.to_le_bytes()[..width]),
            }
        }
        width
    }

    /// Reads `width` bytes at `off` (little-endian).
    fn get(&self, off: usize, width: usize) -> u64 {
        if off + width > self.len {
            return 0;
        }
        let mut v = [0u8; 8];
        for (i, b) in v[..width].iter_mut().enumerate() {
            // SAFETY: off + i < len: inside the mapping; volatile as in `write`.
            *b = unsafe { self.ptr.add(off + i).read_volatile() };
        }
        u64::from_le_bytes(v)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned; nothing uses them after this.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

// ---------------------------------------------------------------------------------------
// What is written where
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Slot payload bytes: data, never detected.
    Payload,
    /// Words of the endpoint table (mostly the entries in use), MPMC claim records included.
    Endpoints,
    /// The bells: futex words, waiter counts, `sem_t` bytes.
    Bells,
    /// Identity fields other than `poison` (geometry is read once, at open).
    Identity,
    /// 1..=8 random bytes anywhere in the header page.
    Header,
    /// Slot `seq`, `len` and `owner` words.
    Slots,
    /// 1..=8 random bytes anywhere in the object.
    Anywhere,
    /// `tail` and `head` set to values that make no sense.
    Cursors,
}

#[derive(Debug, Clone, Copy)]
struct Shape {
    spsc: bool,
    capacity: u64,
    slot_size: u64,
    msg_size: u64,
    /// SPSC: where the data area starts and its length (ABI 5: packed records).
    data: usize,
    area: u64,
}

/// SPSC cursor words (ABI 6): the offset into the data area is the low 37 bits.
const CURSOR_OFFSET_MASK: u64 = (1 << 37) - 1;

/// One write of `phase`'s kind; returns the bytes written.
fn scribble(m: &Mapping, s: &Shape, rng: &mut Rng, phase: Phase) -> usize {
    let slot_base = |i: u64| HEADER + (i * s.slot_size) as usize;
    match phase {
        Phase::Payload if s.spsc => {
            let within = rng.below(s.area - 8);
            let n = (1 + rng.below(16)).min(s.area - within) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            m.write(s.data + within as usize, &bytes)
        }
        Phase::Payload => {
            let within = rng.below(s.msg_size) as usize;
            let at = slot_base(rng.below(s.capacity)) + SLOT_HEADER + within;
            let n = (1 + rng.below(16) as usize).min(s.msg_size as usize - within);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            m.write(at, &bytes)
        }
        Phase::Endpoints => {
            let e = if rng.chance(4) {
                rng.below(ENDPOINTS as u64)
            } else {
                rng.below(4)
            } as usize;
            let base = OFF_ENDPOINTS + e * ENTRY;
            if rng.chance(2) {
                let f = rng.below(4) as usize;
                let v = if rng.chance(2) { rng.below(4) } else { rng.next() };
                m.put(base + f * 4, 4, v)
            } else {
                // An MPMC claim record: near a cursor, so that live claims look dead or the
                // reverse, or anything.
                let off = base + 16 + 8 * rng.below(2) as usize;
                let c = m.get(if rng.chance(2) { OFF_TAIL } else { OFF_HEAD }, 8);
                let v = match rng.below(3) {
                    0 => c.wrapping_add(rng.below(3)).wrapping_sub(1),
                    1 => c.wrapping_add(rng.below(2 * s.capacity)),
                    _ => rng.interesting(m.get(off, 8)),
                };
                m.put(off, 8, v)
            }
        }
        Phase::Bells => {
            let bell = if rng.chance(2) { OFF_DATA_BELL } else { OFF_SPACE_BELL };
            // seq, waiters, then the sem_t (value, waiter count, glibc's `private` word).
            let word = match rng.below(6) {
                0 => 0,
                1 => 4,
                2 => 16,
                3 => 20,
                4 => 24,
                _ => 4 * rng.below(32) as usize,
            };
            let off = bell + word;
            let v = rng.interesting(m.get(off, 4)) & 0xFFFF_FFFF;
            m.put(off, 4, v)
        }
        Phase::Identity => {
            let (off, width) = IDENTITY[rng.below(IDENTITY.len() as u64) as usize];
            let v = rng.interesting(m.get(off, width));
            m.put(off, width, v)
        }
        Phase::Header => {
            let n = 1 + rng.below(8) as usize;
            let at = rng.below((HEADER - n) as u64) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            m.write(at, &bytes)
        }
        Phase::Slots if s.spsc => {
            // A record header: the one at the head (read next) or at any 8-byte offset.
            let off = if rng.chance(2) {
                m.get(OFF_HEAD, 8) & CURSOR_OFFSET_MASK
            } else {
                8 * rng.below(s.area / 8)
            }
            .min(s.area - 8);
            let base = s.data + off as usize;
            match rng.below(3) {
                0 => {
                    let v = match rng.below(5) {
                        0 => s.msg_size + 1,
                        1 => s.area - off,
                        2 => 1 << 31,
                        3 => s.msg_size + 1 + rng.below(1 << 20),
                        _ => rng.interesting(m.get(base, 4)),
                    };
                    m.put(base, 4, v & 0xFFFF_FFFF)
                }
                1 => m.put(base + 4, 4, if rng.chance(2) { 1 } else { rng.next() & 0xFFFF_FFFF }),
                _ => {
                    // A padding record to the end, or one record short of it.
                    let len = (s.area - off - 8).wrapping_sub(8 * rng.below(2));
                    m.put(base, 4, len & 0xFFFF_FFFF) + m.put(base + 4, 4, 1)
                }
            }
        }
        Phase::Slots => {
            let base = slot_base(rng.below(s.capacity));
            let tail = m.get(OFF_TAIL, 8);
            let head = m.get(OFF_HEAD, 8);
            match rng.below(3) {
                0 => {
                    let v = match rng.below(4) {
                        // Stamps near the cursors' (which are themselves scribbled).
                        0 => head.wrapping_mul(2).wrapping_add(1),
                        1 => tail.wrapping_mul(2).wrapping_add(rng.below(4)),
                        2 => head.wrapping_mul(2).wrapping_sub(1),
                        _ => rng.interesting(m.get(base, 8)),
                    };
                    m.put(base, 8, v)
                }
                1 => {
                    let v = match rng.below(5) {
                        0 => s.msg_size + 1,
                        1 => 1 << 31,
                        2 => (1 << 31) | rng.below(1 << 31),
                        3 => s.msg_size + 1 + rng.below(1 << 20),
                        _ => rng.interesting(m.get(base + 8, 4)),
                    };
                    m.put(base + 8, 4, v & 0xFFFF_FFFF)
                }
                _ => m.put(base + 12, 4, rng.next() & 0xFFFF_FFFF),
            }
        }
        Phase::Anywhere => {
            let n = 1 + rng.below(8) as usize;
            let at = rng.below((m.len - n) as u64) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            m.write(at, &bytes)
        }
        Phase::Cursors => {
            let (off, other) = if rng.chance(2) {
                (OFF_TAIL, OFF_HEAD)
            } else {
                (OFF_HEAD, OFF_TAIL)
            };
            let o = m.get(other, 8);
            if s.spsc {
                // Byte cursors, or the message counts beside them.
                if rng.chance(4) {
                    let v = m.get(other + 8, 8).wrapping_add(1 + rng.below(1 << 20));
                    return m.put(off + 8, 8, v);
                }
                let v = match rng.below(5) {
                    0 => o.wrapping_add(8 * (s.area / 8 + 1 + rng.below(4))),
                    1 => o.wrapping_sub(8 * (1 + rng.below(3))),
                    2 => (o & !CURSOR_OFFSET_MASK) | (s.area + 8 * rng.below(4)),
                    3 => o.wrapping_add(4),
                    _ => rng.interesting(m.get(off, 8)),
                };
                return m.put(off, 8, v);
            }
            let v = match rng.below(4) {
                0 => o.wrapping_add(s.capacity + 1 + rng.below(2 * s.capacity + 2)),
                1 => o.wrapping_sub(s.capacity + 1 + rng.below(3)),
                2 => u64::MAX - rng.below(2 * s.capacity + 2),
                _ => rng.interesting(m.get(off, 8)),
            };
            m.put(off, 8, v)
        }
    }
}

/// The phases of a round and when each starts (from the moment both peers are attached).
fn plan(rng: &mut Rng, run: Duration) -> Vec<(Duration, Phase)> {
    let mut soft = vec![Phase::Payload, Phase::Endpoints, Phase::Bells, Phase::Identity];
    let mut hard = vec![Phase::Header, Phase::Slots, Phase::Anywhere];
    rng.shuffle(&mut soft);
    rng.shuffle(&mut hard);
    let mut at = run / 12; // messages flow undisturbed first
    let mut out = Vec::new();
    for p in soft {
        out.push((at, p));
        at += run * 9 / 80;
    }
    for p in hard {
        out.push((at, p));
        at += run / 12;
    }
    out.push((at, Phase::Cursors)); // until the peers end
    out
}

#[derive(Debug, Default)]
struct Scribbled {
    writes: u64,
    bytes: u64,
    per_phase: BTreeMap<String, (u64, u64)>,
}

/// Writes into `m` following `plan` until `stop`; returns what it wrote.
fn scribbler(m: Mapping, shape: Shape, seed: u64, plan: Vec<(Duration, Phase)>, stop: Arc<AtomicBool>) -> Scribbled {
    let mut rng = Rng::new(seed, 0x5C21_BB1E);
    let mut done = Scribbled::default();
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let t = start.elapsed();
        if let Some(&(_, phase)) = plan.iter().rev().find(|(from, _)| *from <= t) {
            let n = scribble(&m, &shape, &mut rng, phase) as u64;
            done.writes += 1;
            done.bytes += n;
            let e = done.per_phase.entry(format!("{phase:?}")).or_default();
            e.0 += 1;
            e.1 += n;
        }
        std::thread::sleep(WRITE_EVERY);
    }
    done
}

// ---------------------------------------------------------------------------------------
// The peers
// ---------------------------------------------------------------------------------------

fn peer_exe() -> PathBuf {
    let dir = profile_dir().join("live-scribble");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    cc(
        &[&repo().join("tests/c/scribble_peer.c")],
        &dir.join("scribble_peer"),
        &[],
    )
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// A peer's summary line as key → value.
fn summary(e: &Exit) -> BTreeMap<String, String> {
    let line = e
        .stdout
        .lines()
        .find(|l| l.starts_with("scribble_peer "))
        .unwrap_or_else(|| panic!("no summary line from {}:\n{}", e.label, e.describe()));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn num(m: &BTreeMap<String, String>, k: &str) -> u64 {
    m.get(k)
        .unwrap_or_else(|| panic!("summary has no {k}: {m:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("summary {k}: {e}"))
}

#[derive(Debug, Clone, Copy)]
struct Config {
    kind: Kind,
    wake: WakeBackend,
    capacity: u64,
    msg_size: u64,
    valgrind: bool,
}

/// Totals over the run, for the report.
#[derive(Debug, Default)]
struct Totals {
    rounds: u64,
    valgrind_runs: u64,
    writes: u64,
    bytes: u64,
    per_phase: BTreeMap<String, (u64, u64)>,
    calls: u64,
    ok: u64,
    ecorrupt_calls: u64,
    poisoned: BTreeMap<&'static str, u64>,
    received: u64,
    damaged: u64,
    max_call_us: u64,
    max_call_op: String,
    max_batch_ms: u64,
    max_batch_call_us: u64,
    codes: BTreeMap<String, u64>,
}

fn run_round(exe: &Path, cfg: Config, seed: u64, round: u64, totals: &mut Totals) {
    let name = ShmName::new("scribble");
    let opts = RingOptions::new()
        .kind(cfg.kind)
        .wake(cfg.wake)
        .capacity(cfg.capacity)
        .msg_size(cfg.msg_size);
    let ring = Ring::create(name.as_str(), &opts).expect("create the ring");
    let g = ring.geometry();
    drop(ring); // the object stays until `name` is dropped; the peers open it by name
    let what = format!(
        "round {round} ({:?} {:?} capacity {} msg_size {}{}, seed {seed:#x})",
        cfg.kind,
        cfg.wake,
        cfg.capacity,
        cfg.msg_size,
        if cfg.valgrind { ", under valgrind" } else { "" }
    );
    eprintln!("live_scribble: {what}");

    let run = if cfg.valgrind { RUN_VALGRIND } else { RUN_PLAIN };
    let mut rng = Rng::new(seed, round);
    let readies = [TempPath::new("scribble-ready"), TempPath::new("scribble-ready")];
    let mut children = Vec::new();
    for (role, ready) in ["send", "recv"].iter().zip(&readies) {
        let mut cmd = if cfg.valgrind {
            let mut c = Command::new("valgrind");
            c.args([
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--quiet",
            ])
            .arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.arg(role)
            .arg(name.as_str())
            .arg(run.as_millis().to_string())
            .arg(format!("{:#x}", rng.next()))
            .arg(ready.path())
            .arg(BATCH.to_string());
        children.push(spawn_command(&format!("scribble_peer {role}"), cmd));
    }

    // Scribble only once both are attached (an open of a damaged ring is hostile_regions'
    // business); if one fails to attach, its exit says why.
    let waited = Instant::now();
    let bound = if cfg.valgrind { HANG_VALGRIND } else { HANG_PLAIN };
    while !readies.iter().all(|r| r.path().exists()) && waited.elapsed() < bound {
        std::thread::sleep(Duration::from_millis(1));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let scribbling = {
        let m = Mapping::new(&name.path());
        let shape = Shape {
            spsc: g.kind == Kind::Spsc,
            capacity: g.capacity,
            slot_size: g.slot_size,
            msg_size: g.msg_size,
            data: g.slots_offset as usize,
            area: g.area(),
        };
        let plan = plan(&mut rng, run);
        let stop = stop.clone();
        let seed = rng.next();
        std::thread::spawn(move || scribbler(m, shape, seed, plan, stop))
    };
    let exits = wait_all(children, run + bound);
    stop.store(true, Ordering::Relaxed);
    let scribbled = scribbling.join().expect("the scribbler thread");

    // Every peer ended by itself, with status 0, and valgrind found nothing.
    for e in &exits {
        assert!(e.success(), "{what}: a peer failed\n{}", e.describe());
        if cfg.valgrind {
            assert!(
                !e.stderr.contains("== ERROR SUMMARY") || e.stderr.contains("ERROR SUMMARY: 0 errors"),
                "{what}: valgrind reported errors\n{}",
                e.describe()
            );
        }
    }
    let sums: Vec<_> = exits.iter().map(summary).collect();
    let mut any_poisoned = false;
    for (e, s) in exits.iter().zip(&sums) {
        let role = if e.label.contains("send") { "send" } else { "recv" };
        totals.calls += num(s, "calls");
        totals.ok += num(s, "ok");
        totals.ecorrupt_calls += num(s, "ecorrupt");
        totals.received += num(s, "received");
        totals.damaged += num(s, "damaged");
        for k in ["eagain", "etimedout", "edisconnected", "eof", "etoosmall"] {
            *totals.codes.entry(k.to_string()).or_default() += num(s, k);
        }
        if num(s, "max_call_us") > totals.max_call_us {
            totals.max_call_us = num(s, "max_call_us");
            totals.max_call_op = s["max_call_op"].clone();
        }
        if num(s, "poisoned") == 1 {
            any_poisoned = true;
            *totals.poisoned.entry(role).or_default() += 1;
            // Stops spinning: the 1 s calls on the poisoned handle all failed at once.
            let batch_ms = num(s, "batch_ms");
            assert_eq!(num(s, "batch_calls"), BATCH, "{what}: {}", e.describe());
            assert!(
                batch_ms < BATCH_BOUND_MS,
                "{what}: {BATCH} calls with a 1 s timeout on a poisoned ring took {batch_ms} ms\n{}",
                e.describe()
            );
            totals.max_batch_ms = totals.max_batch_ms.max(batch_ms);
            totals.max_batch_call_us = totals.max_batch_call_us.max(num(s, "batch_max_us"));
            let (after_ms, after_cpu) = (num(s, "after_ms"), num(s, "after_cpu_ms"));
            if after_ms >= 200 {
                assert!(
                    after_cpu * 2 < after_ms,
                    "{what}: on the poisoned ring the peer used {after_cpu} ms of CPU in {after_ms} ms\n{}",
                    e.describe()
                );
            }
        }
    }
    assert!(
        any_poisoned,
        "{what}: neither peer saw IPCRING_ECORRUPT although the cursors were scribbled\n{}\n{}",
        exits[0].describe(),
        exits[1].describe()
    );

    totals.rounds += 1;
    totals.valgrind_runs += 2 * cfg.valgrind as u64;
    totals.writes += scribbled.writes;
    totals.bytes += scribbled.bytes;
    for (k, (w, b)) in scribbled.per_phase {
        let e = totals.per_phase.entry(k).or_default();
        e.0 += w;
        e.1 += b;
    }
}

fn env_seed() -> u64 {
    match std::env::var("IPCRING_SCRIBBLE_SEED") {
        Ok(s) => {
            let s = s.trim();
            let v = match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse(),
            };
            v.unwrap_or_else(|e| panic!("IPCRING_SCRIBBLE_SEED={s:?}: {e}"))
        }
        Err(_) => monotonic_ns() ^ ((std::process::id() as u64) << 40),
    }
}

#[test]
fn live_scribbling_is_detected_and_never_crashes() {
    let _serial = serial();
    let seed = env_seed();
    let passes = env_u64("IPCRING_SCRIBBLE_ROUNDS", 1);
    let mut valgrind = env_u64("IPCRING_SCRIBBLE_VALGRIND", 1) != 0;
    if valgrind && !on_path("valgrind") {
        eprintln!(
            "\n!!! live_scribble: valgrind is not installed (scripts/deps.sh installs it): \
             SKIPPING the valgrind rounds; the plain rounds still run !!!\n"
        );
        valgrind = false;
    }
    eprintln!("live_scribble: seed {seed:#x}, {passes} pass(es)");
    let exe = peer_exe();
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut rng = Rng::new(seed, u64::MAX);
    let mut round = 0;
    for pass in 0..passes {
        for under_valgrind in [false, true] {
            if under_valgrind && !valgrind {
                continue;
            }
            for (i, (kind, wake)) in [
                (Kind::Spsc, WakeBackend::Futex),
                (Kind::Mpmc, WakeBackend::Futex),
                (Kind::Spsc, WakeBackend::Sem),
                (Kind::Mpmc, WakeBackend::Sem),
            ]
            .into_iter()
            .enumerate()
            {
                let (capacity, msg_size) = if pass == 0 {
                    [(16, 64), (8, 200), (32, 128), (64, 256)][i]
                } else {
                    // Any capacity (ABI 5), not only powers of two.
                    (3 + rng.below(62), 64 + rng.below(193))
                };
                let cfg = Config {
                    kind,
                    wake,
                    capacity,
                    msg_size,
                    valgrind: under_valgrind,
                };
                run_round(&exe, cfg, seed, round, &mut totals);
                round += 1;
            }
        }
    }

    let mut report = format!(
        "live_scribble: {} rounds ({} peer runs under valgrind) in {:.1} s, seed {seed:#x}\n  \
         scribbled {} writes, {} bytes:",
        totals.rounds,
        totals.valgrind_runs,
        started.elapsed().as_secs_f64(),
        totals.writes,
        totals.bytes
    );
    for (phase, (w, b)) in &totals.per_phase {
        report += &format!(" {phase} {w}/{b}");
    }
    report += &format!(
        "\n  peers made {} calls: ok {}, ecorrupt {}, {:?}; {} messages received, {} damaged\n  \
         first IPCRING_ECORRUPT seen by {:?}; longest call {} µs ({}); longest poisoned batch \
         of {BATCH} calls {} ms, longest call in it {} µs\n",
        totals.calls,
        totals.ok,
        totals.ecorrupt_calls,
        totals.codes,
        totals.received,
        totals.damaged,
        totals.poisoned,
        totals.max_call_us,
        totals.max_call_op,
        totals.max_batch_ms,
        totals.max_batch_call_us
    );
    eprint!("{report}");
    for role in ["send", "recv"] {
        assert!(
            totals.poisoned.get(role).copied().unwrap_or(0) > 0,
            "no {role} peer ever saw IPCRING_ECORRUPT\n{report}"
        );
    }
}
