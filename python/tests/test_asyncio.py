"""asyncio: several channels served by one event loop, every message checked."""

import asyncio

import pytest

import ipcring
from conftest import STALL, address, peer, spawn, finish
from ipcring._ipcring import _format_decode


def test_several_channels_in_one_loop():
    N = 5000

    async def main():
        chans = [ipcring.pair("shm://?capacity=8&msg_size=16") for _ in range(3)]
        chans.append(ipcring.pair("pipe://?msg_size=16"))

        async def produce(i, tx):
            for k in range(N):
                await tx.send_async(b"%d:%d" % (i, k))
            tx.close()

        async def consume(i, rx):
            k = 0
            async for m in rx:
                assert m == b"%d:%d" % (i, k)
                k += 1
            return k

        tasks = [produce(i, tx) for i, (tx, _) in enumerate(chans)]
        tasks += [consume(i, rx) for i, (_, rx) in enumerate(chans)]
        return await asyncio.wait_for(asyncio.gather(*tasks), STALL)

    res = asyncio.run(main())
    assert res[4:] == [N] * 4


def test_channels_from_other_processes(name):
    """Two producer processes on two rings, one loop receiving from both."""
    N = 20_000
    addrs = [address("shm-spsc", f"{name}-{i}") for i in range(2)]
    rxs = [ipcring.Receiver.open(a, create=True) for a in addrs]
    procs = [spawn(peer("produce", a, N)) for a in addrs]

    async def drain(rx):
        maxp = rx.max_msg_size - ipcring.FORMAT_OVERHEAD
        k = 0
        while True:
            try:
                m = await rx.recv_async(timeout=STALL)
            except ipcring.EndOfStream:
                return k
            assert _format_decode(m, maxp)[1] == k
            k += 1

    async def main():
        return await asyncio.gather(*(drain(rx) for rx in rxs))

    assert asyncio.run(main()) == [N, N]
    for p in procs:
        finish(p, "a producer")
    for a in addrs:
        ipcring.unlink(a)


def test_recv_async_timeout_and_cancel_lose_nothing():
    tx, rx = ipcring.pair("shm://?msg_size=16")

    async def main():
        with pytest.raises(TimeoutError):
            await rx.recv_async(timeout=0.05)
        task = asyncio.ensure_future(rx.recv_async())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        tx.send(b"kept")
        return await rx.recv_async(timeout=STALL)

    assert asyncio.run(main()) == b"kept"


@pytest.mark.skipif(not ipcring.HAVE_FILENO, reason="pending: the library's descriptor API (AsFd on Sender/Receiver)")
def test_fileno_is_readable_when_a_message_is_there():
    import select

    tx, rx = ipcring.pair("shm://?msg_size=16")
    fd = rx.fileno()
    assert select.select([fd], [], [], 0)[0] == []
    tx.send(b"x")
    assert select.select([fd], [], [], STALL)[0] == [fd]
    assert rx.recv() == b"x"
