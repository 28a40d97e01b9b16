/* C API acceptance test, written against include/bittern.h alone (no internal header).

   It checks the documented behaviour of every public function: results of every supported backend
   (forced by name) against this file's own implementation of the quantization rules of bittern.h,
   bit for bit for integers and within 1e-5 relative for floats; tail shapes; params handling;
   every documented error status with a non-empty, fresh message; handles that are not live; kernel
   plugins (good, duplicate, wrong ABI, no entry point, missing file); concurrent use of one matrix.

   Usage: test_api [PLUGIN_DIR]   (or env BITTERN_TEST_PLUGIN_DIR; default: <dir of this exe>/plugins)
   PLUGIN_DIR holds the objects built from Tests/c/plugins/ by scripts/build_c_tests.sh.
   Closing line: "c-api: N passed, M failed"; exit status 1 when M > 0.

   Calls that might crash a faulty library (NULL and dead handles) run in a forked child, so a crash
   is reported as a failure naming the call instead of ending the run. */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bittern.h"

/* ================================================================================ check counters */

/* Shared with forked children (MAP_SHARED), so their checks count too. */
typedef struct {
    int passed, failed;
    char step[512]; /* what is being checked now: named in failures and in crash reports */
} counters;
static counters *C;

static void set_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_step(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(C->step, sizeof C->step, fmt, ap);
    va_end(ap);
}

static bool check_impl(bool ok, const char *expr, int line) {
    if (ok) {
        C->passed++;
    } else {
        C->failed++;
        printf("FAIL test_api.c:%d: %s   [%s]\n", line, expr, C->step);
        fflush(stdout);
    }
    return ok;
}
#define CHECK(cond) check_impl((cond) ? true : false, #cond, __LINE__)

static const char *status_name(bittern_status s) {
    switch (s) {
    case BITTERN_OK: return "OK";
    case BITTERN_E_INVALID_ARGUMENT: return "E_INVALID_ARGUMENT";
    case BITTERN_E_IO: return "E_IO";
    case BITTERN_E_FORMAT: return "E_FORMAT";
    case BITTERN_E_UNSUPPORTED: return "E_UNSUPPORTED";
    case BITTERN_E_OUT_OF_MEMORY: return "E_OUT_OF_MEMORY";
    case BITTERN_E_INTERNAL: return "E_INTERNAL";
    case BITTERN_E_CONTEXT_FULL: return "E_CONTEXT_FULL";
    default: return "(unknown status)";
    }
}

/* ----------------------------------------------------------------------------- expected failures */

/* Before each call expected to fail, a failure of ANOTHER kind puts a known message in place; the call
   under test must then replace it with a non-empty message of its own. */
static char before_msg[4096];

static void snapshot(bittern_status expected, const char *expr) {
    set_step("%s", expr);
    if (expected == BITTERN_E_IO) {
        bittern_runtime_params p = bittern_runtime_default_params();
        p.backend = "sentinel-backend-that-does-not-exist";
        bittern_runtime *rt = NULL;
        if (bittern_runtime_create(&p, &rt) == BITTERN_OK) bittern_runtime_free(rt);
    } else {
        (void)bittern_plugin_load("/nonexistent-bittern-sentinel-dir/sentinel-plugin.so");
    }
    snprintf(before_msg, sizeof before_msg, "%s", bittern_last_error());
}

static bool fresh_message(void) {
    const char *msg = bittern_last_error();
    return msg != NULL && msg[0] != '\0' && strcmp(msg, before_msg) != 0;
}

