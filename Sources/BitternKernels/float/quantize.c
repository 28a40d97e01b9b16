/* Per-token int8 activation quantization (absmax, BitNet b1.58) and int32 -> float rescale.
   Plain C written so the compiler vectorizes it; nearbyintf rounds ties to even in the default
   rounding mode, which is what the reference's fp32 "magic number" rounding does. */
#include <math.h>
#include "../include/bittern_kernels.h"

int32_t btk_quantize_row_i8(const float *x, size_t n, size_t padded, int8_t *q, float *scale) {
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    float s = 127.0f / fmaxf(amax, 1e-5f);
    int32_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        float v = nearbyintf(x[i] * s);
        v = v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v);
        q[i] = (int8_t)v;
        sum += q[i];
    }
    for (size_t i = n; i < padded; i++) q[i] = 0;
    *scale = s;
    return sum;
}

void btk_scale_row_i32(const int32_t *acc, size_t n, float factor, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = (float)acc[i] * factor;
}
