/* child_sends_int: a child sends an int (42) to its parent, which prints it.
 *
 *     child_sends_int [ADDRESS]          ADDRESS defaults to shm:// (an anonymous ring)
 *
 * Prints:  parent received 42 from the child
 *          parent: end of stream (the child closed its end)
 *
 * Ports seed row 2 (pipe() + fork(): the child writes sizeof(int) bytes, the parent reads
 * them). The message is the int's bytes in this machine's order, which is fine between a
 * parent and its child; a channel between machines would need a fixed byte order.
 *
 * What differs from the pipe: the parent checks that the message is exactly sizeof(int)
 * bytes (a read() from a pipe may return fewer), and the end of stream the pipe gives as
 * read() == 0 is IPCRING_EOF, returned once the child has closed its sender (or died) and
 * every message has been received.
 */
#include "example_util.h"

#include <stdlib.h>
#include <unistd.h>

static int child(ipcring_t *tx) {
    int data = 42;
    int rc = ipcring_send(tx, &data, sizeof data, IPCRING_FOREVER);
    if (rc != IPCRING_OK) {
        ex_fail("send", NULL, rc);
        return 1;
    }
    return 0;
}

static int parent(ipcring_t *rx) {
    int data;
    size_t len;
    int rc = ipcring_recv(rx, &data, sizeof data, &len, IPCRING_FOREVER);
    if (rc == IPCRING_EOF) {
        fprintf(stderr, "%s: the child closed the channel without sending\n", ex_prog);
        return 1;
    }
    if (rc != IPCRING_OK) {
        ex_fail("receive", NULL, rc);
        return 1;
    }
    if (len != sizeof data) {
        fprintf(stderr, "%s: expected %zu bytes, got %zu\n", ex_prog, sizeof data, len);
        return 1;
    }
    printf("parent received %d from the child\n", data);

    rc = ipcring_recv(rx, &data, sizeof data, &len, IPCRING_FOREVER);
    if (rc != IPCRING_EOF) {
        if (rc == IPCRING_OK)
            fprintf(stderr, "%s: unexpected second message of %zu bytes\n", ex_prog, len);
        else
            ex_fail("receive", NULL, rc);
        return 1;
    }
    printf("parent: end of stream (the child closed its end)\n");
    return 0;
}

int main(int argc, char **argv) {
    ex_init(argv[0]);
    if (argc > 2) {
        fprintf(stderr, "usage: %s [ADDRESS]\n", argv[0]);
        return 2;
    }
    const char *addr = argc > 1 ? argv[1] : "shm://";
    ipcring_t *tx = NULL, *rx = NULL;

    int rc = ipcring_pair(addr, &tx, &rx);
    if (rc != IPCRING_OK) {
        ex_fail("create channel", addr, rc);
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        ex_close(&tx);
        ex_close(&rx);
        return 1;
    }
    if (pid == 0) { /* child: the sender */
        int status = ex_close(&rx);
        status |= child(tx);
        status |= ex_close(&tx);
        exit(status);
    }
    /* parent: the receiver */
    int status = ex_close(&tx);
    status |= parent(rx);
    status |= ex_close(&rx);
    status |= ex_wait_child(pid);
    return status;
}
