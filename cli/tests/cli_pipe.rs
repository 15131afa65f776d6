//! `ipcring send` and `ipcring recv` as a shell pipeline would run them: the real binary,
//! two processes per run, stdin of `send` fed by the test, stdout of `recv` read by the
//! test, over every named transport (shm SPSC, shm MPMC, fifo, mq, unix, tcp), each side
//! started first in turn.
//!
//! Lines are `SEQ CHECKSUM PAYLOAD` (payload 0..=200 printable bytes derived from SEQ, the
//! checksum FNV-1a of the payload): the reader checks every seq in order, every checksum,
//! and the exact bytes. Records carry binary payloads derived from their index (with `\n`,
//! `\0` and empty ones) and are compared byte for byte.
//!
//! Also: an oversized line or record and a truncated record (exit 1, named, everything
//! before delivered), `recv --count` leaving the rest for the next `recv`, a reader that
//! closes `recv`'s stdout early (`| head -n 3`: exit 1, no SIGPIPE death even with SIGPIPE
//! at SIG_DFL in the child, the next message still in the ring), `--timeout` on both sides,
//! `--create no` on a missing channel (exit 3), bad addresses and durations (exit 2). Every
//! test checks that it left nothing in /dev/shm, /dev/mqueue or the temp directory.
//!
//! `IPCRING_CLI_MESSAGES` sets the lines per transport run (default 100,000).

#[path = "../../tests/common/mod.rs"]
mod common;

use common::chan::free_tcp_port;
use common::{fnv1a, mix, serial, unique_name};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The bound on any wait for a process: past it the process is killed and the test fails.
const BOUND: Duration = Duration::from_secs(120);

fn messages() -> u64 {
    common::env_u64("IPCRING_CLI_MESSAGES", 100_000)
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

/// A running `ipcring` process with its stderr collected.
struct Proc {
    label: String,
    child: Child,
    stdin_writer: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
}

/// How a process ended.
struct Done {
    label: String,
    status: ExitStatus,
    stderr: String,
}

impl Done {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }
    fn describe(&self) -> String {
        format!(
            "{}: {:?} (signal {:?})\n--- stderr:\n{}",
            self.label,
            self.status.code(),
            self.status.signal(),
            self.stderr
        )
    }
    fn assert_code(&self, code: i32) {
        assert_eq!(self.code(), Some(code), "{}", self.describe());
    }
}

fn ipcring(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ipcring"));
    cmd.args(args);
    // SIGPIPE at its default (death), as a shell may leave it: the command must not rely on
    // the disposition it inherits.
    // SAFETY: the closure runs in the child between fork and exec and calls only signal(2),
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            Ok(())
        });
    }
    cmd
}

fn collect_stderr(child: &mut Child) -> JoinHandle<String> {
    let mut err = child.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    })
}

/// `ipcring send ARGS` with `input` written to its stdin (then closed).
fn spawn_send(args: &[&str], input: Vec<u8>) -> Proc {
    let mut full = vec!["send"];
    full.extend_from_slice(args);
    let mut child = ipcring(&full)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ipcring send");
    let mut stdin = child.stdin.take().expect("stdin piped");
    // The sender may stop reading (an oversized line, no receiver): a failed write is fine.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let stderr = collect_stderr(&mut child);
    Proc {
        label: format!("ipcring {}", full.join(" ")),
        child,
        stdin_writer: Some(writer),
        stderr: Some(stderr),
    }
}

/// `ipcring recv ARGS`, its stdout handed to the caller.
fn spawn_recv(args: &[&str]) -> (Proc, ChildStdout) {
    let mut full = vec!["recv"];
    full.extend_from_slice(args);
    let mut child = ipcring(&full)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ipcring recv");
    let out = child.stdout.take().expect("stdout piped");
    let stderr = collect_stderr(&mut child);
    let p = Proc {
        label: format!("ipcring {}", full.join(" ")),
        child,
        stdin_writer: None,
        stderr: Some(stderr),
    };
    (p, out)
}

