/* bounded_buffer: a producer process and a consumer process share a bounded buffer.
 *
 *     bounded_buffer [ADDRESS [COUNT]]   defaults: shm://?capacity=10 (anonymous), 20 items
 *
 * Prints one "consumer: item N" line per item, then
 *          consumer: 20 items, sum 210
 *          producer: 20 items through a buffer of 10
 *
 * Ports seed row 7 (a circular buffer of 10 ints guarded by three semaphores: empty counts
 * free slots, full counts filled ones, mutex guards the indices). The ring is that bounded
 * buffer: a blocking send waits while it is full (sem_wait(empty)), a blocking receive
 * waits while it is empty (sem_wait(full)), and the ring's own cursors replace the mutex.
 * The parent produces, a forked child consumes, and the producer closing its end tells the
 * consumer that no more items will come (the seed's consumer had no way to know).
 *
 * The seed's buffer of 10 is a ring of capacity 10 (`shm://?capacity=10`, the default): a
 * ring's capacity is any count from 1 (ABI 5), and bounds the items queued exactly as the
 * seed's `empty` semaphore did. Give another capacity in ADDRESS to compare.
 *
 * Over pipe:// (bounded_buffer pipe:// 20) the buffer is the kernel's pipe buffer, bounded in
 * bytes (64 KiB by default) rather than in items: the last line then says "through the
 * kernel's pipe buffer". Everything else is the same.
 */
#include "example_util.h"

#include <stdlib.h>
#include <unistd.h>

static int consumer(ipcring_t *rx) {
    long count = 0, sum = 0;
    for (;;) {
        int item;
        size_t len;
        int rc = ipcring_recv(rx, &item, sizeof item, &len, IPCRING_FOREVER);
        if (rc == IPCRING_EOF) break; /* the producer closed: every item has been consumed */
        if (rc != IPCRING_OK) {
            ex_fail("consumer: receive", NULL, rc);
            return 1;
        }
        if (len != sizeof item) {
            fprintf(stderr, "%s: consumer: a %zu-byte item\n", ex_prog, len);
            return 1;
        }
        printf("consumer: item %d\n", item);
        count++;
        sum += item;
    }
    printf("consumer: %ld items, sum %ld\n", count, sum);
    return 0;
}

static int producer(ipcring_t *tx, int count) {
    for (int item = 1; item <= count; item++) {
        int rc = ipcring_send(tx, &item, sizeof item, IPCRING_FOREVER); /* waits while full */
        if (rc != IPCRING_OK) {
            ex_fail("producer: send", NULL, rc);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    ex_init(argv[0]);
    if (argc > 3) {
        fprintf(stderr, "usage: %s [ADDRESS [COUNT]]\n", argv[0]);
        return 2;
    }
    const char *addr = argc > 1 ? argv[1] : "shm://?capacity=10";
    int count = 20;
    if (argc > 2) {
        char *end;
        long v = strtol(argv[2], &end, 10);
        if (*end != '\0' || end == argv[2] || v < 0 || v > 1000000) {
            fprintf(stderr, "%s: COUNT must be 0..1000000, not \"%s\"\n", ex_prog, argv[2]);
            return 2;
        }
        count = (int)v;
    }
    ipcring_t *tx = NULL, *rx = NULL;
    ipcring_info_t info = IPCRING_INFO_INIT;
    int rc = ipcring_pair(addr, &tx, &rx);
    if (rc != IPCRING_OK) {
        ex_fail("create buffer", addr, rc);
        return 1;
    }
    rc = ipcring_info(tx, &info);
    if (rc != IPCRING_OK) {
        ex_fail("info", addr, rc);
        ex_close(&tx);
        ex_close(&rx);
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
    if (pid == 0) { /* child: the consumer */
        int status = ex_close(&tx);
        status |= consumer(rx);
        status |= ex_close(&rx);
        exit(status);
    }
    /* parent: the producer */
    int status = ex_close(&rx);
    status |= producer(tx, count);
    status |= ex_close(&tx); /* the consumer's end of stream */
    status |= ex_wait_child(pid);
    /* A ring has `capacity` slots; a pipe's buffer is the kernel's (64 KiB by default, in
     * bytes, not items), which ipcring_info reports as capacity 0. */
    if (status == 0 && info.capacity > 0)
        printf("producer: %d items through a buffer of %d\n", count, (int)info.capacity);
    else if (status == 0)
        printf("producer: %d items through the kernel's pipe buffer\n", count);
    return status;
}
