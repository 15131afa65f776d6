//! [`Sender`] and [`SendSlot`]: the sending end of a channel, on any transport.

use super::end::{dispatch, SendEnd, Tx};
use super::interrupt::Interrupter;
use super::{open_ends, Create};
use crate::address::{Address, Transport};
use crate::error::{Error, Result};
use crate::layout::Geometry;
use crate::ring::RingSender;
use crate::stats::Stats;
use crate::timeout::Timeout;
use crate::transport::{adapter::FallbackTx, MsgSender};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

/// The sending end of a channel.
///
/// Owned by one thread at a time (`Send`, not `Sync`). Dropping it detaches the endpoint;
/// when the last sender has gone, receivers see [`Error::EndOfStream`] once they have
/// drained the channel.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ipcring::pair(&ipcring::RingOptions::new().capacity(2))?;
/// tx.send(b"a")?;
/// tx.try_send(b"b")?;
/// assert!(matches!(tx.try_send(b"c"), Err(ipcring::Error::WouldBlock)));
/// assert_eq!(rx.recv_vec()?, b"a");
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug)]
pub struct Sender {
    inner: Tx,
    transport: Transport,
}

impl Sender {
    pub(crate) fn from_ring(r: RingSender) -> Sender {
        Sender {
            inner: Tx::Ring(r),
            transport: Transport::Shm,
        }
    }

    pub(super) fn from_fallback(end: Box<dyn MsgSender>, transport: Transport) -> Sender {
        Sender {
            inner: Tx::Fallback(FallbackTx::new(end)),
            transport,
        }
    }

    /// Opens a sender on the channel named by `address` (the README's address table), creating the object as
    /// `create` says. `pipe://` and `shm://` without a name are anonymous: use [`pair_at`](super::pair_at).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] naming the offending part, and the errors of the transport's
    /// open ([`Error::NotFound`], [`Error::AlreadyExists`], [`Error::Mismatch`], ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{Create, Receiver, Sender};
    /// let addr = format!("shm://ipcring-doc-open-{}?capacity=8", std::process::id());
    /// let mut tx = Sender::open(&addr, Create::Exclusive)?;
    /// let mut rx = Receiver::open(&addr, Create::No)?;
    /// tx.send(b"by address")?;
    /// assert_eq!(rx.recv_vec()?, b"by address");
    /// ipcring::unlink(&addr)?;
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn open(address: &str, create: Create) -> Result<Sender> {
        let addr = Address::parse(address)?;
        let (tx, _) = open_ends(&addr, true, false, create)?;
        tx.ok_or(Error::Unsupported { what: "no sender" })
    }

    /// An [`Interrupter`] of this end: from another thread, it makes the call of this end
    /// that is blocked now (or, if none is, the next one that would have to wait) return
    /// [`Error::Interrupted`](crate::error::Error::Interrupted) with nothing sent or taken (see
    /// [`Interrupter`] for the exact rule). All interrupters of one end share one token.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::error::Error::Io) if a fallback end cannot make its wake-up
    /// descriptor (an `eventfd`, made by the end's first interrupter).
    pub fn interrupter(&self) -> Result<Interrupter> {
        Ok(match &self.inner {
            Tx::Ring(r) => Interrupter::ring(r.interrupter()),
            Tx::Fallback(f) => Interrupter::fallback(f.interrupter()?),
        })
    }

    /// Another sender on the same channel: on an MPMC ring a new endpoint, on a fallback a
    /// new connection or descriptor. An SPSC ring is [`Error::Busy`]; a transport that cannot
    /// have several senders says why with [`Error::Unsupported`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new().kind(ipcring::Kind::Mpmc))?;
    /// let tx = ring.sender()?;
    /// let tx2 = tx.try_clone()?;
    /// # drop((tx, tx2)); Ok::<(), ipcring::Error>(())
    /// ```
    pub fn try_clone(&self) -> Result<Sender> {
        Ok(Sender {
            inner: dispatch!(&self.inner, Tx, e => Tx::from(SendEnd::try_clone(e)?)),
            transport: self.transport,
        })
    }

