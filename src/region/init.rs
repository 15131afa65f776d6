//! Initialising a ring in a fresh region: the one step every kind of region (heap, named
//! shm, memfd) shares.

use crate::error::Result;
use crate::kind::Kind;
use crate::layout::{RawRing, INIT_READY};
use crate::sync::Ordering;

/// Writes a fresh, zeroed region's header, prepares slots and bells, and publishes READY
/// last with Release.
pub fn init_ring(raw: &RawRing) -> Result<()> {
    let g = raw.geom();
    let h = raw.header();
    g.write_header(h);
    if g.kind == Kind::Mpmc {
        crate::mpmc::init_slots(raw);
    }
    crate::wait::init_bell(&h.data_bell, g.wake)?;
    crate::wait::init_bell(&h.space_bell, g.wake)?;
    crate::failpoint::hit(crate::failpoint::INIT_BEFORE_READY);
    h.id.0.init.store(INIT_READY, Ordering::Release);
    Ok(())
}
