/* Kernel conformance: one tester for every backend (XNNPACK-style). Each backend the build can execute
   must produce int32 results bit-identical to the scalar reference, for GEMV and GEMM, whole and partial
   row ranges, on every shape of the grid below, with structured and random weight patterns and random and
   saturated activations (K up to 16384, where int16 accumulation would overflow).

   The same source is built three ways (scripts/test.sh):
     native  -- with the library's registry, on this CPU; backends whose features are missing are skipped
                with a visible line;
     SIMDe   -- with -DBTK_EMULATED and a registry of backends compiled against SIMDe (AVX-512, NEON
                emulated on x86): no feature check, every listed backend runs;
     qemu    -- cross-compiled for aarch64 and run under qemu-aarch64 (-DBTK_HOW='"qemu"').
   Closing line: "conformance: N passed, N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../Sources/BitternKernels/include/bittern_kernels.h"

#ifndef BTK_HOW
#ifdef BTK_EMULATED
#define BTK_HOW "SIMDe"
#else
#define BTK_HOW "native"
#endif
#endif

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* weight patterns */
enum { W_ZERO, W_PLUS, W_MINUS, W_RANDOM };
static const double zero_fractions[] = {0.0, 0.31, 0.6, 0.9, 0.99};
/* activation patterns */
enum { A_RANDOM, A_MIN, A_MAX, A_ALTERNATE };

static void fill_weights(int8_t *t, size_t count, int pattern, double zero_fraction) {
    uint32_t zero_cut = (uint32_t)(zero_fraction * 4294967295.0);
    for (size_t i = 0; i < count; i++) {
        switch (pattern) {
        case W_ZERO: t[i] = 0; break;
        case W_PLUS: t[i] = 1; break;
        case W_MINUS: t[i] = -1; break;
        default: t[i] = next_u32() < zero_cut ? 0 : ((next_u32() & 1) ? 1 : -1);
        }
    }
}

static void fill_activations(int8_t *q, size_t qstride, size_t n, size_t cols, int pattern) {
    memset(q, 0, n * qstride);
    for (size_t k = 0; k < n; k++)
        for (size_t j = 0; j < cols; j++) {
            int8_t v;
            switch (pattern) {
            case A_MIN: v = -128; break;
            case A_MAX: v = 127; break;
            case A_ALTERNATE: v = (j & 1) ? 127 : -128; break;
            default: v = (int8_t)(next_u32() & 0xff);
            }
            q[k * qstride + j] = v;
        }
}

static int passed, failed;

#ifdef BTK_TIGHT_ALLOC
/* no slack past what the contract allows a kernel to read, so ASan sees any over-read of q or packed data */
static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }
#else
static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64 + 64); }
#endif

static void check(const bittern_kernel_backend *ref, const bittern_kernel_backend *be, size_t rows, size_t cols,
                  size_t n, const int8_t *t, int apattern, const char *what) {
    size_t qstride = (cols + 63) / 64 * 64;
    int8_t *q = alloc64(n * qstride);
    int32_t *sum = calloc(n, sizeof(int32_t));
    fill_activations(q, qstride, n, cols, apattern);
    for (size_t k = 0; k < n; k++)
        for (size_t j = 0; j < cols; j++) sum[k] += q[k * qstride + j];
    size_t rs = ref->packed_size(t, rows, cols), bs = be->packed_size(t, rows, cols);
    void *rp = alloc64(rs), *bp = alloc64(bs);
    void *scratch = NULL;
    if (!rs || !bs || ref->pack(t, rows, cols, rp, rs) || be->pack(t, rows, cols, bp, bs)) {
        printf("FAIL %s pack %zux%zu %s\n", be->name, rows, cols, what);
        failed++;
        goto done;
    }
    if (be->scratch_size) scratch = alloc64(be->scratch_size(cols, n));
    if (be->prepare) be->prepare(q, qstride, n, cols, scratch);
    size_t rb = next_u32() % rows, re = rb + 1 + next_u32() % (rows - rb);
    size_t ranges[2][2] = {{0, rows}, {rb, re}};
    for (int ri = 0; ri < 2; ri++) {
        size_t b = ranges[ri][0], e = ranges[ri][1], len = e - b;
        int32_t *want = malloc(n * len * 4), *got = malloc(n * len * 4 + 4);
        for (size_t k = 0; k < n; k++) {
            ref->gemv(rp, rows, cols, b, e, q + k * qstride, sum[k], want + k * len, NULL);
            for (size_t i = 0; i < len; i++) got[k * len + i] = 0x5a5a5a5a;
            be->gemv(bp, rows, cols, b, e, q + k * qstride, sum[k], got + k * len, scratch);
        }
        int ok = memcmp(want, got, n * len * 4) == 0;
        if (!ok) printf("FAIL %s gemv %zux%zu rows [%zu,%zu) %s\n", be->name, rows, cols, b, e, what);
        ok ? passed++ : failed++;
        for (size_t i = 0; i <= n * len; i++) got[i] = 0x5a5a5a5a; /* one past the end: a sentinel */
        be->gemm(bp, rows, cols, b, e, q, qstride, sum, n, got, len, scratch);
        ok = memcmp(want, got, n * len * 4) == 0 && got[n * len] == 0x5a5a5a5a;
        if (!ok) printf("FAIL %s gemm %zux%zu n=%zu rows [%zu,%zu) %s\n", be->name, rows, cols, n, b, e, what);
        ok ? passed++ : failed++;
        free(want);
        free(got);
    }
done:
    free(scratch);
    free(q); free(sum); free(rp); free(bp);
}

