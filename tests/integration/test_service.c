/*
 * test_service.c - the service end to end: the real binary ($RECS_BIN) on a
 * free port, a real PostgreSQL (the cluster in $RECS_TEST_PGDIR, controlled
 * with $RECS_TEST_PGCTL), real HTTP over sockets. Rankings are checked
 * against the spec's vectors ($RECS_TEST_VECTORS).
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static json_t *vectors;
static PGconn *pg;
static struct server server;

static const char *const server_env[] = {"RECS_HTTP_THREADS=2", "RECS_STATEMENT_TIMEOUT_MS=5000",
                                         NULL};

/* GET target and return the status; the response is left in *r. */
static int get(const char *target, struct http_response *r)
{
    if (http_request(server.port, "GET", target, r) != 0)
        return -1;
    return r->status;
}

/* The recommendations of slug as JSON (status must be 200). */
static json_t *recommendations(const char *slug, int limit)
{
    char target[512];
    struct http_response r;
    json_t *body;

    snprintf(target, sizeof(target), "/products/%s/recommendations?limit=%d", slug, limit);
    assert_int_equal(get(target, &r), 200);
    body = http_json(&r);
    http_response_free(&r);
    assert_non_null(body);
    return body;
}

static void assert_error_body(const struct http_response *r)
{
    json_t *body = http_json(r);
    assert_non_null(body);
    assert_true(json_is_string(json_object_get(body, "error")));
    json_decref(body);
}

static int setup_suite(void **state)
{
    (void)state;
    if (fixture_open(&vectors, &pg) != 0)
        return -1;
    return server_start(&server, server_env);
}

static int teardown_suite(void **state)
{
    (void)state;
    fixture_close(vectors, pg, &server);
    return 0;
}

static void test_rankings_match_the_vectors(void **state)
{
    json_t *expected = json_object_get(vectors, "expected"), *want;
    size_t i;

    (void)state;
    assert_true(json_array_size(expected) > 0);
    json_array_foreach(expected, i, want)
    {
        const char *slug = json_string_value(json_object_get(want, "target"));
        json_t *ranking = json_object_get(want, "ranking");
        json_t *got =
            recommendations(slug, (int)json_integer_value(json_object_get(want, "limit")));
        json_t *recs = json_object_get(got, "recommendations"), *w;
        size_t j;

        assert_string_equal(
            json_string_value(json_object_get(json_object_get(got, "product"), "slug")), slug);
        assert_int_equal(json_array_size(recs), json_array_size(ranking));
        json_array_foreach(ranking, j, w)
        {
            json_t *g = json_array_get(recs, j);
            assert_int_equal(json_integer_value(json_object_get(g, "id")),
                             json_integer_value(json_object_get(w, "id")));
            assert_int_equal(json_integer_value(json_object_get(g, "matches")),
                             json_integer_value(json_object_get(w, "matches")));
            assert_float_equal(json_real_value(json_object_get(g, "score")),
                               json_number_value(json_object_get(w, "score")), 1e-12);
        }
        json_decref(got);
    }
}

static void test_response_fields(void **state)
{
    json_t *got = recommendations("trail-running-shoes", 1);
    json_t *first = json_array_get(json_object_get(got, "recommendations"), 0);
    json_t *product = json_object_get(got, "product");

    (void)state;
    assert_int_equal(json_integer_value(json_object_get(product, "id")), 4);
    assert_string_equal(json_string_value(json_object_get(product, "title")),
                        "Trail Running Shoes");
    assert_string_equal(json_string_value(json_object_get(first, "slug")), "road-running-shoes");
    assert_string_equal(json_string_value(json_object_get(first, "title")), "Road Running Shoes");
    assert_int_equal(json_integer_value(json_object_get(first, "price_cents")), 9900);
    assert_string_equal(json_string_value(json_object_get(first, "category")), "shoes");
    json_decref(got);

    /* a product without a category answers null; with no tokens, score 0 */
    got = recommendations("item-1", 100);
    assert_int_equal(json_array_size(json_object_get(got, "recommendations")), 12);
    for (size_t i = 0; i < 12; i++) {
        json_t *rec = json_array_get(json_object_get(got, "recommendations"), i);
        assert_float_equal(json_real_value(json_object_get(rec, "score")), 0.0, 0.0);
    }
    json_decref(got);
    got = recommendations("linen-summer-shirt", 100);
    for (size_t i = 0; i < 12; i++) {
        json_t *rec = json_array_get(json_object_get(got, "recommendations"), i);
        if (json_integer_value(json_object_get(rec, "id")) == 12)
            assert_true(json_is_null(json_object_get(rec, "category")));
    }
    json_decref(got);
}

