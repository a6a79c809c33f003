/*
 * rank.c - parallel scoring and top-k selection.
 *
 * A snapshot with signatures scores through its own index (catalog.h). One
 * without (the cache turned off) gets every signature computed here, each
 * thread hashing its candidates into its own buffer and comparing at once,
 * so nothing of size n x K is ever allocated.
 */
#include "rank.h"

#include "parallel.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Candidates one thread signs at a time: a signature takes microseconds, so
 * below this a second thread costs more than it saves. */
#define SIGN_CHUNK 16

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

/* Signs p into sig; a text too long to tokenize has no signature. */
static int sign_product(const struct recs_minhash *mh, struct recs_scratch *scratch,
                        const struct recs_product *p, uint64_t *sig, bool *has)
{
    size_t title_len = strlen(p->title), description_len = strlen(p->description);

    *has = false;
    if (!recs_minhash_text_fits(title_len, description_len))
        return 0;
    return recs_minhash_signature(mh, scratch, p->title, title_len, p->description, description_len,
                                  sig, has);
}

struct sign_job {
    const struct recs_minhash *mh;
    const struct recs_catalog *catalog;
    const uint64_t *target_sig;
    uint32_t *matches;
    atomic_int failed;
};

static void sign_range(void *ctx, unsigned worker, size_t begin, size_t end)
{
    struct sign_job *job = ctx;
    struct recs_scratch *scratch = recs_scratch_create();
    uint64_t *sig = malloc(recs_minhash_k(job->mh) * sizeof(*sig));

    (void)worker;
    for (size_t i = begin; i < end; i++) {
        bool has = false;
        job->matches[i] = 0;
        if (scratch == NULL || sig == NULL ||
            sign_product(job->mh, scratch, recs_catalog_product(job->catalog, i), sig, &has) != 0) {
            atomic_store(&job->failed, 1);
            break;
        }
        if (has)
            job->matches[i] = recs_minhash_matches(job->mh, job->target_sig, sig);
    }
    free(sig);
    recs_scratch_destroy(scratch);
}

/* Hashes the target and every candidate afresh and compares as it goes. */
static int sign_and_compare(const struct recs_minhash *mh, const struct recs_catalog *catalog,
                            size_t target, unsigned threads, uint32_t *matches)
{
    size_t n = recs_catalog_count(catalog);
    uint64_t *target_sig = malloc(recs_minhash_k(mh) * sizeof(*target_sig));
    struct recs_scratch *scratch = recs_scratch_create();
    struct sign_job job = {.mh = mh, .catalog = catalog, .matches = matches};
    bool target_has = false;
    int rc = -1;

    if (target_sig == NULL || scratch == NULL ||
        sign_product(mh, scratch, recs_catalog_product(catalog, target), target_sig, &target_has) !=
            0)
        goto out;
    if (!target_has) {
        memset(matches, 0, n * sizeof(*matches));
        rc = 0;
        goto out;
    }
    job.target_sig = target_sig;
    recs_parallel_for(n, SIGN_CHUNK, threads, sign_range, &job);
    rc = atomic_load(&job.failed) ? -1 : 0;
out:
    free(target_sig);
    recs_scratch_destroy(scratch);
    return rc;
}

int recs_rank_top(const struct recs_minhash *mh, const struct recs_catalog *catalog, size_t target,
                  size_t limit, unsigned threads, struct recs_ranked *out, size_t *count)
{
    size_t n = recs_catalog_count(catalog), kept = 0;
    uint32_t *matches = malloc((n ? n : 1) * sizeof(*matches));

    if (matches == NULL)
        return -1;
    threads = threads ? threads : 1;
    /* Each candidate writes only its own slot; the selection below is
     * sequential, so the ranking never depends on the thread count. */
    if ((recs_catalog_has_signatures(catalog)
             ? recs_catalog_score_top(catalog, mh, target, limit, threads, matches)
             : sign_and_compare(mh, catalog, target, threads, matches)) != 0) {
        free(matches);
        return -1;
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
