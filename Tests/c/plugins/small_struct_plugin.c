/* A plugin whose descriptor claims the right ABI version but a struct_size too small to hold the
   function pointers (as if built against a truncated header). The host must refuse it with
   BITTERN_E_UNSUPPORTED without reading past the header. */
#include <stddef.h>
#include "../../../include/bittern_kernel.h"

static const bittern_kernel_backend small_backend = {
    .abi_version = BITTERN_KERNEL_ABI_VERSION,
    .struct_size = (uint32_t)offsetof(bittern_kernel_backend, name),
    .name = "small_struct_plugin",
};

__attribute__((visibility("default")))
const bittern_kernel_backend *bittern_kernel_plugin_entry(uint32_t host_abi_version) {
    (void)host_abi_version;
    return &small_backend;
}
