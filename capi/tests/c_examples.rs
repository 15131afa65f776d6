//! The C examples of `c-examples/` (the seed programs, rows 1–10 of the seeds' README),
//! built with their own Makefile against the library these tests were built with, and run
//! as a user would run them, over every transport that fits each program's shape: each run
//! must exit 0 with exactly the expected output (the same on every transport) and leave no
//! named object behind (ring, FIFO, queue, socket path, listening port), and each program
//! must refuse a malformed address of every scheme with a clear message and a non-zero exit
//! status (not a crash).
//!
//! [`MATRIX`] is the table of example × transports (the matrix of `c-examples/README.md`):
//! one test per pair, named `rowNN_example::transport`, so a failure names both. A transport
//! this branch's library does not serve yet would be listed in [`NOT_YET_SERVED`] (empty
//! now): its tests say so on stderr and pass without running anything.
//!
//! Named channels get unique names and paths ([`Named`]: `ipcring-test-PID-TAG-N`, FIFO and
//! socket paths in a per-test directory, a free loopback port for TCP), removed even when a
//! test fails; every run has a hang bound, past which the program is killed and the test
//! fails with its stderr.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::serial;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The bound on any one program run (generous: the box is shared and slow at times).
const BOUND: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The matrix: which example runs over which transport
// ---------------------------------------------------------------------------------------

/// A transport, by scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    /// `shm://` (anonymous, from `ipcring_pair`) or `shm://NAME`: the ring.
    Shm,
    /// `pipe://`: an anonymous pipe from `ipcring_pair`.
    Pipe,
    /// `fifo:///path`: a named pipe.
    Fifo,
    /// `mq://NAME`: a POSIX message queue.
    Mq,
    /// `unix:///path`: a UNIX seqpacket socket (the receiver listens).
    Unix,
    /// `tcp://127.0.0.1:PORT` (the receiver listens).
    Tcp,
}

use T::{Fifo, Mq, Pipe, Shm, Tcp, Unix};

impl T {
    fn scheme(self) -> &'static str {
        match self {
            Shm => "shm",
            Pipe => "pipe",
            Fifo => "fifo",
            Mq => "mq",
            Unix => "unix",
            Tcp => "tcp",
        }
    }

    /// Messages outlive every process that had the channel open (until it is unlinked).
    fn persistent(self) -> bool {
        matches!(self, Shm | Mq)
    }

    /// Only the receiver makes an object (it listens); a sender creates nothing.
    fn socket(self) -> bool {
        matches!(self, Unix | Tcp)
    }

    /// Whether the address option `key` applies: `capacity` is ring slots or the queue's
    /// `mq_maxmsg`; `mode` and `wake` are the ring's; `msg_size` and `perm` apply to all.
    fn takes(self, key: &str) -> bool {
        match key {
            "capacity" => matches!(self, Shm | Mq),
            "mode" | "wake" => self == Shm,
            _ => true,
        }
    }
}

/// Transports whose implementation is not in this branch's library (it answers
/// `IPCRING_EUNSUPPORTED`): their tests report "not served yet" and pass. Empty since mq,
/// unix and tcp were merged; a transport added to the table before its implementation lands
/// goes here, and enabling it is deleting it from this list.
const NOT_YET_SERVED: &[T] = &[];

/// Every named transport.
const NAMED: &[T] = &[Shm, Fifo, Mq, Unix, Tcp];

/// Example × transports: what the tests below run (the README's matrix). Where a transport
/// is left out, the comment says why.
const MATRIX: &[(&str, &[T])] = &[
    // fork() + ipcring_pair: the anonymous transports.
    ("fork_greeting", &[Shm, Pipe]),
    ("child_sends_int", &[Shm, Pipe]),
    ("echo_roundtrip", &[Shm, Pipe]),
    // Writer and reader meet on a name. "The writer exits before the reader starts" is run
    // on shm and mq only (data in a FIFO or socket does not outlive its processes); on
    // fifo/unix/tcp the writer started first waits in its send for the reader.
    ("named_writer_reader", NAMED),
    // Two channels, each opened with both ends in one process, all sends done before any
    // receive, and "messages still queued" printed from ipcring_info: only channels that
    // hold messages without a reader attached and can count them (a FIFO or socket reports
    // queued 0, and a socket sender in the same process would connect to itself).
    ("queue_messages", &[Shm, Mq]),
    // The reader starts after the writer has exited: only the ring and the queue keep data.
    ("shared_value", &[Shm, Mq]),
    ("bounded_buffer", &[Shm, Pipe]),
    // Two one-way channels per client/server pair; either side may start first.
    ("request_response", NAMED),
    ("line_client_server", NAMED),
    // Several clients send on one request channel at once: shm with mode=mpmc, mq, FIFO
    // (requests of at most 512 bytes: frames below PIPE_BUF never interleave), and sockets
    // (a connection per sender).
    ("calc_client_server", NAMED),
];

