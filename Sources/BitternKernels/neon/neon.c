/* NEON ternary backends (aarch64): "neon" (baseline ASIMD) and "neon_dotprod" (ARMv8.2 SDOT).
 *
 * Packed layout (shared by both): each row is ceil(cols / 64) blocks of 16 bytes, one block per 64
 * weights. A trit is stored as its 2-bit two's complement (t & 3: -1 -> 3, 0 -> 0, +1 -> 1); in block b,
 * byte p (0..15) holds
 *     t[64b + p] | t[64b + 16 + p] << 2 | t[64b + 32 + p] << 4 | t[64b + 48 + p] << 6
 * so one 16-byte load gives four "planes" of 16 consecutive weights, each lined up with one 16-byte
 * vector of activations. Weights past `cols` are 0. Because the host zero-pads q to a multiple of 64 and
 * a block is exactly 64 weights, there is no partial-block code.
 *
 * Decoding: plane i is (w << (6 - 2i)) >> 6 with an arithmetic right shift, i.e. the signed trits
 * themselves, so both kernels multiply trits by q directly: no unsigned codes, no sum_q correction.
 *
 * Arithmetic: |t * q| <= 128.
 *   neon_dotprod: vdotq_s32 adds 4 products into an int32 lane -- no overflow for any K the ABI allows.
 *   neon: vmull_s8 / vmlal_high_s8 add 8 products per int16 lane per block (<= 1024), so int16 sums are
 *         widened into int32 (vpadalq_s16) every WIDEN_BLOCKS blocks, before they can reach 32767.
 *
 * Tiles: GEMV decodes 4 rows per step and loads each activation vector once for them; GEMM tiles are
 * rows x 4 tokens, so each decoded plane is reused by 4 tokens and each activation load by every row of
 * the tile. GEMM is blocked over K (token activations stay in L1) and rows (a panel of weights stays in L2).
 *
 * One source serves real aarch64 builds (arm_neon.h) and x86 tests against SIMDe's emulation
 * (-DBTK_SIMDE): every NEON name goes through N(). Elsewhere the file compiles to nothing.
 */
#if defined(BTK_SIMDE) || defined(__aarch64__)

#if defined(BTK_SIMDE)
#define SIMDE_NO_NATIVE /* clang clashes with SIMDe's native aliases */
#include <simde/arm/neon.h>
#define N(name) simde_##name
#define DOTPROD_ATTR
#else
#include <arm_neon.h>
#define N(name) name
#if defined(__clang__)
#define DOTPROD_ATTR __attribute__((target("dotprod")))
#else /* gcc 12 rejects target("+dotprod") */
#define DOTPROD_ATTR __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#endif

#include <string.h>
#include "../include/bittern_kernels.h"

/* NEON is part of the aarch64 base ISA: the baseline kernels need no target attribute. */
#define NEON_FN static
#define NEON_INLINE static inline __attribute__((always_inline))
#define DOT_FN static DOTPROD_ATTR
#define DOT_INLINE static inline __attribute__((always_inline)) DOTPROD_ATTR

typedef N(int8x16_t) i8x16;
typedef N(uint8x16_t) u8x16;
typedef N(int16x8_t) i16x8;
typedef N(int32x4_t) i32x4;

enum {
    BLOCK_WEIGHTS = 64,
    BLOCK_BYTES = 16,
    MAX_TILE_ROWS = 4,
    TILE_TOKENS = 4,     /* GEMM token group: decoded planes are reused this many times */
    DOT_GEMM_ROWS = 4,   /* 4x4 int32 accumulators + 4 planes + 1 activation vector fit in 32 registers */
    MULL_GEMM_ROWS = 2,  /* neon also holds int16 sums: 2x4 int16 + 2x4 int32 accumulators */
    GEMV_ROWS = 4,
    WIDEN_BLOCKS = 16,   /* neon int16 lanes gain <= 8 * 128 per block: 16 * 1024 = 16384 < 32767 */
    GEMM_K_BLOCKS = 64,  /* K chunk <= 4096 weights: 4 tokens x 4 KB of activations stay in L1 */
    GEMM_PANEL = 128,    /* rows per panel: its chunk of weights (<= 128 KB) stays in L2 for all tokens */
};

/* ---- layout ---- */

static size_t row_blocks(size_t cols) { return (cols + BLOCK_WEIGHTS - 1) / BLOCK_WEIGHTS; }
static size_t row_stride(size_t cols) { return row_blocks(cols) * BLOCK_BYTES; }

