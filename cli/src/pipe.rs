//! `send` and `recv`: any channel in a shell pipeline.
//!
//! ```text
//! producer | ipcring send shm://jobs        # one message per stdin line
//! ipcring recv shm://jobs | consumer        # one stdout line per message
//! ```
//!
//! # Framing
//!
//! Line mode (the default): a message is a stdin line without its `\n` (a last line without
//! `\n` counts too), and `recv` writes each message followed by `\n`. A message that itself
//! contains `\n` (sent by another program) is written as it is, so it reads as several lines
//! downstream: binary data wants `--records`, where stdin and stdout are streams of
//! `[u32 little-endian length][payload]`, the frame format of the byte-stream transports
//! (`src/transport/frame.rs`).
//!
//! # send
//!
//! stdin is read in large chunks; the complete lines (or records) of each chunk go out with
//! one `send_batch` (on a ring: one publish and one wake-up per run that fits). Lengths are
//! checked before the batch, so a line or record above the channel's `msg_size` is reported
//! by number with nothing of it sent and every earlier one sent. A read returns as soon as
//! stdin has something, so an interactive producer's lines go out as they are typed.
//! `--timeout` bounds each wait for room (or for a receiver to appear): no progress within it
//! is a failure. At end of input the sender is dropped, which is the receivers' end of stream.
//!
//! # recv: nothing consumed that stdout did not take
//!
//! `recv` looks at messages in place with `Receiver::peek_batch`, writes them to stdout, and
//! only then releases (consumes) the ones `write(2)` accepted, counting whole messages by the
//! bytes written. If stdout fails (the reader closed it: EPIPE, which is an error and not a
//! signal because Rust ignores SIGPIPE), the message that could not be written is not
//! consumed. What "not consumed" can mean depends on the transport, because a receive there
//! takes the message out of the kernel object or claims it:
//!
//! | channel | batch per write(2) | a message stdout refused |
//! |---|---|---|
//! | `shm://` SPSC | up to 1024 messages, what is there, and no more bytes than stdout's pipe holds (256 KiB if not a pipe) | stays in the ring; the next `recv` gets it |
//! | `shm://...?mode=mpmc` | 1 (a batch would be claimed whole) | lost: looking at an MPMC message claims it, and a claim cannot be undone |
//! | `mq`, `unix`, `fifo`, `tcp` | 1 | lost: it has left the kernel object (on `fifo` and `tcp`, frames already read ahead from the stream go with it) |
//!
//! To narrow the lossy cases, a `recv` waiting for messages checks every 100 ms whether its
//! stdout is still open (`poll` reports `POLLERR` on a pipe without a reader) and stops before
//! taking anything once it is not; only a reader that goes away while a message is on its way
//! out costs that one message.
//!
//! `--count N` takes exactly N messages and leaves the rest where a channel keeps messages
//! without a receiver: in a ring or a POSIX queue. On `unix`, `fifo` and `tcp` the data
//! lives in the receiver's connection or stream, and goes when `recv` exits (senders then
//! get "no receiver left").
//!
//! Bytes the reader process accepted but never read (`head -n 3`
//! exits with the rest of the pipe buffer unread) are gone with the reader: the channel
//! cannot know about them. Capping each write at the pipe's capacity keeps `recv` at most one
//! pipe's worth ahead of its reader, so that loss is at most the pipe's capacity plus the
//! reader's last read (`docs/cli.md` has the figures). A failed write in the middle of a message (a full disk) leaves a
//! partial copy in the output while the message itself stays in the ring.

use crate::{exit, CmdResult, Fail};
use clap::{Args, ValueEnum};
use ipcring::address::Transport;
use ipcring::{Create, Error, Receiver, Sender, Stats, Timeout};
use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

/// How `send` and `recv` treat a missing channel object.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateArg {
    /// Create it from the address's options if it does not exist, open it if it does.
    IfMissing,
    /// Create it; fail if it exists.
    Always,
    /// It must exist (exit 3 otherwise).
    No,
}

impl CreateArg {
    pub(crate) fn create(self) -> Create {
        match self {
            CreateArg::IfMissing => Create::IfMissing,
            CreateArg::Always => Create::Exclusive,
            CreateArg::No => Create::No,
        }
    }
}

