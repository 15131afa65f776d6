/* version.c: the header's version macros agree with Cargo.toml and with the library.
 *
 * tests/c_abi.rs compiles this with -DEXPECT_MAJOR=.. -DEXPECT_MINOR=.. -DEXPECT_PATCH=..
 * taken from Cargo.toml (CARGO_PKG_VERSION_*). A stale header fails to compile; a library
 * of another version fails at run time.
 */
#include <stdio.h>
#include <string.h>

#include <ipcring.h>

#if !defined(EXPECT_MAJOR) || !defined(EXPECT_MINOR) || !defined(EXPECT_PATCH)
#error "compile with -DEXPECT_MAJOR=.. -DEXPECT_MINOR=.. -DEXPECT_PATCH=.. (from Cargo.toml)"
#endif

#define STR2(x) #x
#define STR(x) STR2(x)
/* "MAJOR.MINOR.PATCH" built from the header's numeric macros. */
#define FROM_PARTS STR(IPCRING_VERSION_MAJOR) "." STR(IPCRING_VERSION_MINOR) "." STR(IPCRING_VERSION_PATCH)
#define FROM_CARGO STR(EXPECT_MAJOR) "." STR(EXPECT_MINOR) "." STR(EXPECT_PATCH)

_Static_assert(IPCRING_VERSION_MAJOR == EXPECT_MAJOR, "IPCRING_VERSION_MAJOR differs from Cargo.toml");
_Static_assert(IPCRING_VERSION_MINOR == EXPECT_MINOR, "IPCRING_VERSION_MINOR differs from Cargo.toml");
_Static_assert(IPCRING_VERSION_PATCH == EXPECT_PATCH, "IPCRING_VERSION_PATCH differs from Cargo.toml");
_Static_assert(sizeof(IPCRING_VERSION) == sizeof(FROM_PARTS), "IPCRING_VERSION is not MAJOR.MINOR.PATCH");

static int failures;

static void expect_str(const char *what, const char *got, const char *want) {
    if (got == NULL || strcmp(got, want) != 0) {
        printf("FAIL %s: \"%s\", expected \"%s\"\n", what, got ? got : "(NULL)", want);
        failures++;
    } else {
        printf("ok   %s: \"%s\"\n", what, got);
    }
}

static void expect_int(const char *what, long got, long want) {
    if (got != want) {
        printf("FAIL %s: %ld, expected %ld\n", what, got, want);
        failures++;
    } else {
        printf("ok   %s: %ld\n", what, got);
    }
}

int main(void) {
    expect_int("IPCRING_VERSION_MAJOR", IPCRING_VERSION_MAJOR, EXPECT_MAJOR);
    expect_int("IPCRING_VERSION_MINOR", IPCRING_VERSION_MINOR, EXPECT_MINOR);
    expect_int("IPCRING_VERSION_PATCH", IPCRING_VERSION_PATCH, EXPECT_PATCH);
    expect_str("IPCRING_VERSION vs the numeric macros", IPCRING_VERSION, FROM_PARTS);
    expect_str("IPCRING_VERSION vs Cargo.toml", IPCRING_VERSION, FROM_CARGO);
    expect_str("ipcring_version() vs IPCRING_VERSION", ipcring_version(), IPCRING_VERSION);
    if (failures) {
        printf("version: %d check(s) failed\n", failures);
        return 1;
    }
    printf("version: header and library are %s\n", IPCRING_VERSION);
    return 0;
}
