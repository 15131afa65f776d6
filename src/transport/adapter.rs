//! The ring-only calls over any fallback: batches, zero-copy slots and statistics emulated on
//! top of a [`MsgSender`] / [`MsgReceiver`], so that every transport offers the channel API.
//!
//! - A batch is the transport's `MsgSender::send_batch` (a loop of single sends, except on
//!   `nats://`, which has the whole batch in flight at once) / a loop of single receives.
//! - A send slot is an internal buffer of `msg_size` bytes; its commit writes it, waiting for
//!   room as long as it takes (a fallback cannot reserve room in the kernel ahead of the
//!   write).
//! - A receive slot holds a message received into an internal buffer; not released, it is
//!   kept for the next receive (as on an SPSC ring).
//!
//! Every system call the end makes inside a send or a receive is added to its
//! `Stats::syscalls`; `parks` and `wakes` stay 0 (the kernel sleeps and wakes inside them).
//!
//! Each end's readiness descriptor ([`FallbackTx::fd`], [`FallbackRx::fd`]) is the
//! transport's (see "Readiness" in the `transport` module docs); a message held in the
//! receive slot marks it readable too (`MsgReceiver::set_held`).

use super::{MsgReceiver, MsgSender};
use crate::error::{Error, Result};
use crate::stats::Stats;
use crate::sys::count::counting;
use crate::sys::intr::{self, Wake};
use crate::timeout::Timeout;
use std::os::fd::BorrowedFd;
use std::sync::Arc;

/// A fallback sender plus what the channel layer adds to it.
#[derive(Debug)]
pub(crate) struct FallbackTx {
    end: Box<dyn MsgSender>,
    /// The buffer behind a send slot (allocated on first reserve).
    slot: Vec<u8>,
    stats: Stats,
    /// This end's interrupt token: its eventfd is made by the first `interrupter()`, and the
    /// waits of a send or receive watch it (`sys::intr::enter`).
    wake: Arc<Wake>,
}

impl FallbackTx {
    pub(crate) fn new(end: Box<dyn MsgSender>) -> FallbackTx {
        FallbackTx {
            end,
            slot: Vec::new(),
            stats: Stats::default(),
            wake: Wake::new(),
        }
    }

    pub(crate) fn try_clone(&self) -> Result<FallbackTx> {
        Ok(FallbackTx::new(self.end.try_clone()?))
    }

    pub(crate) fn max_msg_size(&self) -> usize {
        self.end.msg_size()
    }

