/* pkgconfig_hello.c: the smallest real program against an installed libipcring, built the way
 * a C user would (tests/c_abi.rs):
 *
 *     cc pkgconfig_hello.c $(pkg-config --cflags --libs ipcring) -o hello
 *
 * and once more against the static library. An anonymous ring is made with ipcring_pair, the
 * process forks, the child sends one message and closes its end, and the parent receives it,
 * then sees end of stream. Every status is checked; exits 0 only if all went as expected.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ipcring.h>

#define TIMEOUT_NS (60LL * 1000 * 1000 * 1000) /* a hang bound, not a duration to meet */

static int fail(const char *what, int rc) {
    fprintf(stderr, "pkgconfig_hello: %s: %d %s: %s\n", what, rc, ipcring_strerror(rc), ipcring_last_error());
    return 1;
}

static int child(ipcring_t *tx, ipcring_t *rx) {
    int rc = ipcring_close(rx); /* the child only sends */
    if (rc != IPCRING_OK) return fail("child: close rx", rc);
    char msg[64];
    int n = snprintf(msg, sizeof msg, "hello from pid %ld", (long)getpid());
    rc = ipcring_send(tx, msg, (size_t)n, TIMEOUT_NS);
    if (rc != IPCRING_OK) return fail("child: send", rc);
    rc = ipcring_close(tx); /* the parent's end of stream */
    if (rc != IPCRING_OK) return fail("child: close tx", rc);
    return 0;
}

int main(void) {
    ipcring_t *tx = NULL, *rx = NULL;
    int rc = ipcring_pair("shm://?capacity=16&msg_size=64", &tx, &rx);
    if (rc != IPCRING_OK) return fail("ipcring_pair", rc);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("pkgconfig_hello: fork");
        ipcring_close(tx);
        ipcring_close(rx);
        return 1;
    }
    if (pid == 0) _exit(child(tx, rx));

    int status = 0;
    rc = ipcring_close(tx); /* the parent only receives */
    if (rc != IPCRING_OK) status = fail("close tx", rc);
    char buf[64], want[64];
    size_t len = 0;
    snprintf(want, sizeof want, "hello from pid %ld", (long)pid);
    rc = ipcring_recv(rx, buf, sizeof buf, &len, TIMEOUT_NS);
    if (rc != IPCRING_OK) {
        status = fail("recv", rc);
    } else if (len != strlen(want) || memcmp(buf, want, len) != 0) {
        fprintf(stderr, "pkgconfig_hello: received \"%.*s\", expected \"%s\"\n", (int)len, buf, want);
        status = 1;
    } else {
        rc = ipcring_recv(rx, buf, sizeof buf, &len, TIMEOUT_NS);
        if (rc != IPCRING_EOF) status = fail("recv after the child closed (expected IPCRING_EOF)", rc);
    }
    rc = ipcring_close(rx);
    if (rc != IPCRING_OK) status = fail("close rx", rc);

    int wst = 0;
    if (waitpid(pid, &wst, 0) != pid) {
        perror("pkgconfig_hello: waitpid");
        return 1;
    }
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
        fprintf(stderr, "pkgconfig_hello: the child failed (wait status %#x)\n", wst);
        status = 1;
    }
    if (status == 0)
        printf("pkgconfig_hello: got \"%s\", then end of stream (libipcring %s, header %s)\n", want,
               ipcring_version(), IPCRING_VERSION);
    return status;
}