static void check_status(bittern_status got, bittern_status want, const char *expr, int line) {
    const char *msg = bittern_last_error();
    bool ok = got == want && fresh_message();
    if (!check_impl(ok, expr, line))
        printf("    expected %s (%d) with a new message; got %s (%d), message \"%s\" (before: \"%s\")\n",
               status_name(want), want, status_name(got), got, msg ? msg : "(NULL)", before_msg);
}
#define EXPECT_STATUS(want, call)                                                                   \
    do {                                                                                            \
        snapshot((want), #call);                                                                    \
        bittern_status st_ = (call);                                                                \
        check_status(st_, (want), #call, __LINE__);                                                 \
    } while (0)

/* For functions that report failure with NULL (describe) and set the message. */
#define EXPECT_NULL_STRING(call)                                                                    \
    do {                                                                                            \
        snapshot(BITTERN_E_INVALID_ARGUMENT, #call);                                                \
        char *s_ = (call);                                                                          \
        if (!check_impl(s_ == NULL && fresh_message(), #call " -> NULL + message", __LINE__))       \
            printf("    got %s, message \"%s\"\n", s_ ? s_ : "NULL", bittern_last_error());         \
        bittern_string_free(s_);                                                                    \
    } while (0)

/* The integer value of "key" in a flat JSON object, or -1. */
static long json_int(const char *json, const char *key) {
    char quoted[128];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *p = strstr(json, quoted);
    if (!p) return -1;
    p += strlen(quoted);
    while (*p == ' ' || *p == ':') p++;
    char *end;
    long v = strtol(p, &end, 10);
    return end == p ? -1 : v;
}

/* ============================================================================ reference (own) code */

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint32_t rnd_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
/* Uniform in [-1, 1). */
static float rnd_f(void) { return (float)((double)rnd_u32() / 2147483648.0 - 1.0); }

static void fill_random_f32(float *v, size_t n, float scale) {
    /* sum of three uniforms: roughly bell-shaped, like real weights */
    for (size_t i = 0; i < n; i++) v[i] = scale * (rnd_f() + rnd_f() + rnd_f()) / 3.0f;
}
static void fill_random_i8(int8_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = (int8_t)(rnd_u32() & 0xff);
}

/* A matrix as this test understands it: trits and alpha computed here. */
typedef struct {
    size_t rows, cols;
    int8_t *t;
    float alpha;
} refmat;

/* bittern.h: alpha = max(mean|W|, 1e-5) (sum in double, row-major), s = 1/alpha (float),
   trit = sign(w) if fabsf(w)*s > zero_threshold else 0. */
static refmat ref_from_f32(const float *w, size_t rows, size_t cols, float zero_threshold) {
    refmat r = {rows, cols, malloc(rows * cols), 0.0f};
    size_t n = rows * cols;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += fabs((double)w[i]);
    r.alpha = fmaxf((float)(sum / (double)n), 1e-5f);
    float s = 1.0f / r.alpha;
    for (size_t i = 0; i < n; i++)
        r.t[i] = (fabsf(w[i]) * s > zero_threshold) ? (w[i] > 0.0f ? 1 : -1) : 0;
    return r;
}

static refmat ref_from_trits(const int8_t *t, size_t rows, size_t cols, float alpha) {
    refmat r = {rows, cols, malloc(rows * cols), alpha};
    memcpy(r.t, t, rows * cols);
    return r;
}

static void ref_free(refmat *r) { free(r->t); r->t = NULL; }

/* Activations: s = 127/fmaxf(max|x|, 1e-5f), q = clamp(nearbyintf(x*s), -128, 127). Returns s. */
static float ref_quantize(const float *x, size_t n, int8_t *q) {
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    float s = 127.0f / fmaxf(amax, 1e-5f);
    for (size_t i = 0; i < n; i++) {
        float v = nearbyintf(x[i] * s);
        q[i] = (int8_t)(v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v));
    }
    return s;
}

static void ref_gemv_i8(const refmat *r, const int8_t *x, int32_t *y) {
    for (size_t i = 0; i < r->rows; i++) {
        int32_t acc = 0;
        for (size_t j = 0; j < r->cols; j++) acc += (int32_t)r->t[i * r->cols + j] * (int32_t)x[j];
        y[i] = acc;
    }
}

static void ref_gemv_f32(const refmat *r, const float *x, float *y) {
    int8_t *q = malloc(r->cols);
    int32_t *acc = malloc(r->rows * sizeof(int32_t));
    float s = ref_quantize(x, r->cols, q);
    ref_gemv_i8(r, q, acc);
    for (size_t i = 0; i < r->rows; i++) y[i] = (float)acc[i] * (r->alpha / s);
    free(q);
    free(acc);
}

/* ====================================================================== comparing library results */

#define GUARD 16
#define GUARD_I32 0x5a5a5a5a

/* Output buffers with GUARD sentinel values after the end, to catch writes past y. */
static int32_t *alloc_i32(size_t n) {
    int32_t *p = malloc((n + GUARD) * sizeof(int32_t));
    for (size_t i = 0; i < n + GUARD; i++) p[i] = GUARD_I32;
    return p;
}
static float *alloc_f32(size_t n) {
    float *p = malloc((n + GUARD) * sizeof(float));
    for (size_t i = 0; i < n + GUARD; i++) p[i] = -12345.0f;
    return p;
}
static bool guards_intact_i32(const int32_t *p, size_t n) {
    for (size_t i = n; i < n + GUARD; i++)
        if (p[i] != GUARD_I32) return false;
    return true;
}
static bool guards_intact_f32(const float *p, size_t n) {
    for (size_t i = n; i < n + GUARD; i++)
        if (p[i] != -12345.0f) return false;
    return true;
}

static bool equal_i32(const int32_t *want, const int32_t *got, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (want[i] != got[i]) {
            printf("    first difference at [%zu]: want %d, got %d\n", i, want[i], got[i]);
            return false;
        }
    return true;
}

static bool close_f32(const float *want, const float *got, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!isfinite(got[i]) || d > 1e-5 * fabs((double)want[i])) {
            printf("    first difference at [%zu]: want %.9g, got %.9g\n", i, want[i], got[i]);
            return false;
        }
    }
    return true;
}

/* Checks every product of `m` against `r`. */
static void check_matrix(const bittern_matrix *m, const refmat *r, const char *backend, const char *label) {
    size_t rows = r->rows, cols = r->cols;
    set_step("%s: %s %zux%zu shape", backend, label, rows, cols);
    size_t mr = 0, mc = 0;
    float ma = 0.0f;
    CHECK(bittern_matrix_shape(m, &mr, &mc, &ma) == BITTERN_OK);
    CHECK(mr == rows && mc == cols);
    if (!CHECK(ma == r->alpha)) printf("    alpha: want %.9g, got %.9g\n", r->alpha, ma);
    CHECK(bittern_matrix_shape(m, NULL, NULL, NULL) == BITTERN_OK); /* every output may be NULL */

    set_step("%s: %s %zux%zu describe", backend, label, rows, cols);
    char *json = bittern_matrix_describe(m);
    if (CHECK(json != NULL)) {
        static const char *keys[] = {"\"rows\"", "\"cols\"", "\"alpha\"", "\"zero_fraction\"", "\"backend\"",
                                     "\"bytes\"", "\"bits_per_weight\"", "\"bytes_per_node\""};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            if (!CHECK(strstr(json, keys[k]) != NULL)) printf("    key %s missing in %s\n", keys[k], json);
        char quoted[256];
        snprintf(quoted, sizeof quoted, "\"%s\"", backend);
        if (!CHECK(strstr(json, quoted) != NULL)) printf("    backend %s missing in %s\n", quoted, json);
        bittern_string_free(json);
    }

    const size_t n = 5;
    int8_t *xi = malloc(n * cols);
    float *xf = malloc(n * cols * sizeof(float));
    int32_t *want_i = malloc(n * rows * sizeof(int32_t));
    float *want_f = malloc(n * rows * sizeof(float));
    int32_t *got_i = alloc_i32(n * rows);
    float *got_f = alloc_f32(n * rows);

    /* int8: random full range, then all -128 in the last token */
    fill_random_i8(xi, n * cols);
    for (size_t j = 0; j < cols; j++) xi[(n - 1) * cols + j] = -128;
    for (size_t k = 0; k < n; k++) ref_gemv_i8(r, xi + k * cols, want_i + k * rows);

    set_step("%s: %s %zux%zu gemv_i8", backend, label, rows, cols);
    CHECK(bittern_matrix_gemv_i8(m, xi, got_i) == BITTERN_OK);
    CHECK(equal_i32(want_i, got_i, rows));
    CHECK(guards_intact_i32(got_i, rows));
    set_step("%s: %s %zux%zu gemv_i8 (all -128)", backend, label, rows, cols);
    CHECK(bittern_matrix_gemv_i8(m, xi + (n - 1) * cols, got_i) == BITTERN_OK);
    CHECK(equal_i32(want_i + (n - 1) * rows, got_i, rows));

    set_step("%s: %s %zux%zu gemm_i8 n=%zu", backend, label, rows, cols, n);
    for (size_t i = 0; i < n * rows; i++) got_i[i] = GUARD_I32;
    CHECK(bittern_matrix_gemm_i8(m, xi, n, got_i) == BITTERN_OK);
    CHECK(equal_i32(want_i, got_i, n * rows));
    CHECK(guards_intact_i32(got_i, n * rows));

    /* float: token 0 random, 1 all zero, 2 tiny (max|x| under the 1e-5 clamp), 3 one spike, 4 wide range */
    fill_random_f32(xf, n * cols, 1.0f);
    for (size_t j = 0; j < cols; j++) {
        xf[1 * cols + j] = 0.0f;
        xf[2 * cols + j] *= 5e-6f;
        xf[4 * cols + j] *= 1000.0f;
    }
    xf[3 * cols + cols / 2] = 300.0f;
    for (size_t k = 0; k < n; k++) ref_gemv_f32(r, xf + k * cols, want_f + k * rows);

    set_step("%s: %s %zux%zu gemv_f32", backend, label, rows, cols);
    CHECK(bittern_matrix_gemv_f32(m, xf, got_f) == BITTERN_OK);
    CHECK(close_f32(want_f, got_f, rows));
    CHECK(guards_intact_f32(got_f, rows));
    set_step("%s: %s %zux%zu gemv_f32 (zero input)", backend, label, rows, cols);
    CHECK(bittern_matrix_gemv_f32(m, xf + cols, got_f) == BITTERN_OK);
    CHECK(close_f32(want_f + rows, got_f, rows));

    set_step("%s: %s %zux%zu gemm_f32 n=%zu", backend, label, rows, cols, n);
    for (size_t i = 0; i < n * rows; i++) got_f[i] = -12345.0f;
    CHECK(bittern_matrix_gemm_f32(m, xf, n, got_f) == BITTERN_OK);
    CHECK(close_f32(want_f, got_f, n * rows));
    CHECK(guards_intact_f32(got_f, n * rows));

    free(xi); free(xf); free(want_i); free(want_f); free(got_i); free(got_f);
}

/* Builds `rows x cols` from floats with `params` (NULL = defaults) and checks it. */
static void check_from_f32(bittern_runtime *rt, const char *backend, const char *label, const float *w,
                           size_t rows, size_t cols, const bittern_quant_params *params) {
    float thr = params ? params->zero_threshold : 0.5f;
    refmat r = ref_from_f32(w, rows, cols, thr);
    bittern_matrix *m = NULL;
    set_step("%s: %s %zux%zu from_f32", backend, label, rows, cols);
    if (CHECK(bittern_matrix_from_f32(rt, w, rows, cols, params, &m) == BITTERN_OK && m != NULL)) {
        check_matrix(m, &r, backend, label);
        bittern_matrix_free(m);
    } else {
        printf("    %s\n", bittern_last_error());
    }
    ref_free(&r);
}

static void check_from_trits(bittern_runtime *rt, const char *backend, const char *label, const int8_t *t,
                             size_t rows, size_t cols, float alpha) {
    refmat r = ref_from_trits(t, rows, cols, alpha);
    bittern_matrix *m = NULL;
    set_step("%s: %s %zux%zu from_trits", backend, label, rows, cols);
    if (CHECK(bittern_matrix_from_trits(rt, t, rows, cols, alpha, &m) == BITTERN_OK && m != NULL)) {
        check_matrix(m, &r, backend, label);
        bittern_matrix_free(m);
    } else {
        printf("    %s\n", bittern_last_error());
    }
    ref_free(&r);
}

static void random_trits(int8_t *t, size_t n) {
    for (size_t i = 0; i < n; i++) t[i] = (int8_t)(rnd_u32() % 3) - 1;
}

/* ============================================================================ one backend, in full */

static float *W257; /* the 257 x 1000 random float matrix of the brief */
enum { W_ROWS = 257, W_COLS = 1000 };

static void check_backend(bittern_runtime *rt, const char *backend) {
    printf("backend %s\n", backend);
    fflush(stdout);
    /* the 257 x 1000 float matrix with the default threshold, 0.0 and 1.0 */
    check_from_f32(rt, backend, "random", W257, W_ROWS, W_COLS, NULL);
    bittern_quant_params qp = bittern_quant_default_params();
    CHECK(qp.size == sizeof(bittern_quant_params) && qp.zero_threshold == 0.5f);
    qp.zero_threshold = 0.0f;
    check_from_f32(rt, backend, "threshold 0.0", W257, W_ROWS, W_COLS, &qp);
    qp.zero_threshold = 1.0f;
    check_from_f32(rt, backend, "threshold 1.0", W257, W_ROWS, W_COLS, &qp);

    /* from_trits with a given alpha */
    int8_t *t = malloc(W_ROWS * W_COLS);
    random_trits(t, W_ROWS * W_COLS);
    check_from_trits(rt, backend, "trits alpha 0.75", t, W_ROWS, W_COLS, 0.75f);
    free(t);

    /* tails, both ways */
    static const size_t tails[][2] = {{1, 1}, {3, 65}, {17, 129}, {2, 63}, {9, 64}};
    for (size_t k = 0; k < sizeof tails / sizeof *tails; k++) {
        size_t rows = tails[k][0], cols = tails[k][1];
        float *w = malloc(rows * cols * sizeof(float));
        int8_t *tt = malloc(rows * cols);
        fill_random_f32(w, rows * cols, 0.02f);
        random_trits(tt, rows * cols);
        check_from_f32(rt, backend, "tail", w, rows, cols, NULL);
        check_from_trits(rt, backend, "tail trits", tt, rows, cols, 0.125f);
        free(w);
        free(tt);
    }

    /* rounding of activations: identity weights, alpha 1, max|x| = 127 so s = 1 and y = q exactly;
       halves round to even */
    {
        enum { N = 16 };
        static const float x[N] = {127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 3.5f, -3.5f,
                                   126.5f, -126.5f, 0.49999997f, -1.5f, 4.5f, 5.5f, -127.0f, 0.0f};
        static const float want[N] = {127, 0, 2, 2, 0, -2, 4, -4, 126, -126, 0, -2, 4, 6, -127, 0};
        int8_t eye[N * N] = {0};
        for (size_t i = 0; i < N; i++) eye[i * N + i] = 1;
        bittern_matrix *m = NULL;
        float y[N];
        set_step("%s: round half to even", backend);
        if (CHECK(bittern_matrix_from_trits(rt, eye, N, N, 1.0f, &m) == BITTERN_OK)) {
            CHECK(bittern_matrix_gemv_f32(m, x, y) == BITTERN_OK);
            if (!CHECK(memcmp(y, want, sizeof want) == 0))
                for (size_t i = 0; i < N; i++)
                    if (y[i] != want[i]) printf("    x=%.8g: want %g, got %g\n", x[i], want[i], y[i]);
            bittern_matrix_free(m);
        }
    }

    /* an all-zero matrix: alpha clamps to 1e-5, every trit 0, every product 0 */
    float *zeros = calloc(4 * 70, sizeof(float));
    check_from_f32(rt, backend, "all zero", zeros, 4, 70, NULL);
    free(zeros);

    /* 5 x 16384, all +1 weights, all -128 activations: exact -2097152 per row (int16 traps) */
    {
        const size_t rows = 5, cols = 16384, n = 3;
        float *w = malloc(rows * cols * sizeof(float));
        for (size_t i = 0; i < rows * cols; i++) w[i] = 1.0f;
        int8_t *x = malloc(n * cols);
        memset(x, 0x80, n * cols); /* -128 */
        int32_t *y = alloc_i32(n * rows);
        bittern_matrix *m = NULL;
        set_step("%s: extreme 5x16384 from_f32", backend);
        if (CHECK(bittern_matrix_from_f32(rt, w, rows, cols, NULL, &m) == BITTERN_OK)) {
            float a = 0.0f;
            CHECK(bittern_matrix_shape(m, NULL, NULL, &a) == BITTERN_OK && a == 1.0f);
            set_step("%s: extreme 5x16384 gemv_i8", backend);
            CHECK(bittern_matrix_gemv_i8(m, x, y) == BITTERN_OK);
            bool all = true;
            for (size_t i = 0; i < rows; i++) all = all && y[i] == -128 * 16384;
            if (!CHECK(all)) printf("    y[0] = %d, want %d\n", y[0], -128 * 16384);
            set_step("%s: extreme 5x16384 gemm_i8 n=3", backend);
            CHECK(bittern_matrix_gemm_i8(m, x, n, y) == BITTERN_OK);
            all = true;
            for (size_t i = 0; i < rows * n; i++) all = all && y[i] == -128 * 16384;
            CHECK(all);
            CHECK(guards_intact_i32(y, n * rows));
            /* float: x = -1 everywhere, q = -127, y = -127*16384 * (1/127) */
            float *xf = malloc(cols * sizeof(float)), *yf = alloc_f32(rows);
            for (size_t j = 0; j < cols; j++) xf[j] = -1.0f;
            set_step("%s: extreme 5x16384 gemv_f32", backend);
            CHECK(bittern_matrix_gemv_f32(m, xf, yf) == BITTERN_OK);
            float want = (float)(-127 * 16384) * (1.0f / 127.0f);
            for (size_t i = 0; i < rows; i++)
                if (!CHECK(fabsf(yf[i] - want) <= 1e-5f * fabsf(want))) break;
            free(xf);
            free(yf);
            bittern_matrix_free(m);
        }
        int8_t *ones = malloc(rows * cols);
        memset(ones, 1, rows * cols);
        check_from_trits(rt, backend, "extreme trits", ones, rows, cols, 1.0f);
        free(ones);
        free(w);
        free(x);
        free(y);
    }
}

/* ===================================================================================== sections */

static void test_versions(void) {
    set_step("versions");
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", BITTERN_VERSION_MAJOR, BITTERN_VERSION_MINOR, BITTERN_VERSION_PATCH);
    const char *v = bittern_version();
    if (!CHECK(v != NULL && strcmp(v, want) == 0)) printf("    version \"%s\", header %s\n", v ? v : "NULL", want);
    CHECK(bittern_abi_version() == BITTERN_ABI_VERSION);
    CHECK(bittern_last_error() != NULL);
}

static void test_backend_list(void) {
    set_step("backend list");
    size_t count = bittern_backend_count();
    CHECK(count >= 1);
    bool has_scalar = false;
    for (size_t i = 0; i < count; i++) {
        const char *name = bittern_backend_name(i);
        if (!CHECK(name != NULL && name[0] != '\0')) continue;
        printf("  [%zu] %-16s %s\n", i, name, bittern_backend_supported(i) ? "supported" : "unsupported here");
        if (strcmp(name, "scalar") == 0) {
            has_scalar = true;
            CHECK(bittern_backend_supported(i));
        }
    }
    CHECK(has_scalar);
    CHECK(bittern_backend_name(count) == NULL);
    CHECK(bittern_backend_name(SIZE_MAX) == NULL);
    CHECK(!bittern_backend_supported(count));
    CHECK(!bittern_backend_supported(SIZE_MAX));
}

static void test_runtime(void) {
    set_step("runtime create");
    bittern_runtime *rt = NULL;
    CHECK(bittern_runtime_create(NULL, &rt) == BITTERN_OK && rt != NULL);
    const char *be = bittern_runtime_backend(rt);
    CHECK(be != NULL && be[0] != '\0');
    CHECK(bittern_runtime_n_threads(rt) >= 1);

    set_step("runtime describe");
    char *json = bittern_runtime_describe(rt);
    if (CHECK(json != NULL)) {
        static const char *keys[] = {"\"version\"", "\"cpu_features\"", "\"backends\"", "\"threads\"",
                                     "\"numa_nodes\"", "\"topology\""};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            if (!CHECK(strstr(json, keys[k]) != NULL)) printf("    key %s missing in %s\n", keys[k], json);
        CHECK(json[0] == '{');
        bittern_string_free(json);
    }
    /* NULL runtime = the default runtime */
    set_step("default runtime");
    json = bittern_runtime_describe(NULL);
    CHECK(json != NULL && strstr(json, "\"backends\"") != NULL);
    bittern_string_free(json);
    CHECK(bittern_runtime_backend(NULL) != NULL);
    CHECK(bittern_runtime_n_threads(NULL) >= 1);
    bittern_runtime_free(rt);

    /* n_threads is honoured */
    set_step("runtime n_threads");
    bittern_runtime_params p = bittern_runtime_default_params();
    CHECK(p.size == sizeof(bittern_runtime_params) && p.n_threads == 0 && p.backend == NULL &&
          p.numa_policy == NULL && p.topology == NULL);
    for (int32_t n = 1; n <= 2; n++) {
        p.n_threads = n;
        rt = NULL;
        if (CHECK(bittern_runtime_create(&p, &rt) == BITTERN_OK)) {
            CHECK(bittern_runtime_n_threads(rt) == n);
            bittern_runtime_free(rt);
        }
    }

    /* params size: 0 and too large are refused, a smaller size gets defaults for the missing fields */
    p = bittern_runtime_default_params();
    p.size = 0;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_runtime_create(&p, &rt));
    struct { bittern_runtime_params p; uint64_t extra[4]; } bigger;
    memset(&bigger, 0, sizeof bigger);
    bigger.p = bittern_runtime_default_params();
    bigger.p.size = (uint32_t)sizeof bigger;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_runtime_create(&bigger.p, &rt));

    set_step("runtime params smaller size");
    p = bittern_runtime_default_params();
    p.size = (uint32_t)offsetof(bittern_runtime_params, numa_policy); /* size, n_threads, backend */
    p.backend = "scalar";
    p.numa_policy = "no-such-policy"; /* beyond size: must be ignored */
    p.topology = "no-such-topology";
    rt = NULL;
    if (CHECK(bittern_runtime_create(&p, &rt) == BITTERN_OK)) {
        const char *name = bittern_runtime_backend(rt);
        CHECK(name != NULL && strcmp(name, "scalar") == 0);
        bittern_runtime_free(rt);
    } else {
        printf("    %s\n", bittern_last_error());
    }
    p = bittern_runtime_default_params();
    p.size = (uint32_t)offsetof(bittern_runtime_params, backend); /* size, n_threads */
    p.n_threads = 1;
    p.backend = "nope"; /* beyond size: must be ignored */
    rt = NULL;
    if (CHECK(bittern_runtime_create(&p, &rt) == BITTERN_OK)) {
        CHECK(bittern_runtime_n_threads(rt) == 1);
        bittern_runtime_free(rt);
    } else {
        printf("    %s\n", bittern_last_error());
    }

    /* NUMA: a synthetic 4-node topology (hwloc string) with more threads than this machine has cores;
       products must not depend on how rows are split across nodes and threads */
    static const char *policies[] = {NULL, "partition", "replicate", "interleave", "none"};
    for (size_t k = 0; k < sizeof policies / sizeof *policies; k++) {
        p = bittern_runtime_default_params();
        p.topology = "pack:2 numa:2 core:2 pu:1";
        p.numa_policy = policies[k];
        p.n_threads = 5;
        rt = NULL;
        set_step("synthetic topology, numa_policy %s", policies[k] ? policies[k] : "NULL");
        if (!CHECK(bittern_runtime_create(&p, &rt) == BITTERN_OK)) {
            printf("    %s\n", bittern_last_error());
            continue;
        }
        CHECK(bittern_runtime_n_threads(rt) == 5);
        char *desc = bittern_runtime_describe(rt);
        if (!CHECK(desc != NULL && json_int(desc, "numa_nodes") == 4)) printf("    %s\n", desc ? desc : "NULL");
        /* the plan: 5 workers over 4 nodes, never pinned on a described topology */
        CHECK(desc != NULL && strstr(desc, "\"plan\":{\"workers\":5,") != NULL);
        CHECK(desc != NULL && strstr(desc, "\"pinned\":false") != NULL);
        bittern_string_free(desc);
        const char *be = bittern_runtime_backend(rt);
        check_from_f32(rt, be, "synthetic 4 nodes", W257, W_ROWS, W_COLS, NULL);
        float w[17 * 129];
        fill_random_f32(w, 17 * 129, 0.1f);
        check_from_f32(rt, be, "synthetic 4 nodes", w, 17, 129, NULL);
        bittern_runtime_free(rt);
    }
    /* a policy naming a node that does not exist is an error, never a silent fallback */
    p = bittern_runtime_default_params();
    p.topology = "pack:2 numa:2 core:2 pu:1";
    p.numa_policy = "partition:0,4";
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_runtime_create(&p, &rt));
    p = bittern_runtime_default_params();
    p.numa_policy = "replicate:4095";
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_runtime_create(&p, &rt));
    p = bittern_runtime_default_params();
    p.numa_policy = "bogus";
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_runtime_create(&p, &rt));

    /* backend names */
    p = bittern_runtime_default_params();
    p.backend = "nope";
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_runtime_create(&p, &rt));
    p.backend = "";
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_runtime_create(&p, &rt));

    /* a success leaves the message as it was */
    set_step("message survives a success");
    snapshot(BITTERN_E_INVALID_ARGUMENT, "message survives a success");
    rt = NULL;
    CHECK(bittern_runtime_create(NULL, &rt) == BITTERN_OK);
    CHECK(strcmp(bittern_last_error(), before_msg) == 0);
    bittern_runtime_free(rt);

    /* matrices keep their runtime alive */
    set_step("matrix outlives its runtime");
    rt = NULL;
    bittern_matrix *m = NULL;
    if (CHECK(bittern_runtime_create(NULL, &rt) == BITTERN_OK) &&
        CHECK(bittern_matrix_from_f32(rt, W257, W_ROWS, W_COLS, NULL, &m) == BITTERN_OK)) {
        bittern_runtime_free(rt);
        refmat r = ref_from_f32(W257, W_ROWS, W_COLS, 0.5f);
        float *x = malloc(W_COLS * sizeof(float)), *want = malloc(W_ROWS * sizeof(float));
        float *got = alloc_f32(W_ROWS);
        fill_random_f32(x, W_COLS, 2.0f);
        ref_gemv_f32(&r, x, want);
        CHECK(bittern_matrix_gemv_f32(m, x, got) == BITTERN_OK);
        CHECK(close_f32(want, got, W_ROWS));
        free(x); free(want); free(got);
        ref_free(&r);
        bittern_matrix_free(m);
    }
}

