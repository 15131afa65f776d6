//! Helpers shared by the multi-process integration tests.
//!
//! - Real processes, two ways:
//!   1. named rings: the test binary re-executes itself (`--exact child_entry`) with
//!      `IPCRING_CHILD_ROLE` and role parameters in the environment ([`spawn`], [`child_entry`]);
//!   2. anonymous rings (`pair`, `Ring::anonymous`): `fork(2)`, the child runs a closure and
//!      leaves with `_exit` ([`fork`]).
//!
//!   Every wait for a child has a hang bound: past it the child is killed and the test fails
//!   with the child's stderr. No other duration is asserted (the machine is shared and noisy).
//! - The message format every data test uses: `[producer u32][seq u64][payload][fnv u64]`,
//!   all little-endian, the payload's length and bytes derived from `(producer, seq)` and the
//!   checksum FNV-1a over everything before it ([`encode`], [`decode`], [`SeqChecker`]).
//! - Unique shm names unlinked on drop ([`ShmName`]), temporary files removed on drop.
//! - [`serial`]: the tests of one binary run one at a time. The box has two cores and every
//!   test runs several spinning processes; it also keeps `fork` away from other test threads.

#![allow(dead_code)]

pub mod c;
pub mod chan;
pub mod msg;
pub mod nats;
pub mod rng;

