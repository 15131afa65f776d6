/* What the C test programs share: CHECK, which stops the program with the file, line, a
 * printf-style reason and the library's last error when a condition fails, and nap_ms, a
 * sleep that signals do not cut short. Include after the feature-test macros and
 * <ipcring.h>. */
#ifndef IPCRING_TEST_CHECK_H
#define IPCRING_TEST_CHECK_H

#include <errno.h>
#include <ipcring.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                            \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, " (last error: %s)\n", ipcring_last_error());                 \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* Sleeps `ms` milliseconds; an interrupting signal resumes the sleep for what is left. */
static inline void nap_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

#endif
