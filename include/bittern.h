/*
 * bittern.h -- the C API of Bittern, a runtime for ternary ("1.58-bit") language models.
 *
 * Read top to bottom, this header is the manual. Conventions:
 *   - Every fallible function returns a bittern_status: BITTERN_OK (0) on success, a negative code on
 *     failure. A failure also sets this thread's message, read with bittern_last_error(); a success
 *     leaves the message as it was.
 *   - Handles are opaque. Each has a create/free pair; free(NULL) is a no-op. A handle that is not live
 *     (never created, or already freed) is refused with BITTERN_E_INVALID_ARGUMENT, never dereferenced.
 *   - A NULL params pointer means the defaults. A NULL runtime means the process-wide default runtime,
 *     created on first use. Any other NULL handle or output pointer is an error (never a crash).
 *   - Params structs begin with `size`, set by their *_default_params() function. A smaller size (a
 *     program compiled against an older header) gets defaults for the missing fields; 0 or a size larger
 *     than this library knows is BITTERN_E_INVALID_ARGUMENT.
 *   - A params field wins over its environment variable (BITTERN_BACKEND, BITTERN_TOPOLOGY, ...); the
 *     variable applies only when the field is NULL.
 *   - Strings returned as `char *` are new and must be released with bittern_string_free(); strings
 *     returned as `const char *` are owned by the library (lifetime stated per function).
 *   - Sizes are element counts unless a name says bytes.
 *
 * Thread safety: every function may be called from any thread. Runtime functions and
 * bittern_plugin_load are thread-safe. A matrix is read-only after creation and may be used by any
 * number of threads at once; calls that reach the same runtime's worker pool are queued, not
 * oversubscribed. A model is read-only after loading and may be shared by any number of threads and
 * contexts; a context is used by one thread at a time.
 */
#ifndef BITTERN_H
#define BITTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================================= versions */

#define BITTERN_VERSION_MAJOR 0
#define BITTERN_VERSION_MINOR 1
#define BITTERN_VERSION_PATCH 0
/* Bumped whenever a published declaration changes incompatibly (which we avoid: we add _v2 instead). */
#define BITTERN_ABI_VERSION 1

/* "MAJOR.MINOR.PATCH" of the loaded library; static storage. Compare with the macros above to detect a
   program built against another header. */
const char *bittern_version(void);
/* BITTERN_ABI_VERSION of the loaded library. */
uint32_t bittern_abi_version(void);

/* ========================================================================================= errors */

typedef int32_t bittern_status;
enum {
    BITTERN_OK = 0,
    BITTERN_E_INVALID_ARGUMENT = -1, /* NULL/unknown handle, bad size, unknown name, NaN input, ... */
    BITTERN_E_IO = -2,               /* a file could not be opened or read */
    BITTERN_E_FORMAT = -3,           /* a file is malformed or not what it claims to be */
    BITTERN_E_UNSUPPORTED = -4,      /* valid request this CPU/OS/build cannot serve; plugin ABI mismatch */
    BITTERN_E_OUT_OF_MEMORY = -5,
    BITTERN_E_INTERNAL = -6,         /* a bug in Bittern: please report it */
    BITTERN_E_CONTEXT_FULL = -7,     /* a decode would pass the context length */
    BITTERN_E_ABORTED = -8           /* the context's abort callback stopped a decode */
};

/* Message of the last failure on this thread ("no error" if none); never NULL. Owned by the library,
   valid until this thread's next failing call. */
const char *bittern_last_error(void);
/* The status of this thread's last failure (BITTERN_OK before any), for the functions that report
   failure through NULL, -1 or INT32_MIN rather than a status; kept until this thread's next failure. */
bittern_status bittern_last_status(void);

/* Releases a string returned by a *_describe function. NULL is a no-op. */
void bittern_string_free(char *s);

/* ======================================================================================= backends */
/*
 * A backend is a set of ternary kernels (scalar reference, avx2, ...). Built-in backends are always
 * listed; plugins add more. Indices are stable for the life of the process (plugins only append).
 */

/* Number of backends known: built-in plus loaded plugins. */
size_t bittern_backend_count(void);
/* Name of backend `index` ("scalar", "avx2", ...), or NULL if index is out of range. Static storage,
   valid until process exit. */
