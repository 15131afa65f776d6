//! A full `/dev/shm` is an error at create (`NoSpace`), never a SIGBUS later: the region's
//! memory is reserved with `posix_fallocate` when the ring is made.
//!
//! The test mounts a 1 MiB tmpfs over `/dev/shm` in a private mount namespace of a forked
//! child (it needs CAP_SYS_ADMIN, which CI's root has). Where the mount is not allowed it says
//! so and passes without checking; the manual check is then:
//!
//! ```sh
//! sudo unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs /dev/shm && \
//!     cargo test --release --test full_shm -- --nocapture'
//! ```
//! (inside that namespace the test's own mount also works.)

mod common;

use common::{fork, serial};
use ipcring::{Error, Ring, RingOptions, Timeout};

/// Exit status of a child that could not set up the small tmpfs.
const CANNOT_MOUNT: i32 = 77;

fn small_shm() -> bool {
    // SAFETY: unshare and mount in this forked, single-threaded child only; the strings are
    // valid C strings.
    unsafe {
        libc::unshare(libc::CLONE_NEWNS) == 0
            && libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
            && libc::mount(
                c"tmpfs".as_ptr(),
                c"/dev/shm".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                c"size=1m".as_ptr().cast(),
            ) == 0
    }
}

#[test]
fn a_full_dev_shm_is_no_space_at_create_not_sigbus_later() {
    let _s = serial();
    let child = fork("small tmpfs", || {
        if !small_shm() {
            // SAFETY: ending this forked child with a status the parent recognises.
            unsafe { libc::_exit(CANNOT_MOUNT) };
        }
        // The small filesystem is really the one in place.
        // SAFETY: statvfs is plain data, filled by the call.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: the path is a valid C string; st a valid out-pointer.
        assert_eq!(unsafe { libc::statvfs(c"/dev/shm".as_ptr(), &mut st) }, 0);
        assert_eq!(st.f_blocks * st.f_frsize, 1 << 20, "/dev/shm is not the 1 MiB tmpfs");
        // A ring bigger than the whole filesystem.
        let big = RingOptions::new().capacity(1024).msg_size(4096);
        match Ring::create("ipcring-full-big", &big) {
            Err(Error::NoSpace { size }) => assert!(size > 1 << 20, "size {size}"),
            other => panic!("a 4 MiB ring on a 1 MiB tmpfs: {other:?}"),
        }
        assert!(
            std::fs::metadata("/dev/shm/ipcring-full-big").is_err(),
            "the refused ring left its object behind"
        );
        // One that fits (about 600 KiB), then a second that no longer does.
        let fits = RingOptions::new().capacity(128).msg_size(4096);
        let ring = Ring::create("ipcring-full-a", &fits).expect("a ring that fits");
        match Ring::create("ipcring-full-b", &fits) {
            Err(Error::NoSpace { .. }) => {}
            other => panic!("a second 600 KiB ring on a 1 MiB tmpfs: {other:?}"),
        }
        assert!(std::fs::metadata("/dev/shm/ipcring-full-b").is_err());
        // Every byte of the first is backed: fill every slot to the last byte and read it
        // all back (a page that was not reserved would be a SIGBUS here, killing the child).
        let mut tx = ring.sender().unwrap();
        let mut rx = ring.receiver().unwrap();
        for round in 0..3u8 {
            let mut n = 0u8;
            while tx.try_send(&[n ^ round; 4096]).is_ok() {
                n = n.wrapping_add(1);
            }
            assert_eq!(n, 128);
            for k in 0..128u8 {
                let m = rx.recv_vec_with_timeout(Timeout::NonBlocking).unwrap();
                assert_eq!(m, vec![k ^ round; 4096]);
            }
        }
        drop((tx, rx));
        Ring::unlink("ipcring-full-a").unwrap();
    });
    let exit = child.wait(common::HANG_BOUND);
    if libc::WIFEXITED(exit.status) && libc::WEXITSTATUS(exit.status) == CANNOT_MOUNT {
        println!(
            "SKIPPED: cannot mount a tmpfs in a private namespace here (see the file's docs for the manual check)"
        );
        return;
    }
    assert!(exit.success(), "{}", exit.describe());
}
