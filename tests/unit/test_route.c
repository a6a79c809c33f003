/*
 * test_route.c - routing, percent-decoding, slug and limit validation: every
 * bad case of API.md, and the edges of every rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static recs_route_status route(const char *method, const char *path, const char *limit,
                               struct recs_request_target *t)
{
    const char *values[1] = {limit};
    return recs_route_request(method, path, values, limit ? 1 : 0, t);
}

static void test_limit_parsing(void **state)
{
    static const char *const bad[] = {"",    "0",   "-1", "101",  "5x",   " 5",
                                      "5 ",  "1e1", "+5", "0x10", "1000", "99999999999999999999",
                                      "%35", "10.0"};
    unsigned limit = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (recs_route_parse_limit(bad[i], &limit))
            fail_msg("limit '%s' was accepted", bad[i]);
    }
    assert_false(recs_route_parse_limit(NULL, &limit));
    assert_true(recs_route_parse_limit("1", &limit));
    assert_int_equal(limit, 1);
    assert_true(recs_route_parse_limit("100", &limit));
    assert_int_equal(limit, 100);
    assert_true(recs_route_parse_limit("007", &limit));
    assert_int_equal(limit, 7);
}

static void test_slug_validation(void **state)
{
    char slug[200];

    (void)state;
    assert_true(recs_route_slug_valid("classic-red_hoodie.v2", 21));
    assert_true(recs_route_slug_valid("A", 1));
    assert_false(recs_route_slug_valid("", 0));
    assert_false(recs_route_slug_valid("a b", 3));
    assert_false(recs_route_slug_valid("a/b", 3));
    assert_false(recs_route_slug_valid("caf\xc3\xa9", 5));
    assert_false(recs_route_slug_valid("a%00", 4));
    assert_false(recs_route_slug_valid("a\0b", 3));
    memset(slug, 'x', sizeof(slug));
    assert_true(recs_route_slug_valid(slug, 128));
    assert_false(recs_route_slug_valid(slug, 129));
}

static void test_unescape(void **state)
{
    char s[64];

    (void)state;
    snprintf(s, sizeof(s), "a%%2Fb%%41");
    assert_int_equal(recs_route_unescape(s), 4);
    assert_string_equal(s, "a/bA");
    snprintf(s, sizeof(s), "x%%00y"); /* %00 stays: no NUL inside a string */
    assert_int_equal(recs_route_unescape(s), 5);
    assert_string_equal(s, "x%00y");
    snprintf(s, sizeof(s), "bad%%zzend%%4");
    recs_route_unescape(s);
    assert_string_equal(s, "bad%zzend%4");
    snprintf(s, sizeof(s), "%%");
    recs_route_unescape(s);
    assert_string_equal(s, "%");
}

static void test_routing(void **state)
{
    struct recs_request_target t;
    const char *two[2] = {"5", "5"};

    (void)state;
    assert_int_equal(route("GET", "/products/abc/recommendations", NULL, &t), RECS_ROUTE_OK);
    assert_int_equal(t.route, RECS_ROUTE_RECOMMENDATIONS);
    assert_string_equal(t.slug, "abc");
    assert_int_equal(t.limit, RECS_LIMIT_DEFAULT);
    assert_false(t.head);
    assert_int_equal(route("HEAD", "/products/abc/recommendations", "42", &t), RECS_ROUTE_OK);
    assert_true(t.head);
    assert_int_equal(t.limit, 42);

    assert_int_equal(route("POST", "/products/abc/recommendations", NULL, &t),
                     RECS_ROUTE_BAD_METHOD);
    assert_int_equal(route("get", "/healthz", NULL, &t), RECS_ROUTE_BAD_METHOD);
    assert_int_equal(route("DELETE", "/metrics", NULL, &t), RECS_ROUTE_BAD_METHOD);
    assert_int_equal(t.route, RECS_ROUTE_METRICS);
    assert_int_equal(route("GET", "/readyz", NULL, &t), RECS_ROUTE_OK);
    assert_int_equal(t.route, RECS_ROUTE_READYZ);

    assert_int_equal(route("GET", "/products//recommendations", NULL, &t), RECS_ROUTE_BAD_SLUG);
    assert_int_equal(route("GET", "/products/a/b/recommendations", NULL, &t), RECS_ROUTE_BAD_SLUG);
    assert_int_equal(route("GET", "/products/abc/recommendations", "0", &t), RECS_ROUTE_BAD_LIMIT);
    assert_int_equal(recs_route_request("GET", "/products/abc/recommendations", two, 2, &t),
                     RECS_ROUTE_BAD_LIMIT);
    /* "?limit" without "=" has a NULL value */
    assert_int_equal(
        recs_route_request("GET", "/products/abc/recommendations", (const char *[]){NULL}, 1, &t),
        RECS_ROUTE_BAD_LIMIT);

    static const char *const not_found[] = {"/",
                                            "",
                                            "/products",
                                            "/products/",
                                            "/products/abc",
                                            "/products/abc/recommendations/",
                                            "/healthz/",
                                            "/HEALTHZ",
                                            "/productsabc/recommendations",
                                            "/products/recommendations"};
    for (size_t i = 0; i < sizeof(not_found) / sizeof(not_found[0]); i++) {
        if (route("GET", not_found[i], NULL, &t) != RECS_ROUTE_NOT_FOUND)
            fail_msg("'%s' was not a 404", not_found[i]);
        assert_int_equal(t.route, RECS_ROUTE_OTHER);
    }
}

