//! `ipcring bench`: every transport side by side, against the machine's limits, in one run.
//!
//! ```text
//! ipcring bench                          5 interleaved rounds, sizes 8 B, 64 B, 4 KiB, 1 MiB
//! ipcring bench --quick                  3 rounds, a quarter of the messages (under a minute)
//! ipcring bench --only shm-spsc,pipe --sizes 8,4096 --rounds 7
//! ipcring bench --json > result.json     the whole result as JSON (schema below); the
//!                                        table then goes to stderr
//! ipcring bench --svg plot.svg           and a plot
//! ```
//!
//! # What runs
//!
//! Each round runs every case once, in turn (so a noisy neighbour slows every row a little
//! instead of one row a lot); the figures are medians over the rounds. The cases:
//!
//! - the limits ([`limits`]): a raw cache-line ping-pong and a raw futex ping-pong between
//!   two processes, a plain Lamport ring between two processes (spinning round trip at 8 B,
//!   one-way msg/s at 8 B and 64 B: the reference ring), and one thread's memcpy bandwidth
//!   at each size;
//! - for every row (`shm-spsc/spin`, `shm-spsc/block`, `shm-spsc/zc`, `shm-mpmc/spin`,
//!   `shm-mpmc/block`, `shm-mpmc/zc`, `pipe`, `fifo`, `mq`, `unix`, `tcp`; see [`cases`]; the
//!   `zc` rows use the zero-copy API: reserve/commit, peek/release) and size: one-way throughput (a
//!   forked child sends, the bench receives and checks every message's length and sequence
//!   number) and round trips (the child echoes over a second channel of the same transport).
//!
//! A case the machine cannot carry (an `mq://` message above `fs.mqueue.msgsize_max`, a
//! `unix://` packet above what the kernel takes) is `n/a` with the reason; a case that fails
//! (a child that dies, hangs past `--timeout`, or delivers wrong data) is that row's error,
//! and the bench goes on (exit status 1 at the end). Named objects are removed as soon as
//! both processes have them open, and on every error path and on SIGINT/SIGTERM/SIGHUP
//! ([`cleanup`]); children are reaped.
//!
//! `ipcring bench --nats` measures `nats://` instead ([`nats`]; it needs `nats-server`, so it
//! is never part of the default run).
//!
//! Files: `mod.rs` (arguments, rounds, orchestration), `limits.rs`, `cases.rs` (transports), `nats.rs`,
//! `proc.rs` (fork and child plumbing), `cleanup.rs` (named objects), `report.rs` (table,
//! JSON, SVG).
//!
//! # JSON (`--json`)
//!
//! One object; times in nanoseconds, bandwidths in MB/s (10^6 bytes per second), `null`
//! where a figure does not exist (an `n/a` or failed case):
//!
//! ```text
//! {
//!   "schema": "ipcring-bench/1",
//!   "machine": { "cores": 2, "kernel": "Linux 6.18.44 #1 SMP ... x86_64", "cpu": "AMD EPYC" | null,
//!                "mq_msgsize_max": 8192, "other_load_cpus": 0.02 },
//!   "parameters": { "rounds": 5, "quick": false, "sizes": [8, 64, 4096, 1048576],
//!                   "rows": ["shm-spsc/spin", ...], "messages": 200000, "timeout_s": 60,
//!                   "ring_bytes": 4194304,
//!                   "cases": [ { "row": "pipe", "size": 8, "messages": 200000,
//!                                "round_trips": 2000, "warm_up": 100,
//!                                "capacity": 1024 (ring rows) | null }, ... ],
//!                   "limits": { "cacheline_round_trips": 200000, "futex_round_trips": 2000,
//!                               "memcpy_bytes": 256000000 } },
//!   "elapsed_s": 95.2,
//!   "limits": {
//!     "cacheline": { "status": "ok", "reason": null, "rtt_p50_ns": 104, "rtt_p99_ns": 310,
//!                    "samples": 1000000, "cpu_ns_per_rt": 210.0, "syscalls_per_rt": 0.0 },
//!     "futex":     { ...the same fields; syscalls_per_rt counted by the ping-pong itself },
//!     "lamport_rtt": { ...the same fields: the Lamport ring's spinning round trip at 8 B },
//!     "lamport": [ { "size": 8, "status": "ok", "reason": null, "msgs_per_s": 6.6e7,
//!                    "spread": 1.1 }, { "size": 64, ... } ],
//!     "memcpy": [ { "size": 8, "status": "ok", "reason": null, "mb_per_s": 4100.0,
//!                   "spread": 1.05, "per_round": [...] }, ... ]
//!   },
//!   "spsc_spin_over_lamport": { "rtt": 1.4, "msgs_per_s": [ { "size": 8, "ratio": 0.4 }, ... ] },
//!   "rows": [ {
//!     "row": "shm-spsc/spin", "transport": "shm-spsc",
//!     "mode": "spin" | "block" | "fd" | "poll64" | "zc", "size": 8,
//!     "status": "ok" | "n/a" | "error", "reason": null | "why",
//!     "throughput": { "messages": 2000000, "msg_per_s": 2.0e7, "mb_per_s": 160.0,
//!                     "spread": 1.08, "per_round": [msg/s, ...],
//!                     "syscalls_per_msg": 0.0, "cpu_ns_per_msg": 95.0 } | null,
//!     "round_trip": { "p50_ns": 210, "p99_ns": 480, "samples": 10000,
//!                     "syscalls_per_rt": 0.0, "cpu_ns_per_rt": 420.0 } | null,
//!     "ratios": { "rtt_vs_limit": 2.02, "limit": "cacheline" | "futex",
//!                 "mb_per_s_vs_memcpy": 0.04, "ring_over_this": 1.0 }
//!   }, ... ],
//!   "reference": { "row": "shm-spsc/block", "size": 8 } | null,
//!   "failed": 0
//! }
//! ```
//!
//! - `other_load_cpus`: CPUs' worth of work other processes did during the run, on average
//!   (`/proc/stat` minus the bench's own rusage); the table warns from 0.1.
//! - `spread` is max/min of the per-round throughputs; `per_round` lists them.
//! - `syscalls_per_msg` / `syscalls_per_rt` come from the endpoints' own statistics
//!   (`Stats::syscalls`, [`cases::syscalls_per_msg`]) over the timed part, both processes
//!   together; the futex limit counts its own calls.
//! - `cpu_ns_per_msg` / `cpu_ns_per_rt`: user + system CPU time of both processes
//!   (`getrusage(RUSAGE_SELF)` deltas over the timed part; the child sends its own over a
//!   pipe), divided by the messages or round trips.
//! - `ratios.rtt_vs_limit`: round-trip p50 over the cache-line ping-pong's (spin and zc rows) or the
//!   futex ping-pong's (every blocking row); `mb_per_s_vs_memcpy`: throughput in MB/s over
//!   memcpy's at the same size; `ring_over_this`: the reference row's msg/s (`shm-spsc/block`,
//!   else `shm-spsc/spin`, at the smallest size) over this row's, at that size only.

