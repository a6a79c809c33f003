/*
 * test_live.c - a catalog that changes while recs serves it. Every kind of
 * change made through SQL (docs/API.md, catalog tables) must show in the
 * next response, exactly: each answer of the server under test is compared
 * with the answer of a second server started with the cache off, which
 * reads and hashes the whole catalog for every request (a from-scratch
 * oracle). Also: late commits, concurrent writers, what a change costs
 * (metrics), and a database that goes away in the middle of a change.
 *
 * Run like the other integration tests (RECS_BIN, RECS_TEST_CACHE,
 * RECS_TEST_PGDIR, RECS_TEST_PGCTL, RECS_TEST_VECTORS).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static json_t *vectors;
static PGconn *pg;
/* Writers a test holds open; closed after each test, so that a failure in
 * the middle of one cannot leave its locks to the next. */
#define WRITERS 4
static PGconn *writers[WRITERS];
static struct server server, oracle;

static const char *const server_env[] = {"RECS_HTTP_THREADS=2", "RECS_STATEMENT_TIMEOUT_MS=5000",
                                         NULL};
static const char *const oracle_env[] = {"RECS_HTTP_THREADS=2", "RECS_STATEMENT_TIMEOUT_MS=5000",
                                         "RECS_CACHE=off", NULL};

/* Products of the demo catalog used as targets: a spread of families, with
 * the ones the changes below touch. */
static const char *const targets[] = {
    "aeroglide-running-shoes",           "pacepro-road-running-shoes",
    "trailblazer-trail-running-shoes",   "classic-pullover-hoodie",
    "organic-cotton-crew-neck-t-shirt",  "cast-iron-skillet-10-inch",
    "house-espresso-blend-coffee-beans", "gift-card-50"};

/* Queries with filters, pages and carts, over the same changes. */
static const char *const queries[] = {
    "/products/aeroglide-running-shoes/recommendations?category=shoes,footwear&min_price=5000",
    "/products/classic-pullover-hoodie/recommendations?offset=5&limit=7&max_per_category=2",
    "/products/cast-iron-skillet-10-inch/recommendations?exclude=cast-iron-skillet-12-inch,"
    "enameled-cast-iron-dutch-oven&min_score=0.01",
    "/recommendations?products=aeroglide-running-shoes,classic-pullover-hoodie,no-such,"
    "aeroglide-twin&limit=20",
    "/recommendations?products=house-espresso-blend-coffee-beans,gift-card-50&max_price=3000"};

static bool catalog_empty; /* the test emptied it on purpose */

/* The server under test answers target exactly like the oracle; returns
 * the status. */
static int assert_like_oracle(const char *target)
{
    char *got = NULL, *want = NULL;
    int got_status = http_get_body(server.port, target, &got);
    int want_status = http_get_body(oracle.port, target, &want);

    if (got_status != want_status || (got != NULL) != (want != NULL) ||
        (got != NULL && strcmp(got, want) != 0))
        fail_msg("%s: recs answered %d %s\nfrom scratch: %d %s", target, got_status, got ? got : "",
                 want_status, want ? want : "");
    free(got);
    free(want);
    return got_status;
}

/* Every target (and extra slugs) at limit 100, like the oracle; most of
 * the targets exist, unless the catalog is empty. */
static void assert_all_like_oracle(const char *const *extra, size_t nextra)
{
    size_t n = sizeof(targets) / sizeof(targets[0]), found = 0;
    char target[256];

    for (size_t i = 0; i < n; i++) {
        snprintf(target, sizeof(target), "/products/%s/recommendations?limit=100", targets[i]);
        found += assert_like_oracle(target) == 200;
    }
    if (found < n / 2 && !catalog_empty)
        fail_msg("only %zu of %zu targets found", found, n);
    for (size_t i = 0; i < nextra; i++) {
        snprintf(target, sizeof(target), "/products/%s/recommendations?limit=100", extra[i]);
        assert_like_oracle(target);
    }
    /* storefront queries and a cart see the same catalog */
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
        assert_like_oracle(queries[i]);
}

static int load_demo_catalog(void)
{
    if (db_exec(pg, "TRUNCATE products, categories RESTART IDENTITY CASCADE") != 0)
        return -1;
    return db_exec_file(pg, "100_demo_catalog.sql");
}

static int setup_suite(void **state)
{
    (void)state;
    if (fixture_open(&vectors, &pg) != 0 || load_demo_catalog() != 0)
        return -1;
    if (server_start(&server, server_env) != 0)
        return -1;
    return server_start(&oracle, oracle_env);
}

static int teardown_suite(void **state)
{
    (void)state;
    server_stop(&oracle, 15, 10);
    assert_int_equal(load_vectors_catalog(pg, vectors), 0);
    fixture_close(vectors, pg, &server);
    return 0;
}

