/* e^x for the softmax of attention and SiLU, written so loops over it vectorize (plain arithmetic and
   bit moves; libm's expf is a call per element). Cody-Waite reduction x = n ln2 + r with |r| <= ln2/2 and
   Cephes' degree-6 polynomial for e^r: within a few ulp of expf over the clamped range (tested in
   Tests/c/float_kernels.c). Inputs are clamped to [-87.3, 88], where 2^n stays a normal float: e^-87.3 ~
   1e-38 is 0 for a softmax or a sigmoid, and e^88 ~ 1.7e38 makes 1 / (1 + e^x) vanish as it should. n is
   read from the bits of the rounded sum, not by a float-to-int conversion, so no input (NaN included,
   which comes out NaN) is undefined behaviour. */
#ifndef BITTERN_EXP_APPROX_H
#define BITTERN_EXP_APPROX_H
#include <stdint.h>
#include <string.h>

static inline float btk_exp_approx(float x) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer (ties to even) */
    x = x < -87.3f ? -87.3f : (x > 88.0f ? 88.0f : x);
    float t = x * 1.44269504088896341f + magic;
    float n = t - magic;
    float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    uint32_t tb;
    memcpy(&tb, &t, sizeof tb);
    uint32_t bits = (tb - 0x4B400000u + 127u) << 23; /* (n + 127) << 23: 2^n */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}
#endif
