//! Iterating over a receiver: `for msg in rx.iter()` (or `for msg in &mut rx`).

use super::receiver::Receiver;
use crate::error::{Error, Result};
use std::iter::FusedIterator;

/// A blocking iterator over a [`Receiver`]'s messages: each step waits for the next message
/// and yields it as `Ok(Vec<u8>)`; iteration ends at end of stream. Any other failure is
/// yielded once as `Err` and ends the iteration, so a loop cannot swallow a real error (as
/// `while let Ok(m) = rx.recv_vec()` would).
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
/// tx.send(b"a")?;
/// tx.send(b"b")?;
/// drop(tx); // the last sender: end of stream after the two messages
/// let mut got = Vec::new();
/// for msg in rx.iter() {
///     got.push(msg?);
/// }
/// assert_eq!(got, [b"a".to_vec(), b"b".to_vec()]);
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Iter<'a> {
    rx: &'a mut Receiver,
    done: bool,
}

impl Receiver {
    /// A blocking iterator over the messages, ending at end of stream (see [`Iter`]).
    pub fn iter(&mut self) -> Iter<'_> {
        Iter { rx: self, done: false }
    }
}

impl Iterator for Iter<'_> {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Result<Vec<u8>>> {
        if self.done {
            return None;
        }
        match self.rx.recv_vec() {
            Ok(msg) => Some(Ok(msg)),
            Err(Error::EndOfStream) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl FusedIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a mut Receiver {
    type Item = Result<Vec<u8>>;
    type IntoIter = Iter<'a>;

    /// `for msg in &mut rx`: the same as [`Receiver::iter`].
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}
