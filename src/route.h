/*
 * route.h - what a request asks for, decided from its method, path and query
 * arguments alone: which endpoint, whether the method is allowed, and, for the
 * two recommendation endpoints, one validated and normalized query value
 * (struct recs_query) that the rest of the service reads instead of raw
 * arguments. The rules are those of docs/API.md. Pure functions with no I/O,
 * so the whole request front end can be unit-tested and fuzzed without a
 * network.
 *
 * A request is routed in three steps:
 *
 *     struct recs_query_args args = {0};
 *     recs_route_add_arg(&args, key, key_len, value, value_len);  // each argument
 *     status = recs_route_request(method, path, &args, &target);
 *
 * and every 400, 404 and 405 is decided by recs_route_request.
 */
#ifndef RECS_ROUTE_H
#define RECS_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The limits of docs/API.md. */
#define RECS_SLUG_MAX 128u             /* bytes in a product or category slug */
#define RECS_LIMIT_DEFAULT 10u         /* results when limit is not given */
#define RECS_LIMIT_MAX 100u            /* limit: 1..RECS_LIMIT_MAX */
#define RECS_OFFSET_MAX 10000u         /* offset: 0..RECS_OFFSET_MAX */
#define RECS_PRODUCTS_MAX 20u          /* slugs in products, as written */
#define RECS_CATEGORIES_MAX 20u        /* slugs in category, as written */
#define RECS_EXCLUDE_MAX 100u          /* slugs in exclude, as written */
#define RECS_PRICE_MAX INT32_MAX       /* min_price, max_price: 0..RECS_PRICE_MAX */
#define RECS_PER_CATEGORY_MAX 100u     /* max_per_category: 1..RECS_PER_CATEGORY_MAX */
#define RECS_SCORE_MILLIONTHS 1000000u /* min_score 1, in millionths */

/* The endpoints, as labelled in recs_http_requests_total{route="..."} (see
 * recs_route_label in metrics.h). */
typedef enum {
    RECS_ROUTE_RECOMMENDATIONS = 0, /* "recommendations": /products/{slug}/recommendations */
    RECS_ROUTE_CART,                /* "cart": /recommendations?products=... */
    RECS_ROUTE_HEALTHZ,             /* "healthz" */
    RECS_ROUTE_READYZ,              /* "readyz" */
    RECS_ROUTE_METRICS,             /* "metrics" */
    RECS_ROUTE_OPENAPI,             /* "openapi": /openapi.yaml */
    RECS_ROUTE_DEMO,                /* "demo" */
    RECS_ROUTE_OTHER,               /* "other": unknown paths */
    RECS_ROUTE_COUNT
} recs_route;

/* The outcome of routing a request. Each 400 names the parameter at fault
 * (recs_route_error_message). */
typedef enum {
    RECS_ROUTE_OK = 0,               /* serve it */
    RECS_ROUTE_NOT_FOUND,            /* 404: no such path */
    RECS_ROUTE_BAD_METHOD,           /* 405: path exists, method is not GET or HEAD */
    RECS_ROUTE_BAD_SLUG,             /* 400: the slug in the path */
    RECS_ROUTE_NO_PRODUCTS,          /* 400: /recommendations without products */
    RECS_ROUTE_BAD_PRODUCTS,         /* 400 */
    RECS_ROUTE_BAD_LIMIT,            /* 400 */
    RECS_ROUTE_BAD_OFFSET,           /* 400 */
    RECS_ROUTE_BAD_CATEGORY,         /* 400 */
    RECS_ROUTE_BAD_EXCLUDE,          /* 400 */
    RECS_ROUTE_BAD_MIN_PRICE,        /* 400 */
    RECS_ROUTE_BAD_MAX_PRICE,        /* 400 */
    RECS_ROUTE_BAD_PRICE_RANGE,      /* 400: min_price > max_price */
    RECS_ROUTE_BAD_MIN_SCORE,        /* 400 */
    RECS_ROUTE_BAD_MAX_PER_CATEGORY, /* 400 */
} recs_route_status;

typedef enum {
    RECS_QUERY_PRODUCT = 0, /* /products/{slug}/recommendations: one target */
    RECS_QUERY_CART,        /* /recommendations?products=...: the set of targets */
} recs_query_kind;

/* Everything a recommendation request asks for, validated and normalized:
 * two requests that must get the same answer hold the same value. Filled
 * only by recs_route_request (which zeroes it first, so two values can be
 * compared with memcmp). Fixed arrays sized by the limits above: a query
 * never allocates.
 *
 * A parameter that cannot change the answer is stored as if absent:
 *   - excludes never holds a target (targets are never candidates);
 *   - min_price 0 (prices are never negative) and max_price RECS_PRICE_MAX
 *     (the largest price a product can have) are no filter;
 *   - max_per_category >= offset + limit cannot drop anything from the page
 *     asked for, and is stored as 0. */
