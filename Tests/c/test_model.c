/* C test of the model and context API, written against include/bittern.h alone.

   Usage: test_model MODEL.gguf [EXPECTED.txt]
   MODEL is Tests/BitternTests/Fixtures/tiny_bitnet.gguf; EXPECTED defaults to MODEL with ".gguf"
   replaced by ".expected.txt" (tools/fixtures/make_tiny_bitnet.py writes it: a "tokens" line, an
   "argmax" line and one "logits P h0 h1 ..." line per position P, the floats as IEEE-754 bit patterns in
   hex, from an independent numpy forward pass).
   Checks: load (progress, params, head_type), describe keys, n_vocab, decoding the fixture's sequence
   against the reference logits, logits_all, context full, n = 0, reset, truncate, a model freed before
   its context, NULL and foreign handles, a missing file (IO) and a truncated file (FORMAT).
   Closing line: "c-model: N passed, M failed"; exit status 1 when M > 0. */
#define _GNU_SOURCE
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bittern.h"

#include "check.h"


/* ============================================================================== the reference */

#define MAX_TOKENS 64
#define MAX_VOCAB 256
static int32_t ref_tokens[MAX_TOKENS];
static int n_tokens;
static float ref_logits[MAX_TOKENS][MAX_VOCAB];
static int n_positions, ref_vocab;

static bool read_expected(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("cannot open %s\n", path);
        return false;
    }
    char line[65536];
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *tag = strtok_r(line, " \n", &save);
        if (!tag) continue;
        if (strcmp(tag, "tokens") == 0) {
            for (char *t; (t = strtok_r(NULL, " \n", &save)) && n_tokens < MAX_TOKENS;)
                ref_tokens[n_tokens++] = (int32_t)strtol(t, NULL, 10);
        } else if (strcmp(tag, "logits") == 0) {
            char *p = strtok_r(NULL, " \n", &save);
            if (!p) continue;
            int pos = atoi(p);
            if (pos < 0 || pos >= MAX_TOKENS) continue;
            int v = 0;
            for (char *t; (t = strtok_r(NULL, " \n", &save)) && v < MAX_VOCAB; v++) {
                uint32_t bits = (uint32_t)strtoul(t, NULL, 16);
                memcpy(&ref_logits[pos][v], &bits, sizeof bits);
            }
            ref_vocab = v;
            if (pos + 1 > n_positions) n_positions = pos + 1;
        }
    }
    fclose(f);
    return n_tokens > 0 && n_positions == n_tokens && ref_vocab > 0;
}

/* Max |a - ref[pos]| over the vocabulary (INFINITY for a NULL a). */
static float max_diff(const float *a, int pos) {
    if (!a) return INFINITY;
    float m = 0;
    for (int v = 0; v < ref_vocab; v++) {
        float d = fabsf(a[v] - ref_logits[pos][v]);
        if (!(d <= m)) m = d; /* NaN propagates */
    }
    return m;
}
#define TOL 1e-3f

/* ================================================================================== helpers */

static float progress_seen[256];
static int n_progress;
static void on_progress(float fraction, void *user) {
    if (user == (void *)&n_progress && n_progress < 256) progress_seen[n_progress++] = fraction;
}

static bittern_model_params f32_head;   /* default params with head_type "f32" (set in main) */

static bittern_context *make_ctx(bittern_model *m, uint32_t n_ctx, bool logits_all) {
    bittern_context_params cp = bittern_context_default_params();
    cp.n_ctx = n_ctx;
    cp.logits_all = logits_all;
    cp.kv_type = "f32";     /* the reference's storage; F16, the default, is checked in check_defaults */
    bittern_context *c = NULL;
    bittern_status s = bittern_context_create(m, &cp, &c);
    CHECK(s == BITTERN_OK && c != NULL);
    return c;
}

/* ============================================================================== the checks */

