/*
 * test_route.c - routing, percent-decoding, and every rule of docs/API.md for
 * slugs and query parameters: each valid edge, each invalid form with the
 * exact message it gets, the normalized query value and its key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

#define P "/products/abc/recommendations"

/* Splits a raw query string as libmicrohttpd does for recs (arguments at
 * '&', key and value at the first '=', both percent-decoded by
 * recs_route_unescape) and routes the request. The copies live in a static
 * buffer, so the result is valid until the next call. */
static recs_route_status route(const char *method, const char *path, const char *query,
                               struct recs_request_target *t)
{
    static char buf[65536];
    struct recs_query_args args = {0};
    char *s = buf, *next;

    if (query == NULL)
        return recs_route_request(method, path, NULL, t);
    assert_true(strlen(query) < sizeof(buf));
    snprintf(buf, sizeof(buf), "%s", query);
    for (; s != NULL; s = next) {
        char *eq;
        next = strchr(s, '&');
        if (next != NULL)
            *next++ = '\0';
        eq = strchr(s, '=');
        if (eq != NULL)
            *eq++ = '\0';
        size_t klen = recs_route_unescape(s);
        size_t vlen = eq != NULL ? recs_route_unescape(eq) : 0;
        recs_route_add_arg(&args, s, klen, eq, vlen);
    }
    return recs_route_request(method, path, &args, t);
}

static struct recs_request_target target;

static const struct recs_query *ok(const char *path, const char *query)
{
    recs_route_status st = route("GET", path, query, &target);
    if (st != RECS_ROUTE_OK)
        fail_msg("%s?%s: status %d (%s)", path, query ? query : "", (int)st,
                 recs_route_error_message(st));
    return &target.query;
}

/* The request is a 400 with exactly this status, and its message names the
 * parameter: it starts with "invalid <name>:" (or "missing products:"). */
static void bad(const char *path, const char *query, recs_route_status want, const char *name)
{
    recs_route_status st = route("GET", path, query, &target);
    char prefix[64];
    const char *message = recs_route_error_message(st);

    if (st != want)
        fail_msg("%s?%s: status %d, expected %d", path, query ? query : "", (int)st, (int)want);
    snprintf(prefix, sizeof(prefix),
             "%s %s:", want == RECS_ROUTE_NO_PRODUCTS ? "missing" : "invalid", name);
    if (strncmp(message, prefix, strlen(prefix)) != 0)
        fail_msg("%s?%s: message '%s' does not start with '%s'", path, query, message, prefix);
}

/* "name=" followed by count slugs separated by sep: prefix and the item's
 * number written with width digits, or prefix alone when width is 0 (the
 * same slug count times). */
