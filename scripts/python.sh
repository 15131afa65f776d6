#!/usr/bin/env bash
# The Python package's tests: builds the package `ipcring` (python/, PyO3 + maturin, an abi3
# wheel) into a virtual environment under target/, with maturin and pytest from PyPI, then
# runs pytest on python/tests. scripts/test-all.sh runs it as a step of its own.
#
#   scripts/python.sh [PYTEST_ARGS...]        e.g. scripts/python.sh -k asyncio -x
#
# PYTHON picks the interpreter (default python3; any CPython >= 3.9); the environment is
# target/python-venv-VERSION. The peers of the mixed-language tests are built first: the C
# library installed under target/stage with the C examples (c-examples/, make), and the Rust
# example `pipeline` (cargo build --release --example pipeline). Every stream test carries
# 1,000,000 checked messages; IPCRING_PY_QUICK=1 makes the fallback transports' 100,000 for a
# quick local run (python/tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
python="${PYTHON:-python3}"
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
venv="$root/target/python-venv-$version"
step() { printf -- '--> %s\n' "$*"; }

t0=$(date +%s)
if [ ! -x "$venv/bin/python" ]; then
    step "virtual environment $venv ($python, CPython $version)"
    "$python" -m venv "$venv"
fi
export PATH="$venv/bin:$PATH" # the build backend runs the venv's maturin
step "pip install maturin pytest (PyPI)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade 'maturin>=1.5,<2' 'pytest>=7'

step "pip install ./python (maturin, release build of the extension)"
t1=$(date +%s)
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps ./python
step "package built and installed in $(( $(date +%s) - t1 )) s"

step "peers: libipcring + C examples (target/stage, target/c-examples), the Rust example pipeline"
scripts/install.sh --prefix "$root/target/stage" >/dev/null
make -s -C c-examples IPCRING="$root/target/stage" O="$root/target/c-examples" >/dev/null
cargo build --quiet --release --example pipeline

export IPCRING_C_EXAMPLES="$root/target/c-examples"
export IPCRING_RUST_PIPELINE="$root/target/release/examples/pipeline"
step "pytest python/tests"
cd python
# pytest itself (not `python -m pytest`, which would put python/ first on sys.path and import
# the source tree ipcring/ without its extension instead of the installed package).
"$venv/bin/pytest" -q -p no:cacheprovider tests "$@"
step "python tests passed in $(( $(date +%s) - t0 )) s"
