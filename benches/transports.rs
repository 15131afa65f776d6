//! Every transport side by side, in one run: one-way throughput and round-trip time between
//! two processes at 8 B and 4 KiB, over the same `Sender` / `Receiver` API.
//!
//! ```sh
//! cargo bench --bench transports              # 5 interleaved rounds
//! cargo bench --bench transports -- --quick   # 3 rounds, fewer messages
//! cargo bench --bench transports -- pipe tcp  # these (and shm-spsc, the reference) only
//! ```
//!
//! Each round runs every (transport, size) once, in turn, so that a noisy neighbour slows
//! all rows alike instead of one; the table gives the median over the rounds and, in
//! brackets, the spread (max/min) of the throughput. Throughput: a forked child sends N
//! messages as fast as the channel takes them, the parent receives and checks each length;
//! the time runs from the first message received to the last. Round trip: the parent sends
//! one message, the child echoes it on a second channel of the same transport; p50 and p99
//! over the samples of all rounds. The ring is used with its blocking API (spin, then
//! sleep); the others block in the kernel.
//!
//! Results vary with the machine and its load: see `docs/benchmarks.md`.

use ipcring::{Create, Error, Receiver, Sender};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

const TRANSPORTS: [&str; 7] = ["shm-spsc", "shm-mpmc", "pipe", "fifo", "mq", "unix", "tcp"];
const SIZES: [usize; 2] = [8, 4096];

fn free_tcp_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// A channel for one measurement: the receiver (created here) and, for `pipe://`, the
/// sender of the pair; otherwise the address the child opens its sender on.
struct Chan {
    addr: String,
    rx: Option<Receiver>,
    tx: Option<Sender>,
    named: bool,
}

impl Chan {
    fn new(transport: &str, size: usize, tag: &str) -> Chan {
        let name = format!("ipcring-bench-{}-{transport}-{tag}", std::process::id());
        let q = format!("msg_size={size}");
        let tmp = std::env::temp_dir();
        let addr = match transport {
            "shm-spsc" => format!("shm://{name}?capacity=1024&{q}"),
            "shm-mpmc" => format!("shm://{name}?mode=mpmc&capacity=1024&{q}"),
            "pipe" => format!("pipe://?{q}"),
            "fifo" => format!("fifo://{}/{name}.fifo?{q}", tmp.display()),
            "mq" => format!("mq://{name}?{q}"),
            "unix" => format!("unix://{}/{name}.sock?{q}", tmp.display()),
            "tcp" => format!("tcp://127.0.0.1:{}?{q}", free_tcp_port()),
            _ => unreachable!(),
        };
        if transport == "pipe" {
            let (tx, rx) = ipcring::pair_at(&addr).expect("pair");
            return Chan {
                addr,
                rx: Some(rx),
                tx: Some(tx),
                named: false,
            };
        }
        let rx = Receiver::open(&addr, Create::IfMissing).unwrap_or_else(|e| panic!("{addr}: {e}"));
        Chan {
            addr,
            rx: Some(rx),
            tx: None,
            named: transport != "tcp",
        }
    }

    /// The sender: the pair's, or a new one by address.
    fn sender(&mut self) -> Sender {
        self.tx
            .take()
            .unwrap_or_else(|| Sender::open(&self.addr, Create::No).expect("sender"))
    }
}

impl Drop for Chan {
    fn drop(&mut self) {
        if self.named {
            let _ = ipcring::unlink(&self.addr);
        }
    }
}

/// Runs `f` in a forked child that exits with 0 (or 1 if `f` panicked).
fn fork(f: impl FnOnce()) -> libc::pid_t {
    // SAFETY: the child runs `f` and `_exit`s; this benchmark's main thread is its only
    // thread doing work.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_or(1, |_| 0);
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    pid
}

fn reap(pid: libc::pid_t) {
    let mut st = 0;
    // SAFETY: pid is our child.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    assert!(
        libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
        "child failed: {st:#x}"
    );
}

/// Messages per second, one way.
fn throughput(transport: &str, size: usize, n: u64) -> f64 {
    let mut ch = Chan::new(transport, size, "tp");
    let mut rx = ch.rx.take().unwrap();
    let tx = ch.tx.take();
    let ch = &mut ch;
    let child = fork(|| {
        let mut tx = tx.unwrap_or_else(|| ch.sender());
        let msg = vec![0x5a; size];
        for _ in 0..n {
            tx.send(&msg).expect("send");
        }
    });
    let mut buf = vec![0u8; size];
    let mut got = 0u64;
    let mut start = None;
    loop {
        match rx.recv(&mut buf) {
            Ok(len) => {
                assert_eq!(len, size);
                start.get_or_insert_with(Instant::now);
                got += 1;
                if got == n {
                    break;
                }
            }
            Err(e) => panic!("{transport}: recv after {got}: {e}"),
        }
    }
    let t = start.unwrap().elapsed();
    reap(child);
    (n - 1) as f64 / t.as_secs_f64()
}

