/* CPU feature probe. Compiled WITHOUT any ISA flag so it runs on every CPU of its architecture.
   On x86 a vector extension counts only if the OS saves its register state (XCR0 via xgetbv);
   on arm64 the kernel reports features through getauxval. */
#include <string.h>
#include "include/bittern_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static char brand[49];

uint64_t btk_cpu_features(void) {
    unsigned a, b, c, d;
    uint64_t f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (d & (1u << 26)) f |= BITTERN_CPU_SSE2;
    if (c & (1u << 9)) f |= BITTERN_CPU_SSSE3;
    if (c & (1u << 19)) f |= BITTERN_CPU_SSE41;
    int osxsave = (c >> 27) & 1;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    int os_ymm = (xcr0 & 0x6) == 0x6;            /* SSE + AVX state */
    int os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0; /* opmask + ZMM_Hi256 + Hi16_ZMM */
    if (os_ymm && (c & (1u << 28))) f |= BITTERN_CPU_AVX;
    if (os_ymm && (c & (1u << 12))) f |= BITTERN_CPU_FMA;
    if (os_ymm && (c & (1u << 29))) f |= BITTERN_CPU_F16C;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        if (os_ymm && (b & (1u << 5))) f |= BITTERN_CPU_AVX2;
        if (b & (1u << 8)) f |= BITTERN_CPU_BMI2;
        if (os_zmm && (b & (1u << 16))) f |= BITTERN_CPU_AVX512F;
        if (os_zmm && (b & (1u << 30))) f |= BITTERN_CPU_AVX512BW;
        if (os_zmm && (b & (1u << 31))) f |= BITTERN_CPU_AVX512VL;
        if (os_zmm && (c & (1u << 11))) f |= BITTERN_CPU_AVX512VNNI;
        __cpuid_count(7, 1, a, b, c, d);
        if (os_ymm && (a & (1u << 4))) f |= BITTERN_CPU_AVXVNNI;
    }
    return f;
}

const char *btk_cpu_brand(void) {
    unsigned regs[12];
    if (__get_cpuid_max(0x80000000u, NULL) < 0x80000004u) return "";
    for (unsigned i = 0; i < 3; i++)
        __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    memcpy(brand, regs, 48);
    brand[48] = 0;
    char *s = brand;
    while (*s == ' ') s++;
    return s;
}

#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP_SVE
#define HWCAP_SVE (1 << 22)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif

uint64_t btk_cpu_features(void) {
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    uint64_t f = 0;
    if (hw & HWCAP_ASIMD) f |= BITTERN_CPU_NEON;
    if (hw & HWCAP_ASIMDDP) f |= BITTERN_CPU_NEON_DOTPROD;
    if (hw & HWCAP_SVE) f |= BITTERN_CPU_SVE;
    if (hw2 & HWCAP2_I8MM) f |= BITTERN_CPU_NEON_I8MM;
    return f;
}
const char *btk_cpu_brand(void) { return ""; }

#else
uint64_t btk_cpu_features(void) { return 0; }
const char *btk_cpu_brand(void) { return ""; }
#endif

const char *btk_cpu_feature_name(unsigned bit) {
    switch (bit) {
    case 0: return "sse2";
    case 1: return "ssse3";
    case 2: return "sse4.1";
    case 3: return "avx";
    case 4: return "avx2";
    case 5: return "fma";
    case 6: return "f16c";
    case 7: return "avx512f";
    case 8: return "avx512bw";
    case 9: return "avx512vl";
    case 10: return "avx512vnni";
    case 11: return "avxvnni";
    case 12: return "bmi2";
    case 32: return "neon";
    case 33: return "dotprod";
    case 34: return "i8mm";
    case 35: return "sve";
    default: return NULL;
    }
}
