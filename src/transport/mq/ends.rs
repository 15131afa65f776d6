//! The two ends of a queue: [`MqSender`] and [`MqReceiver`].

use super::*;
use crate::transport::readiness::{self as ready, Readiness};
use std::os::fd::BorrowedFd;

/// A queue end's readiness descriptor: the queue with `events`, and the timer (the peers'
/// end is learnt from the companion's locks, which nothing signals).
fn readiness(at: &Attached, events: u32) -> Result<Readiness> {
    let r = Readiness::new(true)?;
    r.watch(at.q.raw(), events)?;
    Ok(r)
}

/// A sending end of an `mq://` queue (see the module docs).
///
/// Its readiness descriptor watches the queue for `EPOLLOUT` (room) and ticks every
/// [`PEER_CHECK`] so that a send can notice the receivers' end; a send that returned
/// `Disconnected` leaves it readable.
#[derive(Debug)]
pub struct MqSender {
    at: Attached,
    ready: Readiness,
}

impl MqSender {
    /// Opens (with `spec.create`, creates) the queue and attaches as a sender.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidAddress`] for `mode` or `wake` in the address;
    ///   [`Error::InvalidName`] for a name longer than [`MAX_NAME_LEN`];
    /// - [`Error::NotFound`] (no queue and no `create`), [`Error::AlreadyExists`] (`excl`),
    ///   [`Error::PermissionDenied`];
    /// - [`Error::Mismatch`] when the address's `capacity` or `msg_size` differs from the
    ///   existing queue's;
    /// - [`Error::KernelLimit`] when creation exceeds `capacity` / `msg_size` / number of
    ///   queues / queue bytes limits (see the module docs);
    /// - [`Error::NotARing`] when the companion path is a symlink, not a regular file, or
    ///   not ours; [`Error::Corrupted`] for a companion with impossible contents;
    /// - [`Error::Io`].
    pub fn open(spec: &OpenSpec) -> Result<MqSender> {
        let at = attach(spec, Role::Sender)?;
        let ready = readiness(&at, ready::OUT)?;
        Ok(MqSender { at, ready })
    }


    /// Sends `msg` as one message of priority 0.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] (nothing sent); [`Error::WouldBlock`] / [`Error::TimedOut`] on a
    /// full queue (nothing sent); [`Error::Disconnected`] once every receiver that came has
    /// gone (checked before every attempt); [`Error::Io`].
    pub fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        let r = self.send_inner(msg, timeout);
        self.ready.after(&r, || false, || true);
        r
    }

    fn send_inner(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        if msg.len() > self.at.msg_size {
            return Err(Error::TooLarge {
                len: msg.len(),
                max: self.at.msg_size,
            });
        }
        loop {
            if self.at.lock.peers_gone()? {
                return Err(self.at.lock.ending());
            }
            crate::sys::count::one();
            // SAFETY: msg is valid for msg.len() bytes; the mqd is open.
            let rc = unsafe { libc::mq_send(self.at.q.raw(), msg.as_ptr().cast(), msg.len(), 0) };
            if rc == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => {}
                Some(libc::EMSGSIZE) => {
                    return Err(Error::TooLarge {
                        len: msg.len(),
                        max: self.at.msg_size,
                    })
                }
                _ => {
                    return Err(Error::Io {
                        op: "mq_send",
                        source: e,
                    })
                }
            }
            wait_fd_slice(self.at.q.raw(), libc::POLLOUT, &timeout, PEER_CHECK)?;
        }
    }

    /// Another sender on the same queue: a duplicate of the queue descriptor (sharing its
    /// open description) and a lock of its own.
    ///
    /// # Errors
    ///
    /// [`Error::Io`]; [`Error::Unsupported`] without `/proc/self/fd`.
    pub fn try_clone(&self) -> Result<MqSender> {
        let at = self.at.try_clone()?;
        let ready = readiness(&at, ready::OUT)?;
        Ok(MqSender { at, ready })
    }
}

impl AsRawFd for MqSender {
    /// The queue descriptor (pollable for `POLLOUT`).
    fn as_raw_fd(&self) -> RawFd {
        self.at.q.raw()
    }
}

impl MsgSender for MqSender {
    fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        MqSender::send(self, msg, timeout)
    }
    fn msg_size(&self) -> usize {
        self.at.msg_size
    }
    fn try_clone(&self) -> Result<Box<dyn MsgSender>> {
        Ok(Box::new(MqSender::try_clone(self)?))
    }
    fn fd(&self) -> BorrowedFd<'_> {
        self.ready.fd()
    }
    fn queued(&self) -> Option<u64> {
        self.at.q.attr().ok().map(|a| a.2)
    }
    fn capacity(&self) -> Option<u64> {
        Some(self.at.capacity)
    }
}

/// A receiving end of an `mq://` queue (see the module docs).
///
/// Its readiness descriptor watches the queue for `EPOLLIN`, holds an eventfd set while a
/// message is kept here (after `BufferTooSmall`) or at end of stream, and ticks every
/// [`PEER_CHECK`] so that a receive can notice the senders' end.
pub struct MqReceiver {
    at: Attached,
    /// Receives shorter than `msg_size` land here (`mq_receive` wants the full size).
    buf: Vec<u8>,
    /// The length of a message waiting in `buf` (after `BufferTooSmall`).
    pending: Option<usize>,
    ready: Readiness,
}