/// Runs `ipcring ARGS` to completion with no input, returning how it ended and its stdout.
fn run(args: &[&str]) -> (Done, Vec<u8>) {
    let mut child = ipcring(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ipcring");
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let stderr = collect_stderr(&mut child);
    let p = Proc {
        label: format!("ipcring {}", args.join(" ")),
        child,
        stdin_writer: None,
        stderr: Some(stderr),
    };
    let done = p.wait();
    (done, reader.join().unwrap())
}

impl Proc {
    /// Waits for the process, killing it (and failing the test) at the hang bound.
    fn wait(mut self) -> Done {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if start.elapsed() > BOUND {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let err = self.stderr.take().unwrap().join().unwrap_or_default();
                panic!("{} hung: killed after {BOUND:?}\n--- stderr:\n{err}", self.label);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if let Some(w) = self.stdin_writer.take() {
            w.join().expect("stdin writer");
        }
        Done {
            label: self.label.clone(),
            status,
            stderr: self.stderr.take().unwrap().join().unwrap_or_default(),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A test that panicked: leave no process behind.
        if self.stderr.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Channels and leftovers
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    Shm,
    Mpmc,
    Fifo,
    Mq,
    Unix,
    Tcp,
}

/// A unique channel address of transport `t`; its object is removed (and checked gone) on
/// drop.
struct Chan {
    t: T,
    addr: String,
}

/// Every test's names start with this (see `common::unique_name`).
fn prefix() -> String {
    format!("ipcring-test-{}-", std::process::id())
}

impl Chan {
    fn new(t: T, tag: &str, query: &str) -> Chan {
        let name = unique_name(&format!("cli-{tag}"));
        let tmp = std::env::temp_dir();
        let addr = match t {
            T::Shm => format!("shm://{name}?{query}"),
            T::Mpmc => format!("shm://{name}?mode=mpmc&{query}"),
            T::Fifo => format!("fifo://{}/{name}.fifo?{query}", tmp.display()),
            T::Mq => format!("mq://{name}?capacity=8&{query}"),
            T::Unix => format!("unix://{}/{name}.sock?{query}", tmp.display()),
            T::Tcp => format!("tcp://127.0.0.1:{}?{query}", free_tcp_port()),
        };
        Chan {
            t,
            addr: addr.trim_end_matches(['?', '&']).to_string(),
        }
    }
}

impl Drop for Chan {
    fn drop(&mut self) {
        if self.t != T::Tcp {
            let _ = ipcring::unlink(&self.addr);
        }
        if self.t == T::Mq && !std::thread::panicking() {
            // /dev/mqueue may not be mounted: ask the kernel that the queue is gone.
            assert!(
                matches!(ipcring::unlink(&self.addr), Err(ipcring::Error::NotFound { .. })),
                "{} left behind",
                self.addr
            );
        }
    }
}

/// Objects of this test process in /dev/shm, /dev/mqueue and the temp directory.
fn leftovers() -> Vec<String> {
    let p = prefix();
    let mut found = Vec::new();
    for dir in [
        std::path::PathBuf::from("/dev/shm"),
        std::path::PathBuf::from("/dev/mqueue"),
        std::env::temp_dir(),
    ] {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(&p) {
                found.push(dir.join(name).display().to_string());
            }
        }
    }
    found
}

fn assert_no_leftovers() {
    let l = leftovers();
    assert!(l.is_empty(), "objects left behind: {l:?}");
}

// ---------------------------------------------------------------------------------------
// Lines
// ---------------------------------------------------------------------------------------

/// The payload of line `seq`: 0..=200 printable bytes (no `\n`).
fn payload(seq: u64) -> Vec<u8> {
    let len = (mix(seq ^ 0x11) % 201) as usize;
    (0..len)
        .map(|i| b' ' + (mix(seq.wrapping_mul(977) + i as u64) % 95) as u8)
        .collect()
}

/// `SEQ CHECKSUM PAYLOAD` without the newline.
fn line(seq: u64) -> Vec<u8> {
    let p = payload(seq);
    let mut l = format!("{seq} {:016x} ", fnv1a(&p)).into_bytes();
    l.extend_from_slice(&p);
    l
}

/// Lines `from..to`, each with its `\n`.
fn lines(from: u64, to: u64) -> Vec<u8> {
    let mut v = Vec::new();
    for s in from..to {
        v.extend_from_slice(&line(s));
        v.push(b'\n');
    }
    v
}

/// Checks one received line: seq `expect`, its checksum, its exact bytes.
fn check_line(got: &[u8], expect: u64) -> Result<(), String> {
    let text = String::from_utf8_lossy(got);
    let mut parts = got.splitn(3, |&b| b == b' ');
    let seq: u64 = std::str::from_utf8(parts.next().unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("line {text:?}: no seq (expected {expect})"))?;
    if seq != expect {
        return Err(format!(
            "seq {seq}, expected {expect} ({})",
            if seq < expect {
                "duplicate or reordered"
            } else {
                "lost lines"
            }
        ));
    }
    let sum = parts.next().unwrap_or_default();
    let p = parts.next().unwrap_or_default();
    if sum != format!("{:016x}", fnv1a(p)).as_bytes() {
        return Err(format!("seq {seq}: checksum mismatch in {text:?}"));
    }
    if got != line(seq).as_slice() {
        return Err(format!("seq {seq}: bytes differ: {text:?}"));
    }
    Ok(())
}

/// Reads `out` to its end on a thread, checking lines `first, first+1, ...`; returns how many
/// arrived (or the first problem).
fn check_lines(out: ChildStdout, first: u64) -> JoinHandle<Result<u64, String>> {
    std::thread::spawn(move || {
        let mut r = BufReader::with_capacity(1 << 16, out);
        let mut buf = Vec::new();
        let mut next = first;
        loop {
            buf.clear();
            let n = r.read_until(b'\n', &mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(next - first);
            }
            if buf.pop() != Some(b'\n') {
                return Err(format!(
                    "last line without newline: {:?}",
                    String::from_utf8_lossy(&buf)
                ));
            }
            check_line(&buf, next)?;
            next += 1;
        }
    })
}

/// What a sender that ended says it sent: `total` if it exited 0, else the N of its
/// "no receiver left after N messages".
fn sender_total(d: &Done, total: u64) -> u64 {
    if d.code() == Some(0) {
        return total;
    }
    d.assert_code(1);
    after_n(&d.stderr, "no receiver left after ").unwrap_or_else(|| panic!("{}", d.describe()))
}

/// The number after `marker` in `text`.
fn after_n(text: &str, marker: &str) -> Option<u64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

// ---------------------------------------------------------------------------------------
// Every transport, both orders
// ---------------------------------------------------------------------------------------

fn stream(t: T, recv_first: bool) {
    let n = messages();
    let chan = Chan::new(t, "stream", "");
    let addr = chan.addr.as_str();
    let input = lines(0, n);
    let (send, recv, checker);
    if recv_first {
        let (r, out) = spawn_recv(&[addr]);
        checker = check_lines(out, 0);
        recv = r;
        std::thread::sleep(Duration::from_millis(100));
        send = spawn_send(&[addr], input);
    } else {
        send = spawn_send(&[addr], input);
        std::thread::sleep(Duration::from_millis(300));
        let (r, out) = spawn_recv(&[addr]);
        checker = check_lines(out, 0);
        recv = r;
    }
    let s = send.wait();
    let r = recv.wait();
    let got = checker.join().unwrap();
    s.assert_code(0);
    r.assert_code(0);
    assert_eq!(
        got,
        Ok(n),
        "{t:?} recv_first={recv_first}: lines received\n{}",
        r.describe()
    );
    drop(chan);
    assert_no_leftovers();
}

macro_rules! both_orders {
    ($($name:ident: $t:expr,)*) => {$(
        #[test]
        fn $name() {
            let _g = serial();
            stream($t, true);
            stream($t, false);
        }
    )*};
}

both_orders! {
    lines_shm: T::Shm,
    lines_shm_mpmc: T::Mpmc,
    lines_fifo: T::Fifo,
    lines_mq: T::Mq,
    lines_unix: T::Unix,
    lines_tcp: T::Tcp,
}

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

/// The payload of record `i`: empty every 5th, else 1..=300 bytes with `\n` and `\0` in it.
fn record(i: u64) -> Vec<u8> {
    if i % 5 == 0 {
        return Vec::new();
    }
    let len = 1 + (mix(i) % 300) as usize;
    let mut v: Vec<u8> = (0..len).map(|k| mix(i * 1_000 + k as u64) as u8).collect();
    v[0] = if i % 2 == 0 { b'\n' } else { 0 };
    v[len / 2] = b'\n';
    *v.last_mut().unwrap() = 0;
    v
}

fn framed(recs: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut v = Vec::new();
    for r in recs {
        v.extend_from_slice(&(r.len() as u32).to_le_bytes());
        v.extend_from_slice(&r);
    }
    v
}

/// Reads records from `out` to its end and checks them against `record(first..)`.
fn check_records(out: ChildStdout, first: u64) -> JoinHandle<Result<u64, String>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        BufReader::new(out).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        let mut p = 0;
        let mut i = first;
        while p < bytes.len() {
            let h: [u8; 4] = bytes.get(p..p + 4).ok_or("truncated header")?.try_into().unwrap();
            let len = u32::from_le_bytes(h) as usize;
            let body = bytes.get(p + 4..p + 4 + len).ok_or("truncated record")?;
            if body != record(i).as_slice() {
                return Err(format!("record {i}: {len} bytes differ from what was sent"));
            }
            p += 4 + len;
            i += 1;
        }
        Ok(i - first)
    })
}

