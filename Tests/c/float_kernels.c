/* The float kernels of the forward pass (Sources/BitternKernels/float/dense.c): the AVX2+FMA+F16C paths
   against the portable C ones, and both against plain references.
     - F16 conversion: every one of the 65536 halves converts to float and back unchanged (NaNs stay
       NaN); float -> half rounds to nearest even, checked against a long-double reference on 10^6
       random floats and the edge cases (ties, subnormals, overflow); fast == portable bit for bit.
     - gemv f32/f16/q8 on odd shapes: fast and portable agree to 1e-5 relative; q8 is within its
       quantization bound of the exact product.
     - attention of one head, F32 and F16 cache: fast and portable agree with a double reference; a GQA
       group in one call equals one call per head bit for bit.
     - the per-token steps (float/elementwise.c): RMSNorm, ReLU^2 and SiLU gating and the residual add
       against double references; the vectorizable e^x within 4 ulp of libm's over its whole range; the
       scan for NaN/Inf finds the first one wherever it is.
   Built with the kernel sources by scripts/test.sh, natively and under ASan+UBSan.
   Prints "float-kernels: N passed, 0 failed". */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../Sources/BitternKernels/include/bittern_kernels.h"
#include "../../Sources/BitternKernels/float/exp_approx.h"

static int passed, failed;
#define CHECK(c, ...) do { if (c) passed++; else { failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next32(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)(rng >> 11); }
static float uniform(void) { return (float)next32() / 2097152.0f - 1.0f; }   /* [-1, 1) */

/* Reference float -> half: the nearest half (ties to even mantissa), from the exact value. */
static uint16_t ref_half(float f) {
    if (isnan(f)) return 0x7E00;
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    long double a = fabsl((long double)f);
    if (a >= 65520.0L) return sign | 0x7C00;                 /* rounds to infinity */
    uint16_t best = 0;
    long double best_err = INFINITY;
    /* halves are monotonic in their bit pattern for positive values: binary search, then compare */
    uint16_t lo = 0, hi = 0x7BFF;
    while (lo < hi) {
        uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
        float v;
        btk_f16_to_f32(&mid, &v, 1);
        if ((long double)v <= a) lo = mid; else hi = (uint16_t)(mid - 1);
    }
    for (uint16_t c = lo; c <= lo + 1 && c <= 0x7C00; c++) {
        float v;
        btk_f16_to_f32(&c, &v, 1);
        long double err = fabsl((long double)v - a);
        if (err < best_err || (err == best_err && (c & 1) == 0)) { best = c; best_err = err; }
    }
    return sign | best;
}

static void check_f16(int portable) {
    btk_float_force_portable(portable);
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t x = (uint16_t)h, back;
        float f;
        btk_f16_to_f32(&x, &f, 1);
        btk_f32_to_f16(&f, &back, 1);
        int is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
        if (is_nan ? !(isnan(f) && (back & 0x7C00) == 0x7C00 && (back & 0x3FF)) : back != x) bad++;
    }
    CHECK(bad == 0, "%s: %d halves do not round-trip", portable ? "portable" : "fast", bad);
    /* 8-wide batches too (the fast path converts 8 at a time) */
    static float src[1000003];
    static uint16_t got[1000003];
    for (size_t i = 0; i < sizeof src / sizeof *src; i++) {
        uint32_t bits = next32() ^ (next32() << 21);
        memcpy(&src[i], &bits, 4);
        if (i % 3 == 0) src[i] = uniform() * 70000.0f;                  /* in and just past the range */
        if (i % 7 == 0) src[i] = uniform() * 1e-5f;                     /* subnormal halves */
    }
    float ties[] = {1.0009765625f + 0.00048828125f, 2049.0f, 2051.0f, 65519.0f, 65520.0f, 5.9604645e-08f,
                    2.9802322e-08f, 8.940697e-08f, -0.0f, INFINITY, -INFINITY};
    memcpy(src, ties, sizeof ties);
    btk_f32_to_f16(src, got, sizeof src / sizeof *src);
    bad = 0;
    for (size_t i = 0; i < sizeof src / sizeof *src; i++)
        if (!isnan(src[i]) && got[i] != ref_half(src[i])) { if (bad < 3) printf("  %.9g -> %04x, want %04x\n", src[i], got[i], ref_half(src[i])); bad++; }
    CHECK(bad == 0, "%s: %d of %zu floats round differently from the reference", portable ? "portable" : "fast", bad,
          sizeof src / sizeof *src);
    btk_float_force_portable(0);
}

