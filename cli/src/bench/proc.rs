//! Forked children and their plumbing: a report pipe per child (the child writes JSON lines
//! to it), bounded reads of it, CPU time from `getrusage`, and reaping.
//!
//! Protocol: the child writes `{"ready": ..}` once it has opened its ends and ends with
//! `{"ok": ..}` (its figures) or `{"error": "..", "na": bool}`, then `_exit`s. The parent never waits without a bound: every
//! read, every receive and every spin has a [`Watch`] (a deadline plus "is the peer still
//! alive"), and a [`Child`] that is dropped before it was reaped is killed and reaped.
//!
//! The bench's process is single-threaded (no progress-bar tick thread), so forking is safe;
//! children never return into the bench: they `_exit` without running destructors, so they
//! never touch the parent's endpoints, named objects or terminal.

use serde_json::{json, Value};
use std::hint::spin_loop;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// A measurement phase's bound: an instant, and the same as an [`ipcring::Timeout`] (computed
/// once, so that passing it to every call costs no clock read).
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    at: Instant,
    timeout: ipcring::Timeout,
    len: Duration,
}

impl Deadline {
    /// `d` from now.
    pub fn after(d: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + d,
            timeout: ipcring::Timeout::after(d),
            len: d,
        }
    }

    /// The deadline as the library's timeout.
    pub fn timeout(&self) -> ipcring::Timeout {
        self.timeout
    }

    /// Whether it has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// What is left, in whole milliseconds for `poll` (at least 1 while not passed).
    fn poll_ms(&self) -> i32 {
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            0
        } else {
            (left.as_millis() as i32).clamp(1, 1000)
        }
    }

    /// The error of a wait that ran into it.
    pub fn expired(&self, what: &str) -> String {
        format!("{what}: no progress within {} s (the peer hung?)", self.len.as_secs())
    }
}

/// Who the other process is, for the liveness checks of a [`Watch`].
#[derive(Clone, Copy, Debug)]
pub enum Peer {
    /// Our forked child: alive while `waitid(WNOWAIT)` says it has not exited.
    Child(libc::pid_t),
    /// The bench, seen from a child: alive while it is still our parent.
    Parent(libc::pid_t),
}

impl Peer {
    /// Whether the peer is still running.
    pub fn alive(&self) -> bool {
        match *self {
            Peer::Child(pid) => child_running(pid),
            Peer::Parent(pid) => {
                // SAFETY: getppid cannot fail.
                let ppid = unsafe { libc::getppid() };
                ppid == pid
            }
        }
    }
}

/// A deadline and a peer: what every wait checks now and then.
#[derive(Clone, Copy, Debug)]
pub struct Watch {
    /// The phase's deadline.
    pub deadline: Deadline,
    /// The process on the other side.
    pub peer: Peer,
}

impl Watch {
    /// Fails once the deadline has passed or the peer has gone.
    pub fn check(&self, what: &str) -> Result<(), String> {
        if !self.peer.alive() {
            return Err(format!("{what}: the other process has exited"));
        }
        if self.deadline.passed() {
            return Err(self.deadline.expired(what));
        }
        Ok(())
    }

    /// Spins until `done()`, checking the watch every 4096 rounds.
    #[inline]
    pub fn spin_until(&self, what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
        self.spin_op(what, || {
            if done() {
                Ok(())
            } else {
                Err(ipcring::Error::WouldBlock)
            }
        })
    }

    /// Calls `op` until it returns something other than `WouldBlock`, with `spin_loop`
    /// between calls and the watch checked every 4096 rounds: its value, or its error as
    /// "`what`: error". The spinning rows' loop around a non-blocking call.
    #[inline]
    pub fn spin_op<T>(&self, what: &str, mut op: impl FnMut() -> Result<T, ipcring::Error>) -> Result<T, String> {
        let mut n = 0u32;
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(ipcring::Error::WouldBlock) => {
                    spin_loop();
                    n = n.wrapping_add(1);
                    if n & 0xfff == 0 {
                        self.check(what)?;
                    }
                }
                Err(e) => return Err(format!("{what}: {e}")),
            }
        }
    }
}

/// Whether our child `pid` has not exited yet (it stays waitable: `WNOWAIT`).
fn child_running(pid: libc::pid_t) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value for waitid to fill in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: info is a valid out-pointer; pid is our child; WNOWAIT leaves it unreaped.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid is the field waitid filled in (0 when the child has not exited).
    r == 0 && unsafe { info.si_pid() } == 0
}

