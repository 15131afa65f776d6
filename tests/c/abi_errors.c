/* abi_errors.c: bad input from C, and the happy paths around it (run by tests/c_abi.rs,
 * under AddressSanitizer + UBSan and under valgrind).
 *
 * Every case calls libipcring the way a careless or hostile C caller would and checks the
 * status code the header documents, that outputs were left alone on failure, that failing
 * calls leave a non-empty ipcring_last_error(), and that nothing was lost (the ring's
 * queued count, the message still received whole). One line per check on stdout; at the
 * first failure it prints the line, the status, its strerror and last_error, unlinks every
 * ring it made and exits 1.
 *
 * Rings are named ipcring-abi-PID-TAG and unlinked at the end (and on failure).
 */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ipcring.h>

/* ------------------------------------------------------------------------------------ */
/* Bookkeeping: ring names to unlink, check helpers. */

#define MAX_NAMES 64
static char names[MAX_NAMES][96];
static int n_names;
static int n_checks;

static void cleanup(void) {
    char addr[128];
    for (int i = 0; i < n_names; i++) {
        if (snprintf(addr, sizeof addr, "shm://%s", names[i]) >= (int)sizeof addr) continue;
        (void)ipcring_unlink(addr); /* ENOENT when the test already removed it */
    }
    n_names = 0;
}

/* A fresh ring name, unlinked by cleanup(). */
static const char *new_name(const char *tag) {
    if (n_names == MAX_NAMES) {
        fprintf(stderr, "abi_errors: too many ring names\n");
        cleanup();
        exit(1);
    }
    snprintf(names[n_names], sizeof names[n_names], "ipcring-abi-%ld-%s", (long)getpid(), tag);
    return names[n_names++];
}

/* "shm://NAME?QUERY" into a static buffer of the caller's. */
static const char *addr_of(char *buf, size_t cap, const char *name, const char *query) {
    if (snprintf(buf, cap, "shm://%s%s%s", name, query[0] ? "?" : "", query) >= (int)cap) {
        fprintf(stderr, "abi_errors: address too long\n");
        cleanup();
        exit(1);
    }
    return buf;
}

static const char *code_name(int rc) {
    switch (rc) {
        case IPCRING_OK: return "IPCRING_OK";
        case IPCRING_EOF: return "IPCRING_EOF";
        case IPCRING_EINVAL: return "IPCRING_EINVAL";
        case IPCRING_EADDRESS: return "IPCRING_EADDRESS";
        case IPCRING_EUNSUPPORTED: return "IPCRING_EUNSUPPORTED";
        case IPCRING_EEXIST: return "IPCRING_EEXIST";
        case IPCRING_ENOENT: return "IPCRING_ENOENT";
        case IPCRING_EACCES: return "IPCRING_EACCES";
        case IPCRING_ENOSPC: return "IPCRING_ENOSPC";
        case IPCRING_ENOTREADY: return "IPCRING_ENOTREADY";
        case IPCRING_ENOTRING: return "IPCRING_ENOTRING";
        case IPCRING_EVERSION: return "IPCRING_EVERSION";
        case IPCRING_EMISMATCH: return "IPCRING_EMISMATCH";
        case IPCRING_ECORRUPT: return "IPCRING_ECORRUPT";
        case IPCRING_ETOOLARGE: return "IPCRING_ETOOLARGE";
        case IPCRING_ETOOSMALL: return "IPCRING_ETOOSMALL";
        case IPCRING_EAGAIN: return "IPCRING_EAGAIN";
        case IPCRING_ETIMEDOUT: return "IPCRING_ETIMEDOUT";
        case IPCRING_EDISCONNECTED: return "IPCRING_EDISCONNECTED";
        case IPCRING_EBUSY: return "IPCRING_EBUSY";
        case IPCRING_ETOOMANY: return "IPCRING_ETOOMANY";
        case IPCRING_ECLOSED: return "IPCRING_ECLOSED";
        case IPCRING_EBADHANDLE: return "IPCRING_EBADHANDLE";
        case IPCRING_EDIRECTION: return "IPCRING_EDIRECTION";
        case IPCRING_ESTATE: return "IPCRING_ESTATE";
        case IPCRING_EIO: return "IPCRING_EIO";
        case IPCRING_EPANIC: return "IPCRING_EPANIC";
        case IPCRING_ELIMIT: return "IPCRING_ELIMIT";
        case IPCRING_EINUSE: return "IPCRING_EINUSE";
        default: return "(unknown code)";
    }
}

static void die(int line, const char *what, int rc) {
    /* Read last_error first: any later failing call would replace it. */
    const char *le = ipcring_last_error();
    printf("FAIL line %d: %s\n", line, what);
    printf("     status %d %s: %s\n", rc, code_name(rc), ipcring_strerror(rc));
    printf("     last_error: %s\n", le ? le : "(NULL)");
    fflush(stdout);
    cleanup();
    exit(1);
}

/* The call returned `want`; a failure also left a non-empty last_error. */
static void check_rc(int line, const char *expr, int rc, int want) {
    char what[512];
    if (rc != want) {
        snprintf(what, sizeof what, "%s returned %s, expected %s", expr, code_name(rc), code_name(want));
        die(line, what, rc);
    }
    if (want < 0) {
        const char *le = ipcring_last_error();
        if (le == NULL || le[0] == '\0') {
            snprintf(what, sizeof what, "%s returned %s but ipcring_last_error() is empty", expr, code_name(rc));
            die(line, what, rc);
        }
    }
    n_checks++;
    printf("ok %4d  %s -> %s\n", line, expr, code_name(rc));
}

/* `cond` holds. */
static void check_true(int line, const char *expr, int cond) {
    if (!cond) {
        char what[512];
        snprintf(what, sizeof what, "%s is false", expr);
        die(line, what, 0);
    }
    n_checks++;
    printf("ok %4d  %s\n", line, expr);
}

/* The last failure's message names `part`. */
static void check_names(int line, const char *part) {
    const char *le = ipcring_last_error();
    if (le == NULL || strstr(le, part) == NULL) {
        char what[512];
        snprintf(what, sizeof what, "ipcring_last_error() does not name \"%s\"", part);
        die(line, what, 0);
    }
    n_checks++;
    printf("ok %4d  last_error names \"%s\": %s\n", line, part, le);
}

#define CHECK(expr, want) check_rc(__LINE__, #expr, (expr), (want))
#define REQUIRE(cond) check_true(__LINE__, #cond, (cond) ? 1 : 0)
#define NAMES(part) check_names(__LINE__, (part))

/* Sentinels: outputs must be left alone by a failing call. */
static ipcring_t *const BAD_H = (ipcring_t *)(uintptr_t)0x5a5a5a50u;
#define SENTINEL_LEN ((size_t)0xdeadbeef)

static uint64_t queued(int line, ipcring_t *h) {
    ipcring_info_t info = IPCRING_INFO_INIT;
    int rc = ipcring_info(h, &info);
    if (rc != IPCRING_OK) die(line, "ipcring_info", rc);
    return info.queued;
}
#define QUEUED(h) queued(__LINE__, (h))

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed * 31u + i * 7u + 1u);
}

