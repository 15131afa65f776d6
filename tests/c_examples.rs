//! The C examples of `c-examples/` (the seed programs, rows 1–10 of the seeds' README),
//! built with their own Makefile against the library these tests were built with, and run
//! as a user would run them: each must exit 0 with exactly the expected output and leave no
//! shared-memory object behind, and each must refuse a malformed address with a clear
//! message and a non-zero exit status (not a crash).
//!
//! Named channels get unique names ([`ShmName`], removed even when a test fails); every run
//! has a hang bound, past which the program is killed and the test fails with its stderr.

mod common;

use common::{serial, ShmName};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The bound on any one program run (generous: the box is shared and slow at times).
const BOUND: Duration = Duration::from_secs(60);

/// A malformed address of each kind: a bad shm name and an unknown scheme.
const BAD: [&str; 2] = ["shm://bad/name", "nope://x"];

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

/// `shm://NAME` followed by `options` (e.g. `?capacity=8`).
fn shm(name: &ShmName, options: &str) -> String {
    format!("shm://{}{options}", name.as_str())
}

/// The shared-memory objects these examples could leave: this test process's unique names
/// and the examples' default names.
fn our_shm_objects() -> BTreeSet<String> {
    let ours = format!("ipcring-test-{}-", std::process::id());
    std::fs::read_dir("/dev/shm")
        .expect("read /dev/shm")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&ours) || n.starts_with("ipcring-example-"))
        .collect()
}

/// Checks that a test's programs left no shared-memory object: none of `names`, and none
/// of ours that was not there before the test (`before`).
fn assert_clean(before: &BTreeSet<String>, names: &[&ShmName]) {
    for n in names {
        assert!(!n.path().exists(), "{} was left behind", n.path().display());
    }
    let left: Vec<_> = our_shm_objects().difference(before).cloned().collect();
    assert!(left.is_empty(), "left behind in /dev/shm: {left:?}");
}

/// Runs `name` with each malformed address in turn, in the argument list `args` makes of
/// it: it must exit with status 1 (not a signal), say why on stderr, and create nothing.
fn rejects_bad_addresses(name: &str, args: impl Fn(&str) -> Vec<String>) {
    for bad in BAD {
        let a = args(bad);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let d = run(name, &a);
        d.failed(1, "malformed address");
        d.failed(1, bad);
    }
}

/// Waits (bounded) until the object behind `name` exists: the program that creates it is
/// up. Only the test looks at /dev/shm; the programs take any address.
fn wait_created(name: &ShmName) {
    common::wait_for_file(&name.path(), BOUND);
}

fn lines(s: &str) -> BTreeSet<&str> {
    s.lines().collect()
}

// ---------------------------------------------------------------------------------------
// Rows 1-3, 7: fork() and an anonymous channel
// ---------------------------------------------------------------------------------------

#[test]
fn row01_fork_greeting() {
    let _s = serial();
    let before = our_shm_objects();
    let greeting = "child received: Hello from parent!\n";
    run("fork_greeting", &[]).ok(greeting);
    run("fork_greeting", &["shm://?capacity=1&msg_size=32"]).ok(greeting);
    // Too small for the greeting: the parent's send fails, the child sees end of stream.
    let d = run("fork_greeting", &["shm://?msg_size=4"]);
    d.failed(1, "larger than");
    rejects_bad_addresses("fork_greeting", |bad| vec![bad.into()]);
    assert_clean(&before, &[]);
}

#[test]
fn row02_child_sends_int() {
    let _s = serial();
    let before = our_shm_objects();
    let want = "parent received 42 from the child\nparent: end of stream (the child closed its end)\n";
    run("child_sends_int", &[]).ok(want);
    run("child_sends_int", &["shm://?capacity=1&msg_size=4"]).ok(want);
    rejects_bad_addresses("child_sends_int", |bad| vec![bad.into()]);
    assert_clean(&before, &[]);
}

#[test]
fn row03_echo_roundtrip() {
    let _s = serial();
    let before = our_shm_objects();
    run("echo_roundtrip", &["hello, world"]).ok("echoed: hello, world\n");
    // Pieces of 4 bytes through rings of one slot each.
    let text = "a longer text that travels in pieces of four bytes";
    run("echo_roundtrip", &[text, "shm://?capacity=1&msg_size=4"]).ok(&format!("echoed: {text}\n"));
    run("echo_roundtrip", &[]).failed(2, "usage");
    rejects_bad_addresses("echo_roundtrip", |bad| vec!["text".into(), bad.into()]);
    assert_clean(&before, &[]);
}

