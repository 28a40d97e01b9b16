/* AVX2 zero skipping by quads: the weights of the dense AVX2 layout, with every all-zero byte (a "quad" of
   four weights) left out and one mask bit per quad saying which bytes are stored. Built for decode, which
   streams the weights from DRAM: at 90% zeros two thirds of the quads are all zero, so the matrix is read
   at ~0.95 bits per weight instead of 2, and the kernel puts each 128-weight block back together in
   registers (a byte shuffle) and runs the dense arithmetic on it.

   Packed layout (little-endian, 64-byte aligned buffer):
       header      uint32 magic 'BTSQ', uint32 version 1, uint64 rows, uint64 cols, uint64 data_bytes
       row_start   uint32[rows + 1]   offset in data of each row; row_start[rows] = data_bytes
       data        rows one after another, then 32 zero bytes (the kernel's 16-byte loads may run past a row)
   A row is its masks, 4 bytes per 128-weight block (bit i of a block's 32-bit mask: quad i is stored),
   then the stored quads of all its blocks in order. Quad i of block b is byte i of that block in the dense
   AVX2 layout: columns 128b + i, +32, +64, +96 at bits 0-1, 2-3, 4-5, 6-7, each weight t as (t + 1) ^ 1
   (-1 -> 1, 0 -> 0, +1 -> 3), so a quad is all zero exactly when its byte is 0. Blocks follow the dense
   layout too: ceil(cols / 128) of them, the last a half block (planes 0 and 1 only) when round_up(cols,
   64) is an odd number of 64s, because q may not be read past round_up(cols, 64).

   Kernel, per block of one row: the mask's four bytes index tables of pshufb controls, the stored bytes of
   each 16-quad half are one 16-byte load at an offset given by popcounts, one vpshufb puts all of them at
   their places (zeros elsewhere) and an xor with 0x55 turns the bytes back into the dense codes t + 1.
   From there it is the dense GEMV: vpmaddubsw with the activations, int16 accumulators widened to int32;
   the exact result is sum(c * q) - sum_q. GEMM expands a panel of rows once per K chunk into a small dense
   buffer and multiplies every token group against it.

   Every function that uses AVX2 carries target("avx2,popcnt") (every AVX2 CPU has POPCNT); the file
   compiles to nothing off x86-64. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "../include/bittern_kernels.h"
#include "../avx2/avx2_codes.h"

#define QUADS_FN static __attribute__((target("avx2,popcnt")))
#define QUADS_INLINE static inline __attribute__((always_inline, target("avx2,popcnt")))

#define SQ_MAGIC 0x51535442u /* "BTSQ" */

enum {
    BLOCK_WEIGHTS = 128,
    BLOCK_BYTES = 32,     /* quads per block */
    MASK_BYTES = 4,       /* mask bytes per block */
    TAIL_PAD = 32,        /* zero bytes after the data: a lane's 16-byte load may start 16 bytes before the end */
    GEMV_ROWS = 2,        /* GEMV tile: rows walked side by side (their expansions overlap; measured best of 1, 2, 4) */
    GEMV_WIDEN = 7,       /* as the dense GEMV: "hi" lanes gain <= 4096 per block, 7 * 4096 < 32767 */
    GEMV_PREFETCH = 8192, /* bytes the software prefetch runs ahead of the rows being read */
    GEMM_TOKENS = 8,      /* GEMM tile: one row x 8 tokens */
    GEMM_WIDEN = 8,       /* GEMM lanes gain <= 4 * 512 per block: 8 * 2048 = 16384 < 32767 */
    GEMM_PANEL = 32,      /* rows expanded together */
    GEMM_K_BLOCKS = 24,   /* blocks per K chunk: a panel's chunk is 32 x 24 x 32 = 24 KB of dense codes */
};

typedef struct {
    uint32_t magic, version;
    uint64_t rows, cols, data_bytes;
} sq_header;

/* ---- layout ---- */

