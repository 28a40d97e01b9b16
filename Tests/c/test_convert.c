/* bittern_convert / bittern_quantize from C: a transformers checkpoint (argv[1]: Fixtures/hf) converted,
   loaded and decoded; re-quantized; every misuse an error code with a message and no output file. */
#define _GNU_SOURCE
#include <bittern.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static int decode_argmax(const char *path) {
    bittern_model *m = NULL;
    bittern_context *c = NULL;
    if (!CHECK(bittern_model_load(NULL, path, NULL, &m) == BITTERN_OK)) return -1;
    CHECK(bittern_context_create(m, NULL, &c) == BITTERN_OK);
    int32_t toks[] = {0, 49, 80, 339, 521};
    CHECK(bittern_decode(c, toks, 5) == BITTERN_OK);
    const float *l = bittern_logits(c, -1);
    int best = -1;
    if (CHECK(l != NULL)) {
        best = 0;
        for (int i = 1; i < bittern_model_n_vocab(m); i++) if (l[i] > l[best]) best = i;
    }
    bittern_context_free(c);
    bittern_model_free(m);
    return best;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: test_convert FIXTURES_HF_DIR\n"); return 2; }
    char dir[4096], out[256], out2[256], bad[256];
    snprintf(out, sizeof out, "/tmp/bittern-test-convert-%d.gguf", (int)getpid());
    snprintf(out2, sizeof out2, "/tmp/bittern-test-convert-%d-q.gguf", (int)getpid());
    snprintf(bad, sizeof bad, "/tmp/bittern-test-convert-%d-bad.gguf", (int)getpid());

    STEP("defaults");
    bittern_convert_params p = bittern_convert_default_params();
    CHECK(p.size == sizeof p && p.weight_type == NULL && p.head_type == NULL && p.zero_threshold == 0.5f);

    STEP("convert the packed llama checkpoint to TQ2_0");
    snprintf(dir, sizeof dir, "%s/llama-packed", argv[1]);
    p.weight_type = "tq2_0";
    p.head_type = "q8";
    CHECK(bittern_convert(dir, out, &p) == BITTERN_OK);
    int a = decode_argmax(out);
    CHECK(a >= 0);

    STEP("quantize to I2_S: the same trits, the same argmax");
    bittern_convert_params q = bittern_convert_default_params();
    q.weight_type = "i2_s";
    CHECK(bittern_quantize(out, out2, &q) == BITTERN_OK);
    CHECK(decode_argmax(out2) == a);
    CHECK(bittern_quantize(out, out2, NULL) == BITTERN_OK);   /* NULL params: the defaults */

    STEP("misuse");
    CHECK(failed_with(bittern_convert(NULL, bad, NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(failed_with(bittern_convert(dir, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(failed_with(bittern_convert("/nonexistent", bad, NULL), BITTERN_E_IO));
    bittern_convert_params b = bittern_convert_default_params();
    b.weight_type = "q4_0";
    CHECK(failed_with(bittern_convert(dir, bad, &b), BITTERN_E_INVALID_ARGUMENT));
    b = bittern_convert_default_params();
    b.zero_threshold = -1;
    CHECK(failed_with(bittern_convert(dir, bad, &b), BITTERN_E_INVALID_ARGUMENT));
    b = bittern_convert_default_params();
    b.size = 0;
    CHECK(failed_with(bittern_convert(dir, bad, &b), BITTERN_E_INVALID_ARGUMENT));
    b = bittern_convert_default_params();
    b.architecture = "llama";
    CHECK(failed_with(bittern_quantize(out, bad, &b), BITTERN_E_INVALID_ARGUMENT));
    CHECK(failed_with(bittern_quantize(out, out, NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(failed_with(bittern_quantize("/nonexistent.gguf", bad, NULL), BITTERN_E_IO));
    snprintf(dir, sizeof dir, "%s/reference.json", argv[1]);   /* not a GGUF */
    CHECK(failed_with(bittern_quantize(dir, bad, NULL), BITTERN_E_FORMAT));
    CHECK(access(bad, F_OK) != 0);

    unlink(out);
    unlink(out2);
    printf("c-convert: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