/* Each test starts from the demo catalog, whatever the one before left. */
static int reset_catalog(void **state)
{
    (void)state;
    return load_demo_catalog();
}

static int close_writers(void **state)
{
    (void)state;
    for (int i = 0; i < WRITERS; i++) {
        PQfinish(writers[i]);
        writers[i] = NULL;
    }
    return 0;
}

static PGconn *writer(int i)
{
    writers[i] = db_connect();
    assert_non_null(writers[i]);
    return writers[i];
}

static double metric(const char *series)
{
    double v = -1;
    assert_int_equal(http_metric(server.port, series, &v), 0);
    return v;
}

/* One change, then the next response of every target is the oracle's. */
static void change_and_compare(const char *sql, const char *const *extra, size_t nextra)
{
    if (db_exec(pg, sql) != 0)
        fail_msg("change failed: %s", sql);
    assert_all_like_oracle(extra, nextra);
}

static void test_every_kind_of_change_shows_at_once(void **state)
{
    static const char *const renamed[] = {"aeroglide-road-runner"};
    static const char *const inserted[] = {"aeroglide-twin", "copied-skillet"};

    (void)state;
    assert_all_like_oracle(NULL, 0);
    /* UPDATE of each column */
    change_and_compare("UPDATE products SET price_cents = price_cents + 1 WHERE id = 2", NULL, 0);
    change_and_compare("UPDATE products SET title = 'Trail Running Shoes for Road' WHERE id = 3",
                       NULL, 0);
    change_and_compare("UPDATE products SET description = (SELECT description FROM products "
                       "WHERE slug = 'classic-pullover-hoodie') WHERE id = 1",
                       NULL, 0);
    change_and_compare("UPDATE products SET slug = 'aeroglide-road-runner' WHERE id = 1", renamed,
                       1);
    {
        char *body = NULL;
        assert_int_equal(
            http_get_body(server.port, "/products/aeroglide-running-shoes/recommendations", &body),
            404);
        free(body);
    }
    /* a product moved to another category, a category renamed, a product
     * without one */
    change_and_compare("UPDATE products SET category_id = (SELECT id FROM categories "
                       "WHERE slug = 'kitchen') WHERE id = 4",
                       NULL, 0);
    change_and_compare("UPDATE categories SET slug = 'footwear' WHERE slug = 'shoes'", NULL, 0);
    change_and_compare("UPDATE products SET category_id = NULL WHERE id = 5", NULL, 0);
    /* INSERT, then DELETE */
    change_and_compare("INSERT INTO products (slug, title, description, price_cents, category_id) "
                       "SELECT 'aeroglide-twin', title, description, 1, category_id "
                       "FROM products WHERE id = 2",
                       inserted, 1);
    change_and_compare("DELETE FROM products WHERE id = 2", inserted, 1);
    /* an id changed: the old one is gone, the new one is there */
    change_and_compare("UPDATE products SET id = 100000 WHERE id = 6", NULL, 0);
    /* many changes in one transaction, one of them undone by a later one */
    change_and_compare(
        "BEGIN; UPDATE products SET price_cents = 1 WHERE id BETWEEN 10 AND 60; "
        "UPDATE products SET title = title || ' Deluxe' WHERE id % 7 = 0; "
        "DELETE FROM products WHERE id BETWEEN 61 AND 70; "
        "INSERT INTO products (slug, title, description, price_cents) SELECT "
        "'copied-skillet', title, description, 5 FROM products "
        "WHERE slug = 'cast-iron-skillet-10-inch'; "
        "UPDATE products SET title = 'Gone Again' WHERE slug = 'copied-skillet'; "
        "UPDATE products SET title = 'Copied Skillet' WHERE slug = 'copied-skillet'; "
        "COMMIT",
        inserted, 2);
    /* COPY, and a rolled back change that must not show */
    change_and_compare(
        "COPY products (slug, title, description, price_cents) FROM PROGRAM "
        "'printf \"copied-1\\tCopied Trail Shoes\\ttrail running shoes grip\\t7\\n\"'",
        NULL, 0);
    change_and_compare("BEGIN; UPDATE products SET title = 'Never' WHERE id = 3; ROLLBACK", NULL,
                       0);
    /* TRUNCATE and a reload of the whole catalog */
    catalog_empty = true;
    change_and_compare("BEGIN; TRUNCATE products, categories RESTART IDENTITY CASCADE; COMMIT",
                       NULL, 0);
    catalog_empty = false;
    assert_int_equal(load_demo_catalog(), 0);
    assert_all_like_oracle(NULL, 0);
}

/* A transaction that started early and commits late is seen once it
 * commits, though a later one committed first (transaction ids do not
 * follow commit order). */
