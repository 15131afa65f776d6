//! The machine's limits, measured in the same run as the transports:
//!
//! - [`cacheline`]: two processes (the bench and a forked child) ping-pong a counter through
//!   two `AtomicU64`s on separate 128-byte lines of a `MAP_SHARED` anonymous page, both
//!   spinning: the floor for a round trip in which nobody sleeps;
//! - [`futex`]: the same with 32-bit words, each hop a store, a `FUTEX_WAKE` and
//!   `FUTEX_WAIT`s on the shared word (never the private flag: the peer is another
//!   process), no spinning: the floor for a round trip in which both sides sleep. It counts
//!   its own system calls;
//! - [`lamport_rtt`] and [`lamport_tp`]: a plain Lamport ring ([`Lamport`]: 64-byte slots,
//!   Acquire/Release head and tail, each side loading the other's cursor for every message,
//!   no cached cursors and no wake-ups, spinning) between the bench and a forked child over a
//!   `MAP_SHARED` anonymous mapping: the reference a shared-memory ring is measured against
//!   (a spinning round trip over two of them, and one-way throughput at 8 and 64 bytes);
//! - [`memcpy`]: one thread copying a buffer of the message size into another, over and over
//!   (warm, aligned as the ring's payloads, the best of several timed loops): the bandwidth a
//!   one-copy transport could reach at that size, an upper bound for the ring's rows.

use super::proc::{cpu_ns, spawn, Deadline, Watch};
use hdrhistogram::Histogram;
use serde_json::json;
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One round of a ping-pong limit.
pub struct PingPong {
    /// Round-trip times, ns.
    pub hist: Histogram<u64>,
    /// Timed round trips.
    pub n: u64,
    /// CPU time of both processes over the timed round trips, ns.
    pub cpu_ns: u64,
    /// System calls of both processes over the timed round trips.
    pub syscalls: u64,
}

/// A new round-trip histogram (1 ns to an hour, 3 significant digits).
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("static histogram bounds")
}

const PAGE: usize = 4096;

/// An anonymous `MAP_SHARED` page (shared with children across fork) holding two words on
/// separate 128-byte lines.
struct SharedPage {
    base: *mut u8,
}

impl SharedPage {
    fn new() -> Result<SharedPage, String> {
        // SAFETY: a fresh anonymous shared mapping; MAP_FAILED is checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        Ok(SharedPage { base: p.cast() })
    }

    fn u64(&self, i: usize) -> &AtomicU64 {
        assert!(i < 2);
        // SAFETY: offsets 0 and 128 are inside the page, 8-aligned, zero-initialised by
        // mmap and only ever accessed atomically, by this process and its forked child.
        unsafe { &*(self.base.add(i * 128) as *const AtomicU64) }
    }

    fn u32(&self, i: usize) -> &AtomicU32 {
        assert!(i < 2);
        // SAFETY: as in `u64`, for a 32-bit word at the start of the same line (a page is
        // used for one kind of word only).
        unsafe { &*(self.base.add(i * 128) as *const AtomicU32) }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: our mapping, unmapped once; the child using it has been reaped or killed
        // by then (the Child is dropped before the page: it is declared after it).
        unsafe { libc::munmap(self.base.cast(), PAGE) };
    }
}

