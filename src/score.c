/*
 * score.c - counting, pruning and selection for the exact ranking.
 *
 * For one target, every candidate's matches are the number of positions
 * whose postings list (of the target's id there) holds it. Counting through
 * the index costs one increment per matching pair instead of n x K
 * comparisons; when the lists are so long that this nears a scan of the ids,
 * the ids are scanned with the SIMD kernel instead. Several targets (a
 * cart) count position by position: targets with the same id there share
 * one list, counted once with their number as its weight. A delta's
 * products (see catalog_private.h) are not in the index and are always
 * compared directly; its dead base rows are counted but never candidates.
 *
 * Pruning: a sample of likely winners (candidates in the targets' rarest
 * lists) gives theta, a sum that at least `want` candidates reach. A
 * product holds one id per position, so leaving out all of a position's
 * lists costs it at most their largest weight, 1 when the targets differ
 * there, however many they are; leaving out positions of cost s together,
 * a candidate whose count over the others stays below theta - s cannot
 * reach theta and needs no exact score. The positions that save the most
 * per unit of cost are left out, and then counted back as long as each one
 * saves more exact scores than its length costs, judged from the counts.
 * This stays exact under any candidate rule because the sample only holds
 * candidates.
 */
#include "score.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_private.h"
#include "parallel.h"

/* Measured on the synthetic catalogs: one postings increment costs about
 * the time of scanning this many ids. */
#define INDEX_VS_SCAN 4
/* Below these amounts of work a parallel region costs more than it saves
 * (PARALLEL_MIN_SCAN is also the chunk of products a thread takes). */
#define PARALLEL_MIN_HITS 100000
#define PARALLEL_MIN_SCAN 2048
/* Below this many increments, pruning (ordering the K positions and a
 * sample of exact comparisons) costs more than it can save. */
#define PRUNE_MIN_HITS 200000
/* Candidates one thread signs at a time when the cache is off: a signature
 * takes microseconds, so below this a second thread costs more than it
 * saves. */
#define SIGN_CHUNK 16

static bool bit_set(const uint64_t *bits, size_t i)
{
    return bits[i / 64] >> (i % 64) & 1u;
}

/* How many of the first n bits are set. */
static size_t count_bits(const uint64_t *bits, size_t n)
{
    size_t count = 0;
    for (size_t w = 0; w < (n + 63) / 64; w++)
        count += (size_t)__builtin_popcountll(bits[w]);
    return count;
}

/* One distinct postings list of the targets: at position k, the list of
 * id, which weight of the targets hold there, as [from, to) of
 * postings[k] (empty for an id newer than the index). */
struct list_ref {
    uint32_t k, id, from, to, weight;
};

/* A position with the targets' distinct lists there, lists[first ..
 * first + nlists). A product holds one id per position, so it is in at most
 * one of them: leaving all of them out costs it at most cost matches (the
 * largest weight), however many targets there are. */
struct unit {
    uint32_t k, cost, first, nlists;
    size_t len; /* the lists' bytes together */
};

struct count_job {
    const struct recs_catalog *c;
    const struct unit *units;
    const struct list_ref *lists;
    /* One array of counters per worker: 16 bits, small enough for the
     * first-level cache; a call counts few enough units that no counter
     * can pass UINT16_MAX. */
    uint16_t **counts;
    atomic_int failed;
};

/* The lists of a large index lie far apart in memory, and one list's
 * counting is too long for the processor to start loading the next one by
 * itself: requesting the list PREFETCH_LISTS_AHEAD places on keeps the loop
 * from stalling on each list's first cache lines (at 10,000 products this
 * took scoring from 0.52 to 0.28 ms, see BENCHMARKS.md). The prefetch stays
 * inline: GCC drops calls to a helper whose only effect is prefetching. */
#define PREFETCH_LISTS_AHEAD 4
#define PREFETCH_BYTES_MAX 1024

/* The list of id v at position k as [*from, *to) of postings[k]. */
static void list_at(const struct catalog_base *b, uint32_t k, uint32_t v, uint32_t *from,
                    uint32_t *to)
{
    if (v >= b->indexed[k]) { /* a value newer than the index: no base row has it */
        *from = *to = 0;
        return;
    }
    *from = b->offsets[k][v];
    *to = b->offsets[k][v + 1];
}