/* Every supported backend forced by name; every unsupported one refused. */
static void test_each_backend(void) {
    size_t count = bittern_backend_count();
    bool saw_unsupported = false;
    for (size_t i = 0; i < count; i++) {
        const char *name = bittern_backend_name(i);
        if (name == NULL) continue;
        bittern_runtime_params p = bittern_runtime_default_params();
        p.backend = name;
        bittern_runtime *rt = NULL;
        if (!bittern_backend_supported(i)) {
            saw_unsupported = true;
            EXPECT_STATUS(BITTERN_E_UNSUPPORTED, bittern_runtime_create(&p, &rt));
            continue;
        }
        set_step("runtime with backend %s", name);
        if (!CHECK(bittern_runtime_create(&p, &rt) == BITTERN_OK)) {
            printf("    %s\n", bittern_last_error());
            continue;
        }
        const char *chosen = bittern_runtime_backend(rt);
        CHECK(chosen != NULL && strcmp(chosen, name) == 0);
        check_backend(rt, name);
        bittern_runtime_free(rt);
    }
    if (!saw_unsupported)
        printf("note: every listed backend runs on this CPU; the UNSUPPORTED path of a forced backend is not exercised\n");
}

/* Bad values (run in-process: they need valid matrices and reach only argument checks). */
static void test_bad_values(void) {
    bittern_matrix *m = NULL;
    float w[64];
    fill_random_f32(w, 64, 1.0f);

    /* zero_threshold */
    bittern_quant_params qp = bittern_quant_default_params();
    qp.zero_threshold = -0.25f;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, w, 8, 8, &qp, &m));
    qp.zero_threshold = NAN;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, w, 8, 8, &qp, &m));
    qp = bittern_quant_default_params();
    qp.size = 0;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, w, 8, 8, &qp, &m));
    struct { bittern_quant_params p; uint64_t extra[2]; } bigger;
    memset(&bigger, 0, sizeof bigger);
    bigger.p = bittern_quant_default_params();
    bigger.p.size = (uint32_t)sizeof bigger;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, w, 8, 8, &bigger.p, &m));

    /* smaller quant params: the threshold field is missing, so the default 0.5 applies */
    set_step("quant params smaller size");
    qp = bittern_quant_default_params();
    qp.size = (uint32_t)offsetof(bittern_quant_params, zero_threshold);
    qp.zero_threshold = 3.0f;
    {
        refmat r = ref_from_f32(W257, W_ROWS, W_COLS, 0.5f);
        m = NULL;
        if (CHECK(bittern_matrix_from_f32(NULL, W257, W_ROWS, W_COLS, &qp, &m) == BITTERN_OK)) {
            check_matrix(m, &r, bittern_runtime_backend(NULL), "smaller quant params");
            bittern_matrix_free(m);
        } else {
            printf("    %s\n", bittern_last_error());
        }
        ref_free(&r);
    }

    /* NaN / Inf weights: the message names the index */
    float *big = malloc(W_ROWS * W_COLS * sizeof(float));
    memcpy(big, W257, W_ROWS * W_COLS * sizeof(float));
    big[12345] = NAN;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, big, W_ROWS, W_COLS, NULL, &m));
    if (!CHECK(strstr(bittern_last_error(), "12345") != NULL))
        printf("    message does not name index 12345: \"%s\"\n", bittern_last_error());
    big[12345] = INFINITY;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, big, W_ROWS, W_COLS, NULL, &m));
    big[12345] = -INFINITY;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, big, W_ROWS, W_COLS, NULL, &m));
    free(big);

    /* alpha and trit values */
    int8_t t[64];
    random_trits(t, 64);
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_trits(NULL, t, 8, 8, 0.0f, &m));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_trits(NULL, t, 8, 8, -1.0f, &m));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_trits(NULL, t, 8, 8, NAN, &m));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_trits(NULL, t, 8, 8, INFINITY, &m));
    t[37] = 2;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_trits(NULL, t, 8, 8, 1.0f, &m));
    t[37] = -2;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_trits(NULL, t, 8, 8, 1.0f, &m));
    t[37] = 0;

    /* NaN / Inf activations */
    set_step("NaN activations: make matrix");
    m = NULL;
    if (CHECK(bittern_matrix_from_f32(NULL, w, 8, 8, NULL, &m) == BITTERN_OK)) {
        float x[3 * 8], y[3 * 8];
        fill_random_f32(x, 3 * 8, 1.0f);
        x[5] = NAN;
        EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemv_f32(m, x, y));
        x[5] = INFINITY;
        EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemv_f32(m, x, y));
        x[5] = 0.5f;
        x[2 * 8 + 7] = NAN; /* in the last token only */
        EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemm_f32(m, x, 3, y));
        bittern_matrix_free(m);
    }
}

