/*
 * test_ranking.c - catalog snapshots, ranking and JSON rendering on the
 * spec's vector catalog, without a database: the rows are built in memory
 * as db.c would hand them over. Every ranking of vectors.json is checked on every kernel
 * this CPU runs and with one and two OpenMP threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "catalog.h"
#include "catalog_private.h" /* the ids' width and the fresh values */
#include "score.h"
#include "render.h"
#include "route.h"

#ifndef VECTORS_PATH
#define VECTORS_PATH "tests/fixtures/vectors.json"
#endif

static json_t *vectors;

static int setup(void **state)
{
    (void)state;
    vectors = json_load_file(VECTORS_PATH, 0, NULL);
    return vectors != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(vectors);
    return 0;
}

/* Rows as db.c would hand them over, with strings of their own. */
struct rowset {
    struct recs_rows rows;
    size_t cap;
};

static struct rowset *rowset_new(size_t cap)
{
    struct rowset *rs = calloc(1, sizeof(*rs));
    assert_non_null(rs);
    rs->rows.rows = calloc(cap ? cap : 1, sizeof(*rs->rows.rows));
    assert_non_null(rs->rows.rows);
    rs->cap = cap;
    return rs;
}

static char *dup_or_null(const char *s)
{
    char *copy = s != NULL ? strdup(s) : NULL;
    assert_true(s == NULL || copy != NULL);
    return copy;
}

static void clear_row(struct recs_row *r)
{
    free((char *)r->slug);
    free((char *)r->title);
    free((char *)r->description);
    free((char *)r->category);
    memset(r, 0, sizeof(*r));
}

/* Sets row i (growing the count to cover it). */
static void set_row(struct rowset *rs, size_t i, int64_t id, const char *slug, const char *title,
                    const char *description, int32_t price, const char *category)
{
    struct recs_row *r = &rs->rows.rows[i];

    assert_true(i < rs->cap);
    clear_row(r);
    r->id = id;
    r->price_cents = price;
    r->slug = dup_or_null(slug);
    r->title = dup_or_null(title);
    r->title_len = title != NULL ? strlen(title) : 0;
    r->description = dup_or_null(description);
    r->description_len = description != NULL ? strlen(description) : 0;
    r->category = dup_or_null(category);
    r->deleted = slug == NULL;
    if (i >= rs->rows.count)
        rs->rows.count = i + 1;
}

static void rowset_free(struct rowset *rs)
{
    for (size_t i = 0; i < rs->cap; i++)
        clear_row(&rs->rows.rows[i]);
    free(rs->rows.rows);
    free(rs);
}

/* Row i: product i + 1 (its slug too) with this title, no description,
 * price 1, no category. */
static void set_product(struct rowset *rows, size_t i, const char *title)
{
    char id[32];

    snprintf(id, sizeof(id), "%zu", i + 1);
    set_row(rows, i, (int64_t)i + 1, id, title, "", 1, NULL);
}

/* The vectors catalog as catalog rows; description of product
 * override_id replaced by override (if not NULL). */
static struct rowset *vector_rows(int64_t override_id, const char *override)
{
    json_t *catalog = json_object_get(vectors, "catalog"), *item;
    struct rowset *rs = rowset_new(json_array_size(catalog));
    size_t i;

    json_array_foreach(catalog, i, item)
    {
        int64_t pid = json_integer_value(json_object_get(item, "id"));
        set_row(rs, i, pid, json_string_value(json_object_get(item, "slug")),
                json_string_value(json_object_get(item, "title")),
                pid == override_id && override
                    ? override
                    : json_string_value(json_object_get(item, "description")),
                (int32_t)json_integer_value(json_object_get(item, "price_cents")),
                json_string_value(json_object_get(item, "category")));
    }
    return rs;
}

/* The best limit products for one target, as the service asks. */
static int rank_top(const struct recs_minhash *mh, const struct recs_catalog *cat, size_t target,
                    size_t limit, unsigned threads, struct recs_ranked *out, size_t *count)
{
    struct recs_score_query q = {.targets = &target, .ntargets = 1, .want = limit};
    return recs_score_rank(cat, mh, &q, threads, out, count);
}

static void check_rankings(recs_kernel kernel, unsigned threads, bool signatures)
{
    struct recs_minhash *mh = NULL;
    struct recs_catalog *cat = NULL;
    struct rowset *rows = vector_rows(0, NULL);
    json_t *want;
    size_t i;

    assert_int_equal(recs_minhash_create(1500, kernel, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, signatures, NULL, threads, &cat), 0);
    rowset_free(rows);
    assert_int_equal(recs_catalog_count(cat), 13);
    assert_int_equal(recs_catalog_has_signatures(cat), signatures);
    assert_int_equal(recs_catalog_computed(cat), signatures ? 13 : 0);
    json_array_foreach(json_object_get(vectors, "expected"), i, want)
    {
        const char *slug = json_string_value(json_object_get(want, "target"));
        json_t *ranking = json_object_get(want, "ranking"), *w;
        struct recs_ranked out[100];
        size_t count = 0, j;
        long target = recs_catalog_find(cat, slug);

        assert_true(target >= 0);
        assert_int_equal(rank_top(mh, cat, (size_t)target,
                                  json_integer_value(json_object_get(want, "limit")), threads, out,
                                  &count),
                         0);
        assert_int_equal(count, json_array_size(ranking));
        json_array_foreach(ranking, j, w)
        {
            const struct recs_product *p = recs_catalog_product(cat, out[j].index);
            assert_int_equal(p->id, json_integer_value(json_object_get(w, "id")));
            assert_int_equal(out[j].matches, json_integer_value(json_object_get(w, "matches")));
        }
    }
    recs_catalog_unref(cat);
    recs_minhash_destroy(mh);
}

static void test_rankings_every_kernel(void **state)
{
    const recs_kernel kernels[] = {RECS_KERNEL_SCALAR, RECS_KERNEL_AVX2, RECS_KERNEL_AVX512};

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        if (!recs_kernel_supported(kernels[i])) {
            printf("kernel %s not supported here: skipped\n", recs_kernel_name(kernels[i]));
            continue;
        }
        /* interned ids (cache on), and hashing on the fly (cache off) */
        check_rankings(kernels[i], 1, true);
        check_rankings(kernels[i], 2, true);
        check_rankings(kernels[i], 1, false);
        check_rankings(kernels[i], 2, false);
    }
}