static size_t neon_packed_size(const int8_t *trits, size_t rows, size_t cols) {
    (void)trits;
    size_t stride = row_stride(cols);
    if (rows == 0 || cols == 0 || stride > SIZE_MAX / rows) return 0;
    return rows * stride;
}

static int32_t neon_pack(const int8_t *trits, size_t rows, size_t cols, void *dst, size_t dst_size) {
    size_t stride = row_stride(cols), size = neon_packed_size(trits, rows, cols);
    if (size == 0 || dst_size < size) return 1;
    uint8_t *out = (uint8_t *)dst;
    memset(out, 0, size);
    for (size_t r = 0; r < rows; r++) {
        const int8_t *src = trits + r * cols;
        uint8_t *row = out + r * stride;
        for (size_t j = 0; j < cols; j++) {
            int8_t t = src[j];
            if (t < -1 || t > 1) return 2;
            size_t k = j % BLOCK_WEIGHTS;
            row[j / BLOCK_WEIGHTS * BLOCK_BYTES + k % 16] |= (uint8_t)(((unsigned)t & 3u) << (2 * (k / 16)));
        }
    }
    return 0;
}

/* ---- shared helpers ---- */

/* Signed trits of plane i. The left shift is done on u8 so that no signed value is shifted left. A switch
   rather than a computed shift: the intrinsics need literal immediates even at -O0. */
NEON_INLINE i8x16 plane(u8x16 w, int i) {
    switch (i) {
    case 0: return N(vshrq_n_s8)(N(vreinterpretq_s8_u8)(N(vshlq_n_u8)(w, 6)), 6);
    case 1: return N(vshrq_n_s8)(N(vreinterpretq_s8_u8)(N(vshlq_n_u8)(w, 4)), 6);
    case 2: return N(vshrq_n_s8)(N(vreinterpretq_s8_u8)(N(vshlq_n_u8)(w, 2)), 6);
    default: return N(vshrq_n_s8)(N(vreinterpretq_s8_u8)(w), 6);
    }
}

/* out[t * os + r] = (add ? out[...] : 0) + horizontal sum of acc[r][t], for r < R, t < T. */
NEON_INLINE void store_tile(i32x4 acc[MAX_TILE_ROWS][TILE_TOKENS], int R, int T, int32_t *out, size_t os,
                            int add) {
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        int32_t *o = out + (size_t)t * os;
        if (R == 4) { /* four rows are four consecutive outputs: one pairwise-add tree and one store */
            i32x4 s = N(vpaddq_s32)(N(vpaddq_s32)(acc[0][t], acc[1][t]), N(vpaddq_s32)(acc[2][t], acc[3][t]));
            if (add) s = N(vaddq_s32)(s, N(vld1q_s32)(o));
            N(vst1q_s32)(o, s);
        } else {
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                int32_t v = N(vaddvq_s32)(acc[r][t]);
                o[r] = add ? o[r] + v : v;
            }
        }
    }
}

/* ---- neon_dotprod ---- */

/* acc[r][t] = partial sums of trits(row r) . q(token t) over blocks [b0, b1); rows `ws` bytes apart. */
DOT_INLINE void dot_tile(const uint8_t *w, size_t ws, const int8_t *q, size_t qs, int R, int T, size_t b0,
                         size_t b1, i32x4 acc[MAX_TILE_ROWS][TILE_TOKENS]) {
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[r][t] = N(vdupq_n_s32)(0);
    for (size_t b = b0; b < b1; b++) {
        u8x16 raw[MAX_TILE_ROWS];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) raw[r] = N(vld1q_u8)(w + r * ws + b * BLOCK_BYTES);
        const int8_t *qb = q + b * BLOCK_WEIGHTS;
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            i8x16 p[MAX_TILE_ROWS];
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) p[r] = plane(raw[r], i);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) {
                i8x16 qv = N(vld1q_s8)(qb + t * qs + 16 * i);
#pragma GCC unroll 4
                for (int r = 0; r < R; r++) acc[r][t] = N(vdotq_s32)(acc[r][t], p[r], qv);
            }
        }
    }
}

