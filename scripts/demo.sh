#!/usr/bin/env bash
# The main job: a C producer process feeding a Rust consumer process over a shared-memory
# ring, every sequence number and checksum verified; then the reverse direction; then the
# Rust demo's throughput and round-trip figures (examples/demo.rs); then every transport
# side by side against the machine's limits (`ipcring bench --quick`).
#
#   scripts/demo.sh [MESSAGES]        (default 1,000,000 per direction)
#
# Builds the workspace, installs the C library under target/stage (scripts/install.sh) and
# builds the C programs with their Makefile. Needs the Rust toolchain and a C compiler;
# scripts/deps.sh first installs what is missing of make, pkg-config, binutils and valgrind
# (the last two only the tests use) with apt-get, as root or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"

scripts/deps.sh
cargo build --release --quiet --workspace --bins --lib --example pipeline --example demo
stage="$PWD/target/stage"
scripts/install.sh --from target/release --prefix "$stage" >/dev/null
make -s -C c-examples IPCRING="$stage" O="$stage/c-examples"

name="ipcring-demo-$$"
addr="shm://$name?capacity=1024&msg_size=256"
cleanup() { rm -f "/dev/shm/$name"; }
trap cleanup EXIT

run_pair() { # run_pair LABEL CONSUMER... -- PRODUCER...
    local label="$1"; shift
    local consumer=() producer=()
    while [ "$1" != "--" ]; do consumer+=("$1"); shift; done
    shift
    producer=("$@")
    echo "==> $label: $n messages over $addr"
    local start end
    start=$(date +%s%N)
    "${consumer[@]}" & local pid=$!
    "${producer[@]}"
    wait "$pid"
    end=$(date +%s%N)
    echo "    both processes done in $(( (end - start) / 1000000 )) ms (including start-up)"
}

run_pair "C producer -> Rust consumer" \
    target/release/examples/pipeline consume "$addr" "$n" -- \
    "$stage/c-examples/pipeline_producer" "$addr" "$n"
run_pair "Rust producer -> C consumer" \
    "$stage/c-examples/pipeline_consumer" "$addr" "$n" -- \
    target/release/examples/pipeline produce "$addr" "$n"

echo "==> Rust producer and consumer processes, and round trips (examples/demo.rs): one spinning, one blocking with a forced sleep before each ping (a wake-up every time; not comparable with the bench's blocking rows, which spin first)"
target/release/examples/demo

echo "==> Every transport side by side (ipcring bench --quick): the same API over shm, pipe, FIFO, mq, UNIX and TCP, against the machine's limits"
target/release/ipcring bench --quick
