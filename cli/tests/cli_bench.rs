//! `ipcring bench`: the real binary with tiny configurations (`--messages` scales every count
//! down). Checks the JSON's structure and figures (present, finite, positive where they must
//! be; no timing is asserted), the rows asked for and nothing else, `n/a` rows with their
//! reason, the zero-copy rows beside memcpy, the SVG, usage errors (exit 2), and that no
//! named object (`/dev/shm`, `/tmp`, `/dev/mqueue`) outlives a run, including one ended by
//! SIGINT at a random moment. Where
//! `nats-server` is installed (CI), `--nats` runs once, quickly: its rows, ratios and latency.

use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The bound on any run of the bench here (a hang, not a timing assertion).
const HANG: Duration = Duration::from_secs(180);

static SERIAL: Mutex<()> = Mutex::new(());

/// One bench at a time: each keeps both cores busy.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    pid: u32,
}

fn start(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ipcring"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ipcring")
}

/// Waits for `child` at most `HANG` (then kills it and fails), collecting its output.
fn finish(mut child: Child) -> Run {
    let pid = child.id();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let until = Instant::now() + HANG;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ipcring bench (pid {pid}) still running after {HANG:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
        pid,
    }
}

fn bench(args: &[&str]) -> Run {
    finish(start(args))
}

/// Objects the bench with `pid` named (`ipcring-bench-PID-...`) still present.
fn leftovers(pid: u32) -> Vec<String> {
    let tag = format!("ipcring-bench-{pid}-");
    let mut found = Vec::new();
    for dir in [
        PathBuf::from("/dev/shm"),
        std::env::temp_dir(),
        PathBuf::from("/dev/mqueue"),
    ] {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.contains(&tag) {
                    found.push(dir.join(name).display().to_string());
                }
            }
        }
    }
    found
}

/// Fails if anything of bench `pid` is left, after letting its dying children finish (they
/// clean up in their SIGTERM handler): at most 10 s, a hang bound.
fn assert_no_leftovers(pid: u32) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let left = leftovers(pid);
        if left.is_empty() {
            return;
        }
        if Instant::now() > until {
            panic!("bench {pid} left these behind: {left:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A temporary file removed on drop.
struct TmpFile(PathBuf);

impl TmpFile {
    fn new(what: &str) -> TmpFile {
        TmpFile(std::env::temp_dir().join(format!("ipcring-test-{what}-{}", std::process::id())))
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn f(v: &Value, what: &str) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{what}: not a number: {v}"))
}

fn positive(v: &Value, what: &str) -> f64 {
    let x = f(v, what);
    assert!(x.is_finite() && x > 0.0, "{what} = {x}: must be positive and finite");
    x
}

fn non_negative(v: &Value, what: &str) -> f64 {
    let x = f(v, what);
    assert!(x.is_finite() && x >= 0.0, "{what} = {x}: must be >= 0 and finite");
    x
}

fn parse(r: &Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", r.stdout, r.stderr))
}

fn row<'a>(j: &'a Value, name: &str, size: u64) -> &'a Value {
    j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == name && r["size"] == size)
        .unwrap_or_else(|| panic!("no row {name} at {size} B in {}", j["rows"]))
}

