"""The exceptions of ipcring: one class per kind of failure of the library.

Every class derives from :class:`Error`, and also from the builtin exception that a Python
programmer would catch for it, so ``except TimeoutError`` or ``except FileNotFoundError``
work as they do for files and sockets. The message is the library's own text (the same as
Rust's ``Display`` and C's ``ipcring_last_error``), which names the address where it concerns
an object; every exception raised by a call also has ``address`` (the channel's address) and
``kind`` (the class's name, the Rust ``ErrorKind``).
"""

import io


class Error(Exception):
    """Any failure of ipcring."""

    kind = "Error"
    address = ""


# Bad input: the caller can fix it.
class InvalidName(Error, ValueError):
    """A ring name is empty, too long, or contains a '/' or a NUL byte."""


class InvalidAddress(Error, ValueError):
    """An address is malformed, or names an unknown scheme or option."""


class InvalidOption(Error, ValueError):
    """A creation option (capacity, msg_size, ...) is out of range."""


class TooLarge(Error, ValueError):
    """A message is longer than the channel's msg_size; nothing was sent."""


class BufferTooSmall(Error, ValueError):
    """The receive buffer is shorter than the next message; the message stays in the channel."""


class MessageSize(Error, ValueError):
    """A message is not the size a typed receive expects."""


# The named object.
class AlreadyExists(Error, FileExistsError):
    """create="exclusive" found an object of that name already there."""


class NotFound(Error, FileNotFoundError):
    """No object of that name (open without create, unlink, remove)."""


class PermissionDenied(Error, PermissionError):
    """The operating system refused access to the object."""


class NoSpace(Error, OSError):
    """The shared-memory filesystem has no room for a region of this size."""


class KernelLimit(Error, OSError):
    """A kernel limit (e.g. a POSIX queue's msg_max) is lower than what was asked for."""


class Io(Error, OSError):
    """A system call failed (``errno`` is set)."""


# Waiting.
class WouldBlock(Error, BlockingIOError):
    """The channel is full (send) or empty (receive) and the call was not allowed to wait (timeout=0)."""


class TimedOut(Error, TimeoutError):
    """The channel stayed full or empty for the whole timeout."""


class NotReady(Error, TimeoutError):
    """The ring's creator did not finish initialising it in time."""


class Interrupted(Error, InterruptedError):
    """The call was woken by an interrupter of its end before it could complete."""


# The peers.
class EndOfStream(Error, EOFError):
    """Every sender has gone and the channel is drained (iteration ends here instead)."""


class SenderDied(Error, EOFError):
    """A sender died without closing: where the receiver would have seen the end of the stream.

    Deliberately not a subclass of EndOfStream, so that a crashed producer is never taken for a
    finished one (iteration raises it).
    """


class Disconnected(Error, BrokenPipeError):
    """Every receiver has gone: nothing sent now would ever be read."""


class NoListener(Error, ConnectionRefusedError):
    """A tcp:// or unix:// send's time ended and nothing listens at the address (the message
    names it: "connection refused" or "no listener"). Nothing was sent."""


class Busy(Error):
    """The role is already taken (an SPSC ring has one sender and one receiver), or another process is removing the object."""


class InUse(Error):
    """remove() without force found the object in use."""


class TooManyEndpoints(Error):
    """The ring's endpoint table is full."""


# The ring itself.
class CreatorDied(Error):
    """The ring's creator died while initialising it: remove it and create it again."""


class NotARing(Error):
    """The object is not an ipcring region."""


class AbiMismatch(Error):
    """The region was created by an incompatible version of the library."""


class LayoutMismatch(Error):
    """The region's layout (sizes, pointer width, endianness) differs from ours."""


class Mismatch(Error, ValueError):
    """The ring is valid but not the one asked for (mode, capacity, msg_size, wake)."""


class SizeMismatch(Error):
    """The object's real size differs from the size its header claims."""


class Corrupted(Error):
    """A value read from the shared region makes no sense; the ring is poisoned."""


class Unsupported(Error, io.UnsupportedOperation):
    """The operation is not available on this channel, transport or build (e.g. fileno() before the descriptor API)."""


class Closed(Error, ValueError):
    """The handle was closed (like I/O on a closed file)."""


__all__ = [name for name, value in list(globals().items()) if isinstance(value, type) and issubclass(value, Error)]
