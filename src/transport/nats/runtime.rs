//! The tokio glue: one current-thread runtime per process on a background thread
//! (`ipcring-nats`), the connection to a server, and the eventfds that carry readiness out of
//! the runtime to the blocking side.

use super::config::ATTEMPT;
use crate::error::{Error, Result};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;
use tokio::runtime::Handle;

struct Rt {
    pid: u32,
    handle: Handle,
}

static RT: Mutex<Option<Rt>> = Mutex::new(None);

/// The process's runtime (started now if this process has none: the first open, or the first
/// in a child after `fork`).
pub(super) fn runtime() -> Result<Handle> {
    let mut g = RT.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if let Some(rt) = g.as_ref().filter(|rt| rt.pid == pid) {
        return Ok(rt.handle.clone());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            op: "start the nats:// runtime",
            source,
        })?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("ipcring-nats".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))
        .map_err(|source| Error::Io {
            op: "start the nats:// runtime thread",
            source,
        })?;
    // A parent's runtime inherited across fork has no thread here: it is forgotten, not dropped.
    if let Some(old) = g.take() {
        std::mem::forget(old);
    }
    *g = Some(Rt {
        pid,
        handle: handle.clone(),
    });
    Ok(handle)
}

pub(super) fn nats_err(op: &'static str, e: impl fmt::Display) -> Error {
    Error::Io {
        op,
        source: io::Error::other(e.to_string()),
    }
}

pub(super) fn eventfd() -> Result<OwnedFd> {
    crate::sys::ready::eventfd_new(0)
}

/// Makes `fd` (an eventfd) readable or not.
pub(super) fn set_ready(fd: &OwnedFd, ready: bool) {
    if ready {
        // A saturated counter (EAGAIN) is readable all the same.
        let _ = crate::sys::ready::eventfd_add(fd.as_raw_fd());
    } else {
        crate::sys::ready::drain(fd.as_raw_fd());
    }
}

pub(super) async fn connect(server: &str) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .connection_timeout(ATTEMPT)
        .name("ipcring")
        .connect(server)
        .await
        .map_err(|e| Error::Io {
            op: "connect to the NATS server",
            source: io::Error::new(io::ErrorKind::ConnectionRefused, format!("{server}: {e}")),
        })
}
