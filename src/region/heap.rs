//! Heap regions: a ring in ordinary heap memory, for in-process rings, Miri and loom models.

use crate::error::{Error, Result};
use crate::kind::Kind;
use crate::layout::{Geometry, Header, RawRing, RecordHeader, SlotHeader, RECORD_ALIGN};
use crate::sync::MODEL;

/// A ring in ordinary heap memory, for in-process rings, Miri and loom models. The memory is
/// initialised exactly as a fresh shared object would be, so the ring code cannot tell.
#[derive(Debug)]
pub struct HeapRegion {
    ptr: *mut u8,
    layout: std::alloc::Layout,
    geom: Geometry,
}

/// Under the model checker, the SPSC record headers of a heap region: one model object per
/// 8 bytes of the data area, in a table after the region (`RawRing::record`); none otherwise.
fn record_table_len(geom: &Geometry) -> u64 {
    if MODEL && geom.kind == Kind::Spsc {
        geom.area() / RECORD_ALIGN
    } else {
        0
    }
}

// SAFETY: the allocation is owned; shared access to it goes through atomics.
unsafe impl Send for HeapRegion {}
// SAFETY: as above.
unsafe impl Sync for HeapRegion {}

impl HeapRegion {
    /// Allocates and initialises a ring of geometry `geom`, published as READY.
    pub fn new(geom: Geometry) -> Result<HeapRegion> {
        let table = record_table_len(&geom) * core::mem::size_of::<RecordHeader>() as u64;
        let layout = std::alloc::Layout::from_size_align((geom.region_size + table) as usize, 4096).map_err(|_| {
            Error::InvalidOption {
                option: "capacity",
                value: geom.capacity,
                reason: "region too large for this process",
            }
        })?;
        // SAFETY: layout has non-zero size (at least the header page).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(Error::NoSpace { size: geom.region_size });
        }
        // SAFETY: ptr is a fresh allocation of region_size bytes (plus the model's record
        // table) aligned to 4096; the header, each MPMC slot header and each entry of the
        // table are written in place at aligned offsets inside it.
        unsafe {
            core::ptr::write(ptr as *mut Header, Header::zeroed());
            if geom.kind == Kind::Mpmc {
                for i in 0..geom.capacity {
                    core::ptr::write(
                        ptr.add((geom.slots_offset + i * geom.slot_size) as usize) as *mut SlotHeader,
                        SlotHeader::zeroed(),
                    );
                }
            }
            let table = ptr.add(geom.region_size as usize) as *mut RecordHeader;
            for i in 0..record_table_len(&geom) as usize {
                core::ptr::write(table.add(i), RecordHeader::zeroed());
            }
        }
        let region = HeapRegion { ptr, layout, geom };
        super::init::init_ring(&region.raw())?;
        Ok(region)
    }

    /// The ring view.
    pub fn raw(&self) -> RawRing {
        // SAFETY: the allocation is region_size bytes, initialised in `new`, and lives as
        // long as self; callers keep self alive (it is held in an Arc by every handle).
        unsafe { RawRing::new(self.ptr, self.geom) }
    }
}

impl Drop for HeapRegion {
    fn drop(&mut self) {
        // SAFETY: drop the in-place values (a no-op for std atomics, frees loom's tracking
        // state), then free the allocation made in `new` with the same layout.
        unsafe {
            core::ptr::drop_in_place(self.ptr as *mut Header);
            if self.geom.kind == Kind::Mpmc {
                for i in 0..self.geom.capacity {
                    core::ptr::drop_in_place(
                        self.ptr
                            .add((self.geom.slots_offset + i * self.geom.slot_size) as usize)
                            as *mut SlotHeader,
                    );
                }
            }
            let table = self.ptr.add(self.geom.region_size as usize) as *mut RecordHeader;
            for i in 0..record_table_len(&self.geom) as usize {
                core::ptr::drop_in_place(table.add(i));
            }
            std::alloc::dealloc(self.ptr, self.layout);
        }
    }
}

