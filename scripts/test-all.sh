#!/usr/bin/env bash
# Every test of the project, in the order a failure is cheapest to find. This is the command
# the README gives and the one CI runs (.ci/run). Each step prints a "==>" line.
#
#   lint         cargo fmt --check, cargo clippy --all-targets -D warnings (without and with
#                the `failpoints` feature)
#   cargo tests  unit, integration (real processes, real shm/futex/sem_t) and doc tests, with
#                the `failpoints` feature (tests/crash_init.rs kills creators and cleaners at
#                exact steps; without the feature every failpoint compiles to nothing);
#                the C side: the header freshness check (tests/c_header.rs), the C examples
#                built with their Makefile and run (tests/c_examples.rs), the mixed C/Rust
#                pipeline (tests/c_pipeline.rs), bad input from C under AddressSanitizer and
#                valgrind, the version macros and the pkg-config install (tests/c_abi.rs),
#                random bytes over a live ring under C peers, plain and under valgrind
#                (tests/live_scribble.rs)
#   loom         the models in tests/loom.rs (LOOM_MAX_PREEMPTIONS bounded), then the
#                teeth check: each weakened ordering makes its model fail
#   miri         the ring algorithms over a heap region (installs nightly miri if missing)
#
# scripts/deps.sh first installs what the C tests need if it is missing (make, pkg-config,
# valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "tools for the C tests (scripts/deps.sh)"
scripts/deps.sh

step "lint: cargo fmt --check"
cargo fmt --check
step "lint: cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
step "lint: cargo clippy --all-targets --features failpoints -- -D warnings"
cargo clippy --all-targets --features failpoints -- -D warnings

step "cargo test --release --features failpoints (unit, real-process integration, crash points, doc tests)"
cargo test --release --features failpoints

step "loom models"
scripts/loom.sh
step "loom teeth: each weakened ordering must make its model fail"
scripts/loom-teeth.sh

step "miri: ring algorithms over a heap region"
scripts/miri.sh

step "all tests passed in $(( $(date +%s) - started )) s"