static size_t full_blocks(size_t cols) { return (cols + 63) / 64 / 2; }
static int has_half_block(size_t cols) { return ((cols + 63) / 64) & 1; }
static size_t blocks_of(size_t cols) { return full_blocks(cols) + (size_t)has_half_block(cols); }
static size_t index_bytes(size_t rows) { return sizeof(sq_header) + 4 * (rows + 1); }

/* Byte i of block b of a row in the dense AVX2 layout, with codes (t + 1) ^ 1. */
static uint8_t quad_byte(const int8_t *row, size_t cols, size_t b, size_t i) {
    uint8_t v = 0;
    for (size_t p = 0; p < 4; p++) {
        size_t j = b * BLOCK_WEIGHTS + 32 * p + i;
        if (j < cols) v |= (uint8_t)(((row[j] + 1) ^ 1) << (2 * p));
    }
    return v;
}

/* Bytes of one row: masks plus stored quads. */
static size_t row_bytes(const int8_t *row, size_t cols) {
    size_t n = MASK_BYTES * blocks_of(cols);
    for (size_t b = 0; b < blocks_of(cols); b++)
        for (size_t i = 0; i < BLOCK_BYTES; i++) n += quad_byte(row, cols, b, i) != 0;
    return n;
}

static size_t sq_packed_size(const int8_t *trits, size_t rows, size_t cols) {
    /* cols bound: |sum c * q| <= 2 * 128 * cols must fit int32 */
    if (rows == 0 || cols == 0 || cols > (size_t)1 << 22 || rows > (SIZE_MAX - 64) / 8 - 8) return 0;
    size_t data = 0;
    for (size_t r = 0; r < rows; r++) {
        data += row_bytes(trits + r * cols, cols);
        if (data > UINT32_MAX) return 0; /* offsets are 32-bit */
    }
    return index_bytes(rows) + data + TAIL_PAD;
}

static int32_t sq_pack(const int8_t *trits, size_t rows, size_t cols, void *dst, size_t dst_size) {
    for (size_t i = 0; i < rows * cols; i++)
        if (trits[i] < -1 || trits[i] > 1) return 2;
    size_t size = sq_packed_size(trits, rows, cols);
    if (size == 0 || dst_size < size) return 1;
    uint8_t *base = (uint8_t *)dst;
    sq_header h = {SQ_MAGIC, 1, rows, cols, size - index_bytes(rows) - TAIL_PAD};
    memcpy(base, &h, sizeof h);
    uint32_t *row_start = (uint32_t *)(base + sizeof h);
    uint8_t *data = base + index_bytes(rows), *p = data;
    size_t nb = blocks_of(cols);
    for (size_t r = 0; r < rows; r++) {
        const int8_t *row = trits + r * cols;
        row_start[r] = (uint32_t)(p - data);
        uint8_t *masks = p;
        p += MASK_BYTES * nb;
        for (size_t b = 0; b < nb; b++) {
            uint32_t m = 0;
            for (size_t i = 0; i < BLOCK_BYTES; i++) {
                uint8_t v = quad_byte(row, cols, b, i);
                if (v) { m |= 1u << i; *p++ = v; }
            }
            memcpy(masks + MASK_BYTES * b, &m, 4); /* little-endian, as the header */
        }
    }
    row_start[rows] = (uint32_t)(p - data);
    memset(p, 0, TAIL_PAD);
    return 0;
}

/* ---- expansion ---- */

/* shuffle[o][m]: the pshufb control that puts the popcount(m) stored bytes of an 8-quad mask m, found at
   bytes o, o+1, ... of a 16-byte register, at the positions of m's set bits (0x80, "write zero", at the
   others). o = 0 serves the low 8 bytes of a lane; o = popcount of the low 8 quads' mask (0..8) the high 8
   bytes, whose stored bytes follow the low ones'. 18 KB, built when the library is loaded. */
static uint64_t shuffle[9][256];

