"""Shared fixtures of the Python package's tests (run by scripts/python.sh).

Every stream test checks every message: the data tests' format (`[producer u32][seq u64]
[payload][fnv1a u64]`, tests/common/msg.rs and c-examples/pipeline_format.h; checked here with
the extension's `_format_decode`, the same Rust code the Rust tests use) and that the
sequence numbers are exactly 0..count-1.
"""

import os
import pathlib
import subprocess
import sys
import uuid

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# Every stream carries 1,000,000 messages (the count), on every transport;
# IPCRING_PY_QUICK=1 makes the fallback transports' streams 100,000 for a quick local run.
BIG = 1_000_000
SMALL = 100_000 if os.environ.get("IPCRING_PY_QUICK") == "1" else BIG

# A generous bound on anything that should not hang (the machine is noisy): never a speed test.
STALL = 120


def c_program(name):
    d = os.environ.get("IPCRING_C_EXAMPLES", str(ROOT / "target" / "c-examples"))
    p = pathlib.Path(d) / name
    if not p.exists():
        pytest.fail(f"{p} is missing: run the tests through scripts/python.sh (it builds the C examples)")
    return str(p)


def rust_pipeline():
    p = pathlib.Path(os.environ.get("IPCRING_RUST_PIPELINE", str(ROOT / "target" / "release" / "examples" / "pipeline")))
    if not p.exists():
        pytest.fail(f"{p} is missing: run the tests through scripts/python.sh (cargo build --release --example pipeline)")
    return str(p)


def peer(*args):
    """The command line of the Python peer (tests/peer.py) in a new interpreter."""
    return [sys.executable, str(HERE / "peer.py"), *map(str, args)]


def spawn(cmd, **kw):
    return subprocess.Popen([str(a) for a in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def finish(proc, what):
    out, err = proc.communicate(timeout=STALL)
    assert proc.returncode == 0, f"{what} exited {proc.returncode}\nstdout: {out}\nstderr: {err}"
    return out


@pytest.fixture
def name():
    """A fresh object name for this test; whatever it names is removed afterwards."""
    n = f"ipcring-py-{os.getpid()}-{uuid.uuid4().hex[:10]}"
    yield n
    import ipcring

    for a in (f"shm://{n}", f"mq://{n}", f"unix:///tmp/{n}.sock", f"fifo:///tmp/{n}.fifo"):
        try:
            ipcring.unlink(a)
        except ipcring.Error:
            pass


def address(transport, name, msg_size=64):
    """An address of `transport` for `name` (options: the ring's mode and sizes)."""
    if transport == "shm-spsc":
        return f"shm://{name}?capacity=1024&msg_size={msg_size}"
    if transport == "shm-mpmc":
        return f"shm://{name}?capacity=1024&msg_size={msg_size}&mode=mpmc"
    if transport == "unix":
        return f"unix:///tmp/{name}.sock?msg_size={msg_size}"
    if transport == "fifo":
        return f"fifo:///tmp/{name}.fifo?msg_size={msg_size}"
    if transport == "mq":
        return f"mq://{name}?capacity=10&msg_size={msg_size}"
    raise ValueError(transport)
