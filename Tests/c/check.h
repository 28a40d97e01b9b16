/* The small harness the C API tests share: counted checks that print the failing expression, the current
   step and the library's last error, and a closing line "NAME: N passed, M failed". Include once, after
   bittern.h, in a test's single translation unit. */
#ifndef BITTERN_TEST_CHECK_H
#define BITTERN_TEST_CHECK_H
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int passed, failed;
static char step[4200];

static bool check_impl(bool ok, const char *expr, const char *file, int line) {
    if (ok) {
        passed++;
    } else {
        failed++;
        const char *base = strrchr(file, '/');
        printf("FAIL %s:%d: %s   [%s]  last error: %s\n", base ? base + 1 : file, line, expr, step, bittern_last_error());
        fflush(stdout);
    }
    return ok;
}
#define CHECK(cond) check_impl((cond) ? true : false, #cond, __FILE__, __LINE__)
#define STEP(...) snprintf(step, sizeof step, __VA_ARGS__)

/* An error status with a message that is not the default one. */
static inline bool failed_with(bittern_status got, bittern_status want) {
    const char *msg = bittern_last_error();
    return got == want && msg && msg[0] && strcmp(msg, "no error") != 0;
}

#endif