/* -------------------------------------------------------------- NULL and dead handles (in a child) */

typedef struct {
    bittern_matrix *live;     /* a live 8x8 matrix */
    bittern_matrix *freed;    /* a matrix already freed */
    bittern_runtime *freed_rt; /* a runtime freed with no matrix using it */
} handles;

static void bad_handles_child(void *arg) {
    handles *h = arg;
    bittern_matrix *m = h->live, *out = NULL;
    float w[64], x[3 * 8], y[3 * 8];
    int8_t t[64], xi[3 * 8];
    int32_t yi[3 * 8];
    size_t r, c;
    float a;
    fill_random_f32(w, 64, 1.0f);
    fill_random_f32(x, 24, 1.0f);
    random_trits(t, 64);
    fill_random_i8(xi, 24);

    /* NULL for every pointer argument */
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_runtime_create(NULL, NULL));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, NULL, 8, 8, NULL, &out));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, w, 8, 8, NULL, NULL));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_trits(NULL, NULL, 8, 8, 1.0f, &out));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_trits(NULL, t, 8, 8, 1.0f, NULL));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemv_f32(NULL, x, y));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemv_f32(m, NULL, y));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemv_f32(m, x, NULL));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemm_f32(NULL, x, 3, y));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemm_f32(m, NULL, 3, y));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemm_f32(m, x, 3, NULL));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemv_i8(NULL, xi, yi));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemv_i8(m, NULL, yi));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemv_i8(m, xi, NULL));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemm_i8(NULL, xi, 3, yi));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemm_i8(m, NULL, 3, yi));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemm_i8(m, xi, 3, NULL));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_shape(NULL, &r, &c, &a));
    EXPECT_NULL_STRING(bittern_matrix_describe(NULL));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_plugin_load(NULL));

    /* zero and overflowing sizes */
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, w, 0, 8, NULL, &out));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, w, 8, 0, NULL, &out));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, w, SIZE_MAX / 2 + 1, 2, NULL, &out));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, w, 3, SIZE_MAX / 3 + 1, NULL, &out));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(NULL, w, SIZE_MAX, SIZE_MAX, NULL, &out));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_trits(NULL, t, 0, 8, 1.0f, &out));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_trits(NULL, t, 8, 0, 1.0f, &out));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_trits(NULL, t, SIZE_MAX / 2 + 1, 2, 1.0f, &out));

    /* a foreign handle (never created by the library) */
    struct { uint64_t junk[64]; } fake;
    memset(&fake, 0xA5, sizeof fake);
    bittern_matrix *fm = (bittern_matrix *)&fake;
    bittern_runtime *frt = (bittern_runtime *)&fake;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemv_f32(fm, x, y));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemm_f32(fm, x, 3, y));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemv_i8(fm, xi, yi));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemm_i8(fm, xi, 3, yi));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_shape(fm, &r, &c, &a));
    EXPECT_NULL_STRING(bittern_matrix_describe(fm));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(frt, w, 8, 8, NULL, &out));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_trits(frt, t, 8, 8, 1.0f, &out));
    EXPECT_NULL_STRING(bittern_runtime_describe(frt));
    snapshot(BITTERN_E_INVALID_ARGUMENT, "bittern_runtime_backend(foreign)");
    CHECK(bittern_runtime_backend(frt) == NULL && fresh_message());
    snapshot(BITTERN_E_INVALID_ARGUMENT, "bittern_runtime_n_threads(foreign)");
    CHECK(bittern_runtime_n_threads(frt) == -1 && fresh_message());
    set_step("bittern_matrix_free(foreign) must not crash");
    bittern_matrix_free(fm);
    set_step("bittern_runtime_free(foreign) must not crash");
    bittern_runtime_free(frt);

    /* freed handles */
    bittern_matrix *dm = h->freed;
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemv_f32(dm, x, y));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemm_f32(dm, x, 3, y));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemv_i8(dm, xi, yi));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_gemm_i8(dm, xi, 3, yi));
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_shape(dm, &r, &c, &a));
    EXPECT_NULL_STRING(bittern_matrix_describe(dm));
    set_step("bittern_matrix_free(freed) must not crash");
    bittern_matrix_free(dm);
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_matrix_from_f32(h->freed_rt, w, 8, 8, NULL, &out));
    EXPECT_NULL_STRING(bittern_runtime_describe(h->freed_rt));
    set_step("bittern_runtime_free(freed) must not crash");
    bittern_runtime_free(h->freed_rt);

    /* free(NULL) and string_free(NULL) are no-ops */
    set_step("free(NULL)");
    bittern_matrix_free(NULL);
    bittern_runtime_free(NULL);
    bittern_string_free(NULL);
    CHECK(true);
    /* (no product on the live matrix here: a forked child has no worker threads) */
}