static void check_load(const char *path, bittern_model **out) {
    STEP("load with progress");
    bittern_model_params mp = bittern_model_default_params();
    CHECK(mp.size == sizeof(bittern_model_params) && mp.head_type == NULL && mp.progress == NULL &&
          mp.progress_user_data == NULL);
    mp.progress = on_progress;
    mp.progress_user_data = &n_progress;
    mp.head_type = "f32";   /* the reference's storage: logits within TOL (q8, the default, is checked below) */
    bittern_model *m = NULL;
    CHECK(bittern_model_load(NULL, path, &mp, &m) == BITTERN_OK && m != NULL);
    CHECK(n_progress >= 2);
    bool rising = true, in_range = true;
    for (int i = 0; i < n_progress; i++) {
        if (!(progress_seen[i] >= 0 && progress_seen[i] <= 1)) in_range = false;
        if (i > 0 && progress_seen[i] < progress_seen[i - 1]) rising = false;
    }
    CHECK(in_range && rising);
    CHECK(n_progress > 0 && progress_seen[n_progress - 1] == 1.0f);
    *out = m;

    STEP("n_vocab");
    CHECK(bittern_model_n_vocab(m) == ref_vocab);
    CHECK(bittern_model_n_vocab(NULL) == -1 && failed_with(BITTERN_E_INVALID_ARGUMENT, BITTERN_E_INVALID_ARGUMENT));

    STEP("describe");
    char *d = bittern_model_describe(m);
    CHECK(d != NULL);
    if (d) {
        const char *keys[] = {"\"architecture\":", "\"n_vocab\":", "\"n_layer\":", "\"n_embd\":", "\"n_head\":",
                              "\"n_head_kv\":", "\"n_ff\":", "\"context_length\":", "\"head_type\":",
                              "\"tensors\":["};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            STEP("describe has %s", keys[k]);
            CHECK(strstr(d, keys[k]) != NULL);
        }
        STEP("describe values");
        char want[64];
        snprintf(want, sizeof want, "\"n_vocab\":%d", ref_vocab);
        CHECK(strstr(d, want) != NULL);
        CHECK(strstr(d, "\"architecture\":\"bitnet-b1.58\"") != NULL);
        CHECK(strstr(d, "\"token_embd.weight\"") != NULL);
        bittern_string_free(d);
    }

    STEP("head_type");
    bittern_model *m2 = NULL;
    mp = bittern_model_default_params();
    mp.head_type = "f32";
    CHECK(bittern_model_load(NULL, path, &mp, &m2) == BITTERN_OK && m2 != NULL);
    bittern_model_free(m2);
    m2 = NULL;
    static const char *heads[] = {"q8", "q6", "f16"};
    for (int k = 0; k < 3; k++) {
        mp.head_type = heads[k];
        CHECK(bittern_model_load(NULL, path, &mp, &m2) == BITTERN_OK && m2 != NULL);
        char *d = bittern_model_describe(m2);
        char want[64];
        snprintf(want, sizeof want, "\"head_type\":\"%s\"", mp.head_type);
        CHECK(d != NULL && strstr(d, want) != NULL);
        bittern_string_free(d);
        bittern_model_free(m2);
        m2 = NULL;
    }
    mp.head_type = "bogus";
    CHECK(failed_with(bittern_model_load(NULL, path, &mp, &m2), BITTERN_E_INVALID_ARGUMENT) && m2 == NULL);

    STEP("params size");
    mp = bittern_model_default_params();
    mp.size = 0;
    CHECK(failed_with(bittern_model_load(NULL, path, &mp, &m2), BITTERN_E_INVALID_ARGUMENT) && m2 == NULL);
    mp.size = sizeof mp + 8;
    CHECK(failed_with(bittern_model_load(NULL, path, &mp, &m2), BITTERN_E_INVALID_ARGUMENT) && m2 == NULL);
    mp.size = (uint32_t)offsetof(bittern_model_params, progress); /* older header: no progress fields */
    mp.progress = on_progress;                                      /* beyond size: must be ignored */
    mp.progress_user_data = (void *)1;
    CHECK(bittern_model_load(NULL, path, &mp, &m2) == BITTERN_OK && m2 != NULL);
    bittern_model_free(m2);

    STEP("explicit runtime");
    bittern_runtime *rt = NULL;
    CHECK(bittern_runtime_create(NULL, &rt) == BITTERN_OK);
    m2 = NULL;
    CHECK(bittern_model_load(rt, path, &f32_head, &m2) == BITTERN_OK && m2 != NULL);
    bittern_runtime_free(rt); /* the model keeps its runtime */
    bittern_context *c = make_ctx(m2, 16, false);
    CHECK(bittern_decode(c, ref_tokens, (size_t)n_tokens) == BITTERN_OK);
    CHECK(max_diff(bittern_logits(c, -1), n_tokens - 1) < TOL);
    bittern_context_free(c);
    bittern_model_free(m2);
}

