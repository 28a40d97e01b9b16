/* Internal C support for the Swift core (module BitternSupport): the public C types, the thread-local
   error message and the worker pool. Internal symbols use the bts_ prefix (hidden by the version script). */
#ifndef BITTERN_SUPPORT_H
#define BITTERN_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include "../../../include/bittern.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- this thread's last error message (what bittern_last_error returns) ---- */
void bts_set_error(const char *message);
const char *bts_last_error(void);
/* The status of this thread's last failure (0 before any). */
void bts_set_status(int status);
int bts_last_status(void);

/* ---- worker pool ----
   n workers in all; worker 0 is the calling thread, workers 1..n-1 are threads that spin briefly
   after a job and then sleep on a condition variable, so an idle library burns no CPU.
   bts_pool_run calls fn(ctx, i, n) once for every worker i and returns when all have finished.
   Concurrent callers are serialized (queued), never oversubscribed. */
typedef struct bts_pool bts_pool;
typedef void (*bts_task_fn)(void *ctx, size_t worker, size_t n_workers);
bts_pool *bts_pool_create(size_t n_workers);   /* NULL on failure (errno set) */
/* Same, with worker i >= 1 bound to CPU (OS PU index) cpus[i] when cpus[i] >= 0; cpus[0] is ignored:
   worker 0 is the caller's thread and is never re-bound (it belongs to the application). A CPU that
   cannot be bound leaves that worker unpinned (see bts_pool_worker_pinned). cpus may be NULL. */
bts_pool *bts_pool_create_pinned(size_t n_workers, const int *cpus);
/* 1 when worker `worker` runs bound to its CPU, else 0 (always 0 for worker 0). */
int bts_pool_worker_pinned(const bts_pool *pool, size_t worker);
size_t bts_pool_size(const bts_pool *pool);
void bts_pool_run(bts_pool *pool, bts_task_fn fn, void *ctx);
void bts_pool_free(bts_pool *pool);

/* ---- shares of a job, with stealing (shares.c) ----
   Units [0, n) split into `parts` contiguous parts, one per worker: bts_shares_next gives worker `self`
   its next run of units, from the front of its own part, then from the back of others' parts once its
   own is empty; 0 when no unit is left. Runs are at least min_run units (>= 1) unless less is left. The
   memory (bts_shares_bytes(parts), 64-byte aligned) is the caller's; set every part before the job. */
size_t bts_shares_bytes(size_t parts);
void bts_shares_set(void *shares, size_t part, uint32_t begin, uint32_t end);
int bts_shares_next(void *shares, size_t parts, size_t self, uint32_t min_run, uint32_t *begin, uint32_t *end);

/* The CPU the calling thread runs on now (sched_getcpu), -1 if unknown. */
int bts_current_cpu(void);

/* ---- aligned memory ---- */
void *bts_aligned_alloc(size_t alignment, size_t size); /* NULL on failure or size 0 */
/* Memory that kernels stream through once per token (packed weights, the head): 2 MB-aligned and marked
   for transparent huge pages when it spans at least one, else 64-byte aligned. Freed with
   bts_aligned_free; not yet touched. */
void *bts_alloc_streamed(size_t size);
void bts_aligned_free(void *p);

/* Path of the executable or shared library that contains `address` (as the loader recorded it), or
   NULL. Used to find files installed next to libbittern.so. */
const char *bts_image_path(const void *address);

#ifdef __cplusplus
}
#endif
#endif
