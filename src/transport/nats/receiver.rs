//! The receiving end: a background task that fetches ahead into an inbox, delivery to the
//! caller, acknowledgement once the caller has a message, and hand-back of what it did not take.

use super::config::{ATTEMPT, FETCH_EXPIRES, PREFETCH};
use super::ending::{idle_check, Ending};
use super::runtime::{eventfd, nats_err, set_ready};
use super::stream::Chan;
use crate::error::{Error, Result};
use crate::sys::fd as sysfd;
use crate::timeout::Timeout;
use crate::transport::MsgReceiver;
use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt;
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Default)]
struct Inbox {
    msgs: VecDeque<(jetstream::Message, Instant)>,
    end: Option<Ending>,
    fault: Option<String>,
    closed: bool,
}

struct RxShared {
    inbox: Mutex<Inbox>,
    /// Stream sequences this receiver delivered whose acknowledgement the server has not
    /// confirmed yet: a redelivery of one of them (an acknowledgement lost with the
    /// connection, e.g. across a server restart) is acknowledged again and not delivered.
    unconfirmed: Mutex<HashSet<u64>>,
    efd: OwnedFd,
    /// Whether `efd` is readable now (only [`RxShared::sync`] changes it, under the inbox
    /// lock): a call that leaves it as it was makes no system call.
    readable: std::sync::atomic::AtomicBool,
    room: tokio::sync::Notify,
    /// The channel layer holds a message of this end (a peeked slot): readable meanwhile.
    layer_held: std::sync::atomic::AtomicBool,
}

impl RxShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// The eventfd follows the inbox: readable while a receive would not block. Called
    /// with the inbox locked, so the flag and the descriptor change together.
    fn sync(&self, i: &Inbox) {
        use std::sync::atomic::Ordering::Relaxed;
        let held = self.layer_held.load(Relaxed);
        let ready = held || !i.msgs.is_empty() || i.end.is_some() || i.fault.is_some();
        if self.readable.swap(ready, Relaxed) != ready {
            set_ready(&self.efd, ready);
        }
    }
}

/// A receiving end of `nats://` (see the module docs).
pub struct NatsReceiver {
    ch: Arc<Chan>,
    shared: Arc<RxShared>,
    task: tokio::task::JoinHandle<()>,
    /// To the acknowledging task ([`acker`]).
    acks: mpsc::UnboundedSender<AckCmd>,
    /// The message returned by the last `recv_held`, not yet acknowledged.
    held: Option<jetstream::Message>,
}

impl fmt::Debug for NatsReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsReceiver").field("chan", &self.ch).finish()
    }
}

impl NatsReceiver {
    pub(super) fn open(ch: Arc<Chan>) -> Result<NatsReceiver> {
        let shared = Arc::new(RxShared {
            inbox: Mutex::new(Inbox::default()),
            unconfirmed: Mutex::new(HashSet::new()),
            efd: eventfd()?,
            readable: std::sync::atomic::AtomicBool::new(false),
            room: tokio::sync::Notify::new(),
            layer_held: std::sync::atomic::AtomicBool::new(false),
        });
        let consumer = ch.rt.block_on({
            let js = ch.js.clone();
            let sname = ch.stream_name();
            async move {
                js.get_consumer_from_stream::<pull::Config, _, _>("ipcring", sname)
                    .await
                    .map_err(|e| nats_err("open the consumer", e))
            }
        })?;
        let (acks, acks_rx) = mpsc::unbounded_channel();
        ch.rt.spawn(acker(acks_rx, shared.clone()));
        let task = ch.rt.spawn(fetch_loop(ch.clone(), consumer, shared.clone(), acks.clone()));
        Ok(NatsReceiver {
            ch,
            shared,
            task,
            acks,
            held: None,
        })
    }