const char *bittern_backend_name(size_t index);
/* Whether this CPU and OS can run backend `index` (false if index is out of range). */
bool bittern_backend_supported(size_t index);
/* Loads a kernel plugin: a shared object exporting bittern_kernel_plugin_entry (see bittern_kernel.h).
   Errors: NULL path -> INVALID_ARGUMENT; cannot be opened -> IO; no entry point -> FORMAT;
   ABI version or struct size mismatch, or the plugin declines this host -> UNSUPPORTED; a backend of
   that name already exists -> INVALID_ARGUMENT. The object stays loaded until process exit.
   Plugins are also loaded at first use from BITTERN_PLUGIN_PATH (a ':'-separated list of .so files or
   directories of them); a plugin there that fails to load is skipped and reported by
   bittern_runtime_describe. */
bittern_status bittern_plugin_load(const char *path);

/* ======================================================================================== runtime */
/*
 * A runtime holds the decisions that depend on the machine: CPU features, the backend used for new
 * matrices, the worker threads. Matrices keep their runtime alive (reference counted), so
 * bittern_runtime_free may be called while matrices made with it are still in use.
 */
typedef struct bittern_runtime bittern_runtime;

typedef struct bittern_runtime_params {
    uint32_t    size;        /* sizeof(bittern_runtime_params), set by the default function */
    int32_t     n_threads;   /* <= 0: automatic (one per physical core) */
    const char *backend;     /* NULL: BITTERN_BACKEND or automatic; else a backend name, refused if
                                unknown (INVALID_ARGUMENT) or unsupported here (UNSUPPORTED) */
    const char *numa_policy; /* NULL: automatic ("partition" on several nodes, else "none");
                                "partition", "replicate", "interleave", "none", optionally followed by
                                ':' and node ids ("partition:0,1"); a node that does not exist is
                                INVALID_ARGUMENT (never a silent fallback) */
    const char *topology;    /* NULL: BITTERN_TOPOLOGY or this machine; else an hwloc synthetic
                                string ("pack:2 numa:2 core:8 pu:2") or the path of an hwloc XML file */
    int32_t     use_smt;     /* nonzero: also run workers on SMT siblings (after every core's first PU);
                                0 (default): one worker per physical core */
} bittern_runtime_params;

/* Defaults: size set, n_threads 0, every string NULL. */
bittern_runtime_params bittern_runtime_default_params(void);
/* Creates a runtime; on success *out is a new handle (free with bittern_runtime_free). */
bittern_status bittern_runtime_create(const bittern_runtime_params *params, bittern_runtime **out);
/* Releases the caller's reference; worker threads stop once no matrix uses the runtime. NULL: no-op. */
void bittern_runtime_free(bittern_runtime *rt);
/* JSON: {"version", "cpu": "...", "cpu_features": [...], "backends": [{"name", "supported", "reason",
   "priority", "origin"}], "backend": chosen name, "backend_source": "auto"|"params"|"environment",
   "threads", "numa_nodes", "numa_policy", "numa_policy_nodes", "plan": {"workers", "smt",
   "oversubscribed", "pinned", "pinned_workers", "caller_pinned" (always false: the calling thread is
   worker 0 and is never bound), "pinning_note", "memory_bound", "nodes": [{"node", "workers", "cores",
   "pus", "pinned"}]}, "weights_bytes_per_node": bytes of the live matrices' weights on each node as
   measured with move_pages, "matrices": [{"rows", "cols", "placement", "bytes_per_node", "slices"}],
   "topology": {... "nodes", "core_kinds", "core_list" ...}, "plugin_errors": [...]}.
   Threads are pinned one per core only when the topology is this machine and there are no more
   threads than cores (PUs with use_smt).
   rt NULL: the default runtime. Returns NULL (with a message) on error; free with bittern_string_free. */
char *bittern_runtime_describe(const bittern_runtime *rt);
/* Name of the backend the runtime uses for new matrices (static storage), NULL on error. */
const char *bittern_runtime_backend(const bittern_runtime *rt);
/* Number of worker threads (>= 1), or -1 on error. */
int32_t bittern_runtime_n_threads(const bittern_runtime *rt);

