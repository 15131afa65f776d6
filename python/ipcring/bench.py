"""One-way throughput between two processes, ipcring beside the Python references, in one run:

    python -m ipcring.bench [--count N] [--sizes 8,1024,1048576] [--batch 64]

For each message size, a producer process (forked) sends the same messages to this process
by each method, and this process receives them; the rate is messages received per second
from the first message to the last (process start-up excluded):

- ipcring, one message per call: ``tx.send(msg)`` / ``rx.recv()`` over an SPSC ring
  (``pair("shm://...")``), and ``with rx.peek() as view`` (zero copy) for the largest size;
- ipcring, batches: ``tx.send_batch(msgs)`` / ``rx.recv_batch(n)``;
- a framed ``os.pipe`` loop: a 4-byte length then the payload per message, written with
  ``os.write`` (one per message, or the frames of a batch joined in one write) and read
  through a buffered reader (``f.read(4)``, ``f.read(n)``);
- ``multiprocessing.Queue``: ``put(msg)`` / ``get()`` (batches: one list per put).

Every received message's length is checked. Prints a table and, with --json, one JSON object.
"""

import argparse
import json
import multiprocessing
import os
import platform
import struct
import sys
import time

import ipcring


def _distinct(size, k):
    """k distinct bytes objects of `size` bytes (so that no method can send one object k times:
    pickle would send a repeated object once)."""
    return [bytes([i % 256]) * size for i in range(k)]


def _fork(child):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    return pid


def _wait(pid):
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("the producer process failed")


def _timed(receive_first, receive_rest, count):
    receive_first()
    t0 = time.perf_counter()
    receive_rest(count - 1)
    return (count - 1) / (time.perf_counter() - t0)


def ipcring_single(size, count, batch, peek=False):
    cap = 4096 if size <= 4096 else 8
    tx, rx = ipcring.pair(f"shm://?capacity={cap}&msg_size={max(size, 8)}")
    msg = b"x" * size

    def produce():
        rx.close()
        send = tx.send
        for _ in range(count):
            send(msg)
        tx.close()

    pid = _fork(produce)
    tx.close()

    def first():
        assert len(rx.recv()) == size

    def rest(n):
        if peek:
            for _ in range(n):
                with rx.peek() as view:
                    assert len(view) == size
        else:
            recv = rx.recv
            for _ in range(n):
                if len(recv()) != size:
                    raise AssertionError("bad length")

    rate = _timed(first, rest, count)
    _wait(pid)
    rx.close()
    return rate


def ipcring_batch(size, count, batch):
    cap = 4096 if size <= 4096 else 8
    tx, rx = ipcring.pair(f"shm://?capacity={cap}&msg_size={max(size, 8)}")
    msgs = _distinct(size, batch)

    def produce():
        rx.close()
        left = count
        while left:
            k = min(batch, left)
            left -= tx.send_batch(msgs[:k])
        tx.close()

    pid = _fork(produce)
    tx.close()
    got = [0]

    def first():
        got[0] = len(rx.recv_batch(4 * batch))

    def rest(n):
        total = got[0] - 1
        want = n
        while total < want:
            ms = rx.recv_batch(4 * batch)
            total += len(ms)
        if total != want:
            raise AssertionError(f"{total} messages, expected {want}")

    rate = _timed(first, rest, count)
    _wait(pid)
    rx.close()
    return rate


def pipe_framed(size, count, batch, batched=False):
    r, w = os.pipe()
    frame = struct.pack("<I", size) + b"x" * size

    def produce():
        os.close(r)
        if batched:
            chunk = frame * batch
            left = count
            while left:
                k = min(batch, left)
                data = chunk if k == batch else frame * k
                view = memoryview(data)
                while view:
                    view = view[os.write(w, view):]
                left -= k
        else:
            for _ in range(count):
                view = memoryview(frame)
                while view:
                    view = view[os.write(w, view):]
        os.close(w)

    pid = _fork(produce)
    os.close(w)
    f = os.fdopen(r, "rb", buffering=1 << 16)
    unpack = struct.Struct("<I").unpack

    def one():
        (n,) = unpack(f.read(4))
        if len(f.read(n)) != size:
            raise AssertionError("bad length")

    def rest(k):
        read = f.read
        for _ in range(k):
            (n,) = unpack(read(4))
            if len(read(n)) != size:
                raise AssertionError("bad length")

    rate = _timed(one, rest, count)
    f.close()
    _wait(pid)
    return rate


def mp_queue(size, count, batch, batched=False):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue(maxsize=4096)
    msg = b"x" * size
    msgs = _distinct(size, batch)

    def produce(q):
        if batched:
            left = count
            while left:
                k = min(batch, left)
                q.put(msgs[:k])
                left -= k
        else:
            for _ in range(count):
                q.put(msg)

    p = ctx.Process(target=produce, args=(q,))
    p.start()
    got = [0]

    def first():
        if batched:
            got[0] = len(q.get())
        else:
            assert len(q.get()) == size
            got[0] = 1

    def rest(n):
        total = got[0] - 1
        while total < n:
            if batched:
                total += len(q.get())
            else:
                if len(q.get()) != size:
                    raise AssertionError("bad length")
                total += 1

    rate = _timed(first, rest, count)
    p.join()
    return rate


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=500_000, help="messages per run of ipcring and os.pipe (default 500000)")
    ap.add_argument("--queue-count", type=int, default=100_000, help="messages per run of multiprocessing.Queue")
    ap.add_argument("--sizes", default="8,1024,1048576", help="message sizes in bytes")
    ap.add_argument("--batch", type=int, default=64, help="messages per batch")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",")]
    rows = []
    for size in sizes:
        scale = 1 if size <= 4096 else 1000  # 1 MiB messages: count / 1000
        n = max(2, a.count // scale)
        nq = max(2, a.queue_count // scale)
        runs = [
            ("ipcring send/recv", lambda: ipcring_single(size, n, a.batch)),
            ("ipcring send_batch/recv_batch", lambda: ipcring_batch(size, n, a.batch)),
            ("os.pipe framed, one write per message", lambda: pipe_framed(size, n, a.batch)),
            ("os.pipe framed, one write per batch", lambda: pipe_framed(size, n, a.batch, batched=True)),
            ("multiprocessing.Queue put/get", lambda: mp_queue(size, nq, a.batch)),
            ("multiprocessing.Queue, a list per put", lambda: mp_queue(size, nq, a.batch, batched=True)),
        ]
        if size >= 65536:
            runs.insert(1, ("ipcring peek (zero copy)", lambda: ipcring_single(size, n, a.batch, peek=True)))
        for label, fn in runs:
            rate = fn()
            rows.append({"size": size, "method": label, "msg_per_s": rate, "mb_per_s": rate * size / 1e6})
            print(f"{size:>8} B  {label:<40} {rate:>13,.0f} msg/s  {rate * size / 1e6:>10,.1f} MB/s", flush=True)
    if a.json:
        print(json.dumps({
            "python": sys.version.split()[0],
            "ipcring": ipcring.__version__,
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "rows": rows,
        }))


if __name__ == "__main__":
    main()
