/* pipeline_producer: the C half of the mixed-language pipeline (C producer -> Rust consumer).
 *
 * Shows a C program feeding a Rust program through one shared-memory ring: it opens (or
 * creates) the ring named on the command line with IPCRING_SEND | IPCRING_CREATE, sends
 * COUNT messages in the format of pipeline_format.h (the same as the Rust tests and
 * examples/pipeline.rs: [producer u32][seq u64][payload][fnv1a u64], payload length and
 * bytes derived from (producer, seq)), and closes the ring, which is the receiver's end of
 * stream. Whichever side starts first creates the ring; the other opens it, and the options
 * in the address must match.
 *
 *     pipeline_producer ADDRESS COUNT [PRODUCER_ID]
 *
 * With the Rust consumer (from the repository root; the consumer removes the ring's name
 * when it is done):
 *
 *     cargo build --release --example pipeline
 *     A='shm://pipeline-demo?capacity=1024&msg_size=256'
 *     target/release/examples/pipeline consume "$A" 1000000 &
 *     ./pipeline_producer "$A" 1000000
 *     wait
 *
 * The reverse direction is `pipeline produce` with ./pipeline_consumer. Prints one summary
 * line; exits 0 on success, 1 on any failure (after closing the handle), 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ipcring.h>

#include "pipeline_format.h"

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) return -1;
    *out = (uint64_t)v;
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, int rc) {
    fprintf(stderr, "pipeline_producer: %s: %s (%d): %s\n", what, ipcring_strerror(rc), rc, ipcring_last_error());
}

int main(int argc, char **argv) {
    uint64_t count = 0, producer = 0;
    if (argc < 3 || argc > 4 || parse_u64(argv[2], UINT64_MAX, &count) != 0 ||
        (argc == 4 && parse_u64(argv[3], UINT32_MAX, &producer) != 0)) {
        fprintf(stderr, "usage: %s ADDRESS COUNT [PRODUCER_ID]\n", argv[0]);
        return 2;
    }
    const char *address = argv[1];

    ipcring_t *tx = NULL;
    int rc = ipcring_open(address, IPCRING_SEND | IPCRING_CREATE, &tx);
    if (rc != IPCRING_OK) {
        report("ipcring_open", rc);
        return 1;
    }
    int status = 1;
    unsigned char *buf = NULL;
    ipcring_info_t info = IPCRING_INFO_INIT;
    rc = ipcring_info(tx, &info);
    if (rc != IPCRING_OK) {
        report("ipcring_info", rc);
        goto out;
    }
    if (info.msg_size < PIPE_OVERHEAD) {
        fprintf(stderr, "pipeline_producer: the ring's msg_size %" PRIu64 " is below the format's %u-byte overhead\n",
                info.msg_size, PIPE_OVERHEAD);
        goto out;
    }
    size_t max_payload = (size_t)info.msg_size - PIPE_OVERHEAD;
    buf = malloc((size_t)info.msg_size);
    if (buf == NULL) {
        fprintf(stderr, "pipeline_producer: out of memory for a %" PRIu64 "-byte buffer\n", info.msg_size);
        goto out;
    }

    uint64_t bytes = 0;
    double start = now_s();
    for (uint64_t seq = 0; seq < count; seq++) {
        size_t len = pipe_encode((uint32_t)producer, seq, max_payload, buf);
        rc = ipcring_send(tx, buf, len, IPCRING_FOREVER);
        if (rc != IPCRING_OK) {
            char what[64];
            snprintf(what, sizeof what, "ipcring_send of seq %" PRIu64, seq);
            report(what, rc);
            goto out;
        }
        bytes += len;
    }
    double secs = now_s() - start;
    if (secs <= 0) secs = 1e-9;
    printf("sent %" PRIu64 " messages (producer %" PRIu64 ", %" PRIu64 " bytes, msg_size %" PRIu64
           ") in %.3f s: %.0f msg/s, %.1f MB/s\n",
           count, producer, bytes, info.msg_size, secs, (double)count / secs, (double)bytes / secs / 1e6);
    status = 0;

out:
    free(buf);
    rc = ipcring_close(tx);
    if (rc != IPCRING_OK) {
        report("ipcring_close", rc);
        status = 1;
    }
    return status;
}