#[test]
fn records_binary_safe() {
    let _g = serial();
    let n = 20_000;
    for t in [T::Shm, T::Mq, T::Tcp] {
        let chan = Chan::new(t, "rec", "msg_size=512");
        let (r, out) = spawn_recv(&["--records", &chan.addr]);
        let checker = check_records(out, 0);
        let s = spawn_send(&["--records", &chan.addr], framed((0..n).map(record)));
        let s = s.wait();
        let r = r.wait();
        s.assert_code(0);
        r.assert_code(0);
        assert_eq!(checker.join().unwrap(), Ok(n), "{t:?}");
        drop(chan);
    }
    assert_no_leftovers();
}

// ---------------------------------------------------------------------------------------
// Input that cannot be sent
// ---------------------------------------------------------------------------------------

/// Runs `send ARGS` with `input` against a `recv` started first; returns both ends and the
/// receiver's output.
fn send_against_recv(chan: &Chan, args: &[&str], input: Vec<u8>) -> (Done, Done, Vec<u8>) {
    let mut rargs: Vec<&str> = args.to_vec();
    rargs.push(&chan.addr);
    let (r, mut out) = spawn_recv(&rargs);
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let s = spawn_send(&rargs, input).wait();
    let r = r.wait();
    (s, r, reader.join().unwrap())
}

