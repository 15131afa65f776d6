//! The committed C header must be exactly what build.rs generates from capi/src/ with the
//! pinned cbindgen (when this fails, the C API changed: run `scripts/bless-header.sh` and
//! commit include/ipcring.h), declare the core names C programs are written against, and compile as C89, C99 and
//! C++11 with every warning an error.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn committed_header_is_fresh() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/ipcring.h"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../include/ipcring.h");
    let committed = std::fs::read_to_string(path).expect("include/ipcring.h exists");
    if committed != generated {
        let same = committed
            .lines()
            .zip(generated.lines())
            .take_while(|(a, b)| a == b)
            .count();
        let line = same + 1;
        panic!(
            "include/ipcring.h is stale (first difference at line {line}); \
             run scripts/bless-header.sh and commit the result"
        );
    }
}

#[test]
fn header_declares_the_core_names() {
    let header = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../include/ipcring.h"));
    // cbindgen wraps a declaration's parameters over several lines as it sees fit: compare
    // with every run of whitespace made one space.
    let header = header.split_whitespace().collect::<Vec<_>>().join(" ");
    let header = header.replace("( ", "(");
    for decl in [
        "int ipcring_open(const char *address, uint32_t flags, ipcring_t **out);",
        "int ipcring_pair(const char *address, ipcring_t **sender, ipcring_t **receiver);",
        "int ipcring_send(ipcring_t *ch, const void *buf, size_t len, int64_t timeout_ns);",
        "int ipcring_recv(ipcring_t *ch, void *buf, size_t cap, size_t *len, int64_t timeout_ns);",
        "int ipcring_close(ipcring_t *ch);",
        "int ipcring_unlink(const char *address);",
        "const char *ipcring_strerror(int status);",
        "const char *ipcring_version(void);",
    ] {
        assert!(
            header.contains(decl),
            "include/ipcring.h lacks `{decl}` (a core name C programs use)"
        );
    }
}

/// A translation unit that includes the header and uses its initialisers and a call or two.
const USES_THE_HEADER: &str = r#"#include "ipcring.h"
int check(ipcring_t *ch);
int check(ipcring_t *ch) {
    ipcring_info_t info = IPCRING_INFO_INIT;
    ipcring_stats_t st = IPCRING_STATS_INIT;
    int rc = ipcring_info(ch, &info);
    if (rc == IPCRING_OK)
        rc = ipcring_stats(ch, &st);
    return rc == IPCRING_OK && info.size == sizeof info && st.size == sizeof st ? 0 : rc;
}
"#;

/// Writes [`USES_THE_HEADER`] to a fresh file and returns its path.
fn source(tag: &str) -> PathBuf {
    let dir = PathBuf::from(env!("OUT_DIR")).join("header-check");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let path = dir.join(format!("{tag}-{}.c", std::process::id()));
    std::fs::write(&path, USES_THE_HEADER).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../include")
}

/// Runs `compiler` with `args` on a file using the header (`lang`: `c` or `c++`), and fails
/// with its diagnostics unless it accepts it.
fn syntax_check(compiler: &str, lang: &str, args: &[&str]) {
    let src = source(&args.join("").replace(['-', '=', '+'], ""));
    let out = Command::new(compiler)
        .args(args)
        .args(["-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-x", lang])
        .arg("-I")
        .arg(include_dir())
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    let _ = std::fs::remove_file(&src);
    assert!(
        out.status.success(),
        "include/ipcring.h does not compile with {compiler} {}:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn c_compiler() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

#[test]
fn header_compiles_as_c89() {
    syntax_check(&c_compiler(), "c", &["-std=c89", "-pedantic"]);
}

#[test]
fn header_compiles_as_c99() {
    syntax_check(&c_compiler(), "c", &["-std=c99", "-pedantic"]);
}

#[test]
fn header_compiles_as_cpp11() {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let found = Command::new(&cxx)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("\n!!! SKIPPED header_compiles_as_cpp11: no C++ compiler ({cxx}) !!!\n");
        return;
    }
    syntax_check(&cxx, "c++", &["-std=c++11", "-pedantic"]);
}
