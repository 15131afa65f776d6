#!/usr/bin/env bash
# Runs the ring algorithms under Miri: tests/heap_ring.rs (heap regions, threads, hostile
# values) and the library's unit tests. Tests that need real kernel objects are
# `#[cfg_attr(miri, ignore)]`. Installs the nightly miri component if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { rustup component list --installed --toolchain nightly 2>/dev/null | grep -q "^$1"; }
if ! have miri || ! have rust-src; then
    echo "miri: installing the nightly toolchain's miri and rust-src components"
    rustup toolchain install nightly --profile minimal </dev/null >/dev/null 2>&1 || true
    rustup component add miri rust-src --toolchain nightly </dev/null || true
fi
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri: SKIPPED — the nightly miri component could not be installed on this machine"
    exit 0
fi

# Many-seeds would multiply the run time; one seed with the default scheduler is the CI run.
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
cargo +nightly miri setup </dev/null >/dev/null
RUSTFLAGS="--cfg ipcring_test" cargo +nightly miri test -p ipcring --lib --test heap_ring