#[test]
fn oversized_line_stops_send_after_the_lines_before_it() {
    let _g = serial();
    // msg_size 240: every line() fits (at most 224 bytes); line 501 is 300 bytes.
    let chan = Chan::new(T::Shm, "big", "msg_size=240");
    let mut input = lines(0, 500);
    input.extend_from_slice(&[b'x'; 300]);
    input.push(b'\n');
    input.extend_from_slice(&lines(500, 600));
    let (s, r, out) = send_against_recv(&chan, &[], input);
    s.assert_code(1);
    assert!(
        s.stderr.contains("line 501 is 300 bytes") && s.stderr.contains("240"),
        "{}",
        s.describe()
    );
    r.assert_code(0);
    let got: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
    assert_eq!(got.len(), 501, "500 lines and the empty tail after the last newline");
    for (i, l) in got[..500].iter().enumerate() {
        check_line(l, i as u64).unwrap();
    }
    drop(chan);

    // The last line, without its newline, too long: the same.
    let chan = Chan::new(T::Mq, "big-last", "msg_size=64");
    let mut input = b"a\nb\n".to_vec();
    input.extend_from_slice(&[b'y'; 65]);
    let (s, r, out) = send_against_recv(&chan, &[], input);
    s.assert_code(1);
    assert!(s.stderr.contains("line 3 is 65 bytes"), "{}", s.describe());
    r.assert_code(0);
    assert_eq!(out, b"a\nb\n");
    drop(chan);

    // A last line without newline that fits is a message.
    let chan = Chan::new(T::Shm, "last", "");
    let (s, r, out) = send_against_recv(&chan, &[], b"one\n\nthree".to_vec());
    s.assert_code(0);
    r.assert_code(0);
    assert_eq!(out, b"one\n\nthree\n");
    drop(chan);
    assert_no_leftovers();
}

