/* Hugging Face checkpoints through bittern_convert: the safetensors reader (single file and sharded), the
   JSON parser, config.json and tokenizer.json import, the converter, the GGUF writer, and the model
   loader on what it wrote. The first input byte b picks which file of a tiny valid checkpoint
   (Tests/fuzz/template) the rest replaces, b % 5: 0 model.safetensors, 1 config.json, 2 tokenizer.json,
   3 model.safetensors.index.json (the weights then in one shard), 4 a SentencePiece tokenizer.model (the
   tokenizer.json then removed); (b / 5) & 1 picks the weight type.
   A failed conversion must leave no output file, not even a partial one. */
#include "fuzz_common.h"
#include <dirent.h>
#include <sys/stat.h>

#ifndef FUZZ_TEMPLATE_DIR
#error "build with -DFUZZ_TEMPLATE_DIR=\"path/to/Tests/fuzz/template\""
#endif

static char work[256], out[300];
/* The first three are replaced by the input in turn; tokenizer_config.json (BOS/EOS, chat template) stays. */
static uint8_t *files[5];
static size_t sizes[5];
static const char *names[5] = {"model.safetensors", "config.json", "tokenizer.json", "model.safetensors.index.json",
                               "tokenizer_config.json"};

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n ? *n : 1);
    if (*n && fread(b, 1, *n, f) != *n) { perror(path); exit(2); }
    fclose(f);
    return b;
}

static void put(const char *name, const uint8_t *data, size_t n) {
    char p[400];
    snprintf(p, sizeof p, "%s/%s", work, name);
    write_file(p, data, n);
}

static void drop(const char *name) {
    char p[400];
    snprintf(p, sizeof p, "%s/%s", work, name);
    unlink(p);
}

static void cleanup(void) {
    const char *all[] = {"model.safetensors", "config.json", "tokenizer.json", "model.safetensors.index.json",
                         "tokenizer_config.json", "model-00001-of-00001.safetensors", "out.gguf", "tokenizer.model"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) drop(all[i]);
    rmdir(work);
}

static void setup(void) {
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(work, sizeof work, "%s/bittern-fuzz-st-%d", base, (int)getpid());
    mkdir(work, 0700);
    snprintf(out, sizeof out, "%s/out.gguf", work);
    for (int i = 0; i < 5; i++) {
        if (i == 3) continue;
        char p[400];
        snprintf(p, sizeof p, "%s/%s", FUZZ_TEMPLATE_DIR, names[i]);
        files[i] = slurp(p, &sizes[i]);
    }
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!work[0]) setup();
    if (size < 1) return 0;
    int which = data[0] % 5;
    for (int i = 0; i < 5; i++) if (i != 3) put(names[i], files[i], sizes[i]);
    drop(names[3]);
    drop("model-00001-of-00001.safetensors");
    drop("tokenizer.model");
    if (which == 3) {
        drop(names[0]);
        put("model-00001-of-00001.safetensors", files[0], sizes[0]);
    }
    if (which == 4) {
        drop(names[2]);
        put("tokenizer.model", data + 1, size - 1);
    } else {
        put(names[which], data + 1, size - 1);
    }

    bittern_convert_params p = bittern_convert_default_params();
    p.weight_type = ((data[0] / 5) & 1) ? "i2_s" : "f16";
    bittern_status s = bittern_convert(work, out, &p);
    if (s == BITTERN_OK) {
        bittern_model *m = NULL;
        s = bittern_model_load(NULL, out, NULL, &m);
        if (s == BITTERN_OK) {
            bittern_context *c = NULL;
            bittern_context_params cp = bittern_context_default_params();
            cp.n_ctx = 2;
            if (bittern_context_create(m, &cp, &c) == BITTERN_OK) {
                int32_t t = 1;
                bittern_status d = bittern_decode(c, &t, 1);
                if (d != BITTERN_OK) expect_message(d);
                bittern_context_free(c);
            }
            bittern_model_free(m);
        } else {
            expect_message(s);
        }
        unlink(out);
    } else {
        expect_message(s);
        FUZZ_ASSERT(access(out, F_OK) != 0, "a failed conversion left %s", out);
    }
    /* Never a partial file left behind. */
    DIR *dir = opendir(work);
    struct dirent *e;
    while ((e = readdir(dir))) FUZZ_ASSERT(!strstr(e->d_name, ".partial"), "left %s", e->d_name);
    closedir(dir);
    return 0;
}
