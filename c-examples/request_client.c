/* request_client: sends "Request" to request_server and prints its answer.
 *
 *     request_client [REQUEST_ADDRESS REPLY_ADDRESS]
 *         defaults: shm://ipcring-example-request  shm://ipcring-example-reply
 *
 * Prints:  client: received "Response"
 *
 * Ports seed row 8 (a UNIX stream socket client: connect, write "Request", read the
 * answer). See request_server.c for how the pair maps onto two channels and what differs.
 * The client opens the reply channel before it sends, so the answer has somewhere to go;
 * the server removes both names when it is done. A client that fails removes the channels
 * it created (when it started before the server).
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
    int status = 1, made_rep = 0, made_req = 0;

    int rc = ex_open_or_create(rep_addr, IPCRING_RECV, &rep, &made_rep);
    if (rc != IPCRING_OK) {
        ex_fail("open", rep_addr, rc);
        return 1;
    }
    rc = ex_open_or_create(req_addr, IPCRING_SEND, &req, &made_req);
    if (rc != IPCRING_OK) {
        ex_fail("open", req_addr, rc);
        goto out;
    }
    rc = ipcring_send(req, "Request", strlen("Request"), IPCRING_FOREVER);
    if (rc != IPCRING_OK) {
        ex_fail("send", req_addr, rc);
        goto out;
    }
    rc = ipcring_recv(rep, buf, sizeof buf, &len, IPCRING_FOREVER);
    if (rc == IPCRING_EOF) {
        fprintf(stderr, "%s: the server closed without answering\n", ex_prog);
        goto out;
    }
    if (rc != IPCRING_OK) {
        ex_fail("receive", rep_addr, rc);
        goto out;
    }
    printf("client: received \"%.*s\"\n", (int)len, buf);
    status = 0;
out:
    if (status != 0 && made_rep) ex_unlink(rep_addr); /* failed: remove what this run made */
    if (status != 0 && made_req) ex_unlink(req_addr);
    status |= ex_close(&req) | ex_close(&rep);
    return status;
}
