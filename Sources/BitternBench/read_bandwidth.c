/* The yardstick for the streaming benchmark: how fast can this machine just read memory?
   An AVX2 path (4 independent 32-byte loads per step) and a portable one. */
#include "include/bittern_bench.h"
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2")))
static uint64_t read_avx2(const void *buf, size_t bytes) {
    const __m256i *p = (const __m256i *)buf;
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i < bytes / 32; i += 8) {
        a = _mm256_xor_si256(a, _mm256_load_si256(p + i));
        b = _mm256_xor_si256(b, _mm256_load_si256(p + i + 2));
        c = _mm256_xor_si256(c, _mm256_load_si256(p + i + 4));
        d = _mm256_xor_si256(d, _mm256_load_si256(p + i + 6));
        a = _mm256_xor_si256(a, _mm256_load_si256(p + i + 1));
        b = _mm256_xor_si256(b, _mm256_load_si256(p + i + 3));
        c = _mm256_xor_si256(c, _mm256_load_si256(p + i + 5));
        d = _mm256_xor_si256(d, _mm256_load_si256(p + i + 7));
    }
    __m256i x = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
    return (uint64_t)_mm256_extract_epi64(x, 0) ^ (uint64_t)_mm256_extract_epi64(x, 3);
}
#endif

static uint64_t read_portable(const void *buf, size_t bytes) {
    const uint64_t *p = (const uint64_t *)buf;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i < bytes / 8; i += 4) { a ^= p[i]; b ^= p[i + 1]; c ^= p[i + 2]; d ^= p[i + 3]; }
    return a ^ b ^ c ^ d;
}

uint64_t bb_read_bytes(const void *buf, size_t bytes, int use_avx2) {
#if defined(__x86_64__)
    if (use_avx2) return read_avx2(buf, bytes);
#endif
    (void)use_avx2;
    return read_portable(buf, bytes);
}
