/* The tokenizer of the bundled model (byte-level BPE, Llama-3 pre-tokenizer): any bytes tokenize, and
   without special-token parsing detokenizing gives back exactly those bytes. The same bytes read as
   token ids go through token_to_piece, detokenize and the streaming detokenizer (bad ids fail cleanly;
   the stream is always valid UTF-8). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bittern_model *m = fuzz_demo_model();
    if (size == 0) return 0;
    uint8_t mode = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    bool add_special = mode & 1, parse_special = mode & 2;
    int32_t need = bittern_tokenize(m, text, len, add_special, parse_special, NULL, 0);
    FUZZ_ASSERT(need <= 0 && need != INT32_MIN, "capacity 0 returned %d: %s", need, bittern_last_error());
    int32_t cap = -need;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(cap ? cap : 1));
    int32_t n = bittern_tokenize(m, text, len, add_special, parse_special, ids, cap);
    FUZZ_ASSERT(n == cap, "tokenize gave %d tokens, the size query %d", n, cap);
    int32_t vocab = bittern_model_n_vocab(m);
    for (int32_t i = 0; i < n; i++) FUZZ_ASSERT(ids[i] >= 0 && ids[i] < vocab, "token %d out of range", ids[i]);
    int32_t bytes = -bittern_detokenize(m, ids, n, false, NULL, 0);
    FUZZ_ASSERT(bytes >= 0, "detokenize size query failed: %s", bittern_last_error());
    char *back = malloc((size_t)bytes + 1);
    int32_t got = bittern_detokenize(m, ids, n, false, back, bytes);
    FUZZ_ASSERT(got == bytes, "detokenize wrote %d of %d bytes", got, bytes);
    if (!add_special && !parse_special)
        FUZZ_ASSERT((size_t)got == len && memcmp(back, text, len) == 0, "round trip changed the text (%d vs %zu bytes)", got, len);
    free(back);
    free(ids);

    /* The input as token ids: valid ones render, invalid ones are errors. */
    size_t k = len / 4 < 64 ? len / 4 : 64;
    int32_t raw[64];
    memcpy(raw, text, k * 4);
    char buf[256];
    bool all_valid = true;
    for (size_t i = 0; i < k; i++) {
        int32_t r = bittern_token_to_piece(m, raw[i], buf, sizeof buf);
        bool valid = raw[i] >= 0 && raw[i] < vocab;
        all_valid &= valid;
        if (!valid) FUZZ_ASSERT(r == INT32_MIN, "token_to_piece accepted id %d", raw[i]);
        else FUZZ_ASSERT(r != INT32_MIN, "token_to_piece refused id %d: %s", raw[i], bittern_last_error());
    }
    int32_t r = bittern_detokenize(m, raw, (int32_t)k, mode & 4, buf, sizeof buf);
    if (!all_valid) FUZZ_ASSERT(r == INT32_MIN, "detokenize accepted an invalid id");
    bittern_detokenizer *d = NULL;
    if (bittern_detokenizer_create(m, mode & 4, &d) == BITTERN_OK) {
        for (size_t i = 0; i < k; i++) {
            size_t plen = 0;
            const char *p = bittern_detokenizer_push(d, raw[i], &plen);
            if ((raw[i] < 0 && raw[i] != -1) || raw[i] >= vocab) FUZZ_ASSERT(p == NULL, "detokenizer accepted id %d", raw[i]);
            else {
                FUZZ_ASSERT(p != NULL, "detokenizer refused id %d: %s", raw[i], bittern_last_error());
                FUZZ_ASSERT(p[plen] == 0, "detokenizer output for id %d is not NUL-terminated", raw[i]);
                FUZZ_ASSERT(valid_utf8(p, plen), "detokenizer output for id %d (%zu bytes) is not UTF-8", raw[i], plen);
            }
        }
        bittern_detokenizer_free(d);
    }
    return 0;
}