static const char *list_arg(const char *name, size_t count, const char *prefix, int width,
                            const char *sep)
{
    static char buf[32768];
    size_t len = (size_t)snprintf(buf, sizeof(buf), "%s=", name);

    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s", sep);
        if (width == 0)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s", prefix);
        else
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%0*zu", prefix, width, i);
    }
    return buf;
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
    assert_false(recs_route_slug_valid("a,b", 3));
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
    const struct recs_query *q;

    (void)state;
    assert_int_equal(route("GET", P, NULL, &t), RECS_ROUTE_OK);
    assert_int_equal(t.route, RECS_ROUTE_RECOMMENDATIONS);
    assert_false(t.head);
    assert_int_equal(route("HEAD", P, "limit=42", &t), RECS_ROUTE_OK);
    assert_true(t.head);
    assert_int_equal(t.query.limit, 42);

    assert_int_equal(route("POST", P, NULL, &t), RECS_ROUTE_BAD_METHOD);
    assert_int_equal(t.route, RECS_ROUTE_RECOMMENDATIONS);
    assert_int_equal(route("get", "/healthz", NULL, &t), RECS_ROUTE_BAD_METHOD);
    assert_int_equal(route("DELETE", "/metrics", NULL, &t), RECS_ROUTE_BAD_METHOD);
    assert_int_equal(t.route, RECS_ROUTE_METRICS);
    assert_int_equal(route("GET", "/readyz", NULL, &t), RECS_ROUTE_OK);
    assert_int_equal(t.route, RECS_ROUTE_READYZ);
    assert_int_equal(route("GET", "/openapi.yaml", NULL, &t), RECS_ROUTE_OK);
    assert_int_equal(t.route, RECS_ROUTE_OPENAPI);
    assert_int_equal(route("HEAD", "/openapi.yaml", NULL, &t), RECS_ROUTE_OK);
    assert_int_equal(route("PUT", "/openapi.yaml", NULL, &t), RECS_ROUTE_BAD_METHOD);
    assert_int_equal(route("GET", "/demo/app.js", NULL, &t), RECS_ROUTE_OK);
    assert_int_equal(t.route, RECS_ROUTE_DEMO);
    assert_string_equal(t.file, "app.js");
    /* operational endpoints ignore the recommendation parameters */
    assert_int_equal(route("GET", "/healthz", "limit=0&products=", &t), RECS_ROUTE_OK);

    /* the cart endpoint: GET and HEAD, 405 for the others before any
     * parameter is looked at */
    assert_int_equal(route("GET", "/recommendations", "products=a", &t), RECS_ROUTE_OK);
    assert_int_equal(t.route, RECS_ROUTE_CART);
    assert_int_equal(t.query.kind, RECS_QUERY_CART);
    assert_int_equal(route("HEAD", "/recommendations", "products=a", &t), RECS_ROUTE_OK);
    assert_true(t.head);
    assert_int_equal(route("POST", "/recommendations", "products=a", &t), RECS_ROUTE_BAD_METHOD);
    assert_int_equal(t.route, RECS_ROUTE_CART);
    assert_int_equal(route("DELETE", "/recommendations", NULL, &t), RECS_ROUTE_BAD_METHOD);

    assert_int_equal(route("GET", "/products//recommendations", NULL, &t), RECS_ROUTE_BAD_SLUG);
    assert_int_equal(route("GET", "/products/a/b/recommendations", NULL, &t), RECS_ROUTE_BAD_SLUG);
    assert_int_equal(route("GET", "/products/a,b/recommendations", NULL, &t), RECS_ROUTE_BAD_SLUG);
    /* the slug is checked before the parameters */
    assert_int_equal(route("GET", "/products/a b/recommendations", "limit=0", &t),
                     RECS_ROUTE_BAD_SLUG);

    /* a plain request: every field at its default */
    q = ok(P, NULL);
    assert_int_equal(q->kind, RECS_QUERY_PRODUCT);
    assert_int_equal(q->target_count, 1);
    assert_string_equal(q->targets[0], "abc");
    assert_int_equal(q->limit, RECS_LIMIT_DEFAULT);
    assert_int_equal(q->offset, 0);
    assert_int_equal(q->category_count, 0);
    assert_int_equal(q->exclude_count, 0);
    assert_false(q->has_min_price);
    assert_false(q->has_max_price);
    assert_int_equal(q->min_price, 0);
    assert_int_equal(q->max_price, RECS_PRICE_MAX);
    assert_int_equal(q->min_score, 0);
    assert_int_equal(q->max_per_category, 0);

    static const char *const not_found[] = {"/",
                                            "",
                                            "/products",
                                            "/products/",
                                            "/products/abc",
                                            "/products/abc/recommendations/",
                                            "/recommendations/",
                                            "/recommendation",
                                            "/Recommendations",
                                            "/healthz/",
                                            "/HEALTHZ",
                                            "/openapi.yml",
                                            "/openapi.yaml/",
                                            "/productsabc/recommendations",
                                            "/products/recommendations"};
    for (size_t i = 0; i < sizeof(not_found) / sizeof(not_found[0]); i++) {
        if (route("GET", not_found[i], NULL, &t) != RECS_ROUTE_NOT_FOUND)
            fail_msg("'%s' was not a 404", not_found[i]);
        assert_int_equal(t.route, RECS_ROUTE_OTHER);
    }
}

/* Forms every integer parameter rejects, whatever its range. */
static const char *const bad_integers[] = {
    "",     "-1",           "+1",  " 1", "1 ", "%201", "1%20", "1e1",
    "0x10", "1.0",          "1,2", "5x", "x",  "%00",  "1%00", "99999999999999999999",
    "%2B1", "\xef\xbc\x91", /* a full-width 1 */
};

static void check_integer(const char *name, recs_route_status status, unsigned min, unsigned max)
{
    char query[128];

    for (size_t i = 0; i < sizeof(bad_integers) / sizeof(bad_integers[0]); i++) {
        snprintf(query, sizeof(query), "%s=%s", name, bad_integers[i]);
        bad(P, query, status, name);
    }
    snprintf(query, sizeof(query), "%s=%u", name, max + 1);
    bad(P, query, status, name);
    if (min > 0) {
        snprintf(query, sizeof(query), "%s=%u", name, min - 1);
        bad(P, query, status, name);
    }
    snprintf(query, sizeof(query), "%s", name); /* without "=" */
    bad(P, query, status, name);
    snprintf(query, sizeof(query), "%s=%u&%s=%u", name, min, name, min); /* twice */
    bad(P, query, status, name);
    snprintf(query, sizeof(query), "%s=%u&x=1&%s=", name, min, name);
    bad(P, query, status, name);
    /* the edges are valid, also with leading zeros */
    snprintf(query, sizeof(query), "%s=%u", name, min);
    ok(P, query);
    snprintf(query, sizeof(query), "%s=%u", name, max);
    ok(P, query);
    snprintf(query, sizeof(query), "%s=0000000000000000000000%u", name, max);
    ok(P, query);
}