#[test]
fn oversized_and_truncated_records() {
    let _g = serial();
    let chan = Chan::new(T::Shm, "bigrec", "msg_size=512");
    let mut input = framed((0..100).map(record));
    input.extend_from_slice(&600u32.to_le_bytes());
    input.extend_from_slice(&[7; 600]);
    input.extend_from_slice(&framed((100..110).map(record)));
    let (s, r, out) = send_against_recv(&chan, &["--records"], input);
    s.assert_code(1);
    assert!(s.stderr.contains("record 101 is 600 bytes"), "{}", s.describe());
    r.assert_code(0);
    assert_eq!(out, framed((0..100).map(record)), "the 100 records before it, exactly");
    drop(chan);

    for cut in [2usize, 4 + 10] {
        let chan = Chan::new(T::Shm, "trunc", "msg_size=512");
        let mut input = framed((0..50).map(|i| record(i * 2 + 1)));
        let last = framed(std::iter::once(vec![9u8; 40]));
        input.extend_from_slice(&last[..cut]);
        let (s, r, out) = send_against_recv(&chan, &["--records"], input);
        s.assert_code(1);
        assert!(
            s.stderr.contains("inside record 51") && s.stderr.contains(&format!("{cut} of its")),
            "{}",
            s.describe()
        );
        r.assert_code(0);
        assert_eq!(out, framed((0..50).map(|i| record(i * 2 + 1))));
        drop(chan);
    }
    assert_no_leftovers();
}

// ---------------------------------------------------------------------------------------
// recv --count, and a reader that goes away
// ---------------------------------------------------------------------------------------

#[test]
fn count_then_a_second_recv_gets_the_rest() {
    let _g = serial();
    // The rest stays in the channel where it outlives the receiver: rings and queues.
    for t in [T::Shm, T::Mpmc, T::Mq] {
        let n = 100;
        let chan = Chan::new(t, "count", "");
        let send = spawn_send(&[&chan.addr], lines(0, n));
        let (first, out) = run(&["recv", "--count", "3", &chan.addr]);
        first.assert_code(0);
        assert_eq!(out, lines(0, 3), "{t:?}: recv --count 3");
        // mq holds 8: the sender may be blocked, or have seen the first receiver go.
        let (second, out2) = spawn_recv(&[&chan.addr]);
        let got = check_lines(out2, 3);
        let s = send.wait();
        let second = second.wait();
        second.assert_code(0);
        let total = sender_total(&s, n);
        assert_eq!(got.join().unwrap(), Ok(total - 3), "{t:?}: the rest\n{}", s.describe());
        drop(chan);
    }
    assert_no_leftovers();
}

