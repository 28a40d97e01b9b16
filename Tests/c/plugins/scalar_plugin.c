/* A real kernel plugin with no Swift inside: the scalar reference backend, compiled into its own
   shared object and exported under another name. Built by scripts/build_c_tests.sh with
       cc -shared -fPIC -fvisibility=hidden -Iinclude scalar_plugin.c -o scalar_plugin.so
   so that bittern_kernel_plugin_entry is its only exported symbol. test_api loads it with
   bittern_plugin_load, forces it by name and checks its results against its own reference.

   BTP_NAME overrides the backend name (the build also makes dup_name_plugin.so, named "scalar",
   which the host must refuse because a built-in backend already has that name). */
#include "../../../Sources/BitternKernels/scalar/scalar.c"

#ifndef BTP_NAME
#define BTP_NAME "scalar_plugin"
#endif

/* Same functions as btk_backend_scalar (scalar.c's descriptor), new identity. Priority -1 so that
   loading it never changes the automatic choice (scalar is 0, SIMD backends are higher). */
static const bittern_kernel_backend plugin_backend = {
    .abi_version = BITTERN_KERNEL_ABI_VERSION,
    .struct_size = sizeof(bittern_kernel_backend),
    .name = BTP_NAME,
    .description = "scalar reference kernels loaded from a plugin (test)",
    .required_features = 0,
    .priority = -1,
    .flags = 0,
    .packed_size = scalar_packed_size,
    .pack = scalar_pack,
    .scratch_size = NULL,
    .prepare = NULL,
    .gemv = scalar_gemv,
    .gemm = scalar_gemm,
};

__attribute__((visibility("default")))
const bittern_kernel_backend *bittern_kernel_plugin_entry(uint32_t host_abi_version) {
    if (host_abi_version != BITTERN_KERNEL_ABI_VERSION) return NULL;
    return &plugin_backend;
}
