/* Registry for the SIMDe NEON conformance build (x86): the NEON backends compiled with -DBTK_SIMDE, so
   their exact code paths run on this machine against NEON emulation. Scalar first, as the tester needs. */
#include "../../Sources/BitternKernels/include/bittern_kernels.h"

extern const bittern_kernel_backend btk_backend_scalar;
extern const bittern_kernel_backend btk_backend_neon;
extern const bittern_kernel_backend btk_backend_neon_dotprod;

static const bittern_kernel_backend *const builtins[] = {
    &btk_backend_scalar,
    &btk_backend_neon,
    &btk_backend_neon_dotprod,
};

size_t btk_builtin_count(void) { return sizeof(builtins) / sizeof(builtins[0]); }

const bittern_kernel_backend *btk_builtin(size_t index) {
    return index < btk_builtin_count() ? builtins[index] : NULL;
}
