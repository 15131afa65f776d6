/* fork_pool.c: a multi-threaded parent forks while its other threads open and close handles.
 *
 * ipcring_open/ipcring_pair/ipcring_close take handle shells from a process-wide pool and put
 * them back. If that pool were guarded by a lock, a fork() taken while another thread held it
 * would leave the child's copy locked for ever, and the child's first open would hang. Here
 * THREADS threads loop on ipcring_pair + ipcring_close (pipe:// and shm://) while the main
 * thread forks FORKS times; each child opens a channel, sends and receives a message, closes
 * it and _exits 0. A child that has not exited within CHILD_BOUND_S seconds is killed and the
 * program fails (exit 1), naming the fork. Usage: fork_pool [FORKS]
 */
#define _POSIX_C_SOURCE 200809L

#include <ipcring.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 3
#define CHILD_BOUND_S 20

static atomic_int stop;

static void die(const char *what, int rc) {
    fprintf(stderr, "fork_pool: %s: %s (%s)\n", what, ipcring_strerror(rc), ipcring_last_error());
    exit(1);
}

/* One open/close cycle on an anonymous channel: returns 0 or the failing status. */
static int cycle(const char *address, int use) {
    ipcring_t *tx = NULL, *rx = NULL;
    int rc = ipcring_pair(address, &tx, &rx);
    if (rc != IPCRING_OK)
        return rc;
    if (use) {
        char buf[64];
        size_t len = 0;
        rc = ipcring_send(tx, "ping", 4, IPCRING_NONBLOCK);
        if (rc == IPCRING_OK)
            rc = ipcring_recv(rx, buf, sizeof buf, &len, IPCRING_NONBLOCK);
        if (rc == IPCRING_OK && (len != 4 || memcmp(buf, "ping", 4) != 0))
            rc = IPCRING_ECORRUPT;
    }
    int rc_tx = ipcring_close(tx);
    int rc_rx = ipcring_close(rx);
    if (rc == IPCRING_OK)
        rc = rc_tx != IPCRING_OK ? rc_tx : rc_rx;
    return rc;
}

static void *churn(void *arg) {
    long i = 0;
    (void)arg;
    while (!atomic_load(&stop)) {
        /* Mostly pipes (cheap, so the threads spend much of their time in the pool), now and
         * then a ring. */
        const char *address = (i++ % 8 == 7) ? "shm://?capacity=4&msg_size=64" : "pipe://";
        int rc = cycle(address, 0);
        if (rc != IPCRING_OK)
            die(address, rc);
    }
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for `pid` at most CHILD_BOUND_S seconds; returns its wait status, or -1 if it hung
 * (it is then killed and reaped). */
static int wait_bounded(pid_t pid) {
    double deadline = now_s() + CHILD_BOUND_S;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR) {
            perror("fork_pool: waitpid");
            exit(1);
        }
        if (now_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        struct timespec pause = {0, 1000000}; /* 1 ms */
        nanosleep(&pause, NULL);
    }
}

int main(int argc, char **argv) {
    int forks = argc > 1 ? atoi(argv[1]) : 200;
    pthread_t threads[THREADS];
    int failed = 0;

    /* Warm up in this thread first: one-time initialisation happens before any fork. */
    int rc = cycle("pipe://", 1);
    if (rc != IPCRING_OK)
        die("warm-up pipe://", rc);
    rc = cycle("shm://?capacity=4&msg_size=64", 1);
    if (rc != IPCRING_OK)
        die("warm-up shm://", rc);

    for (int t = 0; t < THREADS; t++)
        if (pthread_create(&threads[t], NULL, churn, NULL) != 0) {
            fprintf(stderr, "fork_pool: pthread_create failed\n");
            return 1;
        }

    for (int i = 0; i < forks && !failed; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork_pool: fork");
            failed = 1;
            break;
        }
        if (pid == 0) {
            /* The child: only this thread exists. Open, use and close handles (both kinds),
             * then leave without running the parent's atexit handlers or flushing its stdio. */
            int crc = cycle(i % 2 ? "shm://?capacity=4&msg_size=64" : "pipe://", 1);
            if (crc == IPCRING_OK)
                crc = cycle("pipe://", 1);
            _exit(crc == IPCRING_OK ? 0 : 2);
        }
        int status = wait_bounded(pid);
        if (status == -1) {
            fprintf(stderr, "fork_pool: child of fork %d hung for %d s (killed)\n", i, CHILD_BOUND_S);
            failed = 1;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "fork_pool: child of fork %d failed (wait status %#x)\n", i, (unsigned)status);
            failed = 1;
        }
    }

    atomic_store(&stop, 1);
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    if (failed)
        return 1;
    printf("fork_pool: %d forks, every child opened, used and closed its handles\n", forks);
    return 0;
}