    /// The largest message this channel takes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = ipcring::pair(&ipcring::RingOptions::new().msg_size(16))?;
    /// assert_eq!(tx.max_msg_size(), 16);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn max_msg_size(&self) -> usize {
        dispatch!(&self.inner, Tx, e => SendEnd::max_msg_size(e))
    }

    /// The transport this end uses.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = ipcring::pair_at("pipe://")?;
    /// assert_eq!(tx.transport(), ipcring::address::Transport::Pipe);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// This endpoint's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = ipcring::pair(&Default::default())?;
    /// assert_eq!(tx.stats().parks, 0);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        dispatch!(&self.inner, Tx, e => SendEnd::stats(e))
    }

    /// Sends `msg`, waiting as long as `timeout` allows for room.
    ///
    /// Errors: [`Error::TooLarge`] (nothing sent), [`Error::WouldBlock`] / [`Error::TimedOut`]
    /// (nothing sent), [`Error::Disconnected`] (a receiver attached during this sender's life
    /// has gone and none is left; or [`Error::ReceiverDied`] where one died and the transport
    /// can tell), [`Error::NoListener`] (`tcp://` / `unix://`: nothing listens, once the wait
    /// ends), [`Error::Corrupted`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, _rx) = ipcring::pair(&ipcring::RingOptions::new().capacity(1))?;
    /// tx.send_with_timeout(b"1", Timeout::NonBlocking)?;
    /// let full = tx.send_with_timeout(b"2", Timeout::after(std::time::Duration::from_millis(5)));
    /// assert!(matches!(full, Err(ipcring::Error::TimedOut)));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[inline(always)]
    pub fn send_with_timeout(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        dispatch!(&mut self.inner, Tx, e => SendEnd::send_with_timeout(e, msg, timeout))
    }

    /// Sends `msg` with a message id by which an engine that de-duplicates drops a resend of
    /// the same message (`nats://`: JetStream's `Nats-Msg-Id`, within the channel's
    /// `dup_window`); every other transport sends it as [`send_with_timeout`](Sender::send_with_timeout).
    /// `ipcring bridge` derives the id from the message's position in its source, so a
    /// message resent after a crash is stored once.
    ///
    /// # Errors
    ///
    /// As [`send_with_timeout`](Sender::send_with_timeout).
    pub fn send_with_id(&mut self, msg: &[u8], id: &str, timeout: Timeout) -> Result<()> {
        match &mut self.inner {
            Tx::Ring(e) => SendEnd::send_with_timeout(e, msg, timeout),
            Tx::Fallback(e) => e.send_with_id(msg, id, timeout),
        }
    }

    /// Sends `msg`, waiting for room as long as it takes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"")?; // empty messages are messages too
    /// assert_eq!(rx.recv_vec()?.len(), 0);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[inline(always)]
    pub fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.send_with_timeout(msg, Timeout::Forever)
    }

    /// Sends `msg` if there is room now; otherwise [`Error::WouldBlock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = ipcring::pair(&Default::default())?;
    /// tx.try_send(b"now")?;
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[inline(always)]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<()> {
        self.send_with_timeout(msg, Timeout::NonBlocking)
    }

    /// Sends `msg`, waiting at most `d` for room; otherwise [`Error::TimedOut`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = ipcring::pair(&Default::default())?;
    /// tx.send_timeout(b"soon", std::time::Duration::from_millis(10))?;
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn send_timeout(&mut self, msg: &[u8], d: Duration) -> Result<()> {
        self.send_with_timeout(msg, Timeout::after(d))
    }

    /// Sends `msgs` in order. On a ring each run that fits is published with one cursor store
    /// (SPSC) or one claim (MPMC) and one wake-up; on a fallback it is one send each. Waits
    /// for room as `timeout` allows and returns how many were sent: fewer than `msgs.len()`
    /// only if the wait ended (`msgs[n..]` were not sent). Lengths are all checked first: one
    /// too large is [`Error::TooLarge`] with nothing sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&ipcring::RingOptions::new().capacity(4))?;
    /// let sent = tx.send_batch(&[b"a", b"b", b"c", b"d", b"e"], Timeout::NonBlocking)?;
    /// assert_eq!(sent, 4);
    /// let mut got = Vec::new();
    /// rx.recv_batch(8, Timeout::NonBlocking, |m| got.push(m.to_vec()))?;
    /// assert_eq!(got, [b"a", b"b", b"c", b"d"]);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[must_use = "the count says how many were sent: the rest were not"]
    pub fn send_batch<M: AsRef<[u8]>>(&mut self, msgs: &[M], timeout: Timeout) -> Result<usize> {
        dispatch!(&mut self.inner, Tx, e => SendEnd::send_batch(e, msgs, timeout))
    }

    /// [`send_batch`](Sender::send_batch) with a message id each, as
    /// [`send_with_id`](Sender::send_with_id): on `nats://` the whole batch is in flight at
    /// once and each message counts as sent when the server has stored it (the count is the
    /// prefix stored, in order); a resend of any of them with the same id is stored once.
    /// Every other transport ignores the ids.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// let n = tx.send_batch_with_ids(&[(b"a", "src-7"), (b"b", "src-8")], Timeout::NonBlocking)?;
    /// assert_eq!(n, 2);
    /// assert_eq!(rx.recv_vec()?, b"a");
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`send_batch`](Sender::send_batch).
    #[must_use = "the count says how many were sent: the rest were not"]
    pub fn send_batch_with_ids<M: AsRef<[u8]>, I: AsRef<str>>(
        &mut self,
        msgs: &[(M, I)],
        timeout: Timeout,
    ) -> Result<usize> {
        match &mut self.inner {
            Tx::Ring(e) => {
                let slices: Vec<&[u8]> = msgs.iter().map(|(m, _)| m.as_ref()).collect();
                SendEnd::send_batch(e, &slices, timeout)
            }
            Tx::Fallback(e) => e.send_batch_with_ids(msgs, timeout),
        }
    }

    /// Reserves the next slot for a zero-copy write, waiting as `timeout` allows. Write into
    /// [`SendSlot::buf`] and [`commit`](SendSlot::commit). A slot dropped without commit sends
    /// nothing (on MPMC it is published as a tombstone that receivers skip). On a fallback
    /// the slot is an internal buffer and the commit does the write (see the module docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// let mut slot = tx.reserve(Timeout::Forever)?;
    /// slot.buf()[..3].copy_from_slice(b"abc");
    /// slot.commit(3)?;
    /// assert_eq!(rx.recv_vec()?, b"abc");
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[inline]
    pub fn reserve(&mut self, timeout: Timeout) -> Result<SendSlot<'_>> {
        let (ptr, pos) = self.reserve_raw(timeout)?;
        Ok(SendSlot {
            tx: self,
            ptr,
            pos,
            done: false,
        })
    }

    /// [`reserve`](Sender::reserve) without the borrow: the slot's payload pointer
    /// (`msg_size` writable bytes) and its position, to be passed to
    /// [`commit_raw`](Sender::commit_raw) or [`cancel_raw`](Sender::cancel_raw) before any
    /// other send on this sender. The C ABI keeps the pair in its handle between calls.
    #[doc(hidden)] // for language bindings (the C library): not part of the Rust API
    #[inline]
    pub fn reserve_raw(&mut self, timeout: Timeout) -> Result<(*mut u8, u64)> {
        dispatch!(&mut self.inner, Tx, e => SendEnd::reserve_raw(e, timeout))
    }

    /// Publishes `len` bytes of the slot reserved at `pos`. `len > msg_size` is
    /// [`Error::TooLarge`] and leaves the reservation standing.
    #[doc(hidden)] // for language bindings (the C library): not part of the Rust API
    #[inline]
    pub fn commit_raw(&mut self, pos: u64, len: usize) -> Result<()> {
        dispatch!(&mut self.inner, Tx, e => SendEnd::commit_raw(e, pos, len))
    }

    /// Gives up the slot reserved at `pos` without sending anything.
    #[doc(hidden)] // for language bindings (the C library): not part of the Rust API
    pub fn cancel_raw(&mut self, pos: u64) {
        dispatch!(&mut self.inner, Tx, e => SendEnd::cancel_raw(e, pos))
    }

    /// The ring's shape: kind, wake backend, capacity, message and slot sizes (`None` on a
    /// fallback transport, which has no ring).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ipcring::pair(&ipcring::RingOptions::new().capacity(8))?;
    /// assert_eq!(tx.geometry().map(|g| g.capacity), Some(8));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[must_use]
    pub fn geometry(&self) -> Option<Geometry> {
        dispatch!(&self.inner, Tx, e => SendEnd::geometry(e))
    }

    /// Messages in the channel now: a snapshot that may be stale as soon as it is taken
    /// (`None` where the transport cannot tell: pipes, FIFOs, sockets).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"one")?;
    /// assert_eq!(rx.queued(), Some(1));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[must_use]
    pub fn queued(&self) -> Option<u64> {
        dispatch!(&self.inner, Tx, e => SendEnd::queued(e))
    }

    /// How many messages the channel holds before a send must wait: the ring's `capacity`, a
    /// POSIX queue's `mq_maxmsg`; `None` where the kernel sizes the buffer in bytes (pipes,
    /// FIFOs, sockets).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ipcring::pair(&ipcring::RingOptions::new().capacity(16))?;
    /// assert_eq!(tx.capacity(), Some(16));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[must_use]
    pub fn capacity(&self) -> Option<u64> {
        dispatch!(&self.inner, Tx, e => SendEnd::capacity(e))
    }
}