static void test_late_commit_is_seen(void **state)
{
    PGconn *early = writer(0), *late = writer(1);

    (void)state;
    assert_int_equal(db_exec(early, "BEGIN"), 0);
    assert_int_equal(db_exec(early, "UPDATE products SET title = 'Early Writer' WHERE id = 3"), 0);
    assert_int_equal(db_exec(late, "BEGIN"), 0);
    assert_int_equal(db_exec(late, "UPDATE products SET title = 'Late Writer' WHERE id = 4"), 0);
    assert_int_equal(db_exec(late, "COMMIT"), 0);
    assert_all_like_oracle(NULL, 0);
    assert_int_equal(db_exec(early, "COMMIT"), 0);
    assert_all_like_oracle(NULL, 0);
}

/* Several writers interleaved and committing out of order. */
static void test_concurrent_writers(void **state)
{
    PGconn *w[WRITERS];
    char sql[256];

    (void)state;
    for (int i = 0; i < WRITERS; i++) {
        w[i] = writer(i);
        assert_int_equal(db_exec(w[i], "BEGIN"), 0);
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < WRITERS; i++) {
            snprintf(sql, sizeof(sql),
                     "UPDATE products SET title = title || ' w%d', price_cents = %d "
                     "WHERE id = %d",
                     i, round, 20 + i * 10 + round);
            assert_int_equal(db_exec(w[i], sql), 0);
        }
    }
    for (int i = WRITERS - 1; i >= 0; i--) {
        assert_int_equal(db_exec(w[i], i % 2 ? "COMMIT" : "ROLLBACK"), 0);
        assert_all_like_oracle(NULL, 0);
    }
}

/* A change costs what it changes: it is applied as a change set, a price
 * change hashes nothing and a new text hashes one product. */
static void test_a_change_costs_what_it_changes(void **state)
{
    double computed, refreshes;

    (void)state;
    if (strcmp(getenv("RECS_TEST_CACHE") ? getenv("RECS_TEST_CACHE") : "on", "off") == 0)
        skip();                      /* the cache off hashes everything for every request */
    assert_all_like_oracle(NULL, 0); /* the reload after the reset is behind us */
    computed = metric("recs_signatures_computed_total");
    refreshes = metric("recs_catalog_refreshes_total");
    change_and_compare("UPDATE products SET price_cents = 4242 WHERE id = 7", NULL, 0);
    assert_true(metric("recs_catalog_refreshes_total") == refreshes + 1);
    assert_true(metric("recs_signatures_computed_total") == computed);
    assert_true(metric("recs_cache_delta_products") == 1);
    change_and_compare("UPDATE products SET description = 'all new words here' WHERE id = 8", NULL,
                       0);
    assert_true(metric("recs_signatures_computed_total") == computed + 1);
    assert_true(metric("recs_cache_delta_products") == 2);
    /* requests without changes in between cost no refresh work */
    refreshes = metric("recs_catalog_refreshes_total");
    assert_all_like_oracle(NULL, 0);
    assert_true(metric("recs_catalog_refreshes_total") == refreshes);
}

/* The database stopped right after a change: 503, never the old answer;
 * back: the change shows. */
static void test_database_gone_in_the_middle_of_a_change(void **state)
{
    char *body = NULL;
    int status = 0;
    double deadline;

    (void)state;
    assert_all_like_oracle(NULL, 0);
    assert_int_equal(db_exec(pg, "UPDATE products SET title = 'Changed Before The Outage' "
                                 "WHERE id = 2"),
                     0);
    PQfinish(pg);
    pg = NULL;
    assert_int_equal(pg_control_arg("stop", "immediate"), 0);
    assert_int_equal(
        http_get_body(server.port, "/products/aeroglide-running-shoes/recommendations", &body),
        503);
    free(body);
    assert_int_equal(pg_control("restart"), 0);
    deadline = now_seconds() + 10;
    while (now_seconds() < deadline && status != 200) {
        status =
            http_get_body(server.port, "/products/aeroglide-running-shoes/recommendations", &body);
        free(body);
        if (status != 200)
            sleep_ms(100);
    }
    assert_int_equal(status, 200);
    pg = db_connect();
    assert_non_null(pg);
    assert_all_like_oracle(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_kind_of_change_shows_at_once, reset_catalog,
                                        close_writers),
        cmocka_unit_test_setup_teardown(test_late_commit_is_seen, reset_catalog, close_writers),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, reset_catalog, close_writers),
        cmocka_unit_test_setup_teardown(test_a_change_costs_what_it_changes, reset_catalog,
                                        close_writers),
        cmocka_unit_test_setup_teardown(test_database_gone_in_the_middle_of_a_change, reset_catalog,
                                        close_writers),
    };
    select_tests_from_env();
    return cmocka_run_group_tests_name("live catalog", tests, setup_suite, teardown_suite);
}
