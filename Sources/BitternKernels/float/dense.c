/* Float kernels of the forward pass around the ternary products: the output head in F32, F16 or Q8
 * storage, F16 conversion for the KV cache, and one attention head over the cache.
 *
 * Each has a portable C version and an AVX2+FMA+F16C version picked once at run time from the CPU probe
 * (the file is built without -m flags; the fast functions carry target attributes). The two differ only
 * in the order of float additions, so results agree to rounding, not bit for bit: callers compare on one
 * machine, not across machines.
 *
 * Q8 layout: each row is ceil(cols / 32) blocks of 32 int8 values with one float scale per block,
 * w = q * scale, scale = max|w| / 127 over the block (llama.cpp's Q8_0, with an F32 scale).
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include "../include/bittern_kernels.h"
#include "exp_approx.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define FAST_FN static __attribute__((target("avx2,fma,f16c")))
#define FAST_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))
#endif

/* Read by every worker thread (the forward pass runs these kernels on all of them): relaxed atomics, so
   the lazy probe below is a benign race in C's terms too (each thread computes the same value). */
static _Atomic int forced_portable;

void btk_float_force_portable(int on) { atomic_store_explicit(&forced_portable, on, memory_order_relaxed); }

static int use_fast(void) {
#if defined(__x86_64__)
    static _Atomic int cached = -1;
    if (atomic_load_explicit(&forced_portable, memory_order_relaxed)) return 0;
    int fast = atomic_load_explicit(&cached, memory_order_relaxed);
    if (fast < 0) {
        const uint64_t need = BITTERN_CPU_AVX2 | BITTERN_CPU_FMA | BITTERN_CPU_F16C;
        fast = (btk_cpu_features() & need) == need;
        atomic_store_explicit(&cached, fast, memory_order_relaxed);
    }
    return fast;
#else
    return 0;
#endif
}

int btk_float_fast(void) { return use_fast(); }

/* ---- F16 conversion (IEEE binary16, round to nearest even) ---- */

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {                      /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            bits = sign | (exp << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint16_t float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xFF, man = x & 0x7FFFFF;
    if (exp == 0xFF) return (uint16_t)(sign | 0x7C00 | (man ? 0x200 : 0));   /* Inf, NaN */
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7C00);                          /* overflow -> Inf */
    if (e <= 0) {                                                           /* subnormal or zero */
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;             /* may carry into the exponent */
    return (uint16_t)(sign | half);
}

#if defined(__x86_64__)
FAST_FN void f32_to_f16_fast(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = float_to_half(src[i]);
}
FAST_FN void f16_to_f32_fast(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = half_to_float(src[i]);
}
#endif

void btk_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
#if defined(__x86_64__)
    if (use_fast()) { f32_to_f16_fast(src, dst, n); return; }
#endif
    for (size_t i = 0; i < n; i++) dst[i] = float_to_half(src[i]);
}

void btk_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__)
    if (use_fast()) { f16_to_f32_fast(src, dst, n); return; }
#endif
    for (size_t i = 0; i < n; i++) dst[i] = half_to_float(src[i]);
}

/* ---- dot products of one row with x ---- */

static float dot_f32(const float *a, const float *b, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static float dot_f16(const uint16_t *a, const float *b, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += half_to_float(a[i]) * b[i];
    return s;
}

static float dot_q8(const int8_t *q, const float *scales, const float *x, size_t n) {
    float s = 0;
    for (size_t b = 0; b * 32 < n; b++) {
        size_t end = (b + 1) * 32 < n ? (b + 1) * 32 : n;
        float bs = 0;
        for (size_t i = b * 32; i < end; i++) bs += (float)q[i] * x[i];
        s += bs * scales[b];
    }
    return s;
}

#if defined(__x86_64__)
FAST_INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

FAST_FN float dot_f32_fast(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm_prefetch((const char *)(a + i) + 1536, _MM_HINT_T0);
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

FAST_FN float dot_f16_fast(const uint16_t *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm_prefetch((const char *)(a + i) + 1536, _MM_HINT_T0);   /* streamed from DRAM: fetch ahead */
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8))), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))), _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += half_to_float(a[i]) * b[i];
    return s;
}

FAST_INLINE __m256 load_i8x8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

