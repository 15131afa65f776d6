"""The Python peer of the stream tests, run as its own process:

    peer.py produce ADDRESS COUNT [PRODUCER]   open a sender (create if missing), send COUNT
                                                messages of the data format, close
    peer.py consume ADDRESS COUNT              open a receiver (create if missing), check every
                                                message until end of stream, print the count
    peer.py produce-forever ADDRESS            send until killed (the SIGKILL test)
    peer.py block ADDRESS COUNT                the Ctrl-C test: block in recv(), report the
                                                KeyboardInterrupt, then receive COUNT messages

Prints one line per result; exits 1 with the reason on any failure.
"""

import sys
import time

import ipcring
from ipcring._ipcring import _format_decode, _format_encode

OVERHEAD = ipcring.FORMAT_OVERHEAD


def produce(address, count, producer=0):
    tx = ipcring.Sender.open(address, create=True)
    maxp = tx.max_msg_size - OVERHEAD
    send = tx.send
    for seq in range(count):
        send(_format_encode(producer, seq, maxp))
    tx.close()
    print(f"sent {count} messages")


def consume_from(rx, count):
    maxp = rx.max_msg_size - OVERHEAD
    n = 0
    for msg in rx:
        p, seq = _format_decode(msg, maxp)
        if seq != n:
            raise SystemExit(f"message #{n}: seq {seq} (producer {p}), expected {n}")
        n += 1
    if n != count:
        raise SystemExit(f"end of stream after {n} messages, expected {count}")
    return n


def main(argv):
    cmd, address = argv[0], argv[1]
    if cmd == "produce":
        produce(address, int(argv[2]), int(argv[3]) if len(argv) > 3 else 0)
    elif cmd == "consume":
        rx = ipcring.Receiver.open(address, create=True)
        n = consume_from(rx, int(argv[2]))
        rx.close()
        print(f"received {n} messages, all verified")
    elif cmd == "produce-forever":
        tx = ipcring.Sender.open(address, create=True)
        maxp = tx.max_msg_size - OVERHEAD
        seq = 0
        print("producing", flush=True)
        while True:
            tx.send(_format_encode(0, seq, maxp))
            seq += 1
    elif cmd == "block":
        count = int(argv[2])
        rx = ipcring.Receiver.open(address, create=True)
        print("ready", flush=True)
        try:
            msg = rx.recv()
            raise SystemExit(f"recv returned {msg!r} before the interrupt")
        except KeyboardInterrupt:
            caught = time.monotonic()
            print(f"interrupted at {caught:.6f}", flush=True)
        print("receiving", flush=True)
        n = consume_from(rx, count)
        print(f"received {n} messages, all verified", flush=True)
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