static void test_limit(void **state)
{
    (void)state;
    check_integer("limit", RECS_ROUTE_BAD_LIMIT, 1, 100);
    assert_int_equal(ok(P, "limit=1")->limit, 1);
    assert_int_equal(ok(P, "limit=100")->limit, 100);
    assert_int_equal(ok(P, "limit=007")->limit, 7);
    assert_int_equal(ok(P, "limit=%35")->limit, 5); /* decoded first */
    bad(P, "limit=1000", RECS_ROUTE_BAD_LIMIT, "limit");
}

static void test_offset(void **state)
{
    (void)state;
    check_integer("offset", RECS_ROUTE_BAD_OFFSET, 0, 10000);
    assert_int_equal(ok(P, "offset=0")->offset, 0);
    assert_int_equal(ok(P, "offset=10000")->offset, 10000);
    assert_int_equal(ok(P, "offset=007")->offset, 7);
    bad(P, "offset=10001", RECS_ROUTE_BAD_OFFSET, "offset");
    assert_int_equal(ok("/recommendations", "products=a&offset=10000")->offset, 10000);
}

static void test_prices(void **state)
{
    const struct recs_query *q;

    (void)state;
    check_integer("min_price", RECS_ROUTE_BAD_MIN_PRICE, 0, 2147483647u);
    check_integer("max_price", RECS_ROUTE_BAD_MAX_PRICE, 0, 2147483647u);
    bad(P, "min_price=2147483648", RECS_ROUTE_BAD_MIN_PRICE, "min_price");
    bad(P, "max_price=4294967296", RECS_ROUTE_BAD_MAX_PRICE, "max_price");

    q = ok(P, "min_price=500&max_price=500"); /* min_price = max_price */
    assert_true(q->has_min_price && q->has_max_price);
    assert_int_equal(q->min_price, 500);
    assert_int_equal(q->max_price, 500);
    q = ok(P, "min_price=0&max_price=0");
    assert_false(q->has_min_price); /* 0 filters nothing */
    assert_true(q->has_max_price);
    assert_int_equal(q->max_price, 0);
    q = ok(P, "min_price=2147483647&max_price=2147483647");
    assert_true(q->has_min_price);
    assert_false(q->has_max_price); /* no price is above it */
    assert_int_equal(q->min_price, 2147483647);
    assert_int_equal(q->max_price, RECS_PRICE_MAX);
    q = ok(P, "max_price=1999");
    assert_false(q->has_min_price);
    assert_int_equal(q->min_price, 0);
    assert_int_equal(q->max_price, 1999);
    q = ok(P, "min_price=1999");
    assert_false(q->has_max_price);
    assert_int_equal(q->max_price, RECS_PRICE_MAX);

    bad(P, "min_price=501&max_price=500", RECS_ROUTE_BAD_PRICE_RANGE, "min_price");
    bad(P, "max_price=0&min_price=1", RECS_ROUTE_BAD_PRICE_RANGE, "min_price");
    bad(P, "min_price=2147483647&max_price=0", RECS_ROUTE_BAD_PRICE_RANGE, "min_price");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_BAD_PRICE_RANGE),
                        "invalid min_price: greater than max_price");
}

static void test_min_score(void **state)
{
    static const struct {
        const char *text;
        uint32_t millionths;
    } good[] = {
        {"0", 0},           {"1", 1000000},     {"0.05", 50000},       {"0.125", 125000},
        {"1.000", 1000000}, {"1.0", 1000000},   {"1.000000", 1000000}, {"0.0", 0},
        {"0.000000", 0},    {"0.000001", 1},    {"0.999999", 999999},  {"0.5", 500000},
        {"0.10", 100000},   {"0%2E25", 250000},
    };
    static const char *const invalid[] = {
        "0.",     ".5",        "00.5",      "1.5",   "1e-1",  "-1",     "+1",   " 0.5",
        "0.5 ",   "0.1234567", "1.0000000", "1.",    "2",     "01",     "0,5",  "",
        "0.5.1",  "0.-5",      "1.000001",  "10",    "0.5e0", "%200.5", "0 5",  "0x1",
        "0.5%00", "nan",       "inf",       "1.00a", "0..5",  "-0",     "0.+5",
    };
    char query[64];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(query, sizeof(query), "min_score=%s", good[i].text);
        if (ok(P, query)->min_score != good[i].millionths)
            fail_msg("min_score=%s: %u millionths, expected %u", good[i].text,
                     (unsigned)target.query.min_score, (unsigned)good[i].millionths);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        snprintf(query, sizeof(query), "min_score=%s", invalid[i]);
        bad(P, query, RECS_ROUTE_BAD_MIN_SCORE, "min_score");
    }
    bad(P, "min_score", RECS_ROUTE_BAD_MIN_SCORE, "min_score");
    bad(P, "min_score=0.5&min_score=0.5", RECS_ROUTE_BAD_MIN_SCORE, "min_score");
}

