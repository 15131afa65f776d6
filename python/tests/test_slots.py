"""Zero-copy: peek() and reserve() hand out memoryviews of a slot that cannot outlive it."""

import gc

import pytest

import ipcring


@pytest.fixture(params=["shm://?capacity=8&msg_size=64", "shm://?capacity=8&msg_size=64&mode=mpmc", "pipe://?msg_size=64"])
def chan(request):
    tx, rx = ipcring.pair(request.param)
    yield tx, rx
    tx.close()
    rx.close()


def test_peek_consumes_at_the_end_of_the_block(chan):
    tx, rx = chan
    tx.send(b"first")
    tx.send(b"second")
    with rx.peek() as view:
        assert isinstance(view, memoryview) and view.readonly
        assert bytes(view) == b"first"
    assert rx.recv() == b"second"


def test_memoryview_used_after_its_block_raises(chan):
    tx, rx = chan
    tx.send(b"short-lived")
    with rx.peek() as view:
        kept = view
    with pytest.raises(ValueError):  # a released memoryview
        kept[0]
    with pytest.raises(ValueError):
        bytes(kept)
    tx.send(b"next")
    assert rx.recv() == b"next"


def test_a_slice_kept_alive_blocks_the_slot_until_released(chan):
    tx, rx = chan
    tx.send(b"abcdef")
    tx.send(b"after")
    with pytest.raises(BufferError):
        with rx.peek() as view:
            part = view[2:4]
    # The slot is not given back while the slice lives: the slice still reads the message,
    # and the receiver refuses to move on.
    assert bytes(part) == b"cd"
    with pytest.raises(BufferError):
        rx.recv(timeout=0)
    with pytest.raises(BufferError):
        rx.close()
    part.release()
    assert rx.recv() == b"after"


def test_a_new_export_after_the_block_is_refused(chan):
    tx, rx = chan
    tx.send(b"xyz")
    p = rx.peek()
    with p as view:
        exporter = view.obj
    with pytest.raises(BufferError):
        memoryview(exporter)
    with pytest.raises(BufferError):
        p.view


def test_peek_block_that_raises_keeps_the_message_unless_mpmc(chan):
    tx, rx = chan
    tx.send(b"keep me")
    with pytest.raises(RuntimeError):
        with rx.peek():
            raise RuntimeError("consumer failed")
    if rx.peek_consumes:
        with pytest.raises(ipcring.WouldBlock):
            rx.recv(timeout=0)
    else:
        assert rx.recv() == b"keep me"


def test_peek_not_entered_then_dropped_gives_the_slot_back(chan):
    tx, rx = chan
    tx.send(b"one")
    tx.send(b"two")
    p = rx.peek()
    with pytest.raises(BufferError):
        rx.recv()  # still open
    del p
    gc.collect()
    got = rx.recv()
    assert got == (b"two" if rx.peek_consumes else b"one")


def test_reserve_commit(chan):
    tx, rx = chan
    with tx.reserve() as slot:
        assert len(slot.buf) == 64 and not slot.buf.readonly
        slot.buf[:5] = b"hello"
        slot.commit(5)
    assert rx.recv() == b"hello"
    with tx.reserve() as slot:
        buf = slot.buf
        buf[:3] = b"abc"
    # Not committed: given back unsent.
    with pytest.raises(ipcring.WouldBlock):
        rx.recv(timeout=0)
    with pytest.raises(ValueError):
        buf[0] = 1  # released
    with pytest.raises(ipcring.TooLarge):
        with tx.reserve() as slot:
            slot.commit(65)
    tx.send(b"still works")
    assert rx.recv() == b"still works"


def test_reserve_refuses_commit_while_a_view_is_alive(chan):
    tx, rx = chan
    with tx.reserve() as slot:
        part = slot.buf[:4]
        part[:] = b"data"
        with pytest.raises(BufferError):
            slot.commit(4)
        part.release()
        slot.commit(4)
    assert rx.recv() == b"data"


def test_one_mib_message_through_peek_without_a_copy():
    tx, rx = ipcring.pair(f"shm://?capacity=4&msg_size={1 << 20}")
    payload = bytes(range(256)) * 4096
    with tx.reserve() as slot:
        slot.buf[:] = payload
        slot.commit(len(payload))
    with rx.peek() as view:
        assert len(view) == 1 << 20
        # The view's exporter is the ring's slot itself, not a bytes copy.
        assert type(view.obj).__name__ == "SlotMemory"
        assert view[:256] == payload[:256] and view[-1] == 255
        assert view == payload
