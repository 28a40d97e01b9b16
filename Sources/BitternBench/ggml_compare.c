/* Times llama.cpp's TQ2_0 matrix product through ggml's public graph API, loaded with dlopen from a
   llama-cpp-python install (benchmarks/setup_llamacpp.sh), so `bittern bench kernels` can print the
   ratio on the same shapes in the same run. Nothing here is linked into the library.
   The few ggml declarations below mirror ggml.h / ggml-cpu.h of llama-cpp-python 0.3.36 (the version
   the setup script pins); a different version may change them. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "include/bittern_bench.h"

struct ggml_context;
struct ggml_tensor;
struct ggml_cgraph;
struct ggml_init_params { size_t mem_size; void *mem_buffer; bool no_alloc; };
struct ggml_cplan {
    size_t work_size;
    uint8_t *work_data;
    int n_threads;
    void *threadpool;
    bool (*abort_callback)(void *data);
    void *abort_callback_data;
    bool use_ref;
};
enum { GGML_TYPE_F32 = 0, GGML_TYPE_TQ2_0 = 35 };

static struct {
    int loaded;
    struct ggml_context *(*init)(struct ggml_init_params);
    void (*free_ctx)(struct ggml_context *);
    struct ggml_tensor *(*new_tensor_2d)(struct ggml_context *, int, int64_t, int64_t);
    struct ggml_tensor *(*mul_mat)(struct ggml_context *, struct ggml_tensor *, struct ggml_tensor *);
    struct ggml_cgraph *(*new_graph)(struct ggml_context *);
    void (*build_forward_expand)(struct ggml_cgraph *, struct ggml_tensor *);
    struct ggml_cplan (*graph_plan)(const struct ggml_cgraph *, int, void *);
    int (*graph_compute)(struct ggml_cgraph *, struct ggml_cplan *);
    size_t (*quantize_chunk)(int, const float *, void *, int64_t, int64_t, int64_t, const float *);
    size_t (*row_size)(int, int64_t);
    void *(*get_data)(const struct ggml_tensor *);
    void (*cpu_init)(void);
} g;

static char load_error[512];

const char *bb_ggml_error(void) { return load_error; }

int bb_ggml_load(const char *libdir) {
    if (g.loaded) return 0;
    char path[1024];
    const char *names[] = {"libggml-base.so", "libggml-cpu.so", "libggml.so"};
    void *h[3];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", libdir, names[i]);
        h[i] = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
        if (!h[i]) { snprintf(load_error, sizeof load_error, "%s", dlerror()); return -1; }
    }
#define SYM(field, name, lib)                                                                          \
    do {                                                                                               \
        *(void **)&g.field = dlsym(h[lib], name);                                                      \
        if (!g.field) { snprintf(load_error, sizeof load_error, "ggml: no symbol %s", name); return -1; } \
    } while (0)
    SYM(init, "ggml_init", 0);
    SYM(free_ctx, "ggml_free", 0);
    SYM(new_tensor_2d, "ggml_new_tensor_2d", 0);
    SYM(mul_mat, "ggml_mul_mat", 0);
    SYM(new_graph, "ggml_new_graph", 0);
    SYM(build_forward_expand, "ggml_build_forward_expand", 0);
    SYM(quantize_chunk, "ggml_quantize_chunk", 0);
    SYM(row_size, "ggml_row_size", 0);
    SYM(get_data, "ggml_get_data", 0);
    SYM(graph_plan, "ggml_graph_plan", 1);
    SYM(graph_compute, "ggml_graph_compute", 1);
    SYM(cpu_init, "ggml_cpu_init", 1);
#undef SYM
    g.cpu_init();
    g.loaded = 1;
    return 0;
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bb_ggml_tq2_0_mul_mat(int64_t rows, int64_t cols, int64_t n, int threads, int samples) {
    if (!g.loaded || cols % 256 != 0 || samples < 1) return -1;
    size_t wbytes = g.row_size(GGML_TYPE_TQ2_0, cols) * (size_t)rows;
    size_t mem = wbytes + (size_t)(cols + rows) * n * 4 + (64u << 20);
    struct ggml_context *ctx = g.init((struct ggml_init_params){mem, NULL, false});
    if (!ctx) return -1;
    struct ggml_tensor *w = g.new_tensor_2d(ctx, GGML_TYPE_TQ2_0, cols, rows);
    struct ggml_tensor *x = g.new_tensor_2d(ctx, GGML_TYPE_F32, cols, n);
    /* ternary-valued float weights, quantized by ggml itself */
    float *src = malloc((size_t)cols * 4);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    size_t row_bytes = g.row_size(GGML_TYPE_TQ2_0, cols);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < cols; j++) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; src[j] = (float)((int)(s % 3) - 1); }
        g.quantize_chunk(GGML_TYPE_TQ2_0, src, (char *)g.get_data(w) + r * row_bytes, 0, 1, cols, NULL);
    }
    free(src);
    float *xd = g.get_data(x);
    for (int64_t i = 0; i < cols * n; i++) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; xd[i] = (float)(int)(s % 255) - 127.0f; }
    struct ggml_tensor *y = g.mul_mat(ctx, w, x);
    struct ggml_cgraph *graph = g.new_graph(ctx);
    g.build_forward_expand(graph, y);
    struct ggml_cplan plan = g.graph_plan(graph, threads, NULL);
    uint8_t *work = plan.work_size ? malloc(plan.work_size) : NULL;
    plan.work_data = work;
    g.graph_compute(graph, &plan); /* warm-up */
    double once = seconds();
    g.graph_compute(graph, &plan);
    once = seconds() - once;
    int reps = once > 0.005 ? 1 : (int)(0.005 / (once > 1e-7 ? once : 1e-7));
    double *t = malloc(sizeof(double) * samples);
    for (int k = 0; k < samples; k++) {
        double t0 = seconds();
        for (int r = 0; r < reps; r++) g.graph_compute(graph, &plan);
        t[k] = (seconds() - t0) / reps;
    }
    qsort(t, samples, sizeof(double), cmp_double);
    double med = t[samples / 2];
    free(t);
    free(work);
    g.free_ctx(ctx);
    return med;
}
