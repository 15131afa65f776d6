//! `nats://HOST:PORT/NAME`: a channel over NATS JetStream (feature `nats`), for pipelines that
//! span machines (DESIGN §11). The README's transport table lists where it differs from §3.
//!
//! # Objects on the server, per channel `NAME`
//!
//! - Stream `IPCRING_NAME`, subject `ipcring.NAME`: work-queue retention (a message is removed
//!   once acknowledged), file storage, `max_msgs` = `capacity` (unlimited if not given),
//!   discard-new (a full stream refuses a publish: the sender waits and retries),
//!   `max_msg_size` = `msg_size` plus room for our headers, a duplicate window
//!   (`dup_window`, 120 s by default) for `Nats-Msg-Id` de-duplication. Its description
//!   records `msg_size` and `capacity`, which an open checks.
//! - Durable pull consumer `ipcring` on it, explicit acknowledgement, `ack_wait` (30 s by
//!   default): every receiver of the channel fetches from this one consumer (competing
//!   receivers), and a message fetched by a receiver that dies unacknowledged is delivered
//!   again after `ack_wait`.
//! - Stream `IPCRING_NAME_SENDERS`, subjects `ipcring.NAME.senders.ID`, one message kept per
//!   subject: each sender's entry, `open` while it lives, `closed` once it closed (its close
//!   marker, published after its last message was stored).
//!
//! # Ends
//!
//! Each end has its own connection (so the server sees each sender's life) on one runtime
//! shared by the process: a current-thread tokio runtime on a background thread
//! (`ipcring-nats`), started by the first open; a blocking call enters it with
//! `Handle::block_on`. After `fork` the child's handles inherited from the parent refuse
//! every call (`Unsupported`); the child opens its own (a new runtime is started for it).
//!
//! - **Send**: publish with headers `Nats-Msg-Id` (the sender's id and a counter, or the id
//!   the bridge gives) and `Ipcring-Sender`, then wait for JetStream's acknowledgement: the
//!   message counts as sent when the server stored it. A refused publish (stream full) or a
//!   lost connection is retried, with the same message id, until the timeout.
//! - **Receive**: a background task per receiver keeps up to [`PREFETCH`] fetched messages
//!   (unacknowledged) and sets the end's eventfd while any is buffered or the end is known;
//!   `recv` copies one out and acknowledges it; `peek` holds it and `release` acknowledges
//!   it. A buffered message older than half the `ack_wait` is handed back (NAK) so that the
//!   server does not redeliver it to another receiver while this one still holds it.
//!
//! # End of stream, exactly
//!
//! A receiver knows the senders it has *seen*: those whose bucket entry it found `open` and
//! alive during its life, and those whose messages it received. When its buffer is empty and
//! a fetch found nothing, it reads the bucket, then the stream's message count. If it has
//! seen at least one sender, every seen sender's entry is `closed` (or gone) or the sender is
//! dead, and the stream holds no message (every message acknowledged), the receive returns
//! [`Error::EndOfStream`], or [`Error::SenderDied`] if one of them is dead. A sender is dead
//! when its entry says `open` but a request to its liveness subject
//! (`_ipcring.NAME.alive.ID`, which the sender's connection subscribes) gets the server's
//! *no responders* answer: the server dropped the subscription because it dropped the
//! connection (at once when the process died, since the kernel closes its socket; after
//! the server's ping interval when the host vanished). A later sender makes data flow again.

use super::{MsgReceiver, MsgSender, OpenSpec, Ops};
use crate::error::{Error, Result};
use crate::sys::{fd as sysfd, intr};
use crate::timeout::Timeout;
use async_nats::jetstream::{self, consumer::pull, stream};
use async_nats::HeaderMap;
use futures_util::StreamExt;
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// The dispatch-table row of `nats://`.
pub const OPS: Ops = Ops {
    scheme: "nats",
    open_sender: Some(open_sender),
    open_receiver: Some(open_receiver),
    pair: None,
    unlink: Ok(unlink),
    remove: Ok(remove),
};

