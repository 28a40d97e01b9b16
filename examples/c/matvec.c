/* matvec.c -- the smallest complete use of Bittern's matrix API.
 *
 * Quantizes a random 2560 x 2560 float matrix to ternary weights (BitNet b1.58 "absmean"), multiplies it
 * by one token (gemv) and by a batch of 8 tokens (gemm), checks the results against a float reference
 * computed here from the formulas documented in bittern.h, and times the product.
 *
 * Build (from the repository root, after scripts/build.sh):
 *     gcc -std=c11 -O2 -Iinclude examples/c/matvec.c -Lbuild/lib -lbittern -Wl,-rpath,'$ORIGIN/../lib' -lm \
 *         -o build/examples/matvec
 * or simply scripts/build_c_tests.sh. Exit status 0 on success.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bittern.h"

enum { ROWS = 2560, COLS = 2560, N_TOKENS = 8, TIMED_CALLS = 20 };

/* Every fallible call returns a status; on failure the reason is in bittern_last_error(). */
static void check(bittern_status status, const char *what) {
    if (status != BITTERN_OK) {
        fprintf(stderr, "%s failed (status %d): %s\n", what, status, bittern_last_error());
        exit(1);
    }
}

static float random_float(void) { return (float)rand() / (float)RAND_MAX * 2.0f - 1.0f; } /* [-1, 1] */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- The float reference: the formulas of bittern.h, written out ---------------------------------- */

/* Weights: alpha = max(mean|W|, 1e-5) (summed in double), trit = sign(w) if |w|/alpha > 0.5 else 0. */
static float reference_ternarize(const float *w, size_t n, signed char *trits) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += fabs((double)w[i]);
    float alpha = fmaxf((float)(sum / (double)n), 1e-5f);
    float s = 1.0f / alpha;
    for (size_t i = 0; i < n; i++) trits[i] = fabsf(w[i]) * s > 0.5f ? (w[i] > 0.0f ? 1 : -1) : 0;
    return alpha;
}

/* One token: q = round(x * 127 / max|x|) as int8, y = (sum t*q) * alpha / s. */
static void reference_gemv(const signed char *trits, float alpha, const float *x, float *y) {
    float amax = 0.0f;
    for (size_t j = 0; j < COLS; j++) amax = fmaxf(amax, fabsf(x[j]));
    float s = 127.0f / fmaxf(amax, 1e-5f);
    static int q[COLS];
    for (size_t j = 0; j < COLS; j++) q[j] = (int)fmaxf(-128.0f, fminf(127.0f, nearbyintf(x[j] * s)));
    for (size_t i = 0; i < ROWS; i++) {
        int acc = 0;
        for (size_t j = 0; j < COLS; j++) acc += trits[i * COLS + j] * q[j];
        y[i] = (float)acc * (alpha / s);
    }
}

static double max_relative_error(const float *want, const float *got, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double rel = want[i] != 0.0f ? d / fabs((double)want[i]) : d;
        if (rel > worst) worst = rel;
    }
    return worst;
}

int main(void) {
    /* 1. A runtime: detects the CPU, picks the fastest backend, starts worker threads. NULL params means
          the defaults (BITTERN_BACKEND etc. still apply). */
    bittern_runtime *rt = NULL;
    check(bittern_runtime_create(NULL, &rt), "bittern_runtime_create");
    printf("bittern %s, backend %s, %d threads\n", bittern_version(), bittern_runtime_backend(rt),
           bittern_runtime_n_threads(rt));

    /* 2. Random float weights and activations. */
    float *w = malloc(sizeof(float) * ROWS * COLS);
    float *x = malloc(sizeof(float) * COLS * N_TOKENS);
    float *y = malloc(sizeof(float) * ROWS * N_TOKENS);
    float *want = malloc(sizeof(float) * ROWS * N_TOKENS);
    signed char *trits = malloc((size_t)ROWS * COLS);
    if (!w || !x || !y || !want || !trits) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    srand(1);
    for (size_t i = 0; i < (size_t)ROWS * COLS; i++) w[i] = 0.02f * random_float();
    for (size_t i = 0; i < (size_t)COLS * N_TOKENS; i++) x[i] = random_float();

    /* 3. Quantize to ternary. The matrix keeps packed trits only; w may be freed afterwards. */
    bittern_matrix *m = NULL;
    check(bittern_matrix_from_f32(rt, w, ROWS, COLS, NULL, &m), "bittern_matrix_from_f32");
    float alpha = reference_ternarize(w, (size_t)ROWS * COLS, trits);

    /* 4. One token, then a batch of tokens (each row of x is quantized on its own). */
    check(bittern_matrix_gemv_f32(m, x, y), "bittern_matrix_gemv_f32");
    reference_gemv(trits, alpha, x, want);
    double err_gemv = max_relative_error(want, y, ROWS);

    check(bittern_matrix_gemm_f32(m, x, N_TOKENS, y), "bittern_matrix_gemm_f32");
    for (size_t k = 0; k < N_TOKENS; k++) reference_gemv(trits, alpha, x + k * COLS, want + k * ROWS);
    double err_gemm = max_relative_error(want, y, (size_t)ROWS * N_TOKENS);
    printf("max relative error vs the float reference: gemv %.3g, gemm (n=%d) %.3g\n", err_gemv, N_TOKENS,
           err_gemm);

    /* 5. What the library made of it (JSON; free the string with bittern_string_free). */
    char *info = bittern_matrix_describe(m);
    if (!info) {
        fprintf(stderr, "bittern_matrix_describe failed: %s\n", bittern_last_error());
        return 1;
    }
    printf("matrix: %s\n", info);
    bittern_string_free(info);

    /* 6. Timing: weights processed per second by single-token products. */
    check(bittern_matrix_gemv_f32(m, x, y), "bittern_matrix_gemv_f32"); /* warm-up */
    double t0 = now_seconds();
    for (int i = 0; i < TIMED_CALLS; i++) check(bittern_matrix_gemv_f32(m, x, y), "bittern_matrix_gemv_f32");
    double seconds = now_seconds() - t0;
    printf("gemv: %.1f us per call, %.2f G weights/s\n", 1e6 * seconds / TIMED_CALLS,
           (double)ROWS * COLS * TIMED_CALLS / seconds / 1e9);

    /* 7. Release everything (the matrix holds a reference to its runtime, so any order is fine). */
    bittern_matrix_free(m);
    bittern_runtime_free(rt);
    free(w); free(x); free(y); free(want); free(trits);

    if (err_gemv > 1e-5 || err_gemm > 1e-5) {
        fprintf(stderr, "results differ from the reference by more than 1e-5\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