/// Parses `250ms`, `5s`, `1.5s`, `2m`, `1h`, `100us`, `10ns`; a bare number is seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 250ms, 5s, 2m)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        u => return Err(format!("unknown unit {u:?} in {text:?} (ns, us, ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("{text:?} is out of range"))
}

const SEND_AFTER: &str = "\
Examples:
  seq 1000000 | ipcring send shm://jobs                 # (in one shell)
  ipcring recv shm://jobs | wc -l                       # (in another; either may start first)
  producer --binary | ipcring send --records 'shm://blobs?msg_size=65536'
  tail -f app.log | ipcring send 'tcp://10.0.0.7:7000?msg_size=4096'

A line or record longer than the channel's msg_size (256 unless the address says
otherwise) stops send with exit 1, naming it; everything before it was sent.
Give both sides the same address (options included). On unix:// and tcp:// the receiver
listens and the sender connects (waiting for the receiver to appear). A sender waits for a
receiver that has not come yet, but a channel whose receivers have all gone is
'no receiver left' at once: start the next receiver first (or remove the ring).

Exit: 0 all of stdin sent; 1 failed (no receiver left, timeout, oversized or truncated
input); 2 bad usage or address; 3 channel missing (--create no); 5 not a usable ring.";

const RECV_AFTER: &str = "\
Examples:
  ipcring recv shm://jobs | consumer                    # until every sender has gone
  ipcring recv --count 10 shm://jobs                    # take exactly 10, leave the rest
  ipcring recv --records 'shm://blobs?msg_size=65536' > blobs.rec
  ipcring recv --timeout 5s mq://events | head -n 3

A message is consumed only after stdout accepted it. On a plain (SPSC) shm:// ring a
message stdout refused stays in the ring for the next recv. On an MPMC ring and on the
fallback transports (mq, unix, fifo, tcp) the one message in hand when stdout fails is
lost: looking at it claimed it or took it out of the kernel (fifo and tcp also lose frames
read ahead); they are written one message per write(2) to keep that loss to one. A waiting
recv notices a closed stdout within 100 ms and stops without taking anything.
Line mode writes a message containing '\\n' as it is: use --records for binary data.

Exit: 0 end of stream (every sender gone, channel drained) or --count reached; 1 failed
(stdout closed, timeout); 2 bad usage or address; 3 channel missing (--create no);
5 not a usable ring.";

/// `ipcring send`.
#[derive(Args, Debug)]
#[command(after_help = SEND_AFTER)]
pub struct SendArgs {
    /// The channel: shm://NAME[?capacity=..&msg_size=..&mode=mpmc], fifo:///PATH, mq://NAME,
    /// unix:///PATH, tcp://HOST:PORT.
    pub address: String,
    /// stdin is a stream of records `[u32 little-endian length][payload]` (binary-safe)
    /// instead of lines.
    #[arg(long)]
    pub records: bool,
    /// What to do when the channel object does not exist (unix:// and tcp:// senders always
    /// connect to a listening receiver).
    #[arg(long, value_enum, default_value = "if-missing")]
    pub create: CreateArg,
    /// Give up when the channel has had no room (or no receiver to connect to) for this long:
    /// 250ms, 5s, 2m... Default: wait as long as it takes.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Print the messages and bytes sent and the endpoint's counters to stderr at the end.
    #[arg(long)]
    pub stats: bool,
}

/// `ipcring recv`.
#[derive(Args, Debug)]
#[command(after_help = RECV_AFTER)]
pub struct RecvArgs {
    /// The channel: shm://NAME[?capacity=..&msg_size=..&mode=mpmc], fifo:///PATH, mq://NAME,
    /// unix:///PATH, tcp://HOST:PORT.
    pub address: String,
    /// Write each message as a record `[u32 little-endian length][payload]` instead of a
    /// line.
    #[arg(long)]
    pub records: bool,
    /// Stop after this many messages (exit 0), leaving the rest in the channel (shm:// and
    /// mq:// keep them for the next recv; on unix, fifo and tcp they go with this receiver).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Fail when no message has come for this long: 250ms, 5s, 2m... Default: wait for ever.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// What to do when the channel object does not exist (unix:// and tcp:// receivers always
    /// listen).
    #[arg(long, value_enum, default_value = "if-missing")]
    pub create: CreateArg,
    /// Print the messages and bytes received and the endpoint's counters to stderr at the end.
    #[arg(long)]
    pub stats: bool,
}