__attribute__((constructor)) static void build_shuffles(void) {
    for (unsigned o = 0; o <= 8; o++)
        for (unsigned m = 0; m < 256; m++) {
            uint64_t c = 0;
            unsigned k = o;
            for (unsigned i = 0; i < 8; i++) c |= (uint64_t)((m >> i) & 1 ? k++ : 0x80) << (8 * i);
            shuffle[o][m] = c;
        }
}

/* popcnt in place: the compiler's form clears the destination first (a false dependency on some Intel
   CPUs), one more instruction per call in a loop that is bound by instruction count. */
static inline __attribute__((always_inline)) uint64_t count_bits(uint64_t x) {
    __asm__("popcnt %0, %0" : "+r"(x));
    return x;
}

QUADS_INLINE __m128i load_pair(const void *lo, const void *hi) {
    __m128i v = _mm_loadl_epi64((const __m128i *)lo);
    return _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(v), (const double *)hi));
}

/* The dense codes (t + 1) of one block from its 4 mask bytes and the stored quads at *codes, which it
   advances. Each 16-byte lane (16 quads) is one unaligned load: its stored bytes are contiguous. */
QUADS_INLINE __m256i expand_block(const uint8_t *mask, const uint8_t **codes) {
    const uint8_t *p = *codes;
    uint64_t m0 = mask[0], m1 = mask[1], m2 = mask[2], m3 = mask[3];
    uint64_t c0 = count_bits(m0), c2 = count_bits(m2), lane0 = c0 + count_bits(m1);
    *codes = p + lane0 + c2 + count_bits(m3);
    __m256i d = _mm256_loadu2_m128i((const __m128i *)(p + lane0), (const __m128i *)p);
    __m256i c = _mm256_set_m128i(load_pair(&shuffle[0][m2], &shuffle[c2][m3]), load_pair(&shuffle[0][m0], &shuffle[c0][m1]));
    return _mm256_xor_si256(_mm256_shuffle_epi8(d, c), _mm256_set1_epi8(0x55));
}

typedef struct {
    const uint32_t *row_start;
    const uint8_t *data;
    size_t nfull, mask_bytes;
    int half;
} sq_view;

static sq_view view(const void *packed, size_t rows, size_t cols) {
    const uint8_t *base = (const uint8_t *)packed;
    sq_view v = {(const uint32_t *)(const void *)(base + sizeof(sq_header)), base + index_bytes(rows),
                 full_blocks(cols), MASK_BYTES * blocks_of(cols), has_half_block(cols)};
    return v;
}

/* ---- GEMV ---- */

QUADS_INLINE int32_t hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* res[k] = codes(row r0 + k) . q for R consecutive rows. */
QUADS_INLINE void gemv_tile(const sq_view *v, size_t r0, int R, const int8_t *q, int32_t *res) {
    const __m256i ones = _mm256_set1_epi16(1), m3 = _mm256_set1_epi8(3), m12 = _mm256_set1_epi8(12);
    const uint8_t *mask[GEMV_ROWS], *codes[GEMV_ROWS];
    __m256i acc[GEMV_ROWS];
#pragma GCC unroll 4
    for (int k = 0; k < R; k++) {
        mask[k] = v->data + v->row_start[r0 + k];
        codes[k] = mask[k] + v->mask_bytes;
        acc[k] = _mm256_setzero_si256();
    }
    size_t b = 0, nfull = v->nfull;
    int half = v->half;
    while (b < nfull || half) {
        size_t end = nfull - b > GEMV_WIDEN ? b + GEMV_WIDEN : nfull;
        __m256i lo[GEMV_ROWS], hi[GEMV_ROWS];
#pragma GCC unroll 4
        for (int k = 0; k < R; k++) lo[k] = hi[k] = _mm256_setzero_si256();
        for (; b < end; b++) {
#pragma GCC unroll 4
            for (int k = 0; k < R; k++) {
                avx2_gemv_codes(expand_block(mask[k] + MASK_BYTES * b, &codes[k]), q + b * BLOCK_WEIGHTS, 4, &lo[k], &hi[k], m3, m12);
            }
        }
        if (b == nfull && half) {
#pragma GCC unroll 4
            for (int k = 0; k < R; k++) {
                avx2_gemv_codes(expand_block(mask[k] + MASK_BYTES * b, &codes[k]), q + b * BLOCK_WEIGHTS, 2, &lo[k], &hi[k], m3, m12);
            }
            half = 0;
        }
#pragma GCC unroll 4
        for (int k = 0; k < R; k++)
            acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(_mm256_add_epi16(lo[k], _mm256_srai_epi16(hi[k], 2)), ones));
    }
