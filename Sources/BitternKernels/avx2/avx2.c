/* AVX2 ternary backend.
 *
 * Packed layout: each row is a run of 32-byte blocks, one block per 128 weights. Weights are stored as
 * unsigned codes c = t + 1 in {0,1,2}; in block b, byte p (0..31) holds
 *     c[128b + p] | c[128b + 32 + p] << 2 | c[128b + 64 + p] << 4 | c[128b + 96 + p] << 6
 * so one 32-byte load and three 16-bit shifts plus masks give four vectors of 32 consecutive codes.
 * Codes past `cols` are 0. Rows are ceil(cols / 128) blocks long (row stride a multiple of 32 bytes).
 * When round_up(cols, 64) is an odd number of 64s, the last block is a half block: only its low two
 * bit planes are used, because q may not be read past round_up(cols, 64).
 *
 * Arithmetic: vpmaddubsw(codes, q) gives int16 pair sums c0*q0 + c1*q1 with |.| <= 2*2*128 = 512, so a
 * block adds at most 4*512 = 2048 per int16 lane; int16 accumulators are widened to int32 (vpmaddwd
 * with ones) every WIDEN_BLOCKS blocks, well before 32767. The exact result is sum(c*q) - sum_q; padded
 * weights have code 0 and padded activations are 0, so neither contributes.
 *
 * Every function that uses AVX2 carries target("avx2"): the file is built without -m flags (gcc and
 * clang accept the same attribute), and the registry only selects this backend on AVX2 CPUs.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "../include/bittern_kernels.h"

#define AVX2_FN static __attribute__((target("avx2")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2")))

enum {
    BLOCK_WEIGHTS = 128,
    BLOCK_BYTES = 32,
    WIDEN_BLOCKS = 8,      /* 8 * 2048 = 16384 < 32767: int16 lanes cannot overflow between widenings */
    GEMV_ROWS = 4,         /* GEMV rows per tile: each activation vector is loaded once for 4 rows */
    GEMM_ROWS = 2,         /* GEMM register tile: 2 rows x 4 tokens = 8 int16 accumulators */
    GEMM_TOKENS = 4,
    GEMM_K_BLOCKS = 16,    /* K chunk of 2048 weights: 4 tokens x 2 KB of activations stay in L1 */
    MAX_TILE = 8,
};

/* ---- layout ---- */

static size_t full_blocks(size_t cols) { return (cols + 63) / 64 / 2; }
static int has_half_block(size_t cols) { return ((cols + 63) / 64) & 1; }
static size_t row_stride(size_t cols) { return (full_blocks(cols) + (size_t)has_half_block(cols)) * BLOCK_BYTES; }

static size_t avx2_packed_size(const int8_t *trits, size_t rows, size_t cols) {
    (void)trits;
    size_t stride = row_stride(cols);
    if (rows == 0 || cols == 0 || stride > SIZE_MAX / rows) return 0;
    return rows * stride;
}

static int32_t avx2_pack(const int8_t *trits, size_t rows, size_t cols, void *dst, size_t dst_size) {
    size_t stride = row_stride(cols);
    if (rows == 0 || cols == 0 || dst_size < rows * stride) return 1;
    uint8_t *out = (uint8_t *)dst;
    memset(out, 0, rows * stride);
    for (size_t r = 0; r < rows; r++) {
        const int8_t *src = trits + r * cols;
        uint8_t *row = out + r * stride;
        for (size_t j = 0; j < cols; j++) {
            int8_t t = src[j];
            if (t < -1 || t > 1) return 2;
            size_t b = j / BLOCK_WEIGHTS, k = j % BLOCK_WEIGHTS;
            row[b * BLOCK_BYTES + k % 32] |= (uint8_t)((t + 1) << (2 * (k / 32)));
        }
    }
    return 0;
}

/* ---- kernel ---- */