static void test_default_limit_is_ten(void **state)
{
    struct http_response r;
    json_t *body;
    char type[128];

    (void)state;
    assert_int_equal(get("/products/linen-summer-shirt/recommendations", &r), 200);
    assert_non_null(http_header(&r, "Content-Type", type, sizeof(type)));
    assert_string_equal(type, "application/json");
    body = http_json(&r);
    assert_int_equal(json_array_size(json_object_get(body, "recommendations")), 10);
    json_decref(body);
    http_response_free(&r);
}

static void test_bad_requests_are_400(void **state)
{
    static const char *const targets[] = {
        "/products//recommendations",
        "/products/a%20b/recommendations",
        "/products/slug!/recommendations",
        "/products/caf%C3%A9/recommendations",
        "/products/a%2Fb/recommendations",
        "/products/a%00b/recommendations",
        "/products/..%2F..%2Fetc/recommendations",
        "/products/linen-summer-shirt/recommendations?limit=",
        "/products/linen-summer-shirt/recommendations?limit=0",
        "/products/linen-summer-shirt/recommendations?limit=-1",
        "/products/linen-summer-shirt/recommendations?limit=101",
        "/products/linen-summer-shirt/recommendations?limit=5x",
        "/products/linen-summer-shirt/recommendations?limit=%205",
        "/products/linen-summer-shirt/recommendations?limit=1e1",
        "/products/linen-summer-shirt/recommendations?limit=5&limit=5",
        "/products/linen-summer-shirt/recommendations?limit=99999999999999999999999",
        "/products/linen-summer-shirt/recommendations?limit",
        "/products/linen-summer-shirt/recommendations?limit=+5",
        "/products/linen-summer-shirt/recommendations?limit=%00",
    };
    char long_slug[300];
    struct http_response r;

    (void)state;
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        int status = get(targets[i], &r);
        if (status != 400)
            fail_msg("%s answered %d, expected 400", targets[i], status);
        assert_error_body(&r);
        http_response_free(&r);
    }
    memset(long_slug, 'a', 129);
    snprintf(long_slug + 129, sizeof(long_slug) - 129, "%s", "");
    {
        char target[400];
        snprintf(target, sizeof(target), "/products/%s/recommendations", long_slug);
        assert_int_equal(get(target, &r), 400);
        http_response_free(&r);
        long_slug[128] = '\0'; /* 128 bytes is still a valid slug: unknown, so 404 */
        snprintf(target, sizeof(target), "/products/%s/recommendations", long_slug);
        assert_int_equal(get(target, &r), 404);
        http_response_free(&r);
    }
    /* unknown parameters are ignored */
    assert_int_equal(get("/products/linen-summer-shirt/recommendations?limit=3&x=y", &r), 200);
    http_response_free(&r);
}

static void test_not_found_is_404(void **state)
{
    static const char *const targets[] = {"/products/no-such-product/recommendations",
                                          "/",
                                          "/products",
                                          "/products/linen-summer-shirt",
                                          "/products/linen-summer-shirt/recommendations/extra",
                                          "/healthz/x",
                                          "/metricsz"};
    struct http_response r;

    (void)state;
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        int status = get(targets[i], &r);
        if (status != 404)
            fail_msg("%s answered %d, expected 404", targets[i], status);
        assert_error_body(&r);
        http_response_free(&r);
    }
}

static void test_other_methods_are_405(void **state)
{
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    struct http_response r;
    char allow[64];

    (void)state;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        assert_int_equal(http_request(server.port, methods[i],
                                      "/products/linen-summer-shirt/recommendations", &r),
                         0);
        assert_int_equal(r.status, 405);
        assert_non_null(http_header(&r, "Allow", allow, sizeof(allow)));
        assert_string_equal(allow, "GET, HEAD");
        assert_error_body(&r);
        http_response_free(&r);
    }
    assert_int_equal(http_request(server.port, "POST", "/healthz", &r), 0);
    assert_int_equal(r.status, 405);
    http_response_free(&r);
}

