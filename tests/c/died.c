/* A crash is not a clean end, from C: a producer process that sends three messages and is
 * then killed with SIGKILL leaves its consumer with IPCRING_EDIED after the three messages,
 * and one that closes cleanly with IPCRING_EOF. The producer opens the channel by address in
 * a forked child (the consumer created or listens on it first). Run over every transport
 * whose address is given on the command line, from capi/tests/c_abi.rs. Exits 0 when every
 * check passed. */
#define _POSIX_C_SOURCE 200809L
#include <ipcring.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define SECOND 1000000000LL

static void one(const char *address, int kill_it) {
    ipcring_t *rx = NULL;
    int rc = ipcring_open(address, IPCRING_RECV | IPCRING_CREATE, &rx);
    CHECK(rc == 0, "open receiver %s = %d", address, rc);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        ipcring_t *tx = NULL;
        if (ipcring_open(address, IPCRING_SEND, &tx) != 0)
            _exit(2);
        for (int i = 0; i < 3; i++) {
            char m[16];
            int n = snprintf(m, sizeof m, "msg %d", i);
            if (ipcring_send(tx, m, (size_t)n, 30 * SECOND) != 0)
                _exit(3);
        }
        if (kill_it)
            raise(SIGKILL);
        _exit(ipcring_close(tx) == 0 ? 0 : 4);
    }
    char buf[256];
    size_t len = 0;
    int got = 0;
    while ((rc = ipcring_recv(rx, buf, sizeof buf, &len, 30 * SECOND)) == IPCRING_OK) {
        char want[16];
        int n = snprintf(want, sizeof want, "msg %d", got);
        CHECK(len == (size_t)n && memcmp(buf, want, len) == 0, "%s: message %d wrong", address, got);
        got++;
    }
    CHECK(got == 3, "%s: %d messages before the end, not 3", address, got);
    int want = kill_it ? IPCRING_EDIED : IPCRING_EOF;
    CHECK(rc == want, "%s (%s): recv ended with %d (%s), not %d", address, kill_it ? "killed" : "closed", rc,
          ipcring_strerror(rc), want);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    if (kill_it)
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s: child status %#x", address, st);
    else
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child status %#x", address, st);
    CHECK(ipcring_close(rx) == 0, "close");
    printf("ok %s %s -> %s\n", address, kill_it ? "killed" : "closed", ipcring_strerror(rc));
}

int main(int argc, char **argv) {
    CHECK(strstr(ipcring_strerror(IPCRING_EDIED), "died") != NULL, "strerror(IPCRING_EDIED)");
    for (int i = 1; i < argc; i++) {
        one(argv[i], 1);
        one(argv[i], 0);
        ipcring_unlink(argv[i]);
    }
    printf("all ok\n");
    return 0;
}