#[test]
fn row07_bounded_buffer() {
    let _s = serial();
    let before = our_shm_objects();
    let mut want: String = (1..=20).map(|i| format!("consumer: item {i}\n")).collect();
    want += "consumer: 20 items, sum 210\nproducer: 20 items through a buffer of 8\n";
    run("bounded_buffer", &[]).ok(&want);
    // A buffer of 2 with 1000 items: the producer waits for room again and again.
    let d = run("bounded_buffer", &["shm://?capacity=2", "1000"]);
    assert!(d.status.success(), "{}", d.describe());
    assert!(
        d.stdout.ends_with(
            "consumer: item 1000\nconsumer: 1000 items, sum 500500\nproducer: 1000 items through a buffer of 2\n"
        ),
        "{}",
        d.describe()
    );
    run("bounded_buffer", &["shm://?capacity=10"]).failed(1, "power of two");
    rejects_bad_addresses("bounded_buffer", |bad| vec![bad.into()]);
    assert_clean(&before, &[]);
}

// ---------------------------------------------------------------------------------------
// Rows 4-6: named channels between unrelated programs
// ---------------------------------------------------------------------------------------

#[test]
fn row04_named_writer_reader() {
    let _s = serial();
    let before = our_shm_objects();
    let reader_out = "reader: Hello from the writer!\nreader: bye\nreader: end of stream\n";

    // The reader first: it creates the channel and waits for the writer.
    let name = ShmName::new("ex-fifo");
    let addr = shm(&name, "");
    let reader = start("named_reader", &[&addr], None);
    wait_created(&name);
    run("named_writer", &[&addr, "Hello from the writer!", "bye"]).ok("writer: sent 2 messages\n");
    reader.finish().ok(reader_out);
    assert_clean(&before, &[&name]);

    // The writer first, lines from stdin (an empty one included): they wait in the channel.
    let name2 = ShmName::new("ex-fifo");
    let addr2 = shm(&name2, "?capacity=4&msg_size=64");
    run_input("named_writer", &[&addr2], "one\n\nthree").ok("writer: sent 3 messages\n");
    assert!(
        name2.path().exists(),
        "the writer should leave the channel for the reader"
    );
    run("named_reader", &[&addr2]).ok("reader: one\nreader: \nreader: three\nreader: end of stream\n");

    // A line longer than msg_size: the writer fails and removes the channel it created.
    let name3 = ShmName::new("ex-fifo");
    let addr3 = shm(&name3, "?msg_size=4");
    run_input("named_writer", &[&addr3], "fits\ntoo long\n").failed(1, "larger than");

    rejects_bad_addresses("named_writer", |bad| vec![bad.into(), "text".into()]);
    rejects_bad_addresses("named_reader", |bad| vec![bad.into()]);
    assert_clean(&before, &[&name, &name2, &name3]);
}

#[test]
fn row05_queue_messages() {
    let _s = serial();
    let before = our_shm_objects();
    let (normal, urgent) = (ShmName::new("ex-q-normal"), ShmName::new("ex-q-urgent"));
    let opts = "?capacity=8&msg_size=64";
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
    run("queue_messages", &[&shm(&normal, opts), &shm(&urgent, opts)]).ok(want);
    assert_clean(&before, &[&normal, &urgent]);

    // Too small to hold the six messages: a clear error, and both rings removed.
    let small = "?capacity=2&msg_size=64";
    run("queue_messages", &[&shm(&normal, small), &shm(&urgent, small)]).failed(1, "would block");
    // Like mq_open(O_CREAT | O_EXCL): an existing ring is an error, and is left alone.
    run("shared_value_writer", &[&shm(&urgent, "")]).ok("writer: left 100 and \"Hello from the writer!\"\n");
    run("queue_messages", &[&shm(&normal, opts), &shm(&urgent, opts)]).failed(1, "already exists");
    assert!(
        urgent.path().exists(),
        "queue_messages removed a ring it did not create"
    );
    let d = run("shared_value_reader", &[&shm(&urgent, "")]);
    assert!(d.status.success(), "{}", d.describe());

    // The first ring made, the second address malformed: the first is removed again.
    rejects_bad_addresses("queue_messages", |bad| vec![shm(&normal, opts), bad.into()]);
    rejects_bad_addresses("queue_messages", |bad| vec![bad.into(), shm(&urgent, opts)]);
    assert_clean(&before, &[&normal, &urgent]);
}

#[test]
fn row06_shared_value() {
    let _s = serial();
    let before = our_shm_objects();
    let reader_out = "\
reader: peeked at 100 in place; 2 messages queued
reader: released it; 1 message queued
reader: text \"Hello from the writer!\"
";
    // The writer exits; the values wait in the channel for a reader started later.
    let name = ShmName::new("ex-value");
    let addr = shm(&name, "?capacity=2");
    run("shared_value_writer", &[&addr]).ok("writer: left 100 and \"Hello from the writer!\"\n");
    // Unlike a segment, a second value does not overwrite the first: the writer refuses.
    run("shared_value_writer", &[&addr, "7"]).failed(1, "no room");
    run("shared_value_reader", &[&addr]).ok(reader_out);
    assert_clean(&before, &[&name]);

    // The reader first: it waits, and finds both values at once.
    let name2 = ShmName::new("ex-value");
    let addr2 = shm(&name2, "?capacity=2");
    let reader = start("shared_value_reader", &[&addr2], None);
    wait_created(&name2);
    run("shared_value_writer", &[&addr2, "-7", "x y"]).ok("writer: left -7 and \"x y\"\n");
    reader
        .finish()
        .ok(&reader_out.replace("100", "-7").replace("Hello from the writer!", "x y"));

    run("shared_value_writer", &[&addr2, "12x"]).failed(2, "32-bit integer");
    rejects_bad_addresses("shared_value_writer", |bad| vec![bad.into()]);
    rejects_bad_addresses("shared_value_reader", |bad| vec![bad.into()]);
    assert_clean(&before, &[&name, &name2]);
}

