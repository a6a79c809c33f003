/*
 * test_ranking.c - catalog snapshots, ranking and JSON rendering on the
 * spec's vector catalog, without a database: the rows are built as a libpq
 * result in memory. Every ranking of vectors.json is checked on every kernel
 * this CPU runs and with one and two OpenMP threads.
 */
#include <setjmp.h>
#include <stdarg.h>
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
    static const char *const names[] = {"id", "slug", "title", "description", "price_cents",
                                        "slug"};
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

static void check_rankings(recs_kernel kernel, unsigned threads)
{
    struct recs_minhash *mh = NULL;
    struct recs_catalog *cat = NULL;
    PGresult *rows = vector_rows(0, NULL);
    json_t *want;
    size_t i;

    assert_int_equal(recs_minhash_create(1500, kernel, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, rows, 7, NULL, threads, &cat), 0);
    PQclear(rows);
    assert_int_equal(recs_catalog_count(cat), 13);
    assert_int_equal(recs_catalog_computed(cat), 13);
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
        check_rankings(kernels[i], 1);
        check_rankings(kernels[i], 2);
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
    assert_int_equal(recs_catalog_build(mh, rows, 1, NULL, 1, &cat), 0);
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

static void test_rebuild_reuses_unchanged_products(void **state)
{
    struct recs_minhash *mh = NULL;
    struct recs_catalog *first = NULL, *second = NULL, *fresh = NULL;
    PGresult *rows = vector_rows(0, NULL);
    PGresult *changed = vector_rows(3, "A linen shirt, breathable, relaxed collar, summer days.");

    (void)state;
    assert_int_equal(recs_minhash_create(1500, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_catalog_build(mh, rows, 1, NULL, 2, &first), 0);
    assert_int_equal(recs_catalog_build(mh, changed, 2, first, 2, &second), 0);
    assert_int_equal(recs_catalog_reused(second), 12);
    assert_int_equal(recs_catalog_computed(second), 1);
    assert_int_equal(recs_catalog_version(second), 2);
    /* the old snapshot stays valid and unchanged while someone holds it */
    recs_catalog_unref(first);
    assert_int_equal(recs_catalog_build(mh, changed, 2, NULL, 1, &fresh), 0);
    for (size_t i = 0; i < recs_catalog_count(fresh); i++) {
        const struct recs_product *a = recs_catalog_product(second, i);
        const struct recs_product *b = recs_catalog_product(fresh, i);
        assert_int_equal(a->id, b->id);
        assert_string_equal(a->description, b->description);
        assert_int_equal(recs_minhash_matches(mh, a->signature, b->signature), 1500);
    }
    /* ids must ascend: the merge with the previous snapshot relies on it */
    PGresult *unordered = empty_rows();
    set_text(unordered, 0, 0, "2");
    set_text(unordered, 1, 0, "1");
    for (int r = 0; r < 2; r++) {
        for (int c = 1; c < 5; c++)
            set_text(unordered, r, c, c == 4 ? "1" : (r ? "b" : "a"));
        set_text(unordered, r, 5, NULL);
    }
    struct recs_catalog *bad = NULL;
    assert_int_equal(recs_catalog_build(mh, unordered, 1, NULL, 1, &bad), -1);
    assert_null(bad);
    PQclear(unordered);
    PQclear(rows);
    PQclear(changed);
    recs_catalog_unref(second);
    recs_catalog_unref(fresh);
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
    assert_int_equal(recs_catalog_build(mh, rows, 1, NULL, 1, &cat), 0);
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
        cmocka_unit_test(test_rebuild_reuses_unchanged_products),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests_name("ranking", tests, setup, teardown);
}
