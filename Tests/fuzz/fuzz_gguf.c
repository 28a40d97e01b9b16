/* GGUF files: the reader, tensor codecs, hyperparameters, tokenizer and chat template loading. An input
   that loads is also described, decoded (two tokens), tokenized and chat-rendered. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("bittern-fuzz-gguf", 0);
        if (fd < 0) { perror("memfd_create"); exit(2); }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) { perror("memfd"); exit(2); }
    bittern_model_params mp = bittern_model_default_params();
    mp.head_type = (size & 1) ? "f32" : NULL;
    bittern_model *m = NULL;
    bittern_status s = bittern_model_load(NULL, path, &mp, &m);
    if (s != BITTERN_OK) {
        expect_message(s);
        FUZZ_ASSERT(m == NULL, "failed load returned a model");
        return 0;
    }
    char *d = bittern_model_describe(m);
    FUZZ_ASSERT(d != NULL, "describe failed: %s", bittern_last_error());
    bittern_string_free(d);
    bittern_context_params cp = bittern_context_default_params();
    cp.n_ctx = 4;
    bittern_context *c = NULL;
    if ((s = bittern_context_create(m, &cp, &c)) == BITTERN_OK) {
        int32_t vocab = bittern_model_n_vocab(m);
        int32_t toks[2] = {0, vocab - 1};
        s = bittern_decode(c, toks, 2);
        if (s == BITTERN_OK) FUZZ_ASSERT(bittern_logits(c, -1) != NULL, "no logits after decode");
        else expect_message(s);
        bittern_context_free(c);
    } else {
        expect_message(s);
    }
    int32_t ids[64];
    int32_t n = bittern_tokenize(m, (const char *)data, size < 256 ? size : 256, true, true, ids, 64);
    if (n > 0 && n <= 64) {
        char buf[512];
        (void)bittern_detokenize(m, ids, n, false, buf, sizeof buf);
    }
    bittern_chat_message msgs[2] = {{"system", "be brief"}, {"user", "hello"}};
    char *r = bittern_chat_render(m, NULL, msgs, 2, true);
    bittern_string_free(r);
    bittern_model_free(m);
    return 0;
}
