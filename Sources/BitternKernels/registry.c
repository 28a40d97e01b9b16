/* The table of built-in backends. Each backend file exports one descriptor and nothing else. */
#include "include/bittern_kernels.h"

extern const bittern_kernel_backend btk_backend_scalar;
extern const bittern_kernel_backend btk_backend_sparse;
#if defined(__x86_64__)
extern const bittern_kernel_backend btk_backend_avx2;
extern const bittern_kernel_backend btk_backend_avx512_bw, btk_backend_avx512_vnni;
extern const bittern_kernel_backend btk_backend_sparse_avx2, btk_backend_sparse_quads_avx2;
#endif
#if defined(__aarch64__)
extern const bittern_kernel_backend btk_backend_neon;
extern const bittern_kernel_backend btk_backend_neon_dotprod;
#endif

static const bittern_kernel_backend *const builtins[] = {
    &btk_backend_scalar,
#if defined(__aarch64__)
    &btk_backend_neon,
    &btk_backend_neon_dotprod,
#endif
#if defined(__x86_64__)
    &btk_backend_avx2,
    &btk_backend_avx512_bw,
    &btk_backend_avx512_vnni,
    &btk_backend_sparse_quads_avx2,
    &btk_backend_sparse_avx2,
#endif
    &btk_backend_sparse,
};

size_t btk_builtin_count(void) { return sizeof(builtins) / sizeof(builtins[0]); }

const bittern_kernel_backend *btk_builtin(size_t index) {
    return index < btk_builtin_count() ? builtins[index] : NULL;
}