impl Sender {
    /// For `ipcring::poll`: `Some` (see `RingSender::poll_ready`) where the end decides its
    /// readiness itself, `None` where its descriptor's readiness is exact (the fallbacks).
    pub(crate) fn poll_ready(&mut self, deep: bool) -> Option<Result<()>> {
        match &mut self.inner {
            Tx::Ring(r) => Some(r.poll_ready(deep)),
            Tx::Fallback(_) => None,
        }
    }
}

/// The handle's descriptor, for `poll`, `epoll`, `select` and async runtimes (the README's
/// "Event loops"): readable while a non-blocking call in this handle's direction would not
/// return [`Error::WouldBlock`] (room, or every receiver gone). Level-triggered in
/// effect: spurious readiness is possible (the call then returns `WouldBlock`; wait again),
/// missed readiness is not. The handle owns the descriptor: never read, write or close it;
/// register it for readability (`POLLIN`/`EPOLLIN`) whatever the direction. It is made at the
/// first call and lives as long as the handle.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// let (mut tx, mut rx) = ipcring::pair_at("shm://?capacity=2")?;
/// let fd = tx.as_raw_fd();
/// let readable = |ms| {
///     let mut p = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }];
///     // SAFETY: one valid pollfd.
///     unsafe { libc::poll(p.as_mut_ptr(), 1, ms) == 1 }
/// };
/// while tx.try_send(b"x").is_ok() {} // full: the next wait is armed
/// assert!(!readable(0));
/// rx.recv_vec()?; // room again
/// assert!(readable(5000));
/// tx.try_send(b"y")?;
/// # Ok::<(), ipcring::Error>(())
/// ```
impl AsFd for Sender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        dispatch!(&self.inner, Tx, e => SendEnd::fd(e))
    }
}

