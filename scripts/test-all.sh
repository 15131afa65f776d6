#!/usr/bin/env bash
# Every test of the project, in the order a failure is cheapest to find. This is the command
# the README gives and the one CI runs (.ci/run). Each step prints a "==>" line.
#
#   lint         cargo fmt --check, cargo clippy --all-targets -D warnings
#   cargo tests  unit, integration (real processes, real shm/futex/sem_t) and doc tests
#   loom         the models in tests/loom.rs (LOOM_MAX_PREEMPTIONS bounded), then the
#                teeth check: each weakened ordering makes its model fail
#   miri         the ring algorithms over a heap region (installs nightly miri if missing)
#
# The C examples and the header freshness check join this script with the C ABI.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "lint: cargo fmt --check"
cargo fmt --check
step "lint: cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo test --release (unit, real-process integration, doc tests)"
cargo test --release

step "loom models"
scripts/loom.sh
step "loom teeth: each weakened ordering must make its model fail"
scripts/loom-teeth.sh

step "miri: ring algorithms over a heap region"
scripts/miri.sh

step "all tests passed in $(( $(date +%s) - started )) s"
