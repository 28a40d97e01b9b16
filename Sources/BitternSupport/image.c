/* The file a loaded address belongs to (dladdr needs _GNU_SOURCE, which Swift's Glibc module lacks). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include "bittern_support.h"

const char *bts_image_path(const void *address) {
    Dl_info info;
    if (dladdr(address, &info) == 0 || info.dli_fname == NULL) return NULL;
    return info.dli_fname;
}
