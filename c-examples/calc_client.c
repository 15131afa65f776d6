/* calc_client: asks calc_server to compute one expression, or to shut down.
 *
 *     calc_client [-q REQUEST_ADDRESS] [-r REPLY_ADDRESS] [-t SECONDS] A OP B
 *     calc_client [-q REQUEST_ADDRESS] [-r REPLY_ADDRESS] [-t SECONDS] shutdown
 *         -q default: shm://ipcring-example-calc?mode=mpmc&capacity=64&msg_size=512
 *         -r default: shm://ipcring-example-calc-reply-PID?capacity=1&msg_size=128
 *         -t: give up after SECONDS without an answer (default: wait as long as it takes);
 *             the same bound applies to sending the request (see below)
 *
 * Prints "A OP B = RESULT" (or "server shutting down"); an error answer (division by zero,
 * overflow, a malformed expression) goes to stderr with exit status 1. OP is one of
 * + - x * / % (x, because * needs quoting in a shell); put -- before a negative A.
 *
 * Ports seed row 10 (client side). The client creates its private reply channel
 * (IPCRING_CREATE | IPCRING_EXCL, like mq_open of a per-client queue), sends
 * "REPLY_ADDRESS\nEXPRESSION" on the shared request channel, waits for one answer, and
 * removes its reply channel on every path. See calc_server.c for what differs from
 * message queues. The request channel is the server's: the client opens it without
 * IPCRING_CREATE, so with no server running it fails at once (IPCRING_ENOENT), as mq_open
 * of a missing queue does, instead of leaving behind a channel that nobody owns. On unix://
 * and tcp:// a sender connects at its first send and waits for a listener (a server started
 * a moment later is fine): there, no server running shows as a send that times out, so
 * give -t to be told instead of waiting.
 */
#include "example_util.h"

#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    ex_init(argv[0]);
    const char *req_addr = "shm://ipcring-example-calc?mode=mpmc&capacity=64&msg_size=512";
    char default_reply[128];
    snprintf(default_reply, sizeof default_reply, "shm://ipcring-example-calc-reply-%ld?capacity=1&msg_size=128",
             (long)getpid());
    const char *rep_addr = default_reply;
    int64_t timeout = IPCRING_FOREVER;
    int opt, usage = 0;
    while ((opt = getopt(argc, argv, "+q:r:t:")) != -1) {
        char *end;
        double secs;
        switch (opt) {
        case 'q': req_addr = optarg; break;
        case 'r': rep_addr = optarg; break;
        case 't':
            secs = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(secs > 0 && secs < 1e9)) usage = 1;
            else timeout = (int64_t)(secs * 1e9);
            break;
        default: usage = 1;
        }
    }
    if (usage || optind >= argc) {
        fprintf(stderr, "usage: %s [-q REQUEST_ADDRESS] [-r REPLY_ADDRESS] [-t SECONDS] (A OP B | shutdown)\n",
                argv[0]);
        return 2;
    }
    /* The request: the reply address, a newline, the expression (the operands joined). */
    char request[1024], answer[256];
    int n = snprintf(request, sizeof request, "%s\n", rep_addr);
    for (int i = optind; i < argc && n >= 0 && (size_t)n < sizeof request; i++)
        n += snprintf(request + n, sizeof request - n, i > optind ? " %s" : "%s", argv[i]);
    if (n < 0 || (size_t)n >= sizeof request) {
        fprintf(stderr, "%s: request too long\n", ex_prog);
        return 2;
    }
    const char *expr = strchr(request, '\n') + 1;

    ipcring_t *rep = NULL, *req = NULL;
    int status = 1;
    size_t len;
    int rc = ipcring_open(rep_addr, IPCRING_RECV | IPCRING_CREATE | IPCRING_EXCL, &rep);
    if (rc != IPCRING_OK) {
        ex_fail("create reply channel", rep_addr, rc);
        return 1;
    }
    rc = ipcring_open(req_addr, IPCRING_SEND, &req); /* the server's: no IPCRING_CREATE */
    if (rc != IPCRING_OK) {
        ex_fail("open", req_addr, rc);
        if (rc == IPCRING_ENOENT) fprintf(stderr, "%s: is calc_server running?\n", ex_prog);
        goto out;
    }
    rc = ipcring_send(req, request, (size_t)n, timeout);
    if (rc != IPCRING_OK) {
        ex_fail("send", req_addr, rc);
        if (rc == IPCRING_ETIMEDOUT || rc == IPCRING_ENOLISTENER) fprintf(stderr, "%s: is calc_server running?\n", ex_prog);
        goto out;
    }
    rc = ipcring_recv(rep, answer, sizeof answer - 1, &len, timeout);
    if (rc == IPCRING_EOF) {
        fprintf(stderr, "%s: the server closed the reply channel without answering\n", ex_prog);
        goto out;
    }
    if (rc != IPCRING_OK) {
        ex_fail("receive", rep_addr, rc);
        goto out;
    }
    answer[len] = '\0';
    if (strncmp(answer, "error:", 6) == 0) {
        fprintf(stderr, "%s: %s: %s\n", ex_prog, expr, answer);
        goto out;
    }
    if (strcmp(expr, "shutdown") == 0) printf("%s\n", answer);
    else printf("%s = %s\n", expr, answer);
    status = 0;
out:
    status |= ex_unlink(rep_addr) | ex_close(&rep) | ex_close(&req);
    return status;
}