FAST_FN float dot_q8_fast(const int8_t *q, const float *scales, const float *x, size_t n) {
    __m256 total = _mm256_setzero_ps();
    size_t b = 0;
    for (; (b + 1) * 32 <= n; b++) {
        const int8_t *qb = q + b * 32;
        const float *xb = x + b * 32;
        __m256 s = _mm256_mul_ps(load_i8x8(qb), _mm256_loadu_ps(xb));
        s = _mm256_fmadd_ps(load_i8x8(qb + 8), _mm256_loadu_ps(xb + 8), s);
        s = _mm256_fmadd_ps(load_i8x8(qb + 16), _mm256_loadu_ps(xb + 16), s);
        s = _mm256_fmadd_ps(load_i8x8(qb + 24), _mm256_loadu_ps(xb + 24), s);
        total = _mm256_fmadd_ps(s, _mm256_set1_ps(scales[b]), total);
    }
    float r = hsum(total);
    if (b * 32 < n) {
        float bs = 0;
        for (size_t i = b * 32; i < n; i++) bs += (float)q[i] * x[i];
        r += bs * scales[b];
    }
    return r;
}
#endif

void btk_gemv_f32(const float *w, size_t rows, size_t cols, const float *x, float *y) {
#if defined(__x86_64__)
    if (use_fast()) { for (size_t r = 0; r < rows; r++) y[r] = dot_f32_fast(w + r * cols, x, cols); return; }
#endif
    for (size_t r = 0; r < rows; r++) y[r] = dot_f32(w + r * cols, x, cols);
}

void btk_gemv_f16(const uint16_t *w, size_t rows, size_t cols, const float *x, float *y) {
#if defined(__x86_64__)
    if (use_fast()) { for (size_t r = 0; r < rows; r++) y[r] = dot_f16_fast(w + r * cols, x, cols); return; }
#endif
    for (size_t r = 0; r < rows; r++) y[r] = dot_f16(w + r * cols, x, cols);
}

size_t btk_q8_blocks(size_t cols) { return (cols + 31) / 32; }

void btk_gemv_q8(const int8_t *w, const float *scales, size_t rows, size_t cols, const float *x, float *y) {
    size_t nb = btk_q8_blocks(cols);
#if defined(__x86_64__)
    if (use_fast()) {
        for (size_t r = 0; r < rows; r++) y[r] = dot_q8_fast(w + r * cols, scales + r * nb, x, cols);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++) y[r] = dot_q8(w + r * cols, scales + r * nb, x, cols);
}

/* Both sides int8 in blocks of 32: sum over blocks of (w_b . x_b) * sw_b * sx_b, the block products exact
   in int32 (|.| <= 32 * 127 * 127). */
static float dot_q8q8(const int8_t *w, const float *ws, const int8_t *x, const float *xs, size_t n) {
    float s = 0;
    for (size_t b = 0; b * 32 < n; b++) {
        size_t end = (b + 1) * 32 < n ? (b + 1) * 32 : n;
        int32_t acc = 0;
        for (size_t i = b * 32; i < end; i++) acc += (int32_t)w[i] * x[i];
        s += (float)acc * (ws[b] * xs[b]);
    }
    return s;
}

#if defined(__x86_64__)
/* vpmaddubsw needs an unsigned operand: |w| times x with w's sign (llama.cpp's trick; w is in
   [-127, 127], so |w| fits and the int16 pair sums stay below 2 * 127 * 128). */
FAST_INLINE __m256 q8q8_block(const int8_t *w, const int8_t *x, float scale, __m256 acc) {
    __m256i wv = _mm256_loadu_si256((const __m256i *)w), xv = _mm256_loadu_si256((const __m256i *)x);
    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
    __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
    return _mm256_fmadd_ps(p, _mm256_set1_ps(scale), acc);
}

FAST_FN float dot_q8q8_fast(const int8_t *w, const float *ws, const int8_t *x, const float *xs, size_t n) {
    /* Two accumulators, blocks alternating: one chain of FMAs would make each block wait for the last. */
    __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();
    size_t b = 0;
    for (; (b + 2) * 32 <= n; b += 2) {
        /* The head is streamed from DRAM once per token: fetch ahead (the next rows, for short rows). */
        _mm_prefetch((const char *)(w + b * 32) + 1536, _MM_HINT_T0);
        t0 = q8q8_block(w + b * 32, x + b * 32, ws[b] * xs[b], t0);
        t1 = q8q8_block(w + b * 32 + 32, x + b * 32 + 32, ws[b + 1] * xs[b + 1], t1);
    }
    if ((b + 1) * 32 <= n) {
        t0 = q8q8_block(w + b * 32, x + b * 32, ws[b] * xs[b], t0);
        b++;
    }
    float r = hsum(_mm256_add_ps(t0, t1));
    if (b * 32 < n) r += dot_q8q8(w + b * 32, ws + b, x + b * 32, xs + b, n - b * 32);
    return r;
}
#endif