static void test_limits_and_lookup(void **state)
{
    struct recs_minhash *mh = NULL;
    struct recs_catalog *cat = NULL;
    struct rowset *rows = vector_rows(0, NULL);
    struct recs_ranked out[100];
    size_t count = 0;

    (void)state;
    assert_int_equal(recs_minhash_create(1500, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, NULL, 1, &cat), 0);
    rowset_free(rows);
    assert_int_equal(recs_catalog_find(cat, "no-such-slug"), -1);
    assert_int_equal(recs_catalog_find(cat, "linen-summer-shir"), -1);
    /* limit larger than the candidates: every other product, target excluded */
    assert_int_equal(rank_top(mh, cat, 0, 100, 2, out, &count), 0);
    assert_int_equal(count, 12);
    for (size_t i = 0; i < count; i++)
        assert_int_not_equal(out[i].index, 0);
    /* ties are broken by ascending id */
    for (size_t i = 1; i < count; i++) {
        if (out[i].matches == out[i - 1].matches)
            assert_true(recs_catalog_product(cat, out[i].index)->id >
                        recs_catalog_product(cat, out[i - 1].index)->id);
        else
            assert_true(out[i].matches < out[i - 1].matches);
    }
    /* a product without tokens has no signature and scores 0 with everyone */
    long item = recs_catalog_find(cat, "item-1");
    assert_false(recs_catalog_product(cat, (size_t)item)->has_signature);
    assert_int_equal(rank_top(mh, cat, (size_t)item, 3, 1, out, &count), 0);
    assert_int_equal(out[0].matches, 0);
    assert_int_equal(recs_catalog_product(cat, out[0].index)->id, 1);
    recs_catalog_unref(cat);
    recs_minhash_destroy(mh);
}

/* The ranking of slug in catalog, as "id:matches id:matches ...". */
static void ranking_text(const struct recs_minhash *mh, const struct recs_catalog *cat,
                         const char *slug, char *buf, size_t len)
{
    struct recs_ranked out[100];
    size_t count = 0, off = 0;

    assert_int_equal(rank_top(mh, cat, (size_t)recs_catalog_find(cat, slug), 100, 2, out, &count),
                     0);
    buf[0] = '\0';
    for (size_t i = 0; i < count && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%lld:%u ",
                                (long long)recs_catalog_product(cat, out[i].index)->id,
                                out[i].matches);
}

static void test_rebuild_shares_unchanged_rows(void **state)
{
    struct recs_minhash *mh = NULL;
    struct recs_catalog *first = NULL, *same = NULL, *changed = NULL, *fresh = NULL;
    struct rowset *rows = vector_rows(0, NULL);
    struct rowset *changed_rows =
        vector_rows(3, "A linen shirt, breathable, relaxed collar, summer.");
    char a[2048], b[2048];

    (void)state;
    assert_int_equal(recs_minhash_create(1500, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, NULL, 2, &first), 0);
    assert_false(recs_catalog_shared(first));
    /* the same rows under a new version share the data */
    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, first, 2, &same), 0);
    assert_true(recs_catalog_shared(same));
    assert_int_equal(recs_catalog_computed(same), 0);
    assert_int_equal(recs_catalog_version(same), recs_catalog_version(first));
    /* a changed description is rebuilt, has another version, and ranks like
     * a from-scratch build */
    assert_int_equal(recs_catalog_build(mh, &changed_rows->rows, true, same, 2, &changed), 0);
    assert_false(recs_catalog_shared(changed));
    assert_int_equal(recs_catalog_computed(changed), 13);
    assert_int_not_equal(recs_catalog_version(changed), recs_catalog_version(same));
    recs_catalog_unref(first); /* the shared data lives on in "same" */
    ranking_text(mh, same, "linen-summer-shirt", a, sizeof(a));
    assert_non_null(strstr(a, "2:344 "));
    recs_catalog_unref(same);
    assert_int_equal(recs_catalog_build(mh, &changed_rows->rows, false, NULL, 1, &fresh), 0);
    ranking_text(mh, changed, "linen-summer-shirt", a, sizeof(a));
    ranking_text(mh, fresh, "linen-summer-shirt", b, sizeof(b));
    assert_string_equal(a, b);
    assert_string_not_equal(a, "");

    /* ids must ascend: ties and the slug index rely on it */
    struct rowset *unordered = rowset_new(2);
    set_row(unordered, 0, 2, "a", "a", "a", 1, NULL);
    set_row(unordered, 1, 1, "b", "b", "b", 1, NULL);
    struct recs_catalog *bad = NULL;
    assert_int_equal(recs_catalog_build(mh, &unordered->rows, true, NULL, 1, &bad), -1);
    assert_null(bad);
    rowset_free(unordered);
    rowset_free(rows);
    rowset_free(changed_rows);
    recs_catalog_unref(changed);
    recs_catalog_unref(fresh);
    recs_minhash_destroy(mh);
}

/* More than 65,536 distinct values at a position: ids become 32-bit and
 * the ranking is still exact (K = 64 keeps this quick under valgrind).
 * The lists of the products past 16,383 begin with gaps of three bytes:
 * those rank exactly as well. */
static void test_wide_ids(void **state)
{
    enum { N = 100000 };
    struct recs_minhash *mh = NULL;
    struct recs_catalog *wide = NULL, *plain = NULL;
    struct rowset *rows = rowset_new(N);
    char title[96], a[2048], b[2048];

    (void)state;
    for (int i = 0; i < N; i++) {
        /* three words of its own, so that most positions keep one of them,
         * plus a word shared by each ten */
        snprintf(title, sizeof(title), "a%dx b%dx c%dx group%d", i, i, i, i / 10);
        set_product(rows, i, title);
    }
    assert_int_equal(recs_minhash_create(64, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, NULL, 2, &wide), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, false, NULL, 2, &plain), 0);
    assert_true(recs_catalog_bytes(wide) >= (size_t)N * 64 * 4);
    ranking_text(mh, wide, "12345", a, sizeof(a));
    ranking_text(mh, plain, "12345", b, sizeof(b));
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "12341:")); /* its group comes first */
    ranking_text(mh, wide, "99995", a, sizeof(a));
    ranking_text(mh, plain, "99995", b, sizeof(b));
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "99991:"));
    recs_catalog_unref(wide);
    recs_catalog_unref(plain);
    rowset_free(rows);
    recs_minhash_destroy(mh);
}

/* The matches of two texts, hashed from scratch. */
static uint32_t matches_of(const struct recs_minhash *mh, const char *a, const char *b)
{
    uint32_t k = recs_minhash_k(mh), n;
    uint64_t *sa = malloc(k * sizeof(*sa)), *sb = malloc(k * sizeof(*sb));
    struct recs_scratch *scratch = recs_scratch_create();
    bool has_a, has_b;

    assert_true(sa != NULL && sb != NULL && scratch != NULL);
    assert_int_equal(recs_minhash_signature(mh, scratch, a, strlen(a), "", 0, sa, &has_a), 0);
    assert_int_equal(recs_minhash_signature(mh, scratch, b, strlen(b), "", 0, sb, &has_b), 0);
    n = has_a && has_b ? recs_minhash_matches(mh, sa, sb) : 0;
    recs_scratch_destroy(scratch);
    free(sa);
    free(sb);
    return n;
}

/* Ids are as narrow as the base allows: 200 products with words of their
 * own hold at most 200 values a position (8 bits), 600 hold more than 254
 * (16 bits). Products changed to words no base row has hold the fresh id
 * there: two changed to the same text match everywhere, one with other
 * new words matches them only where the hashes agree, one mixing new and
 * known words matches the base rows as hashing says, and every ranking
 * equals hashing from scratch. */
