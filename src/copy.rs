//! The payload copy of the ring algorithms (`spsc`, `mpmc`) and the ring's receiving end: a
//! `memcpy` that is cheaper than libc's for the small messages a ring mostly carries. Imports
//! nothing of the crate.

/// Copies `src` into the start of `dst` (which must be at least as long). Messages of up to
/// 16 bytes are copied with two overlapping loads and stores instead of a call into libc's
/// `memmove`, which costs more than the whole rest of a small send.
#[inline(always)]
pub fn copy_to(dst: &mut [u8], src: &[u8]) {
    assert!(src.len() <= dst.len(), "copy_to: destination too short");
    // SAFETY: both slices are valid for src.len() bytes and cannot overlap (&mut and &).
    unsafe { copy_bytes(src.as_ptr(), dst.as_mut_ptr(), src.len()) }
}

/// Raw form of [`copy_to`].
///
/// # Safety
/// `src` must be valid for `len` reads and `dst` for `len` writes, and they must not overlap.
#[inline(always)]
pub unsafe fn copy_bytes(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: every access below is within [0, len) of src and dst (the caller's contract):
    // for 8 <= len <= 16 the two 8-byte windows are [0, 8) and [len - 8, len), and likewise
    // for 4-byte windows; unaligned reads and writes are used throughout.
    unsafe {
        if len > 16 {
            core::ptr::copy_nonoverlapping(src, dst, len);
        } else if len >= 8 {
            let a = (src as *const u64).read_unaligned();
            let b = (src.add(len - 8) as *const u64).read_unaligned();
            (dst as *mut u64).write_unaligned(a);
            (dst.add(len - 8) as *mut u64).write_unaligned(b);
        } else if len >= 4 {
            let a = (src as *const u32).read_unaligned();
            let b = (src.add(len - 4) as *const u32).read_unaligned();
            (dst as *mut u32).write_unaligned(a);
            (dst.add(len - 4) as *mut u32).write_unaligned(b);
        } else {
            for i in 0..len {
                *dst.add(i) = *src.add(i);
            }
        }
    }
}

#[cfg(test)]
mod examples {
    //! What the items above do, shown as tests (their module is not public API, so these
    //! are unit tests, not doc examples).

    #[test]
    fn copy_to() {
        let mut dst = [0u8; 8];
        crate::copy::copy_to(&mut dst, b"abcde");
        assert_eq!(&dst[..5], b"abcde");
    }
}