void btk_gemv_q8q8(const int8_t *w, const float *scales, size_t rows, size_t cols, const int8_t *xq,
                   const float *xscales, float *y) {
    size_t nb = btk_q8_blocks(cols);
#if defined(__x86_64__)
    if (use_fast()) {
        for (size_t r = 0; r < rows; r++) y[r] = dot_q8q8_fast(w + r * cols, scales + r * nb, xq, xscales, cols);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++) y[r] = dot_q8q8(w + r * cols, scales + r * nb, xq, xscales, cols);
}

float btk_block_absmax(const float *x, size_t begin, size_t end) {
    /* A NaN or infinite value (a corrupt file, or an overflowed activation) counts as 0, so the
       float-to-int conversion of a block quantizer always gets a number in range. */
    float amax = 0;
    for (size_t i = begin; i < end; i++)
        if (isfinite(x[i])) amax = fmaxf(amax, fabsf(x[i]));
    return amax;
}

void btk_quantize_q8_rows(const float *x, size_t rows, size_t cols, int8_t *q, float *scales) {
    size_t nb = btk_q8_blocks(cols);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        for (size_t b = 0; b < nb; b++) {
            size_t begin = b * 32, end = begin + 32 < cols ? begin + 32 : cols;
            float amax = btk_block_absmax(xr, begin, end);
            float scale = amax / 127.0f, inv = amax > 0 && isfinite(127.0f / amax) ? 127.0f / amax : 0;
            scales[r * nb + b] = scale;
            for (size_t i = begin; i < end; i++) {
                /* |x * inv| <= 127: adding and subtracting 1.5 * 2^23 rounds to the nearest integer, ties
                   to even (the default rounding mode), without a call into libm. */
                float v = isfinite(xr[i]) ? (xr[i] * inv + 12582912.0f) - 12582912.0f : 0;
                q[r * cols + i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
            }
        }
    }
}

/* ---- out += p * v ---- */

#if defined(__x86_64__)
FAST_FN void axpy_f32_fast(float p, const float *v, float *out, size_t n) {
    __m256 pp = _mm256_set1_ps(p);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_fmadd_ps(pp, _mm256_loadu_ps(v + i), _mm256_loadu_ps(out + i)));
    for (; i < n; i++) out[i] += p * v[i];
}
FAST_FN void axpy_f16_fast(float p, const uint16_t *v, float *out, size_t n) {
    __m256 pp = _mm256_set1_ps(p);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(pp, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i))), _mm256_loadu_ps(out + i)));
    for (; i < n; i++) out[i] += p * half_to_float(v[i]);
}
#endif

/* ---- attention of one head over the cache ---- */

static float dot_any(const float *a, const float *b, size_t n) {
#if defined(__x86_64__)
    if (use_fast()) return dot_f32_fast(a, b, n);
#endif
    return dot_f32(a, b, n);
}

static void axpy_any(float p, const float *v, float *out, size_t n) {
#if defined(__x86_64__)
    if (use_fast()) { axpy_f32_fast(p, v, out, n); return; }
#endif
    for (size_t d = 0; d < n; d++) out[d] += p * v[d];
}

/* Position t's row (keys or values) as floats: the cache's own row for F32, else converted into buf. */
static const float *cache_row(const void *base, int f16, size_t pos_stride, size_t t, size_t hd, float *buf) {
    if (!f16) return (const float *)base + t * pos_stride;
    btk_f16_to_f32((const uint16_t *)base + t * pos_stride, buf, hd);
    return buf;
}

/* Softmax of each of `heads` rows of n scores, in place: the scores become the weights p. */
static void softmax_rows(float *scores, size_t heads, size_t n) {
    for (size_t h = 0; h < heads; h++) {
        float *sh = scores + h * n, m = -INFINITY;
        for (size_t t = 0; t < n; t++) m = sh[t] > m ? sh[t] : m;
        for (size_t t = 0; t < n; t++) sh[t] = btk_exp_approx(sh[t] - m); /* vectorized */
        float sum = 0;
        for (size_t t = 0; t < n; t++) sum += sh[t];
        float inv = 1.0f / sum;
        for (size_t t = 0; t < n; t++) sh[t] *= inv;
    }
}

