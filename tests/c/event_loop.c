/* An event loop in C over ipcring descriptors (the README's "Event loops", DESIGN §9).
 *
 *   event_loop epoll|poll A1 A2 A3 K1 K2 K3
 *
 * One loop waits on a UNIX socket, a pipe and three channels (A1..A3, given as addresses of
 * three transports), with epoll(7) on ipcring_fd (mode "epoll") or with ipcring_poll (mode
 * "poll"), while a forked child:
 *   1. attaches senders to A1..A3 and stays idle for a second: the loop's CPU time over that
 *      second is measured (getrusage) and must stay under 10% of one core;
 *   2. sends PER checked messages on each channel (pipeline_format.h: every sequence number
 *      and checksum is checked), in a shuffled order with pauses, and writes a byte to the
 *      socket and the pipe now and then;
 *   3. closes cleanly: each channel must report IPCRING_EOF.
 * Then a second child attaches senders to K1..K3, sends one message on each and sleeps; the
 * loop SIGKILLs it while waiting, and each channel must report end of stream (IPCRING_EOF,
 * or IPCRING_EDIED where the library tells a crash from a close) within a hang bound; the
 * latency from the kill to the last report is printed.
 * Prints one line per phase and "all ok"; exits 1 on the first failed check. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ipcring.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pipeline_format.h"

#include "check.h"

#define N 3
#define PER 3000
#define MAX_PAYLOAD 40
#define HANG_MS 20000

static int use_epoll;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static int is_end(int rc) {
#ifdef IPCRING_EDIED
    if (rc == IPCRING_EDIED) return 1;
#endif
    return rc == IPCRING_EOF;
}

/* The loop's state: the channels' receivers, the socket and the pipe. */
struct loop {
    ipcring_t *rx[N];
    int ended[N];
    uint64_t next[N]; /* next expected sequence number per channel (producer i) */
    int sock, pipe_rd;
    long plain_bytes;
    int ep; /* epoll set (epoll mode) */
};