/// Raw cache-line ping-pong: `warm` untimed then `n` timed round trips.
pub fn cacheline(n: u64, warm: u64, timeout: Duration) -> Result<PingPong, String> {
    let page = SharedPage::new()?;
    let mut child = spawn(timeout, |ctx| {
        let (a, b) = (page.u64(0), page.u64(1));
        ctx.ready(json!(null))?;
        let w = ctx.watch();
        let mut c0 = 0;
        for seq in 1..=warm + n {
            if seq == warm + 1 {
                c0 = cpu_ns();
            }
            w.spin_until("cache-line echo", || a.load(Ordering::Acquire) == seq)?;
            b.store(seq, Ordering::Release);
        }
        Ok(json!({ "cpu_ns": cpu_ns() - c0 }))
    })?;
    let dl = Deadline::after(timeout);
    let w = child.watch(dl);
    child.expect("ready", &dl).map_err(|e| e.msg)?;
    let (a, b) = (page.u64(0), page.u64(1));
    let mut hist = new_hist();
    let mut c0 = 0;
    let res = (|| {
        for seq in 1..=warm + n {
            if seq == warm + 1 {
                c0 = cpu_ns();
            }
            let t = Instant::now();
            a.store(seq, Ordering::Release);
            w.spin_until("cache-line ping-pong", || b.load(Ordering::Acquire) == seq)?;
            let d = t.elapsed();
            if seq > warm {
                hist.saturating_record(d.as_nanos() as u64);
            }
        }
        Ok::<_, String>(())
    })();
    let mine = cpu_ns() - c0;
    if let Err(e) = res {
        return Err(format!("{e}{}", child.explain()));
    }
    let rep = child.finish(&dl).map_err(|e| e.msg)?;
    Ok(PingPong {
        hist,
        n,
        cpu_ns: mine + rep["cpu_ns"].as_u64().unwrap_or(0),
        syscalls: 0,
    })
}

/// `FUTEX_WAIT` on a shared (not private) word while it holds `expected`, at most 100 ms (so
/// that the caller checks its watch); EAGAIN, EINTR and ETIMEDOUT just mean "look again".
fn futex_wait(w: &AtomicU32, expected: u32) {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    // SAFETY: w is a valid, aligned u32 in a MAP_SHARED mapping; a shared futex, as the peer
    // is another process; ts is a valid relative timeout.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            w.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        );
    }
}

/// `FUTEX_WAKE` of one waiter on a shared word.
fn futex_wake(w: &AtomicU32) {
    // SAFETY: as in futex_wait.
    unsafe {
        libc::syscall(libc::SYS_futex, w.as_ptr(), libc::FUTEX_WAKE, 1);
    }
}

/// Waits (sleeping, never spinning) until `w` holds `seq`; counts the system calls.
fn futex_wait_for(w: &AtomicU32, seq: u32, calls: &mut u64, watch: &Watch, what: &str) -> Result<(), String> {
    let mut sleeps = 0u32;
    loop {
        let v = w.load(Ordering::Acquire);
        if v == seq {
            return Ok(());
        }
        futex_wait(w, v);
        *calls += 1;
        sleeps += 1;
        if sleeps % 8 == 0 {
            watch.check(what)?;
        }
    }
}

/// Raw futex ping-pong: `warm` untimed then `n` timed round trips.
pub fn futex(n: u64, warm: u64, timeout: Duration) -> Result<PingPong, String> {
    let page = SharedPage::new()?;
    let mut child = spawn(timeout, |ctx| {
        let (a, b) = (page.u32(0), page.u32(1));
        ctx.ready(json!(null))?;
        let w = ctx.watch();
        let (mut calls, mut c0, mut k0) = (0u64, 0, 0);
        for seq in 1..=warm + n {
            if seq == warm + 1 {
                (c0, k0) = (cpu_ns(), calls);
            }
            futex_wait_for(a, seq as u32, &mut calls, &w, "futex echo")?;
            b.store(seq as u32, Ordering::Release);
            futex_wake(b);
            calls += 1;
        }
        Ok(json!({ "cpu_ns": cpu_ns() - c0, "syscalls": calls - k0 }))
    })?;
    let dl = Deadline::after(timeout);
    let w = child.watch(dl);
    child.expect("ready", &dl).map_err(|e| e.msg)?;
    let (a, b) = (page.u32(0), page.u32(1));
    let mut hist = new_hist();
    let (mut calls, mut c0, mut k0) = (0u64, 0, 0);
    let res = (|| {
        for seq in 1..=warm + n {
            if seq == warm + 1 {
                (c0, k0) = (cpu_ns(), calls);
            }
            let t = Instant::now();
            a.store(seq as u32, Ordering::Release);
            futex_wake(a);
            calls += 1;
            futex_wait_for(b, seq as u32, &mut calls, &w, "futex ping-pong")?;
            let d = t.elapsed();
            if seq > warm {
                hist.saturating_record(d.as_nanos() as u64);
            }
        }
        Ok::<_, String>(())
    })();
    let mine = cpu_ns() - c0;
    if let Err(e) = res {
        return Err(format!("{e}{}", child.explain()));
    }
    let rep = child.finish(&dl).map_err(|e| e.msg)?;
    Ok(PingPong {
        hist,
        n,
        cpu_ns: mine + rep["cpu_ns"].as_u64().unwrap_or(0),
        syscalls: calls - k0 + rep["syscalls"].as_u64().unwrap_or(0),
    })
}