mod cases;
mod cleanup;
mod limits;
mod nats;
mod proc;
mod report;

use crate::{exit, CmdResult, Fail};
use cases::{CaseErr, Mode, Row, Rtt, Tp, Transport};
use clap::{value_parser, Args, ValueEnum};
use hdrhistogram::Histogram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `ipcring bench`.
#[derive(Args, Debug)]
#[command(
    after_help = "Rows: shm-spsc/spin, shm-spsc/block, shm-mpmc/spin, shm-mpmc/block (the ring, \
                  spinning on try_send/try_recv or with the blocking API; -full: the same ring made \
                  with fence=full, a SeqCst fence per message), shm-spsc/zc, shm-mpmc/zc (zero-copy, \
                  spinning: the sender reserves a slot, copies its message in and commits; the \
                  receiver peeks, checks the stamps in place and releases), shm-spsc/fd, \
                  shm-spsc/poll64 (event loops), pipe, fifo, mq, unix, tcp \
                  (blocking API). Limits (always measured): a raw cache-line ping-pong and a raw \
                  futex ping-pong between two processes, and memcpy at each size.\n\
                  Columns: msg/s and MB/s one way (median over rounds) and their spread (max/min), \
                  MB/s over memcpy's, round-trip p50/p99 and p50 over the matching limit, system \
                  calls and CPU time (both processes) per message. n/a: the kernel cannot carry \
                  that size here (the reason is shown).\n\
                  Exit status: 0 done, 1 a case failed (its row shows why), 2 bad usage."
)]
pub struct BenchArgs {
    /// Quick run: 3 rounds and a quarter of the messages (under a minute on two cores).
    #[arg(long)]
    pub quick: bool,
    /// Measure nats:// instead (starts its own nats-server): async-nats publish loops
    /// against `ipcring bridge` shm -> nats at 64 B and 1 KiB (or --sizes), and the latency
    /// shm -> bridge -> NATS -> bridge -> shm (docs/nats.md). Takes --quick, --sizes,
    /// --rounds (default 3, 1 with --quick).
    #[arg(long)]
    pub nats: bool,
    /// Rounds; each runs every case once, in turn (default 5, or 3 with --quick).
    #[arg(long, value_name = "N", value_parser = value_parser!(u32).range(1..=1000))]
    pub rounds: Option<u32>,
    /// Only these rows, comma-separated: a transport (both modes of a ring) or a ring row
    /// with its mode. The limits always run.
    #[arg(long, value_delimiter = ',', value_name = "ROWS")]
    pub only: Vec<Pick>,
    /// Message sizes, comma-separated, in bytes or with K/KiB/M/MiB (1 B to 16 MiB)
    /// [default: 8,64,4K,1M].
    #[arg(long, value_delimiter = ',', value_name = "SIZES", value_parser = parse_size)]
    pub sizes: Vec<usize>,
    /// At most this many bytes of slots per ring (bytes or with K/KiB/M/MiB, 4 KiB to 1 GiB):
    /// a ring gets up to 1024 slots, as many as fit, at least 2 [default: 4M, 4 slots of
    /// 1 MiB]. Large messages are fast only while the ring fits in the cache (docs/benchmarks.md,
    /// "Zero-copy at 1 MiB"); `--ring-bytes 16M` shows a ring that does not.
    #[arg(long, value_name = "SIZE", value_parser = parse_ring_bytes)]
    pub ring_bytes: Option<usize>,
    /// Print the whole result as JSON on stdout (schema: docs/benchmarks.md); the table then
    /// goes to stderr.
    #[arg(long)]
    pub json: bool,
    /// Also write a plot (SVG): throughput per row and size on a log axis, and round-trip
    /// p50, with the limits.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Messages per throughput case of small messages on a kernel transport (the others
    /// scale from it); default 200000, or 50000 with --quick.
    #[arg(long, hide = true, value_name = "N", value_parser = value_parser!(u64).range(10..=1_000_000_000))]
    pub messages: Option<u64>,
    /// Bound on one measurement phase, in seconds: a child that makes no progress for this
    /// long is that row's error.
    #[arg(long, hide = true, value_name = "SECS", default_value_t = 60, value_parser = value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

/// A name `--only` takes.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Every mode of the SPSC ring.
    #[value(name = "shm-spsc")]
    ShmSpsc,
    /// The SPSC ring, spinning.
    #[value(name = "shm-spsc/spin")]
    ShmSpscSpin,
    /// The SPSC ring, blocking API.
    #[value(name = "shm-spsc/block")]
    ShmSpscBlock,
    /// The SPSC ring made with `fence=full`, spinning.
    #[value(name = "shm-spsc/spin-full")]
    ShmSpscSpinFull,
    /// The SPSC ring made with `fence=full`, blocking API.
    #[value(name = "shm-spsc/block-full")]
    ShmSpscBlockFull,
    /// The SPSC ring, waiting on its descriptor (an event loop).
    #[value(name = "shm-spsc/fd")]
    ShmSpscFd,
    /// The SPSC ring, waiting with `ipcring::poll` over it and 63 idle rings.
    #[value(name = "shm-spsc/poll64")]
    ShmSpscPoll64,
    /// The SPSC ring, zero-copy (reserve/commit, peek/release), spinning.
    #[value(name = "shm-spsc/zc")]
    ShmSpscZc,
    /// Both modes of the MPMC ring.
    #[value(name = "shm-mpmc")]
    ShmMpmc,
    /// The MPMC ring, spinning.
    #[value(name = "shm-mpmc/spin")]
    ShmMpmcSpin,
    /// The MPMC ring, blocking API.
    #[value(name = "shm-mpmc/block")]
    ShmMpmcBlock,
    /// The MPMC ring, zero-copy (reserve/commit, peek/release), spinning.
    #[value(name = "shm-mpmc/zc")]
    ShmMpmcZc,
    /// pipe://
    Pipe,
    /// fifo://
    Fifo,
    /// mq://
    Mq,
    /// unix://
    Unix,
    /// tcp://
    Tcp,
}