/// Messages a receiver fetches ahead of its caller (unacknowledged until delivered).
pub const PREFETCH: usize = 64;
/// The longest one attempt to publish or to talk to JetStream waits before it is retried.
const ATTEMPT: Duration = Duration::from_secs(5);
/// How long a fetch waits on the server for messages before the idle checks run again.
const FETCH_EXPIRES: Duration = Duration::from_millis(500);
/// Room for our headers beyond `msg_size` in the stream's `max_msg_size`.
const HEADER_ROOM: usize = 512;
const DEFAULT_ACK_WAIT: u64 = 30;
const DEFAULT_DUP_WINDOW: u64 = 120;

// ---------------------------------------------------------------------------------------
// The runtime

struct Rt {
    pid: u32,
    handle: Handle,
}

static RT: Mutex<Option<Rt>> = Mutex::new(None);

/// The process's runtime (started now if this process has none: the first open, or the first
/// in a child after `fork`).
fn runtime() -> Result<Handle> {
    let mut g = RT.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if let Some(rt) = g.as_ref().filter(|rt| rt.pid == pid) {
        return Ok(rt.handle.clone());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            op: "start the nats:// runtime",
            source,
        })?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("ipcring-nats".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))
        .map_err(|source| Error::Io {
            op: "start the nats:// runtime thread",
            source,
        })?;
    // A parent's runtime inherited across fork has no thread here: it is forgotten, not dropped.
    if let Some(old) = g.take() {
        std::mem::forget(old);
    }
    *g = Some(Rt {
        pid,
        handle: handle.clone(),
    });
    Ok(handle)
}

fn nats_err(op: &'static str, e: impl fmt::Display) -> Error {
    Error::Io {
        op,
        source: io::Error::other(e.to_string()),
    }
}

fn eventfd() -> Result<OwnedFd> {
    crate::sys::ready::eventfd_new(0)
}

/// Makes `fd` (an eventfd) readable or not.
fn set_ready(fd: &OwnedFd, ready: bool) {
    if ready {
        // A saturated counter (EAGAIN) is readable all the same.
        let _ = crate::sys::ready::eventfd_add(fd.as_raw_fd());
    } else {
        crate::sys::ready::drain(fd.as_raw_fd());
    }
}

// ---------------------------------------------------------------------------------------
// The channel's objects

/// What an address names: the server, the channel's name and its options.
#[derive(Debug, Clone)]
struct Target {
    server: String,
    name: String,
}

fn parse_target(spec: &OpenSpec) -> Result<Target> {
    let bad = |reason| Error::InvalidAddress {
        address: format!("nats://{}", spec.target),
        part: spec.target.to_string(),
        reason,
    };
    let (server, name) = spec.target.split_once('/').ok_or(bad("needs HOST:PORT/NAME"))?;
    check_name(name).map_err(bad)?;
    Ok(Target {
        server: server.to_string(),
        name: name.to_string(),
    })
}

/// A channel name usable in stream, bucket and subject names: 1-64 of `A-Z a-z 0-9 _ -`.
pub fn check_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err("the channel name must be 1-64 of A-Z a-z 0-9 _ - (nats://HOST:PORT/NAME)");
    }
    Ok(())
}

/// The connection and handles every end of one channel uses.
struct Chan {
    rt: Handle,
    pid: u32,
    client: async_nats::Client,
    js: jetstream::Context,
    senders: stream::Stream,
    name: String,
    msg_size: usize,
    capacity: Option<u64>,
    ack_wait: Duration,
}

impl fmt::Debug for Chan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chan").field("name", &self.name).field("msg_size", &self.msg_size).finish()
    }
}

impl Chan {
    fn stream_name(&self) -> String {
        stream_name(&self.name)
    }
    fn subject(&self) -> String {
        format!("ipcring.{}", self.name)
    }
    fn entry_subject(&self, id: &str) -> String {
        format!("ipcring.{}.senders.{id}", self.name)
    }
    fn alive_subject(&self, id: &str) -> String {
        format!("_ipcring.{}.alive.{id}", self.name)
    }
    fn check_pid(&self) -> Result<()> {
        if std::process::id() != self.pid {
            return Err(Error::Unsupported {
                what: "a nats:// handle inherited across fork (open a new one in the child)",
            });
        }
        Ok(())
    }
}

fn stream_name(name: &str) -> String {
    format!("IPCRING_{name}")
}
fn senders_name(name: &str) -> String {
    format!("IPCRING_{name}_SENDERS")
}

fn describe(msg_size: usize, capacity: Option<u64>) -> String {
    format!("ipcring msg_size={msg_size} capacity={}", capacity.unwrap_or(0))
}