/// This process's user + system CPU time so far, in nanoseconds.
pub fn cpu_ns() -> u64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid out-pointer; RUSAGE_SELF cannot fail.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU time of this process and of its reaped children so far, in nanoseconds.
pub fn cpu_ns_with_children() -> u64 {
    let mut total = cpu_ns();
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid out-pointer; RUSAGE_CHILDREN cannot fail.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    total += tv(ru.ru_utime) + tv(ru.ru_stime);
    total
}

/// CPU time every process of the machine has used so far (user, nice, system, irq, softirq
/// from `/proc/stat`), in nanoseconds; `None` if unreadable.
pub fn machine_busy_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    if f.len() < 7 {
        return None;
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return None;
    }
    let ticks = f[0] + f[1] + f[2] + f[5] + f[6];
    Some(ticks * (1_000_000_000 / hz as u64))
}

/// A pipe (read end, write end), close-on-exec.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid out-array of two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these two descriptors; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Writes all of `b` to `fd` (EINTR retried).
fn write_all(fd: RawFd, mut b: &[u8]) -> io::Result<()> {
    while !b.is_empty() {
        // SAFETY: b is readable for b.len() bytes; fd is an open descriptor of ours.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        b = &b[n as usize..];
    }
    Ok(())
}

/// Waits until `fd` is readable (or hung up), at most until `dl`. `Ok(false)`: the deadline.
fn wait_readable(fd: RawFd, dl: &Deadline) -> io::Result<bool> {
    loop {
        let ms = dl.poll_ms();
        if ms == 0 {
            return Ok(false);
        }
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: p is one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms.min(200)) };
        if r > 0 {
            return Ok(true);
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// What a child's function works with: its end of the report pipe and its deadline.
pub struct Ctx {
    report: OwnedFd,
    watch: Watch,
}

impl Ctx {
    /// Tells the parent that this side is set up, with `v` (e.g. an address it created).
    pub fn ready(&mut self, v: Value) -> Result<(), String> {
        self.line(&json!({ "ready": v }))
    }

    fn line(&mut self, v: &Value) -> Result<(), String> {
        let mut s = v.to_string();
        s.push('\n');
        write_all(self.report.as_raw_fd(), s.as_bytes()).map_err(|e| format!("report pipe: {e}"))
    }

    /// This child's watch (its deadline, and the bench as its peer).
    pub fn watch(&self) -> Watch {
        self.watch
    }
}

/// An error from a child's function: its text, and whether it means "not available here"
/// (a kernel limit) rather than a failure.
#[derive(Debug)]
pub struct ChildErr {
    /// What went wrong.
    pub msg: String,
    /// A kernel limit: the row is `n/a`, not an error.
    pub na: bool,
}

impl From<String> for ChildErr {
    fn from(msg: String) -> ChildErr {
        ChildErr { msg, na: false }
    }
}

/// A forked child; killed and reaped on drop unless [`Child::finish`] reaped it.
pub struct Child {
    pid: libc::pid_t,
    status: Option<i32>,
    report: OwnedFd,
    buf: Vec<u8>,
    eof: bool,
}

/// Forks a child that runs `f` with its [`Ctx`] and reports its result; `timeout` bounds the
/// child's own waits (it also dies with the bench: `PR_SET_PDEATHSIG`, SIGTERM).
pub fn spawn(timeout: Duration, f: impl FnOnce(&mut Ctx) -> Result<Value, ChildErr>) -> Result<Child, String> {
    let (report_r, report_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: getpid cannot fail.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the bench is single-threaded (no other thread can hold a lock the child would
    // need); the child only runs `f` and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: prctl and getppid are plain system calls; if the bench died before the
        // prctl took effect, leave at once. SIGTERM, not SIGKILL: the inherited handler
        // (cleanup.rs) removes a named object this child may have just created, then the
        // signal ends the child.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            if libc::getppid() != parent {
                libc::_exit(3);
            }
        }
        drop(report_r);
        let mut ctx = Ctx {
            report: report_w,
            watch: Watch {
                deadline: Deadline::after(timeout),
                peer: Peer::Parent(parent),
            },
        };
        let res = catch_unwind(AssertUnwindSafe(|| f(&mut ctx)));
        let (line, code) = match res {
            Ok(Ok(v)) => (json!({ "ok": v }), 0),
            Ok(Err(e)) => (json!({ "error": e.msg, "na": e.na }), 1),
            Err(p) => {
                let what = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                (json!({ "error": format!("panicked: {what}") }), 2)
            }
        };
        let _ = ctx.line(&line);
        // SAFETY: ends the child without running the bench's destructors (its endpoints,
        // named objects and terminal belong to the parent).
        unsafe { libc::_exit(code) }
    }
    drop(report_w);
    Ok(Child {
        pid,
        status: None,
        report: report_r,
        buf: Vec::new(),
        eof: false,
    })
}

