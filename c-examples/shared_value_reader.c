/* shared_value_reader: reads the integer and the string shared_value_writer left in a
 * named channel, then removes the channel.
 *
 *     shared_value_reader [ADDRESS]      ADDRESS defaults to shm://ipcring-example-value?capacity=2
 *
 * Prints:  reader: peeked at 100 in place; 2 messages queued
 *          reader: released it; 1 message queued
 *          reader: text "Hello from the writer!"
 *
 * Ports seed row 6 (the reader maps the segment by name, reads the value, shm_unlink).
 * See shared_value_writer.c for what differs from a raw segment. If the reader starts
 * first, it creates the channel (IPCRING_CREATE, same address) and waits for the writer.
 *
 * ipcring_peek gives the address of the next message inside the ring: it is read where it
 * lies, like the seed read its segment, and it stays queued (other receivers would still
 * get it) until ipcring_release consumes it. ipcring_recv copies and consumes in one call.
 */
#include "example_util.h"

#include <stdint.h>

/* Prints how many messages are in the channel now. */
static int show_queued(ipcring_t *rx, const char *addr, const char *prefix) {
    ipcring_info_t info = IPCRING_INFO_INIT;
    int rc = ipcring_info(rx, &info);
    if (rc != IPCRING_OK) {
        ex_fail("info", addr, rc);
        return 1;
    }
    printf("%s; %d message%s queued\n", prefix, (int)info.queued, info.queued == 1 ? "" : "s");
    return 0;
}

static int read_values(ipcring_t *rx, const char *addr) {
    const void *p;
    size_t len;
    int32_t number;
    char text[256];
    char line[64];

    int rc = ipcring_peek(rx, &p, &len, IPCRING_FOREVER);
    if (rc != IPCRING_OK) goto failed;
    if (len != sizeof number) {
        fprintf(stderr, "%s: expected a %zu-byte number, got %zu bytes\n", ex_prog, sizeof number, len);
        return 1;
    }
    memcpy(&number, p, sizeof number); /* the ring promises no alignment for the copy */
    snprintf(line, sizeof line, "reader: peeked at %d in place", (int)number);
    if (show_queued(rx, addr, line) != 0) return 1;
    rc = ipcring_release(rx);
    if (rc != IPCRING_OK) goto failed;
    if (show_queued(rx, addr, "reader: released it") != 0) return 1;

    rc = ipcring_recv(rx, text, sizeof text, &len, IPCRING_FOREVER);
    if (rc != IPCRING_OK) goto failed;
    printf("reader: text \"%.*s\"\n", (int)len, text);
    return 0;
failed:
    if (rc == IPCRING_EOF)
        fprintf(stderr, "%s: the writer closed %s before leaving both values\n", ex_prog, addr);
    else
        ex_fail("receive", addr, rc);
    return 1;
}

int main(int argc, char **argv) {
    ex_init(argv[0]);
    if (argc > 2) {
        fprintf(stderr, "usage: %s [ADDRESS]\n", argv[0]);
        return 2;
    }
    const char *addr = argc > 1 ? argv[1] : "shm://ipcring-example-value?capacity=2";
    ipcring_t *rx = NULL;
    int rc = ipcring_open(addr, IPCRING_RECV | IPCRING_CREATE, &rx);
    if (rc != IPCRING_OK) {
        ex_fail("open", addr, rc);
        return 1;
    }
    int status = read_values(rx, addr);
    status |= ex_close(&rx);
    status |= ex_unlink(addr);
    return status;
}
