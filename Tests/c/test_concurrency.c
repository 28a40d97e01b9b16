/* Concurrency from C (also run under ThreadSanitizer by scripts/sanitize.sh): N contexts on one model,
   each on its own thread, decode greedily and get bit-identical logits to the same work done
   sequentially; the model is freed by the main thread while the contexts still use it (they hold
   references); handles freed on one thread are dead on all.

   Usage: test_concurrency [MODEL.gguf]   (default: the bundled model) */
#define _GNU_SOURCE
#include <bittern.h>
#include <pthread.h>
#include <stdlib.h>

#include "check.h"

enum { N_THREADS = 4, STEPS = 24 };

typedef struct {
    bittern_context *ctx;
    int index;              /* which prompt */
    int32_t tokens[STEPS];
    float last_logits[8];   /* the first logits of the final step */
    bittern_status status;
} job;

static const char *prompts[N_THREADS] = {"It is a truth universally acknowledged", "In the beginning",
                                         "Mr. Darcy said that", "The king of the north"};

static int32_t prompt_ids[N_THREADS][64], prompt_len[N_THREADS], vocab;

/* Greedy decode of STEPS tokens after the job's prompt, on job->ctx (the context only: in the second
   round the model handle has been released). */
static void run(job *j) {
    j->status = bittern_decode(j->ctx, prompt_ids[j->index], (size_t)prompt_len[j->index]);
    for (int s = 0; s < STEPS && j->status == BITTERN_OK; s++) {
        const float *l = bittern_logits(j->ctx, -1);
        if (!l) { j->status = BITTERN_E_INTERNAL; return; }
        int32_t best = 0;
        for (int32_t i = 1; i < vocab; i++) if (l[i] > l[best]) best = i;
        j->tokens[s] = best;
        memcpy(j->last_logits, l, sizeof j->last_logits);
        j->status = bittern_decode(j->ctx, &best, 1);
    }
}

static void *thread_main(void *arg) {
    run(arg);
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *found = NULL;
    const char *path = argc > 1 ? argv[1] : (found = bittern_default_model_path());
    if (!path) { printf("FAIL: no model: %s\nc-concurrency: 0 passed, 1 failed\n", bittern_last_error()); return 1; }

    bittern_runtime_params rp = bittern_runtime_default_params();
    rp.n_threads = 2;   /* one worker pool shared by every context's decode */
    bittern_runtime *rt = NULL;
    CHECK(bittern_runtime_create(&rp, &rt) == BITTERN_OK);
    bittern_model *model = NULL;
    STEP("load");
    if (!CHECK(bittern_model_load(rt, path, NULL, &model) == BITTERN_OK)) return 1;
    vocab = bittern_model_n_vocab(model);
    CHECK(vocab > 1);
    for (int i = 0; i < N_THREADS; i++) {
        prompt_len[i] = bittern_tokenize(model, prompts[i], strlen(prompts[i]), true, false, prompt_ids[i], 64);
        CHECK(prompt_len[i] > 1);
    }

    /* Sequential reference. */
    job seq[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        STEP("sequential %d", i);
        memset(&seq[i], 0, sizeof seq[i]);
        seq[i].index = i;
        CHECK(bittern_context_create(model, NULL, &seq[i].ctx) == BITTERN_OK);
        run(&seq[i]);
        CHECK(seq[i].status == BITTERN_OK);
        bittern_context_free(seq[i].ctx);
    }

    /* Parallel, twice; the second time the model handle is released first. */
    for (int round = 0; round < 2; round++) {
        job par[N_THREADS];
        pthread_t th[N_THREADS];
        for (int i = 0; i < N_THREADS; i++) {
            memset(&par[i], 0, sizeof par[i]);
            par[i].index = i;
            STEP("round %d context %d", round, i);
            CHECK(bittern_context_create(model, NULL, &par[i].ctx) == BITTERN_OK);
        }
        if (round == 1) {
            STEP("model freed while its contexts live");
            bittern_model_free(model);
            CHECK(bittern_model_n_vocab(model) == -1);   /* the handle is dead; the contexts keep the model */
        }
        for (int i = 0; i < N_THREADS; i++) CHECK(pthread_create(&th[i], NULL, thread_main, &par[i]) == 0);
        for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
        for (int i = 0; i < N_THREADS; i++) {
            STEP("round %d job %d", round, i);
            CHECK(par[i].status == BITTERN_OK);
            CHECK(memcmp(par[i].tokens, seq[i].tokens, sizeof par[i].tokens) == 0);
            CHECK(memcmp(par[i].last_logits, seq[i].last_logits, sizeof par[i].last_logits) == 0);
            bittern_context_free(par[i].ctx);
            CHECK(bittern_context_n_tokens(par[i].ctx) == -1);   /* dead after free, on any thread */
        }
    }
    bittern_runtime_free(rt);
    bittern_string_free(found);
    printf("c-concurrency: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