/// Runs `body` for `example` over `t`: checks that the matrix lists the pair, skips a
/// transport not served yet, and names example and transport in any failure. On `tcp://`,
/// a run that lost its port to another process between the pick and the bind is tried again
/// with new ports (twice at most).
fn case(example: &str, t: T, body: fn(T)) {
    let _s = serial();
    let listed = MATRIX
        .iter()
        .find(|(e, _)| *e == example)
        .unwrap_or_else(|| panic!("{example} is not in MATRIX"))
        .1;
    assert!(listed.contains(&t), "MATRIX does not list {example} over {t:?}");
    if NOT_YET_SERVED.contains(&t) {
        eprintln!(
            "{example} over {}://: not run, the transport is not served by this branch yet (NOT_YET_SERVED)",
            t.scheme()
        );
        return;
    }
    let attempts = if t == Tcp { 3 } else { 1 };
    for attempt in 1..=attempts {
        match std::panic::catch_unwind(|| body(t)) {
            Ok(()) => return,
            Err(e) => {
                let text = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                if attempt < attempts && text.contains("already has its sender or receiver") {
                    eprintln!("{example} over tcp://: a port was taken meanwhile, again with new ports");
                    continue;
                }
                panic!("{example} over {}:// FAILED: {text}", t.scheme());
            }
        }
    }
}

/// The transports by scheme, so that the tests are named `row01_fork_greeting::pipe`.
#[allow(non_upper_case_globals)]
mod by_scheme {
    use super::T;
    pub const shm: T = T::Shm;
    pub const pipe: T = T::Pipe;
    pub const fifo: T = T::Fifo;
    pub const mq: T = T::Mq;
    pub const unix: T = T::Unix;
    pub const tcp: T = T::Tcp;
}

/// One test per (example, transport) pair: `rowNN_example::transport`; and [`TESTED`], the
/// pairs generated, which must be [`MATRIX`].
macro_rules! matrix_tests {
    ($($row:ident: $example:literal => $body:ident [$($t:ident),*];)*) => {
        $(
            mod $row {
                use super::*;
                $(
                    #[test]
                    fn $t() {
                        case($example, by_scheme::$t, $body);
                    }
                )*
            }
        )*
        const TESTED: &[(&str, &[T])] = &[$(($example, &[$(by_scheme::$t),*])),*];
    };
}

matrix_tests! {
    row01_fork_greeting: "fork_greeting" => fork_greeting [shm, pipe];
    row02_child_sends_int: "child_sends_int" => child_sends_int [shm, pipe];
    row03_echo_roundtrip: "echo_roundtrip" => echo_roundtrip [shm, pipe];
    row04_named_writer_reader: "named_writer_reader" => named_writer_reader [shm, fifo, mq, unix, tcp];
    row05_queue_messages: "queue_messages" => queue_messages [shm, mq];
    row06_shared_value: "shared_value" => shared_value [shm, mq];
    row07_bounded_buffer: "bounded_buffer" => bounded_buffer [shm, pipe];
    row08_request_response: "request_response" => request_response [shm, fifo, mq, unix, tcp];
    row09_line_client_server: "line_client_server" => line_client_server [shm, fifo, mq, unix, tcp];
    row10_calc_client_server: "calc_client_server" => calc_client_server [shm, fifo, mq, unix, tcp];
}

/// The generated tests are the matrix, no more and no less.
#[test]
fn matrix_tests_match_the_table() {
    assert_eq!(TESTED, MATRIX, "matrix_tests! and MATRIX disagree");
}

// ---------------------------------------------------------------------------------------
// Running the programs
// ---------------------------------------------------------------------------------------

/// A running example program; killed on drop if the test gave up on it.
struct Prog {
    label: String,
    child: Child,
    out: Option<JoinHandle<Vec<u8>>>,
    err: Option<JoinHandle<Vec<u8>>>,
}

/// How a program ended.
struct Done {
    label: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// Starts example `name` with `args`; `stdin` is its whole input (none: /dev/null).
fn start(name: &str, args: &[&str], stdin: Option<&str>) -> Prog {
    let exe = common::c::make_examples().join(name);
    let mut cmd = Command::new(&exe);
    cmd.args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let input = input.to_owned();
        // A program that fails early stops reading: a write error here is its own report.
        std::thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        });
    }
    Prog {
        label: format!("{name} {args:?} (pid {})", child.id()),
        out: Some(drain(child.stdout.take().expect("piped stdout"))),
        err: Some(drain(child.stderr.take().expect("piped stderr"))),
        child,
    }
}