impl std::fmt::Debug for MqReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqReceiver")
            .field("at", &self.at)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl MqReceiver {
    /// Opens (with `spec.create`, creates) the queue and attaches as a receiver.
    ///
    /// # Errors
    ///
    /// As [`MqSender::open`].
    pub fn open(spec: &OpenSpec) -> Result<MqReceiver> {
        let at = attach(spec, Role::Receiver)?;
        let ready = readiness(&at, ready::IN)?;
        Ok(MqReceiver {
            at,
            buf: Vec::new(),
            pending: None,
            ready,
        })
    }


    /// Messages in the queue now (`mq_curmsgs`), not counting one kept by this receiver
    /// after [`Error::BufferTooSmall`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if `mq_getattr` fails.
    pub fn queued(&self) -> Result<u64> {
        Ok(self.at.q.attr()?.2)
    }

    /// One non-blocking `mq_receive` into `dst` (at least `msg_size` bytes): `Some(len)`,
    /// or `None` if the queue is empty.
    fn try_receive(q: &Mqd, dst: &mut [u8]) -> Result<Option<usize>> {
        loop {
            let mut prio: libc::c_uint = 0;
            crate::sys::count::one();
            // SAFETY: dst is valid for dst.len() writable bytes; the mqd is open.
            let n = unsafe { libc::mq_receive(q.raw(), dst.as_mut_ptr().cast(), dst.len(), &mut prio) };
            if n >= 0 {
                let n = n as usize;
                if n > dst.len() {
                    return Err(Error::Corrupted {
                        what: "mq_receive returned more bytes than the buffer holds",
                    });
                }
                return Ok(Some(n));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Ok(None),
                _ => {
                    return Err(Error::Io {
                        op: "mq_receive",
                        source: e,
                    })
                }
            }
        }
    }

    /// One attempt: `Some(len)` if a message was delivered to `out`, `None` if the queue is
    /// empty; a message too long for `out` is kept ([`Error::BufferTooSmall`]).
    fn attempt(&mut self, out: &mut [u8]) -> Result<Option<usize>> {
        if self.pending.is_none() {
            if out.len() >= self.at.msg_size {
                return Self::try_receive(&self.at.q, out);
            }
            self.buf.resize(self.at.msg_size, 0);
            match Self::try_receive(&self.at.q, &mut self.buf)? {
                Some(n) => self.pending = Some(n),
                None => return Ok(None),
            }
        }
        let len = self.pending.expect("set above");
        if out.len() < len {
            return Err(Error::BufferTooSmall {
                needed: len,
                capacity: out.len(),
            });
        }
        out[..len].copy_from_slice(&self.buf[..len]);
        self.pending = None;
        Ok(Some(len))
    }

    /// Receives one message into `out`; returns its length.
    ///
    /// # Errors
    ///
    /// - [`Error::BufferTooSmall`]: the message is kept and the next call returns it;
    /// - [`Error::WouldBlock`] / [`Error::TimedOut`] on an empty queue;
    /// - [`Error::EndOfStream`]: the queue is empty and every sender that came has gone (a
    ///   sender that attaches later makes data flow again);
    /// - [`Error::Io`].
    pub fn recv(&mut self, out: &mut [u8], timeout: Timeout) -> Result<usize> {
        let r = self.recv_inner(out, timeout);
        let kept = self.pending.is_some();
        self.ready.after(&r, || kept, || true);
        r
    }

    fn recv_inner(&mut self, out: &mut [u8], timeout: Timeout) -> Result<usize> {
        loop {
            if let Some(n) = self.attempt(out)? {
                return Ok(n);
            }
            // Empty. Check the senders *before* trying once more, so that whatever a sender
            // queued before it went is still delivered.
            if self.at.lock.peers_gone()? {
                return match self.attempt(out)? {
                    Some(n) => Ok(n),
                    None => Err(self.at.lock.ending()),
                };
            }
            wait_fd_slice(self.at.q.raw(), libc::POLLIN, &timeout, PEER_CHECK)?;
        }
    }

    /// Another receiver on the same queue: a duplicate of the queue descriptor (sharing its
    /// open description) and a lock of its own. Receivers share the messages: each message
    /// goes to one of them. A message this receiver keeps after `BufferTooSmall` stays here.
    ///
    /// # Errors
    ///
    /// [`Error::Io`]; [`Error::Unsupported`] without `/proc/self/fd`.
    pub fn try_clone(&self) -> Result<MqReceiver> {
        let at = self.at.try_clone()?;
        let ready = readiness(&at, ready::IN)?;
        Ok(MqReceiver {
            at,
            buf: Vec::new(),
            pending: None,
            ready,
        })
    }
}

impl AsRawFd for MqReceiver {
    /// The queue descriptor (pollable for `POLLIN`).
    fn as_raw_fd(&self) -> RawFd {
        self.at.q.raw()
    }
}

impl MsgReceiver for MqReceiver {
    fn recv(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        MqReceiver::recv(self, buf, timeout)
    }
    fn msg_size(&self) -> usize {
        self.at.msg_size
    }
    fn try_clone(&self) -> Result<Box<dyn MsgReceiver>> {
        Ok(Box::new(MqReceiver::try_clone(self)?))
    }
    fn fd(&self) -> BorrowedFd<'_> {
        self.ready.fd()
    }
    fn set_held(&self, held: bool) {
        self.ready.set_held(held);
    }
    fn queued(&self) -> Option<u64> {
        MqReceiver::queued(self).ok()
    }
    fn capacity(&self) -> Option<u64> {
        Some(self.at.capacity)
    }
}
