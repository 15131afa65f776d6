//! The one dispatch between a ring end and a fallback end: [`SendEnd`] / [`RecvEnd`] say
//! what an end must offer the API types, [`Tx`] / [`Rx`] hold either kind, and
//! [`dispatch!`](dispatch) runs one expression on whichever is there. So each API method of
//! `Sender` / `Receiver` is written once, and a new kind of end is one impl and one variant.

use crate::error::Result;
use crate::layout::Geometry;
use crate::ring::{RingReceiver, RingSender};
use crate::stats::Stats;
use crate::timeout::Timeout;
use crate::transport::adapter::{FallbackRx, FallbackTx};
use std::os::fd::BorrowedFd;

/// What a sending end offers `Sender` (see its methods for the contract of each).
pub(crate) trait SendEnd: Sized {
    fn try_clone(&self) -> Result<Self>;
    fn max_msg_size(&self) -> usize;
    fn stats(&self) -> Stats;
    fn send_with_timeout(&mut self, msg: &[u8], timeout: Timeout) -> Result<()>;
    fn send_batch<M: AsRef<[u8]>>(&mut self, msgs: &[M], timeout: Timeout) -> Result<usize>;
    fn reserve_raw(&mut self, timeout: Timeout) -> Result<(*mut u8, u64)>;
    fn commit_raw(&mut self, pos: u64, len: usize) -> Result<()>;
    fn cancel_raw(&mut self, pos: u64);
    fn geometry(&self) -> Option<Geometry>;
    fn queued(&self) -> Option<u64>;
    fn capacity(&self) -> Option<u64>;
    fn fd(&self) -> BorrowedFd<'_>;
}

/// What a receiving end offers `Receiver` (see its methods for the contract of each).
pub(crate) trait RecvEnd: Sized {
    fn try_clone(&self) -> Result<Self>;
    fn max_msg_size(&self) -> usize;
    fn stats(&self) -> Stats;
    fn recv_with_timeout(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize>;
    fn recv_vec_with_timeout(&mut self, timeout: Timeout) -> Result<Vec<u8>>;
    fn recv_batch(&mut self, max: usize, timeout: Timeout, f: impl FnMut(&[u8])) -> Result<usize>;
    fn peek_raw(&mut self, timeout: Timeout) -> Result<(*const u8, usize, u64)>;
    fn release_raw(&mut self, pos: u64, len: usize);
    /// `max >= 1`; returns the position of the first message seen and how many.
    fn peek_batch_raw(&mut self, max: usize, timeout: Timeout, f: impl FnMut(&[u8])) -> Result<(u64, usize)>;
    /// Settles a `peek_batch_raw` of `seen >= 1` messages.
    fn release_batch_raw(&mut self, pos: u64, seen: usize, consume: usize);
    fn peek_consumes(&self) -> bool;
    fn geometry(&self) -> Option<Geometry>;
    fn queued(&self) -> Option<u64>;
    fn capacity(&self) -> Option<u64>;
    fn fd(&self) -> BorrowedFd<'_>;
}

/// A sending end of either kind.
// The ring end is the larger and stays inline (here and in `Rx`): boxing it would put a
// pointer chase on every message of the path that matters most (the fallbacks' own system
// calls dwarf it).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Tx {
    Ring(RingSender),
    Fallback(FallbackTx),
}

/// A receiving end of either kind.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Rx {
    Ring(RingReceiver),
    Fallback(FallbackRx),
}

/// `dispatch!(inner, Tx | Rx, end => expr)`: evaluates `expr` with `end` bound to the end
/// that `inner` (a `Tx` / `Rx`, or a reference to one) holds.
macro_rules! dispatch {
    ($inner:expr, $kind:ident, $end:ident => $body:expr) => {
        match $inner {
            $crate::channel::end::$kind::Ring($end) => $body,
            $crate::channel::end::$kind::Fallback($end) => $body,
        }
    };
}
pub(crate) use dispatch;

impl From<RingSender> for Tx {
    fn from(e: RingSender) -> Tx {
        Tx::Ring(e)
    }
}

impl From<RingReceiver> for Rx {
    fn from(e: RingReceiver) -> Rx {
        Rx::Ring(e)
    }
}

impl From<FallbackTx> for Tx {
    fn from(e: FallbackTx) -> Tx {
        Tx::Fallback(e)
    }
}

impl From<FallbackRx> for Rx {
    fn from(e: FallbackRx) -> Rx {
        Rx::Fallback(e)
    }
}

impl SendEnd for RingSender {
    fn try_clone(&self) -> Result<Self> {
        RingSender::try_clone(self)
    }
    fn max_msg_size(&self) -> usize {
        RingSender::max_msg_size(self)
    }
    fn stats(&self) -> Stats {
        RingSender::stats(self)
    }
    #[inline(always)]
    fn send_with_timeout(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        RingSender::send_with_timeout(self, msg, timeout)
    }
    fn send_batch<M: AsRef<[u8]>>(&mut self, msgs: &[M], timeout: Timeout) -> Result<usize> {
        RingSender::send_batch(self, msgs, timeout)
    }
    #[inline]
    fn reserve_raw(&mut self, timeout: Timeout) -> Result<(*mut u8, u64)> {
        RingSender::reserve_raw(self, timeout)
    }
    #[inline]
    fn commit_raw(&mut self, pos: u64, len: usize) -> Result<()> {
        RingSender::commit_raw(self, pos, len)
    }
    fn cancel_raw(&mut self, pos: u64) {
        RingSender::cancel_raw(self, pos)
    }
    fn geometry(&self) -> Option<Geometry> {
        Some(RingSender::geometry(self))
    }
    fn queued(&self) -> Option<u64> {
        Some(RingSender::queued(self))
    }
    fn capacity(&self) -> Option<u64> {
        Some(RingSender::geometry(self).capacity)
    }
    fn fd(&self) -> BorrowedFd<'_> {
        RingSender::fd(self)
    }
}