static const size_t rows_grid[] = {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 64};
static const size_t cols_grid[] = {1, 31, 32, 33, 63, 64, 127, 128, 129, 255, 256, 257, 2560, 6912};
static const size_t n_grid[] = {1, 2, 3, 4, 5, 8, 13};
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static void run_backend(const bittern_kernel_backend *ref, const bittern_kernel_backend *be) {
    int before = failed;
    size_t combo = 0;
    for (size_t ri = 0; ri < LEN(rows_grid); ri++)
        for (size_t ci = 0; ci < LEN(cols_grid); ci++) {
            size_t rows = rows_grid[ri], cols = cols_grid[ci];
            int8_t *t = malloc(rows * cols);
            /* every weight pattern on every shape; n and the activation pattern cycle through their grids */
            for (int wp = 0; wp < 3 + (int)LEN(zero_fractions); wp++, combo++) {
                int pattern = wp < 3 ? wp : W_RANDOM;
                double zf = wp < 3 ? 0 : zero_fractions[wp - 3];
                fill_weights(t, rows * cols, pattern, zf);
                char what[64];
                snprintf(what, sizeof what, "weights %d/%.2f acts %d", pattern, zf, (int)(combo % 4));
                check(ref, be, rows, cols, n_grid[combo % LEN(n_grid)], t, (int)(combo % 4), what);
            }
            free(t);
        }
    /* saturation at long K: all -128 x all +1, and the alternating worst case, K = 16384 (+ a tail) */
    size_t longk[] = {16384, 16384 + 64 + 17, 8640};
    for (size_t i = 0; i < LEN(longk); i++) {
        int8_t *t = malloc(9 * longk[i]);
        fill_weights(t, 9 * longk[i], W_PLUS, 0);
        check(ref, be, 9, longk[i], 5, t, A_MIN, "saturated +1 x -128");
        fill_weights(t, 9 * longk[i], W_MINUS, 0);
        check(ref, be, 9, longk[i], 3, t, A_MIN, "saturated -1 x -128");
        for (size_t j = 0; j < 9 * longk[i]; j++) t[j] = (j & 1) ? -1 : 1;
        check(ref, be, 9, longk[i], 2, t, A_ALTERNATE, "saturated alternating");
        free(t);
    }
    printf("%-14s %-6s %s\n", be->name, BTK_HOW, failed == before ? "bit-exact" : "MISMATCH");
}

int main(void) {
    const bittern_kernel_backend *ref = btk_builtin(0);
    if (!ref || strcmp(ref->name, "scalar") != 0) { printf("registry must list scalar first\n"); return 1; }
#ifndef BTK_EMULATED
    uint64_t have = btk_cpu_features();
#endif
    for (size_t bi = 1; bi < btk_builtin_count(); bi++) {
        const bittern_kernel_backend *be = btk_builtin(bi);
#ifndef BTK_EMULATED
        if ((be->required_features & have) != be->required_features) {
            printf("%-14s %-6s skipped: this CPU lacks a required feature\n", be->name, BTK_HOW);
            continue;
        }
#endif
        run_backend(ref, be);
    }
    printf("conformance: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
