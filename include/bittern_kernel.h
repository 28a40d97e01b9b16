/*
 * bittern_kernel.h -- the ternary kernel plugin ABI (version 1).
 *
 * A backend turns canonical ternary weights into its own packed layout and computes EXACT int32 dot
 * products of packed rows with int8 activations. Built-in backends (scalar, avx2) and plugins loaded
 * from a shared object implement the very same descriptor, so the host treats them alike.
 *
 * Canonical weights: a row-major int8 matrix of trits {-1, 0, +1}, `rows` x `cols`.
 * Activations: one int8 row of `cols` values per token, quantized by the host, plus sum_q = the sum of
 * that row's values (backends that compute with unsigned codes c = t + 1 in {0,1,2} use
 * sum(t*q) = sum(c*q) - sum(q)). The host pads every activation row with zeros to a multiple of
 * BITTERN_KERNEL_Q_ALIGN bytes, so a kernel may read q[0 .. round_up(cols, 64)).
 *
 * Rules every backend follows:
 *   - results are bit-identical to the scalar reference for every shape (tails included);
 *   - no allocation, no threads, no global state: the host provides packed memory and scratch, and calls
 *     gemv/gemm concurrently from several threads on disjoint row ranges of the same packed slice;
 *   - pack() may be called on any thread; packed data is read-only afterwards.
 *
 * A plugin shared object exports exactly one symbol:
 *     const bittern_kernel_backend *bittern_kernel_plugin_entry(uint32_t host_abi_version);
 * returning its descriptor (static storage, valid until the object is unloaded) or NULL when it cannot
 * serve that host ABI. The host checks abi_version and struct_size before it reads any other field.
 */
#ifndef BITTERN_KERNEL_H
#define BITTERN_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BITTERN_KERNEL_ABI_VERSION 1u
/* Activation rows are zero-padded to a multiple of this many bytes. */
#define BITTERN_KERNEL_Q_ALIGN 64u
/* Name of the one symbol a plugin exports. */
#define BITTERN_KERNEL_PLUGIN_ENTRY "bittern_kernel_plugin_entry"

/* Descriptor flags. SPARSE: the packed size depends on the data and the backend only pays off on
   matrices with many zeros; the host never picks it as the dense default, only per matrix when the
   matrix's zero fraction is above the measured crossover (or when a user forces it by name). */
#define BITTERN_KERNEL_FLAG_SPARSE 1u

/* CPU features a backend may require (bitmask). x86 bits mean "the CPU has it AND the OS saves the
   register state it needs" (XCR0), so a backend is never picked where it would fault. */
#define BITTERN_CPU_SSE2          (1ull << 0)
#define BITTERN_CPU_SSSE3         (1ull << 1)
#define BITTERN_CPU_SSE41         (1ull << 2)
#define BITTERN_CPU_AVX           (1ull << 3)
#define BITTERN_CPU_AVX2          (1ull << 4)
#define BITTERN_CPU_FMA           (1ull << 5)
#define BITTERN_CPU_F16C          (1ull << 6)
#define BITTERN_CPU_AVX512F       (1ull << 7)
#define BITTERN_CPU_AVX512BW      (1ull << 8)
#define BITTERN_CPU_AVX512VL      (1ull << 9)
#define BITTERN_CPU_AVX512VNNI    (1ull << 10)
#define BITTERN_CPU_AVXVNNI       (1ull << 11)
#define BITTERN_CPU_BMI2          (1ull << 12)
#define BITTERN_CPU_NEON          (1ull << 32)
#define BITTERN_CPU_NEON_DOTPROD  (1ull << 33)
#define BITTERN_CPU_NEON_I8MM     (1ull << 34)
#define BITTERN_CPU_SVE           (1ull << 35)

typedef struct bittern_kernel_backend {
    /* --- header: checked by the host before anything else --- */
    uint32_t abi_version;        /* BITTERN_KERNEL_ABI_VERSION the backend was built against */
    uint32_t struct_size;        /* sizeof(bittern_kernel_backend) as the backend saw it */

    /* --- identity and selection --- */
    const char *name;            /* lower case, family first: "scalar", "avx2", "avx512_vnni", "sparse_avx2" */
    const char *description;     /* one line for humans; may be NULL */
    uint64_t required_features;  /* BITTERN_CPU_* bits that must all be present */
    int32_t priority;            /* highest supported priority wins automatic selection; scalar is 0 */
    uint32_t flags;              /* BITTERN_KERNEL_FLAG_* bits; 0 for an ordinary dense backend */

    /* Bytes of packed storage for this slice of trits (rows x cols, row-major). The trits are passed
       because a data-dependent (sparse) format's size depends on them; dense formats may ignore them.
       Returns 0 when the backend cannot represent the slice. */
    size_t (*packed_size)(const int8_t *trits, size_t rows, size_t cols);

    /* Packs the slice into dst (dst_size bytes, as packed_size returned, 64-byte aligned).
       Returns 0 on success, nonzero if the trits are not valid for this backend. */
    int32_t (*pack)(const int8_t *trits, size_t rows, size_t cols, void *dst, size_t dst_size);

    /* Optional (NULL = none): bytes of scratch the host must provide for n tokens of width cols. */
    size_t (*scratch_size)(size_t cols, size_t n);

    /* Optional (NULL = none): called once per activation batch, on one thread, before gemv/gemm, to
       fill scratch from the activations (e.g. lookup tables). gemv/gemm then only read scratch. */
    void (*prepare)(const int8_t *q, size_t q_stride, size_t n, size_t cols, void *scratch);

    /* out[r - row_begin] = sum_j t[r][j] * q[j]  for r in [row_begin, row_end) of the slice.
       `rows`, `cols` describe the whole packed slice. */
    void (*gemv)(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                 const int8_t *q, int32_t sum_q, int32_t *out, const void *scratch);

    /* n tokens: q is n rows of q_stride bytes (q_stride a multiple of BITTERN_KERNEL_Q_ALIGN, >= cols),
       sum_q[k] is the sum of token k's values;
       out[k * out_stride + (r - row_begin)] = sum_j t[r][j] * q[k * q_stride + j]. */
    void (*gemm)(const void *packed, size_t rows, size_t cols, size_t row_begin, size_t row_end,
                 const int8_t *q, size_t q_stride, const int32_t *sum_q, size_t n,
                 int32_t *out, size_t out_stride, const void *scratch);
} bittern_kernel_backend;

/* The entry point a plugin exports (declared here so a plugin's definition is type-checked). */
const bittern_kernel_backend *bittern_kernel_plugin_entry(uint32_t host_abi_version);

#ifdef __cplusplus
}
#endif
#endif /* BITTERN_KERNEL_H */
