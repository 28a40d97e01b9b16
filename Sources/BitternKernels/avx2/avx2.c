/* AVX2 ternary backend.
 *
 * Packed layout: each row is a run of 32-byte blocks, one block per 128 weights. Weights are stored as
 * unsigned codes c = t + 1 in {0,1,2}; in block b, byte p (0..31) holds
 *     c[128b + p] | c[128b + 32 + p] << 2 | c[128b + 64 + p] << 4 | c[128b + 96 + p] << 6
 * so one 32-byte load plus shifts and masks gives four "planes" of 32 consecutive codes, each lined up
 * with one 32-byte vector of activations. Codes past `cols` are 0. A row is ceil(cols / 128) blocks
 * (row stride a multiple of 32 bytes). When round_up(cols, 64) is an odd number of 64s the last block is
 * a half block: only planes 0 and 1 are used, because q may not be read past round_up(cols, 64).
 *
 * Rows are interleaved in groups of four: group g (rows 4g .. 4g+3) occupies 4 row strides from 4g *
 * stride, block b of all four rows side by side (row i of the group at 128b + 32i). The 4-row GEMV tile
 * then reads one linear stream, as a plain memory read does, which the hardware prefetchers follow at
 * full speed (four separate rows per tile were four short streams). A last group of m < 4 rows
 * interleaves those m rows the same way (block b at 32mb).
 *
 * Arithmetic: vpmaddubsw(codes, q) gives int16 pair sums c0*q0 + c1*q1 with |.| <= 2*2*128 = 512, so
 * int16 accumulators are widened to int32 (vpmaddwd with ones) before they can reach 32767. The exact
 * result is sum(c*q) - sum_q; padded weights have code 0 and padded activations are 0, so neither
 * contributes.
 *
 * Every function that uses AVX2 carries target("avx2"): the file is built without -m flags (gcc and
 * clang accept the same attribute), and the registry only selects this backend on AVX2 CPUs.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "../include/bittern_kernels.h"
#include "avx2_codes.h"

#define AVX2_FN static __attribute__((target("avx2")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2")))

enum {
    BLOCK_WEIGHTS = 128,
    BLOCK_BYTES = 32,
    GEMV_ROWS = 4,       /* GEMV tile: each activation vector is loaded once for 4 rows */
    GEMV_WIDEN = 7,      /* GEMV "hi" lanes gain <= 2 * 2048 per block: 7 * 4096 = 28672 < 32767 */
    GEMV_PREFETCH = 12288, /* GEMV prefetch distance (bytes): measured best of 2-24 KB from DRAM; fits L1 with q */
    GEMM_TOKENS = 8,     /* GEMM tile: one row x 8 tokens, 8 int16 accumulators; codes decoded once */
    GEMM_WIDEN = 8,      /* GEMM lanes gain <= 4 * 512 per block: 8 * 2048 = 16384 < 32767 */
    GEMM_K_BLOCKS = 24,  /* K chunk <= 3072 weights: 8 tokens x 3 KB of activations stay in L1 */
    GEMM_PANEL = 128,    /* rows per panel: its chunk of weights (<= 96 KB) stays in L2 for all tokens */
};

/* ---- layout ---- */

static size_t full_blocks(size_t cols) { return (cols + 63) / 64 / 2; }
static int has_half_block(size_t cols) { return ((cols + 63) / 64) & 1; }
static size_t row_stride(size_t cols) { return (full_blocks(cols) + (size_t)has_half_block(cols)) * BLOCK_BYTES; }

/* Row r's block 0 in the interleaved layout, and the step from one of its blocks to the next. */
static inline const uint8_t *row_start(const uint8_t *w, size_t rows, size_t stride, size_t r, size_t *block_step) {
    size_t g0 = r & ~(size_t)3, m = rows - g0 < 4 ? rows - g0 : 4;
    *block_step = m * BLOCK_BYTES;
    return w + g0 * stride + (r - g0) * BLOCK_BYTES;
}

static size_t avx2_packed_size(const int8_t *trits, size_t rows, size_t cols) {
    (void)trits;
    size_t stride = row_stride(cols);
    if (rows == 0 || cols == 0 || stride > SIZE_MAX / rows) return 0;
    return rows * stride;
}

