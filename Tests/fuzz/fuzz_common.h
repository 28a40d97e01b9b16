/* Shared by the libFuzzer targets (Tests/fuzz/fuzz_*.c, built by scripts/fuzz.sh against a libbittern
   built with AddressSanitizer and coverage). A target aborts only on a broken contract: an error status
   without a message, or a result its own oracle disproves; every malformed input must merely fail. */
#ifndef BITTERN_FUZZ_COMMON_H
#define BITTERN_FUZZ_COMMON_H
#define _GNU_SOURCE
#include <bittern.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_ASSERT(cond, ...)                                                  \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz contract broken: %s: ", #cond);               \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
            abort();                                                            \
        }                                                                       \
    } while (0)

/* A failed call must say why. */
static inline void expect_message(bittern_status s) {
    const char *m = bittern_last_error();
    FUZZ_ASSERT(s != BITTERN_OK && m && m[0], "status %d without a message", (int)s);
}

/* The bundled demo model, loaded once: BITTERN_FUZZ_MODEL or the library's default model. */
static inline bittern_model *fuzz_demo_model(void) {
    static bittern_model *m;
    if (!m) {
        const char *p = getenv("BITTERN_FUZZ_MODEL");
        char *def = p ? NULL : bittern_default_model_path();
        if (bittern_model_load(NULL, p ? p : def, NULL, &m) != BITTERN_OK) {
            fprintf(stderr, "fuzz: cannot load the demo model: %s\n", bittern_last_error());
            exit(2);
        }
        bittern_string_free(def);
    }
    return m;
}

/* Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
static inline bool valid_utf8(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i], cp;
        size_t k;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { k = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { k = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { k = 3; cp = c & 0x07; }
        else return false;
        if (n - i <= k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (p[i + j] & 0x3F);
        }
        if (k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;
        if (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
        i += k + 1;
    }
    return true;
}

/* Writes bytes to a file (replacing it). */
static inline void write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (size && fwrite(data, 1, size, f) != size) { perror(path); exit(2); }
    fclose(f);
}
#endif