/* ============================================================================== ternary matrices */
/*
 * W is rows x cols (row-major, output dimension first): trits t in {-1,0,+1} and one float scale alpha,
 * so W ~ alpha * t. Products quantize the float input per token to int8 (absmax) and compute the
 * integer dot products exactly; every backend gives bit-identical integers.
 */
typedef struct bittern_matrix bittern_matrix;

typedef struct bittern_quant_params {
    uint32_t size;
    float    zero_threshold; /* trit = sign(w) if |w| * s > zero_threshold else 0, s = 1/max(mean|W|, 1e-5);
                                default 0.5 (equals round-half-even then clamp to [-1,1]); must be >= 0 */
} bittern_quant_params;

/* Defaults: size set, zero_threshold 0.5. */
bittern_quant_params bittern_quant_default_params(void);

/* Quantizes a float matrix with the BitNet b1.58 absmean rule:
   alpha = max(mean|W|, 1e-5) (mean summed in double, row-major), s = 1/alpha (float),
   trit = sign(w) if fabsf(w)*s > zero_threshold else 0. w holds rows*cols floats.
   Errors: NULL w/out, rows or cols 0 or rows*cols overflowing -> INVALID_ARGUMENT; NaN/Inf weight ->
   INVALID_ARGUMENT (the message names its index); allocation failure -> OUT_OF_MEMORY. */
bittern_status bittern_matrix_from_f32(bittern_runtime *rt, const float *w, size_t rows, size_t cols,
                                       const bittern_quant_params *params, bittern_matrix **out);
/* Wraps already-ternary weights: trits row-major (rows*cols values), any value outside {-1,0,1} is
   INVALID_ARGUMENT, as is alpha <= 0 or not finite. The trits are copied (packed). */
bittern_status bittern_matrix_from_trits(bittern_runtime *rt, const int8_t *trits, size_t rows, size_t cols,
                                         float alpha, bittern_matrix **out);

/* y = W x for one token. x: cols floats, y: rows floats. Activation quantization per call:
   s = 127 / max(max|x|, 1e-5), q = clamp(round_half_even(x*s), -128, 127);
   y[i] = (float)(sum_j t[i][j]*q[j]) * (alpha / s). A NaN/Inf in x is INVALID_ARGUMENT. */
bittern_status bittern_matrix_gemv_f32(const bittern_matrix *m, const float *x, float *y);
/* n tokens: x is n x cols row-major, each row quantized on its own; y is n x rows row-major. */
bittern_status bittern_matrix_gemm_f32(const bittern_matrix *m, const float *x, size_t n, float *y);
/* Exact integers: y[i] = sum_j t[i][j]*x[j]; x: cols int8, y: rows int32. */
bittern_status bittern_matrix_gemv_i8(const bittern_matrix *m, const int8_t *x, int32_t *y);
/* Exact integers for n tokens: x is n x cols int8 row-major, y is n x rows int32 row-major. */
bittern_status bittern_matrix_gemm_i8(const bittern_matrix *m, const int8_t *x, size_t n, int32_t *y);

/* Shape and scale of a matrix; any output pointer may be NULL. */
bittern_status bittern_matrix_shape(const bittern_matrix *m, size_t *rows, size_t *cols, float *alpha);
/* JSON: {"rows", "cols", "alpha", "zero_fraction", "backend", "bytes", "bits_per_weight",
   "bytes_per_node": [...] (index = node id; resident bytes as measured with move_pages, not as planned),
   "placement": the numa_policy, "slices": [{"row_begin", "rows", "planned_node", "workers", "bytes",
   "numa_allocated", "bytes_per_node"}]}. Under "partition" each NUMA node's workers hold and compute
   one slice of rows (in proportion to their number); "replicate" holds one full copy per node. NULL (with a message) on error; free with bittern_string_free. */
char *bittern_matrix_describe(const bittern_matrix *m);
/* Releases the matrix. NULL is a no-op. Must not race with a product on the same matrix. */
void bittern_matrix_free(bittern_matrix *m);

/* ========================================================================================= models */
/*
 * A model is a BitNet b1.58 (2B4T family: general.architecture "bitnet-b1.58" or "bitnet-25") GGUF file,
 * loaded whole: ternary projections packed for the runtime's backend, norms and embeddings as floats.
 * A model is read-only once loaded and shared by any number of contexts, on any threads. Contexts keep
 * their model alive (reference counted): a model lives until bittern_model_free AND the free of its last
 * context, so bittern_model_free may be called while contexts made from it are still in use.
 */
