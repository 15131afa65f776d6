//! Build script: generates the C header from every file of `src/` with cbindgen (DESIGN §6)
//! and gives the shared library its SONAME.
//!
//! The header is written to `$OUT_DIR/ipcring.h`; `tests/c_header.rs` fails when the
//! committed `include/ipcring.h` differs from it. To update the committed copy after
//! changing the C API, build with `IPCRING_BLESS_HEADER=1` (see `scripts/bless-header.sh`).

use std::env;
use std::path::{Path, PathBuf};

/// Every file of `src/`. cbindgen reads `lib.rs` and, through its `mod` lines, the others;
/// `check_sources` fails the build when a file of `src/` is missing here, so a new module is
/// also watched for changes (and must be declared with `mod` in lib.rs to reach the header).
const SOURCES: [&str; 4] = ["events.rs", "handle.rs", "lib.rs", "status.rs"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    // The directory too, so that a new file under src/ reruns this script (and fails it until
    // the file is listed in SOURCES).
    println!("cargo:rerun-if-changed=src");
    for file in SOURCES {
        println!("cargo:rerun-if-changed=src/{file}");
    }
    println!("cargo:rerun-if-env-changed=IPCRING_BLESS_HEADER");

    let var = |k: &str| env::var(k).unwrap_or_else(|_| panic!("cargo sets {k}"));
    let (major, minor, patch) = (
        var("CARGO_PKG_VERSION_MAJOR"),
        var("CARGO_PKG_VERSION_MINOR"),
        var("CARGO_PKG_VERSION_PATCH"),
    );
    if var("CARGO_CFG_TARGET_OS") == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{}", soname(&major, &minor));
    }

    let crate_dir = PathBuf::from(var("CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    config.after_includes = Some(format!(
        "\n/* The version of this header; ipcring_version() gives the library's. */\n\
         #define IPCRING_VERSION_MAJOR {major}\n\
         #define IPCRING_VERSION_MINOR {minor}\n\
         #define IPCRING_VERSION_PATCH {patch}\n\
         #define IPCRING_VERSION \"{major}.{minor}.{patch}\""
    ));
    check_sources(&crate_dir.join("src"));
    let header = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates ipcring.h from src/lib.rs and its modules");
    let mut text = Vec::new();
    header.write(&mut text);
    let text = finish(String::from_utf8(text).expect("cbindgen writes UTF-8"));
    let out = PathBuf::from(var("OUT_DIR")).join("ipcring.h");
    write(&out, &text);
    if env::var_os("IPCRING_BLESS_HEADER").is_some() {
        write(&crate_dir.join("../include/ipcring.h"), &text);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// What cbindgen cannot emit itself, added to its output: C89 comments on the lines its
/// `cpp_compat` writes with `//` (so that `-std=c89 -pedantic` takes the header), and the
/// initialisers of the structs that carry their size (`IPCRING_INFO_INIT`,
/// `IPCRING_STATS_INIT`), placed after the types and before the functions.
fn finish(header: String) -> String {
    let header = header
        .replace("#endif // __cplusplus", "#endif /* __cplusplus */")
        .replace("#endif  // __cplusplus", "#endif /* __cplusplus */")
        .replace("}  // extern \"C\"", "}  /* extern \"C\" */");
    // cpp_compat opens the functions' `extern "C"` block with exactly these lines.
    let functions = "#ifdef __cplusplus\nextern \"C\" {\n";
    assert_eq!(
        header.matches(functions).count(),
        1,
        "cbindgen's extern \"C\" block moved"
    );
    let mut inits = String::from(
        "/*\n * Initialisers for the structs the library fills in: they set `size`, the first field, to the\n \
         * struct's size, as ipcring_info and ipcring_stats require, and every other field to 0:\n \
         *     ipcring_info_t info = IPCRING_INFO_INIT;\n \
         */\n",
    );
    for (name, ty) in [
        ("IPCRING_INFO_INIT", "ipcring_info_t"),
        ("IPCRING_STATS_INIT", "ipcring_stats_t"),
    ] {
        // Every field gets an initialiser (positional, so that C89 and C++ take it too, and
        // -Wmissing-field-initializers stays quiet).
        let zeros = ", 0".repeat(fields(&header, ty) - 1);
        inits.push_str(&format!("#define {name} {{ sizeof({ty}){zeros} }}\n"));
    }
    inits.push('\n');
    header.replacen(functions, &format!("{inits}{functions}"), 1)
}

/// The number of fields of the typedef'd struct `ty` in cbindgen's output (its declarations
/// are the lines ending in `;` between `typedef struct {` and `} ty;`).
fn fields(header: &str, ty: &str) -> usize {
    let end = header
        .find(&format!("\n}} {ty};"))
        .unwrap_or_else(|| panic!("{ty} is not in the header"));
    let start = header[..end]
        .rfind("typedef struct {")
        .expect("the struct's opening line");
    let n = header[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| l.ends_with(';') && !l.starts_with('*') && !l.starts_with('/'))
        .count();
    assert!(n >= 2, "{ty} has {n} fields");
    n
}

/// The shared library's SONAME: `libipcring.so.MAJOR`, or `libipcring.so.0.MINOR` before
/// 1.0, since Cargo treats a 0.x minor bump as breaking.
fn soname(major: &str, minor: &str) -> String {
    if major == "0" {
        format!("libipcring.so.0.{minor}")
    } else {
        format!("libipcring.so.{major}")
    }
}

/// Panics unless `SOURCES` names exactly the `.rs` files of `src` and lib.rs declares each
/// of the others as a module.
fn check_sources(src: &Path) {
    let mut found: Vec<String> = std::fs::read_dir(src)
        .unwrap_or_else(|e| panic!("read {}: {e}", src.display()))
        .map(|entry| {
            entry
                .expect("read a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".rs"))
        .collect();
    found.sort();
    let mut listed: Vec<String> = SOURCES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "capi/build.rs SOURCES must list every file of capi/src (cbindgen reads each one)"
    );
    // cbindgen reaches the other files only through lib.rs's `mod` lines.
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read src/lib.rs");
    for file in SOURCES.iter().filter(|f| **f != "lib.rs") {
        let line = format!("mod {};", file.trim_end_matches(".rs"));
        assert!(
            lib.lines().any(|l| l.trim() == line),
            "src/lib.rs lacks `{line}`: cbindgen would not read src/{file}"
        );
    }
}
