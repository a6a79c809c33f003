/*
 * test_ranking.c - catalog snapshots, ranking and JSON rendering on the
 * spec's vector catalog, without a database: the rows are built as a libpq
 * result in memory. Every ranking of vectors.json is checked on every kernel
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
#include "rank.h"
#include "render.h"

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

static PGresult *empty_rows(void)
{
    static const char *const names[] = {"id",          "slug",        "title",
                                        "description", "price_cents", "slug"};
    PGresAttDesc attrs[6];
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

    memset(attrs, 0, sizeof(attrs));
    for (int i = 0; i < 6; i++) {
        attrs[i].name = (char *)names[i];
        attrs[i].typlen = -1;
    }
    assert_non_null(res);
    assert_true(PQsetResultAttrs(res, 6, attrs));
    return res;
}

static void set_text(PGresult *res, int row, int col, const char *value)
{
    assert_true(PQsetvalue(res, row, col, (char *)value, value ? (int)strlen(value) : -1));
}

/* Row i: product i + 1 (its slug too) with this title, no description,
 * price 1, no category. */
static void set_product(PGresult *rows, int i, const char *title)
{
    char id[32];

    snprintf(id, sizeof(id), "%d", i + 1);
    set_text(rows, i, 0, id);
    set_text(rows, i, 1, id);
    set_text(rows, i, 2, title);
    set_text(rows, i, 3, "");
    set_text(rows, i, 4, "1");
    set_text(rows, i, 5, NULL);
}

/* The vectors catalog as catalog-query rows; description of product
 * override_id replaced by override (if not NULL). */
static PGresult *vector_rows(int64_t override_id, const char *override)
{
    PGresult *res = empty_rows();
    json_t *item;
    size_t i;

    json_array_foreach(json_object_get(vectors, "catalog"), i, item)
    {
        char id[32], price[32];
        int64_t pid = json_integer_value(json_object_get(item, "id"));
        snprintf(id, sizeof(id), "%lld", (long long)pid);
        snprintf(price, sizeof(price), "%lld",
                 (long long)json_integer_value(json_object_get(item, "price_cents")));
        set_text(res, (int)i, 0, id);
        set_text(res, (int)i, 1, json_string_value(json_object_get(item, "slug")));
        set_text(res, (int)i, 2, json_string_value(json_object_get(item, "title")));
        set_text(res, (int)i, 3,
                 pid == override_id && override
                     ? override
                     : json_string_value(json_object_get(item, "description")));
        set_text(res, (int)i, 4, price);
        set_text(res, (int)i, 5, json_string_value(json_object_get(item, "category")));
    }
    return res;
}

