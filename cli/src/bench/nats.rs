//! `ipcring bench --nats`: the figures of `nats://` (docs/nats.md), measured in one run
//! against a `nats-server` the bench starts itself (`crate::natsd`), at each size (64 B and
//! 1 KiB by default); throughputs are medians over `--rounds` (3, or 1 with `--quick`), each
//! round running every row in turn:
//!
//! - (a) a plain `async-nats` JetStream publish loop that awaits each acknowledgement;
//! - (b) the same with a window of [`WINDOW`] acknowledgements in flight (the fair best case
//!   of a publisher that must know each message stored);
//! - (c) `ipcring bridge shm://… nats://…`: a thread of the bench fills the ring, the bridge
//!   (this executable, a child process) moves everything into the stream; msg/s over the
//!   time of the bridge's `--stats` summary (from its ends' open to its end: the process
//!   start and the connection left out, as (a) and (b) leave out theirs); ratios (c)/(a)
//!   and (c)/(b);
//! - (d) end-to-end latency shm → bridge → NATS → bridge → shm: one message at a time, sent
//!   into the first ring and timed until it comes out of the last, p50 and p99.
//!
//! Every stream is the one an ipcring channel makes (work queue, file storage), so (a) and
//! (b) pay what the bridge pays on the server; each is removed after its row.

use super::BenchArgs;
use crate::natsd::NatsServer;
use crate::{exit, CmdResult, Fail};
use ipcring::{Create, Error, Receiver, Sender, Timeout};
use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Acknowledgements in flight in row (b).
pub const WINDOW: usize = 1024;

fn fail(msg: impl Into<String>) -> Fail {
    Fail::new(exit::FAILED, format!("bench --nats: {}", msg.into()))
}

/// A bridge child (`--stats`: its stderr collected), killed if still running when dropped.
struct Bridge(Option<Child>, Option<std::thread::JoinHandle<String>>);

impl Bridge {
    fn spawn(from: &str, to: &str) -> Result<Bridge, Fail> {
        let exe = std::env::current_exe().map_err(|e| fail(format!("own executable: {e}")))?;
        let mut c = Command::new(exe)
            .args(["bridge", "--stats", from, to])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("start a bridge: {e}")))?;
        let mut err = c.stderr.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut s);
            s
        });
        Ok(Bridge(Some(c), Some(reader)))
    }

    /// The seconds of the bridge's summary line (`... in X s: ...`: from its ends' open to
    /// its end), once it has exited.
    fn summary_secs(&mut self) -> Option<f64> {
        let text = self.1.take()?.join().ok()?;
        let line = text.lines().rev().find(|l| l.starts_with("bridge: done:"))?;
        let rest = &line[line.find(" in ")? + 4..];
        rest.split_whitespace().next()?.parse().ok()
    }

    /// Waits for the exit (`bound` at most); whether it exited 0.
    fn wait(&mut self, bound: Duration) -> Result<(), Fail> {
        let Some(c) = self.0.as_mut() else { return Ok(()) };
        let t0 = Instant::now();
        loop {
            match c.try_wait() {
                Ok(Some(st)) if st.success() => {
                    self.0 = None;
                    return Ok(());
                }
                Ok(Some(st)) => {
                    self.0 = None;
                    return Err(fail(format!("a bridge exited with {st}")));
                }
                Ok(None) if t0.elapsed() > bound => return Err(fail("a bridge did not finish in time")),
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => return Err(fail(format!("wait for a bridge: {e}"))),
            }
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Makes the channel's stream (as `ipcring` would) and returns its subject.
fn make_channel(addr: &str, name: &str) -> Result<String, Fail> {
    drop(Sender::open(addr, Create::IfMissing).map_err(|e| fail(format!("{addr}: {e}")))?);
    Ok(format!("ipcring.{name}"))
}

/// Rows (a) and (b): msg/s of `n` publishes of `size` bytes with `window` in flight.
fn publish_loop(url: &str, subject: String, size: usize, n: u64, window: usize) -> Result<f64, Fail> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("tokio: {e}")))?;
    rt.block_on(async move {
        let client = async_nats::connect(url)
            .await
            .map_err(|e| fail(format!("connect: {e}")))?;
        let js = async_nats::jetstream::new(client);
        let payload = bytes::Bytes::from(vec![0x5a; size]);
        let t0 = Instant::now();
        let mut inflight = VecDeque::with_capacity(window);
        for _ in 0..n {
            if inflight.len() == window {
                let ack: async_nats::jetstream::context::PublishAckFuture = inflight.pop_front().expect("full window");
                ack.await.map_err(|e| fail(format!("acknowledgement: {e}")))?;
            }
            let ack = js
                .publish(subject.clone(), payload.clone())
                .await
                .map_err(|e| fail(format!("publish: {e}")))?;
            inflight.push_back(ack);
        }
        for ack in inflight {
            ack.await.map_err(|e| fail(format!("acknowledgement: {e}")))?;
        }
        Ok(n as f64 / t0.elapsed().as_secs_f64())
    })
}

