/* AVX-512 ternary backends: avx512_bw (vpmaddubsw, int16 sums widened to int32) and avx512_vnni
 * (vpdpbusd, int32 throughout). Both share one packed layout and the pack function.
 *
 * Packed layout: each row is a run of 64-byte blocks, one block per 256 weights. Weights are stored as
 * unsigned codes c = t + 1 in {0,1,2}; in block b, byte p (0..63) holds
 *     c[256b + p] | c[256b + 64 + p] << 2 | c[256b + 128 + p] << 4 | c[256b + 192 + p] << 6
 * so one 64-byte load yields four "planes" of 64 consecutive codes, each lined up with one 64-byte vector
 * of activations. Codes past `cols` are 0. A row is ceil(P / 4) blocks, P = ceil(cols / 64), so rows are
 * 64-byte aligned. Tails: q may only be read up to round_up(cols, 64) = 64 P bytes, so the last block is
 * partial when P % 4 != 0 and only its first P % 4 planes are used (no masked byte loads needed). The
 * exact result is sum(c*q) - sum_q: padded codes are 0 and padded activations are 0.
 *
 * Overflow bounds (|q| <= 128, c <= 2):
 *   bw GEMM: vpmaddubsw pair sums are >= -512 (no saturation); 4 planes add >= -2048 per block, so int16
 *            lanes are widened (vpmaddwd by 1) every 15 blocks: 15 * 2048 = 30720 < 32768.
 *   bw GEMV: planes 1 and 3 are used as c*4 (masked in place, one shift per block): their pair sums reach
 *            2048, two planes 4096 per block -> widened every 7 blocks (28672, plus a partial block 30720);
 *            that accumulator is exactly divisible by 4 and scaled back with an arithmetic shift.
 *   vnni:    vpdpbusd adds 4 products into int32 lanes. GEMV masks planes in place (no shifts at all), so
 *            plane i is c * 4^i (<= 128, still a valid u8): a lane gains <= 4*128*128 = 65536 per block,
 *            folded back (exactly, per lane) every 4096 blocks, far below 2^31.
 *   int32 totals are summed modulo 2^32 (vector adds wrap, final scalar ops use uint32), so the result is
 *   exact whenever the true dot product fits int32 -- the same domain as the scalar reference.
 *
 * One source for two builds: every intrinsic and vector type goes through X(). Natively X(mm512_add_epi32)
 * is _mm512_add_epi32 and the functions carry target attributes (no -m flags needed); with -DBTK_SIMDE
 * (tests only) it is simde_mm512_add_epi32, emulated on any CPU, so the kernel text under test is the text
 * that runs natively.
 */
#if defined(BTK_SIMDE)
#define SIMDE_NO_NATIVE /* clang clashes with SIMDe's native aliases; emulate everything */
#include <simde/x86/avx512.h>
#define X(name) simde_##name
#define BW_TARGET
#define VNNI_TARGET
#define FORCE_INLINE /* forced inlining of emulated bodies makes gcc take minutes */
#define BTK_AVX512_ENABLED 1
#elif defined(__x86_64__)
#include <immintrin.h>
#define X(name) _##name
#define BW_TARGET __attribute__((target("avx512f,avx512bw")))
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define FORCE_INLINE __attribute__((always_inline))
#define BTK_AVX512_ENABLED 1
#endif

#if defined(BTK_AVX512_ENABLED)
#include <string.h>
#include "../include/bittern_kernels.h"

typedef X(_m512i) v512;
typedef X(_m256i) v256;
typedef X(_m128i) v128;

#define BW_FN static BW_TARGET
#define BW_INLINE static inline FORCE_INLINE BW_TARGET
#define VNNI_FN static VNNI_TARGET
#define VNNI_INLINE static inline FORCE_INLINE VNNI_TARGET

#define LD(p) X(mm512_loadu_si512)((const void *)(p))

enum {
    BLOCK_WEIGHTS = 256,
    BLOCK_BYTES = 64,
    GEMV_ROWS = 4,        /* GEMV tile: each activation vector is loaded once for 4 rows */
    BW_GEMV_WIDEN = 7,    /* see bounds above */
    BW_GEMM_WIDEN = 15,
    VNNI_GEMV_FOLD = 4096,
    GEMM_TOKENS = 8,      /* GEMM tile: one row x 8 tokens; codes decoded once per block */
    GEMM_K_BLOCKS = 12,   /* K chunk <= 3072 weights: 8 tokens x 3 KB of activations stay in L1 */
    GEMM_PANEL = 128,     /* rows per panel: its chunk of weights (<= 96 KB) stays in L2 for all tokens */
};