static void test_fresh_values_and_id_widths(void **state)
{
    enum { N = 200, WIDE = 600, K = 256 };
    static const char *changed[4] = {"zebra quartz nimbus", "zebra quartz nimbus",
                                     "violet yonder quartz", "zebra own10x word10x"};
    struct recs_minhash *mh = NULL;
    struct recs_catalog *cat = NULL, *next = NULL, *plain = NULL, *wide = NULL;
    struct rowset *rows = rowset_new(N), *after = rowset_new(N), *wide_rows = rowset_new(WIDE);
    struct rowset *changes = rowset_new(4);
    char title[96], slug[32], a[4096], b[4096];
    size_t at[4];

    (void)state;
    for (int i = 0; i < WIDE; i++) {
        snprintf(title, sizeof(title), "own%dx word%dx group%d", i, i, i % 20);
        set_product(wide_rows, (size_t)i, title);
        if (i >= N)
            continue;
        set_product(rows, (size_t)i, title);
        set_product(after, (size_t)i, i < 4 ? changed[i] : title);
        if (i < 4)
            set_product(changes, (size_t)i, changed[i]);
    }
    assert_int_equal(recs_minhash_create(K, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, NULL, 2, &cat), 0);
    assert_int_equal(cat->base->id_bytes, 1);
    assert_int_equal(recs_catalog_build(mh, &wide_rows->rows, true, NULL, 2, &wide), 0);
    assert_int_equal(wide->base->id_bytes, 2);

    assert_int_equal(recs_catalog_apply(cat, mh, &changes->rows, &next), RECS_CATALOG_APPLIED);
    assert_int_equal(recs_catalog_build(mh, &after->rows, false, NULL, 2, &plain), 0);
    for (int i = 0; i < 4; i++) {
        snprintf(slug, sizeof(slug), "%d", i + 1);
        at[i] = (size_t)recs_catalog_find(next, slug);
        assert_true(at[i] >= next->base->count); /* an extra */
    }
    assert_true(next->extras[at[0] - next->base->count]->naside > 0);
    assert_true(next->extras[at[2] - next->base->count]->naside > 0);
    assert_int_equal(recs_catalog_matches(next, mh, at[0], at[1]), K);
    assert_int_equal(recs_catalog_matches(next, mh, at[0], at[2]),
                     matches_of(mh, changed[0], changed[2]));
    assert_true(recs_catalog_matches(next, mh, at[0], at[2]) < K);
    assert_int_equal(recs_catalog_matches(next, mh, at[3], at[0]),
                     matches_of(mh, changed[3], changed[0]));
    assert_int_equal(recs_catalog_matches(next, mh, at[3], (size_t)recs_catalog_find(next, "11")),
                     matches_of(mh, changed[3], "own10x word10x group10"));
    for (int i = 1; i <= 12; i++) {
        snprintf(slug, sizeof(slug), "%d", i);
        ranking_text(mh, next, slug, a, sizeof(a));
        ranking_text(mh, plain, slug, b, sizeof(b));
        assert_string_equal(a, b);
    }
    ranking_text(mh, next, "1", a, sizeof(a));
    assert_non_null(strstr(a, "2:256 ")); /* the same new words: first */
    recs_catalog_unref(cat);
    recs_catalog_unref(next);
    recs_catalog_unref(plain);
    recs_catalog_unref(wide);
    rowset_free(rows);
    rowset_free(after);
    rowset_free(wide_rows);
    rowset_free(changes);
    recs_minhash_destroy(mh);
}

/* Products of two words each from a pool, drawn by a fixed generator. */
static struct rowset *pooled_rows(size_t n, unsigned pool)
{
    struct rowset *rows = rowset_new(n);
    unsigned x = 12345;
    char title[64];

    for (size_t i = 0; i < n; i++) {
        unsigned a, b;
        x = x * 1103515245u + 12345u;
        a = (x >> 8) % pool;
        x = x * 1103515245u + 12345u;
        b = (x >> 8) % pool;
        snprintf(title, sizeof(title), "w%ux w%ux", a, b);
        set_product(rows, i, title);
    }
    return rows;
}

/* Every 97th product's ranking in cat equals plain's. */
static void check_against_plain(const struct recs_minhash *mh, const struct recs_catalog *cat,
                                const struct recs_catalog *plain, size_t n)
{
    char slug[32], a[4096], b[4096];

    for (size_t i = 1; i <= n; i += 97) {
        snprintf(slug, sizeof(slug), "%zu", i);
        ranking_text(mh, cat, slug, a, sizeof(a));
        ranking_text(mh, plain, slug, b, sizeof(b));
        assert_string_equal(a, b);
    }
}

/* 2,000 products of two words from 300: the ids past 254 at a position
 * are few enough to escape (found by trying pools, K = 256), so the rows
 * stay 8-bit and those values go aside. Rankings through the index, the
 * matches of two products that both escape a position, and those of
 * changed products (one with an escaping product's text, one with new
 * words) equal hashing from scratch, with one thread and two. */
static void test_escaped_ids(void **state)
{
    enum { N = 2000, POOL = 300, K = 256 };
    struct recs_minhash *mh = NULL;
    struct recs_catalog *cat = NULL, *two = NULL, *plain = NULL, *next = NULL, *after = NULL;
    struct rowset *rows = pooled_rows(N, POOL), *changes = rowset_new(2);
    struct rowset *changed_rows = pooled_rows(N, POOL);
    size_t escaping = 0, pairs = 0;
    char slug[32];

    (void)state;
    assert_int_equal(recs_minhash_create(K, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, NULL, 1, &cat), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, NULL, 2, &two), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, false, NULL, 1, &plain), 0);
    assert_int_equal(cat->base->id_bytes, 1);
    assert_non_null(cat->base->aside_first);
    check_against_plain(mh, cat, plain, N);
    check_against_plain(mh, two, plain, N);
    /* pairs of products that both escape some position */
    for (size_t i = 0; i < N && pairs < 200; i++) {
        if (cat->base->aside_first[i + 1] == cat->base->aside_first[i])
            continue;
        if (escaping++ == 0)
            continue;
        for (size_t j = 0; j < i && pairs < 200; j += 7) {
            const struct recs_row *x = &rows->rows.rows[i], *y = &rows->rows.rows[j];
            assert_int_equal(recs_catalog_matches(cat, mh, i, j),
                             matches_of(mh, x->title, y->title));
            pairs++;
        }
    }
    assert_true(pairs == 200);
    /* product 1 gets the text of the first escaping product, 2 new words */
    for (size_t i = 0; i < N; i++) {
        if (cat->base->aside_first[i + 1] > cat->base->aside_first[i]) {
            set_product(changes, 0, rows->rows.rows[i].title);
            set_product(changed_rows, 0, rows->rows.rows[i].title);
            snprintf(slug, sizeof(slug), "%zu", i + 1);
            break;
        }
    }
    set_product(changes, 1, "zebra quartz w1x");
    set_product(changed_rows, 1, "zebra quartz w1x");
    assert_int_equal(recs_catalog_apply(cat, mh, &changes->rows, &next), RECS_CATALOG_APPLIED);
    assert_int_equal(recs_catalog_build(mh, &changed_rows->rows, false, NULL, 1, &after), 0);
    assert_int_equal(recs_catalog_matches(next, mh, (size_t)recs_catalog_find(next, "1"),
                                          (size_t)recs_catalog_find(next, slug)),
                     K);
    check_against_plain(mh, next, after, N);
    {
        char a[4096], b[4096];
        ranking_text(mh, next, "1", a, sizeof(a));
        ranking_text(mh, after, "1", b, sizeof(b));
        assert_string_equal(a, b);
        ranking_text(mh, next, "2", a, sizeof(a));
        ranking_text(mh, after, "2", b, sizeof(b));
        assert_string_equal(a, b);
    }
    recs_catalog_unref(cat);
    recs_catalog_unref(two);
    recs_catalog_unref(plain);
    recs_catalog_unref(next);
    recs_catalog_unref(after);
    rowset_free(rows);
    rowset_free(changes);
    rowset_free(changed_rows);
    recs_minhash_destroy(mh);
}