static void check_rankings(recs_kernel kernel, unsigned threads, bool signatures)
{
    struct recs_minhash *mh = NULL;
    struct recs_catalog *cat = NULL;
    PGresult *rows = vector_rows(0, NULL);
    json_t *want;
    size_t i;

    assert_int_equal(recs_minhash_create(1500, kernel, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, rows, 7, signatures, NULL, threads, &cat), 0);
    PQclear(rows);
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
        assert_int_equal(recs_rank_top(mh, cat, (size_t)target,
                                       json_integer_value(json_object_get(want, "limit")), threads,
                                       out, &count),
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
    PGresult *rows = vector_rows(0, NULL);
    struct recs_ranked out[100];
    size_t count = 0;

    (void)state;
    assert_int_equal(recs_minhash_create(1500, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, rows, 1, true, NULL, 1, &cat), 0);
    PQclear(rows);
    assert_int_equal(recs_catalog_find(cat, "no-such-slug"), -1);
    assert_int_equal(recs_catalog_find(cat, "linen-summer-shir"), -1);
    /* limit larger than the candidates: every other product, target excluded */
    assert_int_equal(recs_rank_top(mh, cat, 0, 100, 2, out, &count), 0);
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
    assert_int_equal(recs_rank_top(mh, cat, (size_t)item, 3, 1, out, &count), 0);
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

    assert_int_equal(
        recs_rank_top(mh, cat, (size_t)recs_catalog_find(cat, slug), 100, 2, out, &count), 0);
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
    PGresult *rows = vector_rows(0, NULL);
    PGresult *changed_rows = vector_rows(3, "A linen shirt, breathable, relaxed collar, summer.");
    char a[2048], b[2048];

    (void)state;
    assert_int_equal(recs_minhash_create(1500, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, rows, 1, true, NULL, 2, &first), 0);
    assert_false(recs_catalog_shared(first));
    /* the same rows under a new version share the data */
    assert_int_equal(recs_catalog_build(mh, rows, 2, true, first, 2, &same), 0);
    assert_true(recs_catalog_shared(same));
    assert_int_equal(recs_catalog_computed(same), 0);
    assert_int_equal(recs_catalog_version(same), 2);
    /* a changed description is rebuilt, and ranks like a from-scratch build */
    assert_int_equal(recs_catalog_build(mh, changed_rows, 3, true, same, 2, &changed), 0);
    assert_false(recs_catalog_shared(changed));
    assert_int_equal(recs_catalog_computed(changed), 13);
    recs_catalog_unref(first); /* the shared data lives on in "same" */
    ranking_text(mh, same, "linen-summer-shirt", a, sizeof(a));
    assert_non_null(strstr(a, "2:344 "));
    recs_catalog_unref(same);
    assert_int_equal(recs_catalog_build(mh, changed_rows, 3, false, NULL, 1, &fresh), 0);
    ranking_text(mh, changed, "linen-summer-shirt", a, sizeof(a));
    ranking_text(mh, fresh, "linen-summer-shirt", b, sizeof(b));
    assert_string_equal(a, b);
    assert_string_not_equal(a, "");

    /* ids must ascend: ties and the slug index rely on it */
    PGresult *unordered = empty_rows();
    set_text(unordered, 0, 0, "2");
    set_text(unordered, 1, 0, "1");
    for (int r = 0; r < 2; r++) {
        for (int c = 1; c < 5; c++)
            set_text(unordered, r, c, c == 4 ? "1" : (r ? "b" : "a"));
        set_text(unordered, r, 5, NULL);
    }
    struct recs_catalog *bad = NULL;
    assert_int_equal(recs_catalog_build(mh, unordered, 1, true, NULL, 1, &bad), -1);
    assert_null(bad);
    PQclear(unordered);
    PQclear(rows);
    PQclear(changed_rows);
    recs_catalog_unref(changed);
    recs_catalog_unref(fresh);
    recs_minhash_destroy(mh);
}

/* More than 65,536 distinct values at a position: ids become 32-bit and
 * the ranking is still exact (K = 64 keeps this quick under valgrind). */
static void test_wide_ids(void **state)
{
    enum { N = 100000 };
    struct recs_minhash *mh = NULL;
    struct recs_catalog *wide = NULL, *plain = NULL;
    PGresult *rows = empty_rows();
    char title[96], a[2048], b[2048];

    (void)state;
    for (int i = 0; i < N; i++) {
        /* three words of its own, so that most positions keep one of them,
         * plus a word shared by each ten */
        snprintf(title, sizeof(title), "a%dx b%dx c%dx group%d", i, i, i, i / 10);
        set_product(rows, i, title);
    }
    assert_int_equal(recs_minhash_create(64, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, rows, 1, true, NULL, 2, &wide), 0);
    assert_int_equal(recs_catalog_build(mh, rows, 1, false, NULL, 2, &plain), 0);
    assert_true(recs_catalog_bytes(wide) >= (size_t)N * 64 * 4);
    ranking_text(mh, wide, "12345", a, sizeof(a));
    ranking_text(mh, plain, "12345", b, sizeof(b));
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "12341:")); /* its group comes first */
    recs_catalog_unref(wide);
    recs_catalog_unref(plain);
    PQclear(rows);
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
    PGresult *rows = empty_rows(), *small_rows = empty_rows();
    char id[32], title[96], a[4096], b[4096];
    size_t row_bytes = (K * 2 + 63) / 64 * 64;

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
    assert_int_equal(recs_catalog_build(mh, rows, 1, true, NULL, 2, &cat), 0);
    assert_int_equal(recs_catalog_build(mh, rows, 1, false, NULL, 2, &plain), 0);
    assert_int_equal(recs_catalog_build(mh, small_rows, 1, true, NULL, 2, &small), 0);
    assert_int_equal(recs_catalog_build(mh, small_rows, 1, false, NULL, 2, &small_plain), 0);
    /* the index's postings (2 bytes per product and position) are counted */
    assert_true(recs_catalog_bytes(cat) >= N * (row_bytes + K * 2));
    assert_true(recs_catalog_bytes(small) < SMALL * (row_bytes + K * 2));
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
    PQclear(rows);
    PQclear(small_rows);
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
    PGresult *rows = empty_rows();
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
    assert_int_equal(recs_catalog_build(mh, rows, 1, true, NULL, 2, &cat), 0);
    assert_int_equal(recs_catalog_build(mh, rows, 1, false, NULL, 2, &plain), 0);
    for (int t = 0; t < 12; t++) {
        size_t limit = t % 3 == 0 ? 1 : t % 3 == 1 ? 10 : 100;
        struct recs_ranked x[100], y[100];
        size_t cx = 0, cy = 0, target = (size_t)(t * 251) % N;
        assert_int_equal(recs_rank_top(mh, cat, target, limit, 2, x, &cx), 0);
        assert_int_equal(recs_rank_top(mh, plain, target, limit, 2, y, &cy), 0);
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
    PQclear(rows);
    recs_minhash_destroy(mh);
}

static void test_render(void **state)
{
    struct recs_minhash *mh = NULL;
    struct recs_catalog *cat = NULL;
    PGresult *rows = vector_rows(0, NULL);
    struct recs_ranked ranked[2] = {{.index = 1, .matches = 344}, {.index = 11, .matches = 0}};
    size_t len = 0;
    char *body;
    json_t *doc, *first, *second;

    (void)state;
    /* invalid UTF-8 in a title must still give valid JSON */
    set_text(rows, 11, 2, "bad \xff\xfe byte");
    assert_int_equal(recs_minhash_create(1500, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, rows, 1, true, NULL, 1, &cat), 0);
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
    PQclear(rows);
    recs_minhash_destroy(mh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rankings_every_kernel),
        cmocka_unit_test(test_limits_and_lookup),
        cmocka_unit_test(test_rebuild_shares_unchanged_rows),
        cmocka_unit_test(test_wide_ids),
        cmocka_unit_test(test_index_and_scan_agree),
        cmocka_unit_test(test_pruned_index_is_exact),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests_name("ranking", tests, setup, teardown);
}
