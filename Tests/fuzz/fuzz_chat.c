/* Chat rendering with the bundled model: any roles and contents (NUL-separated in the input), every
   template. Known roles render (and the result holds each content), unknown ones are errors. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bittern_model *m = fuzz_demo_model();
    if (size < 1) return 0;
    static const char *templates[] = {NULL, "bitnet", "llama3", "chatml", "jinja?"};
    const char *tmpl = templates[data[0] % 5];
    bool add_prompt = data[0] & 0x80;
    /* Split the rest at NUL bytes: role, content, role, content... (at most 8 messages). */
    char *copy = malloc(size);
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = 0;
    bittern_chat_message msgs[8];
    size_t n = 0;
    bool known_roles = true;
    char *p = copy, *end = copy + size - 1;
    while (n < 8 && p < end) {
        char *role = p;
        p += strlen(p) + 1;
        if (p > end) break;
        char *content = p;
        p += strlen(p) + 1;
        if (p > end + 1) break;
        known_roles &= !strcmp(role, "system") || !strcmp(role, "user") || !strcmp(role, "assistant");
        msgs[n++] = (bittern_chat_message){role, content};
    }
    char *r = bittern_chat_render(m, tmpl, msgs, n, add_prompt);
    if (r) {
        FUZZ_ASSERT(known_roles, "rendered an unknown role");
        FUZZ_ASSERT(tmpl == NULL || strcmp(tmpl, "jinja?") != 0, "rendered an unknown template");
        /* Contents appear as given (invalid UTF-8 is rendered with U+FFFD, as the header says). */
        for (size_t i = 0; i < n; i++)
            if (valid_utf8(msgs[i].content, strlen(msgs[i].content)))
                FUZZ_ASSERT(strstr(r, msgs[i].content), "message %zu missing", i);
        FUZZ_ASSERT(valid_utf8(r, strlen(r)), "rendered text is not UTF-8");
        bittern_string_free(r);
    } else {
        expect_message(BITTERN_E_INVALID_ARGUMENT);
    }
    free(copy);
    return 0;
}
