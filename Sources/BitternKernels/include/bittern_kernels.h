/* Internal interface of the C kernel target (module BitternKernels), used by the Swift core only.
   Internal symbols use the btk_ prefix so the library's version script (bittern_* only) hides them. */
#ifndef BITTERN_KERNELS_INTERNAL_H
#define BITTERN_KERNELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "../../../include/bittern_kernel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- built-in backends, in registry order (scalar first) ---- */
size_t btk_builtin_count(void);
const bittern_kernel_backend *btk_builtin(size_t index);

/* ---- CPU feature probe (cpu_features.c, compiled without ISA flags) ---- */
uint64_t btk_cpu_features(void);
/* Name of feature bit `bit` (0..63) or NULL if that bit has no name. */
const char *btk_cpu_feature_name(unsigned bit);
/* Human-readable CPU brand string ("" when unknown); static storage. */
const char *btk_cpu_brand(void);

/* ---- activation quantization (float/quantize.c) ----
   s = 127 / max(max|x|, 1e-5); q = clamp(nearbyint(x*s), -128, 127) with ties to even.
   Writes n values to q, zeroes q[n .. padded) and returns sum(q); *scale = s. */
int32_t btk_quantize_row_i8(const float *x, size_t n, size_t padded, int8_t *q, float *scale);
/* y[i] = (float)acc[i] * factor */
void btk_scale_row_i32(const int32_t *acc, size_t n, float factor, float *y);

/* ---- weight quantization helpers (float/absmean.c) ---- */
/* Returns 0 when all values are finite, else the index+1 of the first NaN/Inf. */
size_t btk_first_nonfinite(const float *w, size_t n);
/* Sum of |w| in double, row-major order (the absmean numerator, bit-exact per API.md). */
double btk_sum_abs_f64(const float *w, size_t n);
/* trit = sign(w) if fabsf(w) * inv_alpha > threshold else 0. Returns the number of zeros written. */
size_t btk_ternarize(const float *w, size_t n, float inv_alpha, float threshold, int8_t *trits);
/* Returns 0 if every value is in {-1,0,1}, else index+1 of the first bad one; *zeros = number of zeros. */
size_t btk_check_trits(const int8_t *t, size_t n, size_t *zeros);

/* ---- weight formats (float/unpack.c) ----
   One TQ2_0 block (64 bytes of codes) into 256 trits; returns nonzero when a code is 3 (invalid; the
   trits are then meaningless); *nonzero says whether any trit is not 0. */
int btk_unpack_tq2_0(const uint8_t *qs, int8_t *t, int *nonzero);

/* ---- float kernels of the forward pass (float/dense.c): AVX2+FMA+F16C when present, else C ---- */
/* Tests: 1 makes every float kernel take its portable C path (not thread-safe; set before use). */
void btk_float_force_portable(int on);
void btk_f32_to_f16(const float *src, uint16_t *dst, size_t n);   /* round to nearest even */
void btk_f16_to_f32(const uint16_t *src, float *dst, size_t n);
/* y[r] = w[r] . x for rows x cols row-major weights */
void btk_gemv_f32(const float *w, size_t rows, size_t cols, const float *x, float *y);
void btk_gemv_f16(const uint16_t *w, size_t rows, size_t cols, const float *x, float *y);
/* Q8: per row ceil(cols/32) blocks of int8 with one float scale each (w = q * scale). */
size_t btk_q8_blocks(size_t cols);
void btk_gemv_q8(const int8_t *w, const float *scales, size_t rows, size_t cols, const float *x, float *y);
/* The same with x quantized too (btk_quantize_q8_rows of one row): integer block products, one float
   multiply per block. */
void btk_gemv_q8q8(const int8_t *w, const float *scales, size_t rows, size_t cols, const int8_t *xq,
                   const float *xscales, float *y);
/* max |x[i]| for i in [begin, end), NaN and infinities counted as 0 (the block quantizers' absmax). */
float btk_block_absmax(const float *x, size_t begin, size_t end);
/* scale = max|x| / 127 per block, q = clamp(round_half_even(x / scale), -127, 127) */
void btk_quantize_q8_rows(const float *x, size_t rows, size_t cols, int8_t *q, float *scales);
/* Whether the float kernels take their AVX2+FMA+F16C paths (CPU probe, btk_float_force_portable). */
int btk_float_fast(void);

/* The 6-bit head (float/q6.c): blocks of 32 values in 24 bytes plus one float scale each. */
#define BTK_Q6_BLOCK_BYTES 24
void btk_quantize_q6_rows(const float *x, size_t rows, size_t cols, uint8_t *q, float *scales);
void btk_dequantize_q6_row(const uint8_t *q, const float *scales, size_t cols, float *out);
/* The sum of each 32-value block of an int8 row (what btk_gemv_q6q8 needs besides the row itself). */
void btk_q6_activation_sums(const int8_t *xq, size_t cols, int32_t *sums);
/* y[r] = row r . x with x as btk_quantize_q8_rows made it (one row) and xsums from
   btk_q6_activation_sums: integer block products. */
void btk_gemv_q6q8(const uint8_t *w, const float *scales, size_t rows, size_t cols, const int8_t *xq,
                   const float *xscales, const int32_t *xsums, float *y);
/* Per-token float steps (float/elementwise.c). RMSNorm: out = x / sqrt(mean(x^2) + eps) * w, the sum of
   squares in double; out may not alias x. */
void btk_rms_norm(const float *x, const float *w, size_t n, float eps, float *out);
/* gate[i] = relu(gate[i])^2 * up[i] (BitNet b1.58) / silu(gate[i]) * up[i] (SwiGLU) */
void btk_relu2_mul(float *gate, const float *up, size_t n);
void btk_silu_mul(float *gate, const float *up, size_t n);
/* y += x */
void btk_add_f32(float *y, const float *x, size_t n);
/* Attention of `heads` query heads sharing one KV head (a GQA group; 1 without GQA): for each head h,
   scores = (k_t . q_h) * scale for t < n_pos, softmax, out_h = sum_t p_t v_t. keys/values point at
   position 0 of the KV head, consecutive positions pos_stride elements apart, F16 (uint16) when f16 != 0
   else F32; q and out hold the heads one after another (hd floats each). scores holds heads * n_pos
   floats of scratch. */
void btk_attend(const void *keys, const void *values, int f16, size_t pos_stride, size_t n_pos,
                const float *q, size_t heads, size_t hd, float scale, float *scores, float *out);

#ifdef __cplusplus
}
#endif
#endif
