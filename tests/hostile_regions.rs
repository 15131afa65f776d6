//! Hostile regions: a bounded property test over damaged ring objects in /dev/shm.
//!
//! Each case starts from the bytes of a real ring (made with `Ring::create`, with messages
//! queued so slots hold data and cursors have moved), damages them — truncation or extension,
//! bit flips, random bytes, header fields (magic, ABI, layout hash, kind, wake, capacity,
//! msg_size, slot_size, slots_offset, region_size, init), cursors, bells, poison / ever /
//! epoch words, slot `seq` / `len` / `owner` words, SPSC record headers (length, flags, padding
//! records) and byte cursors with their message counts, the endpoint table, or the whole object
//! filled with random bytes — writes them back as a new object (mode 0600), opens it
//! (`Ring::open` or `Ring::open_with`) and, if that works, attaches a receiver and a sender
//! and calls `try_recv`, `recv_timeout(1 ms)`, `try_send`, `peek`, `recv_batch`, `send_batch`
//! and `reserve`. Every outcome must be `Ok` or a typed `ipcring::Error`: a panic, a signal
//! (SIGSEGV, SIGBUS, ...) or a hang fails the test naming the seed and the case.
//!
//! Cases run in batches, each batch in a forked child, so a signal kills only the batch; the
//! child records the case it is on and the outcome counts in a shared anonymous mapping, and
//! arms a per-case timer (the open timeout plus 2 s) whose SIGALRM marks a hang.
//!
//! Knobs (environment):
//! - `IPCRING_HOSTILE_CASES` (default 10000, a few seconds): how many cases;
//! - `IPCRING_HOSTILE_SEED` (default: from the clock, printed): the run's seed;
//! - `IPCRING_HOSTILE_FIRST` (default 0): the first case index, to replay one case:
//!   `IPCRING_HOSTILE_SEED=S IPCRING_HOSTILE_FIRST=N IPCRING_HOSTILE_CASES=1`.
//!
//! Every case is derived from `(seed, case index)` alone (splitmix64), so a failure replays.
//! A long run:
//!
//! ```sh
//! IPCRING_HOSTILE_CASES=1000000 cargo test --release --test hostile_regions -- --nocapture
//! ```
//!
//! A cargo-fuzz target, if one is added later (`fuzz/fuzz_targets/open_region.rs`, needs
//! nightly and `cargo install cargo-fuzz`), would take the fuzzer's bytes as the whole
//! object, or better, as a list of (offset, bytes) patches over one valid template so the
//! fuzzer gets past the magic / ABI / hash checks, and run the same body as `run_case`:
//!
//! ```ignore
//! #![no_main]
//! libfuzzer_sys::fuzz_target!(|data: &[u8]| {
//!     let name = format!("ipcring-fuzz-{}", std::process::id());
//!     std::fs::write(format!("/dev/shm/{name}"), apply_patches(TEMPLATE, data)).unwrap();
//!     if let Ok(ring) = ipcring::Ring::open_with(&name, &short_open()) {
//!         exercise(&ring); // every result is Ok or an ipcring::Error; a crash is a finding
//!     }
//!     let _ = std::fs::remove_file(format!("/dev/shm/{name}"));
//! });
//! ```
//!
//! libFuzzer would then report a SIGSEGV/SIGBUS or a timeout (`-timeout=3`) as a crash.

mod common;

use common::rng::Rng;
use common::*;
use ipcring::{Kind, Ring, RingOptions, Timeout, WakeBackend};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long an open waits for a region whose init word is not READY.
const OPEN_TIMEOUT: Duration = Duration::from_millis(2);
/// Ring::open (no options) waits the default open timeout (1 s); it is used only on objects
/// whose init word reads READY, so it never waits.
const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(1);
/// The per-case hang bound: the longest open timeout plus 2 s.
const CASE_BOUND: Duration = Duration::from_secs(3);
const BATCH: u64 = 250;

