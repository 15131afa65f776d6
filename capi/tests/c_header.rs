//! The committed C header must be exactly what build.rs generates from src/ffi.rs with the
//! pinned cbindgen. When this fails, the C API changed: run `scripts/bless-header.sh` and
//! commit include/ipcring.h.

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
            "include/ipcring.h lacks `{decl}` (DESIGN §6 core names)"
        );
    }
}
