/*
 * parallel.h - the one way recs spreads a loop over cores. The range is cut
 * into chunks handed out by an atomic counter to an OpenMP team; with one
 * thread the function runs directly, without touching the OpenMP runtime at
 * all (libgomp ends the process when one of its own allocations fails, so
 * the common single-threaded path under load must not depend on it).
 */
#ifndef RECS_PARALLEL_H
#define RECS_PARALLEL_H

#include <stddef.h>

/* Called with [begin, end) of the range; worker is 0..threads-1 and is the
 * same for every chunk one thread runs, so it can index per-thread state. */
typedef void (*recs_parallel_fn)(void *ctx, unsigned worker, size_t begin, size_t end);

/* Runs fn over [0, n) in chunks of chunk items on up to threads threads
 * (directly on the caller when threads <= 1 or n <= chunk). Returns when
 * every chunk is done. */
void recs_parallel_for(size_t n, size_t chunk, unsigned threads, recs_parallel_fn fn, void *ctx);

#endif
