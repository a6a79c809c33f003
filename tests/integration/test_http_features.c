/*
 * test_http_features.c - what storefronts and CDNs rely on: ETag and 304,
 * Cache-Control, X-Request-Id (kept or made, and logged), W3C trace context
 * (a valid traceparent continued, an invalid one ignored, both logged), CORS
 * for allowed origins only, the demo page when (and only when) it is
 * configured, the OpenAPI description, and query parameters that are checked
 * over real HTTP as the unit tests check them in the router.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define TARGET "/products/linen-summer-shirt/recommendations?limit=3"

static json_t *vectors;
static PGconn *pg;
static struct server server;

static const char *const server_env[] = {
    "RECS_HTTP_THREADS=2", "RECS_CORS_ORIGINS=https://shop.example, https://m.shop.example",
    "RECS_CACHE_CONTROL=public, max-age=30", "RECS_DEMO_DIR=deploy/demo", NULL};

/* A GET with extra header lines ("Name: value\r\n..."). */
static int get_with(const char *target, const char *headers, struct http_response *r)
{
    char request[4096];
    int n = snprintf(request, sizeof(request),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n", target,
                     headers);
    assert_true(n > 0 && (size_t)n < sizeof(request));
    assert_int_equal(http_raw(server.port, request, (size_t)n, r), 0);
    return r->status;
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

static void test_etag_and_not_modified(void **state)
{
    struct http_response r;
    char etag[128], again[128], cc[128], header_line[256];

    (void)state;
    assert_int_equal(get_with(TARGET, "", &r), 200);
    assert_non_null(http_header(&r, "ETag", etag, sizeof(etag)));
    assert_int_equal(etag[0], '"');
    assert_non_null(http_header(&r, "Cache-Control", cc, sizeof(cc)));
    assert_string_equal(cc, "public, max-age=30");
    http_response_free(&r);

    /* the same question gives the same tag; a matching If-None-Match a 304 */
    assert_int_equal(get_with(TARGET, "", &r), 200);
    assert_non_null(http_header(&r, "ETag", again, sizeof(again)));
    assert_string_equal(etag, again);
    http_response_free(&r);
    snprintf(header_line, sizeof(header_line), "If-None-Match: \"nope\", W/%s\r\n", etag);
    assert_int_equal(get_with(TARGET, header_line, &r), 304);
    assert_int_equal(r.body_len, 0);
    assert_non_null(http_header(&r, "ETag", again, sizeof(again)));
    assert_string_equal(etag, again);
    http_response_free(&r);
    assert_int_equal(get_with(TARGET, "If-None-Match: \"other\"\r\n", &r), 200);
    http_response_free(&r);

    /* another limit is another representation */
    assert_int_equal(get_with("/products/linen-summer-shirt/recommendations?limit=4", "", &r), 200);
    assert_non_null(http_header(&r, "ETag", again, sizeof(again)));
    assert_string_not_equal(etag, again);
    http_response_free(&r);

    /* a catalog change changes the tag: the old one no longer gives 304 */
    assert_int_equal(db_exec(pg, "UPDATE products SET price_cents = price_cents + 1 WHERE id = 2"),
                     0);
    assert_int_equal(get_with(TARGET, header_line, &r), 200);
    assert_non_null(http_header(&r, "ETag", again, sizeof(again)));
    assert_string_not_equal(etag, again);
    http_response_free(&r);
    assert_int_equal(load_vectors_catalog(pg, vectors), 0);

    /* errors are never cached */
    assert_int_equal(get_with("/products/nope/recommendations", "", &r), 404);
    assert_non_null(http_header(&r, "Cache-Control", cc, sizeof(cc)));
    assert_string_equal(cc, "no-store");
    assert_null(http_header(&r, "ETag", again, sizeof(again)));
    http_response_free(&r);
}

static void test_request_ids(void **state)
{
    struct http_response r;
    char id[160], other[160];

    (void)state;
    assert_int_equal(get_with(TARGET, "X-Request-Id: storefront-42.a:b\r\n", &r), 200);
    assert_non_null(http_header(&r, "X-Request-Id", id, sizeof(id)));
    assert_string_equal(id, "storefront-42.a:b");
    http_response_free(&r);

    /* none, or an unsafe one: a fresh id, different each time */
    assert_int_equal(get_with(TARGET, "X-Request-Id: bad id\"<x>\r\n", &r), 200);
    assert_non_null(http_header(&r, "X-Request-Id", id, sizeof(id)));
    assert_int_equal(strlen(id), 16);
    assert_null(strchr(id, '"'));
    http_response_free(&r);
    assert_int_equal(get_with("/healthz", "", &r), 200);
    assert_non_null(http_header(&r, "X-Request-Id", other, sizeof(other)));
    assert_string_not_equal(id, other);
    http_response_free(&r);

    /* the access log line carries it */
    assert_true(server_log_contains(&server, "\"request_id\":\"storefront-42.a:b\""));
}

/* Whether needle appears in the server's log within 2 s: the access log line
 * is written after the response has been sent. */
static bool log_eventually(const char *needle)
{
    for (int i = 0; i < 100; i++) {
        if (server_log_contains(&server, needle))
            return true;
        sleep_ms(20);
    }
    return false;
}

/* The response's traceparent, which must be a valid version 00 one: its
 * trace id and span id copied out, its flags returned. */
static const char *answered_trace(const struct http_response *r, char trace_id[33],
                                  char span_id[17])
{
    static char value[128];
    static const char hex[] = "0123456789abcdef";

    assert_non_null(http_header(r, "traceparent", value, sizeof(value)));
    assert_int_equal(strlen(value), 55);
    assert_memory_equal(value, "00-", 3);
    for (size_t i = 3; i < 55; i++) {
        if (i == 35 || i == 52)
            assert_int_equal(value[i], '-');
        else if (strchr(hex, value[i]) == NULL)
            fail_msg("traceparent '%s': '%c' is not lowercase hex", value, value[i]);
    }
    snprintf(trace_id, 33, "%.32s", value + 3);
    snprintf(span_id, 17, "%.16s", value + 36);
    assert_string_not_equal(trace_id, "00000000000000000000000000000000");
    assert_string_not_equal(span_id, "0000000000000000");
    return value + 53;
}

#define CALLER_TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define CALLER_SPAN "00f067aa0ba902b7"

static void test_trace_context(void **state)
{
    /* each is ignored: a new trace, and never an error */
    static const char *const invalid[] = {
        "traceparent: 00-00000000000000000000000000000000-" CALLER_SPAN "-01\r\n",
        "traceparent: 00-" CALLER_TRACE "-0000000000000000-01\r\n",
        "traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-" CALLER_SPAN "-01\r\n",
        "traceparent: ff-" CALLER_TRACE "-" CALLER_SPAN "-01\r\n",
        "traceparent: 00-" CALLER_TRACE "-" CALLER_SPAN "-01-extra\r\n",
        "traceparent: 00-" CALLER_TRACE "0-" CALLER_SPAN "-01\r\n",
        "traceparent: 00-" CALLER_TRACE "-" CALLER_SPAN "\r\n",
        "traceparent: \r\n",
        "traceparent: 00-" CALLER_TRACE "-" CALLER_SPAN "-01\r\n"
        "traceparent: 00-" CALLER_TRACE "-" CALLER_SPAN "-01\r\n",
    };
    struct http_response r;
    char trace_id[33], span_id[17], previous[33] = "", needle[160];

    (void)state;
    /* a valid one: the caller's trace and sampled flag, a span of our own */
    assert_int_equal(get_with(TARGET,
                              "X-Request-Id: trace-valid\r\n"
                              "traceparent: 00-" CALLER_TRACE "-" CALLER_SPAN "-01\r\n",
                              &r),
                     200);
    assert_string_equal(answered_trace(&r, trace_id, span_id), "01");
    assert_string_equal(trace_id, CALLER_TRACE);
    assert_string_not_equal(span_id, CALLER_SPAN);
    http_response_free(&r);
    assert_true(log_eventually("\"request_id\":\"trace-valid\",\"trace_id\":\"" CALLER_TRACE "\""));

    /* any case of the name; an unsampled caller stays unsampled; errors too */
    assert_int_equal(get_with("/products/nope/recommendations",
                              "TraceParent: 00-" CALLER_TRACE "-" CALLER_SPAN "-00\r\n", &r),
                     404);
    assert_string_equal(answered_trace(&r, trace_id, span_id), "00");
    assert_string_equal(trace_id, CALLER_TRACE);
    http_response_free(&r);

    /* a later version: its first fields are used, the answer is version 00 */
    assert_int_equal(
        get_with("/healthz", "traceparent: cc-" CALLER_TRACE "-" CALLER_SPAN "-01-future\r\n", &r),
        200);
    assert_string_equal(answered_trace(&r, trace_id, span_id), "01");
    assert_string_equal(trace_id, CALLER_TRACE);
    http_response_free(&r);

    /* none, or an invalid one: a new trace each time, unsampled, logged */
    for (size_t i = 0; i <= sizeof(invalid) / sizeof(invalid[0]); i++) {
        const char *extra = i < sizeof(invalid) / sizeof(invalid[0]) ? invalid[i] : "";
        char headers[512];

        snprintf(headers, sizeof(headers), "X-Request-Id: trace-new-%zu\r\n%s", i, extra);
        assert_int_equal(get_with(TARGET, headers, &r), 200);
        assert_string_equal(answered_trace(&r, trace_id, span_id), "00");
        if (strcmp(trace_id, CALLER_TRACE) == 0 || strcmp(trace_id, previous) == 0)
            fail_msg("%s: trace id %s was not new", extra, trace_id);
        http_response_free(&r);
        snprintf(needle, sizeof(needle), "\"request_id\":\"trace-new-%zu\",\"trace_id\":\"%s\"", i,
                 trace_id);
        if (!log_eventually(needle))
            fail_msg("no access log line with %s", needle);
        snprintf(previous, sizeof(previous), "%s", trace_id);
    }
}

static void test_cors(void **state)
{
    struct http_response r;
    char value[256], request[512];
    int n;

    (void)state;
    assert_int_equal(get_with(TARGET, "Origin: https://shop.example\r\n", &r), 200);
    assert_non_null(http_header(&r, "Access-Control-Allow-Origin", value, sizeof(value)));
    assert_string_equal(value, "https://shop.example");
    assert_non_null(http_header(&r, "Vary", value, sizeof(value)));
    assert_non_null(http_header(&r, "Access-Control-Expose-Headers", value, sizeof(value)));
    assert_non_null(strstr(value, "traceparent"));
    http_response_free(&r);

    assert_int_equal(get_with(TARGET, "Origin: https://evil.example\r\n", &r), 200);
    assert_null(http_header(&r, "Access-Control-Allow-Origin", value, sizeof(value)));
    http_response_free(&r);

    /* preflight from an allowed origin: 204; from another: 405 */
    n = snprintf(request, sizeof(request),
                 "OPTIONS %s HTTP/1.1\r\nHost: x\r\nOrigin: https://m.shop.example\r\n"
                 "Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
                 TARGET);
    assert_int_equal(http_raw(server.port, request, (size_t)n, &r), 0);
    assert_int_equal(r.status, 204);
    assert_non_null(http_header(&r, "Access-Control-Allow-Methods", value, sizeof(value)));
    assert_string_equal(value, "GET, HEAD");
    assert_non_null(http_header(&r, "Access-Control-Allow-Headers", value, sizeof(value)));
    assert_non_null(strstr(value, "traceparent"));
    http_response_free(&r);
    n = snprintf(request, sizeof(request),
                 "OPTIONS %s HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"
                 "Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
                 TARGET);
    assert_int_equal(http_raw(server.port, request, (size_t)n, &r), 0);
    assert_int_equal(r.status, 405);
    http_response_free(&r);
}

static void test_demo_page(void **state)
{
    struct http_response r;
    char type[128];
    struct server plain;
    const char *no_demo[] = {NULL};

    (void)state;
    assert_int_equal(get_with("/demo/", "", &r), 200);
    assert_non_null(http_header(&r, "Content-Type", type, sizeof(type)));
    assert_string_equal(type, "text/html; charset=utf-8");
    assert_non_null(strstr(r.body, "app.js"));
    http_response_free(&r);
    assert_int_equal(get_with("/demo/app.js", "", &r), 200);
    http_response_free(&r);
    assert_int_equal(get_with("/demo/style.css", "", &r), 200);
    http_response_free(&r);
    assert_int_equal(get_with("/demo/../README.md", "", &r), 404);
    http_response_free(&r);
    assert_int_equal(get_with("/demo/secret.txt", "", &r), 404);
    http_response_free(&r);

    /* without RECS_DEMO_DIR there is no demo */
    assert_int_equal(server_start(&plain, no_demo), 0);
    assert_int_equal(http_request(plain.port, "GET", "/demo/", &r), 0);
    assert_int_equal(r.status, 404);
    http_response_free(&r);
    assert_int_equal(server_stop(&plain, SIGTERM, 10), 0);
}

static void test_missing_demo_dir_fails_at_start(void **state)
{
    struct server s;
    const char *env[] = {"RECS_DEMO_DIR=/nonexistent/demo", NULL};

    (void)state;
    assert_int_equal(server_start(&s, env), -1);
    assert_int_not_equal(server_stop(&s, SIGKILL, 5), 0);
    assert_true(server_log_contains(&s, "demo"));
}

/* GET /openapi.yaml is docs/openapi.yaml, byte for byte. */
static void test_openapi_document(void **state)
{
    struct http_response r, head;
    char type[128], cc[64], len_get[32], len_head[32], allow[64];
    FILE *f = fopen("docs/openapi.yaml", "rb");
    static char file[1 << 20];
    size_t n;

    (void)state;
    assert_non_null(f);
    n = fread(file, 1, sizeof(file), f);
    assert_true(feof(f));
    fclose(f);
    assert_int_equal(get_with("/openapi.yaml", "", &r), 200);
    assert_non_null(http_header(&r, "Content-Type", type, sizeof(type)));
    assert_string_equal(type, "application/yaml");
    assert_non_null(http_header(&r, "Cache-Control", cc, sizeof(cc)));
    assert_string_equal(cc, "no-store");
    assert_int_equal(r.body_len, n);
    assert_memory_equal(r.body, file, n);
    assert_int_equal(http_request(server.port, "HEAD", "/openapi.yaml", &head), 0);
    assert_int_equal(head.status, 200);
    assert_int_equal(head.body_len, 0);
    assert_non_null(http_header(&r, "Content-Length", len_get, sizeof(len_get)));
    assert_non_null(http_header(&head, "Content-Length", len_head, sizeof(len_head)));
    assert_string_equal(len_get, len_head);
    http_response_free(&head);
    http_response_free(&r);
    assert_int_equal(http_request(server.port, "POST", "/openapi.yaml", &r), 0);
    assert_int_equal(r.status, 405);
    assert_non_null(http_header(&r, "Allow", allow, sizeof(allow)));
    assert_string_equal(allow, "GET, HEAD");
    http_response_free(&r);
}

/* Invalid parameters on both recommendation endpoints: 400, and the message
 * names the parameter. */
static void test_query_errors_name_the_parameter(void **state)
{
#define ONE "/products/linen-summer-shirt/recommendations?"
    static const struct {
        const char *target, *message;
    } cases[] = {
        {ONE "offset=10001", "invalid offset: "},
        {ONE "offset=1&offset=1", "invalid offset: "},
        {ONE "offset=%2B1", "invalid offset: "},
        {ONE "category=a,,b", "invalid category: "},
        {ONE "category=a%2C", "invalid category: "},
        {ONE "category=a%20b", "invalid category: "},
        {ONE "exclude=", "invalid exclude: "},
        {ONE "exclude", "invalid exclude: "},
        {ONE "min_price=-1", "invalid min_price: "},
        {ONE "max_price=99999999999999999999", "invalid max_price: "},
        {ONE "min_price=2&max_price=1", "invalid min_price: greater than max_price"},
        {ONE "min_score=0.", "invalid min_score: "},
        {ONE "min_score=1.5", "invalid min_score: "},
        {ONE "min_score=1e-1", "invalid min_score: "},
        {ONE "max_per_category=0", "invalid max_per_category: "},
        {ONE "limit=%00", "invalid limit: "},
        {"/recommendations", "missing products: "},
        {"/recommendations?limit=3", "missing products: "},
        {"/recommendations?products=", "invalid products: "},
        {"/recommendations?products=a,,b", "invalid products: "},
        {"/recommendations?products=a&products=b", "invalid products: "},
        {"/recommendations?products=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u",
         "invalid products: "},
        {"/recommendations?products=a&min_score=.5", "invalid min_score: "},
    };
    struct http_response r;
    char cc[64], allow[64];
    double before = 0, after = 0;

    (void)state;
    /* a series appears once it counts something */
    http_metric(server.port, "recs_http_requests_total{route=\"cart\",code=\"400\"}", &before);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *body;
        const char *error;

        if (get_with(cases[i].target, "", &r) != 400)
            fail_msg("%s answered %d, expected 400", cases[i].target, r.status);
        body = http_json(&r);
        error = json_string_value(json_object_get(body, "error"));
        if (error == NULL || strncmp(error, cases[i].message, strlen(cases[i].message)) != 0)
            fail_msg("%s: error '%s', expected '%s...'", cases[i].target, error ? error : "(none)",
                     cases[i].message);
        assert_non_null(http_header(&r, "Cache-Control", cc, sizeof(cc)));
        assert_string_equal(cc, "no-store");
        json_decref(body);
        http_response_free(&r);
    }
    /* the cart endpoint is routed: its own 405 and its own metrics label */
    assert_int_equal(http_request(server.port, "POST", "/recommendations?products=a", &r), 0);
    assert_int_equal(r.status, 405);
    assert_non_null(http_header(&r, "Allow", allow, sizeof(allow)));
    assert_string_equal(allow, "GET, HEAD");
    http_response_free(&r);
    assert_int_equal(
        http_metric(server.port, "recs_http_requests_total{route=\"cart\",code=\"400\"}", &after),
        0);
    assert_true(after - before >= 7);
#undef ONE
}

