/* Shares of a job with stealing: a range of units split into one contiguous part per worker. Each worker
   takes its own part from the front, a run at a time, so it still reads its rows as one stream; once its
   part is empty it takes the back half of what the fullest other part has left. A worker that runs late
   (another tenant on its CPU, a colder cache, a longer hand-off) is then relieved by the others instead of
   holding up the whole job.

   A part is one 64-bit word, next | end << 32, alone on its cache line; the owner advances `next` and
   thieves lower `end`, both by compare-and-swap on the whole word, so each unit is handed out exactly
   once. The ordering is relaxed: the words only divide the work, and what the workers write is published
   by the pool's join. */
#include <stdatomic.h>
#include "include/bittern_support.h"

enum { PART_BYTES = 64 };

static _Atomic uint64_t *part(void *shares, size_t i) {
    return (_Atomic uint64_t *)(void *)((char *)shares + i * PART_BYTES);
}

static uint64_t span(uint32_t next, uint32_t end) { return (uint64_t)end << 32 | next; }

size_t bts_shares_bytes(size_t parts) { return parts * PART_BYTES; }

void bts_shares_set(void *shares, size_t i, uint32_t begin, uint32_t end) {
    atomic_store_explicit(part(shares, i), span(begin, end), memory_order_relaxed);
}

/* A run of `run` units, but never fewer than min_run (nor than 1) nor more than `left`. */
static uint32_t clamp_run(uint32_t run, uint32_t min_run, uint32_t left) {
    if (run < min_run) run = min_run;
    if (run == 0) run = 1;
    return run < left ? run : left;
}

int bts_shares_next(void *shares, size_t parts, size_t self, uint32_t min_run, uint32_t *begin, uint32_t *end) {
    if (self < parts) { /* own part: half of what is left (decreasing runs keep the tail fine-grained) */
        _Atomic uint64_t *p = part(shares, self);
        uint64_t v = atomic_load_explicit(p, memory_order_relaxed);
        for (;;) {
            uint32_t next = (uint32_t)v, stop = (uint32_t)(v >> 32);
            if (next >= stop) break;
            uint32_t run = clamp_run((stop - next) / 2, min_run, stop - next);
            if (atomic_compare_exchange_weak_explicit(p, &v, span(next + run, stop), memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *begin = next;
                *end = next + run;
                return 1;
            }
        }
    }
    for (;;) { /* steal: the back half of the part with the most left */
        size_t victim = parts;
        uint32_t most = 0;
        for (size_t i = 0; i < parts; i++) {
            if (i == self) continue;
            uint64_t v = atomic_load_explicit(part(shares, i), memory_order_relaxed);
            uint32_t next = (uint32_t)v, stop = (uint32_t)(v >> 32);
            if (next < stop && stop - next > most) { most = stop - next; victim = i; }
        }
        if (victim == parts) return 0;
        _Atomic uint64_t *p = part(shares, victim);
        uint64_t v = atomic_load_explicit(p, memory_order_relaxed);
        uint32_t next = (uint32_t)v, stop = (uint32_t)(v >> 32);
        if (next >= stop) continue; /* emptied meanwhile: look again */
        uint32_t run = clamp_run((stop - next) / 2, min_run, stop - next);
        if (atomic_compare_exchange_strong_explicit(p, &v, span(next, stop - run), memory_order_relaxed,
                                                    memory_order_relaxed)) {
            *begin = stop - run;
            *end = stop;
            return 1;
        }
    }
}