    /// The readiness descriptor: readable while a non-blocking send would not return
    /// `WouldBlock` (room, the receivers gone). Owned by this end.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.end.fd()
    }

    /// This end's interrupt token, with its eventfd (made now if this is the first).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the eventfd cannot be made.
    pub(crate) fn interrupter(&self) -> Result<Arc<Wake>> {
        self.wake.arm_fd()?;
        Ok(self.wake.clone())
    }

    pub(crate) fn stats(&self) -> Stats {
        self.stats
    }

    pub(crate) fn queued(&self) -> Option<u64> {
        self.end.queued()
    }

    pub(crate) fn capacity(&self) -> Option<u64> {
        self.end.capacity()
    }

    pub(crate) fn send_with_timeout(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        let _watch = intr::enter(&self.wake);
        self.send_one(msg, timeout)
    }

    /// A send with a message id for engines that de-duplicate (see `MsgSender::send_with_id`).
    pub(crate) fn send_with_id(&mut self, msg: &[u8], id: &str, timeout: Timeout) -> Result<()> {
        let _watch = intr::enter(&self.wake);
        let end = &mut self.end;
        counting(&mut self.stats.syscalls, || end.send_with_id(msg, id, timeout))?;
        self.stats.messages += 1;
        self.stats.bytes += msg.len() as u64;
        Ok(())
    }

    fn send_one(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        let end = &mut self.end;
        counting(&mut self.stats.syscalls, || end.send(msg, timeout))?;
        self.stats.messages += 1;
        self.stats.bytes += msg.len() as u64;
        Ok(())
    }

    pub(crate) fn send_batch<M: AsRef<[u8]>>(&mut self, msgs: &[M], timeout: Timeout) -> Result<usize> {
        let slices: Vec<&[u8]> = msgs.iter().map(AsRef::as_ref).collect();
        self.send_slices(&slices, None, timeout)
    }

    /// A batch with a message id each (see `MsgSender::send_batch`).
    pub(crate) fn send_batch_with_ids<M: AsRef<[u8]>, I: AsRef<str>>(
        &mut self,
        msgs: &[(M, I)],
        timeout: Timeout,
    ) -> Result<usize> {
        let slices: Vec<&[u8]> = msgs.iter().map(|(m, _)| m.as_ref()).collect();
        let ids: Vec<&str> = msgs.iter().map(|(_, i)| i.as_ref()).collect();
        self.send_slices(&slices, Some(&ids), timeout)
    }

    fn send_slices(&mut self, msgs: &[&[u8]], ids: Option<&[&str]>, timeout: Timeout) -> Result<usize> {
        let max = self.end.msg_size();
        if let Some(m) = msgs.iter().find(|m| m.len() > max) {
            return Err(Error::TooLarge { len: m.len(), max });
        }
        if msgs.is_empty() {
            return Ok(0);
        }
        let _watch = intr::enter(&self.wake);
        let end = &mut self.end;
        let n = counting(&mut self.stats.syscalls, || end.send_batch(msgs, ids, timeout))?;
        self.stats.messages += n as u64;
        self.stats.bytes += msgs[..n].iter().map(|m| m.len() as u64).sum::<u64>();
        Ok(n)
    }

    /// The slot buffer (`msg_size` bytes) and position 0: a fallback cannot reserve room
    /// ahead of the write, so `timeout` plays no part.
    pub(crate) fn reserve_raw(&mut self, _timeout: Timeout) -> Result<(*mut u8, u64)> {
        let size = self.end.msg_size();
        self.slot.resize(size, 0);
        Ok((self.slot.as_mut_ptr(), 0))
    }

    /// Sends the first `len` bytes of the slot buffer, waiting as long as it takes.
    pub(crate) fn commit_raw(&mut self, _pos: u64, len: usize) -> Result<()> {
        let max = self.end.msg_size();
        if len > max {
            return Err(Error::TooLarge { len, max });
        }
        let slot = std::mem::take(&mut self.slot);
        // Not interruptible: a commit of a reserved slot never fails for want of room.
        let r = self.send_one(&slot[..len], Timeout::Forever);
        self.slot = slot;
        r
    }
}

/// A fallback receiver plus what the channel layer adds to it.
#[derive(Debug)]
pub(crate) struct FallbackRx {
    end: Box<dyn MsgReceiver>,
    /// The buffer behind a receive slot, and the length of the message held in it (received
    /// by a peek and not yet released: the next receive returns it).
    slot: Vec<u8>,
    held: Option<usize>,
    stats: Stats,
    /// As `FallbackTx::wake`.
    wake: Arc<Wake>,
}

impl FallbackRx {
    pub(crate) fn new(end: Box<dyn MsgReceiver>) -> FallbackRx {
        FallbackRx {
            end,
            slot: Vec::new(),
            held: None,
            stats: Stats::default(),
            wake: Wake::new(),
        }
    }

    pub(crate) fn try_clone(&self) -> Result<FallbackRx> {
        Ok(FallbackRx::new(self.end.try_clone()?))
    }

    pub(crate) fn max_msg_size(&self) -> usize {
        self.end.msg_size()
    }