static void test_head_is_get_without_body(void **state)
{
    struct http_response get_r, head_r;
    char get_len[32], head_len[32];

    (void)state;
    assert_int_equal(get("/products/linen-summer-shirt/recommendations?limit=3", &get_r), 200);
    assert_int_equal(http_request(server.port, "HEAD",
                                  "/products/linen-summer-shirt/recommendations?limit=3", &head_r),
                     0);
    assert_int_equal(head_r.status, 200);
    assert_int_equal(head_r.body_len, 0);
    assert_non_null(http_header(&get_r, "Content-Length", get_len, sizeof(get_len)));
    assert_non_null(http_header(&head_r, "Content-Length", head_len, sizeof(head_len)));
    assert_string_equal(get_len, head_len);
    http_response_free(&get_r);
    http_response_free(&head_r);
}

static void test_operational_endpoints(void **state)
{
    struct http_response r;
    json_t *body;

    (void)state;
    assert_int_equal(get("/healthz", &r), 200);
    body = http_json(&r);
    assert_string_equal(json_string_value(json_object_get(body, "status")), "ok");
    json_decref(body);
    http_response_free(&r);

    assert_int_equal(get("/readyz", &r), 200);
    body = http_json(&r);
    assert_string_equal(json_string_value(json_object_get(body, "status")), "ready");
    json_decref(body);
    http_response_free(&r);

    assert_int_equal(get("/metrics", &r), 200);
    assert_non_null(
        strstr(r.body, "recs_http_requests_total{route=\"recommendations\",code=\"200\"}"));
    assert_non_null(strstr(r.body, "recs_http_request_duration_seconds_bucket"));
    assert_non_null(strstr(r.body, "recs_scoring_duration_seconds_count"));
    assert_non_null(strstr(r.body, "recs_db_pool_connections{state=\"configured\"}"));
    assert_non_null(strstr(r.body, "recs_build_info{"));
    /* the live exposition passes Prometheus' own checker, where installed */
    if (system("command -v promtool >/dev/null 2>&1") == 0) {
        FILE *check = popen("promtool check metrics >/dev/null 2>&1", "w");
        assert_non_null(check);
        fwrite(r.body, 1, r.body_len, check);
        assert_int_equal(pclose(check), 0);
    }
    http_response_free(&r);
}

/* The series the alerting rules of deploy/prometheus/alerts.yml read: a
 * catalog write counts as a change, and (with the cache) as a refresh once a
 * request has seen it; open connections and their limit. */
static void test_catalog_change_and_connection_metrics(void **state)
{
    bool cache = getenv("RECS_TEST_CACHE") == NULL || strcmp(getenv("RECS_TEST_CACHE"), "on") == 0;
    double changes, refreshes, changes_after, refreshes_after, open, limit;

    (void)state;
    json_decref(recommendations("linen-summer-shirt", 1)); /* seen the current version */
    assert_int_equal(http_metric(server.port, "recs_catalog_changes_total", &changes), 0);
    assert_int_equal(http_metric(server.port, "recs_catalog_refreshes_total", &refreshes), 0);
    assert_int_equal(db_exec(pg, "UPDATE products SET price_cents = price_cents + 1 WHERE id = 2"),
                     0);
    json_decref(recommendations("linen-summer-shirt", 1));
    assert_int_equal(http_metric(server.port, "recs_catalog_changes_total", &changes_after), 0);
    assert_int_equal(http_metric(server.port, "recs_catalog_refreshes_total", &refreshes_after), 0);
    /* without the cache there is no snapshot and no version check */
    assert_float_equal(changes_after, changes + (cache ? 1 : 0), 0);
    assert_float_equal(refreshes_after, refreshes + (cache ? 1 : 0), 0);
    assert_int_equal(load_vectors_catalog(pg, vectors), 0);

    /* the scrape's own connection is open while it is answered */
    assert_int_equal(http_metric(server.port, "recs_http_connections", &open), 0);
    assert_true(open >= 1);
    assert_int_equal(http_metric(server.port, "recs_http_connections_limit", &limit), 0);
    assert_float_equal(limit, 10000, 0); /* RECS_MAX_CONNECTIONS's default */
}