impl Pick {
    fn matches(self, r: Row) -> bool {
        use Transport as T;
        let (t, m) = (r.transport, r.mode);
        match self {
            Pick::ShmSpsc => t == T::ShmSpsc,
            Pick::ShmSpscSpin => t == T::ShmSpsc && m == Mode::Spin && !r.full,
            Pick::ShmSpscBlock => t == T::ShmSpsc && m == Mode::Block && !r.full,
            Pick::ShmSpscSpinFull => t == T::ShmSpsc && m == Mode::Spin && r.full,
            Pick::ShmSpscBlockFull => t == T::ShmSpsc && m == Mode::Block && r.full,
            Pick::ShmSpscFd => t == T::ShmSpsc && m == Mode::Fd,
            Pick::ShmSpscPoll64 => t == T::ShmSpsc && m == Mode::Poll64,
            Pick::ShmSpscZc => t == T::ShmSpsc && m == Mode::Zc,
            Pick::ShmMpmc => t == T::ShmMpmc,
            Pick::ShmMpmcSpin => t == T::ShmMpmc && m == Mode::Spin,
            Pick::ShmMpmcBlock => t == T::ShmMpmc && m == Mode::Block,
            Pick::ShmMpmcZc => t == T::ShmMpmc && m == Mode::Zc,
            Pick::Pipe => t == T::Pipe,
            Pick::Fifo => t == T::Fifo,
            Pick::Mq => t == T::Mq,
            Pick::Unix => t == T::Unix,
            Pick::Tcp => t == T::Tcp,
        }
    }
}

