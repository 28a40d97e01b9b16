/* Registry for the SIMDe conformance build (scripts/conformance_simde_x86.sh): the AVX-512 backends
   compiled with -DBTK_SIMDE run on any CPU, so the tester exercises them on machines without AVX-512.
   Same interface as Sources/BitternKernels/registry.c; scalar first (the reference). */
#include "../../Sources/BitternKernels/include/bittern_kernels.h"

extern const bittern_kernel_backend btk_backend_scalar;
extern const bittern_kernel_backend btk_backend_avx512_bw, btk_backend_avx512_vnni;

static const bittern_kernel_backend *const builtins[] = {
    &btk_backend_scalar,
    &btk_backend_avx512_bw,
    &btk_backend_avx512_vnni,
};

size_t btk_builtin_count(void) { return sizeof(builtins) / sizeof(builtins[0]); }

const bittern_kernel_backend *btk_builtin(size_t index) {
    return index < btk_builtin_count() ? builtins[index] : NULL;
}
