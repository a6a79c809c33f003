/*
 * catalog.c - building, sharing and searching catalog snapshots.
 *
 * Interning runs one block of 64 positions at a time: a thread signs every
 * product for its block's positions and looks each value up in that block's
 * 64 dictionaries, so threads never share a dictionary and need no lock, and
 * a block's dictionaries stay small enough for the caches. Ids are handed out
 * as 16-bit first; if some position turns out to hold 65,536 or more distinct
 * values, the ids are built again as 32-bit.
 */
#include "catalog.h"

#include <errno.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "parallel.h"

enum { COL_ID, COL_SLUG, COL_TITLE, COL_DESCRIPTION, COL_PRICE, COL_CATEGORY, NCOLS };

/* Measured on the synthetic catalogs: one postings increment costs about
 * the time of scanning this many ids. */
#define INDEX_VS_SCAN 4
#define SCAN_IN_CACHE_BYTES ((size_t)512 * 1024)
/* Below these amounts of work a parallel region costs more than it saves
 * (PARALLEL_MIN_SCAN is also the chunk of products a thread takes). */
#define PARALLEL_MIN_HITS 100000
/* Below this many increments, pruning (a sort of the K positions and a
 * sample of exact comparisons) costs more than it can save. */
#define PRUNE_MIN_HITS 200000
#define PARALLEL_MIN_SCAN 2048
#define PARALLEL_MIN_BUILD 1024

/* What a snapshot holds; shared between snapshots of identical rows. */
struct catalog_data {
    atomic_uint refs;
    size_t count;
    struct recs_product *products; /* ascending id */
    char *strings;                 /* every product's strings, one after the other */
    unsigned id_bytes;             /* 2 or 4; 0 when built without signatures */
    size_t row_stride;             /* bytes per product row of ids, a multiple of 64 */
    unsigned char *ids;            /* count rows of K ids */
    uint32_t k;
    /* The inverted index, NULL for a catalog whose ids fit in the caches:
     * that is always scanned, so its index would be memory for nothing. */
    uint32_t **offsets;   /* per position: D + 1 offsets into its postings, D = distinct ids */
    void **postings;      /* per position: product indexes grouped by id, ascending in a group */
    unsigned index_bytes; /* of one product index in postings: 2 below 65,536 products, else 4 */
    uint32_t *slots;      /* slug hash table: product index + 1, 0 = empty */
    size_t slot_mask;
    size_t bytes;
    size_t computed;
};

struct recs_catalog {
    atomic_uint refs;
    int64_t version;
    bool shared;
    struct catalog_data *data;
};

/* The distinct tokens of one product, in one allocation. */
struct token_set {
    struct recs_token *tokens;
    size_t count;
};

/* One position's dictionary: value -> id, open addressing. */
struct dict {
    uint64_t *keys;
    uint32_t *ids; /* id + 1; 0 marks an empty slot */
    uint32_t cap, count;
};

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

static void data_free(struct catalog_data *d)
{
    if (d == NULL)
        return;
    free(d->products);
    free(d->strings);
    free(d->ids);
    for (uint32_t k = 0; d->offsets != NULL && k < d->k; k++) {
        free(d->offsets[k]);
        free(d->postings[k]);
    }
    free(d->offsets);
    free(d->postings);
    free(d->slots);
    free(d);
}

static uint32_t posting_at(const struct catalog_data *d, uint32_t k, uint32_t o)
{
    return d->index_bytes == 2 ? ((const uint16_t *)d->postings[k])[o]
                               : ((const uint32_t *)d->postings[k])[o];
}

static uint32_t id_at(const struct catalog_data *d, size_t product, uint32_t k)
{
    const unsigned char *row = d->ids + product * d->row_stride;
    return d->id_bytes == 2 ? ((const uint16_t *)row)[k] : ((const uint32_t *)row)[k];
}

