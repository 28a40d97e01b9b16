/* Sparse-zero-skipping backend: stores only the nonzero weights, as gap-coded column lists, and does
   work only for them. Pays off when most weights are zero (the bench finds the crossover per CPU).

   Packed layout (little-endian, 64-byte aligned buffer):
       header      uint32 magic 'BTSP', uint32 version 1, uint64 rows, uint64 cols, uint64 data_bytes
       pos_start   uint32[rows + 1]   offset in data of row r's +1 list (pos_start[rows] = data_bytes)
       neg_start   uint32[rows]       offset in data of row r's -1 list (it ends at pos_start[r + 1])
       data        the lists, one byte per entry
   A list walks the row's columns left to right from column -1. Entry g in 1..255 steps g columns forward
   and adds (or, in the -1 list, subtracts) the activation there; entry 0 steps 255 columns forward and
   adds nothing (an escape for gaps longer than 255). So a weight costs 8 bits when nonzero and nothing
   when zero: at 90% zeros about 0.8 bits per weight plus 8 bytes per row, below 1 bit per weight.

   Arithmetic: sums of int8 activations in int32, exact for any row length this layout can hold
   (an int32 overflows only past 2^24 nonzeros in a row). Portable C: the work is a dependent gather, which
   SIMD gathers do not speed up on current x86; the +1 and -1 lists are walked as two independent chains
   so the CPU overlaps them. */
#include <string.h>
#include "../include/bittern_kernels.h"

#define SPARSE_MAGIC 0x50535442u /* "BTSP" */

typedef struct {
    uint32_t magic, version;
    uint64_t rows, cols, data_bytes;
} sparse_header;

/* Entries a list needs for `count` nonzeros whose columns are given by the trit row and sign. */
static size_t list_entries(const int8_t *row, size_t cols, int8_t sign) {
    size_t n = 0;
    size_t prev = (size_t)-1; /* column -1 */
    for (size_t j = 0; j < cols; j++) {
        if (row[j] != sign) continue;
        size_t gap = j - prev;
        n += (gap - 1) / 255 + 1; /* escapes for every full 255 beyond the first step, then the entry */
        prev = j;
    }
    return n;
}

static uint8_t *write_list(uint8_t *out, const int8_t *row, size_t cols, int8_t sign) {
    size_t prev = (size_t)-1;
    for (size_t j = 0; j < cols; j++) {
        if (row[j] != sign) continue;
        size_t gap = j - prev;
        while (gap > 255) { *out++ = 0; gap -= 255; }
        *out++ = (uint8_t)gap;
        prev = j;
    }
    return out;
}

static size_t index_bytes(size_t rows) { return sizeof(sparse_header) + 4 * (rows + 1) + 4 * rows; }

static size_t sparse_packed_size(const int8_t *trits, size_t rows, size_t cols) {
    if (rows == 0 || cols == 0 || rows > (SIZE_MAX - 64) / 8 - 8) return 0;
    size_t data = 0;
    for (size_t r = 0; r < rows; r++) {
        const int8_t *row = trits + r * cols;
        data += list_entries(row, cols, 1) + list_entries(row, cols, -1);
        if (data > UINT32_MAX) return 0; /* offsets are 32-bit */
    }
    return index_bytes(rows) + data;
}

static int32_t sparse_pack(const int8_t *trits, size_t rows, size_t cols, void *dst, size_t dst_size) {
    for (size_t i = 0; i < rows * cols; i++)
        if (trits[i] < -1 || trits[i] > 1) return 2;
    size_t size = sparse_packed_size(trits, rows, cols);
    if (size == 0 || dst_size < size) return 1;
    uint8_t *base = (uint8_t *)dst;
    sparse_header h = {SPARSE_MAGIC, 1, rows, cols, size - index_bytes(rows)};
    memcpy(base, &h, sizeof h);
    uint32_t *pos_start = (uint32_t *)(base + sizeof h);
    uint32_t *neg_start = pos_start + rows + 1;
    uint8_t *data = base + index_bytes(rows), *p = data;
    for (size_t r = 0; r < rows; r++) {
        const int8_t *row = trits + r * cols;
        pos_start[r] = (uint32_t)(p - data);
        p = write_list(p, row, cols, 1);
        neg_start[r] = (uint32_t)(p - data);
        p = write_list(p, row, cols, -1);
    }
    pos_start[rows] = (uint32_t)(p - data);
    return 0;
}