typedef struct bittern_model bittern_model;

typedef struct bittern_model_params {
    uint32_t    size;        /* sizeof(bittern_model_params), set by the default function */
    const char *head_type;   /* storage of the output head (the largest read of every token). NULL: the
                                default, "q8" (int8 in blocks of 32 with a float scale each); "q6" (6-bit values
                                in blocks of 32 with a float scale: 7 bits per weight, 22% less to read);
                                "f16"; "f32" (the file's values exactly). Any other name is
                                BITTERN_E_INVALID_ARGUMENT */
    void      (*progress)(float fraction, void *user_data);   /* may be NULL; see bittern_model_load */
    void       *progress_user_data;   /* passed to progress unchanged */
} bittern_model_params;

/* Defaults: size set, head_type NULL, progress NULL, progress_user_data NULL. */
bittern_model_params bittern_model_default_params(void);
/* Loads the model at `path` for runtime rt (NULL: the process-wide default runtime; the model keeps
   its runtime alive). On success *out is a new handle: free it with bittern_model_free.
   progress, when set, is called on the calling thread during the load with fractions rising from 0
   to 1: 0 once the header is read, after the embeddings, after each layer, and 1.0 last (only on
   success).
   Errors: NULL path or out, bad params size, unknown head_type -> INVALID_ARGUMENT; the file cannot
   be opened or read -> IO; not GGUF, truncated, an unsupported architecture, a missing key or tensor,
   a tensor of the wrong shape or type -> FORMAT (the message names the key or tensor); head_type
   allocation failure -> OUT_OF_MEMORY. On error *out is unchanged. */
bittern_status bittern_model_load(bittern_runtime *rt, const char *path, const bittern_model_params *params,
                                  bittern_model **out);
/* The path of the bundled default model (a small BitNet b1.58 model trained for Bittern's demos and
   tests): $BITTERN_MODEL when set, else bittern-demo.gguf in <dir>/../share/bittern/ or <dir>/, where
   <dir> holds libbittern.so. A new string (free with bittern_string_free); NULL with BITTERN_E_IO and a
   message listing the places searched when it is not found. */
char *bittern_default_model_path(void);
/* Releases the caller's reference. The model's memory goes when its last context is freed too.
   NULL is a no-op; a handle that is not live is ignored. */
void bittern_model_free(bittern_model *m);
/* JSON: {"architecture", "n_vocab", "n_layer", "n_embd", "n_head", "n_head_kv", "n_ff",
   "context_length", "head_type", "head_bytes", "embedding_bytes", "head_tied" (true when the head is
   token_embd), "packed_bytes" (bytes of packed ternary weights), "backend", "path", "tensors":
   [{"name", "type", "dims"}] (file
   order, dims ne0 first)}. NULL (with a message) on error; free with bittern_string_free. Thread-safe. */
char *bittern_model_describe(const bittern_model *m);
/* Vocabulary size (the number of logits per token), or -1 (with a message) for a NULL or dead handle. */
int32_t bittern_model_n_vocab(const bittern_model *m);

/* ======================================================================================= contexts */
/*
 * A context is one sequence being decoded: a KV cache of n_ctx positions, the position (the number of
 * tokens in the cache) and the logits of the last decode call. A context holds a reference to its
 * model. A context is used by one thread at a time (different contexts may decode at once; their work
 * shares the runtime's worker pool).
 */
typedef struct bittern_context bittern_context;

typedef struct bittern_context_params {
    uint32_t size;           /* sizeof(bittern_context_params), set by the default function */
    uint32_t n_ctx;          /* positions of the KV cache; 0: the model's context length */
    bool     logits_all;     /* keep logits for every token of a decode call, not just the last */
    const char *kv_type;     /* KV cache storage: NULL or "f16" (the default), "f32"; other names are
                                BITTERN_E_INVALID_ARGUMENT. (Appended after API.md's fields: a caller built
                                against the shorter struct passes its smaller size and gets the default.) */
} bittern_context_params;

