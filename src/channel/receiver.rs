//! [`Receiver`], [`RecvSlot`] and [`RecvBatch`]: the receiving end of a channel, on any
//! transport.

use super::end::{dispatch, RecvEnd, Rx};
use super::interrupt::Interrupter;
use super::{open_ends, Create};
use crate::address::{Address, Transport};
use crate::error::{Error, Result};
use crate::layout::Geometry;
use crate::ring::RingReceiver;
use crate::stats::Stats;
use crate::timeout::Timeout;
use crate::transport::{adapter::FallbackRx, MsgReceiver};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

/// The receiving end of a channel.
///
/// Owned by one thread at a time (`Send`, not `Sync`). Dropping it detaches the endpoint;
/// when the last receiver has gone, senders get [`Error::Disconnected`].
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
/// tx.send(b"hi")?;
/// let mut buf = [0u8; 16];
/// let n = rx.recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"hi");
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug)]
pub struct Receiver {
    inner: Rx,
    transport: Transport,
}

impl Receiver {
    pub(crate) fn from_ring(r: RingReceiver) -> Receiver {
        Receiver {
            inner: Rx::Ring(r),
            transport: Transport::Shm,
        }
    }

    pub(super) fn from_fallback(end: Box<dyn MsgReceiver>, transport: Transport) -> Receiver {
        Receiver {
            inner: Rx::Fallback(FallbackRx::new(end)),
            transport,
        }
    }