/* The target's list at position k. */
static void list_of(const struct recs_catalog *c, size_t target, uint32_t k, uint32_t *from,
                    uint32_t *to)
{
    list_at(c->base, k, catalog_value_id(c, target, k), from, to);
}

static void count_range(void *ctx, unsigned worker, size_t begin, size_t end)
{
    struct count_job *job = ctx;
    const struct catalog_base *b = job->c->base;
    uint16_t *counts = job->counts[worker];

    if (counts == NULL) {
        counts = job->counts[worker] = calloc(b->count ? b->count : 1, sizeof(*counts));
        if (counts == NULL) {
            atomic_store(&job->failed, 1);
            return;
        }
    }
    for (size_t i = begin; i < end; i++) {
        const struct unit *u = &job->units[i];
        if (i + PREFETCH_LISTS_AHEAD < end) {
            const struct unit *next = &job->units[i + PREFETCH_LISTS_AHEAD];
            for (uint32_t l = 0; l < next->nlists; l++) {
                const struct list_ref *r = &job->lists[next->first + l];
                const uint8_t *at = b->postings[r->k] + r->from;
                size_t bytes = r->to - r->from;
                for (size_t o = 0; o < bytes && o < PREFETCH_BYTES_MAX; o += 64)
                    __builtin_prefetch(at + o);
            }
        }
        for (uint32_t l = 0; l < u->nlists; l++) {
            const struct list_ref *r = &job->lists[u->first + l];
            uint16_t w = (uint16_t)r->weight;
            for (uint32_t o = r->from, p = 0; o < r->to;) {
                p = catalog_next_posting(b->postings[r->k], &o, p);
                counts[p] += w;
            }
        }
    }
}

/* Adds the counts of the base rows in the lists of units[from .. to) to
 * matches[0 .. base count), in calls of at most UINT16_MAX / targets
 * units so that no 16-bit counter overflows. */
static int count_units(const struct recs_catalog *c, const struct unit *units,
                       const struct list_ref *lists, size_t ntargets, size_t from, size_t to,
                       unsigned threads, uint32_t *matches)
{
    const struct catalog_base *b = c->base;
    struct count_job job = {.c = c, .lists = lists};
    size_t step = UINT16_MAX / ntargets;
    int rc = 0;

    threads = threads ? threads : 1;
    job.counts = calloc(threads, sizeof(*job.counts));
    if (job.counts == NULL)
        return -1;
    for (size_t at = from; at < to && rc == 0; at += step) {
        size_t n = to - at < step ? to - at : step;
        job.units = units + at;
        recs_parallel_for(n, 16, threads, count_range, &job);
        rc = atomic_load(&job.failed) ? -1 : 0;
        for (unsigned u = 0; u < threads; u++) {
            if (job.counts[u] == NULL)
                continue;
            for (size_t i = 0; i < b->count; i++)
                matches[i] += job.counts[u][i];
            memset(job.counts[u], 0, b->count * sizeof(*job.counts[u]));
        }
    }
    for (unsigned u = 0; u < threads; u++)
        free(job.counts[u]);
    free(job.counts);
    return rc;
}

#define LENGTH_CLASSES 65 /* 0, then floor(log2(len)) + 1 for 64-bit lengths */

static unsigned length_class(size_t len)
{
    return len == 0 ? 0 : 64u - (unsigned)__builtin_clzll((unsigned long long)len);
}

/* Where a unit goes in order_units: the largest key first. The key of a
 * unit is its length, or per unit of cost when by_cost. */
static unsigned order_slot(const struct unit *u, bool by_cost)
{
    return LENGTH_CLASSES - 1 - length_class(by_cost ? u->len / u->cost : u->len);
}

/* Orders units by key class (powers of two), the largest first, in O(n):
 * close enough to sorted for pruning, whose exactness does not depend on
 * the order (any units may be left out, only the savings change). */
