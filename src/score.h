/*
 * score.h - the exact ranking (docs/SCORING.md): scores the candidates of a
 * snapshot against one or more targets and returns the best, matches
 * descending, then id ascending.
 *
 * This is the one module that scores. With signatures in the snapshot it
 * counts matches through the inverted index and skips, exactly, the work
 * that cannot change the top; without them (the cache turned off) it hashes
 * every candidate afresh. Work is spread over an OpenMP team, each
 * candidate writing its own slot; the selection is a bounded heap, so the
 * ranking never depends on the thread count and never sorts the catalog.
 */
#ifndef RECS_SCORE_H
#define RECS_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "minhash.h"

#define RECS_SCORE_TARGETS_MAX 20u

struct recs_ranked {
    size_t index;     /* into the snapshot */
    uint32_t matches; /* summed over the targets; score = matches / (K * targets) */
};

/* What to rank. */
struct recs_score_query {
    const size_t *targets; /* snapshot indexes of the live targets, distinct */
    size_t ntargets;       /* 1 .. RECS_SCORE_TARGETS_MAX */
    /* The candidates, one bit per snapshot index (bit i % 64 of word
     * i / 64); NULL: every live product that is not a target. A given
     * bitmap must hold live products and no target. */
    const uint64_t *eligible;
    size_t want; /* how many of the best candidates to return */
};

/* Ranks the candidates with up to threads OpenMP threads. out has room for
 * query->want entries; *count is set to min(want, candidates), best first.
 * Returns 0, or -1 when memory runs out. */
int recs_score_rank(const struct recs_catalog *catalog, const struct recs_minhash *mh,
                    const struct recs_score_query *query, unsigned threads, struct recs_ranked *out,
                    size_t *count);

#endif
