//! The results: medians and ratios ([`build`]), then three renderings of them: the table on
//! stdout ([`table`]), the JSON document ([`json`]; its schema is in the module docs of
//! `bench`) and a hand-written SVG plot ([`svg`]).

use super::cases::{ring_capacity, Mode, Row};
use super::{Acc, Measured, Params, Status};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::time::Duration;

/// The machine the run measured.
pub struct Machine {
    /// CPUs this process may run on.
    pub cores: usize,
    /// `uname`: system, release, version, machine.
    pub kernel: String,
    /// The CPU's model name (`/proc/cpuinfo`), if known.
    pub cpu: Option<String>,
    /// `fs.mqueue.msgsize_max`, if readable.
    pub mq_msgsize_max: Option<u64>,
    /// CPUs' worth of other processes' work during the run, on average.
    pub others_cpus: Option<f64>,
}

impl Machine {
    fn probe(others_cpus: Option<f64>) -> Machine {
        // SAFETY: an all-zero utsname is a valid value for uname to fill in.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: u is a valid out-pointer.
        let kernel = if unsafe { libc::uname(&mut u) } == 0 {
            let f = |b: &[libc::c_char]| {
                let bytes: Vec<u8> = b.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            };
            format!(
                "{} {} {} {}",
                f(&u.sysname),
                f(&u.release),
                f(&u.version),
                f(&u.machine)
            )
        } else {
            "unknown".into()
        };
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel,
            cpu: std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            }),
            mq_msgsize_max: std::fs::read_to_string("/proc/sys/fs/mqueue/msgsize_max")
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            others_cpus,
        }
    }

    /// `Linux 6.18.44 x86_64` (system, release, machine).
    fn short(&self) -> String {
        let w: Vec<&str> = self.kernel.split_whitespace().collect();
        match (w.first(), w.get(1), w.last()) {
            (Some(s), Some(r), Some(m)) if w.len() >= 3 => format!("{s} {r} {m}"),
            _ => self.kernel.clone(),
        }
    }
}

/// A ping-pong limit's figures.
pub struct LimitRes {
    /// Ok, n/a, failed.
    pub status: Status,
    /// Round-trip p50 / p99, ns.
    pub p50: u64,
    /// ...
    pub p99: u64,
    /// Round trips recorded.
    pub samples: u64,
    /// Median CPU per round trip, ns (both processes).
    pub cpu: f64,
    /// Median system calls per round trip (both processes).
    pub sys: f64,
}

/// The Lamport reference ring's one-way throughput at one size.
pub struct LamportTp {
    /// Bytes per message.
    pub size: usize,
    /// Ok or failed.
    pub status: Status,
    /// Median msg/s.
    pub msgs: f64,
    /// Max/min over rounds.
    pub spread: f64,
}

/// The spinning SPSC ring (`shm-spsc/spin`) against the Lamport reference ring, measured in
/// the same run: each ratio is the ring's figure over the Lamport ring's (`None` where either
/// side is missing).
pub struct VsLamport {
    /// Round-trip p50 over the Lamport round trip's (lower is better).
    pub rtt: Option<f64>,
    /// One-way msg/s over the Lamport ring's, per size of `limits::LAMPORT_SIZES` (higher is
    /// better).
    pub tp: Vec<(usize, Option<f64>)>,
}

/// memcpy at one size.
pub struct MemRes {
    /// Bytes per copy.
    pub size: usize,
    /// Ok or failed.
    pub status: Status,
    /// Median MB/s.
    pub mbps: f64,
    /// Max/min over rounds.
    pub spread: f64,
    /// MB/s per round.
    pub per_round: Vec<f64>,
}

/// Throughput figures of a row at a size.
pub struct TpRes {
    /// Messages per measurement.
    pub messages: u64,
    /// Median msg/s.
    pub msgs: f64,
    /// Median MB/s.
    pub mbps: f64,
    /// Max/min of msg/s over rounds.
    pub spread: f64,
    /// msg/s per round.
    pub per_round: Vec<f64>,
    /// Median system calls per message.
    pub sys: f64,
    /// Median CPU per message, ns.
    pub cpu: f64,
}

/// Round-trip figures of a row at a size.
pub struct RttRes {
    /// ns.
    pub p50: u64,
    /// ns.
    pub p99: u64,
    /// Round trips recorded.
    pub samples: u64,
    /// Median system calls per round trip.
    pub sys: f64,
    /// Median CPU per round trip, ns.
    pub cpu: f64,
}