static void order_units(const struct unit *in, size_t n, bool by_cost, struct unit *out)
{
    size_t next[LENGTH_CLASSES + 1] = {0};

    for (size_t i = 0; i < n; i++)
        next[order_slot(&in[i], by_cost) + 1]++;
    for (unsigned cl = 1; cl <= LENGTH_CLASSES; cl++)
        next[cl] += next[cl - 1];
    for (size_t i = 0; i < n; i++)
        out[next[order_slot(&in[i], by_cost)]++] = in[i];
}

static int by_descending(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x < y) - (x > y);
}

/* The targets against the candidates. */
struct targets_job {
    const struct recs_catalog *c;
    const struct recs_minhash *mh;
    const size_t *targets; /* those with a signature: the others match nothing */
    size_t ntargets;
    const uint64_t *eligible;
    size_t candidates; /* bits set in eligible */
    size_t want;
    unsigned threads;
    uint32_t *matches; /* count(c) slots: the sums over the targets */
    /* The positions: units[K] as read, then ordered for leaving out;
     * lists[ntargets x K]; for the sample, each target's positions with
     * their lengths, rarest first (units of one list each). */
    struct unit *units, *order, *by_target;
    struct list_ref *lists;
};

/* The exact sum of candidate i's matches over the targets. */
static uint32_t exact_sum(const struct targets_job *t, size_t i)
{
    uint32_t sum = 0;
    for (size_t j = 0; j < t->ntargets; j++)
        sum += recs_catalog_matches(t->c, t->mh, t->targets[j], i);
    return sum;
}

/* theta: the want-th best exact sum among a sample of likely winners: the
 * eligible extras and the eligible products of the targets' rarest lists,
 * taken rank by rank from every target. 0 when the sample holds fewer than
 * want products. Twice want and a few: a larger sample raised theta little
 * for the exact scores it cost (at offset=1000 on 100,000 products, four
 * times want took 7.2 ms a query against 6.0 ms). */
static int sample_threshold(const struct targets_job *t, uint32_t *theta)
{
    const struct recs_catalog *c = t->c;
    const struct catalog_base *b = c->base;
    size_t n = recs_catalog_count(c), cap = t->want * 2 + 64, taken = 0;
    uint32_t *sample = malloc(cap * sizeof(*sample));
    uint64_t *seen = calloc((n + 63) / 64, sizeof(*seen));
    int rc = -1;

    *theta = 0;
    if (sample == NULL || seen == NULL)
        goto out;
    for (size_t i = b->count; i < n && taken < cap; i++) {
        if (bit_set(t->eligible, i))
            sample[taken++] = (uint32_t)i;
    }
    for (uint32_t r = 0; r < b->k && taken < cap; r++) {
        for (size_t j = 0; j < t->ntargets && taken < cap; j++) {
            /* the ordered positions, written whole by order_units:
             * NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign) */
            uint32_t k = t->by_target[j * b->k + r].k, from, to;
            list_of(c, t->targets[j], k, &from, &to);
            for (uint32_t o = from, p = 0; o < to && taken < cap;) {
                p = catalog_next_posting(b->postings[k], &o, p);
                if (!bit_set(t->eligible, p) || bit_set(seen, p))
                    continue;
                seen[p / 64] |= (uint64_t)1 << (p % 64);
                sample[taken++] = p;
            }
        }
    }
    rc = 0;
    if (taken < t->want || t->want == 0)
        goto out;
    for (size_t j = 0; j < taken; j++)
        sample[j] = exact_sum(t, sample[j]);
    qsort(sample, taken, sizeof(*sample), by_descending);
    *theta = sample[t->want - 1];
out:
    free(sample);
    free(seen);
    return rc;
}

/* Exact sums for the eligible products whose matches[] is at least need
 * (every eligible one when need is 0); the others get 0. Products of the
 * delta always get an exact sum: the index does not count them. */
struct exact_job {
    const struct targets_job *t;
    uint32_t need;
};

static void exact_range(void *ctx, unsigned worker, size_t begin, size_t end)
{
    const struct exact_job *job = ctx;
    const struct targets_job *t = job->t;
    size_t nbase = t->c->base->count;

    (void)worker;
    for (size_t i = begin; i < end; i++) {
        bool candidate =
            bit_set(t->eligible, i) && (job->need == 0 || i >= nbase || t->matches[i] >= job->need);
        t->matches[i] = candidate ? exact_sum(t, i) : 0;
    }
}