/* Every change made through SQL shows in the next response. */
static void test_changes_show_in_the_next_response(void **state)
{
    json_t *got, *first;

    (void)state;
    /* UPDATE: make product 3 a copy of product 1's text */
    assert_int_equal(db_exec(pg, "UPDATE products SET title = 'Linen Summer Shirt', description = "
                                 "(SELECT description FROM products WHERE id = 1) WHERE id = 3"),
                     0);
    got = recommendations("linen-summer-shirt", 1);
    first = json_array_get(json_object_get(got, "recommendations"), 0);
    assert_int_equal(json_integer_value(json_object_get(first, "id")), 3);
    assert_int_equal(json_integer_value(json_object_get(first, "matches")), 1500);
    assert_string_equal(json_string_value(json_object_get(first, "title")), "Linen Summer Shirt");
    json_decref(got);

    /* INSERT: a new product appears */
    assert_int_equal(db_exec(pg,
                             "INSERT INTO products (slug, title, description, price_cents) "
                             "VALUES ('oxford-twin', 'Cotton Oxford Shirt', (SELECT description "
                             "FROM products WHERE id = 2), 100)"),
                     0);
    got = recommendations("cotton-oxford-shirt", 1);
    first = json_array_get(json_object_get(got, "recommendations"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "slug")), "oxford-twin");
    assert_float_equal(json_real_value(json_object_get(first, "score")), 1.0, 0.0);
    json_decref(got);

    /* a category renamed shows in the category field */
    assert_int_equal(db_exec(pg, "UPDATE categories SET slug = 'apparel' WHERE slug = 'clothes'"),
                     0);
    got = recommendations("cotton-oxford-shirt", 2);
    first = json_array_get(json_object_get(got, "recommendations"), 1);
    assert_int_equal(json_integer_value(json_object_get(first, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(first, "category")), "apparel");
    json_decref(got);

    /* DELETE: gone from the ranking and as a target */
    assert_int_equal(db_exec(pg, "DELETE FROM products WHERE slug = 'oxford-twin'"), 0);
    got = recommendations("cotton-oxford-shirt", 1);
    first = json_array_get(json_object_get(got, "recommendations"), 0);
    assert_int_equal(json_integer_value(json_object_get(first, "id")), 1);
    json_decref(got);
    {
        struct http_response r;
        assert_int_equal(get("/products/oxford-twin/recommendations", &r), 404);
        http_response_free(&r);
    }
    /* a catalog of another identity (recreated, restored from a backup)
     * is read afresh, even when its change log says nothing: here the
     * change is made with the log's trigger off */
    assert_int_equal(db_exec(pg, "BEGIN"), 0);
    assert_int_equal(db_exec(pg, "ALTER TABLE products DISABLE TRIGGER recs_products_update"), 0);
    assert_int_equal(db_exec(pg, "UPDATE products SET title = 'Renamed Oxford Shirt' WHERE id = 2"),
                     0);
    assert_int_equal(db_exec(pg, "ALTER TABLE products ENABLE ALWAYS TRIGGER recs_products_update"),
                     0);
    assert_int_equal(db_exec(pg, "UPDATE recs_catalog_version SET epoch = epoch + 1"), 0);
    assert_int_equal(db_exec(pg, "COMMIT"), 0);
    got = recommendations("cotton-oxford-shirt", 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(got, "product"), "title")),
        "Renamed Oxford Shirt");
    json_decref(got);

    assert_int_equal(load_vectors_catalog(pg, vectors), 0);
    test_rankings_match_the_vectors(state);
}

/* PostgreSQL stopped: 503 with Retry-After, fast; started again: the
 * service heals without a restart. */
