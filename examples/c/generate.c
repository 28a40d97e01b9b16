/* generate.c -- continue a prompt with a language model, streaming the text as it is produced.
 *
 *     generate [-m MODEL] [-n N] [-s SEED] [PROMPT]
 *
 *   -m MODEL   a BitNet b1.58 GGUF file (default: the bundled demo model, bittern_default_model_path())
 *   -n N       the most tokens to generate (default 64)
 *   -s SEED    the sampler's seed (default: random, so every run gives different text; the same seed,
 *              model, prompt and N give the same text on every machine)
 *   PROMPT     the text to continue (default "It is a truth universally acknowledged")
 *
 * The prompt and its continuation go to stdout; a timing line goes to stderr. Sampling uses
 * temperature 0.8 and repeat penalty 1.1, with the default top-k 40, top-p 0.95 and min-p 0.05.
 *
 * Build (from the repository root, after scripts/build.sh):
 *     gcc -std=c11 -O2 -Iinclude examples/c/generate.c -Lbuild/lib -lbittern -Wl,-rpath,'$ORIGIN/../lib' \
 *         -o build/examples/generate
 * or simply scripts/build_c_tests.sh. Exit status 0 on success, 1 on a library error, 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bittern.h"

static const char *DEFAULT_PROMPT = "It is a truth universally acknowledged";

static void usage(const char *argv0) {
    fprintf(stderr, "usage: %s [-m MODEL] [-n N] [-s SEED] [PROMPT]\n", argv0);
}

/* Called by bittern_generate with each piece of the reply: always whole UTF-8 characters, NUL-terminated
   (text[len] == '\0'). Returning false stops generation; here we stop if stdout cannot be written. */
static bool on_text(const char *text, size_t len, int32_t token, void *user_data) {
    (void)token;     /* the token that completed this text, or -1 for the final flush */
    (void)user_data; /* the last argument of bittern_generate */
    if (len > 0 && fwrite(text, 1, len, stdout) != len) return false;
    return fflush(stdout) == 0;
}

static const char *finish_name(int32_t reason) {
    switch (reason) {
    case BITTERN_FINISH_LENGTH: return "length";
    case BITTERN_FINISH_END: return "end of text";
    case BITTERN_FINISH_STOP: return "stop string";
    case BITTERN_FINISH_CANCELLED: return "cancelled";
    case BITTERN_FINISH_CONTEXT_FULL: return "context full";
    default: return "?";
    }
}

/* Tokens per second, guarded against a zero duration. */
static double rate(int32_t tokens, double ms) { return ms > 0 ? 1000.0 * tokens / ms : 0.0; }

/* Prints the prompt, then streams its continuation to stdout and a timing line to stderr. */
static bool continue_prompt(bittern_context *ctx, const char *prompt, int32_t max_tokens, uint64_t seed) {
    /* Generation parameters: start from the defaults (which set .size), then change what we need. */
    bittern_generate_result result;
    bittern_generate_params params = bittern_generate_default_params();
    params.max_tokens = max_tokens;
    params.sampling.temperature = 0.8f;    /* 0 would be greedy (always the most likely token) */
    params.sampling.repeat_penalty = 1.1f; /* discourages repeating the last 64 tokens */
    params.sampling.seed = seed;           /* BITTERN_SEED_RANDOM: drawn from the system */
    params.result = &result;               /* filled on success: token counts and timings */

    fputs(prompt, stdout);
    fflush(stdout);
    /* The prompt is tokenized (BOS first, as the context is empty) and decoded; then each sampled
       token is decoded in turn and its text handed to on_text. The context keeps it all, so another
       bittern_generate call on ctx would continue from here. */
    bittern_status s = bittern_generate(ctx, prompt, &params, on_text, NULL);
    fputc('\n', stdout);
    if (s != BITTERN_OK) {
        fprintf(stderr, "bittern_generate failed (status %d): %s\n", s, bittern_last_error());
        return false;
    }
    fprintf(stderr, "prompt: %d tokens in %.1f ms (%.0f tokens/s); generated: %d tokens in %.1f ms (%.0f tokens/s); "
                    "finish: %s\n",
            result.n_prompt_tokens, result.prefill_ms, rate(result.n_prompt_tokens, result.prefill_ms),
            result.n_generated, result.decode_ms, rate(result.n_generated, result.decode_ms),
            finish_name(result.finish_reason));
    return true;
}

int main(int argc, char **argv) {
    /* 1. Options. */
    const char *model_path = NULL;
    long max_tokens = 64;
    uint64_t seed = BITTERN_SEED_RANDOM;
    int opt;
    while ((opt = getopt(argc, argv, "m:n:s:h")) != -1) {
        switch (opt) {
        case 'm': model_path = optarg; break;
        case 'n': {
            char *end = NULL;
            errno = 0;
            max_tokens = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end != '\0' || max_tokens < 1 || max_tokens > 1000000) {
                fprintf(stderr, "%s: -n wants a positive number of tokens, not '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        }
        case 's': {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end != '\0' || optarg[0] == '-' || v == BITTERN_SEED_RANDOM) {
                fprintf(stderr, "%s: -s wants a number below %llu, not '%s'\n", argv[0],
                        (unsigned long long)BITTERN_SEED_RANDOM, optarg);
                return 2;
            }
            seed = (uint64_t)v;
            break;
        }
        case 'h': usage(argv[0]); return 0;
        default: usage(argv[0]); return 2;
        }
    }
    if (argc - optind > 1) {
        usage(argv[0]);
        return 2;
    }
    const char *prompt = optind < argc ? argv[optind] : DEFAULT_PROMPT;

    /* 2. The model file. bittern_default_model_path() returns a new string (or NULL, with a message that
          lists where it looked); it is released with bittern_string_free. */
    char *default_path = NULL;
    if (!model_path) {
        default_path = bittern_default_model_path();
        if (!default_path) {
            fprintf(stderr, "no model: %s\n", bittern_last_error());
            return 1;
        }
        model_path = default_path;
    }

    /* 3. Load the model. NULL runtime: the process-wide default (all cores, the fastest backend);
          NULL params: the defaults. Every call returns a status, and bittern_last_error() says why. */
    int status = 1;
    bittern_model *model = NULL;
    bittern_context *ctx = NULL;
    bittern_status s = bittern_model_load(NULL, model_path, NULL, &model);
    if (s != BITTERN_OK) {
        fprintf(stderr, "cannot load %s (status %d): %s\n", model_path, s, bittern_last_error());
        goto done;
    }

    /* 4. A context: the KV cache of one sequence. NULL params: the model's full context length. */
    s = bittern_context_create(model, NULL, &ctx);
    if (s != BITTERN_OK) {
        fprintf(stderr, "bittern_context_create failed (status %d): %s\n", s, bittern_last_error());
        goto done;
    }

    /* 5. Generate. */
    if (!continue_prompt(ctx, prompt, (int32_t)max_tokens, seed)) goto done;
    status = 0;

done:
    /* 6. Release everything; the free functions accept NULL. */
    bittern_context_free(ctx);
    bittern_model_free(model);
    bittern_string_free(default_path);
    return status;
}