/// A row at a size.
pub struct RowRes {
    /// Which row.
    pub row: Row,
    /// Message size.
    pub size: usize,
    /// Ok, n/a, failed.
    pub status: Status,
    /// If measured.
    pub tp: Option<TpRes>,
    /// If measured.
    pub rtt: Option<RttRes>,
    /// Round-trip p50 over the matching limit's, and which limit.
    pub vs_limit: Option<(f64, &'static str)>,
    /// MB/s over memcpy's at this size.
    pub vs_memcpy: Option<f64>,
    /// The reference row's msg/s over this one's (at the reference size only).
    pub ring_over: Option<f64>,
}

impl RowRes {
    fn status_ok(&self) -> bool {
        matches!(self.status, Status::Ok)
    }
}

/// Everything the renderings show.
pub struct Report<'a> {
    /// The parameters of the run.
    pub p: &'a Params,
    /// The machine.
    pub machine: Machine,
    /// Wall time of the measurements.
    pub elapsed: Duration,
    /// Cache-line ping-pong.
    pub cacheline: LimitRes,
    /// Futex ping-pong.
    pub futex: LimitRes,
    /// The Lamport reference ring's round trip.
    pub lamport_rtt: LimitRes,
    /// The Lamport reference ring's one-way throughput per size.
    pub lamport_tp: Vec<LamportTp>,
    /// `shm-spsc/spin` over the Lamport ring.
    pub vs_lamport: VsLamport,
    /// The same for `shm-spsc/spin-full` (the ring with a SeqCst fence per message).
    pub full_vs_lamport: VsLamport,
    /// memcpy per size.
    pub memcpy: Vec<MemRes>,
    /// Rows, row-major then size.
    pub rows: Vec<RowRes>,
    /// Index in `rows` of the reference (the ring at the smallest size).
    pub reference: Option<usize>,
}

impl Report<'_> {
    /// Failed cases (limits included).
    pub fn failed(&self) -> usize {
        let f = |s: &Status| matches!(s, Status::Failed(_)) as usize;
        f(&self.cacheline.status)
            + f(&self.futex.status)
            + f(&self.lamport_rtt.status)
            + self.lamport_tp.iter().map(|m| f(&m.status)).sum::<usize>()
            + self.memcpy.iter().map(|m| f(&m.status)).sum::<usize>()
            + self.rows.iter().map(|r| f(&r.status)).sum::<usize>()
    }
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let k = s.len() / 2;
    if s.len() % 2 == 1 {
        s[k]
    } else {
        (s[k - 1] + s[k]) / 2.0
    }
}

fn spread(v: &[f64]) -> f64 {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    if lo > 0.0 {
        hi / lo
    } else {
        f64::NAN
    }
}

/// A status that is Ok but has nothing measured (cannot happen with at least one round)
/// reads as a failure rather than as zeros.
fn settled(a: &Acc, measured: bool) -> Status {
    match (&a.status, measured) {
        (Status::Ok, false) => Status::Failed("nothing was measured".into()),
        (s, _) => s.clone(),
    }
}

fn limit(a: &Acc) -> LimitRes {
    let status = settled(a, !a.rtt.is_empty());
    let ok = matches!(status, Status::Ok);
    LimitRes {
        p50: if ok { a.rtt.value_at_quantile(0.5) } else { 0 },
        p99: if ok { a.rtt.value_at_quantile(0.99) } else { 0 },
        samples: a.rtt.len(),
        cpu: median(&a.rtt_cpu),
        sys: median(&a.rtt_sys),
        status,
    }
}