impl AsRawFd for Sender {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// A reserved slot for a zero-copy send (see [`Sender::reserve`]).
///
/// # Examples
///
/// ```
/// let (mut tx, _rx) = ipcring::pair(&ipcring::RingOptions::new().msg_size(32))?;
/// let mut slot = tx.reserve(ipcring::Timeout::NonBlocking)?;
/// assert_eq!(slot.buf().len(), 32);
/// drop(slot); // nothing sent
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping a slot cancels the reservation"]
pub struct SendSlot<'a> {
    tx: &'a mut Sender,
    ptr: *mut u8,
    pos: u64,
    done: bool,
}

impl SendSlot<'_> {
    /// The slot's payload: `msg_size` bytes to write the message into.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = ipcring::pair(&Default::default())?;
    /// let mut slot = tx.reserve(ipcring::Timeout::NonBlocking)?;
    /// slot.buf()[0] = 7;
    /// slot.commit(1)?;
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn buf(&mut self) -> &mut [u8] {
        // SAFETY: the slot is reserved for us (SPSC: ahead of the published tail; MPMC:
        // claimed and unpublished; fallback: the sender's own buffer, untouched until
        // commit) and it is msg_size bytes long.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.tx.max_msg_size()) }
    }

    /// Publishes the first `len` bytes of [`buf`](SendSlot::buf) as one message.
    /// `len > msg_size` is [`Error::TooLarge`] and sends nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = ipcring::pair(&ipcring::RingOptions::new().msg_size(4))?;
    /// let slot = tx.reserve(ipcring::Timeout::NonBlocking)?;
    /// assert!(matches!(slot.commit(5), Err(ipcring::Error::TooLarge { .. })));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[inline]
    pub fn commit(mut self, len: usize) -> Result<()> {
        self.tx.commit_raw(self.pos, len)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for SendSlot<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.tx.cancel_raw(self.pos);
        }
    }
}
