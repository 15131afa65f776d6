#!/usr/bin/env bash
# Runs the loom models of tests/loom.rs (see the top of that file for what each one checks).
#
#   scripts/loom.sh                      # every model, each at its tuned preemption bound
#   scripts/loom.sh mpmc_2x2 --nocapture # extra arguments go to the test binary
#   LOOM_MAX_PREEMPTIONS=2 scripts/loom.sh   # one bound for every model instead
#
# Builds in its own target directory (target/loom, or $LOOM_TARGET_DIR) so that the
# `--cfg ipcring_loom` build never thrashes the normal one.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}"
export RUSTFLAGS="--cfg ipcring_loom"

started=$(date +%s)
cargo test --release --test loom --no-run
built=$(date +%s)
cargo test --release --test loom -- "$@"
done_at=$(date +%s)
echo "loom.sh: models passed (build $((built - started)) s, models $((done_at - built)) s)"
