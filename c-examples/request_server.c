/* request_server: answers one client's "Request" with "Response".
 *
 *     request_server [REQUEST_ADDRESS REPLY_ADDRESS]
 *         defaults: shm://ipcring-example-request  shm://ipcring-example-reply
 *
 * Prints:  server: received "Request"
 *
 * and request_client, run with the same addresses, prints: client: received "Response".
 *
 * Ports seed row 8 (a UNIX stream socket server: bind to a path, accept one connection,
 * read the request, write the response, close, unlink the path). A stream socket is one
 * two-way connection; here it is two one-way channels, one per direction, and the server
 * owns both names and removes them when it is done, as the seed unlinked its socket path.
 *
 * What differs: there is no listen/accept. Both programs open both channels with
 * IPCRING_CREATE, so either may start first and the client's request waits in the channel
 * until the server reads it (a client connecting before the server gets ECONNREFUSED). The
 * channels are SPSC: a second client at the same time is refused (IPCRING_EBUSY), as a
 * second connection would wait in the listen backlog. A server that dies before answering
 * is the client's end of stream, as a closed connection would be.
 */
#include "example_util.h"

int main(int argc, char **argv) {
    ex_init(argv[0]);
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: %s [REQUEST_ADDRESS REPLY_ADDRESS]\n", argv[0]);
        return 2;
    }
    const char *req_addr = argc == 3 ? argv[1] : "shm://ipcring-example-request";
    const char *rep_addr = argc == 3 ? argv[2] : "shm://ipcring-example-reply";
    ipcring_t *req = NULL, *rep = NULL;
    char buf[256];
    size_t len;
    int status = 1;

    int rc = ipcring_open(req_addr, IPCRING_RECV | IPCRING_CREATE, &req);
    if (rc != IPCRING_OK) {
        ex_fail("open", req_addr, rc);
        return 1;
    }
    rc = ipcring_open(rep_addr, IPCRING_SEND | IPCRING_CREATE, &rep);
    if (rc != IPCRING_OK) {
        ex_fail("open", rep_addr, rc);
        goto out;
    }
    rc = ipcring_recv(req, buf, sizeof buf, &len, IPCRING_FOREVER);
    if (rc == IPCRING_EOF) {
        fprintf(stderr, "%s: the client went away without a request\n", ex_prog);
        goto out;
    }
    if (rc != IPCRING_OK) {
        ex_fail("receive", req_addr, rc);
        goto out;
    }
    printf("server: received \"%.*s\"\n", (int)len, buf);
    rc = ipcring_send(rep, "Response", strlen("Response"), IPCRING_FOREVER);
    if (rc != IPCRING_OK) {
        ex_fail("send", rep_addr, rc);
        goto out;
    }
    status = 0;
out:
    /* The server owns both names: remove the ones it opened (the open handles stay usable). */
    if (req != NULL) status |= ex_unlink(req_addr);
    if (rep != NULL) status |= ex_unlink(rep_addr);
    status |= ex_close(&req) | ex_close(&rep);
    return status;
}