/* out[t * os + (r - r0)] (= or +=) trits(row r) . q(token t) over blocks [b0, b1), rows [r0, r1). */
DOT_INLINE void dot_rows_t(const uint8_t *w, size_t ws, size_t r0, size_t r1, const int8_t *q, size_t qs,
                           int R, int T, size_t b0, size_t b1, int32_t *out, size_t os, int add) {
    i32x4 acc[MAX_TILE_ROWS][TILE_TOKENS];
    size_t r = r0;
    for (; r + (size_t)R <= r1; r += (size_t)R) {
        dot_tile(w + r * ws, ws, q, qs, R, T, b0, b1, acc);
        store_tile(acc, R, T, out + (r - r0), os, add);
    }
    for (; r < r1; r++) {
        dot_tile(w + r * ws, ws, q, qs, 1, T, b0, b1, acc);
        store_tile(acc, 1, T, out + (r - r0), os, add);
    }
}

/* T is 1 or TILE_TOKENS; each gets its own instantiation so the accumulators live in registers. */
DOT_FN void dot_rows(const uint8_t *w, size_t ws, size_t r0, size_t r1, const int8_t *q, size_t qs, int T,
                     size_t b0, size_t b1, int32_t *out, size_t os, int add) {
    if (T == TILE_TOKENS)
        dot_rows_t(w, ws, r0, r1, q, qs, DOT_GEMM_ROWS, TILE_TOKENS, b0, b1, out, os, add);
    else
        dot_rows_t(w, ws, r0, r1, q, qs, GEMV_ROWS, 1, b0, b1, out, os, add);
}

/* ---- neon (baseline) ---- */

NEON_INLINE void mull_tile(const uint8_t *w, size_t ws, const int8_t *q, size_t qs, int R, int T, size_t b0,
                           size_t b1, i32x4 acc[MAX_TILE_ROWS][TILE_TOKENS]) {
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[r][t] = N(vdupq_n_s32)(0);
    for (size_t b = b0; b < b1;) {
        size_t end = b1 - b > WIDEN_BLOCKS ? b + WIDEN_BLOCKS : b1;
        i16x8 s[MAX_TILE_ROWS][TILE_TOKENS];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) s[r][t] = N(vdupq_n_s16)(0);
        for (; b < end; b++) {
            u8x16 raw[MAX_TILE_ROWS];
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) raw[r] = N(vld1q_u8)(w + r * ws + b * BLOCK_BYTES);
            const int8_t *qb = q + b * BLOCK_WEIGHTS;
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                i8x16 p[MAX_TILE_ROWS];
#pragma GCC unroll 4
                for (int r = 0; r < R; r++) p[r] = plane(raw[r], i);
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) {
                    i8x16 qv = N(vld1q_s8)(qb + t * qs + 16 * i);
#pragma GCC unroll 4
                    for (int r = 0; r < R; r++) {
                        s[r][t] = N(vmlal_s8)(s[r][t], N(vget_low_s8)(p[r]), N(vget_low_s8)(qv));
                        s[r][t] = N(vmlal_high_s8)(s[r][t], p[r], qv);
                    }
                }
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[r][t] = N(vpadalq_s16)(acc[r][t], s[r][t]);
    }
}

NEON_INLINE void mull_rows_t(const uint8_t *w, size_t ws, size_t r0, size_t r1, const int8_t *q, size_t qs,
                             int R, int T, size_t b0, size_t b1, int32_t *out, size_t os, int add) {
    i32x4 acc[MAX_TILE_ROWS][TILE_TOKENS];
    size_t r = r0;
    for (; r + (size_t)R <= r1; r += (size_t)R) {
        mull_tile(w + r * ws, ws, q, qs, R, T, b0, b1, acc);
        store_tile(acc, R, T, out + (r - r0), os, add);
    }
    for (; r < r1; r++) {
        mull_tile(w + r * ws, ws, q, qs, 1, T, b0, b1, acc);
        store_tile(acc, 1, T, out + (r - r0), os, add);
    }
}

NEON_FN void mull_rows(const uint8_t *w, size_t ws, size_t r0, size_t r1, const int8_t *q, size_t qs, int T,
                       size_t b0, size_t b1, int32_t *out, size_t os, int add) {
    if (T == TILE_TOKENS)
        mull_rows_t(w, ws, r0, r1, q, qs, MULL_GEMM_ROWS, TILE_TOKENS, b0, b1, out, os, add);
    else
        mull_rows_t(w, ws, r0, r1, q, qs, GEMV_ROWS, 1, b0, b1, out, os, add);
}

/* ---- drivers shared by both backends ---- */

typedef void rows_fn(const uint8_t *w, size_t ws, size_t r0, size_t r1, const int8_t *q, size_t qs, int T,
                     size_t b0, size_t b1, int32_t *out, size_t os, int add);