static void exact_scores(const struct targets_job *t, uint32_t need, size_t begin)
{
    struct exact_job job = {t, need};
    size_t n = recs_catalog_count(t->c);

    if (begin == 0) {
        recs_parallel_for(n, PARALLEL_MIN_SCAN, t->threads, exact_range, &job);
        return;
    }
    exact_range(&job, 0, begin, n); /* the delta alone: few products */
}

/* Keeps the counts of eligible base rows (exact when nothing was skipped)
 * and scores the delta. */
static void keep_counted(const struct targets_job *t)
{
    size_t nbase = t->c->base->count;

    for (size_t i = 0; i < nbase; i++) {
        if (!bit_set(t->eligible, i))
            t->matches[i] = 0;
    }
    exact_scores(t, 0, nbase);
}

/* How many of the units left out so far to count after all: leaving out
 * units of cost s together makes every eligible product whose count
 * reaches theta - s a candidate to score exactly, so each unit counted
 * raises that bar by its cost, at the cost of its length. The candidates
 * per bar are taken from the counts so far (those units would add some),
 * and one exact score costs about targets x K / INDEX_VS_SCAN increments.
 * skipped is in the order to count them, cost the sum of their costs. */
static size_t units_worth_counting(const struct targets_job *t, const struct unit *skipped,
                                   size_t nskipped, uint32_t cost, uint32_t theta)
{
    const struct catalog_base *b = t->c->base;
    size_t most = t->ntargets * b->k, best = 0, bar = theta - cost;
    size_t *above = calloc(most + 2, sizeof(*above));
    double verify = (double)t->ntargets * b->k / INDEX_VS_SCAN, read = 0, best_cost;

    if (above == NULL)
        return nskipped; /* count them all: exact, only slower */
    for (size_t i = 0; i < b->count; i++) {
        if (bit_set(t->eligible, i))
            above[t->matches[i] < most ? t->matches[i] : most]++;
    }
    for (size_t v = most; v-- > 0;)
        above[v] += above[v + 1]; /* now: how many reach at least v */
    best_cost = (double)above[bar] * verify;
    for (size_t r = 1; r <= nskipped; r++) {
        double spent;
        read += (double)skipped[r - 1].len;
        bar += skipped[r - 1].cost;
        spent = read + (double)(bar <= most ? above[bar] : 0) * verify;
        if (spent < best_cost) {
            best_cost = spent;
            best = r;
        }
    }
    free(above);
    return best;
}

/* Reads the targets' ids position by position into units and lists, one
 * list per distinct id, and each target's positions for the sample.
 * Returns the lists' bytes together (about one a posting). */
static size_t read_units(struct targets_job *t)
{
    const struct catalog_base *b = t->c->base;
    size_t hits = 0, nlists = 0;

    for (uint32_t k = 0; k < b->k; k++) {
        struct unit *u = &t->units[k];
        *u = (struct unit){.k = k, .first = (uint32_t)nlists};
        for (size_t j = 0; j < t->ntargets; j++) {
            uint32_t v = catalog_value_id(t->c, t->targets[j], k), from, to, l;
            list_at(b, k, v, &from, &to);
            t->by_target[j * b->k + k] = (struct unit){.k = k, .len = to - from, .cost = 1};
            for (l = u->first; l < nlists && t->lists[l].id != v; l++)
                ;
            if (l < nlists) { /* another target's id: same list, one more match */
                t->lists[l].weight++;
                u->cost = t->lists[l].weight > u->cost ? t->lists[l].weight : u->cost;
                continue;
            }
            t->lists[nlists++] = (struct list_ref){k, v, from, to, 1};
            u->nlists++;
            u->cost = u->cost ? u->cost : 1;
            u->len += to - from;
        }
        hits += u->len;
    }
    return hits;
}