fn stats_line(cmd: &str, s: Stats, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    let rate = if secs > 0.0 { s.messages as f64 / secs } else { 0.0 };
    format!(
        "ipcring {cmd}: {} messages, {} bytes in {secs:.3} s ({rate:.0} msg/s); parks {}, wakes {}",
        s.messages, s.bytes, s.parks, s.wakes
    )
}

fn plural(n: u64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

// ---------------------------------------------------------------------------------------
// send
// ---------------------------------------------------------------------------------------

/// Messages per `send_batch` at most.
const SEND_BATCH: usize = 1024;
/// The stdin buffer's usual size (it grows to hold one whole message when needed).
const READ_CHUNK: usize = 256 * 1024;

/// stdin, read in chunks into `buf[start..end]`.
struct Input {
    src: io::StdinLock<'static>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl Input {
    fn new() -> Input {
        Input {
            src: io::stdin().lock(),
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            eof: false,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads once (after making room for at least `need` bytes from `start`). Sets `eof`.
    fn fill(&mut self, need: usize) -> Result<(), Fail> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < need.max(self.end + 1) {
            let grown = need.max(self.end + 1).max(self.buf.len() * 2);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Fail::new(exit::FAILED, format!("send: reading stdin: {e}"))),
            }
        }
    }

    /// Reads and drops stdin up to the next `\n` (or the end), returning how many bytes
    /// (`\n` excluded) were dropped from `start` on: the length of an oversized line.
    fn skip_line(&mut self) -> Result<usize, Fail> {
        let mut len = 0;
        loop {
            if let Some(i) = self.pending().iter().position(|&b| b == b'\n') {
                return Ok(len + i);
            }
            len += self.end - self.start;
            self.start = self.end;
            if self.eof {
                return Ok(len);
            }
            self.fill(0)?;
        }
    }
}

/// One problem found in stdin, reported after everything before it has been sent.
enum Bad {
    /// Line `no` is `len` bytes.
    Line { no: u64, len: usize },
    /// Record `no` announces `len` bytes.
    Record { no: u64, len: usize },
    /// Record `no` ends early: `got` of `want` bytes (header included).
    Truncated { no: u64, got: usize, want: usize },
}

/// Cuts the complete messages at the front of `data` (at most `SEND_BATCH`) into `ranges`
/// (payload ranges within `data`). Returns the bytes they use and whether the message after
/// them is larger than `max` (known from a record's header, or from a line's length so far).
/// With `eof`, a last line without `\n` is complete.
fn cut(data: &[u8], records: bool, max: usize, eof: bool, ranges: &mut Vec<(usize, usize)>) -> (usize, bool) {
    ranges.clear();
    let mut p = 0;
    while ranges.len() < SEND_BATCH && p < data.len() {
        if records {
            let Some(h) = data.get(p..p + 4) else { break };
            let len = u32::from_le_bytes(h.try_into().expect("4 bytes")) as usize;
            if len > max {
                return (p, true);
            }
            if data.len() - p - 4 < len {
                break;
            }
            ranges.push((p + 4, p + 4 + len));
            p += 4 + len;
        } else {
            match data[p..].iter().position(|&b| b == b'\n') {
                Some(i) if i > max => return (p, true),
                Some(i) => {
                    ranges.push((p, p + i));
                    p += i + 1;
                }
                None if data.len() - p > max => return (p, true),
                None if eof => {
                    ranges.push((p, data.len()));
                    p = data.len();
                }
                None => break,
            }
        }
    }
    (p, false)
}

