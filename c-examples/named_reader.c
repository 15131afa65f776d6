/* named_reader: prints the messages of a named channel until end of stream, then removes it.
 *
 *     named_reader [ADDRESS]             ADDRESS defaults to shm://ipcring-example-fifo
 *
 * Prints "reader: TEXT" for each message and "reader: end of stream" once every writer has
 * closed and every message has been read. See named_writer.c for how to run the pair.
 *
 * Ports seed row 4 (open(O_RDONLY) on a FIFO and read until read() returns 0). The reader
 * opens with IPCRING_CREATE, so it may start before the writer: it then waits in receive
 * (a channel no sender has attached to yet is not at end of stream).
 *
 * What differs from the FIFO: end of stream comes once, when the writers that attached
 * have all gone; a FIFO reader gets read() == 0 whenever no writer has it open. Removing
 * the name is ipcring_unlink (the FIFO's unlink()); the seed never removed its FIFO.
 */
#include "example_util.h"

#include <stdlib.h>

int main(int argc, char **argv) {
    ex_init(argv[0]);
    if (argc > 2) {
        fprintf(stderr, "usage: %s [ADDRESS]\n", argv[0]);
        return 2;
    }
    const char *addr = argc > 1 ? argv[1] : "shm://ipcring-example-fifo";
    ipcring_t *rx = NULL;
    ipcring_info_t info = IPCRING_INFO_INIT;
    char *buf = NULL;
    int status = 1;

    int rc = ipcring_open(addr, IPCRING_RECV | IPCRING_CREATE, &rx);
    if (rc != IPCRING_OK) {
        ex_fail("open", addr, rc);
        return 1;
    }
    rc = ipcring_info(rx, &info);
    if (rc != IPCRING_OK) {
        ex_fail("info", addr, rc);
        goto out;
    }
    buf = malloc(info.msg_size);
    if (buf == NULL) {
        perror("malloc");
        goto out;
    }
    for (;;) {
        size_t len;
        rc = ipcring_recv(rx, buf, info.msg_size, &len, IPCRING_FOREVER);
        if (rc == IPCRING_EOF) break;
        if (rc != IPCRING_OK) {
            ex_fail("receive", addr, rc);
            goto out;
        }
        printf("reader: %.*s\n", (int)len, buf);
    }
    printf("reader: end of stream\n");
    status = 0;
out:
    free(buf);
    status |= ex_close(&rx);
    status |= ex_unlink(addr);
    return status;
}