/* Defaults: size set, n_ctx 0, logits_all false, kv_type NULL. */
bittern_context_params bittern_context_default_params(void);
/* Creates an empty context (position 0) on model m; on success *out is a new handle, freed with
   bittern_context_free. The KV cache (n_layer x n_ctx x 2 x n_head_kv x head_dim values) is allocated
   now. Errors: NULL/dead model, NULL out, bad params size, unknown kv_type -> INVALID_ARGUMENT; the cache too large ->
   OUT_OF_MEMORY. */
bittern_status bittern_context_create(bittern_model *m, const bittern_context_params *params,
                                      bittern_context **out);
/* Releases the context (and its reference to the model). NULL is a no-op; a handle that is not live is
   ignored. Must not race with another call on the same context. */
void bittern_context_free(bittern_context *ctx);
/* Appends n tokens at the current position (a prefill when n > 1) and computes the logits of the last
   one (of every one with logits_all). Errors: NULL/dead ctx, NULL tokens, n = 0, a token outside
   [0, n_vocab) -> INVALID_ARGUMENT; position + n > n_ctx -> CONTEXT_FULL. On any of these errors the
   context is unchanged (position, cache and the last call's logits). */
bittern_status bittern_decode(bittern_context *ctx, const int32_t *tokens, size_t n);
/* The logits (n_vocab floats) of token i of the last decode call: i = -1 or i = n-1 (the last token)
   always; other i in [0, n) only with logits_all. Owned by the context, valid until the next decode,
   reset, truncate or free of that context. NULL (with a message) for a NULL/dead ctx, before any
   decode (or after a reset/truncate), or for an i whose logits were not kept. */
const float *bittern_logits(bittern_context *ctx, int32_t i);
/* Forgets every token: position 0, no logits (the cache memory is kept for reuse).
   Errors: NULL/dead ctx -> INVALID_ARGUMENT. */
bittern_status bittern_context_reset(bittern_context *ctx);
/* Keeps the first n_tokens tokens of the cache and drops the rest (to re-decode from there); the kept
   logits are dropped too (bittern_logits is NULL until the next decode). n_tokens equal to the current
   position drops nothing but the logits. Errors: NULL/dead ctx, or n_tokens greater than the number of
   tokens in the cache -> INVALID_ARGUMENT (the context is then unchanged). */
bittern_status bittern_context_truncate(bittern_context *ctx, uint32_t n_tokens);

/* Sets (or, with cb NULL, clears) a callback asked between tokens while this context decodes (prompt
   tokens included); when it returns true the decode stops with BITTERN_E_ABORTED and the context is as it
   was before that call. Called on the decoding thread. Errors: NULL/dead ctx -> INVALID_ARGUMENT. */
typedef bool (*bittern_abort_callback)(void *user_data);
bittern_status bittern_context_set_abort_callback(bittern_context *ctx, bittern_abort_callback cb, void *user_data);
/* Tokens in the context's cache (its position), or -1 (with a message) for a NULL/dead ctx. */
int32_t bittern_context_n_tokens(const bittern_context *ctx);

/* =========================================================================================== text */
/*
 * Tokenizers are read from the GGUF file: byte-level BPE ("gpt2": GPT-2 / Llama-3 / 2B4T vocabularies,
 * pre-tokenizer chosen by tokenizer.ggml.pre) and SentencePiece-style BPE with byte fallback ("llama").
 * A model file without a tokenizer loads, but these functions then fail with BITTERN_E_UNSUPPORTED.
 */

/* Tokenizes len bytes of text (any bytes; text may be NULL only when len is 0). add_special adds BOS
   (and EOS) as the vocabulary asks; parse_special turns the text of control tokens such as "<|eot_id|>"
   into those tokens (user-defined tokens are always recognised).
   returns the number of tokens written; if capacity is too small, -(number needed) and writes nothing;
   INT32_MIN on error (see bittern_last_error) */
int32_t bittern_tokenize(const bittern_model *m, const char *text, size_t len, bool add_special,
                         bool parse_special, int32_t *tokens, int32_t capacity);