use std::io::Read;
use std::os::fd::{FromRawFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The environment variable that turns a run of the test binary into a child process.
pub const ROLE_ENV: &str = "IPCRING_CHILD_ROLE";
/// The default bound on any wait for a child process.
pub const HANG_BOUND: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------
// Serialisation, names, files
// ---------------------------------------------------------------------------------------

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs the tests of one binary one at a time (a failed test does not poison the rest).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `ipcring-test-PID-TAG-N`: unique per process and call.
pub fn unique_name(tag: &str) -> String {
    format!(
        "ipcring-test-{}-{}-{}",
        std::process::id(),
        tag,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A unique ring name whose shared-memory object is unlinked when this is dropped, so
/// `/dev/shm` stays clean even when the test fails.
#[derive(Debug)]
pub struct ShmName(String);

impl ShmName {
    pub fn new(tag: &str) -> Self {
        ShmName(unique_name(tag))
    }
    /// Guards a name chosen by the caller.
    pub fn from_name(name: String) -> Self {
        ShmName(name)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The object's path under /dev/shm.
    pub fn path(&self) -> PathBuf {
        shm_path(&self.0)
    }
}

impl Drop for ShmName {
    fn drop(&mut self) {
        let _ = ipcring::Ring::unlink(&self.0);
        for bell in [".bell-rx", ".bell-tx"] {
            let _ = std::fs::remove_file(shm_path(&format!("{}{bell}", self.0)));
        }
        // Objects the tests made by hand (garbage, directories, symlinks).
        let p = self.path();
        if p.is_dir() {
            let _ = std::fs::remove_dir(&p);
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Removes the object `name` from `/dev/shm` by hand (whatever it is), and its doorbells (a
/// ring's `NAME.bell-rx`, `NAME.bell-tx`, which every mapping makes): what a test that made
/// the object by hand uses instead of `Ring::unlink`.
pub fn remove_by_hand(name: &str) {
    let _ = std::fs::remove_file(shm_path(name));
    for bell in [".bell-rx", ".bell-tx"] {
        let _ = std::fs::remove_file(shm_path(&format!("{}{bell}", name.trim_start_matches('/'))));
    }
}

/// The path of shared-memory object `name` on Linux.
pub fn shm_path(name: &str) -> PathBuf {
    Path::new("/dev/shm").join(name.trim_start_matches('/'))
}

/// A unique temporary file path, removed on drop.
#[derive(Debug)]
pub struct TempPath(PathBuf);

impl TempPath {
    pub fn new(tag: &str) -> Self {
        TempPath(std::env::temp_dir().join(unique_name(tag)))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8")
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Waits (bounded) until `path` exists: how a re-executed child says "I am attached".
pub fn wait_for_file(path: &Path, bound: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < bound,
            "{} did not appear within {bound:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Creates `path` (a child's "I am attached" signal).
pub fn touch(path: &str) {
    std::fs::write(path, b"").unwrap_or_else(|e| panic!("touch {path}: {e}"));
}

/// `IPCRING_SPSC_MESSAGES`-style overrides.
pub fn env_u64(key: &str, default: u64) -> u64 {
    match std::env::var(key) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("{key}={v:?}: {e}")),
        Err(_) => default,
    }
}

/// A role parameter (panics if the parent did not pass it).
pub fn param(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("child parameter {key} missing"))
}

/// A numeric role parameter.
pub fn param_u64(key: &str) -> u64 {
    let v = param(key);
    v.parse().unwrap_or_else(|e| panic!("child parameter {key}={v:?}: {e}"))
}

/// How a wake backend is passed to a child (the names addresses use).
pub fn wake_name(w: ipcring::WakeBackend) -> &'static str {
    w.name()
}

pub fn parse_wake(s: &str) -> ipcring::WakeBackend {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

pub fn kind_name(k: ipcring::Kind) -> &'static str {
    k.name()
}

pub fn parse_kind(s: &str) -> ipcring::Kind {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------------------
// Message format (in msg.rs, which the pipeline example shares) and its checkers
// ---------------------------------------------------------------------------------------

pub use msg::*;

/// The receiver's bookkeeping when one receiver gets every message: per producer, each seq
/// must be exactly the next one (no loss, no duplicate, FIFO).
#[derive(Debug)]
pub struct SeqChecker {
    next: Vec<u64>,
    max_payload: Option<usize>,
    pub count: u64,
}

impl SeqChecker {
    pub fn new(producers: usize, max_payload: Option<usize>) -> Self {
        SeqChecker {
            next: vec![0; producers],
            max_payload,
            count: 0,
        }
    }

    /// The seq expected next from `producer` (how many of its messages were seen, when the
    /// stream started at 0).
    pub fn next_seq(&self, producer: u32) -> u64 {
        self.next[producer as usize]
    }

    /// Expects `producer`'s next message to be `seq` (a receiver that takes over a stream).
    pub fn expect_next(&mut self, producer: u32, seq: u64) {
        self.next[producer as usize] = seq;
    }

    pub fn check(&mut self, msg: &[u8]) -> Result<(), String> {
        let (p, seq) = decode(msg, self.max_payload).map_err(|e| format!("message #{}: {e}", self.count))?;
        let next = self
            .next
            .get_mut(p as usize)
            .ok_or_else(|| format!("message #{}: unknown producer {p}", self.count))?;
        if seq != *next {
            return Err(format!(
                "message #{}: producer {p} seq {seq}, expected {} ({})",
                self.count,
                *next,
                if seq < *next {
                    "duplicate or reordered"
                } else {
                    "lost messages"
                }
            ));
        }
        *next += 1;
        self.count += 1;
        Ok(())
    }

    /// Panics on a bad message, naming it.
    pub fn check_or_panic(&mut self, msg: &[u8]) {
        if let Err(e) = self.check(msg) {
            panic!("{e}");
        }
    }

    /// Every producer sent exactly `per_producer` messages and all were seen.
    pub fn assert_complete(&self, per_producer: u64) {
        for (p, &n) in self.next.iter().enumerate() {
            assert_eq!(n, per_producer, "producer {p}: received {n} of {per_producer} messages");
        }
    }
}

/// An MPMC consumer's bookkeeping: per producer, seqs must be strictly increasing (FIFO per
/// producer); every `(producer, seq)` is written to a file for the parent, which checks that
/// the union over all consumers is every message exactly once.
pub struct FifoRecorder {
    last: Vec<Option<u64>>,
    per_producer: u64,
    max_payload: Option<usize>,
    out: std::io::BufWriter<std::fs::File>,
    pub count: u64,
}

impl FifoRecorder {
    pub fn new(path: &str, producers: usize, per_producer: u64, max_payload: Option<usize>) -> Self {
        let f = std::fs::File::create(path).unwrap_or_else(|e| panic!("create {path}: {e}"));
        FifoRecorder {
            last: vec![None; producers],
            per_producer,
            max_payload,
            out: std::io::BufWriter::with_capacity(1 << 20, f),
            count: 0,
        }
    }

    pub fn check(&mut self, msg: &[u8]) -> Result<(), String> {
        use std::io::Write;
        let (p, seq) = decode(msg, self.max_payload).map_err(|e| format!("message #{}: {e}", self.count))?;
        let last = self
            .last
            .get_mut(p as usize)
            .ok_or_else(|| format!("message #{}: unknown producer {p}", self.count))?;
        if seq >= self.per_producer {
            return Err(format!("message #{}: producer {p} seq {seq} out of range", self.count));
        }
        if let Some(l) = *last {
            if seq <= l {
                return Err(format!(
                    "message #{}: producer {p} seq {seq} after seq {l} (FIFO per producer broken)",
                    self.count
                ));
            }
        }
        *last = Some(seq);
        self.count += 1;
        let mut rec = [0u8; 12];
        rec[..4].copy_from_slice(&p.to_le_bytes());
        rec[4..].copy_from_slice(&seq.to_le_bytes());
        self.out.write_all(&rec).map_err(|e| format!("record: {e}"))
    }

    pub fn check_or_panic(&mut self, msg: &[u8]) {
        if let Err(e) = self.check(msg) {
            panic!("{e}");
        }
    }

    pub fn finish(mut self) {
        use std::io::Write;
        self.out.flush().expect("flush the record file");
    }
}

/// The parent's side of [`FifoRecorder`]: reads every consumer's file and checks that each
/// `(producer, seq)` with `seq < per_producer` arrived exactly once overall, and in strictly
/// increasing order within each consumer. Returns how many each consumer got.
pub fn verify_records(files: &[&Path], producers: usize, per_producer: u64) -> Vec<u64> {
    let mut seen = vec![vec![0u8; per_producer as usize]; producers];
    let mut per_consumer = Vec::new();
    for (c, path) in files.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        assert_eq!(bytes.len() % 12, 0, "consumer {c}: truncated record file");
        let mut last: Vec<Option<u64>> = vec![None; producers];
        for rec in bytes.chunks_exact(12) {
            let p = u32::from_le_bytes(rec[..4].try_into().unwrap()) as usize;
            let seq = u64::from_le_bytes(rec[4..].try_into().unwrap());
            assert!(p < producers, "consumer {c}: producer {p} out of range");
            assert!(seq < per_producer, "consumer {c}: producer {p} seq {seq} out of range");
            if let Some(l) = last[p] {
                assert!(seq > l, "consumer {c}: producer {p} seq {seq} after {l} (FIFO broken)");
            }
            last[p] = Some(seq);
            let s = &mut seen[p][seq as usize];
            assert_eq!(
                *s, 0,
                "producer {p} seq {seq} delivered twice (second time to consumer {c})"
            );
            *s = 1;
        }
        per_consumer.push((bytes.len() / 12) as u64);
    }
    for (p, s) in seen.iter().enumerate() {
        let missing: Vec<usize> = s.iter().enumerate().filter(|(_, &v)| v == 0).map(|(i, _)| i).collect();
        assert!(
            missing.is_empty(),
            "producer {p}: {} of {per_producer} messages never delivered (first: {:?})",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
    }
    per_consumer
}

// ---------------------------------------------------------------------------------------
// Re-executed children (named rings)
// ---------------------------------------------------------------------------------------

/// The body of each test binary's `#[test] fn child_entry()`: returns at once in a normal
/// test run; in a child (the role variable is set) runs the role and exits the process with
/// 0, or 101 if the role panicked (the panic message goes to stderr, which the parent shows).
pub fn child_entry(dispatch: impl FnOnce(&str)) {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let r = catch_unwind(AssertUnwindSafe(|| dispatch(&role)));
    let code = match r {
        Ok(()) => 0,
        Err(p) => {
            eprintln!(
                "child role {role:?} (pid {}) failed: {}",
                std::process::id(),
                panic_text(&*p)
            );
            101
        }
    };
    std::process::exit(code);
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// A re-executed child process.
pub struct ChildProc {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: Option<JoinHandle<Vec<u8>>>,
    err: Option<JoinHandle<Vec<u8>>>,
}

fn drain<R: Read + Send + 'static>(mut r: R) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// Re-executes this test binary as a child running `role`, with `vars` in its environment.
/// Its stdin is a pipe the parent holds ([`ChildProc::close_stdin`] closes it); stdout and
/// stderr are collected for the failure report.
pub fn spawn(role: &str, vars: &[(&str, String)]) -> ChildProc {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .env("RUST_BACKTRACE", "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    spawn_command(role, cmd)
}

/// Starts any program (a C example, a Rust example binary) as a child labelled `label`, with
/// the same plumbing as [`spawn`]: stdin a pipe the parent holds, stdout and stderr collected
/// for [`wait_all`] and the failure report.
pub fn spawn_command(label: &str, mut cmd: Command) -> ChildProc {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn child {label} ({cmd:?}): {e}"));
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let stdin = child.stdin.take();
    ChildProc {
        label: format!("{label} (pid {})", child.id()),
        child,
        stdin,
        out: Some(out),
        err: Some(err),
    }
}

impl ChildProc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// The exit status if the child has ended (reaped now, remembered for [`wait_all`]).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
    pub fn label(&self) -> &str {
        &self.label
    }
    /// Closes the child's stdin: children that wait for EOF on stdin go on.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }
    /// SIGKILL, now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }
}

/// How a child ended.
#[derive(Debug)]
pub struct Exit {
    pub label: String,
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Exit {
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }
    pub fn describe(&self) -> String {
        let how = if self.timed_out {
            "HUNG: killed at the hang bound (or no progress for that long)".to_string()
        } else {
            format!("{:?}", self.status)
        };
        format!(
            "--- child {}: {how}\n--- stderr:\n{}\n--- stdout (tail):\n{}",
            self.label,
            self.stderr.trim_end(),
            tail(&self.stdout, 2000)
        )
    }
}

fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    let mut i = start;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

/// Waits for every child, at most `bound` in all. Children still running at the bound are
/// killed and marked hung. Once one child has failed, the others get 15 s more before they
/// are killed (a failed peer can leave them blocked for good).
pub fn wait_all(children: Vec<ChildProc>, bound: Duration) -> Vec<Exit> {
    wait_all_progress(children, bound, || 0)
}

/// Like [`wait_all`], but the bound is on a stall: children are killed as hung only once
/// `progress()` (e.g. the ring's cursors, [`ring_progress`]) has not changed for `stall`. Long
/// runs on a loaded machine may take any time, as long as they keep moving.
pub fn wait_all_progress(
    mut children: Vec<ChildProc>,
    stall: Duration,
    mut progress: impl FnMut() -> u64,
) -> Vec<Exit> {
    let mut last = progress();
    let mut moved = Instant::now();
    let mut failed_at: Option<Instant> = None;
    let mut status: Vec<Option<ExitStatus>> = vec![None; children.len()];
    let mut hung = vec![false; children.len()];
    loop {
        let mut running = 0;
        for (i, c) in children.iter_mut().enumerate() {
            if status[i].is_none() {
                match c.child.try_wait() {
                    Ok(Some(s)) => {
                        if !s.success() && failed_at.is_none() {
                            failed_at = Some(Instant::now());
                        }
                        status[i] = Some(s);
                    }
                    Ok(None) => running += 1,
                    Err(e) => panic!("wait for {}: {e}", c.label),
                }
            }
        }
        if running == 0 {
            break;
        }
        let now = progress();
        if now != last {
            last = now;
            moved = Instant::now();
        }
        let stalled = moved.elapsed() >= stall;
        let peer_failed = failed_at.is_some_and(|t| t.elapsed() >= Duration::from_secs(15));
        if stalled || peer_failed {
            for (i, c) in children.iter_mut().enumerate() {
                if status[i].is_none() {
                    c.kill();
                    hung[i] = true;
                    status[i] = c.child.wait().ok();
                }
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    children
        .iter_mut()
        .enumerate()
        .map(|(i, c)| {
            c.stdin.take();
            let stdout = c.out.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
            let stderr = c.err.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
            Exit {
                label: c.label.clone(),
                status: status[i],
                timed_out: hung[i],
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            }
        })
        .collect()
}

/// Waits for every child (bounded) and fails the test, with each failed child's stderr,
/// unless all exited with status 0.
pub fn run_all(children: Vec<ChildProc>, bound: Duration) {
    run_all_progress(children, bound, || 0)
}

/// [`run_all`] with a stall bound (see [`wait_all_progress`]).
pub fn run_all_progress(children: Vec<ChildProc>, stall: Duration, progress: impl FnMut() -> u64) {
    let exits = wait_all_progress(children, stall, progress);
    let failed: Vec<String> = exits.iter().filter(|e| !e.success()).map(|e| e.describe()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} child processes failed:\n{}",
        failed.len(),
        exits.len(),
        failed.join("\n")
    );
}

/// The messages a named ring has seen, sent plus received, as `ipcring::inspect` reads them
/// through /dev/shm (no lock taken, no endpoint attached): it moves while messages flow, and
/// it counts messages (SPSC: the full counts; MPMC: the cursors, which count positions).
/// 0 when the ring cannot be read.
pub fn ring_progress(name: &str) -> impl FnMut() -> u64 {
    let name = name.to_string();
    move || {
        let Ok(info) = ipcring::inspect::inspect(&name) else {
            return 0;
        };
        match info.counters {
            Some(c) => match c.counts {
                Some((sent, received)) => sent.wrapping_add(received),
                None => c.tail.wrapping_add(c.head),
            },
            None => 0,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Forked children (anonymous rings)
// ---------------------------------------------------------------------------------------

/// Writes straight to file descriptor 2, bypassing libtest's output capture (which, in a
/// forked child, would keep the text in the child's memory) and std's stderr lock.
pub fn raw_stderr(s: &str) {
    let mut b = s.as_bytes();
    while !b.is_empty() {
        // SAFETY: b is a valid buffer of b.len() bytes; fd 2 is open (or the write fails).
        let n = unsafe { libc::write(2, b.as_ptr().cast(), b.len()) };
        if n <= 0 {
            return;
        }
        b = &b[n as usize..];
    }
}

/// A forked child process.
pub struct Forked {
    label: String,
    pid: libc::pid_t,
    err: Option<JoinHandle<Vec<u8>>>,
}

/// Forks. The child runs `f` and leaves with `_exit(0)`, or `_exit(101)` if `f` panicked; it
/// never returns into the test harness. Its stderr goes to a pipe the parent reads.
///
/// `f` runs only in the child. Capture by reference what the child should use (the child has
/// its own copy of the parent's memory, so `Option::take` in the child leaves the parent's
/// value alone); anything moved into `f` is dropped in the parent without running.
pub fn fork(label: &str, f: impl FnOnce()) -> Forked {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0, "pipe2");
    // SAFETY: the child only runs `f` and then `_exit`s; the tests serialise themselves
    // (`serial`), so no other test thread is mid-way through a forking hazard of its own.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: fds are ours; dup2 makes the pipe the child's stderr.
        unsafe {
            libc::dup2(fds[1], 2);
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        std::panic::set_hook(Box::new(|info| {
            raw_stderr(&format!("forked child (pid {}) panicked: {info}\n", std::process::id()));
        }));
        let code = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(()) => 0,
            Err(_) => 101,
        };
        // SAFETY: _exit ends the child without running the parent's atexit handlers or
        // returning into the test harness.
        unsafe { libc::_exit(code) };
    }
    // SAFETY: fds[1] is our copy of the write end; fds[0] becomes the reader's File.
    let reader = unsafe {
        libc::close(fds[1]);
        std::fs::File::from_raw_fd(fds[0])
    };
    Forked {
        label: format!("{label} (pid {pid})"),
        pid,
        err: Some(drain(reader)),
    }
}

/// How a forked child ended: its wait status and stderr.
#[derive(Debug)]
pub struct ForkExit {
    pub label: String,
    pub status: libc::c_int,
    pub timed_out: bool,
    pub stderr: String,
}

impl ForkExit {
    pub fn success(&self) -> bool {
        !self.timed_out && libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0
    }
    pub fn describe(&self) -> String {
        let how = if self.timed_out {
            "HUNG: killed at the hang bound".to_string()
        } else if libc::WIFEXITED(self.status) {
            format!("exit status {}", libc::WEXITSTATUS(self.status))
        } else if libc::WIFSIGNALED(self.status) {
            format!("killed by signal {}", libc::WTERMSIG(self.status))
        } else {
            format!("wait status {:#x}", self.status)
        };
        format!(
            "--- forked child {}: {how}\n--- stderr:\n{}",
            self.label,
            self.stderr.trim_end()
        )
    }
}

impl Forked {
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Sends `sig` to the child.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: pid is our unreaped child, so it cannot have been recycled.
        unsafe { libc::kill(self.pid, sig) };
    }

    /// Whether the child has exited (reaps it if so).
    pub fn try_wait(&mut self) -> Option<libc::c_int> {
        let mut st = 0;
        // SAFETY: st is a valid out-pointer; pid is our child.
        let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) };
        assert!(r >= 0, "waitpid: {}", std::io::Error::last_os_error());
        (r == self.pid).then_some(st)
    }

    /// Waits at most `bound`; past it the child is killed and reported as hung.
    pub fn wait(mut self, bound: Duration) -> ForkExit {
        let start = Instant::now();
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = self.try_wait() {
                break st;
            }
            if start.elapsed() >= bound {
                timed_out = true;
                self.signal(libc::SIGKILL);
                let mut st = 0;
                // SAFETY: as in try_wait, blocking this time.
                unsafe { libc::waitpid(self.pid, &mut st, 0) };
                break st;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let stderr = self
            .err
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        ForkExit {
            label: self.label.clone(),
            status,
            timed_out,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Waits (bounded) and fails the test unless the child exited with status 0.
    pub fn expect_success(self, bound: Duration) {
        let e = self.wait(bound);
        assert!(e.success(), "{}", e.describe());
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        // A test that failed before waiting must not leave a child running.
        if self.err.is_some() && self.try_wait().is_none() {
            self.signal(libc::SIGKILL);
            let mut st = 0;
            // SAFETY: pid is our child.
            unsafe { libc::waitpid(self.pid, &mut st, 0) };
        }
    }
}

/// A pipe for signalling between a forked parent and child, one byte at a time.
pub struct Pipe {
    pub r: RawFd,
    pub w: RawFd,
}

impl Pipe {
    pub fn new() -> Pipe {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: fds is a valid array of two ints.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0, "pipe2");
        Pipe { r: fds[0], w: fds[1] }
    }

    /// Writes all of `bytes`.
    pub fn write(&self, bytes: &[u8]) {
        let mut b = bytes;
        while !b.is_empty() {
            // SAFETY: b is valid for b.len() bytes; w is our write end.
            let n = unsafe { libc::write(self.w, b.as_ptr().cast(), b.len()) };
            assert!(n > 0, "pipe write: {}", std::io::Error::last_os_error());
            b = &b[n as usize..];
        }
    }

    /// Reads exactly `buf.len()` bytes, waiting at most `bound` (poll); false on EOF.
    pub fn read_exact(&self, buf: &mut [u8], bound: Duration) -> bool {
        let start = Instant::now();
        let mut got = 0;
        while got < buf.len() {
            let left = bound.saturating_sub(start.elapsed());
            assert!(!left.is_zero(), "pipe read: nothing within {bound:?}");
            let mut pfd = libc::pollfd {
                fd: self.r,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: pfd is a valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as libc::c_int) };
            if rc <= 0 {
                continue;
            }
            // SAFETY: the destination is inside buf.
            let n = unsafe { libc::read(self.r, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
            if n == 0 {
                return false;
            }
            if n < 0 {
                let e = std::io::Error::last_os_error();
                assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "pipe read: {e}");
                continue;
            }
            got += n as usize;
        }
        true
    }

    pub fn close_read(&mut self) {
        if self.r >= 0 {
            // SAFETY: r is our descriptor, closed once.
            unsafe { libc::close(self.r) };
            self.r = -1;
        }
    }

    pub fn close_write(&mut self) {
        if self.w >= 0 {
            // SAFETY: w is our descriptor, closed once.
            unsafe { libc::close(self.w) };
            self.w = -1;
        }
    }
}

impl Default for Pipe {
    fn default() -> Self {
        Pipe::new()
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.close_read();
        self.close_write();
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process, so a sender can stamp a
/// message and the receiver can tell how long delivery took.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