/// Sends `msgs`, retrying after partial progress; each wait bounded by `timeout`.
fn send_all(tx: &mut Sender, msgs: &[&[u8]], a: &SendArgs, sent: &mut u64) -> CmdResult {
    let mut off = 0;
    while off < msgs.len() {
        let t = a.timeout.map_or(Timeout::Forever, Timeout::after);
        match tx.send_batch(&msgs[off..], t) {
            Ok(n) if n > 0 => {
                off += n;
                *sent += n as u64;
            }
            Ok(_) | Err(Error::TimedOut | Error::WouldBlock) => {
                let d = a.timeout.unwrap_or_default();
                return Err(Fail::new(
                    exit::FAILED,
                    format!(
                        "send {}: timed out: no room in the channel (or no receiver to connect to) for {d:?}, after {}",
                        a.address,
                        plural(*sent, "message")
                    ),
                ));
            }
            Err(e @ Error::NoListener { .. }) => {
                // The error names the address already.
                return Err(Fail::new(
                    exit::FAILED,
                    format!("send: {e}, after {}", plural(*sent, "message")),
                ));
            }
            Err(e) if e.is_disconnected() => {
                let how = if matches!(e, Error::ReceiverDied) {
                    " (one died)"
                } else {
                    ""
                };
                return Err(Fail::new(
                    exit::FAILED,
                    format!(
                        "send {}: no receiver left{how} after {}",
                        a.address,
                        plural(*sent, "message")
                    ),
                ));
            }
            Err(e) => return Err(Fail::lib(&format!("send {}", a.address), e)),
        }
    }
    Ok(())
}

/// Sends stdin.
pub fn send(a: &SendArgs) -> CmdResult {
    let mut tx = Sender::open(&a.address, a.create.create()).map_err(|e| Fail::lib(&a.address, e))?;
    let started = Instant::now();
    let max = tx.max_msg_size();
    let mut sent = 0u64;
    let r = pump(&mut tx, a, max, &mut sent);
    let stats = tx.stats();
    drop(tx); // the receivers' end of stream (after what was sent)
    if a.stats {
        eprintln!("{}", stats_line("send", stats, started));
    }
    let addr = &a.address;
    let fail = |m: String| Err(Fail::new(exit::FAILED, m));
    match r? {
        None => Ok(()),
        Some(Bad::Line { no, len }) => fail(format!(
            "send {addr}: line {no} is {len} bytes, larger than the channel's largest message ({max} bytes; \
             give a larger msg_size in the address, or use --records); nothing of it was sent, \
             the {} before it were",
            plural(sent, "line")
        )),
        Some(Bad::Record { no, len }) => fail(format!(
            "send {addr}: record {no} is {len} bytes, larger than the channel's largest message ({max} bytes); \
             nothing of it was sent, the {} before it were",
            plural(sent, "record")
        )),
        Some(Bad::Truncated { no, got, want }) => fail(format!(
            "send {addr}: stdin ends inside record {no}: {got} of its {want} bytes (header included); \
             it was not sent, the {} before it were",
            plural(sent, "record")
        )),
    }
}

/// Reads stdin and sends its messages until the end, or until a message that cannot be sent
/// (returned, everything before it sent).
fn pump(tx: &mut Sender, a: &SendArgs, max: usize, sent: &mut u64) -> Result<Option<Bad>, Fail> {
    let mut input = Input::new();
    let mut ranges = Vec::with_capacity(SEND_BATCH);
    loop {
        let (used, oversized) = cut(input.pending(), a.records, max, input.eof, &mut ranges);
        if !ranges.is_empty() {
            let data = input.pending();
            let msgs: Vec<&[u8]> = ranges.iter().map(|&(s, e)| &data[s..e]).collect();
            send_all(tx, &msgs, a, sent)?;
        }
        input.start += used;
        if oversized {
            let no = *sent + 1;
            return Ok(Some(if a.records {
                let h = &input.pending()[..4];
                let len = u32::from_le_bytes(h.try_into().expect("4 bytes")) as usize;
                Bad::Record { no, len }
            } else {
                Bad::Line {
                    no,
                    len: input.skip_line()?,
                }
            }));
        }
        if ranges.len() == SEND_BATCH {
            continue; // more complete messages may be buffered
        }
        if input.eof {
            let left = input.end - input.start;
            if left == 0 {
                return Ok(None);
            }
            // Only a record can be left over at the end (a last line is always taken).
            let want = match input.pending().get(..4) {
                Some(h) => 4 + u32::from_le_bytes(h.try_into().expect("4 bytes")) as usize,
                None => 4,
            };
            return Ok(Some(Bad::Truncated {
                no: *sent + 1,
                got: left,
                want,
            }));
        }
        // Room for a whole message from `start`: a record's header and payload, or a line
        // of msg_size bytes and its newline.
        input.fill(if a.records { 4 + max } else { max + 1 })?;
    }
}