/// `msg_size` and `capacity` (0: unlimited) from a stream's description, if it is ours.
fn described(d: Option<&str>) -> Option<(usize, u64)> {
    let rest = d?.strip_prefix("ipcring msg_size=")?;
    let (m, c) = rest.split_once(" capacity=")?;
    Some((m.parse().ok()?, c.parse().ok()?))
}

async fn connect(server: &str) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .connection_timeout(ATTEMPT)
        .name("ipcring")
        .connect(server)
        .await
        .map_err(|e| Error::Io {
            op: "connect to the NATS server",
            source: io::Error::new(io::ErrorKind::ConnectionRefused, format!("{server}: {e}")),
        })
}

/// Opens (and with `spec.create`, creates) the channel's stream, consumer and bucket.
fn open_chan(spec: &OpenSpec) -> Result<Arc<Chan>> {
    spec.refuse_ring_options(true)?;
    let t = parse_target(spec)?;
    let rt = runtime()?;
    let want_size = spec.options().msg_size_given().map(|m| m as usize);
    let want_cap = spec.capacity();
    let ack_wait = Duration::from_secs(spec.param("ack_wait").unwrap_or(DEFAULT_ACK_WAIT));
    let dup = Duration::from_secs(spec.param("dup_window").unwrap_or(DEFAULT_DUP_WINDOW));
    let (create, excl) = (spec.create, spec.excl);
    let object = format!("nats://{}/{}", t.server, t.name);
    rt.block_on(async move {
        let client = connect(&t.server).await?;
        let js = jetstream::new(client.clone());
        let sname = stream_name(&t.name);
        let existing = match js.get_stream(&sname).await {
            Ok(mut s) => Some(s.info().await.map_err(|e| nats_err("read the stream's info", e))?.config.clone()),
            Err(e) if e.to_string().contains("not found") => None,
            Err(e) => return Err(nats_err("look up the stream", e)),
        };
        let (msg_size, capacity) = match existing {
            Some(_) if excl => return Err(Error::AlreadyExists { object }),
            Some(cfg) => {
                let (m, c) = described(cfg.description.as_deref()).ok_or(Error::NotARing {
                    reason: "a NATS stream of that name not made by ipcring",
                })?;
                if let Some(w) = want_size.filter(|w| *w != m) {
                    return Err(Error::Mismatch {
                        field: "msg_size",
                        expected: w as u64,
                        found: m as u64,
                    });
                }
                if let Some(w) = want_cap.filter(|w| *w != c) {
                    return Err(Error::Mismatch {
                        field: "capacity",
                        expected: w,
                        found: c,
                    });
                }
                (m, (c > 0).then_some(c))
            }
            None if !create => return Err(Error::NotFound { object }),
            None => {
                let m = want_size.unwrap_or(crate::options::RingOptions::DEFAULT_MSG_SIZE as usize);
                let cfg = stream::Config {
                    name: sname.clone(),
                    subjects: vec![format!("ipcring.{}", t.name)],
                    retention: stream::RetentionPolicy::WorkQueue,
                    storage: stream::StorageType::File,
                    discard: stream::DiscardPolicy::New,
                    max_messages: want_cap.map_or(-1, |c| c.min(i64::MAX as u64) as i64),
                    max_message_size: (m + HEADER_ROOM).min(i32::MAX as usize) as i32,
                    duplicate_window: dup,
                    description: Some(describe(m, want_cap)),
                    ..Default::default()
                };
                match js.create_stream(cfg).await {
                    Ok(_) => {}
                    // Another creator won the race: fine unless exclusive (checked above).
                    Err(e) if e.to_string().contains("already in use") => {}
                    Err(e) => return Err(nats_err("create the stream", e)),
                }
                (m, want_cap)
            }
        };
        let stream = js.get_stream(&sname).await.map_err(|e| nats_err("open the stream", e))?;
        let ccfg = pull::Config {
            durable_name: Some("ipcring".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait,
            max_ack_pending: 65536,
            ..Default::default()
        };
        let got = stream.get_consumer::<pull::Config>("ipcring").await;
        let ack_wait = match got {
            Ok(mut c) => c.info().await.map(|i| i.config.ack_wait).unwrap_or(ack_wait),
            Err(_) => {
                stream
                    .get_or_create_consumer("ipcring", ccfg)
                    .await
                    .map_err(|e| nats_err("create the consumer", e))?;
                ack_wait
            }
        };
        let senders = js
            .get_or_create_stream(stream::Config {
                name: senders_name(&t.name),
                subjects: vec![format!("ipcring.{}.senders.*", t.name)],
                max_messages_per_subject: 1,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| nats_err("open the senders' stream", e))?;
        Ok(Arc::new(Chan {
            rt: Handle::current(),
            pid: std::process::id(),
            client,
            js,
            senders,
            name: t.name,
            msg_size,
            capacity,
            ack_wait,
        }))
    })
}

fn open_sender(spec: &OpenSpec) -> Result<Box<dyn MsgSender>> {
    Ok(Box::new(NatsSender::open(open_chan(spec)?)?))
}

fn open_receiver(spec: &OpenSpec) -> Result<Box<dyn MsgReceiver>> {
    Ok(Box::new(NatsReceiver::open(open_chan(spec)?)?))
}

/// Deletes the channel's stream (with its consumer) and bucket. `target` is `HOST:PORT/NAME`.
fn unlink(target: &str) -> Result<()> {
    let (server, name) = target.split_once('/').ok_or(Error::InvalidAddress {
        address: format!("nats://{target}"),
        part: target.to_string(),
        reason: "needs HOST:PORT/NAME",
    })?;
    check_name(name).map_err(|reason| Error::InvalidAddress {
        address: format!("nats://{target}"),
        part: name.to_string(),
        reason,
    })?;
    let rt = runtime()?;
    let (server, name) = (server.to_string(), name.to_string());
    rt.block_on(async move {
        let client = connect(&server).await?;
        let js = jetstream::new(client);
        let _ = js.delete_stream(senders_name(&name)).await;
        match js.delete_stream(stream_name(&name)).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Err(Error::NotFound {
                object: format!("nats://{server}/{name}"),
            }),
            Err(e) => Err(nats_err("delete the stream", e)),
        }
    })
}

/// As [`unlink`]: the server cannot tell whether a receiver is attached (a pull consumer has
/// no members), so `force` changes nothing.
fn remove(target: &str, _force: bool) -> Result<()> {
    unlink(target)
}

// ---------------------------------------------------------------------------------------
// Sender

/// A sending end of `nats://` (see the module docs).
pub struct NatsSender {
    ch: Arc<Chan>,
    id: String,
    next: u64,
    responder: tokio::task::JoinHandle<()>,
    efd: OwnedFd,
    closed: bool,
}

impl fmt::Debug for NatsSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsSender").field("chan", &self.ch).field("id", &self.id).finish()
    }
}

