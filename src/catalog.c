/*
 * catalog.c - building catalog snapshots from rows, and applying change sets
 * to them (see catalog_private.h for the base + delta layout).
 *
 * A build first numbers the catalog's distinct tokens (vocabulary.h), then
 * interns one block of 64 positions at a time: a thread hashes the common
 * tokens once for its block, takes each product's minimum over them from
 * that table (hashing only its rare tokens), and looks each value up in the
 * block's 64 dictionaries, so threads never share a dictionary and need no
 * lock, and a block's tables stay small enough for the caches. Ids are
 * handed out as 8-bit first, a position's ids past the width escaped
 * (catalog_private.h); if a block escapes more than a few of its ids, the
 * rows are widened to 16 bits (then 32), keeping the blocks already done,
 * and the others start over. A changed product takes the base's ids of its
 * values, found in the sorted values the build leaves behind, and keeps
 * the values it escapes beside its row.
 */
#include "catalog_private.h"

#include <stdlib.h>
#include <string.h>

#include "parallel.h"
#include "vocabulary.h"

/* A catalog whose rows of 16-bit ids fit in this is always scanned (score.c),
 * so it carries no inverted index. */
#define SCAN_IN_CACHE_BYTES ((size_t)512 * 1024)
/* Below this many products a parallel build costs more than it saves. */
#define PARALLEL_MIN_BUILD 1024
/* A delta this large (changed products, against the base) makes a fresh
 * build worth its cost: the extras are scanned by every request and the
 * dead rows still cost their postings. */
#define REBUILD_MIN_DELTA 4096
#define REBUILD_DELTA_SHARE 16 /* 1/16 of the base */
/* What an estimate counts for the token sets a build holds while it
 * hashes: one distinct token per this many bytes of text (the demo,
 * vectors and synthetic catalogs have one per 9.7 to 10.0 bytes), each a
 * struct recs_token plus its bytes, which are at most the text's. */
#define TEXT_BYTES_PER_TOKEN 10

/* One position's dictionary while a build interns it: value -> id, open
 * addressing. */
struct catalog_dict {
    uint64_t *keys;
    uint32_t *ids; /* id + 1; 0 marks an empty slot */
    uint32_t cap, count;
};

/* A block's positions whose ids do not fit the rows' width, while a build
 * interns it: in row, then position order. */
struct escape {
    uint32_t i, k, id;
    uint64_t value;
};

struct block_escapes {
    struct escape *at;
    size_t count, cap;
};

/* A block escapes at most one id in this many of its products and
 * positions; past that, wider rows cost less than the values aside. */
#define ESCAPE_SHARE 16

/* The distinct tokens of one product, in one allocation. */
struct token_set {
    struct recs_token *tokens;
    size_t count;
};

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

static void dicts_free(struct catalog_dict *dicts, uint32_t k)
{
    for (uint32_t j = 0; dicts != NULL && j < k; j++) {
        free(dicts[j].keys);
        free(dicts[j].ids);
    }
    free(dicts);
}

static void base_free(struct catalog_base *b)
{
    if (b == NULL)
        return;
    free(b->products);
    free(b->strings);
    free(b->row_hashes);
    free(b->ids_alloc);
    free(b->aside);
    free(b->aside_first);
    for (uint32_t k = 0; b->offsets != NULL && k < b->k; k++) {
        free(b->offsets[k]);
        free(b->postings[k]);
    }
    free(b->offsets);
    free(b->postings);
    free(b->indexed);
    for (uint32_t k = 0; b->sorted_values != NULL && k < b->k; k++) {
        free(b->sorted_values[k]);
        free(b->sorted_ids[k]);
    }
    free(b->sorted_values);
    free(b->sorted_ids);
    free(b->slots);
    free(b);
}

static void base_unref(struct catalog_base *b)
{
    if (b != NULL && atomic_fetch_sub(&b->refs, 1) == 1)
        base_free(b);
}

static void extra_unref(struct catalog_extra *e)
{
    if (e != NULL && atomic_fetch_sub(&e->refs, 1) == 1) {
        free(e->ids);
        free(e->aside);
        free(e);
    }
}