static void test_max_per_category(void **state)
{
    (void)state;
    check_integer("max_per_category", RECS_ROUTE_BAD_MAX_PER_CATEGORY, 1, 100);
    bad(P, "max_per_category=0", RECS_ROUTE_BAD_MAX_PER_CATEGORY, "max_per_category");
    assert_int_equal(ok(P, "max_per_category=1")->max_per_category, 1);
    assert_int_equal(ok(P, "max_per_category=9")->max_per_category, 9);
    /* at least offset + limit: it can drop nothing from the page, so none */
    assert_int_equal(ok(P, "max_per_category=10")->max_per_category, 0);
    assert_int_equal(ok(P, "max_per_category=100&limit=100")->max_per_category, 0);
    assert_int_equal(ok(P, "max_per_category=99&limit=100")->max_per_category, 99);
    assert_int_equal(ok(P, "max_per_category=14&offset=5")->max_per_category, 14);
    assert_int_equal(ok(P, "max_per_category=15&offset=5")->max_per_category, 0);
    assert_int_equal(ok(P, "max_per_category=100&offset=10000")->max_per_category, 100);
}

/* Rules shared by category and exclude, on path with base (a query string,
 * or "") before the list argument. */
static void check_list(const char *path, const char *base, const char *name, size_t max,
                       recs_route_status status)
{
    static const char *const invalid[] = {
        "",         ",",   "a,,b", "a,",  ",a",  "a,b,", "a%2C",      "%2Ca",
        "a%2C%2Cb", "a b", "a+b",  "a/b", "a;b", "a%00", "caf%C3%A9", "a,b c",
        "a,%20",    " a",  "a ",   "a%",  "a%2", "*",
    };
    static char query[32768];
    char slug[130];
    const char *sep = base[0] != '\0' ? "&" : "";

#define WITH(...)                                                                                  \
    (snprintf(query, sizeof(query), "%s%s", base, sep),                                            \
     snprintf(query + strlen(query), sizeof(query) - strlen(query), __VA_ARGS__), query)
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        bad(path, WITH("%s=%s", name, invalid[i]), status, name);
    bad(path, WITH("%s", name), status, name);              /* without "=" */
    bad(path, WITH("%s=a&%s=b", name, name), status, name); /* twice */
    memset(slug, 'x', 129);
    slug[129] = '\0';
    bad(path, WITH("%s=a,%s", name, slug), status, name); /* 129 bytes */
    slug[128] = '\0';
    ok(path, WITH("%s=a,%s", name, slug)); /* 128 bytes */

    /* the size limit counts items as written */
    ok(path, WITH("%s", list_arg(name, max, "s", 1, ",")));
    bad(path, WITH("%s", list_arg(name, max + 1, "s", 1, ",")), status, name);
    ok(path, WITH("%s", list_arg(name, max, "same", 0, ",")));
    bad(path, WITH("%s", list_arg(name, max + 1, "same", 0, ",")), status, name);
    ok(path, WITH("%s", list_arg(name, max, "s", 1, "%2C"))); /* %2C separates too */
    bad(path, WITH("%s", list_arg(name, max + 1, "s", 1, "%2c")), status, name);
#undef WITH
}

static void test_category(void **state)
{
    const struct recs_query *q;

    (void)state;
    check_list(P, "", "category", 20, RECS_ROUTE_BAD_CATEGORY);
    check_list("/recommendations", "products=a", "category", 20, RECS_ROUTE_BAD_CATEGORY);
    q = ok(P, "category=shoes");
    assert_int_equal(q->category_count, 1);
    assert_string_equal(q->categories[0], "shoes");
    q = ok(P, "category=shoes,bags,Shoes,bags,shoes");
    assert_int_equal(q->category_count, 3); /* duplicates count once, case matters */
    assert_string_equal(q->categories[0], "Shoes");
    assert_string_equal(q->categories[1], "bags");
    assert_string_equal(q->categories[2], "shoes");
    q = ok(P, "category=b%2Ca");
    assert_int_equal(q->category_count, 2);
    assert_string_equal(q->categories[0], "a");
    assert_string_equal(q->categories[1], "b");
    q = ok(P, list_arg("category", 20, "c", 2, ","));
    assert_int_equal(q->category_count, 20);
    assert_string_equal(q->categories[19], "c19");
    q = ok(P, list_arg("category", 20, "same", 0, ","));
    assert_int_equal(q->category_count, 1);
}

