//! `membarrier(2)`: the asymmetric barrier of rings whose fences are
//! [`Asymmetric`](crate::kind::FenceMode::Asymmetric) (see `wait`'s module docs for the
//! protocol and the argument).
//!
//! Three commands are used: `MEMBARRIER_CMD_QUERY` (which commands the kernel has),
//! `MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED` (this process asks to receive the barriers of
//! `GLOBAL_EXPEDITED` callers: without it, its threads are not covered) and
//! `MEMBARRIER_CMD_GLOBAL_EXPEDITED` (a full memory barrier on every CPU that runs a thread
//! of a registered process, before the call returns). A process registers once, the first
//! time it maps a ring that uses them ([`register`], a `OnceLock`): registration is per
//! process (the mm), it is inherited by threads and lost at `exec`.
//!
//! EINTR policy: the kernel does not return it for these commands. Each call counts itself
//! in [`count`](super::count).

use std::io;
use std::sync::OnceLock;

/// `MEMBARRIER_CMD_QUERY`: returns the bit mask of supported commands.
const CMD_QUERY: libc::c_int = 0;
/// `MEMBARRIER_CMD_GLOBAL_EXPEDITED`: a barrier on every CPU running a registered process.
const CMD_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
/// `MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED`: this process receives those barriers.
const CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

fn call(cmd: libc::c_int) -> io::Result<libc::c_long> {
    super::count::one();
    // SAFETY: membarrier takes two integers (cmd, flags) and, for these commands, a third
    // (cpu_id) that the kernel ignores unless MEMBARRIER_CMD_FLAG_CPU is set; it touches no
    // memory of ours. An unknown command or a refusal (seccomp, ENOSYS) is an error return.
    let rc = unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_uint, 0 as libc::c_int) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Registers this process for `GLOBAL_EXPEDITED` barriers, once (later calls return the first
/// call's outcome). Fails if the kernel lacks the commands (before Linux 4.16), or if the
/// call is refused (a seccomp profile without `membarrier`: `EPERM` or `ENOSYS`).
///
/// Under `--cfg ipcring_test` the failpoint `fence.register` armed with `fail` makes it fail
/// (`EPERM`) whatever happened before, so a test can play a process that cannot register.
pub fn register() -> io::Result<()> {
    if crate::failpoint::fails(crate::failpoint::FENCE_REGISTER) {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    if cfg!(miri) {
        // Miri emulates futex but not membarrier: its rings use full fences.
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    static REGISTERED: OnceLock<Result<(), i32>> = OnceLock::new();
    let r = REGISTERED.get_or_init(|| {
        let mask = call(CMD_QUERY).map_err(|e| e.raw_os_error().unwrap_or(libc::ENOSYS))?;
        let need = (CMD_GLOBAL_EXPEDITED | CMD_REGISTER_GLOBAL_EXPEDITED) as libc::c_long;
        if mask & need != need {
            return Err(libc::ENOSYS);
        }
        call(CMD_REGISTER_GLOBAL_EXPEDITED).map_err(|e| e.raw_os_error().unwrap_or(libc::ENOSYS))?;
        Ok(())
    });
    r.map_err(io::Error::from_raw_os_error)
}

/// `MEMBARRIER_CMD_GLOBAL_EXPEDITED`: when it returns, every thread of every registered
/// process has run a full memory barrier since the call began (if it was running; a thread
/// that was not running passes one when it is scheduled in). The caller has registered (it
/// mapped an asymmetric ring, which [`register`] allowed). If the call fails nevertheless (it
/// cannot, once registration succeeded, short of a seccomp filter installed since), the
/// barrier's pairing is not guaranteed; the caller then has only its own full fence, and the
/// waits' park slice bounds what a missed wake-up costs.
#[inline]
pub fn global_expedited() {
    let _ = call(CMD_GLOBAL_EXPEDITED);
}