/* A catalog whose first three blocks of 64 positions escape few enough ids
 * for 8-bit rows and whose fourth does not (2,000 products of two words
 * from 330; found by trying pools, K = 256, one thread so that the blocks
 * go in order): the build keeps the first blocks, widened, their escaped
 * ids now in the rows, and interns the last again. Every ranking equals
 * hashing from scratch. */
static void test_ids_widened_midway(void **state)
{
    enum { N = 2000, POOL = 330, K = 256 };
    struct recs_minhash *mh = NULL;
    struct recs_catalog *cat = NULL, *plain = NULL;
    struct rowset *rows = pooled_rows(N, POOL);

    (void)state;
    assert_int_equal(recs_minhash_create(K, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, NULL, 1, &cat), 0);
    assert_int_equal(cat->base->id_bytes, 2);
    assert_null(cat->base->aside_first); /* every escaped id fits 16 bits */
    assert_int_equal(recs_catalog_build(mh, &rows->rows, false, NULL, 1, &plain), 0);
    check_against_plain(mh, cat, plain, N);
    recs_catalog_unref(cat);
    recs_catalog_unref(plain);
    rowset_free(rows);
    recs_minhash_destroy(mh);
}

/* The inverted index and the scan give the same matches. 200 products at
 * K = 1500 do not fit the caches, so they are indexed: a target whose text
 * 40 other products share is scored by scanning, one with a text of its own
 * through the index; both must equal hashing from scratch. 50 products do
 * fit, are always scanned, and carry no index. */
static void test_index_and_scan_agree(void **state)
{
    enum { N = 200, SMALL = 50, K = 1500 };
    struct recs_minhash *mh = NULL;
    struct recs_catalog *cat = NULL, *plain = NULL, *small = NULL, *small_plain = NULL;
    struct rowset *rows = rowset_new(N), *small_rows = rowset_new(SMALL);
    char id[32], title[96], a[4096], b[4096];
    size_t row_bytes = (K + 63) / 64 * 64; /* at most 200 values a position: 8-bit ids */

    (void)state;
    for (int i = 0; i < N; i++) {
        if (i < 40)
            snprintf(title, sizeof(title), "shared cotton shirt with collar");
        else
            snprintf(title, sizeof(title), "own%d words%d cotton kettle%d", i, i, i % 3);
        set_product(rows, i, title);
        if (i < SMALL)
            set_product(small_rows, i, title);
    }
    assert_int_equal(recs_minhash_create(K, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, NULL, 2, &cat), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, false, NULL, 2, &plain), 0);
    assert_int_equal(recs_catalog_build(mh, &small_rows->rows, true, NULL, 2, &small), 0);
    assert_int_equal(recs_catalog_build(mh, &small_rows->rows, false, NULL, 2, &small_plain), 0);
    /* the index's postings (at least a byte per product and position) are
     * counted, and the small catalog has none: a product of it costs less
     * than one of the indexed catalog without its postings */
    assert_true(recs_catalog_bytes(cat) >= N * (row_bytes + K));
    assert_true(recs_catalog_bytes(small) / SMALL + K < recs_catalog_bytes(cat) / N);
    for (int t = 0; t < N; t += 7) {
        snprintf(id, sizeof(id), "%d", t + 1);
        ranking_text(mh, cat, id, a, sizeof(a));
        ranking_text(mh, plain, id, b, sizeof(b));
        assert_string_equal(a, b);
        if (t < SMALL) {
            ranking_text(mh, small, id, a, sizeof(a));
            ranking_text(mh, small_plain, id, b, sizeof(b));
            assert_string_equal(a, b);
        }
    }
    ranking_text(mh, cat, "1", a, sizeof(a));
    assert_non_null(strstr(a, "2:1500 3:1500 ")); /* identical texts first, by id */
    ranking_text(mh, small, "1", a, sizeof(a));
    assert_non_null(strstr(a, "2:1500 3:1500 "));
    recs_catalog_unref(cat);
    recs_catalog_unref(plain);
    recs_catalog_unref(small);
    recs_catalog_unref(small_plain);
    rowset_free(rows);
    rowset_free(small_rows);
    recs_minhash_destroy(mh);
}

/* A catalog too big for the caches whose targets share much with their
 * family: scoring counts through the index and prunes the longest lists.
 * Every ranking must equal hashing from scratch, for limits 1, 10 and 100. */
static void test_pruned_index_is_exact(void **state)
{
    enum { N = 3000, FAMILIES = 3 };
    struct recs_minhash *mh = NULL;
    struct recs_catalog *cat = NULL, *plain = NULL;
    struct rowset *rows = rowset_new(N);
    char title[256], a[4096], b[4096];
    uint64_t seed = 42;

    (void)state;
    for (int i = 0; i < N; i++) {
        int f = i % FAMILIES, off = 0;
        off += snprintf(title + off, sizeof(title) - (size_t)off, "own%d cotton", i);
        for (int w = 0; w < 6; w++) { /* six of the family's twenty words */
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            off += snprintf(title + off, sizeof(title) - (size_t)off, " f%dw%d", f,
                            (int)((seed >> 33) % 20));
        }
        set_product(rows, i, title);
    }
    assert_int_equal(recs_minhash_create(1500, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, NULL, 2, &cat), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, false, NULL, 2, &plain), 0);
    for (int t = 0; t < 12; t++) {
        size_t limit = t % 3 == 0 ? 1 : t % 3 == 1 ? 10 : 100;
        struct recs_ranked x[100], y[100];
        size_t cx = 0, cy = 0, target = (size_t)(t * 251) % N;
        assert_int_equal(rank_top(mh, cat, target, limit, 2, x, &cx), 0);
        assert_int_equal(rank_top(mh, plain, target, limit, 2, y, &cy), 0);
        assert_int_equal(cx, cy);
        for (size_t i = 0; i < cx; i++) {
            assert_int_equal(x[i].index, y[i].index);
            assert_int_equal(x[i].matches, y[i].matches);
        }
        assert_true(x[0].matches > 0);
    }
    ranking_text(mh, cat, "1", a, sizeof(a));
    ranking_text(mh, plain, "1", b, sizeof(b));
    assert_string_equal(a, b);
    recs_catalog_unref(cat);
    recs_catalog_unref(plain);
    rowset_free(rows);
    recs_minhash_destroy(mh);
}

/* A catalog that changes: a model of the rows beside a snapshot kept up to
 * date by change sets. */
