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