static void test_database_outage_and_recovery(void **state)
{
    struct http_response r;
    char retry[16];
    double start, deadline;
    int status = 0;

    (void)state;
    PQfinish(pg);
    pg = NULL;
    assert_int_equal(pg_control("stop"), 0);
    for (int i = 0; i < 3; i++) {
        start = now_seconds();
        assert_int_equal(get("/products/linen-summer-shirt/recommendations", &r), 503);
        assert_true(now_seconds() - start < 3.0);
        assert_non_null(http_header(&r, "Retry-After", retry, sizeof(retry)));
        assert_error_body(&r);
        http_response_free(&r);
    }
    assert_int_equal(get("/readyz", &r), 503);
    http_response_free(&r);
    assert_int_equal(get("/healthz", &r), 200);
    http_response_free(&r);

    assert_int_equal(pg_control("restart"), 0);
    deadline = now_seconds() + 10;
    while (now_seconds() < deadline && status != 200) {
        status = get("/products/linen-summer-shirt/recommendations", &r);
        http_response_free(&r);
        if (status != 200)
            sleep_ms(100);
    }
    assert_int_equal(status, 200);
    assert_int_equal(get("/readyz", &r), 200);
    http_response_free(&r);
    pg = db_connect();
    assert_non_null(pg);
    test_rankings_match_the_vectors(state);
}

struct inflight_call {
    int port;
    int status;
};

static void *call_recommendations(void *arg)
{
    struct inflight_call *call = arg;
    struct http_response r;

    call->status = -1;
    if (http_request(call->port, "GET", "/products/road-running-shoes/recommendations", &r) == 0)
        call->status = r.status;
    http_response_free(&r);
    return NULL;
}

/* SIGTERM while requests wait on a locked table: they still get their
 * answers, then the process exits 0. One request per HTTP worker thread:
 * a connection still waiting in the listen backlog is not in flight. */
static void test_sigterm_finishes_requests_in_flight(void **state)
{
    struct server s;
    struct inflight_call calls[2];
    pthread_t threads[2];
    PGconn *locker = db_connect();

    (void)state;
    assert_non_null(locker);
    assert_int_equal(server_start(&s, server_env), 0);
    assert_int_equal(db_exec(locker, "BEGIN"), 0);
    assert_int_equal(db_exec(locker, "LOCK TABLE products, recs_catalog_version IN ACCESS "
                                     "EXCLUSIVE MODE"),
                     0);
    for (int i = 0; i < 2; i++) {
        calls[i].port = s.port;
        assert_int_equal(pthread_create(&threads[i], NULL, call_recommendations, &calls[i]), 0);
    }
    sleep_ms(400);
    kill(s.pid, SIGTERM);
    sleep_ms(300);
    assert_int_equal(kill(s.pid, 0), 0); /* still draining */
    assert_int_equal(db_exec(locker, "COMMIT"), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(calls[i].status, 200);
    }
    assert_int_equal(server_stop(&s, SIGTERM, 10), 0);
    assert_true(server_log_contains(&s, "\"stopped\""));
    PQfinish(locker);
}

static void test_password_is_never_logged(void **state)
{
    struct server s;
    char url[1200];
    const char *env[] = {url, NULL};
    struct http_response r;

    (void)state;
    snprintf(url, sizeof(url), "DATABASE_URL=%s password=hunter2-secret", db_url());
    assert_int_equal(server_start(&s, env), 0);
    assert_int_equal(http_request(s.port, "GET", "/products/x/recommendations", &r), 0);
    http_response_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM, 10), 0);
    assert_true(server_log_contains(&s, "\"database_url\""));
    assert_false(server_log_contains(&s, "hunter2-secret"));
}

/* The service works as recs_reader (sql/003_reader_role.sql), a role that
 * can only read. */
static void test_runs_as_read_only_role(void **state)
{
    struct server s;
    char url[1200], conninfo[1100];
    const char *env[] = {url, NULL};
    struct http_response r;
    PGconn *reader;
    PGresult *res;

    (void)state;
    snprintf(conninfo, sizeof(conninfo), "%s user=recs_reader", db_url());
    reader = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(reader), CONNECTION_OK);
    res = PQexec(reader, "UPDATE products SET price_cents = 1");
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42501"); /* permission */
    PQclear(res);
    PQfinish(reader);

    snprintf(url, sizeof(url), "DATABASE_URL=%s", conninfo);
    assert_int_equal(server_start(&s, env), 0);
    assert_int_equal(http_request(s.port, "GET", "/products/wireless-earbuds/recommendations", &r),
                     0);
    assert_int_equal(r.status, 200);
    http_response_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM, 10), 0);
}

/* The service turns libpq's GSS encryption off by default (see db.c), but
 * a gssencmode in DATABASE_URL still wins: with "require" against this
 * cluster (no Kerberos) no connection can be made, so /readyz says 503 and
 * the log gives libpq's reason. */
