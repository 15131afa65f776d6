//! The transports under test, and the two measurements of each (row, size):
//!
//! - [`throughput`]: a forked child opens a sender and sends `1 + n` messages as fast as the
//!   channel takes them; the bench receives them and checks each one's length and the
//!   sequence number stamped in its first 8 bytes (and last 8, from 16 bytes up). Timed from
//!   the first message received (message 0, which also made any lazy connection) to the
//!   last: `n` messages; CPU time and endpoint statistics of both processes over the same
//!   part (the child's from its send of message 0).
//! - [`roundtrip`]: the bench sends a message, the child echoes it on a second channel of the
//!   same transport; every round trip is timed into a histogram and its echo checked.
//!
//! Rows: the ring (`shm-spsc`, `shm-mpmc`) in **spin** mode (`try_send` / `try_recv` loops
//! with `spin_loop`) and **block** mode (`send` / `recv`: the library spins, then sleeps on
//! the futex), and the SPSC ring in **fd** mode (an event loop: `try_*`, then a wait on the
//! handle's descriptor) and **poll64** mode (the same wait with `ipcring::poll` over the
//! handle and 63 idle rings), the ring in **zc** mode (zero-copy, spinning: the sender
//! reserves a slot, copies its prefilled, stamped message into it and commits; the receiver
//! peeks, checks the stamps in place and releases: one payload copy per message instead of
//! two), and the fallbacks (`pipe`, `fifo`, `mq`, `unix`, `tcp`) with the blocking API.
//! Every wait is bounded by the phase's [`Watch`]; a kernel limit at open (e.g. an `mq://`
//! message above `fs.mqueue.msgsize_max`) makes the case `n/a` with the library's reason.

use super::cleanup::Named;
use super::limits::new_hist;
use super::proc::{cpu_ns, spawn, ChildErr, Deadline, Watch};
use hdrhistogram::Histogram;
use ipcring::{Create, Error, Receiver, Sender, Stats};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A transport, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `shm://NAME` with the default SPSC ring.
    ShmSpsc,
    /// `shm://NAME?mode=mpmc`.
    ShmMpmc,
    /// `pipe://` (a pair made before the fork).
    Pipe,
    /// `fifo:///tmp/NAME.fifo`.
    Fifo,
    /// `mq://NAME`.
    Mq,
    /// `unix:///tmp/NAME.sock`.
    Unix,
    /// `tcp://127.0.0.1:PORT`.
    Tcp,
}

impl Transport {
    /// Its name in tables and `--only`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::ShmSpsc => "shm-spsc",
            Transport::ShmMpmc => "shm-mpmc",
            Transport::Pipe => "pipe",
            Transport::Fifo => "fifo",
            Transport::Mq => "mq",
            Transport::Unix => "unix",
            Transport::Tcp => "tcp",
        }
    }

    /// Whether it is the shared-memory ring.
    pub fn is_ring(self) -> bool {
        matches!(self, Transport::ShmSpsc | Transport::ShmMpmc)
    }
}

/// How the endpoints wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `try_send` / `try_recv` in a loop with `spin_loop` (ring rows only).
    Spin,
    /// The blocking API: `send` / `recv` with a deadline.
    Block,
    /// An event loop: `try_send` / `try_recv`, and on `WouldBlock` `poll(2)` on the handle's
    /// descriptor (ring rows only).
    Fd,
    /// `ipcring::poll` over the handle and 63 idle rings, then `try_send` / `try_recv`
    /// (ring rows only): what waiting on 64 rings costs against `fd` (one).
    Poll64,
    /// Zero-copy, spinning (ring rows only): the sender reserves a slot
    /// (`Sender::reserve(NonBlocking)`), copies its message into it and commits; the
    /// receiver peeks at the message in place (`Receiver::peek(NonBlocking)`), checks it
    /// there and releases it. One payload copy per message (the sender's) instead of two;
    /// the receiver reads only what the check reads (the stamps), not the whole payload.
    Zc,
}

impl Mode {
    /// Its name in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Spin => "spin",
            Mode::Block => "block",
            Mode::Fd => "fd",
            Mode::Poll64 => "poll64",
            Mode::Zc => "zc",
        }
    }
}