static void test_exclude(void **state)
{
    const struct recs_query *q;

    (void)state;
    check_list(P, "", "exclude", 100, RECS_ROUTE_BAD_EXCLUDE);
    check_list("/recommendations", "products=a", "exclude", 100, RECS_ROUTE_BAD_EXCLUDE);
    q = ok(P, "exclude=z,y,z");
    assert_int_equal(q->exclude_count, 2);
    assert_string_equal(q->excludes[0], "y");
    assert_string_equal(q->excludes[1], "z");
    /* the target is never a candidate: excluding it changes nothing */
    q = ok(P, "exclude=abc,b,abc");
    assert_int_equal(q->exclude_count, 1);
    assert_string_equal(q->excludes[0], "b");
    assert_string_equal(q->excludes[1], "");
    assert_int_equal(ok(P, "exclude=abc")->exclude_count, 0);
    q = ok("/recommendations", "products=c,a&exclude=a,b,c,d");
    assert_int_equal(q->exclude_count, 2);
    assert_string_equal(q->excludes[0], "b");
    assert_string_equal(q->excludes[1], "d");
    q = ok(P, list_arg("exclude", 100, "e", 3, ","));
    assert_int_equal(q->exclude_count, 100);
    assert_string_equal(q->excludes[0], "e000");
    assert_string_equal(q->excludes[99], "e099");
}

static void test_products(void **state)
{
    static const char cart[] = "/recommendations";
    const struct recs_query *q;
    char query[64];

    (void)state;
    bad(cart, NULL, RECS_ROUTE_NO_PRODUCTS, "products");
    bad(cart, "limit=5", RECS_ROUTE_NO_PRODUCTS, "products");
    bad(cart, "product=a", RECS_ROUTE_NO_PRODUCTS, "products");
    bad(cart, "products=", RECS_ROUTE_BAD_PRODUCTS, "products");
    bad(cart, "products", RECS_ROUTE_BAD_PRODUCTS, "products");
    bad(cart, "products=a&products=b", RECS_ROUTE_BAD_PRODUCTS, "products");
    static const char *const invalid[] = {",", "a,,b", "a,", ",a", "a b", "a%00", "a/b", "a%"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        snprintf(query, sizeof(query), "products=%s", invalid[i]);
        bad(cart, query, RECS_ROUTE_BAD_PRODUCTS, "products");
    }
    ok(cart, list_arg("products", 20, "p", 1, ","));
    bad(cart, list_arg("products", 21, "p", 1, ","), RECS_ROUTE_BAD_PRODUCTS, "products");
    q = ok(cart, list_arg("products", 20, "same", 0, ","));
    assert_int_equal(q->target_count, 1);
    bad(cart, list_arg("products", 21, "same", 0, ","), RECS_ROUTE_BAD_PRODUCTS, "products");
    bad(cart, list_arg("products", 21, "p", 1, "%2C"), RECS_ROUTE_BAD_PRODUCTS, "products");

    /* first-appearance order, duplicates once */
    q = ok(cart, "products=c,a,c,b,a");
    assert_int_equal(q->kind, RECS_QUERY_CART);
    assert_int_equal(q->target_count, 3);
    assert_string_equal(q->targets[0], "c");
    assert_string_equal(q->targets[1], "a");
    assert_string_equal(q->targets[2], "b");
    assert_int_equal(q->limit, RECS_LIMIT_DEFAULT);
    q = ok(cart, "products=x%2Cy");
    assert_int_equal(q->target_count, 2);
    /* products is no parameter of the single-product endpoint */
    q = ok(P, "products=");
    assert_int_equal(q->target_count, 1);
    assert_string_equal(q->targets[0], "abc");
}

/* Every parameter on the cart endpoint, and which error wins when several
 * are wrong: the order route.h documents. */
static void test_combinations_and_error_order(void **state)
{
    const struct recs_query *q;

    (void)state;
    q = ok("/recommendations",
           "products=b,a&limit=3&offset=20&category=y,x&exclude=c&"
           "min_price=100&max_price=5000&min_score=0.05&max_per_category=2&x=y");
    assert_int_equal(q->target_count, 2);
    assert_int_equal(q->limit, 3);
    assert_int_equal(q->offset, 20);
    assert_int_equal(q->category_count, 2);
    assert_int_equal(q->exclude_count, 1);
    assert_int_equal(q->min_price, 100);
    assert_int_equal(q->max_price, 5000);
    assert_int_equal(q->min_score, 50000);
    assert_int_equal(q->max_per_category, 2);

    bad("/recommendations", "limit=0&products=", RECS_ROUTE_BAD_PRODUCTS, "products");
    bad(P,
        "max_per_category=0&min_score=2&max_price=x&min_price=x&exclude=&category=&offset=-1&"
        "limit=0",
        RECS_ROUTE_BAD_LIMIT, "limit");
    bad(P, "max_per_category=0&min_score=2&max_price=x&min_price=x&exclude=&category=&offset=-1",
        RECS_ROUTE_BAD_OFFSET, "offset");
    bad(P, "max_per_category=0&min_score=2&max_price=x&min_price=x&exclude=&category=",
        RECS_ROUTE_BAD_CATEGORY, "category");
    bad(P,
        "max_per_category=0&min_score=2&max_price=x&min_price=x&exclude=", RECS_ROUTE_BAD_EXCLUDE,
        "exclude");
    bad(P, "max_per_category=0&min_score=2&max_price=x&min_price=x", RECS_ROUTE_BAD_MIN_PRICE,
        "min_price");
    bad(P, "max_per_category=0&min_score=2&max_price=x", RECS_ROUTE_BAD_MAX_PRICE, "max_price");
    bad(P, "max_per_category=0&min_score=2&max_price=1&min_price=2", RECS_ROUTE_BAD_PRICE_RANGE,
        "min_price");
    bad(P, "max_per_category=0&min_score=2", RECS_ROUTE_BAD_MIN_SCORE, "min_score");

    /* unknown parameters are ignored, names are exact */
    q = ok(P, "LIMIT=0&limits=0&Offset=x&category_=&excludes=&min-price=x&=5&&x&%6Cimit=7");
    assert_int_equal(q->limit, 7); /* "%6Cimit" decodes to "limit" */
}

