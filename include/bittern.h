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
 * oversubscribed.
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
    BITTERN_E_CONTEXT_FULL = -7      /* a decode would pass the context length */
};

/* Message of the last failure on this thread ("no error" if none); never NULL. Owned by the library,
   valid until this thread's next failing call. */
const char *bittern_last_error(void);

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

#ifdef __cplusplus
}
#endif
#endif /* BITTERN_H */