#if defined(__x86_64__)
/* The fast attention of up to 4 heads of a GQA group, one pass over the cache for all of them: each key
   and value row is loaded (and converted from F16) once, in registers, for every head, where the general
   path converts it into a buffer and calls one dot or axpy per head and position (on the 2B4T shapes this
   took attention from ~6% to ~3% of prefill time). Bit for bit the general path: each head's score is summed as
   dot_f32_fast sums (two accumulators over alternate 8-lane steps, then hsum), and each output lane
   takes one fma per position in position order, as axpy_f32_fast does. Needs hd % 16 == 0. */
FAST_INLINE __m256 cache_load(const void *row, int f16, size_t i) {
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)))
               : _mm256_loadu_ps((const float *)row + i);
}

/* Cache rows are requested ahead: the weights streamed between two tokens' attention evict the cache, so
   its rows come from DRAM, one short strided row at a time. The score pass fetches the key row AHEAD
   positions on; the value pass works in blocks of VBLOCK positions and fetches the next block's rows. */
enum { AHEAD = 4, VBLOCK = 32 };
FAST_INLINE void prefetch_row(const uint8_t *row, size_t bytes) {
    for (size_t b = 0; b < bytes; b += 64) _mm_prefetch((const char *)(row + b), _MM_HINT_T0);
}

FAST_INLINE void attend_scores(const void *keys, int f16, size_t pos_stride, size_t n_pos,
                               const float *q, size_t H, size_t n_stride, size_t hd, float scale, float *scores) {
    const size_t esize = f16 ? 2 : 4;
    for (size_t t = 0; t < AHEAD && t < n_pos; t++) prefetch_row((const uint8_t *)keys + t * pos_stride * esize, hd * esize);
    for (size_t t = 0; t < n_pos; t++) {
        const void *k = (const uint8_t *)keys + t * pos_stride * esize;
        if (t + AHEAD < n_pos) prefetch_row((const uint8_t *)k + AHEAD * pos_stride * esize, hd * esize);
        __m256 s0[4], s1[4];
        for (size_t h = 0; h < H; h++) s0[h] = s1[h] = _mm256_setzero_ps();
        for (size_t i = 0; i < hd; i += 16) {
            __m256 k0 = cache_load(k, f16, i), k1 = cache_load(k, f16, i + 8);
            for (size_t h = 0; h < H; h++) {
                s0[h] = _mm256_fmadd_ps(k0, _mm256_loadu_ps(q + h * hd + i), s0[h]);
                s1[h] = _mm256_fmadd_ps(k1, _mm256_loadu_ps(q + h * hd + i + 8), s1[h]);
            }
        }
        for (size_t h = 0; h < H; h++) scores[h * n_stride + t] = hsum(_mm256_add_ps(s0[h], s1[h])) * scale;
    }
}

FAST_INLINE void attend_values(const void *values, int f16, size_t pos_stride, size_t n_pos, const float *p,
                               size_t H, size_t n_stride, size_t hd, float *out) {
    const size_t esize = f16 ? 2 : 4, row = pos_stride * esize;
    for (size_t t = 0; t < VBLOCK && t < n_pos; t++) prefetch_row((const uint8_t *)values + t * row, hd * esize);
    /* Positions in blocks whose rows stay in L1 while every 8-lane column of them is summed; the next
       block's rows are requested at the start of each block. The output lanes are the accumulators
       between blocks, so each still takes its fmas in position order. */
    for (size_t t0 = 0; t0 < n_pos; t0 += VBLOCK) {
        size_t t1 = n_pos - t0 < VBLOCK ? n_pos : t0 + VBLOCK;
        for (size_t t = t1; t < t1 + VBLOCK && t < n_pos; t++) prefetch_row((const uint8_t *)values + t * row, hd * esize);
        for (size_t d = 0; d < hd; d += 8) {
            __m256 acc[4];
            for (size_t h = 0; h < H; h++) acc[h] = t0 ? _mm256_loadu_ps(out + h * hd + d) : _mm256_setzero_ps();
            for (size_t t = t0; t < t1; t++) {
                __m256 v = cache_load((const uint8_t *)values + t * row, f16, d);
                for (size_t h = 0; h < H; h++) acc[h] = _mm256_fmadd_ps(_mm256_set1_ps(p[h * n_stride + t]), v, acc[h]);
            }
            for (size_t h = 0; h < H; h++) _mm256_storeu_ps(out + h * hd + d, acc[h]);
        }
    }
}

