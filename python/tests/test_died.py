"""A Python producer killed with SIGKILL: the receiver gets SenderDied, not a clean end of
stream, after every message the producer had sent.

Pending: the library reports a dead sender as SenderDied only from its `endings` work (the
Rust ErrorKind::SenderDied); until then it is an end of stream, and this test is an expected
failure that says so."""

import signal
import time

import pytest

import ipcring
from conftest import STALL, address, peer, spawn
from ipcring._ipcring import _format_decode


@pytest.mark.parametrize("transport", ["shm-spsc", "shm-mpmc"])
def test_killed_producer_gives_sender_died(transport, name):
    addr = address(transport, name)
    rx = ipcring.Receiver.open(addr, create=True)
    child = spawn(peer("produce-forever", addr))
    assert child.stdout.readline().strip() == "producing"
    maxp = rx.max_msg_size - ipcring.FORMAT_OVERHEAD
    n = 0
    for _ in range(5000):
        _, seq = _format_decode(rx.recv(timeout=STALL), maxp)
        assert seq == n
        n += 1
    child.send_signal(signal.SIGKILL)
    child.wait(STALL)
    t = time.monotonic()
    try:
        while True:
            _, seq = _format_decode(rx.recv(timeout=STALL), maxp)
            assert seq == n
            n += 1
    except ipcring.SenderDied:
        pass
    finally:
        rx.close()
    assert time.monotonic() - t < STALL