/// Slots of the Lamport reference ring.
const LAMPORT_SLOTS: u64 = 1024;
/// Bytes per Lamport slot: a message of up to 64 bytes, one cache line.
const LAMPORT_SLOT: usize = 64;
/// Where the slots start: after `tail` and `head`, each on its own 128-byte line.
const LAMPORT_SLOTS_AT: usize = 256;
/// The Lamport sizes measured (one-way throughput).
pub const LAMPORT_SIZES: [usize; 2] = [8, 64];

/// A plain Lamport ring (Lamport 1977; the textbook single-producer single-consumer ring) in
/// an anonymous `MAP_SHARED` mapping shared with a forked child: `tail` (written by the
/// producer) and `head` (by the consumer) on separate 128-byte lines, then
/// [`LAMPORT_SLOTS`] slots of 64 bytes. A push loads `head` (Acquire), copies the message into
/// the slot and stores `tail + 1` (Release); a pop loads `tail` (Acquire), copies the message
/// out and stores `head + 1` (Release). No cached copy of the other side's cursor, no batching,
/// no length word (both sides know the size), no wake-ups: the reference row that ipcring's
/// spinning SPSC ring is measured against.
pub struct Lamport {
    base: *mut u8,
    len: usize,
}

impl Lamport {
    /// A fresh, empty ring.
    pub fn new() -> Result<Lamport, String> {
        let len = LAMPORT_SLOTS_AT + LAMPORT_SLOTS as usize * LAMPORT_SLOT;
        // SAFETY: a fresh anonymous shared mapping; MAP_FAILED is checked below.
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
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        Ok(Lamport { base: p.cast(), len })
    }

    fn word(&self, off: usize) -> &AtomicU64 {
        // SAFETY: offsets 0 and 128 are inside the mapping, 8-aligned (mmap returns a page),
        // zero-initialised by mmap and only ever accessed atomically, by this process and its
        // forked child.
        unsafe { &*(self.base.add(off) as *const AtomicU64) }
    }

    fn slot(&self, pos: u64) -> *mut u8 {
        // SAFETY: pos % LAMPORT_SLOTS < LAMPORT_SLOTS, so the slot lies inside the mapping.
        unsafe {
            self.base
                .add(LAMPORT_SLOTS_AT + (pos % LAMPORT_SLOTS) as usize * LAMPORT_SLOT)
        }
    }

    /// Pushes `msg` (at most 64 bytes) if there is room. Producer side only.
    #[inline]
    pub fn try_push(&self, msg: &[u8]) -> bool {
        let (tail, head) = (self.word(0), self.word(128));
        let t = tail.load(Ordering::Relaxed);
        if t.wrapping_sub(head.load(Ordering::Acquire)) >= LAMPORT_SLOTS {
            return false;
        }
        let n = msg.len().min(LAMPORT_SLOT);
        // SAFETY: the slot of `t` is free (the consumer's Release store of head, which our
        // Acquire load saw, came after its last read of it) and ours until we publish `t + 1`;
        // n <= 64 bytes fit in it.
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), self.slot(t), n) };
        tail.store(t.wrapping_add(1), Ordering::Release);
        true
    }

    /// Pops a message into `out` (its length is the message size both sides agreed on) if
    /// there is one. Consumer side only.
    #[inline]
    pub fn try_pop(&self, out: &mut [u8]) -> bool {
        let (tail, head) = (self.word(0), self.word(128));
        let h = head.load(Ordering::Relaxed);
        if tail.load(Ordering::Acquire) == h {
            return false;
        }
        let n = out.len().min(LAMPORT_SLOT);
        // SAFETY: the slot of `h` is published (the producer's Release store of tail, which
        // our Acquire load saw, came after its write) and not reused before we store h + 1.
        unsafe { std::ptr::copy_nonoverlapping(self.slot(h), out.as_mut_ptr(), n) };
        head.store(h.wrapping_add(1), Ordering::Release);
        true
    }

    /// Messages popped so far (the consumer's cursor).
    pub fn popped(&self) -> u64 {
        self.word(128).load(Ordering::Acquire)
    }
}

