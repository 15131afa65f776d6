#!/usr/bin/env bash
# Every test of the project, in the order a failure is cheapest to find. This is the command
# the README gives and the one CI runs (.ci/run). Each step prints a "==>" line.
#
#   lint         cargo fmt --check; cargo clippy --workspace --all-targets -D warnings, in a
#                normal build and in the test build (`--cfg ipcring_test`); the Rust API's docs
#                with warnings as errors (cargo doc -p ipcring, so broken intra-doc links fail)
#   cargo tests  every crate of the workspace in the test build (RUSTFLAGS="--cfg ipcring_test",
#                its own target dir target/cfg-test so normal builds stay cached): unit,
#                integration (real processes, real shm/futex/sem_t), crash points
#                (tests/crash_init.rs kills creators and cleaners at exact steps), doc tests;
#                the C library's tests (capi/tests): the header freshness check, the C examples
#                built with their Makefile and run, the mixed C/Rust pipeline, bad input from C
#                under AddressSanitizer and valgrind, the version macros and the pkg-config
#                install; the command's tests (cli/tests)
#   python       scripts/python.sh: the Python package built (maturin, release) into a virtual
#                environment under target/ with maturin and pytest from PyPI, then its pytest
#                suite (streams with C and Rust peers, errors, slots, Ctrl-C, asyncio); about
#                1.5 minutes on 2 cores from a clean target/, most of it release builds
#   loom         the models in tests/loom.rs (LOOM_MAX_PREEMPTIONS bounded), then the
#                teeth check: each weakened ordering makes its model fail
#   miri         the ring algorithms over a heap region (installs nightly miri if missing)
#
# `--cfg ipcring_test` compiles in the failpoints and makes the building blocks the tests drive
# directly public; it is a cfg, not a cargo feature, so no dependent can switch it on.
# scripts/deps.sh first installs what the C tests need if it is missing (a C compiler, make,
# pkg-config, binutils, valgrind) with apt-get, as root or through sudo. Needs the rustfmt and
# clippy components; about 26 minutes on 2 cores. Miri prints SKIPPED (and passes) when
# the nightly miri component cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "tools for the C tests (scripts/deps.sh)"
scripts/deps.sh

test_build() { RUSTFLAGS="${RUSTFLAGS:-} --cfg ipcring_test" CARGO_TARGET_DIR="${TEST_TARGET_DIR:-target/cfg-test}" "$@"; }

step "lint: cargo fmt --all --check"
cargo fmt --all --check
step "lint: cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
step "lint: the same in the test build (--cfg ipcring_test)"
test_build cargo clippy --workspace --all-targets -- -D warnings
step "lint: the same with the tokio feature (ipcring::tokio, tests/tokio.rs, benches/async_recv.rs)"
cargo clippy --workspace --all-targets --features ipcring/tokio -- -D warnings
step "docs: RUSTDOCFLAGS=-D warnings cargo doc -p ipcring --no-deps --features tokio (the Rust API only)"
RUSTDOCFLAGS="-D warnings" cargo doc -p ipcring --no-deps --features tokio

# The NATS tests (tests/nats_transport.rs, cli/tests/cli_bridge.rs, cli/tests/cli_bridge_netns.rs,
# conformance's nats rules, each test with its own nats-server) are part of this run: the C
# library and the command switch the `nats` feature on, so the workspace build has it. The
# longest are the 1,000,000-message pipeline C -> shm -> bridge -> NATS -> bridge -> shm -> Rust
# (about 5 minutes at today's 3,300-4,000 msg/s; IPCRING_NATS_PIPELINE_N) and the same across
# two network namespaces (200,000; IPCRING_NATS_NETNS_N; SKIPPED, said on stderr, where the
# machine refuses unprivileged user/network namespaces).
step "cargo test --release --workspace in the test build (unit, real processes, crash points, C library, command, NATS, doc tests)"
# The C library first: `cargo test` does not build a cdylib/staticlib-only crate's library,
# and the C tests (and the Rust tests with C peers) install exactly that build.
test_build cargo build --release -p ipcring-capi
test_build cargo test --release --workspace
step "cargo test --release -p ipcring --features tokio (ipcring::tokio: tests/tokio.rs, its doc test)"
test_build cargo test --release -p ipcring --features tokio --test tokio
test_build cargo test --release -p ipcring --features tokio --doc tokio

step "python: the package ipcring built in a virtual environment, and its pytest suite (scripts/python.sh)"
scripts/python.sh

step "loom models"
scripts/loom.sh
step "loom teeth: each weakened ordering must make its model fail"
scripts/loom-teeth.sh

step "miri: ring algorithms over a heap region"
scripts/miri.sh

step "all tests passed in $(( $(date +%s) - started )) s"