static void test_error_messages(void **state)
{
    (void)state;
    assert_non_null(strstr(recs_route_error_message(RECS_ROUTE_BAD_LIMIT), "limit"));
    assert_non_null(strstr(recs_route_error_message(RECS_ROUTE_BAD_SLUG), "slug"));
    assert_string_equal(recs_route_error_message(RECS_ROUTE_NOT_FOUND), "not found");
}

static void test_etag_matching(void **state)
{
    (void)state;
    assert_true(recs_route_etag_matches("\"v1\"", "\"v1\""));
    assert_true(recs_route_etag_matches("W/\"v1\"", "\"v1\""));
    assert_true(recs_route_etag_matches("\"a\", \"v1\" ,\"b\"", "\"v1\""));
    assert_true(recs_route_etag_matches("*", "\"v1\""));
    assert_false(recs_route_etag_matches("\"v2\"", "\"v1\""));
    assert_false(recs_route_etag_matches("v1", "\"v1\""));
    assert_false(recs_route_etag_matches("\"v1", "\"v1\""));
    assert_false(recs_route_etag_matches("", "\"v1\""));
    assert_false(recs_route_etag_matches(" , ,", "\"v1\""));
    assert_false(recs_route_etag_matches(NULL, "\"v1\""));
}

static void test_request_ids(void **state)
{
    char long_id[200];

    (void)state;
    assert_true(recs_route_request_id_valid("abc-123_X.y:z"));
    assert_false(recs_route_request_id_valid(""));
    assert_false(recs_route_request_id_valid("a b"));
    assert_false(recs_route_request_id_valid("a\"b"));
    assert_false(recs_route_request_id_valid("a\nb"));
    assert_false(recs_route_request_id_valid("caf\xc3\xa9"));
    memset(long_id, 'a', sizeof(long_id));
    long_id[128] = '\0';
    assert_true(recs_route_request_id_valid(long_id));
    long_id[128] = 'a';
    long_id[129] = '\0';
    assert_false(recs_route_request_id_valid(long_id));
}

static void test_cors_origins(void **state)
{
    const char *list = "https://shop.example, https://m.shop.example";

    (void)state;
    assert_true(recs_route_origin_allowed(list, "https://shop.example"));
    assert_true(recs_route_origin_allowed(list, "https://m.shop.example"));
    assert_false(recs_route_origin_allowed(list, "https://evil.example"));
    assert_false(recs_route_origin_allowed(list, "https://shop.example.evil"));
    assert_false(recs_route_origin_allowed(list, "https://shop.exampl"));
    assert_false(recs_route_origin_allowed(list, ""));
    assert_false(recs_route_origin_allowed("", "https://shop.example"));
    assert_true(recs_route_origin_allowed("*", "https://anything.example"));
    assert_false(recs_route_origin_allowed("*", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_parsing),  cmocka_unit_test(test_slug_validation),
        cmocka_unit_test(test_unescape),       cmocka_unit_test(test_routing),
        cmocka_unit_test(test_error_messages), cmocka_unit_test(test_etag_matching),
        cmocka_unit_test(test_request_ids),    cmocka_unit_test(test_cors_origins),
    };
    return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
