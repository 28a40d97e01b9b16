/* Per-token int8 activation quantization (absmax, BitNet b1.58) and int32 -> float rescale.
   Rounding uses the fp32 "magic number" trick of the reference code: for |v| < 2^22, (v + 1.5*2^23)
   - 1.5*2^23 rounds to nearest with ties to even in the default rounding mode -- the same result as
   nearbyintf, but plain arithmetic the compiler vectorizes (nearbyintf is a libm call per element
   without SSE4.1). |x*s| <= 127 here, far inside the trick's range. */
#include <math.h>
#include "../include/bittern_kernels.h"

static const float MAGIC = 12582912.0f; /* 1.5 * 2^23 */

int32_t btk_quantize_row_i8(const float *x, size_t n, size_t padded, int8_t *q, float *scale) {
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        amax = a > amax ? a : amax; /* inputs are checked finite by the caller */
    }
    float s = 127.0f / fmaxf(amax, 1e-5f);
    int32_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        float v = (x[i] * s + MAGIC) - MAGIC;
        v = v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v);
        int32_t iv = (int32_t)v;
        q[i] = (int8_t)iv;
        sum += iv;
    }
    for (size_t i = n; i < padded; i++) q[i] = 0;
    *scale = s;
    return sum;
}

void btk_scale_row_i32(const int32_t *acc, size_t n, float factor, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = (float)acc[i] * factor;
}