/* ---- layout (shared) ---- */

static size_t nplanes64(size_t cols) { return (cols + 63) / 64; }
static size_t full_blocks(size_t cols) { return nplanes64(cols) / 4; }
static int tail_planes(size_t cols) { return (int)(nplanes64(cols) % 4); }
static size_t row_stride(size_t cols) { return (nplanes64(cols) + 3) / 4 * BLOCK_BYTES; }

static size_t avx512_packed_size(const int8_t *trits, size_t rows, size_t cols) {
    (void)trits;
    size_t stride = row_stride(cols);
    if (rows == 0 || cols == 0 || stride > SIZE_MAX / rows) return 0;
    return rows * stride;
}

static int32_t avx512_pack(const int8_t *trits, size_t rows, size_t cols, void *dst, size_t dst_size) {
    size_t stride = row_stride(cols), size = avx512_packed_size(trits, rows, cols);
    if (size == 0 || dst_size < size) return 1;
    uint8_t *out = (uint8_t *)dst;
    memset(out, 0, size);
    for (size_t r = 0; r < rows; r++) {
        const int8_t *src = trits + r * cols;
        uint8_t *row = out + r * stride;
        for (size_t j = 0; j < cols; j++) {
            int8_t t = src[j];
            if (t < -1 || t > 1) return 2;
            size_t b = j / BLOCK_WEIGHTS, k = j % BLOCK_WEIGHTS;
            row[b * BLOCK_BYTES + k % 64] |= (uint8_t)((t + 1) << (2 * (k / 64)));
        }
    }
    return 0;
}

/* ---- shared vector helpers ---- */

/* {sum a, sum b, sum c, sum d} of four int32 vectors (SIMDe 0.7.4 has no _mm512_reduce_add_epi32). */
BW_INLINE v128 hsum4(v512 a, v512 b, v512 c, v512 d) {
#define HALVES(v) X(mm256_add_epi32)(X(mm512_castsi512_si256)(v), X(mm512_extracti64x4_epi64)(v, 1))
    v256 s = X(mm256_hadd_epi32)(X(mm256_hadd_epi32)(HALVES(a), HALVES(b)), X(mm256_hadd_epi32)(HALVES(c), HALVES(d)));
#undef HALVES
    return X(mm_add_epi32)(X(mm256_castsi256_si128)(s), X(mm256_extracti128_si256)(s, 1));
}

/* Stores the sums of R (<= 4) accumulators to res. */
BW_INLINE void store_sums(const v512 *acc, int R, int32_t *res) {
    const v512 z = X(mm512_setzero_si512)();
    int32_t tmp[4];
    X(mm_storeu_si128)((v128 *)tmp, hsum4(acc[0], R > 1 ? acc[1] : z, R > 2 ? acc[2] : z, R > 3 ? acc[3] : z));
    for (int r = 0; r < R; r++) res[r] = tmp[r];
}

/* c[i] = codes of plane i (weights 64i .. 64i+63 of the block). Literal shift counts: SIMDe under clang
   rejects non-constant immediates. */
BW_INLINE void decode4(v512 w, v512 m3, v512 *c) {
    c[0] = X(mm512_and_si512)(w, m3);
    c[1] = X(mm512_and_si512)(X(mm512_srli_epi16)(w, 2), m3);
    c[2] = X(mm512_and_si512)(X(mm512_srli_epi16)(w, 4), m3);
    c[3] = X(mm512_and_si512)(X(mm512_srli_epi16)(w, 6), m3);
}

static int32_t wrap_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static int32_t wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

/* =====================================================================================================
   avx512_bw
   ===================================================================================================== */

/* GEMV: without token reuse the decode dominates, so planes 0/1 are masked in place (w & 3, w & 12) and
   planes 2/3 after one 4-bit shift; planes 1/3 (codes * 4) go to `hi`, scaled back before widening. */