fn random_id() -> String {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most b.len() bytes into the valid buffer b.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        let t = Instant::now().elapsed().as_nanos() as u64 ^ u64::from(std::process::id()) << 32;
        b = (t ^ std::ptr::addr_of!(b) as u64).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl NatsSender {
    fn open(ch: Arc<Chan>) -> Result<NatsSender> {
        let id = random_id();
        let (client, subject, js, key) = (ch.client.clone(), ch.alive_subject(&id), ch.js.clone(), ch.entry_subject(&id));
        let responder = ch.rt.block_on(async move {
            let mut sub = client.subscribe(subject).await.map_err(|e| nats_err("subscribe", e))?;
            client.flush().await.map_err(|e| nats_err("flush", e))?;
            // Announce only once the liveness subscription is on the server.
            js.publish(key, "open".into())
                .await
                .map_err(|e| nats_err("announce the sender", e))?
                .await
                .map_err(|e| nats_err("announce the sender", e))?;
            Ok::<_, Error>(tokio::spawn(async move {
                while let Some(m) = sub.next().await {
                    if let Some(r) = m.reply {
                        let _ = client.publish(r, "".into()).await;
                    }
                }
            }))
        })?;
        let efd = eventfd()?;
        // A send never waits for a receiver, only (retrying) for room: always ready.
        set_ready(&efd, true);
        Ok(NatsSender {
            ch,
            id,
            next: 0,
            responder,
            efd,
            closed: false,
        })
    }

    /// A descriptor readable when a non-blocking send would not return `WouldBlock`. On
    /// `nats://` it is always readable (a full stream is found out by publishing).
    pub fn fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.efd.as_fd()
    }

    fn publish(&mut self, msg: &[u8], id: &str, timeout: Timeout) -> Result<()> {
        self.ch.check_pid()?;
        let max = self.ch.msg_size;
        if msg.len() > max {
            return Err(Error::TooLarge { len: msg.len(), max });
        }
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", id);
        headers.insert("Ipcring-Sender", self.id.as_str());
        let payload = bytes::Bytes::copy_from_slice(msg);
        let mut nap = Duration::from_millis(1);
        loop {
            let limit = match timeout.remaining() {
                Ok(None) => ATTEMPT,
                Ok(Some(left)) => left.min(ATTEMPT),
                // Non-blocking: one round trip for the acknowledgement, never a wait for room.
                Err(Error::WouldBlock) => ATTEMPT,
                Err(e) => return Err(e),
            };
            let (js, subject, h, p) = (self.ch.js.clone(), self.ch.subject(), headers.clone(), payload.clone());
            let r = self.ch.rt.block_on(async move {
                tokio::time::timeout(limit, async move { js.publish_with_headers(subject, h, p).await?.await }).await
            });
            let full = match r {
                Ok(Ok(_ack)) => return Ok(()),
                Ok(Err(e)) if e.kind() == jetstream::context::PublishErrorKind::StreamNotFound => {
                    // No stream answered: removed (`ipcring rm`: nothing sent would be read),
                    // or JetStream not up yet after a restart (retry).
                    let (js, name) = (self.ch.js.clone(), self.ch.stream_name());
                    let gone = self.ch.rt.block_on(async move {
                        tokio::time::timeout(ATTEMPT, js.get_stream(name))
                            .await
                            .is_ok_and(|r| r.is_err_and(|e| e.to_string().contains("not found")))
                    });
                    if gone {
                        return Err(Error::Disconnected);
                    }
                    false
                }
                Ok(Err(e)) if e.to_string().contains("maximum messages") => true,
                Ok(Err(e)) if e.to_string().contains("maximum payload") || e.to_string().contains("message size") => {
                    return Err(nats_err("publish (the server refused the size)", e))
                }
                Ok(Err(_)) | Err(_) => false,
            };
            match timeout {
                Timeout::NonBlocking if full => return Err(Error::WouldBlock),
                Timeout::NonBlocking => return Err(Error::TimedOut),
                _ => {}
            }
            intr::before_nap(&timeout)?;
            let left = timeout.remaining()?.unwrap_or(nap);
            std::thread::sleep(nap.min(left));
            nap = (nap * 2).min(Duration::from_millis(50));
        }
    }

    fn close(&mut self) {
        if self.closed || self.ch.check_pid().is_err() {
            return;
        }
        self.closed = true;
        let (js, key) = (self.ch.js.clone(), self.ch.entry_subject(&self.id));
        let _ = self.ch.rt.block_on(async move {
            tokio::time::timeout(ATTEMPT, async move {
                if let Ok(ack) = js.publish(key, "closed".into()).await {
                    let _ = ack.await;
                }
            })
            .await
        });
        self.responder.abort();
    }
}