static int32_t avx2_pack(const int8_t *trits, size_t rows, size_t cols, void *dst, size_t dst_size) {
    size_t stride = row_stride(cols), size = avx2_packed_size(trits, rows, cols);
    if (size == 0 || dst_size < size) return 1;
    uint8_t *out = (uint8_t *)dst;
    memset(out, 0, size);
    for (size_t r = 0; r < rows; r++) {
        const int8_t *src = trits + r * cols;
        size_t step;
        uint8_t *row = out + (row_start(out, rows, stride, r, &step) - out);
        /* Loops written so the compiler vectorizes them (this is plain C, built without -m flags): a
           range check over the row, whole 128-weight blocks byte by byte, then the tail weight by weight. */
        int bad = 0;
        for (size_t j = 0; j < cols; j++) bad |= (uint8_t)(src[j] + 1) > 2;
        if (bad) return 2;
        size_t full = cols / BLOCK_WEIGHTS;
        for (size_t b = 0; b < full; b++) {
            const int8_t *s = src + b * BLOCK_WEIGHTS;
            uint8_t *o = row + b * step;
            for (size_t p = 0; p < 32; p++)
                o[p] = (uint8_t)((uint8_t)(s[p] + 1) | (uint8_t)(s[32 + p] + 1) << 2 |
                                 (uint8_t)(s[64 + p] + 1) << 4 | (uint8_t)(s[96 + p] + 1) << 6);
        }
        for (size_t j = full * BLOCK_WEIGHTS; j < cols; j++) {
            size_t b = j / BLOCK_WEIGHTS, k = j % BLOCK_WEIGHTS;
            row[b * step + k % 32] |= (uint8_t)((src[j] + 1) << (2 * (k / 32)));
        }
    }
    return 0;
}

/* ---- shared helpers ---- */