BW_INLINE void bw_gemv_block(const uint8_t *w, const int8_t *q, int np, v512 *lo, v512 *hi, v512 m3, v512 m12) {
    v512 wv = LD(w);
    v512 l = X(mm512_maddubs_epi16)(X(mm512_and_si512)(wv, m3), LD(q));
    v512 h = np > 1 ? X(mm512_maddubs_epi16)(X(mm512_and_si512)(wv, m12), LD(q + 64)) : X(mm512_setzero_si512)();
    if (np > 2) {
        v512 ws = X(mm512_srli_epi16)(wv, 4);
        l = X(mm512_add_epi16)(l, X(mm512_maddubs_epi16)(X(mm512_and_si512)(ws, m3), LD(q + 128)));
        if (np > 3) h = X(mm512_add_epi16)(h, X(mm512_maddubs_epi16)(X(mm512_and_si512)(ws, m12), LD(q + 192)));
    }
    *lo = X(mm512_add_epi16)(*lo, l);
    *hi = X(mm512_add_epi16)(*hi, h);
}

/* res[r] = codes(row r) . q for R rows (row stride ws): nfull full blocks plus `tail` planes.
   `next` (or NULL) is the next tile's first row, prefetched one block at a time. */
BW_INLINE void bw_gemv_tile(const uint8_t *w, size_t ws, const int8_t *q, size_t nfull, int tail, int R,
                            const uint8_t *next, int32_t *res) {
    const v512 m3 = X(mm512_set1_epi8)(3), m12 = X(mm512_set1_epi8)(12), ones = X(mm512_set1_epi16)(1);
    v512 acc[GEMV_ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) acc[r] = X(mm512_setzero_si512)();
    size_t b = 0;
    while (b < nfull || tail) {
        size_t end = nfull - b > BW_GEMV_WIDEN ? b + BW_GEMV_WIDEN : nfull;
        v512 lo[GEMV_ROWS], hi[GEMV_ROWS];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) lo[r] = hi[r] = X(mm512_setzero_si512)();
        for (; b < end; b++) {
            if (next) /* short row streams: the hardware prefetcher alone falls behind from L3 */
#pragma GCC unroll 4
                for (int r = 0; r < R; r++) __builtin_prefetch(next + r * ws + b * BLOCK_BYTES, 0, 3);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                bw_gemv_block(w + r * ws + b * BLOCK_BYTES, q + b * BLOCK_WEIGHTS, 4, &lo[r], &hi[r], m3, m12);
        }
        if (b == nfull && tail) {
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                bw_gemv_block(w + r * ws + b * BLOCK_BYTES, q + b * BLOCK_WEIGHTS, tail, &lo[r], &hi[r], m3, m12);
            tail = 0;
        }
        /* |lo| <= 8 * 1024, |hi / 4| <= 30720 / 4: their sum fits int16 */
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            acc[r] = X(mm512_add_epi32)(acc[r], X(mm512_madd_epi16)(
                         X(mm512_add_epi16)(lo[r], X(mm512_srai_epi16)(hi[r], 2)), ones));
    }
    store_sums(acc, R, res);
}

BW_FN void bw_gemv_rows(const uint8_t *w, size_t stride, size_t nfull, int tail, size_t row_begin, size_t row_end,
                        const int8_t *q, int32_t sum_q, int32_t *out) {
    int32_t res[GEMV_ROWS];
    size_t r = row_begin;
    for (; r + GEMV_ROWS <= row_end; r += GEMV_ROWS) {
        const uint8_t *next = r + 2 * GEMV_ROWS <= row_end ? w + (r + GEMV_ROWS) * stride : NULL;
        bw_gemv_tile(w + r * stride, stride, q, nfull, tail, GEMV_ROWS, next, res);
        for (int k = 0; k < GEMV_ROWS; k++) out[r - row_begin + k] = wrap_sub(res[k], sum_q);
    }
    for (; r < row_end; r++) {
        bw_gemv_tile(w + r * stride, stride, q, nfull, tail, 1, NULL, res);
        out[r - row_begin] = wrap_sub(res[0], sum_q);
    }
}

static void bw_gemv(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                    const int8_t *q, int32_t sum_q, int32_t *out, const void *scratch) {
    (void)rows; (void)scratch;
    bw_gemv_rows((const uint8_t *)packed, row_stride(cols), full_blocks(cols), tail_planes(cols), row_begin,
                 row_end, q, sum_q, out);
}

