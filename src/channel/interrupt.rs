//! [`Interrupter`]: wakes one end's blocked call from another thread.

use crate::ring::RingInterrupter;
use crate::sys::intr::Wake;
use std::sync::Arc;

/// Wakes a blocked call of one [`Sender`](crate::channel::Sender) or [`Receiver`](crate::channel::Receiver)
/// from another thread, for a service's shutdown path or a language binding's Ctrl-C: the
/// call returns [`Error::Interrupted`](crate::error::Error::Interrupted), having sent or taken
/// nothing. Made by [`Sender::interrupter`](crate::channel::Sender::interrupter) /
/// [`Receiver::interrupter`](crate::channel::Receiver::interrupter); cheap to clone, `Send` and `Sync`.
///
/// # The rule
///
/// [`interrupt`](Self::interrupt) raises one token of that end (raising a raised token
/// changes nothing; tokens do not accumulate). The token is taken by the first call of that
/// end that is about to sleep, or is sleeping, while it is raised: the call blocked now, or
/// if none is, the next call that would have to wait. That call returns `Interrupted`, and
/// the token is lowered. A call that completes without waiting (a message or room was there,
/// or `Timeout::NonBlocking`, or a deadline already past) neither sees nor takes the token.
/// A batch that had already moved messages when the token was taken returns the count, as it
/// does when its timeout ends. Only the end that made the interrupter is concerned: a clone
/// (`try_clone`) has its own.
///
/// # Examples
///
/// ```
/// use ipcring::{Error, Timeout};
/// let (tx, mut rx) = ipcring::pair_at("pipe://")?;
/// let stop = rx.interrupter()?;
/// let t = std::thread::spawn(move || rx.recv_vec_with_timeout(Timeout::Forever).map(|_| rx));
/// stop.interrupt();
/// let r = t.join().unwrap();
/// assert!(matches!(r, Err(Error::Interrupted)));
/// drop(tx);
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Interrupter(Imp);

#[derive(Debug, Clone)]
enum Imp {
    Ring(RingInterrupter),
    Fallback(Arc<Wake>),
}

impl Interrupter {
    pub(crate) fn ring(r: RingInterrupter) -> Interrupter {
        Interrupter(Imp::Ring(r))
    }

    pub(crate) fn fallback(w: Arc<Wake>) -> Interrupter {
        Interrupter(Imp::Fallback(w))
    }

    /// Raises the end's token and wakes its blocked call, if any (see [the rule](Self#the-rule)).
    /// Never blocks; callable from any thread, or a signal-handling thread. On the ring it
    /// wakes every call asleep on the same bell, in every process: the others re-check and
    /// sleep again.
    pub fn interrupt(&self) {
        match &self.0 {
            Imp::Ring(r) => r.interrupt(),
            Imp::Fallback(w) => w.raise(),
        }
    }
}