    /// Opens a receiver on the channel named by `address`, creating the object as `create`
    /// says (see [`Sender::open`](super::Sender::open)). On `unix://` and `tcp://` the receiver is the listener.
    ///
    /// # Errors
    ///
    /// As [`Sender::open`](super::Sender::open).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{Create, Error, Receiver};
    /// let missing = format!("shm://ipcring-doc-none-{}", std::process::id());
    /// assert!(matches!(Receiver::open(&missing, Create::No), Err(Error::NotFound { .. })));
    /// ```
    pub fn open(address: &str, create: Create) -> Result<Receiver> {
        let addr = Address::parse(address)?;
        let (_, rx) = open_ends(&addr, false, true, create)?;
        rx.ok_or(Error::Unsupported { what: "no receiver" })
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
            Rx::Ring(r) => Interrupter::ring(r.interrupter()),
            Rx::Fallback(f) => Interrupter::fallback(f.interrupter()?),
        })
    }

    /// Another receiver on the same channel (MPMC ring, POSIX queue); an SPSC ring is
    /// [`Error::Busy`], and a transport where a second reader would split or steal parts of
    /// messages (pipe, FIFO, one socket listener per address) is [`Error::Unsupported`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new())?;
    /// let rx = ring.receiver()?;
    /// assert!(rx.try_clone().is_err()); // SPSC: one receiver
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn try_clone(&self) -> Result<Receiver> {
        Ok(Receiver {
            inner: dispatch!(&self.inner, Rx, e => Rx::from(RecvEnd::try_clone(e)?)),
            transport: self.transport,
        })
    }

    /// The largest message this channel carries.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = ipcring::pair(&ipcring::RingOptions::new().msg_size(16))?;
    /// assert_eq!(rx.max_msg_size(), 16);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn max_msg_size(&self) -> usize {
        dispatch!(&self.inner, Rx, e => RecvEnd::max_msg_size(e))
    }

    /// The transport this end uses.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = ipcring::pair(&Default::default())?;
    /// assert_eq!(rx.transport(), ipcring::address::Transport::Shm);
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
    /// let (_tx, rx) = ipcring::pair(&Default::default())?;
    /// assert_eq!(rx.stats().messages, 0);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        dispatch!(&self.inner, Rx, e => RecvEnd::stats(e))
    }

    /// Receives one message into `buf`, waiting as `timeout` allows; returns its length.
    ///
    /// Errors: [`Error::BufferTooSmall`] (the message stays in the channel),
    /// [`Error::WouldBlock`] / [`Error::TimedOut`], [`Error::EndOfStream`] (every sender that
    /// concerns this receiver has gone: one attached during its life, or whose messages it
    /// found queued; on a channel left by an earlier run a new receiver waits instead),
    /// [`Error::SenderDied`] (the same, but a sender died without closing since this receiver
    /// attached), [`Error::Corrupted`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"four")?;
    /// let mut small = [0u8; 2];
    /// assert!(matches!(rx.recv_with_timeout(&mut small, Timeout::NonBlocking), Err(ipcring::Error::BufferTooSmall { needed: 4, .. })));
    /// let mut buf = [0u8; 4];
    /// assert_eq!(rx.recv_with_timeout(&mut buf, Timeout::NonBlocking)?, 4);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[inline(always)]
    pub fn recv_with_timeout(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        dispatch!(&mut self.inner, Rx, e => RecvEnd::recv_with_timeout(e, buf, timeout))
    }

    /// Receives one message into `buf`, waiting as long as it takes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"x")?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(rx.recv(&mut buf)?, 1);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[inline(always)]
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_with_timeout(buf, Timeout::Forever)
    }

    /// Receives one message into `buf` if one is there now; otherwise [`Error::WouldBlock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = ipcring::pair(&Default::default())?;
    /// assert!(matches!(rx.try_recv(&mut [0u8; 8]), Err(ipcring::Error::WouldBlock)));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[inline(always)]
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_with_timeout(buf, Timeout::NonBlocking)
    }

    /// Receives one message into `buf`, waiting at most `d`; otherwise [`Error::TimedOut`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = ipcring::pair(&Default::default())?;
    /// let r = rx.recv_timeout(&mut [0u8; 8], std::time::Duration::from_millis(5));
    /// assert!(matches!(r, Err(ipcring::Error::TimedOut)));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, buf: &mut [u8], d: Duration) -> Result<usize> {
        self.recv_with_timeout(buf, Timeout::after(d))
    }

    /// Receives one message as an owned `Vec`, waiting as `timeout` allows.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"owned")?;
    /// assert_eq!(rx.recv_vec_with_timeout(ipcring::Timeout::NonBlocking)?, b"owned");
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn recv_vec_with_timeout(&mut self, timeout: Timeout) -> Result<Vec<u8>> {
        dispatch!(&mut self.inner, Rx, e => RecvEnd::recv_vec_with_timeout(e, timeout))
    }

    /// Receives one message as an owned `Vec`, waiting as long as it takes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"v")?;
    /// assert_eq!(rx.recv_vec()?, b"v");
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn recv_vec(&mut self) -> Result<Vec<u8>> {
        self.recv_vec_with_timeout(Timeout::Forever)
    }

    /// Receives one message as an owned `Vec` if one is there now.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = ipcring::pair(&Default::default())?;
    /// assert!(rx.try_recv_vec().is_err());
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn try_recv_vec(&mut self) -> Result<Vec<u8>> {
        self.recv_vec_with_timeout(Timeout::NonBlocking)
    }

    /// Receives one message as an owned `Vec`, waiting at most `d`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = ipcring::pair(&Default::default())?;
    /// assert!(rx.recv_vec_timeout(std::time::Duration::from_millis(1)).is_err());
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn recv_vec_timeout(&mut self, d: Duration) -> Result<Vec<u8>> {
        self.recv_vec_with_timeout(Timeout::after(d))
    }

    /// Receives up to `max` messages, waiting as `timeout` allows for the first, and hands
    /// each to `f` in place. On a ring they are consumed with one cursor store (SPSC) or one
    /// claim (MPMC) and one wake-up; on a fallback the first waits and the rest are taken
    /// while they are there. Returns how many were received: at least 1, or 0 at once when
    /// `max` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send_batch(&[b"1", b"2"], Timeout::NonBlocking)?;
    /// let mut total = 0;
    /// let n = rx.recv_batch(10, Timeout::NonBlocking, |m| total += m.len())?;
    /// assert_eq!((n, total), (2, 2));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[must_use = "the count says how many messages were handed to the closure"]
    pub fn recv_batch(&mut self, max: usize, timeout: Timeout, f: impl FnMut(&[u8])) -> Result<usize> {
        dispatch!(&mut self.inner, Rx, e => RecvEnd::recv_batch(e, max, timeout, f))
    }

    /// Waits as `timeout` allows for the next message and returns it in place, without a
    /// copy. [`RecvSlot::release`] consumes it. Dropping the slot without release leaves the
    /// message in the channel on SPSC rings and fallbacks; on MPMC the message was claimed
    /// and is consumed either way.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"in place")?;
    /// let msg = rx.peek(Timeout::NonBlocking)?;
    /// assert_eq!(&*msg, b"in place");
    /// msg.release();
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[inline]
    pub fn peek(&mut self, timeout: Timeout) -> Result<RecvSlot<'_>> {
        let (ptr, len, pos) = self.peek_raw(timeout)?;
        Ok(RecvSlot {
            rx: self,
            ptr,
            len,
            pos,
            done: false,
        })
    }

    /// Waits as `timeout` allows for the next message, then looks at up to `max` messages
    /// in place, handing each to `f` in order, *without consuming them*:
    /// [`RecvBatch::release`]`(k)` consumes the first `k` and leaves the rest in the channel.
    /// This is the batch form of [`peek`](Receiver::peek), for a consumer that must not lose
    /// a message it could not pass on (write them all out, then release the ones that went).
    ///
    /// - SPSC ring: the messages are read in place; those not released stay in the ring, for
    ///   this receiver or the next one.
    /// - MPMC ring: the messages are claimed, and a claim cannot be undone: they are all
    ///   consumed whatever is released (see [`peek_consumes`](Receiver::peek_consumes)).
    /// - Fallback: one message at a time (the one [`peek`](Receiver::peek) would hold); not
    ///   released, it is kept by this receiver for its next receive.
    ///
    /// `max == 0` returns an empty batch at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send_batch(&[b"a", b"b", b"c"], Timeout::NonBlocking)?;
    /// let mut seen = Vec::new();
    /// let batch = rx.peek_batch(8, Timeout::NonBlocking, |m| seen.push(m.to_vec()))?;
    /// assert_eq!(batch.len(), 3);
    /// batch.release(2); // "c" stays in the ring
    /// assert_eq!(seen, [b"a", b"b", b"c"]);
    /// assert_eq!(rx.recv_vec()?, b"c");
    ///
    /// // MPMC: what was seen was claimed, and is consumed whatever is released.
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new().kind(ipcring::Kind::Mpmc))?;
    /// let (mut tx, mut rx) = (ring.sender()?, ring.receiver()?);
    /// tx.send_batch(&[b"x", b"y"], Timeout::NonBlocking)?;
    /// assert!(rx.peek_consumes());
    /// rx.peek_batch(8, Timeout::NonBlocking, |_| {})?.release(1);
    /// assert!(matches!(rx.try_recv_vec(), Err(ipcring::Error::WouldBlock)));
    ///
    /// // A fallback: one message at a time, kept by the receiver until released.
    /// let (mut tx, mut rx) = ipcring::pair_at("pipe://")?;
    /// tx.send(b"p")?;
    /// tx.send(b"q")?;
    /// assert_eq!(rx.peek_batch(8, Timeout::NonBlocking, |_| {})?.len(), 1);
    /// assert_eq!(rx.recv_vec()?, b"p");
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn peek_batch(&mut self, max: usize, timeout: Timeout, f: impl FnMut(&[u8])) -> Result<RecvBatch<'_>> {
        let (pos, n) = if max == 0 {
            (0, 0)
        } else {
            dispatch!(&mut self.inner, Rx, e => RecvEnd::peek_batch_raw(e, max, timeout, f)?)
        };
        Ok(RecvBatch {
            rx: self,
            pos,
            n,
            done: false,
        })
    }

    /// Whether a message seen by [`peek`](Receiver::peek) or
    /// [`peek_batch`](Receiver::peek_batch) is consumed even if it is not released: true on
    /// MPMC rings (looking at a message claims it). Otherwise an unreleased message is kept:
    /// in the ring on SPSC; on a fallback transport in this receiver's memory (it has left
    /// the kernel object already), so it is lost if the process ends before receiving it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = ipcring::pair(&Default::default())?;
    /// assert!(!rx.peek_consumes()); // SPSC
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn peek_consumes(&self) -> bool {
        dispatch!(&self.inner, Rx, e => RecvEnd::peek_consumes(e))
    }

    /// [`peek`](Receiver::peek) without the borrow: the message's pointer, length and
    /// position, valid until [`release_raw`](Receiver::release_raw), which must come before
    /// any other receive on this receiver (on MPMC the message is claimed until then).
    #[doc(hidden)] // for language bindings (the C library): not part of the Rust API
    #[inline]
    pub fn peek_raw(&mut self, timeout: Timeout) -> Result<(*const u8, usize, u64)> {
        dispatch!(&mut self.inner, Rx, e => RecvEnd::peek_raw(e, timeout))
    }

    /// Consumes the message returned by [`peek_raw`](Receiver::peek_raw).
    #[doc(hidden)] // for language bindings (the C library): not part of the Rust API
    #[inline]
    pub fn release_raw(&mut self, pos: u64, len: usize) {
        dispatch!(&mut self.inner, Rx, e => RecvEnd::release_raw(e, pos, len))
    }

    /// The ring's shape: kind, wake backend, capacity, message and slot sizes (`None` on a
    /// fallback transport, which has no ring).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ipcring::pair(&ipcring::RingOptions::new().capacity(8))?;
    /// assert_eq!(rx.geometry().map(|g| g.capacity), Some(8));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[must_use]
    pub fn geometry(&self) -> Option<Geometry> {
        dispatch!(&self.inner, Rx, e => RecvEnd::geometry(e))
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
        dispatch!(&self.inner, Rx, e => RecvEnd::queued(e))
    }

    /// How many messages the channel holds before a send must wait: the ring's `capacity`, a
    /// POSIX queue's `mq_maxmsg`; `None` where the kernel sizes the buffer in bytes (pipes,
    /// FIFOs, sockets).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ipcring::pair(&ipcring::RingOptions::new().capacity(16))?;
    /// assert_eq!(rx.capacity(), Some(16));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[must_use]
    pub fn capacity(&self) -> Option<u64> {
        dispatch!(&self.inner, Rx, e => RecvEnd::capacity(e))
    }
}