/* bytes of the token's text (not NUL-terminated); -(needed) if cap too small; INT32_MIN on error */
int32_t bittern_token_to_piece(const bittern_model *m, int32_t token, char *buf, int32_t cap);
/* The text of n tokens (SentencePiece's added leading space removed; control tokens left out when
   skip_special). Bytes written (not NUL-terminated), -(needed) if cap is too small, INT32_MIN on error.
   The bytes may end inside a UTF-8 character if the tokens do; see bittern_detokenizer for streaming. */
int32_t bittern_detokenize(const bittern_model *m, const int32_t *tokens, int32_t n, bool skip_special,
                           char *buf, int32_t cap);
/* Special tokens: the id, or -1 when the vocabulary has none (or m is not a live model with a tokenizer,
   with a message). */
int32_t bittern_token_bos(const bittern_model *m);
int32_t bittern_token_eos(const bittern_model *m);
int32_t bittern_token_eot(const bittern_model *m);
/* True for tokens that end generation (EOS, end of turn); false otherwise and on error. */
bool bittern_token_is_eog(const bittern_model *m, int32_t token);
/* True for control tokens (BOS, EOS, chat markers); false otherwise and on error. */
bool bittern_token_is_control(const bittern_model *m, int32_t token);

/* A streaming detokenizer: feed tokens one by one and get text that is always valid UTF-8 (bytes of a
   character split across tokens are held until it is complete; bytes that cannot complete one become
   U+FFFD). */
typedef struct bittern_detokenizer bittern_detokenizer;
bittern_status bittern_detokenizer_create(const bittern_model *m, bool skip_special, bittern_detokenizer **out);
/* The text token completes, NUL-terminated (possibly ""), owned by the detokenizer until its next call;
   *len (may be NULL) receives its length. NULL (with a message) on error. token -1 flushes: whatever is
   held, an incomplete character as U+FFFD, and the detokenizer starts over. */
const char *bittern_detokenizer_push(bittern_detokenizer *d, int32_t token, size_t *len);
void bittern_detokenizer_free(bittern_detokenizer *d);

/* ======================================================================================= sampling */
/*
 * A sampler is a chain of stages (like llama.cpp's): each narrows or reshapes the candidate tokens; the
 * last one draws or takes the best. It keeps the recent tokens (for penalties) and a random state seeded
 * by `seed`: the same seed, model, prompt and parameters give the same text on every machine.
 * A sampler (like a detokenizer) is used by one thread at a time.
 */
typedef struct bittern_sampler bittern_sampler;

#define BITTERN_SEED_RANDOM UINT64_MAX

typedef struct bittern_sampler_params {
    uint32_t size;              /* sizeof(bittern_sampler_params), set by the default function */
    float    temperature;       /* 0.8; <= 0: greedy (only bias and penalties apply) */
    int32_t  top_k;             /* 40; 0: off */
    float    top_p;             /* 0.95; 1: off; in (0, 1] */
    float    min_p;             /* 0.05; 0: off; in [0, 1] */
    float    repeat_penalty;    /* 1.1; 1: off; > 0 */
    float    frequency_penalty; /* 0 */
    float    presence_penalty;  /* 0 */
    int32_t  penalty_last_n;    /* 64 tokens (prompt included); -1: all; 0: no penalties */
    uint64_t seed;              /* BITTERN_SEED_RANDOM: drawn from the system */
} bittern_sampler_params;

/* Defaults as above: the chain logit bias -> penalties -> top-k -> top-p -> min-p -> temperature -> draw. */
bittern_sampler_params bittern_sampler_default_params(void);
/* A sampler for model m's vocabulary with the chain params describe (NULL: defaults). Errors: NULL/dead
   model, NULL out, a parameter out of range -> INVALID_ARGUMENT (the message names it). */
bittern_status bittern_sampler_create(const bittern_model *m, const bittern_sampler_params *params,
                                      bittern_sampler **out);
/* An empty chain, to be composed with bittern_sampler_add_*; a chain that ends without greedy/dist
   takes the most likely remaining token. */
