/*
 * rank.c - parallel scoring and top-k selection.
 */
#include "rank.h"

#include <stdbool.h>
#include <stdlib.h>

/* Below this many candidates a parallel region costs more than it saves. */
#define PARALLEL_MIN_CANDIDATES 2048

/* true if a ranks before b: more matches, then the smaller id. */
static bool ranks_before(const struct recs_catalog *c, const struct recs_ranked *a,
                         const struct recs_ranked *b)
{
    if (a->matches != b->matches)
        return a->matches > b->matches;
    return recs_catalog_product(c, a->index)->id < recs_catalog_product(c, b->index)->id;
}

/* heap[0] is the worst of the kept entries (a min-heap by rank). */
static void sift_down(const struct recs_catalog *c, struct recs_ranked *heap, size_t n, size_t i)
{
    for (;;) {
        size_t worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && ranks_before(c, &heap[worst], &heap[l]))
            worst = l;
        if (r < n && ranks_before(c, &heap[worst], &heap[r]))
            worst = r;
        if (worst == i)
            return;
        struct recs_ranked t = heap[i];
        heap[i] = heap[worst];
        heap[worst] = t;
        i = worst;
    }
}

static void sift_up(const struct recs_catalog *c, struct recs_ranked *heap, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ranks_before(c, &heap[parent], &heap[i]))
            return;
        struct recs_ranked t = heap[i];
        heap[i] = heap[parent];
        heap[parent] = t;
        i = parent;
    }
}

int recs_rank_top(const struct recs_minhash *mh, const struct recs_catalog *catalog,
                  size_t target, size_t limit, unsigned threads, struct recs_ranked *out,
                  size_t *count)
{
    size_t n = recs_catalog_count(catalog), kept = 0;
    const struct recs_product *t = recs_catalog_product(catalog, target);
    uint32_t *matches = malloc((n ? n : 1) * sizeof(*matches));

    if (matches == NULL)
        return -1;
    /* Each candidate writes only its own slot; the selection below is
     * sequential, so the ranking never depends on the thread count. */
#pragma omp parallel for num_threads(threads ? threads : 1) if (n >= PARALLEL_MIN_CANDIDATES) \
    schedule(static)
    for (size_t i = 0; i < n; i++) {
        const struct recs_product *p = recs_catalog_product(catalog, i);
        matches[i] = t->has_signature && p->has_signature
                         ? recs_minhash_matches(mh, t->signature, p->signature)
                         : 0;
    }

    for (size_t i = 0; i < n && limit > 0; i++) {
        struct recs_ranked r = {.index = i, .matches = matches[i]};
        if (i == target)
            continue;
        if (kept < limit) {
            out[kept] = r;
            sift_up(catalog, out, kept++);
        } else if (ranks_before(catalog, &r, &out[0])) {
            out[0] = r;
            sift_down(catalog, out, kept, 0);
        }
    }
    /* heap-sort in place: repeatedly move the worst to the end */
    for (size_t end = kept; end > 1; end--) {
        struct recs_ranked worst = out[0];
        out[0] = out[end - 1];
        out[end - 1] = worst;
        sift_down(catalog, out, end - 1, 0);
    }
    free(matches);
    *count = kept;
    return 0;
}
