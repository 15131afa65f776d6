"""1,000,000-message streams between processes, every message checked (sequence and
checksum): C -> Python, Python -> Rust, Python -> Python, over shm SPSC and MPMC, pipe
(Python -> Python: it is anonymous, made with pair() across fork), unix, fifo and mq.

Every stream carries 1,000,000 messages (conftest.SMALL: 100,000 on the fallback transports
with IPCRING_PY_QUICK=1)."""

import os

import pytest

import ipcring
from conftest import BIG, SMALL, STALL, address, c_program, finish, peer, rust_pipeline, spawn
from peer import OVERHEAD, consume_from, produce

TRANSPORTS = ["shm-spsc", "shm-mpmc", "unix", "fifo", "mq"]


def count_of(transport):
    return BIG if transport.startswith("shm") else SMALL


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_c_to_python(transport, name):
    addr = address(transport, name)
    count = count_of(transport)
    rx = ipcring.Receiver.open(addr, create=True)
    producer = spawn([c_program("pipeline_producer"), addr, count])
    try:
        assert consume_from(rx, count) == count
    finally:
        rx.close()
    out = finish(producer, "the C producer")
    assert out.startswith(f"sent {count} messages"), out


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_python_to_rust(transport, name):
    addr = address(transport, name)
    count = count_of(transport)
    consumer = spawn([rust_pipeline(), "consume", addr, count])
    produce(addr, count)
    out = finish(consumer, "the Rust consumer")
    assert f"received {count} messages, all verified" in out.splitlines(), out


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_python_to_python(transport, name):
    addr = address(transport, name)
    count = count_of(transport)
    rx = ipcring.Receiver.open(addr, create=True)
    producer = spawn(peer("produce", addr, count))
    try:
        assert consume_from(rx, count) == count
    finally:
        rx.close()
    assert finish(producer, "the Python producer").startswith(f"sent {count} messages")


@pytest.mark.parametrize("kind", ["shm://?capacity=1024&msg_size=64", "pipe://?msg_size=64"])
def test_python_to_python_pair_across_fork(kind):
    """The pipe(2) pattern: pair(), fork, each side closes the end it does not use."""
    tx, rx = ipcring.pair(kind)
    pid = os.fork()
    if pid == 0:  # child: the producer
        code = 1
        try:
            rx.close()
            maxp = tx.max_msg_size - OVERHEAD
            from ipcring._ipcring import _format_encode

            for seq in range(SMALL):
                tx.send(_format_encode(0, seq, maxp))
            tx.close()
            code = 0
        finally:
            os._exit(code)
    tx.close()
    try:
        assert consume_from(rx, SMALL) == SMALL
    finally:
        rx.close()
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_mpmc_two_python_producers_to_rust_and_python(name):
    """Two Python producer processes into one MPMC ring, drained by this process: every
    message of each producer, in order per producer."""
    addr = address("shm-mpmc", name)
    rx = ipcring.Receiver.open(addr, create=True)
    procs = [spawn(peer("produce", addr, SMALL, p)) for p in (1, 2)]
    from ipcring._ipcring import _format_decode

    maxp = rx.max_msg_size - OVERHEAD
    nxt = {1: 0, 2: 0}
    # Counted rather than to end of stream: one producer may finish before the other attaches.
    for _ in range(2 * SMALL):
        p, seq = _format_decode(rx.recv(timeout=STALL), maxp)
        assert seq == nxt[p], f"producer {p}: seq {seq}, expected {nxt[p]}"
        nxt[p] += 1
    for proc in procs:
        finish(proc, "a Python producer")
    with pytest.raises(ipcring.EndOfStream):
        rx.recv(timeout=STALL)
    rx.close()
    assert nxt == {1: SMALL, 2: SMALL}