/// Round-trip samples.
fn roundtrip(transport: &str, size: usize, n: usize, samples: &mut Vec<Duration>) {
    let mut ping = Chan::new(transport, size, "ping");
    let mut pong = Chan::new(transport, size, "pong");
    let mut ping_rx = ping.rx.take().unwrap();
    let mut ping_tx = ping.tx.take();
    let mut pong_rx = pong.rx.take().unwrap();
    let pong_tx = pong.tx.take();
    let pong_addr = pong.addr.clone();
    let child = fork(|| {
        // The child's copy of the pair's ping sender would keep its own echo loop from
        // ever seeing the end of the stream.
        drop(ping_tx.take());
        let mut back = pong_tx.unwrap_or_else(|| Sender::open(&pong_addr, Create::No).expect("pong sender"));
        let mut buf = vec![0u8; size];
        loop {
            match ping_rx.recv(&mut buf) {
                Ok(len) => back.send(&buf[..len]).expect("echo"),
                Err(Error::EndOfStream) => return,
                Err(e) => panic!("echo recv: {e}"),
            }
        }
    });
    let mut tx = ping_tx.unwrap_or_else(|| ping.sender());
    let msg = vec![0xa5; size];
    let mut buf = vec![0u8; size];
    for i in 0..n + 100 {
        let t = Instant::now();
        tx.send(&msg).expect("ping");
        let len = pong_rx.recv(&mut buf).expect("pong");
        let d = t.elapsed();
        assert_eq!(len, size);
        if i >= 100 {
            samples.push(d); // the first 100 warm up (and make the lazy connections)
        }
    }
    drop(tx);
    reap(child);
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 3 } else { 5 };
    let (n_tp, n_rt) = if quick {
        (50_000u64, 2_000usize)
    } else {
        (200_000, 5_000)
    };
    // Transport names on the command line pick a subset (cargo passes `--bench` itself).
    let picked: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let cases: Vec<(&str, usize)> = TRANSPORTS
        .iter()
        .filter(|t| picked.is_empty() || picked.iter().any(|p| p == *t) || **t == "shm-spsc")
        .flat_map(|t| SIZES.iter().map(move |s| (*t, *s)))
        .collect();
    let mut tp: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut rt: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    let progress = std::io::stderr().is_terminal();
    for round in 0..rounds {
        if !progress {
            eprintln!("round {}/{rounds}", round + 1);
        }
        for (k, (t, s)) in cases.iter().enumerate() {
            if progress {
                eprint!("\rround {}/{rounds}: {t:>8} {s:>5} B   ", round + 1);
            }
            // The ring is ten times faster: ten times the messages, so that its rows last
            // long enough to measure; 4 KiB messages: a quarter.
            let n = n_tp * if t.starts_with("shm") { 10 } else { 1 } / if *s > 1024 { 4 } else { 1 };
            tp[k].push(throughput(t, *s, n));
            roundtrip(t, *s, n_rt / rounds, &mut rt[k]);
        }
    }
    eprintln!();
    println!(
        "{:<9} {:>6} | {:>14} {:>9} {:>10} {:>8} | {:>10} {:>10}",
        "transport", "size", "msg/s (median)", "spread", "MB/s", "vs ring", "RTT p50", "RTT p99"
    );
    println!("{}", "-".repeat(88));
    for (k, (t, s)) in cases.iter().enumerate() {
        let m = median(tp[k].clone());
        let (lo, hi) = tp[k]
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let ring_k = cases.iter().position(|c| *c == ("shm-spsc", *s)).unwrap();
        let ring = median(tp[ring_k].clone());
        let mut r = rt[k].clone();
        r.sort();
        println!(
            "{:<9} {:>5}B | {:>14.0} {:>8.2}x {:>10.1} {:>7.3}x | {:>8.1}µs {:>8.1}µs",
            t,
            s,
            m,
            hi / lo,
            m * *s as f64 / 1e6,
            m / ring,
            pct(&r, 0.5).as_secs_f64() * 1e6,
            pct(&r, 0.99).as_secs_f64() * 1e6,
        );
    }
    println!(
        "\n{rounds} rounds interleaved; throughput {n_tp} messages (8 B) / {} (4 KiB) per round, ten \
         times that on shm; {} round trips per round; 'vs ring' is against shm-spsc at the same size.",
        n_tp / 4,
        n_rt / rounds
    );
}
