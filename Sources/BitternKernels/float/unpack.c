/* Unpacking of ggml's TQ2_0 blocks into canonical trits, in C so the compiler vectorizes it (the Swift
   reader checks scales and reports errors; this only turns 2-bit codes into -1/0/+1). */
#include "../include/bittern_kernels.h"

int btk_unpack_tq2_0(const uint8_t *qs, int8_t *t, int *nonzero) {
    /* 64 bytes: in each 128-weight half, byte m holds weights m, m+32, m+64, m+96 at bits 0, 2, 4, 6. */
    uint8_t bad = 0, any = 0;
    for (int half = 0; half < 2; half++) {
        for (int k = 0; k < 4; k++) {
            for (int m = 0; m < 32; m++) {
                uint8_t c = (uint8_t)((qs[half * 32 + m] >> (2 * k)) & 3);
                bad |= (uint8_t)(c == 3);
                any |= (uint8_t)(c != 1);
                t[half * 128 + k * 32 + m] = (int8_t)(c - 1);
            }
        }
    }
    *nonzero = any;
    return bad;
}
