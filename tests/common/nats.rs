//! The `nats://` tests' machinery:
//!
//! - [`NatsServer`]: a real `nats-server` with JetStream in a temporary directory (`-js -sd
//!   DIR`), on a free port of loopback or, for the network-namespace tests, of a veth address
//!   inside a namespace ([`Host`]); stopped (and the directory removed) on drop. Ready once it
//!   logged `Server is ready`. `scripts/deps.sh` installs it (Debian package `nats-server`); a
//!   test whose machine has no `nats-server` fails with that hint rather than passing silently.
//! - [`Netns`]: two network namespaces (the project's own test hosts A and B) joined by a veth
//!   pair, made without privileges in a user namespace (`unshare -Urn`), torn down on drop (the
//!   holder's process group is SIGKILLed). Only the user and network namespaces are new: both
//!   hosts still share `/dev/shm`, so every ring name carries the host's tag, the test's pid
//!   and a counter ([`unique_name`]) and cannot collide.
//! - [`Host`]: runs a command here or inside one of those namespaces (`nsenter -t PID -U -n`).
//! - [`run_pipeline`]: C producer → shm → `ipcring bridge` → `nats://` → `ipcring bridge` → shm
//!   → a checking Rust consumer (a child process, [`pipeline_role`]), with the producer side on
//!   host A and the consumer side on host B; progress and the rate printed, a hang bound that
//!   scales with the count. `cli/tests/cli_bridge.rs` runs it on loopback,
//!   `cli/tests/cli_bridge_netns.rs` across the namespaces.
//! - [`Procs`]: child processes killed and reaped on drop, so a failing test leaves nothing
//!   running.

use super::{raw_stderr, wait_all, ChildProc, Exit, SeqChecker, ShmName, HANG_BOUND, OVERHEAD};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Hosts: here, or inside a network namespace
// ---------------------------------------------------------------------------------------

/// Where a process of a test runs.
#[derive(Clone, Debug)]
pub enum Host {
    /// This machine's own network namespace (loopback).
    Local,
    /// The user and network namespaces of process `pid` ([`Netns`]); `name` labels it.
    Netns { pid: u32, name: &'static str },
}

impl Host {
    /// A command that runs `program` on this host. In a namespace it is `nsenter -t PID -U -n
    /// --preserve-credentials -- PROGRAM`: nsenter enters the namespaces and execs the program
    /// (no fork), so the child's pid is the program's own and killing it kills the program.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        match self {
            Host::Local => Command::new(program),
            Host::Netns { pid, .. } => {
                let mut c = Command::new("nsenter");
                c.arg("-t")
                    .arg(pid.to_string())
                    .args(["-U", "-n", "--preserve-credentials", "--"])
                    .arg(program);
                c
            }
        }
    }

    /// `here` or the namespace's name, for labels.
    pub fn name(&self) -> &'static str {
        match self {
            Host::Local => "here",
            Host::Netns { name, .. } => name,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// A running server; `url()` is `IP:PORT` for `nats://IP:PORT/NAME` addresses.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    host: Host,
    ip: String,
    log: Arc<Mutex<Vec<String>>>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local_addr").port()
}

impl NatsServer {
    /// Starts a server on loopback and waits until it is ready.
    pub fn start() -> NatsServer {
        NatsServer::start_on(Host::Local, "127.0.0.1")
    }

