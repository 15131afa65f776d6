/* calc_server: a calculator server for any number of calc_client processes.
 *
 *     calc_server [REQUEST_ADDRESS]
 *         default: shm://ipcring-example-calc?mode=mpmc&capacity=64&msg_size=512
 *
 * Clients send requests on the one shared request channel (MPMC: many senders); each
 * request names the client's own reply channel and holds an expression "A OP B" (OP one of
 * + - x * / %) or "shutdown". The server prints "server: EXPRESSION -> ANSWER" per request
 * and sends the answer to the named channel. A "shutdown" request, SIGINT or SIGTERM ends
 * it cleanly: requests already queued are answered "error: server shutting down", the
 * request channel is removed, and it prints "server: stopped (...), N requests answered".
 *
 *     ./calc_server &
 *     ./calc_client 6 x 7          # prints 6 x 7 = 42
 *     ./calc_client shutdown       # prints server shutting down
 *
 * Ports seed row 10 (the practice exercise: a client-server application over message
 * queues), in the classic shape: a well-known server queue, and one private queue per
 * client whose name travels in the request (mq_open on the client's name, mq_send,
 * mq_close). A request is text, "REPLY_ADDRESS\nEXPRESSION", so no struct layout or byte
 * order is shared between the programs.
 *
 * What differs from message queues:
 * - A channel with no sender attached is at end of stream once a sender has come and gone,
 *   where an empty mq just waits. So the server keeps a sender of its own on the request
 *   channel (as a FIFO server opens its own FIFO for writing), and each client asks once
 *   per reply channel: the server attaches to it, answers, and detaches. On a FIFO or a
 *   socket (fifo://, unix://, tcp://) a sender attaches at its first send (it opens the FIFO
 *   or connects then), so the server sends one empty message to itself at start; requests
 *   are never empty, and the server skips empty messages without counting them.
 * - A blocked receive is not interrupted by signals (the library retries EINTR), so the
 *   server waits at most 100 ms at a time and then looks at the signal flag.
 * - The server trusts the reply address a client names; a bad one costs that client its
 *   answer (logged on stderr), not the server.
 */
#include "example_util.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>

#define POLL_NS 100000000 /* 100 ms */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

/* Computes "A OP B" into `answer`. */
static void calculate(const char *expr, char *answer, size_t cap) {
    long long a, b, r = 0;
    char op;
    int end = -1, bad = 0;
    if (sscanf(expr, "%lld %c %lld %n", &a, &op, &b, &end) != 3 || end < 0 || expr[end] != '\0') {
        snprintf(answer, cap, "error: expected \"A OP B\", got \"%s\"", expr);
        return;
    }
    switch (op) {
    case '+': bad = __builtin_add_overflow(a, b, &r); break;
    case '-': bad = __builtin_sub_overflow(a, b, &r); break;
    case 'x':
    case '*': bad = __builtin_mul_overflow(a, b, &r); break;
    case '/':
    case '%':
        if (b == 0) {
            snprintf(answer, cap, "error: division by zero");
            return;
        }
        bad = a == LLONG_MIN && b == -1;
        if (!bad) r = op == '/' ? a / b : a % b;
        break;
    default: snprintf(answer, cap, "error: unknown operator '%c' (use + - x * / %%)", op); return;
    }
    if (bad) snprintf(answer, cap, "error: overflow");
    else snprintf(answer, cap, "%lld", r);
}

/* Sends `answer` to the client's reply channel: attach, send, detach. Failures are the
 * client's problem and are only logged. */
static void reply(const char *addr, const char *answer) {
    ipcring_t *tx = NULL;
    int rc = ipcring_open(addr, IPCRING_SEND, &tx);
    if (rc != IPCRING_OK) {
        ex_fail("cannot answer: open", addr, rc);
        return;
    }
    rc = ipcring_send(tx, answer, strlen(answer), 1000000000); /* a client's full channel: 1 s */
    if (rc != IPCRING_OK) ex_fail("cannot answer: send", addr, rc);
    ex_close(&tx);
}