impl Prog {
    /// Sends `sig` to the program.
    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own unreaped child, so the pid cannot have been recycled.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// Waits for the program to end, at most [`BOUND`]; past it, kills it and fails.
    fn finish(mut self) -> Done {
        let start = Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                break Some(st);
            }
            if start.elapsed() >= BOUND {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let stdout = self
            .out
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let stderr = self
            .err
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&stdout).into_owned(),
            String::from_utf8_lossy(&stderr).into_owned(),
        );
        let Some(status) = status else {
            panic!(
                "{} HUNG: killed after {BOUND:?}\n--- stdout\n{stdout}--- stderr\n{stderr}",
                self.label
            );
        };
        Done {
            label: self.label.clone(),
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Prog {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Done {
    fn describe(&self) -> String {
        format!(
            "{}: {}\n--- stdout\n{}--- stderr\n{}",
            self.label, self.status, self.stdout, self.stderr
        )
    }

    /// Exit status 0 and exactly `stdout`.
    fn ok(&self, stdout: &str) {
        assert!(self.status.success(), "expected success:\n{}", self.describe());
        assert_eq!(self.stdout, stdout, "stdout of {}", self.label);
    }

    /// An exit (not a signal) with status `code`, and stderr that contains `needle`.
    fn failed(&self, code: i32, needle: &str) {
        assert_eq!(
            self.status.code(),
            Some(code),
            "expected exit status {code}:\n{}",
            self.describe()
        );
        assert!(
            self.stderr.contains(needle),
            "stderr should mention {needle:?}:\n{}",
            self.describe()
        );
    }
}

fn run(name: &str, args: &[&str]) -> Done {
    start(name, args, None).finish()
}

fn run_input(name: &str, args: &[&str], stdin: &str) -> Done {
    start(name, args, Some(stdin)).finish()
}

// ---------------------------------------------------------------------------------------
// Addresses and named objects
// ---------------------------------------------------------------------------------------

/// `?k=v&...` with the options of `opts` (`"capacity=8&msg_size=64"`) that `t` takes: the
/// others (a ring's `capacity` on a FIFO, say) are left out, so one test line states what
/// it asks of every transport.
fn options(t: T, opts: &str) -> String {
    let kept: Vec<&str> = opts
        .split('&')
        .filter(|kv| !kv.is_empty() && t.takes(kv.split('=').next().unwrap_or("")))
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

/// An anonymous channel's address for `ipcring_pair`: `shm://?...` or `pipe://?...`.
fn anon(t: T, opts: &str) -> String {
    assert!(matches!(t, Shm | Pipe), "{t:?} has no anonymous channels");
    format!("{}://{}", t.scheme(), options(t, opts))
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `ipcring-test-PID-TAG-N`: unique per process and call (the prefix of
/// [`our_objects`]).
fn unique(tag: &str) -> String {
    format!(
        "ipcring-test-{}-{tag}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A test's directory for FIFOs and socket paths, removed with whatever is left in it.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let p = std::env::temp_dir().join(unique("dir"));
        std::fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        Scratch(p)
    }

    /// Nothing was left in the directory.
    fn assert_empty(&self) {
        let left: Vec<_> = std::fs::read_dir(&self.0)
            .expect("read scratch directory")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert!(left.is_empty(), "left behind in {}: {left:?}", self.0.display());
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Ports handed out by [`free_port`] in this process, never handed out twice.
static PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A loopback port that was free a moment ago: bound with port 0, read, released.
fn free_port() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local_addr").port();
        drop(l);
        if PORTS.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
}

/// Whether something listens on 127.0.0.1:`port` (or on any address), from /proc/net/tcp:
/// a look that, unlike a probe connection, is not a sender arriving at the receiver.
fn listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let ours = [format!("0100007F:{port:04X}"), format!("00000000:{port:04X}")];
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && ours.iter().any(|o| o == f[1]) && f[3] == "0A"
    })
}

/// A named channel of one transport with a unique name: `shm://NAME`, `mq://NAME`, a FIFO or
/// socket path in the test's [`Scratch`] directory, or a free loopback port. Whatever the
/// programs leave behind is removed on drop (ring, queue and its companion file, FIFO,
/// socket file), even when the test fails.
struct Named {
    t: T,
    /// shm/mq: the name; fifo/unix: the path; tcp: `127.0.0.1:PORT`.
    target: String,
}

impl Named {
    fn new(t: T, tag: &str, dir: &Scratch) -> Named {
        let target = match t {
            Shm | Mq => unique(tag),
            Fifo | Unix => dir.0.join(unique(tag)).to_str().expect("UTF-8 temp dir").to_string(),
            Tcp => format!("127.0.0.1:{}", free_port()),
            Pipe => panic!("pipe:// is anonymous"),
        };
        Named { t, target }
    }

    /// The address, with the options of `opts` that this transport takes (see [`options`]).
    fn addr(&self, opts: &str) -> String {
        format!("{}://{}{}", self.t.scheme(), self.target, options(self.t, opts))
    }

    /// The files that stand for the channel (none for tcp). For mq, the companion file the
    /// library keeps next to each queue (`/dev/shm/ipcring-mq.NAME`); the queue itself is
    /// looked up with `mq_open` ([`mq_exists`]), as /dev/mqueue need not be mounted.
    fn files(&self) -> Vec<PathBuf> {
        match self.t {
            Shm => vec![Path::new("/dev/shm").join(&self.target)],
            Mq => vec![Path::new("/dev/shm").join(format!("ipcring-mq.{}", self.target))],
            Fifo | Unix => vec![PathBuf::from(&self.target)],
            Tcp | Pipe => vec![],
        }
    }

    /// The channel's object is there: the ring, the queue (and its companion, made by the
    /// same open), the FIFO, the socket path, or a listener on the port.
    fn exists(&self) -> bool {
        match self.t {
            Tcp => listening(self.port()),
            Mq => mq_exists(&self.target) && self.files()[0].exists(),
            _ => self.files()[0].exists(),
        }
    }

    fn port(&self) -> u16 {
        self.target
            .rsplit_once(':')
            .expect("HOST:PORT")
            .1
            .parse()
            .expect("port")
    }

    /// Waits (bounded) until `prog`, which creates the object (or listens), is up, and
    /// gives it back; fails at once with its output if it exits first. Only the test looks at
    /// the files and ports; the programs take any address.
    fn wait_created(&self, mut prog: Prog) -> Prog {
        let start = Instant::now();
        while !self.exists() {
            if let Ok(Some(_)) = prog.child.try_wait() {
                let d = prog.finish();
                panic!("{} ended before {} appeared:\n{}", d.label, self.addr(""), d.describe());
            }
            assert!(
                start.elapsed() < BOUND,
                "{} did not appear within {BOUND:?} ({} still running)",
                self.addr(""),
                prog.label
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        prog
    }

    /// Nothing is left of the channel.
    fn assert_gone(&self) {
        for f in self.files() {
            assert!(!f.exists(), "{} was left behind", f.display());
        }
        if self.t == Tcp {
            assert!(!listening(self.port()), "something still listens on {}", self.target);
        }
        if self.t == Mq {
            assert!(!mq_exists(&self.target), "queue /{} was left behind", self.target);
        }
    }
}

/// Whether the POSIX queue `/name` exists (`mq_open` without `O_CREAT`).
fn mq_exists(name: &str) -> bool {
    let c = std::ffi::CString::new(format!("/{name}")).expect("no NUL in names");
    // SAFETY: a valid NUL-terminated name; the descriptor, if any, is closed at once.
    let mqd = unsafe { libc::mq_open(c.as_ptr(), libc::O_RDONLY) };
    if mqd == -1 {
        return std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOENT);
    }
    // SAFETY: `mqd` was just opened by this thread.
    unsafe { libc::mq_close(mqd) };
    true
}

/// Removes the POSIX queue `/name` if it is there.
fn mq_remove(name: &str) {
    let c = std::ffi::CString::new(format!("/{name}")).expect("no NUL in names");
    // SAFETY: a valid NUL-terminated name.
    unsafe { libc::mq_unlink(c.as_ptr()) };
}

impl Drop for Named {
    fn drop(&mut self) {
        if self.t == Shm {
            let _ = ipcring::Ring::unlink(&self.target);
        }
        if self.t == Mq {
            mq_remove(&self.target);
        }
        for f in self.files() {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// The objects these examples could leave in /dev/shm and /dev/mqueue (where it is
/// mounted): this test process's unique names (rings, queues, queue companions) and the
/// examples' default names. A queue's companion file stands for it where /dev/mqueue is not
/// mounted; [`Named::assert_gone`] asks `mq_open` about each queue of a test.
fn our_objects() -> BTreeSet<String> {
    let ours = format!("ipcring-test-{}-", std::process::id());
    let companion = format!("ipcring-mq.{ours}");
    let mut found = BTreeSet::new();
    for dir in ["/dev/shm", "/dev/mqueue"] {
        let Ok(rd) = std::fs::read_dir(dir) else { continue };
        for n in rd.filter_map(|e| e.ok()?.file_name().into_string().ok()) {
            if n.starts_with(&ours) || n.starts_with(&companion) || n.starts_with("ipcring-example-") {
                found.insert(format!("{dir}/{n}"));
            }
        }
    }
    found
}

/// Checks that a test's programs left nothing: none of `names`, nothing in `dir`, and none
/// of our objects that was not there before the test (`before`).
fn assert_clean(before: &BTreeSet<String>, dir: &Scratch, names: &[&Named]) {
    for n in names {
        n.assert_gone();
    }
    dir.assert_empty();
    let left: Vec<_> = our_objects().difference(before).cloned().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A malformed address of every scheme, with the part the message must name.
const BAD: &[(&str, &str)] = &[
    ("shm://bad/name", "bad/name"),
    ("nope://x", "nope"),
    ("pipe://name", "name"),
    ("fifo://relative", "relative"),
    ("mq://", "mq://"),
    ("unix://rel", "rel"),
    ("tcp://host", "host"),
    ("tcp://127.0.0.1:99999", "99999"),
];

/// Runs `name` with each malformed address in turn, in the argument list `args` makes of
/// it: it must exit with status 1 (not a signal), say why on stderr naming the address and
/// the offending part, and create nothing.
fn rejects_bad_addresses(name: &str, args: impl Fn(&str) -> Vec<String>) {
    for (bad, part) in BAD {
        let a = args(bad);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let d = run(name, &a);
        d.failed(1, "malformed address");
        d.failed(1, bad);
        d.failed(1, &format!("\"{part}\""));
    }
}

fn lines(s: &str) -> BTreeSet<&str> {
    s.lines().collect()
}

// ---------------------------------------------------------------------------------------
// Rows 1-3, 7: fork() and an anonymous channel (shm://, pipe://)
// ---------------------------------------------------------------------------------------

fn fork_greeting(t: T) {
    let before = our_objects();
    let greeting = "child received: Hello from parent!\n";
    if t == Shm {
        run("fork_greeting", &[]).ok(greeting); // the default address
    }
    run("fork_greeting", &[&anon(t, "")]).ok(greeting);
    run("fork_greeting", &[&anon(t, "capacity=1&msg_size=32")]).ok(greeting);
    // Too small for the greeting: the parent's send fails, the child sees end of stream.
    let d = run("fork_greeting", &[&anon(t, "msg_size=4")]);
    d.failed(1, "larger than");
    assert_eq!(our_objects(), before);
}

fn child_sends_int(t: T) {
    let before = our_objects();
    let want = "parent received 42 from the child\nparent: end of stream (the child closed its end)\n";
    if t == Shm {
        run("child_sends_int", &[]).ok(want);
    }
    run("child_sends_int", &[&anon(t, "")]).ok(want);
    run("child_sends_int", &[&anon(t, "capacity=1&msg_size=4")]).ok(want);
    assert_eq!(our_objects(), before);
}

fn echo_roundtrip(t: T) {
    let before = our_objects();
    if t == Shm {
        run("echo_roundtrip", &["hello, world"]).ok("echoed: hello, world\n");
        run("echo_roundtrip", &[]).failed(2, "usage");
    }
    run("echo_roundtrip", &["hello, world", &anon(t, "")]).ok("echoed: hello, world\n");
    // Pieces of 4 bytes through channels of one slot each (on a pipe: the kernel's buffer).
    let text = "a longer text that travels in pieces of four bytes";
    run("echo_roundtrip", &[text, &anon(t, "capacity=1&msg_size=4")]).ok(&format!("echoed: {text}\n"));
    assert_eq!(our_objects(), before);
}

/// The producer's last line: a ring names its capacity, a pipe the kernel's buffer.
fn producer_line(t: T, items: u32, capacity: u32) -> String {
    match t {
        Shm => format!("producer: {items} items through a buffer of {capacity}\n"),
        _ => format!("producer: {items} items through the kernel's pipe buffer\n"),
    }
}

fn bounded_buffer(t: T) {
    let before = our_objects();
    let mut want: String = (1..=20).map(|i| format!("consumer: item {i}\n")).collect();
    want += "consumer: 20 items, sum 210\n";
    if t == Shm {
        // The seed's buffer of 10, exactly (ABI 5: any capacity).
        run("bounded_buffer", &[]).ok(&(want.clone() + &producer_line(t, 20, 10)));
        run("bounded_buffer", &["shm://?capacity=10&mode=mpmc"]).ok(&(want.clone() + &producer_line(t, 20, 10)));
        // Capacity 0 is refused with the reason.
        run("bounded_buffer", &["shm://?capacity=0"]).failed(1, "at least 1");
    }
    run("bounded_buffer", &[&anon(t, "capacity=8")]).ok(&(want + &producer_line(t, 20, 8)));
    // A buffer of 2 with 1000 items: the producer waits for room again and again (on a
    // pipe, 1000 items fit in the kernel's buffer: the consumer is the one that waits).
    let d = run("bounded_buffer", &[&anon(t, "capacity=2"), "1000"]);
    assert!(d.status.success(), "{}", d.describe());
    let tail = format!(
        "consumer: item 1000\nconsumer: 1000 items, sum 500500\n{}",
        producer_line(t, 1000, 2)
    );
    assert!(d.stdout.ends_with(&tail), "{}", d.describe());
    assert_eq!(our_objects(), before);
}

// ---------------------------------------------------------------------------------------
// Rows 4-6: named channels between unrelated programs
// ---------------------------------------------------------------------------------------

fn named_writer_reader(t: T) {
    let before = our_objects();
    let dir = Scratch::new();
    let reader_out = "reader: Hello from the writer!\nreader: bye\nreader: end of stream\n";

    // The reader first: it creates the channel (or listens) and waits for the writer.
    let name = Named::new(t, "ex-fifo", &dir);
    let addr = name.addr("");
    let reader = name.wait_created(start("named_reader", &[&addr], None));
    run("named_writer", &[&addr, "Hello from the writer!", "bye"]).ok("writer: sent 2 messages\n");
    reader.finish().ok(reader_out);
    assert_clean(&before, &dir, &[&name]);

    // The writer first, lines from stdin (an empty one included).
    let name2 = Named::new(t, "ex-fifo", &dir);
    let addr2 = name2.addr("capacity=4&msg_size=64");
    let input = "one\n\nthree";
    let reader2_out = "reader: one\nreader: \nreader: three\nreader: end of stream\n";
    if t.persistent() {
        // The messages wait in the channel after the writer has exited.
        run_input("named_writer", &[&addr2], input).ok("writer: sent 3 messages\n");
        assert!(name2.exists(), "the writer should leave the channel for the reader");
        run("named_reader", &[&addr2]).ok(reader2_out);
    } else {
        // Nothing outlives the writer: its first send waits for the reader to come.
        let mut writer = start("named_writer", &[&addr2], Some(input));
        if t == Fifo {
            writer = name2.wait_created(writer); // the writer made the FIFO
        }
        run("named_reader", &[&addr2]).ok(reader2_out);
        writer.finish().ok("writer: sent 3 messages\n");
    }
    assert_clean(&before, &dir, &[&name2]);

    // A line longer than msg_size: the writer fails, and removes the channel if it made it.
    let name3 = Named::new(t, "ex-fifo", &dir);
    let addr3 = name3.addr("msg_size=4");
    if t.persistent() {
        run_input("named_writer", &[&addr3], "fits\ntoo long\n").failed(1, "larger than");
    } else {
        // The first line waits for a reader, which gets it and then the end of stream.
        let reader = name3.wait_created(start("named_reader", &[&addr3], None));
        run_input("named_writer", &[&addr3], "fits\ntoo long\n").failed(1, "larger than");
        reader.finish().ok("reader: fits\nreader: end of stream\n");
    }
    assert_clean(&before, &dir, &[&name, &name2, &name3]);
}

fn queue_messages(t: T) {
    let before = our_objects();
    let dir = Scratch::new();
    let (normal, urgent) = (Named::new(t, "ex-q-normal", &dir), Named::new(t, "ex-q-urgent", &dir));
    let opts = "capacity=8&msg_size=64";
    let want = "\
sent (priority 0): 1 Message 1
sent (priority 1): 2 Message 2
sent (priority 0): 3 Message 3
sent (priority 1): 4 Message 4
sent (priority 0): 5 Message 5
sent (priority 0): 6 Terminate
received (priority 1): 2 Message 2
received (priority 1): 4 Message 4
received (priority 0): 1 Message 1
received (priority 0): 3 Message 3
received (priority 0): 5 Message 5
received (priority 0): 6 Terminate
msgrcv(type 2): 8 Only one of type 2
type 1 messages still queued: 2
msgrcv(type 1): 7 First of type 1
msgrcv(type 1): 9 Second of type 1
";
    run("queue_messages", &[&normal.addr(opts), &urgent.addr(opts)]).ok(want);
    assert_clean(&before, &dir, &[&normal, &urgent]);

    // Too small to hold the six messages: a clear error, and both channels removed.
    let small = "capacity=2&msg_size=64";
    run("queue_messages", &[&normal.addr(small), &urgent.addr(small)]).failed(1, "would block");
    assert_clean(&before, &dir, &[&normal, &urgent]);
    // Like mq_open(O_CREAT | O_EXCL): an existing channel is an error, and is left alone.
    run("shared_value_writer", &[&urgent.addr("")]).ok("writer: left 100 and \"Hello from the writer!\"\n");
    run("queue_messages", &[&normal.addr(opts), &urgent.addr(opts)]).failed(1, "already exists");
    assert!(urgent.exists(), "queue_messages removed a channel it did not create");
    let d = run("shared_value_reader", &[&urgent.addr("")]);
    assert!(d.status.success(), "{}", d.describe());

    // The first channel made, the second address malformed: the first is removed again.
    rejects_bad_addresses("queue_messages", |bad| vec![normal.addr(opts), bad.into()]);
    rejects_bad_addresses("queue_messages", |bad| vec![bad.into(), urgent.addr(opts)]);
    assert_clean(&before, &dir, &[&normal, &urgent]);
}

fn shared_value(t: T) {
    let before = our_objects();
    let dir = Scratch::new();
    let reader_out = "\
reader: peeked at 100 in place; 2 messages queued
reader: released it; 1 message queued
reader: text \"Hello from the writer!\"
";
    // The writer exits; the values wait in the channel for a reader started later.
    let name = Named::new(t, "ex-value", &dir);
    let addr = name.addr("capacity=2");
    run("shared_value_writer", &[&addr]).ok("writer: left 100 and \"Hello from the writer!\"\n");
    // Unlike a segment, a second value does not overwrite the first: the writer refuses.
    run("shared_value_writer", &[&addr, "7"]).failed(1, "no room");
    run("shared_value_reader", &[&addr]).ok(reader_out);
    assert_clean(&before, &dir, &[&name]);

    // The reader first: it waits, and finds both values at once. Only on the ring, whose
    // batch publishes both messages together: on a queue the reader may wake between the
    // two sends, and the count it prints depends on when.
    let name2 = Named::new(t, "ex-value", &dir);
    let addr2 = name2.addr("capacity=2");
    if t == Shm {
        let reader = name2.wait_created(start("shared_value_reader", &[&addr2], None));
        run("shared_value_writer", &[&addr2, "-7", "x y"]).ok("writer: left -7 and \"x y\"\n");
        reader
            .finish()
            .ok(&reader_out.replace("100", "-7").replace("Hello from the writer!", "x y"));
    }
    run("shared_value_writer", &[&addr2, "12x"]).failed(2, "32-bit integer");
    assert_clean(&before, &dir, &[&name, &name2]);
}

// ---------------------------------------------------------------------------------------
// Rows 8-10: clients and servers
// ---------------------------------------------------------------------------------------

/// The object that shows a server is up, of its request channel `req` (which it receives
/// on) and reply channel `rep` (which it sends on): the one it creates last (rep), or on a
/// socket, where a sender creates nothing, its listener (req).
fn server_up<'a>(t: T, req: &'a Named, rep: &'a Named) -> &'a Named {
    if t.socket() {
        req
    } else {
        rep
    }
}

fn request_response(t: T) {
    let before = our_objects();
    let dir = Scratch::new();
    let (req, rep) = (Named::new(t, "ex-req", &dir), Named::new(t, "ex-rep", &dir));
    let (a, b) = (req.addr(""), rep.addr(""));

    // The server first, as with a socket.
    let server = server_up(t, &req, &rep).wait_created(start("request_server", &[&a, &b], None));
    run("request_client", &[&a, &b]).ok("client: received \"Response\"\n");
    server.finish().ok("server: received \"Request\"\n");
    assert_clean(&before, &dir, &[&req, &rep]);

    // The client first: its request waits for the server (in the channel, or in a send
    // that waits for a listener or reader).
    // What the client creates: its reply listener on a socket, else the request channel.
    let client = server_up(t, &rep, &req).wait_created(start("request_client", &[&a, &b], None));
    run("request_server", &[&a, &b]).ok("server: received \"Request\"\n");
    client.finish().ok("client: received \"Response\"\n");
    assert_clean(&before, &dir, &[&req, &rep]);

    // One malformed address of two: whatever the program had made is removed.
    for prog in ["request_server", "request_client"] {
        rejects_bad_addresses(prog, |bad| vec![a.clone(), bad.into()]);
        rejects_bad_addresses(prog, |bad| vec![bad.into(), b.clone()]);
    }
    assert_clean(&before, &dir, &[&req, &rep]);
}

fn line_client_server(t: T) {
    let before = our_objects();
    let dir = Scratch::new();
    let (up, down) = (Named::new(t, "ex-lines-in", &dir), Named::new(t, "ex-lines-out", &dir));
    let (a, b) = (up.addr(""), down.addr(""));

    let server = server_up(t, &up, &down).wait_created(start("line_server", &[&a, &b], None));
    run_input("line_client", &[&a, &b], "hello\n\nSecond line, 2!\n").ok(
        "client: \"hello\" -> \"HELLO\"\nclient: \"\" -> \"\"\nclient: \"Second line, 2!\" -> \"SECOND LINE, 2!\"\n",
    );
    server
        .finish()
        .ok("server: line 1: hello\nserver: line 2: \nserver: line 3: Second line, 2!\nserver: client closed after 3 lines\n");
    assert_clean(&before, &dir, &[&up, &down]);

    for prog in ["line_server", "line_client"] {
        rejects_bad_addresses(prog, |bad| vec![a.clone(), bad.into()]);
        rejects_bad_addresses(prog, |bad| vec![bad.into(), b.clone()]);
    }
    assert_clean(&before, &dir, &[&up, &down]);
}

fn calc_client_server(t: T) {
    let before = our_objects();
    let dir = Scratch::new();
    let req = Named::new(t, "ex-calc", &dir);
    // Many senders on the request channel: an MPMC ring on shm (the other transports take
    // several senders as they are; a queue keeps its default capacity, fs.mqueue.msg_max,
    // which is all an unprivileged user may ask for: 10 by default).
    let q = match t {
        Shm => req.addr("mode=mpmc&capacity=64&msg_size=512"),
        _ => req.addr("msg_size=512"),
    };
    let replies: Vec<Named> = (0..5).map(|_| Named::new(t, "ex-calc-reply", &dir)).collect();
    let r: Vec<String> = replies.iter().map(|n| n.addr("capacity=1&msg_size=128")).collect();

    // No server yet: the client says so (at once where the request channel must exist; on
    // a socket, once its send has waited -t seconds for a listener), and removes its reply
    // channel.
    run("calc_client", &["-t", "2", "-q", &q, "-r", &r[0], "1", "+", "2"]).failed(1, "is calc_server running?");
    assert_clean(&before, &dir, &[&req, &replies[0]]);

    // Three clients at once on the one request channel, then a shutdown request.
    let server = req.wait_created(start("calc_server", &[&q], None));
    let clients = [
        start("calc_client", &["-q", &q, "-r", &r[0], "6", "x", "7"], None),
        start("calc_client", &["-q", &q, "-r", &r[1], "--", "-100", "/", "7"], None),
        start("calc_client", &["-q", &q, "-r", &r[2], "1", "/", "0"], None),
    ];
    let [c0, c1, c2] = clients.map(Prog::finish);
    c0.ok("6 x 7 = 42\n");
    c1.ok("-100 / 7 = -14\n");
    c2.failed(1, "1 / 0: error: division by zero");
    run("calc_client", &["-q", &q, "-r", &r[3], "shutdown"]).ok("server shutting down\n");
    let d = server.finish();
    assert!(d.status.success(), "{}", d.describe());
    let mut body: Vec<&str> = d.stdout.lines().collect();
    let last = body.pop();
    assert_eq!(
        lines(&body.join("\n")),
        lines("server: 6 x 7 -> 42\nserver: -100 / 7 -> -14\nserver: 1 / 0 -> error: division by zero\nserver: shutdown -> server shutting down"),
        "{}",
        d.describe()
    );
    assert_eq!(last, Some("server: stopped (shutdown request), 4 requests answered"));
    let all: Vec<&Named> = std::iter::once(&req).chain(replies.iter()).collect();
    assert_clean(&before, &dir, &all);

    // SIGTERM ends the server as cleanly as a shutdown request.
    let server = req.wait_created(start("calc_server", &[&q], None));
    run("calc_client", &["-q", &q, "-r", &r[4], "2", "+", "2"]).ok("2 + 2 = 4\n");
    server.signal(libc::SIGTERM);
    server
        .finish()
        .ok("server: 2 + 2 -> 4\nserver: stopped (signal 15), 1 request answered\n");
    assert_clean(&before, &dir, &all);
}

// ---------------------------------------------------------------------------------------
// Malformed addresses of every scheme, one test per program group
// ---------------------------------------------------------------------------------------

mod bad_addresses {
    use super::*;

    /// Runs `check` serialised, and checks that it left none of our objects behind.
    fn clean(check: impl FnOnce()) {
        let _s = serial();
        let before = our_objects();
        check();
        assert_eq!(our_objects(), before, "a refused address left something behind");
    }

    #[test]
    fn fork_programs() {
        clean(|| {
            for prog in ["fork_greeting", "child_sends_int", "bounded_buffer"] {
                rejects_bad_addresses(prog, |bad| vec![bad.into()]);
            }
            rejects_bad_addresses("echo_roundtrip", |bad| vec!["text".into(), bad.into()]);
        });
    }

    #[test]
    fn named_writer_reader() {
        clean(|| {
            rejects_bad_addresses("named_writer", |bad| vec![bad.into(), "text".into()]);
            rejects_bad_addresses("named_reader", |bad| vec![bad.into()]);
        });
    }

    #[test]
    fn queue_messages() {
        clean(|| {
            rejects_bad_addresses("queue_messages", |bad| vec![bad.into(), bad.into()]);
        });
    }

    #[test]
    fn shared_value() {
        clean(|| {
            rejects_bad_addresses("shared_value_writer", |bad| vec![bad.into()]);
            rejects_bad_addresses("shared_value_reader", |bad| vec![bad.into()]);
        });
    }

    #[test]
    fn calc_client_server() {
        clean(|| {
            rejects_bad_addresses("calc_server", |bad| vec![bad.into()]);
            rejects_bad_addresses("calc_client", |bad| {
                vec!["-q".into(), bad.into(), "1".into(), "+".into(), "1".into()]
            });
            rejects_bad_addresses("calc_client", |bad| {
                vec!["-r".into(), bad.into(), "1".into(), "+".into(), "1".into()]
            });
        });
    }
}

/// The Makefile builds every program of the directory (the ones above and any other).
#[test]
fn makefile_builds_every_program() {
    let _s = serial();
    let dir = common::c::make_examples();
    let src = common::c::repo().join("c-examples");
    for e in std::fs::read_dir(&src).expect("read c-examples") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "c") {
            let exe = dir.join(p.file_stem().expect("stem"));
            assert!(Path::new(&exe).is_file(), "{} was not built", exe.display());
        }
    }
}