/// Row (c): msg/s of `ipcring bridge` moving `n` messages of `size` bytes from a ring into
/// `to`, the ring fed by a thread as fast as the bridge takes them.
fn bridge_row(to: &str, size: usize, n: u64, tag: &str) -> Result<f64, Fail> {
    let from = format!(
        "shm://ipcring-bench-{}-nats-{tag}?capacity=4096&msg_size={size}",
        std::process::id()
    );
    let name = from[6..from.find('?').expect("query")].to_string();
    let _ = ipcring::remove(&format!("shm://{name}"), true);
    let mut tx = Sender::open(&from, Create::IfMissing).map_err(|e| fail(format!("{from}: {e}")))?;
    let t0 = Instant::now();
    let mut b = Bridge::spawn(&from, to)?;
    let feeder = std::thread::spawn(move || -> Result<(), Error> {
        let msg = vec![0xa5u8; size];
        for _ in 0..n {
            tx.send_with_timeout(&msg, Timeout::after(Duration::from_secs(60)))?;
        }
        Ok(())
    });
    let fed = feeder.join().map_err(|_| fail("the feeding thread panicked"))?;
    let r = b.wait(Duration::from_secs(600));
    // The bridge's own figure leaves out its start (process, connection, stream lookups).
    let secs = b.summary_secs().unwrap_or_else(|| t0.elapsed().as_secs_f64());
    let _ = ipcring::remove(&format!("shm://{name}"), true);
    fed.map_err(|e| fail(format!("feed {from}: {e}")))?;
    r?;
    Ok(n as f64 / secs)
}

/// Row (d): round trips shm → bridge → NATS → bridge → shm, `samples` of them, one message
/// at a time; (p50, p99) in microseconds.
fn latency(srv: &NatsServer, samples: usize) -> Result<(f64, f64), Fail> {
    let pid = std::process::id();
    let a = format!("shm://ipcring-bench-{pid}-lat-a?capacity=64&msg_size=64");
    let z = format!("shm://ipcring-bench-{pid}-lat-z?capacity=64&msg_size=64");
    let x = srv.addr(&format!("benchlat{pid}"), "msg_size=64");
    let clean = || {
        let _ = ipcring::remove(&format!("shm://ipcring-bench-{pid}-lat-a"), true);
        let _ = ipcring::remove(&format!("shm://ipcring-bench-{pid}-lat-z"), true);
    };
    clean();
    let r = (|| {
        let mut rx = Receiver::open(&z, Create::IfMissing).map_err(|e| fail(format!("{z}: {e}")))?;
        let mut tx = Sender::open(&a, Create::IfMissing).map_err(|e| fail(format!("{a}: {e}")))?;
        make_channel(&x, &format!("benchlat{pid}"))?;
        let mut out = Bridge::spawn(&x, &z)?;
        let mut inb = Bridge::spawn(&a, &x)?;
        let mut buf = [0u8; 64];
        let mut times = Vec::with_capacity(samples);
        let warm = 50;
        for k in 0..samples + warm {
            let msg = (k as u64).to_le_bytes();
            let t0 = Instant::now();
            tx.send_with_timeout(&msg, Timeout::after(Duration::from_secs(30)))
                .map_err(|e| fail(format!("send: {e}")))?;
            let len = rx
                .recv_timeout(&mut buf, Duration::from_secs(30))
                .map_err(|e| fail(format!("receive message {k}: {e}")))?;
            let dt = t0.elapsed();
            if buf[..len] != msg {
                return Err(fail(format!("message {k} came back changed")));
            }
            if k >= warm {
                times.push(dt);
            }
        }
        drop(tx);
        inb.wait(Duration::from_secs(60))?;
        out.wait(Duration::from_secs(60))?;
        times.sort();
        let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e6;
        Ok((q(0.50), q(0.99)))
    })();
    let _ = ipcring::remove(&x, true);
    clean();
    r
}