/* Runs fn in a forked child: a crash or a hang becomes one failure naming the step. */
static void run_isolated(const char *what, void (*fn)(void *), void *arg) {
    fflush(stdout);
    fflush(stderr);
    set_step("%s", what);
    pid_t pid = fork();
    if (pid < 0) {
        CHECK(!"fork failed");
        return;
    }
    if (pid == 0) {
        alarm(60);
        fn(arg);
        fflush(stdout);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        C->failed++;
        printf("FAIL %s: child killed by signal %d (%s) during: %s\n", what, WTERMSIG(status),
               WTERMSIG(status) == SIGALRM ? "hang" : strsignal(WTERMSIG(status)), C->step);
    } else if (WEXITSTATUS(status) != 0) {
        C->failed++;
        printf("FAIL %s: child exited with %d during: %s\n", what, WEXITSTATUS(status), C->step);
    }
}

static void test_bad_handles(void) {
    handles h = {0};
    float w[64];
    fill_random_f32(w, 64, 1.0f);
    set_step("bad handles: setup");
    bittern_runtime *rt = NULL;
    if (!CHECK(bittern_matrix_from_f32(NULL, w, 8, 8, NULL, &h.live) == BITTERN_OK)) return;
    if (!CHECK(bittern_matrix_from_f32(NULL, w, 8, 8, NULL, &h.freed) == BITTERN_OK)) return;
    bittern_matrix_free(h.freed);
    if (!CHECK(bittern_runtime_create(NULL, &rt) == BITTERN_OK)) return;
    h.freed_rt = rt;
    bittern_runtime_free(rt);
    run_isolated("NULL, foreign and freed handles", bad_handles_child, &h);
    bittern_matrix_free(h.live);
}

