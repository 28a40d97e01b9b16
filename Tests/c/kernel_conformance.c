/* Kernel conformance: every built-in backend this CPU can run must produce int32 results
   bit-identical to the scalar reference, for GEMV and GEMM, on odd and tail shapes, random row
   ranges, and the extreme inputs (all -128 activations against all +1 weights at K = 16384).
   Built straight from the kernel sources with cc (no Swift), so it also runs under sanitizers.
   Closing line: "conformance: N passed, N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../Sources/BitternKernels/include/bittern_kernels.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

enum { FILL_RANDOM, FILL_EXTREME_POS, FILL_EXTREME_NEG, FILL_SPARSE };

static void fill(int8_t *t, size_t rows, size_t cols, int8_t *q, size_t qstride, size_t n, int mode) {
    for (size_t i = 0; i < rows * cols; i++) {
        switch (mode) {
        case FILL_EXTREME_POS: t[i] = 1; break;
        case FILL_EXTREME_NEG: t[i] = (i & 1) ? -1 : 1; break;
        case FILL_SPARSE: t[i] = (next_u32() % 10 == 0) ? ((next_u32() & 1) ? 1 : -1) : 0; break;
        default: t[i] = (int8_t)(next_u32() % 3) - 1;
        }
    }
    memset(q, 0, n * qstride);
    for (size_t k = 0; k < n; k++)
        for (size_t j = 0; j < cols; j++) {
            int8_t v;
            switch (mode) {
            case FILL_EXTREME_POS: v = -128; break;
            case FILL_EXTREME_NEG: v = (j & 1) ? 127 : -128; break;
            default: v = (int8_t)(next_u32() & 0xff);
            }
            q[k * qstride + j] = v;
        }
}

static int passed, failed;

static void check_shape(const bittern_kernel_backend *ref, const bittern_kernel_backend *be, size_t rows,
                        size_t cols, size_t n, int mode) {
    size_t qstride = (cols + 63) / 64 * 64;
    int8_t *t = malloc(rows * cols + 1), *q = malloc(n * qstride + 1);
    int32_t *sum = calloc(n, sizeof(int32_t));
    fill(t, rows, cols, q, qstride, n, mode);
    for (size_t k = 0; k < n; k++)
        for (size_t j = 0; j < cols; j++) sum[k] += q[k * qstride + j];
    size_t rs = ref->packed_size(t, rows, cols), bs = be->packed_size(t, rows, cols);
    void *rp = aligned_alloc(64, (rs + 63) / 64 * 64 + 64), *bp = aligned_alloc(64, (bs + 63) / 64 * 64 + 64);
    if (!rs || !bs || ref->pack(t, rows, cols, rp, rs) || be->pack(t, rows, cols, bp, bs)) {
        printf("FAIL %s pack %zux%zu\n", be->name, rows, cols); failed++; goto done;
    }
    void *scratch = NULL;
    if (be->scratch_size) scratch = aligned_alloc(64, (be->scratch_size(cols, n) + 63) / 64 * 64 + 64);
    if (be->prepare) be->prepare(q, qstride, n, cols, scratch);
    /* whole range plus one random sub-range */
    size_t rb = rows ? next_u32() % rows : 0, re = rows ? rb + next_u32() % (rows - rb + 1) : 0;
    size_t ranges[2][2] = {{0, rows}, {rb, re}};
    for (int ri = 0; ri < 2; ri++) {
        size_t b = ranges[ri][0], e = ranges[ri][1], len = e - b;
        int32_t *want = calloc(n * len + 1, 4), *got = calloc(n * len + 1, 4);
        int ok = 1;
        for (size_t k = 0; k < n; k++) {
            ref->gemv(rp, rows, cols, b, e, q + k * qstride, sum[k], want + k * len, NULL);
            for (size_t i = 0; i < len; i++) got[k * len + i] = 0x5a5a5a5a;
            be->gemv(bp, rows, cols, b, e, q + k * qstride, sum[k], got + k * len, scratch);
        }
        if (memcmp(want, got, n * len * 4)) ok = 0;
        if (!ok) printf("FAIL %s gemv %zux%zu rows [%zu,%zu) mode %d\n", be->name, rows, cols, b, e, mode);
        ok ? passed++ : failed++;
        ok = 1;
        for (size_t i = 0; i < n * len; i++) got[i] = 0x5a5a5a5a;
        be->gemm(bp, rows, cols, b, e, q, qstride, sum, n, got, len, scratch);
        if (memcmp(want, got, n * len * 4)) ok = 0;
        if (!ok) printf("FAIL %s gemm %zux%zu n=%zu rows [%zu,%zu) mode %d\n", be->name, rows, cols, n, b, e, mode);
        ok ? passed++ : failed++;
        free(want); free(got);
    }
    free(scratch);
done:
    free(t); free(q); free(sum); free(rp); free(bp);
}

int main(void) {
    uint64_t have = btk_cpu_features();
    const bittern_kernel_backend *ref = btk_builtin(0);
    static const size_t rows_list[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 64, 257};
    static const size_t cols_list[] = {1, 3, 31, 32, 63, 64, 65, 127, 128, 129, 191, 255, 256, 257, 384, 511,
                                       640, 1000, 1023, 2560, 3200};
    static const size_t n_list[] = {1, 2, 3, 4, 5, 8, 13};
    for (size_t bi = 1; bi < btk_builtin_count(); bi++) {
        const bittern_kernel_backend *be = btk_builtin(bi);
        if ((be->required_features & have) != be->required_features) {
            printf("skip %s: this CPU lacks a required feature\n", be->name);
            continue;
        }
        for (size_t a = 0; a < sizeof rows_list / sizeof *rows_list; a++)
            for (size_t c = 0; c < sizeof cols_list / sizeof *cols_list; c++)
                check_shape(ref, be, rows_list[a], cols_list[c], n_list[(a + c) % 7], (a + c) % 4 == 3 ? FILL_SPARSE : FILL_RANDOM);
        /* int16 overflow traps: extreme inputs on long rows */
        size_t longk[] = {16384, 16384 + 64 + 17, 8640, 6912};
        for (size_t i = 0; i < 4; i++) {
            check_shape(ref, be, 9, longk[i], 5, FILL_EXTREME_POS);
            check_shape(ref, be, 5, longk[i], 3, FILL_EXTREME_NEG);
        }
        printf("%s: checked\n", be->name);
    }
    printf("conformance: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
