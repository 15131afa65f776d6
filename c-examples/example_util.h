/* example_util.h: the few helpers the seed-port examples share.
 *
 * Include it first (it asks for POSIX declarations: fork, waitpid, getline, sigaction).
 * Each program reports a failed call with ex_fail() (the status's text and the library's
 * detailed message for this thread) and then cleans up on its own path: closes its handles,
 * unlinks what it owns, waits for its children. Exit status: 0 success, 1 failure, 2 usage.
 * Everything is static inline, so a program pays only for what it uses.
 */
#ifndef EXAMPLE_UTIL_H
#define EXAMPLE_UTIL_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ipcring.h>

/* The program's name for messages, set by ex_init. */
static const char *ex_prog = "example";

/* Call first: names the program in messages, and makes stdout line-buffered even into a
 * pipe, so that lines from a parent and its child come out in the order they happened. */
static inline void ex_init(const char *argv0) {
    const char *slash = strrchr(argv0, '/');
    ex_prog = slash ? slash + 1 : argv0;
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* Reports a failed ipcring call: "prog: WHAT ADDR: status text (detail)", the detail left
 * out when it says no more. It is read first: any later ipcring call may replace it. */
static inline void ex_fail(const char *what, const char *addr, int rc) {
    const char *detail = ipcring_last_error(), *text = ipcring_strerror(rc);
    int same = detail[0] == '\0' || strcmp(detail, text) == 0;
    fprintf(stderr, "%s: %s%s%s: %s%s%s%s\n", ex_prog, what, addr ? " " : "", addr ? addr : "", text,
            same ? "" : " (", same ? "" : detail, same ? "" : ")");
}

/* Closes *h if it is open and forgets it; returns 0, or 1 after reporting a failure. */
static inline int ex_close(ipcring_t **h) {
    if (*h == NULL) return 0;
    int rc = ipcring_close(*h);
    *h = NULL;
    if (rc != IPCRING_OK) {
        ex_fail("close", NULL, rc);
        return 1;
    }
    return 0;
}

/* Removes the name of a channel this program owns; returns 0, or 1 after reporting a
 * failure. Already gone (IPCRING_ENOENT) is fine: there is nothing left to clean up. A
 * tcp:// address names no object (a port is free again once its listener closes), so
 * there is nothing to remove either: ipcring_unlink would say IPCRING_EADDRESS. */
static inline int ex_unlink(const char *addr) {
    if (strncmp(addr, "tcp://", 6) == 0) return 0;
    int rc = ipcring_unlink(addr);
    if (rc != IPCRING_OK && rc != IPCRING_ENOENT) {
        ex_fail("unlink", addr, rc);
        return 1;
    }
    return 0;
}

/* Opens `addr` with `flags`, creating the channel if it does not exist yet, and says in
 * *created whether this call made it: a program that fails later removes what it made, and
 * leaves alone a channel that its peer made (the plain IPCRING_CREATE cannot tell).
 *
 * On unix:// and tcp:// only the receiver makes something (it listens: the socket path, the
 * bound port); a sender connects to it and creates nothing, so a send-only open there never
 * counts as created (its "success" must not make a failing writer remove its reader's
 * socket path). */
static inline int ex_open_or_create(const char *addr, uint32_t flags, ipcring_t **h, int *created) {
    *created = 0;
    for (;;) {
        int rc = ipcring_open(addr, flags | IPCRING_CREATE | IPCRING_EXCL, h);
        if (rc != IPCRING_EEXIST) {
            *created = rc == IPCRING_OK;
            ipcring_info_t info = IPCRING_INFO_INIT;
            if (*created && !(flags & IPCRING_RECV) && ipcring_info(*h, &info) == IPCRING_OK
                && (info.transport == IPCRING_TRANSPORT_UNIX || info.transport == IPCRING_TRANSPORT_TCP))
                *created = 0;
            return rc;
        }
        rc = ipcring_open(addr, flags, h);
        if (rc != IPCRING_ENOENT) return rc;
        /* removed between the two calls: try again */
    }
}

/* Waits for child `pid`; returns 0 if it exited with status 0, else 1 after saying how it
 * ended. */
static inline int ex_wait_child(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "%s: waitpid: %s\n", ex_prog, strerror(errno));
            return 1;
        }
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    if (WIFEXITED(st))
        fprintf(stderr, "%s: child %ld exited with status %d\n", ex_prog, (long)pid, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        fprintf(stderr, "%s: child %ld killed by signal %d\n", ex_prog, (long)pid, WTERMSIG(st));
    return 1;
}

#endif /* EXAMPLE_UTIL_H */