struct live_model {
    struct rowset *rows; /* by id - 1; a deleted product has slug NULL */
    size_t max_id;
    uint64_t seed;
};

static uint32_t next_random(struct live_model *m, uint32_t below)
{
    m->seed = m->seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((m->seed >> 33) % below);
}

/* A title of family f: six of its twenty words, and sometimes a word no
 * product had before (a value new to every position's dictionary). */
static void family_title(struct live_model *m, size_t id, int f, char *title, size_t len)
{
    int off = snprintf(title, len, "own%zu cotton", id);
    for (int w = 0; w < 6; w++)
        off += snprintf(title + off, len - (size_t)off, " f%dw%u", f, next_random(m, 20));
    if (next_random(m, 4) == 0)
        snprintf(title + off, len - (size_t)off, " fresh%u", next_random(m, 1000000));
}

static void model_set(struct live_model *m, size_t id, const char *slug, const char *title,
                      const char *description, int32_t price, const char *category)
{
    set_row(m->rows, id - 1, (int64_t)id, slug, title, description, price, category);
}

/* The live rows of the model, ascending id, as a fresh read would give. */
static struct rowset *model_rows(const struct live_model *m)
{
    struct rowset *rs = rowset_new(m->max_id);
    size_t n = 0;

    for (size_t i = 0; i < m->max_id; i++) {
        const struct recs_row *r = &m->rows->rows.rows[i];
        if (r->slug != NULL)
            set_row(rs, n++, r->id, r->slug, r->title, r->description, r->price_cents, r->category);
    }
    return rs;
}

/* One random change to product id (an update of some column, a delete, a
 * re-insert); *changed lists it for the change set. */
static void model_change(struct live_model *m, size_t id)
{
    const struct recs_row *r = &m->rows->rows.rows[id - 1];
    char slug[64], title[256], description[64];
    const char *categories[] = {"shoes", "kitchen", NULL};
    uint32_t what = next_random(m, 7);

    if (r->slug == NULL || what == 0) { /* (re)insert, or a new text */
        snprintf(slug, sizeof(slug), "p%zu-%u", id, next_random(m, 1000));
        family_title(m, id, (int)next_random(m, 3), title, sizeof(title));
        model_set(m, id, slug, title, "", (int32_t)next_random(m, 10000), categories[id % 3]);
        return;
    }
    char *keep_slug = dup_or_null(r->slug), *keep_title = dup_or_null(r->title),
         *keep_description = dup_or_null(r->description), *keep_category = dup_or_null(r->category);
    int32_t price = r->price_cents;
    switch (what) {
    case 1: /* price only: nothing to hash */
        model_set(m, id, keep_slug, keep_title, keep_description, price + 1, keep_category);
        break;
    case 2: /* slug only */
        snprintf(slug, sizeof(slug), "%s-x", keep_slug);
        model_set(m, id, slug, keep_title, keep_description, price, keep_category);
        break;
    case 3: /* category moved */
        model_set(m, id, keep_slug, keep_title, keep_description, price,
                  categories[next_random(m, 3)]);
        break;
    case 4: /* description: words of another family */
        snprintf(description, sizeof(description), "f%uw%u f%uw%u", next_random(m, 3),
                 next_random(m, 20), next_random(m, 3), next_random(m, 20));
        model_set(m, id, keep_slug, keep_title, description, price, keep_category);
        break;
    case 5: /* the same row again: a change set may repeat what is applied */
        model_set(m, id, keep_slug, keep_title, keep_description, price, keep_category);
        break;
    default: /* deleted */
        model_set(m, id, NULL, NULL, NULL, 0, NULL);
        break;
    }
    free(keep_slug);
    free(keep_title);
    free(keep_description);
    free(keep_category);
}

/* Rankings and lookups of snap equal those of a fresh build of the model,
 * and of hashing every product from scratch. */
static void check_like_fresh(struct live_model *m, const struct recs_minhash *mh,
                             const struct recs_catalog *snap)
{
    struct rowset *rows = model_rows(m);
    struct recs_catalog *fresh = NULL, *plain = NULL;
    char a[4096], b[4096], c[4096];

    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, NULL, 2, &fresh), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, false, NULL, 2, &plain), 0);
    assert_int_equal(recs_catalog_live_count(snap), rows->rows.count);
    assert_int_equal(recs_catalog_version(snap), recs_catalog_version(fresh));
    for (size_t i = 0; i < m->max_id; i++) {
        const struct recs_row *r = &m->rows->rows.rows[i];
        char gone[80];
        if (r->slug == NULL)
            continue;
        long at = recs_catalog_find(snap, r->slug);
        assert_true(at >= 0);
        assert_int_equal(recs_catalog_product(snap, (size_t)at)->id, r->id);
        assert_int_equal(recs_catalog_product(snap, (size_t)at)->price_cents, r->price_cents);
        snprintf(gone, sizeof(gone), "p%zu-gone", i + 1);
        assert_int_equal(recs_catalog_find(snap, gone), -1);
    }
    for (int t = 0; t < 6; t++) {
        const struct recs_row *r = &rows->rows.rows[next_random(m, (uint32_t)rows->rows.count)];
        ranking_text(mh, snap, r->slug, a, sizeof(a));
        ranking_text(mh, fresh, r->slug, b, sizeof(b));
        ranking_text(mh, plain, r->slug, c, sizeof(c));
        assert_string_equal(a, b);
        assert_string_equal(a, c);
    }
    recs_catalog_unref(fresh);
    recs_catalog_unref(plain);
    rowset_free(rows);
}

/* Change sets applied one after another give exactly what a fresh build of
 * the same rows gives: rankings (through the index and its pruning, which
 * must not count dead rows nor miss changed ones), lookups by old and new
 * slugs, the version. A price change hashes nothing. */
