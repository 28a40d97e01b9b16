/* The 6-bit output head (head type "q6"): each row is ceil(cols / 32) blocks of 32 values q in [-31, 31]
 * with one float scale d = max|w| / 31 per block (w ~ q * d), stored as u = q + 32 in 6 bits:
 *   bytes 0..15  low nibbles: byte j holds value j (bits 0-3) and value j + 16 (bits 4-7);
 *   bytes 16..23 high bits:   byte j holds values j, j + 8, j + 16, j + 24 at bits 0, 2, 4, 6.
 * 24 bytes + 4 for the scale: 7 bits per weight, 22% less to read every token than Q8's 9. A partial last
 * block is padded with q = 0. Dot products run against int8 activation blocks (btk_quantize_q8_rows), so a
 * block's product is an exact integer; the fast path (AVX2) and the portable one differ only in the order
 * of float additions.
 */
#include <math.h>
#include "../include/bittern_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define FAST_FN static __attribute__((target("avx2,fma,f16c")))
#endif

void btk_quantize_q6_rows(const float *x, size_t rows, size_t cols, uint8_t *q, float *scales) {
    size_t nb = btk_q8_blocks(cols);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        for (size_t b = 0; b < nb; b++) {
            size_t begin = b * 32, end = begin + 32 < cols ? begin + 32 : cols;
            float amax = btk_block_absmax(xr, begin, end);
            float inv = amax > 0 && isfinite(31.0f / amax) ? 31.0f / amax : 0;
            scales[r * nb + b] = amax / 31.0f;
            uint8_t u[32];
            for (size_t i = 0; i < 32; i++) {
                float v = begin + i < end && isfinite(xr[begin + i]) ? (xr[begin + i] * inv + 12582912.0f) - 12582912.0f : 0;
                u[i] = (uint8_t)((v > 31 ? 31 : v < -31 ? -31 : (int)v) + 32);
            }
            uint8_t *blk = q + (r * nb + b) * BTK_Q6_BLOCK_BYTES;
            for (int j = 0; j < 16; j++) blk[j] = (uint8_t)((u[j] & 15) | (u[j + 16] & 15) << 4);
            for (int j = 0; j < 8; j++)
                blk[16 + j] = (uint8_t)(u[j] >> 4 | (u[j + 8] >> 4) << 2 | (u[j + 16] >> 4) << 4 | (u[j + 24] >> 4) << 6);
        }
    }
}

/* The 32 values q of one block. */
static void unpack_block(const uint8_t *blk, int8_t *q) {
    for (int i = 0; i < 32; i++) {
        int lo = i < 16 ? blk[i] & 15 : blk[i - 16] >> 4;
        int hi = (blk[16 + (i & 7)] >> (2 * (i >> 3))) & 3;
        q[i] = (int8_t)((lo | hi << 4) - 32);
    }
}

void btk_dequantize_q6_row(const uint8_t *q, const float *scales, size_t cols, float *out) {
    int8_t v[32];
    for (size_t b = 0; b * 32 < cols; b++) {
        unpack_block(q + b * BTK_Q6_BLOCK_BYTES, v);
        for (size_t i = b * 32; i < cols && i < b * 32 + 32; i++) out[i] = (float)v[i - b * 32] * scales[b];
    }
}

static float dot_q6q8(const uint8_t *w, const float *ws, const int8_t *x, const float *xs, size_t n) {
    float s = 0;
    int8_t v[32];
    for (size_t b = 0; b * 32 < n; b++) {
        unpack_block(w + b * BTK_Q6_BLOCK_BYTES, v);
        int32_t acc = 0;
        for (size_t i = b * 32; i < n && i < b * 32 + 32; i++) acc += (int32_t)v[i - b * 32] * x[i];
        s += (float)acc * (ws[b] * xs[b]);
    }
    return s;
}

#if defined(__x86_64__)
/* u = q + 32 is unsigned, so vpmaddubsw takes it as it is: sum u x = sum q x + 32 sum x, and the 32 sum x of
   each block (xsums, btk_q6_activation_sums once per token) is taken off after the float rescale. */
FAST_FN float dot_q6q8_fast(const uint8_t *w, const float *ws, const int8_t *x, const float *xs, const int32_t *xsums,
                            size_t n) {
    const __m256i nib = _mm256_set1_epi8(15), two = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    const __m256i shifts = _mm256_set_epi64x(6, 4, 2, 0);
    __m256 total = _mm256_setzero_ps();
    float correction = 0;
    size_t b = 0;
    for (; (b + 1) * 32 <= n; b++) {
        const uint8_t *blk = w + b * BTK_Q6_BLOCK_BYTES;
        _mm_prefetch((const char *)blk + 1024, _MM_HINT_T0);   /* the head streams from DRAM once a token */
        __m128i lo = _mm_loadu_si128((const __m128i *)blk);
        __m256i low = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(lo, 4), lo), nib);   /* values 0..15 | 16..31 */
        /* the 8 high-bit bytes in every 64-bit lane, lane k shifted by 2k: lane k holds values 8k..8k+7 */
        __m256i h = _mm256_broadcastq_epi64(_mm_loadl_epi64((const __m128i *)(blk + 16)));
        __m256i high = _mm256_and_si256(_mm256_srlv_epi64(h, shifts), two);
        __m256i u = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
        __m256i p16 = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)(x + b * 32)));
        __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
        float scale = ws[b] * xs[b];
        total = _mm256_fmadd_ps(p, _mm256_set1_ps(scale), total);
        correction += (float)(32 * xsums[b]) * scale;
    }
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(total), _mm256_extractf128_ps(total, 1));
    s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
    float r = _mm_cvtss_f32(s4) - correction;
    if (b * 32 < n) r += dot_q6q8(w + b * BTK_Q6_BLOCK_BYTES, ws + b, x + b * 32, xs + b, n - b * 32);
    return r;
}
#endif

void btk_q6_activation_sums(const int8_t *xq, size_t cols, int32_t *sums) {
    for (size_t b = 0; b * 32 < cols; b++) {
        int32_t s = 0;
        for (size_t i = b * 32; i < cols && i < b * 32 + 32; i++) s += xq[i];
        sums[b] = s;
    }
}

void btk_gemv_q6q8(const uint8_t *w, const float *scales, size_t rows, size_t cols, const int8_t *xq,
                   const float *xscales, const int32_t *xsums, float *y) {
    size_t nb = btk_q8_blocks(cols), row_bytes = nb * BTK_Q6_BLOCK_BYTES;
#if defined(__x86_64__)
    if (btk_float_fast()) {
        for (size_t r = 0; r < rows; r++)
            y[r] = dot_q6q8_fast(w + r * row_bytes, scales + r * nb, xq, xscales, xsums, cols);
        return;
    }
#endif
    (void)xsums;
    for (size_t r = 0; r < rows; r++) y[r] = dot_q6q8(w + r * row_bytes, scales + r * nb, xq, xscales, cols);
}