/// The largest message size `--sizes` takes.
const MAX_SIZE: usize = 16 << 20;

/// The default of `--ring-bytes`.
const RING_BYTES: usize = 4 << 20;

/// Parses `8`, `4096`, `4K`, `4KiB`, `1M`, `1MiB` (case-insensitive): a message size.
fn parse_size(s: &str) -> Result<usize, String> {
    parse_bytes(s, 1, MAX_SIZE, "sizes go from 1 byte to 16 MiB")
}

/// `--ring-bytes`: as [`parse_size`], 4 KiB to 1 GiB.
fn parse_ring_bytes(s: &str) -> Result<usize, String> {
    parse_bytes(s, 4 << 10, 1 << 30, "the ring's bytes go from 4 KiB to 1 GiB")
}

/// Parses a byte count with an optional K/KiB/M/MiB suffix, within `min..=max`.
fn parse_bytes(s: &str, min: usize, max: usize, range: &str) -> Result<usize, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("kib").or_else(|| t.strip_suffix('k')) {
        (n, 1024)
    } else if let Some(n) = t.strip_suffix("mib").or_else(|| t.strip_suffix('m')) {
        (n, 1 << 20)
    } else {
        (t.strip_suffix('b').unwrap_or(&t), 1)
    };
    let v: usize = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a size (bytes, or with K/KiB/M/MiB)"))?;
    match v.checked_mul(mult) {
        Some(b) if (min..=max).contains(&b) => Ok(b),
        _ => Err(format!("'{s}': {range}")),
    }
}

/// Everything a run depends on.
pub struct Params {
    /// Rounds.
    pub rounds: u32,
    /// `--quick`.
    pub quick: bool,
    /// Message sizes, ascending.
    pub sizes: Vec<usize>,
    /// Rows, in table order.
    pub rows: Vec<Row>,
    /// The base message count (small messages, kernel transport).
    pub messages: u64,
    /// Bound on one measurement phase.
    pub timeout: Duration,
    /// At most this many bytes of slots per ring (`--ring-bytes`).
    pub ring_bytes: usize,
}

