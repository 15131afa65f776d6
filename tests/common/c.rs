//! Building and running C against the library these tests were built with.
//!
//! `cargo test --workspace` builds `libipcring.so`/`.a` (the `ipcring-capi` crate) next to the
//! test binaries (`target/PROFILE/deps`)
//! without copying them up, so the tests install exactly those files with the project's own
//! `scripts/install.sh --from DIR --prefix target/PROFILE/c-stage` — every C test goes through
//! the install a C user runs — and build against that prefix: `-I PREFIX/include`,
//! `-L PREFIX/lib` with an rpath, `-lipcring`. An flock serialises staging and `make` across
//! test binaries run in parallel (cargo-nextest).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root (the workspace's: these helpers serve the tests of the `ipcring`,
/// `ipcring-capi` and `ipcring-cli` crates alike).
pub fn repo() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("include/ipcring.h").is_file())
        .unwrap_or(here)
        .to_path_buf()
}

/// `target/PROFILE/deps`: where cargo put this test binary and the library it was built with.
pub fn deps_dir() -> PathBuf {
    std::env::current_exe()
        .expect("current_exe")
        .parent()
        .expect("test binary has a directory")
        .to_path_buf()
}

/// `target/PROFILE`.
pub fn profile_dir() -> PathBuf {
    deps_dir().parent().expect("deps has a parent").to_path_buf()
}

/// An exclusive flock on `target/PROFILE/c-build.lock`, held until dropped.
pub struct BuildLock(File);

impl BuildLock {
    pub fn take() -> BuildLock {
        let f = File::create(profile_dir().join("c-build.lock")).expect("create lock file");
        // SAFETY: flock on an fd we own; blocks until the lock is ours.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
        BuildLock(f)
    }
}

/// Runs `cmd`, panicking with its output if it fails to start or exits non-zero.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The install prefix holding this build of the library (installed once per test binary).
pub fn stage() -> PathBuf {
    static STAGE: OnceLock<PathBuf> = OnceLock::new();
    STAGE
        .get_or_init(|| {
            let prefix = profile_dir().join("c-stage");
            for lib in ["libipcring.so", "libipcring.a"] {
                assert!(
                    deps_dir().join(lib).is_file(),
                    "{lib} is not in {}: the C library is the ipcring-capi crate; build the whole \
                     workspace (cargo test --workspace, as scripts/test-all.sh does) or \
                     `cargo build -p ipcring-capi` with this profile first",
                    deps_dir().display()
                );
            }
            let _lock = BuildLock::take();
            run_ok(
                Command::new("bash")
                    .arg(repo().join("scripts/install.sh"))
                    .arg("--from")
                    .arg(deps_dir())
                    .arg("--prefix")
                    .arg(&prefix),
            );
            prefix
        })
        .clone()
}

/// The C compiler: `$CC`, else `cc`.
pub fn cc_name() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

/// Compiles the C sources `srcs` into the executable `out` against the staged library with
/// `-Wall -Wextra -Werror` and the `extra` flags; returns `out`.
pub fn cc(srcs: &[&Path], out: &Path, extra: &[&str]) -> PathBuf {
    let prefix = stage();
    let lib = prefix.join("lib");
    let _lock = BuildLock::take();
    run_ok(
        Command::new(cc_name())
            .args(["-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Werror"])
            .args(extra)
            .arg(format!("-I{}", prefix.join("include").display()))
            .args(srcs)
            .arg("-o")
            .arg(out)
            .arg(format!("-L{}", lib.display()))
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-lipcring"),
    );
    out.to_path_buf()
}

/// Builds every program of `c-examples/` with its own Makefile against the staged library,
/// into `target/PROFILE/c-examples`; returns that directory.
pub fn make_examples() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let prefix = stage();
            let out = profile_dir().join("c-examples");
            let _lock = BuildLock::take();
            run_ok(
                Command::new("make")
                    .arg("-C")
                    .arg(repo().join("c-examples"))
                    .arg(format!("IPCRING={}", prefix.display()))
                    .arg(format!("O={}", out.display()))
                    .arg(format!("CC={}", cc_name())),
            );
            out
        })
        .clone()
}
