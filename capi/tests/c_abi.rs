//! The C ABI from C: the header's version macros, every bad-input case of `tests/c/abi_errors.c`
//! under AddressSanitizer + UBSan and under valgrind, and the installed library (layout,
//! SONAME, pkg-config) building and running a program dynamically and statically.
//!
//! The C programs are built against the library this test binary was built with (see
//! `common::c`). Each program is run with a hang bound; no duration is asserted.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::c::{cc, cc_name, deps_dir, profile_dir, repo, run_ok};
use common::{serial, spawn_command, unique_name, wait_all, Exit};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long any one C program may run before it is killed as hung (valgrind included).
const BOUND: Duration = Duration::from_secs(300);

/// `target/PROFILE/c-abi`: where this binary's C programs go.
fn out_dir() -> PathBuf {
    let d = profile_dir().join("c-abi");
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    d
}

fn source(name: &str) -> PathBuf {
    repo().join("tests/c").join(name)
}

/// Runs `cmd` to the end (bounded) and returns how it went.
fn run(label: &str, cmd: Command) -> Exit {
    let mut exits = wait_all(vec![spawn_command(label, cmd)], BOUND);
    exits.pop().expect("one child")
}

/// Runs `cmd` and fails the test, with its output, unless it exits 0.
fn run_success(label: &str, cmd: Command) -> Exit {
    let e = run(label, cmd);
    assert!(e.success(), "{}", e.describe_all());
    e
}

trait DescribeAll {
    fn describe_all(&self) -> String;
}