static int same(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed * 31u + i * 7u + 1u)) return 0;
    return 1;
}

/* ------------------------------------------------------------------------------------ */

#define MSG 64 /* msg_size of the test rings */
#define CAP 8  /* capacity of the test rings */
#define GEOM "capacity=8&msg_size=64"

static void strings_and_codes(void) {
    printf("-- status texts, version, last_error\n");
    const char *le = ipcring_last_error();
    REQUIRE(le != NULL && le[0] == '\0'); /* nothing failed yet on this thread */
    const char *unknown = ipcring_strerror(12345);
    REQUIRE(unknown != NULL && unknown[0] != '\0');
    for (int rc = IPCRING_ENOLISTENER; rc <= IPCRING_EOF; rc++) {
        const char *s = ipcring_strerror(rc);
        if (s == NULL || s[0] == '\0' || strcmp(s, unknown) == 0) {
            char what[128];
            snprintf(what, sizeof what, "ipcring_strerror(%d) is NULL, empty or \"unknown\"", rc);
            die(__LINE__, what, rc);
        }
    }
    printf("ok %4d  ipcring_strerror of every code from %d to %d is its own text\n", __LINE__, IPCRING_ENOLISTENER,
           IPCRING_EOF);
    n_checks++;
    const int odd[] = {12345, -12345, 2, -31, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        const char *s = ipcring_strerror(odd[i]);
        REQUIRE(s != NULL && s[0] != '\0');
    }
    const char *v = ipcring_version();
    REQUIRE(v != NULL && strcmp(v, IPCRING_VERSION) == 0);
}

