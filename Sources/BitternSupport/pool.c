/* A small fork-join pool for row-parallel kernels. Decode calls it once per matrix per token, a few
   hundred times per token, so the hand-off must cost microseconds: workers spin on a generation counter
   for a while after each job, then park on a condition variable (no CPU burnt while idle). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "include/bittern_support.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ volatile("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* ~50-100 microseconds of spinning before a worker (or the waiting caller) parks. */
enum { SPIN_ROUNDS = 20000 };

struct worker_arg { bts_pool *pool; size_t index; };

struct bts_pool {
    size_t n;
    pthread_t *threads;
    unsigned char *pinned;      /* per worker: 1 when its thread was created bound to its CPU */
    struct worker_arg *args;
    pthread_mutex_t run_lock;   /* serializes callers of bts_pool_run */
    pthread_mutex_t lock;       /* guards parking and wake-ups */
    pthread_cond_t work_cv;
    pthread_cond_t done_cv;
    _Atomic uint64_t generation;
    _Atomic size_t remaining;
    _Atomic int stop;
    bts_task_fn fn;
    void *ctx;
};

static void *worker_main(void *p) {
    struct worker_arg *arg = p;
    bts_pool *pool = arg->pool;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        for (int i = 0; i < SPIN_ROUNDS && g == seen; i++) {
            cpu_relax();
            g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&pool->lock);
            while ((g = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen)
                pthread_cond_wait(&pool->work_cv, &pool->lock);
            pthread_mutex_unlock(&pool->lock);
        }
        seen = g;
        if (atomic_load_explicit(&pool->stop, memory_order_acquire)) return NULL;
        pool->fn(pool->ctx, arg->index, pool->n);
        if (atomic_fetch_sub_explicit(&pool->remaining, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done_cv);
            pthread_mutex_unlock(&pool->lock);
        }
    }
}

bts_pool *bts_pool_create(size_t n_workers) { return bts_pool_create_pinned(n_workers, NULL); }

/* Starts worker i (i >= 1) bound to cpus[i] when cpus is given and cpus[i] >= 0. The affinity is set
   through the thread attributes, so the thread never runs elsewhere (its stack is first touched on its
   CPU's node). A CPU the kernel refuses (offline, outside our cpuset) leaves that worker unpinned. */
static int start_worker(bts_pool *pool, size_t i, const int *cpus) {
    struct worker_arg *arg = &pool->args[i - 1];
    if (cpus && cpus[i] >= 0 && cpus[i] < CPU_SETSIZE) {
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) == 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpus[i], &set);
            int rc = pthread_attr_setaffinity_np(&attr, sizeof set, &set);
            if (rc == 0) rc = pthread_create(&pool->threads[i - 1], &attr, worker_main, arg);
            pthread_attr_destroy(&attr);
            if (rc == 0) { pool->pinned[i] = 1; return 0; }
        }
    }
    return pthread_create(&pool->threads[i - 1], NULL, worker_main, arg);
}

bts_pool *bts_pool_create_pinned(size_t n_workers, const int *cpus) {
    if (n_workers == 0) { errno = EINVAL; return NULL; }
    bts_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n = n_workers;
    pthread_mutex_init(&pool->run_lock, NULL);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work_cv, NULL);
    pthread_cond_init(&pool->done_cv, NULL);
    pool->pinned = calloc(n_workers, 1);
    if (!pool->pinned) { free(pool); errno = ENOMEM; return NULL; }
    if (n_workers > 1) {
        pool->threads = calloc(n_workers - 1, sizeof(pthread_t));
        pool->args = calloc(n_workers - 1, sizeof(struct worker_arg));
        if (!pool->threads || !pool->args) {
            free(pool->threads); free(pool->args); free(pool->pinned); free(pool);
            errno = ENOMEM;
            return NULL;
        }
        for (size_t i = 1; i < n_workers; i++) {
            pool->args[i - 1] = (struct worker_arg){pool, i};
            int rc = start_worker(pool, i, cpus);
            if (rc != 0) {
                pool->n = i; /* shut down the ones that started */
                bts_pool_free(pool);
                errno = rc;
                return NULL;
            }
        }
    }
    return pool;
}

size_t bts_pool_size(const bts_pool *pool) { return pool ? pool->n : 0; }

int bts_pool_worker_pinned(const bts_pool *pool, size_t worker) {
    return pool && worker < pool->n ? pool->pinned[worker] : 0;
}

void bts_pool_run(bts_pool *pool, bts_task_fn fn, void *ctx) {
    if (pool->n == 1) { fn(ctx, 0, 1); return; }
    pthread_mutex_lock(&pool->run_lock);
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store_explicit(&pool->remaining, pool->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->lock);
    fn(ctx, 0, pool->n);
    for (int i = 0; i < SPIN_ROUNDS && atomic_load_explicit(&pool->remaining, memory_order_acquire) != 0; i++)
        cpu_relax();
    if (atomic_load_explicit(&pool->remaining, memory_order_acquire) != 0) {
        pthread_mutex_lock(&pool->lock);
        while (atomic_load_explicit(&pool->remaining, memory_order_acquire) != 0)
            pthread_cond_wait(&pool->done_cv, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->run_lock);
}

void bts_pool_free(bts_pool *pool) {
    if (!pool) return;
    if (pool->n > 1) {
        pthread_mutex_lock(&pool->lock);
        atomic_store_explicit(&pool->stop, 1, memory_order_release);
        atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
        pthread_cond_broadcast(&pool->work_cv);
        pthread_mutex_unlock(&pool->lock);
        for (size_t i = 1; i < pool->n; i++) pthread_join(pool->threads[i - 1], NULL);
    }
    pthread_mutex_destroy(&pool->run_lock);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->work_cv);
    pthread_cond_destroy(&pool->done_cv);
    free(pool->threads);
    free(pool->args);
    free(pool->pinned);
    free(pool);
}

int bts_current_cpu(void) { return sched_getcpu(); }

void *bts_aligned_alloc(size_t alignment, size_t size) {
    if (size == 0) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, alignment, size) != 0) return NULL;
    return p;
}

void bts_aligned_free(void *p) { free(p); }

void *bts_alloc_streamed(size_t size) {
    enum { HUGE_PAGE = 2u << 20 };
    if (size < HUGE_PAGE) return bts_aligned_alloc(64, size);
    void *p = bts_aligned_alloc(HUGE_PAGE, size);
#ifdef MADV_HUGEPAGE
    /* Before the first touch, so the kernel can back it with huge pages where THP is in "madvise" mode;
       a hint only: it may refuse (THP off, fragmented memory) and the memory works the same. */
    if (p) (void)madvise(p, size / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE);
#endif
    return p;
}