static void data_unref(struct catalog_data *d)
{
    if (d != NULL && atomic_fetch_sub(&d->refs, 1) == 1)
        data_free(d);
}

static int parse_int64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* Copies the rows into products and one string block. */
static int load_rows(struct catalog_data *d, const PGresult *rows)
{
    size_t total = 0, off = 0;
    int64_t last_id = INT64_MIN;

    for (size_t i = 0; i < d->count; i++) {
        for (int c = 0; c < NCOLS; c++) {
            if (PQgetisnull(rows, (int)i, c) && c != COL_CATEGORY)
                return -1;
            total += (size_t)PQgetlength(rows, (int)i, c) + 1;
        }
    }
    d->products = calloc(d->count ? d->count : 1, sizeof(*d->products));
    d->strings = malloc(total ? total : 1);
    if (d->products == NULL || d->strings == NULL)
        return -1;
    d->bytes += d->count * sizeof(*d->products) + total;

    for (size_t i = 0; i < d->count; i++) {
        struct recs_product *p = &d->products[i];
        const char **dst[NCOLS] = {NULL, &p->slug, &p->title, &p->description, NULL, &p->category};
        int64_t price;

        if (parse_int64(PQgetvalue(rows, (int)i, COL_ID), &p->id) != 0 ||
            (i > 0 && p->id <= last_id) ||
            parse_int64(PQgetvalue(rows, (int)i, COL_PRICE), &price) != 0 || price < INT32_MIN ||
            price > INT32_MAX)
            return -1; /* ids must ascend: rank ties and the slug index rely on it */
        last_id = p->id;
        p->price_cents = (int32_t)price;
        for (int c = 0; c < NCOLS; c++) {
            size_t len = (size_t)PQgetlength(rows, (int)i, c);
            if (dst[c] == NULL || PQgetisnull(rows, (int)i, c))
                continue;
            memcpy(d->strings + off, PQgetvalue(rows, (int)i, c), len);
            d->strings[off + len] = '\0';
            *dst[c] = d->strings + off;
            off += len + 1;
        }
    }
    return 0;
}

static bool same_string(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool same_rows(const struct catalog_data *a, const struct catalog_data *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++) {
        const struct recs_product *p = &a->products[i], *q = &b->products[i];
        if (p->id != q->id || p->price_cents != q->price_cents || !same_string(p->slug, q->slug) ||
            !same_string(p->title, q->title) || !same_string(p->description, q->description) ||
            !same_string(p->category, q->category))
            return false;
    }
    return true;
}

static void free_token_sets(struct token_set *sets, size_t n)
{
    for (size_t i = 0; sets != NULL && i < n; i++)
        free(sets[i].tokens);
    free(sets);
}

struct tokenize_job {
    struct catalog_data *d;
    struct token_set *sets;
    atomic_int failed;
};

/* Copies the tokens in the scratch into a set of their own. */
static int keep_tokens(struct token_set *set, const struct recs_token *tokens, size_t n)
{
    size_t bytes = 0;
    unsigned char *copy;

    for (size_t t = 0; t < n; t++)
        bytes += tokens[t].len;
    set->tokens = malloc(n * sizeof(*tokens) + bytes + 1);
    if (set->tokens == NULL)
        return -1;
    set->count = n;
    copy = (unsigned char *)(set->tokens + n);
    for (size_t t = 0; t < n; t++) {
        memcpy(copy, tokens[t].bytes, tokens[t].len);
        set->tokens[t].bytes = copy;
        set->tokens[t].len = tokens[t].len;
        copy += tokens[t].len;
    }
    return 0;
}

