//! Async receive throughput (`ipcring::tokio::AsyncReceiver::recv`) against the blocking API
//! (`Receiver::recv`) on the same transport in the same run, 8-byte messages: a sender thread
//! sends as fast as it can, the receiver counts. Target (issue 14): async ≥ 0.8× blocking.
//!
//! `cargo bench --features tokio --bench async_recv`. `IPCRING_ASYNC_BENCH` lists the
//! transports (default `shm,pipe,unix,mq`), `IPCRING_ASYNC_BENCH_N` the messages per run
//! (default 200,000); each figure is the best of 3 runs, blocking and async interleaved.
//! Uses only the public API.

use ipcring::tokio::AsyncReceiver;
use ipcring::{Create, Error, Receiver, Sender};
use std::time::{Duration, Instant};

fn channel(transport: &str, run: usize) -> (Sender, Receiver, String) {
    let name = format!("ipcring-abench-{}-{run}", std::process::id());
    let addr = match transport {
        "shm" => format!("shm://{name}?capacity=4096&msg_size=8"),
        "pipe" => "pipe://?msg_size=8".to_string(),
        "unix" => format!("unix:///tmp/{name}.sock?msg_size=8"),
        "mq" => format!("mq://{name}?capacity=10&msg_size=8"),
        other => panic!("unknown transport {other:?} in IPCRING_ASYNC_BENCH"),
    };
    if transport == "pipe" {
        let (tx, rx) = ipcring::pair_at(&addr).expect("pair");
        return (tx, rx, addr);
    }
    let rx = Receiver::open(&addr, Create::IfMissing).expect("receiver");
    let tx = Sender::open(&addr, Create::No).expect("sender");
    (tx, rx, addr)
}

fn sender_thread(mut tx: Sender, n: u64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for i in 0..n {
            tx.send(&i.to_le_bytes()).expect("send");
        }
    })
}

fn check(i: u64, buf: &[u8]) {
    assert_eq!(buf, i.to_le_bytes(), "message {i} out of order");
}

fn blocking(transport: &str, n: u64, run: usize) -> (Duration, f64) {
    let (tx, mut rx, addr) = channel(transport, run);
    let start = Instant::now();
    let t = sender_thread(tx, n);
    let mut buf = [0u8; 8];
    for i in 0..n {
        let len = rx.recv(&mut buf).expect("recv");
        check(i, &buf[..len]);
    }
    let took = start.elapsed();
    t.join().unwrap();
    let s = rx.stats();
    drop(rx);
    let _ = ipcring::unlink(&addr);
    (took, s.syscalls as f64 / s.messages.max(1) as f64)
}

fn asynchronous(transport: &str, n: u64, run: usize) -> (Duration, f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx, addr) = channel(transport, run);
    let (took, s) = rt.block_on(async {
        let mut rx = AsyncReceiver::new(rx).expect("AsyncReceiver::new");
        let start = Instant::now();
        let t = sender_thread(tx, n);
        let mut buf = [0u8; 8];
        for i in 0..n {
            let len = rx.recv(&mut buf).await.expect("recv");
            check(i, &buf[..len]);
        }
        let took = start.elapsed();
        t.join().unwrap();
        assert!(matches!(rx.recv(&mut buf).await, Err(Error::EndOfStream)));
        (took, rx.get_ref().stats())
    });
    let _ = ipcring::unlink(&addr);
    (took, s.syscalls as f64 / s.messages.max(1) as f64)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once, quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let list = std::env::var("IPCRING_ASYNC_BENCH").unwrap_or_else(|_| "shm,pipe,unix,mq".into());
    let n: u64 = std::env::var("IPCRING_ASYNC_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2_000 } else { 200_000 });
    let runs = if quick { 1 } else { 3 };
    println!("async receive vs blocking, 8-byte messages, {n} per run, best of {runs}");
    println!(
        "{:<6} {:>14} {:>14} {:>7} {:>16} {:>16}",
        "", "blocking msg/s", "async msg/s", "ratio", "sys/msg blocking", "sys/msg async"
    );
    for (k, t) in list.split(',').map(str::trim).filter(|t| !t.is_empty()).enumerate() {
        let (mut best_b, mut best_a) = (Duration::MAX, Duration::MAX);
        let (mut sb, mut sa) = (0.0, 0.0);
        for r in 0..runs {
            let (d, s) = blocking(t, n, 2 * (k * runs + r));
            if d < best_b {
                (best_b, sb) = (d, s);
            }
            let (d, s) = asynchronous(t, n, 2 * (k * runs + r) + 1);
            if d < best_a {
                (best_a, sa) = (d, s);
            }
        }
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        println!(
            "{t:<6} {:>14.0} {:>14.0} {:>6.2}x {sb:>16.3} {sa:>16.3}",
            rate(best_b),
            rate(best_a),
            rate(best_a) / rate(best_b)
        );
    }
}