/* matches[i] exact for every candidate that can be among the best want,
 * and for any other one a value below all of those (it may be 0).
 *
 * Leaving out units of cost s together costs any product at most s
 * matches: with theta from the sample, a product whose count over the
 * other units stays below theta - s cannot reach theta. So the units that
 * save the most per unit of cost are left out up to a cost of theta - 1,
 * the rest counted; then, from what those counts show, as many of the left
 * out ones as save more exact scores than they cost. */
static int score_with_index(struct targets_job *t)
{
    const struct recs_catalog *c = t->c;
    const struct catalog_base *b = c->base;
    size_t hits = read_units(t), nskip = 0, more;
    uint32_t theta, cost = 0;
    unsigned threads;

    /* An increment costs about as much as scanning INDEX_VS_SCAN ids from
     * memory, and a scan compares the candidates only: when the filters
     * leave few of them, comparing those beats counting the catalog. */
    if (hits * INDEX_VS_SCAN >= t->candidates * b->k * t->ntargets) {
        exact_scores(t, 0, 0);
        return 0;
    }
    threads = hits >= PARALLEL_MIN_HITS ? t->threads : 1;
    memset(t->matches, 0, recs_catalog_count(c) * sizeof(*t->matches));
    for (size_t j = 0; j < t->ntargets; j++) {
        struct unit *mine = t->by_target + j * b->k;
        order_units(mine, b->k, false, t->order);
        for (uint32_t r = 0; r < b->k; r++) /* rarest first: the reverse */
            mine[r] = t->order[b->k - 1 - r];
    }
    order_units(t->units, b->k, true, t->order);
    /* so little to count that sampling would cost more than it saves */
    if (hits < PRUNE_MIN_HITS || t->want >= recs_catalog_count(c)) {
        if (count_units(c, t->order, t->lists, t->ntargets, 0, b->k, threads, t->matches) != 0)
            return -1;
        keep_counted(t);
        return 0;
    }
    if (sample_threshold(t, &theta) != 0)
        return -1;
    /* leave out order[0 .. nskip): count order[nskip .. K) */
    while (nskip < b->k && cost + t->order[nskip].cost < theta)
        cost += t->order[nskip++].cost;
    if (count_units(c, t->order, t->lists, t->ntargets, nskip, b->k, threads, t->matches) != 0)
        return -1;
    /* the left out ones to count after all, the least saving first */
    for (size_t i = 0; i < nskip / 2; i++) {
        struct unit tmp = t->order[i];
        t->order[i] = t->order[nskip - 1 - i];
        t->order[nskip - 1 - i] = tmp;
    }
    more = nskip > 0 ? units_worth_counting(t, t->order, nskip, cost, theta) : 0;
    if (count_units(c, t->order, t->lists, t->ntargets, 0, more, threads, t->matches) != 0)
        return -1;
    for (size_t i = 0; i < more; i++)
        cost -= t->order[i].cost;
    if (cost > 0)
        exact_scores(t, theta - cost, 0);
    else
        keep_counted(t);
    return 0;
}

/* Sums of the targets' matches over the eligible candidates. */
static int score_signed(const struct recs_catalog *c, const struct recs_minhash *mh,
                        const struct recs_score_query *q, const uint64_t *eligible,
                        size_t candidates, unsigned threads, uint32_t *matches)
{
    size_t with_tokens[RECS_SCORE_TARGETS_MAX], n = 0;
    uint32_t k = c->base->k;
    struct targets_job t = {.c = c,
                            .mh = mh,
                            .targets = with_tokens,
                            .eligible = eligible,
                            .candidates = candidates,
                            .want = q->want,
                            .threads = threads,
                            .matches = matches};
    int rc = -1;

    for (size_t j = 0; j < q->ntargets; j++) {
        if (recs_catalog_product(c, q->targets[j])->has_signature)
            with_tokens[n++] = q->targets[j];
    }
    t.ntargets = n;
    if (n == 0) {
        memset(matches, 0, recs_catalog_count(c) * sizeof(*matches));
        return 0;
    }
    if (c->base->offsets == NULL) { /* ids in the caches: scanning beats any counting */
        exact_scores(&t, 0, 0);
        return 0;
    }
    t.units = malloc((2 + n) * k * sizeof(*t.units));
    t.order = t.units + k;
    t.by_target = t.order + k;
    t.lists = malloc(n * k * sizeof(*t.lists));
    if (t.units != NULL && t.lists != NULL)
        rc = score_with_index(&t);
    free(t.units);
    free(t.lists);
    return rc;
}