// Offsets pinned by layout.rs.
const HEADER: usize = 4096;
const OFF_INIT: usize = 12;
const OFF_TAIL: usize = 128;
const OFF_HEAD: usize = 256;
const OFF_DATA_BELL: usize = 384;
const OFF_SPACE_BELL: usize = 512;
const OFF_ENDPOINTS: usize = 640;
const ENDPOINTS: usize = 64;
/// (name, offset, width) of each identity field.
const FIELDS: [(&str, usize, usize); 17] = [
    ("magic", 0, 8),
    ("abi_version", 8, 4),
    ("init", 12, 4),
    ("layout_hash", 16, 8),
    ("kind", 24, 4),
    ("wake", 28, 4),
    ("capacity", 32, 8),
    ("msg_size", 40, 8),
    ("slot_size", 48, 8),
    ("slots_offset", 56, 8),
    ("region_size", 64, 8),
    ("creator_pid", 72, 4),
    ("poison", 76, 4),
    ("ever", 80, 4),
    ("epoch", 84, 4),
    ("fences", 104, 4),
    ("bytes", 112, 8),
];
/// SPSC cursor words (ABI 6): the offset into the data area is the low 37 bits.
const CURSOR_OFFSET_MASK: u64 = (1 << 37) - 1;
/// An SPSC record header's flags value for a padding record.
const RECORD_PADDING: u64 = 1;

#[test]
fn child_entry() {
    common::child_entry(|role| panic!("hostile_regions has no child roles ({role:?})"));
}

fn get(b: &[u8], off: usize, width: usize) -> u64 {
    if off + width > b.len() {
        return 0;
    }
    let mut v = [0u8; 8];
    v[..width].copy_from_slice(&b[off..off + width]);
    u64::from_le_bytes(v)
}

fn put(b: &mut [u8], off: usize, width: usize, v: u64) {
    if off + width <= b.len() {
        b[off..off + width].copy_from_slice(&v.to_le_bytes()[..width]);
    }
}

// ---------------------------------------------------------------------------------------
// Templates and mutations
// ---------------------------------------------------------------------------------------

struct Template {
    geom: ipcring::Geometry,
    bytes: Vec<u8>,
}

