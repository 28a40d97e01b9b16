/* Weight-side helpers for absmean ternarization (API.md fixes the procedure bit for bit). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "../include/bittern_kernels.h"

size_t btk_first_nonfinite(const float *w, size_t n) {
    /* Checked on every activation the forward pass quantizes, so the common case (all finite) is a
       branch-free pass over the exponent bits in blocks the compiler vectorizes; only a block holding a
       NaN or an infinity is searched for its first one. */
    enum { BLOCK = 256 };
    for (size_t b = 0; b < n; b += BLOCK) {
        size_t end = n - b < BLOCK ? n : b + BLOCK;
        uint32_t bad = 0;
        for (size_t i = b; i < end; i++) {
            uint32_t bits;
            memcpy(&bits, &w[i], sizeof bits);
            bad |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
        }
        if (bad)
            for (size_t i = b; i < end; i++)
                if (!isfinite(w[i])) return i + 1;
    }
    return 0;
}

double btk_sum_abs_f64(const float *w, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += fabs((double)w[i]);
    return s;
}

size_t btk_ternarize(const float *w, size_t n, float inv_alpha, float threshold, int8_t *trits) {
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++) {
        float v = w[i];
        int8_t t = 0;
        if (fabsf(v) * inv_alpha > threshold) t = v > 0.0f ? 1 : -1;
        trits[i] = t;
        zeros += (t == 0);
    }
    return zeros;
}

size_t btk_check_trits(const int8_t *t, size_t n, size_t *zeros) {
    /* Branch-free over chunks (so it vectorizes); the exact index of a bad value is found afterwards. */
    size_t z = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i += 4096) {
        size_t end = i + 4096 < n ? i + 4096 : n;
        uint32_t cz = 0;
        for (size_t k = i; k < end; k++) {
            bad |= (uint8_t)(t[k] + 1) > 2;
            cz += t[k] == 0;
        }
        z += cz;
    }
    if (bad) {
        for (size_t i = 0; i < n; i++)
            if (t[i] < -1 || t[i] > 1) return i + 1;
    }
    *zeros = z;
    return 0;
}
