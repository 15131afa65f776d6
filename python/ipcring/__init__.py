"""ipcring: messages between processes through a lock-free ring in shared memory.

A Python stage of a pipeline talks to C and Rust stages over the same addresses::

    import ipcring
    rx = ipcring.Receiver.open("shm://jobs?capacity=1024&msg_size=256", create=True)
    tx = ipcring.Sender.open("shm://jobs")
    tx.send(b"hello")              # timeout=None waits for ever, 0 does not wait, or seconds
    assert rx.recv() == b"hello"   # bytes; recv_into(buffer) -> length
    tx.close()
    for msg in rx: ...             # ends at end of stream (every sender closed)

Addresses: ``shm://NAME`` (the ring, options ``capacity``, ``msg_size``, ``mode=spsc|mpmc``,
``wake=futex|sem``), ``fifo:///path``, ``mq://NAME``, ``unix:///path``, ``tcp://host:port``,
and ``pair("shm://")`` / ``pair("pipe://")`` for an anonymous channel across ``fork``.
See docs/python.md in the repository.
"""

from ._errors import *  # noqa: F401,F403
from ._errors import __all__ as _error_names
from ._ipcring import (
    FORMAT_OVERHEAD,
    HAVE_FILENO,
    LIBRARY_VERSION,
    Peek,
    Receiver,
    Reservation,
    Sender,
    pair,
    remove,
    unlink,
)

__version__ = LIBRARY_VERSION

__all__ = [
    "Sender",
    "Receiver",
    "Peek",
    "Reservation",
    "pair",
    "unlink",
    "remove",
    "HAVE_FILENO",
    *_error_names,
]