/// Medians, spreads and ratios.
pub fn build<'a>(p: &'a Params, m: &Measured, elapsed: Duration) -> Report<'a> {
    let cacheline = limit(&m.cacheline);
    let futex = limit(&m.futex);
    let lamport_rtt = limit(&m.lamport_rtt);
    let lamport_tp: Vec<LamportTp> = crate::bench::limits::LAMPORT_SIZES
        .iter()
        .zip(&m.lamport_tp)
        .map(|(&size, a)| LamportTp {
            size,
            status: settled(a, !a.msgs.is_empty()),
            msgs: median(&a.msgs),
            spread: spread(&a.msgs),
        })
        .collect();
    let memcpy: Vec<MemRes> = p
        .sizes
        .iter()
        .zip(&m.memcpy)
        .map(|(&size, a)| MemRes {
            size,
            status: settled(a, !a.mbps.is_empty()),
            mbps: median(&a.mbps),
            spread: spread(&a.mbps),
            per_round: a.mbps.clone(),
        })
        .collect();
    let mut rows = Vec::new();
    for (ri, &row) in p.rows.iter().enumerate() {
        for (si, &size) in p.sizes.iter().enumerate() {
            let a = &m.rows[ri][si];
            let status = settled(a, !a.tp.is_empty() && !a.rtt.is_empty());
            let ok = matches!(status, Status::Ok);
            let tp = ok.then(|| {
                let per_round: Vec<f64> = a.tp.iter().map(|t| t.n as f64 / t.secs).collect();
                let msgs = median(&per_round);
                TpRes {
                    messages: a.tp[0].n,
                    msgs,
                    mbps: msgs * size as f64 / 1e6,
                    spread: spread(&per_round),
                    sys: median(&a.tp.iter().map(|t| t.syscalls_per_msg).collect::<Vec<_>>()),
                    cpu: median(&a.tp.iter().map(|t| t.cpu_ns as f64 / t.n as f64).collect::<Vec<_>>()),
                    per_round,
                }
            });
            let rtt = ok.then(|| RttRes {
                p50: a.rtt.value_at_quantile(0.5),
                p99: a.rtt.value_at_quantile(0.99),
                samples: a.rtt.len(),
                sys: median(&a.rtt_sys),
                cpu: median(&a.rtt_cpu),
            });
            let (lim, lname) = match row.mode {
                Mode::Spin | Mode::Zc => (&cacheline, "cacheline"),
                Mode::Block | Mode::Fd | Mode::Poll64 => (&futex, "futex"),
            };
            let vs_limit = match (&rtt, &lim.status) {
                (Some(r), Status::Ok) if lim.p50 > 0 => Some((r.p50 as f64 / lim.p50 as f64, lname)),
                _ => None,
            };
            let mem = &memcpy[si];
            let vs_memcpy = match (&tp, &mem.status) {
                (Some(t), Status::Ok) if mem.mbps > 0.0 => Some(t.mbps / mem.mbps),
                _ => None,
            };
            rows.push(RowRes {
                row,
                size,
                status,
                tp,
                rtt,
                vs_limit,
                vs_memcpy,
                ring_over: None,
            });
        }
    }
    // The reference: the ring with its blocking API (else spinning) at the smallest size.
    let small = p.sizes[0];
    let reference = ["shm-spsc/block", "shm-spsc/spin"].iter().find_map(|name| {
        rows.iter()
            .position(|r| r.row.name() == *name && r.size == small && r.tp.is_some())
    });
    if let Some(k) = reference {
        let base = rows[k].tp.as_ref().map_or(f64::NAN, |t| t.msgs);
        for r in rows.iter_mut().filter(|r| r.size == small) {
            r.ring_over = r.tp.as_ref().map(|t| base / t.msgs);
        }
    }
    let over_lamport = |name: &str| {
        let spin = |size: usize| {
            rows.iter()
                .find(|r| r.row.name() == name && r.size == size && r.status_ok())
        };
        VsLamport {
            rtt: match (spin(p.sizes[0]).and_then(|r| r.rtt.as_ref()), &lamport_rtt.status) {
                (Some(rt), Status::Ok) if lamport_rtt.p50 > 0 => Some(rt.p50 as f64 / lamport_rtt.p50 as f64),
                _ => None,
            },
            tp: lamport_tp
                .iter()
                .map(|l| {
                    let ring = spin(l.size).and_then(|r| r.tp.as_ref());
                    let x = match (ring, &l.status) {
                        (Some(t), Status::Ok) if l.msgs > 0.0 => Some(t.msgs / l.msgs),
                        _ => None,
                    };
                    (l.size, x)
                })
                .collect(),
        }
    };
    let vs_lamport = over_lamport("shm-spsc/spin");
    let full_vs_lamport = over_lamport("shm-spsc/spin-full");
    Report {
        p,
        machine: Machine::probe(m.others_cpus),
        elapsed,
        cacheline,
        futex,
        lamport_rtt,
        lamport_tp,
        vs_lamport,
        full_vs_lamport,
        memcpy,
        rows,
        reference,
    }
}

// ---------------------------------------------------------------------------------------------
// Number formats.

/// `8 B`, `4 KiB`, `1 MiB`, `1000 B`.
pub fn size_str(s: usize) -> String {
    if s >= 1 << 20 && s % (1 << 20) == 0 {
        format!("{} MiB", s >> 20)
    } else if s >= 1024 && s % 1024 == 0 {
        format!("{} KiB", s >> 10)
    } else {
        format!("{s} B")
    }
}

/// Three significant digits with k / M / G.
fn si(x: f64) -> String {
    let (v, u) = if x >= 1e9 {
        (x / 1e9, " G")
    } else if x >= 1e6 {
        (x / 1e6, " M")
    } else if x >= 1e3 {
        (x / 1e3, " k")
    } else {
        (x, "")
    };
    format!("{}{u}", sig3(v))
}