static void check_decode(bittern_model *m) {
    int n = n_tokens, last = n - 1;

    STEP("default context");
    bittern_context_params cp = bittern_context_default_params();
    CHECK(cp.size == sizeof cp && cp.n_ctx == 0 && cp.logits_all == false);
    bittern_context *c = NULL;
    CHECK(bittern_context_create(m, NULL, &c) == BITTERN_OK && c != NULL);
    CHECK(bittern_logits(c, -1) == NULL && failed_with(BITTERN_E_INVALID_ARGUMENT, BITTERN_E_INVALID_ARGUMENT));
    CHECK(failed_with(bittern_decode(c, ref_tokens, 0), BITTERN_E_INVALID_ARGUMENT));
    CHECK(bittern_logits(c, -1) == NULL);
    CHECK(failed_with(bittern_decode(c, NULL, 1), BITTERN_E_INVALID_ARGUMENT));
    CHECK(bittern_decode(c, ref_tokens, (size_t)n) == BITTERN_OK);
    float d = max_diff(bittern_logits(c, -1), last);
    printf("max |logit - numpy| at the last position, default (F16) KV cache: %g\n", d);
    CHECK(d < 0.3f);   /* F16 keys and values: see check_defaults */
    bittern_context_free(c);

    STEP("last logits only");
    c = make_ctx(m, 16, false);
    CHECK(bittern_decode(c, ref_tokens, (size_t)n) == BITTERN_OK);
    const float *l = bittern_logits(c, -1);
    CHECK(max_diff(l, last) < TOL);
    CHECK(bittern_logits(c, last) == l);
    CHECK(bittern_logits(c, 0) == NULL && failed_with(BITTERN_E_INVALID_ARGUMENT, BITTERN_E_INVALID_ARGUMENT));
    CHECK(bittern_logits(c, n) == NULL);
    CHECK(bittern_logits(c, -2) == NULL);

    STEP("bad token leaves the context unchanged");
    int32_t bad[2] = {0, (int32_t)ref_vocab};
    CHECK(failed_with(bittern_decode(c, bad, 2), BITTERN_E_INVALID_ARGUMENT));
    int32_t neg = -1;
    CHECK(failed_with(bittern_decode(c, &neg, 1), BITTERN_E_INVALID_ARGUMENT));
    CHECK(bittern_logits(c, -1) == l && max_diff(l, last) < TOL);

    STEP("reset");
    CHECK(bittern_context_reset(c) == BITTERN_OK);
    CHECK(bittern_logits(c, -1) == NULL);
    for (int i = 0; i < n; i++) CHECK(bittern_decode(c, &ref_tokens[i], 1) == BITTERN_OK); /* one at a time */
    CHECK(max_diff(bittern_logits(c, -1), last) < TOL);

    STEP("truncate");
    CHECK(bittern_context_truncate(c, (uint32_t)n / 2) == BITTERN_OK);
    CHECK(bittern_logits(c, -1) == NULL);
    CHECK(bittern_decode(c, ref_tokens + n / 2, (size_t)(n - n / 2)) == BITTERN_OK);
    CHECK(max_diff(bittern_logits(c, -1), last) < TOL);
    CHECK(failed_with(bittern_context_truncate(c, (uint32_t)n + 1), BITTERN_E_INVALID_ARGUMENT));
    CHECK(max_diff(bittern_logits(c, -1), last) < TOL); /* unchanged by the failed truncate */
    bittern_context_free(c);

    STEP("logits_all");
    c = make_ctx(m, 16, true);
    CHECK(bittern_decode(c, ref_tokens, (size_t)n) == BITTERN_OK);
    float worst = 0;
    for (int p = 0; p < n; p++) {
        float dp = max_diff(bittern_logits(c, p), p);
        if (!(dp <= worst)) worst = dp;
    }
    printf("max |logit - numpy| over %d positions (logits_all): %g\n", n, worst);
    CHECK(worst < TOL);
    CHECK(bittern_logits(c, -1) == bittern_logits(c, last));
    CHECK(bittern_logits(c, 0) != bittern_logits(c, 1));
    CHECK(bittern_logits(c, n) == NULL && failed_with(BITTERN_E_INVALID_ARGUMENT, BITTERN_E_INVALID_ARGUMENT));
    CHECK(bittern_logits(c, -2) == NULL);
    /* a second call: logits of that call only */
    CHECK(bittern_context_reset(c) == BITTERN_OK);
    CHECK(bittern_decode(c, ref_tokens, 3) == BITTERN_OK);
    CHECK(max_diff(bittern_logits(c, 2), 2) < TOL && bittern_logits(c, 3) == NULL);
    CHECK(bittern_decode(c, ref_tokens + 3, 2) == BITTERN_OK);
    CHECK(max_diff(bittern_logits(c, 0), 3) < TOL && max_diff(bittern_logits(c, 1), 4) < TOL);
    CHECK(bittern_logits(c, 2) == NULL);
    bittern_context_free(c);

    STEP("context full");
    c = make_ctx(m, (uint32_t)n, false);
    CHECK(bittern_decode(c, ref_tokens, (size_t)n / 2) == BITTERN_OK);
    const float *before = bittern_logits(c, -1);
    float b0 = before ? before[0] : NAN;
    CHECK(failed_with(bittern_decode(c, ref_tokens + n / 2, (size_t)(n - n / 2) + 1), BITTERN_E_CONTEXT_FULL));
    CHECK(failed_with(bittern_decode(c, ref_tokens, SIZE_MAX), BITTERN_E_CONTEXT_FULL));
    CHECK(bittern_logits(c, -1) == before && before && before[0] == b0);
    /* the position did not move: the rest of the sequence still fits exactly and gives the reference */
    CHECK(bittern_decode(c, ref_tokens + n / 2, (size_t)(n - n / 2)) == BITTERN_OK);
    CHECK(max_diff(bittern_logits(c, -1), last) < TOL);
    CHECK(failed_with(bittern_decode(c, ref_tokens, 1), BITTERN_E_CONTEXT_FULL));
    CHECK(bittern_context_reset(c) == BITTERN_OK);
    CHECK(bittern_decode(c, ref_tokens, (size_t)n) == BITTERN_OK);
    bittern_context_free(c);
}

