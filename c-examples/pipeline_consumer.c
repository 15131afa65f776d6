/* pipeline_consumer: the C half of the mixed-language pipeline (Rust producer -> C consumer).
 *
 * Shows a C program checking every byte a Rust program sent it through one shared-memory
 * ring: it opens (or creates) the ring named on the command line with IPCRING_RECV |
 * IPCRING_CREATE, receives until end of stream (IPCRING_EOF: the producer closed and the
 * ring is drained), and checks each message against the format of pipeline_format.h
 * (structure, FNV-1a checksum, payload length and bytes) and that its seq is exactly the
 * next one (0, 1, 2, ...) from one producer. Then it removes the ring's name.
 *
 *     pipeline_consumer ADDRESS COUNT
 *
 * With the Rust producer (from the repository root):
 *
 *     cargo build --release --example pipeline
 *     A='shm://pipeline-demo?capacity=1024&msg_size=256'
 *     ./pipeline_consumer "$A" 1000000 &
 *     target/release/examples/pipeline produce "$A" 1000000
 *     wait
 *
 * The reverse direction is ./pipeline_producer with `pipeline consume`. Prints
 * "received N messages, all verified" and exits 0 only if every message checked out and N
 * is COUNT; at the first bad message it prints what was wrong and exits 1 (2 on bad usage).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ipcring.h>

#include "pipeline_format.h"

static int parse_u64(const char *s, uint64_t *out) {
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') return -1;
    *out = (uint64_t)v;
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, int rc) {
    fprintf(stderr, "pipeline_consumer: %s: %s (%d): %s\n", what, ipcring_strerror(rc), rc, ipcring_last_error());
}

int main(int argc, char **argv) {
    uint64_t count = 0;
    if (argc != 3 || parse_u64(argv[2], &count) != 0) {
        fprintf(stderr, "usage: %s ADDRESS COUNT\n", argv[0]);
        return 2;
    }
    const char *address = argv[1];

    ipcring_t *rx = NULL;
    int rc = ipcring_open(address, IPCRING_RECV | IPCRING_CREATE, &rx);
    if (rc != IPCRING_OK) {
        report("ipcring_open", rc);
        return 1;
    }
    int status = 1;
    unsigned char *buf = NULL;
    ipcring_info_t info = IPCRING_INFO_INIT;
    rc = ipcring_info(rx, &info);
    if (rc != IPCRING_OK) {
        report("ipcring_info", rc);
        goto out;
    }
    if (info.msg_size < PIPE_OVERHEAD) {
        fprintf(stderr, "pipeline_consumer: the ring's msg_size %" PRIu64 " is below the format's %u-byte overhead\n",
                info.msg_size, PIPE_OVERHEAD);
        goto out;
    }
    size_t cap = (size_t)info.msg_size;
    size_t max_payload = cap - PIPE_OVERHEAD;
    buf = malloc(cap);
    if (buf == NULL) {
        fprintf(stderr, "pipeline_consumer: out of memory for a %zu-byte buffer\n", cap);
        goto out;
    }

    uint64_t received = 0, bytes = 0;
    uint32_t stream = 0; /* the producer id of the first message; every one must match */
    double start = 0;
    for (;;) {
        size_t len = 0;
        rc = ipcring_recv(rx, buf, cap, &len, IPCRING_FOREVER);
        if (rc == IPCRING_EOF) break;
        if (rc != IPCRING_OK) {
            char what[64];
            snprintf(what, sizeof what, "ipcring_recv of message #%" PRIu64, received);
            report(what, rc);
            goto out;
        }
        if (received == 0) start = now_s();
        uint32_t producer = 0;
        uint64_t seq = 0;
        char why[160];
        if (pipe_decode(buf, len, max_payload, &producer, &seq, why, sizeof why) != 0) {
            fprintf(stderr, "pipeline_consumer: message #%" PRIu64 ": %s\n", received, why);
            goto out;
        }
        if (received == 0) stream = producer;
        if (producer != stream) {
            fprintf(stderr, "pipeline_consumer: message #%" PRIu64 ": from producer %u, expected %u\n", received,
                    (unsigned)producer, (unsigned)stream);
            goto out;
        }
        if (seq != received) {
            fprintf(stderr, "pipeline_consumer: message #%" PRIu64 ": seq %" PRIu64 ", expected %" PRIu64 " (%s)\n",
                    received, seq, received, seq < received ? "duplicate or reordered" : "lost messages");
            goto out;
        }
        received++;
        bytes += len;
    }
    double secs = received > 0 ? now_s() - start : 0;
    if (secs <= 0) secs = 1e-9;
    printf("received %" PRIu64 " messages, all verified\n", received);
    printf("consumer: %" PRIu64 " bytes from producer %u in %.3f s: %.0f msg/s, %.1f MB/s\n", bytes, (unsigned)stream,
           secs, (double)received / secs, (double)bytes / secs / 1e6);
    if (received != count) {
        fprintf(stderr, "pipeline_consumer: end of stream after %" PRIu64 " messages, expected %" PRIu64 "\n",
                received, count);
        goto out;
    }
    status = 0;

out:
    free(buf);
    rc = ipcring_close(rx);
    if (rc != IPCRING_OK) {
        report("ipcring_close", rc);
        status = 1;
    }
    /* Both sides are done with the name (or this side failed and nobody will drain it). */
    rc = ipcring_unlink(address);
    if (rc != IPCRING_OK && rc != IPCRING_ENOENT) {
        report("ipcring_unlink", rc);
        status = 1;
    }
    return status;
}
