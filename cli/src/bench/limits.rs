//! The machine's limits, measured in the same run as the transports:
//!
//! - [`cacheline`]: two processes (the bench and a forked child) ping-pong a counter through
//!   two `AtomicU64`s on separate 128-byte lines of a `MAP_SHARED` anonymous page, both
//!   spinning: the floor for a round trip in which nobody sleeps;
//! - [`futex`]: the same with 32-bit words, each hop a store, a `FUTEX_WAKE` and
//!   `FUTEX_WAIT`s on the shared word (never the private flag: the peer is another
//!   process), no spinning: the floor for a round trip in which both sides sleep. It counts
//!   its own system calls;
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