static void gemm_driver(rows_fn *fn, const void *packed, size_t cols, size_t row_begin, size_t row_end,
                        const int8_t *q, size_t q_stride, size_t n, int32_t *out, size_t out_stride) {
    const uint8_t *w = (const uint8_t *)packed;
    size_t nb = row_blocks(cols), ws = row_stride(cols);
    if (nb == 0 || row_end <= row_begin) return;
    /* equal K chunks of at most GEMM_K_BLOCKS blocks; the first stores, later ones add */
    size_t nchunks = (nb + GEMM_K_BLOCKS - 1) / GEMM_K_BLOCKS, chunk = (nb + nchunks - 1) / nchunks;
    for (size_t b0 = 0; b0 < nb; b0 += chunk) {
        size_t b1 = nb - b0 > chunk ? b0 + chunk : nb;
        for (size_t p0 = row_begin; p0 < row_end; p0 += GEMM_PANEL) {
            size_t p1 = row_end - p0 > GEMM_PANEL ? p0 + GEMM_PANEL : row_end;
            int32_t *o = out + (p0 - row_begin);
            size_t k = 0;
            for (; k + TILE_TOKENS <= n; k += TILE_TOKENS)
                fn(w, ws, p0, p1, q + k * q_stride, q_stride, TILE_TOKENS, b0, b1, o + k * out_stride, out_stride,
                   b0 != 0);
            for (; k < n; k++)
                fn(w, ws, p0, p1, q + k * q_stride, q_stride, 1, b0, b1, o + k * out_stride, out_stride, b0 != 0);
        }
    }
}

static void gemv_driver(rows_fn *fn, const void *packed, size_t cols, size_t row_begin, size_t row_end,
                        const int8_t *q, int32_t *out) {
    if (row_end <= row_begin || cols == 0) return;
    fn((const uint8_t *)packed, row_stride(cols), row_begin, row_end, q, 0, 1, 0, row_blocks(cols), out, 0, 0);
}

static void neon_gemv(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                      const int8_t *q, int32_t sum_q, int32_t *out, const void *scratch) {
    (void)rows; (void)sum_q; (void)scratch;
    gemv_driver(mull_rows, packed, cols, row_begin, row_end, q, out);
}

static void neon_gemm(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                      const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t n,
                      int32_t *out, size_t out_stride, const void *scratch) {
    (void)rows; (void)sum_q; (void)scratch;
    gemm_driver(mull_rows, packed, cols, row_begin, row_end, q, q_stride, n, out, out_stride);
}

static void neon_dotprod_gemv(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                              const int8_t *q, int32_t sum_q, int32_t *out, const void *scratch) {
    (void)rows; (void)sum_q; (void)scratch;
    gemv_driver(dot_rows, packed, cols, row_begin, row_end, q, out);
}

static void neon_dotprod_gemm(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                              const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t n,
                              int32_t *out, size_t out_stride, const void *scratch) {
    (void)rows; (void)sum_q; (void)scratch;
    gemm_driver(dot_rows, packed, cols, row_begin, row_end, q, q_stride, n, out, out_stride);
}

const bittern_kernel_backend btk_backend_neon = {
    .abi_version = BITTERN_KERNEL_ABI_VERSION,
    .struct_size = sizeof(bittern_kernel_backend),
    .name = "neon",
    .description = "NEON: 2-bit trits in 64-weight blocks, vmull_s8/vmlal into int16 widened to int32; "
                   "4-row GEMV, 2x4-token GEMM tiles",
    .required_features = BITTERN_CPU_NEON,
    .priority = 20,
    .flags = 0,
    .packed_size = neon_packed_size,
    .pack = neon_pack,
    .scratch_size = NULL,
    .prepare = NULL,
    .gemv = neon_gemv,
    .gemm = neon_gemm,
};

const bittern_kernel_backend btk_backend_neon_dotprod = {
    .abi_version = BITTERN_KERNEL_ABI_VERSION,
    .struct_size = sizeof(bittern_kernel_backend),
    .name = "neon_dotprod",
    .description = "NEON dotprod: 2-bit trits in 64-weight blocks, sdot of trits x q into int32; "
                   "4-row GEMV, 4x4-token GEMM tiles",
    .required_features = BITTERN_CPU_NEON | BITTERN_CPU_NEON_DOTPROD,
    .priority = 30,
    .flags = 0,
    .packed_size = neon_packed_size,
    .pack = neon_pack,
    .scratch_size = NULL,
    .prepare = NULL,
    .gemv = neon_dotprod_gemv,
    .gemm = neon_dotprod_gemm,
};

#endif
