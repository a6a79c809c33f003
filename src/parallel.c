/*
 * parallel.c - chunked parallel loops on an OpenMP team.
 */
#include "parallel.h"

#include <omp.h>
#include <stdatomic.h>

void recs_parallel_for(size_t n, size_t chunk, unsigned threads, recs_parallel_fn fn, void *ctx)
{
    atomic_size_t next = 0;

    if (chunk == 0)
        chunk = 1;
    if (threads <= 1 || n <= chunk) {
        if (n > 0)
            fn(ctx, 0, 0, n);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        unsigned worker = (unsigned)omp_get_thread_num();
        size_t begin;
        while ((begin = atomic_fetch_add(&next, chunk)) < n)
            fn(ctx, worker, begin, begin + chunk < n ? begin + chunk : n);
    }
}