/* GEMM: a tile is one row x T tokens; the row's codes are decoded once per block and reused by every
   token. The caller blocks K and rows so the tokens' activations stay in L1 and a weight panel in L2. */
BW_INLINE void bw_gemm_block(const uint8_t *w, const int8_t *q, size_t qstride, int T, int np, v512 *acc, v512 m3) {
    v512 c[4];
    decode4(LD(w), m3, c); /* all 4 planes even for a tail: registers only, no reads */
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
#pragma GCC unroll 4
        for (int i = 0; i < np; i++)
            acc[t] = X(mm512_add_epi16)(acc[t], X(mm512_maddubs_epi16)(c[i], LD(q + t * qstride + 64 * i)));
}

BW_INLINE void bw_widen(v512 *acc32, v512 *acc, int T) {
    const v512 ones = X(mm512_set1_epi16)(1);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        acc32[t] = X(mm512_add_epi32)(acc32[t], X(mm512_madd_epi16)(acc[t], ones));
        acc[t] = X(mm512_setzero_si512)();
    }
}

/* res[t] = codes(row) . q(token t) over blocks [b0, b1), plus `tail` planes of block b1. */
BW_INLINE void bw_gemm_tile(const uint8_t *w, const int8_t *q, size_t qstride, int T, size_t b0, size_t b1,
                            int tail, int32_t *res) {
    const v512 m3 = X(mm512_set1_epi8)(3);
    v512 acc32[GEMM_TOKENS], acc[GEMM_TOKENS];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) acc32[t] = acc[t] = X(mm512_setzero_si512)();
    for (size_t b = b0; b < b1;) {
        size_t end = b1 - b > BW_GEMM_WIDEN ? b + BW_GEMM_WIDEN : b1;
        for (; b < end; b++) bw_gemm_block(w + b * BLOCK_BYTES, q + b * BLOCK_WEIGHTS, qstride, T, 4, acc, m3);
        bw_widen(acc32, acc, T);
    }
    if (tail) {
        bw_gemm_block(w + b1 * BLOCK_BYTES, q + b1 * BLOCK_WEIGHTS, qstride, T, tail, acc, m3);
        bw_widen(acc32, acc, T);
    }
#pragma GCC unroll 2
    for (int t = 0; t < T; t += 4) store_sums(acc32 + t, 4, res + t); /* T is a multiple of 4 */
}

/* out[k][r] for tokens [k0, k0 + T), rows [p0, p1), blocks [b0, b1) (+ tail): stores on the first K chunk
   (subtracting sum_q), adds on later ones. */
BW_INLINE void bw_gemm_group(const uint8_t *w, size_t stride, size_t row_begin, size_t p0, size_t p1,
                             const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t k0, int T, size_t b0,
                             size_t b1, int tail, int32_t *out, size_t out_stride) {
    const int8_t *qk = q + k0 * q_stride;
    for (size_t r = p0; r < p1; r++) {
        int32_t res[GEMM_TOKENS];
        bw_gemm_tile(w + r * stride, qk, q_stride, T, b0, b1, tail, res);
        int32_t *o = out + k0 * out_stride + (r - row_begin);
        for (int t = 0; t < T; t++)
            o[t * out_stride] = b0 == 0 ? wrap_sub(res[t], sum_q[k0 + t]) : wrap_add(o[t * out_stride], res[t]);
    }
}

/* Instantiations with a constant token count, so the tile's accumulators live in registers. */
BW_FN void bw_gemm_group8(const uint8_t *w, size_t stride, size_t row_begin, size_t p0, size_t p1, const int8_t *q,
                          size_t q_stride, const int32_t *sum_q, size_t k0, size_t b0, size_t b1, int tail,
                          int32_t *out, size_t out_stride) {
    bw_gemm_group(w, stride, row_begin, p0, p1, q, q_stride, sum_q, k0, 8, b0, b1, tail, out, out_stride);
}
BW_FN void bw_gemm_group4(const uint8_t *w, size_t stride, size_t row_begin, size_t p0, size_t p1, const int8_t *q,
                          size_t q_stride, const int32_t *sum_q, size_t k0, size_t b0, size_t b1, int tail,
                          int32_t *out, size_t out_stride) {
    bw_gemm_group(w, stride, row_begin, p0, p1, q, q_stride, sum_q, k0, 4, b0, b1, tail, out, out_stride);
}