impl Drop for NatsSender {
    fn drop(&mut self) {
        self.close();
    }
}

impl MsgSender for NatsSender {
    fn fd(&self) -> BorrowedFd<'_> {
        NatsSender::fd(self)
    }
    fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        let id = format!("{}.{}", self.id, self.next);
        self.publish(msg, &id, timeout)?;
        self.next += 1;
        Ok(())
    }

    fn send_with_id(&mut self, msg: &[u8], id: &str, timeout: Timeout) -> Result<()> {
        self.publish(msg, id, timeout)
    }

    fn msg_size(&self) -> usize {
        self.ch.msg_size
    }

    fn try_clone(&self) -> Result<Box<dyn MsgSender>> {
        self.ch.check_pid()?;
        Ok(Box::new(NatsSender::open(self.ch.clone())?))
    }

    fn capacity(&self) -> Option<u64> {
        self.ch.capacity
    }
}

// ---------------------------------------------------------------------------------------
// Receiver

/// How a receiver's channel ended, as its background task found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Clean,
    Died,
}

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
    room: tokio::sync::Notify,
    /// The channel layer holds a message of this end (a peeked slot): readable meanwhile.
    layer_held: std::sync::atomic::AtomicBool,
}

impl RxShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// The eventfd follows the inbox: readable while a receive would not block.
    fn sync(&self, i: &Inbox) {
        set_ready(&self.efd, false);
        let held = self.layer_held.load(std::sync::atomic::Ordering::Relaxed);
        if held || !i.msgs.is_empty() || i.end.is_some() || i.fault.is_some() {
            set_ready(&self.efd, true);
        }
    }
}