static void test_changes_apply_like_a_fresh_build(void **state)
{
    enum { N = 3000, ROUNDS = 12, GROWTH = 200 };
    struct live_model m = {.rows = rowset_new(N + GROWTH), .max_id = N, .seed = 7};
    struct recs_minhash *mh = NULL;
    struct recs_catalog *snap = NULL, *next = NULL;
    char title[256];

    (void)state;
    for (size_t id = 1; id <= N; id++) {
        char slug[32];
        snprintf(slug, sizeof(slug), "p%zu", id);
        family_title(&m, id, (int)(id % 3), title, sizeof(title));
        model_set(&m, id, slug, title, "", (int32_t)id, id % 3 ? "shoes" : NULL);
    }
    assert_int_equal(recs_minhash_create(1500, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &m.rows->rows, true, NULL, 2, &snap), 0);
    for (int round = 0; round < ROUNDS; round++) {
        struct rowset *changes = rowset_new(40);
        size_t ids[40], n = 1 + next_random(&m, 30);
        /* distinct ids, ascending, some of them new */
        for (size_t i = 0; i < n; i++)
            ids[i] = 1 + next_random(&m, (uint32_t)m.max_id);
        if (round % 3 == 0 && m.max_id < N + GROWTH)
            ids[n++] = ++m.max_id;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = i + 1; j < n; j++) {
                if (ids[j] < ids[i]) {
                    size_t t = ids[i];
                    ids[i] = ids[j];
                    ids[j] = t;
                }
            }
        }
        size_t count = 0;
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && ids[i] == ids[i - 1])
                continue;
            model_change(&m, ids[i]);
            const struct recs_row *r = &m.rows->rows.rows[ids[i] - 1];
            set_row(changes, count++, r->id, r->slug, r->title, r->description, r->price_cents,
                    r->category);
        }
        assert_int_equal(recs_catalog_apply(snap, mh, &changes->rows, &next), RECS_CATALOG_APPLIED);
        assert_true(recs_catalog_computed(next) <= count);
        recs_catalog_unref(snap);
        snap = next;
        rowset_free(changes);
        if (round % 4 == 3 || round == ROUNDS - 1)
            check_like_fresh(&m, mh, snap);
    }
    /* a price change alone hashes nothing */
    {
        struct rowset *changes = rowset_new(1);
        const struct recs_row *r = &m.rows->rows.rows[0];
        if (r->slug == NULL)
            model_change(&m, 1);
        r = &m.rows->rows.rows[0];
        set_row(changes, 0, r->id, r->slug, r->title, r->description, r->price_cents + 5,
                r->category);
        r = &changes->rows.rows[0];
        model_set(&m, 1, r->slug, r->title, r->description, r->price_cents, r->category);
        assert_int_equal(recs_catalog_apply(snap, mh, &changes->rows, &next), RECS_CATALOG_APPLIED);
        assert_int_equal(recs_catalog_computed(next), 0);
        recs_catalog_unref(snap);
        snap = next;
        rowset_free(changes);
        check_like_fresh(&m, mh, snap);
    }
    assert_false(recs_catalog_wants_rebuild(snap)); /* a few hundred changes of 3,000 */
    recs_catalog_unref(snap);
    rowset_free(m.rows);
    recs_minhash_destroy(mh);
}

/* ---- storefront queries against a straightforward reference ---- */

struct ref_item {
    int64_t id;
    uint32_t matches;
    const char *category;
};

static int ref_by_rank(const void *pa, const void *pb)
{
    const struct ref_item *a = pa, *b = pb;
    if (a->matches != b->matches)
        return a->matches > b->matches ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static bool in_list(const char *s, const char (*list)[RECS_SLUG_MAX + 1], size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++) {
        if (strcmp(s, list[i]) == 0)
            return true;
    }
    return false;
}