/// Real rings of each kind and backend, with messages queued (and some consumed, so the
/// cursors are not at zero and some slots hold stale data).
fn templates() -> Vec<Template> {
    let mut out = Vec::new();
    for (kind, wake, capacity, msg_size, sent, received) in [
        (Kind::Spsc, WakeBackend::Futex, 8, 40, 11, 5),
        (Kind::Mpmc, WakeBackend::Futex, 8, 40, 13, 7),
        (Kind::Spsc, WakeBackend::Sem, 4, 100, 4, 0),
        (Kind::Mpmc, WakeBackend::Sem, 4, 24, 6, 3),
        (Kind::Mpmc, WakeBackend::Futex, 1, 8, 1, 0),
        (Kind::Mpmc, WakeBackend::Futex, 5, 16, 9, 3),
        (Kind::Spsc, WakeBackend::Futex, 3, 64, 10, 1),
    ] {
        let opts = RingOptions::new()
            .kind(kind)
            .wake(wake)
            .capacity(capacity)
            .msg_size(msg_size);
        let name = ShmName::new("hostile-template");
        let ring = Ring::create(name.as_str(), &opts).expect("create template");
        let (mut tx, mut rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
        let mut buf = vec![0u8; msg_size as usize];
        let mut queued = 0;
        for i in 0..sent {
            let len = (i as usize * 7) % (msg_size as usize + 1);
            let msg: Vec<u8> = (0..len).map(|j| (i as usize * 31 + j) as u8).collect();
            if queued == capacity {
                rx.try_recv(&mut buf).unwrap();
                queued -= 1;
            }
            // An SPSC ring may lack the bytes for one more (padding at the wrap): make room.
            while let Err(ipcring::Error::WouldBlock) = tx.try_send(&msg) {
                rx.try_recv(&mut buf).unwrap();
                queued -= 1;
            }
            queued += 1;
        }
        for _ in 0..received.min(queued) {
            rx.try_recv(&mut buf).unwrap();
        }
        drop((tx, rx));
        let bytes = std::fs::read(name.path()).expect("read the template object");
        assert_eq!(bytes.len() as u64, ring.geometry().region_size);
        out.push(Template {
            geom: ring.geometry(),
            bytes,
        });
    }
    out
}

/// Damages `b` (a copy of `t.bytes`) in 1..=3 ways; returns a description of what was done.
fn mutate(rng: &mut Rng, t: &Template, b: &mut Vec<u8>) -> String {
    let mut what = Vec::new();
    let n = 1 + rng.below(3);
    for _ in 0..n {
        let g = &t.geom;
        match rng.below(20) {
            0 | 1 => {
                let len = b.len() as u64;
                let new = match rng.below(7) {
                    0 => 0,
                    1 => rng.below(HEADER as u64),
                    2 => HEADER as u64,
                    3 => HEADER as u64 + rng.below(len.saturating_sub(HEADER as u64)),
                    4 => len.saturating_sub(1),
                    5 => len + 1 + rng.below(3 * 4096),
                    _ => len + g.slot_size,
                };
                b.resize(new as usize, 0);
                what.push(format!("truncate/extend to {new}"));
            }
            2 | 3 => {
                let flips = 1 + rng.below(16);
                let span = if rng.chance(2) { HEADER.min(b.len()) } else { b.len() };
                for _ in 0..flips {
                    if span > 0 {
                        let i = rng.below(span as u64) as usize;
                        b[i] ^= 1 << rng.below(8);
                    }
                }
                what.push(format!("flip {flips} bits in the first {span} bytes"));
            }
            4 => {
                if !b.is_empty() {
                    let at = rng.below(b.len() as u64) as usize;
                    let n = (1 + rng.below(32) as usize).min(b.len() - at);
                    for x in &mut b[at..at + n] {
                        *x = rng.next() as u8;
                    }
                    what.push(format!("{n} random bytes at {at}"));
                }
            }
            5..=8 => {
                let (fname, off, width) = FIELDS[rng.below(FIELDS.len() as u64) as usize];
                let good = get(b, off, width);
                let v = rng.interesting(good);
                put(b, off, width, v);
                what.push(format!("{fname} = {v:#x}"));
            }
            9..=12 if g.kind == Kind::Spsc => {
                // Byte cursors and the message counts beside them.
                let (cname, off) = if rng.chance(2) {
                    ("tail", OFF_TAIL)
                } else {
                    ("head", OFF_HEAD)
                };
                let other = if off == OFF_TAIL { OFF_HEAD } else { OFF_TAIL };
                let area = g.area();
                if rng.chance(4) {
                    let v = match rng.below(3) {
                        0 => get(b, other + 8, 8).wrapping_add(rng.below(2 * g.max_queued() + 2)),
                        1 => get(b, other + 8, 8).wrapping_sub(1 + rng.below(3)),
                        _ => rng.interesting(get(b, off + 8, 8)),
                    };
                    put(b, off + 8, 8, v);
                    what.push(format!("{cname} count = {v:#x}"));
                } else {
                    let o = get(b, other, 8);
                    let v = match rng.below(6) {
                        0 => o.wrapping_add(8 * rng.below(area / 8 + 2)),
                        1 => o.wrapping_sub(8 * (1 + rng.below(3))),
                        2 => (o | CURSOR_OFFSET_MASK).wrapping_add(1) + 8 * rng.below(area / 8 + 2),
                        3 => (o & !CURSOR_OFFSET_MASK) | (area + 8 * rng.below(4)),
                        4 => u64::MAX - rng.below(2 * area + 2),
                        _ => rng.interesting(get(b, off, 8)),
                    };
                    put(b, off, 8, v);
                    what.push(format!("{cname} = {v:#x}"));
                }
            }
            13..=15 if g.kind == Kind::Spsc => {
                // A record header: at the head (the next one read) or any 8-byte offset.
                let area = g.area();
                let off = if rng.chance(2) {
                    get(b, OFF_HEAD, 8) & CURSOR_OFFSET_MASK
                } else {
                    8 * rng.below(area / 8)
                }
                .min(area - 8);
                let base = g.slots_offset as usize + off as usize;
                match rng.below(3) {
                    0 => {
                        let v = match rng.below(6) {
                            0 => g.msg_size + 1,
                            1 => area - off - 8,
                            2 => area - off,
                            3 => g.msg_size,
                            4 => 1 << 31,
                            _ => rng.interesting(get(b, base, 4)) & 0xFFFF_FFFF,
                        };
                        put(b, base, 4, v);
                        what.push(format!("record at {off} len = {v:#x}"));
                    }
                    1 => {
                        let v = match rng.below(3) {
                            0 => RECORD_PADDING,
                            1 => 3 + rng.below(8),
                            _ => rng.interesting(get(b, base + 4, 4)) & 0xFFFF_FFFF,
                        };
                        put(b, base + 4, 4, v);
                        what.push(format!("record at {off} flags = {v:#x}"));
                    }
                    _ => {
                        // A padding record, right (to the end) or one record short.
                        let len = (area - off - 8).wrapping_sub(8 * rng.below(2));
                        put(b, base, 4, len & 0xFFFF_FFFF);
                        put(b, base + 4, 4, RECORD_PADDING);
                        what.push(format!("record at {off} padding of {len:#x}"));
                    }
                }
            }
            9..=12 => {
                let (cname, off) = if rng.chance(2) {
                    ("tail", OFF_TAIL)
                } else {
                    ("head", OFF_HEAD)
                };
                let other = if off == OFF_TAIL { OFF_HEAD } else { OFF_TAIL };
                let good = get(b, off, 8);
                let v = match rng.below(4) {
                    0 => get(b, other, 8).wrapping_add(rng.below(2 * g.capacity + 2)),
                    1 => get(b, other, 8).wrapping_sub(1 + rng.below(3)),
                    2 => u64::MAX - rng.below(2 * g.capacity + 2),
                    _ => rng.interesting(good),
                };
                put(b, off, 8, v);
                what.push(format!("{cname} = {v:#x}"));
            }
            13..=15 => {
                let slot = rng.below(g.capacity) as usize;
                let base = g.slots_offset as usize + slot * g.slot_size as usize;
                let tail = get(b, OFF_TAIL, 8);
                let head = get(b, OFF_HEAD, 8);
                match rng.below(3) {
                    0 => {
                        let v = match rng.below(4) {
                            0 => 2 * head + 1,
                            1 => 2 * tail + rng.below(4),
                            2 => (2 * head).wrapping_sub(1),
                            _ => rng.interesting(get(b, base, 8)),
                        };
                        put(b, base, 8, v);
                        what.push(format!("slot {slot} seq = {v:#x}"));
                    }
                    1 => {
                        let v = match rng.below(5) {
                            0 => g.msg_size + 1,
                            1 => 1 << 31,
                            2 => (1 << 31) | rng.below(1 << 31),
                            3 => g.msg_size,
                            _ => rng.interesting(get(b, base + 8, 4)) & 0xFFFF_FFFF,
                        };
                        put(b, base + 8, 4, v);
                        what.push(format!("slot {slot} len = {v:#x}"));
                    }
                    _ => {
                        let v = rng.next() & 0xFFFF_FFFF;
                        put(b, base + 12, 4, v);
                        what.push(format!("slot {slot} owner = {v:#x}"));
                    }
                }
            }
            16 | 17 => {
                let e = rng.below(ENDPOINTS as u64) as usize;
                // role, pid, generation, reserved, then the claim record (two u64 words).
                let f = rng.below(8) as usize;
                let v = match f {
                    0 => rng.below(5),
                    4..=7 => rng.interesting(get(b, OFF_ENDPOINTS + e * 32 + f * 4, 4)) & 0xFFFF_FFFF,
                    _ => rng.next() & 0xFFFF_FFFF,
                };
                put(b, OFF_ENDPOINTS + e * 32 + f * 4, 4, v);
                what.push(format!("endpoint {e} word {f} = {v:#x}"));
            }
            18 => {
                let bell = if rng.chance(2) { OFF_DATA_BELL } else { OFF_SPACE_BELL };
                let off = bell + 4 * rng.below(32) as usize;
                let v = rng.interesting(get(b, off, 4)) & 0xFFFF_FFFF;
                put(b, off, 4, v);
                what.push(format!("bell word at {off} = {v:#x}"));
            }
            _ => {
                if rng.chance(4) {
                    for x in b.iter_mut() {
                        *x = rng.next() as u8;
                    }
                    what.push("all random bytes".to_string());
                } else {
                    // Random bytes after a valid identity line: the rest of the header.
                    let from = 128.min(b.len());
                    let to = HEADER.min(b.len());
                    for x in &mut b[from..to] {
                        *x = rng.next() as u8;
                    }
                    what.push("random header after the identity".to_string());
                }
            }
        }
    }
    what.join("; ")
}

// ---------------------------------------------------------------------------------------
// Outcomes, counted in memory shared with the forked children
// ---------------------------------------------------------------------------------------

const OPS: [&str; 10] = [
    "open",
    "receiver",
    "sender",
    "try_recv",
    "recv_timeout",
    "try_send",
    "peek",
    "recv_batch",
    "send_batch",
    "reserve",
];
const VARIANTS: [&str; 28] = [
    "Ok",
    "InvalidName",
    "InvalidAddress",
    "InvalidOption",
    "AlreadyExists",
    "NotFound",
    "PermissionDenied",
    "NoSpace",
    "NotReady",
    "CreatorDied",
    "NotARing",
    "AbiMismatch",
    "LayoutMismatch",
    "Mismatch",
    "SizeMismatch",
    "Corrupted",
    "TooLarge",
    "BufferTooSmall",
    "WouldBlock",
    "TimedOut",
    "Disconnected",
    "EndOfStream",
    "Busy",
    "InUse",
    "TooManyEndpoints",
    "KernelLimit",
    "Unsupported",
    "Io",
];

fn variant<T>(r: &ipcring::Result<T>) -> usize {
    let e = match r {
        Ok(_) => return 0,
        Err(e) => e,
    };
    // Error is non_exhaustive: a new variant shows up as its Debug name's first word.
    let name = format!("{e:?}");
    let name = name
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string();
    VARIANTS.iter().position(|v| *v == name).unwrap_or(VARIANTS.len())
}

/// The shared page: the case being run, cases finished, and a count per (op, variant).
struct Shared {
    ptr: *mut AtomicU64,
}

const COUNTS: usize = OPS.len() * (VARIANTS.len() + 1);

impl Shared {
    fn new() -> Shared {
        let len = (2 + COUNTS) * 8;
        // SAFETY: an anonymous shared mapping of len bytes, zeroed by the kernel; it is
        // never unmapped (one per test run), so the pointer stays valid.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
        Shared { ptr: p.cast() }
    }
    fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < 2 + COUNTS);
        // SAFETY: i is inside the mapping; zeroed memory is a valid AtomicU64.
        unsafe { &*self.ptr.add(i) }
    }
    fn current(&self) -> &AtomicU64 {
        self.word(0)
    }
    fn done(&self) -> &AtomicU64 {
        self.word(1)
    }
    fn count(&self, op: usize, v: usize) -> &AtomicU64 {
        self.word(2 + op * (VARIANTS.len() + 1) + v)
    }
    fn record<T>(&self, op: &str, r: &ipcring::Result<T>) {
        let op = OPS.iter().position(|o| *o == op).expect("known op");
        self.count(op, variant(r)).fetch_add(1, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------
// One case
// ---------------------------------------------------------------------------------------

fn case_name(case: u64) -> String {
    format!("ipcring-test-{}-hostile-{case}", std::process::id())
}

fn arm_timer(d: Duration) {
    let t = libc::itimerval {
        it_interval: libc::timeval { tv_sec: 0, tv_usec: 0 },
        it_value: libc::timeval {
            tv_sec: d.as_secs() as libc::time_t,
            tv_usec: d.subsec_micros() as libc::suseconds_t,
        },
    };
    // SAFETY: t is a valid itimerval; the old value is not wanted.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &t, std::ptr::null_mut()) };
}

/// Builds case `case` of run `seed` and runs it against the library. Returns a description
/// of the damage (for messages). Outcomes go to `shared`; anything untyped panics or dies.
fn run_case(seed: u64, case: u64, name: &str, templates: &[Template], shared: &Shared) -> String {
    let mut rng = Rng::new(seed, case);
    let t = &templates[rng.below(templates.len() as u64) as usize];
    let mut bytes = t.bytes.clone();
    let what = mutate(&mut rng, t, &mut bytes);

    let path = shm_path(name);
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(&bytes).expect("write the hostile object");
    drop(f);

    // Ring::open waits its default open timeout (1 s) for an object that is not READY or is
    // shorter than a header; keep it to whole headers marked READY.
    let ready = bytes.len() >= HEADER && get(&bytes, OFF_INIT, 4) == u32::from_le_bytes(*b"REDY") as u64;
    let opened = if ready && rng.chance(3) {
        Ring::open(name)
    } else {
        // Some of the template's options, so that Mismatch is exercised too.
        let mut o = RingOptions::new().open_timeout(OPEN_TIMEOUT);
        if rng.chance(3) {
            o = o.kind(t.geom.kind);
        }
        if rng.chance(3) {
            o = o.capacity(t.geom.capacity);
        }
        if rng.chance(3) {
            o = o.msg_size(t.geom.msg_size);
        }
        if rng.chance(3) {
            o = o.wake(t.geom.wake);
        }
        Ring::open_with(name, &o)
    };
    shared.record("open", &opened);
    let Ok(ring) = opened else {
        remove_by_hand(name);
        return what;
    };
    let g = ring.geometry();
    let mut buf = vec![0u8; g.msg_size as usize];
    let rx = ring.receiver();
    shared.record("receiver", &rx);
    let tx = ring.sender();
    shared.record("sender", &tx);
    let mut rx = rx.ok();
    let mut tx = tx.ok();
    for _round in 0..2 {
        if let Some(rx) = rx.as_mut() {
            let r = rx.try_recv(&mut buf);
            if let Ok(n) = r {
                assert!(n <= buf.len(), "try_recv returned {n} > msg_size");
            }
            shared.record("try_recv", &r);
            let r = rx.recv_timeout(&mut buf, Duration::from_millis(1));
            shared.record("recv_timeout", &r);
            let r = rx.peek(Timeout::NonBlocking);
            if let Ok(slot) = &r {
                assert!(slot.len() <= g.msg_size as usize);
                let _sum: u64 = slot.iter().map(|&x| x as u64).sum();
            }
            shared.record("peek", &r.map(|s| s.release()));
            let mut total = 0usize;
            let r = rx.recv_batch(4, Timeout::NonBlocking, |m| total += m.len());
            shared.record("recv_batch", &r);
        }
        if let Some(tx) = tx.as_mut() {
            let len = rng.below(g.msg_size + 1) as usize;
            let msg = vec![0xA5u8; len];
            let r = tx.try_send(&msg);
            shared.record("try_send", &r);
            let r = tx.send_batch(&[&msg[..], b"x"], Timeout::NonBlocking);
            shared.record("send_batch", &r);
            let r = tx.reserve(Timeout::NonBlocking);
            let r = match r {
                Ok(mut slot) => {
                    let n = slot.buf().len().min(3);
                    slot.buf()[..n].fill(7);
                    if rng.chance(2) {
                        slot.commit(n)
                    } else {
                        drop(slot);
                        Ok(())
                    }
                }
                Err(e) => Err(e),
            };
            shared.record("reserve", &r);
        }
    }
    drop((tx, rx, ring));
    remove_by_hand(name);
    what
}

fn describe_case(seed: u64, case: u64, templates: &[Template]) -> String {
    let mut rng = Rng::new(seed, case);
    let t = &templates[rng.below(templates.len() as u64) as usize];
    let mut bytes = t.bytes.clone();
    let what = mutate(&mut rng, t, &mut bytes);
    format!(
        "case {case} of seed {seed:#x} (template {:?} {:?} capacity {} msg_size {}): {what}\n\
         replay: IPCRING_HOSTILE_SEED={seed:#x} IPCRING_HOSTILE_FIRST={case} IPCRING_HOSTILE_CASES=1 \
         cargo test --release --test hostile_regions -- --nocapture",
        t.geom.kind, t.geom.wake, t.geom.capacity, t.geom.msg_size
    )
}

fn env_seed() -> u64 {
    match std::env::var("IPCRING_HOSTILE_SEED") {
        Ok(s) => {
            let s = s.trim();
            let v = match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse(),
            };
            v.unwrap_or_else(|e| panic!("IPCRING_HOSTILE_SEED={s:?}: {e}"))
        }
        Err(_) => monotonic_ns() ^ ((std::process::id() as u64) << 40),
    }
}

/// Damaged copies of real rings, opened and used: every outcome is Ok or a typed error.
#[test]
fn hostile_regions_are_typed_errors() {
    let _serial = serial();
    let seed = env_seed();
    let cases = env_u64("IPCRING_HOSTILE_CASES", 10_000);
    let first = env_u64("IPCRING_HOSTILE_FIRST", 0);
    eprintln!("hostile_regions: seed {seed:#x}, cases {first}..{}", first + cases);
    let templates = templates();
    // Control: each template, undamaged and written back the same way, opens and works;
    // otherwise every case below would be refused for the wrong reason.
    for t in &templates {
        let name = ShmName::new("hostile-control");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(name.path())
            .unwrap();
        f.write_all(&t.bytes).unwrap();
        drop(f);
        let what = format!("undamaged {:?} {:?} template", t.geom.kind, t.geom.wake);
        let ring = Ring::open(name.as_str()).unwrap_or_else(|e| panic!("{what}: open: {e}"));
        assert_eq!(ring.geometry(), t.geom, "{what}");
        let (mut tx, mut rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
        let mut buf = vec![0u8; t.geom.msg_size as usize];
        while rx.try_recv(&mut buf).is_ok() {}
        tx.try_send(b"ok").unwrap_or_else(|e| panic!("{what}: send: {e}"));
        let n = rx
            .recv_timeout(&mut buf, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{what}: recv: {e}"));
        assert_eq!(&buf[..n], b"ok", "{what}");
    }
    let shared = Shared::new();
    let mut next = first;
    let end = first + cases;
    while next < end {
        let stop = (next + BATCH).min(end);
        let start = next;
        let child = fork("hostile batch", || {
            for case in start..stop {
                shared.current().store(case, Ordering::SeqCst);
                let bound = CASE_BOUND.max(DEFAULT_OPEN_TIMEOUT + Duration::from_secs(2));
                arm_timer(bound);
                run_case(seed, case, &case_name(case), &templates, &shared);
                arm_timer(Duration::ZERO);
                shared.done().fetch_add(1, Ordering::SeqCst);
            }
        });
        let pid = child.pid();
        let exit = child.wait(HANG_BOUND + Duration::from_secs(BATCH * 3));
        if !exit.success() {
            let case = shared.current().load(Ordering::SeqCst);
            // The child's names carry its pid; remove what a dead child left behind.
            remove_by_hand(&format!("ipcring-test-{pid}-hostile-{case}"));
            let how = if libc::WIFSIGNALED(exit.status) && libc::WTERMSIG(exit.status) == libc::SIGALRM {
                format!("HUNG past the per-case bound of {CASE_BOUND:?}")
            } else {
                "failed".to_string()
            };
            panic!("{how}: {}\n{}", describe_case(seed, case, &templates), exit.describe());
        }
        next = stop;
    }
    let done = shared.done().load(Ordering::SeqCst);
    assert_eq!(done, cases, "every case ran");

    // The report.
    let mut report = format!("hostile_regions: {done} cases, seed {seed:#x}; outcomes per call:\n");
    for (o, op) in OPS.iter().enumerate() {
        let mut parts = Vec::new();
        for v in 0..=VARIANTS.len() {
            let n = shared.count(o, v).load(Ordering::Relaxed);
            if n > 0 {
                parts.push(format!("{} {n}", VARIANTS.get(v).copied().unwrap_or("(new variant)")));
            }
        }
        report += &format!("  {op:<12} {}\n", parts.join(", "));
    }
    eprint!("{report}");
    // The test would prove little if nothing got past open or into the ring calls.
    let opened = shared.count(0, 0).load(Ordering::Relaxed);
    let corrupted_v = VARIANTS.iter().position(|v| *v == "Corrupted").expect("listed");
    let corrupted: u64 = (1..OPS.len())
        .map(|o| shared.count(o, corrupted_v).load(Ordering::Relaxed))
        .sum();
    if cases >= 500 {
        assert!(opened > cases / 20, "only {opened} of {cases} hostile regions opened");
        assert!(corrupted > 0, "no call ever found a region Corrupted");
    }
}