    /// Starts a server on `host`, listening on `ip` (an address of that host), and waits until
    /// it is ready. In a fresh network namespace every port is free; the port is picked free
    /// on loopback here either way.
    pub fn start_on(host: Host, ip: &str) -> NatsServer {
        let dir = std::env::temp_dir().join(format!("ipcring-nats-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("server dir");
        let mut s = NatsServer {
            child: None,
            port: free_port(),
            dir,
            host,
            ip: ip.to_string(),
            log: Arc::new(Mutex::new(Vec::new())),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let exe = if Path::new("/usr/sbin/nats-server").exists() {
            "/usr/sbin/nats-server"
        } else {
            "nats-server"
        };
        let mut cmd = self.host.command(exe);
        cmd.args(["-a", &self.ip, "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("nats-server not runnable ({e}): run scripts/deps.sh (apt-get install nats-server)")
        });
        // Its log goes to stderr: read it all (a full pipe would stop the server), keep the
        // tail for a failure report, and say when it is ready.
        let (ready_tx, ready_rx) = mpsc::channel();
        let log = Arc::clone(&self.log);
        let err = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if line.contains("Server is ready") {
                    let _ = ready_tx.send(());
                }
                let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                if l.len() >= 60 {
                    l.remove(0);
                }
                l.push(line);
            }
        });
        self.child = Some(child);
        match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => {}
            Err(e) => panic!(
                "nats-server on {} ({}) did not get ready ({e}); its log:\n{}",
                self.url(),
                self.host.name(),
                self.log_tail()
            ),
        }
        // JetStream answers a little after the server says it is ready.
        std::thread::sleep(Duration::from_millis(200));
    }

    /// The last lines the server logged.
    pub fn log_tail(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
    }

    /// `IP:PORT`.
    pub fn url(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// `nats://IP:PORT/NAME?QUERY` (no `?` when `query` is empty).
    pub fn addr(&self, name: &str, query: &str) -> String {
        if query.is_empty() {
            format!("nats://{}/{name}", self.url())
        } else {
            format!("nats://{}/{name}?{query}", self.url())
        }
    }

    /// Stops the server (SIGTERM, then waits; SIGKILL after 20 s), keeping its store.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill takes no pointers; the pid is our child's, not yet reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let t0 = Instant::now();
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if t0.elapsed() > Duration::from_secs(20) {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts it again on the same host, port and store (a restart mid-stream).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------
// Two test hosts joined by a veth pair
// ---------------------------------------------------------------------------------------

/// Host A's address on the veth pair (where its `nats-server` listens).
pub const NETNS_IP_A: &str = "10.77.0.1";
/// Host B's address on the veth pair.
pub const NETNS_IP_B: &str = "10.77.0.2";

/// The holder: `unshare -Urn sh -c SCRIPT` is host A (a user namespace, uid 0 inside mapped
/// to ours, and its network namespace); the script starts host B (`unshare -n sleep`, a second
/// network namespace in the same user namespace), moves one end of a veth pair there, sets
/// both addresses up, prints `ready A B`, and waits for its stdin to close (the test ended or
/// died) before killing B. A step the machine refuses prints `REFUSED: ...` and exits 3.
const NETNS_SCRIPT: &str = r#"
PATH="$PATH:/usr/sbin:/sbin"; export PATH
refuse() { echo "REFUSED: $*" >&2; exit 3; }
command -v ip >/dev/null 2>&1 || refuse "no 'ip' command (Debian package iproute2)"
command -v nsenter >/dev/null 2>&1 || refuse "no 'nsenter' command (util-linux)"
unshare -n sleep 1000000 </dev/null >/dev/null &
B=$!
mine=$(readlink /proc/$$/ns/net)
i=0
while [ "$(readlink /proc/$B/ns/net 2>/dev/null)" = "$mine" ]; do
    kill -0 $B 2>/dev/null || refuse "unshare -n (the second network namespace) failed"
    i=$((i + 1))
    [ $i -lt 3000 ] || { echo "host B never got its namespace" >&2; exit 4; }
    sleep 0.01
done
kill -0 $B 2>/dev/null || refuse "unshare -n (the second network namespace) failed"
ip link add va type veth peer name vb || refuse "ip link add (veth pair)"
ip link set vb netns $B || refuse "ip link set vb netns"
ip addr add 10.77.0.1/24 dev va && ip link set va up && ip link set lo up || refuse "ip addr/link on host A"
nsenter -t $B -n sh -c 'ip addr add 10.77.0.2/24 dev vb && ip link set vb up && ip link set lo up' \
    || refuse "nsenter/ip on host B"
echo "ready $$ $B"
read _ignored || true
kill -KILL $B
"#;

/// Two network namespaces joined by a veth pair: host A (`10.77.0.1`) and host B
/// (`10.77.0.2`). Neither has any other interface than loopback and its veth end, so their
/// traffic goes nowhere else. Dropping it SIGKILLs the holder's process group (the holder
/// shell and host B's sleeper), which ends both namespaces.
pub struct Netns {
    holder: Child,
    pub a: Host,
    pub b: Host,
}

fn net_ns_of(pid: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/net: {e}"))
        .to_string_lossy()
        .into_owned()
}

impl Netns {
    /// Makes the two hosts. `Err(why)` only when the machine refuses (no `unshare`, `ip` or
    /// `nsenter`; the kernel or its settings deny an unprivileged user or network namespace, or
    /// a veth pair); any other failure panics.
    pub fn create() -> Result<Netns, String> {
        let mut cmd = Command::new("unshare");
        cmd.args(["-Urn", "sh", "-c", NETNS_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return Err(format!("cannot run unshare (util-linux): {e}")),
        };
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let errs = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(err), &mut s);
            s
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        // From here on the guard owns the holder: any panic below tears it down.
        let mut ns = Netns {
            holder: child,
            a: Host::Local,
            b: Host::Local,
        };
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() != 3 || words[0] != "ready" {
            ns.kill_group();
            let status = ns.holder.wait().ok();
            let stderr = errs.join().unwrap_or_default();
            let stderr = stderr.trim();
            // The outer unshare itself refused (EPERM: user namespaces off, or a sandbox that
            // forbids them), or the script named the refused step.
            if stderr.contains("REFUSED:")
                || (stderr.starts_with("unshare:") && status.is_some_and(|s| s.code() == Some(1)))
            {
                return Err(stderr.to_string());
            }
            panic!("network namespaces: holder said {line:?}, exit {status:?}, stderr:\n{stderr}");
        }
        let (pa, pb) = (words[1], words[2]);
        assert_eq!(
            pa,
            ns.holder.id().to_string(),
            "host A is the holder shell (unshare execs it)"
        );
        // Never let the test's 10.77.0.0/24 traffic leave the namespaces: both must be new.
        let here = net_ns_of("self");
        let (na, nb) = (net_ns_of(pa), net_ns_of(pb));
        assert!(
            na != here && nb != here && na != nb,
            "namespaces not separate: here {here}, A {na}, B {nb}"
        );
        ns.a = Host::Netns {
            pid: pa.parse().expect("pid A"),
            name: "host A",
        };
        ns.b = Host::Netns {
            pid: pb.parse().expect("pid B"),
            name: "host B",
        };
        Ok(ns)
    }

    fn kill_group(&mut self) {
        // SAFETY: kill takes no pointers. The holder is our unreaped child and leads its own
        // process group (process_group(0)), so the group id is still ours to signal.
        unsafe { libc::kill(-(self.holder.id() as i32), libc::SIGKILL) };
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(None) = self.holder.try_wait() {
            self.kill_group();
            let _ = self.holder.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Children that never outlive the test
// ---------------------------------------------------------------------------------------

/// Child processes that are SIGKILLed and reaped when this is dropped (a test that fails
/// half-way leaves nothing running). [`Procs::finish`] hands them to [`wait_all`] instead.
#[derive(Default)]
pub struct Procs(pub Vec<ChildProc>);

impl Procs {
    pub fn push(&mut self, c: ChildProc) -> usize {
        self.0.push(c);
        self.0.len() - 1
    }
    /// Waits for all (at most `bound`, then they are killed and marked hung).
    pub fn finish(&mut self, bound: Duration) -> Vec<Exit> {
        wait_all(std::mem::take(&mut self.0), bound)
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.0);
        if v.is_empty() {
            return;
        }
        for c in &mut v {
            c.kill();
        }
        let _ = wait_all(v, Duration::from_secs(20));
    }
}

// ---------------------------------------------------------------------------------------
// The pipeline C → shm → bridge → NATS → bridge → shm → Rust
// ---------------------------------------------------------------------------------------

/// The child role of [`run_pipeline`]'s consumer.
pub const CONSUME_ROLE: &str = "nats_pipeline_consume";

/// The slowest rate the pipeline's hang bound allows (msg/s): the bound is `HANG_BOUND` plus
/// the count at this rate, some 7-8 times under what the chain moves today.
const FLOOR_RATE: f64 = 500.0;

/// Runs the child roles [`run_pipeline`] uses; every test binary that calls it has
/// `#[test] fn child_entry() { common::child_entry(common::nats::pipeline_role) }`.
pub fn pipeline_role(role: &str) {
    match role {
        CONSUME_ROLE => consume(),
        _ => panic!("unknown role {role}"),
    }
}

/// The consumer: opens (creating) the output ring, says it is ready, checks every message's
/// sequence number and checksum (one producer, in order, no loss, no duplicate) until end of
/// stream, then that exactly N arrived. Its count goes to the progress file (8 bytes, little
/// endian) every 1,000 messages and at the end.
fn consume() {
    use ipcring::{Create, Error, Receiver};
    let addr = super::param("ADDR");
    let n = super::param_u64("N");
    let msg_size = super::param_u64("MSG_SIZE") as usize;
    let progress = std::fs::OpenOptions::new()
        .write(true)
        .open(super::param("PROGRESS"))
        .expect("progress file");
    let put = |count: u64| progress.write_all_at(&count.to_le_bytes(), 0).expect("progress");
    let mut rx = Receiver::open(&addr, Create::IfMissing).unwrap_or_else(|e| panic!("open {addr}: {e}"));
    super::touch(&super::param("READY"));
    let mut check = SeqChecker::new(1, Some(msg_size - OVERHEAD));
    let mut buf = vec![0u8; msg_size];
    loop {
        // Silent for HANG_BOUND: the chain is stuck (the parent's bounds are the same).
        match rx.recv_timeout(&mut buf, HANG_BOUND) {
            Ok(len) => {
                check.check_or_panic(&buf[..len]);
                if check.count % 1000 == 0 {
                    put(check.count);
                }
            }
            Err(Error::EndOfStream) => break,
            Err(e) => panic!("recv after {} messages: {e}", check.count),
        }
    }
    put(check.count);
    check.assert_complete(n);
}

fn read_progress(path: &Path) -> u64 {
    let mut b = [0u8; 8];
    match std::fs::File::open(path).and_then(|f| f.read_exact_at(&mut b, 0)) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => 0,
    }
}

/// The result of [`run_pipeline`].
pub struct PipelineRun {
    pub n: u64,
    pub secs: f64,
    /// Each bridge's last `--stats` line.
    pub bridges: Vec<(String, String)>,
}

impl PipelineRun {
    pub fn rate(&self) -> f64 {
        self.n as f64 / self.secs
    }
}

/// C → shm → bridge → NATS → bridge → shm → Rust with `n` checked messages of 20-256 bytes:
/// `pipeline_producer` (c-examples) writes into ring IN on host `a`, `ipcring bridge IN
/// nats://SERVER/CHAN` moves them into the stream (on `a`), `ipcring bridge nats://… OUT`
/// out of it into ring OUT on host `b`, and a child consumer on `b` ([`pipeline_role`])
/// checks every sequence number and checksum, then end of stream through the whole chain.
/// Every process must exit 0. Progress (the consumer's count, the rate) goes to stderr past
/// the test harness's capture every `IPCRING_NATS_PROGRESS_S` seconds (default 15).
///
/// Bounds: no message for `HANG_BOUND` (the consumer and this loop both watch), or the whole
/// run past `HANG_BOUND + n / 500 msg/s` (generous: the chain moves some 3,500-4,000 msg/s
/// on the 2-core test machine), fails the test with every process's stderr.
pub fn run_pipeline(bin: &Path, server: &NatsServer, a: &Host, b: &Host, n: u64, what: &str) -> PipelineRun {
    const MSG_SIZE: usize = 256;
    // Distinct per host, per test process and per call: the hosts share /dev/shm.
    let ring_in = ShmName::new("nats-a-in");
    let ring_out = ShmName::new("nats-b-out");
    let shm = |r: &ShmName| format!("shm://{}?capacity=65536&msg_size={MSG_SIZE}", r.as_str());
    let (addr_in, addr_out) = (shm(&ring_in), shm(&ring_out));
    // The channel: named after ring IN (unique the same way; the stream lives on the server).
    let chan = server.addr(ring_in.as_str(), &format!("msg_size={MSG_SIZE}"));
    let progress = super::TempPath::new("nats-progress");
    let ready = super::TempPath::new("nats-ready");
    std::fs::write(progress.path(), 0u64.to_le_bytes()).expect("progress file");
    let examples = super::c::make_examples();

    let mut procs = Procs::default();
    // Host B: the consumer first (it creates OUT), then the bridge out of NATS.
    let mut cmd = b.command(std::env::current_exe().expect("current_exe"));
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(super::ROLE_ENV, CONSUME_ROLE)
        .env("RUST_BACKTRACE", "1")
        .env("ADDR", &addr_out)
        .env("N", n.to_string())
        .env("MSG_SIZE", MSG_SIZE.to_string())
        .env("PROGRESS", progress.as_str())
        .env("READY", ready.as_str());
    let consumer = procs.push(super::spawn_command(&format!("consumer on {}", b.name()), cmd));
    let t_ready = Instant::now();
    while !ready.path().exists() {
        if procs.0[consumer].try_wait().is_some() || t_ready.elapsed() > HANG_BOUND {
            let exits = procs.finish(Duration::from_secs(5));
            panic!("the consumer never got ready:\n{}", exits[0].describe());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let bridge = |host: &Host, from: &str, to: &str| {
        let mut c = host.command(bin);
        c.args(["bridge", "--stats", from, to]);
        super::spawn_command(
            &format!("bridge {} on {}", from.split(':').next().unwrap_or(""), host.name()),
            c,
        )
    };
    procs.push(bridge(b, &chan, &addr_out));
    // Host A: the bridge into NATS, then the C producer.
    procs.push(bridge(a, &addr_in, &chan));
    let t0 = Instant::now();
    let mut prod = a.command(examples.join("pipeline_producer"));
    prod.args([addr_in.as_str(), &n.to_string(), "0"]);
    procs.push(super::spawn_command(
        &format!("pipeline_producer on {}", a.name()),
        prod,
    ));

    let every = Duration::from_secs(super::env_u64("IPCRING_NATS_PROGRESS_S", 15));
    let deadline = HANG_BOUND + Duration::from_secs_f64(n as f64 / FLOOR_RATE);
    raw_stderr(&format!(
        "[{what}] {n} messages; hang bounds: {}s without a message, {}s in all\n",
        HANG_BOUND.as_secs(),
        deadline.as_secs()
    ));
    let (mut last, mut moved, mut shown) = (0u64, Instant::now(), Instant::now());
    let failure = loop {
        std::thread::sleep(Duration::from_millis(50));
        let got = read_progress(progress.path());
        if got != last {
            last = got;
            moved = Instant::now();
        }
        if shown.elapsed() >= every {
            shown = Instant::now();
            let s = t0.elapsed().as_secs_f64();
            raw_stderr(&format!(
                "[{what}] {got} of {n} checked after {s:.0} s ({:.0} msg/s)\n",
                got as f64 / s
            ));
        }
        if procs.0[consumer].try_wait().is_some() {
            break None;
        }
        if let Some(bad) = procs
            .0
            .iter_mut()
            .position(|c| c.try_wait().is_some_and(|s| !s.success()))
        {
            break Some(format!("{} failed", procs.0[bad].label()));
        }
        if moved.elapsed() >= HANG_BOUND {
            break Some(format!("no message for {}s at {got} of {n}", HANG_BOUND.as_secs()));
        }
        if t0.elapsed() >= deadline {
            break Some(format!("past the bound of {}s at {got} of {n}", deadline.as_secs()));
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    // The consumer saw end of stream: the rest have ended or are ending.
    let exits = procs.finish(if failure.is_some() {
        Duration::from_secs(5)
    } else {
        HANG_BOUND
    });
    let failed: Vec<String> = exits.iter().filter(|e| !e.success()).map(|e| e.describe()).collect();
    assert!(
        failure.is_none() && failed.is_empty(),
        "[{what}] {}; server log tail:\n{}\n{}",
        failure.as_deref().unwrap_or("a process failed"),
        server.log_tail(),
        failed.join("\n")
    );
    assert_eq!(read_progress(progress.path()), n, "the consumer's final count");
    let bridges = exits
        .iter()
        .filter(|e| e.label.starts_with("bridge"))
        .map(|e| (e.label.clone(), e.stderr.lines().last().unwrap_or("").to_string()))
        .collect();
    let _ = std::fs::remove_file(ready.path());
    let run = PipelineRun { n, secs, bridges };
    let mut report = format!(
        "[{what}] C -> shm -> bridge -> NATS -> bridge -> shm -> Rust: {n} checked messages in {secs:.1} s ({:.0} msg/s)\n",
        run.rate()
    );
    for (label, line) in &run.bridges {
        report.push_str(&format!("[{what}]   {label}: {line}\n"));
    }
    raw_stderr(&report);
    run
}