impl Receiver {
    /// For `ipcring::poll`: `Some` (see `RingSender::poll_ready`) where the end decides its
    /// readiness itself, `None` where its descriptor's readiness is exact (the fallbacks).
    pub(crate) fn poll_ready(&mut self, deep: bool) -> Option<Result<()>> {
        match &mut self.inner {
            Rx::Ring(r) => Some(r.poll_ready(deep)),
            Rx::Fallback(_) => None,
        }
    }
}

/// The handle's descriptor, for `poll`, `epoll`, `select` and async runtimes (the README's
/// "Event loops"): readable while a non-blocking call in this handle's direction would not
/// return [`Error::WouldBlock`] (a message, end of stream, or an error to report). Level-triggered in
/// effect: spurious readiness is possible (the call then returns `WouldBlock`; wait again),
/// missed readiness is not. The handle owns the descriptor: never read, write or close it;
/// register it for readability (`POLLIN`/`EPOLLIN`) whatever the direction. It is made at the
/// first call and lives as long as the handle.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// let (mut tx, mut rx) = ipcring::pair_at("shm://?capacity=4")?;
/// let fd = rx.as_raw_fd();
/// let readable = |ms| {
///     let mut p = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }];
///     // SAFETY: one valid pollfd.
///     unsafe { libc::poll(p.as_mut_ptr(), 1, ms) == 1 }
/// };
/// while rx.try_recv_vec().is_ok() {} // drained: the next wait is armed
/// assert!(!readable(0));
/// tx.send(b"wake")?;
/// assert!(readable(5000));
/// assert_eq!(rx.try_recv_vec()?, b"wake");
/// # Ok::<(), ipcring::Error>(())
/// ```
impl AsFd for Receiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        dispatch!(&self.inner, Rx, e => RecvEnd::fd(e))
    }
}

