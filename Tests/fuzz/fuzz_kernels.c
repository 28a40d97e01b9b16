/* The matrix API on random shapes with every backend this CPU runs: integer products must equal a plain
   reference exactly (the conformance property, on shapes the fuzzer picks), float products must be
   finite, and bad shapes must fail cleanly. */
#include "fuzz_common.h"

static bittern_runtime *runtimes[16];
static int n_runtimes;

static void init_runtimes(void) {
    for (size_t i = 0; i < bittern_backend_count() && n_runtimes < 16; i++) {
        if (!bittern_backend_supported(i)) continue;
        bittern_runtime_params p = bittern_runtime_default_params();
        p.backend = bittern_backend_name(i);
        p.n_threads = 1 + (i & 1);
        if (bittern_runtime_create(&p, &runtimes[n_runtimes]) == BITTERN_OK) n_runtimes++;
    }
    if (!n_runtimes) { fprintf(stderr, "fuzz: no backend\n"); exit(2); }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!n_runtimes) init_runtimes();
    if (size < 6) return 0;
    bittern_runtime *rt = runtimes[data[0] % n_runtimes];
    size_t rows = 1 + data[1] % 40, cols = 1 + ((size_t)data[2] | (size_t)data[3] << 8) % 1200, n = 1 + data[4] % 9;
    const uint8_t *src = data + 5;
    size_t avail = size - 5;
    int8_t *t = malloc(rows * cols), *x = malloc(n * cols);
    for (size_t i = 0; i < rows * cols; i++) t[i] = (int8_t)(src[i % avail] % 3) - 1;
    for (size_t i = 0; i < n * cols; i++) x[i] = (int8_t)src[(i * 7 + 3) % avail];
    bittern_matrix *m = NULL;
    bittern_status s = bittern_matrix_from_trits(rt, t, rows, cols, 0.5f, &m);
    FUZZ_ASSERT(s == BITTERN_OK, "from_trits %zux%zu: %s", rows, cols, bittern_last_error());
    int32_t *y = malloc(sizeof(int32_t) * n * rows);
    s = bittern_matrix_gemm_i8(m, x, n, y);
    FUZZ_ASSERT(s == BITTERN_OK, "gemm_i8: %s", bittern_last_error());
    for (size_t k = 0; k < n; k++)
        for (size_t r = 0; r < rows; r++) {
            int32_t want = 0;
            for (size_t j = 0; j < cols; j++) want += (int32_t)t[r * cols + j] * x[k * cols + j];
            FUZZ_ASSERT(y[k * rows + r] == want, "%s: %zux%zu n=%zu row %zu token %zu: %d != %d",
                        bittern_runtime_backend(rt), rows, cols, n, r, k, y[k * rows + r], want);
        }
    float *xf = malloc(sizeof(float) * cols), *yf = malloc(sizeof(float) * rows);
    for (size_t j = 0; j < cols; j++) xf[j] = (float)(int8_t)src[(j * 5 + 1) % avail] * 0.37f;
    s = bittern_matrix_gemv_f32(m, xf, yf);
    FUZZ_ASSERT(s == BITTERN_OK, "gemv_f32: %s", bittern_last_error());
    for (size_t r = 0; r < rows; r++) FUZZ_ASSERT(yf[r] == yf[r], "NaN output");
    xf[0] = 0.0f / 0.0f;   /* a NaN input is an error, not a NaN output */
    expect_message(bittern_matrix_gemv_f32(m, xf, yf));
    bittern_matrix_free(m);
    /* impossible shapes */
    expect_message(bittern_matrix_from_trits(rt, t, 0, cols, 1.0f, &m));
    expect_message(bittern_matrix_from_trits(rt, t, SIZE_MAX / 2, 3, 1.0f, &m));
    free(t); free(x); free(y); free(xf); free(yf);
    return 0;
}
