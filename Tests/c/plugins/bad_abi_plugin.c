/* A plugin built against a kernel ABI the host does not know (abi_version 999). The host must refuse it
   with BITTERN_E_UNSUPPORTED after reading only the header fields: every function pointer is NULL, so a
   host that used any of them would crash. */
#include "../../../include/bittern_kernel.h"

static const bittern_kernel_backend bad_abi_backend = {
    .abi_version = 999,
    .struct_size = sizeof(bittern_kernel_backend),
    .name = "bad_abi_plugin",
};

__attribute__((visibility("default")))
const bittern_kernel_backend *bittern_kernel_plugin_entry(uint32_t host_abi_version) {
    (void)host_abi_version; /* deliberately ignores the host's version */
    return &bad_abi_backend;
}