static void check_gemv(void) {
    const size_t shapes[][2] = {{1, 1}, {3, 7}, {17, 31}, {5, 32}, {9, 33}, {64, 256}, {13, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t rows = shapes[s][0], cols = shapes[s][1];
        float *w = malloc(rows * cols * 4), *x = malloc(cols * 4), *y[2], *yh[2], *yq[2], *yqq[2];
        int8_t *xq = malloc(cols);
        float *xs = malloc(btk_q8_blocks(cols) * 4);
        uint16_t *wh = malloc(rows * cols * 2);
        size_t nb = btk_q8_blocks(cols);
        int8_t *q = malloc(rows * cols);
        float *qs = malloc(rows * nb * 4);
        for (int k = 0; k < 2; k++) { y[k] = malloc(rows * 4); yh[k] = malloc(rows * 4); yq[k] = malloc(rows * 4); yqq[k] = malloc(rows * 4); }
        for (size_t i = 0; i < rows * cols; i++) w[i] = uniform() * (i % 11 == 0 ? 8.0f : 1.0f);
        for (size_t i = 0; i < cols; i++) x[i] = uniform();
        btk_f32_to_f16(w, wh, rows * cols);
        btk_quantize_q8_rows(w, rows, cols, q, qs);
        btk_quantize_q8_rows(x, 1, cols, xq, xs);
        for (int k = 0; k < 2; k++) {
            btk_float_force_portable(k);
            btk_gemv_f32(w, rows, cols, x, y[k]);
            btk_gemv_f16(wh, rows, cols, x, yh[k]);
            btk_gemv_q8(q, qs, rows, cols, x, yq[k]);
            btk_gemv_q8q8(q, qs, rows, cols, xq, xs, yqq[k]);
        }
        btk_float_force_portable(0);
        int bad = 0, badq = 0, badqq = 0;
        for (size_t r = 0; r < rows; r++) {
            double exact = 0, mag = 0, exact_h = 0, qbound = 0;
            for (size_t i = 0; i < cols; i++) {
                float wf;
                btk_f16_to_f32(&wh[r * cols + i], &wf, 1);
                exact += (double)w[r * cols + i] * x[i];
                exact_h += (double)wf * x[i];
                mag += fabs((double)w[r * cols + i] * x[i]);
                qbound += 0.5 * qs[r * nb + i / 32] * fabs(x[i]);        /* half a step per weight */
            }
            double tol = 1e-5 * mag + 1e-6;
            for (int k = 0; k < 2; k++) {
                if (fabs(y[k][r] - exact) > tol || fabs(yh[k][r] - exact_h) > tol) bad++;
                if (fabs(yq[k][r] - exact) > qbound + tol) badq++;
            }
            if (fabs(yq[0][r] - yq[1][r]) > tol) badq++;
            /* x quantized too: add half a step of x per weight (bounded by |w| <= 127 * scale) */
            double xbound = 0;
            for (size_t i = 0; i < cols; i++) xbound += 0.5 * xs[i / 32] * 127.0 * qs[r * nb + i / 32];
            for (int k = 0; k < 2; k++)
                if (fabs(yqq[k][r] - exact) > qbound + xbound + tol) badqq++;
            if (fabs(yqq[0][r] - yqq[1][r]) > tol) badqq++;
        }
        CHECK(badqq == 0, "gemv q8 x q8 %zux%zu: %d rows off", rows, cols, badqq);
        CHECK(bad == 0, "gemv f32/f16 %zux%zu: %d rows off", rows, cols, bad);
        CHECK(badq == 0, "gemv q8 %zux%zu: %d rows off", rows, cols, badq);
        free(w); free(x); free(wh); free(q); free(qs); free(xq); free(xs);
        for (int k = 0; k < 2; k++) { free(y[k]); free(yh[k]); free(yq[k]); free(yqq[k]); }
    }
}

static void check_attention(void) {
    const size_t hd = 64, stride = 128, n_pos = 37;
    static float k[37 * 128], v[37 * 128], qv[64], scores[37], out[2][2][64];
    static uint16_t kh[37 * 128], vh[37 * 128];
    for (size_t i = 0; i < n_pos * stride; i++) { k[i] = uniform() * 2; v[i] = uniform(); }
    for (size_t i = 0; i < hd; i++) qv[i] = uniform();
    btk_f32_to_f16(k, kh, n_pos * stride);
    btk_f32_to_f16(v, vh, n_pos * stride);
    const float scale = 0.125f;
    for (int f16 = 0; f16 < 2; f16++) {
        /* reference in double from the values as stored */
        double s[37], m = -INFINITY, sum = 0, ref[64] = {0};
        for (size_t t = 0; t < n_pos; t++) {
            double d = 0;
            for (size_t i = 0; i < hd; i++) {
                float kv;
                if (f16) btk_f16_to_f32(&kh[t * stride + 64 + i], &kv, 1); else kv = k[t * stride + 64 + i];
                d += (double)kv * qv[i];
            }
            s[t] = d * scale;
            if (s[t] > m) m = s[t];
        }
        for (size_t t = 0; t < n_pos; t++) { s[t] = exp(s[t] - m); sum += s[t]; }
        for (size_t t = 0; t < n_pos; t++)
            for (size_t i = 0; i < hd; i++) {
                float vv;
                if (f16) btk_f16_to_f32(&vh[t * stride + 64 + i], &vv, 1); else vv = v[t * stride + 64 + i];
                ref[i] += s[t] / sum * vv;
            }
        for (int portable = 0; portable < 2; portable++) {
            btk_float_force_portable(portable);
            btk_attend(f16 ? (const void *)(kh + 64) : (const void *)(k + 64), f16 ? (const void *)(vh + 64) : (const void *)(v + 64),
                       f16, stride, n_pos, qv, 1, hd, scale, scores, out[f16][portable]);
            double worst = 0;
            for (size_t i = 0; i < hd; i++) worst = fmax(worst, fabs(out[f16][portable][i] - ref[i]));
            CHECK(worst < 1e-5, "attend f16=%d portable=%d: max error %g", f16, portable, worst);
        }
        btk_float_force_portable(0);
    }
}

static void check_nonfinite(void) {
    /* a corrupt head (NaN, Inf) quantizes to numbers in range: NaN/Inf count as 0 */
    float x[40];
    for (int i = 0; i < 40; i++) x[i] = (float)i - 20;
    x[3] = NAN; x[7] = INFINITY; x[35] = -INFINITY;
    int8_t q[40];
    float s[2];
    btk_quantize_q8_rows(x, 1, 40, q, s);
    CHECK(q[3] == 0 && q[7] == 0 && q[35] == 0 && isfinite(s[0]) && isfinite(s[1]) && q[39] == 127,
          "non-finite values: q %d %d %d, scales %g %g", q[3], q[7], q[35], s[0], s[1]);
}

/* The 6-bit head: each value within half a step of its block's scale, the layout's bits where the
   header says, and the product (fast and portable) equal to the exact block sums of what it stores. */
static void check_q6(void) {
    static const size_t shapes[][2] = {{1, 1}, {3, 31}, {5, 32}, {4, 33}, {7, 95}, {9, 256}, {17, 2560}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t rows = shapes[s][0], cols = shapes[s][1], nb = btk_q8_blocks(cols);
        float *w = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * cols), *back = malloc(sizeof(float) * cols);
        uint8_t *q = malloc(rows * nb * BTK_Q6_BLOCK_BYTES);
        float *ws = malloc(sizeof(float) * rows * nb), *xs = malloc(sizeof(float) * nb), y[2][17];
        int8_t *xq = malloc(cols);
        for (size_t i = 0; i < rows * cols; i++) w[i] = uniform() * (1 + (float)(i % 7));
        for (size_t i = 0; i < cols; i++) x[i] = uniform() * 3;
        btk_quantize_q6_rows(w, rows, cols, q, ws);
        btk_quantize_q8_rows(x, 1, cols, xq, xs);
        int32_t *xsums = malloc(sizeof(int32_t) * nb);
        btk_q6_activation_sums(xq, cols, xsums);
        int bad = 0;
        for (size_t r = 0; r < rows; r++) {
            btk_dequantize_q6_row(q + r * nb * BTK_Q6_BLOCK_BYTES, ws + r * nb, cols, back);
            for (size_t i = 0; i < cols; i++)
                if (fabsf(back[i] - w[r * cols + i]) > ws[r * nb + i / 32] * 0.5f * 1.0001f + 1e-7f) bad++;
        }
        CHECK(bad == 0, "q6 %zux%zu: %d values further than half a step", rows, cols, bad);
        for (int k = 0; k < 2; k++) {
            btk_float_force_portable(k);
            btk_gemv_q6q8(q, ws, rows, cols, xq, xs, xsums, y[k]);
        }
        btk_float_force_portable(0);
        int badp = 0;
        for (size_t r = 0; r < rows; r++) {
            /* reference: exact integer block sums of the stored q (recovered from the dequantized values) */
            btk_dequantize_q6_row(q + r * nb * BTK_Q6_BLOCK_BYTES, ws + r * nb, cols, back);
            double ref = 0;
            for (size_t b = 0; b < nb; b++) {
                long acc = 0;
                for (size_t i = b * 32; i < cols && i < b * 32 + 32; i++)
                    acc += (ws[r * nb + b] > 0 ? lrintf(back[i] / ws[r * nb + b]) : 0) * xq[i];
                ref += (double)acc * ws[r * nb + b] * xs[b];
            }
            for (int k = 0; k < 2; k++)
                if (fabs(y[k][r] - ref) > 1e-5 * (fabs(ref) + 1)) badp++;
        }
        CHECK(badp == 0, "gemv q6 x q8 %zux%zu: %d results off", rows, cols, badp);
        free(w); free(x); free(back); free(q); free(ws); free(xs); free(xq); free(xsums);
    }
    /* layout: values 0, 16, 8, 24 of one block at the documented places */
    float v[32] = {0};
    v[0] = 31; v[16] = -31; v[8] = 1; v[24] = -1; v[31] = 31;
    uint8_t b[BTK_Q6_BLOCK_BYTES];
    float d;
    btk_quantize_q6_rows(v, 1, 32, b, &d);
    /* u = q + 32: 63, 1, 33, 31, 63 */
    CHECK(d == 1.0f && (b[0] & 15) == (63 & 15) && (b[0] >> 4) == (1 & 15) && (b[8] & 15) == (33 & 15) &&
          (b[8] >> 4) == (31 & 15) && (b[16] & 3) == 63 >> 4 && ((b[16] >> 4) & 3) == 1 >> 4 &&
          (b[16 + 0] >> 2 & 3) == 33 >> 4 && (b[16] >> 6 & 3) == 31 >> 4 && (b[16 + 7] >> 6) == 63 >> 4 && (b[15] >> 4) == (63 & 15),
          "q6 layout");
}