bittern_status bittern_sampler_create_chain(const bittern_model *m, uint64_t seed, bittern_sampler **out);
bittern_status bittern_sampler_add_logit_bias(bittern_sampler *s, int32_t n, const int32_t *tokens, const float *bias);
bittern_status bittern_sampler_add_penalties(bittern_sampler *s, int32_t last_n, float repeat, float frequency, float presence);
bittern_status bittern_sampler_add_top_k(bittern_sampler *s, int32_t k);
bittern_status bittern_sampler_add_top_p(bittern_sampler *s, float p);
bittern_status bittern_sampler_add_min_p(bittern_sampler *s, float p);
bittern_status bittern_sampler_add_temperature(bittern_sampler *s, float t);
bittern_status bittern_sampler_add_greedy(bittern_sampler *s);
bittern_status bittern_sampler_add_dist(bittern_sampler *s);
/* Picks a token from the logits of token i of ctx's last decode (as bittern_logits). Does not accept it.
   Returns the token, or a negative status (NULL/dead handles, no logits -> INVALID_ARGUMENT). */
int32_t bittern_sampler_sample(bittern_sampler *s, bittern_context *ctx, int32_t i);
/* Records a token in the penalty window. Errors: NULL/dead s, token outside the vocabulary. */
bittern_status bittern_sampler_accept(bittern_sampler *s, int32_t token);
/* Forgets the recorded tokens and restarts the random sequence from the seed. */
bittern_status bittern_sampler_reset(bittern_sampler *s);
void bittern_sampler_free(bittern_sampler *s);

/* ===================================================================================== generation */

typedef enum bittern_finish_reason {
    BITTERN_FINISH_LENGTH = 0,        /* max_tokens reached */
    BITTERN_FINISH_END = 1,           /* the model produced an end-of-generation token (not emitted) */
    BITTERN_FINISH_STOP = 2,          /* a stop string appeared (it and what follows are not emitted) */
    BITTERN_FINISH_CANCELLED = 3,     /* the callback returned false */
    BITTERN_FINISH_CONTEXT_FULL = 4   /* no room for another token: reset or truncate the context */
} bittern_finish_reason;

typedef struct bittern_generate_result {
    int32_t n_prompt_tokens;   /* prompt tokens decoded by this call */
    int32_t n_reused_tokens;   /* prompt tokens found already in the context (chat) */
    int32_t n_generated;       /* tokens sampled (an end-of-generation token included) */
    int32_t finish_reason;     /* a bittern_finish_reason */
    double  prefill_ms;        /* decoding the prompt */
    double  decode_ms;         /* sampling and decoding the reply */
} bittern_generate_result;

/* Text of the reply as it is produced: always whole UTF-8 characters (text[len] is NUL); token is the
   token that completed it, or -1 for the text flushed at the end. len may be 0. Return false to stop. */
typedef bool (*bittern_text_callback)(const char *text, size_t len, int32_t token, void *user_data);

typedef struct bittern_generate_params {
    uint32_t size;                   /* sizeof(bittern_generate_params), set by the default function */
    int32_t  max_tokens;             /* 256; -1: until the context is full */
    bittern_sampler_params sampling; /* the sampler to build when `sampler` is NULL */
    bittern_sampler *sampler;        /* NULL, or a sampler (chain) of the caller's to use and update */
    const char *const *stop;         /* n_stop stop strings (may be NULL when n_stop is 0) */
    int32_t  n_stop;
    bool     parse_special;          /* generate: turn special-token text in the prompt into tokens */
    bittern_generate_result *result; /* NULL, or filled on success */
} bittern_generate_params;

/* Defaults: max_tokens 256, sampling = bittern_sampler_default_params(), no sampler, no stop strings,
   parse_special false, result NULL. */
bittern_generate_params bittern_generate_default_params(void);
/* Continues the context with the prompt (its bytes as they are; BOS first, and EOS after where the
   vocabulary asks for it, when the context is empty), then samples up to max_tokens tokens, decoding
   each, and streams the text to cb (may be NULL). The penalty window sees the context's tokens, prompt
   included. The context keeps prompt and reply, except a final end-of-generation token and the token in
   which a stop string appeared, so a later call continues it. Errors: NULL/dead ctx, NULL prompt, bad params -> INVALID_ARGUMENT; a prompt longer than the room
   left -> CONTEXT_FULL (context unchanged); no tokenizer -> UNSUPPORTED; the abort callback ->
   ABORTED. Reaching the context's end during the reply is not an error: finish_reason says so. */
bittern_status bittern_generate(bittern_context *ctx, const char *prompt, const bittern_generate_params *params,
                                bittern_text_callback cb, void *user_data);