struct recs_query {
    recs_query_kind kind;
    /* Distinct, in the order of their first appearance: 1 for
     * RECS_QUERY_PRODUCT (the slug in the path), 1..RECS_PRODUCTS_MAX for
     * RECS_QUERY_CART. Each is a valid slug, NUL-terminated. */
    size_t target_count;
    char targets[RECS_PRODUCTS_MAX][RECS_SLUG_MAX + 1];
    unsigned limit;  /* 1..RECS_LIMIT_MAX */
    unsigned offset; /* 0..RECS_OFFSET_MAX: ranked results skipped */
    /* Keep only candidates whose category slug is one of these (none: no
     * filter). Distinct, sorted by strcmp. */
    size_t category_count;
    char categories[RECS_CATEGORIES_MAX][RECS_SLUG_MAX + 1];
    /* Never return these products. Distinct, sorted by strcmp, no target. */
    size_t exclude_count;
    char excludes[RECS_EXCLUDE_MAX][RECS_SLUG_MAX + 1];
    /* Keep only min_price <= price_cents <= max_price. The bounds always
     * hold the range to apply (0 and RECS_PRICE_MAX when not asked for);
     * the flags say whether it narrows anything. */
    bool has_min_price, has_max_price;
    int32_t min_price, max_price;
    /* Keep only candidates with matches * RECS_SCORE_MILLIONTHS >=
     * min_score * K * targets (docs/SCORING.md section 9): min_score in
     * millionths, 0..RECS_SCORE_MILLIONTHS; 0 keeps every candidate. */
    uint32_t min_score;
    /* At most this many results per category (products without one count
     * as one category); 0: no such limit. */
    unsigned max_per_category;
};

/* The query arguments of one request, gathered by recs_route_add_arg: for
 * each parameter the router knows, its first value and whether it came more
 * than once. Start from {0}; read only by recs_route_request. */
#define RECS_QUERY_PARAMS 9u
struct recs_query_args {
    struct {
        const char *value; /* NULL: given without "=" */
        size_t len;
        unsigned count; /* 0, 1, or 2 for "more than once" */
    } param[RECS_QUERY_PARAMS];
};

/* Records one query argument: key and value percent-decoded (see
 * recs_route_unescape), with their lengths, value NULL for an argument
 * given without "=". Unknown keys are ignored. The pointers are kept, not
 * copied: they must stay valid until recs_route_request. A value holding a
 * NUL byte (len beyond its strlen) is invalid for its parameter. */
void recs_route_add_arg(struct recs_query_args *args, const char *key, size_t key_len,
                        const char *value, size_t value_len);

/* The request target: which endpoint and what it asks for. */
struct recs_request_target {
    recs_route route;
    bool head;               /* HEAD: answer like GET without a body */
    const char *file;        /* demo only: "index.html", "app.js" or "style.css" */
    struct recs_query query; /* the two recommendation routes */
};

/* Routes a request. path is the percent-decoded path (see
 * recs_route_unescape); args are its query arguments (NULL: none). Fills
 * *out; route is set even when the status is an error, for metrics. When
 * several things are wrong, the first in this order is reported: method,
 * slug in the path, then products, limit, offset, category, exclude,
 * min_price, max_price, the price range, min_score, max_per_category. */
recs_route_status recs_route_request(const char *method, const char *path,
                                     const struct recs_query_args *args,
                                     struct recs_request_target *out);

/* Bytes, NUL included, that always hold a key of recs_query_format_key. */
#define RECS_QUERY_KEY_MAX                                                                         \
    (64u + (RECS_SLUG_MAX + 1u) * (RECS_PRODUCTS_MAX + RECS_CATEGORIES_MAX + RECS_EXCLUDE_MAX) +   \
     160u)

/* Writes q (as filled by recs_route_request) as a canonical request target,
 * for entity tags and answer caches: the endpoint's path, then every
 * parameter not at its default, in the order of recs_route_request, with
 * the normalized values, e.g.
 *   /recommendations?products=b,a&limit=3&category=x,y&min_score=0.05
 * Two requests that must get the same answer from the same catalog get the
 * same key; a parameter that changes the answer changes it; and the key,
 * routed again, gives back the same query. Writes at most cap bytes,
 * NUL-terminated when cap > 0, and returns the key's length (>= cap if it
 * did not fit), like snprintf. */
size_t recs_query_format_key(const struct recs_query *q, char *buf, size_t cap);

/* Percent-decodes s in place (the request path and query arguments) and
 * returns the new length. %00 and malformed escapes are left as they are, so
 * a NUL can never appear inside a decoded string and the '%' that stays
 * behind makes a slug or a number invalid. */
size_t recs_route_unescape(char *s);

/* A slug is 1..RECS_SLUG_MAX bytes of A-Z a-z 0-9 - _ . */
bool recs_route_slug_valid(const char *slug, size_t len);

/* Whether an If-None-Match header value (a comma-separated list of entity
 * tags, possibly weak W/"...", or "*") matches etag (quoted, e.g. "\"v1\"").
 * Comparison is the weak one of RFC 9110: W/ prefixes are ignored. */
bool recs_route_etag_matches(const char *if_none_match, const char *etag);

/* An incoming X-Request-Id is kept only if it is 1..RECS_REQUEST_ID_MAX
 * characters of A-Z a-z 0-9 - _ . : (so it is safe in logs and headers). */
#define RECS_REQUEST_ID_MAX 128u
bool recs_route_request_id_valid(const char *id);

/* Whether origin is allowed by a CORS allow-list: "" allows nothing, "*"
 * allows every origin, otherwise a comma-separated list of exact origins
 * (spaces around commas ignored). */
bool recs_route_origin_allowed(const char *allow_list, const char *origin);

/* The human-readable message for an error status (a static string). A 400's
 * message starts with the parameter's name, e.g. "invalid offset: ...". */
const char *recs_route_error_message(recs_route_status status);

#endif