/// One row of the table: a transport and a mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// The transport.
    pub transport: Transport,
    /// How its endpoints wait.
    pub mode: Mode,
    /// A ring made with `fence=full` (symmetric SeqCst fences: one per publication) instead
    /// of the default (asymmetric where membarrier works): the same row with the old cost,
    /// side by side.
    pub full: bool,
}

impl Row {
    /// Every row, in table order.
    pub const ALL: [Row; 15] = [
        Row::new(Transport::ShmSpsc, Mode::Spin),
        Row::full(Transport::ShmSpsc, Mode::Spin),
        Row::new(Transport::ShmSpsc, Mode::Block),
        Row::full(Transport::ShmSpsc, Mode::Block),
        Row::new(Transport::ShmSpsc, Mode::Fd),
        Row::new(Transport::ShmSpsc, Mode::Poll64),
        Row::new(Transport::ShmSpsc, Mode::Zc),
        Row::new(Transport::ShmMpmc, Mode::Spin),
        Row::new(Transport::ShmMpmc, Mode::Block),
        Row::new(Transport::ShmMpmc, Mode::Zc),
        Row::new(Transport::Pipe, Mode::Block),
        Row::new(Transport::Fifo, Mode::Block),
        Row::new(Transport::Mq, Mode::Block),
        Row::new(Transport::Unix, Mode::Block),
        Row::new(Transport::Tcp, Mode::Block),
    ];

    const fn new(transport: Transport, mode: Mode) -> Row {
        Row {
            transport,
            mode,
            full: false,
        }
    }

    const fn full(transport: Transport, mode: Mode) -> Row {
        Row {
            transport,
            mode,
            full: true,
        }
    }

    /// `shm-spsc/spin`, `shm-spsc/block`, ..., `pipe`, `tcp`.
    pub fn name(&self) -> String {
        if self.transport.is_ring() {
            let full = if self.full { "-full" } else { "" };
            format!("{}/{}{full}", self.transport.name(), self.mode.name())
        } else {
            self.transport.name().to_string()
        }
    }
}

/// Why a case has no figures.
#[derive(Debug, Clone)]
pub enum CaseErr {
    /// This machine cannot carry it (a kernel limit): shown as `n/a` with the reason.
    NotAvailable(String),
    /// Something failed: a peer, wrong data, a timeout.
    Failed(String),
}

impl From<String> for CaseErr {
    fn from(s: String) -> CaseErr {
        CaseErr::Failed(s)
    }
}

impl From<ChildErr> for CaseErr {
    fn from(e: ChildErr) -> CaseErr {
        if e.na {
            CaseErr::NotAvailable(e.msg)
        } else {
            CaseErr::Failed(e.msg)
        }
    }
}

/// An open error: `n/a` for what the kernel cannot do here, a failure otherwise.
fn open_err(addr: &str, e: Error) -> CaseErr {
    match e {
        Error::KernelLimit { .. } | Error::Unsupported { .. } => CaseErr::NotAvailable(e.to_string()),
        _ => CaseErr::Failed(format!("{}: {e}", short(addr))),
    }
}

impl From<CaseErr> for ChildErr {
    fn from(e: CaseErr) -> ChildErr {
        match e {
            CaseErr::NotAvailable(msg) => ChildErr { msg, na: true },
            CaseErr::Failed(msg) => ChildErr { msg, na: false },
        }
    }
}

/// An address without its query string, for messages.
fn short(addr: &str) -> &str {
    addr.split('?').next().unwrap_or(addr)
}

// ---------------------------------------------------------------------------------------------
// System calls per message: the one place that counts them.

/// System calls per message made by a sender and a receiver together, from their statistics
/// over the measured part (`tx` and `rx` are deltas; for a round trip, the sums of both
/// directions' ends, which makes this "per round trip"): [`Stats::syscalls`], every system
/// call an endpoint makes on its message path, on every transport (sleeps and wake-ups on the
/// ring; each read, write, poll, queue or socket call on the fallbacks).
pub fn syscalls_per_msg(tx: &Stats, rx: &Stats, n: u64) -> f64 {
    (tx.syscalls + rx.syscalls) as f64 / n.max(1) as f64
}

