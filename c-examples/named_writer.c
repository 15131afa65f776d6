/* named_writer: sends lines to a named channel that an unrelated named_reader reads.
 *
 *     named_writer [ADDRESS [TEXT...]]   ADDRESS defaults to shm://ipcring-example-fifo
 *
 * Each TEXT argument is one message; without any, each line of standard input is one
 * (without its newline). Prints "writer: sent N messages" and exits; closing its sender
 * is the reader's end of stream. Run the two in either order, in two terminals:
 *
 *     ./named_reader                     ./named_writer "Hello from the writer!" bye
 *
 * Ports seed row 4 (mkfifo + open(O_WRONLY) + write, and a separate reader). Both
 * programs create the channel if it is missing, from the same address, so whichever
 * starts first creates it and a reader started first waits for the writer. The reader
 * owns the name and removes it at end of stream; a writer that runs with no reader leaves
 * its messages in the channel until a reader comes (or ipcring_unlink removes it). A writer
 * that fails removes the channel if it was the one that created it.
 *
 * What differs from the FIFO: open() does not wait for the other side (messages wait in
 * the ring instead, and a send waits only when the ring is full); line boundaries are
 * message boundaries; a line longer than the channel's msg_size is refused
 * (IPCRING_ETOOLARGE) instead of being split.
 */
#include "example_util.h"

#include <stdlib.h>

static int send_text(ipcring_t *tx, const char *text, size_t len) {
    int rc = ipcring_send(tx, text, len, IPCRING_FOREVER);
    if (rc != IPCRING_OK) {
        ex_fail("send", NULL, rc);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    ex_init(argv[0]);
    const char *addr = argc > 1 ? argv[1] : "shm://ipcring-example-fifo";
    ipcring_t *tx = NULL;
    int status = 1;
    unsigned long sent = 0;
    char *line = NULL;
    size_t cap = 0;
    int created;

    int rc = ex_open_or_create(addr, IPCRING_SEND, &tx, &created);
    if (rc != IPCRING_OK) {
        ex_fail("open", addr, rc);
        return 1;
    }
    if (argc > 2) {
        for (int i = 2; i < argc; i++, sent++)
            if (send_text(tx, argv[i], strlen(argv[i])) != 0) goto out;
    } else {
        ssize_t n;
        while ((n = getline(&line, &cap, stdin)) >= 0) {
            if (n > 0 && line[n - 1] == '\n') n--;
            if (send_text(tx, line, (size_t)n) != 0) goto out;
            sent++;
        }
        if (ferror(stdin)) {
            perror("read standard input");
            goto out;
        }
    }
    printf("writer: sent %lu message%s\n", sent, sent == 1 ? "" : "s");
    status = 0;
out:
    free(line);
    if (status != 0 && created) ex_unlink(addr); /* failed: remove what this run made */
    status |= ex_close(&tx);
    return status;
}