static void null_handles(void) {
    printf("-- NULL handle on every handle-taking call\n");
    unsigned char buf[MSG];
    size_t len = SENTINEL_LEN, cap = SENTINEL_LEN, sent = SENTINEL_LEN, count = SENTINEL_LEN;
    size_t lens[2];
    void *slot = NULL;
    const void *cslot = NULL;
    ipcring_t *out = BAD_H;
    ipcring_stats_t st = IPCRING_STATS_INIT;
    ipcring_info_t info = IPCRING_INFO_INIT;
    ipcring_msg_t msgs[1] = {{buf, 1}};
    memset(buf, 0, sizeof buf);
    CHECK(ipcring_send(NULL, buf, 1, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_recv(NULL, buf, sizeof buf, &len, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_reserve(NULL, &slot, &cap, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_commit(NULL, 1), IPCRING_EINVAL);
    CHECK(ipcring_cancel(NULL), IPCRING_EINVAL);
    CHECK(ipcring_peek(NULL, &cslot, &len, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_release(NULL), IPCRING_EINVAL);
    CHECK(ipcring_send_batch(NULL, msgs, 1, &sent, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_recv_batch(NULL, buf, MSG, 1, lens, &count, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_stats(NULL, &st), IPCRING_EINVAL);
    CHECK(ipcring_info(NULL, &info), IPCRING_EINVAL);
    CHECK(ipcring_clone(NULL, &out), IPCRING_EINVAL);
    CHECK(ipcring_close(NULL), IPCRING_OK);
    REQUIRE(len == SENTINEL_LEN && cap == SENTINEL_LEN && sent == SENTINEL_LEN && count == SENTINEL_LEN);
    REQUIRE(slot == NULL && cslot == NULL && out == BAD_H);
}

static void bad_addresses(void) {
    printf("-- NULL, non-UTF-8, malformed and unsupported addresses; bad flags\n");
    ipcring_t *h = BAD_H, *tx = BAD_H, *rx = BAD_H;
    char a[256];
    const char *name = new_name("addr");
    const char *good = addr_of(a, sizeof a, name, GEOM);

    CHECK(ipcring_open(NULL, IPCRING_SEND | IPCRING_CREATE, &h), IPCRING_EINVAL);
    CHECK(ipcring_pair(NULL, &tx, &rx), IPCRING_EINVAL);
    CHECK(ipcring_unlink(NULL), IPCRING_EINVAL);
    CHECK(ipcring_remove(NULL, 0), IPCRING_EINVAL);
    const char *not_utf8 = "shm://bad\xff"
                           "\xfe"
                           "name";
    CHECK(ipcring_open(not_utf8, IPCRING_SEND | IPCRING_CREATE, &h), IPCRING_EINVAL);
    CHECK(ipcring_pair("shm://?capacity=\xc3", &tx, &rx), IPCRING_EINVAL);
    CHECK(ipcring_unlink(not_utf8), IPCRING_EINVAL);
    CHECK(ipcring_remove(not_utf8, 0), IPCRING_EINVAL);

    /* NULL out-pointers: refused before anything is created. */
    CHECK(ipcring_open(good, IPCRING_SEND | IPCRING_CREATE, NULL), IPCRING_EINVAL);
    CHECK(ipcring_open(good, IPCRING_RECV, &h), IPCRING_ENOENT); /* nothing was created */
    CHECK(ipcring_pair("shm://", NULL, &rx), IPCRING_EINVAL);
    CHECK(ipcring_pair("shm://", &tx, NULL), IPCRING_EINVAL);
    REQUIRE(h == BAD_H && tx == BAD_H && rx == BAD_H);

    /* Malformed: IPCRING_EADDRESS, and last_error names the bad part. */
    static const struct {
        const char *addr;  /* or NULL: shm://NAME?QUERY with this test's unique name */
        const char *query;
        const char *part;  /* what last_error must name */
    } bad[] = {
        {"jobs", NULL, "jobs"},                            /* no scheme */
        {"shmm://jobs", NULL, "shmm"},                     /* unknown scheme */
        {"shm://a/b", NULL, "a/b"},                        /* '/' in the name */
        {NULL, "colour=red", "colour=red"},                /* unknown option */
        {NULL, "bytes=12", "bytes=12"},                    /* not a multiple of 8 */
        {NULL, "mode=mpmc&bytes=4096", "bytes=4096"},      /* MPMC has fixed slots */
        {NULL, "capacity=16777217", "capacity=16777217"},  /* over 2^24 */
        {NULL, "capacity=0", "capacity=0"},                /* zero */
        {NULL, "msg_size=0", "msg_size=0"},                /* zero */
        {NULL, "capacity=8&capacity=8", "capacity=8"},     /* duplicate option */
        {NULL, "capacity=eight", "capacity=eight"},        /* not a number */
        {NULL, "mode=fast", "mode=fast"},                  /* bad value */
        {NULL, "wake=poll", "wake=poll"},                  /* bad value */
        {NULL, "spin=maybe", "spin=maybe"},                /* bad value */
        {"mq://q?spin=off", NULL, "spin"},                 /* ring-only option */
        {NULL, "perm=999", "perm=999"},                    /* not octal bits */
        {NULL, "capacity", "capacity"},                    /* no =VALUE */
        {"tcp://host", NULL, "host"},                      /* no port */
        {"fifo://relative", NULL, "relative"},             /* not an absolute path */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char expr[300], b[256];
        const char *addr = bad[i].addr ? bad[i].addr : addr_of(b, sizeof b, name, bad[i].query);
        snprintf(expr, sizeof expr, "ipcring_open(\"%s\", SEND|CREATE)", addr);
        check_rc(__LINE__, expr, ipcring_open(addr, IPCRING_SEND | IPCRING_CREATE, &h), IPCRING_EADDRESS);
        NAMES(bad[i].part);
    }
    CHECK(ipcring_unlink("shm://a/b"), IPCRING_EADDRESS);
    NAMES("a/b");
    CHECK(ipcring_open("shm://", IPCRING_SEND | IPCRING_CREATE, &h), IPCRING_EADDRESS); /* open needs a name */
    CHECK(ipcring_pair("shm://abi-named", &tx, &rx), IPCRING_EADDRESS);               /* pair takes none */
    CHECK(ipcring_pair("shm://?bytes=3", &tx, &rx), IPCRING_EADDRESS);
    NAMES("bytes=3");
    REQUIRE(h == BAD_H && tx == BAD_H && rx == BAD_H);

    /* Anonymous and named transports in the wrong call, and ring-only options elsewhere:
       IPCRING_EADDRESS, and nothing created. */
    CHECK(ipcring_open("pipe://", IPCRING_SEND | IPCRING_CREATE, &h), IPCRING_EADDRESS);
    NAMES("pipe://");
    CHECK(ipcring_pair("fifo:///tmp/ipcring-abi-fifo", &tx, &rx), IPCRING_EADDRESS);
    CHECK(ipcring_pair("mq://ipcring-abi-q", &tx, &rx), IPCRING_EADDRESS);
    CHECK(ipcring_pair("tcp://127.0.0.1:9", &tx, &rx), IPCRING_EADDRESS);
    CHECK(ipcring_pair("pipe://?mode=mpmc", &tx, &rx), IPCRING_EADDRESS);
    NAMES("mode");
    CHECK(ipcring_pair("pipe://?capacity=8", &tx, &rx), IPCRING_EADDRESS);
    NAMES("capacity");
    CHECK(ipcring_open("fifo:///tmp/ipcring-abi-fifo?wake=sem", IPCRING_SEND | IPCRING_CREATE, &h),
          IPCRING_EADDRESS);
    NAMES("wake");
    CHECK(ipcring_open("fifo:///tmp/ipcring-abi-fifo", IPCRING_SEND, &h), IPCRING_ENOENT);
    NAMES("/tmp/ipcring-abi-fifo");
    CHECK(ipcring_unlink("fifo:///tmp/ipcring-abi-fifo"), IPCRING_ENOENT);
    CHECK(ipcring_unlink("tcp://127.0.0.1:9"), IPCRING_EADDRESS);
    CHECK(ipcring_unlink("pipe://"), IPCRING_EADDRESS);
    CHECK(ipcring_remove("shm://", 0), IPCRING_EADDRESS);
    CHECK(ipcring_remove("tcp://127.0.0.1:9", IPCRING_REMOVE_FORCE), IPCRING_EADDRESS);
    CHECK(ipcring_remove("fifo:///tmp/ipcring-abi-fifo", 0), IPCRING_ENOENT);
    REQUIRE(access("/tmp/ipcring-abi-fifo", F_OK) != 0);
    REQUIRE(h == BAD_H && tx == BAD_H && rx == BAD_H);

    /* Bad flags: IPCRING_EINVAL, and nothing created. */
    CHECK(ipcring_open(good, 0, &h), IPCRING_EINVAL);
    CHECK(ipcring_open(good, IPCRING_CREATE, &h), IPCRING_EINVAL);
    CHECK(ipcring_open(good, IPCRING_SEND | IPCRING_CREATE | 0x10, &h), IPCRING_EINVAL);
    CHECK(ipcring_open(good, IPCRING_RECV | IPCRING_CREATE | 0x80000000u, &h), IPCRING_EINVAL);
    CHECK(ipcring_open(good, IPCRING_SEND | IPCRING_EXCL, &h), IPCRING_EINVAL);
    CHECK(ipcring_open(good, IPCRING_SEND, &h), IPCRING_ENOENT);
    REQUIRE(h == BAD_H);
    CHECK(ipcring_unlink(good), IPCRING_ENOENT);
}

static void open_errors(void) {
    printf("-- ENOENT, EEXIST, EMISMATCH, EBUSY\n");
    char a[256], b[256];
    const char *name = new_name("open");
    const char *good = addr_of(a, sizeof a, name, GEOM);
    ipcring_t *tx = NULL, *rx = NULL, *h = BAD_H;

    CHECK(ipcring_open(good, IPCRING_SEND, &h), IPCRING_ENOENT);
    CHECK(ipcring_open(good, IPCRING_SEND | IPCRING_CREATE | IPCRING_EXCL, &tx), IPCRING_OK);
    CHECK(ipcring_open(good, IPCRING_RECV | IPCRING_CREATE | IPCRING_EXCL, &h), IPCRING_EEXIST);
    REQUIRE(h == BAD_H);

    CHECK(ipcring_open(addr_of(b, sizeof b, name, "capacity=16"), IPCRING_RECV, &h), IPCRING_EMISMATCH);
    NAMES("capacity");
    CHECK(ipcring_open(addr_of(b, sizeof b, name, "msg_size=128"), IPCRING_RECV | IPCRING_CREATE, &h),
          IPCRING_EMISMATCH);
    NAMES("msg_size");
    CHECK(ipcring_open(addr_of(b, sizeof b, name, "mode=mpmc"), IPCRING_RECV, &h), IPCRING_EMISMATCH);
    CHECK(ipcring_open(addr_of(b, sizeof b, name, "wake=sem"), IPCRING_RECV, &h), IPCRING_EMISMATCH);
    NAMES("wake");
    REQUIRE(h == BAD_H);

    /* SPSC: one sender, one receiver. */
    CHECK(ipcring_open(good, IPCRING_SEND, &h), IPCRING_EBUSY);
    CHECK(ipcring_open(addr_of(b, sizeof b, name, ""), IPCRING_RECV, &rx), IPCRING_OK); /* no options: any */
    CHECK(ipcring_open(good, IPCRING_RECV, &h), IPCRING_EBUSY);
    CHECK(ipcring_open(good, IPCRING_SEND | IPCRING_RECV, &h), IPCRING_EBUSY);
    CHECK(ipcring_clone(tx, &h), IPCRING_EBUSY);
    CHECK(ipcring_clone(rx, &h), IPCRING_EBUSY);
    REQUIRE(h == BAD_H);

    /* Once the sender is closed, its role is free again. */
    CHECK(ipcring_close(tx), IPCRING_OK);
    CHECK(ipcring_open(good, IPCRING_SEND, &tx), IPCRING_OK);
    CHECK(ipcring_close(tx), IPCRING_OK);

    /* ipcring_remove refuses a ring with a live endpoint (the receiver), and says so. */
    CHECK(ipcring_remove(good, 0x2), IPCRING_EINVAL); /* unknown flag */
    CHECK(ipcring_remove(good, 0), IPCRING_EINUSE);
    NAMES("1 live endpoint");
    CHECK(ipcring_open(good, IPCRING_SEND, &tx), IPCRING_OK); /* still there */
    CHECK(ipcring_close(tx), IPCRING_OK);
    CHECK(ipcring_close(rx), IPCRING_OK);
    CHECK(ipcring_remove(good, 0), IPCRING_OK); /* nobody attached: removed */
    CHECK(ipcring_remove(good, 0), IPCRING_ENOENT);
    CHECK(ipcring_open(good, IPCRING_SEND | IPCRING_CREATE | IPCRING_EXCL, &tx), IPCRING_OK);
    CHECK(ipcring_remove(good, IPCRING_REMOVE_FORCE), IPCRING_OK); /* in use, forced */
    CHECK(ipcring_send(tx, "x", 1, IPCRING_NONBLOCK), IPCRING_OK); /* the open handle still works */
    CHECK(ipcring_close(tx), IPCRING_OK);
    CHECK(ipcring_unlink(good), IPCRING_ENOENT);
    CHECK(ipcring_open(good, IPCRING_SEND, &h), IPCRING_ENOENT);
}

static void data_errors(void) {
    printf("-- ETOOLARGE, ETOOSMALL, EDIRECTION, ESTATE, EAGAIN, ETIMEDOUT, NULL buffers\n");
    char a[256];
    const char *good = addr_of(a, sizeof a, new_name("data"), GEOM);
    ipcring_t *tx = NULL, *rx = NULL;
    unsigned char msg[MSG + 1], big[MSG], small[8];
    size_t len = SENTINEL_LEN, cap = SENTINEL_LEN, sent = SENTINEL_LEN, count = SENTINEL_LEN;
    size_t lens[CAP];
    void *slot = NULL;
    const void *cslot = NULL;
    ipcring_info_t info = IPCRING_INFO_INIT;

    CHECK(ipcring_open(good, IPCRING_SEND | IPCRING_CREATE, &tx), IPCRING_OK);
    CHECK(ipcring_open(good, IPCRING_RECV, &rx), IPCRING_OK);
    CHECK(ipcring_info(tx, &info), IPCRING_OK);
    REQUIRE(info.capacity == CAP && info.msg_size == MSG && info.queued == 0);
    REQUIRE(info.mode == IPCRING_MODE_SPSC && info.wake == IPCRING_WAKE_FUTEX && info.ends == IPCRING_SEND);
    CHECK(ipcring_info(rx, &info), IPCRING_OK);
    REQUIRE(info.ends == IPCRING_RECV);

    /* Empty ring. */
    CHECK(ipcring_recv(rx, big, sizeof big, &len, IPCRING_NONBLOCK), IPCRING_EAGAIN);
    double t0 = now_s();
    CHECK(ipcring_recv(rx, big, sizeof big, &len, 20 * 1000 * 1000), IPCRING_ETIMEDOUT);
    REQUIRE(now_s() - t0 >= 0.015); /* it did wait (a lower bound only) */
    CHECK(ipcring_peek(rx, &cslot, &len, IPCRING_NONBLOCK), IPCRING_EAGAIN);
    CHECK(ipcring_recv_batch(rx, big, MSG, 1, lens, &count, IPCRING_NONBLOCK), IPCRING_EAGAIN);
    REQUIRE(len == SENTINEL_LEN && count == SENTINEL_LEN && cslot == NULL);

    /* Too large: refused, nothing sent. */
    fill(msg, sizeof msg, 1);
    CHECK(ipcring_send(tx, msg, MSG + 1, IPCRING_NONBLOCK), IPCRING_ETOOLARGE);
    CHECK(ipcring_send(tx, msg, SIZE_MAX, IPCRING_NONBLOCK), IPCRING_ETOOLARGE); /* checked before the buffer */
    REQUIRE(QUEUED(tx) == 0);
    ipcring_msg_t batch[3] = {{msg, 10}, {msg, MSG + 1}, {msg, 5}};
    CHECK(ipcring_send_batch(tx, batch, 3, &sent, IPCRING_NONBLOCK), IPCRING_ETOOLARGE);
    REQUIRE(sent == SENTINEL_LEN && QUEUED(tx) == 0);

    /* NULL buffers with a length. */
    CHECK(ipcring_send(tx, NULL, 5, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_recv(rx, NULL, 5, &len, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_recv_batch(rx, NULL, MSG, 2, lens, &count, IPCRING_NONBLOCK), IPCRING_EINVAL);
    ipcring_msg_t null_data[2] = {{msg, 3}, {NULL, 4}};
    CHECK(ipcring_send_batch(tx, null_data, 2, &sent, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_send_batch(tx, NULL, 2, &sent, IPCRING_NONBLOCK), IPCRING_EINVAL);
    REQUIRE(QUEUED(tx) == 0);

    /* NULL out-pointers. */
    CHECK(ipcring_recv(rx, big, sizeof big, NULL, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_reserve(tx, NULL, &cap, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_reserve(tx, &slot, NULL, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_peek(rx, NULL, &len, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_peek(rx, &cslot, NULL, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_send_batch(tx, batch, 1, NULL, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_recv_batch(rx, big, MSG, 1, NULL, &count, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_recv_batch(rx, big, MSG, 1, lens, NULL, IPCRING_NONBLOCK), IPCRING_EINVAL);
    CHECK(ipcring_stats(tx, NULL), IPCRING_EINVAL);
    CHECK(ipcring_info(tx, NULL), IPCRING_EINVAL);
    REQUIRE(QUEUED(tx) == 0); /* the reserve calls above reserved nothing */
    CHECK(ipcring_commit(tx, 0), IPCRING_ESTATE);
    REQUIRE(cap == SENTINEL_LEN && slot == NULL && len == SENTINEL_LEN && cslot == NULL);

    /* Wrong direction. */
    CHECK(ipcring_send(rx, msg, 4, IPCRING_NONBLOCK), IPCRING_EDIRECTION);
    CHECK(ipcring_reserve(rx, &slot, &cap, IPCRING_NONBLOCK), IPCRING_EDIRECTION);
    CHECK(ipcring_send_batch(rx, batch, 1, &sent, IPCRING_NONBLOCK), IPCRING_EDIRECTION);
    CHECK(ipcring_recv(tx, big, sizeof big, &len, IPCRING_NONBLOCK), IPCRING_EDIRECTION);
    CHECK(ipcring_peek(tx, &cslot, &len, IPCRING_NONBLOCK), IPCRING_EDIRECTION);
    CHECK(ipcring_recv_batch(tx, big, MSG, 1, lens, &count, IPCRING_NONBLOCK), IPCRING_EDIRECTION);
    REQUIRE(QUEUED(tx) == 0);

    /* Out of order. */
    CHECK(ipcring_commit(tx, 1), IPCRING_ESTATE);
    CHECK(ipcring_cancel(tx), IPCRING_ESTATE);
    CHECK(ipcring_release(rx), IPCRING_ESTATE);
    CHECK(ipcring_commit(rx, 1), IPCRING_ESTATE);
    CHECK(ipcring_release(tx), IPCRING_ESTATE);

    /* A buffer too small: refused, and the message is still there, whole. */
    fill(msg, 40, 2);
    CHECK(ipcring_send(tx, msg, 40, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(QUEUED(rx) == 1);
    CHECK(ipcring_recv(rx, small, sizeof small, &len, IPCRING_NONBLOCK), IPCRING_ETOOSMALL);
    CHECK(ipcring_recv(rx, big, 39, &len, IPCRING_FOREVER), IPCRING_ETOOSMALL);
    CHECK(ipcring_recv(rx, NULL, 0, &len, IPCRING_NONBLOCK), IPCRING_ETOOSMALL);
    REQUIRE(len == SENTINEL_LEN && QUEUED(rx) == 1);
    CHECK(ipcring_recv_batch(rx, big, MSG - 1, 1, lens, &count, IPCRING_NONBLOCK), IPCRING_ETOOSMALL);
    REQUIRE(count == SENTINEL_LEN && QUEUED(rx) == 1);
    memset(big, 0, sizeof big);
    CHECK(ipcring_recv(rx, big, sizeof big, &len, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(len == 40 && same(big, 40, 2));
    REQUIRE(QUEUED(rx) == 0);

    /* Full ring. */
    for (unsigned i = 0; i < CAP; i++) {
        fill(msg, i + 1, 10 + i);
        CHECK(ipcring_send(tx, msg, i + 1, IPCRING_NONBLOCK), IPCRING_OK);
    }
    REQUIRE(QUEUED(tx) == CAP);
    CHECK(ipcring_send(tx, msg, 1, IPCRING_NONBLOCK), IPCRING_EAGAIN);
    t0 = now_s();
    CHECK(ipcring_send(tx, msg, 1, 20 * 1000 * 1000), IPCRING_ETIMEDOUT);
    REQUIRE(now_s() - t0 >= 0.015);
    CHECK(ipcring_reserve(tx, &slot, &cap, IPCRING_NONBLOCK), IPCRING_EAGAIN);
    CHECK(ipcring_send_batch(tx, batch, 1, &sent, IPCRING_NONBLOCK), IPCRING_EAGAIN);
    REQUIRE(slot == NULL && sent == SENTINEL_LEN && QUEUED(tx) == CAP);
    for (unsigned i = 0; i < CAP; i++) {
        CHECK(ipcring_recv(rx, big, sizeof big, &len, IPCRING_NONBLOCK), IPCRING_OK);
        REQUIRE(len == i + 1 && same(big, len, 10 + i));
    }
    CHECK(ipcring_recv(rx, big, sizeof big, &len, IPCRING_NONBLOCK), IPCRING_EAGAIN);

    /* An empty message, NULL buffer allowed. */
    CHECK(ipcring_send(tx, NULL, 0, IPCRING_NONBLOCK), IPCRING_OK);
    len = SENTINEL_LEN;
    CHECK(ipcring_recv(rx, NULL, 0, &len, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(len == 0);

    CHECK(ipcring_close(tx), IPCRING_OK);
    CHECK(ipcring_close(rx), IPCRING_OK);
}

static void zero_copy_and_batches(void) {
    printf("-- reserve/commit/cancel, peek/release, send_batch/recv_batch, stats, info\n");
    char a[256];
    const char *good = addr_of(a, sizeof a, new_name("zc"), GEOM);
    ipcring_t *tx = NULL, *rx = NULL;
    unsigned char msg[MSG], big[CAP * MSG];
    size_t len = 0, cap = 0, sent = 0, count = 0;
    size_t lens[CAP];
    void *slot = NULL;
    const void *cslot = NULL;

    CHECK(ipcring_open(good, IPCRING_SEND | IPCRING_CREATE, &tx), IPCRING_OK);
    CHECK(ipcring_open(good, IPCRING_RECV | IPCRING_CREATE, &rx), IPCRING_OK);

    /* reserve -> write -> commit */
    CHECK(ipcring_reserve(tx, &slot, &cap, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(slot != NULL && cap == MSG);
    fill(slot, 33, 3);
    /* while reserved: other sends are out of order, and nothing is visible yet */
    CHECK(ipcring_send(tx, msg, 1, IPCRING_NONBLOCK), IPCRING_ESTATE);
    CHECK(ipcring_send_batch(tx, (ipcring_msg_t[]){{msg, 1}}, 1, &sent, IPCRING_NONBLOCK), IPCRING_ESTATE);
    void *slot2 = NULL;
    CHECK(ipcring_reserve(tx, &slot2, &cap, IPCRING_NONBLOCK), IPCRING_ESTATE);
    REQUIRE(slot2 == NULL);
    CHECK(ipcring_recv(rx, big, MSG, &len, IPCRING_NONBLOCK), IPCRING_EAGAIN);
    CHECK(ipcring_commit(tx, MSG + 1), IPCRING_ETOOLARGE); /* the reservation stays */
    CHECK(ipcring_commit(tx, 33), IPCRING_OK);
    CHECK(ipcring_commit(tx, 33), IPCRING_ESTATE);
    CHECK(ipcring_recv(rx, big, MSG, &len, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(len == 33 && same(big, 33, 3));

    /* reserve -> cancel: nothing sent */
    CHECK(ipcring_reserve(tx, &slot, &cap, IPCRING_NONBLOCK), IPCRING_OK);
    fill(slot, 8, 4);
    CHECK(ipcring_cancel(tx), IPCRING_OK);
    CHECK(ipcring_cancel(tx), IPCRING_ESTATE);
    CHECK(ipcring_recv(rx, big, MSG, &len, IPCRING_NONBLOCK), IPCRING_EAGAIN);
    REQUIRE(QUEUED(tx) == 0);

    /* peek -> release */
    fill(msg, 17, 5);
    CHECK(ipcring_send(tx, msg, 17, IPCRING_NONBLOCK), IPCRING_OK);
    fill(msg, 18, 6);
    CHECK(ipcring_send(tx, msg, 18, IPCRING_NONBLOCK), IPCRING_OK);
    CHECK(ipcring_peek(rx, &cslot, &len, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(cslot != NULL && len == 17 && same(cslot, 17, 5));
    CHECK(ipcring_recv(rx, big, MSG, &len, IPCRING_NONBLOCK), IPCRING_ESTATE);
    CHECK(ipcring_recv_batch(rx, big, MSG, 2, lens, &count, IPCRING_NONBLOCK), IPCRING_ESTATE);
    const void *cslot2 = NULL;
    CHECK(ipcring_peek(rx, &cslot2, &len, IPCRING_NONBLOCK), IPCRING_ESTATE);
    REQUIRE(cslot2 == NULL && same(cslot, 17, 5) && QUEUED(rx) == 2);
    CHECK(ipcring_release(rx), IPCRING_OK);
    CHECK(ipcring_release(rx), IPCRING_ESTATE);
    REQUIRE(QUEUED(rx) == 1);
    CHECK(ipcring_recv(rx, big, MSG, &len, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(len == 18 && same(big, 18, 6));

    /* send_batch / recv_batch */
    unsigned char bodies[5][MSG];
    ipcring_msg_t batch[5];
    for (unsigned i = 0; i < 5; i++) {
        fill(bodies[i], i * 10 + 1, 20 + i);
        batch[i].data = bodies[i];
        batch[i].len = i * 10 + 1;
    }
    batch[2].data = NULL; /* an empty message may have no data */
    batch[2].len = 0;
    CHECK(ipcring_send_batch(tx, batch, 5, &sent, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(sent == 5 && QUEUED(tx) == 5);
    count = SENTINEL_LEN;
    CHECK(ipcring_recv_batch(rx, big, MSG, 0, NULL, &count, IPCRING_NONBLOCK), IPCRING_OK); /* max 0 */
    REQUIRE(count == 0 && QUEUED(rx) == 5);
    CHECK(ipcring_recv_batch(rx, big, MSG - 1, CAP, lens, &count, IPCRING_NONBLOCK), IPCRING_ETOOSMALL);
    REQUIRE(count == 0 && QUEUED(rx) == 5);
    CHECK(ipcring_recv_batch(rx, big, MSG, CAP, lens, &count, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(count == 5);
    for (unsigned i = 0; i < 5; i++) REQUIRE(lens[i] == batch[i].len && same(big + i * MSG, lens[i], 20 + i));
    /* A batch larger than the room left: the run that fits goes, the count says how many. */
    for (unsigned i = 0; i < CAP - 2; i++) CHECK(ipcring_send(tx, msg, 1, IPCRING_NONBLOCK), IPCRING_OK);
    CHECK(ipcring_send_batch(tx, batch, 5, &sent, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(sent == 2 && QUEUED(tx) == CAP);
    CHECK(ipcring_recv_batch(rx, big, 2 * MSG, 4, lens, &count, IPCRING_NONBLOCK), IPCRING_OK); /* stride > msg_size */
    REQUIRE(count == 4 && lens[0] == 1 && lens[3] == 1);
    CHECK(ipcring_recv_batch(rx, big, MSG, CAP, lens, &count, 1000 * 1000), IPCRING_OK);
    REQUIRE(count == 4 && lens[2] == batch[0].len && same(big + 2 * MSG, lens[2], 20));
    REQUIRE(lens[3] == batch[1].len && same(big + 3 * MSG, lens[3], 21));

    /* stats and info */
    ipcring_stats_t st = IPCRING_STATS_INIT;
    CHECK(ipcring_stats(tx, &st), IPCRING_OK);
    REQUIRE(st.sent_messages == 1 + 2 + 5 + (CAP - 2) + 2 && st.received_messages == 0);
    REQUIRE(st.sent_bytes == 33 + 17 + 18 + (1 + 11 + 0 + 31 + 41) + (CAP - 2) + (1 + 11));
    CHECK(ipcring_stats(rx, &st), IPCRING_OK);
    REQUIRE(st.received_messages == 1 + 2 + 5 + (CAP - 2) + 2 && st.sent_messages == 0);
    REQUIRE(st.received_bytes == 33 + 17 + 18 + (1 + 11 + 0 + 31 + 41) + (CAP - 2) + (1 + 11));
    ipcring_info_t info = IPCRING_INFO_INIT;
    CHECK(ipcring_info(rx, &info), IPCRING_OK);
    REQUIRE(info.queued == 0 && info.capacity == CAP && info.msg_size == MSG && info.ends == IPCRING_RECV);

    CHECK(ipcring_close(tx), IPCRING_OK);
    CHECK(ipcring_close(rx), IPCRING_OK);
}

static void end_of_stream_and_disconnect(void) {
    printf("-- EOF after the sender closes, EDISCONNECTED after the receiver closes\n");
    ipcring_t *tx = NULL, *rx = NULL;
    unsigned char buf[MSG];
    size_t len = 0, count = 0, cap = 0, sent = 0;
    size_t lens[2];
    void *slot = NULL;
    const void *cslot = NULL;

    CHECK(ipcring_pair("shm://?" GEOM, &tx, &rx), IPCRING_OK);
    ipcring_info_t info = IPCRING_INFO_INIT;
    CHECK(ipcring_info(tx, &info), IPCRING_OK);
    REQUIRE(info.ends == IPCRING_SEND && info.capacity == CAP && info.msg_size == MSG);
    fill(buf, 9, 7);
    CHECK(ipcring_send(tx, buf, 9, IPCRING_NONBLOCK), IPCRING_OK);
    CHECK(ipcring_send(tx, buf, 3, IPCRING_NONBLOCK), IPCRING_OK);
    CHECK(ipcring_close(tx), IPCRING_OK);
    /* what was sent is still delivered, then end of stream, every time */
    CHECK(ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(len == 9 && same(buf, 9, 7));
    CHECK(ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_FOREVER), IPCRING_OK);
    REQUIRE(len == 3);
    CHECK(ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_FOREVER), IPCRING_EOF);
    CHECK(ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_NONBLOCK), IPCRING_EOF);
    CHECK(ipcring_peek(rx, &cslot, &len, 1000 * 1000), IPCRING_EOF);
    CHECK(ipcring_recv_batch(rx, buf, MSG, 1, lens, &count, IPCRING_FOREVER), IPCRING_EOF);
    CHECK(ipcring_close(rx), IPCRING_OK);

    CHECK(ipcring_pair("shm://?" GEOM "&wake=sem", &tx, &rx), IPCRING_OK);
    CHECK(ipcring_info(rx, &info), IPCRING_OK);
    REQUIRE(info.wake == IPCRING_WAKE_SEM && info.ends == IPCRING_RECV);
    CHECK(ipcring_close(rx), IPCRING_OK);
    CHECK(ipcring_send(tx, buf, 1, IPCRING_NONBLOCK), IPCRING_EDISCONNECTED);
    /* Every later send must say so too, not only the first after the close, although the
     * ring has room (a regression test: the verdict was once reported only once). */
    CHECK(ipcring_send(tx, buf, 1, IPCRING_FOREVER), IPCRING_EDISCONNECTED);
    CHECK(ipcring_reserve(tx, &slot, &cap, IPCRING_FOREVER), IPCRING_EDISCONNECTED);
    if (slot != NULL) CHECK(ipcring_cancel(tx), IPCRING_OK);
    ipcring_msg_t one[1] = {{buf, 1}};
    CHECK(ipcring_send_batch(tx, one, 1, &sent, IPCRING_FOREVER), IPCRING_EDISCONNECTED);
    /* Once the ring is full, the wait for room notices. */
    for (int i = 0; i < CAP + 1; i++) {
        int rc = ipcring_send(tx, buf, 1, IPCRING_FOREVER);
        if (rc == IPCRING_EDISCONNECTED) break;
        if (rc != IPCRING_OK) die(__LINE__, "ipcring_send to a ring without receivers", rc);
    }
    CHECK(ipcring_send(tx, buf, 1, IPCRING_FOREVER), IPCRING_EDISCONNECTED);
    CHECK(ipcring_close(tx), IPCRING_OK);
}

static void mpmc_clone(void) {
    printf("-- clone on MPMC\n");
    char a[256];
    const char *good = addr_of(a, sizeof a, new_name("mpmc"), GEOM "&mode=mpmc");
    ipcring_t *tx = NULL, *tx2 = NULL, *rx = NULL, *rx2 = NULL;
    unsigned char buf[MSG];
    size_t len = 0;
    void *slot = NULL;
    size_t cap = 0;

    CHECK(ipcring_open(good, IPCRING_SEND | IPCRING_CREATE | IPCRING_EXCL, &tx), IPCRING_OK);
    CHECK(ipcring_open(good, IPCRING_RECV, &rx), IPCRING_OK);
    CHECK(ipcring_clone(tx, &tx2), IPCRING_OK);
    CHECK(ipcring_clone(rx, &rx2), IPCRING_OK);
    REQUIRE(tx2 != NULL && tx2 != tx && rx2 != NULL && rx2 != rx);
    ipcring_info_t info = IPCRING_INFO_INIT;
    CHECK(ipcring_info(tx2, &info), IPCRING_OK);
    REQUIRE(info.mode == IPCRING_MODE_MPMC && info.ends == IPCRING_SEND);
    CHECK(ipcring_info(rx2, &info), IPCRING_OK);
    REQUIRE(info.ends == IPCRING_RECV);

    fill(buf, 11, 8);
    CHECK(ipcring_send(tx, buf, 11, IPCRING_NONBLOCK), IPCRING_OK);
    /* a cancelled reservation on MPMC is skipped by receivers */
    CHECK(ipcring_reserve(tx2, &slot, &cap, IPCRING_NONBLOCK), IPCRING_OK);
    CHECK(ipcring_cancel(tx2), IPCRING_OK);
    fill(buf, 12, 9);
    CHECK(ipcring_send(tx2, buf, 12, IPCRING_NONBLOCK), IPCRING_OK);
    CHECK(ipcring_recv(rx2, buf, sizeof buf, &len, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(len == 11 && same(buf, 11, 8));
    CHECK(ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_FOREVER), IPCRING_OK);
    REQUIRE(len == 12 && same(buf, 12, 9));

    /* end of stream only once every sender, the clone included, has closed */
    CHECK(ipcring_close(tx), IPCRING_OK);
    CHECK(ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_NONBLOCK), IPCRING_EAGAIN);
    CHECK(ipcring_close(tx2), IPCRING_OK);
    CHECK(ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_NONBLOCK), IPCRING_EOF);
    CHECK(ipcring_recv(rx2, buf, sizeof buf, &len, IPCRING_FOREVER), IPCRING_EOF);
    CHECK(ipcring_close(rx2), IPCRING_OK);
    CHECK(ipcring_close(rx), IPCRING_OK);
}

/* A struct as a program built against a newer header would declare it: this version's
 * fields, then fields this library does not know. */
struct newer_info { ipcring_info_t known; unsigned char later[40]; };
struct newer_stats { ipcring_stats_t known; unsigned char later[40]; };

static void struct_sizes(void) {
    printf("-- the size field of ipcring_info_t and ipcring_stats_t\n");
    char a[256];
    const char *good = addr_of(a, sizeof a, new_name("sizes"), GEOM);
    ipcring_t *tx = NULL;
    CHECK(ipcring_open(good, IPCRING_SEND | IPCRING_RECV | IPCRING_CREATE, &tx), IPCRING_OK);
    CHECK(ipcring_send(tx, "abc", 3, IPCRING_NONBLOCK), IPCRING_OK);

    /* The initialisers set size and nothing else. */
    ipcring_info_t init_info = IPCRING_INFO_INIT;
    ipcring_stats_t init_stats = IPCRING_STATS_INIT;
    REQUIRE(init_info.size == sizeof(ipcring_info_t) && init_info.capacity == 0 && init_info.transport == 0);
    REQUIRE(init_stats.size == sizeof(ipcring_stats_t) && init_stats.syscalls == 0);

    /* Too small (0: never set; one byte short of the first version): EINVAL, struct untouched. */
    /* The first version of ipcring_info_t ends where `bytes` (appended in ABI 5) begins. */
    size_t small_sizes[] = {0, sizeof(size_t), offsetof(ipcring_info_t, bytes) - 1};
    for (size_t i = 0; i < sizeof small_sizes / sizeof small_sizes[0]; i++) {
        ipcring_info_t info;
        fill((unsigned char *)&info, sizeof info, 40);
        info.size = small_sizes[i];
        unsigned char before[sizeof info];
        memcpy(before, &info, sizeof info);
        CHECK(ipcring_info(tx, &info), IPCRING_EINVAL);
        NAMES("ipcring_info_t.size");
        REQUIRE(memcmp(before, &info, sizeof info) == 0);
    }
    {
        ipcring_stats_t st;
        fill((unsigned char *)&st, sizeof st, 41);
        st.size = sizeof(ipcring_stats_t) - 8;
        unsigned char before[sizeof st];
        memcpy(before, &st, sizeof st);
        CHECK(ipcring_stats(tx, &st), IPCRING_EINVAL);
        NAMES("ipcring_stats_t.size");
        REQUIRE(memcmp(before, &st, sizeof st) == 0);
    }

    /* Larger (a newer header): the known fields are written, size says how many bytes, the
     * rest is untouched. */
    struct newer_info ni;
    fill((unsigned char *)&ni, sizeof ni, 42);
    ni.known.size = sizeof ni;
    CHECK(ipcring_info(tx, &ni.known), IPCRING_OK);
    REQUIRE(ni.known.size == sizeof(ipcring_info_t));
    REQUIRE(ni.known.capacity == CAP && ni.known.msg_size == MSG && ni.known.queued == 1);
    REQUIRE(ni.known.ends == (IPCRING_SEND | IPCRING_RECV) && ni.known.transport == IPCRING_TRANSPORT_SHM);
    {
        struct newer_info ref;
        fill((unsigned char *)&ref, sizeof ref, 42);
        REQUIRE(memcmp(ni.later, ref.later, sizeof ni.later) == 0);
    }
    struct newer_stats ns;
    fill((unsigned char *)&ns, sizeof ns, 43);
    ns.known.size = sizeof ns;
    CHECK(ipcring_stats(tx, &ns.known), IPCRING_OK);
    REQUIRE(ns.known.size == sizeof(ipcring_stats_t));
    REQUIRE(ns.known.sent_messages == 1 && ns.known.sent_bytes == 3 && ns.known.received_messages == 0);
    {
        struct newer_stats ref;
        fill((unsigned char *)&ref, sizeof ref, 43);
        REQUIRE(memcmp(ns.later, ref.later, sizeof ns.later) == 0);
    }

    /* Exactly this version's size: all of it, `bytes` included. */
    ipcring_info_t info = IPCRING_INFO_INIT;
    CHECK(ipcring_info(tx, &info), IPCRING_OK);
    REQUIRE(info.size == sizeof info && info.queued == 1 && info.bytes > 0);

    /* A program built against the first version (no `bytes`): those bytes, no more. */
    ipcring_info_t old;
    fill((unsigned char *)&old, sizeof old, 44);
    old.size = offsetof(ipcring_info_t, bytes);
    CHECK(ipcring_info(tx, &old), IPCRING_OK);
    REQUIRE(old.size == offsetof(ipcring_info_t, bytes) && old.queued == 1);
    {
        ipcring_info_t ref;
        fill((unsigned char *)&ref, sizeof ref, 44);
        REQUIRE(old.bytes == ref.bytes);
    }

    CHECK(ipcring_close(tx), IPCRING_OK);
}

static void info_off_the_ring(void) {
    printf("-- ipcring_info on a queue and a pipe: capacity is the channel's own\n");
    char a[160];
    snprintf(a, sizeof a, "mq://ipcring-abi-%ld-info?capacity=10&msg_size=64", (long)getpid());
    (void)ipcring_unlink(a); /* a leftover of a killed run, if any */
    ipcring_t *q = NULL;
    CHECK(ipcring_open(a, IPCRING_SEND | IPCRING_RECV | IPCRING_CREATE | IPCRING_EXCL, &q), IPCRING_OK);
    CHECK(ipcring_send(q, "ab", 2, IPCRING_NONBLOCK), IPCRING_OK);
    ipcring_info_t info = IPCRING_INFO_INIT;
    CHECK(ipcring_info(q, &info), IPCRING_OK);
    REQUIRE(info.transport == IPCRING_TRANSPORT_MQ && info.capacity == 10 && info.msg_size == 64);
    REQUIRE(info.queued == 1);
    CHECK(ipcring_close(q), IPCRING_OK);
    CHECK(ipcring_unlink(a), IPCRING_OK);

    ipcring_t *tx = NULL, *rx = NULL;
    CHECK(ipcring_pair("pipe://?msg_size=64", &tx, &rx), IPCRING_OK);
    ipcring_info_t pinfo = IPCRING_INFO_INIT;
    CHECK(ipcring_info(tx, &pinfo), IPCRING_OK);
    REQUIRE(pinfo.transport == IPCRING_TRANSPORT_PIPE && pinfo.capacity == 0);
    CHECK(ipcring_close(tx), IPCRING_OK);
    CHECK(ipcring_close(rx), IPCRING_OK);
}

static void closed_and_foreign_handles(void) {
    printf("-- use after close, double close, foreign pointers\n");
    char a[256];
    const char *good = addr_of(a, sizeof a, new_name("closed"), GEOM);
    ipcring_t *tx = NULL, *rx = NULL, *out = BAD_H;
    unsigned char buf[MSG];
    size_t len = SENTINEL_LEN, cap = SENTINEL_LEN;
    void *slot = NULL;
    ipcring_info_t info = IPCRING_INFO_INIT;
    ipcring_stats_t st = IPCRING_STATS_INIT;

    CHECK(ipcring_open(good, IPCRING_SEND | IPCRING_CREATE, &tx), IPCRING_OK);
    CHECK(ipcring_open(good, IPCRING_RECV, &rx), IPCRING_OK);
    fill(buf, 5, 11);
    CHECK(ipcring_send(tx, buf, 5, IPCRING_NONBLOCK), IPCRING_OK);
    /* an outstanding reservation is cancelled by close */
    CHECK(ipcring_reserve(tx, &slot, &cap, IPCRING_NONBLOCK), IPCRING_OK);
    CHECK(ipcring_close(tx), IPCRING_OK);
    CHECK(ipcring_close(tx), IPCRING_ECLOSED);
    /* use after close, before any new open could reuse the handle */
    CHECK(ipcring_send(tx, buf, 1, IPCRING_NONBLOCK), IPCRING_ECLOSED);
    CHECK(ipcring_reserve(tx, &slot, &cap, IPCRING_NONBLOCK), IPCRING_ECLOSED);
    CHECK(ipcring_commit(tx, 1), IPCRING_ECLOSED);
    CHECK(ipcring_info(tx, &info), IPCRING_ECLOSED);
    CHECK(ipcring_stats(tx, &st), IPCRING_ECLOSED);
    CHECK(ipcring_clone(tx, &out), IPCRING_ECLOSED);
    REQUIRE(out == BAD_H);
    /* the receiver still gets what was sent, then end of stream (the reservation was dropped) */
    CHECK(ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_NONBLOCK), IPCRING_OK);
    REQUIRE(len == 5 && same(buf, 5, 11));
    CHECK(ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_FOREVER), IPCRING_EOF);
    CHECK(ipcring_close(rx), IPCRING_OK);
    CHECK(ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_NONBLOCK), IPCRING_ECLOSED);
    CHECK(ipcring_release(rx), IPCRING_ECLOSED);
    CHECK(ipcring_close(rx), IPCRING_ECLOSED);

    /* pointers that never came from ipcring */
    struct {
        _Alignas(16) uint64_t words[8];
    } fake = {{0x0123456789abcdefu, 0xfedcba9876543210u, 0x1111111111111111u, 0x2222222222222222u,
               0x3333333333333333u, 0x4444444444444444u, 0x5555555555555555u, 0x6666666666666666u}};
    ipcring_t *f = (ipcring_t *)(void *)&fake;
    CHECK(ipcring_send(f, buf, 1, IPCRING_NONBLOCK), IPCRING_EBADHANDLE);
    CHECK(ipcring_recv(f, buf, sizeof buf, &len, IPCRING_NONBLOCK), IPCRING_EBADHANDLE);
    CHECK(ipcring_info(f, &info), IPCRING_EBADHANDLE);
    CHECK(ipcring_close(f), IPCRING_EBADHANDLE);
    memset(&fake, 0, sizeof fake);
    CHECK(ipcring_send(f, buf, 1, IPCRING_NONBLOCK), IPCRING_EBADHANDLE);
    CHECK(ipcring_close(f), IPCRING_EBADHANDLE);
    ipcring_t *misaligned = (ipcring_t *)(void *)((unsigned char *)&fake + 1);
    CHECK(ipcring_send(misaligned, buf, 1, IPCRING_NONBLOCK), IPCRING_EBADHANDLE);
    CHECK(ipcring_close(misaligned), IPCRING_EBADHANDLE);
    REQUIRE(len == 5);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    strings_and_codes();
    null_handles();
    bad_addresses();
    open_errors();
    data_errors();
    zero_copy_and_batches();
    end_of_stream_and_disconnect();
    mpmc_clone();
    struct_sizes();
    info_off_the_ring();
    closed_and_foreign_handles();
    cleanup();
    printf("abi_errors: all %d checks passed\n", n_checks);
    return 0;
}
