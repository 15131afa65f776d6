#!/usr/bin/env bash
# Regenerates the committed C header (include/ipcring.h) from capi/src/ with the pinned
# cbindgen in capi/build.rs. Run after changing the C API, then commit the header;
# capi/tests/c_header.rs fails while the committed copy is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
IPCRING_BLESS_HEADER=1 cargo build --release -p ipcring-capi
git --no-pager diff --stat -- include/ipcring.h || true
