/* ipcring_interrupt from C: a thread blocked in ipcring_recv(.., IPCRING_FOREVER) on an empty
 * channel returns IPCRING_EINTR after the main thread calls ipcring_interrupt, and the handle
 * works afterwards (the messages sent next arrive, checked). Run over a shm ring (SPSC and
 * MPMC) and a pipe, from capi/tests/c_abi.rs. Exits 0 when every check passed. */
#define _POSIX_C_SOURCE 200809L
#include <ipcring.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

struct blocked {
    ipcring_t *rx;
    int status;
};

static void *recv_forever(void *arg) {
    struct blocked *b = arg;
    char buf[64];
    size_t len = 0;
    b->status = ipcring_recv(b->rx, buf, sizeof buf, &len, IPCRING_FOREVER);
    return NULL;
}

static void one(const char *address) {
    ipcring_t *tx = NULL, *rx = NULL;
    int rc = ipcring_pair(address, &tx, &rx);
    CHECK(rc == 0, "ipcring_pair(%s) = %d", address, rc);
    for (int round = 0; round < 3; round++) {
        struct blocked b = {rx, 12345};
        pthread_t t;
        CHECK(pthread_create(&t, NULL, recv_forever, &b) == 0, "pthread_create");
        nap_ms(100);
        rc = ipcring_interrupt(rx);
        CHECK(rc == 0, "ipcring_interrupt = %d", rc);
        CHECK(pthread_join(t, NULL) == 0, "pthread_join");
        CHECK(b.status == IPCRING_EINTR, "%s round %d: blocked recv returned %d (%s), not IPCRING_EINTR",
              address, round, b.status, ipcring_strerror(b.status));
        /* The handle works afterwards: messages sent now arrive, in order, intact. */
        for (int i = 0; i < 10; i++) {
            char msg[32];
            int n = snprintf(msg, sizeof msg, "msg %d.%d", round, i);
            rc = ipcring_send(tx, msg, (size_t)n, IPCRING_FOREVER);
            CHECK(rc == 0, "send = %d", rc);
            char buf[64];
            size_t len = 0;
            rc = ipcring_recv(rx, buf, sizeof buf, &len, 5000000000LL);
            CHECK(rc == 0, "recv after interrupt = %d", rc);
            CHECK(len == (size_t)n && memcmp(buf, msg, len) == 0, "message %d.%d differs", round, i);
        }
    }
    /* An interrupt with no call blocked: the next call that has to wait returns EINTR once. */
    CHECK(ipcring_interrupt(rx) == 0, "idle interrupt");
    char buf[64];
    size_t len = 0;
    rc = ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_NONBLOCK);
    CHECK(rc == IPCRING_EAGAIN, "non-blocking recv = %d", rc);
    rc = ipcring_recv(rx, buf, sizeof buf, &len, 5000000000LL);
    CHECK(rc == IPCRING_EINTR, "next waiting recv = %d", rc);
    rc = ipcring_recv(rx, buf, sizeof buf, &len, 20000000LL);
    CHECK(rc == IPCRING_ETIMEDOUT, "then a timeout = %d", rc);
    CHECK(strstr(ipcring_strerror(IPCRING_EINTR), "interrupt") != NULL, "strerror");
    CHECK(ipcring_interrupt(NULL) == IPCRING_EINVAL, "NULL handle");
    CHECK(ipcring_close(tx) == 0 && ipcring_close(rx) == 0, "close");
    CHECK(ipcring_interrupt(rx) == IPCRING_ECLOSED, "closed handle");
    printf("ok %s\n", address);
}

int main(void) {
    alarm(60); /* hang bound */
    one("shm://?capacity=8&msg_size=64");
    one("shm://?mode=mpmc&capacity=8&msg_size=64");
    one("pipe://?msg_size=64");
    printf("all ok\n");
    return 0;
}