static bool same_category(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* The page of q over rows, computed the plain way: every signature hashed
 * here, filter, score, order, diversify, page (docs/API.md). */
static size_t reference_page(const struct recs_minhash *mh, const struct recs_rows *rows,
                             const struct recs_query *q, struct ref_item *page)
{
    uint32_t k = recs_minhash_k(mh);
    struct recs_scratch *scratch = recs_scratch_create();
    uint64_t *sigs = malloc(rows->count * k * sizeof(*sigs));
    bool *has = calloc(rows->count, sizeof(*has)), *target = calloc(rows->count, sizeof(*target));
    struct ref_item *all = malloc(rows->count * sizeof(*all));
    size_t ntargets = 0, n = 0, kept = 0, out = 0;

    assert_non_null(scratch);
    assert_true(sigs && has && target && all);
    for (size_t i = 0; i < rows->count; i++) {
        const struct recs_row *r = &rows->rows[i];
        assert_int_equal(recs_minhash_signature(mh, scratch, r->title, r->title_len, r->description,
                                                r->description_len, sigs + i * k, &has[i]),
                         0);
        for (size_t t = 0; t < q->target_count; t++)
            target[i] |= strcmp(r->slug, q->targets[t]) == 0;
        ntargets += target[i];
    }
    for (size_t i = 0; i < rows->count; i++) {
        const struct recs_row *r = &rows->rows[i];
        uint32_t m = 0;
        if (target[i] || in_list(r->slug, q->excludes, q->exclude_count) ||
            (q->category_count > 0 && !in_list(r->category, q->categories, q->category_count)) ||
            r->price_cents < q->min_price || r->price_cents > q->max_price)
            continue;
        for (size_t t = 0; t < rows->count && has[i]; t++) {
            if (!target[t] || !has[t])
                continue;
            for (uint32_t j = 0; j < k; j++)
                m += sigs[t * k + j] == sigs[i * k + j];
        }
        if ((uint64_t)m * 1000000u < (uint64_t)q->min_score * k * ntargets)
            continue;
        all[n++] = (struct ref_item){r->id, m, r->category};
    }
    qsort(all, n, sizeof(*all), ref_by_rank);
    for (size_t i = 0; i < n; i++) {
        size_t same = 0;
        for (size_t j = 0; q->max_per_category > 0 && j < kept; j++)
            same += same_category(all[j].category, all[i].category);
        if (q->max_per_category > 0 && same >= q->max_per_category)
            continue;
        all[kept++] = all[i];
    }
    for (size_t i = q->offset; i < kept && out < q->limit; i++)
        page[out++] = all[i];
    free(all);
    free(target);
    free(has);
    free(sigs);
    recs_scratch_destroy(scratch);
    return out;
}

static int by_strcmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Sorts and deduplicates a list of slugs, as the router leaves it. */
static size_t normalize_list(char (*list)[RECS_SLUG_MAX + 1], size_t n)
{
    size_t out = 0;
    qsort(list, n, sizeof(list[0]), by_strcmp);
    for (size_t i = 0; i < n; i++) {
        if (out == 0 || strcmp(list[out - 1], list[i]) != 0)
            memmove(list[out++], list[i], sizeof(list[0]));
    }
    return out;
}

/* A random query over the model's products: targets (some of them
 * unknown), filters that leave many, few or no candidates, exclusions of
 * likely winners, deep pages, diversity. */
static void random_query(struct live_model *m, const struct recs_rows *rows, struct recs_query *q)
{
    static const char *const categories[] = {"shoes", "kitchen", "no-such-category"};

    memset(q, 0, sizeof(*q));
    q->kind = next_random(m, 3) == 0 ? RECS_QUERY_PRODUCT : RECS_QUERY_CART;
    q->target_count = q->kind == RECS_QUERY_PRODUCT ? 1 : 1 + next_random(m, 5);
    for (size_t t = 0; t < q->target_count; t++) {
        const struct recs_row *r = &rows->rows[next_random(m, (uint32_t)rows->count)];
        snprintf(q->targets[t], sizeof(q->targets[t]), "%s", r->slug);
        for (size_t u = 0; u < t; u++) {
            if (strcmp(q->targets[u], q->targets[t]) == 0)
                snprintf(q->targets[t], sizeof(q->targets[t]), "absent-%zu", t);
        }
    }
    q->limit = 1 + next_random(m, 100);
    q->offset = next_random(m, 3) == 0 ? next_random(m, 400) : 0;
    if (next_random(m, 3) == 0) {
        q->category_count = 1 + next_random(m, 3);
        for (size_t i = 0; i < q->category_count; i++)
            snprintf(q->categories[i], sizeof(q->categories[i]), "%s",
                     categories[next_random(m, 3)]);
        q->category_count = normalize_list(q->categories, q->category_count);
    }
    if (next_random(m, 2) == 0) {
        q->exclude_count = 1 + next_random(m, 30);
        for (size_t i = 0; i < q->exclude_count; i++) {
            const struct recs_row *r = &rows->rows[next_random(m, (uint32_t)rows->count)];
            snprintf(q->excludes[i], sizeof(q->excludes[i]), "%s", r->slug);
        }
        q->exclude_count = normalize_list(q->excludes, q->exclude_count);
    }
    q->min_price = 0;
    q->max_price = INT32_MAX;
    if (next_random(m, 3) == 0) {
        q->has_min_price = true;
        q->min_price = (int32_t)next_random(m, 3000);
    }
    if (next_random(m, 3) == 0) {
        q->has_max_price = true;
        q->max_price = q->min_price + (int32_t)next_random(m, 3000);
    }
    if (next_random(m, 4) == 0)
        q->min_score = next_random(m, 2) ? next_random(m, 50000) : next_random(m, 1000001);
    if (next_random(m, 3) == 0)
        q->max_per_category = 1 + next_random(m, 3);
}

/* recs_score_page on snap equals the reference over the model's rows for
 * many random queries. */
static void check_queries(struct live_model *m, const struct recs_minhash *mh,
                          const struct recs_catalog *snap, int queries)
{
    struct rowset *rows = model_rows(m);
    struct ref_item want[RECS_LIMIT_MAX];
    struct recs_ranked got[RECS_LIMIT_MAX];

    for (int n = 0; n < queries; n++) {
        struct recs_query q;
        size_t targets[RECS_PRODUCTS_MAX], ntargets = 0, count = 0;

        random_query(m, &rows->rows, &q);
        for (size_t t = 0; t < q.target_count; t++) {
            long i = recs_catalog_find(snap, q.targets[t]);
            if (i >= 0)
                targets[ntargets++] = (size_t)i;
        }
        if (ntargets == 0)
            continue;
        size_t expect = reference_page(mh, &rows->rows, &q, want);
        assert_int_equal(recs_score_page(snap, mh, &q, targets, ntargets, 2, got, &count), 0);
        if (count != expect)
            fail_msg("query %d: %zu results, the reference has %zu", n, count, expect);
        for (size_t i = 0; i < count; i++) {
            assert_int_equal(recs_catalog_product(snap, got[i].index)->id, want[i].id);
            assert_int_equal(got[i].matches, want[i].matches);
        }
    }
    rowset_free(rows);
}

/* Filters, exclusions, carts, min_score, diversity and pages give exactly
 * the plain computation's answer: on a fresh snapshot (index and pruning),
 * without signatures (hashing on the fly), and after change sets. Pages
 * concatenate: offset 0 limit 20 is offset 0 limit 10 then offset 10. */
static void test_storefront_queries_like_a_plain_computation(void **state)
{
    enum { N = 3000 };
    struct live_model m = {.rows = rowset_new(N + 10), .max_id = N, .seed = 11};
    struct recs_minhash *mh = NULL;
    struct recs_catalog *snap = NULL, *plain = NULL, *next = NULL;
    char title[256];

    (void)state;
    for (size_t id = 1; id <= N; id++) {
        char slug[32];
        const char *categories[] = {"shoes", "kitchen", "books", NULL};
        snprintf(slug, sizeof(slug), "p%zu", id);
        family_title(&m, id, (int)(id % 3), title, sizeof(title));
        model_set(&m, id, slug, title, id % 97 == 0 ? "" : "cotton", (int32_t)(id % 4000),
                  categories[id % 4]);
    }
    /* products without tokens: scores 0 with everyone */
    model_set(&m, 5, "p5", "a", "", 10, "shoes");
    assert_int_equal(recs_minhash_create(1500, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &m.rows->rows, true, NULL, 2, &snap), 0);
    assert_int_equal(recs_catalog_build(mh, &m.rows->rows, false, NULL, 2, &plain), 0);
    check_queries(&m, mh, snap, 40);
    check_queries(&m, mh, plain, 8);

    /* pages concatenate */
    {
        struct recs_query q = {
            .kind = RECS_QUERY_PRODUCT, .target_count = 1, .limit = 20, .max_price = INT32_MAX};
        struct recs_ranked whole[20], first[10], second[10];
        size_t target = (size_t)recs_catalog_find(snap, "p7"), a = 0, b = 0, c = 0;
        snprintf(q.targets[0], sizeof(q.targets[0]), "p7");
        assert_int_equal(recs_score_page(snap, mh, &q, &target, 1, 2, whole, &a), 0);
        q.limit = 10;
        assert_int_equal(recs_score_page(snap, mh, &q, &target, 1, 2, first, &b), 0);
        q.offset = 10;
        assert_int_equal(recs_score_page(snap, mh, &q, &target, 1, 2, second, &c), 0);
        assert_int_equal(a, 20);
        assert_int_equal(b + c, 20);
        for (size_t i = 0; i < 10; i++) {
            assert_int_equal(whole[i].index, first[i].index);
            assert_int_equal(whole[10 + i].index, second[i].index);
        }
    }

    /* after changes, through the delta */
    for (int round = 0; round < 3; round++) {
        struct rowset *changes = rowset_new(20);
        size_t count = 0;
        for (size_t id = 1 + (size_t)round * 7; id <= N && count < 20; id += 151) {
            model_change(&m, id);
            const struct recs_row *r = &m.rows->rows.rows[id - 1];
            set_row(changes, count++, r->id, r->slug, r->title, r->description, r->price_cents,
                    r->category);
        }
        assert_int_equal(recs_catalog_apply(snap, mh, &changes->rows, &next), RECS_CATALOG_APPLIED);
        recs_catalog_unref(snap);
        snap = next;
        rowset_free(changes);
        check_queries(&m, mh, snap, 15);
    }
    recs_catalog_unref(snap);
    recs_catalog_unref(plain);
    rowset_free(m.rows);
    recs_minhash_destroy(mh);
}

static void test_render(void **state)
{
    struct recs_minhash *mh = NULL;
    struct recs_catalog *cat = NULL;
    struct rowset *rows = vector_rows(0, NULL);
    struct recs_ranked ranked[2] = {{.index = 1, .matches = 344}, {.index = 11, .matches = 0}};
    size_t len = 0;
    char *body;
    json_t *doc, *first, *second;

    (void)state;
    /* invalid UTF-8 in a title must still give valid JSON */
    {
        const struct recs_row *r = &rows->rows.rows[11];
        char *slug = dup_or_null(r->slug), *description = dup_or_null(r->description),
             *category = dup_or_null(r->category);
        set_row(rows, 11, r->id, slug, "bad \xff\xfe byte", description, r->price_cents, category);
        free(slug);
        free(description);
        free(category);
    }
    assert_int_equal(recs_minhash_create(1500, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, NULL, 1, &cat), 0);
    body = recs_render_recommendations(cat, 0, ranked, 2, 1500, &len);
    assert_non_null(body);
    assert_int_equal(strlen(body), len);
    doc = json_loads(body, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "product"), "id")), 1);
    first = json_array_get(json_object_get(doc, "recommendations"), 0);
    second = json_array_get(json_object_get(doc, "recommendations"), 1);
    assert_string_equal(json_string_value(json_object_get(first, "slug")), "cotton-oxford-shirt");
    assert_string_equal(json_string_value(json_object_get(first, "category")), "clothes");
    assert_int_equal(json_integer_value(json_object_get(first, "price_cents")), 4500);
    assert_float_equal(json_real_value(json_object_get(first, "score")), 344.0 / 1500.0, 1e-14);
    assert_true(json_is_null(json_object_get(second, "category")));
    assert_string_equal(json_string_value(json_object_get(second, "title")),
                        "bad \xef\xbf\xbd\xef\xbf\xbd byte");
    json_decref(doc);
    free(body);

    body = recs_render_error("say \"hi\"", &len);
    assert_string_equal(body, "{\"error\":\"say \\\"hi\\\"\"}");
    free(body);
    body = recs_render_status("ok", &len);
    assert_string_equal(body, "{\"status\":\"ok\"}");
    free(body);
    recs_catalog_unref(cat);
    rowset_free(rows);
    recs_minhash_destroy(mh);
}

