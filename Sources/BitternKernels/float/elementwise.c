/* The per-token float steps of a transformer block between the ternary products: RMSNorm, the gated
   FFN activations and the residual add. Plain loops the compiler vectorizes (these are a few thousand
   floats per token, read once; they only have to stay off the critical path of the matrix products). */
#include <math.h>
#include "../include/bittern_kernels.h"
#include "exp_approx.h"

void btk_rms_norm(const float *x, const float *w, size_t n, float eps, float *out) {
    /* The sum of squares in double, in four independent lanes: 2B4T's hidden states reach 1e3-1e4, whose
       squares summed over 2560 values in float would lose the low digits the reference keeps. */
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)x[i] * x[i];
        s1 += (double)x[i + 1] * x[i + 1];
        s2 += (double)x[i + 2] * x[i + 2];
        s3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < n; i++) s0 += (double)x[i] * x[i];
    double ss = (s0 + s1) + (s2 + s3);
    float inv = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (i = 0; i < n; i++) out[i] = (x[i] * inv) * w[i];
}

void btk_relu2_mul(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float g = gate[i] > 0.0f ? gate[i] : 0.0f;
        gate[i] = (g * g) * up[i];
    }
}

void btk_silu_mul(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = (g / (1.0f + btk_exp_approx(-g))) * up[i];
    }
}

void btk_add_f32(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}