/* Distance in representable floats between two finite floats of the same sign. */
static int64_t ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

static void check_exp(void) {
    int64_t worst = 0;
    float at = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.001953125f) {
        for (int k = 0; k < 2; k++) {
            float v = k ? x + uniform() * 0.0009765625f : x;
            if (v > 88.0f) continue;
            int64_t d = ulps(btk_exp_approx(v), expf(v));
            if (d > worst) { worst = d; at = v; }
        }
    }
    CHECK(worst <= 4, "exp: %lld ulp from expf at %g", (long long)worst, at);
    CHECK(btk_exp_approx(0) == 1.0f, "exp(0) = %g", btk_exp_approx(0));
    CHECK(btk_exp_approx(-1000) >= 0 && btk_exp_approx(-1000) < 1e-37f, "exp(-1000) = %g", btk_exp_approx(-1000));
    CHECK(isfinite(btk_exp_approx(1000)) && btk_exp_approx(1000) > 1e38f, "exp(1000) = %g", btk_exp_approx(1000));
    CHECK(isnan(btk_exp_approx(NAN)), "exp(NaN) = %g", btk_exp_approx(NAN));
}

static float unit(void) { return (float)(next32() >> 8) / 8388608.0f - 1.0f; } /* [-1, 1) */

static void check_elementwise(void) {
    static const size_t sizes[] = {1, 3, 4, 7, 64, 2560, 6913};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        float *x = malloc(4 * n), *w = malloc(4 * n), *out = malloc(4 * n), *g = malloc(4 * n), *u = malloc(4 * n);
        for (size_t i = 0; i < n; i++) { x[i] = unit() * 3000; w[i] = unit(); }
        double ss = 0;
        for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
        double inv = 1 / sqrt(ss / n + 1e-5);
        btk_rms_norm(x, w, n, 1e-5f, out);
        double worst = 0;
        for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(out[i] - x[i] * inv * w[i]) / (fabs(x[i] * inv * w[i]) + 1e-30));
        CHECK(worst < 1e-6, "rms_norm n=%zu: relative error %g", n, worst);
        for (int silu = 0; silu < 2; silu++) {
            for (size_t i = 0; i < n; i++) { g[i] = unit() * (i % 5 == 0 ? 60 : 8); u[i] = unit(); }
            memcpy(out, g, 4 * n);
            if (silu) btk_silu_mul(out, u, n); else btk_relu2_mul(out, u, n);
            worst = 0;
            for (size_t i = 0; i < n; i++) {
                double gg = g[i], want = silu ? gg / (1 + exp(-gg)) * u[i] : (gg > 0 ? gg * gg : 0) * u[i];
                worst = fmax(worst, fabs(out[i] - want) / (fabs(want) + 1e-30));
            }
            CHECK(worst < 1e-5, "%s n=%zu: relative error %g", silu ? "silu" : "relu2", n, worst);
        }
        memcpy(out, x, 4 * n);
        btk_add_f32(out, w, n);
        int same = 1;
        for (size_t i = 0; i < n; i++) same &= out[i] == x[i] + w[i];
        CHECK(same, "add n=%zu", n);
        /* the NaN/Inf scan: none, then one at every kind of place */
        CHECK(btk_first_nonfinite(x, n) == 0, "nonfinite n=%zu: found one in finite data", n);
        size_t at[] = {0, n / 2, n - 1, n > 300 ? 257 : 0};
        for (size_t a = 0; a < 4; a++) {
            float keep = x[at[a]];
            x[at[a]] = a & 1 ? INFINITY : NAN;
            CHECK(btk_first_nonfinite(x, n) == at[a] + 1, "nonfinite n=%zu at %zu: got %zu", n, at[a], btk_first_nonfinite(x, n));
            x[at[a]] = keep;
        }
        free(x); free(w); free(out); free(g); free(u);
    }
}

