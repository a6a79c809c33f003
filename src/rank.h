/*
 * rank.h - scores every candidate against a target and keeps the best
 * `limit` (SCORING.md sections 5 and 6): matches descending, then id
 * ascending. The comparison runs as an OpenMP parallel for, each candidate
 * writing its own slot; the selection is a bounded heap, so ranking is
 * O(n log limit) and never sorts the whole catalog.
 */
#ifndef RECS_RANK_H
#define RECS_RANK_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "minhash.h"

struct recs_ranked {
    size_t index;     /* into the catalog snapshot */
    uint32_t matches; /* score = matches / K */
};

/* Ranks every product of catalog except the target against it, with up to
 * threads OpenMP threads. out has room for limit entries; *count is set to
 * min(limit, candidates). Returns 0, or -1 when memory runs out. */
int recs_rank_top(const struct recs_minhash *mh, const struct recs_catalog *catalog, size_t target,
                  size_t limit, unsigned threads, struct recs_ranked *out, size_t *count);

#endif