/// `ipcring recv ADDR | head -n 3`: the reader closes the pipe after three lines while
/// `recv` has much more to write.
fn reader_goes_away(t: T) {
    let n = 200_000;
    let chan = Chan::new(t, "head", "");
    let send = spawn_send(&[&chan.addr], lines(0, n));
    let (first, out) = spawn_recv(&[&chan.addr]);
    let mut r = BufReader::new(out);
    let mut l = Vec::new();
    for i in 0..3 {
        l.clear();
        r.read_until(b'\n', &mut l).unwrap();
        check_line(&l[..l.len() - 1], i).unwrap();
    }
    drop(r); // closes the only read end: recv's next write is EPIPE
    let first = first.wait();
    assert_eq!(first.status.signal(), None, "killed by a signal\n{}", first.describe());
    first.assert_code(1);
    let written = after_n(&first.stderr, "stdout closed after ").unwrap_or_else(|| panic!("{}", first.describe()));
    assert!(written >= 3, "{}", first.describe());
    // What recv says became of the message it could not write, and where the next recv
    // must start.
    let next = if first.stderr.contains("the next one stays in the channel")
        || first.stderr.contains("nothing more was taken")
    {
        written
    } else {
        assert!(t == T::Mpmc && first.stderr.contains("is lost"), "{}", first.describe());
        written + 1
    };
    if t == T::Shm {
        // Either the write failed (the message stays) or recv was waiting and saw the
        // closed pipe first (it took nothing): never a loss on an SPSC ring.
        assert!(!first.stderr.contains("lost"), "{}", first.describe());
    }
    let (second, out2) = spawn_recv(&[&chan.addr]);
    let got = check_lines(out2, next);
    let s = send.wait();
    let second = second.wait();
    second.assert_code(0);
    let total = sender_total(&s, n);
    assert_eq!(
        got.join().unwrap(),
        Ok(total - next),
        "{t:?}: the second recv gets everything from line {next} to the sender's last ({total})\n{}\n{}",
        first.describe(),
        s.describe()
    );
    drop(chan);
    assert_no_leftovers();
}

#[test]
fn closed_stdout_keeps_the_next_message_shm() {
    let _g = serial();
    reader_goes_away(T::Shm);
}

#[test]
fn closed_stdout_loses_at_most_the_claimed_message_mpmc() {
    let _g = serial();
    reader_goes_away(T::Mpmc);
}

#[test]
fn idle_recv_notices_its_reader_left() {
    let _g = serial();
    // A sender attached but quiet, an empty ring, and recv's reader goes away: recv learns
    // of it by polling its stdout (it has nothing to write), exits without taking anything,
    // and what the sender sends next reaches the next recv whole (on MPMC too, where taking
    // a message to find out would have lost it). Without the poll, recv would wait for ever.
    for t in [T::Shm, T::Mpmc] {
        let chan = Chan::new(t, "idle", "");
        let mut send = ipcring(&["send", &chan.addr])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = send.stdin.take().unwrap();
        stdin.write_all(&lines(0, 2)).unwrap();
        stdin.flush().unwrap();
        let (first, out) = spawn_recv(&["--count", "2", &chan.addr]);
        assert!(
            check_lines(out, 0).join().unwrap() == Ok(2),
            "{t:?}: the first two lines"
        );
        first.wait().assert_code(0);
        let (first, out) = spawn_recv(&[&chan.addr]);
        std::thread::sleep(Duration::from_millis(300));
        drop(out);
        let first = first.wait();
        first.assert_code(1);
        assert!(
            first
                .stderr
                .contains("stdout closed after 0 messages; nothing more was taken"),
            "{}",
            first.describe()
        );
        let (second, out) = spawn_recv(&[&chan.addr]);
        let got = check_lines(out, 2);
        std::thread::sleep(Duration::from_millis(200));
        stdin.write_all(&lines(2, 7)).unwrap();
        drop(stdin);
        let s = send.wait().unwrap();
        assert!(s.success(), "{t:?} send: {s:?}");
        second.wait().assert_code(0);
        assert_eq!(got.join().unwrap(), Ok(5), "{t:?}");
        drop(chan);
    }
    assert_no_leftovers();
}

// ---------------------------------------------------------------------------------------
// Timeouts, missing channels, bad usage
// ---------------------------------------------------------------------------------------

