/* C test of the text, sampling, generation and chat API, written against include/bittern.h alone.

   Usage: test_text [TOKENIZER_FIXTURES_DIR [MODEL.gguf]]
   MODEL defaults to bittern_default_model_path() (the bundled demo model: a byte-level BPE vocabulary
   with <|begin_of_text|>, <|end_of_text|> and <|eot_id|>, and the "bitnet" chat template; the checks
   expect exactly that model). Without it, the test fails at once.
   TOKENIZER_FIXTURES_DIR is Tests/BitternTests/Fixtures/tokenizer (optional): its corpus.txt and heldout.txt
   (hex-encoded byte strings, some invalid UTF-8, some with NUL) are round-tripped through the model's
   tokenizer, and its vocabulary-only GGUFs must be refused by bittern_model_load (no tensors).
   Checks: the size-query protocols of tokenize / token_to_piece / detokenize, special tokens, special
   parsing, exact byte round trips, the streaming detokenizer, sampler params and chains, greedy and
   seeded generation against a manual decode loop, max_tokens, stop strings, cancellation, context
   full (prompt and reply), params validation, chat rendering and prefix reuse, the abort callback,
   dead and foreign handles, and two contexts generating at once on two threads.
   Closing line: "c-text: N passed, M failed"; exit status 1 when M > 0. */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bittern.h"

#include "check.h"

/* ======================================================================== error messages */
/* A failure must set this thread's message, and a success leaves it as it was, so a stale message
   could hide a missing one. prime() first provokes a distinctive failure; fresh_error() then says
   whether the message was replaced (and is a real message). */

static char primed[1024];

static void prime(void) {
    bittern_runtime_params p = bittern_runtime_default_params();
    p.size = 0;
    bittern_runtime *rt = NULL;
    (void)bittern_runtime_create(&p, &rt);
    snprintf(primed, sizeof primed, "%s", bittern_last_error());
}

static bool fresh_error(void) {
    const char *msg = bittern_last_error();
    return msg && msg[0] && strcmp(msg, "no error") != 0 && strcmp(msg, primed) != 0;
}

static bool status_is(bittern_status got, bittern_status want) { return got == want && fresh_error(); }
static bool i32_is_min(int32_t got) { return got == INT32_MIN && fresh_error(); }
static bool ptr_is_null(const void *got) { return got == NULL && fresh_error(); }

/* The call fails with `want` and sets a new message. */
#define FAILS(call, want) (prime(), status_is((call), (want)))
/* The call (returning a count) fails with INT32_MIN and sets a new message. */
#define FAILS_I32(call) (prime(), i32_is_min(call))
/* The call (returning a pointer) fails with NULL and sets a new message. */
#define FAILS_NULL(call) (prime(), ptr_is_null(call))

/* ================================================================================= helpers */

static bittern_model *M;
static int32_t NV, BOS, EOS, EOT;

#define MAXT 4096

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF, no truncated sequences. */
static bool utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b < 0x80) { i++; continue; }
        else if (b >= 0xC2 && b <= 0xDF) len = 2;
        else if (b >= 0xE0 && b <= 0xEF) { len = 3; if (b == 0xE0) lo = 0xA0; if (b == 0xED) hi = 0x9F; }
        else if (b >= 0xF0 && b <= 0xF4) { len = 4; if (b == 0xF0) lo = 0x90; if (b == 0xF4) hi = 0x8F; }
        else return false;
        if (i + len > n) return false;
        if (s[i + 1] < lo || s[i + 1] > hi) return false;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

/* Tokenizes text (len bytes); returns the count, or -1 (counted as a failed check) on any error. */
static int tokenize(const char *text, size_t len, bool add_special, bool parse_special, int32_t *out, int cap) {
    int32_t n = bittern_tokenize(M, text, len, add_special, parse_special, out, cap);
    if (!CHECK(n >= 0)) return -1;
    return n;
}

/* Detokenizes into buf (cap bytes); returns the count, or -1 (a failed check) on any error. */
static int detokenize(const int32_t *toks, int n, bool skip_special, char *buf, int cap) {
    int32_t k = bittern_detokenize(M, toks, n, skip_special, buf, cap);
    if (!CHECK(k >= 0)) return -1;
    return k;
}

static int32_t argmax(const float *l) {
    int32_t best = 0;
    for (int32_t i = 1; i < NV; i++)
        if (l[i] > l[best]) best = i;
    return best;
}

