/* The dense AVX2 block arithmetic on one register of 2-bit codes c = t + 1 (the layout of avx2.c: byte p
   of a 128-weight block holds weights p, p + 32, p + 64, p + 96 at bits 0-1, 2-3, 4-5, 6-7), shared by
   avx2.c, which loads the block, and sparse_quads_avx2.c, which puts it back together from its stored
   bytes first. Only for x86-64 files that include <immintrin.h>. */
#ifndef BITTERN_AVX2_CODES_H
#define BITTERN_AVX2_CODES_H

#define AVX2_CODES_INLINE static inline __attribute__((always_inline, target("avx2")))

/* GEMV, one token: without token reuse the decode dominates, so planes 0 and 1 are masked in place
   (w & 3, w & 12) and planes 2 and 3 after a single 4-bit shift. Planes 1 and 3 are thus codes times 4
   (pair sums up to 2048); they go to their own int16 accumulator `hi`, which is exactly divisible by 4 and
   is scaled back with an arithmetic shift before widening. One shift, four ands, four vpmaddubsw and four
   adds per 128 weights; nplanes = 2 for a half block. m3 and m12: every byte 3 and 12. */
AVX2_CODES_INLINE void avx2_gemv_codes(__m256i w, const int8_t *q, int nplanes, __m256i *lo, __m256i *hi,
                                       __m256i m3, __m256i m12) {
    __m256i q0 = _mm256_loadu_si256((const __m256i *)q), q1 = _mm256_loadu_si256((const __m256i *)(q + 32));
    __m256i l = _mm256_maddubs_epi16(_mm256_and_si256(w, m3), q0);
    __m256i h = _mm256_maddubs_epi16(_mm256_and_si256(w, m12), q1);
    if (nplanes == 4) {
        __m256i q2 = _mm256_loadu_si256((const __m256i *)(q + 64)), q3 = _mm256_loadu_si256((const __m256i *)(q + 96));
        __m256i ws = _mm256_srli_epi16(w, 4);
        l = _mm256_add_epi16(l, _mm256_maddubs_epi16(_mm256_and_si256(ws, m3), q2));
        h = _mm256_add_epi16(h, _mm256_maddubs_epi16(_mm256_and_si256(ws, m12), q3));
    }
    *lo = _mm256_add_epi16(*lo, l);
    *hi = _mm256_add_epi16(*hi, h);
}

/* Codes of bit plane i (weights 32i .. 32i+31 of the block). mask3: every byte 3. */
AVX2_CODES_INLINE __m256i avx2_plane(__m256i w, int i, __m256i mask3) {
    return _mm256_and_si256(i ? _mm256_srli_epi16(w, 2 * i) : w, mask3);
}

/* GEMM: acc[t] += codes(w) . q(token t) for planes 0..nplanes-1, the planes decoded once for all T tokens
   (token t's activations at q + t * qstride). Pair sums are <= 512, so int16 acc takes 16 of them. */
AVX2_CODES_INLINE void avx2_gemm_codes(__m256i w, const int8_t *q, size_t qstride, int T, int nplanes,
                                       __m256i *acc, __m256i mask3) {
    __m256i c[4];
#pragma GCC unroll 4
    for (int i = 0; i < nplanes; i++) c[i] = avx2_plane(w, i, mask3);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
#pragma GCC unroll 4
        for (int i = 0; i < nplanes; i++)
            acc[t] = _mm256_add_epi16(acc[t], _mm256_maddubs_epi16(c[i],
                         _mm256_loadu_si256((const __m256i *)(q + t * qstride + 32 * i))));
}

#endif