// Under the model checker each test runs as a loom model (`sync::model_test`).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::{Kind, WakeBackend};
    use crate::layout::{layout_hash, record_size, ABI_VERSION, HEADER_SIZE, INIT_READY, SLOT_HEADER_SIZE};
    use crate::sync::{model_test, Ordering};

    fn geom() -> Geometry {
        Geometry::new(Kind::Mpmc, WakeBackend::Futex, 8, 100).unwrap()
    }

    #[test]
    fn header_round_trips_and_size_is_checked() {
        model_test(|| {
            let region = HeapRegion::new(geom()).unwrap();
            let raw = region.raw();
            let h = raw.header();
            assert_eq!(h.id.0.init.load(Ordering::Acquire), INIT_READY);
            assert_eq!(Geometry::from_header(h, geom().region_size).unwrap(), geom());
            assert!(matches!(
                Geometry::from_header(h, geom().region_size - 1),
                Err(Error::SizeMismatch { .. })
            ));
            h.id.0.abi_version.store(ABI_VERSION + 1, Ordering::Relaxed);
            assert!(matches!(
                Geometry::from_header(h, geom().region_size),
                Err(Error::AbiMismatch { .. })
            ));
            h.id.0.abi_version.store(ABI_VERSION, Ordering::Relaxed);
            h.id.0.layout_hash.store(layout_hash() ^ 1, Ordering::Relaxed);
            assert!(matches!(
                Geometry::from_header(h, geom().region_size),
                Err(Error::LayoutMismatch { .. })
            ));
        })
    }

    /// A bounded property test: random and bit-flipped identities never panic and are either
    /// rejected with a typed error or describe a geometry consistent with the size given.
    #[test]
    fn hostile_headers_are_typed_errors() {
        model_test(|| {
            let region = HeapRegion::new(geom()).unwrap();
            let raw = region.raw();
            let h = raw.header();
            let id = &h.id.0;
            let good: Vec<u64> = vec![
                id.magic.load(Ordering::Relaxed),
                id.layout_hash.load(Ordering::Relaxed),
                id.capacity.load(Ordering::Relaxed),
                id.msg_size.load(Ordering::Relaxed),
                id.slot_size.load(Ordering::Relaxed),
                id.slots_offset.load(Ordering::Relaxed),
                id.region_size.load(Ordering::Relaxed),
                id.bytes.load(Ordering::Relaxed),
            ];
            let fields = [
                &id.magic,
                &id.layout_hash,
                &id.capacity,
                &id.msg_size,
                &id.slot_size,
                &id.slots_offset,
                &id.region_size,
                &id.bytes,
            ];
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            // Under the model checker every atomic access is a step of the model: a few rounds.
            let rounds = if cfg!(miri) {
                200
            } else if MODEL {
                20
            } else {
                20_000
            };
            for _ in 0..rounds {
                for (f, g) in fields.iter().zip(&good) {
                    f.store(*g, Ordering::Relaxed);
                }
                let k = next();
                let which = (k % fields.len() as u64) as usize;
                let value = match (k >> 8) % 4 {
                    0 => next(),
                    1 => good[which] ^ (1 << (next() % 64)),
                    2 => good[which].wrapping_add(next() % 3).wrapping_sub(1),
                    _ => [0, 1, u64::MAX, 1 << 63][(next() % 4) as usize],
                };
                fields[which].store(value, Ordering::Relaxed);
                id.kind.store((next() % 4) as u32, Ordering::Relaxed);
                let size = if next() % 2 == 0 {
                    geom().region_size
                } else {
                    next() % (1 << 40)
                };
                if let Ok(g) = Geometry::from_header(h, size) {
                    assert_eq!(g.region_size, size);
                    if g.kind == Kind::Mpmc {
                        assert_eq!(g.region_size, g.slots_offset + g.capacity * g.slot_size);
                        assert!(g.capacity >= 1 && g.msg_size + SLOT_HEADER_SIZE <= g.slot_size);
                    } else {
                        assert_eq!(g.region_size, HEADER_SIZE + g.bytes);
                        assert!(g.bytes % 8 == 0 && record_size(g.msg_size) <= g.area());
                    }
                }
            }
        })
    }
}
