"""asyncio support: ``await rx.recv_async()``, ``await tx.send_async(data)``, ``async for``.

With the library's descriptor API (``fileno()``), a coroutine that finds the channel empty (or
full) registers the descriptor with the running loop (``loop.add_reader``) and tries again when
it is readable: no thread, no polling. Without it (``ipcring.HAVE_FILENO`` False: a build
without the descriptor API), it polls without blocking the loop: a non-blocking
try, then ``asyncio.sleep`` with a back-off from 0.1 ms up to 5 ms. Either way every attempt is a
non-blocking call, so a cancelled coroutine has taken or sent nothing (cancel-safe).
"""

import asyncio

from ._errors import EndOfStream, TimedOut, WouldBlock
from ._ipcring import HAVE_FILENO

_MAX_BACKOFF = 0.005


async def _ready(handle, loop, deadline):
    """Waits until `handle` may make progress (or a poll interval has passed)."""
    if HAVE_FILENO:
        fut = loop.create_future()
        fd = handle.fileno()

        def wake():
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(fd, wake)
        try:
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            loop.remove_reader(fd)
        return None
    return None


async def _retry(handle, attempt, timeout):
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    backoff = 0.0001
    while True:
        try:
            return attempt()
        except WouldBlock:
            pass
        if deadline is not None and loop.time() >= deadline:
            raise TimedOut("timed out")
        if HAVE_FILENO:
            await _ready(handle, loop, deadline)
        else:
            pause = backoff if deadline is None else min(backoff, max(0.0, deadline - loop.time()))
            await asyncio.sleep(pause)
            backoff = min(backoff * 2, _MAX_BACKOFF)


async def recv_async(rx, timeout=None):
    """Receives one message (bytes) without blocking the event loop."""
    return await _retry(rx, lambda: rx.recv(timeout=0), timeout)


async def send_async(tx, data, timeout=None):
    """Sends one message without blocking the event loop."""
    return await _retry(tx, lambda: tx.send(data, timeout=0), timeout)


async def anext(rx):
    """``async for msg in rx``: the next message; StopAsyncIteration at end of stream."""
    try:
        return await recv_async(rx)
    except EndOfStream:
        raise StopAsyncIteration from None