/* {sum a, sum b, sum c, sum d} of four int32 vectors. */
AVX2_INLINE __m128i hsum4(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* ---- GEMV ----
   The block arithmetic is avx2_gemv_codes (avx2_codes.h). */

AVX2_INLINE void gemv_block(const uint8_t *w, const int8_t *q, int nplanes, __m256i *lo, __m256i *hi,
                            __m256i m3, __m256i m12) {
    avx2_gemv_codes(_mm256_loadu_si256((const __m256i *)w), q, nplanes, lo, hi, m3, m12);
}

/* Prefetch stream for GEMV. A thread's whole groups of rows are one linear run of bytes, which a 4-row
   tile consumes at 128 bytes per block step; a software stream runs GEMV_PREFETCH bytes ahead of the tile
   into L2 and advances exactly as fast (two cache lines per step), so the next matrix's first lines are not
   late even when one call's range is short. It goes on GEMV_PREFETCH bytes past the range (see
   gemv_rows), never past the matrix. */
typedef struct {
    const uint8_t *next, *end;
} prefetch_stream;

AVX2_INLINE void prefetch_step(prefetch_stream *pf) {
    if (pf->next < pf->end) {
        _mm_prefetch((const char *)pf->next, _MM_HINT_T1);
        _mm_prefetch((const char *)pf->next + 64, _MM_HINT_T1);
        pf->next += 128;
    }
}

/* res[r] = codes(row r) . q for R rows over nfull full blocks plus an optional half block: row r's block b
   at w + 32r + b * bstep (R rows of one interleaved group). `pf` (or NULL) is advanced by one step per block
   step; only 4-row tiles pass one (they consume 128 contiguous bytes per step). */
AVX2_INLINE void gemv_tile(const uint8_t *w, size_t bstep, const int8_t *q, size_t nfull, int half, int R,
                           prefetch_stream *pf, int32_t *res) {
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
        for (; b < end; b++) {
            if (pf) prefetch_step(pf);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                gemv_block(w + r * BLOCK_BYTES + b * bstep, q + b * BLOCK_WEIGHTS, 4, &lo[r], &hi[r], m3, m12);
        }
        if (b == nfull && half) { /* a half block still occupies 32 bytes of each row */
            if (pf) prefetch_step(pf);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                gemv_block(w + r * BLOCK_BYTES + b * bstep, q + b * BLOCK_WEIGHTS, 2, &lo[r], &hi[r], m3, m12);
            half = 0;
        }
        /* lo <= 7 * 1024 + 512 and hi / 4 <= (7 * 4096 + 2048) / 4: the sum fits int16; widen to int32 */
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

/* One row alone (rows outside whole groups of four: a range's ragged ends, a last short group). */
AVX2_INLINE void gemv_row(const uint8_t *w, size_t rows, size_t stride, size_t nfull, int half, size_t r,
                          const int8_t *q, int32_t *res) {
    size_t step;
    const uint8_t *p = row_start(w, rows, stride, r, &step);
    gemv_tile(p, step, q, nfull, half, 1, NULL, res);
}

/* GEMV over rows [row_begin, row_end) for one token, whole K. One AVX2 function for the whole range so the
   tiles are inlined and a tile's final reduction overlaps the next tile's loads. Whole groups of four rows
   are 4-row tiles over one contiguous run of bytes, read ahead by the prefetch stream. */
AVX2_FN void gemv_rows(const uint8_t *w, size_t rows, size_t stride, size_t nfull, int half, size_t row_begin,
                       size_t row_end, const int8_t *q, int32_t sum_q, int32_t *out) {
    int32_t res[GEMV_ROWS];
    size_t g_begin = (row_begin + 3) & ~(size_t)3, g_end = row_end & ~(size_t)3;
    if (g_begin > g_end) g_begin = g_end = row_end; /* no whole group inside the range */
    size_t r = row_begin;
    for (; r < g_begin; r++) {
        gemv_row(w, rows, stride, nfull, half, r, q, res);
        out[r - row_begin] = res[0] - sum_q;
    }
    const uint8_t *begin = w + g_begin * stride, *end = w + g_end * stride;
    const uint8_t *groups_end = w + (rows & ~(size_t)3) * stride;
    /* Start the stream GEMV_PREFETCH bytes in, requesting the gap at once: every call starts cold (the
       caller multiplies a different matrix each time), and a burst of independent misses gets DRAM going.
       The stream runs on past the range, up to GEMV_PREFETCH bytes into the rows that follow: a caller
       that computes its rows as several consecutive ranges then streams them without a cold start at
       each one (at the end of a thread's rows, at most that many bytes of another's are fetched early). */
    const uint8_t *pf_end = (size_t)(groups_end - end) > GEMV_PREFETCH ? end + GEMV_PREFETCH : groups_end;
    prefetch_stream pf = {(size_t)(end - begin) > GEMV_PREFETCH ? begin + GEMV_PREFETCH : end, pf_end};
    for (const uint8_t *p = begin; p < pf.next; p += 64) _mm_prefetch((const char *)p, _MM_HINT_T1);
    for (; r < g_end; r += GEMV_ROWS) {
        gemv_tile(w + r * stride, GEMV_ROWS * BLOCK_BYTES, q, nfull, half, GEMV_ROWS, &pf, res);
        for (int k = 0; k < GEMV_ROWS; k++) out[r - row_begin + k] = res[k] - sum_q;
    }
    for (; r < row_end; r++) {
        gemv_row(w, rows, stride, nfull, half, r, q, res);
        out[r - row_begin] = res[0] - sum_q;
    }
}

static void avx2_gemv(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                      const int8_t *q, int32_t sum_q, int32_t *out, const void *scratch) {
    (void)scratch;
    gemv_rows((const uint8_t *)packed, rows, row_stride(cols), full_blocks(cols), has_half_block(cols), row_begin,
              row_end, q, sum_q, out);
}

/* ---- GEMM ----
   A tile is one row x T tokens: the row's codes are decoded once per block (4 planes in registers) and
   reused by every token, whose activations are vpmaddubsw memory operands. The caller blocks K and rows
   so the token group's activations stay in L1 and a panel of weights in L2. */

/* acc[t] += codes(block) . q(token t) for planes 0..nplanes-1 of one block. */
AVX2_INLINE void gemm_block(const uint8_t *w, const int8_t *q, size_t qstride, int T, int nplanes, __m256i *acc,
                            __m256i mask3) {
    avx2_gemm_codes(_mm256_loadu_si256((const __m256i *)w), q, qstride, T, nplanes, acc, mask3);
}

/* acc32[t] += madd(acc[t], 1); acc[t] = 0 */
AVX2_INLINE void gemm_widen(__m256i *acc32, __m256i *acc, int T) {
    const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        acc32[t] = _mm256_add_epi32(acc32[t], _mm256_madd_epi16(acc[t], ones));
        acc[t] = _mm256_setzero_si256();
    }
}

/* res[t] = codes(row) . q(token t) over blocks [b0, b1), plus the half block at b1 when `half`; the row's
   block b at w + b * bstep. The same blocks of the same row of the next group (`ahead` bytes on) are
   prefetched alongside: when K is split into chunks, a panel reads each group's chunk as a separate short
   run, which the hardware prefetchers do not follow, and every group would start with L2 (or, for the
   first token group, L3) misses. (After the last group this touches memory past the range, possibly past
   the buffer: prefetches are hints and never fault.) */
AVX2_INLINE void gemm_tile(const uint8_t *w, size_t bstep, size_t ahead, const int8_t *q, size_t qstride, int T,
                           size_t b0, size_t b1, int half, int32_t *res) {
    const __m256i mask3 = _mm256_set1_epi8(3);
    __m256i acc32[GEMM_TOKENS], acc[GEMM_TOKENS];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) acc32[t] = acc[t] = _mm256_setzero_si256();
    for (size_t b = b0; b < b1;) {
        size_t end = b1 - b > GEMM_WIDEN ? b + GEMM_WIDEN : b1;
        for (; b < end; b++) {
            _mm_prefetch((const char *)(w + ahead + b * bstep), _MM_HINT_T0);
            gemm_block(w + b * bstep, q + b * BLOCK_WEIGHTS, qstride, T, 4, acc, mask3);
        }
        gemm_widen(acc32, acc, T);
    }
    if (half) {
        gemm_block(w + b1 * bstep, q + b1 * BLOCK_WEIGHTS, qstride, T, 2, acc, mask3);
        gemm_widen(acc32, acc, T);
    }
    const __m256i z = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int t = 0; t < T; t += 4) {
        __m128i s = hsum4(acc32[t], t + 1 < T ? acc32[t + 1] : z, t + 2 < T ? acc32[t + 2] : z,
                          t + 3 < T ? acc32[t + 3] : z);
        _mm_storeu_si128((__m128i *)(res + t), s); /* T is a multiple of 4 */
    }
}