/// Checks one measured row's figures.
fn check_ok_row(r: &Value, name: &str) {
    assert_eq!(r["status"], "ok", "{name}: {r}");
    assert!(r["reason"].is_null(), "{name}: an ok row has no reason: {r}");
    let tp = &r["throughput"];
    assert!(f(&tp["messages"], "messages") >= 8.0, "{name}: {tp}");
    let msgs = positive(&tp["msg_per_s"], "msg_per_s");
    let mbps = positive(&tp["mb_per_s"], "mb_per_s");
    let size = f(&r["size"], "size");
    assert!(
        (mbps - msgs * size / 1e6).abs() <= 1e-6 * mbps.max(1.0),
        "{name}: MB/s {mbps} is not msg/s {msgs} x {size} B"
    );
    assert!(f(&tp["spread"], "spread") >= 1.0, "{name}: spread {}", tp["spread"]);
    let rounds = tp["per_round"].as_array().unwrap();
    assert!(!rounds.is_empty(), "{name}: no per-round figures");
    for x in rounds {
        positive(x, "per_round");
    }
    non_negative(&tp["syscalls_per_msg"], "syscalls_per_msg");
    non_negative(&tp["cpu_ns_per_msg"], "cpu_ns_per_msg");
    let rt = &r["round_trip"];
    let p50 = positive(&rt["p50_ns"], "p50_ns");
    assert!(f(&rt["p99_ns"], "p99_ns") >= p50, "{name}: p99 below p50: {rt}");
    positive(&rt["samples"], "samples");
    non_negative(&rt["syscalls_per_rt"], "syscalls_per_rt");
    non_negative(&rt["cpu_ns_per_rt"], "cpu_ns_per_rt");
    positive(&r["ratios"]["rtt_vs_limit"], "rtt_vs_limit");
    positive(&r["ratios"]["mb_per_s_vs_memcpy"], "mb_per_s_vs_memcpy");
    // Spinning rows (zero-copy ones spin too) against the cache-line ping-pong.
    let limit = if r["mode"] == "spin" || r["mode"] == "zc" {
        "cacheline"
    } else {
        "futex"
    };
    assert_eq!(r["ratios"]["limit"], limit, "{name}");
}

const ALL_ROWS: [&str; 15] = [
    "shm-spsc/spin",
    "shm-spsc/spin-full",
    "shm-spsc/block",
    "shm-spsc/block-full",
    "shm-spsc/fd",
    "shm-spsc/poll64",
    "shm-spsc/zc",
    "shm-mpmc/spin",
    "shm-mpmc/block",
    "shm-mpmc/zc",
    "pipe",
    "fifo",
    "mq",
    "unix",
    "tcp",
];