// ---------------------------------------------------------------------------------------
// Rows 8-10: clients and servers
// ---------------------------------------------------------------------------------------

#[test]
fn row08_request_response() {
    let _s = serial();
    let before = our_shm_objects();
    let (req, rep) = (ShmName::new("ex-req"), ShmName::new("ex-rep"));
    let (a, b) = (shm(&req, ""), shm(&rep, ""));

    // The server first, as with a socket.
    let server = start("request_server", &[&a, &b], None);
    wait_created(&rep);
    run("request_client", &[&a, &b]).ok("client: received \"Response\"\n");
    server.finish().ok("server: received \"Request\"\n");
    assert_clean(&before, &[&req, &rep]);

    // The client first: its request waits in the channel for the server.
    let client = start("request_client", &[&a, &b], None);
    wait_created(&req);
    run("request_server", &[&a, &b]).ok("server: received \"Request\"\n");
    client.finish().ok("client: received \"Response\"\n");
    assert_clean(&before, &[&req, &rep]);

    // One malformed address of two: whatever the program had made is removed.
    for prog in ["request_server", "request_client"] {
        rejects_bad_addresses(prog, |bad| vec![a.clone(), bad.into()]);
        rejects_bad_addresses(prog, |bad| vec![bad.into(), b.clone()]);
    }
    assert_clean(&before, &[&req, &rep]);
}

#[test]
fn row09_line_client_server() {
    let _s = serial();
    let before = our_shm_objects();
    let (up, down) = (ShmName::new("ex-lines-in"), ShmName::new("ex-lines-out"));
    let (a, b) = (shm(&up, ""), shm(&down, ""));

    let server = start("line_server", &[&a, &b], None);
    wait_created(&down);
    run_input("line_client", &[&a, &b], "hello\n\nSecond line, 2!\n").ok(
        "client: \"hello\" -> \"HELLO\"\nclient: \"\" -> \"\"\nclient: \"Second line, 2!\" -> \"SECOND LINE, 2!\"\n",
    );
    server
        .finish()
        .ok("server: line 1: hello\nserver: line 2: \nserver: line 3: Second line, 2!\nserver: client closed after 3 lines\n");
    assert_clean(&before, &[&up, &down]);

    for prog in ["line_server", "line_client"] {
        rejects_bad_addresses(prog, |bad| vec![a.clone(), bad.into()]);
        rejects_bad_addresses(prog, |bad| vec![bad.into(), b.clone()]);
    }
    assert_clean(&before, &[&up, &down]);
}

#[test]
fn row10_calc_client_server() {
    let _s = serial();
    let before = our_shm_objects();
    let req = ShmName::new("ex-calc");
    let q = shm(&req, "?mode=mpmc&capacity=64&msg_size=512");
    let replies: Vec<ShmName> = (0..5).map(|_| ShmName::new("ex-calc-reply")).collect();
    let r: Vec<String> = replies.iter().map(|n| shm(n, "?capacity=1&msg_size=128")).collect();

    // No server yet: the client says so, and removes its reply channel.
    run("calc_client", &["-q", &q, "-r", &r[0], "1", "+", "2"]).failed(1, "is calc_server running?");

    // Three clients at once on the one request channel, then a shutdown request.
    let server = start("calc_server", &[&q], None);
    wait_created(&req);
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
    assert_clean(&before, &[&req, &replies[0], &replies[1], &replies[2], &replies[3]]);

    // SIGTERM ends the server as cleanly as a shutdown request.
    let server = start("calc_server", &[&q], None);
    wait_created(&req);
    run("calc_client", &["-q", &q, "-r", &r[4], "2", "+", "2"]).ok("2 + 2 = 4\n");
    server.signal(libc::SIGTERM);
    server
        .finish()
        .ok("server: 2 + 2 -> 4\nserver: stopped (signal 15), 1 request answered\n");

    rejects_bad_addresses("calc_server", |bad| vec![bad.into()]);
    rejects_bad_addresses("calc_client", |bad| {
        vec!["-q".into(), bad.into(), "1".into(), "+".into(), "1".into()]
    });
    rejects_bad_addresses("calc_client", |bad| {
        vec!["-r".into(), bad.into(), "1".into(), "+".into(), "1".into()]
    });
    let all: Vec<&ShmName> = std::iter::once(&req).chain(replies.iter()).collect();
    assert_clean(&before, &all);
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