static void tokenize_range(void *ctx, unsigned worker, size_t begin, size_t end)
{
    struct tokenize_job *job = ctx;
    struct recs_scratch *scratch = recs_scratch_create();

    (void)worker;
    for (size_t i = begin; i < end && scratch != NULL; i++) {
        struct recs_product *p = &job->d->products[i];
        size_t title_len = strlen(p->title), description_len = strlen(p->description), n = 0;
        const struct recs_token *tokens = NULL;

        /* A text beyond what the tokenizer takes is left without a
         * signature (score 0) rather than failing the whole catalog. */
        if (!recs_minhash_text_fits(title_len, description_len))
            continue;
        if (recs_tokenize(scratch, p->title, title_len, p->description, description_len, &tokens,
                          &n) != 0 ||
            keep_tokens(&job->sets[i], tokens, n) != 0) {
            atomic_store(&job->failed, 1);
            break;
        }
        p->has_signature = n > 0;
    }
    if (scratch == NULL)
        atomic_store(&job->failed, 1);
    recs_scratch_destroy(scratch);
}

/* Tokenizes every product into its own token set. */
static int tokenize_all(struct catalog_data *d, struct token_set *sets, unsigned threads)
{
    struct tokenize_job job = {.d = d, .sets = sets};

    recs_parallel_for(d->count, 64, d->count >= PARALLEL_MIN_BUILD ? threads : 1, tokenize_range,
                      &job);
    return atomic_load(&job.failed) ? -1 : 0;
}

