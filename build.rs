//! Build script. The C header (include/ipcring.h) is generated here with cbindgen once the
//! C ABI lands (see DESIGN.md §6); for now it only gives the shared library its SONAME so
//! that C programs link against `libipcring.so.0` the way C users expect.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libipcring.so.{major}");
    }
}
