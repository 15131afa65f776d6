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
//! | `bell` | the doorbell FIFOs beside a named ring (the handles' descriptors listen on them) |

pub mod bell;
mod cleanup;
mod heap;
mod init;
mod name;
pub(crate) mod shm;

pub use cleanup::{remove, unlink, INIT_LOCK_BYTE};
pub use heap::HeapRegion;
pub use init::init_ring;
pub use name::{validate_name, SHM_DIR};
pub use name::MAX_NAME_LEN;
pub use shm::{anonymous, create, open_perm, ShmRegion};
