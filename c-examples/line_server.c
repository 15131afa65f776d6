/* line_server: prints each line a line_client sends and answers it (in upper case), until
 * the client closes.
 *
 *     line_server [REQUEST_ADDRESS REPLY_ADDRESS]
 *         defaults: shm://ipcring-example-lines-in  shm://ipcring-example-lines-out
 *
 * Prints "server: line N: TEXT" per line and "server: client closed after N lines".
 * Run it, then (anywhere, with the same addresses):  echo hello | ./line_client
 *
 * Ports seed row 9 (a TCP server on loopback: accept one client, recv a line, print it,
 * send an answer). A TCP connection carries both directions; here each direction is a
 * channel, and the server owns both names and removes them when the client has gone.
 *
 * What differs: no port, listen or accept, and no byte stream: each line is one message
 * (at most msg_size bytes), so the server never has to find where a line ends, where a
 * recv() on a socket may return half a line or two. Both programs create the channels if
 * missing, so either may start first. One client at a time, as with the seed's single
 * accept(); the client closing its sender is the server's end of stream (recv() == 0).
 */
#include "example_util.h"

#include <ctype.h>
#include <stdlib.h>

static int serve(ipcring_t *in, ipcring_t *out, char *buf, size_t cap) {
    unsigned long lines = 0;
    for (;;) {
        size_t len;
        int rc = ipcring_recv(in, buf, cap, &len, IPCRING_FOREVER);
        if (rc == IPCRING_EOF) break;
        if (rc != IPCRING_OK) {
            ex_fail("receive", NULL, rc);
            return 1;
        }
        printf("server: line %lu: %.*s\n", ++lines, (int)len, buf);
        for (size_t i = 0; i < len; i++) buf[i] = (char)toupper((unsigned char)buf[i]);
        rc = ipcring_send(out, buf, len, IPCRING_FOREVER);
        if (rc != IPCRING_OK) {
            ex_fail("send", NULL, rc);
            return 1;
        }
    }
    printf("server: client closed after %lu lines\n", lines);
    return 0;
}

int main(int argc, char **argv) {
    ex_init(argv[0]);
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: %s [REQUEST_ADDRESS REPLY_ADDRESS]\n", argv[0]);
        return 2;
    }
    const char *in_addr = argc == 3 ? argv[1] : "shm://ipcring-example-lines-in";
    const char *out_addr = argc == 3 ? argv[2] : "shm://ipcring-example-lines-out";
    ipcring_t *in = NULL, *out = NULL;
    ipcring_info_t info = IPCRING_INFO_INIT;
    char *buf = NULL;
    int status = 1;

    int rc = ipcring_open(in_addr, IPCRING_RECV | IPCRING_CREATE, &in);
    if (rc != IPCRING_OK) {
        ex_fail("open", in_addr, rc);
        goto done;
    }
    rc = ipcring_open(out_addr, IPCRING_SEND | IPCRING_CREATE, &out);
    if (rc != IPCRING_OK) {
        ex_fail("open", out_addr, rc);
        goto done;
    }
    rc = ipcring_info(in, &info);
    if (rc != IPCRING_OK) {
        ex_fail("info", in_addr, rc);
        goto done;
    }
    buf = malloc(info.msg_size);
    if (buf == NULL) {
        perror("malloc");
        goto done;
    }
    status = serve(in, out, buf, info.msg_size);
done:
    /* The server owns both names: remove the ones it opened (the open handles stay usable). */
    if (in != NULL) status |= ex_unlink(in_addr);
    if (out != NULL) status |= ex_unlink(out_addr);
    status |= ex_close(&in) | ex_close(&out);
    free(buf);
    return status;
}