impl Params {
    fn from_args(a: &BenchArgs) -> Params {
        let mut sizes = if a.sizes.is_empty() {
            vec![8, 64, 4096, 1 << 20]
        } else {
            a.sizes.clone()
        };
        sizes.sort_unstable();
        sizes.dedup();
        let rows = Row::ALL
            .iter()
            .copied()
            .filter(|r| a.only.is_empty() || a.only.iter().any(|p| p.matches(*r)))
            .collect();
        Params {
            rounds: a.rounds.unwrap_or(if a.quick { 3 } else { 5 }),
            quick: a.quick,
            sizes,
            rows,
            messages: a.messages.unwrap_or(if a.quick { 50_000 } else { 200_000 }),
            timeout: Duration::from_secs(a.timeout),
            ring_bytes: a.ring_bytes.unwrap_or(RING_BYTES),
        }
    }

    /// Messages per throughput measurement: the base count for small messages, a quarter up
    /// to 64 KiB, then about the base's bytes of 1 MiB messages / 400; ten times that on the
    /// ring up to 64 KiB, four times above (it is that much faster).
    pub fn tp_messages(&self, row: Row, size: usize) -> u64 {
        let m = self.messages as f64;
        let base = if size <= 256 {
            m
        } else if size <= 64 << 10 {
            m / 4.0
        } else {
            m / 400.0 * (1 << 20) as f64 / size as f64
        };
        let ring = match (row.transport.is_ring(), size <= 64 << 10) {
            (false, _) => 1.0,
            (true, true) => 10.0,
            (true, false) => 4.0,
        };
        ((base * ring) as u64).max(8)
    }

    /// Timed round trips per round trip measurement.
    pub fn rt_count(&self, size: usize) -> u64 {
        if size <= 64 << 10 {
            (self.messages / 100).max(10)
        } else {
            (self.messages / 1000).max(4)
        }
    }

    /// Untimed round trips before them (lazy connections, first faults).
    pub fn rt_warm(&self, size: usize) -> u64 {
        (self.rt_count(size) / 10).clamp(2, 100)
    }

    /// Round trips of the cache-line ping-pong.
    pub fn cacheline_count(&self) -> u64 {
        self.messages
    }

    /// Round trips of the futex ping-pong.
    pub fn futex_count(&self) -> u64 {
        (self.messages / 100).max(10)
    }

    /// Bytes memcpy copies per size.
    pub fn memcpy_bytes(&self) -> u64 {
        self.messages * 1280
    }
}

/// One case of a round.
#[derive(Clone, Copy, Debug)]
enum Case {
    Cacheline,
    Futex,
    LamportRtt,
    LamportTp(usize),
    Memcpy(usize),
    Row(Row, usize),
}

impl Case {
    fn label(&self) -> String {
        match self {
            Case::Cacheline => "limit: cache-line ping-pong".into(),
            Case::Futex => "limit: futex ping-pong".into(),
            Case::LamportRtt => "limit: Lamport ring round trip".into(),
            Case::LamportTp(s) => format!("limit: Lamport ring {}", report::size_str(*s)),
            Case::Memcpy(s) => format!("limit: memcpy {}", report::size_str(*s)),
            Case::Row(r, s) => format!("{} {}", r.name(), report::size_str(*s)),
        }
    }
}

/// A case's state over the rounds.
#[derive(Clone, Debug, Default)]
pub enum Status {
    /// Measured (so far).
    #[default]
    Ok,
    /// The machine cannot carry it.
    NotAvailable(String),
    /// It failed.
    Failed(String),
}