/* The default storage (q8 head, F16 KV cache) agrees with the reference on every argmax but where the
   reference's top-2 gap is tiny, and stays within 0.3 of its logits (see ForwardTests.swift). */
static void check_defaults(const char *path) {
    STEP("default head and KV cache");
    bittern_model *m = NULL;
    CHECK(bittern_model_load(NULL, path, NULL, &m) == BITTERN_OK && m != NULL);
    if (!m) return;
    char *d = bittern_model_describe(m);
    CHECK(d != NULL && strstr(d, "\"head_type\":\"q8\"") != NULL);
    bittern_string_free(d);
    bittern_context_params cp = bittern_context_default_params();
    CHECK(cp.kv_type == NULL);
    cp.n_ctx = 16;
    cp.logits_all = true;
    bittern_context *c = NULL;
    CHECK(bittern_context_create(m, &cp, &c) == BITTERN_OK && c != NULL);
    if (c) {
        CHECK(bittern_decode(c, ref_tokens, (size_t)n_tokens) == BITTERN_OK);
        for (int p = 0; p < n_tokens; p++) CHECK(max_diff(bittern_logits(c, p), p) < 0.3f);
        bittern_context_free(c);
    }
    cp.kv_type = "f8";
    c = NULL;
    CHECK(failed_with(bittern_context_create(m, &cp, &c), BITTERN_E_INVALID_ARGUMENT) && c == NULL);
    bittern_model_free(m);
}

static void check_lifetimes(const char *path) {
    STEP("model freed before its context");
    bittern_model *m = NULL;
    CHECK(bittern_model_load(NULL, path, &f32_head, &m) == BITTERN_OK);
    bittern_context *c = make_ctx(m, 16, false);
    bittern_context *c2 = make_ctx(m, 16, false);
    bittern_model_free(m);
    CHECK(bittern_model_n_vocab(m) == -1); /* the handle is dead, the model lives on */
    CHECK(bittern_model_describe(m) == NULL);
    CHECK(bittern_decode(c, ref_tokens, (size_t)n_tokens) == BITTERN_OK);
    CHECK(max_diff(bittern_logits(c, -1), n_tokens - 1) < TOL);
    bittern_context_free(c);
    CHECK(bittern_decode(c2, ref_tokens, (size_t)n_tokens) == BITTERN_OK); /* the last context */
    CHECK(max_diff(bittern_logits(c2, -1), n_tokens - 1) < TOL);
    bittern_context_free(c2);
}

