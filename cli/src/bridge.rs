//! `ipcring bridge FROM TO`: moves every message from one channel to another (any two
//! addresses: shm → nats on one host, nats → shm on another, or any pair), taking each
//! message from `FROM` only after `TO` accepted it: peek, send, release. So a bridge killed at
//! any moment loses nothing that its source keeps until release (`shm://`, `nats://`; the
//! kernel transports hand a message over at the look, see docs/cli.md), and the message it
//! held is sent again by the next bridge. Into `nats://` that resend carries the same
//! JetStream message id (`Nats-Msg-Id`, derived from the message's position in the source),
//! so the server stores it once (within the channel's `dup_window`).

use crate::pipe::{parse_duration, CreateArg};
use crate::{CmdResult, Fail};
use clap::Args;
use ipcring::address::{Address, Transport};
use ipcring::{Error, Receiver, Sender, Timeout};
use std::time::{Duration, Instant};

/// `ipcring bridge`.
#[derive(Args, Debug)]
#[command(after_help = BRIDGE_AFTER)]
pub struct BridgeArgs {
    /// The channel to take messages from (any address).
    pub from: String,
    /// The channel to put them into (any address).
    pub to: String,
    /// What to do when either channel object does not exist.
    #[arg(long, value_enum, default_value = "if-missing")]
    pub create: CreateArg,
    /// Fail when no message has come from FROM for this long (250ms, 5s, 2m...). Default:
    /// wait until FROM's end of stream.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Stop after this many messages (exit 0).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Print progress (messages, bytes, rates) to stderr every second and a summary at the end.
    #[arg(long)]
    pub stats: bool,
}

const BRIDGE_AFTER: &str = "\
Each message is taken from FROM only after TO accepted it (for nats://: stored by the
server), so killing the bridge loses nothing; into nats:// the resent message carries the
same JetStream message id (Nats-Msg-Id = source identity + position) and is stored once.
At FROM's end of stream the bridge closes TO (its receivers see end of stream) and exits 0;
if a sender of FROM died without closing, it exits 1 after moving everything.";

/// Most messages moved at once: peeked from FROM, sent to TO as one batch, then released.
/// Into `nats://` they are all in flight together; their ids stay within the channel's
/// `dup_window` however long a batch takes (a batch is seconds at most).
const BATCH: usize = 1024;

/// A stable identity of the source for message ids: the same channel gives the same prefix
/// in the next bridge run, a re-created one a different prefix.
fn source_identity(addr: &Address, run: &str) -> String {
    match addr.transport() {
        Transport::Shm => {
            use std::os::unix::fs::MetadataExt;
            let ino = std::fs::metadata(format!("/dev/shm/{}", addr.target()))
                .map(|m| m.ino())
                .unwrap_or(0);
            format!("shm-{}-{ino}", addr.target())
        }
        Transport::Nats => format!("nats-{}", addr.target().replace(['/', ':'], "-")),
        // No position survives this bridge: ids unique to this run.
        _ => format!("run-{run}"),
    }
}

struct Progress {
    on: bool,
    t0: Instant,
    last: Instant,
    msgs: u64,
    bytes: u64,
    last_msgs: u64,
}

impl Progress {
    fn tick(&mut self, len: usize) {
        self.msgs += 1;
        self.bytes += len as u64;
        if self.on && self.msgs % 256 == 0 && self.last.elapsed() >= Duration::from_secs(1) {
            let dt = self.last.elapsed().as_secs_f64();
            eprintln!(
                "bridge: {} messages, {} bytes; {:.0} msg/s now",
                self.msgs,
                self.bytes,
                (self.msgs - self.last_msgs) as f64 / dt
            );
            self.last = Instant::now();
            self.last_msgs = self.msgs;
        }
    }
    fn summary(&self) {
        if self.on {
            let dt = self.t0.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "bridge: done: {} messages, {} bytes in {:.3} s: {:.0} msg/s, {:.2} MB/s",
                self.msgs,
                self.bytes,
                dt,
                self.msgs as f64 / dt,
                self.bytes as f64 / dt / 1e6
            );
        }
    }
}

/// Runs `ipcring bridge`.
pub fn bridge(a: &BridgeArgs) -> CmdResult {
    let from = Address::parse(&a.from).map_err(|e| Fail::lib(&a.from, e))?;
    Address::parse(&a.to).map_err(|e| Fail::lib(&a.to, e))?;
    let mut rx = Receiver::open(&a.from, a.create.create()).map_err(|e| Fail::lib(&a.from, e))?;
    let mut tx = Sender::open(&a.to, a.create.create()).map_err(|e| Fail::lib(&a.to, e))?;
    let run = format!(
        "{:x}{:x}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ now_nanos()
    );
    let src = source_identity(&from, &run);
    let mut local: u64 = 0;
    let timeout = Timeout::from_option(a.timeout);
    let mut p = Progress {
        on: a.stats,
        t0: Instant::now(),
        last: Instant::now(),
        msgs: 0,
        bytes: 0,
        last_msgs: 0,
    };
    // One batch at a time: peek up to BATCH messages, send them all (into nats://: all in
    // flight, then every acknowledgement awaited), release exactly those sent.
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    let end = loop {
        let room = a.count.map_or(BATCH, |n| (n - p.msgs).min(BATCH as u64) as usize);
        if room == 0 {
            break Ok(());
        }
        let mut seen = 0;
        let batch = match rx.peek_batch(room, timeout, |m| {
            if msgs.len() <= seen {
                msgs.push(Vec::new());
            }
            msgs[seen].clear();
            msgs[seen].extend_from_slice(m);
            seen += 1;
        }) {
            Ok(b) => b,
            Err(Error::EndOfStream) => break Ok(()),
            Err(Error::SenderDied) => {
                break Err(Fail::new(
                    crate::exit::FAILED,
                    format!(
                        "{}: a sender died without closing (everything it sent was moved)",
                        a.from
                    ),
                ))
            }
            Err(e) => break Err(Fail::lib(&a.from, e)),
        };
        let pos = batch.position();
        let out: Vec<(&[u8], String)> = msgs[..seen]
            .iter()
            .enumerate()
            .map(|(k, m)| {
                let id = if pos != 0 || from.transport() == Transport::Shm {
                    format!("{src}-{}", pos.wrapping_add(k as u64))
                } else {
                    local += 1;
                    format!("{src}-{local}")
                };
                (m.as_slice(), id)
            })
            .collect();
        let sent = tx.send_batch_with_ids(&out, Timeout::Forever);
        let n = *sent.as_ref().unwrap_or(&0);
        // Only what TO accepted leaves FROM; the rest stays for the next bridge.
        batch.release(n);
        for (m, _) in &out[..n] {
            p.tick(m.len());
        }
        // Fewer than seen: an error came after the first (the next send reports it).
        if let Err(e) = sent {
            break Err(Fail::lib(&a.to, e));
        }
    };
    drop(tx);
    p.summary();
    end
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