static void test_gssencmode_in_the_url_is_honoured(void **state)
{
    struct server s;
    char url[1200];
    const char *env[] = {url, NULL};
    struct http_response r;

    (void)state;
    snprintf(url, sizeof(url), "DATABASE_URL=%s gssencmode=require", db_url());
    assert_int_equal(server_start(&s, env), 0);
    assert_int_equal(http_request(s.port, "GET", "/readyz", &r), 0);
    assert_int_equal(r.status, 503);
    http_response_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM, 10), 0);
    assert_true(server_log_contains(&s, "GSSAPI"));
}

/* Whether the process's environment (after any re-exec) holds entry. */
static bool process_environ_has(pid_t pid, const char *entry)
{
    char path[64], buf[65536];
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (size_t at = 0; at < n; at += strlen(buf + at) + 1) {
        if (strcmp(buf + at, entry) == 0)
            return true;
    }
    return false;
}

/* Settings libraries read when they load (main.c, prepare_environment):
 * a process started without them runs with OMP_WAIT_POLICY=passive and
 * GNUTLS_NO_IMPLICIT_INIT=1, one started with them keeps the caller's. */
static void test_library_settings_are_in_place(void **state)
{
    static const char *const given[] = {"OMP_WAIT_POLICY=active", "GNUTLS_NO_IMPLICIT_INIT=0",
                                        NULL};
    char *omp = getenv("OMP_WAIT_POLICY") ? strdup(getenv("OMP_WAIT_POLICY")) : NULL;
    struct http_response r;
    struct server s;

    (void)state;
    unsetenv("OMP_WAIT_POLICY");
    unsetenv("GNUTLS_NO_IMPLICIT_INIT");
    assert_int_equal(server_start(&s, NULL), 0);
    if (omp != NULL)
        setenv("OMP_WAIT_POLICY", omp, 1);
    free(omp);
    assert_true(process_environ_has(s.pid, "OMP_WAIT_POLICY=passive"));
    assert_true(process_environ_has(s.pid, "GNUTLS_NO_IMPLICIT_INIT=1"));
    assert_int_equal(http_request(s.port, "GET", "/products/wireless-earbuds/recommendations", &r),
                     0);
    assert_int_equal(r.status, 200);
    http_response_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM, 10), 0);

    assert_int_equal(server_start(&s, given), 0);
    assert_true(process_environ_has(s.pid, "OMP_WAIT_POLICY=active"));
    assert_true(process_environ_has(s.pid, "GNUTLS_NO_IMPLICIT_INIT=0"));
    assert_int_equal(server_stop(&s, SIGTERM, 10), 0);
}

static void test_invalid_configuration_fails_at_start(void **state)
{
    struct server s;
    const char *env[] = {"RECS_K=0", NULL};
    int status;

    (void)state;
    assert_int_equal(server_start(&s, env), -1);
    status = server_stop(&s, SIGKILL, 5);
    assert_int_equal(status, 2);
    assert_true(server_log_contains(&s, "RECS_K"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rankings_match_the_vectors),
        cmocka_unit_test(test_response_fields),
        cmocka_unit_test(test_default_limit_is_ten),
        cmocka_unit_test(test_bad_requests_are_400),
        cmocka_unit_test(test_not_found_is_404),
        cmocka_unit_test(test_other_methods_are_405),
        cmocka_unit_test(test_head_is_get_without_body),
        cmocka_unit_test(test_operational_endpoints),
        cmocka_unit_test(test_catalog_change_and_connection_metrics),
        cmocka_unit_test(test_changes_show_in_the_next_response),
        cmocka_unit_test(test_database_outage_and_recovery),
        cmocka_unit_test(test_sigterm_finishes_requests_in_flight),
        cmocka_unit_test(test_password_is_never_logged),
        cmocka_unit_test(test_runs_as_read_only_role),
        cmocka_unit_test(test_gssencmode_in_the_url_is_honoured),
        cmocka_unit_test(test_library_settings_are_in_place),
        cmocka_unit_test(test_invalid_configuration_fails_at_start),
    };
    select_tests_from_env();
    return cmocka_run_group_tests_name("integration", tests, setup_suite, teardown_suite);
}
