/* echo_roundtrip: the parent sends TEXT to its child over one channel, the child sends it
 * back over a second, and the parent prints what came back.
 *
 *     echo_roundtrip TEXT [ADDRESS]      ADDRESS defaults to shm:// (two anonymous rings)
 *
 * Prints:  echoed: TEXT
 *
 * Ports seed row 3 (two pipes and fork(): parent -> child -> parent). The child echoes
 * message by message until end of stream, then closes its sender, which is the parent's
 * end of stream, as closing a pipe's write end is the reader's.
 *
 * What differs from the pipes: a message holds at most msg_size bytes (256 by default;
 * ADDRESS may set another, e.g. shm://?msg_size=8), so the parent cuts TEXT into pieces of
 * that size where the seed copied one byte at a time. The parent waits for each piece's echo
 * before sending the next: with both rings full and both processes sending, parent and child
 * would otherwise wait for each other forever (as they would with full pipes).
 */
#include "example_util.h"

#include <stdlib.h>
#include <unistd.h>

/* The child: echo every message until end of stream. */
static int child(ipcring_t *rx, ipcring_t *tx, char *buf, size_t cap) {
    for (;;) {
        size_t len;
        int rc = ipcring_recv(rx, buf, cap, &len, IPCRING_FOREVER);
        if (rc == IPCRING_EOF) return 0;
        if (rc != IPCRING_OK) {
            ex_fail("child: receive", NULL, rc);
            return 1;
        }
        rc = ipcring_send(tx, buf, len, IPCRING_FOREVER);
        if (rc != IPCRING_OK) {
            ex_fail("child: send", NULL, rc);
            return 1;
        }
    }
}

/* The parent: send TEXT piece by piece, printing each piece's echo. */
static int parent(ipcring_t *tx, ipcring_t *rx, const char *text, char *buf, size_t cap) {
    size_t left = strlen(text);
    printf("echoed: ");
    while (left > 0) {
        size_t n = left < cap ? left : cap, len;
        int rc = ipcring_send(tx, text, n, IPCRING_FOREVER);
        if (rc != IPCRING_OK) {
            ex_fail("send", NULL, rc);
            return 1;
        }
        rc = ipcring_recv(rx, buf, cap, &len, IPCRING_FOREVER);
        if (rc != IPCRING_OK) {
            if (rc == IPCRING_EOF)
                fprintf(stderr, "%s: the child closed its end before echoing\n", ex_prog);
            else
                ex_fail("receive", NULL, rc);
            return 1;
        }
        fwrite(buf, 1, len, stdout);
        text += n;
        left -= n;
    }
    printf("\n");
    return 0;
}

int main(int argc, char **argv) {
    ex_init(argv[0]);
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s TEXT [ADDRESS]\n", argv[0]);
        return 2;
    }
    const char *text = argv[1];
    const char *addr = argc > 2 ? argv[2] : "shm://";
    ipcring_t *down_tx = NULL, *down_rx = NULL; /* parent -> child */
    ipcring_t *up_tx = NULL, *up_rx = NULL;     /* child -> parent */
    ipcring_info_t info = IPCRING_INFO_INIT;
    char *buf = NULL;
    int status = 1;

    int rc = ipcring_pair(addr, &down_tx, &down_rx);
    if (rc != IPCRING_OK) {
        ex_fail("create channel", addr, rc);
        goto out;
    }
    rc = ipcring_pair(addr, &up_tx, &up_rx);
    if (rc != IPCRING_OK) {
        ex_fail("create channel", addr, rc);
        goto out;
    }
    rc = ipcring_info(down_tx, &info);
    if (rc != IPCRING_OK) {
        ex_fail("info", addr, rc);
        goto out;
    }
    buf = malloc(info.msg_size);
    if (buf == NULL) {
        perror("malloc");
        goto out;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        goto out;
    }
    if (pid == 0) { /* child: keeps down_rx and up_tx */
        status = ex_close(&down_tx) | ex_close(&up_rx);
        status |= child(down_rx, up_tx, buf, info.msg_size);
        status |= ex_close(&down_rx) | ex_close(&up_tx);
        free(buf);
        exit(status);
    }
    /* parent: keeps down_tx and up_rx */
    status = ex_close(&down_rx) | ex_close(&up_tx);
    status |= parent(down_tx, up_rx, text, buf, info.msg_size);
    status |= ex_close(&down_tx); /* the child's end of stream: it closes up_tx and exits */
    size_t len;
    rc = ipcring_recv(up_rx, buf, info.msg_size, &len, IPCRING_FOREVER);
    if (rc != IPCRING_EOF) {
        if (rc == IPCRING_OK)
            fprintf(stderr, "%s: unexpected extra message of %zu bytes\n", ex_prog, len);
        else
            ex_fail("receive", NULL, rc);
        status = 1;
    }
    status |= ex_wait_child(pid);
out:
    status |= ex_close(&down_tx) | ex_close(&down_rx) | ex_close(&up_tx) | ex_close(&up_rx);
    free(buf);
    return status;
}
