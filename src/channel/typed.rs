//! Typed messages without `unsafe`: a `T: bytemuck::Pod` travels as its bytes, one value per
//! message.
//!
//! `send_value` sends `bytemuck::bytes_of(value)`; `recv_value` copies a message of exactly
//! `size_of::<T>()` bytes into a fresh `T`, so the alignment of the bytes in the channel never
//! matters (for reading in place with `peek`: a ring's payloads start 8-byte aligned, a
//! fallback's live in a heap buffer aligned for any `u64`). A message of another size is not
//! a `T`: [`Error::MessageSize`] says so, and the message is left where it is except where
//! looking at it takes it (see [`Receiver::peek_consumes`]: an MPMC ring).

use super::receiver::Receiver;
use super::sender::Sender;
use crate::error::{Error, Result};
use crate::timeout::Timeout;
use bytemuck::Pod;
use std::mem::size_of;

impl Sender {
    /// Sends `value` as one message of `size_of::<T>()` bytes, waiting for room.
    ///
    /// # Errors
    ///
    /// As [`send`](Sender::send): [`Error::TooLarge`] if `T` is larger than the channel's
    /// `msg_size`, [`Error::Disconnected`] when every receiver has gone.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    /// #[repr(C)]
    /// struct Tick { seq: u64, price: f64, qty: u32, _pad: u32 }
    ///
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// let tick = Tick { seq: 1, price: 101.25, qty: 7, _pad: 0 };
    /// tx.send_value(&tick)?;
    /// assert_eq!(rx.recv_value::<Tick>()?, tick);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn send_value<T: Pod>(&mut self, value: &T) -> Result<()> {
        self.send(bytemuck::bytes_of(value))
    }

    /// [`send_value`](Sender::send_value) with a timeout ([`Timeout::NonBlocking`]: do not wait).
    ///
    /// # Errors
    ///
    /// As [`send_with_timeout`](Sender::send_with_timeout).
    pub fn send_value_with_timeout<T: Pod>(&mut self, value: &T, timeout: Timeout) -> Result<()> {
        self.send_with_timeout(bytemuck::bytes_of(value), timeout)
    }
}

impl Receiver {
    /// Receives one message of exactly `size_of::<T>()` bytes as a `T`, waiting for one.
    ///
    /// # Errors
    ///
    /// [`Error::MessageSize`] for a message of another size: it stays in the channel (on an
    /// MPMC ring, where looking at a message claims it, it is consumed); otherwise as
    /// [`recv`](Receiver::recv) ([`Error::EndOfStream`] once every sender has gone).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send_value(&[1u32, 2, 3])?;
    /// tx.send(b"odd")?;
    /// assert_eq!(rx.recv_value::<[u32; 3]>()?, [1, 2, 3]);
    /// let err = rx.recv_value::<u64>().unwrap_err();
    /// assert!(matches!(err, ipcring::Error::MessageSize { expected: 8, found: 3 }));
    /// assert_eq!(rx.recv_vec()?, b"odd"); // still there
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn recv_value<T: Pod>(&mut self) -> Result<T> {
        self.recv_value_with_timeout(Timeout::Forever)
    }

    /// [`recv_value`](Receiver::recv_value) with a timeout.
    ///
    /// # Errors
    ///
    /// As [`recv_value`](Receiver::recv_value), plus [`Error::WouldBlock`] /
    /// [`Error::TimedOut`].
    pub fn recv_value_with_timeout<T: Pod>(&mut self, timeout: Timeout) -> Result<T> {
        let want = size_of::<T>();
        let mut value = T::zeroed();
        let slot = self.peek(timeout)?;
        if slot.len() != want {
            // Dropped unreleased: the message stays (or, on MPMC, is consumed: documented).
            return Err(Error::MessageSize {
                expected: want,
                found: slot.len(),
            });
        }
        bytemuck::bytes_of_mut(&mut value).copy_from_slice(&slot);
        slot.release();
        Ok(value)
    }
}
