//! `pipe://`: an anonymous pipe shared across `fork`, carrying the framed messages of
//! [`super::stream`].

use super::stream::{check_msg_size, FdReceiver, FdSender};
use super::{MsgReceiver, MsgSender, OpenSpec, Ops};
use crate::error::{Error, Result};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// `pipe://` in the dispatch table: anonymous only (a pair), nothing to open or remove.
pub(crate) const OPS: Ops = Ops {
    scheme: "pipe",
    open_sender: None,
    open_receiver: None,
    pair: Some(open_pair),
    unlink: Err("a pipe has no name to remove"),
    remove: Err("a pipe has no name to remove"),
};

fn open_pair(spec: &OpenSpec) -> Result<(Box<dyn MsgSender>, Box<dyn MsgReceiver>)> {
    spec.refuse_ring_options(false)?;
    let (tx, rx) = pair(spec.msg_size())?;
    Ok((Box::new(tx), Box::new(rx)))
}

/// `pipe://`: an anonymous pipe (`pipe2(O_CLOEXEC | O_NONBLOCK)`) as a (sender, receiver)
/// pair, to share with children across `fork` (each side drops the end it does not use, as
/// with pipe(2): the receiver sees end of stream only once every copy of the sender is gone).
///
/// # Errors
///
/// [`Error::InvalidOption`] for a `msg_size` above `u32::MAX`; [`Error::Io`] if `pipe2`
/// fails.
pub fn pair(msg_size: usize) -> Result<(FdSender, FdReceiver)> {
    check_msg_size(msg_size)?;
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(Error::last_os("pipe2"));
    }
    // SAFETY: pipe2 just returned these two descriptors; nothing else owns them.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((FdSender::new(w, msg_size)?, FdReceiver::new(r, msg_size)?))
}

#[cfg(all(test, not(miri)))] // real sockets, pipes, shm objects or /proc: foreign calls Miri cannot run
mod examples {
    //! What the items above do, shown as tests (their module is not public API, so these
    //! are unit tests, not doc examples).

    #[test]
    fn pair() -> crate::error::Result<()> {
        use crate::error::Error;
        use crate::timeout::Timeout;
        use crate::transport::pipe;
        let (mut tx, mut rx) = pipe::pair(64)?;
        tx.send(b"hello", Timeout::NonBlocking)?;
        let mut buf = [0u8; 64];
        assert_eq!(rx.recv(&mut buf, Timeout::NonBlocking)?, 5);
        assert_eq!(&buf[..5], b"hello");
        drop(tx);
        assert!(matches!(rx.recv(&mut buf, Timeout::Forever), Err(Error::EndOfStream)));
        Ok(())
    }
}