/// `after - before`, field by field.
fn stats_delta(after: &Stats, before: &Stats) -> Stats {
    *after - *before
}

/// `a + b`, field by field.
fn stats_sum(a: &Stats, b: &Stats) -> Stats {
    *a + *b
}

/// Statistics as the child reports them.
fn stats_json(s: &Stats) -> Value {
    json!({
        "messages": s.messages,
        "bytes": s.bytes,
        "parks": s.parks,
        "wakes": s.wakes,
        "syscalls": s.syscalls,
    })
}

/// The child's statistics back.
fn stats_from_json(v: &Value) -> Stats {
    let f = |k: &str| v[k].as_u64().unwrap_or(0);
    let mut s = Stats::default();
    s.messages = f("messages");
    s.bytes = f("bytes");
    s.parks = f("parks");
    s.wakes = f("wakes");
    s.syscalls = f("syscalls");
    s
}

// ---------------------------------------------------------------------------------------------
// Channels.

/// Ring slots for `size`-byte messages: up to 1024, as many as fit in `--ring-bytes` (4 MiB
/// by default), at least 2.
pub fn ring_capacity(size: usize) -> usize {
    let fit = ring_bytes() / size.max(1);
    let pow2 = if fit == 0 {
        1
    } else {
        1usize << (usize::BITS - 1 - fit.leading_zeros())
    };
    pow2.clamp(2, 1024)
}

/// The bench's process id (its children name objects after it too).
fn bench_pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// `--ring-bytes`, as [`init`] recorded it.
fn ring_bytes() -> usize {
    *RING_BYTES.get().unwrap_or(&(4 << 20))
}

static RING_BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Records the bench's process id and `--ring-bytes`; call before the first fork.
pub fn init(ring_bytes: usize) {
    bench_pid();
    let _ = RING_BYTES.set(ring_bytes);
}

/// A free TCP port on the loopback (the kernel's pick; a race with another process taking
/// it is retried by the caller).
fn free_tcp_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    Ok(l.local_addr().map_err(|e| format!("local_addr: {e}"))?.port())
}

/// The address of channel `tag` of `row` at `size` (for tcp, on `port`); names carry the
/// bench's pid (`ipcring-bench-PID-ROW-SIZE-TAG`), even when a child makes the object.
fn address(row: Row, size: usize, tag: &str, port: u16) -> (String, &'static str, String) {
    let name = format!(
        "ipcring-bench-{}-{}-{size}-{tag}",
        bench_pid(),
        row.name().replace('/', "-")
    );
    let tmp = std::env::temp_dir();
    let q = format!("msg_size={size}{}", if row.full { "&fence=full" } else { "" });
    let cap = ring_capacity(size);
    match row.transport {
        Transport::ShmSpsc => (format!("shm://{name}?capacity={cap}&{q}"), "shm", name),
        Transport::ShmMpmc => (format!("shm://{name}?mode=mpmc&capacity={cap}&{q}"), "shm", name),
        Transport::Pipe => (format!("pipe://?{q}"), "pipe", String::new()),
        Transport::Fifo => {
            let p = tmp.join(format!("{name}.fifo")).display().to_string();
            (format!("fifo://{p}?{q}"), "fifo", p)
        }
        Transport::Mq => (format!("mq://{name}?{q}"), "mq", name),
        Transport::Unix => {
            let p = tmp.join(format!("{name}.sock")).display().to_string();
            (format!("unix://{p}?{q}"), "unix", p)
        }
        Transport::Tcp => (format!("tcp://127.0.0.1:{port}?{q}"), "tcp", String::new()),
    }
}

/// A receiving end made for a measurement.
struct Made {
    rx: Receiver,
    /// The sender of a `pipe://` pair (to be moved into the child).
    pair_tx: Option<Sender>,
    /// Where a sender opens it.
    addr: String,
    /// The named object, removed when dropped.
    named: Option<Named>,
}