    /// A descriptor readable when a non-blocking receive would not return `WouldBlock`: a
    /// fetched message is buffered, or the end (or a fault) is known.
    pub fn fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.shared.efd.as_fd()
    }

    fn ack(&self, m: jetstream::Message) {
        // The acker lives as long as any sender of its channel (this end's).
        let _ = self.acks.send(AckCmd::Ack(Box::new(m)));
    }

    /// Takes the next message (unacknowledged) into `buf`.
    fn take(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        self.ch.check_pid()?;
        if let Some(m) = self.held.take() {
            // A held message not acknowledged: it is the next one again.
            let mut i = self.shared.lock();
            i.msgs.push_front((m, Instant::now()));
        }
        loop {
            {
                let mut i = self.shared.lock();
                if let Some((m, _)) = i.msgs.front() {
                    let len = m.payload.len();
                    if len > self.ch.msg_size {
                        let (m, _) = i.msgs.pop_front().expect("front exists");
                        self.shared.sync(&i);
                        drop(i);
                        self.ch.rt.spawn(async move {
                            let _ = m.ack_with(jetstream::AckKind::Term).await;
                        });
                        return Err(Error::Corrupted {
                            what: "a nats:// message longer than the channel's msg_size (dropped)",
                        });
                    }
                    if buf.len() < len {
                        return Err(Error::BufferTooSmall {
                            needed: len,
                            capacity: buf.len(),
                        });
                    }
                    let (m, _) = i.msgs.pop_front().expect("front exists");
                    self.shared.sync(&i);
                    drop(i);
                    self.shared.room.notify_one();
                    buf[..len].copy_from_slice(&m.payload);
                    self.held = Some(m);
                    return Ok(len);
                }
                if let Some(f) = &i.fault {
                    return Err(nats_err("receive", f));
                }
                if let Some(end) = i.end.take() {
                    // Reported once: the next receive waits for a fresh look (a sender that
                    // came since makes data flow again).
                    self.shared.sync(&i);
                    return Err(match end {
                        Ending::Clean => Error::EndOfStream,
                        Ending::Died => Error::SenderDied,
                    });
                }
            }
            sysfd::wait_fd(self.shared.efd.as_raw_fd(), libc::POLLIN, &timeout)?;
        }
    }
}

impl Drop for NatsReceiver {
    fn drop(&mut self) {
        if self.ch.check_pid().is_err() {
            return; // a copy inherited across fork: the parent's task and messages are its own
        }
        self.task.abort();
        let mut i = self.shared.lock();
        i.closed = true;
        // Hand back what was fetched and not delivered, so another receiver gets it now.
        let back: Vec<_> = i.msgs.drain(..).map(|(m, _)| m).chain(self.held.take()).collect();
        drop(i);
        // The acknowledgements of what was delivered reach the server first (a clean close
        // leaves nothing to be redelivered), then the hand-back.
        let (done, flushed) = tokio::sync::oneshot::channel();
        let _ = self.acks.send(AckCmd::Flush(done));
        let _ = self.ch.rt.block_on(async move {
            tokio::time::timeout(ATTEMPT, async move {
                let _ = flushed.await;
                for m in back {
                    let _ = m.ack_with(jetstream::AckKind::Nak(None)).await;
                }
            })
            .await
        });
    }
}

impl MsgReceiver for NatsReceiver {
    fn fd(&self) -> BorrowedFd<'_> {
        NatsReceiver::fd(self)
    }
    fn set_held(&self, held: bool) {
        self.shared.layer_held.store(held, std::sync::atomic::Ordering::Relaxed);
        let i = self.shared.lock();
        self.shared.sync(&i);
    }
    fn recv(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        let n = self.take(buf, timeout)?;
        self.ack_held();
        Ok(n)
    }

    fn recv_held(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        self.take(buf, timeout)
    }

    fn ack_held(&mut self) {
        if let Some(m) = self.held.take() {
            self.ack(m);
        }
    }

    fn held_position(&self) -> u64 {
        self.held.as_ref().and_then(|m| m.info().ok()).map_or(0, |i| i.stream_sequence)
    }

    fn msg_size(&self) -> usize {
        self.ch.msg_size
    }

    fn try_clone(&self) -> Result<Box<dyn MsgReceiver>> {
        self.ch.check_pid()?;
        Ok(Box::new(NatsReceiver::open(self.ch.clone())?))
    }

    fn capacity(&self) -> Option<u64> {
        self.ch.capacity
    }
}