static void loop_init(struct loop *l, ipcring_t *rx[N], int sock, int pipe_rd) {
    memset(l, 0, sizeof *l);
    for (int i = 0; i < N; i++) l->rx[i] = rx[i];
    l->sock = sock;
    l->pipe_rd = pipe_rd;
    l->ep = -1;
    if (use_epoll) {
        l->ep = epoll_create1(EPOLL_CLOEXEC);
        CHECK(l->ep >= 0, "epoll_create1");
        for (int i = 0; i < N; i++) {
            int fd = -1;
            int rc = ipcring_fd(rx[i], &fd);
            CHECK(rc == 0 && fd >= 0, "ipcring_fd = %d", rc);
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
            CHECK(epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl(ring %d): %s", i, strerror(errno));
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 100};
        CHECK(epoll_ctl(l->ep, EPOLL_CTL_ADD, sock, &ev) == 0, "epoll_ctl(sock)");
        ev.data.u32 = 101;
        CHECK(epoll_ctl(l->ep, EPOLL_CTL_ADD, pipe_rd, &ev) == 0, "epoll_ctl(pipe)");
    }
}

static void loop_fini(struct loop *l) {
    if (l->ep >= 0) close(l->ep);
}

/* Drains channel i: receives until IPCRING_EAGAIN or the end, checking every message. */
static void drain_channel(struct loop *l, int i) {
    unsigned char buf[256];
    for (;;) {
        size_t len = 0;
        int rc = ipcring_recv(l->rx[i], buf, sizeof buf, &len, IPCRING_NONBLOCK);
        if (rc == IPCRING_EAGAIN) return;
        if (is_end(rc)) {
            l->ended[i] = rc;
            return;
        }
        CHECK(rc == 0, "channel %d: recv = %d (%s)", i, rc, ipcring_strerror(rc));
        uint32_t producer;
        uint64_t seq;
        char err[160];
        CHECK(pipe_decode(buf, len, MAX_PAYLOAD, &producer, &seq, err, sizeof err) == 0, "channel %d: %s", i, err);
        CHECK(producer == (uint32_t)i, "channel %d: message of producer %u", i, (unsigned)producer);
        CHECK(seq == l->next[i], "channel %d: seq %llu, expected %llu", i, (unsigned long long)seq,
              (unsigned long long)l->next[i]);
        l->next[i]++;
    }
}

static void drain_plain(struct loop *l, int fd) {
    char b[64];
    ssize_t n = read(fd, b, sizeof b);
    if (n > 0) l->plain_bytes += n;
}

/* One wait of the loop (at most timeout_ms), then handles what is ready. Returns how many
 * sources were ready. */
static int loop_once(struct loop *l, int timeout_ms) {
    int ready = 0;
    if (use_epoll) {
        struct epoll_event evs[8];
        int n = epoll_wait(l->ep, evs, 8, timeout_ms);
        if (n < 0 && errno == EINTR) return 0;
        CHECK(n >= 0, "epoll_wait: %s", strerror(errno));
        for (int k = 0; k < n; k++) {
            uint32_t t = evs[k].data.u32;
            if (t < N) {
                if (!l->ended[t]) drain_channel(l, (int)t);
            } else {
                drain_plain(l, t == 100 ? l->sock : l->pipe_rd);
            }
        }
        ready = n;
    } else {
        ipcring_pollitem_t items[N + 2];
        int m = 0;
        int which[N + 2];
        for (int i = 0; i < N; i++) {
            if (l->ended[i]) continue;
            items[m] = (ipcring_pollitem_t){.ch = l->rx[i], .fd = -1, .events = IPCRING_POLLIN, .revents = 0};
            which[m++] = i;
        }
        items[m] = (ipcring_pollitem_t){.ch = NULL, .fd = l->sock, .events = IPCRING_POLLIN, .revents = 0};
        which[m++] = 100;
        items[m] = (ipcring_pollitem_t){.ch = NULL, .fd = l->pipe_rd, .events = IPCRING_POLLIN, .revents = 0};
        which[m++] = 101;
        int64_t tns = (int64_t)timeout_ms * 1000000;
        int n = ipcring_poll(items, (size_t)m, tns);
        CHECK(n >= 0, "ipcring_poll = %d (%s)", n, ipcring_strerror(n));
        for (int k = 0; k < m; k++) {
            if (!items[k].revents) continue;
            if (which[k] < N)
                drain_channel(l, which[k]);
            else
                drain_plain(l, which[k] == 100 ? l->sock : l->pipe_rd);
        }
        ready = n;
    }
    return ready;
}

static int all_ended(struct loop *l) {
    for (int i = 0; i < N; i++)
        if (!l->ended[i]) return 0;
    return 1;
}

static void open_receivers(char **addr, ipcring_t *rx[N]) {
    for (int i = 0; i < N; i++) {
        int rc = ipcring_open(addr[i], IPCRING_RECV | IPCRING_CREATE, &rx[i]);
        CHECK(rc == 0, "open %s = %d (%s)", addr[i], rc, ipcring_strerror(rc));
    }
}

static void open_senders(char **addr, ipcring_t *tx[N]) {
    for (int i = 0; i < N; i++) {
        int rc = ipcring_open(addr[i], IPCRING_SEND, &tx[i]);
        if (rc != 0) {
            fprintf(stderr, "child: open %s = %d (%s)\n", addr[i], rc, ipcring_last_error());
            _exit(2);
        }
    }
}

static void send_checked(ipcring_t *tx, uint32_t producer, uint64_t seq) {
    unsigned char buf[256];
    size_t len = pipe_encode(producer, seq, MAX_PAYLOAD, buf);
    int rc = ipcring_send(tx, buf, len, (int64_t)HANG_MS * 1000000);
    if (rc != 0) {
        fprintf(stderr, "child: send on %u = %d (%s)\n", (unsigned)producer, rc, ipcring_last_error());
        _exit(3);
    }
}

int main(int argc, char **argv) {
    CHECK(argc == 8, "usage: event_loop epoll|poll A1 A2 A3 K1 K2 K3");
    use_epoll = strcmp(argv[1], "epoll") == 0;
    char **addr = argv + 2, **kaddr = argv + 5;
    int sv[2], pp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    CHECK(pipe2(pp, O_CLOEXEC) == 0, "pipe2");

    /* Phases 1-3. */
    ipcring_t *rx[N];
    open_receivers(addr, rx);
    struct loop l;
    loop_init(&l, rx, sv[0], pp[0]);
    int go[2];
    CHECK(pipe2(go, O_CLOEXEC) == 0, "pipe2");
    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        ipcring_t *tx[N];
        open_senders(addr, tx);
        char c = 'a';
        if (write(go[1], &c, 1) != 1) _exit(4);
        nap_ms(1200); /* idle: the parent measures its CPU time meanwhile */
        uint64_t next[N] = {0, 0, 0};
        unsigned long long x = 12345;
        long sent = 0;
        while (sent < (long)N * PER) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            int i = (int)((x >> 33) % N);
            if (next[i] == PER) continue;
            send_checked(tx[i], (uint32_t)i, next[i]++);
            sent++;
            if (sent % 500 == 0) {
                if (write(sv[1], "s", 1) != 1 || write(pp[1], "p", 1) != 1) _exit(5);
                nap_ms(2);
            }
        }
        for (int i = 0; i < N; i++) ipcring_close(tx[i]);
        _exit(0);
    }
    char c;
    CHECK(read(go[0], &c, 1) == 1, "child did not attach");
    nap_ms(100);
    /* 1. Idle: one second of the loop with nothing to do. */
    double c0 = cpu_s(), t0 = now_s();
    while (now_s() - t0 < 0.8) loop_once(&l, 50);
    double idle = (cpu_s() - c0) / (now_s() - t0);
    printf("idle: the loop used %.2f%% of one core\n", idle * 100.0);
    CHECK(idle < 0.10, "the idle loop used %.1f%% of a core", idle * 100.0);
    /* 2-3. Messages, then the clean end. */
    double start = now_s();
    while (!all_ended(&l)) {
        CHECK(now_s() - start < HANG_MS / 1000.0, "stuck at %llu/%llu/%llu", (unsigned long long)l.next[0],
              (unsigned long long)l.next[1], (unsigned long long)l.next[2]);
        loop_once(&l, 1000);
    }
    for (int i = 0; i < N; i++) {
        CHECK(l.next[i] == PER, "channel %d: %llu of %d messages", i, (unsigned long long)l.next[i], PER);
        CHECK(l.ended[i] == IPCRING_EOF, "channel %d: a clean close ended with %d", i, l.ended[i]);
    }
    /* The plain descriptors' bytes may still be in flight: take the rest. */
    while (l.plain_bytes < 2L * (N * PER / 500)) {
        CHECK(now_s() - start < HANG_MS / 1000.0, "plain bytes: %ld", l.plain_bytes);
        loop_once(&l, 1000);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "sender child failed: status %d", status);
    printf("messages: %d on each of %d channels, checked; %ld bytes on the socket and the pipe; clean end: IPCRING_EOF\n",
           PER, N, l.plain_bytes);
    loop_fini(&l);
    for (int i = 0; i < N; i++) ipcring_close(rx[i]);

    /* 4. A sender SIGKILLed while the loop waits. */
    open_receivers(kaddr, rx);
    loop_init(&l, rx, sv[0], pp[0]);
    child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        ipcring_t *tx[N];
        open_senders(kaddr, tx);
        for (int i = 0; i < N; i++) send_checked(tx[i], (uint32_t)i, 0);
        for (;;) pause();
    }
    start = now_s();
    while (l.next[0] + l.next[1] + l.next[2] < N) {
        CHECK(now_s() - start < HANG_MS / 1000.0, "the killed child's messages did not come");
        loop_once(&l, 1000);
    }
    nap_ms(30);
    double killed = now_s();
    CHECK(kill(child, SIGKILL) == 0, "kill");
    while (!all_ended(&l)) {
        CHECK(now_s() - killed < HANG_MS / 1000.0, "no end of stream after the kill");
        loop_once(&l, 1000);
    }
    double lat = now_s() - killed;
    waitpid(child, &status, 0);
    printf("kill: every channel ended %.1f ms after SIGKILL (statuses %d %d %d)\n", lat * 1e3, l.ended[0], l.ended[1],
           l.ended[2]);
    loop_fini(&l);
    for (int i = 0; i < N; i++) ipcring_close(rx[i]);
    printf("all ok (%s)\n", use_epoll ? "epoll" : "ipcring_poll");
    return 0;
}
