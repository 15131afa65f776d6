//! The C install, followed as the README's "Using it from C" writes it: `scripts/install.sh`
//! into a fresh prefix that pkg-config does not search, then
//!
//! 1. the lines the install printed (`export PKG_CONFIG_PATH=...`, the rpath note);
//! 2. `cc prog.c $(pkg-config --cflags --libs ipcring) -Wl,-rpath,PREFIX/lib` builds and runs;
//! 3. `cc prog.c $(pkg-config --static --cflags --libs ipcring)` links `libipcring.a`: the
//!    program needs no `libipcring.so` (`readelf -d`) and runs with every `libipcring.so*`
//!    removed from the prefix;
//! 4. the installed `.so` is stripped (no `.debug*` section, `readelf -S`) and still exports
//!    every `ipcring_` function the header declares (`nm -D`).
//!
//! The library installed is the one this test was built with (`--from target/PROFILE/deps`,
//! as every C test does: `tests/common/c.rs`).

#[path = "../../tests/common/mod.rs"]
mod common;

use common::c::{cc_name, deps_dir, repo, run_ok, BuildLock};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory under `target/PROFILE`, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = common::c::profile_dir().join(format!("c-install-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create temp dir");
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `script` with `sh -c` from the repository root, with `PKG_CONFIG_PATH` as the install
/// told, `CC` and `OUT` set.
fn shell(script: &str, pc_path: &Path, out: &Path) {
    run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(repo())
            .env("PKG_CONFIG_PATH", pc_path)
            .env("CC", cc_name())
            .env("OUT", out),
    );
}

/// `readelf -d`'s NEEDED lines.
fn needed(exe: &Path) -> Vec<String> {
    let out = run_ok(Command::new("readelf").arg("-d").arg(exe));
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .map(str::to_owned)
        .collect()
}

/// Runs `exe` (without LD_LIBRARY_PATH); it must exit 0 and print the hello's last words.
fn run_hello(exe: &Path) {
    let out = run_ok(Command::new(exe).env_remove("LD_LIBRARY_PATH"));
    let s = text(&out.stdout);
    assert!(s.contains("then end of stream"), "{}: {s}", exe.display());
}

/// The `ipcring_*` functions the header declares.
fn header_functions() -> BTreeSet<String> {
    let h = std::fs::read_to_string(repo().join("include/ipcring.h")).expect("read header");
    let mut names = BTreeSet::new();
    for (i, _) in h.match_indices("ipcring_") {
        let rest = &h[i..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if rest[end..].starts_with('(') {
            names.insert(rest[..end].to_owned());
        }
    }
    names
}

#[test]
fn install_as_the_readme_says() {
    let tmp = TempDir::new("prefix");
    let prefix = tmp.0.join("prefix");
    let lib = prefix.join("lib");
    let pc_path = lib.join("pkgconfig");
    let out = tmp.0.join("bin");
    std::fs::create_dir_all(&out).expect("create bin dir");

    let _lock = BuildLock::take();
    let installed = run_ok(
        Command::new("bash")
            .arg(repo().join("scripts/install.sh"))
            .arg("--from")
            .arg(deps_dir())
            .arg("--prefix")
            .arg(&prefix),
    );
    let said = text(&installed.stdout);

    // (4 of the issue) The two lines a user needs, for a prefix pkg-config does not search.
    let export = format!("export PKG_CONFIG_PATH={}", pc_path.display());
    assert!(said.contains(&export), "install did not print `{export}`:\n{said}");
    let rpath = format!("-Wl,-rpath,{}", lib.display());
    let ld = format!("export LD_LIBRARY_PATH={}", lib.display());
    assert!(
        said.contains(&rpath) && said.contains(&ld),
        "install did not print the run-time note ({rpath} / {ld}):\n{said}"
    );

    // (1) Dynamic, with the rpath the install advised.
    let dynamic_exe = out.join("hello_shared");
    shell(
        &format!(r#"${{CC:-cc}} tests/c/pkgconfig_hello.c $(pkg-config --cflags --libs ipcring) {rpath} -o "$OUT""#),
        &pc_path,
        &dynamic_exe,
    );
    let deps = needed(&dynamic_exe);
    assert!(
        deps.iter().any(|l| l.contains("libipcring.so")),
        "the shared build does not load libipcring: {deps:?}"
    );
    run_hello(&dynamic_exe);

    // (3) The installed .so: stripped, and still exporting the header's functions.
    let real = std::fs::read_dir(&lib)
        .expect("read lib dir")
        .map(|e| e.expect("dir entry").path())
        .find(|p| {
            p.symlink_metadata().map(|m| m.file_type().is_file()).unwrap_or(false)
                && p.file_name().unwrap().to_string_lossy().starts_with("libipcring.so.")
        })
        .expect("the installed libipcring.so.X.Y.Z");
    let sections = text(&run_ok(Command::new("readelf").arg("-S").arg(&real)).stdout);
    assert!(
        !sections.contains(".debug"),
        "{} is not stripped:\n{sections}",
        real.display()
    );
    let dynsyms = text(&run_ok(Command::new("nm").args(["-D", "--defined-only"]).arg(&real)).stdout);
    let exported: BTreeSet<String> = dynsyms
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(str::to_owned)
        .collect();
    let declared = header_functions();
    assert!(
        declared.len() > 10,
        "found too few functions in the header: {declared:?}"
    );
    let missing: Vec<_> = declared.difference(&exported).collect();
    assert!(missing.is_empty(), "stripped .so lost exports: {missing:?}");

    // (2) Static: the README's one command, then run with no libipcring.so anywhere.
    let static_exe = out.join("hello_static");
    shell(
        r#"${CC:-cc} tests/c/pkgconfig_hello.c $(pkg-config --static --cflags --libs ipcring) -o "$OUT""#,
        &pc_path,
        &static_exe,
    );
    let deps = needed(&static_exe);
    assert!(
        !deps.iter().any(|l| l.contains("libipcring")),
        "the static build still loads libipcring: {deps:?}"
    );
    // And the split form, the archive by path (ipcring-static.pc).
    let split_exe = out.join("hello_static_split");
    shell(
        r#"${CC:-cc} -c tests/c/pkgconfig_hello.c $(pkg-config --cflags ipcring-static) -o "$OUT.o" &&
           ${CC:-cc} "$OUT.o" $(pkg-config --libs ipcring-static) -o "$OUT""#,
        &pc_path,
        &split_exe,
    );
    let deps = needed(&split_exe);
    assert!(
        !deps.iter().any(|l| l.contains("libipcring")),
        "the ipcring-static build still loads libipcring: {deps:?}"
    );
    for e in std::fs::read_dir(&lib).expect("read lib dir") {
        let p = e.expect("dir entry").path();
        if p.file_name().unwrap().to_string_lossy().starts_with("libipcring.so") {
            std::fs::remove_file(&p).expect("remove .so");
        }
    }
    run_hello(&static_exe);
    run_hello(&split_exe);
}