/* A value with a decoded NUL (its length beyond its strlen) is invalid. */
static void test_nul_in_values(void **state)
{
    static const struct {
        const char *key, *value;
        size_t len;
        recs_route_status want;
    } cases[] = {
        {"limit", "5\0", 2, RECS_ROUTE_BAD_LIMIT},
        {"offset",
         "1\0"
         "0",
         3, RECS_ROUTE_BAD_OFFSET},
        {"category", "a\0b", 3, RECS_ROUTE_BAD_CATEGORY},
        {"exclude", "a,\0", 3, RECS_ROUTE_BAD_EXCLUDE},
        {"min_price", "\0", 1, RECS_ROUTE_BAD_MIN_PRICE},
        {"max_price", "7\0", 2, RECS_ROUTE_BAD_MAX_PRICE},
        {"min_score", "0.5\0", 4, RECS_ROUTE_BAD_MIN_SCORE},
        {"max_per_category", "3\0", 2, RECS_ROUTE_BAD_MAX_PER_CATEGORY},
    };
    struct recs_request_target t;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct recs_query_args args = {0};
        recs_route_add_arg(&args, cases[i].key, strlen(cases[i].key), cases[i].value, cases[i].len);
        if (recs_route_request("GET", P, &args, &t) != cases[i].want)
            fail_msg("%s with a NUL was not refused", cases[i].key);
    }
    {
        struct recs_query_args args = {0};
        recs_route_add_arg(&args, "products", 8, "a\0", 2);
        assert_int_equal(recs_route_request("GET", "/recommendations", &args, &t),
                         RECS_ROUTE_BAD_PRODUCTS);
    }
    {
        /* a key with a NUL is not "limit" */
        struct recs_query_args args = {0};
        recs_route_add_arg(&args, "limit\0x", 7, "0", 1);
        recs_route_add_arg(&args, NULL, 0, "0", 1);
        assert_int_equal(recs_route_request("GET", P, &args, &t), RECS_ROUTE_OK);
    }
}

static void test_error_messages(void **state)
{
    (void)state;
    assert_string_equal(recs_route_error_message(RECS_ROUTE_BAD_LIMIT),
                        "invalid limit: expected one integer from 1 to 100");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_BAD_OFFSET),
                        "invalid offset: expected one integer from 0 to 10000");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_BAD_MIN_PRICE),
                        "invalid min_price: expected one integer from 0 to 2147483647");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_BAD_MAX_PRICE),
                        "invalid max_price: expected one integer from 0 to 2147483647");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_BAD_MAX_PER_CATEGORY),
                        "invalid max_per_category: expected one integer from 1 to 100");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_BAD_MIN_SCORE),
                        "invalid min_score: expected one decimal from 0 to 1 with at most 6 "
                        "digits after the point (0, 1, 0.05, 1.000)");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_BAD_CATEGORY),
                        "invalid category: expected one list of 1 to 20 comma-separated "
                        "category slugs, each 1 to 128 characters of A-Z a-z 0-9 - _ .");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_BAD_EXCLUDE),
                        "invalid exclude: expected one list of 1 to 100 comma-separated "
                        "product slugs, each 1 to 128 characters of A-Z a-z 0-9 - _ .");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_BAD_PRODUCTS),
                        "invalid products: expected one list of 1 to 20 comma-separated "
                        "product slugs, each 1 to 128 characters of A-Z a-z 0-9 - _ .");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_NO_PRODUCTS),
                        "missing products: expected products=slug,slug,... (1 to 20 product "
                        "slugs)");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_BAD_SLUG),
                        "invalid product slug: expected 1 to 128 characters of A-Z a-z 0-9 - _ .");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_NOT_FOUND), "not found");
    assert_string_equal(recs_route_error_message(RECS_ROUTE_BAD_METHOD), "method not allowed");
}

/* ---- keys ---- */

static char *key_of(const char *path, const char *query, char *buf)
{
    const struct recs_query *q = ok(path, query);
    size_t len = recs_query_format_key(q, buf, RECS_QUERY_KEY_MAX);
    assert_true(len < RECS_QUERY_KEY_MAX);
    assert_int_equal(strlen(buf), len);
    return buf;
}

