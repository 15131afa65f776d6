/* line_client: sends each line of standard input to line_server and prints the answer.
 *
 *     line_client [REQUEST_ADDRESS REPLY_ADDRESS] < lines
 *         defaults: shm://ipcring-example-lines-in  shm://ipcring-example-lines-out
 *
 * Prints  client: "TEXT" -> "ANSWER"  per line; at the end of its input it closes, which
 * ends the server. See line_server.c for what differs from the seed's TCP client (connect to
 * 127.0.0.1:8888, fgets a line from stdin, send it).
 *
 * The answer is awaited before the next line is sent, so the client never runs ahead of
 * the server by more than one line. A client that fails removes the channels it created
 * (when it started before the server).
 */
#include "example_util.h"

#include <stdlib.h>

static int talk(ipcring_t *req, ipcring_t *rep, char *answer, size_t cap) {
    char *line = NULL;
    size_t linecap = 0;
    ssize_t n;
    int status = 1;
    while ((n = getline(&line, &linecap, stdin)) >= 0) {
        size_t len;
        if (n > 0 && line[n - 1] == '\n') n--;
        int rc = ipcring_send(req, line, (size_t)n, IPCRING_FOREVER);
        if (rc != IPCRING_OK) {
            ex_fail("send", NULL, rc);
            goto out;
        }
        rc = ipcring_recv(rep, answer, cap, &len, IPCRING_FOREVER);
        if (rc == IPCRING_EOF) {
            fprintf(stderr, "%s: the server closed without answering\n", ex_prog);
            goto out;
        }
        if (rc != IPCRING_OK) {
            ex_fail("receive", NULL, rc);
            goto out;
        }
        printf("client: \"%.*s\" -> \"%.*s\"\n", (int)n, line, (int)len, answer);
    }
    if (ferror(stdin)) {
        perror("read standard input");
        goto out;
    }
    status = 0;
out:
    free(line);
    return status;
}

int main(int argc, char **argv) {
    ex_init(argv[0]);
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: %s [REQUEST_ADDRESS REPLY_ADDRESS] < lines\n", argv[0]);
        return 2;
    }
    const char *req_addr = argc == 3 ? argv[1] : "shm://ipcring-example-lines-in";
    const char *rep_addr = argc == 3 ? argv[2] : "shm://ipcring-example-lines-out";
    ipcring_t *req = NULL, *rep = NULL;
    ipcring_info_t info = IPCRING_INFO_INIT;
    char *answer = NULL;
    int status = 1, made_req = 0, made_rep = 0;

    int rc = ex_open_or_create(rep_addr, IPCRING_RECV, &rep, &made_rep);
    if (rc != IPCRING_OK) {
        ex_fail("open", rep_addr, rc);
        goto done;
    }
    rc = ex_open_or_create(req_addr, IPCRING_SEND, &req, &made_req);
    if (rc != IPCRING_OK) {
        ex_fail("open", req_addr, rc);
        goto done;
    }
    rc = ipcring_info(rep, &info);
    if (rc != IPCRING_OK) {
        ex_fail("info", rep_addr, rc);
        goto done;
    }
    answer = malloc(info.msg_size);
    if (answer == NULL) {
        perror("malloc");
        goto done;
    }
    status = talk(req, rep, answer, info.msg_size);
done:
    if (status != 0 && made_rep) ex_unlink(rep_addr); /* failed: remove what this run made */
    if (status != 0 && made_req) ex_unlink(req_addr);
    status |= ex_close(&req) | ex_close(&rep); /* closing req is the server's end of stream */
    free(answer);
    return status;
}