/* n products whose titles are "word<i % 50> shared words", for the sizes
 * the estimate distinguishes. */
static struct rowset *numbered_rows(size_t n)
{
    struct rowset *rs = rowset_new(n);
    char title[64];

    for (size_t i = 0; i < n; i++) {
        snprintf(title, sizeof(title), "word%zu shared words", i % 50);
        set_product(rs, i, title);
    }
    return rs;
}

static size_t text_bytes(const struct recs_rows *rows)
{
    size_t text = 0;

    for (size_t i = 0; i < rows->count; i++)
        text += rows->rows[i].title_len + rows->rows[i].description_len;
    return text;
}

/* The memory estimates: without signatures exactly what the snapshot
 * holds; with them a row of 16-bit ids per product, postings once the
 * catalog gets an index (past 512 KiB of ids), the token sets; nothing
 * when the data is shared; a change set by what it adds. */
static void test_memory_estimates(void **state)
{
    struct recs_minhash *mh = NULL;
    struct recs_catalog *plain = NULL, *with = NULL, *next = NULL;
    struct rowset *rows = vector_rows(0, NULL);
    struct rowset *changed = vector_rows(3, "A linen shirt, breathable, relaxed collar, summer.");
    struct rowset *small = numbered_rows(100), *large = numbered_rows(200);
    struct rowset *change = rowset_new(2), *removal = rowset_new(1);
    size_t rows_only, est, text;

    (void)state;
    assert_int_equal(recs_minhash_create(1500, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, &rows->rows, false, NULL, 1, &plain), 0);
    rows_only = recs_catalog_estimate_bytes(&rows->rows, 0, NULL);
    /* the estimate counts every product's category string; the build keeps
     * one copy per category */
    {
        size_t categories = 0;
        for (size_t i = 0; i < rows->rows.count; i++)
            categories += rows->rows.rows[i].category ? strlen(rows->rows.rows[i].category) + 1 : 0;
        assert_true(rows_only >= recs_catalog_bytes(plain));
        assert_true(rows_only - recs_catalog_bytes(plain) <= categories);
    }

    /* 13 products: no index (39 KB of ids) */
    text = text_bytes(&rows->rows);
    est = recs_catalog_estimate_bytes(&rows->rows, 1500, NULL);
    assert_int_equal(est, rows_only + 13 * 3008 + text + text / 10 * sizeof(struct recs_token));
    assert_int_equal(recs_catalog_build(mh, &rows->rows, true, NULL, 1, &with), 0);
    /* 100 products (301 KB of ids): none either; 200 (602 KB): 16-bit postings */
    text = text_bytes(&small->rows);
    assert_int_equal(recs_catalog_estimate_bytes(&small->rows, 1500, NULL),
                     recs_catalog_estimate_bytes(&small->rows, 0, NULL) + 100 * 3008 + text +
                         text / 10 * sizeof(struct recs_token));
    text = text_bytes(&large->rows);
    assert_int_equal(recs_catalog_estimate_bytes(&large->rows, 1500, NULL),
                     recs_catalog_estimate_bytes(&large->rows, 0, NULL) + 200 * 3008 +
                         1500 * 200 * 2 + text + text / 10 * sizeof(struct recs_token));

    /* the same rows share the data: nothing to allocate; other rows, or the
     * other kind of snapshot, do not */
    assert_int_equal(recs_catalog_estimate_bytes(&rows->rows, 1500, with), 0);
    assert_int_equal(recs_catalog_estimate_bytes(&rows->rows, 0, plain), 0);
    assert_int_equal(recs_catalog_estimate_bytes(&changed->rows, 1500, with),
                     recs_catalog_estimate_bytes(&changed->rows, 1500, NULL));
    assert_int_equal(recs_catalog_estimate_bytes(&rows->rows, 0, with), rows_only);

    /* a change set: a new product costs its row of ids, its strings and
     * at most all its values on the side; a removal only the new
     * snapshot's bookkeeping */
    set_row(change, 0, 3, "linen-summer-shirt", "Linen Shirt", "new words", 1, NULL);
    set_row(change, 1, 99, "brand-new", "Brand New", "other words here", 1, NULL);
    set_row(removal, 0, 5, NULL, NULL, NULL, 0, NULL);
    est = recs_catalog_estimate_apply_bytes(with, &change->rows);
    assert_true(est >= 2 * 3008 + strlen("brand-new") + strlen("Brand New"));
    assert_true(recs_catalog_estimate_apply_bytes(with, &removal->rows) < 3008 + 1500 * 8 + 512);
    assert_true(recs_catalog_estimate_apply_bytes(with, &removal->rows) < est);
    assert_int_equal(recs_catalog_apply(with, mh, &change->rows, &next), RECS_CATALOG_APPLIED);
    assert_true(recs_catalog_bytes(next) - recs_catalog_bytes(with) <= est);

    recs_catalog_unref(next);
    recs_catalog_unref(with);
    recs_catalog_unref(plain);
    rowset_free(rows);
    rowset_free(changed);
    rowset_free(small);
    rowset_free(large);
    rowset_free(change);
    rowset_free(removal);
    recs_minhash_destroy(mh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rankings_every_kernel),
        cmocka_unit_test(test_limits_and_lookup),
        cmocka_unit_test(test_rebuild_shares_unchanged_rows),
        cmocka_unit_test(test_wide_ids),
        cmocka_unit_test(test_fresh_values_and_id_widths),
        cmocka_unit_test(test_escaped_ids),
        cmocka_unit_test(test_ids_widened_midway),
        cmocka_unit_test(test_index_and_scan_agree),
        cmocka_unit_test(test_pruned_index_is_exact),
        cmocka_unit_test(test_changes_apply_like_a_fresh_build),
        cmocka_unit_test(test_storefront_queries_like_a_plain_computation),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_memory_estimates),
    };
    /* The reference checks compute every signature the plain way, which
     * under valgrind takes minutes: scripts/test.sh skips them there (they
     * run in the plain and ASan stages). */
    if (getenv("RECS_TEST_SKIP") != NULL)
        cmocka_set_skip_filter(getenv("RECS_TEST_SKIP"));
    return cmocka_run_group_tests_name("ranking", tests, setup, teardown);
}