#pragma GCC unroll 4
    for (int k = 0; k < R; k++) res[k] = hsum(acc[k]);
}

/* Prefetches the lines of [*next, to) (clamped to end) into L2 and advances *next. */
QUADS_INLINE void prefetch_until(const uint8_t **next, const uint8_t *to, const uint8_t *end) {
    if (to > end) to = end;
    for (; *next < to; *next += 64) _mm_prefetch((const char *)*next, _MM_HINT_T1);
}

QUADS_FN void sq_gemv(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                      const int8_t *q, int32_t sum_q, int32_t *out, const void *scratch) {
    (void)scratch;
    if (row_begin >= row_end) return;
    sq_view v = view(packed, rows, cols);
    /* The range is one run of bytes; a software stream runs GEMV_PREFETCH bytes ahead of the tile being
       computed (and on into the rows that follow, so consecutive ranges of one worker stream without a cold
       start), starting with a burst over the first GEMV_PREFETCH bytes: every call starts cold. */
    const uint8_t *end = v.data + v.row_start[rows];
    const uint8_t *pf = (const uint8_t *)((uintptr_t)(v.data + v.row_start[row_begin]) & ~(uintptr_t)63);
    prefetch_until(&pf, v.data + v.row_start[row_begin] + GEMV_PREFETCH, end);
    int32_t res[GEMV_ROWS];
    size_t r = row_begin;
    for (; r + GEMV_ROWS <= row_end; r += GEMV_ROWS) {
        prefetch_until(&pf, v.data + v.row_start[r + GEMV_ROWS] + GEMV_PREFETCH, end);
        gemv_tile(&v, r, GEMV_ROWS, q, res);
        for (int k = 0; k < GEMV_ROWS; k++) out[r - row_begin + k] = res[k] - sum_q;
    }
    for (; r < row_end; r++) {
        gemv_tile(&v, r, 1, q, res);
        out[r - row_begin] = res[0] - sum_q;
    }
}

/* ---- GEMM ---- */

/* res[t] = dense codes w (nb blocks, the last a half block when `half`) . q(token t) for T tokens. */
QUADS_INLINE void gemm_tile(const uint8_t *w, size_t nb, int half, const int8_t *q, size_t qstride, int T, int32_t *res) {
    const __m256i ones = _mm256_set1_epi16(1), mask3 = _mm256_set1_epi8(3);
    __m256i acc32[GEMM_TOKENS], acc[GEMM_TOKENS];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) acc32[t] = acc[t] = _mm256_setzero_si256();
    for (size_t b = 0; b < nb;) {
        size_t end = nb - b > GEMM_WIDEN ? b + GEMM_WIDEN : nb;
        for (; b < end; b++) {
            int nplanes = half && b + 1 == nb ? 2 : 4;
            __m256i wv = _mm256_load_si256((const __m256i *)(w + b * BLOCK_BYTES));
            if (nplanes == 4) avx2_gemm_codes(wv, q + b * BLOCK_WEIGHTS, qstride, T, 4, acc, mask3);
            else avx2_gemm_codes(wv, q + b * BLOCK_WEIGHTS, qstride, T, 2, acc, mask3);
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            acc32[t] = _mm256_add_epi32(acc32[t], _mm256_madd_epi16(acc[t], ones));
            acc[t] = _mm256_setzero_si256();
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) res[t] = hsum(acc32[t]);
}

