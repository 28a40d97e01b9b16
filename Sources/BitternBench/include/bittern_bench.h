/* Helpers for `bittern bench` (not part of the library): a memory read-bandwidth probe. */
#ifndef BITTERN_BENCH_H
#define BITTERN_BENCH_H
#include <stddef.h>
#include <stdint.h>
/* Reads bytes of buf (64-byte aligned, bytes a multiple of 256) as fast as the CPU can and returns a
   value that depends on every byte (so the reads cannot be optimized away). */
uint64_t bb_read_bytes(const void *buf, size_t bytes, int use_avx2);

/* llama.cpp comparison (ggml_compare.c): loads libggml-base.so, libggml-cpu.so and libggml.so from
   libdir (a llama-cpp-python install's llama_cpp/lib). 0 on success; else bb_ggml_error() says why. */
int bb_ggml_load(const char *libdir);
const char *bb_ggml_error(void);
/* Median seconds of one ggml mul_mat of a rows x cols TQ2_0 matrix by n float columns; -1 on error. */
double bb_ggml_tq2_0_mul_mat(int64_t rows, int64_t cols, int64_t n, int threads, int samples);
#endif