/* Signs p into sig; a text too long to tokenize has no signature. */
static int sign_product(const struct recs_minhash *mh, struct recs_scratch *scratch,
                        const struct recs_product *p, uint64_t *sig, bool *has)
{
    *has = false;
    if (!recs_minhash_text_fits(p->title_len, p->description_len))
        return 0;
    return recs_minhash_signature(mh, scratch, p->title, p->title_len, p->description,
                                  p->description_len, sig, has);
}

struct sign_job {
    const struct recs_minhash *mh;
    const struct recs_catalog *c;
    const uint64_t *eligible;
    const uint64_t *target_sigs; /* ntargets x K, only of targets with tokens */
    size_t ntargets;
    uint32_t *matches;
    atomic_int failed;
};

static void sign_range(void *ctx, unsigned worker, size_t begin, size_t end)
{
    struct sign_job *job = ctx;
    uint32_t k = recs_minhash_k(job->mh);
    struct recs_scratch *scratch = recs_scratch_create();
    uint64_t *sig = malloc(k * sizeof(*sig));

    (void)worker;
    for (size_t i = begin; i < end; i++) {
        bool has = false;
        job->matches[i] = 0;
        if (!bit_set(job->eligible, i))
            continue;
        if (scratch == NULL || sig == NULL ||
            sign_product(job->mh, scratch, recs_catalog_product(job->c, i), sig, &has) != 0) {
            atomic_store(&job->failed, 1);
            break;
        }
        for (size_t t = 0; has && t < job->ntargets; t++)
            job->matches[i] += recs_minhash_matches(job->mh, job->target_sigs + t * k, sig);
    }
    free(sig);
    recs_scratch_destroy(scratch);
}

/* Without signatures in the snapshot: hashes the targets and every
 * candidate afresh and compares as it goes (nothing of size n x K). */
static int sign_and_compare(const struct recs_catalog *c, const struct recs_minhash *mh,
                            const struct recs_score_query *q, const uint64_t *eligible,
                            unsigned threads, uint32_t *matches)
{
    uint32_t k = recs_minhash_k(mh);
    uint64_t *sigs = malloc(q->ntargets * k * sizeof(*sigs));
    struct recs_scratch *scratch = recs_scratch_create();
    struct sign_job job = {.mh = mh, .c = c, .eligible = eligible, .matches = matches};
    int rc = -1;

    if (sigs == NULL || scratch == NULL)
        goto out;
    for (size_t t = 0; t < q->ntargets; t++) {
        bool has = false;
        if (sign_product(mh, scratch, recs_catalog_product(c, q->targets[t]),
                         sigs + job.ntargets * k, &has) != 0)
            goto out;
        job.ntargets += has;
    }
    job.target_sigs = sigs;
    if (job.ntargets == 0) {
        memset(matches, 0, recs_catalog_count(c) * sizeof(*matches));
        rc = 0;
        goto out;
    }
    recs_parallel_for(recs_catalog_count(c), SIGN_CHUNK, threads, sign_range, &job);
    rc = atomic_load(&job.failed) ? -1 : 0;
out:
    free(sigs);
    recs_scratch_destroy(scratch);
    return rc;
}

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
        struct recs_ranked tmp = heap[i];
        heap[i] = heap[worst];
        heap[worst] = tmp;
        i = worst;
    }
}

static void sift_up(const struct recs_catalog *c, struct recs_ranked *heap, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ranks_before(c, &heap[parent], &heap[i]))
            return;
        struct recs_ranked tmp = heap[i];
        heap[i] = heap[parent];
        heap[parent] = tmp;
        i = parent;
    }
}

