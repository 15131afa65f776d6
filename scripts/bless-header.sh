#!/usr/bin/env bash
# Regenerates the committed C header (include/ipcring.h) from src/ffi.rs with the pinned
# cbindgen in build.rs. Run after changing the C API, then commit the header;
# tests/c_header.rs fails while the committed copy is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
IPCRING_BLESS_HEADER=1 cargo build --release --lib
git --no-pager diff --stat -- include/ipcring.h || true