/// The receiver's background task: keeps the inbox filled, hands back stale messages, and
/// decides the end when the channel is idle (the module docs' rule).
async fn fetch_loop(
    ch: Arc<Chan>,
    consumer: jetstream::consumer::Consumer<pull::Config>,
    sh: Arc<RxShared>,
    acks: mpsc::UnboundedSender<AckCmd>,
) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut dead: HashSet<String> = HashSet::new();
    let stale = ch.ack_wait / 2;
    loop {
        // Stale messages go back to the server before it redelivers them elsewhere.
        let back = {
            let mut i = sh.lock();
            if i.closed {
                return;
            }
            let mut back = Vec::new();
            while i.msgs.back().is_some_and(|(_, t)| t.elapsed() >= stale) {
                back.push(i.msgs.pop_back().expect("back exists").0);
            }
            sh.sync(&i);
            back
        };
        for m in back {
            let _ = m.ack_with(jetstream::AckKind::Nak(None)).await;
        }
        let (held, want) = {
            let n = sh.lock().msgs.len();
            (n, PREFETCH.saturating_sub(n))
        };
        // Fetch when the inbox is empty or has room for a good batch (not one by one).
        if want == 0 || (held > 0 && want < PREFETCH / 4) {
            let _ = tokio::time::timeout(FETCH_EXPIRES, sh.room.notified()).await;
            continue;
        }
        let batch = consumer.batch().max_messages(want).expires(FETCH_EXPIRES).messages().await;
        let mut got = 0;
        match batch {
            Ok(mut b) => {
                while let Some(m) = b.next().await {
                    let Ok(m) = m else { break };
                    if let Some(s) = m.headers.as_ref().and_then(|h| h.get("Ipcring-Sender")) {
                        seen.insert(s.as_str().to_string());
                    }
                    got += 1;
                    let seq = m.info().map_or(0, |i| i.stream_sequence);
                    if seq != 0 && sh.unconfirmed.lock().unwrap_or_else(|p| p.into_inner()).contains(&seq) {
                        let _ = acks.send(AckCmd::Ack(Box::new(m)));
                        continue;
                    }
                    push(&sh, m);
                }
            }
            Err(_) => {
                // The server is away: async-nats reconnects; look again shortly.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        }
        if got > 0 || !sh.lock().msgs.is_empty() {
            continue;
        }
        let end = idle_check(&ch, &mut seen, &mut dead).await;
        set_end(&sh, end);
    }
}

/// What the acknowledging task is asked to do.
enum AckCmd {
    /// Acknowledge a message the caller has.
    Ack(Box<jetstream::Message>),
    /// Answer once every acknowledgement asked for before is confirmed (or given up).
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Acknowledgements in a group at most, before one of them is confirmed.
const TICKET_EVERY: usize = 256;
/// How many times a group whose confirmation failed (the connection went away) is
/// acknowledged again.
const TICKET_TRIES: u32 = 50;

/// The receiver's acknowledging task. Acknowledgements go out without waiting for the
/// server, in groups: the last of a group (every [`TICKET_EVERY`], or when no more is
/// queued) asks for the server's reply, and that reply confirms the whole group (the server
/// handles one connection's messages in order). Until then the group's sequences are in
/// `unconfirmed`, so that a redelivery of one of them (its acknowledgement lost with the
/// connection, e.g. across a server restart) is acknowledged again and not delivered; a
/// group not confirmed is acknowledged again, [`TICKET_TRIES`] times at most.
async fn acker(mut rx: mpsc::UnboundedReceiver<AckCmd>, sh: Arc<RxShared>) {
    let mut group: Vec<jetstream::Message> = Vec::new();
    let mut next = None;
    loop {
        let cmd = match next.take() {
            Some(c) => c,
            None => match rx.recv().await {
                Some(c) => c,
                None => return,
            },
        };
        let m = match cmd {
            AckCmd::Flush(done) => {
                let _ = done.send(());
                continue;
            }
            AckCmd::Ack(m) => *m,
        };
        let seq = m.info().map_or(0, |i| i.stream_sequence);
        sh.unconfirmed.lock().unwrap_or_else(|p| p.into_inner()).insert(seq);
        next = rx.try_recv().ok();
        if group.len() + 1 < TICKET_EVERY && matches!(next, Some(AckCmd::Ack(_))) {
            let _ = m.ack().await;
            group.push(m);
            continue;
        }
        group.push(m);
        if confirm_group(&group).await {
            let mut u = sh.unconfirmed.lock().unwrap_or_else(|p| p.into_inner());
            for m in &group {
                u.remove(&m.info().map_or(0, |i| i.stream_sequence));
            }
        }
        // Not confirmed: the sequences stay, and a redelivery of one is acknowledged again.
        group.clear();
    }
}

/// Acknowledges the last of `group` with a reply (the others were acknowledged already);
/// without one, acknowledges all of them again and retries. Whether the server confirmed.
async fn confirm_group(group: &[jetstream::Message]) -> bool {
    let last = group.last().expect("a group has a last message");
    for _ in 0..TICKET_TRIES {
        if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), last.double_ack()).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        for m in &group[..group.len() - 1] {
            let _ = m.ack().await;
        }
    }
    false
}

fn push(sh: &RxShared, m: jetstream::Message) {
    let mut i = sh.lock();
    i.msgs.push_back((m, Instant::now()));
    i.end = None;
    i.fault = None;
    sh.sync(&i);
}

fn set_end(sh: &RxShared, end: Option<Ending>) {
    let mut i = sh.lock();
    if i.msgs.is_empty() {
        i.end = end;
        sh.sync(&i);
    }
}
