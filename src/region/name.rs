//! Names of shared-memory objects: the rules, checked before any system call (one optional
//! leading `/`, then 1..=240 bytes with no other `/` and no NUL, not `.` or `..`, and not ending
//! in a doorbell's suffix, `.bell-rx` or `.bell-tx`), and
//! where the objects live.

use crate::error::{Error, Result};
use std::ffi::CString;

/// The longest name accepted, not counting the leading `/`: the kernel's 255 less room for
/// the doorbells' suffixes (`region::bell`).
pub const MAX_NAME_LEN: usize = 240;

/// Where the kernel's shared-memory objects live (`shm_open("/NAME")` is `SHM_DIR/NAME`).
pub const SHM_DIR: &str = "/dev/shm";

/// Validates a ring name and returns it in the form `shm_open` takes (`/NAME`).
pub fn validate_name(name: &str) -> Result<CString> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() {
        return bad("empty");
    }
    if bare.len() > MAX_NAME_LEN {
        return bad("longer than 240 bytes");
    }
    if super::bell::ring_of(bare).is_some() {
        return bad("names ending in .bell-rx or .bell-tx are the rings' doorbells");
    }
    if bare.contains('/') {
        return bad("contains '/' after the leading one");
    }
    if bare.contains('\0') {
        return bad("contains a NUL byte");
    }
    if bare == "." || bare == ".." {
        return bad("'.' and '..' are not object names");
    }
    Ok(CString::new(format!("/{bare}")).expect("NUL excluded above"))
}

#[cfg(test)]
mod examples {
    //! What the items above do, shown as tests (their module is not public API, so these
    //! are unit tests, not doc examples).

    #[test]
    fn validate_name() {
        assert_eq!(crate::region::validate_name("jobs").unwrap().to_str().unwrap(), "/jobs");
        assert_eq!(crate::region::validate_name("/jobs").unwrap().to_str().unwrap(), "/jobs");
        assert!(crate::region::validate_name("a/b").is_err());
        assert!(crate::region::validate_name("").is_err());
    }
}