/* The best want eligible products by matches into out, best first. */
static size_t select_best(const struct recs_catalog *c, const uint64_t *eligible,
                          const uint32_t *matches, size_t want, struct recs_ranked *out)
{
    size_t n = recs_catalog_count(c), kept = 0;

    for (size_t i = 0; i < n && want > 0; i++) {
        struct recs_ranked r = {.index = i, .matches = matches[i]};
        if (!bit_set(eligible, i))
            continue;
        if (kept < want) {
            out[kept] = r;
            sift_up(c, out, kept++);
        } else if (ranks_before(c, &r, &out[0])) {
            out[0] = r;
            sift_down(c, out, kept, 0);
        }
    }
    /* heap-sort in place: repeatedly move the worst to the end */
    for (size_t end = kept; end > 1; end--) {
        struct recs_ranked worst = out[0];
        out[0] = out[end - 1];
        out[end - 1] = worst;
        sift_down(c, out, end - 1, 0);
    }
    return kept;
}

/* Every live product but the targets. */
static uint64_t *default_candidates(const struct recs_catalog *c, const struct recs_score_query *q)
{
    size_t n = recs_catalog_count(c);
    uint64_t *bits = calloc((n + 63) / 64 + 1, sizeof(*bits));

    if (bits == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (recs_catalog_live(c, i))
            bits[i / 64] |= (uint64_t)1 << (i % 64);
    }
    for (size_t t = 0; t < q->ntargets; t++)
        bits[q->targets[t] / 64] &= ~((uint64_t)1 << (q->targets[t] % 64));
    return bits;
}

int recs_score_rank(const struct recs_catalog *catalog, const struct recs_minhash *mh,
                    const struct recs_score_query *query, unsigned threads, struct recs_ranked *out,
                    size_t *count)
{
    size_t n = recs_catalog_count(catalog);
    uint64_t *own = query->eligible == NULL ? default_candidates(catalog, query) : NULL;
    const uint64_t *eligible = query->eligible != NULL ? query->eligible : own;
    uint32_t *matches = malloc((n ? n : 1) * sizeof(*matches));
    size_t candidates = 0;
    int rc = -1;

    threads = threads ? threads : 1;
    if (eligible == NULL || matches == NULL || query->ntargets == 0 ||
        query->ntargets > RECS_SCORE_TARGETS_MAX)
        goto out;
    candidates = count_bits(eligible, n);
    rc = recs_catalog_has_signatures(catalog)
             ? score_signed(catalog, mh, query, eligible, candidates, threads, matches)
             : sign_and_compare(catalog, mh, query, eligible, threads, matches);
    if (rc == 0)
        *count = select_best(catalog, eligible, matches, query->want, out);
out:
    free(own);
    free(matches);
    return rc;
}

/* Whether category (NULL: none) is one of the query's. Base products of a
 * category share one string, so a small cache by address answers almost
 * every product without comparing strings. */
struct category_memo {
    const char *category;
    bool allowed;
};

static int by_slug(const void *key, const void *item)
{
    return strcmp(key, item);
}

static bool category_allowed(const struct recs_query *q, const char *category,
                             struct category_memo *memo, size_t memo_len)
{
    size_t slot;
    bool allowed;

    if (category == NULL)
        return false; /* a product without a category never passes the filter */
    slot = ((uintptr_t)category >> 4) % memo_len;
    if (memo[slot].category == category)
        return memo[slot].allowed;
    allowed = bsearch(category, q->categories, q->category_count, sizeof(q->categories[0]),
                      by_slug) != NULL;
    memo[slot] = (struct category_memo){category, allowed};
    return allowed;
}

#define CATEGORY_MEMO 64

/* The candidate rule of a query: live products that pass its filters,
 * neither a target nor excluded. *count is how many there are. */