/* out[k][r] for tokens k in [k0, k0 + T), rows [row_begin, row_end), blocks [b0, b1) (+ half): stores on
   the first K chunk (subtracting sum_q), adds on later ones. */
AVX2_INLINE void gemm_group(const uint8_t *w, size_t rows, size_t stride, size_t row_begin, size_t p0, size_t p1,
                            const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t k0, int T, size_t b0,
                            size_t b1, int half, int32_t *out, size_t out_stride) {
    const int8_t *qk = q + k0 * q_stride;
    for (size_t r = p0; r < p1; r++) {
        int32_t res[GEMM_TOKENS];
        size_t step;
        const uint8_t *row = row_start(w, rows, stride, r, &step);
        gemm_tile(row, step, 4 * stride, qk, q_stride, T, b0, b1, half, res);
        int32_t *o = out + k0 * out_stride + (r - row_begin);
        for (int t = 0; t < T; t++)
            o[t * out_stride] = b0 == 0 ? res[t] - sum_q[k0 + t] : o[t * out_stride] + res[t];
    }
}

/* Instantiations with a constant token count, so the tile's accumulators live in registers. */
AVX2_FN void gemm_group8(const uint8_t *w, size_t rows, size_t stride, size_t row_begin, size_t p0, size_t p1,
                         const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t k0, size_t b0, size_t b1,
                         int half, int32_t *out, size_t out_stride) {
    gemm_group(w, rows, stride, row_begin, p0, p1, q, q_stride, sum_q, k0, 8, b0, b1, half, out, out_stride);
}
AVX2_FN void gemm_group4(const uint8_t *w, size_t rows, size_t stride, size_t row_begin, size_t p0, size_t p1,
                         const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t k0, size_t b0, size_t b1,
                         int half, int32_t *out, size_t out_stride) {
    gemm_group(w, rows, stride, row_begin, p0, p1, q, q_stride, sum_q, k0, 4, b0, b1, half, out, out_stride);
}

static void avx2_gemm(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                      const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t n,
                      int32_t *out, size_t out_stride, const void *scratch) {
    (void)scratch;
    const uint8_t *w = (const uint8_t *)packed;
    size_t stride = row_stride(cols), nfull = full_blocks(cols);
    int half = has_half_block(cols);
    size_t n8 = n / 8 * 8, n4 = n / 4 * 4;
    /* equal K chunks of at most GEMM_K_BLOCKS blocks */
    size_t nchunks = (nfull + GEMM_K_BLOCKS - 1) / GEMM_K_BLOCKS;
    size_t chunk = nchunks ? (nfull + nchunks - 1) / nchunks : 0;
    size_t b0 = 0;
    do { /* at least once: cols <= 64 has no full block, only a half one */
        size_t b1 = nfull - b0 > chunk ? b0 + chunk : nfull;
        int h = b1 == nfull && half;
        for (size_t p0 = row_begin; p0 < row_end; p0 += GEMM_PANEL) {
            size_t p1 = row_end - p0 > GEMM_PANEL ? p0 + GEMM_PANEL : row_end;
            for (size_t k = 0; k < n8; k += 8)
                gemm_group8(w, rows, stride, row_begin, p0, p1, q, q_stride, sum_q, k, b0, b1, h, out, out_stride);
            if (n4 > n8)
                gemm_group4(w, rows, stride, row_begin, p0, p1, q, q_stride, sum_q, n8, b0, b1, h, out, out_stride);
        }
        b0 = b1;
    } while (b0 < nfull);
    for (size_t k = n4; k < n; k++) /* the last 1-3 tokens */
        gemv_rows(w, rows, stride, nfull, half, row_begin, row_end, q + k * q_stride, sum_q[k], out + k * out_stride);
}

const bittern_kernel_backend btk_backend_avx2 = {
    .abi_version = BITTERN_KERNEL_ABI_VERSION,
    .struct_size = sizeof(bittern_kernel_backend),
    .name = "avx2",
    .description = "AVX2: 2-bit codes, vpmaddubsw into int16 widened to int32; rows interleaved in groups of 4 (4-row GEMV tiles read one linear stream), 1x8-token GEMM tiles",
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
