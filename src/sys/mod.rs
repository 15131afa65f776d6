//! Every raw system call the library makes, written once: each wrapper carries its SAFETY
//! line, its EINTR policy and its count in [`count`] (so `Stats::syscalls` is exact).
//!
//! | file | owns |
//! |---|---|
//! | `count` | the per-thread system-call counter behind `Stats::syscalls` |
//! | `fd` | descriptor helpers: poll with a deadline, fstat, pread/pwrite in full, flags |
//! | `futex` | shared (never private) FUTEX_WAIT_BITSET / FUTEX_WAKE |
//! | `membarrier` | asymmetric barriers: register once per process, `GLOBAL_EXPEDITED` |
//! | `lock` | OFD locks: take, release, and "held by another open file" (liveness) |
//! | `ready` | the handles' descriptors: epoll sets, pidfds, timerfds, eventfds, doorbell FIFOs |
//! | `sem` | the process-shared `sem_t` wake backend |

pub(crate) mod count;
pub mod fd;
pub mod intr;
pub(crate) mod futex;
pub(crate) mod lock;
#[cfg_attr(ipcring_loom, allow(dead_code))] // the model has its own (`sync::barrier`)
pub(crate) mod membarrier;
pub mod ready;
pub(crate) mod sem;
