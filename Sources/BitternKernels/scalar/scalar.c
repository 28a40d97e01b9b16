/* The scalar reference backend: the definition every other backend must match bit for bit.
   Packed layout: the canonical trits themselves (one int8 per weight, rows padded to a multiple of 64
   bytes with zeros) -- chosen for obviousness, not speed. */
#include <string.h>
#include "../include/bittern_kernels.h"

static size_t scalar_stride(size_t cols) { return (cols + 63) / 64 * 64; }

static size_t scalar_packed_size(const int8_t *trits, size_t rows, size_t cols) {
    (void)trits;
    size_t stride = scalar_stride(cols);
    if (rows != 0 && stride > SIZE_MAX / rows) return 0;
    return rows * stride;
}

static int32_t scalar_pack(const int8_t *trits, size_t rows, size_t cols, void *dst, size_t dst_size) {
    size_t stride = scalar_stride(cols);
    if (dst_size < rows * stride) return 1;
    int8_t *out = (int8_t *)dst;
    for (size_t r = 0; r < rows; r++) {
        const int8_t *src = trits + r * cols;
        for (size_t j = 0; j < cols; j++) {
            if (src[j] < -1 || src[j] > 1) return 2;
        }
        memcpy(out + r * stride, src, cols);
        memset(out + r * stride + cols, 0, stride - cols);
    }
    return 0;
}

static int32_t dot_row(const int8_t *w, const int8_t *q, size_t cols) {
    int32_t acc = 0;
    for (size_t j = 0; j < cols; j++) acc += (int32_t)w[j] * (int32_t)q[j];
    return acc;
}

static void scalar_gemv(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                        const int8_t *q, int32_t sum_q, int32_t *out, const void *scratch) {
    (void)rows; (void)sum_q; (void)scratch;
    const int8_t *w = (const int8_t *)packed;
    size_t stride = scalar_stride(cols);
    for (size_t r = row_begin; r < row_end; r++) out[r - row_begin] = dot_row(w + r * stride, q, cols);
}

static void scalar_gemm(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                        const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t n,
                        int32_t *out, size_t out_stride, const void *scratch) {
    (void)rows; (void)sum_q; (void)scratch;
    const int8_t *w = (const int8_t *)packed;
    size_t stride = scalar_stride(cols);
    for (size_t k = 0; k < n; k++)
        for (size_t r = row_begin; r < row_end; r++)
            out[k * out_stride + (r - row_begin)] = dot_row(w + r * stride, q + k * q_stride, cols);
}

const bittern_kernel_backend btk_backend_scalar = {
    .abi_version = BITTERN_KERNEL_ABI_VERSION,
    .struct_size = sizeof(bittern_kernel_backend),
    .name = "scalar",
    .description = "portable C reference (int8 trits, one multiply-add per weight)",
    .required_features = 0,
    .priority = 0,
    .flags = 0,
    .packed_size = scalar_packed_size,
    .pack = scalar_pack,
    .scratch_size = NULL,
    .prepare = NULL,
    .gemv = scalar_gemv,
    .gemm = scalar_gemm,
};