static void check_handles(bittern_model *m) {
    STEP("NULL handles");
    bittern_context *c = NULL;
    CHECK(failed_with(bittern_context_create(NULL, NULL, &c), BITTERN_E_INVALID_ARGUMENT) && c == NULL);
    CHECK(failed_with(bittern_context_create(m, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(failed_with(bittern_decode(NULL, ref_tokens, 1), BITTERN_E_INVALID_ARGUMENT));
    CHECK(bittern_logits(NULL, -1) == NULL);
    CHECK(failed_with(bittern_context_reset(NULL), BITTERN_E_INVALID_ARGUMENT));
    CHECK(failed_with(bittern_context_truncate(NULL, 0), BITTERN_E_INVALID_ARGUMENT));
    CHECK(bittern_model_describe(NULL) == NULL);
    bittern_model_free(NULL);
    bittern_context_free(NULL);

    STEP("context params size");
    bittern_context_params cp = bittern_context_default_params();
    cp.size = 0;
    CHECK(failed_with(bittern_context_create(m, &cp, &c), BITTERN_E_INVALID_ARGUMENT) && c == NULL);
    cp.size = sizeof cp + 4;
    CHECK(failed_with(bittern_context_create(m, &cp, &c), BITTERN_E_INVALID_ARGUMENT) && c == NULL);

    STEP("foreign handles");
    c = make_ctx(m, 8, false);
    int local = 0;
    CHECK(failed_with(bittern_context_create((bittern_model *)c, NULL, &c), BITTERN_E_INVALID_ARGUMENT));
    CHECK(failed_with(bittern_context_create((bittern_model *)&local, NULL, &c), BITTERN_E_INVALID_ARGUMENT));
    CHECK(failed_with(bittern_decode((bittern_context *)m, ref_tokens, 1), BITTERN_E_INVALID_ARGUMENT));
    CHECK(failed_with(bittern_decode((bittern_context *)&local, ref_tokens, 1), BITTERN_E_INVALID_ARGUMENT));
    CHECK(bittern_logits((bittern_context *)m, -1) == NULL);
    CHECK(bittern_model_n_vocab((bittern_model *)c) == -1);
    CHECK(bittern_model_describe((bittern_model *)c) == NULL);
    CHECK(failed_with(bittern_context_reset((bittern_context *)m), BITTERN_E_INVALID_ARGUMENT));
    /* freeing with the wrong function is ignored: both stay usable */
    bittern_model_free((bittern_model *)c);
    bittern_context_free((bittern_context *)m);
    CHECK(bittern_model_n_vocab(m) == ref_vocab);
    CHECK(bittern_decode(c, ref_tokens, 1) == BITTERN_OK);
    bittern_context_free(c);
    CHECK(failed_with(bittern_decode(c, ref_tokens, 1), BITTERN_E_INVALID_ARGUMENT)); /* freed */
    bittern_context_free(c); /* a second free is ignored */
}

static void check_files(const char *path) {
    bittern_model *m = NULL;
    STEP("NULL path / out");
    CHECK(failed_with(bittern_model_load(NULL, NULL, NULL, &m), BITTERN_E_INVALID_ARGUMENT) && m == NULL);
    CHECK(failed_with(bittern_model_load(NULL, path, NULL, NULL), BITTERN_E_INVALID_ARGUMENT));

    STEP("missing file");
    CHECK(failed_with(bittern_model_load(NULL, "/nonexistent/dir/model.gguf", NULL, &m), BITTERN_E_IO) && m == NULL);

    STEP("truncated file");
    FILE *in = fopen(path, "rb");
    CHECK(in != NULL);
    if (!in) return;
    static unsigned char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, in);
    fclose(in);
    CHECK(len > 64 && len < sizeof buf);
    char tmp[] = "/tmp/bittern_test_model_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    if (fd < 0) return;
    size_t cut[] = {len / 2, 40, len - 1};
    for (size_t k = 0; k < sizeof cut / sizeof cut[0]; k++) {
        STEP("truncated file: %zu of %zu bytes", cut[k], len);
        CHECK(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0 && write(fd, buf, cut[k]) == (ssize_t)cut[k]);
        m = NULL;
        CHECK(failed_with(bittern_model_load(NULL, tmp, NULL, &m), BITTERN_E_FORMAT) && m == NULL);
    }
    STEP("not a GGUF file");
    CHECK(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0 && write(fd, "hello, world, not a model file", 30) == 30);
    CHECK(failed_with(bittern_model_load(NULL, tmp, NULL, &m), BITTERN_E_FORMAT) && m == NULL);
    close(fd);
    unlink(tmp);
}

/* ===================================================================================== main */

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [EXPECTED.txt]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    char expected[4096];
    if (argc > 2) {
        snprintf(expected, sizeof expected, "%s", argv[2]);
    } else {
        snprintf(expected, sizeof expected, "%s", path);
        char *dot = strstr(expected, ".gguf");
        if (dot && (size_t)(dot - expected) + sizeof ".expected.txt" < sizeof expected) strcpy(dot, ".expected.txt");
    }
    STEP("read %s", expected);
    if (!CHECK(read_expected(expected))) {
        printf("c-model: %d passed, %d failed\n", passed, failed);
        return 1;
    }

    f32_head = bittern_model_default_params();
    f32_head.head_type = "f32";
    bittern_model *m = NULL;
    check_load(path, &m);
    if (m) {
        check_decode(m);
        check_handles(m);
        bittern_model_free(m);
    }
    check_defaults(path);
    check_lifetimes(path);
    check_files(path);

    printf("c-model: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