/* ======================================================================================== plugins */

static char plugin_dir[4096];

static void plugin_path(char *buf, size_t cap, const char *file) { snprintf(buf, cap, "%s/%s", plugin_dir, file); }

static void test_plugins(void) {
    char path[4200];
    size_t before = bittern_backend_count();

    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_plugin_load(NULL));
    plugin_path(path, sizeof path, "does_not_exist.so");
    EXPECT_STATUS(BITTERN_E_IO, bittern_plugin_load(path));
    plugin_path(path, sizeof path, "no_entry_plugin.so");
    EXPECT_STATUS(BITTERN_E_FORMAT, bittern_plugin_load(path));
    plugin_path(path, sizeof path, "bad_abi_plugin.so");
    EXPECT_STATUS(BITTERN_E_UNSUPPORTED, bittern_plugin_load(path));
    plugin_path(path, sizeof path, "small_struct_plugin.so");
    EXPECT_STATUS(BITTERN_E_UNSUPPORTED, bittern_plugin_load(path));
    plugin_path(path, sizeof path, "declining_plugin.so");
    EXPECT_STATUS(BITTERN_E_UNSUPPORTED, bittern_plugin_load(path));
    plugin_path(path, sizeof path, "dup_name_plugin.so"); /* named "scalar" like the built-in */
    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_plugin_load(path));
    set_step("failed plugin loads add no backend");
    CHECK(bittern_backend_count() == before);

    plugin_path(path, sizeof path, "scalar_plugin.so");
    set_step("bittern_plugin_load(%s)", path);
    if (!CHECK(bittern_plugin_load(path) == BITTERN_OK)) {
        printf("    %s\n", bittern_last_error());
        return;
    }
    CHECK(bittern_backend_count() == before + 1);
    const char *name = bittern_backend_name(before); /* plugins append */
    if (!CHECK(name != NULL && strcmp(name, "scalar_plugin") == 0)) return;
    CHECK(bittern_backend_supported(before));

    EXPECT_STATUS(BITTERN_E_INVALID_ARGUMENT, bittern_plugin_load(path)); /* duplicate name */
    set_step("duplicate plugin adds no backend");
    CHECK(bittern_backend_count() == before + 1);

    char *json = bittern_runtime_describe(NULL);
    CHECK(json != NULL && strstr(json, "\"scalar_plugin\"") != NULL);
    bittern_string_free(json);

    /* the plugin's automatic priority (-1) must not displace the default choice */
    bittern_runtime *rt = NULL;
    set_step("automatic choice after plugin load");
    if (CHECK(bittern_runtime_create(NULL, &rt) == BITTERN_OK)) {
        const char *auto_name = bittern_runtime_backend(rt);
        CHECK(auto_name != NULL && strcmp(auto_name, "scalar_plugin") != 0);
        bittern_runtime_free(rt);
    }

    bittern_runtime_params p = bittern_runtime_default_params();
    p.backend = "scalar_plugin";
    rt = NULL;
    set_step("runtime with backend scalar_plugin");
    if (CHECK(bittern_runtime_create(&p, &rt) == BITTERN_OK)) {
        const char *chosen = bittern_runtime_backend(rt);
        CHECK(chosen != NULL && strcmp(chosen, "scalar_plugin") == 0);
        check_backend(rt, "scalar_plugin");
        bittern_runtime_free(rt);
    } else {
        printf("    %s\n", bittern_last_error());
    }
}

