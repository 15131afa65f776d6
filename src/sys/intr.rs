//! The interrupt token of one end ([`Wake`]), and the per-thread note of which token the
//! fallback transports' descriptor waits ([`super::fd::poll`]) must watch.
//!
//! A [`Wake`] is a flag plus, once asked for ([`Wake::arm_fd`]), an `eventfd`. Raising it sets
//! the flag and, if the eventfd exists, adds 1 to it, so that a `ppoll` that watches the
//! eventfd beside the transport's own descriptor returns at once. The flag decides; the
//! eventfd only wakes (a stale count costs one spurious look). The ring does not use the
//! eventfd: its ends check the flag before each sleep, and the ring's interrupter rings the
//! bell.
//!
//! The channel layer marks, for the duration of one call of a fallback end, which token
//! that call answers to ([`enter`]); the descriptor waits of the transports then watch it
//! without every transport carrying it. A wait that must not be cut short (finishing a frame
//! already partly written) runs under [`shield`].

use crate::error::{Error, Result};
use crate::timeout::Timeout;
use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// One end's interrupt token: see the module docs.
#[derive(Debug, Default)]
pub struct Wake {
    flag: AtomicBool,
    efd: OnceLock<OwnedFd>,
}

impl Wake {
    /// A lowered token, without an eventfd.
    pub fn new() -> Arc<Wake> {
        Arc::new(Wake::default())
    }

    /// Makes the eventfd if there is none yet (the first interrupter of a fallback end).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if `eventfd` fails (out of descriptors).
    pub fn arm_fd(&self) -> Result<()> {
        if self.efd.get().is_some() {
            return Ok(());
        }
        // SAFETY: eventfd takes no pointers.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(Error::Io {
                op: "eventfd",
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // A racing arm_fd (only possible through a shared `&Wake`) keeps its own; ours closes.
        let _ = self.efd.set(fd);
        Ok(())
    }

    /// The eventfd, once [`Wake::arm_fd`] made it.
    pub fn fd(&self) -> Option<RawFd> {
        self.efd.get().map(AsRawFd::as_raw_fd)
    }

    /// Raises the token and wakes a `ppoll` watching the eventfd.
    pub fn raise(&self) {
        self.flag.store(true, Ordering::SeqCst);
        if let Some(fd) = self.fd() {
            let one: u64 = 1;
            super::count::one();
            // SAFETY: fd is our open eventfd; the buffer is 8 readable bytes. A full counter
            // (EAGAIN) already wakes every poller, so the result does not matter.
            let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
        }
    }

    /// Takes the token if it is raised: true once per raise (a relaxed load first, so a
    /// lowered token costs no read-modify-write).
    #[inline]
    pub fn take(&self) -> bool {
        self.flag.load(Ordering::Relaxed) && self.flag.swap(false, Ordering::SeqCst)
    }

    /// Empties the eventfd's counter (after a `ppoll` reported it readable).
    fn drain(&self) {
        if let Some(fd) = self.fd() {
            let mut v: u64 = 0;
            super::count::one();
            // SAFETY: fd is our open, non-blocking eventfd; v is 8 writable bytes. EAGAIN
            // (already drained) is fine.
            let _ = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Wake>>> = const { RefCell::new(None) };
}

/// Restores the previous token when a call of a fallback end ends.
#[must_use]
pub struct Entered(Option<Option<Arc<Wake>>>);

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(prev) = self.0.take() {
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
}

/// Marks `wake` as the token this thread's descriptor waits answer to, until the guard drops.
/// A token without an eventfd (no interrupter was ever made) is not marked: nothing can
/// raise it, and the call then costs nothing.
pub fn enter(wake: &Arc<Wake>) -> Entered {
    if wake.fd().is_none() {
        return Entered(None);
    }
    Entered(Some(CURRENT.with(|c| c.borrow_mut().replace(wake.clone()))))
}

/// Runs `f` with no token marked: for waits that must finish (the rest of a frame).
pub fn shield<T>(f: impl FnOnce() -> T) -> T {
    let prev = CURRENT.with(|c| c.borrow_mut().take());
    let _restore = Entered(Some(prev));
    f()
}

/// The token marked by [`enter`], if any.
pub(super) fn current() -> Option<Arc<Wake>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Called by [`super::fd::poll`] after `ppoll` reported `efd` readable: drains it and says
/// whether the token was raised (and takes it).
pub(super) fn woken(wake: &Wake) -> bool {
    wake.drain();
    wake.take()
}

/// For the back-off sleeps inside a call (a lazy sender waiting for its receiver to appear),
/// which watch no descriptor: before each step, fails as the sleep would (`WouldBlock`,
/// `TimedOut`), or with [`Error::Interrupted`] if the token this thread's call answers to is
/// raised (it is then taken). So an interrupt reaches such a call within one step (at most
/// 50 ms).
pub fn before_nap(timeout: &Timeout) -> Result<()> {
    timeout.remaining()?;
    if CURRENT.with(|c| c.borrow().as_ref().is_some_and(|w| w.take())) {
        return Err(Error::Interrupted);
    }
    Ok(())
}