/* One instance per group width, so the per-head accumulators are registers. */
#define ATTEND_WIDTH(H)                                                                                  \
    FAST_FN void attend_scores##H(const void *k, int f16, size_t ps, size_t n, const float *q, size_t ns,    \
                                  size_t hd, float scale, float *scores) {                                 \
        attend_scores(k, f16, ps, n, q, H, ns, hd, scale, scores);                                        \
    }                                                                                                      \
    FAST_FN void attend_values##H(const void *v, int f16, size_t ps, size_t n, const float *p, size_t ns,    \
                                  size_t hd, float *out) {                                                 \
        attend_values(v, f16, ps, n, p, H, ns, hd, out);                                                  \
    }
ATTEND_WIDTH(1)
ATTEND_WIDTH(2)
ATTEND_WIDTH(3)
ATTEND_WIDTH(4)

typedef void (*attend_scores_fn)(const void *, int, size_t, size_t, const float *, size_t, size_t, float, float *);
typedef void (*attend_values_fn)(const void *, int, size_t, size_t, const float *, size_t, size_t, float *);
static const attend_scores_fn attend_scores_of[5] = {NULL, attend_scores1, attend_scores2, attend_scores3, attend_scores4};
static const attend_values_fn attend_values_of[5] = {NULL, attend_values1, attend_values2, attend_values3, attend_values4};
#endif

void btk_attend(const void *keys, const void *values, int f16, size_t pos_stride, size_t n_pos,
                const float *q, size_t heads, size_t hd, float scale, float *scores, float *out) {
#if defined(__x86_64__)
    if (use_fast() && hd % 16 == 0) {
        for (size_t h0 = 0; h0 < heads; h0 += 4) {
            size_t w = heads - h0 < 4 ? heads - h0 : 4;
            attend_scores_of[w](keys, f16, pos_stride, n_pos, q + h0 * hd, n_pos, hd, scale, scores + h0 * n_pos);
        }
        softmax_rows(scores, heads, n_pos);
        for (size_t h0 = 0; h0 < heads; h0 += 4) {
            size_t w = heads - h0 < 4 ? heads - h0 : 4;
            attend_values_of[w](values, f16, pos_stride, n_pos, scores + h0 * n_pos, n_pos, hd, out + h0 * hd);
        }
        return;
    }
#endif
    /* The heads of a GQA group read the same keys and values: each F16 row is converted once for all of
       them (the products are those of a per-head loop: converting first is exact, and the dot and axpy
       kernels sum in the same order either way). Heads wider than the buffer take the F16 kernels. */
    enum { ROW = 256 };
    float buf[ROW];
    if (f16 && hd > ROW) {
        for (size_t h = 0; h < heads; h++) {
            const float *qh = q + h * hd;
            float *sh = scores + h * n_pos;
            for (size_t t = 0; t < n_pos; t++) {
                const uint16_t *k = (const uint16_t *)keys + t * pos_stride;
#if defined(__x86_64__)
                sh[t] = (use_fast() ? dot_f16_fast(k, qh, hd) : dot_f16(k, qh, hd)) * scale;
#else
                sh[t] = dot_f16(k, qh, hd) * scale;
#endif
            }
        }
    } else {
        for (size_t t = 0; t < n_pos; t++) {
            const float *k = cache_row(keys, f16, pos_stride, t, hd, buf);
            for (size_t h = 0; h < heads; h++) scores[h * n_pos + t] = dot_any(k, q + h * hd, hd) * scale;
        }
    }
    softmax_rows(scores, heads, n_pos);
    memset(out, 0, heads * hd * sizeof(float));
    if (f16 && hd > ROW) {
        for (size_t h = 0; h < heads; h++)
            for (size_t t = 0; t < n_pos; t++) {
                const uint16_t *v = (const uint16_t *)values + t * pos_stride;
                float p = scores[h * n_pos + t], *oh = out + h * hd;
#if defined(__x86_64__)
                if (use_fast()) { axpy_f16_fast(p, v, oh, hd); continue; }
#endif
                for (size_t d = 0; d < hd; d++) oh[d] += p * half_to_float(v[d]);
            }
        return;
    }
    for (size_t t = 0; t < n_pos; t++) {
        const float *v = cache_row(values, f16, pos_stride, t, hd, buf);
        for (size_t h = 0; h < heads; h++) axpy_any(scores[h * n_pos + t], v, out + h * hd, hd);
    }
}