/* ---- GEMM driver shared by both backends (plain C: it only calls the target-attributed groups) ---- */

typedef void (*gemm_group_fn)(const uint8_t *, size_t, size_t, size_t, size_t, const int8_t *, size_t,
                              const int32_t *, size_t, size_t, size_t, int, int32_t *, size_t);
typedef void (*gemv_rows_fn)(const uint8_t *, size_t, size_t, int, size_t, size_t, const int8_t *, int32_t,
                             int32_t *);

static inline FORCE_INLINE void
gemm_driver(const void *packed, size_t cols, size_t row_begin, size_t row_end, const int8_t *q, size_t q_stride,
            const int32_t *sum_q, size_t n, int32_t *out, size_t out_stride, gemm_group_fn group8,
            gemm_group_fn group4, gemv_rows_fn gemv_rows) {
    const uint8_t *w = (const uint8_t *)packed;
    size_t stride = row_stride(cols), nfull = full_blocks(cols);
    int tail = tail_planes(cols);
    size_t n8 = n / 8 * 8, n4 = n / 4 * 4;
    /* equal K chunks of at most GEMM_K_BLOCKS blocks */
    size_t nchunks = (nfull + GEMM_K_BLOCKS - 1) / GEMM_K_BLOCKS;
    size_t chunk = nchunks ? (nfull + nchunks - 1) / nchunks : 0;
    size_t b0 = 0;
    if (n4 > 0) do { /* at least once: cols <= 192 has no full block, only a tail */
        size_t b1 = nfull - b0 > chunk ? b0 + chunk : nfull;
        int tl = b1 == nfull ? tail : 0;
        for (size_t p0 = row_begin; p0 < row_end; p0 += GEMM_PANEL) {
            size_t p1 = row_end - p0 > GEMM_PANEL ? p0 + GEMM_PANEL : row_end;
            for (size_t k = 0; k < n8; k += 8)
                group8(w, stride, row_begin, p0, p1, q, q_stride, sum_q, k, b0, b1, tl, out, out_stride);
            if (n4 > n8)
                group4(w, stride, row_begin, p0, p1, q, q_stride, sum_q, n8, b0, b1, tl, out, out_stride);
        }
        b0 = b1;
    } while (b0 < nfull);
    for (size_t k = n4; k < n; k++) /* the last 1-3 tokens */
        gemv_rows(w, stride, nfull, tail, row_begin, row_end, q + k * q_stride, sum_q[k], out + k * out_stride);
}

static void bw_gemm(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                    const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t n,
                    int32_t *out, size_t out_stride, const void *scratch) {
    (void)rows; (void)scratch;
    gemm_driver(packed, cols, row_begin, row_end, q, q_stride, sum_q, n, out, out_stride, bw_gemm_group8,
                bw_gemm_group4, bw_gemv_rows);
}

/* =====================================================================================================
   avx512_vnni
   ===================================================================================================== */

/* GEMV: planes are masked in place (w & 3, w & 12, w & 48, w & 192), so plane i holds codes * 4^i in its
   own int32 accumulator a[i]; no shift at all in the loop. fold() divides each lane exactly. */
VNNI_INLINE void vnni_gemv_block(const uint8_t *w, const int8_t *q, int np, v512 *a, const v512 *m) {
    v512 wv = LD(w);
#pragma GCC unroll 4
    for (int i = 0; i < np; i++) a[i] = X(mm512_dpbusd_epi32)(a[i], X(mm512_and_si512)(wv, m[i]), LD(q + 64 * i));
}

/* a0 + a1/4 + a2/16 + a3/64 per lane (each a[i] is a multiple of 4^i). SIMDe 0.7.4 has no
   _mm512_srai_epi32, so x >> s is done as ((x ^ 2^31) >>> s) - 2^(31-s), exact for such multiples. */
