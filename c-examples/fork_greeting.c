/* fork_greeting: a parent sends a greeting to its child over an anonymous channel.
 *
 *     fork_greeting [ADDRESS]            ADDRESS defaults to shm:// (an anonymous ring)
 *
 * Prints:  child received: Hello from parent!
 *
 * Ports seed row 1 (pipe() + fork(): the parent writes a string, the child reads and prints
 * it). The parent makes the channel with ipcring_pair before fork(); afterwards each process
 * closes the end it does not use, exactly as with a pipe's two descriptors, so that the
 * child would see end of stream if the parent went away without sending.
 *
 * What differs from the pipe: a message keeps its length, so the parent sends the text
 * without its terminating NUL and the child prints exactly the bytes received; a pipe
 * delivers a byte stream in which one write() may arrive in several read()s.
 */
#include "example_util.h"

#include <stdlib.h>
#include <unistd.h>

static int child(ipcring_t *rx) {
    char buf[256];
    size_t len;
    int rc = ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_FOREVER);
    if (rc == IPCRING_EOF) {
        fprintf(stderr, "%s: the parent closed the channel without sending\n", ex_prog);
        return 1;
    }
    if (rc != IPCRING_OK) {
        ex_fail("receive", NULL, rc);
        return 1;
    }
    printf("child received: %.*s\n", (int)len, buf);
    return 0;
}

int main(int argc, char **argv) {
    ex_init(argv[0]);
    if (argc > 2) {
        fprintf(stderr, "usage: %s [ADDRESS]\n", argv[0]);
        return 2;
    }
    const char *addr = argc > 1 ? argv[1] : "shm://";
    const char *greeting = "Hello from parent!";
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
    if (pid == 0) { /* child: the receiver */
        int status = ex_close(&tx);
        status |= child(rx);
        status |= ex_close(&rx);
        exit(status);
    }
    /* parent: the sender */
    int status = ex_close(&rx);
    rc = ipcring_send(tx, greeting, strlen(greeting), IPCRING_FOREVER);
    if (rc != IPCRING_OK) {
        ex_fail("send", NULL, rc);
        status = 1;
    }
    status |= ex_close(&tx); /* the child's end of stream */
    status |= ex_wait_child(pid);
    return status;
}