fn size_label(s: usize) -> String {
    if s >= 1024 && s % 1024 == 0 {
        format!("{} KiB", s / 1024)
    } else {
        format!("{s} B")
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `ipcring bench --nats`.
pub fn run(a: &BenchArgs) -> CmdResult {
    let n = a.messages.unwrap_or(if a.quick { 20_000 } else { 200_000 });
    // Row (a) pays a round trip per message: a tenth of the messages (1,000 at least).
    let n_seq = (n / 10).max(1_000).min(n);
    let samples = if a.quick { 1_000 } else { 2_000 };
    let rounds = a.rounds.unwrap_or(if a.quick { 1 } else { 3 }) as usize;
    let sizes = if a.sizes.is_empty() {
        vec![64, 1024]
    } else {
        a.sizes.clone()
    };
    let srv = NatsServer::start().map_err(fail)?;
    let version = NatsServer::version().unwrap_or_else(|| "nats-server".into());
    let started = Instant::now();
    let mut out = String::new();
    out.push_str(&format!(
        "nats:// figures: {version} on 127.0.0.1 (JetStream, file storage, work-queue stream); \
         medians of {rounds} interleaved round(s) of (a) {n_seq} messages, (b) and (c) {n} each\n\n"
    ));
    out.push_str(&format!(
        "{:<50} {:>7} {:>11} {:>9} {:>7} {:>7}\n",
        "row", "size", "msg/s", "MB/s", "(c)/(a)", "(c)/(b)"
    ));
    let pid = std::process::id();
    let url = srv.url();
    // rates[size index][row] over the rounds; each round runs every row at every size in turn.
    let mut rates = vec![[Vec::new(), Vec::new(), Vec::new()]; sizes.len()];
    for round in 0..rounds {
        for (k, &size) in sizes.iter().enumerate() {
            let query = format!("msg_size={size}");
            let rate = |row: char, f: &dyn Fn(&str, String) -> Result<f64, Fail>| -> Result<f64, Fail> {
                let name = format!("bench{row}{size}x{pid}r{round}");
                let addr = srv.addr(&name, &query);
                let subject = make_channel(&addr, &name)?;
                let r = f(&addr, subject);
                let _ = ipcring::remove(&addr, true);
                r
            };
            rates[k][0].push(rate('a', &|_, s| publish_loop(&url, s, size, n_seq, 1))?);
            rates[k][1].push(rate('b', &|_, s| publish_loop(&url, s, size, n, WINDOW))?);
            rates[k][2].push(rate('c', &|addr, _| {
                bridge_row(addr, size, n, &format!("{size}-{round}"))
            })?);
        }
    }
    for (k, &size) in sizes.iter().enumerate() {
        let [ra, rb, rc] = [0, 1, 2].map(|r| median(&mut rates[k][r]));
        let mb = |r: f64| r * size as f64 / 1e6;
        let sl = size_label(size);
        out.push_str(&format!(
            "{:<50} {:>7} {:>11.0} {:>9.2}\n",
            "(a) async-nats publish, await each ack",
            sl,
            ra,
            mb(ra)
        ));
        out.push_str(&format!(
            "{:<50} {:>7} {:>11.0} {:>9.2}\n",
            format!("(b) async-nats publish, {WINDOW} acks in flight"),
            sl,
            rb,
            mb(rb)
        ));
        out.push_str(&format!(
            "{:<50} {:>7} {:>11.0} {:>9.2} {:>7.2} {:>7.2}\n",
            "(c) ipcring bridge shm -> nats",
            sl,
            rc,
            mb(rc),
            rc / ra,
            rc / rb
        ));
    }
    let (p50, p99) = latency(&srv, samples)?;
    out.push_str(&format!(
        "\n(d) latency shm -> bridge -> NATS -> bridge -> shm, 64 B, {samples} messages one at a time: \
         p50 {p50:.0} us, p99 {p99:.0} us\n"
    ));
    out.push_str(&format!("\nelapsed {:.1} s\n", started.elapsed().as_secs_f64()));
    use std::io::Write;
    let mut so = std::io::stdout().lock();
    match so.write_all(out.as_bytes()).and_then(|()| so.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(fail(format!("stdout: {e}"))),
        _ => Ok(()),
    }
}
