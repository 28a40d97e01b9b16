/* A shared object without bittern_kernel_plugin_entry: it exports another symbol only.
   bittern_plugin_load must answer BITTERN_E_FORMAT. */
#include <stdint.h>

__attribute__((visibility("default")))
uint32_t bittern_kernel_plugin_entry_typo(uint32_t host_abi_version) {
    return host_abi_version;
}