impl Child {
    /// A watch on this child with deadline `dl`.
    pub fn watch(&self, dl: Deadline) -> Watch {
        Watch {
            deadline: dl,
            peer: Peer::Child(self.pid),
        }
    }

    /// The next line the child wrote, at most until `dl`.
    fn next_line(&mut self, dl: &Deadline) -> Result<Option<Value>, String> {
        let fd = self.report.as_raw_fd();
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return serde_json::from_slice(&line)
                    .map(Some)
                    .map_err(|e| format!("child's report: {e}"));
            }
            if self.eof {
                return Ok(None);
            }
            if !wait_readable(fd, dl).map_err(|e| format!("report pipe: {e}"))? {
                return Err(dl.expired("waiting for the child's report"));
            }
            let mut b = [0u8; 512];
            // SAFETY: b is writable for its length; fd is our open read end.
            let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), b.len()) };
            if n > 0 {
                self.buf.extend_from_slice(&b[..n as usize]);
            } else if n == 0 {
                self.eof = true;
            } else {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(format!("report pipe: {e}"));
                }
            }
        }
    }

    /// Reads the child's next message, which must carry `key` (`"ready"` or `"ok"`); an
    /// error line or an exit without one is the error.
    pub fn expect(&mut self, key: &str, dl: &Deadline) -> Result<Value, ChildErr> {
        match self.next_line(dl)? {
            Some(mut v) => {
                if let Some(x) = v.get_mut(key) {
                    return Ok(x.take());
                }
                let na = v.get("na").and_then(Value::as_bool).unwrap_or(false);
                match v.get("error").and_then(Value::as_str) {
                    Some(e) => Err(ChildErr { msg: e.to_string(), na }),
                    None => Err(format!("child's report: unexpected {v}").into()),
                }
            }
            None => Err(format!("the child exited without reporting{}", self.exit_note()).into()),
        }
    }

    /// The child's final report; then reaps it (it exits right after writing it).
    pub fn finish(&mut self, dl: &Deadline) -> Result<Value, ChildErr> {
        let v = self.expect("ok", dl)?;
        match self.reap(Duration::from_secs(5)) {
            Some(0) => Ok(v),
            Some(st) => Err(format!("the child reported, then {}", describe(st)).into()),
            None => Err("the child reported but did not exit within 5 s".to_string().into()),
        }
    }

    /// After a failure on the parent's side: the child's own error if it wrote one within
    /// a moment, or how it ended.
    pub fn explain(&mut self) -> String {
        let dl = Deadline::after(Duration::from_millis(500));
        match self.next_line(&dl) {
            Ok(Some(v)) => match v.get("error").and_then(Value::as_str) {
                Some(e) => format!(" (child: {e})"),
                None => String::new(),
            },
            Ok(None) | Err(_) => match self.exit_note() {
                s if s.is_empty() => " (the child was still running; killed)".into(),
                s => s,
            },
        }
    }

    /// " (the child ...)" if it has ended, else nothing.
    fn exit_note(&mut self) -> String {
        match self.reap(Duration::from_millis(100)) {
            Some(st) => format!(" (the child {})", describe(st)),
            None => String::new(),
        }
    }

    /// Reaps the child if it exits within `wait`; its wait status.
    fn reap(&mut self, wait: Duration) -> Option<i32> {
        if self.status.is_some() {
            return self.status;
        }
        let until = Instant::now() + wait;
        loop {
            let mut st = 0;
            // SAFETY: pid is our child and not yet reaped; st is a valid out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) };
            if r == self.pid {
                self.status = Some(st);
                return self.status;
            }
            if r < 0 || Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A wait status in words.
fn describe(st: i32) -> String {
    if libc::WIFEXITED(st) {
        format!("exited with status {}", libc::WEXITSTATUS(st))
    } else if libc::WIFSIGNALED(st) {
        format!("was killed by signal {}", libc::WTERMSIG(st))
    } else {
        format!("ended with wait status {st:#x}")
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return; // reaped: never signal a pid that may have been recycled
        }
        // SAFETY: pid is our child and not yet reaped, so it cannot have been recycled.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}