/* ============================================================================================ chat */

typedef struct bittern_chat_message {
    const char *role;      /* "system", "user" or "assistant" */
    const char *content;
} bittern_chat_message;

/* The prompt text of a conversation in a chat format: template_name "bitnet" (2B4T: "System: ..." /
   "User: ..." / "Assistant: ..." turns ending in <|eot_id|>), "llama3" or "chatml"; NULL: the family
   recognised from the file's tokenizer.chat_template. With add_assistant_prompt it ends where the
   assistant's reply starts. Roles and contents are UTF-8; invalid bytes in them are rendered as U+FFFD.
   A new string (free with bittern_string_free), NULL with a message on error
   (unknown role or template -> INVALID_ARGUMENT; no or unrecognised template in the file -> UNSUPPORTED). */
char *bittern_chat_render(const bittern_model *m, const char *template_name, const bittern_chat_message *messages,
                          size_t n, bool add_assistant_prompt);
/* Generates the assistant's next reply to the conversation (the last message is usually the user's).
   The rendered conversation is compared with the tokens already in ctx and only the part after their
   common prefix is decoded, so calling this again with the reply and a new user message appended reuses
   the cache. Stops at the end-of-turn token. When the template ends in a space ("Assistant: "), the
   prompt stops before it and the reply's first token carries it (as the model saw text in training);
   the space is not part of the text delivered. The rendered conversation is tokenized with special
   tokens parsed, as Hugging Face and llama.cpp do: a message containing "<|eot_id|>" gets that control
   token (filter untrusted content if that matters). Errors as bittern_generate and bittern_chat_render;
   a prompt that does not fit leaves the context unchanged, while an abort during the prefill leaves it
   holding the common prefix. */
bittern_status bittern_chat(bittern_context *ctx, const char *template_name, const bittern_chat_message *messages,
                            size_t n, const bittern_generate_params *params, bittern_text_callback cb, void *user_data);

/* ======================================================================================= convert */

typedef struct bittern_convert_params {
    uint32_t size;              /* sizeof(bittern_convert_params), set by the default function */
    const char *weight_type;    /* ternary projections: "i2_s" (NULL: default), "tq2_0", "tq1_0", "f16", "f32" */
    const char *head_type;      /* token embedding / head: NULL = "f16" for convert and "keep" for quantize;
                                   "f16", "q8" (Q8_0), "f32" */
    float zero_threshold;       /* absmean threshold for float (master) weights: 0.5 (round to nearest) */
    const char *architecture;   /* convert only: general.architecture to write; NULL chooses ("bitnet" for
                                   TQ types, which llama.cpp reads; "bitnet-b1.58" otherwise; "llama") */
} bittern_convert_params;

/* Defaults: i2_s weights, f16 head (convert) / head kept (quantize), zero_threshold 0.5, architecture NULL. */
bittern_convert_params bittern_convert_default_params(void);
/* Converts a Hugging Face checkpoint directory (config.json; model.safetensors, or the shards that
   model.safetensors.index.json names; tokenizer.json (byte-level BPE) or a SentencePiece tokenizer.model;
   tokenizer_config.json) to a GGUF file at out_path.
   Architectures BitNetForCausalLM (bf16 master weights or the packed uint8 checkpoint with weight_scale),
   BitnetForCausalLM (1bitLLM), LlamaForCausalLM with ternary weights. Weights already ternary are kept
   exact; master weights are absmean-ternarized. out_path appears only when complete. Errors: NULL
   arguments, bad params -> INVALID_ARGUMENT; missing files -> IO; malformed, truncated or inconsistent
   files -> FORMAT; unknown architecture, tokenizer kind or a shape the type cannot hold -> UNSUPPORTED. */
bittern_status bittern_convert(const char *hf_dir, const char *out_path, const bittern_convert_params *params);
/* Re-encodes a GGUF model's ternary projections (exactly; float-valued ones through absmean) and, when
   head_type is set, its token embedding / output head; everything else is copied. Errors as
   bittern_convert; out_path naming in_path -> INVALID_ARGUMENT. */
bittern_status bittern_quantize(const char *in_path, const char *out_path, const bittern_convert_params *params);

#ifdef __cplusplus
}
#endif
#endif /* BITTERN_H */
