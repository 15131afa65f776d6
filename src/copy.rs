//! The payload copy of the ring algorithms (`spsc`, `mpmc`) and the ring's receiving end: a
//! `memcpy` that is cheaper than libc's for the small messages a ring mostly carries. Imports
//! nothing of the crate.

/// Copies `src` into the start of `dst` (which must be at least as long). Messages of up to
/// 64 bytes are copied with two or four overlapping loads and stores (of 4, 8 or 16 bytes)
/// instead of a call into libc's `memmove`, which costs more than the whole rest of a small
/// send.
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
    // for 8 <= len <= 16 the two 8-byte windows are [0, 8) and [len - 8, len), likewise for
    // the 4- and 16-byte windows, and for 32 < len <= 64 the four 16-byte windows start at
    // 0, 16, len - 32 and len - 16; unaligned reads and writes are used throughout.
    unsafe {
        if len <= 16 {
            if len >= 8 {
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
        } else if len <= 32 {
            let a = (src as *const u128).read_unaligned();
            let b = (src.add(len - 16) as *const u128).read_unaligned();
            (dst as *mut u128).write_unaligned(a);
            (dst.add(len - 16) as *mut u128).write_unaligned(b);
        } else if len <= 64 {
            // The first 32 bytes and the last 32 (overlapping): four 16-byte moves.
            let a = (src as *const u128).read_unaligned();
            let b = (src.add(16) as *const u128).read_unaligned();
            let c = (src.add(len - 32) as *const u128).read_unaligned();
            let d = (src.add(len - 16) as *const u128).read_unaligned();
            (dst as *mut u128).write_unaligned(a);
            (dst.add(16) as *mut u128).write_unaligned(b);
            (dst.add(len - 32) as *mut u128).write_unaligned(c);
            (dst.add(len - 16) as *mut u128).write_unaligned(d);
        } else {
            core::ptr::copy_nonoverlapping(src, dst, len);
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

    /// Every length through each branch (0-3 bytewise, 4-7, 8-16, 17-32, 33-64, then libc)
    /// and every alignment of source and destination: the bytes copied are the source's, and
    /// not one byte around the destination changes.
    #[test]
    fn copy_bytes_every_length_and_alignment() {
        let src: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..=140 {
            for (so, dof) in [(0, 0), (1, 0), (0, 3), (5, 9), (8, 8), (15, 1)] {
                let mut dst = [0xAAu8; 180];
                // SAFETY: so + len <= 155 < 200 and 16 + dof + len <= 165 < 180; two distinct buffers.
                unsafe { crate::copy::copy_bytes(src[so..].as_ptr(), dst[16 + dof..].as_mut_ptr(), len) };
                assert_eq!(&dst[16 + dof..16 + dof + len], &src[so..so + len], "len {len}");
                assert!(dst[..16 + dof].iter().all(|&b| b == 0xAA), "before, len {len}");
                assert!(dst[16 + dof + len..].iter().all(|&b| b == 0xAA), "after, len {len}");
            }
        }
    }
}
