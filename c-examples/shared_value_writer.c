/* shared_value_writer: leaves an integer and a string in a named channel and exits; an
 * unrelated shared_value_reader started later reads them.
 *
 *     shared_value_writer [ADDRESS [NUMBER [TEXT]]]
 *         defaults: shm://ipcring-example-value?capacity=2, 100, "Hello from the writer!"
 *
 * Prints:  writer: left 100 and "Hello from the writer!"
 *
 * Then, any time later:  ./shared_value_reader
 *
 * Ports seed row 6 (shm_open + ftruncate + mmap, store a value, exit; another program maps
 * the same name and reads it). The nearest equivalent here: a named channel keeps its
 * messages after the writer exits, because the shared-memory object persists until it is
 * unlinked, so the writer sends two messages (the number, then the text) and exits. The
 * reader unlinks the name when it is done, as the seed's reader did with shm_unlink.
 *
 * What differs from a raw segment: a segment holds one value that a writer overwrites and
 * readers read any number of times; a channel queues messages and a receive consumes one.
 * So a second run of this writer before the reader finds the channel full (capacity 2)
 * and fails instead of overwriting the values; and the reader shows ipcring_peek, which
 * reads a message in place without consuming it (until ipcring_release). The number is
 * sent in this machine's byte order, as the seed stored it in the segment.
 */
#include "example_util.h"

#include <stdint.h>
#include <stdlib.h>

/* Sends the number and the text as one batch: on an SPSC ring (the default) both are
 * published at once, so a reader already waiting finds both. Without waiting: no room for
 * both means the last values have not been read yet (this writer is the only sender, so
 * the room seen by ipcring_info can only grow before the send). A POSIX queue (mq://NAME)
 * reports no capacity (0) but the messages it holds: there, a full queue shows as a send
 * that would block. */
static int leave_values(ipcring_t *tx, const char *addr, int32_t number, const char *text) {
    ipcring_msg_t msgs[2] = {{&number, sizeof number}, {text, strlen(text)}};
    ipcring_info_t info = IPCRING_INFO_INIT;
    size_t sent = 0;
    int rc = ipcring_info(tx, &info);
    if (rc != IPCRING_OK) {
        ex_fail("info", addr, rc);
        return 1;
    }
    if (info.capacity > 0 && info.capacity - info.queued < 2) {
        fprintf(stderr, "%s: no room for two messages in %s (capacity %d, %d unread): run the reader\n",
                ex_prog, addr, (int)info.capacity, (int)info.queued);
        return 1;
    }
    rc = ipcring_send_batch(tx, msgs, 2, &sent, IPCRING_NONBLOCK);
    if (rc == IPCRING_EAGAIN) {
        fprintf(stderr, "%s: no room for two messages in %s (%d unread): run the reader\n", ex_prog, addr,
                (int)info.queued);
        return 1;
    }
    if (rc != IPCRING_OK) {
        ex_fail("send", addr, rc);
        return 1;
    }
    if (sent != 2) {
        fprintf(stderr, "%s: only %zu of 2 messages sent\n", ex_prog, sent);
        return 1;
    }
    printf("writer: left %d and \"%s\"\n", (int)number, text);
    return 0;
}

int main(int argc, char **argv) {
    ex_init(argv[0]);
    if (argc > 4) {
        fprintf(stderr, "usage: %s [ADDRESS [NUMBER [TEXT]]]\n", argv[0]);
        return 2;
    }
    const char *addr = argc > 1 ? argv[1] : "shm://ipcring-example-value?capacity=2";
    int32_t number = 100;
    const char *text = argc > 3 ? argv[3] : "Hello from the writer!";
    if (argc > 2) {
        char *end;
        errno = 0;
        long v = strtol(argv[2], &end, 10);
        if (errno != 0 || *end != '\0' || end == argv[2] || v < INT32_MIN || v > INT32_MAX) {
            fprintf(stderr, "%s: NUMBER must be a 32-bit integer, not \"%s\"\n", ex_prog, argv[2]);
            return 2;
        }
        number = (int32_t)v;
    }

    ipcring_t *tx = NULL;
    int created;
    int rc = ex_open_or_create(addr, IPCRING_SEND, &tx, &created);
    if (rc != IPCRING_OK) {
        ex_fail("open", addr, rc);
        return 1;
    }
    int status = leave_values(tx, addr, number, text);
    if (status != 0 && created) ex_unlink(addr); /* failed: remove what this run made */
    status |= ex_close(&tx); /* the channel and its messages stay: the reader unlinks it */
    return status;
}