// ---------------------------------------------------------------------------------------
// recv
// ---------------------------------------------------------------------------------------

/// Bytes of output gathered per write(2) at most (a batch of messages).
const RECV_BATCH_BYTES: usize = 256 * 1024;
/// Messages per batch at most.
const RECV_BATCH: usize = 1024;
/// How often a waiting `recv` checks that its stdout is still open.
const STDOUT_CHECK: Duration = Duration::from_millis(100);

/// The capacity of the pipe stdout is, if it is one (`F_GETPIPE_SZ`): a batch written never
/// exceeds it, so `recv` is at most one pipe's worth ahead of its reader.
fn stdout_pipe_capacity() -> Option<usize> {
    // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on fd 1 into a stat we own.
    if unsafe { libc::fstat(1, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return None;
    }
    // SAFETY: F_GETPIPE_SZ takes no argument and only reads the pipe's size.
    let n = unsafe { libc::fcntl(1, libc::F_GETPIPE_SZ) };
    usize::try_from(n).ok().filter(|&n| n > 0)
}

/// fd 1 without Rust's line buffering: every byte counted as written has reached the kernel.
fn raw_stdout() -> ManuallyDrop<File> {
    // SAFETY: fd 1 is open for the life of the process (a closed one makes writes fail with
    // EBADF, reported as an error); ManuallyDrop never closes it.
    ManuallyDrop::new(unsafe { File::from_raw_fd(1) })
}

/// Whether stdout's reader has gone (a pipe or socket without a reader reports POLLERR or
/// POLLHUP). Regular files and terminals never do.
fn stdout_gone() -> bool {
    let mut p = libc::pollfd {
        fd: 1,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r == 1 && p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
}

/// Waits until stdout can take more (it was left non-blocking by whoever opened it).
fn wait_writable() {
    let mut p = libc::pollfd {
        fd: 1,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd; the result only decides when to retry the write.
    unsafe { libc::poll(&mut p, 1, 1000) };
}

/// Writes `buf`, returning how many bytes went out and the error that stopped it, if any.
fn write_out(out: &mut File, buf: &[u8]) -> (usize, Option<io::Error>) {
    let mut off = 0;
    while off < buf.len() {
        match out.write(&buf[off..]) {
            Ok(0) => return (off, Some(io::Error::from(io::ErrorKind::WriteZero))),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_writable(),
            Err(e) => return (off, Some(e)),
        }
    }
    (off, None)
}

/// What happened to a message stdout refused, on this receiver's transport.
fn fate(rx: &Receiver) -> &'static str {
    if rx.peek_consumes() {
        "the message in hand was claimed from the MPMC ring and is lost (an MPMC claim cannot be undone)"
    } else if rx.transport() == Transport::Shm {
        "the next one stays in the channel"
    } else {
        "the message in hand had left the kernel object and is lost (later ones stay in the channel, \
         but for frames a fifo:// or tcp:// receiver had read ahead)"
    }
}

/// Receives to stdout.
pub fn recv(a: &RecvArgs) -> CmdResult {
    let mut rx = Receiver::open(&a.address, a.create.create()).map_err(|e| Fail::lib(&a.address, e))?;
    let started = Instant::now();
    let max = rx.max_msg_size();
    // Bytes per write(2): a batch, but never more than stdout's pipe holds.
    let cap = stdout_pipe_capacity().map_or(RECV_BATCH_BYTES, |p| p.min(RECV_BATCH_BYTES));
    let frame = if a.records { 4 } else { 1 };
    // Batches only where messages not released stay in the channel (see the module docs).
    let batch = if rx.transport() == Transport::Shm && !rx.peek_consumes() {
        RECV_BATCH
    } else {
        1
    };
    let mut stdout = raw_stdout();
    let mut out: Vec<u8> = Vec::with_capacity(cap.min(batch * (max + 5)));
    let mut ends: Vec<usize> = Vec::with_capacity(batch);
    let mut got = 0u64;
    let addr = &a.address;
    let fate = fate(&rx);
    let result = loop {
        let want = match a.count {
            Some(c) if got >= c => break Ok(()),
            Some(c) => batch.min((c - got).min(usize::MAX as u64) as usize),
            None => batch,
        };
        let deadline = a.timeout.map(|d| Instant::now() + d);
        let peeked = loop {
            let slice = match deadline {
                Some(dl) => {
                    let left = dl.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break Err(Fail::new(
                            exit::FAILED,
                            format!(
                                "recv {addr}: timed out: no message for {:?} ({})",
                                a.timeout.unwrap_or_default(),
                                if got == 0 {
                                    "none arrived at all".to_string()
                                } else {
                                    format!("after {}", plural(got, "message"))
                                }
                            ),
                        ));
                    }
                    left.min(STDOUT_CHECK)
                }
                None => STDOUT_CHECK,
            };
            out.clear();
            ends.clear();
            let mut full = false;
            let r = rx.peek_batch(want, Timeout::after(slice), |m| {
                // Once a message would take the batch past `cap` bytes, it and the ones
                // after it are left out (not released: they stay in the channel). The
                // first message always goes, whatever its size.
                full = full || (!ends.is_empty() && out.len() + m.len() + frame > cap);
                if full {
                    return;
                }
                if a.records {
                    out.extend_from_slice(&(m.len() as u32).to_le_bytes());
                    out.extend_from_slice(m);
                } else {
                    out.extend_from_slice(m);
                    out.push(b'\n');
                }
                ends.push(out.len());
            });
            match r {
                Ok(b) => break Ok(Some(b)),
                Err(Error::TimedOut | Error::WouldBlock) => {
                    if stdout_gone() {
                        break Err(Fail::new(
                            exit::FAILED,
                            format!(
                                "recv {addr}: stdout closed after {}; nothing more was taken from the channel",
                                plural(got, "message")
                            ),
                        ));
                    }
                }
                Err(Error::EndOfStream) => break Ok(None),
                Err(Error::SenderDied) => {
                    break Err(Fail::new(
                        exit::SENDER_DIED,
                        format!(
                            "recv {addr}: a sender died without closing after {}: the stream may be incomplete",
                            plural(got, "message")
                        ),
                    ))
                }
                Err(e) => break Err(Fail::lib(&format!("recv {addr}"), e)),
            }
        };
        let batch_seen = match peeked {
            Ok(Some(b)) => b,
            Ok(None) => break Ok(()),
            Err(f) => break Err(f),
        };
        let (written, err) = write_out(&mut stdout, &out);
        let whole = ends.iter().take_while(|&&e| e <= written).count();
        batch_seen.release(whole);
        got += whole as u64;
        if let Some(e) = err {
            let what = if e.kind() == io::ErrorKind::BrokenPipe {
                "stdout closed".to_string()
            } else {
                format!("writing stdout failed ({e})")
            };
            break Err(Fail::new(
                exit::FAILED,
                format!("recv {addr}: {what} after {}; {}", plural(got, "message"), fate),
            ));
        }
    };
    if a.stats {
        eprintln!("{}", stats_line("recv", rx.stats(), started));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn cut_lines_and_records() {
        let mut r = Vec::new();
        assert_eq!(cut(b"ab\n\ncd", false, 8, false, &mut r), (4, false));
        assert_eq!(r, [(0, 2), (3, 3)]);
        assert_eq!(cut(b"ab\n\ncd", false, 8, true, &mut r), (6, false));
        assert_eq!(r, [(0, 2), (3, 3), (4, 6)]);
        assert_eq!(cut(b"ab\nabcdefghij\n", false, 8, false, &mut r), (3, true));
        assert_eq!(cut(b"abcdefghij", false, 8, false, &mut r), (0, true));
        let rec = [2, 0, 0, 0, b'x', b'\n', 0, 0, 0, 0, 9, 0];
        assert_eq!(cut(&rec, true, 8, false, &mut r), (10, false));
        assert_eq!(r, [(4, 6), (10, 10)]);
        let big = [9, 0, 0, 0];
        assert_eq!(cut(&big, true, 8, false, &mut r), (0, true));
    }
}