static bittern_context *make_ctx(uint32_t n_ctx) {
    bittern_context_params cp = bittern_context_default_params();
    cp.n_ctx = n_ctx;
    bittern_context *c = NULL;
    CHECK(bittern_context_create(M, &cp, &c) == BITTERN_OK && c != NULL);
    return c;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* What a text callback saw. */
typedef struct {
    char text[16384];
    size_t len;
    int calls;
    int cancel_at;        /* return false on this call (1-based); 0: never */
    int calls_after_false;
    bool returned_false;
    bool bad_nul;         /* text[len] was not NUL */
    bool bad_utf8;
    bool bad_token;       /* token neither -1 nor in the vocabulary */
    bool after_flush;     /* a call came after one with token -1 */
    bool seen_flush;
    bool overflow;
} collector;

static void collector_init(collector *c, int cancel_at) {
    memset(c, 0, sizeof *c);
    c->cancel_at = cancel_at;
}

static bool on_text(const char *text, size_t len, int32_t token, void *user) {
    collector *c = user;
    if (c->returned_false) c->calls_after_false++;
    c->calls++;
    if (!text || text[len] != '\0') c->bad_nul = true;
    if (text && !utf8_valid(text, len)) c->bad_utf8 = true;
    if (token != -1 && (token < 0 || token >= NV)) c->bad_token = true;
    if (c->seen_flush) c->after_flush = true;
    if (token == -1) c->seen_flush = true;
    if (text) {
        if (c->len + len < sizeof c->text) {
            memcpy(c->text + c->len, text, len);
            c->len += len;
            c->text[c->len] = '\0';
        } else {
            c->overflow = true;
        }
    }
    if (c->cancel_at > 0 && c->calls == c->cancel_at) {
        c->returned_false = true;
        return false;
    }
    return true;
}

/* The callback contract held: NUL-terminated valid UTF-8 pieces, sane tokens, the flush last. */
static bool collector_clean(const collector *c) {
    return !c->bad_nul && !c->bad_utf8 && !c->bad_token && !c->after_flush && !c->overflow &&
           c->calls_after_false == 0;
}

static bittern_generate_params greedy_params(int32_t max_tokens, bittern_generate_result *res) {
    bittern_generate_params gp = bittern_generate_default_params();
    gp.max_tokens = max_tokens;
    gp.sampling.temperature = 0;
    gp.sampling.repeat_penalty = 1; /* pure argmax */
    gp.result = res;
    return gp;
}

static const char *PROMPT = "It is a truth universally acknowledged";

/* ============================================================================ default path */

static void check_default_path(void) {
    STEP("BITTERN_MODEL pointing nowhere");
    const char *saved = getenv("BITTERN_MODEL");
    char *keep = saved ? strdup(saved) : NULL;
    setenv("BITTERN_MODEL", "/nonexistent/bittern-test/none.gguf", 1);
    char *p = NULL;
    CHECK(FAILS_NULL(p = bittern_default_model_path()));
    CHECK(strstr(bittern_last_error(), "/nonexistent/bittern-test/none.gguf") != NULL);
    CHECK(bittern_last_status() == BITTERN_E_IO);   /* the status behind a NULL return */
    bittern_string_free(p);
    STEP("bittern_last_status after a count-returning failure");
    CHECK(bittern_tokenize(NULL, "x", 1, false, false, NULL, 0) == INT32_MIN);
    CHECK(bittern_last_status() == BITTERN_E_INVALID_ARGUMENT);
    if (keep) {
        setenv("BITTERN_MODEL", keep, 1);
        free(keep);
    } else {
        unsetenv("BITTERN_MODEL");
    }
}

/* ============================================================================== tokenize */

static void check_tokenize(void) {
    const char *text = "Hello, world! It is a truth universally acknowledged.";
    size_t len = strlen(text);
    int32_t toks[256];

    STEP("size query");
    int32_t q = bittern_tokenize(M, text, len, false, false, NULL, 0);
    CHECK(q < 0 && q != INT32_MIN);
    int32_t need = -q;
    CHECK(need > 2 && need < 64);

    STEP("too small capacity writes nothing");
    for (int i = 0; i < 256; i++) toks[i] = -12345;
    CHECK(bittern_tokenize(M, text, len, false, false, toks, need - 1) == -need);
    CHECK(bittern_tokenize(M, text, len, false, false, toks, 1) == -need);
    bool untouched = true;
    for (int i = 0; i < 256; i++) untouched = untouched && toks[i] == -12345;
    CHECK(untouched);

    STEP("exact and larger capacity");
    CHECK(bittern_tokenize(M, text, len, false, false, toks, need) == need);
    bool in_range = true;
    for (int i = 0; i < need; i++) in_range = in_range && toks[i] >= 0 && toks[i] < NV;
    CHECK(in_range);
    int32_t again[256];
    for (int i = 0; i < 256; i++) again[i] = -777;
    CHECK(bittern_tokenize(M, text, len, false, false, again, 256) == need);
    CHECK(memcmp(again, toks, (size_t)need * sizeof(int32_t)) == 0);
    CHECK(again[need] == -777 && again[255] == -777);
    /* the pieces of byte-level BPE tokens concatenate to the text */
    char buf[512];
    size_t at = 0;
    bool pieces_ok = true;
    for (int i = 0; i < need; i++) {
        int32_t k = bittern_token_to_piece(M, toks[i], buf + at, (int32_t)(sizeof buf - at));
        if (k <= 0) pieces_ok = false;
        else at += (size_t)k;
    }
    CHECK(pieces_ok && at == len && memcmp(buf, text, len) == 0);

    STEP("add_special adds BOS");
    CHECK(BOS >= 0);
    int32_t with[256];
    int nw = tokenize(text, len, true, false, with, 256);
    CHECK(nw == need + 1 && with[0] == BOS && memcmp(with + 1, toks, (size_t)need * sizeof(int32_t)) == 0);
    CHECK(bittern_tokenize(M, text, len, true, false, NULL, 0) == -(need + 1));

    STEP("empty text");
    CHECK(bittern_tokenize(M, NULL, 0, false, false, NULL, 0) == 0);
    CHECK(bittern_tokenize(M, "", 0, false, false, toks, 4) == 0);
    toks[0] = -5;
    CHECK(bittern_tokenize(M, NULL, 0, true, false, NULL, 0) == -1);
    CHECK(bittern_tokenize(M, NULL, 0, true, false, toks, 4) == 1 && toks[0] == BOS);

    STEP("parse_special on/off for <|eot_id|>");
    const char *sp = "Hi<|eot_id|>there";
    int32_t a[64], b[64];
    int na = tokenize(sp, strlen(sp), false, true, a, 64);
    int nb = tokenize(sp, strlen(sp), false, false, b, 64);
    int eot_a = 0, eot_b = 0, ctl_b = 0;
    for (int i = 0; i < na; i++) eot_a += a[i] == EOT;
    for (int i = 0; i < nb; i++) {
        eot_b += b[i] == EOT;
        ctl_b += bittern_token_is_control(M, b[i]);
    }
    CHECK(eot_a == 1 && eot_b == 0 && ctl_b == 0);
    CHECK(nb > na);
    int32_t only[8];
    CHECK(tokenize("<|eot_id|>", 10, false, true, only, 8) == 1 && only[0] == EOT);
    CHECK(tokenize("<|begin_of_text|>", 17, false, true, only, 8) == 1 && only[0] == BOS);
    CHECK(tokenize("<|eot_id|>", 10, false, false, only, 8) > 1);
    /* both render back to the exact text when special tokens are not skipped */
    int k = detokenize(a, na, false, buf, sizeof buf);
    CHECK(k == (int)strlen(sp) && memcmp(buf, sp, (size_t)k) == 0);
    k = detokenize(b, nb, false, buf, sizeof buf);
    CHECK(k == (int)strlen(sp) && memcmp(buf, sp, (size_t)k) == 0);
    /* skipping special tokens drops the parsed one, but not the same text tokenized as plain text */
    k = detokenize(a, na, true, buf, sizeof buf);
    CHECK(k == 7 && memcmp(buf, "Hithere", 7) == 0);
    k = detokenize(b, nb, true, buf, sizeof buf);
    CHECK(k == (int)strlen(sp) && memcmp(buf, sp, (size_t)k) == 0);

    STEP("tokenize errors");
    CHECK(FAILS_I32(bittern_tokenize(M, NULL, 3, false, false, toks, 16)));
    CHECK(FAILS_I32(bittern_tokenize(M, text, len, false, false, toks, -1)));
    CHECK(FAILS_I32(bittern_tokenize(M, text, len, false, false, NULL, 16)));
    CHECK(FAILS_I32(bittern_tokenize(NULL, text, len, false, false, toks, 16)));
}

/* ========================================================================= byte round trips */

/* tokenize (special parsing off) then detokenize gives the bytes back exactly, with and without
   skip_special, and no control token appears; with special parsing on, detokenize without skipping
   gives the bytes back too. */
static bool round_trip(const char *bytes, size_t len) {
    static int32_t toks[MAXT];
    static char out[4 * MAXT];
    int32_t n = bittern_tokenize(M, bytes, len, false, false, toks, MAXT);
    if (n < 0 || (len > 0 && n == 0)) return false;
    for (int i = 0; i < n; i++)
        if (toks[i] < 0 || toks[i] >= NV || bittern_token_is_control(M, toks[i])) return false;
    for (int skip = 0; skip < 2; skip++) {
        int32_t k = bittern_detokenize(M, toks, n, skip != 0, out, (int32_t)sizeof out);
        if (k != (int32_t)len || memcmp(out, bytes, len) != 0) return false;
    }
    n = bittern_tokenize(M, bytes, len, false, true, toks, MAXT);
    if (n < 0) return false;
    int32_t k = bittern_detokenize(M, toks, n, false, out, (int32_t)sizeof out);
    return k == (int32_t)len && memcmp(out, bytes, len) == 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Round-trips every entry of a fixture file ("<hex>\t<escape>" lines); returns the entry count. */
static int round_trip_file(const char *path, int *invalid_utf8, int *with_nul) {
    FILE *f = fopen(path, "r");
    if (!CHECK(f != NULL)) {
        printf("cannot open %s\n", path);
        return 0;
    }
    static char line[1 << 16];
    static char bytes[1 << 15];
    int entries = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        size_t n = 0;
        bool ok = true;
        for (char *p = line; *p && *p != '\t' && *p != '\n'; p += 2) {
            int hi = hexval(p[0]), lo = p[1] ? hexval(p[1]) : -1;
            if (hi < 0 || lo < 0 || n >= sizeof bytes) { ok = false; break; }
            bytes[n++] = (char)(hi * 16 + lo);
        }
        STEP("round trip %s entry %d (%zu bytes)", path, entries, n);
        CHECK(ok);
        if (!ok) continue;
        if (!utf8_valid(bytes, n)) (*invalid_utf8)++;
        if (memchr(bytes, 0, n)) (*with_nul)++;
        CHECK(round_trip(bytes, n));
        entries++;
    }
    fclose(f);
    return entries;
}

static void check_round_trips(const char *fixtures) {
    STEP("every single byte");
    char all[256];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    CHECK(round_trip(all, 256));
    bool singles = true;
    for (int i = 0; i < 256; i++) singles = singles && round_trip(all + i, 1);
    CHECK(singles);

    STEP("invalid UTF-8 and embedded NUL");
    static const struct { const char *s; size_t n; } cases[] = {
        {"\xff", 1},                      /* never valid */
        {"\xc0\x80", 2},                  /* overlong NUL */
        {"\x80\x80\x80", 3},              /* lone continuation bytes */
        {"abc\xe6\x97", 5},               /* truncated 3-byte sequence at the end */
        {"\xed\xa0\x80", 3},              /* a surrogate */
        {"\xf4\x90\x80\x80", 4},          /* above U+10FFFF */
        {"\xf0\x9f\x98", 3},              /* truncated emoji */
        {"a\0b\0\0c", 6},                 /* embedded NULs */
        {"\0", 1},
        {"x\r\n\ty  z\xc3\x28", 10},
        {"<|eot_id|>\x00<|begin_of_text|>\xfe", 30},
        {"\xe2\x82\xac\xf0\x9f\x98\x80\xe6\x97\xa5", 10}, /* valid: euro, emoji, CJK */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        STEP("round trip case %zu", i);
        CHECK(round_trip(cases[i].s, cases[i].n));
    }

    STEP("NUL is data, not a terminator");
    int32_t t1[16], t2[16];
    int n1 = tokenize("ab\0cd", 5, false, false, t1, 16);
    int n2 = tokenize("ab", 2, false, false, t2, 16);
    CHECK(n1 > n2 && n2 > 0);

    STEP("random byte strings");
    static const char *atoms[] = {"<|eot_id|>", "<|", "|>", "<|begin_of_text|>", "\xf0\x9f", "\x98\x80",
                                  "\xf0\x9f\x98\x80", " ", "  ", "\n", "\r\n", "\0", "ab", "The", " the",
                                  "\xe6\x97\xa5\xe6\x9c\xac", "\xff", "\xc3", "\xa9", "'s", "123", "\t"};
    bool all_ok = true;
    int bad_at = -1;
    for (int r = 0; r < 300 && all_ok; r++) {
        char s[512];
        size_t n = 0;
        int parts = (int)(rnd() % 24);
        for (int p = 0; p < parts; p++) {
            if (rnd() % 3 == 0) {
                size_t k = 1 + rnd() % 6;
                for (size_t j = 0; j < k && n < sizeof s; j++) s[n++] = (char)(rnd() & 0xFF);
            } else {
                const char *a = atoms[rnd() % (sizeof atoms / sizeof atoms[0])];
                size_t k = a[0] ? strlen(a) : 1; /* "\0" is one NUL byte */
                if (n + k <= sizeof s) { memcpy(s + n, a, k); n += k; }
            }
        }
        if (!round_trip(s, n)) { all_ok = false; bad_at = r; }
    }
    STEP("random byte strings (first bad: %d)", bad_at);
    CHECK(all_ok);

    if (fixtures) {
        char path[4096];
        int invalid = 0, nul = 0;
        snprintf(path, sizeof path, "%s/corpus.txt", fixtures);
        int n = round_trip_file(path, &invalid, &nul);
        snprintf(path, sizeof path, "%s/heldout.txt", fixtures);
        n += round_trip_file(path, &invalid, &nul);
        STEP("fixture corpus");
        printf("round-tripped %d fixture entries (%d invalid UTF-8, %d with NUL)\n", n, invalid, nul);
        CHECK(n >= 400 && invalid >= 20 && nul >= 1); /* the files are what the README says */
    }
}

/* ======================================================================= pieces and specials */

static void check_pieces(void) {
    char buf[64];

    STEP("special token ids");
    CHECK(BOS >= 0 && BOS < NV && EOS >= 0 && EOS < NV && EOT >= 0 && EOT < NV);
    CHECK(BOS != EOS && EOS != EOT && BOS != EOT);

    STEP("special pieces");
    struct { int32_t id; const char *text; } sp[] = {
        {BOS, "<|begin_of_text|>"}, {EOS, "<|end_of_text|>"}, {EOT, "<|eot_id|>"}};
    for (size_t i = 0; i < 3; i++) {
        STEP("piece of special %d", sp[i].id);
        int32_t n = (int32_t)strlen(sp[i].text);
        memset(buf, '#', sizeof buf);
        CHECK(bittern_token_to_piece(M, sp[i].id, buf, sizeof buf) == n && memcmp(buf, sp[i].text, (size_t)n) == 0);
        CHECK(buf[n] == '#'); /* not NUL-terminated, nothing past the bytes */
        CHECK(bittern_token_to_piece(M, sp[i].id, NULL, 0) == -n);
        memset(buf, '#', sizeof buf);
        CHECK(bittern_token_to_piece(M, sp[i].id, buf, n - 1) == -n);
        bool untouched = true;
        for (size_t j = 0; j < sizeof buf; j++) untouched = untouched && buf[j] == '#';
        CHECK(untouched);
        CHECK(bittern_token_is_control(M, sp[i].id));
    }

    STEP("end of generation");
    CHECK(bittern_token_is_eog(M, EOS) && bittern_token_is_eog(M, EOT));
    CHECK(!bittern_token_is_eog(M, BOS));

    STEP("a normal token");
    int32_t t[8];
    CHECK(tokenize(" truth", 6, false, false, t, 8) == 1);
    CHECK(bittern_token_to_piece(M, t[0], buf, sizeof buf) == 6 && memcmp(buf, " truth", 6) == 0);
    CHECK(bittern_token_to_piece(M, t[0], NULL, 0) == -6);
    CHECK(!bittern_token_is_control(M, t[0]) && !bittern_token_is_eog(M, t[0]));
    int ncontrol = 0, neog = 0;
    for (int32_t i = 0; i < NV; i++) {
        ncontrol += bittern_token_is_control(M, i);
        neog += bittern_token_is_eog(M, i);
    }
    CHECK(ncontrol >= 3 && ncontrol < 300 && neog >= 2 && neog <= ncontrol);
    /* every token has a non-empty piece */
    bool all_pieces = true;
    for (int32_t i = 0; i < NV; i++) all_pieces = all_pieces && bittern_token_to_piece(M, i, NULL, 0) < 0;
    CHECK(all_pieces);

    STEP("out-of-range tokens");
    int32_t bad[] = {-1, NV, NV + 1, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        STEP("token_to_piece(%d)", bad[i]);
        CHECK(FAILS_I32(bittern_token_to_piece(M, bad[i], buf, sizeof buf)));
        CHECK(!bittern_token_is_control(M, bad[i]) && !bittern_token_is_eog(M, bad[i]));
        int32_t seq[3] = {t[0], bad[i], t[0]};
        CHECK(FAILS_I32(bittern_detokenize(M, seq, 3, false, buf, sizeof buf)));
    }
    CHECK(FAILS_I32(bittern_token_to_piece(M, t[0], buf, -1)));
}

static void check_detokenize(void) {
    const char *text = "Mr. Bennet's daughters, \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80!";
    size_t len = strlen(text);
    int32_t toks[128];
    int n = tokenize(text, len, true, false, toks, 128); /* BOS first */
    char buf[256];

    STEP("detokenize size query");
    CHECK(bittern_detokenize(M, toks, n, true, NULL, 0) == -(int32_t)len);
    int32_t with_bos = (int32_t)(len + strlen("<|begin_of_text|>"));
    CHECK(bittern_detokenize(M, toks, n, false, NULL, 0) == -with_bos);

    STEP("detokenize too small writes nothing");
    memset(buf, '#', sizeof buf);
    CHECK(bittern_detokenize(M, toks, n, true, buf, (int32_t)len - 1) == -(int32_t)len);
    bool untouched = true;
    for (size_t j = 0; j < sizeof buf; j++) untouched = untouched && buf[j] == '#';
    CHECK(untouched);

    STEP("detokenize exact");
    CHECK(bittern_detokenize(M, toks, n, true, buf, (int32_t)len) == (int32_t)len && memcmp(buf, text, len) == 0);
    CHECK(buf[len] == '#');
    CHECK(bittern_detokenize(M, toks, n, false, buf, sizeof buf) == with_bos &&
          memcmp(buf, "<|begin_of_text|>", 17) == 0 && memcmp(buf + 17, text, len) == 0);

    STEP("detokenize edge cases");
    CHECK(bittern_detokenize(M, toks, 0, false, buf, sizeof buf) == 0);
    CHECK(bittern_detokenize(M, NULL, 0, false, NULL, 0) == 0);
    int32_t only_special[3] = {BOS, EOT, EOS};
    CHECK(bittern_detokenize(M, only_special, 3, true, NULL, 0) == 0);
    CHECK(FAILS_I32(bittern_detokenize(M, toks, -1, false, buf, sizeof buf)));
    CHECK(FAILS_I32(bittern_detokenize(M, NULL, 2, false, buf, sizeof buf)));
    CHECK(FAILS_I32(bittern_detokenize(M, toks, n, false, buf, -1)));
    CHECK(FAILS_I32(bittern_detokenize(NULL, toks, n, false, buf, sizeof buf)));
}

/* ==================================================================== streaming detokenizer */

/* Pushes n tokens one by one, then a flush; every piece must be valid UTF-8 and NUL-terminated.
   Returns the concatenation's length in out (NUL-terminated), or -1. *empty counts empty pieces. */
static int stream(bittern_detokenizer *d, const int32_t *toks, int n, char *out, size_t cap, int *empty) {
    size_t at = 0;
    bool ok = true;
    for (int i = 0; i <= n; i++) {
        size_t len = 12345;
        const char *p = bittern_detokenizer_push(d, i < n ? toks[i] : -1, &len);
        if (!p || len == 12345 || p[len] != '\0' || !utf8_valid(p, len) || at + len >= cap) {
            ok = false;
            break;
        }
        if (len == 0 && empty) (*empty)++;
        memcpy(out + at, p, len);
        at += len;
    }
    out[at] = '\0';
    return ok ? (int)at : -1;
}

static void check_detokenizer(void) {
    bittern_detokenizer *d = NULL, *dk = NULL;
    STEP("detokenizer create");
    CHECK(bittern_detokenizer_create(M, false, &d) == BITTERN_OK && d != NULL);
    CHECK(bittern_detokenizer_create(M, true, &dk) == BITTERN_OK && dk != NULL);
    if (!d || !dk) return;

    STEP("emoji and CJK stream as whole characters");
    const char *text = "Emoji \xf0\x9f\x98\x80\xf0\x9f\x8e\x89 and CJK \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae"
                       "\xe6\x96\x87\xe7\xab\xa0, na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x91\xa9\xe2\x80\x8d"
                       "\xf0\x9f\x91\xa7 \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82";
    size_t len = strlen(text);
    int32_t toks[256];
    int n = tokenize(text, len, false, false, toks, 256);
    /* the tokens split characters (otherwise this test would prove nothing) */
    bool split = false;
    for (int i = 0; i < n; i++) {
        char piece[64];
        int32_t k = bittern_token_to_piece(M, toks[i], piece, sizeof piece);
        if (k > 0 && !utf8_valid(piece, (size_t)k)) split = true;
    }
    CHECK(split);
    char out[2048];
    int empty = 0;
    int got = stream(d, toks, n, out, sizeof out, &empty);
    CHECK(got == (int)len && memcmp(out, text, len) == 0);
    CHECK(empty > 0); /* bytes of a split character were held back */

    STEP("an incomplete character is flushed as U+FFFD");
    int32_t part[16];
    int np = tokenize("\xf0\x9f", 2, false, false, part, 16);
    CHECK(np >= 1);
    size_t l = 99;
    const char *p = NULL;
    for (int i = 0; i < np; i++) {
        p = bittern_detokenizer_push(d, part[i], &l);
        CHECK(p != NULL && l == 0 && p[0] == '\0');
    }
    p = bittern_detokenizer_push(d, -1, &l);
    CHECK(p != NULL && l == 3 && strcmp(p, "\xef\xbf\xbd") == 0);
    /* the detokenizer starts over */
    int32_t a[4];
    CHECK(tokenize("A", 1, false, false, a, 4) == 1);
    p = bittern_detokenizer_push(d, a[0], NULL); /* len may be NULL */
    CHECK(p != NULL && strcmp(p, "A") == 0);
    p = bittern_detokenizer_push(d, -1, &l);
    CHECK(p != NULL && l == 0);

    STEP("a byte that cannot start a character");
    int32_t ff[4];
    CHECK(tokenize("\xff", 1, false, false, ff, 4) == 1);
    p = bittern_detokenizer_push(d, ff[0], &l);
    CHECK(p != NULL && l == 3 && strcmp(p, "\xef\xbf\xbd") == 0);

    STEP("special tokens");
    p = bittern_detokenizer_push(d, EOT, &l);
    CHECK(p != NULL && l == 10 && strcmp(p, "<|eot_id|>") == 0);
    p = bittern_detokenizer_push(dk, EOT, &l);
    CHECK(p != NULL && l == 0);
    p = bittern_detokenizer_push(dk, a[0], &l);
    CHECK(p != NULL && strcmp(p, "A") == 0);

    STEP("random token streams");
    bool valid = true, matches = true, ascii_kept = true;
    static char raw[8192], cat[16384];
    for (int r = 0; r < 60; r++) {
        int32_t seq[96];
        int ns = 1 + (int)(rnd() % 95);
        for (int i = 0; i < ns; i++) {
            /* mostly tokens of single bytes >= 0x80 (to split and break characters), some of anything */
            if (rnd() % 2) {
                char byte = (char)(0x80 + rnd() % 0x80);
                int32_t one[4];
                seq[i] = bittern_tokenize(M, &byte, 1, false, false, one, 4) == 1 ? one[0] : a[0];
            } else {
                seq[i] = (int32_t)(rnd() % (uint32_t)NV);
            }
        }
        int32_t nraw = bittern_detokenize(M, seq, ns, true, raw, sizeof raw);
        int nc = stream(dk, seq, ns, cat, sizeof cat, NULL);
        if (nraw < 0 || nc < 0) { valid = false; break; }
        if (utf8_valid(raw, (size_t)nraw) && (nc != nraw || memcmp(raw, cat, (size_t)nc) != 0)) matches = false;
        /* replacement characters aside, the ASCII text is kept, in order */
        size_t ia = 0, ib = 0;
        for (;;) {
            while (ia < (size_t)nraw && (unsigned char)raw[ia] >= 0x80) ia++;
            while (ib < (size_t)nc && (unsigned char)cat[ib] >= 0x80) ib++;
            if (ia == (size_t)nraw || ib == (size_t)nc) {
                if (ia != (size_t)nraw || ib != (size_t)nc) ascii_kept = false;
                break;
            }
            if (raw[ia++] != cat[ib++]) { ascii_kept = false; break; }
        }
    }
    CHECK(valid);
    CHECK(matches);
    CHECK(ascii_kept);

    STEP("detokenizer errors");
    CHECK(FAILS_NULL(bittern_detokenizer_push(d, NV, &l)));
    CHECK(FAILS_NULL(bittern_detokenizer_push(d, -2, &l)));
    CHECK(FAILS_NULL(bittern_detokenizer_push(NULL, a[0], &l)));
    CHECK(FAILS(bittern_detokenizer_create(M, false, NULL), BITTERN_E_INVALID_ARGUMENT));
    bittern_detokenizer *none = NULL;
    CHECK(FAILS(bittern_detokenizer_create(NULL, false, &none), BITTERN_E_INVALID_ARGUMENT) && none == NULL);
    bittern_detokenizer_free(d);
    CHECK(FAILS_NULL(bittern_detokenizer_push(d, a[0], &l))); /* freed */
    bittern_detokenizer_free(d);                                /* a second free is ignored */
    bittern_detokenizer_free(NULL);
    bittern_detokenizer_free(dk);
}

/* ================================================================================= sampling */

static void check_sampler(void) {
    STEP("sampler defaults");
    bittern_sampler_params sp = bittern_sampler_default_params();
    CHECK(sp.size == sizeof sp && sp.temperature == 0.8f && sp.top_k == 40 && sp.top_p == 0.95f &&
          sp.min_p == 0.05f && sp.repeat_penalty == 1.1f && sp.frequency_penalty == 0 &&
          sp.presence_penalty == 0 && sp.penalty_last_n == 64 && sp.seed == BITTERN_SEED_RANDOM);
    bittern_sampler *s = NULL;
    CHECK(bittern_sampler_create(M, &sp, &s) == BITTERN_OK && s != NULL);
    bittern_sampler_free(s);
    s = NULL;
    CHECK(bittern_sampler_create(M, NULL, &s) == BITTERN_OK && s != NULL);

    STEP("sample before any decode");
    bittern_context *c = make_ctx(64);
    CHECK(FAILS(bittern_sampler_sample(s, c, -1), BITTERN_E_INVALID_ARGUMENT));
    bittern_sampler_free(s);

    STEP("invalid sampler params");
    struct { const char *what; bittern_sampler_params p; } bad[12];
    int nb = 0;
#define BAD(field, value) do { bad[nb].what = #field " = " #value; bad[nb].p = bittern_sampler_default_params(); \
                               bad[nb].p.field = value; nb++; } while (0)
    BAD(top_p, 0.0f);
    BAD(top_p, 1.5f);
    BAD(min_p, 2.0f);
    BAD(min_p, -0.1f);
    BAD(top_k, -1);
    BAD(repeat_penalty, 0.0f);
    BAD(penalty_last_n, -2);
    BAD(temperature, NAN);
    BAD(top_p, NAN);
    BAD(size, 0u);
    BAD(size, (uint32_t)sizeof(bittern_sampler_params) + 4);
#undef BAD
    for (int i = 0; i < nb; i++) {
        STEP("sampler_create with %s", bad[i].what);
        bittern_sampler *x = NULL;
        CHECK(FAILS(bittern_sampler_create(M, &bad[i].p, &x), BITTERN_E_INVALID_ARGUMENT) && x == NULL);
    }
    STEP("sampler_create NULL model / out");
    CHECK(FAILS(bittern_sampler_create(NULL, NULL, &s), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_sampler_create(M, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_sampler_create_chain(NULL, 1, &s), BITTERN_E_INVALID_ARGUMENT));

    STEP("decode a prompt");
    int32_t toks[64];
    int n = tokenize(PROMPT, strlen(PROMPT), true, false, toks, 64);
    CHECK(bittern_decode(c, toks, (size_t)n) == BITTERN_OK);
    const float *l = bittern_logits(c, -1);
    CHECK(l != NULL);
    if (!l) { bittern_context_free(c); return; }
    int32_t best = argmax(l);
    int32_t second = best == 0 ? 1 : 0;
    for (int32_t i = 0; i < NV; i++)
        if (i != best && l[i] > l[second]) second = i;

    STEP("greedy chain == argmax");
    bittern_sampler *g = NULL, *empty = NULL, *t0 = NULL;
    CHECK(bittern_sampler_create_chain(M, 7, &g) == BITTERN_OK && bittern_sampler_add_greedy(g) == BITTERN_OK);
    CHECK(bittern_sampler_create_chain(M, 7, &empty) == BITTERN_OK);
    sp = bittern_sampler_default_params();
    sp.temperature = 0;
    CHECK(bittern_sampler_create(M, &sp, &t0) == BITTERN_OK);
    bool agree = true;
    int32_t tok = best;
    for (int step_i = 0; step_i < 24 && agree; step_i++) {
        const float *lg = bittern_logits(c, -1);
        int32_t want = argmax(lg);
        if (bittern_sampler_sample(g, c, -1) != want || bittern_sampler_sample(empty, c, -1) != want ||
            bittern_sampler_sample(t0, c, -1) != want)
            agree = false;
        tok = want;
        if (bittern_decode(c, &tok, 1) != BITTERN_OK) agree = false;
    }
    CHECK(agree);
    bittern_sampler_free(t0);

    STEP("sample errors");
    CHECK(FAILS(bittern_sampler_sample(g, c, 3), BITTERN_E_INVALID_ARGUMENT)); /* no logits_all */
    CHECK(FAILS(bittern_sampler_sample(NULL, c, -1), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_sampler_sample(g, NULL, -1), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_sampler_sample((bittern_sampler *)c, c, -1), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_sampler_accept(g, NV), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_sampler_accept(g, -1), BITTERN_E_INVALID_ARGUMENT));
    CHECK(bittern_sampler_accept(g, 0) == BITTERN_OK);
    CHECK(FAILS(bittern_sampler_add_top_p(g, 0), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_sampler_add_min_p(g, 2), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_sampler_add_greedy(NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_sampler_reset(NULL), BITTERN_E_INVALID_ARGUMENT));
    int32_t oob = NV;
    float big = 5;
    CHECK(FAILS(bittern_sampler_add_logit_bias(g, 1, &oob, &big), BITTERN_E_INVALID_ARGUMENT));
    bittern_sampler_free(g);
    CHECK(FAILS(bittern_sampler_add_greedy(g), BITTERN_E_INVALID_ARGUMENT)); /* freed */
    bittern_sampler_free(g);
    bittern_sampler_free(NULL);

    /* back to the prompt's logits */
    CHECK(bittern_context_reset(c) == BITTERN_OK && bittern_decode(c, toks, (size_t)n) == BITTERN_OK);
    CHECK(bittern_sampler_sample(empty, c, -1) == best);
    bittern_sampler_free(empty);

    STEP("logit bias");
    bittern_sampler *b = NULL;
    float minus_inf = -INFINITY;
    CHECK(bittern_sampler_create_chain(M, 1, &b) == BITTERN_OK);
    CHECK(bittern_sampler_add_logit_bias(b, 1, &best, &minus_inf) == BITTERN_OK);
    CHECK(bittern_sampler_add_greedy(b) == BITTERN_OK);
    CHECK(bittern_sampler_sample(b, c, -1) == second);
    bittern_sampler_free(b);

    STEP("penalties see accepted tokens; reset forgets them");
    CHECK(bittern_sampler_create_chain(M, 1, &b) == BITTERN_OK);
    CHECK(bittern_sampler_add_penalties(b, -1, 1.0f, 0.0f, 1e6f) == BITTERN_OK);
    CHECK(bittern_sampler_sample(b, c, -1) == best);
    CHECK(bittern_sampler_accept(b, best) == BITTERN_OK);
    CHECK(bittern_sampler_sample(b, c, -1) == second);
    CHECK(bittern_sampler_sample(b, c, -1) == second); /* sample does not accept */
    CHECK(bittern_sampler_reset(b) == BITTERN_OK);
    CHECK(bittern_sampler_sample(b, c, -1) == best);
    bittern_sampler_free(b);

    STEP("top-k 1 then a draw is the argmax");
    CHECK(bittern_sampler_create_chain(M, 99, &b) == BITTERN_OK);
    CHECK(bittern_sampler_add_top_k(b, 1) == BITTERN_OK && bittern_sampler_add_temperature(b, 5.0f) == BITTERN_OK &&
          bittern_sampler_add_dist(b) == BITTERN_OK);
    bool all_best = true;
    for (int i = 0; i < 20; i++) all_best = all_best && bittern_sampler_sample(b, c, -1) == best;
    CHECK(all_best);
    bittern_sampler_free(b);

    STEP("same seed, same sequence");
    bittern_sampler *s1 = NULL, *s2 = NULL, *s3 = NULL;
    CHECK(bittern_sampler_create_chain(M, 42, &s1) == BITTERN_OK && bittern_sampler_create_chain(M, 42, &s2) == BITTERN_OK &&
          bittern_sampler_create_chain(M, 43, &s3) == BITTERN_OK);
    bittern_sampler *ss[3] = {s1, s2, s3};
    for (int i = 0; i < 3; i++)
        CHECK(bittern_sampler_add_temperature(ss[i], 2.0f) == BITTERN_OK && bittern_sampler_add_dist(ss[i]) == BITTERN_OK);
    int32_t q1[64], q2[64], q3[64], q1b[64];
    int distinct = 0;
    for (int i = 0; i < 64; i++) {
        q1[i] = bittern_sampler_sample(s1, c, -1);
        q2[i] = bittern_sampler_sample(s2, c, -1);
        q3[i] = bittern_sampler_sample(s3, c, -1);
        bool seen = false;
        for (int j = 0; j < i; j++) seen = seen || q1[j] == q1[i];
        distinct += !seen;
    }
    CHECK(bittern_sampler_reset(s1) == BITTERN_OK);
    for (int i = 0; i < 64; i++) q1b[i] = bittern_sampler_sample(s1, c, -1);
    bool in_vocab = true;
    for (int i = 0; i < 64; i++) in_vocab = in_vocab && q1[i] >= 0 && q1[i] < NV;
    CHECK(in_vocab);
    CHECK(distinct > 4); /* really random draws, or the comparisons below prove nothing */
    CHECK(memcmp(q1, q2, sizeof q1) == 0);
    CHECK(memcmp(q1, q1b, sizeof q1) == 0);
    CHECK(memcmp(q1, q3, sizeof q1) != 0);
    /* sampler params with a seed give the same draws as well */
    sp = bittern_sampler_default_params();
    sp.seed = 1234;
    sp.temperature = 1.5f;
    sp.top_k = 0;
    sp.top_p = 1;
    sp.min_p = 0;
    bittern_sampler *p1 = NULL, *p2 = NULL;
    CHECK(bittern_sampler_create(M, &sp, &p1) == BITTERN_OK && bittern_sampler_create(M, &sp, &p2) == BITTERN_OK);
    bool same = true;
    for (int i = 0; i < 32; i++) same = same && bittern_sampler_sample(p1, c, -1) == bittern_sampler_sample(p2, c, -1);
    CHECK(same);
    bittern_sampler_free(p1);
    bittern_sampler_free(p2);
    for (int i = 0; i < 3; i++) bittern_sampler_free(ss[i]);
    bittern_context_free(c);
}

/* =============================================================================== generation */

/* The reply a manual loop gives: tokenize (BOS as the vocabulary asks), decode, then argmax and decode
   until max tokens or an end-of-generation token. Returns the number of reply tokens (the final
   end-of-generation token not counted), -1 on error. *n_prompt receives the prompt's token count. */
static int manual_greedy(const char *prompt, int max_tokens, int32_t *reply, int *n_prompt, bool *ended) {
    bittern_context *c = make_ctx(0);
    int32_t toks[256];
    int n = tokenize(prompt, strlen(prompt), true, false, toks, 256);
    *n_prompt = n;
    *ended = false;
    if (!c || n <= 0 || bittern_decode(c, toks, (size_t)n) != BITTERN_OK) {
        bittern_context_free(c);
        return -1;
    }
    int k = 0;
    while (k < max_tokens) {
        const float *l = bittern_logits(c, -1);
        if (!l) { k = -1; break; }
        int32_t t = argmax(l);
        if (bittern_token_is_eog(M, t)) { *ended = true; break; }
        reply[k++] = t;
        if (bittern_decode(c, &t, 1) != BITTERN_OK) { k = -1; break; }
    }
    bittern_context_free(c);
    return k;
}

static void check_generate(void) {
    STEP("generate defaults");
    bittern_generate_params gp = bittern_generate_default_params();
    bittern_sampler_params sd = bittern_sampler_default_params();
    CHECK(gp.size == sizeof gp && gp.max_tokens == 256 && memcmp(&gp.sampling, &sd, sizeof sd) == 0 &&
          gp.sampler == NULL && gp.stop == NULL && gp.n_stop == 0 && gp.parse_special == false && gp.result == NULL);

    STEP("greedy generation == a manual decode + argmax loop");
    int32_t reply[128];
    int n_prompt = 0;
    bool ended = false;
    int nr = manual_greedy(PROMPT, 48, reply, &n_prompt, &ended);
    CHECK(nr > 0);
    if (nr <= 0) return;
    char want[4096];
    int want_len = detokenize(reply, nr, true, want, sizeof want);
    CHECK(want_len > 0 && utf8_valid(want, (size_t)want_len));

    bittern_generate_result res;
    memset(&res, 0xA5, sizeof res);
    gp = greedy_params(48, &res);
    collector col;
    collector_init(&col, 0);
    bittern_context *c = make_ctx(0);
    CHECK(bittern_generate(c, PROMPT, &gp, on_text, &col) == BITTERN_OK);
    CHECK(collector_clean(&col));
    CHECK((int)col.len == want_len && memcmp(col.text, want, (size_t)want_len) == 0);
    if ((int)col.len != want_len || memcmp(col.text, want, (size_t)want_len) != 0)
        printf("  generate: \"%s\"\n  manual:   \"%.*s\"\n", col.text, want_len, want);
    CHECK(res.n_prompt_tokens == n_prompt && res.n_reused_tokens == 0);
    CHECK(res.finish_reason == (ended ? BITTERN_FINISH_END : BITTERN_FINISH_LENGTH));
    CHECK(res.n_generated == nr + (ended ? 1 : 0));
    CHECK(res.prefill_ms >= 0 && res.decode_ms > 0 && res.decode_ms < 60000);
    CHECK(bittern_context_n_tokens(c) == n_prompt + nr);
    printf("greedy: \"%s\" (%d tokens, %.1f ms)\n", col.text, res.n_generated, res.decode_ms);

    STEP("greedy generation is deterministic; a NULL callback and NULL result are fine");
    bittern_context *c2 = make_ctx(0);
    collector col2;
    collector_init(&col2, 0);
    CHECK(bittern_generate(c2, PROMPT, &gp, on_text, &col2) == BITTERN_OK);
    CHECK(col2.len == col.len && strcmp(col2.text, col.text) == 0);
    CHECK(bittern_context_reset(c2) == BITTERN_OK);
    bittern_generate_params quiet = greedy_params(48, NULL);
    CHECK(bittern_generate(c2, PROMPT, &quiet, NULL, NULL) == BITTERN_OK);
    CHECK(bittern_context_n_tokens(c2) == n_prompt + nr);

    STEP("generation continues the context");
    /* the context holds prompt + reply: one more greedy token is the manual loop's next one */
    if (!ended && nr == 48) {
        int32_t longer[128];
        int np2 = 0;
        bool ended2 = false;
        int nr2 = manual_greedy(PROMPT, 49, longer, &np2, &ended2);
        CHECK(nr2 >= 48 && memcmp(longer, reply, 48 * sizeof(int32_t)) == 0);
        bittern_generate_params one = greedy_params(1, &res);
        collector col3;
        collector_init(&col3, 0);
        CHECK(bittern_generate(c2, "", &one, on_text, &col3) == BITTERN_OK);
        CHECK(res.n_prompt_tokens == 0 && res.n_generated == 1);
        if (nr2 == 49) {
            char piece[64];
            int32_t k = bittern_detokenize(M, &longer[48], 1, true, piece, sizeof piece);
            CHECK(k >= 0 && col3.len == (size_t)k && memcmp(col3.text, piece, (size_t)k) == 0);
        }
    }
    bittern_context_free(c2);

    STEP("a continued prompt gets no BOS");
    const char *more = " She said";
    int32_t mt[32];
    int nm = tokenize(more, strlen(more), false, false, mt, 32);
    bittern_generate_params g2 = greedy_params(2, &res);
    int before = bittern_context_n_tokens(c);
    CHECK(bittern_generate(c, more, &g2, NULL, NULL) == BITTERN_OK);
    CHECK(res.n_prompt_tokens == nm);
    CHECK(bittern_context_n_tokens(c) == before + nm + (res.finish_reason == BITTERN_FINISH_END ? res.n_generated - 1 : res.n_generated));
    bittern_context_free(c);

    STEP("max_tokens");
    int32_t caps[] = {1, 5, 17};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        STEP("max_tokens %d", caps[i]);
        c = make_ctx(0);
        bittern_generate_params gm = greedy_params(caps[i], &res);
        collector_init(&col, 0);
        CHECK(bittern_generate(c, PROMPT, &gm, on_text, &col) == BITTERN_OK);
        int expect = caps[i] < nr ? caps[i] : nr;
        CHECK(res.n_generated == expect && res.finish_reason == BITTERN_FINISH_LENGTH);
        CHECK(bittern_context_n_tokens(c) == n_prompt + expect);
        char w[1024];
        int wl = detokenize(reply, expect, true, w, sizeof w);
        CHECK(wl >= 0 && col.len == (size_t)wl && memcmp(col.text, w, (size_t)wl) == 0);
        bittern_context_free(c);
    }

    STEP("sampled generation: whole UTF-8 pieces, same seed same text");
    char first[16384];
    size_t first_len = 0;
    for (int round = 0; round < 2; round++) {
        c = make_ctx(0);
        bittern_generate_params gs = bittern_generate_default_params();
        gs.max_tokens = 200;
        gs.sampling.seed = 2024;
        gs.sampling.temperature = 4.0f; /* wild: many raw byte tokens, broken characters */
        gs.sampling.top_k = 0;
        gs.sampling.top_p = 1;
        gs.sampling.min_p = 0;
        gs.result = &res;
        collector_init(&col, 0);
        CHECK(bittern_generate(c, "Emoji: \xf0\x9f\x98\x80 and \xe6\x97\xa5\xe6\x9c\xac", &gs, on_text, &col) == BITTERN_OK);
        CHECK(collector_clean(&col));
        CHECK(col.calls > 0 && res.n_generated > 0);
        if (round == 0) {
            memcpy(first, col.text, col.len + 1);
            first_len = col.len;
        } else {
            CHECK(col.len == first_len && memcmp(col.text, first, first_len) == 0);
        }
        bittern_context_free(c);
    }

    STEP("a caller's sampler: the prompt enters its penalty window");
    {
        bittern_sampler *mine = NULL, *ref = NULL;
        CHECK(bittern_sampler_create_chain(M, 5, &mine) == BITTERN_OK && bittern_sampler_create_chain(M, 5, &ref) == BITTERN_OK);
        CHECK(bittern_sampler_add_penalties(mine, 64, 1.5f, 0.1f, 0.5f) == BITTERN_OK && bittern_sampler_add_greedy(mine) == BITTERN_OK);
        CHECK(bittern_sampler_add_penalties(ref, 64, 1.5f, 0.1f, 0.5f) == BITTERN_OK && bittern_sampler_add_greedy(ref) == BITTERN_OK);
        c = make_ctx(0);
        bittern_generate_params gs = greedy_params(24, &res);
        gs.sampler = mine;
        collector_init(&col, 0);
        CHECK(bittern_generate(c, PROMPT, &gs, on_text, &col) == BITTERN_OK);
        /* the manual equivalent */
        bittern_context *cm = make_ctx(0);
        int32_t toks[64], out[64];
        int n = tokenize(PROMPT, strlen(PROMPT), true, false, toks, 64);
        CHECK(bittern_decode(cm, toks, (size_t)n) == BITTERN_OK);
        for (int i = 0; i < n; i++) bittern_sampler_accept(ref, toks[i]);
        int k = 0;
        while (k < 24) {
            int32_t t = bittern_sampler_sample(ref, cm, -1);
            if (!CHECK(t >= 0)) break;
            bittern_sampler_accept(ref, t);
            if (bittern_token_is_eog(M, t)) break;
            out[k++] = t;
            if (bittern_decode(cm, &t, 1) != BITTERN_OK) break;
        }
        char w[2048];
        int wl = detokenize(out, k, true, w, sizeof w);
        CHECK(wl >= 0 && col.len == (size_t)wl && memcmp(col.text, w, (size_t)wl) == 0);
        /* and it differs from plain greedy (the penalties did something) */
        CHECK(!(col.len == (size_t)want_len && memcmp(col.text, want, col.len) == 0));
        bittern_context_free(cm);
        bittern_context_free(c);
        bittern_sampler_free(mine);
        bittern_sampler_free(ref);
    }

    STEP("callback returning false cancels");
    c = make_ctx(0);
    gp = greedy_params(48, &res);
    collector_init(&col, 3);
    CHECK(bittern_generate(c, PROMPT, &gp, on_text, &col) == BITTERN_OK);
    CHECK(res.finish_reason == BITTERN_FINISH_CANCELLED);
    CHECK(res.n_generated == 3 && col.calls == 3);
    CHECK(col.calls_after_false == 0);
    bittern_context_free(c);

    STEP("callback returning false while text is held back for a stop string");
    /* a stop string made of the first reply token's text minus its first character, plus a byte that
       never comes: after the first token only that first character is delivered and the rest is held
       back; cancelling on that first call must not bring another call (not even the final flush) */
    {
        char piece[64];
        int32_t pl = bittern_detokenize(M, reply, 1, true, piece, sizeof piece - 2);
        int cut = 1;
        while (cut < pl && ((unsigned char)piece[cut] & 0xC0) == 0x80) cut++;
        CHECK(pl >= 0);
        if (pl > cut) {
            char held_stop[72];
            snprintf(held_stop, sizeof held_stop, "%.*s\x01", (int)(pl - cut), piece + cut);
            const char *hold[] = {held_stop};
            c = make_ctx(0);
            gp = greedy_params(48, &res);
            gp.stop = hold;
            gp.n_stop = 1;
            collector_init(&col, 1);
            CHECK(bittern_generate(c, PROMPT, &gp, on_text, &col) == BITTERN_OK);
            CHECK(res.finish_reason == BITTERN_FINISH_CANCELLED && res.n_generated == 1);
            STEP("callback called again after returning false (%d extra call(s), text \"%.200s\")",
                 col.calls_after_false, col.text);
            CHECK(col.calls_after_false == 0);
            bittern_context_free(c);
        } else {
            printf("note: the first reply token is a single character; held-back cancel check skipped\n");
        }
    }

    STEP("stop strings");
    /* a stop string taken from the middle of the greedy reply: the output is what precedes its first
       occurrence */
    CHECK(want_len >= 24);
    if (want_len >= 24) {
        char stop[8];
        int off = want_len / 2;
        while (off < want_len - 4 && ((unsigned char)want[off] & 0xC0) == 0x80) off++;
        int sl = 4;
        while (off + sl < want_len && ((unsigned char)want[off + sl] & 0xC0) == 0x80) sl++;
        memcpy(stop, want + off, (size_t)sl);
        stop[sl] = '\0';
        const char *first_at = strstr(want, stop);
        size_t expect = first_at ? (size_t)(first_at - want) : 0;
        const char *stops[] = {"\x01never\x02", stop};
        c = make_ctx(0);
        gp = greedy_params(48, &res);
        gp.stop = stops;
        gp.n_stop = 2;
        collector_init(&col, 0);
        CHECK(bittern_generate(c, PROMPT, &gp, on_text, &col) == BITTERN_OK);
        CHECK(collector_clean(&col));
        CHECK(res.finish_reason == BITTERN_FINISH_STOP);
        CHECK(strstr(col.text, stop) == NULL);
        CHECK(col.len == expect && memcmp(col.text, want, expect) == 0);
        CHECK(res.n_generated < nr);
        bittern_context_free(c);

        STEP("the earliest of several stop strings wins");
        char early[4];
        memcpy(early, want + 1, 3); /* near the start */
        early[3] = '\0';
        const char *both[] = {stop, early};
        const char *e_at = strstr(want, early);
        CHECK(utf8_valid(early, 3)); /* else the reply is not what this check was written for */
        c = make_ctx(0);
        gp.stop = both;
        collector_init(&col, 0);
        CHECK(bittern_generate(c, PROMPT, &gp, on_text, &col) == BITTERN_OK);
        CHECK(res.finish_reason == BITTERN_FINISH_STOP && e_at && col.len == (size_t)(e_at - want));
        bittern_context_free(c);
    }
    STEP("a stop string that never appears");
    {
        const char *never[] = {"\x01\x02\x03"};
        c = make_ctx(0);
        gp = greedy_params(48, &res);
        gp.stop = never;
        gp.n_stop = 1;
        collector_init(&col, 0);
        CHECK(bittern_generate(c, PROMPT, &gp, on_text, &col) == BITTERN_OK);
        CHECK(col.len == (size_t)want_len && memcmp(col.text, want, col.len) == 0);
        CHECK(res.finish_reason != BITTERN_FINISH_STOP);
        bittern_context_free(c);
    }

    STEP("parse_special in the prompt");
    {
        const char *sp = "User: hi<|eot_id|>Assistant:";
        int32_t t[64];
        int with = tokenize(sp, strlen(sp), true, true, t, 64);
        int without = tokenize(sp, strlen(sp), true, false, t, 64);
        CHECK(with < without);
        for (int on = 0; on < 2; on++) {
            c = make_ctx(0);
            gp = greedy_params(1, &res);
            gp.parse_special = on != 0;
            CHECK(bittern_generate(c, sp, &gp, NULL, NULL) == BITTERN_OK);
            CHECK(res.n_prompt_tokens == (on ? with : without));
            bittern_context_free(c);
        }
    }
}

static void check_generate_limits(void) {
    bittern_generate_result res;
    STEP("a prompt longer than the context");
    bittern_context *c = make_ctx(16);
    const char *lng = "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
                      "must be in want of a wife.";
    int32_t t[128];
    int n = tokenize(lng, strlen(lng), true, false, t, 128);
    CHECK(n > 16);
    bittern_generate_params gp = greedy_params(8, &res);
    memset(&res, 0x5A, sizeof res);
    collector col;
    collector_init(&col, 0);
    CHECK(FAILS(bittern_generate(c, lng, &gp, on_text, &col), BITTERN_E_CONTEXT_FULL));
    CHECK(bittern_context_n_tokens(c) == 0 && bittern_logits(c, -1) == NULL && col.calls == 0);
    /* with tokens in the context: position and logits unchanged */
    CHECK(bittern_decode(c, t, 5) == BITTERN_OK);
    const float *l = bittern_logits(c, -1);
    float l0 = l ? l[0] : NAN, l1 = l ? l[NV - 1] : NAN;
    CHECK(FAILS(bittern_generate(c, lng, &gp, on_text, &col), BITTERN_E_CONTEXT_FULL));
    CHECK(bittern_context_n_tokens(c) == 5 && col.calls == 0);
    const float *l2 = bittern_logits(c, -1);
    CHECK(l2 != NULL && l2[0] == l0 && l2[NV - 1] == l1);
    /* the same text that does not quite fit: 5 + 11 of the tokens fit exactly, 12 do not */
    char part[512];
    int pl = detokenize(t + 5, 12, true, part, sizeof part - 1);
    if (pl >= 0) {
        part[pl] = '\0';
        int32_t chk[64];
        if (tokenize(part, (size_t)pl, false, false, chk, 64) == 12)
            CHECK(FAILS(bittern_generate(c, part, &gp, NULL, NULL), BITTERN_E_CONTEXT_FULL) && bittern_context_n_tokens(c) == 5);
    }
    bittern_context_free(c);

    STEP("generation that reaches n_ctx");
    c = make_ctx(16);
    gp = greedy_params(-1, &res);
    collector_init(&col, 0);
    CHECK(bittern_generate(c, "It is a truth", &gp, on_text, &col) == BITTERN_OK);
    CHECK(res.finish_reason == BITTERN_FINISH_CONTEXT_FULL);
    CHECK(bittern_context_n_tokens(c) == 16);
    CHECK(res.n_prompt_tokens + res.n_generated >= 16 && res.n_generated <= 16);
    CHECK(collector_clean(&col) && col.len > 0);
    /* nothing fits any more */
    CHECK(FAILS(bittern_generate(c, " more", &gp, NULL, NULL), BITTERN_E_CONTEXT_FULL));
    CHECK(bittern_context_n_tokens(c) == 16);
    bittern_context_free(c);

    STEP("max_tokens larger than the room left");
    c = make_ctx(16);
    gp = greedy_params(100, &res);
    CHECK(bittern_generate(c, "It is a truth", &gp, NULL, NULL) == BITTERN_OK);
    CHECK(res.finish_reason == BITTERN_FINISH_CONTEXT_FULL && bittern_context_n_tokens(c) == 16);
    bittern_context_free(c);

    STEP("params validation");
    c = make_ctx(64);
    CHECK(bittern_decode(c, t, 3) == BITTERN_OK);
    gp = greedy_params(4, NULL);
    gp.size = 0;
    CHECK(FAILS(bittern_generate(c, PROMPT, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    gp.size = sizeof gp + 8;
    CHECK(FAILS(bittern_generate(c, PROMPT, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    gp = greedy_params(4, NULL);
    gp.sampling.size = 0;
    CHECK(FAILS(bittern_generate(c, PROMPT, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    gp = greedy_params(4, NULL);
    gp.sampling.top_p = 0;
    CHECK(FAILS(bittern_generate(c, PROMPT, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    gp = greedy_params(4, NULL);
    gp.n_stop = 1; /* stop still NULL */
    CHECK(FAILS(bittern_generate(c, PROMPT, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    gp = greedy_params(-2, NULL);
    CHECK(FAILS(bittern_generate(c, PROMPT, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    gp = greedy_params(4, NULL);
    gp.sampler = (bittern_sampler *)c; /* not a sampler */
    CHECK(FAILS(bittern_generate(c, PROMPT, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    gp = greedy_params(4, NULL);
    CHECK(FAILS(bittern_generate(c, NULL, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_generate(NULL, PROMPT, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_generate((bittern_context *)M, PROMPT, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(bittern_context_n_tokens(c) == 3); /* none of these touched the context */
    /* an older header's smaller struct: the missing fields get defaults (max_tokens is set) */
    bittern_generate_params old = greedy_params(3, NULL);
    old.size = (uint32_t)offsetof(bittern_generate_params, sampling);
    CHECK(bittern_generate(c, " x", &old, NULL, NULL) == BITTERN_OK);
    /* NULL params: the defaults */
    CHECK(bittern_context_reset(c) == BITTERN_OK);
    CHECK(bittern_generate(c, "Hi", NULL, NULL, NULL) == BITTERN_OK && bittern_context_n_tokens(c) > 2);
    bittern_context_free(c);
    CHECK(FAILS(bittern_generate(c, PROMPT, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT)); /* freed */
}

/* ===================================================================================== chat */

static void check_chat(void) {
    bittern_chat_message two[] = {{"system", "Be brief."}, {"user", "Hello"}};

    STEP("render with the file's template (bitnet)");
    char *r = bittern_chat_render(M, NULL, two, 2, true);
    const char *bitnet = "<|begin_of_text|>System: Be brief.<|eot_id|>User: Hello<|eot_id|>Assistant: ";
    CHECK(r != NULL && strcmp(r, bitnet) == 0);
    if (r && strcmp(r, bitnet) != 0) printf("  got: \"%s\"\n", r);
    bittern_string_free(r);
    r = bittern_chat_render(M, "bitnet", two, 2, true);
    CHECK(r != NULL && strcmp(r, bitnet) == 0);
    bittern_string_free(r);
    r = bittern_chat_render(M, NULL, two, 2, false);
    CHECK(r != NULL && strcmp(r, "<|begin_of_text|>System: Be brief.<|eot_id|>User: Hello<|eot_id|>") == 0);
    bittern_string_free(r);
    bittern_chat_message three[] = {{"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};
    r = bittern_chat_render(M, NULL, three, 3, true);
    CHECK(r != NULL && strcmp(r, "<|begin_of_text|>User: Hi<|eot_id|>Assistant: Hello.<|eot_id|>User: Bye<|eot_id|>Assistant: ") == 0);
    bittern_string_free(r);

    STEP("render llama3");
    r = bittern_chat_render(M, "llama3", two, 2, true);
    const char *llama3 = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                         "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
                         "<|start_header_id|>assistant<|end_header_id|>\n\n";
    CHECK(r != NULL && strcmp(r, llama3) == 0);
    if (r && strcmp(r, llama3) != 0) printf("  got: \"%s\"\n", r);
    bittern_string_free(r);

    STEP("render chatml");
    r = bittern_chat_render(M, "chatml", two, 2, true);
    const char *chatml = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";
    CHECK(r != NULL && strcmp(r, chatml) == 0);
    if (r && strcmp(r, chatml) != 0) printf("  got: \"%s\"\n", r);
    bittern_string_free(r);
    r = bittern_chat_render(M, "chatml", two, 2, false);
    CHECK(r != NULL && strcmp(r, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n") == 0);
    bittern_string_free(r);

    STEP("render errors");
    CHECK(FAILS_NULL(bittern_chat_render(M, "vicuna", two, 2, true)));
    bittern_chat_message bad_role[] = {{"user", "Hi"}, {"robot", "Beep"}};
    CHECK(FAILS_NULL(bittern_chat_render(M, NULL, bad_role, 2, true)));
    bittern_chat_message null_role[] = {{NULL, "Hi"}};
    CHECK(FAILS_NULL(bittern_chat_render(M, NULL, null_role, 1, true)));
    bittern_chat_message null_content[] = {{"user", NULL}};
    CHECK(FAILS_NULL(bittern_chat_render(M, NULL, null_content, 1, true)));
    CHECK(FAILS_NULL(bittern_chat_render(M, NULL, NULL, 2, true)));
    CHECK(FAILS_NULL(bittern_chat_render(NULL, NULL, two, 2, true)));

    STEP("chat errors leave the context alone");
    bittern_context *c = make_ctx(0);
    int32_t t[4] = {BOS, 42, 43, 44};
    CHECK(bittern_decode(c, t, 4) == BITTERN_OK);
    bittern_generate_params gp = greedy_params(8, NULL);
    CHECK(FAILS(bittern_chat(c, "vicuna", two, 2, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_chat(c, NULL, bad_role, 2, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_chat(NULL, NULL, two, 2, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_chat(c, NULL, NULL, 2, &gp, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(bittern_context_n_tokens(c) == 4);
    bittern_context_free(c);

    STEP("two-turn chat reuses the prefix");
    c = make_ctx(0);
    bittern_generate_result res;
    gp = greedy_params(24, &res);
    collector col;
    collector_init(&col, 0);
    CHECK(bittern_chat(c, NULL, two, 2, &gp, on_text, &col) == BITTERN_OK);
    CHECK(collector_clean(&col));
    /* The prompt is the rendering less its final space ("Assistant: "): the reply's first token carries
       that space (see bittern_chat). */
    r = bittern_chat_render(M, NULL, two, 2, true);
    int32_t rt[512];
    int n1 = r ? tokenize(r, strlen(r) - (r[strlen(r) - 1] == ' '), false, true, rt, 512) : -1;
    CHECK(col.text[0] != ' ');
    bittern_string_free(r);
    CHECK(n1 > 5 && res.n_reused_tokens == 0 && res.n_prompt_tokens == n1);
    CHECK(res.finish_reason == BITTERN_FINISH_END || res.finish_reason == BITTERN_FINISH_LENGTH);
    printf("chat turn 1: \"%s\" (finish %d)\n", col.text, res.finish_reason);
    char reply1[4096];
    snprintf(reply1, sizeof reply1, "%.4000s", col.text);

    bittern_chat_message four[] = {two[0], two[1], {"assistant", reply1}, {"user", "And then?"}};
    r = bittern_chat_render(M, NULL, four, 4, true);
    int n2 = r ? tokenize(r, strlen(r) - (r[strlen(r) - 1] == ' '), false, true, rt, 512) : -1;
    bittern_string_free(r);
    collector_init(&col, 0);
    CHECK(bittern_chat(c, NULL, four, 4, &gp, on_text, &col) == BITTERN_OK);
    printf("chat turn 2: reused %d of %d prompt tokens (turn 1 prompt: %d)\n", res.n_reused_tokens, n2, n1);
    CHECK(res.n_reused_tokens > 0);
    CHECK(res.n_reused_tokens >= n1); /* the first turn's prompt, and the reply as far as its tokens are
                                         the canonical tokenization of its text */
    CHECK(res.n_reused_tokens + res.n_prompt_tokens == n2);
    /* the same conversation in a fresh context gives the same reply */
    bittern_context *fresh = make_ctx(0);
    collector col2;
    collector_init(&col2, 0);
    bittern_generate_result res2;
    bittern_generate_params gp2 = greedy_params(24, &res2);
    CHECK(bittern_chat(fresh, NULL, four, 4, &gp2, on_text, &col2) == BITTERN_OK);
    CHECK(res2.n_reused_tokens == 0 && res2.n_prompt_tokens == n2);
    CHECK(strcmp(col.text, col2.text) == 0);
    bittern_context_free(fresh);

    STEP("the same conversation again: all but one prompt token reused");
    CHECK(bittern_chat(c, NULL, four, 4, &gp, NULL, NULL) == BITTERN_OK);
    CHECK(res.n_reused_tokens == n2 - 1 && res.n_prompt_tokens == 1);
    bittern_context_free(c);

    STEP("chat on a context too small for the conversation");
    c = make_ctx(16);
    CHECK(FAILS(bittern_chat(c, NULL, four, 4, &gp, NULL, NULL), BITTERN_E_CONTEXT_FULL));
    CHECK(bittern_context_n_tokens(c) == 0);
    bittern_context_free(c);

    STEP("a next turn that does not fit leaves the context unchanged");
    /* as bittern_generate: CONTEXT_FULL with the context (tokens and logits) as it was, even though
       the new conversation shares a prefix with what the context holds */
    c = make_ctx(48);
    bittern_chat_message hello[] = {{"user", "Hello"}};
    gp = greedy_params(8, &res);
    CHECK(bittern_chat(c, NULL, hello, 1, &gp, NULL, NULL) == BITTERN_OK);
    int held = bittern_context_n_tokens(c);
    const float *lg = bittern_logits(c, -1);
    float lg0 = lg ? lg[0] : NAN;
    CHECK(held > 8 && lg != NULL);
    bittern_chat_message longer[] = {{"user", "Hello"},
                                     {"assistant", "It is a truth universally acknowledged, that a single man in "
                                                   "possession of a good fortune, must be in want of a wife."},
                                     {"user", "Why?"}};
    CHECK(FAILS(bittern_chat(c, NULL, longer, 3, &gp, NULL, NULL), BITTERN_E_CONTEXT_FULL));
    STEP("a next turn that does not fit leaves the context unchanged (%d tokens before, %d after)", held,
         bittern_context_n_tokens(c));
    CHECK(bittern_context_n_tokens(c) == held);
    lg = bittern_logits(c, -1);
    CHECK(lg != NULL && lg[0] == lg0);
    bittern_context_free(c);
}

/* ============================================================================ abort callback */

typedef struct {
    int calls;
    int abort_after; /* return true once calls exceed this */
} abort_state;

static bool on_abort(void *user) {
    abort_state *a = user;
    a->calls++;
    return a->calls > a->abort_after;
}

static void check_abort(void) {
    int32_t t[32];
    int n = tokenize(PROMPT, strlen(PROMPT), true, false, t, 32);
    CHECK(n >= 8);
    bittern_context *c = make_ctx(64);

    STEP("abort at once");
    CHECK(bittern_decode(c, t, 2) == BITTERN_OK);
    const float *l = bittern_logits(c, -1);
    float l0 = l ? l[0] : NAN;
    abort_state a = {0, 0};
    CHECK(bittern_context_set_abort_callback(c, on_abort, &a) == BITTERN_OK);
    CHECK(FAILS(bittern_decode(c, t + 2, 6), BITTERN_E_ABORTED));
    CHECK(a.calls >= 1); /* user_data reached the callback */
    CHECK(bittern_context_n_tokens(c) == 2);
    l = bittern_logits(c, -1);
    CHECK(l != NULL && l[0] == l0);
    a.calls = 0;
    CHECK(FAILS(bittern_decode(c, t + 2, 1), BITTERN_E_ABORTED));
    CHECK(bittern_context_n_tokens(c) == 2);

    STEP("abort in the middle of a prefill");
    a.calls = 0;
    a.abort_after = 3;
    CHECK(FAILS(bittern_decode(c, t + 2, (size_t)n - 2), BITTERN_E_ABORTED));
    CHECK(a.calls == 4);
    CHECK(bittern_context_n_tokens(c) == 2);
    l = bittern_logits(c, -1);
    CHECK(l != NULL && l[0] == l0);

    STEP("abort during generate");
    a.calls = 0;
    a.abort_after = n + 3; /* the prompt goes through, the reply is stopped */
    CHECK(bittern_context_reset(c) == BITTERN_OK);
    bittern_generate_params gp = greedy_params(32, NULL);
    CHECK(FAILS(bittern_generate(c, PROMPT, &gp, NULL, NULL), BITTERN_E_ABORTED));
    CHECK(a.calls > n);

    STEP("a callback that never aborts");
    a.calls = 0;
    a.abort_after = 1 << 30;
    CHECK(bittern_context_reset(c) == BITTERN_OK);
    CHECK(bittern_decode(c, t, (size_t)n) == BITTERN_OK && bittern_context_n_tokens(c) == n && a.calls > 0);

    STEP("cleared");
    a.calls = 0;
    a.abort_after = 0;
    CHECK(bittern_context_set_abort_callback(c, NULL, NULL) == BITTERN_OK);
    CHECK(bittern_decode(c, t, 4) == BITTERN_OK);
    CHECK(bittern_context_n_tokens(c) == n + 4 && a.calls == 0);
    CHECK(bittern_generate(c, " and", &gp, NULL, NULL) == BITTERN_OK && a.calls == 0);

    STEP("abort / n_tokens errors");
    CHECK(FAILS(bittern_context_set_abort_callback(NULL, on_abort, &a), BITTERN_E_INVALID_ARGUMENT));
    CHECK(FAILS(bittern_context_set_abort_callback((bittern_context *)M, on_abort, &a), BITTERN_E_INVALID_ARGUMENT));
    prime();
    CHECK(bittern_context_n_tokens(NULL) == -1 && fresh_error());
    prime();
    CHECK(bittern_context_n_tokens((bittern_context *)M) == -1 && fresh_error());
    bittern_context_free(c);
    prime();
    CHECK(bittern_context_n_tokens(c) == -1 && fresh_error()); /* freed */
}

/* ============================================================================ dead handles */

static void check_dead_model(const char *path) {
    STEP("a freed model handle is refused; its context lives on");
    bittern_model *m = NULL;
    CHECK(bittern_model_load(NULL, path, NULL, &m) == BITTERN_OK && m != NULL);
    if (!m) return;
    bittern_context *c = NULL;
    CHECK(bittern_context_create(m, NULL, &c) == BITTERN_OK);
    bittern_model_free(m);
    int32_t toks[16];
    char buf[64];
    CHECK(FAILS_I32(bittern_tokenize(m, "hi", 2, false, false, toks, 16)));
    CHECK(FAILS_I32(bittern_token_to_piece(m, 5, buf, sizeof buf)));
    CHECK(FAILS_I32(bittern_detokenize(m, toks, 0, false, buf, sizeof buf)));
    prime();
    CHECK(bittern_token_bos(m) == -1 && fresh_error());
    prime();
    CHECK(bittern_token_eos(m) == -1 && fresh_error());
    prime();
    CHECK(bittern_token_eot(m) == -1 && fresh_error());
    prime();
    CHECK(!bittern_token_is_eog(m, EOS) && fresh_error());
    prime();
    CHECK(!bittern_token_is_control(m, BOS) && fresh_error());
    bittern_detokenizer *d = NULL;
    CHECK(FAILS(bittern_detokenizer_create(m, false, &d), BITTERN_E_INVALID_ARGUMENT) && d == NULL);
    bittern_sampler *s = NULL;
    CHECK(FAILS(bittern_sampler_create(m, NULL, &s), BITTERN_E_INVALID_ARGUMENT) && s == NULL);
    CHECK(FAILS(bittern_sampler_create_chain(m, 1, &s), BITTERN_E_INVALID_ARGUMENT) && s == NULL);
    bittern_chat_message msg[] = {{"user", "Hi"}};
    CHECK(FAILS_NULL(bittern_chat_render(m, NULL, msg, 1, true)));
    /* the context keeps the model: it still generates, with the model's tokenizer */
    bittern_generate_result res;
    bittern_generate_params gp = greedy_params(4, &res);
    CHECK(bittern_generate(c, PROMPT, &gp, NULL, NULL) == BITTERN_OK && res.n_generated > 0);
    CHECK(bittern_chat(c, NULL, msg, 1, &gp, NULL, NULL) == BITTERN_OK);
    bittern_context_free(c);

    STEP("NULL and foreign model handles");
    CHECK(FAILS_I32(bittern_token_to_piece(NULL, 5, buf, sizeof buf)));
    prime();
    CHECK(bittern_token_bos(NULL) == -1 && fresh_error());
    prime();
    CHECK(bittern_token_eot(NULL) == -1 && fresh_error());
    CHECK(!bittern_token_is_eog(NULL, EOS) && !bittern_token_is_control(NULL, BOS));
    int local = 0;
    CHECK(FAILS_I32(bittern_tokenize((bittern_model *)&local, "hi", 2, false, false, toks, 16)));
    bittern_context *cc = make_ctx(8);
    CHECK(FAILS_I32(bittern_tokenize((bittern_model *)cc, "hi", 2, false, false, toks, 16)));
    CHECK(FAILS_NULL(bittern_chat_render((bittern_model *)cc, NULL, msg, 1, true)));
    bittern_context_free(cc);
}

static void check_vocab_only(const char *fixtures) {
    static const char *names[] = {"bpe_llama3.gguf", "bpe_gpt2.gguf", "spm_llama.gguf"};
    for (size_t i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", fixtures, names[i]);
        STEP("vocabulary-only GGUF %s is not a model", names[i]);
        bittern_model *m = NULL;
        CHECK(FAILS(bittern_model_load(NULL, path, NULL, &m), BITTERN_E_FORMAT) && m == NULL);
    }
}

/* ============================================================================== concurrency */

typedef struct {
    const char *prompt;
    char text[8192];
    int32_t n_generated;
    bittern_status status;
} job;

static void run_job(job *j) {
    bittern_context *c = NULL;
    j->status = bittern_context_create(M, NULL, &c);
    if (j->status != BITTERN_OK) return;
    bittern_generate_result res;
    bittern_generate_params gp = greedy_params(64, &res);
    collector *col = malloc(sizeof *col);
    if (!col) { j->status = BITTERN_E_OUT_OF_MEMORY; bittern_context_free(c); return; }
    collector_init(col, 0);
    j->status = bittern_generate(c, j->prompt, &gp, on_text, col);
    snprintf(j->text, sizeof j->text, "%.8000s", col->text);
    j->n_generated = j->status == BITTERN_OK ? res.n_generated : -1;
    free(col);
    bittern_context_free(c);
}

static void *job_thread(void *arg) {
    run_job(arg);
    return NULL;
}

static void check_threads(void) {
    const char *prompts[] = {PROMPT, "Mr. Darcy said that", PROMPT};
    enum { NJ = 3 };
    job seq[NJ], par[NJ];
    for (int i = 0; i < NJ; i++) {
        memset(&seq[i], 0, sizeof seq[i]);
        seq[i].prompt = prompts[i];
        run_job(&seq[i]);
        STEP("sequential job %d", i);
        CHECK(seq[i].status == BITTERN_OK && seq[i].n_generated > 0);
    }
    CHECK(strcmp(seq[0].text, seq[1].text) != 0); /* different prompts, different text */
    for (int round = 0; round < 2; round++) {
        pthread_t th[NJ];
        for (int i = 0; i < NJ; i++) {
            memset(&par[i], 0, sizeof par[i]);
            par[i].prompt = prompts[i];
        }
        STEP("threads round %d", round);
        bool started = true;
        for (int i = 0; i < NJ; i++) started = pthread_create(&th[i], NULL, job_thread, &par[i]) == 0 && started;
        CHECK(started);
        if (!started) return;
        for (int i = 0; i < NJ; i++) pthread_join(th[i], NULL);
        for (int i = 0; i < NJ; i++) {
            STEP("threads round %d job %d", round, i);
            CHECK(par[i].status == BITTERN_OK);
            CHECK(par[i].n_generated == seq[i].n_generated && strcmp(par[i].text, seq[i].text) == 0);
        }
    }
}

/* ===================================================================================== main */

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *found = NULL; /* from bittern_default_model_path: released with bittern_string_free */
    const char *fixtures = argc > 1 && argv[1][0] ? argv[1] : NULL;
    const char *path = argc > 2 ? argv[2] : NULL;
    if (!path) {
        path = found = bittern_default_model_path();
        if (!path) {
            printf("FAIL: bittern_default_model_path() found no bundled model: %s\n", bittern_last_error());
            printf("c-text: %d passed, %d failed\n", passed, failed + 1);
            return 1;
        }
    }
    printf("model: %s\n", path);

    STEP("load %s", path);
    if (!CHECK(bittern_model_load(NULL, path, NULL, &M) == BITTERN_OK && M != NULL)) {
        printf("c-text: %d passed, %d failed\n", passed, failed);
        return 1;
    }
    NV = bittern_model_n_vocab(M);
    BOS = bittern_token_bos(M);
    EOS = bittern_token_eos(M);
    EOT = bittern_token_eot(M);
    printf("n_vocab %d, bos %d, eos %d, eot %d\n", NV, BOS, EOS, EOT);

    check_default_path();
    check_tokenize();
    check_round_trips(fixtures);
    check_pieces();
    check_detokenize();
    check_detokenizer();
    check_sampler();
    check_generate();
    check_generate_limits();
    check_chat();
    check_abort();
    check_dead_model(path);
    if (fixtures) check_vocab_only(fixtures);
    check_threads();

    bittern_model_free(M);
    bittern_string_free(found);
    printf("c-text: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
