/* scribble_peer.c: one end of a ring that another process is scribbling over (run by
 * tests/live_scribble.rs, plain and under valgrind).
 *
 *   scribble_peer send|recv NAME RUN_MS SEED READY_FILE [BATCH]
 *
 * Opens the existing ring shm://NAME as a sender or a receiver, creates READY_FILE, then for
 * RUN_MS milliseconds makes calls of every kind the header has for its side, with short
 * timeouts (20 ms): send, non-blocking send, send_batch, reserve + commit / cancel; or recv,
 * recv into a buffer too small, peek + release, recv_batch. Meanwhile the test process
 * writes random bytes over the ring's header, cursors, wake words and slots.
 *
 * What may happen: any status the header documents for the call (payload bytes are data, so
 * a damaged payload may arrive and is only counted). What must not: a status outside that
 * set, a length above the buffer or the ring's msg_size, a signal, a valgrind error, a hang.
 *
 * Once a call returns IPCRING_ECORRUPT the ring is poisoned for this process: the next call
 * must return IPCRING_ECORRUPT again, and so must a batch of BATCH (default 1000) further
 * calls with a 1 s timeout each, which therefore must not wait (the test bounds the batch's
 * time far below BATCH seconds), and every call after that until RUN_MS is over.
 *
 * Output: one summary line on stdout, "scribble_peer ROLE: key=value ...", which the test
 * parses. Exit status: 0; 2 usage or open failure; 3 a status outside the documented set;
 * 4 a length out of bounds; 5 IPCRING_ECORRUPT was not sticky.
 */
#define _XOPEN_SOURCE 700

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <ipcring.h>

#define TIMEOUT_NS 20000000LL     /* the ordinary calls' timeout: 20 ms */
#define BATCH_TIMEOUT_NS 1000000000LL /* the poisoned batch's timeout: 1 s */
#define MAX_BATCH 4

/* ------------------------------------------------------------------------------------ */
/* Clocks, randomness, checksums */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static uint64_t rng_state;

static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n) { return n ? rng_next() % n : 0; }