impl Drop for Lamport {
    fn drop(&mut self) {
        // SAFETY: our mapping, unmapped once (the child using it has been reaped or killed).
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// Lamport round trips: the bench pushes an 8-byte message (its sequence number) into one
/// [`Lamport`] ring, the child pops it and pushes it back on a second; both spin. `warm`
/// untimed then `n` timed round trips.
pub fn lamport_rtt(n: u64, warm: u64, timeout: Duration) -> Result<PingPong, String> {
    let (a, b) = (Lamport::new()?, Lamport::new()?);
    let mut child = spawn(timeout, |ctx| {
        ctx.ready(json!(null))?;
        let w = ctx.watch();
        let mut c0 = 0;
        let mut m = [0u8; 8];
        for seq in 1..=warm + n {
            if seq == warm + 1 {
                c0 = cpu_ns();
            }
            w.spin_until("Lamport echo", || a.try_pop(&mut m))?;
            if u64::from_le_bytes(m) != seq {
                return Err(format!("Lamport echo: got {} for {seq}", u64::from_le_bytes(m)).into());
            }
            w.spin_until("Lamport echo push", || b.try_push(&m))?;
        }
        Ok(json!({ "cpu_ns": cpu_ns() - c0 }))
    })?;
    let dl = Deadline::after(timeout);
    let w = child.watch(dl);
    child.expect("ready", &dl).map_err(|e| e.msg)?;
    let mut hist = new_hist();
    let mut c0 = 0;
    let res = (|| {
        let mut m = [0u8; 8];
        for seq in 1..=warm + n {
            if seq == warm + 1 {
                c0 = cpu_ns();
            }
            let t = Instant::now();
            w.spin_until("Lamport push", || a.try_push(&seq.to_le_bytes()))?;
            w.spin_until("Lamport round trip", || b.try_pop(&mut m))?;
            let d = t.elapsed();
            if u64::from_le_bytes(m) != seq {
                return Err(format!("Lamport round trip: got {} for {seq}", u64::from_le_bytes(m)));
            }
            if seq > warm {
                hist.saturating_record(d.as_nanos() as u64);
            }
        }
        Ok::<_, String>(())
    })();
    let mine = cpu_ns() - c0;
    if let Err(e) = res {
        return Err(format!("{e}{}", child.explain()));
    }
    let rep = child.finish(&dl).map_err(|e| e.msg)?;
    Ok(PingPong {
        hist,
        n,
        cpu_ns: mine + rep["cpu_ns"].as_u64().unwrap_or(0),
        syscalls: 0,
    })
}

/// Lamport one-way throughput at `size` bytes (8 or 64), in messages per second: the bench
/// pushes `warm` then `n` messages (the first 8 bytes the sequence number, the last its low byte) into a [`Lamport`]
/// ring while the child pops and checks them; the clock runs from the first timed push until
/// the child has popped the last.
pub fn lamport_tp(size: usize, n: u64, warm: u64, timeout: Duration) -> Result<f64, String> {
    if !(8..=LAMPORT_SLOT).contains(&size) {
        return Err(format!("Lamport ring: {size}-byte messages (8 to 64 only)"));
    }
    let q = Lamport::new()?;
    let mut child = spawn(timeout, |ctx| {
        ctx.ready(json!(null))?;
        let w = ctx.watch();
        let mut m = vec![0u8; size];
        for seq in 0..warm + n {
            w.spin_until("Lamport consumer", || q.try_pop(&mut m))?;
            let got = u64::from_le_bytes(m[..8].try_into().expect("8 bytes"));
            if got != seq || (size > 8 && m[size - 1] != seq as u8) {
                return Err(format!("Lamport consumer: got {got} for {seq}").into());
            }
        }
        Ok(json!(null))
    })?;
    let dl = Deadline::after(timeout);
    let w = child.watch(dl);
    child.expect("ready", &dl).map_err(|e| e.msg)?;
    let res = (|| {
        let mut m = vec![0u8; size];
        let mut t = Instant::now();
        for seq in 0..warm + n {
            if seq == warm {
                w.spin_until("Lamport warm-up", || q.popped() == warm)?;
                t = Instant::now();
            }
            m[..8].copy_from_slice(&seq.to_le_bytes());
            if size > 8 {
                m[size - 1] = seq as u8;
            }
            w.spin_until("Lamport producer", || q.try_push(&m))?;
        }
        w.spin_until("Lamport drain", || q.popped() == warm + n)?;
        Ok::<_, String>(t.elapsed())
    })();
    let secs = match res {
        Ok(d) => d.as_secs_f64().max(1e-9),
        Err(e) => return Err(format!("{e}{}", child.explain())),
    };
    child.finish(&dl).map_err(|e| e.msg)?;
    Ok(n as f64 / secs)
}

/// Timed rounds of the memcpy limit; the best one is reported.
const MEMCPY_ROUNDS: u32 = 5;
/// A round of the memcpy limit lasts at least this long (its copy count is doubled until it
/// does), so the clock's resolution and the loop's overhead are noise.
const MEMCPY_ROUND: Duration = Duration::from_millis(2);
/// Where a payload starts in a ring slot: 16 bytes into a 64-byte-aligned slot.
const PAYLOAD_OFFSET: usize = 16;

/// `size` bytes at offset 16 of a 64-byte-aligned block inside `buf` (which holds
/// `size + 128` bytes): the alignment of the ring's payloads.
fn payload_range(buf: &[u8], size: usize) -> std::ops::Range<usize> {
    let misalign = buf.as_ptr() as usize % 64;
    let start = (64 - misalign) % 64 + PAYLOAD_OFFSET;
    start..start + size
}

/// One thread's memcpy bandwidth at `size` bytes, in MB/s (10^6 bytes): an upper bound for
/// a one-copy transport at that size. Source and destination are warm (copied before the
/// timing) and aligned as the ring's payloads are (8-byte aligned, offset 16 in a
/// 64-byte-aligned block); each round times a loop of many copies (at least
/// [`MEMCPY_ROUND`] long, and about `budget` bytes over all rounds), and the best of
/// [`MEMCPY_ROUNDS`] rounds is reported.
pub fn memcpy(size: usize, budget: u64) -> Result<f64, String> {
    let src_buf: Vec<u8> = (0..size + 128).map(|i| i as u8).collect();
    let mut dst_buf = vec![0u8; size + 128];
    let sr = payload_range(&src_buf, size);
    let dr = payload_range(&dst_buf, size);
    let src = &src_buf[sr];
    let dst = &mut dst_buf[dr];
    let copies = |n: u64, src: &[u8], dst: &mut [u8]| {
        let t = Instant::now();
        for _ in 0..n {
            // SAFETY: both ranges hold `size` bytes and belong to different buffers;
            // black_box keeps the compiler from knowing the pointers or the length, or
            // dropping a copy.
            unsafe {
                std::ptr::copy_nonoverlapping(black_box(src.as_ptr()), black_box(dst.as_mut_ptr()), black_box(size))
            };
            black_box(&mut *dst);
        }
        t.elapsed()
    };
    // Warm up and calibrate: double the copy count until one loop lasts a round.
    let floor = budget / (size.max(1) as u64 * u64::from(MEMCPY_ROUNDS));
    let mut n = 16u64;
    while copies(n, src, dst) < MEMCPY_ROUND && n < (1 << 40) {
        n *= 2;
    }
    let n = n.max(floor);
    let mut best = f64::INFINITY;
    for _ in 0..MEMCPY_ROUNDS {
        best = best.min(copies(n, src, dst).as_secs_f64().max(1e-9));
    }
    if dst != src {
        return Err("memcpy: the copy differs from its source".into());
    }
    Ok((size as u64 * n) as f64 / best / 1e6)
}