/* out[k][r] (+)= rows p0 .. p0+np of buf (nb dense blocks each) . tokens k0 .. k0+T. */
QUADS_INLINE void gemm_panel(const uint8_t *buf, size_t np, size_t nb, int half, const int8_t *q, size_t q_stride,
                             size_t k0, int T, int first, const int32_t *sum_q, int32_t *out, size_t out_stride) {
    for (size_t r = 0; r < np; r++) {
        int32_t res[GEMM_TOKENS];
        gemm_tile(buf + r * nb * BLOCK_BYTES, nb, half, q + k0 * q_stride, q_stride, T, res);
        int32_t *o = out + k0 * out_stride + r;
        for (int t = 0; t < T; t++) o[t * out_stride] = first ? res[t] - sum_q[k0 + t] : o[t * out_stride] + res[t];
    }
}

QUADS_FN void sq_gemm(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                      const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t n,
                      int32_t *out, size_t out_stride, const void *scratch) {
    if (row_begin >= row_end || n == 0) return;
    size_t n4 = n / 4 * 4;
    if (n4 > 0) {
        sq_view v = view(packed, rows, cols);
        size_t nblocks = blocks_of(cols);
        _Alignas(32) uint8_t buf[GEMM_PANEL * GEMM_K_BLOCKS * BLOCK_BYTES];
        const uint8_t *codes[GEMM_PANEL];
        for (size_t p0 = row_begin; p0 < row_end; p0 += GEMM_PANEL) {
            size_t np = row_end - p0 > GEMM_PANEL ? GEMM_PANEL : row_end - p0;
            for (size_t r = 0; r < np; r++) codes[r] = v.data + v.row_start[p0 + r] + v.mask_bytes;
            for (size_t b0 = 0; b0 < nblocks; b0 += GEMM_K_BLOCKS) {
                size_t nb = nblocks - b0 > GEMM_K_BLOCKS ? GEMM_K_BLOCKS : nblocks - b0;
                int half = v.half && b0 + nb == nblocks;
                /* expand the panel's chunk once; every token group reads it from L1/L2 */
                for (size_t r = 0; r < np; r++) {
                    const uint8_t *mask = v.data + v.row_start[p0 + r] + MASK_BYTES * b0;
                    for (size_t b = 0; b < nb; b++)
                        _mm256_store_si256((__m256i *)(buf + (r * nb + b) * BLOCK_BYTES), expand_block(mask + MASK_BYTES * b, &codes[r]));
                }
                int32_t *o = out + (p0 - row_begin);
                const int8_t *qc = q + b0 * BLOCK_WEIGHTS;
                size_t k = 0;
                for (; k + 8 <= n4; k += 8) gemm_panel(buf, np, nb, half, qc, q_stride, k, 8, b0 == 0, sum_q, o, out_stride);
                for (; k < n4; k += 4) gemm_panel(buf, np, nb, half, qc, q_stride, k, 4, b0 == 0, sum_q, o, out_stride);
            }
        }
    }
    for (size_t k = n4; k < n; k++) /* the last 1-3 tokens */
        sq_gemv(packed, rows, cols, row_begin, row_end, q + k * q_stride, sum_q[k], out + k * out_stride, scratch);
}

const bittern_kernel_backend btk_backend_sparse_quads_avx2 = {
    .abi_version = BITTERN_KERNEL_ABI_VERSION,
    .struct_size = sizeof(bittern_kernel_backend),
    .name = "sparse_quads_avx2",
    .description = "AVX2 zero skipping by quads: dense 2-bit codes with all-zero bytes left out (1 mask bit per 4 weights), expanded with vpshufb",
    .required_features = BITTERN_CPU_AVX2,
    .priority = 15,
    .flags = BITTERN_KERNEL_FLAG_SPARSE,
    .packed_size = sq_packed_size,
    .pack = sq_pack,
    .scratch_size = NULL,
    .prepare = NULL,
    .gemv = sq_gemv,
    .gemm = sq_gemm,
};
#endif