/* The key routed again gives back the very same query. */
static void check_round_trip(const char *path, const char *query)
{
    static char key[RECS_QUERY_KEY_MAX], again[RECS_QUERY_KEY_MAX];
    static struct recs_query first;
    char *mark;

    first = *ok(path, query);
    recs_query_format_key(&first, key, sizeof(key));
    mark = strchr(key, '?');
    if (mark != NULL)
        *mark = '\0';
    ok(key, mark != NULL ? mark + 1 : NULL);
    if (memcmp(&first, &target.query, sizeof(first)) != 0)
        fail_msg("%s?%s: the key does not route back to the same query", path, query);
    recs_query_format_key(&target.query, again, sizeof(again));
    if (mark != NULL)
        *mark = '?';
    assert_string_equal(key, again);
}

static void test_key_format(void **state)
{
    char key[RECS_QUERY_KEY_MAX];

    (void)state;
    assert_string_equal(key_of(P, NULL, key), P);
    assert_string_equal(key_of(P, "limit=3", key), P "?limit=3");
    assert_string_equal(key_of("/recommendations", "products=b,a", key),
                        "/recommendations?products=b,a");
    assert_string_equal(
        key_of("/recommendations",
               "max_per_category=2&min_score=0.050&max_price=5000&min_price=100&exclude=d,c&"
               "category=y,x&offset=20&limit=3&products=b,a,b",
               key),
        "/recommendations?products=b,a&limit=3&offset=20&category=x,y&exclude=c,d&"
        "min_price=100&max_price=5000&min_score=0.05&max_per_category=2");
    assert_string_equal(key_of(P, "min_score=1.000", key), P "?min_score=1");
    assert_string_equal(key_of(P, "min_score=0.000001", key), P "?min_score=0.000001");
    assert_string_equal(key_of(P, "min_score=0.1", key), P "?min_score=0.1");
    assert_string_equal(key_of(P, "offset=10000", key), P "?offset=10000");
}

static void test_same_answer_same_key(void **state)
{
    /* Each group: requests that must get the same answer. */
    static const char *const groups[][6] = {
        {P, P "?limit=10", P "?limit=010&offset=0", P "?offset=000", P "?x=1&limits=3"},
        {P "?category=a,b", P "?category=b,a", P "?category=a,b,a", P "?category=a%2Cb",
         P "?category=b%2ca,b"},
        {P "?exclude=x,y", P "?exclude=y,x", P "?exclude=x,y,x,abc", P "?exclude=y%2Cx"},
        {P, P "?exclude=abc", P "?exclude=abc,abc", P "?min_price=0", P "?max_price=2147483647",
         P "?min_price=0&max_price=2147483647"},
        {P, P "?min_score=0", P "?min_score=0.0", P "?min_score=0.000000"},
        {P "?min_score=1", P "?min_score=1.0", P "?min_score=1.000000"},
        {P "?min_score=0.5", P "?min_score=0.50", P "?min_score=0.500000"},
        {P, P "?max_per_category=10", P "?max_per_category=100"},
        {P "?offset=5&max_per_category=15", P "?offset=5&max_per_category=100", P "?offset=5"},
        {P "?offset=7", P "?offset=007", P "?offset=%30%30%37"},
        {"/recommendations?products=a,b", "/recommendations?products=a,b,a",
         "/recommendations?products=a%2Cb&exclude=b", "/recommendations?exclude=a&products=a,b"},
    };
    char first[RECS_QUERY_KEY_MAX], key[RECS_QUERY_KEY_MAX], path[256];

    (void)state;
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        for (size_t i = 0; i < 6 && groups[g][i] != NULL; i++) {
            const char *mark = strchr(groups[g][i], '?');
            snprintf(path, sizeof(path), "%.*s",
                     (int)(mark != NULL ? (size_t)(mark - groups[g][i]) : strlen(groups[g][i])),
                     groups[g][i]);
            key_of(path, mark != NULL ? mark + 1 : NULL, i == 0 ? first : key);
            if (i > 0 && strcmp(first, key) != 0)
                fail_msg("'%s' and '%s' have different keys: '%s', '%s'", groups[g][0],
                         groups[g][i], first, key);
            check_round_trip(path, mark != NULL ? mark + 1 : NULL);
        }
    }
    /* HEAD is the same representation */
    {
        struct recs_request_target t;
        route("HEAD", P, "limit=3", &t);
        recs_query_format_key(&t.query, key, sizeof(key));
        assert_string_equal(key, P "?limit=3");
    }
}