/* Sums of four int32 vectors: {sum a, sum b, sum c, sum d}. */
AVX2_INLINE __m128i hsum4(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* Codes of bit plane i (weights 32i .. 32i+31 of the block). */
AVX2_INLINE __m256i plane(__m256i w, int i, __m256i mask3) {
    return _mm256_and_si256(i ? _mm256_srli_epi16(w, 2 * i) : w, mask3);
}

/* One block (planes 0..nplanes-1) for an R x T tile: acc[r][t] += codes(r) . q(t). */
AVX2_INLINE void tile_block(const uint8_t *w, size_t wstride, const int8_t *q, size_t qstride, int R, int T,
                            int nplanes, __m256i acc[][MAX_TILE], __m256i mask3) {
    __m256i wv[MAX_TILE];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) wv[r] = _mm256_loadu_si256((const __m256i *)(w + r * wstride));
#pragma GCC unroll 4
    for (int i = 0; i < nplanes; i++) {
        __m256i c[MAX_TILE];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) c[r] = plane(wv[r], i, mask3);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(q + t * qstride + 32 * i));
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) acc[r][t] = _mm256_add_epi16(acc[r][t], _mm256_maddubs_epi16(c[r], qv));
        }
    }
}

/* res[r * T + t] = sum over blocks [b0, b1) (plus the half block at b1 when `half`) of codes(row r) . q(token t).
   w points at block 0 of the first row; q at element 0 of the first token. */
AVX2_INLINE void tile(const uint8_t *w, size_t wstride, const int8_t *q, size_t qstride, int R, int T,
                      size_t b0, size_t b1, int half, int32_t *res) {
    const __m256i mask3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    __m256i acc[MAX_TILE][MAX_TILE], acc32[MAX_TILE][MAX_TILE];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) acc32[r][t] = _mm256_setzero_si256();
    size_t b = b0;
    while (b < b1 || half) {
        size_t end = b1 - b > WIDEN_BLOCKS ? b + WIDEN_BLOCKS : b1;
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_si256();
        for (; b < end; b++)
            tile_block(w + b * BLOCK_BYTES, wstride, q + b * BLOCK_WEIGHTS, qstride, R, T, 4, acc, mask3);
        if (b == b1 && half) {
            tile_block(w + b * BLOCK_BYTES, wstride, q + b * BLOCK_WEIGHTS, qstride, R, T, 2, acc, mask3);
            half = 0;
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                acc32[r][t] = _mm256_add_epi32(acc32[r][t], _mm256_madd_epi16(acc[r][t], ones));
    }
    /* reduce the R*T accumulators four at a time */
    __m256i *flat[MAX_TILE * MAX_TILE];
    int n = 0;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) flat[n++] = &acc32[r][t];
    const __m256i z = _mm256_setzero_si256();
#pragma GCC unroll 16
    for (int i = 0; i < n; i += 4) {
        __m128i s = hsum4(*flat[i], i + 1 < n ? *flat[i + 1] : z, i + 2 < n ? *flat[i + 2] : z,
                          i + 3 < n ? *flat[i + 3] : z);
        int32_t tmp[4];
        _mm_storeu_si128((__m128i *)tmp, s);
        for (int k = 0; k < 4 && i + k < n; k++) res[i + k] = tmp[k];
    }
}

/* Instantiations (constant R, T so the tile lives in registers). */
#define TILE_FN(R, T)                                                                                        \
    AVX2_FN void tile_##R##x##T(const uint8_t *w, size_t ws, const int8_t *q, size_t qs, size_t b0, size_t b1, \
                                int half, int32_t *res) {                                                   \
        tile(w, ws, q, qs, R, T, b0, b1, half, res);                                                         \
    }
TILE_FN(2, 4)
TILE_FN(1, 4)

