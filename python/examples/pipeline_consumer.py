"""The Python consumer of the mixed-language pipeline: receives what c-examples/pipeline_producer
(or `cargo run --release --example pipeline -- produce`) sends, checks every message (the format
of c-examples/pipeline_format.h: sequence, payload and checksum) and prints the count.

    A='shm://pipeline-demo?capacity=1024&msg_size=256'
    python python/examples/pipeline_consumer.py "$A" 1000000 &
    target/c-examples/pipeline_producer "$A" 1000000
    wait
"""

import sys
import time

import ipcring
from ipcring._ipcring import _format_decode  # the format's checker (tests/common/msg.rs)

address, count = sys.argv[1], int(sys.argv[2])
rx = ipcring.Receiver.open(address, create=True)
maxp = rx.max_msg_size - ipcring.FORMAT_OVERHEAD
n, start = 0, None
for msg in rx:  # ends when the producer closes
    start = start or time.perf_counter()
    producer, seq = _format_decode(msg, maxp)  # raises ValueError on a bad message
    if seq != n:
        sys.exit(f"message #{n}: seq {seq}, expected {n}")
    n += 1
rx.close()
ipcring.unlink(address)
print(f"received {n} messages, all verified ({n / (time.perf_counter() - start):,.0f} msg/s)")
sys.exit(0 if n == count else f"expected {count}")
