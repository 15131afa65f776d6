//! What each fence mode costs per message, measured where the machine's noise cannot hide
//! it: one thread sends and receives 8-byte messages through an in-process SPSC ring
//! (`try_send` then `try_recv`, so the line never leaves the core) on a ring with
//! asymmetric fences and on one with `fence=full`, interleaved, medians of the rounds; and
//! what the sleeping side pays instead, one `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`.
//!
//! ```text
//! cargo run --release --example fence_cost [-- ROUNDS [MESSAGES]]
//! ```
//!
//! The cross-process figures (round trip against the cache-line ping-pong, one-way msg/s
//! against the Lamport ring) are `ipcring bench`'s `shm-spsc/spin` and `shm-spsc/spin-full`
//! rows.

use ipcring::{FenceMode, Ring, RingOptions};
use std::time::Instant;

fn round(mode: FenceMode, n: u64) -> f64 {
    let ring = Ring::in_process(&RingOptions::new().capacity(1024).msg_size(8).fence(mode)).expect("ring");
    assert_eq!(ring.geometry().fence, mode);
    let (mut tx, mut rx) = (ring.sender().expect("sender"), ring.receiver().expect("receiver"));
    let mut buf = [0u8; 8];
    let t = Instant::now();
    for i in 0..n {
        tx.try_send(&i.to_le_bytes()).expect("try_send");
        let len = rx.try_recv(&mut buf).expect("try_recv");
        assert!(len == 8 && u64::from_le_bytes(buf) == i, "message {i}");
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(7, |a| a.parse().expect("ROUNDS"));
    let n: u64 = args.next().map_or(5_000_000, |a| a.parse().expect("MESSAGES"));
    let (mut asym, mut full) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        asym.push(round(FenceMode::Asymmetric, n));
        full.push(round(FenceMode::Full, n));
    }
    let (a, f) = (median(asym), median(full));
    println!("send + receive of one 8-byte message, one thread, medians of {rounds} rounds of {n}:");
    println!("  fence=asymmetric  {a:6.2} ns");
    println!(
        "  fence=full        {f:6.2} ns  ({:+.2} ns: the SeqCst fence on each publication)",
        f - a
    );

    // The sleeper's price: the call itself (this process registered when it made the ring).
    const GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
    let calls = 20_000;
    let t = Instant::now();
    for _ in 0..calls {
        // SAFETY: membarrier takes integers only and touches no memory of ours.
        let rc = unsafe { libc::syscall(libc::SYS_membarrier, GLOBAL_EXPEDITED, 0, 0) };
        assert_eq!(rc, 0, "membarrier: {}", std::io::Error::last_os_error());
    }
    let m = t.elapsed().as_nanos() as f64 / calls as f64;
    println!("  membarrier(GLOBAL_EXPEDITED), paid once per sleep on an asymmetric ring: {m:.0} ns");
}