/// What the rounds collected for one case.
pub struct Acc {
    /// Ok, n/a or failed.
    pub status: Status,
    /// Throughput, one per round.
    pub tp: Vec<Tp>,
    /// Round trips (all rounds).
    pub rtt: Histogram<u64>,
    /// Per round: CPU ns per round trip.
    pub rtt_cpu: Vec<f64>,
    /// Per round: system calls per round trip.
    pub rtt_sys: Vec<f64>,
    /// memcpy MB/s, one per round.
    pub mbps: Vec<f64>,
    /// Lamport ring msg/s, one per round.
    pub msgs: Vec<f64>,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            status: Status::Ok,
            tp: Vec::new(),
            rtt: limits::new_hist(),
            rtt_cpu: Vec::new(),
            rtt_sys: Vec::new(),
            mbps: Vec::new(),
            msgs: Vec::new(),
        }
    }

    fn fail(&mut self, e: CaseErr) {
        self.status = match e {
            CaseErr::NotAvailable(r) => Status::NotAvailable(r),
            CaseErr::Failed(r) => Status::Failed(r),
        };
    }

    fn add_rtt(&mut self, r: &Rtt) {
        let _ = self.rtt.add(&r.hist);
        self.rtt_cpu.push(r.cpu_ns as f64 / r.n.max(1) as f64);
        self.rtt_sys.push(r.syscalls_per_rt);
    }
}

/// Everything measured.
pub struct Measured {
    /// The cache-line ping-pong.
    pub cacheline: Acc,
    /// The futex ping-pong.
    pub futex: Acc,
    /// The Lamport ring's round trip.
    pub lamport_rtt: Acc,
    /// The Lamport ring's one-way throughput, per size of `limits::LAMPORT_SIZES`.
    pub lamport_tp: Vec<Acc>,
    /// memcpy, per size (`Params::sizes` order).
    pub memcpy: Vec<Acc>,
    /// Per row (`Params::rows` order), per size.
    pub rows: Vec<Vec<Acc>>,
    /// CPUs' worth of time other processes used during the run, on average (from
    /// `/proc/stat` minus the bench's own rusage).
    pub others_cpus: Option<f64>,
}