/* A GQA group in one call: bit for bit what one call per head gives, F32 and F16, fast and portable,
   groups of 3, 4 and 6 heads (the fast path takes up to 4 at once), head dims that fit the row buffer,
   one (320) that does not, and one (40) that the fast path leaves to the general one. */
static void check_attention_group(void) {
    static const size_t dims[] = {40, 64, 128, 320}, group[] = {3, 4, 6};
    for (size_t di = 0; di < 4; di++)
    for (size_t gi = 0; gi < 3; gi++) {
        size_t hd = dims[di], heads = group[gi], n_pos = 29, stride = 2 * hd;
        float *k = malloc(4 * n_pos * stride), *v = malloc(4 * n_pos * stride), *q = malloc(4 * heads * hd);
        float *scores = malloc(4 * heads * n_pos), *one = malloc(4 * heads * hd), *all = malloc(4 * heads * hd);
        uint16_t *kh = malloc(2 * n_pos * stride), *vh = malloc(2 * n_pos * stride);
        for (size_t i = 0; i < n_pos * stride; i++) { k[i] = unit() * 3; v[i] = unit(); }
        for (size_t i = 0; i < heads * hd; i++) q[i] = unit();
        btk_f32_to_f16(k, kh, n_pos * stride);
        btk_f32_to_f16(v, vh, n_pos * stride);
        for (int f16 = 0; f16 < 2; f16++)
            for (int portable = 0; portable < 2; portable++) {
                btk_float_force_portable(portable);
                const void *kk = f16 ? (const void *)(kh + hd) : (const void *)(k + hd);
                const void *vv = f16 ? (const void *)(vh + hd) : (const void *)(v + hd);
                for (size_t h = 0; h < heads; h++)
                    btk_attend(kk, vv, f16, stride, n_pos, q + h * hd, 1, hd, 0.125f, scores, one + h * hd);
                btk_attend(kk, vv, f16, stride, n_pos, q, heads, hd, 0.125f, scores, all);
                CHECK(memcmp(one, all, 4 * heads * hd) == 0, "attend group of %zu hd=%zu f16=%d portable=%d differs from per head",
                      heads, hd, f16, portable);
            }
        btk_float_force_portable(0);
        free(k); free(v); free(q); free(scores); free(one); free(all); free(kh); free(vh);
    }
}

int main(void) {
    check_nonfinite();
    check_q6();
    check_f16(0);
    check_f16(1);
    check_gemv();
    check_attention();
    check_exp();
    check_elementwise();
    check_attention_group();
    printf("float-kernels: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
