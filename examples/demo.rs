//! The main job, for now: a producer process and a consumer process over a shared-memory
//! ring, then a round trip between two processes, with what was measured.
//!
//! `cargo run --release --example demo [MESSAGES]`
//!
//! The parent creates the rings and re-executes this program as the peer process (`demo
//! consume NAME N` / `demo echo NAME`). Every message carries a sequence number and a
//! checksum that the consumer verifies. `scripts/demo.sh` runs this after the C producer →
//! Rust consumer pipeline (`c-examples/pipeline_producer.c`, `examples/pipeline.rs`).

use ipcring::{Error, Kind, Ring, RingOptions};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const MSG_SIZE: u64 = 64;

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// [seq u64][checksum of seq u64]: 16 bytes.
fn message(seq: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    let sum = fnv(&m[..8]);
    m[8..].copy_from_slice(&sum.to_le_bytes());
    m
}

struct Unlink(String);
impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = Ring::unlink(&self.0);
    }
}

fn consume(name: &str, n: u64) -> Result<(), String> {
    let ring = Ring::open(name).map_err(|e| format!("open {name}: {e}"))?;
    let mut rx = ring.receiver().map_err(|e| e.to_string())?;
    let mut buf = [0u8; MSG_SIZE as usize];
    let mut expect = 0u64;
    let start = Instant::now();
    loop {
        match rx.recv(&mut buf) {
            Ok(len) => {
                let m = &buf[..len];
                if len != 16 || fnv(&m[..8]).to_le_bytes() != m[8..16] {
                    return Err(format!("message {expect}: bad checksum"));
                }
                let seq = u64::from_le_bytes(m[..8].try_into().unwrap());
                if seq != expect {
                    return Err(format!("expected sequence {expect}, got {seq}"));
                }
                expect += 1;
            }
            Err(Error::EndOfStream) => break,
            Err(e) => return Err(format!("recv: {e}")),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if expect != n {
        return Err(format!("received {expect} messages, expected {n}"));
    }
    let s = rx.stats();
    println!(
        "consumer (pid {}): {expect} messages verified (sequence + checksum) in {secs:.3} s: {:.1} M msg/s, {} sleeps, {} wake-ups",
        std::process::id(),
        expect as f64 / secs / 1e6,
        s.parks,
        s.wakes
    );
    Ok(())
}

fn echo(name: &str) -> Result<(), String> {
    let there = Ring::open(&format!("{name}-ping")).map_err(|e| e.to_string())?;
    let back = Ring::open(&format!("{name}-pong")).map_err(|e| e.to_string())?;
    let mut rx = there.receiver().map_err(|e| e.to_string())?;
    let mut tx = back.sender().map_err(|e| e.to_string())?;
    let mut buf = [0u8; 8];
    loop {
        match rx.recv(&mut buf) {
            Ok(n) => tx.send(&buf[..n]).map_err(|e| e.to_string())?,
            Err(Error::EndOfStream) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn run(n: u64) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let name = format!("ipcring-demo-{}", std::process::id());

    // 1. One-way: this process produces, a child process consumes and verifies.
    let opts = RingOptions::new().kind(Kind::Spsc).capacity(4096).msg_size(MSG_SIZE);
    let ring = Ring::create(&name, &opts).map_err(|e| format!("create: {e}"))?;
    let _unlink = Unlink(name.clone());
    let mut tx = ring.sender().map_err(|e| e.to_string())?;
    let mut child = Command::new(&exe)
        .args(["consume", &name, &n.to_string()])
        .spawn()
        .map_err(|e| e.to_string())?;
    println!(
        "producer (pid {}): sending {n} messages over shm://{name} (SPSC, capacity 4096)",
        std::process::id()
    );
    let start = Instant::now();
    for seq in 0..n {
        tx.send(&message(seq)).map_err(|e| format!("send: {e}"))?;
    }
    drop(tx); // end of stream for the consumer
    let secs = start.elapsed().as_secs_f64();
    let s = ring.len();
    println!(
        "producer: sent {n} messages in {secs:.3} s: {:.1} M msg/s ({s} still queued when done)",
        n as f64 / secs / 1e6
    );
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("consumer process failed: {status}"));
    }

    // 2. Round trip: ping a child process that echoes over a second ring.
    let rtt = |spin: bool| -> Result<Vec<Duration>, String> {
        let ping = Ring::create(&format!("{name}-ping"), &RingOptions::new().capacity(64).msg_size(8))
            .map_err(|e| e.to_string())?;
        let _u1 = Unlink(format!("{name}-ping"));
        let pong = Ring::create(&format!("{name}-pong"), &RingOptions::new().capacity(64).msg_size(8))
            .map_err(|e| e.to_string())?;
        let _u2 = Unlink(format!("{name}-pong"));
        let mut tx = ping.sender().map_err(|e| e.to_string())?;
        let mut rx = pong.receiver().map_err(|e| e.to_string())?;
        let mut child = Command::new(&exe)
            .args(["echo", &name])
            .spawn()
            .map_err(|e| e.to_string())?;
        let rounds = 20_000;
        let mut times = Vec::with_capacity(rounds);
        let mut buf = [0u8; 8];
        for i in 0..rounds as u64 + 1000 {
            let t = Instant::now();
            tx.send(&i.to_le_bytes()).map_err(|e| e.to_string())?;
            loop {
                let r = if spin { rx.try_recv(&mut buf) } else { rx.recv(&mut buf) };
                match r {
                    Ok(_) => break,
                    Err(Error::WouldBlock) => std::hint::spin_loop(),
                    Err(e) => return Err(e.to_string()),
                }
            }
            let took = t.elapsed();
            if u64::from_le_bytes(buf) != i {
                return Err(format!("round trip {i} came back as {}", u64::from_le_bytes(buf)));
            }
            if !spin {
                // Let the echo process go to sleep (outside the timing), so that every round
                // trip wakes it: the blocking path with a wake-up, not the spin before it.
                std::thread::sleep(Duration::from_micros(50));
            }
            if i >= 1000 {
                times.push(took);
            }
        }
        drop(tx);
        child.wait().map_err(|e| e.to_string())?;
        times.sort();
        Ok(times)
    };
    for (label, spin) in [
        (
            "spinning round trip: try_recv in a loop, the echo process never sleeps",
            true,
        ),
        (
            "blocking round trip with a forced sleep before each ping: the echo process is asleep when \
             each ping arrives (a futex wake-up per round trip; not the figure of `ipcring bench`'s \
             blocking rows, which spin before they sleep)",
            false,
        ),
    ] {
        let t = rtt(spin)?;
        println!(
            "{label}: p50 {:.2} us, p99 {:.2} us over {} rounds",
            percentile(&t, 0.5).as_secs_f64() * 1e6,
            percentile(&t, 0.99).as_secs_f64() * 1e6,
            t.len()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("consume") => consume(&args[2], args[3].parse().expect("count")),
        Some("echo") => echo(&args[2]),
        Some(n) => match n.parse() {
            Ok(n) => run(n),
            Err(_) => Err(format!("usage: {} [MESSAGES]", args[0])),
        },
        None => run(5_000_000),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}