#[test]
fn every_row_json_and_svg() {
    let _g = serial();
    let svg = TmpFile::new("bench-svg");
    let r = bench(&[
        "bench",
        "--quick",
        "--only",
        "shm-spsc,shm-mpmc,pipe,fifo,mq,unix,tcp",
        "--sizes",
        "8",
        "--rounds",
        "1",
        "--messages",
        "200",
        "--timeout",
        "30",
        "--json",
        "--svg",
        svg.path(),
    ]);
    assert!(
        r.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        r.status,
        r.stdout,
        r.stderr
    );
    let j = parse(&r);
    assert_eq!(j["schema"], "ipcring-bench/1");
    assert!(f(&j["machine"]["cores"], "cores") >= 1.0);
    assert!(!j["machine"]["kernel"].as_str().unwrap().is_empty());
    let p = &j["parameters"];
    assert_eq!(p["rounds"], 1);
    assert_eq!(p["quick"], true);
    assert_eq!(p["sizes"], serde_json::json!([8]));
    assert_eq!(p["rows"], serde_json::json!(ALL_ROWS));
    assert_eq!(p["messages"], 200);
    positive(&j["elapsed_s"], "elapsed_s");

    // The limits.
    for lim in ["cacheline", "futex", "lamport_rtt"] {
        let l = &j["limits"][lim];
        assert_eq!(l["status"], "ok", "{lim}: {l}");
        let p50 = positive(&l["rtt_p50_ns"], "rtt_p50_ns");
        assert!(f(&l["rtt_p99_ns"], "rtt_p99_ns") >= p50, "{lim}: {l}");
        positive(&l["samples"], "samples");
        non_negative(&l["cpu_ns_per_rt"], "cpu_ns_per_rt");
    }
    assert_eq!(j["limits"]["cacheline"]["syscalls_per_rt"], 0.0);
    // Every futex round trip is at least one FUTEX_WAKE on each side, counted by the
    // ping-pong itself.
    assert!(f(&j["limits"]["futex"]["syscalls_per_rt"], "futex syscalls") >= 2.0);
    assert_eq!(j["limits"]["lamport_rtt"]["syscalls_per_rt"], 0.0);
    // The Lamport reference ring: one-way at 8 and 64 bytes, and the spinning SPSC ring over
    // it (measured at 8 B here).
    let lam = j["limits"]["lamport"].as_array().unwrap();
    assert_eq!(lam.len(), 2, "{}", j["limits"]["lamport"]);
    for (l, size) in lam.iter().zip([8, 64]) {
        assert_eq!(l["size"], size);
        assert_eq!(l["status"], "ok", "{l}");
        positive(&l["msgs_per_s"], "lamport msgs_per_s");
    }
    positive(&j["spsc_spin_over_lamport"]["rtt"], "shm-spsc/spin rtt over Lamport");
    positive(
        &j["spsc_spin_full_over_lamport"]["rtt"],
        "shm-spsc/spin-full rtt over Lamport",
    );
    positive(
        &j["spsc_spin_over_lamport"]["msgs_per_s"][0]["ratio"],
        "shm-spsc/spin msg/s over Lamport at 8 B",
    );
    let mem = j["limits"]["memcpy"].as_array().unwrap();
    assert_eq!(mem.len(), 1);
    assert_eq!(mem[0]["size"], 8);
    assert_eq!(mem[0]["status"], "ok");
    positive(&mem[0]["mb_per_s"], "memcpy mb_per_s");

    // Exactly the rows asked for, each measured, the ring's ratios against the reference.
    let rows = j["rows"].as_array().unwrap();
    assert_eq!(rows.len(), ALL_ROWS.len(), "{}", j["rows"]);
    assert_eq!(
        j["reference"],
        serde_json::json!({ "row": "shm-spsc/block", "size": 8 })
    );
    for name in ALL_ROWS {
        let x = row(&j, name, 8);
        check_ok_row(x, name);
        let over = positive(&x["ratios"]["ring_over_this"], "ring_over_this");
        if name == "shm-spsc/block" {
            assert_eq!(over, 1.0);
        }
        let case = p["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["row"] == name && c["size"] == 8)
            .unwrap_or_else(|| panic!("no parameters for {name}"));
        assert_eq!(x["throughput"]["messages"], case["messages"], "{name}");
        if x["transport"].as_str().unwrap().starts_with("shm") {
            continue;
        }
        // A fallback sends every message with at least one system call, in the child: its
        // figures reach the table.
        let tp_calls = f(&x["throughput"]["syscalls_per_msg"], "syscalls_per_msg");
        assert!(tp_calls >= 1.0, "{name}: {tp_calls} system calls per message");
        let rt_calls = f(&x["round_trip"]["syscalls_per_rt"], "syscalls_per_rt");
        assert!(rt_calls >= 2.0, "{name}: {rt_calls} system calls per round trip");
    }
    // The ring's rows are blocking or spinning; the fallbacks block.
    assert_eq!(row(&j, "shm-spsc/spin", 8)["mode"], "spin");
    assert_eq!(row(&j, "tcp", 8)["mode"], "block");
    assert_eq!(j["failed"], 0);
    // The table went to stderr.
    assert!(r.stderr.contains("ring / pipe"), "{}", r.stderr);

    let plot = std::fs::read_to_string(&svg.0).expect("the SVG file");
    assert!(
        plot.starts_with("<?xml") || plot.starts_with("<svg"),
        "{}",
        &plot[..plot.len().min(200)]
    );
    assert!(plot.trim_end().ends_with("</svg>"));
    for name in ALL_ROWS {
        assert!(plot.contains(&format!(">{name}<")), "the SVG does not name {name}");
    }
    assert!(plot.contains("memcpy") && plot.contains("futex") && plot.contains("cache-line"));
    assert_no_leftovers(r.pid);
}

#[test]
fn sizes_a_transport_cannot_carry_are_na_with_a_reason() {
    let _g = serial();
    // A unix:// message is one packet, and Linux takes no packet above about 4 MiB whatever
    // the sysctls say: 5 MiB is n/a everywhere. The pipe carries it.
    let r = bench(&[
        "bench",
        "--only",
        "pipe,unix,mq",
        "--sizes",
        "8,5M",
        "--rounds",
        "1",
        "--messages",
        "200",
        "--timeout",
        "30",
        "--json",
    ]);
    assert!(
        r.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        r.status,
        r.stdout,
        r.stderr
    );
    let j = parse(&r);
    assert_eq!(j["rows"].as_array().unwrap().len(), 6);
    for name in ["pipe", "unix", "mq"] {
        check_ok_row(row(&j, name, 8), name);
    }
    check_ok_row(row(&j, "pipe", 5 << 20), "pipe 5 MiB");
    let unix = row(&j, "unix", 5 << 20);
    assert_eq!(unix["status"], "n/a", "{unix}");
    let why = unix["reason"].as_str().expect("an n/a row has a reason");
    assert!(why.contains("kernel limit"), "{why}");
    assert!(unix["throughput"].is_null() && unix["round_trip"].is_null(), "{unix}");
    // mq at 5 MiB depends on fs.mqueue.msgsize_max and the queue-bytes limit: either it is
    // measured or it says why not.
    let mq = row(&j, "mq", 5 << 20);
    match mq["status"].as_str().unwrap() {
        "ok" => check_ok_row(mq, "mq 5 MiB"),
        "n/a" => assert!(!mq["reason"].as_str().unwrap().is_empty(), "{mq}"),
        s => panic!("mq 5 MiB: {s}: {mq}"),
    }
    // Every n/a row anywhere carries a reason.
    for x in j["rows"].as_array().unwrap() {
        if x["status"] == "n/a" {
            assert!(!x["reason"].as_str().unwrap_or("").is_empty(), "{x}");
        }
    }
    assert_no_leftovers(r.pid);
}

#[test]
fn table_on_stdout() {
    let _g = serial();
    let r = bench(&[
        "bench",
        "--only",
        "shm-spsc/block,pipe",
        "--sizes",
        "64",
        "--ring-bytes",
        "32K",
        "--rounds",
        "2",
        "--messages",
        "200",
        "--timeout",
        "30",
    ]);
    assert!(
        r.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        r.status,
        r.stdout,
        r.stderr
    );
    for want in [
        "cache-line ping-pong",
        "futex ping-pong",
        "memcpy",
        "shm-spsc/block",
        "pipe",
        "64 B",
        "ring / pipe",
        "2 rounds",
        "rings of at most 32 KiB of slots",
    ] {
        assert!(r.stdout.contains(want), "the table lacks {want:?}:\n{}", r.stdout);
    }
    assert!(!r.stdout.contains("shm-mpmc"), "a row not asked for:\n{}", r.stdout);
    assert!(!r.stdout.contains("error"), "{}", r.stdout);
    assert_no_leftovers(r.pid);
}

#[test]
fn usage() {
    let _g = serial();
    let r = bench(&["bench", "--help"]);
    assert!(r.status.success(), "{:?} {}", r.status, r.stderr);
    for want in [
        "--quick",
        "--only",
        "--sizes",
        "--rounds",
        "--json",
        "--svg",
        "shm-spsc/spin",
        "shm-spsc/zc",
        "shm-mpmc/zc",
        "--ring-bytes",
    ] {
        assert!(r.stdout.contains(want), "--help lacks {want}:\n{}", r.stdout);
    }
    for bad in [
        vec!["bench", "--only", "shm-spsc,nosuch"],
        vec!["bench", "--sizes", "0"],
        vec!["bench", "--sizes", "8,lots"],
        vec!["bench", "--sizes", "17M"],
        vec!["bench", "--rounds", "0"],
        vec!["bench", "--ring-bytes", "1K"],
    ] {
        let r = bench(&bad);
        assert_eq!(r.status.code(), Some(2), "{bad:?}: {:?}\n{}", r.status, r.stderr);
        assert!(r.stdout.is_empty(), "{bad:?}: {}", r.stdout);
        let named = bad.last().unwrap().split(',').next_back().unwrap();
        assert!(
            r.stderr.contains(named),
            "{bad:?}: the error does not name {named}: {}",
            r.stderr
        );
        assert_no_leftovers(r.pid);
    }
    // An SVG path that cannot be written fails before measuring anything.
    let r = bench(&["bench", "--svg", "/nonexistent-dir/plot.svg"]);
    assert_eq!(r.status.code(), Some(1), "{:?} {}", r.status, r.stderr);
    assert!(r.stderr.contains("/nonexistent-dir/plot.svg"), "{}", r.stderr);
}

#[test]
fn interrupted_runs_leave_nothing_behind() {
    let _g = serial();
    // SIGINT at different moments of a long run (many short cases, so the signal lands in
    // every phase: setting up, measuring, cleaning up). The bench dies of the signal; its
    // children die with it; nothing named stays.
    for delay_ms in [150u64, 400, 700, 1100, 1600] {
        let child = start(&[
            "bench",
            "--only",
            "shm-spsc/block,shm-mpmc/spin,fifo,mq,unix",
            "--sizes",
            "8,4K",
            "--rounds",
            "1000",
            "--messages",
            "100",
            "--timeout",
            "30",
        ]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SAFETY: kill with a pid we spawned and have not reaped.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
        let r = finish(child);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            r.status.signal(),
            Some(libc::SIGINT),
            "after {delay_ms} ms: {:?}\n{}",
            r.status,
            r.stderr
        );
        assert_no_leftovers(r.pid);
    }
}

/// The zero-copy rows (`reserve`/`commit`, `peek`/`release`), alone and beside a copying row
/// and the memcpy limit, at a small size and at 1 MiB: every message checked (a wrong stamp
/// would be the row's error and exit status 1), each ratio to memcpy present, the counts the
/// parameters announce, the table naming them. No figure is compared (the machine is noisy).
#[test]
fn zero_copy_rows_beside_memcpy() {
    let _g = serial();
    let rows = ["shm-spsc/spin", "shm-spsc/zc", "shm-mpmc/zc"];
    let sizes = [64u64, 1 << 20];
    let r = bench(&[
        "bench",
        "--quick",
        "--only",
        "shm-spsc/spin,shm-spsc/zc,shm-mpmc/zc",
        "--sizes",
        "64,1M",
        "--rounds",
        "2",
        "--messages",
        "400",
        "--timeout",
        "30",
        "--json",
    ]);
    assert!(
        r.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        r.status,
        r.stdout,
        r.stderr
    );
    let j = parse(&r);
    assert_eq!(j["parameters"]["rows"], serde_json::json!(rows));
    // The default ring: at most 4 MiB of slots (4 of 1 MiB; 1024 of 64 B).
    assert_eq!(j["parameters"]["ring_bytes"], 4 << 20);
    assert_eq!(
        j["rows"].as_array().unwrap().len(),
        rows.len() * sizes.len(),
        "{}",
        j["rows"]
    );
    let mem = j["limits"]["memcpy"].as_array().unwrap();
    for size in sizes {
        let m = mem
            .iter()
            .find(|m| m["size"] == size)
            .unwrap_or_else(|| panic!("no memcpy at {size} B: {mem:?}"));
        assert_eq!(m["status"], "ok", "{m}");
        let limit = positive(&m["mb_per_s"], "memcpy mb_per_s");
        for name in rows {
            let x = row(&j, name, size);
            check_ok_row(x, name);
            let zc = name.ends_with("/zc");
            assert_eq!(x["mode"], if zc { "zc" } else { "spin" }, "{name}");
            assert_eq!(x["fence"], "default", "{name}");
            let case = j["parameters"]["cases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["row"] == name && c["size"] == size)
                .unwrap_or_else(|| panic!("no parameters for {name} at {size} B"));
            assert_eq!(x["throughput"]["messages"], case["messages"], "{name} at {size} B");
            assert!(f(&case["messages"], "messages") >= 8.0, "{case}");
            assert_eq!(case["capacity"], if size == 64 { 1024 } else { 4 }, "{case}");
            assert_eq!(
                x["round_trip"]["samples"],
                2 * case["round_trips"].as_u64().unwrap(),
                "{name} at {size} B"
            );
            // The ratio is MB/s over memcpy's, as for every row.
            let mbps = positive(&x["throughput"]["mb_per_s"], "mb_per_s");
            let vs = positive(&x["ratios"]["mb_per_s_vs_memcpy"], "mb_per_s_vs_memcpy");
            assert!(
                (vs - mbps / limit).abs() <= 1e-6 * vs,
                "{name} at {size} B: {vs} is not {mbps} / {limit}"
            );
            eprintln!("{name} at {size} B: {mbps:.1} MB/s, {vs:.2}x memcpy");
        }
    }
    assert_eq!(j["failed"], 0);
    // The table (on stderr with --json) has the rows at both sizes, with their /memcpy.
    for name in rows {
        for size in ["64 B", "1 MiB"] {
            assert!(
                r.stderr.lines().any(|l| l.starts_with(name) && l.contains(size)),
                "the table lacks {name} at {size}:\n{}",
                r.stderr
            );
        }
    }
    assert!(r.stderr.contains("zc rows: zero-copy"), "{}", r.stderr);
    assert_no_leftovers(r.pid);
}

/// memcpy at a size is an upper bound for a ring row's throughput at that size: a ring row
/// beating it by more than noise (1.5x) means the limit is mismeasured.
#[test]
fn memcpy_limit_bounds_every_ring_row() {
    let _g = serial();
    let sizes = [8u64, 4096, 65536];
    let r = bench(&[
        "bench",
        "--quick",
        "--only",
        "shm-spsc,shm-mpmc",
        "--sizes",
        "8,4096,65536",
        "--rounds",
        "1",
        "--timeout",
        "60",
        "--json",
    ]);
    assert!(r.status.success(), "exit {:?}\nstderr:\n{}", r.status, r.stderr);
    let j = parse(&r);
    let mem = j["limits"]["memcpy"].as_array().unwrap();
    let mut seen = 0;
    for &size in &sizes {
        let m = mem
            .iter()
            .find(|m| m["size"] == size)
            .unwrap_or_else(|| panic!("no memcpy at {size} B: {mem:?}"));
        assert_eq!(m["status"], "ok", "{m}");
        let limit = positive(&m["mb_per_s"], "memcpy mb_per_s");
        for x in j["rows"].as_array().unwrap().iter().filter(|x| x["size"] == size) {
            let name = x["row"].as_str().unwrap();
            check_ok_row(x, name);
            let ring = positive(&x["throughput"]["mb_per_s"], "mb_per_s");
            eprintln!("{name} at {size} B: {ring:.1} MB/s, memcpy {limit:.1} MB/s");
            assert!(
                ring <= 1.5 * limit,
                "{name} at {size} B: {ring:.1} MB/s beats the memcpy limit ({limit:.1} MB/s) by more than 1.5x"
            );
            seen += 1;
        }
    }
    assert_eq!(
        seen, 30,
        "ten ring rows (two of them -full, two zero-copy) at three sizes"
    );
    assert_no_leftovers(r.pid);
}

fn nats_server_present() -> bool {
    std::path::Path::new("/usr/sbin/nats-server").exists()
        || Command::new("nats-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
}

/// A figure of `line` after `label`, e.g. the number after "p50 ".
fn number_after(line: &str, label: &str) -> f64 {
    let rest = &line[line.find(label).unwrap_or_else(|| panic!("{label:?} in {line:?}")) + label.len()..];
    let num: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse()
        .unwrap_or_else(|_| panic!("a number after {label:?} in {line:?}"))
}

#[test]
fn nats_rows_ratios_and_latency() {
    if !nats_server_present() {
        eprintln!("nats-server not installed: bench --nats not run (scripts/deps.sh installs it)");
        return;
    }
    let _g = serial();
    let r = bench(&["bench", "--nats", "--quick", "--messages", "2000"]);
    assert!(r.status.success(), "bench --nats: {}\n{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    for size in [" 64 B ", " 1 KiB "] {
        for row in ["(a) ", "(b) ", "(c) "] {
            let line = lines
                .iter()
                .find(|l| l.starts_with(row) && l.contains(size))
                .unwrap_or_else(|| panic!("row {row}at{size}missing:\n{}", r.stdout));
            // msg/s, MB/s, and for (c) the two ratios: finite and positive.
            let figures: Vec<f64> = line[line.find(size).unwrap() + size.len()..]
                .split_whitespace()
                .map(|x| x.parse().unwrap_or_else(|_| panic!("figure {x:?} in {line:?}")))
                .collect();
            assert_eq!(figures.len(), if row == "(c) " { 4 } else { 2 }, "{line}");
            assert!(figures.iter().all(|x| x.is_finite() && *x > 0.0), "{line}");
        }
    }
    let d = lines
        .iter()
        .find(|l| l.starts_with("(d) latency"))
        .expect("the latency row");
    let (p50, p99) = (number_after(d, "p50"), number_after(d, "p99"));
    assert!(p50 > 0.0 && p99 >= p50, "{d}");
    assert_no_leftovers(r.pid);
}