typedef struct {
    const uint32_t *pos_start, *neg_start;
    const uint8_t *data;
} sparse_view;

static sparse_view view(const void *packed, size_t rows) {
    const uint8_t *base = (const uint8_t *)packed;
    sparse_view v;
    v.pos_start = (const uint32_t *)(base + sizeof(sparse_header));
    v.neg_start = v.pos_start + rows + 1;
    v.data = base + index_bytes(rows);
    return v;
}

/* One step of a list walk: escapes are rare (a gap over 255 columns), so the branch predicts well. */
#define STEP(g, ptr, acc, op)                                                                          \
    do {                                                                                               \
        unsigned g_ = (g);                                                                             \
        if (__builtin_expect(g_ != 0, 1)) { ptr += g_; acc op *ptr; }                                  \
        else ptr += 255;                                                                               \
    } while (0)

/* sum over the +1 list minus sum over the -1 list of one row, for one token. */
static inline int32_t row_dot(const uint8_t *p, const uint8_t *pn, const uint8_t *pe, const int8_t *q) {
    const int8_t *qp = q - 1, *qn = q - 1;
    int32_t ap = 0, an = 0;
    const uint8_t *n = pn;
    /* walk both lists together: two independent dependency chains */
    while (p + 2 <= pn && n + 2 <= pe) {
        STEP(p[0], qp, ap, +=);
        STEP(n[0], qn, an, +=);
        STEP(p[1], qp, ap, +=);
        STEP(n[1], qn, an, +=);
        p += 2;
        n += 2;
    }
    for (; p < pn; p++) STEP(*p, qp, ap, +=);
    for (; n < pe; n++) STEP(*n, qn, an, +=);
    return ap - an;
}

static void sparse_gemv(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                        const int8_t *q, int32_t sum_q, int32_t *out, const void *scratch) {
    (void)cols; (void)sum_q; (void)scratch;
    sparse_view v = view(packed, rows);
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *p = v.data + v.pos_start[r], *pn = v.data + v.neg_start[r], *pe = v.data + v.pos_start[r + 1];
        if (r + 4 < row_end) __builtin_prefetch(v.data + v.pos_start[r + 4]);
        out[r - row_begin] = row_dot(p, pn, pe, q);
    }
}

/* GEMM: each row's lists are decoded once for TOKENS tokens (the decode is the expensive part). */
enum { TOKENS = 4 };

static void list_multi(const uint8_t *p, const uint8_t *end, const int8_t *q, size_t q_stride, size_t nt,
                       int32_t *acc) {
    const int8_t *qp = q - 1;
    for (; p < end; p++) {
        unsigned g = *p;
        if (__builtin_expect(g == 0, 0)) { qp += 255; continue; }
        qp += g;
        for (size_t t = 0; t < nt; t++) acc[t] += qp[t * q_stride];
    }
}

static void sparse_gemm(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                        const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t n,
                        int32_t *out, size_t out_stride, const void *scratch) {
    (void)cols; (void)sum_q; (void)scratch;
    sparse_view v = view(packed, rows);
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *p = v.data + v.pos_start[r], *pn = v.data + v.neg_start[r], *pe = v.data + v.pos_start[r + 1];
        for (size_t t0 = 0; t0 < n; t0 += TOKENS) {
            size_t nt = n - t0 < TOKENS ? n - t0 : TOKENS;
            int32_t pos[TOKENS] = {0}, neg[TOKENS] = {0};
            list_multi(p, pn, q + t0 * q_stride, q_stride, nt, pos);
            list_multi(pn, pe, q + t0 * q_stride, q_stride, nt, neg);
            for (size_t t = 0; t < nt; t++) out[(t0 + t) * out_stride + (r - row_begin)] = pos[t] - neg[t];
        }
    }
}

const bittern_kernel_backend btk_backend_sparse = {
    .abi_version = BITTERN_KERNEL_ABI_VERSION,
    .struct_size = sizeof(bittern_kernel_backend),
    .name = "sparse",
    .description = "zero skipping: gap-coded +1/-1 column lists, 8 bits per nonzero weight, none per zero",
    .required_features = 0,
    .priority = -10,
    .flags = BITTERN_KERNEL_FLAG_SPARSE,
    .packed_size = sparse_packed_size,
    .pack = sparse_pack,
    .scratch_size = NULL,
    .prepare = NULL,
    .gemv = sparse_gemv,
    .gemm = sparse_gemm,
};
