/* Helpers for `bittern bench` (not part of the library): a memory read-bandwidth probe. */
#ifndef BITTERN_BENCH_H
#define BITTERN_BENCH_H
#include <stddef.h>
#include <stdint.h>
/* Reads bytes of buf (64-byte aligned, bytes a multiple of 256) as fast as the CPU can and returns a
   value that depends on every byte (so the reads cannot be optimized away). */
uint64_t bb_read_bytes(const void *buf, size_t bytes, int use_avx2);
#endif