static int dict_grow(struct dict *dict)
{
    uint32_t cap = dict->cap ? dict->cap * 2 : 64;
    uint64_t *keys = malloc(cap * sizeof(*keys));
    uint32_t *ids = calloc(cap, sizeof(*ids));

    if (keys == NULL || ids == NULL || cap < dict->cap) {
        free(keys);
        free(ids);
        return -1;
    }
    for (uint32_t i = 0; i < dict->cap; i++) {
        if (dict->ids[i] != 0) {
            uint32_t s = (uint32_t)((dict->keys[i] * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
            while (ids[s] != 0)
                s = (s + 1) & (cap - 1);
            keys[s] = dict->keys[i];
            ids[s] = dict->ids[i];
        }
    }
    free(dict->keys);
    free(dict->ids);
    dict->keys = keys;
    dict->ids = ids;
    dict->cap = cap;
    return 0;
}

/* The id of value, handing out the next one for a value not seen before.
 * Returns UINT32_MAX when memory runs out. */
static uint32_t dict_intern(struct dict *dict, uint64_t value)
{
    uint32_t s;

    if ((dict->count + 1) * 2 > dict->cap && dict_grow(dict) != 0)
        return UINT32_MAX;
    s = (uint32_t)((value * 0x9e3779b97f4a7c15ull) >> 32) & (dict->cap - 1);
    while (dict->ids[s] != 0) {
        if (dict->keys[s] == value)
            return dict->ids[s] - 1;
        s = (s + 1) & (dict->cap - 1);
    }
    dict->keys[s] = value;
    dict->ids[s] = ++dict->count;
    return dict->count - 1;
}

enum intern_result { INTERN_OK, INTERN_NO_MEMORY, INTERN_TOO_MANY };

/* The inverted index of one block of positions, from the ids just interned:
 * a counting sort of the products by id, per position. */
static enum intern_result index_block(struct catalog_data *d, uint32_t first, uint32_t count,
                                      const struct dict *dicts)
{
    for (uint32_t j = 0; j < count; j++) {
        uint32_t k = first + j, distinct = dicts[j].count;
        uint32_t *offsets = calloc((size_t)distinct + 1, sizeof(*offsets));
        void *postings = malloc((d->count ? d->count : 1) * d->index_bytes);

        free(d->offsets[k]);
        free(d->postings[k]);
        d->offsets[k] = offsets;
        d->postings[k] = postings;
        if (offsets == NULL || postings == NULL)
            return INTERN_NO_MEMORY;
        for (size_t i = 0; i < d->count; i++) {
            if (d->products[i].has_signature)
                offsets[id_at(d, i, k) + 1]++;
        }
        for (uint32_t v = 0; v < distinct; v++)
            offsets[v + 1] += offsets[v];
        /* fill using offsets[v] as the cursor, then shift it back */
        for (size_t i = 0; i < d->count; i++) {
            uint32_t at;
            if (!d->products[i].has_signature)
                continue;
            at = offsets[id_at(d, i, k)]++;
            if (d->index_bytes == 2)
                ((uint16_t *)postings)[at] = (uint16_t)i;
            else
                ((uint32_t *)postings)[at] = (uint32_t)i;
        }
        for (uint32_t v = distinct; v > 0; v--)
            offsets[v] = offsets[v - 1];
        offsets[0] = 0;
    }
    return INTERN_OK;
}

/* Signs every product for one block of positions and interns the values. */
static enum intern_result intern_block(struct catalog_data *d, const struct recs_minhash *mh,
                                       const struct token_set *sets, uint32_t first,
                                       struct dict *dicts)
{
    uint32_t k = recs_minhash_k(mh);
    uint32_t count = k - first < RECS_MINHASH_BLOCK ? k - first : RECS_MINHASH_BLOCK;
    uint32_t id_max = d->id_bytes == 2 ? UINT16_MAX : UINT32_MAX - 1;
    uint64_t values[RECS_MINHASH_BLOCK];

    for (uint32_t j = 0; j < count; j++) {
        memset(dicts[j].ids, 0, dicts[j].cap * sizeof(*dicts[j].ids));
        dicts[j].count = 0;
    }
    for (size_t i = 0; i < d->count; i++) {
        unsigned char *row = d->ids + i * d->row_stride;
        if (sets[i].count == 0)
            continue;
        recs_minhash_sign_range(mh, sets[i].tokens, sets[i].count, first, count, values);
        for (uint32_t j = 0; j < count; j++) {
            uint32_t id = dict_intern(&dicts[j], values[j]);
            if (id == UINT32_MAX)
                return INTERN_NO_MEMORY;
            if (id > id_max)
                return INTERN_TOO_MANY;
            if (d->id_bytes == 2)
                ((uint16_t *)row)[first + j] = (uint16_t)id;
            else
                ((uint32_t *)row)[first + j] = id;
        }
    }
    return d->offsets != NULL ? index_block(d, first, count, dicts) : INTERN_OK;
}

struct intern_job {
    struct catalog_data *d;
    const struct recs_minhash *mh;
    const struct token_set *sets;
    atomic_int result;
};

/* Interns blocks [begin, end) with dictionaries of its own. */
static void intern_range(void *ctx, unsigned worker, size_t begin, size_t end)
{
    struct intern_job *job = ctx;
    struct dict dicts[RECS_MINHASH_BLOCK];
    enum intern_result r = INTERN_OK;

    (void)worker;
    memset(dicts, 0, sizeof(dicts));
    for (uint32_t j = 0; j < RECS_MINHASH_BLOCK && r == INTERN_OK; j++) {
        if (dict_grow(&dicts[j]) != 0)
            r = INTERN_NO_MEMORY;
    }
    for (size_t b = begin; b < end && r == INTERN_OK && atomic_load(&job->result) == INTERN_OK; b++)
        r = intern_block(job->d, job->mh, job->sets, (uint32_t)b * RECS_MINHASH_BLOCK, dicts);
    if (r != INTERN_OK)
        atomic_store(&job->result, r);
    for (uint32_t j = 0; j < RECS_MINHASH_BLOCK; j++) {
        free(dicts[j].keys);
        free(dicts[j].ids);
    }
}

static enum intern_result intern_all(struct catalog_data *d, const struct recs_minhash *mh,
                                     const struct token_set *sets, unsigned threads)
{
    uint32_t k = recs_minhash_k(mh);
    uint32_t blocks = (k + RECS_MINHASH_BLOCK - 1) / RECS_MINHASH_BLOCK;

    d->row_stride = round_up((size_t)k * d->id_bytes, 64);
    free(d->ids);
    d->ids = aligned_alloc(64, d->count ? d->count * d->row_stride : 64);
    if (d->ids == NULL)
        return INTERN_NO_MEMORY;
    memset(d->ids, 0, d->count ? d->count * d->row_stride : 64);

    struct intern_job job = {.d = d, .mh = mh, .sets = sets, .result = INTERN_OK};
    recs_parallel_for(blocks, 1, d->count >= PARALLEL_MIN_BUILD ? threads : 1, intern_range, &job);
    return (enum intern_result)atomic_load(&job.result);
}

static int build_signatures(struct catalog_data *d, const struct recs_minhash *mh, unsigned threads)
{
    struct token_set *sets = calloc(d->count ? d->count : 1, sizeof(*sets));
    enum intern_result r = INTERN_NO_MEMORY;
    bool indexed;

    d->k = recs_minhash_k(mh);
    d->index_bytes = d->count <= 65536 ? 2 : 4;
    /* 16-bit ids are the smallest rows; 32-bit ones need 65,536 products */
    indexed = d->count * round_up((size_t)d->k * 2, 64) > SCAN_IN_CACHE_BYTES;
    if (indexed) {
        d->offsets = calloc(d->k, sizeof(*d->offsets));
        d->postings = calloc(d->k, sizeof(*d->postings));
    }
    if (sets == NULL || (indexed && (d->offsets == NULL || d->postings == NULL)) ||
        tokenize_all(d, sets, threads) != 0)
        goto out;
    d->id_bytes = 2;
    r = intern_all(d, mh, sets, threads);
    if (r == INTERN_TOO_MANY) {
        d->id_bytes = 4;
        r = intern_all(d, mh, sets, threads);
    }
    d->computed = d->count;
    d->bytes += d->count * d->row_stride;
    if (indexed)
        d->bytes += (size_t)d->k * d->count * d->index_bytes; /* postings; offsets are smaller */
out:
    free_token_sets(sets, d->count);
    return r == INTERN_OK ? 0 : -1;
}

static int build_index(struct catalog_data *d)
{
    size_t cap = 16;

    while (cap < d->count * 2)
        cap *= 2;
    d->slots = calloc(cap, sizeof(*d->slots));
    if (d->slots == NULL)
        return -1;
    d->slot_mask = cap - 1;
    d->bytes += cap * sizeof(*d->slots);
    for (size_t i = 0; i < d->count; i++) {
        const char *slug = d->products[i].slug;
        size_t s = recs_fnv1a64(slug, strlen(slug)) & d->slot_mask;
        while (d->slots[s] != 0)
            s = (s + 1) & d->slot_mask;
        d->slots[s] = (uint32_t)(i + 1);
    }
    return 0;
}

int recs_catalog_build(const struct recs_minhash *mh, const PGresult *rows, int64_t version,
                       bool signatures, const struct recs_catalog *previous, unsigned threads,
                       struct recs_catalog **out)
{
    struct recs_catalog *c = NULL;
    struct catalog_data *d = NULL;

    if (PQnfields(rows) != NCOLS || PQntuples(rows) < 0 || (size_t)PQntuples(rows) >= UINT32_MAX)
        return -1;
    c = calloc(1, sizeof(*c));
    d = calloc(1, sizeof(*d));
    if (c == NULL || d == NULL)
        goto fail;
    atomic_init(&c->refs, 1);
    atomic_init(&d->refs, 1);
    c->version = version;
    d->count = (size_t)PQntuples(rows);
    if (load_rows(d, rows) != 0)
        goto fail;
    if (previous != NULL && (previous->data->id_bytes != 0) == signatures &&
        same_rows(previous->data, d)) {
        data_free(d);
        d = previous->data;
        atomic_fetch_add(&d->refs, 1);
        c->shared = true;
    } else if ((signatures && build_signatures(d, mh, threads ? threads : 1) != 0) ||
               build_index(d) != 0) {
        goto fail;
    }
    c->data = d;
    *out = c;
    return 0;
fail:
    data_free(d);
    free(c);
    return -1;
}

void recs_catalog_ref(struct recs_catalog *catalog)
{
    atomic_fetch_add(&catalog->refs, 1);
}

void recs_catalog_unref(struct recs_catalog *catalog)
{
    if (catalog != NULL && atomic_fetch_sub(&catalog->refs, 1) == 1) {
        data_unref(catalog->data);
        free(catalog);
    }
}

int64_t recs_catalog_version(const struct recs_catalog *catalog)
{
    return catalog->version;
}

size_t recs_catalog_count(const struct recs_catalog *catalog)
{
    return catalog->data->count;
}

bool recs_catalog_has_signatures(const struct recs_catalog *catalog)
{
    return catalog->data->id_bytes != 0;
}

size_t recs_catalog_bytes(const struct recs_catalog *catalog)
{
    return catalog->data->bytes;
}

size_t recs_catalog_computed(const struct recs_catalog *catalog)
{
    return catalog->shared ? 0 : catalog->data->computed;
}

bool recs_catalog_shared(const struct recs_catalog *catalog)
{
    return catalog->shared;
}

const struct recs_product *recs_catalog_product(const struct recs_catalog *catalog, size_t i)
{
    return &catalog->data->products[i];
}

long recs_catalog_find(const struct recs_catalog *catalog, const char *slug)
{
    const struct catalog_data *d = catalog->data;
    size_t s = recs_fnv1a64(slug, strlen(slug)) & d->slot_mask;

    while (d->slots[s] != 0) {
        size_t i = d->slots[s] - 1;
        if (strcmp(d->products[i].slug, slug) == 0)
            return (long)i;
        s = (s + 1) & d->slot_mask;
    }
    return -1;
}

uint32_t recs_catalog_matches(const struct recs_catalog *catalog, const struct recs_minhash *mh,
                              size_t a, size_t b)
{
    const struct catalog_data *d = catalog->data;
    const void *ra = d->ids + a * d->row_stride, *rb = d->ids + b * d->row_stride;

    if (!d->products[a].has_signature || !d->products[b].has_signature)
        return 0;
    if (d->id_bytes == 2)
        return recs_minhash_matches16(mh, ra, rb);
    return recs_minhash_matches32(mh, ra, rb);
}

struct count_job {
    const struct catalog_data *d;
    size_t target;
    const uint32_t *order;
    /* One array of counters per worker: 16 bits suffice (K <= 8192) and
     * keep them small enough for the first-level cache. */
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

static void count_range(void *ctx, unsigned worker, size_t begin, size_t end)
{
    struct count_job *job = ctx;
    const struct catalog_data *d = job->d;
    uint16_t *counts = job->counts[worker];

    if (counts == NULL) {
        counts = job->counts[worker] = calloc(d->count ? d->count : 1, sizeof(*counts));
        if (counts == NULL) {
            atomic_store(&job->failed, 1);
            return;
        }
    }
    for (size_t i = begin; i < end; i++) {
        uint32_t k = job->order[i], v = id_at(d, job->target, k);
        uint32_t from = d->offsets[k][v], to = d->offsets[k][v + 1];
        if (i + PREFETCH_LISTS_AHEAD < end) {
            uint32_t nk = job->order[i + PREFETCH_LISTS_AHEAD], nv = id_at(d, job->target, nk);
            const char *at =
                (const char *)d->postings[nk] + (size_t)d->offsets[nk][nv] * d->index_bytes;
            size_t bytes = (size_t)(d->offsets[nk][nv + 1] - d->offsets[nk][nv]) * d->index_bytes;
            for (size_t b = 0; b < bytes && b < PREFETCH_BYTES_MAX; b += 64)
                __builtin_prefetch(at + b);
        }
        if (d->index_bytes == 2) {
            const uint16_t *p = (const uint16_t *)d->postings[k];
            for (uint32_t o = from; o < to; o++)
                counts[p[o]]++;
        } else {
            const uint32_t *p = (const uint32_t *)d->postings[k];
            for (uint32_t o = from; o < to; o++)
                counts[p[o]]++;
        }
    }
}

/* Counts through the inverted index, one increment per matching pair, over
 * the positions listed in order[0..npos). */
static int count_postings(const struct catalog_data *d, size_t target, const uint32_t *order,
                          uint32_t npos, unsigned threads, uint32_t *matches)
{
    struct count_job job = {.d = d, .target = target, .order = order};

    threads = threads ? threads : 1;
    memset(matches, 0, d->count * sizeof(*matches));
    job.counts = calloc(threads, sizeof(*job.counts));
    if (job.counts == NULL)
        return -1;
    recs_parallel_for(npos, 16, threads, count_range, &job);
    for (unsigned u = 0; u < threads; u++) {
        for (size_t i = 0; job.counts[u] != NULL && i < d->count; i++)
            matches[i] += job.counts[u][i];
        free(job.counts[u]);
    }
    free(job.counts);
    return atomic_load(&job.failed) ? -1 : 0;
}

struct position {
    uint32_t k, len; /* postings length of the target's id at k */
};

#define LENGTH_CLASSES 34 /* 0, then floor(log2(len)) + 1 for 32-bit lengths */

static unsigned length_class(uint32_t len)
{
    return len == 0 ? 0 : 32u - (unsigned)__builtin_clz(len);
}

/* Orders positions by length class (powers of two), shortest first, in
 * O(K). Close enough to sorted for pruning, whose exactness does not depend
 * on the order: any lists may be skipped, only the savings change. */
static void order_by_length(const struct position *in, uint32_t k, struct position *out)
{
    uint32_t next[LENGTH_CLASSES + 1] = {0};

    for (uint32_t i = 0; i < k; i++)
        next[length_class(in[i].len) + 1]++;
    for (unsigned c = 1; c <= LENGTH_CLASSES; c++)
        next[c] += next[c - 1];
    for (uint32_t i = 0; i < k; i++)
        out[next[length_class(in[i].len)]++] = in[i];
}

static int by_descending(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x < y) - (x > y);
}

/* theta: the limit-th best exact score among a sample of likely winners,
 * the products in the target's rarest postings. At least `limit` products
 * score theta or more, so the limit-th best of all does too. 0 when the
 * sample holds fewer than limit products. */
static uint32_t sample_threshold(const struct recs_catalog *catalog, const struct recs_minhash *mh,
                                 size_t target, size_t limit, const struct position *positions,
                                 uint32_t *scratch, size_t scratch_len)
{
    const struct catalog_data *d = catalog->data;
    size_t taken = 0;

    for (uint32_t i = 0; i < d->k && taken < scratch_len; i++) {
        uint32_t k = positions[i].k, v = id_at(d, target, k);
        for (uint32_t o = d->offsets[k][v]; o < d->offsets[k][v + 1] && taken < scratch_len; o++) {
            uint32_t p = posting_at(d, k, o);
            bool seen = p == target;
            for (size_t j = 0; j < taken && !seen; j++)
                seen = scratch[j] == p;
            if (!seen)
                scratch[taken++] = p;
        }
    }
    if (taken < limit)
        return 0;
    for (size_t j = 0; j < taken; j++)
        scratch[j] = recs_catalog_matches(catalog, mh, target, scratch[j]);
    qsort(scratch, taken, sizeof(*scratch), by_descending);
    return scratch[limit - 1];
}

/* Exact matches for the products whose matches[] is at least need (all of
 * them when need is 0); the others get 0. */
struct exact_job {
    const struct recs_catalog *catalog;
    const struct recs_minhash *mh;
    size_t target;
    uint32_t need;
    uint32_t *matches;
};

static void exact_range(void *ctx, unsigned worker, size_t begin, size_t end)
{
    struct exact_job *job = ctx;

    (void)worker;
    for (size_t i = begin; i < end; i++) {
        bool candidate = job->need == 0 || job->matches[i] >= job->need;
        job->matches[i] =
            candidate ? recs_catalog_matches(job->catalog, job->mh, job->target, i) : 0;
    }
}

/* Exact matches of every product, scanning the ids. */
static void score_every_product(const struct recs_catalog *catalog, const struct recs_minhash *mh,
                                size_t target, unsigned threads, uint32_t *matches)
{
    struct exact_job job = {catalog, mh, target, 0, matches};
    recs_parallel_for(catalog->data->count, PARALLEL_MIN_SCAN, threads, exact_range, &job);
}

int recs_catalog_score_top(const struct recs_catalog *catalog, const struct recs_minhash *mh,
                           size_t target, size_t limit, unsigned threads, uint32_t *matches)
{
    const struct catalog_data *d = catalog->data;
    size_t n = d->count, hits = 0, sample_len = limit * 4 + 64;
    struct position *positions = NULL;
    uint32_t *order = NULL, *sample = NULL, theta, skip, need;
    int rc = -1;

    if (!d->products[target].has_signature) {
        memset(matches, 0, n * sizeof(*matches));
        return 0;
    }
    if (d->offsets == NULL) { /* ids in the caches: scanning beats any counting */
        score_every_product(catalog, mh, target, threads, matches);
        return 0;
    }
    positions = malloc((size_t)d->k * 2 * sizeof(*positions)); /* as read, then ordered */
    order = malloc(d->k * sizeof(*order));
    sample = malloc(sample_len * sizeof(*sample));
    if (positions == NULL || order == NULL || sample == NULL)
        goto out;
    for (uint32_t k = 0; k < d->k; k++) {
        uint32_t v = id_at(d, target, k);
        positions[k].k = k;
        positions[k].len = d->offsets[k][v + 1] - d->offsets[k][v];
        hits += positions[k].len;
    }
    /* An increment costs about as much as scanning INDEX_VS_SCAN ids from
     * memory. */
    if (hits * INDEX_VS_SCAN >= n * d->k) {
        score_every_product(catalog, mh, target, threads, matches);
        rc = 0;
        goto out;
    }
    if (hits < PRUNE_MIN_HITS) {
        /* so little to count that sorting and sampling would cost more */
        for (uint32_t k = 0; k < d->k; k++)
            order[k] = k;
        rc = count_postings(d, target, order, d->k, 1, matches);
        goto out;
    }
    order_by_length(positions, d->k, positions + d->k);
    for (uint32_t k = 0; k < d->k; k++)
        /* the counting sort writes each of the K slots once; the analyzer
         * cannot follow it: NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign) */
        order[k] = positions[d->k + k].k;

    /* Leaving out the `skip` longest lists costs any product at most skip
     * matches: one whose count over the rest stays below theta - skip
     * cannot reach theta, so only the others need an exact score. Half of
     * theta balances the increments saved against the products checked. */
    theta = limit > 0 && limit <= n - 1
                ? sample_threshold(catalog, mh, target, limit, positions + d->k, sample, sample_len)
                : 0;
    skip = theta > 1 ? (theta - 1) / 2 : 0;
    need = theta - skip;
    if (count_postings(d, target, order, d->k - skip, hits >= PARALLEL_MIN_HITS ? threads : 1,
                       matches) != 0)
        goto out;
    if (skip > 0) {
        struct exact_job job = {catalog, mh, target, need, matches};
        recs_parallel_for(n, PARALLEL_MIN_SCAN, threads, exact_range, &job);
    }
    rc = 0;
out:
    free(positions);
    free(order);
    free(sample);
    return rc;
}
