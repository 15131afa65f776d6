//! Regions: making, validating, mapping and removing the memory a ring lives in, and
//! initialising a ring in a fresh one.
//!
//! | file | owns |
//! |---|---|
//! | `init` | [`init_ring`]: header, slots, bells, then READY (every kind of region) |
//! | `heap` | [`HeapRegion`]: a ring in heap memory (in-process rings, Miri, loom) |
//! | `shm` | [`ShmRegion`]: named objects (create with the init lock, open) and memfds |
//! | `cleanup` | [`remove`] (the cleanup lock and the identity check) and [`unlink`] |
//! | `name` | [`validate_name`] and where named objects live |

mod cleanup;
mod heap;
mod init;
mod name;
pub(crate) mod shm;

pub use cleanup::{remove, unlink, CLEANUP_LOCK_BYTE, CLEANUP_WAIT, INIT_LOCK_BYTE};
pub use heap::HeapRegion;
pub use init::init_ring;
pub use name::{validate_name, MAX_NAME_LEN, SHM_DIR};
pub use shm::{anonymous, create, open_perm, ShmRegion};