/// A receiving end of `nats://` (see the module docs).
pub struct NatsReceiver {
    ch: Arc<Chan>,
    shared: Arc<RxShared>,
    task: tokio::task::JoinHandle<()>,
    /// The message returned by the last `recv_held`, not yet acknowledged.
    held: Option<jetstream::Message>,
}

impl fmt::Debug for NatsReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsReceiver").field("chan", &self.ch).finish()
    }
}

impl NatsReceiver {
    fn open(ch: Arc<Chan>) -> Result<NatsReceiver> {
        let shared = Arc::new(RxShared {
            inbox: Mutex::new(Inbox::default()),
            unconfirmed: Mutex::new(HashSet::new()),
            efd: eventfd()?,
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
        let task = ch.rt.spawn(fetch_loop(ch.clone(), consumer, shared.clone()));
        Ok(NatsReceiver {
            ch,
            shared,
            task,
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
        confirm_ack(&self.ch.rt, &self.shared, m);
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
        let _ = self.ch.rt.block_on(async move {
            tokio::time::timeout(ATTEMPT, async move {
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
async fn fetch_loop(ch: Arc<Chan>, consumer: jetstream::consumer::Consumer<pull::Config>, sh: Arc<RxShared>) {
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
        let want = PREFETCH.saturating_sub(sh.lock().msgs.len());
        if want == 0 {
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
                        confirm_ack(&ch.rt, &sh, m);
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

/// Acknowledges `m` and waits (in the background) for the server to confirm it, retrying
/// while the connection is away; until then its sequence is in `unconfirmed`.
fn confirm_ack(rt: &Handle, sh: &Arc<RxShared>, m: jetstream::Message) {
    let seq = m.info().map_or(0, |i| i.stream_sequence);
    sh.unconfirmed.lock().unwrap_or_else(|p| p.into_inner()).insert(seq);
    let sh = sh.clone();
    rt.spawn(async move {
        for _ in 0..600 {
            if m.double_ack().await.is_ok() {
                sh.unconfirmed.lock().unwrap_or_else(|p| p.into_inner()).remove(&seq);
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
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

/// The end-of-stream rule (module docs) for a receiver whose inbox is empty after a fetch.
async fn idle_check(ch: &Chan, seen: &mut HashSet<String>, dead: &mut HashSet<String>) -> Option<Ending> {
    let mut entries = Vec::new();
    let prefix = format!("ipcring.{}.senders.", ch.name);
    {
        let info = ch.senders.clone();
        let mut subjects = info.info_with_subjects(format!("{prefix}*")).await.ok()?;
        while let Some(x) = subjects.next().await {
            let (subject, _) = x.ok()?;
            if let Some(id) = subject.strip_prefix(&prefix) {
                entries.push(id.to_string());
            }
        }
    }
    let mut any_died = false;
    for id in entries.iter().chain(seen.clone().iter()) {
        if dead.contains(id) && !seen.contains(id) {
            continue;
        }
        let open = match ch.senders.get_last_raw_message_by_subject(&ch.entry_subject(id)).await {
            Ok(m) => m.payload.as_ref() == b"open",
            Err(_) => false, // gone (removed): no longer a sender to wait for
        };
        if !open {
            continue; // closed (or gone): a clean end for this one
        }
        let alive = match ch.client.request(ch.alive_subject(id), "".into()).await {
            Ok(_) => true,
            Err(e) => e.kind() != async_nats::RequestErrorKind::NoResponders,
        };
        if alive {
            seen.insert(id.to_string());
            return None;
        }
        dead.insert(id.to_string());
        any_died |= seen.contains(id);
    }
    if seen.is_empty() {
        return None;
    }
    // Every seen sender is gone: the end, once the stream holds nothing (all acknowledged).
    let mut s = ch.js.get_stream(ch.stream_name()).await.ok()?;
    let n = s.info().await.ok()?.state.messages;
    if n > 0 {
        return None;
    }
    Some(if any_died { Ending::Died } else { Ending::Clean })
}