VNNI_INLINE v512 vnni_fold(const v512 *a) {
    const v512 sign = X(mm512_set1_epi32)(INT32_MIN);
    v512 s = X(mm512_add_epi32)(
        X(mm512_add_epi32)(a[0], X(mm512_srli_epi32)(X(mm512_xor_si512)(a[1], sign), 2)),
        X(mm512_add_epi32)(X(mm512_srli_epi32)(X(mm512_xor_si512)(a[2], sign), 4),
                           X(mm512_srli_epi32)(X(mm512_xor_si512)(a[3], sign), 6)));
    return X(mm512_sub_epi32)(s, X(mm512_set1_epi32)((1 << 29) + (1 << 27) + (1 << 25)));
}

VNNI_INLINE void vnni_gemv_tile(const uint8_t *w, size_t ws, const int8_t *q, size_t nfull, int tail, int R,
                                const uint8_t *next, int32_t *res) {
    const v512 m[4] = {X(mm512_set1_epi8)(3), X(mm512_set1_epi8)(12), X(mm512_set1_epi8)(48),
                       X(mm512_set1_epi8)((char)192)};
    v512 acc[GEMV_ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) acc[r] = X(mm512_setzero_si512)();
    size_t b = 0;
    while (b < nfull || tail) {
        size_t end = nfull - b > VNNI_GEMV_FOLD ? b + VNNI_GEMV_FOLD : nfull;
        v512 a[GEMV_ROWS][4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) a[r][0] = a[r][1] = a[r][2] = a[r][3] = X(mm512_setzero_si512)();
        for (; b < end; b++) {
            if (next)
#pragma GCC unroll 4
                for (int r = 0; r < R; r++) __builtin_prefetch(next + r * ws + b * BLOCK_BYTES, 0, 3);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) vnni_gemv_block(w + r * ws + b * BLOCK_BYTES, q + b * BLOCK_WEIGHTS, 4, a[r], m);
        }
        if (b == nfull && tail) {
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                vnni_gemv_block(w + r * ws + b * BLOCK_BYTES, q + b * BLOCK_WEIGHTS, tail, a[r], m);
            tail = 0;
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) acc[r] = X(mm512_add_epi32)(acc[r], vnni_fold(a[r]));
    }
    store_sums(acc, R, res);
}

VNNI_FN void vnni_gemv_rows(const uint8_t *w, size_t stride, size_t nfull, int tail, size_t row_begin,
                            size_t row_end, const int8_t *q, int32_t sum_q, int32_t *out) {
    int32_t res[GEMV_ROWS];
    size_t r = row_begin;
    for (; r + GEMV_ROWS <= row_end; r += GEMV_ROWS) {
        const uint8_t *next = r + 2 * GEMV_ROWS <= row_end ? w + (r + GEMV_ROWS) * stride : NULL;
        vnni_gemv_tile(w + r * stride, stride, q, nfull, tail, GEMV_ROWS, next, res);
        for (int k = 0; k < GEMV_ROWS; k++) out[r - row_begin + k] = wrap_sub(res[k], sum_q);
    }
    for (; r < row_end; r++) {
        vnni_gemv_tile(w + r * stride, stride, q, nfull, tail, 1, NULL, res);
        out[r - row_begin] = wrap_sub(res[0], sum_q);
    }
}

static void vnni_gemv(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                      const int8_t *q, int32_t sum_q, int32_t *out, const void *scratch) {
    (void)rows; (void)scratch;
    vnni_gemv_rows((const uint8_t *)packed, row_stride(cols), full_blocks(cols), tail_planes(cols), row_begin,
                   row_end, q, sum_q, out);
}

/* GEMM: true codes (3 shifts + 4 ands per block, amortized over T tokens), int32 accumulators throughout. */
VNNI_INLINE void vnni_gemm_block(const uint8_t *w, const int8_t *q, size_t qstride, int T, int np, v512 *acc,
                                 v512 m3) {
    v512 c[4];
    decode4(LD(w), m3, c); /* all 4 planes even for a tail: registers only, no reads */
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
#pragma GCC unroll 4
        for (int i = 0; i < np; i++) acc[t] = X(mm512_dpbusd_epi32)(acc[t], c[i], LD(q + t * qstride + 64 * i));
}