/* ================================================================================= threads */

typedef struct {
    const bittern_matrix *m;
    const float *x;
    const int8_t *xi;
    const float *want;
    const int32_t *want_i;
    size_t rows;
    int mismatches, errors;
} thread_job;

static void *gemv_thread(void *arg) {
    thread_job *j = arg;
    float *y = malloc(j->rows * sizeof(float));
    int32_t *yi = malloc(j->rows * sizeof(int32_t));
    for (int it = 0; it < 40; it++) {
        if (bittern_matrix_gemv_f32(j->m, j->x, y) != BITTERN_OK) j->errors++;
        else if (memcmp(y, j->want, j->rows * sizeof(float)) != 0) j->mismatches++;
        if (bittern_matrix_gemv_i8(j->m, j->xi, yi) != BITTERN_OK) j->errors++;
        else if (memcmp(yi, j->want_i, j->rows * sizeof(int32_t)) != 0) j->mismatches++;
    }
    free(y);
    free(yi);
    return NULL;
}

/* Per-thread messages: a failure on another thread does not change this thread's message. */
static void *failing_thread(void *arg) {
    char *msg = arg;
    (void)bittern_plugin_load(NULL);
    snprintf(msg, 1024, "%s", bittern_last_error());
    return NULL;
}

static void test_threads(void) {
    enum { ROWS = 1024, COLS = 2560, NT = 4 };
    float *w = malloc((size_t)ROWS * COLS * sizeof(float));
    fill_random_f32(w, (size_t)ROWS * COLS, 0.05f);
    bittern_matrix *m = NULL;
    set_step("threads: from_f32");
    if (!CHECK(bittern_matrix_from_f32(NULL, w, ROWS, COLS, NULL, &m) == BITTERN_OK)) {
        free(w);
        return;
    }
    float *x = malloc(COLS * sizeof(float)), *want = malloc(ROWS * sizeof(float));
    int8_t *xi = malloc(COLS);
    int32_t *want_i = malloc(ROWS * sizeof(int32_t));
    fill_random_f32(x, COLS, 1.0f);
    fill_random_i8(xi, COLS);
    CHECK(bittern_matrix_gemv_f32(m, x, want) == BITTERN_OK);
    CHECK(bittern_matrix_gemv_i8(m, xi, want_i) == BITTERN_OK);
    thread_job jobs[NT];
    pthread_t tid[NT];
    for (int i = 0; i < NT; i++) {
        jobs[i] = (thread_job){m, x, xi, want, want_i, ROWS, 0, 0};
        CHECK(pthread_create(&tid[i], NULL, gemv_thread, &jobs[i]) == 0);
    }
    for (int i = 0; i < NT; i++) pthread_join(tid[i], NULL);
    set_step("threads: 4 x 40 concurrent gemv on one matrix");
    for (int i = 0; i < NT; i++) {
        if (!CHECK(jobs[i].errors == 0 && jobs[i].mismatches == 0))
            printf("    thread %d: %d errors, %d mismatches\n", i, jobs[i].errors, jobs[i].mismatches);
    }
    bittern_matrix_free(m);
    free(w); free(x); free(want); free(xi); free(want_i);

    set_step("threads: messages are per thread");
    snapshot(BITTERN_E_INVALID_ARGUMENT, "threads: messages are per thread");
    char other[1024] = "";
    pthread_t t;
    CHECK(pthread_create(&t, NULL, failing_thread, other) == 0);
    pthread_join(t, NULL);
    CHECK(other[0] != '\0' && strcmp(other, before_msg) != 0);
    CHECK(strcmp(bittern_last_error(), before_msg) == 0);
}

/* ========================================================================================== main */

int main(int argc, char **argv) {
    C = mmap(NULL, sizeof *C, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (C == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    memset(C, 0, sizeof *C);

    const char *dir = argc > 1 ? argv[1] : getenv("BITTERN_TEST_PLUGIN_DIR");
    if (dir && dir[0]) {
        snprintf(plugin_dir, sizeof plugin_dir, "%s", dir);
    } else {
        char exe[2048];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(plugin_dir, sizeof plugin_dir, "%s/plugins", n > 0 ? exe : ".");
    }

    printf("bittern %s (header %d.%d.%d), plugins from %s\n", bittern_version(), BITTERN_VERSION_MAJOR,
           BITTERN_VERSION_MINOR, BITTERN_VERSION_PATCH, plugin_dir);
    W257 = malloc(W_ROWS * W_COLS * sizeof(float));
    fill_random_f32(W257, W_ROWS * W_COLS, 0.03f);

    test_versions();
    test_backend_list();
    test_runtime();
    test_each_backend();
    test_bad_values();
    test_bad_handles();
    test_threads();
    test_plugins();

    free(W257);
    printf("c-api: %d passed, %d failed\n", C->passed, C->failed);
    return C->failed > 0 ? 1 : 0;
}