static uint64_t *query_candidates(const struct recs_catalog *c, const struct recs_query *q,
                                  const size_t *targets, size_t ntargets, size_t *count)
{
    size_t n = recs_catalog_count(c);
    uint64_t *bits = calloc((n + 63) / 64 + 1, sizeof(*bits));
    struct category_memo memo[CATEGORY_MEMO] = {{0}};

    if (bits == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const struct recs_product *p =
            i < c->base->count ? &c->base->products[i] : &c->extras[i - c->base->count]->product;
        if (catalog_dead(c, i) || p->price_cents < q->min_price || p->price_cents > q->max_price ||
            (q->category_count > 0 && !category_allowed(q, p->category, memo, CATEGORY_MEMO)))
            continue;
        bits[i / 64] |= (uint64_t)1 << (i % 64);
    }
    for (size_t t = 0; t < ntargets; t++)
        bits[targets[t] / 64] &= ~((uint64_t)1 << (targets[t] % 64));
    for (size_t e = 0; e < q->exclude_count; e++) {
        long i = recs_catalog_find(c, q->excludes[e]);
        if (i >= 0)
            bits[(size_t)i / 64] &= ~((uint64_t)1 << ((size_t)i % 64));
    }
    *count = count_bits(bits, n);
    return bits;
}

/* Results kept per category for max_per_category: an open-addressing table
 * keyed by the category's text (products without one share the NULL key). */
struct category_count {
    const char *category;
    unsigned count;
    bool used;
};

static unsigned *count_of(struct category_count *table, size_t mask, const char *category)
{
    size_t s = (category ? recs_fnv1a64(category, strlen(category)) : 0) & mask;

    while (table[s].used &&
           !(table[s].category == category ||
             (table[s].category && category && strcmp(table[s].category, category) == 0)))
        s = (s + 1) & mask;
    table[s].used = true;
    table[s].category = category;
    return &table[s].count;
}

/* ranked[0..got) filtered by max_per_category into ranked itself; returns
 * how many are kept (at most want). */
static size_t diversify(const struct recs_catalog *c, unsigned per_category,
                        struct recs_ranked *ranked, size_t got, size_t want)
{
    size_t cap = 16, kept = 0;
    struct category_count *table;

    while (cap < want * 2)
        cap *= 2;
    table = calloc(cap, sizeof(*table));
    if (table == NULL)
        return SIZE_MAX;
    for (size_t i = 0; i < got && kept < want; i++) {
        unsigned *n = count_of(table, cap - 1, recs_catalog_product(c, ranked[i].index)->category);
        if (*n >= per_category)
            continue;
        (*n)++;
        ranked[kept++] = ranked[i];
    }
    free(table);
    return kept;
}

int recs_score_page(const struct recs_catalog *catalog, const struct recs_minhash *mh,
                    const struct recs_query *query, const size_t *targets, size_t ntargets,
                    unsigned threads, struct recs_ranked *out, size_t *count)
{
    size_t want = (size_t)query->offset + query->limit, candidates = 0, got = 0, kept = 0;
    size_t fetch = want;
    uint64_t *eligible = query_candidates(catalog, query, targets, ntargets, &candidates);
    /* min_score: matches * 10^6 >= m * K * S, in integers (docs/API.md) */
    uint64_t floor = (uint64_t)query->min_score * recs_minhash_k(mh) * ntargets;
    struct recs_ranked *ranked = NULL;
    int rc = -1;

    *count = 0;
    if (eligible == NULL)
        goto out;
    for (;;) {
        struct recs_score_query q = {targets, ntargets, eligible,
                                     fetch < candidates ? fetch : candidates};
        free(ranked);
        ranked = malloc((q.want ? q.want : 1) * sizeof(*ranked));
        if (ranked == NULL || recs_score_rank(catalog, mh, &q, threads, ranked, &got) != 0)
            goto out;
        kept = got;
        while (kept > 0 && (uint64_t)ranked[kept - 1].matches * RECS_SCORE_MILLIONTHS < floor)
            kept--;
        if (query->max_per_category == 0)
            break;
        bool cut = kept < got; /* min_score ended the ranking inside what was fetched */
        kept = diversify(catalog, query->max_per_category, ranked, kept, want);
        if (kept == SIZE_MAX)
            goto out;
        /* diversity skipped some: fetch deeper unless nothing more is left */
        if (kept >= want || cut || got >= candidates)
            break;
        fetch *= 4;
    }
    for (size_t i = query->offset; i < kept && *count < query->limit; i++)
        out[(*count)++] = ranked[i];
    rc = 0;
out:
    free(ranked);
    free(eligible);
    return rc;
}