/// Makes channel `tag`'s receiving end (a fresh named object, a listener, or a pipe pair).
/// `guard`: whether this process guards the named object (the child's are guarded by the
/// bench).
fn make_receiver(row: Row, size: usize, tag: &str, guard: bool) -> Result<Made, CaseErr> {
    match row.transport {
        Transport::Pipe => {
            let (addr, _, _) = address(row, size, tag, 0);
            let (tx, rx) = ipcring::pair_at(&addr).map_err(|e| open_err(&addr, e))?;
            Ok(Made {
                rx,
                pair_tx: Some(tx),
                addr,
                named: None,
            })
        }
        Transport::Tcp => {
            let mut last = String::new();
            for _ in 0..20 {
                let (addr, _, _) = address(row, size, tag, free_tcp_port()?);
                match Receiver::open(&addr, Create::IfMissing) {
                    Ok(rx) => {
                        return Ok(Made {
                            rx,
                            pair_tx: None,
                            addr,
                            named: None,
                        })
                    }
                    Err(e @ Error::Busy { .. }) => last = format!("{}: {e}", short(&addr)),
                    Err(e) => return Err(open_err(&addr, e)),
                }
            }
            Err(CaseErr::Failed(format!("no free TCP port after 20 tries: {last}")))
        }
        _ => {
            let (addr, scheme, target) = address(row, size, tag, 0);
            let named = if guard {
                Named::new(scheme, &target, &addr)
            } else {
                None
            };
            let rx = Receiver::open(&addr, Create::Exclusive).map_err(|e| open_err(&addr, e))?;
            Ok(Made {
                rx,
                pair_tx: None,
                addr,
                named,
            })
        }
    }
}

