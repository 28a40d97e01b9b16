/* The per-thread error message behind bittern_last_error(). A fixed buffer per thread: no allocation
   on the error path and nothing to free at thread exit. */
#include <string.h>
#include "include/bittern_support.h"

static _Thread_local char last_error[1024] = "no error";
static _Thread_local int last_status = 0;

void bts_set_status(int status) { last_status = status; }
int bts_last_status(void) { return last_status; }

void bts_set_error(const char *message) {
    if (!message) message = "unknown error";
    strncpy(last_error, message, sizeof last_error - 1);
    last_error[sizeof last_error - 1] = 0;
}

const char *bts_last_error(void) { return last_error; }
