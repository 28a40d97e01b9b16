/* A plugin that declines every host (its entry point returns NULL): bittern_plugin_load must answer
   BITTERN_E_UNSUPPORTED and add no backend. */
#include <stddef.h>
#include "../../../include/bittern_kernel.h"

__attribute__((visibility("default")))
const bittern_kernel_backend *bittern_kernel_plugin_entry(uint32_t host_abi_version) {
    (void)host_abi_version;
    return NULL;
}
