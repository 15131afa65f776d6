"""The API in one process (and threads): errors as exceptions, timeouts, batches, recv_into,
iteration, close, context managers, several threads."""

import array
import threading
import time

import pytest

import ipcring
from conftest import STALL, address


def open_pair(name, **opts):
    q = "&".join(f"{k}={v}" for k, v in {"capacity": 8, "msg_size": 64, **opts}.items())
    addr = f"shm://{name}?{q}"
    rx = ipcring.Receiver.open(addr, create=True)
    tx = ipcring.Sender.open(addr)
    return tx, rx


def test_errors_are_exceptions_with_builtin_bases(name):
    assert issubclass(ipcring.TimedOut, TimeoutError) and issubclass(ipcring.TimedOut, ipcring.Error)
    assert issubclass(ipcring.WouldBlock, BlockingIOError)
    assert issubclass(ipcring.AlreadyExists, FileExistsError)
    assert issubclass(ipcring.NotFound, FileNotFoundError)
    assert issubclass(ipcring.PermissionDenied, PermissionError)
    assert issubclass(ipcring.InvalidAddress, ValueError)
    assert not issubclass(ipcring.SenderDied, ipcring.EndOfStream)

    with pytest.raises(ipcring.NotFound) as e:
        ipcring.Receiver.open(f"shm://{name}")
    assert str(e.value) == f"shm://{name} does not exist"
    assert e.value.kind == "NotFound" and e.value.address == f"shm://{name}"

    rx = ipcring.Receiver.open(f"shm://{name}", create="exclusive")
    with pytest.raises(FileExistsError) as e:
        ipcring.Receiver.open(f"shm://{name}", create="exclusive")
    assert f"shm://{name}" in str(e.value)
    rx.close()


@pytest.mark.parametrize(
    "bad, part",
    [
        ("bogus://x", "bogus"),
        ("shm://a/b", "a/b"),
        ("shm://x?capacity=banana", "banana"),
        ("shm://x?colour=red", "colour"),
        ("nothing", "nothing"),
    ],
)
def test_bad_addresses_raise_value_errors_naming_the_part(bad, part):
    with pytest.raises(ValueError) as e:
        ipcring.Sender.open(bad, create=True)
    assert isinstance(e.value, ipcring.Error)
    assert part in str(e.value), str(e.value)


def test_bad_arguments():
    with pytest.raises(ValueError):
        ipcring.Receiver.open("shm://x", create="sometimes")
    tx, rx = ipcring.pair("shm://?msg_size=16")
    with pytest.raises(ValueError):
        rx.recv(timeout=-1)
    with pytest.raises(TypeError):
        tx.send("a str is not bytes")
    with pytest.raises(TypeError):
        rx.recv_into(b"read-only bytes")


def test_oversized_message_sends_nothing(name):
    tx, rx = open_pair(name)
    with pytest.raises(ipcring.TooLarge) as e:
        tx.send(b"x" * 65)
    assert str(e.value) == "message of 65 bytes exceeds the channel's msg_size of 64"
    with pytest.raises(ipcring.TooLarge):
        tx.send_batch([b"ok", b"y" * 100])
    with pytest.raises(ipcring.WouldBlock):
        rx.recv(timeout=0)  # nothing of either was sent


def test_too_small_buffer_keeps_the_message(name):
    tx, rx = open_pair(name)
    tx.send(b"0123456789")
    small = bytearray(4)
    with pytest.raises(ipcring.BufferTooSmall) as e:
        rx.recv_into(small)
    assert isinstance(e.value, ValueError)
    assert "4 bytes is too small for a 10-byte message" in str(e.value)
    big = bytearray(64)
    assert rx.recv_into(big) == 10 and big[:10] == b"0123456789"


def test_recv_into_any_writable_buffer():
    tx, rx = ipcring.pair("shm://?msg_size=64")
    tx.send(array.array("i", [1, 2, 3]).tobytes())
    a = array.array("i", [0] * 4)
    assert rx.recv_into(a) == 12 and list(a[:3]) == [1, 2, 3]
    tx.send(b"into a memoryview")
    buf = bytearray(32)
    assert rx.recv_into(memoryview(buf)[4:]) == 17 and buf[4:21] == b"into a memoryview"


def test_timeouts():
    tx, rx = ipcring.pair("shm://?capacity=2&msg_size=8")
    with pytest.raises(ipcring.WouldBlock):
        rx.recv(timeout=0)
    t = time.monotonic()
    with pytest.raises(TimeoutError):
        rx.recv(timeout=0.2)
    assert time.monotonic() - t >= 0.19
    tx.send(b"1")
    tx.send(b"2")
    with pytest.raises(ipcring.WouldBlock):
        tx.send(b"3", timeout=0)
    with pytest.raises(ipcring.TimedOut):
        tx.send(b"3", timeout=0.1)
    assert rx.recv_batch(10) == [b"1", b"2"]