    /// The readiness descriptor: readable while a non-blocking receive would not return
    /// `WouldBlock` (a message, held here or in the channel; end of stream; an error).
    /// Owned by this end.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.end.fd()
    }

    /// Tells the transport's readiness whether a message is held here (one atomic swap; a
    /// system call only when it changes and the descriptor is in use).
    fn sync_held(&self) {
        self.end.set_held(self.held.is_some());
    }

    /// This end's interrupt token, with its eventfd (made now if this is the first).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the eventfd cannot be made.
    pub(crate) fn interrupter(&self) -> Result<Arc<Wake>> {
        self.wake.arm_fd()?;
        Ok(self.wake.clone())
    }

    pub(crate) fn stats(&self) -> Stats {
        self.stats
    }

    /// Messages in the channel now, counting the one held here.
    pub(crate) fn queued(&self) -> Option<u64> {
        self.end.queued().map(|n| n + self.held.is_some() as u64)
    }

    /// How many messages the channel holds, where it has such a limit.
    pub(crate) fn capacity(&self) -> Option<u64> {
        self.end.capacity()
    }

    fn count(&mut self, len: usize) -> usize {
        self.stats.messages += 1;
        self.stats.bytes += len as u64;
        len
    }

    pub(crate) fn recv_with_timeout(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        let Some(len) = self.held else {
            let _watch = intr::enter(&self.wake);
            let end = &mut self.end;
            let n = counting(&mut self.stats.syscalls, || end.recv(buf, timeout))?;
            return Ok(self.count(n));
        };
        if buf.len() < len {
            return Err(Error::BufferTooSmall {
                needed: len,
                capacity: buf.len(),
            });
        }
        buf[..len].copy_from_slice(&self.slot[..len]);
        self.held = None;
        self.end.ack_held();
        self.sync_held();
        Ok(self.count(len))
    }

    pub(crate) fn recv_vec_with_timeout(&mut self, timeout: Timeout) -> Result<Vec<u8>> {
        let mut v = vec![0; self.end.msg_size()];
        let n = self.recv_with_timeout(&mut v, timeout)?;
        v.truncate(n);
        Ok(v)
    }

    /// Receives the next message into the slot buffer (unless one is held there already).
    fn fill_slot(&mut self, timeout: Timeout) -> Result<usize> {
        if let Some(len) = self.held {
            return Ok(len);
        }
        let size = self.end.msg_size();
        self.slot.resize(size, 0);
        let _watch = intr::enter(&self.wake);
        let (end, slot) = (&mut self.end, &mut self.slot);
        let len = counting(&mut self.stats.syscalls, || end.recv_held(slot, timeout))?;
        self.held = Some(len);
        Ok(len)
    }

    pub(crate) fn recv_batch(&mut self, max: usize, timeout: Timeout, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let mut n = 0;
        while n < max {
            let t = if n == 0 { timeout } else { Timeout::NonBlocking };
            match self.fill_slot(t) {
                Ok(len) => {
                    f(&self.slot[..len]);
                    self.held = None;
                    self.end.ack_held();
                    self.count(len);
                    n += 1;
                }
                Err(Error::WouldBlock | Error::EndOfStream) if n > 0 => break,
                Err(e) => {
                    self.sync_held();
                    return Err(e);
                }
            }
        }
        self.sync_held();
        Ok(n)
    }

    /// The held message (received now if none is): pointer, length, and the engine's
    /// position of it (a JetStream stream sequence on `nats://`, 0 elsewhere).
    pub(crate) fn peek_raw(&mut self, timeout: Timeout) -> Result<(*const u8, usize, u64)> {
        let len = self.fill_slot(timeout)?;
        self.sync_held();
        Ok((self.slot.as_ptr(), len, self.end.held_position()))
    }

    /// Consumes (acknowledges) the held message, if any.
    pub(crate) fn release_raw(&mut self, _pos: u64, len: usize) {
        if self.held.take().is_some() {
            self.end.ack_held();
            self.stats.messages += 1;
            self.stats.bytes += len as u64;
            self.sync_held();
        }
    }

    /// A batch of one: the message [`peek_raw`](Self::peek_raw) would hold.
    pub(crate) fn peek_batch_raw(
        &mut self,
        _max: usize,
        timeout: Timeout,
        mut f: impl FnMut(&[u8]),
    ) -> Result<(u64, usize)> {
        let len = self.fill_slot(timeout)?;
        self.sync_held();
        f(&self.slot[..len]);
        Ok((self.end.held_position(), 1))
    }

    /// Consumes the held message if `consume > 0`.
    pub(crate) fn release_batch_raw(&mut self, _pos: u64, _seen: usize, consume: usize) {
        if consume > 0 {
            if let Some(len) = self.held.take() {
                self.end.ack_held();
                self.count(len);
                self.sync_held();
            }
        }
    }
}