VNNI_INLINE void vnni_gemm_tile(const uint8_t *w, const int8_t *q, size_t qstride, int T, size_t b0, size_t b1,
                                int tail, int32_t *res) {
    const v512 m3 = X(mm512_set1_epi8)(3);
    v512 acc[GEMM_TOKENS];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) acc[t] = X(mm512_setzero_si512)();
    for (size_t b = b0; b < b1; b++) vnni_gemm_block(w + b * BLOCK_BYTES, q + b * BLOCK_WEIGHTS, qstride, T, 4, acc, m3);
    if (tail) vnni_gemm_block(w + b1 * BLOCK_BYTES, q + b1 * BLOCK_WEIGHTS, qstride, T, tail, acc, m3);
#pragma GCC unroll 2
    for (int t = 0; t < T; t += 4) store_sums(acc + t, 4, res + t);
}

VNNI_INLINE void vnni_gemm_group(const uint8_t *w, size_t stride, size_t row_begin, size_t p0, size_t p1,
                                 const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t k0, int T,
                                 size_t b0, size_t b1, int tail, int32_t *out, size_t out_stride) {
    const int8_t *qk = q + k0 * q_stride;
    for (size_t r = p0; r < p1; r++) {
        int32_t res[GEMM_TOKENS];
        vnni_gemm_tile(w + r * stride, qk, q_stride, T, b0, b1, tail, res);
        int32_t *o = out + k0 * out_stride + (r - row_begin);
        for (int t = 0; t < T; t++)
            o[t * out_stride] = b0 == 0 ? wrap_sub(res[t], sum_q[k0 + t]) : wrap_add(o[t * out_stride], res[t]);
    }
}

VNNI_FN void vnni_gemm_group8(const uint8_t *w, size_t stride, size_t row_begin, size_t p0, size_t p1,
                              const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t k0, size_t b0,
                              size_t b1, int tail, int32_t *out, size_t out_stride) {
    vnni_gemm_group(w, stride, row_begin, p0, p1, q, q_stride, sum_q, k0, 8, b0, b1, tail, out, out_stride);
}
VNNI_FN void vnni_gemm_group4(const uint8_t *w, size_t stride, size_t row_begin, size_t p0, size_t p1,
                              const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t k0, size_t b0,
                              size_t b1, int tail, int32_t *out, size_t out_stride) {
    vnni_gemm_group(w, stride, row_begin, p0, p1, q, q_stride, sum_q, k0, 4, b0, b1, tail, out, out_stride);
}

static void vnni_gemm(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                      const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t n,
                      int32_t *out, size_t out_stride, const void *scratch) {
    (void)rows; (void)scratch;
    gemm_driver(packed, cols, row_begin, row_end, q, q_stride, sum_q, n, out, out_stride, vnni_gemm_group8,
                vnni_gemm_group4, vnni_gemv_rows);
}

/* ---- descriptors ---- */

const bittern_kernel_backend btk_backend_avx512_bw = {
    .abi_version = BITTERN_KERNEL_ABI_VERSION,
    .struct_size = sizeof(bittern_kernel_backend),
    .name = "avx512_bw",
    .description = "AVX-512BW: 2-bit codes in 256-weight blocks, vpmaddubsw into int16 widened to int32; "
                   "4-row GEMV, 1x8-token GEMM tiles",
    .required_features = BITTERN_CPU_AVX512F | BITTERN_CPU_AVX512BW,
    .priority = 30,
    .flags = 0,
    .packed_size = avx512_packed_size,
    .pack = avx512_pack,
    .scratch_size = NULL,
    .prepare = NULL,
    .gemv = bw_gemv,
    .gemm = bw_gemm,
};

const bittern_kernel_backend btk_backend_avx512_vnni = {
    .abi_version = BITTERN_KERNEL_ABI_VERSION,
    .struct_size = sizeof(bittern_kernel_backend),
    .name = "avx512_vnni",
    .description = "AVX-512 VNNI: 2-bit codes in 256-weight blocks, vpdpbusd into int32; "
                   "shift-free 4-row GEMV, 1x8-token GEMM tiles",
    .required_features = BITTERN_CPU_AVX512F | BITTERN_CPU_AVX512BW | BITTERN_CPU_AVX512VNNI,
    .priority = 40,
    .flags = 0,
    .packed_size = avx512_packed_size,
    .pack = avx512_pack,
    .scratch_size = NULL,
    .prepare = NULL,
    .gemv = vnni_gemv,
    .gemm = vnni_gemm,
};
#endif /* BTK_AVX512_ENABLED */