/// Runs the rounds.
fn measure(p: &Params) -> Measured {
    let mut cases = vec![Case::Cacheline, Case::Futex, Case::LamportRtt];
    cases.extend(limits::LAMPORT_SIZES.iter().map(|&s| Case::LamportTp(s)));
    cases.extend(p.sizes.iter().map(|&s| Case::Memcpy(s)));
    for &r in &p.rows {
        cases.extend(p.sizes.iter().map(|&s| Case::Row(r, s)));
    }
    let mut m = Measured {
        cacheline: Acc::new(),
        futex: Acc::new(),
        lamport_rtt: Acc::new(),
        lamport_tp: limits::LAMPORT_SIZES.iter().map(|_| Acc::new()).collect(),
        memcpy: p.sizes.iter().map(|_| Acc::new()).collect(),
        rows: p
            .rows
            .iter()
            .map(|_| p.sizes.iter().map(|_| Acc::new()).collect())
            .collect(),
        others_cpus: None,
    };
    // No steady tick: that would be a thread, and the bench forks.
    let bar = indicatif::ProgressBar::new(p.rounds as u64 * cases.len() as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed:>4} {msg}") {
        bar.set_style(style);
    }
    let (busy0, ours0, t0) = (proc::machine_busy_ns(), proc::cpu_ns_with_children(), Instant::now());
    for round in 1..=p.rounds {
        for case in &cases {
            bar.set_message(format!("round {round}/{}: {}", p.rounds, case.label()));
            bar.tick();
            run_case(p, *case, &mut m);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    // What other processes ran meanwhile: the machine's busy time minus the bench's own.
    if let (Some(b0), Some(b1)) = (busy0, proc::machine_busy_ns()) {
        let ours = proc::cpu_ns_with_children().saturating_sub(ours0);
        let wall = t0.elapsed().as_nanos().max(1) as f64;
        m.others_cpus = Some(b1.saturating_sub(b0).saturating_sub(ours) as f64 / wall);
    }
    m
}

/// Runs one case once, unless an earlier round found it n/a or failed.
fn run_case(p: &Params, case: Case, m: &mut Measured) {
    let si = |s: usize| p.sizes.iter().position(|&x| x == s).expect("a planned size");
    let acc = match case {
        Case::Cacheline => &mut m.cacheline,
        Case::Futex => &mut m.futex,
        Case::LamportRtt => &mut m.lamport_rtt,
        Case::LamportTp(s) => {
            let k = limits::LAMPORT_SIZES
                .iter()
                .position(|&x| x == s)
                .expect("a Lamport size");
            &mut m.lamport_tp[k]
        }
        Case::Memcpy(s) => &mut m.memcpy[si(s)],
        Case::Row(r, s) => {
            let ri = p.rows.iter().position(|&x| x == r).expect("a planned row");
            &mut m.rows[ri][si(s)]
        }
    };
    if !matches!(acc.status, Status::Ok) {
        return;
    }
    let ping = |r: Result<limits::PingPong, String>, acc: &mut Acc| match r {
        Ok(pp) => {
            let _ = acc.rtt.add(&pp.hist);
            acc.rtt_cpu.push(pp.cpu_ns as f64 / pp.n.max(1) as f64);
            acc.rtt_sys.push(pp.syscalls as f64 / pp.n.max(1) as f64);
        }
        Err(e) => acc.fail(CaseErr::Failed(e)),
    };
    let warm = |n: u64| (n / 10).clamp(10, 1000);
    match case {
        Case::Cacheline => {
            let n = p.cacheline_count();
            ping(limits::cacheline(n, warm(n), p.timeout), acc)
        }
        Case::Futex => {
            let n = p.futex_count();
            ping(limits::futex(n, warm(n), p.timeout), acc)
        }
        Case::LamportRtt => {
            let n = p.cacheline_count();
            ping(limits::lamport_rtt(n, warm(n), p.timeout), acc)
        }
        Case::LamportTp(s) => {
            // As many messages as the ring rows send at small sizes.
            let n = p.messages * 10;
            match limits::lamport_tp(s, n, warm(n), p.timeout) {
                Ok(v) => acc.msgs.push(v),
                Err(e) => acc.fail(CaseErr::Failed(e)),
            }
        }
        Case::Memcpy(s) => match limits::memcpy(s, p.memcpy_bytes()) {
            Ok(v) => acc.mbps.push(v),
            Err(e) => acc.fail(CaseErr::Failed(e)),
        },
        Case::Row(r, s) => {
            let res = cases::throughput(r, s, p.tp_messages(r, s), p.timeout).and_then(|tp| {
                let rtt = cases::roundtrip(r, s, p.rt_count(s), p.rt_warm(s), p.timeout)?;
                Ok((tp, rtt))
            });
            match res {
                Ok((tp, rtt)) => {
                    acc.tp.push(tp);
                    acc.add_rtt(&rtt);
                }
                Err(e) => acc.fail(e),
            }
        }
    }
}

/// Runs the benchmark.
pub fn run(a: &BenchArgs) -> CmdResult {
    if a.nats {
        return nats::run(a);
    }
    let p = Params::from_args(a);
    // Fail before a long run, not after, if the plot cannot be written.
    let svg_file = match &a.svg {
        Some(path) => Some((
            path,
            std::fs::File::create(path)
                .map_err(|e| Fail::new(exit::FAILED, format!("bench: --svg {}: {e}", path.display())))?,
        )),
        None => None,
    };
    cleanup::install_signal_cleanup();
    cases::init(p.ring_bytes);
    let started = Instant::now();
    let m = measure(&p);
    let rep = report::build(&p, &m, started.elapsed());
    if let Some((path, mut f)) = svg_file {
        use std::io::Write;
        f.write_all(report::svg(&rep).as_bytes())
            .map_err(|e| Fail::new(exit::FAILED, format!("bench: --svg {}: {e}", path.display())))?;
    }
    // With --json, stdout is the JSON alone and the table goes to stderr (still readable
    // with `ipcring bench --json > result.json`).
    let table = report::table(&rep);
    let out = if a.json {
        let _ = std::io::Write::write_all(&mut std::io::stderr(), table.as_bytes());
        let mut s = serde_json::to_string_pretty(&report::json(&rep)).expect("a JSON value serialises");
        s.push('\n');
        s
    } else {
        table
    };
    {
        use std::io::Write;
        let mut so = std::io::stdout().lock();
        match so.write_all(out.as_bytes()).and_then(|_| so.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => return Err(Fail::new(exit::FAILED, format!("bench: stdout: {e}"))),
        }
    }
    match rep.failed() {
        0 => Ok(()),
        n => Err(Fail::new(
            exit::FAILED,
            format!("bench: {n} case(s) failed (see their rows)"),
        )),
    }
}