impl AsRawFd for Receiver {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// A message seen in place (see [`Receiver::peek`]). Dereferences to its bytes.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
/// tx.send(b"abc")?;
/// let slot = rx.peek(ipcring::Timeout::NonBlocking)?;
/// assert_eq!(slot.len(), 3);
/// slot.release();
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping a slot without release leaves the message (SPSC, fallbacks) or consumes it (MPMC)"]
pub struct RecvSlot<'a> {
    rx: &'a mut Receiver,
    ptr: *const u8,
    len: usize,
    pos: u64,
    done: bool,
}

impl RecvSlot<'_> {
    /// Consumes the message, freeing its slot for senders.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"z")?;
    /// rx.peek(ipcring::Timeout::NonBlocking)?.release();
    /// assert!(rx.try_recv_vec().is_err());
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[inline]
    pub fn release(mut self) {
        self.finish();
    }

    #[inline]
    fn finish(&mut self) {
        self.done = true;
        self.rx.release_raw(self.pos, self.len);
    }
}

impl core::ops::Deref for RecvSlot<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the message is published and ours until released (SPSC: at head; MPMC:
        // claimed; fallback: held in the receiver's buffer, which the borrow keeps alive and
        // unchanged); len was validated against msg_size.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for RecvSlot<'_> {
    fn drop(&mut self) {
        if !self.done && self.rx.peek_consumes() {
            self.finish();
        }
    }
}