static void test_each_parameter_changes_the_key(void **state)
{
    /* Pairwise different answers, so pairwise different keys. */
    static const char *const queries[] = {
        "",
        "limit=3",
        "limit=11",
        "offset=1",
        "offset=10000",
        "category=x",
        "category=x,y",
        "exclude=x",
        "exclude=x,y",
        "min_price=1",
        "max_price=5",
        "max_price=0",
        "min_price=5&max_price=5",
        "min_price=2147483647",
        "max_price=2147483646",
        "min_score=0.5",
        "min_score=0.000001",
        "min_score=1",
        "max_per_category=2",
        "max_per_category=9",
        "offset=10&max_per_category=10",
        "limit=3&offset=1",
        "category=x&exclude=y",
    };
    static const char *const paths[] = {
        P, "/products/abd/recommendations", "/recommendations?products=abc",
        "/recommendations?products=abc,abd", "/recommendations?products=abd,abc"};
    size_t nq = sizeof(queries) / sizeof(queries[0]), np = sizeof(paths) / sizeof(paths[0]);
    static char keys[5 * 23][RECS_QUERY_KEY_MAX];
    char path[64], query[256];

    (void)state;
    assert_int_equal(nq * np, sizeof(keys) / sizeof(keys[0]));
    for (size_t p = 0; p < np; p++) {
        for (size_t i = 0; i < nq; i++) {
            const char *mark = strchr(paths[p], '?');
            snprintf(path, sizeof(path), "%.*s",
                     (int)(mark != NULL ? (size_t)(mark - paths[p]) : strlen(paths[p])), paths[p]);
            snprintf(query, sizeof(query), "%s%s%s", mark != NULL ? mark + 1 : "",
                     mark != NULL && queries[i][0] != '\0' ? "&" : "", queries[i]);
            key_of(path, query, keys[p * nq + i]);
            check_round_trip(path, query);
        }
    }
    for (size_t a = 0; a < nq * np; a++)
        for (size_t b = a + 1; b < nq * np; b++)
            if (strcmp(keys[a], keys[b]) == 0)
                fail_msg("two different queries share the key '%s'", keys[a]);
}

static void test_longest_key_fits(void **state)
{
    static char query[32768], path[256], key[RECS_QUERY_KEY_MAX + 16];
    char slug[129];
    size_t len = 0, n;

    (void)state;
    memset(slug, 'p', 128);
    slug[128] = '\0';
    len += (size_t)snprintf(query + len, sizeof(query) - len, "products=");
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf(query + len, sizeof(query) - len, "%s%02d%.126s", i ? "," : "", i,
                                slug);
    len += (size_t)snprintf(query + len, sizeof(query) - len, "&category=");
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf(query + len, sizeof(query) - len, "%sc%02d%.125s", i ? "," : "", i,
                                slug);
    len += (size_t)snprintf(query + len, sizeof(query) - len, "&exclude=");
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(query + len, sizeof(query) - len, "%se%03d%.124s", i ? "," : "", i,
                                slug);
    snprintf(query + len, sizeof(query) - len,
             "&limit=100&offset=9999&min_price=2147483646&max_price=2147483646&"
             "min_score=0.999999&max_per_category=99");
    ok("/recommendations", query);
    assert_int_equal(target.query.target_count, 20);
    assert_int_equal(target.query.category_count, 20);
    assert_int_equal(target.query.exclude_count, 100);
    n = recs_query_format_key(&target.query, key, sizeof(key));
    assert_true(n < RECS_QUERY_KEY_MAX);
    check_round_trip("/recommendations", query);

    snprintf(path, sizeof(path), "/products/%s/recommendations", slug);
    ok(path, query + strlen("products=") + 20 * 129); /* from "&category" on */
    n = recs_query_format_key(&target.query, key, sizeof(key));
    assert_true(n < RECS_QUERY_KEY_MAX);
}

static void test_key_truncation(void **state)
{
    char full[RECS_QUERY_KEY_MAX], small[16];
    const struct recs_query *q = ok("/recommendations", "products=abc,def&limit=3");
    size_t n = recs_query_format_key(q, full, sizeof(full));

    (void)state;
    assert_int_equal(n, strlen("/recommendations?products=abc,def&limit=3"));
    assert_int_equal(recs_query_format_key(q, small, sizeof(small)), n);
    assert_string_equal(small, "/recommendation"); /* a NUL-terminated prefix */
    assert_int_equal(recs_query_format_key(q, small, 1), n);
    assert_string_equal(small, "");
    assert_int_equal(recs_query_format_key(q, NULL, 0), n);
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
        cmocka_unit_test(test_slug_validation),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_offset),
        cmocka_unit_test(test_prices),
        cmocka_unit_test(test_min_score),
        cmocka_unit_test(test_max_per_category),
        cmocka_unit_test(test_category),
        cmocka_unit_test(test_exclude),
        cmocka_unit_test(test_products),
        cmocka_unit_test(test_combinations_and_error_order),
        cmocka_unit_test(test_nul_in_values),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_key_format),
        cmocka_unit_test(test_same_answer_same_key),
        cmocka_unit_test(test_each_parameter_changes_the_key),
        cmocka_unit_test(test_longest_key_fits),
        cmocka_unit_test(test_key_truncation),
        cmocka_unit_test(test_etag_matching),
        cmocka_unit_test(test_request_ids),
        cmocka_unit_test(test_cors_origins),
    };
    return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
