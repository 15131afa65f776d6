#!/usr/bin/env bash
# Instructions per message on the API's fast path, by layer: runs examples/hotpath.rs (one
# thread alternating a send and a receive of 8-byte messages on a shared-memory ring) under
# valgrind's callgrind, counting only the message loops, and charges each instruction to a
# layer with scripts/callgrind_layers.py (docs/benchmarks.md, "Where the time goes").
#
#   scripts/hotpath-profile.sh [MESSAGES [MODE...]]     # default 100000, every mode
#
# Counts are instructions, not time: the same on a noisy machine from run to run (to the
# instruction), so a change of a few instructions per message shows. Builds the example with
# line tables into target/hotpath (the optimised code is the release profile's). Needs
# valgrind and addr2line (scripts/deps.sh installs them) and python3. Set LINES=N for the N costliest
# source lines of each mode, KEEP=DIR to keep the callgrind files.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
shift || true
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(spsc-try spsc-block spsc-batch mpmc-try mpmc-block mpmc-batch)
command -v valgrind >/dev/null && command -v addr2line >/dev/null || scripts/deps.sh
command -v python3 >/dev/null || { echo "hotpath-profile.sh: needs python3 (scripts/callgrind_layers.py)" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/hotpath}"
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release --example hotpath >&2
bin="$CARGO_TARGET_DIR/release/examples/hotpath"
out="${KEEP:-$(mktemp -d)}"
mkdir -p "$out"
for m in "${modes[@]}"; do
    # The example warms up with 2048 messages inside the counted functions, then runs n
    # (batch and reference modes: rounded up to whole batches of 32).
    msgs=$n
    case "$m" in *batch | ref-*) msgs=$(( (n + 31) / 32 * 32 ));; esac
    msgs=$((msgs + 2048))
    valgrind --tool=callgrind --dump-instr=yes --toggle-collect='hotpath::run_*' \
        --callgrind-out-file="$out/$m.cg" "$bin" "$m" "$n" >/dev/null 2>"$out/$m.log"
    echo "## $m"
    python3 scripts/callgrind_layers.py "$out/$m.cg" "$bin" "$msgs" --lines "${LINES:-0}"
    echo
done
[ -n "${KEEP:-}" ] || rm -rf "$out"