def test_spin_off_sleeps_and_is_woken():
    # spin=off: the blocking recv sleeps at once; a send from another thread wakes it, and a
    # blocked send on a full ring is woken by a receive. Refused on a fallback, by name.
    tx, rx = ipcring.pair("shm://?capacity=2&msg_size=8&spin=off")
    later = threading.Timer(0.05, lambda: tx.send(b"late"))
    later.start()
    assert rx.recv(timeout=STALL) == b"late"
    later.join()
    tx.send(b"1")
    tx.send(b"2")
    later = threading.Timer(0.05, lambda: rx.recv(timeout=STALL))
    later.start()
    tx.send(b"3", timeout=STALL)
    later.join()
    assert rx.recv_batch(10) == [b"2", b"3"]
    with pytest.raises(ValueError) as e:
        ipcring.pair("pipe://?spin=off")
    assert "spin" in str(e.value), str(e.value)


def test_batches_and_iteration():
    tx, rx = ipcring.pair("shm://?capacity=64&msg_size=16")
    msgs = [b"m%d" % i for i in range(50)]
    assert tx.send_batch(msgs) == 50
    assert rx.recv_batch(20) == msgs[:20]
    assert rx.recv_batch(100) == msgs[20:]
    assert tx.send_batch(iter([bytearray(b"a"), memoryview(b"bc"), b""])) == 3
    # A full ring: a batch sends what fits within its timeout.
    assert tx.send_batch([b"x"] * 100, timeout=0) == 61
    tx.close()
    got = list(rx)
    assert got[:3] == [b"a", b"bc", b""] and len(got) == 64
    with pytest.raises(ipcring.EndOfStream):
        rx.recv()
    with pytest.raises(ipcring.EndOfStream):
        rx.recv_batch(4)


def test_disconnected():
    tx, rx = ipcring.pair("shm://?msg_size=16")
    rx.close()
    with pytest.raises(ipcring.Disconnected) as e:
        tx.send(b"nobody")
    assert isinstance(e.value, BrokenPipeError)


def test_closed_handles_raise_and_context_managers_close():
    tx, rx = ipcring.pair("pipe://?msg_size=16")
    with tx, rx:
        tx.send(b"x")
    assert tx.closed and rx.closed
    for call in (lambda: tx.send(b"y"), lambda: rx.recv(), lambda: rx.recv_batch(2), lambda: tx.reserve(), rx.peek):
        with pytest.raises(ipcring.Closed):
            call()
    tx.close()  # idempotent
    rx.close()
    assert "closed" in repr(rx)


def test_unlink_and_remove(name):
    addr = f"shm://{name}"
    rx = ipcring.Receiver.open(addr, create=True)
    with pytest.raises(ipcring.InUse):
        ipcring.remove(addr)
    rx.close()
    ipcring.remove(addr)
    with pytest.raises(ipcring.NotFound):
        ipcring.unlink(addr)


def test_close_from_another_thread_ends_a_blocked_call():
    tx, rx = ipcring.pair("shm://?msg_size=16")
    errors = []

    def blocked():
        try:
            rx.recv()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=blocked)
    t.start()
    time.sleep(0.2)
    rx.close()
    t.join(STALL)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ipcring.Closed)


def test_threads_use_different_handles_at_once():
    """Four channels, a producer and a consumer thread each; the GIL is released while they
    wait, so they all make progress; every message checked."""
    N = 20_000
    chans = [ipcring.pair("shm://?capacity=16&msg_size=16") for _ in range(4)]
    results = {}

    def produce(i, tx):
        for k in range(N):
            tx.send(b"%d:%d" % (i, k))
        tx.close()

    def consume(i, rx):
        k = 0
        for m in rx:
            assert m == b"%d:%d" % (i, k)
            k += 1
        results[i] = k

    threads = [threading.Thread(target=produce, args=(i, tx)) for i, (tx, _) in enumerate(chans)]
    threads += [threading.Thread(target=consume, args=(i, rx)) for i, (_, rx) in enumerate(chans)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(STALL)
    assert results == {i: N for i in range(4)}


def test_one_handle_shared_by_threads():
    """Two threads sending on one handle: each call is whole (the handle's lock)."""
    tx, rx = ipcring.pair("shm://?capacity=64&msg_size=16")
    N = 10_000

    def produce(i):
        for k in range(N):
            tx.send(b"%d:%d" % (i, k))

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    nxt = [0, 0]
    for _ in range(2 * N):
        i, k = map(int, rx.recv(timeout=STALL).split(b":"))
        assert k == nxt[i]
        nxt[i] += 1
    for t in threads:
        t.join(STALL)


@pytest.mark.parametrize("transport", ["unix", "fifo", "mq"])
def test_fallbacks_by_name(transport, name):
    addr = address(transport, name, msg_size=32)
    rx = ipcring.Receiver.open(addr, create=True)
    tx = ipcring.Sender.open(addr)
    tx.send(b"over " + transport.encode())
    assert rx.recv(timeout=STALL) == b"over " + transport.encode()
    with pytest.raises(ipcring.TooLarge):
        tx.send(b"z" * 33)
    tx.close()
    with pytest.raises(ipcring.EndOfStream):
        rx.recv(timeout=STALL)
    rx.close()