/// Three significant digits.
fn sig3(v: f64) -> String {
    // Decided on the rounded value, so that 99.97 reads 100, not 100.0.
    if v >= 99.95 {
        format!("{v:.0}")
    } else if v >= 9.995 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A bandwidth in MB/s: thousands separated from 1000, one decimal below.
fn mb(x: f64) -> String {
    if x >= 1000.0 {
        let s = format!("{x:.0}");
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if x >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// A duration in ns, µs or ms.
fn dur(ns: f64) -> String {
    if ns < 1000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{} µs", sig3(ns / 1e3))
    } else if ns < 1e9 {
        format!("{} ms", sig3(ns / 1e6))
    } else {
        format!("{} s", sig3(ns / 1e9))
    }
}

/// A ratio: `2.04x`, `28.3x`, `112x`.
fn ratio(x: f64) -> String {
    format!("{}x", sig3(x))
}

fn elapsed_str(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

// ---------------------------------------------------------------------------------------------
// The table.

/// The table for stdout.
pub fn table(r: &Report) -> String {
    let p = r.p;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "ipcring bench: {} cores, {}; {} round{} interleaved, medians over rounds; rings of at most {} of \
         slots; {}",
        r.machine.cores,
        r.machine.short(),
        p.rounds,
        if p.rounds == 1 { "" } else { "s" },
        size_str(p.ring_bytes),
        elapsed_str(r.elapsed)
    );
    if let Some(x) = r.machine.others_cpus.filter(|&x| x >= 0.1) {
        let _ = writeln!(
            o,
            "warning: other processes kept {x:.2} CPUs busy on average during the run; spinning rows \
             (and the cache-line limit) degrade badly when a third process competes for {} cores",
            r.machine.cores
        );
    }
    let _ = writeln!(o, "\nlimits, measured in the same run");
    let lim = |o: &mut String, what: &str, l: &LimitRes, sys: bool| {
        let _ = match &l.status {
            Status::Ok => writeln!(
                o,
                "  {what:<58} rtt p50 {:>9}  p99 {:>9}  {}CPU {}/rt",
                dur(l.p50 as f64),
                dur(l.p99 as f64),
                if sys {
                    format!("{:.2} syscalls/rt  ", l.sys)
                } else {
                    String::new()
                },
                dur(l.cpu)
            ),
            Status::NotAvailable(why) => writeln!(o, "  {what:<58} n/a: {why}"),
            Status::Failed(why) => writeln!(o, "  {what:<58} error: {why}"),
        };
    };
    lim(
        &mut o,
        "cache-line ping-pong (2 processes spinning, MAP_SHARED)",
        &r.cacheline,
        false,
    );
    lim(
        &mut o,
        "futex ping-pong (2 processes, FUTEX_WAIT/WAKE, no spin)",
        &r.futex,
        true,
    );
    lim(
        &mut o,
        "Lamport ring round trip (2 processes spinning, 8 B)",
        &r.lamport_rtt,
        false,
    );
    let mut line = format!("  {:<58}", "Lamport ring one way (64-byte slots, spinning)");
    for l in &r.lamport_tp {
        let _ = match &l.status {
            Status::Ok => write!(
                line,
                " {}: {} msg/s (spread {}) ",
                size_str(l.size),
                si(l.msgs),
                ratio(l.spread)
            ),
            Status::NotAvailable(why) | Status::Failed(why) => write!(line, " {}: error: {why} ", size_str(l.size)),
        };
    }
    let _ = writeln!(o, "{}", line.trim_end());
    for (label, vs) in [
        ("shm-spsc/spin over the Lamport ring", &r.vs_lamport),
        ("shm-spsc/spin-full over the Lamport ring", &r.full_vs_lamport),
    ] {
        let mut line = format!("  {:<58}", label);
        if let Some(x) = vs.rtt {
            let _ = write!(line, " rtt {} ", ratio(x));
        }
        for (size, x) in &vs.tp {
            if let Some(x) = x {
                let _ = write!(line, " {} msg/s {} ", size_str(*size), ratio(*x));
            }
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
    let mut line = format!("  {:<58}", "memcpy (1 thread)");
    for m in &r.memcpy {
        let _ = match &m.status {
            Status::Ok => write!(line, " {}: {} MB/s ", size_str(m.size), mb(m.mbps)),
            Status::NotAvailable(why) | Status::Failed(why) => write!(line, " {}: error: {why} ", size_str(m.size)),
        };
    }
    let _ = writeln!(o, "{}", line.trim_end());

    let _ = writeln!(
        o,
        "\n{:<15} {:>6} {:>9} {:>7} {:>10} {:>8} {:>10} {:>10} {:>10} {:>8} {:>9}",
        "row", "size", "msg/s", "spread", "MB/s", "/memcpy", "rtt p50", "rtt p99", "/limit", "sys/msg", "CPU/msg"
    );
    let _ = writeln!(o, "{}", "-".repeat(110));
    for row in &r.rows {
        let head = format!("{:<15} {:>6}", row.row.name(), size_str(row.size));
        match (&row.status, &row.tp, &row.rtt) {
            (Status::Ok, Some(t), Some(rt)) => {
                let _ = writeln!(
                    o,
                    "{head} {:>9} {:>7} {:>10} {:>8} {:>10} {:>10} {:>10} {:>8.2} {:>9}",
                    si(t.msgs),
                    ratio(t.spread),
                    mb(t.mbps),
                    row.vs_memcpy.map_or("-".into(), ratio),
                    dur(rt.p50 as f64),
                    dur(rt.p99 as f64),
                    row.vs_limit.map_or("-".into(), |(x, l)| format!(
                        "{} {}",
                        ratio(x),
                        if l == "cacheline" { "cl" } else { "fx" }
                    )),
                    t.sys,
                    dur(t.cpu)
                );
            }
            (Status::NotAvailable(why), _, _) => {
                let _ = writeln!(o, "{head}  n/a: {why}");
            }
            (Status::Failed(why), _, _) => {
                let _ = writeln!(o, "{head}  error: {why}");
            }
            _ => {
                let _ = writeln!(o, "{head}  error: incomplete figures");
            }
        }
    }
    if let Some(k) = r.reference {
        let base = &r.rows[k];
        let bt = base.tp.as_ref().expect("the reference was measured");
        let others: Vec<&RowRes> = r
            .rows
            .iter()
            .filter(|x| x.size == base.size && x.row != base.row && x.ring_over.is_some())
            .collect();
        if !others.is_empty() {
            let _ = writeln!(
                o,
                "\n{} throughput, the ring ({}: {} msg/s) over each:",
                size_str(base.size),
                base.row.name(),
                si(bt.msgs)
            );
            for x in others {
                let t = x.tp.as_ref().expect("ring_over implies figures");
                let _ = writeln!(
                    o,
                    "  ring / {:<15} = {:>7}   ({} msg/s)",
                    x.row.name(),
                    ratio(x.ring_over.unwrap_or(f64::NAN)),
                    si(t.msgs)
                );
            }
        }
    }
    let _ = writeln!(
        o,
        "\nmsg/s, MB/s: one way, a forked child sending, the bench receiving and checking every message \
         (MB = 10^6 bytes); spread: max/min over rounds; /memcpy: MB/s over one thread's memcpy at that size.\n\
         rtt: round trip (the child echoes on a second channel), p50/p99 over all rounds; /limit: p50 over the \
         cache-line ping-pong's (cl, spin and zc rows) or the futex ping-pong's (fx, blocking rows).\n\
         zc rows: zero-copy (the sender reserves a slot, copies its message in and commits; the receiver peeks, \
         checks the stamps in place and releases: one payload copy, and the payload is not read out).\n\
         sys/msg: system calls per message, both processes, from the endpoints' own statistics (every call on \
         the message path: sleeps, wake-ups, liveness checks, reads, writes, polls); CPU/msg: user + system \
         time of both processes per message."
    );
    o
}

// ---------------------------------------------------------------------------------------------
// JSON.

fn status_json(s: &Status) -> (Value, Value) {
    match s {
        Status::Ok => (json!("ok"), Value::Null),
        Status::NotAvailable(why) => (json!("n/a"), json!(why)),
        Status::Failed(why) => (json!("error"), json!(why)),
    }
}

/// A finite number, or null.
fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn limit_json(l: &LimitRes) -> Value {
    let (status, reason) = status_json(&l.status);
    let ok = matches!(l.status, Status::Ok);
    json!({
        "status": status,
        "reason": reason,
        "rtt_p50_ns": if ok { json!(l.p50) } else { Value::Null },
        "rtt_p99_ns": if ok { json!(l.p99) } else { Value::Null },
        "samples": l.samples,
        "cpu_ns_per_rt": if ok { num(l.cpu) } else { Value::Null },
        "syscalls_per_rt": if ok { num(l.sys) } else { Value::Null },
    })
}

/// The whole result (schema in the `bench` module docs).
pub fn json(r: &Report) -> Value {
    let p = r.p;
    let cases: Vec<Value> = p
        .rows
        .iter()
        .flat_map(|&row| {
            p.sizes.iter().map(move |&size| {
                json!({
                    "row": row.name(),
                    "size": size,
                    "messages": p.tp_messages(row, size),
                    "round_trips": p.rt_count(size),
                    "warm_up": p.rt_warm(size),
                    "capacity": row.transport.is_ring().then(|| ring_capacity(size)),
                })
            })
        })
        .collect();
    let memcpy: Vec<Value> = r
        .memcpy
        .iter()
        .map(|m| {
            let (status, reason) = status_json(&m.status);
            let ok = matches!(m.status, Status::Ok);
            json!({
                "size": m.size,
                "status": status,
                "reason": reason,
                "mb_per_s": if ok { num(m.mbps) } else { Value::Null },
                "spread": if ok { num(m.spread) } else { Value::Null },
                "per_round": m.per_round,
            })
        })
        .collect();
    let rows: Vec<Value> = r
        .rows
        .iter()
        .map(|x| {
            let (status, reason) = status_json(&x.status);
            json!({
                "row": x.row.name(),
                "transport": x.row.transport.name(),
                "mode": x.row.mode.name(),
                "fence": if x.row.transport.is_ring() { Some(if x.row.full { "full" } else { "default" }) } else { None },
                "size": x.size,
                "status": status,
                "reason": reason,
                "throughput": x.tp.as_ref().map(|t| json!({
                    "messages": t.messages,
                    "msg_per_s": num(t.msgs),
                    "mb_per_s": num(t.mbps),
                    "spread": num(t.spread),
                    "per_round": t.per_round,
                    "syscalls_per_msg": num(t.sys),
                    "cpu_ns_per_msg": num(t.cpu),
                })),
                "round_trip": x.rtt.as_ref().map(|t| json!({
                    "p50_ns": t.p50,
                    "p99_ns": t.p99,
                    "samples": t.samples,
                    "syscalls_per_rt": num(t.sys),
                    "cpu_ns_per_rt": num(t.cpu),
                })),
                "ratios": {
                    "rtt_vs_limit": x.vs_limit.map(|(v, _)| num(v)),
                    "limit": if matches!(x.row.mode, Mode::Spin | Mode::Zc) { "cacheline" } else { "futex" },
                    "mb_per_s_vs_memcpy": x.vs_memcpy.map(num),
                    "ring_over_this": x.ring_over.map(num),
                },
            })
        })
        .collect();
    json!({
        "schema": "ipcring-bench/1",
        "machine": {
            "cores": r.machine.cores,
            "kernel": r.machine.kernel,
            "cpu": r.machine.cpu,
            "mq_msgsize_max": r.machine.mq_msgsize_max,
            "other_load_cpus": r.machine.others_cpus.map(num),
        },
        "parameters": {
            "rounds": p.rounds,
            "quick": p.quick,
            "sizes": p.sizes,
            "rows": p.rows.iter().map(|r| r.name()).collect::<Vec<_>>(),
            "messages": p.messages,
            "timeout_s": p.timeout.as_secs(),
            "ring_bytes": p.ring_bytes,
            "cases": cases,
            "limits": {
                "cacheline_round_trips": p.cacheline_count(),
                "futex_round_trips": p.futex_count(),
                "memcpy_bytes": p.memcpy_bytes(),
            },
        },
        "elapsed_s": r.elapsed.as_secs_f64(),
        "limits": {
            "cacheline": limit_json(&r.cacheline),
            "futex": limit_json(&r.futex),
            "lamport_rtt": limit_json(&r.lamport_rtt),
            "lamport": r.lamport_tp.iter().map(|l| {
                let (status, reason) = status_json(&l.status);
                let ok = matches!(l.status, Status::Ok);
                json!({
                    "size": l.size,
                    "status": status,
                    "reason": reason,
                    "msgs_per_s": if ok { num(l.msgs) } else { Value::Null },
                    "spread": if ok { num(l.spread) } else { Value::Null },
                })
            }).collect::<Vec<_>>(),
            "memcpy": memcpy,
        },
        "rows": rows,
        "spsc_spin_over_lamport": {
            "rtt": r.vs_lamport.rtt.map(num),
            "msgs_per_s": r.vs_lamport.tp.iter().map(|(size, x)| json!({ "size": size, "ratio": x.map(num) })).collect::<Vec<_>>(),
        },
        "spsc_spin_full_over_lamport": {
            "rtt": r.full_vs_lamport.rtt.map(num),
            "msgs_per_s": r.full_vs_lamport.tp.iter().map(|(size, x)| json!({ "size": size, "ratio": x.map(num) })).collect::<Vec<_>>(),
        },
        "reference": r.reference.map(|k| json!({ "row": r.rows[k].row.name(), "size": r.rows[k].size })),
        "failed": r.failed(),
    })
}

// ---------------------------------------------------------------------------------------------
// SVG.

/// One colour per size, in size order (then repeating).
const COLOURS: [&str; 6] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1"];
const LIMIT_COLOUR: &str = "#9c9c9c";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One bar of a panel: a value, or a short note where there is none.
enum Bar {
    Value(f64, &'static str),
    Note(&'static str),
}

/// A group of bars under one label.
struct Group {
    label: String,
    bars: Vec<Bar>,
}

/// Draws one log-scale bar panel at vertical offset `top`; returns its height.
fn panel(o: &mut String, top: f64, width: f64, title: &str, unit: &str, groups: &[Group], slots: usize) -> f64 {
    const LEFT: f64 = 70.0;
    const PLOT_H: f64 = 260.0;
    const LABEL_H: f64 = 90.0;
    let values: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.bars.iter())
        .filter_map(|b| match b {
            Bar::Value(v, _) if *v > 0.0 && v.is_finite() => Some(*v),
            _ => None,
        })
        .collect();
    let (lo, hi) = if values.is_empty() {
        (0.0, 1.0)
    } else {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min).log10().floor();
        let hi = values.iter().copied().fold(0.0, f64::max).log10().ceil();
        (lo, if hi > lo { hi } else { lo + 1.0 })
    };
    let y_of = |v: f64| top + 30.0 + PLOT_H * (1.0 - (v.log10() - lo) / (hi - lo));
    let base = top + 30.0 + PLOT_H;
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="{:.1}" font-size="14" font-weight="bold">{}</text>"#,
        top + 18.0,
        esc(title)
    );
    for d in (lo as i32)..=(hi as i32) {
        let y = y_of(10f64.powi(d));
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            width - 20.0,
            LEFT - 6.0,
            y + 4.0,
            esc(&decade(d, unit))
        );
    }
    let _ = writeln!(
        o,
        r##"<line x1="{LEFT}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="#333"/>"##,
        width - 20.0
    );
    let bar_w = 13.0;
    let group_w = slots as f64 * bar_w + 18.0;
    for (gi, g) in groups.iter().enumerate() {
        let gx = LEFT + 10.0 + gi as f64 * group_w;
        let off = (slots - g.bars.len().min(slots)) as f64 * bar_w / 2.0;
        for (bi, b) in g.bars.iter().enumerate() {
            let x = gx + off + bi as f64 * bar_w;
            match b {
                Bar::Value(v, colour) if *v > 0.0 && v.is_finite() => {
                    let y = y_of(*v);
                    let _ = writeln!(
                        o,
                        r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{} {}</title></rect>"#,
                        bar_w - 2.0,
                        (base - y).max(0.5),
                        esc(&g.label),
                        esc(&value_label(*v, unit))
                    );
                }
                Bar::Value(..) => {}
                Bar::Note(n) => {
                    let _ = writeln!(
                        o,
                        r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#666" transform="rotate(-90 {:.1} {:.1})">{n}</text>"##,
                        x + 9.0,
                        base - 4.0,
                        x + 9.0,
                        base - 4.0
                    );
                }
            }
        }
        let lx = gx + group_w / 2.0 - 9.0;
        let ly = base + 14.0;
        let _ = writeln!(
            o,
            r#"<text x="{lx:.1}" y="{ly:.1}" font-size="11" text-anchor="end" transform="rotate(-35 {lx:.1} {ly:.1})">{}</text>"#,
            esc(&g.label)
        );
    }
    30.0 + PLOT_H + LABEL_H
}

/// An axis label for 10^d: `100 ns`, `1 µs`, `10 k`, `0.1`.
fn decade(d: i32, unit: &str) -> String {
    let units: &[&str] = if unit == "ns" {
        &["ns", "µs", "ms", "s"]
    } else {
        &["", "k", "M", "G", "T"]
    };
    if d < 0 {
        return format!("{}", 10f64.powi(d));
    }
    let k = ((d / 3) as usize).min(units.len() - 1);
    let v = 10u64.pow((d - 3 * k as i32) as u32);
    format!("{v} {}", units[k]).trim_end().to_string()
}

fn value_label(v: f64, unit: &str) -> String {
    match unit {
        "ns" => dur(v),
        u => format!("{} {u}", mb(v)),
    }
}

/// Sizes below this are "small": the plot shows their throughput in msg/s, the others' in
/// MB/s.
const SMALL: usize = 4096;

/// The plot: one-way throughput per row and size against the memcpy limit at that size, in
/// msg/s for small messages and MB/s for large ones, and round-trip p50 per row and size
/// against the two ping-pong limits; log axes. The title names the version and the machine.
pub fn svg(r: &Report) -> String {
    let p = r.p;
    let colour = |si: usize| COLOURS[si % COLOURS.len()];
    let note = |s: &Status| match s {
        Status::NotAvailable(_) => Bar::Note("n/a"),
        _ => Bar::Note("error"),
    };
    // The sizes of each throughput panel, as indexes into `p.sizes` (colours follow them).
    let small: Vec<usize> = (0..p.sizes.len()).filter(|&i| p.sizes[i] < SMALL).collect();
    let large: Vec<usize> = (0..p.sizes.len()).filter(|&i| p.sizes[i] >= SMALL).collect();
    let row_bars = |row: Row, which: &[usize], f: &dyn Fn(&RowRes) -> Option<f64>| -> Vec<Bar> {
        which
            .iter()
            .filter_map(|&si| {
                let x = r.rows.iter().find(|x| x.row == row && x.size == p.sizes[si])?;
                Some(match f(x) {
                    Some(v) => Bar::Value(v, colour(si)),
                    None => note(&x.status),
                })
            })
            .collect()
    };
    // memcpy at a size, in msg/s (`per_msg`) or MB/s.
    let memcpy_bars = |which: &[usize], per_msg: bool| -> Vec<Bar> {
        which
            .iter()
            .map(|&si| {
                let m = &r.memcpy[si];
                match m.status {
                    Status::Ok if per_msg => Bar::Value(m.mbps * 1e6 / m.size.max(1) as f64, colour(si)),
                    Status::Ok => Bar::Value(m.mbps, colour(si)),
                    _ => note(&m.status),
                }
            })
            .collect()
    };
    let mut small_groups = vec![Group {
        label: "memcpy (limit)".into(),
        bars: memcpy_bars(&small, true),
    }];
    let mut large_groups = vec![Group {
        label: "memcpy (limit)".into(),
        bars: memcpy_bars(&large, false),
    }];
    let all: Vec<usize> = (0..p.sizes.len()).collect();
    let mut rt_groups = Vec::new();
    for (name, l) in [("cache-line (limit)", &r.cacheline), ("futex (limit)", &r.futex)] {
        rt_groups.push(Group {
            label: name.into(),
            bars: vec![match l.status {
                Status::Ok => Bar::Value(l.p50 as f64, LIMIT_COLOUR),
                _ => note(&l.status),
            }],
        });
    }
    for &row in &p.rows {
        small_groups.push(Group {
            label: row.name(),
            bars: row_bars(row, &small, &|x| x.tp.as_ref().map(|t| t.msgs)),
        });
        large_groups.push(Group {
            label: row.name(),
            bars: row_bars(row, &large, &|x| x.tp.as_ref().map(|t| t.mbps)),
        });
        rt_groups.push(Group {
            label: row.name(),
            bars: row_bars(row, &all, &|x| x.rtt.as_ref().map(|t| t.p50 as f64)),
        });
    }
    let slots = p.sizes.len().max(1);
    let groups = rt_groups.len();
    let width = (70.0 + 10.0 + groups as f64 * (slots as f64 * 13.0 + 18.0) + 40.0).max(640.0);
    let mut body = String::new();
    let _ = writeln!(
        body,
        r#"<text x="20" y="24" font-size="16" font-weight="bold">ipcring {} bench: {}, {} cores, {}; {} round{}, medians</text>"#,
        env!("CARGO_PKG_VERSION"),
        esc(r.machine.cpu.as_deref().unwrap_or("unknown CPU")),
        r.machine.cores,
        esc(&r.machine.short()),
        p.rounds,
        if p.rounds == 1 { "" } else { "s" }
    );
    // Legend: one swatch per size.
    let mut lx = 20.0;
    for (si, &s) in p.sizes.iter().enumerate() {
        let _ = writeln!(
            body,
            r#"<rect x="{lx:.1}" y="36" width="12" height="12" fill="{}"/><text x="{:.1}" y="46" font-size="12">{}</text>"#,
            colour(si),
            lx + 16.0,
            esc(&size_str(s))
        );
        lx += 90.0;
    }
    let mut top = 56.0;
    if !small.is_empty() {
        top += panel(
            &mut body,
            top,
            width,
            "One-way throughput, small messages (under 4 KiB): msg/s against memcpy's (log; higher is better)",
            "msg/s",
            &small_groups,
            small.len(),
        );
    }
    if !large.is_empty() {
        top += panel(
            &mut body,
            top,
            width,
            "One-way throughput, large messages (4 KiB and up): MB/s against memcpy's (log; higher is better)",
            "MB/s",
            &large_groups,
            large.len(),
        );
    }
    top += panel(
        &mut body,
        top,
        width,
        "Round trip p50 (log scale; lower is better)",
        "ns",
        &rt_groups,
        slots,
    );
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n",
        w = width,
        h = top + 10.0
    )
}