impl RecvEnd for RingReceiver {
    fn try_clone(&self) -> Result<Self> {
        RingReceiver::try_clone(self)
    }
    fn max_msg_size(&self) -> usize {
        RingReceiver::max_msg_size(self)
    }
    fn stats(&self) -> Stats {
        RingReceiver::stats(self)
    }
    #[inline(always)]
    fn recv_with_timeout(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        RingReceiver::recv_with_timeout(self, buf, timeout)
    }
    fn recv_vec_with_timeout(&mut self, timeout: Timeout) -> Result<Vec<u8>> {
        RingReceiver::recv_vec_with_timeout(self, timeout)
    }
    fn recv_batch(&mut self, max: usize, timeout: Timeout, f: impl FnMut(&[u8])) -> Result<usize> {
        RingReceiver::recv_batch(self, max, timeout, f)
    }
    #[inline]
    fn peek_raw(&mut self, timeout: Timeout) -> Result<(*const u8, usize, u64)> {
        RingReceiver::peek_raw(self, timeout)
    }
    #[inline]
    fn release_raw(&mut self, pos: u64, len: usize) {
        RingReceiver::release_raw(self, pos, len)
    }
    fn peek_batch_raw(&mut self, max: usize, timeout: Timeout, f: impl FnMut(&[u8])) -> Result<(u64, usize)> {
        RingReceiver::peek_batch_raw(self, max, timeout, f)
    }
    fn release_batch_raw(&mut self, pos: u64, seen: usize, consume: usize) {
        RingReceiver::release_batch_raw(self, pos, seen, consume)
    }
    fn peek_consumes(&self) -> bool {
        RingReceiver::is_mpmc(self)
    }
    fn geometry(&self) -> Option<Geometry> {
        Some(RingReceiver::geometry(self))
    }
    fn queued(&self) -> Option<u64> {
        Some(RingReceiver::queued(self))
    }
    fn capacity(&self) -> Option<u64> {
        Some(RingReceiver::geometry(self).capacity)
    }
    fn fd(&self) -> BorrowedFd<'_> {
        RingReceiver::fd(self)
    }
}

impl SendEnd for FallbackTx {
    fn try_clone(&self) -> Result<Self> {
        FallbackTx::try_clone(self)
    }
    fn max_msg_size(&self) -> usize {
        FallbackTx::max_msg_size(self)
    }
    fn stats(&self) -> Stats {
        FallbackTx::stats(self)
    }
    fn send_with_timeout(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        FallbackTx::send_with_timeout(self, msg, timeout)
    }
    fn send_batch<M: AsRef<[u8]>>(&mut self, msgs: &[M], timeout: Timeout) -> Result<usize> {
        FallbackTx::send_batch(self, msgs, timeout)
    }
    fn reserve_raw(&mut self, timeout: Timeout) -> Result<(*mut u8, u64)> {
        FallbackTx::reserve_raw(self, timeout)
    }
    fn commit_raw(&mut self, pos: u64, len: usize) -> Result<()> {
        FallbackTx::commit_raw(self, pos, len)
    }
    fn cancel_raw(&mut self, _pos: u64) {}
    fn geometry(&self) -> Option<Geometry> {
        None
    }
    fn queued(&self) -> Option<u64> {
        FallbackTx::queued(self)
    }
    fn capacity(&self) -> Option<u64> {
        FallbackTx::capacity(self)
    }
    fn fd(&self) -> BorrowedFd<'_> {
        FallbackTx::fd(self)
    }
}

impl RecvEnd for FallbackRx {
    fn try_clone(&self) -> Result<Self> {
        FallbackRx::try_clone(self)
    }
    fn max_msg_size(&self) -> usize {
        FallbackRx::max_msg_size(self)
    }
    fn stats(&self) -> Stats {
        FallbackRx::stats(self)
    }
    fn recv_with_timeout(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        FallbackRx::recv_with_timeout(self, buf, timeout)
    }
    fn recv_vec_with_timeout(&mut self, timeout: Timeout) -> Result<Vec<u8>> {
        FallbackRx::recv_vec_with_timeout(self, timeout)
    }
    fn recv_batch(&mut self, max: usize, timeout: Timeout, f: impl FnMut(&[u8])) -> Result<usize> {
        FallbackRx::recv_batch(self, max, timeout, f)
    }
    fn peek_raw(&mut self, timeout: Timeout) -> Result<(*const u8, usize, u64)> {
        FallbackRx::peek_raw(self, timeout)
    }
    fn release_raw(&mut self, pos: u64, len: usize) {
        FallbackRx::release_raw(self, pos, len)
    }
    fn peek_batch_raw(&mut self, max: usize, timeout: Timeout, f: impl FnMut(&[u8])) -> Result<(u64, usize)> {
        FallbackRx::peek_batch_raw(self, max, timeout, f)
    }
    fn release_batch_raw(&mut self, pos: u64, seen: usize, consume: usize) {
        FallbackRx::release_batch_raw(self, pos, seen, consume)
    }
    fn peek_consumes(&self) -> bool {
        false
    }
    fn geometry(&self) -> Option<Geometry> {
        None
    }
    fn queued(&self) -> Option<u64> {
        FallbackRx::queued(self)
    }
    fn capacity(&self) -> Option<u64> {
        FallbackRx::capacity(self)
    }
    fn fd(&self) -> BorrowedFd<'_> {
        FallbackRx::fd(self)
    }
}