impl DescribeAll for Exit {
    /// [`Exit::describe`] with the whole of stdout (the C programs print one line per check).
    fn describe_all(&self) -> String {
        format!("{}\n--- full stdout:\n{}", self.describe(), self.stdout)
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// `ipcring_interrupt` wakes a pthread blocked in `ipcring_recv(.., IPCRING_FOREVER)` with
/// `IPCRING_EINTR`, and the handle works afterwards (`tests/c/interrupt.c`: shm SPSC and MPMC,
/// pipe; three interrupts of a blocked call and one of an idle handle each).
#[test]
fn interrupt_wakes_a_blocked_thread() {
    let _g = serial();
    let exe = out_dir().join("interrupt");
    cc(&[&source("interrupt.c")], &exe, &["-pthread"]);
    let e = run_success("interrupt", Command::new(&exe));
    assert!(e.stdout.contains("all ok"), "{}", e.describe_all());
}

/// A C producer killed with SIGKILL leaves its C consumer with `IPCRING_EDIED`, one that
/// closes with `IPCRING_EOF`, every message checked first (`tests/c/died.c`), on every
/// transport opened by address.
#[test]
fn killed_producer_is_edied_on_every_transport() {
    let _g = serial();
    let exe = out_dir().join("died");
    cc(&[&source("died.c")], &exe, &[]);
    let tag = format!("ipcring-cdied-{}", std::process::id());
    let tmp = std::env::temp_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addrs = [
        format!("shm://{tag}?capacity=8&msg_size=64"),
        format!("shm://{tag}-m?mode=mpmc&capacity=8&msg_size=64"),
        format!("fifo://{}/{tag}.fifo?msg_size=64", tmp.display()),
        format!("mq://{tag}?capacity=8&msg_size=64"),
        format!("unix://{}/{tag}.sock?msg_size=64", tmp.display()),
        format!("tcp://127.0.0.1:{port}?msg_size=64"),
    ];
    let mut cmd = Command::new(&exe);
    cmd.args(&addrs);
    let e = run_success("died", cmd);
    assert!(e.stdout.contains("all ok"), "{}", e.describe_all());
}

#[test]
fn header_version_macros_match_cargo_toml() {
    let _g = serial();
    let exe = out_dir().join("version");
    let defines = [
        format!("-DEXPECT_MAJOR={}", env!("CARGO_PKG_VERSION_MAJOR")),
        format!("-DEXPECT_MINOR={}", env!("CARGO_PKG_VERSION_MINOR")),
        format!("-DEXPECT_PATCH={}", env!("CARGO_PKG_VERSION_PATCH")),
    ];
    let flags: Vec<&str> = defines.iter().map(String::as_str).collect();
    cc(&[&source("version.c")], &exe, &flags);
    let e = run_success("version", Command::new(&exe));
    assert!(
        e.stdout
            .contains(&format!("header and library are {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        e.describe_all()
    );
}

#[test]
fn bad_input_under_asan() {
    let _g = serial();
    let exe = out_dir().join("abi_errors_asan");
    cc(
        &[&source("abi_errors.c")],
        &exe,
        &["-fsanitize=address,undefined", "-fno-omit-frame-pointer"],
    );
    let mut cmd = Command::new(&exe);
    cmd.env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1");
    let e = run_success("abi_errors (ASan+UBSan)", cmd);
    for bad in ["ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error"] {
        assert!(
            !e.stderr.contains(bad),
            "sanitizer report ({bad}):\n{}",
            e.describe_all()
        );
    }
    assert!(e.stdout.contains("abi_errors: all "), "{}", e.describe_all());
}

#[test]
fn bad_input_under_valgrind() {
    let _g = serial();
    if !on_path("valgrind") {
        eprintln!(
            "\n!!! SKIPPED bad_input_under_valgrind: valgrind is not installed \
             (apt-get install valgrind); the ASan run still covers bad input !!!\n"
        );
        return;
    }
    let exe = out_dir().join("abi_errors_plain");
    cc(&[&source("abi_errors.c")], &exe, &[]);
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
    ])
    .arg(&exe);
    let e = run_success("abi_errors (valgrind)", cmd);
    assert!(e.stdout.contains("abi_errors: all "), "{}", e.describe_all());
    assert!(
        e.stderr.contains("ERROR SUMMARY: 0 errors"),
        "valgrind reported errors:\n{}",
        e.describe_all()
    );
}

/// A temporary directory, removed with everything in it on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(unique_name(tag));
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `readelf -d` (or `objdump -p`) of `file`.
fn dynamic_section(file: &Path) -> String {
    let out = if on_path("readelf") {
        run_ok(Command::new("readelf").arg("-d").arg(file))
    } else {
        run_ok(Command::new("objdump").arg("-p").arg(file))
    };
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `NEEDED` entries of `file`'s dynamic section.
fn needed(file: &Path) -> Vec<String> {
    dynamic_section(file)
        .lines()
        .filter(|l| l.contains("NEEDED"))
        .map(|l| l.trim().to_string())
        .collect()
}

fn assert_symlink(link: &Path, target: &str) {
    let meta = std::fs::symlink_metadata(link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
    assert!(meta.file_type().is_symlink(), "{} is not a symlink", link.display());
    let t = std::fs::read_link(link).unwrap();
    assert_eq!(t, Path::new(target), "{} points at {}", link.display(), t.display());
    assert!(link.exists(), "{} dangles", link.display());
}

fn assert_file(p: &Path) {
    let meta = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{} missing: {e}", p.display()));
    assert!(meta.file_type().is_file(), "{} is not a regular file", p.display());
}

#[test]
fn installed_library_builds_with_pkg_config() {
    let _g = serial();
    let have_pkg_config = Command::new("pkg-config")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        have_pkg_config,
        "pkg-config is not installed: run scripts/deps.sh (it installs what the C tests need)"
    );

    let prefix = TempDir::new("prefix");
    let p = &prefix.0.clone();
    run_ok(
        Command::new("bash")
            .arg(repo().join("scripts/install.sh"))
            .arg("--from")
            .arg(deps_dir())
            .arg("--prefix")
            .arg(p),
    );

    // The layout.
    let (major, minor) = (env!("CARGO_PKG_VERSION_MAJOR"), env!("CARGO_PKG_VERSION_MINOR"));
    let version = env!("CARGO_PKG_VERSION");
    let soname = if major == "0" {
        format!("libipcring.so.0.{minor}")
    } else {
        format!("libipcring.so.{major}")
    };
    let lib = p.join("lib");
    let real = format!("libipcring.so.{version}");
    assert_file(&lib.join(&real));
    assert_symlink(&lib.join(&soname), &real);
    assert_symlink(&lib.join("libipcring.so"), &soname);
    assert_file(&lib.join("libipcring.a"));
    assert_file(&p.join("include/ipcring.h"));
    assert_file(&lib.join("pkgconfig/ipcring.pc"));
    let header = std::fs::read(p.join("include/ipcring.h")).unwrap();
    assert_eq!(
        header,
        std::fs::read(repo().join("include/ipcring.h")).unwrap(),
        "the installed header is not include/ipcring.h"
    );

    // The SONAME programs record.
    let dynamic = dynamic_section(&lib.join(&real));
    let soname_line = dynamic
        .lines()
        .find(|l| l.contains("SONAME"))
        .unwrap_or_else(|| panic!("no SONAME in {}:\n{dynamic}", real));
    assert!(
        soname_line.contains(&soname) && !soname_line.contains(&format!("{soname}.")),
        "SONAME is not {soname}: {soname_line}"
    );

    // pkg-config sees it.
    let pc_path = lib.join("pkgconfig");
    let pkg = |args: &[&str]| -> String {
        let out = run_ok(Command::new("pkg-config").args(args).env("PKG_CONFIG_PATH", &pc_path));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(pkg(&["--modversion", "ipcring"]), version);

    let out = out_dir();
    let shell = |script: &str, exe: &Path| {
        run_ok(
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .current_dir(repo())
                .env("PKG_CONFIG_PATH", &pc_path)
                .env("CC", cc_name())
                .env("OUT", exe),
        );
    };

    // Dynamic: exactly what a C user types.
    let dynamic_exe = out.join("pkgconfig_hello");
    shell(
        r#"${CC:-cc} tests/c/pkgconfig_hello.c $(pkg-config --cflags --libs ipcring) -o "$OUT""#,
        &dynamic_exe,
    );
    let deps = needed(&dynamic_exe);
    assert!(
        deps.iter()
            .any(|l| l.contains(&format!("[{soname}]")) || l.ends_with(&soname)),
        "the program does not load {soname}: {deps:?}"
    );
    let mut cmd = Command::new(&dynamic_exe);
    cmd.env("LD_LIBRARY_PATH", &lib);
    let e = run_success("pkgconfig_hello (shared)", cmd);
    assert!(e.stdout.contains("then end of stream"), "{}", e.describe_all());

    // Static: the archive itself, then what it needs (`Libs.private`, via --static). The
    // shared library that `-lipcring` in that list names is dropped by --as-needed, so the
    // program must not depend on it: checked below, and run without LD_LIBRARY_PATH.
    let static_exe = out.join("pkgconfig_hello_static");
    shell(
        r#"${CC:-cc} tests/c/pkgconfig_hello.c $(pkg-config --cflags ipcring) \
             "$(pkg-config --variable=libdir ipcring)/libipcring.a" \
             -Wl,--as-needed $(pkg-config --static --libs ipcring) -o "$OUT""#,
        &static_exe,
    );
    let deps = needed(&static_exe);
    assert!(
        !deps.iter().any(|l| l.contains("libipcring")),
        "the statically linked program still loads libipcring: {deps:?}"
    );
    let mut cmd = Command::new(&static_exe);
    cmd.env_remove("LD_LIBRARY_PATH");
    let e = run_success("pkgconfig_hello (static)", cmd);
    assert!(e.stdout.contains("then end of stream"), "{}", e.describe_all());

    drop(prefix);
    assert!(!p.exists(), "temporary prefix {} left behind", p.display());
}

/// The shared library exports exactly the functions the header declares, all `ipcring_*`.
#[test]
fn exported_symbols_are_the_header_functions() {
    let _g = serial();
    let lib = deps_dir().join("libipcring.so");
    let out = run_ok(Command::new("nm").args(["-D", "--defined-only"]).arg(&lib));
    let mut exported: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_addr, kind, name) = (f.next()?, f.next()?, f.next()?);
            (kind != "A").then(|| name.to_string())
        })
        .collect();
    exported.sort();
    let header = std::fs::read_to_string(repo().join("include/ipcring.h")).expect("read ipcring.h");
    let mut declared: Vec<String> = header
        .lines()
        .filter(|l| (l.starts_with("int ") || l.starts_with("const char *")) && l.contains('('))
        .filter_map(|l| {
            let name = l.split('(').next()?.rsplit([' ', '*']).next()?;
            name.starts_with("ipcring_").then(|| name.to_string())
        })
        .collect();
    declared.sort();
    assert!(declared.len() >= 19, "found only {declared:?} in the header");
    assert_eq!(
        exported, declared,
        "libipcring.so exports differ from ipcring.h's functions"
    );
}