/// The sender: the pair's, or a new one opened by address.
fn sender(pair_tx: Option<Sender>, addr: &str) -> Result<Sender, CaseErr> {
    match pair_tx {
        Some(tx) => Ok(tx),
        None => Sender::open(addr, Create::No).map_err(|e| open_err(addr, e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Sending, receiving, checking.

/// 63 idle in-process rings (made once per process), the rest of a `poll64` wait.
fn idle_rings() -> std::sync::MutexGuard<'static, Vec<Receiver>> {
    static IDLE: std::sync::OnceLock<std::sync::Mutex<Vec<Receiver>>> = std::sync::OnceLock::new();
    IDLE.get_or_init(|| {
        let rings = (0..63)
            .filter_map(|_| ipcring::Ring::in_process(&ipcring::RingOptions::new().capacity(4)).ok())
            .filter_map(|r| r.receiver().ok())
            .collect();
        std::sync::Mutex::new(rings)
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

/// A handle to wait for.
enum Handle<'a> {
    Tx(&'a mut Sender),
    Rx(&'a mut Receiver),
}

impl Handle<'_> {
    fn item(&mut self) -> ipcring::PollItem<'_> {
        match self {
            Handle::Tx(t) => ipcring::PollItem::sender(t),
            Handle::Rx(r) => ipcring::PollItem::receiver(r),
        }
    }
}

/// Waits until `h` is ready, with `ipcring::poll` over it alone (`fd` mode: the same wait as
/// `poll(2)` on its descriptor) or over it and 63 idle rings (`poll64`), in slices so that
/// `w` is checked.
fn wait_ready(mut h: Handle<'_>, mode: Mode, w: &Watch, what: &str) -> Result<(), String> {
    let slice = ipcring::Timeout::after(Duration::from_millis(100));
    loop {
        let n = if mode == Mode::Poll64 {
            let mut idle = idle_rings();
            let mut items: Vec<ipcring::PollItem<'_>> = Vec::with_capacity(64);
            items.push(h.item());
            items.extend(idle.iter_mut().map(ipcring::PollItem::receiver));
            ipcring::poll(&mut items, slice)
        } else {
            ipcring::poll(&mut [h.item()], slice)
        }
        .map_err(|e| format!("{what}: poll: {e}"))?;
        if n > 0 {
            return Ok(());
        }
        w.check(what)?;
    }
}

/// Sends `msg` in `mode`, bounded by `w` (in `zc` mode: reserves a slot, copies `msg` into
/// it and commits).
fn send(tx: &mut Sender, msg: &[u8], mode: Mode, w: &Watch) -> Result<(), String> {
    match mode {
        Mode::Zc => w.spin_op("reserve", || {
            tx.reserve(ipcring::Timeout::NonBlocking).map(|mut slot| {
                let room = slot.buf();
                if room.len() < msg.len() {
                    // Not reached (the ring is made with msg_size = the size): a clear
                    // error rather than a panic if it were.
                    return Err(format!(
                        "reserve: a {}-byte slot for a {}-byte message",
                        room.len(),
                        msg.len()
                    ));
                }
                room[..msg.len()].copy_from_slice(msg);
                slot.commit(msg.len()).map_err(|e| format!("commit: {e}"))
            })
        })?,
        Mode::Fd | Mode::Poll64 => loop {
            match tx.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(Error::WouldBlock) => wait_ready(Handle::Tx(tx), mode, w, "send")?,
                Err(e) => return Err(format!("send: {e}")),
            }
        },
        Mode::Block => tx.send_with_timeout(msg, w.deadline.timeout()).map_err(|e| match e {
            Error::TimedOut => w.deadline.expired("send"),
            e => format!("send: {e}"),
        }),
        Mode::Spin => w.spin_op("send", || tx.try_send(msg)),
    }
}

/// Receives one message in `mode`, bounded by `w`, and hands it to `f`; `f`'s result.
/// In `zc` mode the message is peeked at in place, handed to `f` there, and released when
/// `f` succeeds (`buf` is not used); otherwise it is received into `buf` first.
fn take<T>(
    rx: &mut Receiver,
    buf: &mut [u8],
    mode: Mode,
    w: &Watch,
    f: impl FnOnce(&[u8]) -> Result<T, String>,
) -> Result<T, String> {
    if mode != Mode::Zc {
        let len = recv(rx, buf, mode, w)?;
        return f(&buf[..len]);
    }
    // On failure the slot is dropped unreleased: the row fails anyway. (`f` is called
    // once: the closure stops the loop the first time it has a slot.)
    let mut f = Some(f);
    w.spin_op("peek", || {
        rx.peek(ipcring::Timeout::NonBlocking).map(|slot| {
            let v = f.take().ok_or("peek: a second message")?(&slot)?;
            slot.release();
            Ok(v)
        })
    })?
}

/// Receives one message in `mode` (not `zc`: see [`take`]), bounded by `w`; its length.
fn recv(rx: &mut Receiver, buf: &mut [u8], mode: Mode, w: &Watch) -> Result<usize, String> {
    match mode {
        Mode::Zc => Err("recv: zc mode receives with take()".into()),
        Mode::Fd | Mode::Poll64 => loop {
            match rx.try_recv(buf) {
                Ok(len) => return Ok(len),
                Err(Error::WouldBlock) => wait_ready(Handle::Rx(rx), mode, w, "recv")?,
                Err(e) => return Err(format!("recv: {e}")),
            }
        },
        Mode::Block => rx.recv_with_timeout(buf, w.deadline.timeout()).map_err(|e| match e {
            Error::TimedOut => w.deadline.expired("recv"),
            e => format!("recv: {e}"),
        }),
        Mode::Spin => w.spin_op("recv", || rx.try_recv(buf)),
    }
}

/// Stamps `seq` into the first 8 bytes of `msg` and, from 16 bytes, into the last 8.
fn stamp(msg: &mut [u8], seq: u64) {
    let b = seq.to_le_bytes();
    let n = msg.len();
    if n >= 8 {
        msg[..8].copy_from_slice(&b);
    }
    if n >= 16 {
        msg[n - 8..].copy_from_slice(&b);
    }
}

/// Checks a received message: its length and its stamps.
fn check(msg: &[u8], size: usize, seq: u64) -> Result<(), String> {
    if msg.len() != size {
        return Err(format!("message {seq}: {} bytes, expected {size}", msg.len()));
    }
    let read = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    if size >= 8 && read(&msg[..8]) != seq {
        return Err(format!("message {seq}: carries sequence number {}", read(&msg[..8])));
    }
    if size >= 16 && read(&msg[size - 8..]) != seq {
        return Err(format!(
            "message {seq}: ends with sequence number {} (torn message)",
            read(&msg[size - 8..])
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The measurements.

/// One round's throughput figures.
pub struct Tp {
    /// Messages timed.
    pub n: u64,
    /// Seconds from message 0 received to message `n` received.
    pub secs: f64,
    /// CPU time of both processes over that part, ns.
    pub cpu_ns: u64,
    /// System calls per message ([`syscalls_per_msg`]).
    pub syscalls_per_msg: f64,
}

/// One-way throughput: a child sends `n` messages after an untimed one, the bench receives
/// and checks them.
pub fn throughput(row: Row, size: usize, n: u64, timeout: Duration) -> Result<Tp, CaseErr> {
    let Made {
        mut rx,
        pair_tx,
        addr,
        mut named,
    } = make_receiver(row, size, "tp", true)?;
    let mode = row.mode;
    let child_addr = addr.clone();
    let mut child = spawn(timeout, move |ctx| {
        let mut tx = sender(pair_tx, &child_addr)?;
        ctx.ready(json!(null))?;
        let w = ctx.watch();
        let mut msg = vec![0x5au8; size];
        stamp(&mut msg, 0);
        send(&mut tx, &msg, mode, &w)?;
        // No handshake here: a tcp:// send may leave the end of a large frame for the next
        // send to write, so the sender keeps sending; the clock starts at message 0.
        let (c0, s0) = (cpu_ns(), tx.stats());
        for seq in 1..=n {
            stamp(&mut msg, seq);
            send(&mut tx, &msg, mode, &w)?;
        }
        let s1 = tx.stats();
        drop(tx); // a stream sender flushes a partly written last frame here
        Ok(json!({ "cpu_ns": cpu_ns() - c0, "stats": stats_json(&stats_delta(&s1, &s0)) }))
    })?;
    let dl = Deadline::after(timeout);
    let w = child.watch(dl);
    child.expect("ready", &dl)?;
    let mut buf = vec![0u8; size];
    let mut timed = (Duration::ZERO, 0, Stats::default());
    let res = (|| {
        take(&mut rx, &mut buf, mode, &w, |m| check(m, size, 0))?;
        if let Some(nm) = named.as_mut() {
            nm.unlink_now(); // both ends are open
        }
        let (c0, s0) = (cpu_ns(), rx.stats());
        let t0 = Instant::now();
        for seq in 1..=n {
            take(&mut rx, &mut buf, mode, &w, |m| check(m, size, seq))?;
        }
        timed = (t0.elapsed(), cpu_ns() - c0, stats_delta(&rx.stats(), &s0));
        Ok::<_, String>(())
    })();
    if let Err(e) = res {
        return Err(CaseErr::Failed(format!("throughput: {e}{}", child.explain())));
    }
    let rep = child.finish(&dl)?;
    let (secs, my_cpu, rx_stats) = timed;
    let tx_stats = stats_from_json(&rep["stats"]);
    Ok(Tp {
        n,
        secs: secs.as_secs_f64().max(1e-9),
        cpu_ns: my_cpu + rep["cpu_ns"].as_u64().unwrap_or(0),
        syscalls_per_msg: syscalls_per_msg(&tx_stats, &rx_stats, n),
    })
}

/// One round's round-trip figures.
pub struct Rtt {
    /// Round-trip times, ns.
    pub hist: Histogram<u64>,
    /// Timed round trips.
    pub n: u64,
    /// CPU time of both processes over them, ns.
    pub cpu_ns: u64,
    /// System calls per round trip (both processes, both directions).
    pub syscalls_per_rt: f64,
}

/// Round trips: the bench sends on `ping`, the child echoes on `pong`; `warm` untimed, then
/// `n` timed.
pub fn roundtrip(row: Row, size: usize, n: u64, warm: u64, timeout: Duration) -> Result<Rtt, CaseErr> {
    let mode = row.mode;
    // pong (child -> bench): the bench receives, so it makes it.
    let Made {
        rx: mut pong_rx,
        pair_tx: pong_pair_tx,
        addr: pong_addr,
        named: mut pong_named,
    } = make_receiver(row, size, "pong", true)?;
    // ping (bench -> child): a pipe pair now; otherwise the child makes it (guarded here).
    let (ping_pair_rx, mut ping_pair_tx) = match row.transport {
        Transport::Pipe => {
            let m = make_receiver(row, size, "ping", true)?;
            (Some(m.rx), m.pair_tx)
        }
        _ => (None, None),
    };
    let mut ping_named = {
        let (addr, scheme, target) = address(row, size, "ping", 0);
        Named::new(scheme, &target, &addr)
    };
    let mut child = spawn(timeout, move |ctx| {
        let (mut prx, ping_addr) = match ping_pair_rx {
            Some(rx) => (rx, String::new()),
            None => {
                let m = make_receiver(row, size, "ping", false)?;
                (m.rx, m.addr)
            }
        };
        let mut ptx = sender(pong_pair_tx, &pong_addr)?;
        ctx.ready(json!({ "ping": ping_addr }))?;
        let w = ctx.watch();
        let mut buf = vec![0u8; size];
        let (mut c0, mut r0, mut t0) = (0, Stats::default(), Stats::default());
        for i in 0..warm + n {
            if i == warm {
                (c0, r0, t0) = (cpu_ns(), prx.stats(), ptx.stats());
            }
            // The echo: in zc mode straight from the peeked message into the reserved slot.
            take(&mut prx, &mut buf, mode, &w, |m| send(&mut ptx, m, mode, &w))?;
        }
        let (r1, t1) = (prx.stats(), ptx.stats());
        drop(ptx); // flushes a partly written last frame
        Ok(json!({
            "cpu_ns": cpu_ns() - c0,
            "rx": stats_json(&stats_delta(&r1, &r0)),
            "tx": stats_json(&stats_delta(&t1, &t0)),
        }))
    })?;
    let dl = Deadline::after(timeout);
    let w = child.watch(dl);
    let ready = child.expect("ready", &dl)?;
    let mut ping_tx = match ping_pair_tx.take() {
        Some(tx) => tx,
        None => {
            let addr = ready["ping"].as_str().unwrap_or_default().to_string();
            sender(None, &addr)?
        }
    };
    let mut hist = new_hist();
    let mut msg = vec![0xa5u8; size];
    let mut buf = vec![0u8; size];
    let (mut c0, mut t0, mut r0) = (0, Stats::default(), Stats::default());
    let res = (|| {
        for i in 0..warm + n {
            if i == warm {
                // Both directions are connected: the names can go.
                for nm in [pong_named.as_mut(), ping_named.as_mut()].into_iter().flatten() {
                    nm.unlink_now();
                }
                (c0, t0, r0) = (cpu_ns(), ping_tx.stats(), pong_rx.stats());
            }
            stamp(&mut msg, i);
            let t = Instant::now();
            send(&mut ping_tx, &msg, mode, &w)?;
            let d = take(&mut pong_rx, &mut buf, mode, &w, |m| {
                let d = t.elapsed();
                check(m, size, i)?;
                Ok(d)
            })?;
            if i >= warm {
                hist.saturating_record(d.as_nanos() as u64);
            }
        }
        Ok::<_, String>(())
    })();
    let my_cpu = cpu_ns() - c0;
    let (my_tx, my_rx) = (stats_delta(&ping_tx.stats(), &t0), stats_delta(&pong_rx.stats(), &r0));
    if let Err(e) = res {
        return Err(CaseErr::Failed(format!("round trip: {e}{}", child.explain())));
    }
    drop(ping_tx);
    let rep = child.finish(&dl)?;
    let tx = stats_sum(&my_tx, &stats_from_json(&rep["tx"]));
    let rx = stats_sum(&my_rx, &stats_from_json(&rep["rx"]));
    Ok(Rtt {
        hist,
        n,
        cpu_ns: my_cpu + rep["cpu_ns"].as_u64().unwrap_or(0),
        syscalls_per_rt: syscalls_per_msg(&tx, &rx, n),
    })
}