/* Parameters that cannot change the answer give the very same answer and
 * entity tag as the plain request; one that does is never answered as if it
 * were not there. */
static void test_normalized_parameters(void **state)
{
    struct http_response plain, same;
    char tag_plain[128], tag_same[128];

    (void)state;
    assert_int_equal(get_with(TARGET, "", &plain), 200);
    assert_int_equal(get_with("/products/linen-summer-shirt/recommendations?x=1&min_price=0&"
                              "max_price=2147483647&exclude=linen-summer-shirt&min_score=0.000&"
                              "offset=000&max_per_category=3&limit=003",
                              "", &same),
                     200);
    assert_int_equal(plain.body_len, same.body_len);
    assert_memory_equal(plain.body, same.body, plain.body_len);
    assert_non_null(http_header(&plain, "ETag", tag_plain, sizeof(tag_plain)));
    assert_non_null(http_header(&same, "ETag", tag_same, sizeof(tag_same)));
    assert_string_equal(tag_plain, tag_same);
    http_response_free(&same);
    get_with(TARGET "&offset=1", "", &same);
    assert_false(same.status == 200 && same.body_len == plain.body_len &&
                 memcmp(same.body, plain.body, plain.body_len) == 0);
    http_response_free(&same);
    http_response_free(&plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etag_and_not_modified),
        cmocka_unit_test(test_request_ids),
        cmocka_unit_test(test_trace_context),
        cmocka_unit_test(test_cors),
        cmocka_unit_test(test_demo_page),
        cmocka_unit_test(test_missing_demo_dir_fails_at_start),
        cmocka_unit_test(test_openapi_document),
        cmocka_unit_test(test_query_errors_name_the_parameter),
        cmocka_unit_test(test_normalized_parameters),
    };
    select_tests_from_env();
    return cmocka_run_group_tests_name("http features", tests, setup_suite, teardown_suite);
}