/// Messages seen in place by [`Receiver::peek_batch`], not yet consumed.
///
/// [`release`](RecvBatch::release) consumes the first of them; dropping the batch without
/// release consumes none (except on MPMC rings, where every message seen was claimed and is
/// consumed either way).
#[derive(Debug)]
#[must_use = "release(k) consumes the first k messages seen; dropping it consumes none (SPSC, fallbacks)"]
pub struct RecvBatch<'a> {
    rx: &'a mut Receiver,
    pos: u64,
    n: usize,
    done: bool,
}

impl RecvBatch<'_> {
    /// How many messages were seen.
    pub fn len(&self) -> usize {
        self.n
    }

    /// The position of the first message seen: on a ring the count of messages consumed
    /// before it (the others follow at `position() + 1`, `+ 2`, ...; stable across
    /// receivers, so `ipcring bridge` derives message ids from it); on `nats://` the stream
    /// sequence of the one message seen; 0 on the other transports.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Whether no message was seen (only when `max` was 0).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Consumes the first `k` messages seen (all of them if `k >= len()`), freeing their
    /// slots for senders with one cursor store and one wake-up; the others stay in the
    /// channel (not on MPMC, see [`Receiver::peek_batch`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send_batch(&[b"1", b"2"], Timeout::NonBlocking)?;
    /// rx.peek_batch(8, Timeout::NonBlocking, |_| {})?.release(0); // nothing consumed
    /// let n = rx.recv_batch(8, Timeout::NonBlocking, |_| {})?;
    /// assert_eq!(n, 2);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn release(mut self, k: usize) {
        self.finish(k);
    }

    fn finish(&mut self, k: usize) {
        self.done = true;
        let k = k.min(self.n);
        if self.n > 0 {
            dispatch!(&mut self.rx.inner, Rx, e => RecvEnd::release_batch_raw(e, self.pos, self.n, k))
        }
    }
}

impl Drop for RecvBatch<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.finish(0);
        }
    }
}
