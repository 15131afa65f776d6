//! The sending end: announce, publish and wait for JetStream's acknowledgement, close marker.

use super::config::ATTEMPT;
use super::runtime::{eventfd, nats_err, set_ready};
use super::stream::Chan;
use crate::error::{Error, Result};
use crate::sys::intr;
use crate::timeout::Timeout;
use crate::transport::MsgSender;
use async_nats::jetstream;
use async_nats::HeaderMap;
use futures_util::StreamExt;
use std::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    pub(super) fn open(ch: Arc<Chan>) -> Result<NatsSender> {
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

    /// Publishes `msgs` in order (message `i` with id `ids[i]`), up to [`WINDOW`] in flight
    /// at once (one while the stream has a `capacity`: see [`Failure::Full`]), and waits for
    /// their acknowledgements; returns how many were stored, a prefix of `msgs`. A refused
    /// publish (stream full) or a lost connection is retried, with the same ids, until the
    /// timeout; an error after some were stored returns their count (the next call reports it).
    fn publish(&mut self, msgs: &[&[u8]], ids: &[&str], timeout: Timeout) -> Result<usize> {
        self.ch.check_pid()?;
        let max = self.ch.msg_size;
        if let Some(m) = msgs.iter().find(|m| m.len() > max) {
            return Err(Error::TooLarge { len: m.len(), max });
        }
        // A bounded stream refuses a publish when full and may take the next one a moment
        // later (a receiver acknowledged in between): one in flight keeps the order then.
        let window = if self.ch.capacity.is_some() { 1 } else { WINDOW };
        let mut done = 0;
        let mut nap = Duration::from_millis(1);
        while done < msgs.len() {
            let limit = match timeout.remaining() {
                Ok(None) => ATTEMPT,
                Ok(Some(left)) => left.min(ATTEMPT),
                // Non-blocking: one round trip for the acknowledgements, never a wait for room.
                Err(Error::WouldBlock) => ATTEMPT,
                Err(_) if done > 0 => return Ok(done),
                Err(e) => return Err(e),
            };
            let end = (done + window).min(msgs.len());
            let (stored, failure) = self.ch.rt.block_on(publish_window(
                &self.ch.js,
                self.ch.subject(),
                &self.id,
                &msgs[done..end],
                &ids[done..end],
                limit,
            ));
            done += stored;
            let full = match failure {
                None => {
                    nap = Duration::from_millis(1);
                    continue;
                }
                Some(Failure::NoStream) => {
                    // No stream answered: removed (`ipcring rm`: nothing sent would be read),
                    // or JetStream not up yet after a restart (retry).
                    let (js, name) = (self.ch.js.clone(), self.ch.stream_name());
                    let gone = self.ch.rt.block_on(async move {
                        tokio::time::timeout(ATTEMPT, js.get_stream(name))
                            .await
                            .is_ok_and(|r| r.is_err_and(|e| e.to_string().contains("not found")))
                    });
                    if gone {
                        return if done > 0 { Ok(done) } else { Err(Error::Disconnected) };
                    }
                    false
                }
                Some(Failure::Full) => true,
                Some(Failure::Size(e)) if done == 0 => return Err(nats_err("publish (the server refused the size)", e)),
                Some(Failure::Size(_)) => return Ok(done),
                Some(Failure::Other) => false,
            };
            if stored > 0 {
                continue; // progress: try the rest at once
            }
            if done > 0 && timeout == Timeout::NonBlocking {
                return Ok(done);
            }
            match timeout {
                Timeout::NonBlocking if full => return Err(Error::WouldBlock),
                Timeout::NonBlocking => return Err(Error::TimedOut),
                _ => {}
            }
            let left = match intr::before_nap(&timeout).and_then(|()| timeout.remaining()) {
                Ok(left) => left.unwrap_or(nap),
                Err(_) if done > 0 => return Ok(done),
                Err(e) => return Err(e),
            };
            std::thread::sleep(nap.min(left));
            nap = (nap * 2).min(Duration::from_millis(50));
        }
        Ok(done)
    }

    /// Ids `ID.N` for `n` messages of [`send`](MsgSender::send) and
    /// [`send_batch`](MsgSender::send_batch) without ids. The counter moves past every id
    /// tried, stored or not: an id whose publish timed out may have been stored, and must
    /// not be given to another message (the server would drop it as a duplicate).
    fn own_ids(&mut self, n: usize) -> Vec<String> {
        let first = self.next;
        self.next += n as u64;
        (first..self.next).map(|k| format!("{}.{k}", self.id)).collect()
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
        let ids = self.own_ids(1);
        self.publish(&[msg], &[&ids[0]], timeout).map(|_| ())
    }

    fn send_with_id(&mut self, msg: &[u8], id: &str, timeout: Timeout) -> Result<()> {
        self.publish(&[msg], &[id], timeout).map(|_| ())
    }

    fn send_batch(&mut self, msgs: &[&[u8]], ids: Option<&[&str]>, timeout: Timeout) -> Result<usize> {
        match ids {
            Some(ids) => self.publish(msgs, ids, timeout),
            None => {
                let own = self.own_ids(msgs.len());
                let own: Vec<&str> = own.iter().map(String::as_str).collect();
                self.publish(msgs, &own, timeout)
            }
        }
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

/// Most publishes one batch has in flight before it waits for their acknowledgements.
pub(super) const WINDOW: usize = 1024;

/// Why a publish of a window was not acknowledged.
enum Failure {
    /// No stream took it (removed, or JetStream not up yet).
    NoStream,
    /// The stream is full (discard-new refused it).
    Full,
    /// The server refused the size.
    Size(String),
    /// A lost connection, a timeout, anything else: retried.
    Other,
}

/// Publishes every message of the window, then awaits the acknowledgements in order: the
/// count of the prefix stored, and why the next one was not (if one was not). Messages
/// after a refused one may have been stored too; they are sent again with the same ids, and
/// the server keeps one copy.
async fn publish_window(
    js: &jetstream::Context,
    subject: String,
    sender: &str,
    msgs: &[&[u8]],
    ids: &[&str],
    limit: Duration,
) -> (usize, Option<Failure>) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut acks = Vec::with_capacity(msgs.len());
    let mut early = None;
    for (m, id) in msgs.iter().zip(ids) {
        let mut h = HeaderMap::new();
        h.insert("Nats-Msg-Id", *id);
        h.insert("Ipcring-Sender", sender);
        let p = bytes::Bytes::copy_from_slice(m);
        match tokio::time::timeout_at(deadline, js.publish_with_headers(subject.clone(), h, p)).await {
            Ok(Ok(ack)) => acks.push(ack),
            Ok(Err(e)) => {
                early = Some(classify(&e));
                break;
            }
            Err(_) => {
                early = Some(Failure::Other);
                break;
            }
        }
    }
    let mut stored = 0;
    for ack in acks {
        match tokio::time::timeout_at(deadline, ack).await {
            Ok(Ok(_)) => stored += 1,
            Ok(Err(e)) => return (stored, Some(classify(&e))),
            Err(_) => return (stored, Some(Failure::Other)),
        }
    }
    (stored, early)
}

fn classify(e: &jetstream::context::PublishError) -> Failure {
    let text = e.to_string();
    if e.kind() == jetstream::context::PublishErrorKind::StreamNotFound {
        Failure::NoStream
    } else if text.contains("maximum messages") {
        Failure::Full
    } else if text.contains("maximum payload") || text.contains("message size") {
        Failure::Size(text)
    } else {
        Failure::Other
    }
}