static uint32_t fnv32(const unsigned char *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A message of `len` bytes numbered `seq`: [seq u32][len u32][pattern][fnv32 of the rest]
 * when len >= 12, else just the pattern. */
static void fill(unsigned char *p, size_t len, uint32_t seq) {
    for (size_t i = 0; i < len; i++) p[i] = (unsigned char)(seq * 31u + (uint32_t)i);
    if (len >= 12) {
        put32(p, seq);
        put32(p + 4, (uint32_t)len);
        put32(p + len - 4, fnv32(p, len - 4));
    }
}

/* ------------------------------------------------------------------------------------ */
/* Bookkeeping */

static const char *role;
static size_t msg_size;
static uint64_t calls, ok, eagain, etimedout, ecorrupt, edisconnected, eof, etoosmall;
static uint64_t received, intact, damaged, short_msgs, sent_msgs, sum;
static uint64_t max_call_ns;
static const char *max_call_op = "-";
static int failed; /* the exit status once something impossible happened */

static void fail_at(int status, const char *what, int rc, const char *detail) {
    fprintf(stderr, "scribble_peer %s: IMPOSSIBLE: %s returned %d (%s)%s%s; last error: %s\n", role, what, rc,
            ipcring_strerror(rc), detail[0] ? ": " : "", detail, ipcring_last_error());
    if (!failed) failed = status;
}

/* Counts `rc` for call `what`; `allowed` lists the statuses that call may return. */
static void count(const char *what, int rc, const int *allowed, int n_allowed, uint64_t took) {
    calls++;
    if (took > max_call_ns) {
        max_call_ns = took;
        max_call_op = what;
    }
    int known = 0;
    for (int i = 0; i < n_allowed; i++) known |= allowed[i] == rc;
    if (!known) {
        fail_at(3, what, rc, "not a status this call may return here");
        return;
    }
    switch (rc) {
        case IPCRING_OK: ok++; break;
        case IPCRING_EAGAIN: eagain++; break;
        case IPCRING_ETIMEDOUT: etimedout++; break;
        case IPCRING_ECORRUPT: ecorrupt++; break;
        case IPCRING_EDISCONNECTED: edisconnected++; break;
        case IPCRING_EOF: eof++; break;
        case IPCRING_EDIED: eof++; break; /* a scribbled entry can look like a dead sender */
        case IPCRING_ETOOSMALL: etoosmall++; break;
        default: break;
    }
}

static const int SEND_OK[] = {IPCRING_OK, IPCRING_EAGAIN, IPCRING_ETIMEDOUT, IPCRING_EDISCONNECTED,
                              IPCRING_ECORRUPT};
static const int RECV_OK[] = {IPCRING_OK, IPCRING_EOF, IPCRING_EDIED, IPCRING_EAGAIN, IPCRING_ETIMEDOUT,
                              IPCRING_ETOOSMALL, IPCRING_ECORRUPT};
/* recv_batch with stride >= msg_size never reports a message too long for it. */
static const int RECV_BATCH_OK[] = {IPCRING_OK, IPCRING_EOF, IPCRING_EDIED, IPCRING_EAGAIN, IPCRING_ETIMEDOUT,
                                    IPCRING_ECORRUPT};
static const int FINISH_OK[] = {IPCRING_OK, IPCRING_ECORRUPT};
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void check_message(const unsigned char *p, size_t len) {
    received++;
    if (len > msg_size) {
        char d[128];
        snprintf(d, sizeof d, "a message of %zu bytes in a ring of msg_size %zu", len, msg_size);
        fail_at(4, "receive", 0, d);
        return;
    }
    /* Read every byte (valgrind checks each read is inside the mapping). */
    for (size_t i = 0; i < len; i++) sum += p[i];
    if (len < 12) {
        short_msgs++;
    } else if (get32(p + 4) == (uint32_t)len && get32(p + len - 4) == fnv32(p, len - 4)) {
        intact++;
    } else {
        damaged++;
    }
}

/* ------------------------------------------------------------------------------------ */
/* One call of each kind. Each returns the status; `timeout` in nanoseconds. */

static unsigned char *buf, *batch_buf;
static uint32_t seq;

static int do_send(ipcring_t *h, int op, int64_t timeout) {
    uint64_t t0 = now_ns();
    int rc;
    const char *what;
    size_t len = (size_t)rng_below(msg_size + 1);
    switch (op) {
        case 0: { /* send, or a non-blocking one */
            fill(buf, len, seq);
            int64_t t = rng_below(5) == 0 ? IPCRING_NONBLOCK : timeout;
            rc = ipcring_send(h, buf, len, t);
            what = "ipcring_send";
            if (rc == IPCRING_OK) sent_msgs++, seq++;
            break;
        }
        case 1: { /* send_batch of 1..MAX_BATCH */
            ipcring_msg_t msgs[MAX_BATCH];
            size_t n = 1 + (size_t)rng_below(MAX_BATCH), sent = 99;
            for (size_t i = 0; i < n; i++) {
                size_t l = (size_t)rng_below(msg_size + 1);
                fill(batch_buf + i * msg_size, l, seq + (uint32_t)i);
                msgs[i].data = batch_buf + i * msg_size;
                msgs[i].len = l;
            }
            rc = ipcring_send_batch(h, msgs, n, &sent, timeout);
            what = "ipcring_send_batch";
            if (rc == IPCRING_OK) {
                if (sent < 1 || sent > n) {
                    char d[128];
                    snprintf(d, sizeof d, "sent %zu of %zu", sent, n);
                    fail_at(4, what, rc, d);
                } else {
                    sent_msgs += sent;
                    seq += (uint32_t)sent;
                }
            }
            break;
        }
        default: { /* reserve, then commit or cancel */
            void *slot = NULL;
            size_t cap = 0;
            rc = ipcring_reserve(h, &slot, &cap, timeout);
            what = "ipcring_reserve";
            if (rc == IPCRING_OK) {
                if (slot == NULL || cap != msg_size) {
                    char d[128];
                    snprintf(d, sizeof d, "slot %p of %zu bytes", slot, cap);
                    fail_at(4, what, rc, d);
                    return rc;
                }
                fill(slot, len, seq); /* writes inside the slot: valgrind checks */
                int fin;
                const char *fwhat;
                uint64_t f0 = now_ns();
                if (rng_below(4) == 0) {
                    fin = ipcring_cancel(h);
                    fwhat = "ipcring_cancel";
                } else {
                    fin = ipcring_commit(h, len);
                    fwhat = "ipcring_commit";
                    if (fin == IPCRING_OK) sent_msgs++, seq++;
                }
                count(fwhat, fin, FINISH_OK, N(FINISH_OK), now_ns() - f0);
            }
            break;
        }
    }
    count(what, rc, SEND_OK, N(SEND_OK), now_ns() - t0);
    return rc;
}

static int do_recv(ipcring_t *h, int op, int64_t timeout) {
    uint64_t t0 = now_ns();
    int rc;
    const char *what;
    const int *allowed = RECV_OK;
    int n_allowed = N(RECV_OK);
    switch (op) {
        case 0: { /* recv into a buffer of msg_size, or one of 8 bytes */
            size_t cap = rng_below(4) == 0 ? 8 : msg_size, len = (size_t)-1;
            rc = ipcring_recv(h, buf, cap, &len, timeout);
            what = "ipcring_recv";
            if (rc == IPCRING_OK) {
                if (len > cap) {
                    char d[128];
                    snprintf(d, sizeof d, "length %zu into a buffer of %zu", len, cap);
                    fail_at(4, what, rc, d);
                } else {
                    check_message(buf, len);
                }
            }
            break;
        }
        case 1: { /* peek, read in place, release */
            const void *p = NULL;
            size_t len = (size_t)-1;
            rc = ipcring_peek(h, &p, &len, timeout);
            what = "ipcring_peek";
            if (rc == IPCRING_OK) {
                if (p == NULL && len > 0) {
                    fail_at(4, what, rc, "NULL message pointer");
                    return rc;
                }
                check_message(p, len);
                uint64_t r0 = now_ns();
                int fin = ipcring_release(h);
                count("ipcring_release", fin, FINISH_OK, N(FINISH_OK), now_ns() - r0);
            }
            break;
        }
        default: { /* recv_batch */
            size_t lens[MAX_BATCH], got = 99;
            size_t max = 1 + (size_t)rng_below(MAX_BATCH);
            rc = ipcring_recv_batch(h, batch_buf, msg_size, max, lens, &got, timeout);
            what = "ipcring_recv_batch";
            allowed = RECV_BATCH_OK;
            n_allowed = N(RECV_BATCH_OK);
            if (rc == IPCRING_OK) {
                if (got < 1 || got > max) {
                    char d[128];
                    snprintf(d, sizeof d, "%zu messages for a max of %zu", got, max);
                    fail_at(4, what, rc, d);
                } else {
                    for (size_t i = 0; i < got; i++) check_message(batch_buf + i * msg_size, lens[i]);
                }
            }
            break;
        }
    }
    count(what, rc, allowed, n_allowed, now_ns() - t0);
    return rc;
}

static int is_send;

static int one_call(ipcring_t *h, int64_t timeout) {
    uint64_t r = rng_below(100);
    if (is_send) return do_send(h, r < 60 ? 0 : r < 80 ? 1 : 2, timeout);
    return do_recv(h, r < 50 ? 0 : r < 75 ? 1 : 2, timeout);
}

/* ------------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    if (argc < 6 || argc > 7 || (strcmp(argv[1], "send") != 0 && strcmp(argv[1], "recv") != 0)) {
        fprintf(stderr, "usage: scribble_peer send|recv NAME RUN_MS SEED READY_FILE [BATCH]\n");
        return 2;
    }
    role = argv[1];
    is_send = strcmp(role, "send") == 0;
    long run_ms = atol(argv[3]);
    rng_state = strtoull(argv[4], NULL, 0) ^ (is_send ? 0x5E4D : 0x4EC5);
    long batch = argc == 7 ? atol(argv[6]) : 1000;
    char addr[256];
    if (snprintf(addr, sizeof addr, "shm://%s", argv[2]) >= (int)sizeof addr) {
        fprintf(stderr, "scribble_peer: name too long\n");
        return 2;
    }

    ipcring_t *h = NULL;
    int rc = ipcring_open(addr, is_send ? IPCRING_SEND : IPCRING_RECV, &h);
    if (rc != IPCRING_OK) {
        fprintf(stderr, "scribble_peer %s: open %s: %s (%s)\n", role, addr, ipcring_strerror(rc),
                ipcring_last_error());
        return 2;
    }
    ipcring_info_t info = IPCRING_INFO_INIT;
    rc = ipcring_info(h, &info);
    if (rc != IPCRING_OK || info.msg_size == 0 || info.msg_size > (1u << 20)) {
        fprintf(stderr, "scribble_peer %s: ipcring_info: %d\n", role, rc);
        return 2;
    }
    msg_size = (size_t)info.msg_size;
    buf = malloc(msg_size);
    batch_buf = malloc(msg_size * MAX_BATCH);
    if (!buf || !batch_buf) return 2;
    FILE *ready = fopen(argv[5], "w");
    if (!ready) {
        perror("scribble_peer: ready file");
        return 2;
    }
    fclose(ready);

    uint64_t start = now_ns(), cpu0 = cpu_ns(), deadline = start + (uint64_t)run_ms * 1000000u;
    uint64_t first_corrupt_ms = 0, batch_ns = 0, batch_cpu_ns = 0, batch_max_ns = 0, batch_calls = 0;
    uint64_t after_calls = 0, after_start = 0, after_cpu0 = 0;
    int poisoned = 0;
    while (now_ns() < deadline && !failed) {
        if (!poisoned) {
            rc = one_call(h, TIMEOUT_NS);
            if (rc == IPCRING_EOF || rc == IPCRING_EDIED || rc == IPCRING_EDISCONNECTED) sleep_ms(2); /* returned at once */
            if (rc != IPCRING_ECORRUPT) continue;
            /* Poisoned: every further call must say so at once. */
            poisoned = 1;
            first_corrupt_ms = (now_ns() - start) / 1000000u;
            rc = one_call(h, BATCH_TIMEOUT_NS);
            if (rc != IPCRING_ECORRUPT) {
                fail_at(5, "the call after IPCRING_ECORRUPT", rc, "the poisoned ring worked again");
                break;
            }
            uint64_t b0 = now_ns(), c0 = cpu_ns();
            for (long i = 0; i < batch && !failed; i++) {
                uint64_t t0 = now_ns();
                rc = one_call(h, BATCH_TIMEOUT_NS);
                uint64_t took = now_ns() - t0;
                if (took > batch_max_ns) batch_max_ns = took;
                batch_calls++;
                if (rc != IPCRING_ECORRUPT) {
                    fail_at(5, "a call of the poisoned batch", rc, "the poisoned ring worked again");
                }
            }
            batch_ns = now_ns() - b0;
            batch_cpu_ns = cpu_ns() - c0;
            after_start = now_ns();
            after_cpu0 = cpu_ns();
        } else {
            /* Until the end of the run, while the scribbling goes on. */
            rc = one_call(h, TIMEOUT_NS);
            after_calls++;
            if (rc != IPCRING_ECORRUPT) fail_at(5, "a call on the poisoned ring", rc, "it worked again");
            sleep_ms(10);
        }
    }
    uint64_t wall = now_ns() - start, cpu = cpu_ns() - cpu0;
    uint64_t after_ns = poisoned ? now_ns() - after_start : 0;
    uint64_t after_cpu_ns = poisoned ? cpu_ns() - after_cpu0 : 0;
    rc = ipcring_close(h);
    if (rc != IPCRING_OK) fail_at(3, "ipcring_close", rc, "");

    typedef unsigned long long ull;
    printf("scribble_peer %s: calls=%llu ok=%llu eagain=%llu etimedout=%llu ecorrupt=%llu "
           "edisconnected=%llu eof=%llu etoosmall=%llu sent=%llu received=%llu intact=%llu "
           "damaged=%llu short=%llu first_corrupt_ms=%llu batch_calls=%llu batch_ms=%llu "
           "batch_cpu_ms=%llu batch_max_us=%llu after_calls=%llu after_ms=%llu after_cpu_ms=%llu "
           "max_call_us=%llu max_call_op=%s wall_ms=%llu cpu_ms=%llu poisoned=%d sum=%llu\n",
           role, (ull)calls, (ull)ok, (ull)eagain, (ull)etimedout, (ull)ecorrupt, (ull)edisconnected,
           (ull)eof, (ull)etoosmall, (ull)sent_msgs, (ull)received, (ull)intact, (ull)damaged,
           (ull)short_msgs, (ull)first_corrupt_ms, (ull)batch_calls, (ull)(batch_ns / 1000000u),
           (ull)(batch_cpu_ns / 1000000u), (ull)(batch_max_ns / 1000u), (ull)after_calls,
           (ull)(after_ns / 1000000u), (ull)(after_cpu_ns / 1000000u), (ull)(max_call_ns / 1000u),
           max_call_op, (ull)(wall / 1000000u), (ull)(cpu / 1000000u), poisoned, (ull)sum);
    free(buf);
    free(batch_buf);
    return failed;
}