#[test]
fn timeouts_end_in_bounded_time() {
    let _g = serial();
    let t0 = Instant::now();
    // An empty ring that no sender ever opened.
    let chan = Chan::new(T::Shm, "timeout", "");
    let (r, out) = run(&["recv", "--timeout", "300ms", &chan.addr]);
    r.assert_code(1);
    assert!(out.is_empty());
    assert!(
        r.stderr.contains("timed out") && r.stderr.contains("none arrived"),
        "{}",
        r.describe()
    );
    drop(chan);

    // A ring that fills up and no receiver yet: send gives up after filling it.
    let chan = Chan::new(T::Shm, "timeout-send", "capacity=16");
    let s = spawn_send(&["--timeout", "250ms", &chan.addr], lines(0, 100)).wait();
    s.assert_code(1);
    assert!(
        s.stderr.contains("timed out") && s.stderr.contains("after 16 messages"),
        "{}",
        s.describe()
    );
    // What it sent is there; the sender has gone, so that is the end of the stream.
    let (r, out) = run(&["recv", "--timeout", "250ms", &chan.addr]);
    r.assert_code(0);
    assert_eq!(out, lines(0, 16));
    drop(chan);

    // Silence after some messages while the sender is still there.
    let chan = Chan::new(T::Mq, "timeout-mq", "");
    let mut send = ipcring(&["send", &chan.addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = send.stdin.take().unwrap();
    stdin.write_all(&lines(0, 3)).unwrap();
    stdin.flush().unwrap();
    let (r, out) = run(&["recv", "--timeout", "500ms", &chan.addr]);
    drop(stdin);
    let s = send.wait().unwrap();
    assert!(s.success(), "send: {s:?}");
    r.assert_code(1);
    assert_eq!(out, lines(0, 3));
    assert!(r.stderr.contains("after 3 messages"), "{}", r.describe());
    drop(chan);
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "timeouts took {:?}",
        t0.elapsed()
    );
    assert_no_leftovers();
}

#[test]
fn missing_channel_with_create_no_is_exit_3() {
    let _g = serial();
    for t in [T::Shm, T::Fifo, T::Mq] {
        let chan = Chan::new(t, "missing", "");
        let (r, _) = run(&["recv", "--create", "no", &chan.addr]);
        r.assert_code(3);
        assert!(r.stderr.contains(&chan.addr), "{}", r.describe());
        let s = spawn_send(&["--create", "no", &chan.addr], lines(0, 3)).wait();
        s.assert_code(3);
        drop(chan);
    }
    // --create always on an existing ring: refused.
    let chan = Chan::new(T::Shm, "exists", "");
    let s = spawn_send(&[&chan.addr], lines(0, 1)).wait();
    s.assert_code(0);
    let (r, _) = run(&["recv", "--create", "always", &chan.addr]);
    assert_eq!(r.code(), Some(1), "{}", r.describe());
    assert!(r.stderr.contains("exists"), "{}", r.describe());
    drop(chan);
    assert_no_leftovers();
}

#[test]
fn bad_usage_is_exit_2() {
    let _g = serial();
    let name = unique_name("cli-bad");
    for addr in [
        "smh://x".to_string(),
        format!("shm://{name}?capacty=8"),
        format!("shm://{name}?capacity=0"),
        format!("shm://{name}?bytes=7"),
        "shm://a/b".to_string(),
        "pipe://".to_string(),
        "shm://".to_string(),
        "fifo://relative".to_string(),
        format!("mq://{name}?mode=mpmc"),
        "tcp://nohost".to_string(),
    ] {
        let (r, _) = run(&["recv", &addr]);
        r.assert_code(2);
        let s = spawn_send(&[&addr], Vec::new()).wait();
        s.assert_code(2);
        assert!(s.stderr.contains("ipcring: "), "{}", s.describe());
    }
    for args in [
        &["recv", "--timeout", "5 parsecs", "shm://x"][..],
        &["recv", "--count", "-1", "shm://x"],
        &["send", "--create", "sometimes", "shm://x"],
        &["send"],
    ] {
        let (r, _) = run(args);
        r.assert_code(2);
    }
    assert_no_leftovers();
}