/* ---- GEMV ----
   Without token reuse the decode dominates, so GEMV uses a cheaper one: planes 0 and 1 are masked in
   place (w & 3, w & 12) and planes 2 and 3 after a single 4-bit shift. Planes 1 and 3 are thus codes
   times 4 (pair sums up to 2048); they go to their own int16 accumulator `hi`, which is exactly divisible
   by 4 and is scaled back with an arithmetic shift before widening. One shift, four ands, four
   vpmaddubsw and four adds per 128 weights. */
enum { GEMV_WIDEN = 7 }; /* hi gains at most 2 * 2048 per block: 7 * 4096 = 28672 < 32767 */

AVX2_INLINE void gemv_block(const uint8_t *w, const int8_t *q, int nplanes, __m256i *lo, __m256i *hi,
                            __m256i m3, __m256i m12) {
    __m256i wv = _mm256_loadu_si256((const __m256i *)w);
    __m256i q0 = _mm256_loadu_si256((const __m256i *)q), q1 = _mm256_loadu_si256((const __m256i *)(q + 32));
    __m256i l = _mm256_maddubs_epi16(_mm256_and_si256(wv, m3), q0);
    __m256i h = _mm256_maddubs_epi16(_mm256_and_si256(wv, m12), q1);
    if (nplanes == 4) {
        __m256i q2 = _mm256_loadu_si256((const __m256i *)(q + 64)), q3 = _mm256_loadu_si256((const __m256i *)(q + 96));
        __m256i ws = _mm256_srli_epi16(wv, 4);
        l = _mm256_add_epi16(l, _mm256_maddubs_epi16(_mm256_and_si256(ws, m3), q2));
        h = _mm256_add_epi16(h, _mm256_maddubs_epi16(_mm256_and_si256(ws, m12), q3));
    }
    *lo = _mm256_add_epi16(*lo, l);
    *hi = _mm256_add_epi16(*hi, h);
}

/* res[r] = codes(row r) . q for R rows (row stride `ws`) over nfull full blocks plus an optional half block. */
AVX2_INLINE void gemv_tile(const uint8_t *w, size_t ws, const int8_t *q, size_t nfull, int half, int R,
                           int32_t *res) {
    const __m256i m3 = _mm256_set1_epi8(3), m12 = _mm256_set1_epi8(12), ones = _mm256_set1_epi16(1);
    __m256i acc[GEMV_ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_si256();
    size_t b = 0;
    while (b < nfull || half) {
        size_t end = nfull - b > GEMV_WIDEN ? b + GEMV_WIDEN : nfull;
        __m256i lo[GEMV_ROWS], hi[GEMV_ROWS];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) lo[r] = hi[r] = _mm256_setzero_si256();
        for (; b < end; b++)
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                gemv_block(w + r * ws + b * BLOCK_BYTES, q + b * BLOCK_WEIGHTS, 4, &lo[r], &hi[r], m3, m12);
        if (b == nfull && half) {
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                gemv_block(w + r * ws + b * BLOCK_BYTES, q + b * BLOCK_WEIGHTS, 2, &lo[r], &hi[r], m3, m12);
            half = 0;
        }
        /* |lo + hi/4| <= 7 * 2048 fits int16; widen to int32 */
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(_mm256_add_epi16(lo[r], _mm256_srai_epi16(hi[r], 2)), ones));
    }
    const __m256i z = _mm256_setzero_si256();
    __m128i s = hsum4(acc[0], R > 1 ? acc[1] : z, R > 2 ? acc[2] : z, R > 3 ? acc[3] : z);
    int32_t tmp[4];
    _mm_storeu_si128((__m128i *)tmp, s);
    for (int r = 0; r < R; r++) res[r] = tmp[r];
}

AVX2_FN void gemv_tile4(const uint8_t *w, size_t ws, const int8_t *q, size_t nfull, int half, int32_t *res) {
    gemv_tile(w, ws, q, nfull, half, 4, res);
}
AVX2_FN void gemv_tile1(const uint8_t *w, size_t ws, const int8_t *q, size_t nfull, int half, int32_t *res) {
    gemv_tile(w, ws, q, nfull, half, 1, res);
}