/* Handles one request; returns 1 if it asked for shutdown. `closing`: answer that the server
 * is shutting down instead. */
static int handle(const char *msg, size_t len, int closing) {
    char addr[512], expr[128], answer[160];
    const char *nl = memchr(msg, '\n', len);
    size_t alen = nl ? (size_t)(nl - msg) : 0, elen = nl ? len - alen - 1 : 0;
    if (nl == NULL || alen == 0 || alen >= sizeof addr) {
        fprintf(stderr, "%s: ignored a request without a usable reply address\n", ex_prog);
        return 0;
    }
    memcpy(addr, msg, alen);
    addr[alen] = '\0';
    snprintf(expr, sizeof expr, "%.*s", (int)elen, nl + 1);
    int shutdown = strcmp(expr, "shutdown") == 0;
    if (closing) snprintf(answer, sizeof answer, "error: server shutting down");
    else if (shutdown) snprintf(answer, sizeof answer, "server shutting down");
    else if (elen >= sizeof expr) snprintf(answer, sizeof answer, "error: expression too long");
    else calculate(expr, answer, sizeof answer);
    printf("server: %s -> %s\n", expr, answer);
    reply(addr, answer);
    return shutdown && !closing;
}

int main(int argc, char **argv) {
    ex_init(argv[0]);
    if (argc > 2) {
        fprintf(stderr, "usage: %s [REQUEST_ADDRESS]\n", argv[0]);
        return 2;
    }
    const char *addr = argc > 1 ? argv[1] : "shm://ipcring-example-calc?mode=mpmc&capacity=64&msg_size=512";
    ipcring_t *rx = NULL;
    ipcring_info_t info = IPCRING_INFO_INIT;
    char *buf = NULL;
    unsigned long answered = 0;
    int status = 1, shutdown = 0;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        perror("sigaction");
        return 1;
    }
    /* SEND as well: the server's own sender keeps the channel from reaching end of stream
     * between clients. */
    int rc = ipcring_open(addr, IPCRING_RECV | IPCRING_SEND | IPCRING_CREATE, &rx);
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
    /* Attach the sender for real on every transport (see "What differs" above). */
    rc = ipcring_send(rx, "", 0, IPCRING_FOREVER);
    if (rc != IPCRING_OK) {
        ex_fail("send", addr, rc);
        goto out;
    }
    while (!shutdown && !stop_signal) {
        size_t len;
        rc = ipcring_recv(rx, buf, info.msg_size, &len, POLL_NS);
        if (rc == IPCRING_ETIMEDOUT) continue;
        if (rc != IPCRING_OK) { /* IPCRING_EOF cannot happen while we hold a sender */
            ex_fail("receive", addr, rc);
            goto out;
        }
        if (len == 0) continue; /* our own attaching message */
        shutdown = handle(buf, len, 0);
        answered++;
    }
    /* Closing: answer what is already queued, so that no client waits for nothing. */
    for (;;) {
        size_t len;
        rc = ipcring_recv(rx, buf, info.msg_size, &len, IPCRING_NONBLOCK);
        if (rc == IPCRING_EAGAIN) break;
        if (rc != IPCRING_OK) {
            ex_fail("receive", addr, rc);
            goto out;
        }
        if (len == 0) continue;
        handle(buf, len, 1);
        answered++;
    }
    const char *plural = answered == 1 ? "" : "s";
    if (shutdown) printf("server: stopped (shutdown request), %lu request%s answered\n", answered, plural);
    else printf("server: stopped (signal %d), %lu request%s answered\n", (int)stop_signal, answered, plural);
    status = 0;
out:
    status |= ex_unlink(addr); /* the server owns the request channel's name */
    status |= ex_close(&rx);
    free(buf);
    return status;
}