static uint64_t mix(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* A hash of everything a response shows of a product. Strings are hashed
 * with their terminating NUL, so field boundaries cannot shift. */
static uint64_t row_hash(const struct recs_product *p)
{
    uint64_t h = 0xcbf29ce484222325ull;

    h = mix(h, &p->id, sizeof(p->id));
    h = mix(h, &p->price_cents, sizeof(p->price_cents));
    h = mix(h, p->slug, strlen(p->slug) + 1);
    h = mix(h, p->title, p->title_len + 1);
    h = mix(h, p->description, p->description_len + 1);
    return p->category != NULL ? mix(h, p->category, strlen(p->category) + 1) : mix(h, "", 0);
}

static char *copy_string(char **cursor, const char *s, size_t len)
{
    char *at = *cursor;
    memcpy(at, s, len);
    at[len] = '\0';
    *cursor += len + 1;
    return at;
}

static size_t product_bytes(const struct recs_product *p)
{
    return strlen(p->slug) + 1 + p->title_len + 1 + p->description_len + 1 +
           (p->category != NULL ? strlen(p->category) + 1 : 0);
}

static size_t row_bytes(const struct recs_row *r)
{
    return strlen(r->slug) + 1 + r->title_len + 1 + r->description_len + 1 +
           (r->category != NULL ? strlen(r->category) + 1 : 0);
}

/* Copies row r into p, its strings at *cursor. */
static void copy_row(struct recs_product *p, const struct recs_row *r, char **cursor)
{
    p->id = r->id;
    p->price_cents = r->price_cents;
    p->has_signature = false;
    p->slug = copy_string(cursor, r->slug, strlen(r->slug));
    p->title = copy_string(cursor, r->title, r->title_len);
    p->title_len = r->title_len;
    p->description = copy_string(cursor, r->description, r->description_len);
    p->description_len = r->description_len;
    p->category =
        r->category != NULL ? copy_string(cursor, r->category, strlen(r->category)) : NULL;
}

/* One copy of each category slug: the products of a category share it, so
 * the strings take less memory and a filter can recognise a category by
 * its address (score.c). An open-addressing table of the copies made. */
struct category_set {
    const char **slots;
    size_t mask;
};

static const char *shared_category(struct category_set *set, const char *category, char **cursor)
{
    size_t s = recs_fnv1a64(category, strlen(category)) & set->mask;

    while (set->slots[s] != NULL) {
        if (strcmp(set->slots[s], category) == 0)
            return set->slots[s];
        s = (s + 1) & set->mask;
    }
    set->slots[s] = copy_string(cursor, category, strlen(category));
    return set->slots[s];
}

/* Copies the rows into products and one string block. */
static int load_rows(struct catalog_base *b, const struct recs_rows *rows)
{
    struct category_set categories = {0};
    size_t total = 0, cap = 16;
    char *cursor;

    for (size_t i = 0; i < rows->count; i++) {
        const struct recs_row *r = &rows->rows[i];
        if (r->deleted || r->slug == NULL || r->title == NULL || r->description == NULL ||
            (i > 0 && r->id <= rows->rows[i - 1].id))
            return -1; /* ids must ascend: rank ties and lookups rely on it */
        total += row_bytes(r);
    }
    while (cap < rows->count * 2)
        cap *= 2;
    categories.slots = calloc(cap, sizeof(*categories.slots));
    categories.mask = cap - 1;
    b->products = calloc(b->count ? b->count : 1, sizeof(*b->products));
    b->row_hashes = malloc((b->count ? b->count : 1) * sizeof(*b->row_hashes));
    b->strings = malloc(total ? total : 1);
    if (categories.slots == NULL || b->products == NULL || b->row_hashes == NULL ||
        b->strings == NULL) {
        free(categories.slots);
        return -1;
    }
    cursor = b->strings;
    for (size_t i = 0; i < b->count; i++) {
        const struct recs_row *r = &rows->rows[i];
        struct recs_row own = *r;
        own.category = NULL;
        copy_row(&b->products[i], &own, &cursor);
        if (r->category != NULL)
            b->products[i].category = shared_category(&categories, r->category, &cursor);
    }
    free(categories.slots);
    b->bytes +=
        b->count * (sizeof(*b->products) + sizeof(*b->row_hashes)) + (size_t)(cursor - b->strings);
    return 0;
}

static bool same_string(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool same_text(const struct recs_product *p, const struct recs_row *r)
{
    return p->title_len == r->title_len && p->description_len == r->description_len &&
           memcmp(p->title, r->title, r->title_len) == 0 &&
           memcmp(p->description, r->description, r->description_len) == 0;
}

static bool same_row(const struct recs_product *p, const struct recs_row *r)
{
    return p->id == r->id && p->price_cents == r->price_cents && same_string(p->slug, r->slug) &&
           same_string(p->category, r->category) && same_text(p, r);
}

static bool same_rows(const struct recs_catalog *c, const struct recs_rows *rows)
{
    const struct catalog_base *b = c->base;

    if (c->nextra != 0 || c->ndead != 0 || b->count != rows->count)
        return false;
    for (size_t i = 0; i < b->count; i++) {
        if (!same_row(&b->products[i], &rows->rows[i]))
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
    struct catalog_base *b;
    struct token_set *sets; /* NULL: hash the rows only */
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

/* The distinct tokens of p into scratch; a text beyond what the tokenizer
 * takes has none (score 0) rather than failing the whole catalog. */
static int tokenize_product(struct recs_scratch *scratch, const struct recs_product *p,
                            const struct recs_token **tokens, size_t *n)
{
    *n = 0;
    if (!recs_minhash_text_fits(p->title_len, p->description_len))
        return 0;
    return recs_tokenize(scratch, p->title, p->title_len, p->description, p->description_len,
                         tokens, n);
}

static void tokenize_range(void *ctx, unsigned worker, size_t begin, size_t end)
{
    struct tokenize_job *job = ctx;
    struct recs_scratch *scratch = job->sets != NULL ? recs_scratch_create() : NULL;

    (void)worker;
    for (size_t i = begin; i < end; i++) {
        struct recs_product *p = &job->b->products[i];
        const struct recs_token *tokens = NULL;
        size_t n = 0;

        job->b->row_hashes[i] = row_hash(p);
        if (job->sets == NULL)
            continue;
        if (scratch == NULL || tokenize_product(scratch, p, &tokens, &n) != 0 ||
            keep_tokens(&job->sets[i], tokens, n) != 0) {
            atomic_store(&job->failed, 1);
            break;
        }
        p->has_signature = n > 0;
    }
    recs_scratch_destroy(scratch);
}

/* Hashes every row and, given sets, tokenizes every product into its own
 * token set. */
static int tokenize_all(struct catalog_base *b, struct token_set *sets, unsigned threads)
{
    struct tokenize_job job = {.b = b, .sets = sets};

    recs_parallel_for(b->count, 64, b->count >= PARALLEL_MIN_BUILD ? threads : 1, tokenize_range,
                      &job);
    return atomic_load(&job.failed) ? -1 : 0;
}

static int dict_grow(struct catalog_dict *dict)
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
static uint32_t dict_intern(struct catalog_dict *dict, uint64_t value)
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

static void store_id(unsigned char *row, unsigned id_bytes, uint32_t k, uint32_t id)
{
    if (id_bytes == 1)
        row[k] = (uint8_t)id;
    else if (id_bytes == 2)
        ((uint16_t *)row)[k] = (uint16_t)id;
    else
        ((uint32_t *)row)[k] = id;
}

/* How many rows ahead the index passes ask for a row: rows lie a whole
 * signature apart, farther than the processor follows a stride by itself. */
#define INDEX_PREFETCH_ROWS 8
/* Positions indexed in one pass over the rows: the write cursors of 32
 * positions' lists stay in the caches, 64 positions' do not (at 1,000,000
 * products the whole build took 17-18 s with 32, 20 s with 64 and 16). */
#define INDEX_SPAN 32u

/* The block's ids of product i: count ids from position first on. */
static const void *block_ids(const struct catalog_base *b, size_t i, uint32_t first)
{
    return b->ids + i * b->row_stride + (size_t)first * b->id_bytes;
}

/* Appends the gap from *last to product i to a list at bytes + *at (see
 * catalog_private.h), or with bytes NULL only counts its bytes. */
static void put_gap(uint8_t *bytes, uint32_t *at, uint32_t *last, uint32_t i)
{
    uint32_t gap = i - *last;

    *last = i;
    for (; gap >= 0x80u; gap >>= 7) {
        if (bytes != NULL)
            bytes[*at] = (uint8_t)(gap | 0x80u);
        *at += 1;
    }
    if (bytes != NULL)
        bytes[*at] = (uint8_t)gap;
    *at += 1;
}

/* The id escaped at position k of row i: a block's escapes come in row,
 * then position order, so a cursor only moves forward. */
static uint32_t escaped_id(const struct block_escapes *esc, size_t *at, size_t i, uint32_t k)
{
    while (*at + 1 < esc->count &&
           (esc->at[*at].i < i || (esc->at[*at].i == i && esc->at[*at].k < k)))
        *at += 1;
    return esc->at[*at].id;
}

/* Row i's ids at positions first .. first + count, escaped ones looked up. */
static void span_ids(const struct catalog_base *b, const struct block_escapes *esc, size_t *at,
                     size_t i, uint32_t first, uint32_t count, uint32_t *out)
{
    const unsigned char *row = b->ids + i * b->row_stride;
    uint32_t escape = catalog_escape(b->id_bytes);

    for (uint32_t j = 0; j < count; j++) {
        out[j] = catalog_row_id(b, row, first + j);
        if (out[j] == escape)
            out[j] = escaped_id(esc, at, i, first + j);
    }
}

/* The inverted index of up to INDEX_SPAN positions, from the ids just
 * interned: a counting sort of the products by id, for all these positions
 * in the same two passes over the rows (one pass per position would load a
 * whole row's cache line for each id it reads). The first pass measures
 * each list in bytes, the second writes its gaps. */
static enum intern_result index_block(struct catalog_base *b, const struct catalog_dict *dicts,
                                      const struct block_escapes *esc, uint32_t first,
                                      uint32_t count)
{
    uint32_t *offsets[INDEX_SPAN], *last[INDEX_SPAN] = {0}, ids[INDEX_SPAN];
    uint8_t *lists[INDEX_SPAN];
    enum intern_result r = INTERN_NO_MEMORY;
    size_t at = 0;

    for (uint32_t j = 0; j < count; j++) {
        uint32_t k = first + j, distinct = dicts[k].count;
        free(b->offsets[k]);
        free(b->postings[k]);
        b->postings[k] = NULL;
        offsets[j] = b->offsets[k] = calloc((size_t)distinct + 1, sizeof(**offsets));
        last[j] = calloc(distinct ? distinct : 1, sizeof(**last));
        b->indexed[k] = distinct;
        if (offsets[j] == NULL || last[j] == NULL)
            goto out;
    }
    for (size_t i = 0; i < b->count; i++) {
        if (i + INDEX_PREFETCH_ROWS < b->count)
            __builtin_prefetch(block_ids(b, i + INDEX_PREFETCH_ROWS, first));
        if (!b->products[i].has_signature)
            continue;
        span_ids(b, esc, &at, i, first, count, ids);
        for (uint32_t j = 0; j < count; j++)
            put_gap(NULL, &offsets[j][ids[j] + 1], &last[j][ids[j]], (uint32_t)i);
    }
    for (uint32_t j = 0; j < count; j++) {
        uint32_t distinct = b->indexed[first + j];
        for (uint32_t v = 0; v < distinct; v++)
            offsets[j][v + 1] += offsets[j][v];
        lists[j] = b->postings[first + j] = malloc(offsets[j][distinct] ? offsets[j][distinct] : 1);
        if (lists[j] == NULL)
            goto out;
        memset(last[j], 0, (distinct ? distinct : 1) * sizeof(**last));
    }
    /* fill using offsets[v] as the cursor, then shift it back */
    at = 0;
    for (size_t i = 0; i < b->count; i++) {
        if (i + INDEX_PREFETCH_ROWS < b->count)
            __builtin_prefetch(block_ids(b, i + INDEX_PREFETCH_ROWS, first));
        if (!b->products[i].has_signature)
            continue;
        span_ids(b, esc, &at, i, first, count, ids);
        for (uint32_t j = 0; j < count; j++)
            put_gap(lists[j], &offsets[j][ids[j]], &last[j][ids[j]], (uint32_t)i);
    }
    for (uint32_t j = 0; j < count; j++) {
        for (uint32_t v = b->indexed[first + j]; v > 0; v--)
            offsets[j][v] = offsets[j][v - 1];
        offsets[j][0] = 0;
    }
    r = INTERN_OK;
out:
    for (uint32_t j = 0; j < count; j++)
        free(last[j]);
    return r;
}

struct value_id {
    uint64_t value;
    uint32_t id;
};

static int by_value(const void *a, const void *b)
{
    uint64_t x = ((const struct value_id *)a)->value, y = ((const struct value_id *)b)->value;
    return (x > y) - (x < y);
}

/* Turns the block's dictionaries into sorted value arrays, with which
 * changed products find their ids, and frees them. */
static enum intern_result sort_block(struct catalog_base *b, struct catalog_dict *dicts,
                                     uint32_t first, uint32_t count)
{
    for (uint32_t j = 0; j < count; j++) {
        struct catalog_dict *dict = &dicts[first + j];
        struct value_id *pairs = malloc((dict->count ? dict->count : 1) * sizeof(*pairs));
        uint64_t *values = malloc((dict->count ? dict->count : 1) * sizeof(*values));
        uint32_t *ids = malloc((dict->count ? dict->count : 1) * sizeof(*ids));
        uint32_t n = 0;

        free(b->sorted_values[first + j]);
        free(b->sorted_ids[first + j]);
        b->sorted_values[first + j] = values;
        b->sorted_ids[first + j] = ids;
        if (pairs == NULL || values == NULL || ids == NULL) {
            free(pairs);
            return INTERN_NO_MEMORY;
        }
        for (uint32_t s = 0; s < dict->cap; s++) {
            if (dict->ids[s] != 0)
                pairs[n++] = (struct value_id){dict->keys[s], dict->ids[s] - 1};
        }
        qsort(pairs, n, sizeof(*pairs), by_value);
        for (uint32_t i = 0; i < n; i++) {
            values[i] = pairs[i].value;
            ids[i] = pairs[i].id;
        }
        free(pairs);
        b->indexed[first + j] = n;
        free(dict->keys);
        free(dict->ids);
        memset(dict, 0, sizeof(*dict));
    }
    return INTERN_OK;
}

/* The common tokens' values at one block of positions, computed once for
 * the block: each token's values as ranks (equal values, equal ranks), so
 * that a product's minimum over its common tokens is a minimum of small
 * integers; the value and, once interned, the id of each rank. The table
 * stays small enough for the second-level cache. */
#define COMMON_TOKENS_MAX 4096u
#define RANK_NONE UINT16_MAX

struct block_table {
    uint32_t tokens, count;  /* common tokens (ids below it), positions */
    uint16_t *ranks;         /* tokens x a whole block: ranks[t * RECS_MINHASH_BLOCK + j] */
    uint64_t *values;        /* count x tokens: values[j * tokens + r] */
    uint32_t *ids;           /* count x tokens: the id of a rank + 1, 0 = not yet */
    struct value_id *sort;   /* tokens */
    struct recs_token *rare; /* the rest of one product's tokens */
    size_t rare_cap;
};

static void block_table_free(struct block_table *t)
{
    free(t->ranks);
    free(t->values);
    free(t->ids);
    free(t->sort);
    free(t->rare);
}

static int block_table_fill(struct block_table *t, const struct recs_minhash *mh,
                            const struct recs_vocabulary *vocab, uint32_t first, uint32_t count)
{
    uint32_t n = vocab->count < COMMON_TOKENS_MAX ? (uint32_t)vocab->count : COMMON_TOKENS_MAX;
    uint64_t values[RECS_MINHASH_BLOCK];

    memset(t, 0, sizeof(*t));
    t->tokens = n;
    t->count = count;
    n = n ? n : 1;
    t->ranks = calloc((size_t)n * RECS_MINHASH_BLOCK, sizeof(*t->ranks));
    t->values = malloc((size_t)n * RECS_MINHASH_BLOCK * sizeof(*t->values));
    t->ids = calloc((size_t)n * RECS_MINHASH_BLOCK, sizeof(*t->ids));
    t->sort = malloc((size_t)n * RECS_MINHASH_BLOCK * sizeof(*t->sort));
    if (t->ranks == NULL || t->values == NULL || t->ids == NULL || t->sort == NULL)
        return -1;
    for (uint32_t tok = 0; tok < t->tokens; tok++) {
        recs_minhash_sign_range(mh, &vocab->tokens[tok], 1, first, count, values);
        for (uint32_t j = 0; j < count; j++)
            t->sort[(size_t)j * t->tokens + tok] = (struct value_id){values[j], tok};
    }
    for (uint32_t j = 0; j < count; j++) {
        struct value_id *sorted = t->sort + (size_t)j * t->tokens;
        uint32_t rank = 0;
        qsort(sorted, t->tokens, sizeof(*sorted), by_value);
        for (uint32_t r = 0; r < t->tokens; r++) {
            if (r > 0 && sorted[r].value != sorted[r - 1].value)
                rank++;
            t->ranks[(size_t)sorted[r].id * RECS_MINHASH_BLOCK + j] = (uint16_t)rank;
            t->values[(size_t)j * t->tokens + rank] = sorted[r].value;
        }
    }
    return 0;
}

/* The id of the value at block position j whose smallest common rank is
 * rank (RANK_NONE: no common token) and whose rare tokens' minimum is rare
 * (when there are any), and the value in *value. Returns UINT32_MAX when
 * memory runs out. */
static uint32_t block_id_of(struct block_table *t, struct catalog_dict *dict, uint32_t j,
                            uint16_t rank, bool has_rare, uint64_t rare, uint64_t *value)
{
    size_t at = (size_t)j * t->tokens + rank;
    uint32_t id;

    if (rank == RANK_NONE || (has_rare && rare < t->values[at])) {
        *value = rare;
        return dict_intern(dict, rare);
    }
    *value = t->values[at];
    if (t->ids[at] == 0) {
        if ((id = dict_intern(dict, t->values[at])) == UINT32_MAX)
            return UINT32_MAX;
        t->ids[at] = id + 1;
    }
    return t->ids[at] - 1;
}

/* How many rows intern_block interns between looks at whether another
 * block has failed (then its ids are too narrow and all work is wasted). */
#define INTERN_CHECK_ROWS 4096

/* Records that row i's id at position k does not fit the rows. */
static enum intern_result escape_id(struct block_escapes *esc, size_t budget, size_t i, uint32_t k,
                                    uint32_t id, uint64_t value)
{
    if (esc->count == budget)
        return INTERN_TOO_MANY;
    if (esc->count == esc->cap) {
        size_t cap = esc->cap ? esc->cap * 2 : 256;
        struct escape *grown = realloc(esc->at, cap * sizeof(*grown));
        if (grown == NULL)
            return INTERN_NO_MEMORY;
        esc->at = grown;
        esc->cap = cap;
    }
    esc->at[esc->count++] = (struct escape){(uint32_t)i, k, id, value};
    return INTERN_OK;
}

/* Signs every product for one block of positions and interns the values:
 * the minimum over a product's common tokens comes from the block's table,
 * only its rare tokens are hashed. Ids past the rows' width are escaped
 * into esc, up to a budget. Stops early once *failed is set. */
static enum intern_result intern_block(struct catalog_base *b, struct catalog_dict *all_dicts,
                                       struct block_escapes *esc, const struct recs_minhash *mh,
                                       const struct recs_vocabulary *vocab, uint32_t first,
                                       atomic_int *failed)
{
    uint32_t count = b->k - first < RECS_MINHASH_BLOCK ? b->k - first : RECS_MINHASH_BLOCK;
    uint32_t escape = catalog_escape(b->id_bytes);
    size_t budget = b->count * count / ESCAPE_SHARE;
    struct catalog_dict *dicts = all_dicts + first;
    struct block_table table;
    enum intern_result r = INTERN_NO_MEMORY;

    esc->count = 0;
    for (uint32_t j = 0; j < count; j++) {
        free(dicts[j].keys);
        free(dicts[j].ids);
        memset(&dicts[j], 0, sizeof(dicts[j]));
        if (dict_grow(&dicts[j]) != 0)
            return INTERN_NO_MEMORY;
    }
    if (block_table_fill(&table, mh, vocab, first, count) != 0)
        goto out;
    for (size_t i = 0; i < b->count; i++) {
        size_t ntokens = vocab->first[i + 1] - vocab->first[i], nrare = 0;
        unsigned char *row = b->ids + i * b->row_stride;
        const uint32_t *tokens;
        uint16_t best[RECS_MINHASH_BLOCK];
        uint64_t rare[RECS_MINHASH_BLOCK];

        if (i % INTERN_CHECK_ROWS == 0 && atomic_load(failed) != INTERN_OK) {
            r = (enum intern_result)atomic_load(failed);
            goto out;
        }
        if (ntokens == 0)
            continue; /* also: no product has tokens, and ids is NULL */
        tokens = vocab->ids + vocab->first[i];
        if (ntokens > table.rare_cap) {
            struct recs_token *grown = realloc(table.rare, ntokens * sizeof(*grown));
            if (grown == NULL)
                goto out;
            table.rare = grown;
            table.rare_cap = ntokens;
        }
        for (uint32_t j = 0; j < RECS_MINHASH_BLOCK; j++)
            best[j] = RANK_NONE;
        for (size_t t = 0; t < ntokens; t++) {
            const uint16_t *ranks = table.ranks + (size_t)tokens[t] * RECS_MINHASH_BLOCK;
            if (tokens[t] >= table.tokens) {
                table.rare[nrare++] = vocab->tokens[tokens[t]];
                continue;
            }
            /* a whole block, whatever count is: a loop the compiler
             * turns into vector minimums */
            for (uint32_t j = 0; j < RECS_MINHASH_BLOCK; j++)
                best[j] = ranks[j] < best[j] ? ranks[j] : best[j];
        }
        if (nrare > 0)
            recs_minhash_sign_range(mh, table.rare, nrare, first, count, rare);
        for (uint32_t j = 0; j < count; j++) {
            uint64_t value;
            uint32_t id = block_id_of(&table, &dicts[j], j, best[j], nrare > 0, rare[j], &value);
            if (id == UINT32_MAX)
                goto out;
            if (id >= escape) {
                if ((r = escape_id(esc, budget, i, first + j, id, value)) != INTERN_OK)
                    goto out;
                r = INTERN_NO_MEMORY;
                id = escape;
            }
            store_id(row, b->id_bytes, first + j, id);
        }
    }
    for (uint32_t sub = 0; b->offsets != NULL && sub < count; sub += INDEX_SPAN) {
        if (index_block(b, all_dicts, esc, first + sub,
                        count - sub < INDEX_SPAN ? count - sub : INDEX_SPAN) != INTERN_OK)
            goto out;
    }
    r = sort_block(b, all_dicts, first, count);
out:
    block_table_free(&table);
    return r;
}

struct intern_job {
    struct catalog_base *b;
    struct catalog_dict *dicts; /* K */
    const struct recs_minhash *mh;
    const struct recs_vocabulary *vocab;
    bool *done;                    /* per block: interned, indexed and sorted */
    struct block_escapes *escapes; /* per block */
    atomic_int result;
};

/* Interns the blocks of [begin, end) not done yet; each block has
 * dictionaries of its own. */
static void intern_range(void *ctx, unsigned worker, size_t begin, size_t end)
{
    struct intern_job *job = ctx;
    enum intern_result r = INTERN_OK;

    (void)worker;
    for (size_t blk = begin; blk < end && r == INTERN_OK && atomic_load(&job->result) == INTERN_OK;
         blk++) {
        if (job->done[blk])
            continue;
        r = intern_block(job->b, job->dicts, &job->escapes[blk], job->mh, job->vocab,
                         (uint32_t)blk * RECS_MINHASH_BLOCK, &job->result);
        job->done[blk] = r == INTERN_OK;
    }
    if (r != INTERN_OK)
        atomic_store(&job->result, r);
}

/* Rows of ids of b's width for b's products: calloc, not aligned_alloc and
 * memset, since a large calloc is fresh pages, zero already, which the
 * interning threads touch first in parallel instead of one thread clearing
 * gigabytes before they start. The rows start 64-aligned inside *alloc. */
static unsigned char *rows_alloc(struct catalog_base *b, void **alloc)
{
    b->row_stride = round_up((size_t)b->k * b->id_bytes, 64);
    *alloc = calloc(1, (b->count ? b->count * b->row_stride : 64) + 64);
    if (*alloc == NULL)
        return NULL;
    return (unsigned char *)*alloc + (round_up((uintptr_t)*alloc, 64) - (uintptr_t)*alloc);
}

/* Doubles the width of b's ids, keeping those of the blocks done: their
 * postings and sorted values do not depend on the width, so only the
 * blocks not done are interned again. The escaped ids that fit the new
 * width go into the rows. */
static enum intern_result widen_rows(struct catalog_base *b, const bool *done,
                                     struct block_escapes *escapes)
{
    const unsigned char *old = b->ids;
    size_t old_stride = b->row_stride;
    unsigned old_bytes = b->id_bytes;
    uint32_t old_escape = catalog_escape(old_bytes), escape;
    void *alloc;
    unsigned char *rows;

    b->id_bytes *= 2;
    escape = catalog_escape(b->id_bytes);
    if ((rows = rows_alloc(b, &alloc)) == NULL) {
        b->id_bytes = old_bytes;
        b->row_stride = old_stride;
        return INTERN_NO_MEMORY;
    }
    for (size_t i = 0; i < b->count; i++) {
        const unsigned char *from = old + i * old_stride;
        unsigned char *to = rows + i * b->row_stride;
        for (uint32_t first = 0; first < b->k; first += RECS_MINHASH_BLOCK) {
            uint32_t end = b->k - first < RECS_MINHASH_BLOCK ? b->k : first + RECS_MINHASH_BLOCK;
            if (!done[first / RECS_MINHASH_BLOCK])
                continue;
            /* loops of one width each, which the compiler vectorizes */
            if (old_bytes == 1) {
                for (uint32_t k = first; k < end; k++)
                    ((uint16_t *)(void *)to)[k] =
                        from[k] == old_escape ? (uint16_t)escape : from[k];
            } else {
                for (uint32_t k = first; k < end; k++) {
                    uint32_t id = ((const uint16_t *)(const void *)from)[k];
                    ((uint32_t *)(void *)to)[k] = id == old_escape ? escape : id;
                }
            }
        }
    }
    for (uint32_t blk = 0; (size_t)blk * RECS_MINHASH_BLOCK < b->k; blk++) {
        struct block_escapes *esc = &escapes[blk];
        size_t kept = 0;
        for (size_t e = 0; done[blk] && e < esc->count; e++) {
            if (esc->at[e].id < escape)
                store_id(rows + (size_t)esc->at[e].i * b->row_stride, b->id_bytes, esc->at[e].k,
                         esc->at[e].id);
            else
                esc->at[kept++] = esc->at[e];
        }
        esc->count = done[blk] ? kept : 0;
    }
    free(b->ids_alloc);
    b->ids_alloc = alloc;
    b->ids = rows;
    return INTERN_OK;
}

/* Moves the blocks' escapes, block by block (so ascending position within
 * each product), into the base's per-product lists of values aside. */
static enum intern_result gather_aside(struct catalog_base *b, const struct block_escapes *escapes,
                                       uint32_t blocks)
{
    size_t total = 0;

    for (uint32_t blk = 0; blk < blocks; blk++)
        total += escapes[blk].count;
    if (total == 0)
        return INTERN_OK;
    b->aside_first = calloc(b->count + 1, sizeof(*b->aside_first));
    b->aside = malloc(total * sizeof(*b->aside));
    if (b->aside_first == NULL || b->aside == NULL)
        return INTERN_NO_MEMORY;
    for (uint32_t blk = 0; blk < blocks; blk++) {
        for (size_t e = 0; e < escapes[blk].count; e++)
            b->aside_first[escapes[blk].at[e].i + 1]++;
    }
    for (size_t i = 0; i < b->count; i++)
        b->aside_first[i + 1] += b->aside_first[i];
    /* fill using aside_first[i] as the cursor, then shift it back */
    for (uint32_t blk = 0; blk < blocks; blk++) {
        for (size_t e = 0; e < escapes[blk].count; e++) {
            const struct escape *x = &escapes[blk].at[e];
            b->aside[b->aside_first[x->i]++] = (struct catalog_aside){x->k, x->value};
        }
    }
    for (size_t i = b->count; i > 0; i--)
        b->aside_first[i] = b->aside_first[i - 1];
    b->aside_first[0] = 0;
    b->bytes += total * sizeof(*b->aside) + (b->count + 1) * sizeof(*b->aside_first);
    return INTERN_OK;
}

/* Interns every block with the narrowest ids whose escapes stay few: 8
 * bits first; when a block escapes too many, the blocks running stop, the
 * rows are widened, and the blocks not done start over. */
static enum intern_result intern_all(struct catalog_base *b, struct catalog_dict *dicts,
                                     const struct recs_minhash *mh,
                                     const struct recs_vocabulary *vocab, unsigned threads)
{
    uint32_t blocks = (b->k + RECS_MINHASH_BLOCK - 1) / RECS_MINHASH_BLOCK;
    struct intern_job job = {.b = b, .dicts = dicts, .mh = mh, .vocab = vocab};
    enum intern_result r = INTERN_NO_MEMORY;

    b->id_bytes = 1;
    job.done = calloc(blocks ? blocks : 1, sizeof(*job.done));
    job.escapes = calloc(blocks ? blocks : 1, sizeof(*job.escapes));
    if (job.done == NULL || job.escapes == NULL || (b->ids = rows_alloc(b, &b->ids_alloc)) == NULL)
        goto out;
    for (;;) {
        atomic_store(&job.result, INTERN_OK);
        recs_parallel_for(blocks, 1, b->count >= PARALLEL_MIN_BUILD ? threads : 1, intern_range,
                          &job);
        r = (enum intern_result)atomic_load(&job.result);
        if (r != INTERN_TOO_MANY || b->id_bytes == 4 ||
            (r = widen_rows(b, job.done, job.escapes)) != INTERN_OK)
            break;
    }
    if (r == INTERN_OK)
        r = gather_aside(b, job.escapes, blocks);
out:
    for (uint32_t blk = 0; job.escapes != NULL && blk < blocks; blk++)
        free(job.escapes[blk].at);
    free(job.escapes);
    free(job.done);
    return r;
}

/* The vocabulary of the token sets, each set freed once numbered: the
 * build keeps the ids alone. */
static int number_tokens(struct recs_vocabulary *vocab, struct token_set *sets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (recs_vocabulary_add(vocab, sets[i].tokens, sets[i].count) != 0)
            return -1;
        free(sets[i].tokens);
        sets[i].tokens = NULL;
    }
    return recs_vocabulary_finish(vocab);
}

static size_t sorted_value_bytes(const struct catalog_base *b)
{
    size_t bytes = 0;
    for (uint32_t k = 0; k < b->k; k++)
        bytes += (size_t)b->indexed[k] * (sizeof(uint64_t) + sizeof(uint32_t));
    return bytes;
}

static int build_signatures(struct catalog_base *b, const struct recs_minhash *mh, unsigned threads)
{
    struct token_set *sets = calloc(b->count ? b->count : 1, sizeof(*sets));
    struct catalog_dict *dicts = NULL;
    struct recs_vocabulary vocab;
    enum intern_result r = INTERN_NO_MEMORY;
    bool indexed;

    recs_vocabulary_init(&vocab);

    b->k = recs_minhash_k(mh);
    /* decided before the ids' width is known: as if they were 16-bit */
    indexed = b->count * round_up((size_t)b->k * 2, 64) > SCAN_IN_CACHE_BYTES;
    dicts = calloc(b->k, sizeof(*dicts));
    b->indexed = calloc(b->k, sizeof(*b->indexed));
    b->sorted_values = calloc(b->k, sizeof(*b->sorted_values));
    b->sorted_ids = calloc(b->k, sizeof(*b->sorted_ids));
    if (indexed) {
        b->offsets = calloc(b->k, sizeof(*b->offsets));
        b->postings = calloc(b->k, sizeof(*b->postings));
    }
    if (sets == NULL || dicts == NULL || b->indexed == NULL || b->sorted_values == NULL ||
        b->sorted_ids == NULL || (indexed && (b->offsets == NULL || b->postings == NULL)))
        goto out;
    if (tokenize_all(b, sets, threads) != 0 || number_tokens(&vocab, sets, b->count) != 0)
        goto out;
    if ((r = intern_all(b, dicts, mh, &vocab, threads)) != INTERN_OK)
        goto out;
    b->bytes += b->count * b->row_stride + sorted_value_bytes(b);
    for (uint32_t k = 0; indexed && k < b->k; k++)
        b->bytes += b->offsets[k][b->indexed[k]];
out:
    dicts_free(dicts, b->k);
    free_token_sets(sets, b->count);
    recs_vocabulary_free(&vocab);
    return r == INTERN_OK ? 0 : -1;
}

static size_t slug_slot(const char *slug, size_t mask)
{
    return recs_fnv1a64(slug, strlen(slug)) & mask;
}

/* Slots of a slug table for n slugs: at most half of them used. */
static size_t slug_table_cap(size_t n)
{
    size_t cap = 16;

    while (cap < n * 2)
        cap *= 2;
    return cap;
}

/* An open-addressing table of n slugs: slots hold index + 1. */
static uint32_t *slug_table(size_t n, const char *(*slug_of)(const void *, size_t), const void *ctx,
                            size_t *mask)
{
    size_t cap = slug_table_cap(n);
    uint32_t *slots = calloc(cap, sizeof(*slots));

    if (slots == NULL)
        return NULL;
    *mask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        size_t s = slug_slot(slug_of(ctx, i), *mask);
        while (slots[s] != 0)
            s = (s + 1) & *mask;
        slots[s] = (uint32_t)(i + 1);
    }
    return slots;
}

static const char *base_slug(const void *ctx, size_t i)
{
    return ((const struct catalog_base *)ctx)->products[i].slug;
}

static const char *extra_slug(const void *ctx, size_t i)
{
    /* merge_changes sets extras[0 .. nextra), which the analyzer cannot
     * follow through slug_table: NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
    return ((const struct recs_catalog *)ctx)->extras[i]->product.slug;
}

static int64_t version_of(const struct recs_catalog *c)
{
    uint64_t h = c->content;
    if (c->identity != NULL)
        h ^= recs_fnv1a64(c->identity, strlen(c->identity));
    return (int64_t)(h & INT64_MAX);
}

/* Takes the snapshot's own copies of where rows stand. */
static int set_position(struct recs_catalog *c, const struct recs_rows *rows)
{
    if (rows->snapshot == NULL || rows->identity == NULL)
        return 0;
    c->snapshot = strdup(rows->snapshot);
    c->identity = strdup(rows->identity);
    return c->snapshot != NULL && c->identity != NULL ? 0 : -1;
}

static void catalog_free(struct recs_catalog *c)
{
    for (size_t i = 0; i < c->nextra; i++)
        extra_unref(c->extras[i]);
    free(c->extras);
    free(c->extra_slots);
    free(c->dead);
    free(c->snapshot);
    free(c->identity);
    base_unref(c->base);
    free(c);
}

static struct recs_catalog *catalog_new(void)
{
    struct recs_catalog *c = calloc(1, sizeof(*c));
    if (c != NULL)
        atomic_init(&c->refs, 1);
    return c;
}

int recs_catalog_build(const struct recs_minhash *mh, const struct recs_rows *rows, bool signatures,
                       const struct recs_catalog *previous, unsigned threads,
                       struct recs_catalog **out)
{
    struct recs_catalog *c = catalog_new();
    struct catalog_base *b = NULL;

    threads = threads ? threads : 1;
    if (c == NULL || rows->count >= UINT32_MAX || set_position(c, rows) != 0)
        goto fail;
    if (previous != NULL && (previous->base->id_bytes != 0) == signatures &&
        same_rows(previous, rows)) {
        c->base = previous->base;
        atomic_fetch_add(&c->base->refs, 1);
        c->content = previous->content;
        c->shared = true;
    } else {
        b = calloc(1, sizeof(*b));
        if (b == NULL)
            goto fail;
        atomic_init(&b->refs, 1);
        b->count = rows->count;
        if (load_rows(b, rows) != 0 ||
            (signatures ? build_signatures(b, mh, threads) : tokenize_all(b, NULL, threads)) != 0)
            goto fail;
        b->slots = slug_table(b->count, base_slug, b, &b->slot_mask);
        if (b->slots == NULL)
            goto fail;
        b->bytes += (b->slot_mask + 1) * sizeof(*b->slots);
        for (size_t i = 0; i < b->count; i++)
            c->content += b->row_hashes[i];
        c->computed = signatures ? b->count : 0;
        c->base = b;
        b = NULL;
    }
    c->version = version_of(c);
    *out = c;
    return 0;
fail:
    base_free(b);
    if (c != NULL)
        catalog_free(c);
    return -1;
}

size_t recs_catalog_estimate_bytes(const struct recs_rows *rows, uint32_t k,
                                   const struct recs_catalog *previous)
{
    size_t n = rows->count, strings = 0, text = 0, bytes, stride;

    if (previous != NULL && (previous->base->id_bytes != 0) == (k != 0) &&
        same_rows(previous, rows))
        return 0; /* the build shares previous's data */
    for (size_t i = 0; i < n; i++) {
        const struct recs_row *r = &rows->rows[i];
        if (r->slug == NULL || r->title == NULL || r->description == NULL)
            continue; /* the build refuses such rows before allocating for them */
        strings += row_bytes(r);
        text += r->title_len + r->description_len;
    }
    bytes = n * (sizeof(struct recs_product) + sizeof(uint64_t)) + strings +
            slug_table_cap(n) * sizeof(uint32_t);
    if (k == 0)
        return bytes;
    /* 16-bit ids (8-bit ones with the most escapes a build allows take as
     * much: a byte, and 16 bytes aside for one in 16), the inverted index
     * as build_signatures decides it with up to two bytes a posting (gaps
     * below 16,384), and the token sets; the dictionaries (12 bytes per
     * distinct value and position) are not known before hashing and are
     * left out */
    stride = round_up((size_t)k * 2, 64);
    bytes += n * stride;
    if (n * stride > SCAN_IN_CACHE_BYTES)
        bytes += (size_t)k * n * 2;
    return bytes + text + text / TEXT_BYTES_PER_TOKEN * sizeof(struct recs_token);
}

size_t recs_catalog_estimate_apply_bytes(const struct recs_catalog *previous,
                                         const struct recs_rows *changes)
{
    const struct catalog_base *b = previous->base;
    size_t extras = previous->nextra + changes->count;
    size_t bytes = (b->count + 63) / 64 * sizeof(uint64_t) +
                   (extras + 1) * sizeof(struct catalog_extra *) +
                   slug_table_cap(extras) * sizeof(uint32_t) + (size_t)b->k * sizeof(uint64_t);

    for (size_t i = 0; i < changes->count; i++) {
        const struct recs_row *r = &changes->rows[i];
        if (!r->deleted && r->slug != NULL && r->title != NULL && r->description != NULL)
            bytes += sizeof(struct catalog_extra) + row_bytes(r) + b->row_stride +
                     (size_t)b->k * sizeof(struct catalog_aside); /* at most: all aside */
    }
    return bytes;
}

/* The base row holding id, or -1. */
static long base_find_id(const struct catalog_base *b, int64_t id)
{
    size_t lo = 0, hi = b->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->products[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->count && b->products[lo].id == id ? (long)lo : -1;
}

/* Signs p and takes the base's ids of its values; the values no base row
 * holds, and those whose ids do not fit the rows, are escaped and kept
 * aside, position by position. */
static recs_catalog_apply_status sign_extra(const struct catalog_base *b,
                                            const struct recs_minhash *mh,
                                            struct recs_scratch *scratch, struct catalog_extra *e,
                                            uint64_t *values)
{
    uint32_t escape = catalog_escape(b->id_bytes), naside = 0;
    const struct recs_token *tokens = NULL;
    size_t n = 0;

    if (tokenize_product(scratch, &e->product, &tokens, &n) != 0)
        return RECS_CATALOG_NO_MEMORY;
    e->product.has_signature = n > 0;
    if (n == 0)
        return RECS_CATALOG_APPLIED;
    recs_minhash_sign_tokens(mh, tokens, n, values);
    for (uint32_t k = 0; k < b->k; k++) {
        uint32_t id = catalog_base_value_id(b, k, values[k]);
        id = id < escape ? id : escape;
        store_id(e->ids, b->id_bytes, k, id);
        naside += id == escape;
    }
    if (naside == 0)
        return RECS_CATALOG_APPLIED;
    e->aside = malloc(naside * sizeof(*e->aside));
    if (e->aside == NULL)
        return RECS_CATALOG_NO_MEMORY;
    for (uint32_t k = 0; k < b->k; k++) {
        if (catalog_row_id(b, e->ids, k) == escape)
            e->aside[e->naside++] = (struct catalog_aside){k, values[k]};
    }
    return RECS_CATALOG_APPLIED;
}

/* What the change needs to sign a changed text: made on first use. */
struct signer {
    struct recs_scratch *scratch;
    uint64_t *values;
};

/* A new extra for row r. current is the product's present version (NULL
 * for a new product) with its row of ids: an unchanged text keeps them. */
static recs_catalog_apply_status
make_extra(const struct recs_catalog *prev, const struct recs_minhash *mh, const struct recs_row *r,
           const struct recs_product *current, const unsigned char *current_ids,
           const struct catalog_aside *current_aside, size_t current_naside, struct signer *signer,
           struct catalog_extra **out, bool *hashed)
{
    const struct catalog_base *b = prev->base;
    struct catalog_extra *e = malloc(sizeof(*e) + row_bytes(r));
    char *cursor;

    *hashed = false;
    if (e == NULL)
        return RECS_CATALOG_NO_MEMORY;
    atomic_init(&e->refs, 1);
    e->ids = NULL;
    e->aside = NULL;
    e->naside = 0;
    cursor = (char *)(e + 1);
    copy_row(&e->product, r, &cursor);
    e->row_hash = row_hash(&e->product);
    *out = e;
    if (b->id_bytes == 0)
        return RECS_CATALOG_APPLIED;
    e->ids = aligned_alloc(64, b->row_stride);
    if (e->ids == NULL)
        return RECS_CATALOG_NO_MEMORY;
    if (current != NULL && current_ids != NULL && same_text(current, r)) {
        memcpy(e->ids, current_ids, b->row_stride);
        e->product.has_signature = current->has_signature;
        if (current_naside == 0)
            return RECS_CATALOG_APPLIED;
        e->aside = malloc(current_naside * sizeof(*e->aside));
        if (e->aside == NULL)
            return RECS_CATALOG_NO_MEMORY;
        memcpy(e->aside, current_aside, current_naside * sizeof(*e->aside));
        e->naside = (uint32_t)current_naside;
        return RECS_CATALOG_APPLIED;
    }
    memset(e->ids, 0, b->row_stride);
    if (signer->scratch == NULL) {
        signer->scratch = recs_scratch_create();
        signer->values = malloc(b->k * sizeof(*signer->values));
        if (signer->scratch == NULL || signer->values == NULL)
            return RECS_CATALOG_NO_MEMORY;
    }
    *hashed = true;
    return sign_extra(b, mh, signer->scratch, e, signer->values);
}

static void mark_dead(struct recs_catalog *c, size_t i)
{
    if (!catalog_dead(c, i)) {
        c->dead[i / 64] |= (uint64_t)1 << (i % 64);
        c->ndead++;
    }
}

/* Applies one change row to c, whose extras so far are the merge of
 * prev's extras below r->id and the changes before r. e_prev is prev's
 * extra for r->id, or NULL. */
static recs_catalog_apply_status apply_row(struct recs_catalog *c, const struct recs_catalog *prev,
                                           const struct recs_minhash *mh, const struct recs_row *r,
                                           struct catalog_extra *e_prev, struct signer *signer)
{
    const struct catalog_base *b = c->base;
    long row = base_find_id(b, r->id);
    const struct recs_product *current = NULL;
    const unsigned char *current_ids = NULL;
    const struct catalog_aside *current_aside = NULL;
    size_t current_naside = 0;
    struct catalog_extra *e = NULL;
    recs_catalog_apply_status status;
    bool hashed = false;

    if (e_prev != NULL) {
        current = &e_prev->product;
        current_ids = e_prev->ids;
        current_aside = e_prev->aside;
        current_naside = e_prev->naside;
    } else if (row >= 0 && !catalog_dead(prev, (size_t)row)) {
        current = &b->products[row];
        current_ids = b->ids != NULL ? b->ids + (size_t)row * b->row_stride : NULL;
        catalog_aside_of(prev, (size_t)row, &current_aside, &current_naside);
    }
    if (!r->deleted && current != NULL && same_row(current, r)) {
        if (e_prev != NULL) { /* unchanged: keep it */
            atomic_fetch_add(&e_prev->refs, 1);
            c->extras[c->nextra++] = e_prev;
        }
        return RECS_CATALOG_APPLIED;
    }
    if (current != NULL)
        c->content -= e_prev != NULL ? e_prev->row_hash : b->row_hashes[row];
    if (row >= 0)
        mark_dead(c, (size_t)row);
    if (r->deleted)
        return RECS_CATALOG_APPLIED;
    status = make_extra(prev, mh, r, current, current_ids, current_aside, current_naside, signer,
                        &e, &hashed);
    if (status != RECS_CATALOG_APPLIED) {
        extra_unref(e);
        return status;
    }
    c->computed += hashed;
    c->content += e->row_hash;
    c->extras[c->nextra++] = e;
    return RECS_CATALOG_APPLIED;
}

/* Merges prev's extras with the change rows (both ascending id) into c. */
static recs_catalog_apply_status merge_changes(struct recs_catalog *c,
                                               const struct recs_catalog *prev,
                                               const struct recs_minhash *mh,
                                               const struct recs_rows *changes)
{
    struct signer signer = {0};
    recs_catalog_apply_status status = RECS_CATALOG_APPLIED;
    size_t i = 0, j = 0;

    while (status == RECS_CATALOG_APPLIED && (i < prev->nextra || j < changes->count)) {
        struct catalog_extra *e = i < prev->nextra ? prev->extras[i] : NULL;
        const struct recs_row *r = j < changes->count ? &changes->rows[j] : NULL;

        if (r == NULL || (e != NULL && e->product.id < r->id)) {
            atomic_fetch_add(&e->refs, 1);
            c->extras[c->nextra++] = e;
            i++;
            continue;
        }
        bool same_id = e != NULL && e->product.id == r->id;
        status = apply_row(c, prev, mh, r, same_id ? e : NULL, &signer);
        i += same_id;
        j++;
    }
    recs_scratch_destroy(signer.scratch);
    free(signer.values);
    return status;
}

recs_catalog_apply_status recs_catalog_apply(const struct recs_catalog *previous,
                                             const struct recs_minhash *mh,
                                             const struct recs_rows *changes,
                                             struct recs_catalog **out)
{
    const struct catalog_base *b = previous->base;
    size_t words = (b->count + 63) / 64;
    recs_catalog_apply_status status = RECS_CATALOG_NO_MEMORY;
    struct recs_catalog *c = catalog_new();

    if (c == NULL)
        return RECS_CATALOG_NO_MEMORY;
    c->base = previous->base;
    atomic_fetch_add(&c->base->refs, 1);
    c->content = previous->content;
    c->ndead = previous->ndead;
    c->dead = calloc(words ? words : 1, sizeof(*c->dead));
    /* an array of pointers to the extras, shared with other snapshots:
     * NOLINTNEXTLINE(bugprone-sizeof-expression) */
    c->extras = calloc(previous->nextra + changes->count + 1, sizeof(*c->extras));
    if (c->dead == NULL || c->extras == NULL || set_position(c, changes) != 0)
        goto fail;
    if (previous->dead != NULL)
        memcpy(c->dead, previous->dead, words * sizeof(*c->dead));
    status = merge_changes(c, previous, mh, changes);
    if (status != RECS_CATALOG_APPLIED)
        goto fail;
    status = RECS_CATALOG_NO_MEMORY;
    c->extra_slots = slug_table(c->nextra, extra_slug, c, &c->extra_slot_mask);
    if (c->extra_slots == NULL)
        goto fail;
    c->version = version_of(c);
    *out = c;
    return RECS_CATALOG_APPLIED;
fail:
    catalog_free(c);
    return status;
}

bool recs_catalog_wants_rebuild(const struct recs_catalog *catalog)
{
    size_t delta = catalog->nextra + catalog->ndead;
    return delta > REBUILD_MIN_DELTA && delta > catalog->base->count / REBUILD_DELTA_SHARE;
}

void recs_catalog_ref(struct recs_catalog *catalog)
{
    atomic_fetch_add(&catalog->refs, 1);
}

void recs_catalog_unref(struct recs_catalog *catalog)
{
    if (catalog != NULL && atomic_fetch_sub(&catalog->refs, 1) == 1)
        catalog_free(catalog);
}

int64_t recs_catalog_version(const struct recs_catalog *catalog)
{
    return catalog->version;
}

const char *recs_catalog_snapshot(const struct recs_catalog *catalog)
{
    return catalog->snapshot;
}

const char *recs_catalog_identity(const struct recs_catalog *catalog)
{
    return catalog->identity;
}

size_t recs_catalog_count(const struct recs_catalog *catalog)
{
    return catalog->base->count + catalog->nextra;
}

size_t recs_catalog_live_count(const struct recs_catalog *catalog)
{
    return catalog->base->count - catalog->ndead + catalog->nextra;
}

bool recs_catalog_live(const struct recs_catalog *catalog, size_t i)
{
    return !catalog_dead(catalog, i);
}

bool recs_catalog_has_signatures(const struct recs_catalog *catalog)
{
    return catalog->base->id_bytes != 0;
}

size_t recs_catalog_bytes(const struct recs_catalog *catalog)
{
    const struct catalog_base *b = catalog->base;
    size_t delta = catalog->dead != NULL ? (b->count + 63) / 64 * 8 : 0;

    for (size_t i = 0; i < catalog->nextra; i++)
        delta += sizeof(struct catalog_extra) + product_bytes(&catalog->extras[i]->product) +
                 b->row_stride + catalog->extras[i]->naside * sizeof(struct catalog_aside);
    return b->bytes + delta;
}

size_t recs_catalog_computed(const struct recs_catalog *catalog)
{
    return catalog->computed;
}

bool recs_catalog_shared(const struct recs_catalog *catalog)
{
    return catalog->shared;
}

size_t recs_catalog_delta_count(const struct recs_catalog *catalog)
{
    return catalog->nextra;
}

const struct recs_product *recs_catalog_product(const struct recs_catalog *catalog, size_t i)
{
    const struct catalog_base *b = catalog->base;
    return i < b->count ? &b->products[i] : &catalog->extras[i - b->count]->product;
}

long recs_catalog_find(const struct recs_catalog *catalog, const char *slug)
{
    const struct catalog_base *b = catalog->base;
    size_t s;

    /* a changed product's slug is the extra's; its base row is dead */
    if (catalog->extra_slots != NULL) {
        s = slug_slot(slug, catalog->extra_slot_mask);
        while (catalog->extra_slots[s] != 0) {
            size_t i = catalog->extra_slots[s] - 1;
            if (strcmp(catalog->extras[i]->product.slug, slug) == 0)
                return (long)(b->count + i);
            s = (s + 1) & catalog->extra_slot_mask;
        }
    }
    s = slug_slot(slug, b->slot_mask);
    while (b->slots[s] != 0) {
        size_t i = b->slots[s] - 1;
        if (strcmp(b->products[i].slug, slug) == 0)
            return catalog_dead(catalog, i) ? -1 : (long)i;
        s = (s + 1) & b->slot_mask;
    }
    return -1;
}

/* The positions where two products both hold the escape, which their rows
 * count as matches, but different values. */
static uint32_t aside_mismatches(const struct catalog_aside *x, size_t nx,
                                 const struct catalog_aside *y, size_t ny)
{
    uint32_t n = 0;

    for (size_t i = 0, j = 0; i < nx && j < ny;) {
        if (x[i].k < y[j].k) {
            i++;
        } else if (x[i].k > y[j].k) {
            j++;
        } else {
            n += x[i].value != y[j].value;
            i++;
            j++;
        }
    }
    return n;
}

uint32_t recs_catalog_matches(const struct recs_catalog *catalog, const struct recs_minhash *mh,
                              size_t a, size_t b)
{
    const void *ra = catalog_row(catalog, a), *rb = catalog_row(catalog, b);

    const struct catalog_aside *xa, *xb;
    size_t na, nb;
    uint32_t n;

    if (!recs_catalog_product(catalog, a)->has_signature ||
        !recs_catalog_product(catalog, b)->has_signature)
        return 0;
    if (catalog->base->id_bytes == 1)
        n = recs_minhash_matches8(mh, ra, rb);
    else if (catalog->base->id_bytes == 2)
        n = recs_minhash_matches16(mh, ra, rb);
    else
        n = recs_minhash_matches32(mh, ra, rb);
    catalog_aside_of(catalog, a, &xa, &na);
    catalog_aside_of(catalog, b, &xb, &nb);
    return na > 0 && nb > 0 ? n - aside_mismatches(xa, na, xb, nb) : n;
}