/* GEMV over rows [row_begin, row_end) for one token, whole K. */
static void gemv_rows(const uint8_t *w, size_t stride, size_t nfull, int half, size_t row_begin, size_t row_end,
                      const int8_t *q, int32_t sum_q, int32_t *out) {
    int32_t res[GEMV_ROWS];
    size_t r = row_begin;
    for (; r + GEMV_ROWS <= row_end; r += GEMV_ROWS) {
        gemv_tile4(w + r * stride, stride, q, nfull, half, res);
        for (int k = 0; k < GEMV_ROWS; k++) out[r - row_begin + k] = res[k] - sum_q;
    }
    for (; r < row_end; r++) {
        gemv_tile1(w + r * stride, stride, q, nfull, half, res);
        out[r - row_begin] = res[0] - sum_q;
    }
}

static void avx2_gemv(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                      const int8_t *q, int32_t sum_q, int32_t *out, const void *scratch) {
    (void)rows; (void)scratch;
    gemv_rows((const uint8_t *)packed, row_stride(cols), full_blocks(cols), has_half_block(cols), row_begin,
              row_end, q, sum_q, out);
}

/* GEMM: groups of 4 tokens; K in chunks so the group's activations stay in L1 while all rows stream by;
   each chunk's int32 partial sums are added into out. Leftover tokens go through GEMV. */
static void avx2_gemm(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                      const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t n,
                      int32_t *out, size_t out_stride, const void *scratch) {
    (void)rows; (void)scratch;
    const uint8_t *w = (const uint8_t *)packed;
    size_t stride = row_stride(cols), nfull = full_blocks(cols);
    int half = has_half_block(cols);
    size_t k = 0;
    for (; k + GEMM_TOKENS <= n; k += GEMM_TOKENS) {
        const int8_t *qk = q + k * q_stride;
        int32_t *ok = out + k * out_stride;
        size_t b0 = 0;
        do {
            size_t b1 = nfull - b0 > GEMM_K_BLOCKS ? b0 + GEMM_K_BLOCKS : nfull;
            int h = b1 == nfull && half, first = b0 == 0;
            int32_t res[GEMM_ROWS * GEMM_TOKENS];
            size_t r = row_begin;
            for (; r < row_end; r += GEMM_ROWS) {
                size_t nr = row_end - r >= GEMM_ROWS ? GEMM_ROWS : 1;
                if (nr == GEMM_ROWS) tile_2x4(w + r * stride, stride, qk, q_stride, b0, b1, h, res);
                else tile_1x4(w + r * stride, stride, qk, q_stride, b0, b1, h, res);
                for (size_t i = 0; i < nr; i++)
                    for (size_t t = 0; t < GEMM_TOKENS; t++) {
                        int32_t *o = ok + t * out_stride + (r + i - row_begin);
                        int32_t v = res[i * GEMM_TOKENS + t];
                        *o = first ? v - sum_q[k + t] : *o + v;
                    }
                if (nr == 1) break;
            }
            b0 = b1;
        } while (b0 < nfull);
    }
    for (; k < n; k++)
        gemv_rows(w, stride, nfull, half, row_begin, row_end, q + k * q_stride, sum_q[k], out + k * out_stride);
}

const bittern_kernel_backend btk_backend_avx2 = {
    .abi_version = BITTERN_KERNEL_ABI_VERSION,
    .struct_size = sizeof(bittern_kernel_backend),
    .name = "avx2",
    .description = "AVX2 2-bit codes, vpmaddubsw with int16 accumulators widened to int32",
    .required_features = BITTERN_CPU_AVX2,
    .priority = 20,
    .flags = 0,
    .packed_size = avx2_packed_size,
    .pack = avx2_pack,
    .scratch_size = NULL,
    .prepare = NULL,
    .gemv = avx2_gemv,
    .gemm = avx2_gemm,
};
#endif
