/*
 * route.h - what a request asks for, decided from its method, path and query
 * arguments alone: which endpoint, whether the method is allowed, and the
 * validated slug and limit. Pure functions with no I/O, so the whole request
 * front end can be unit-tested and fuzzed without a network.
 */
#ifndef RECS_ROUTE_H
#define RECS_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

#define RECS_SLUG_MAX 128u
#define RECS_LIMIT_DEFAULT 10u
#define RECS_LIMIT_MAX 100u

/* The outcome of routing a request. */
typedef enum {
    RECS_ROUTE_OK = 0,     /* serve it */
    RECS_ROUTE_NOT_FOUND,  /* 404: no such path */
    RECS_ROUTE_BAD_METHOD, /* 405: path exists, method is not GET or HEAD */
    RECS_ROUTE_BAD_SLUG,   /* 400 */
    RECS_ROUTE_BAD_LIMIT,  /* 400 */
} recs_route_status;

struct recs_request_target {
    recs_route route;
    bool head;                    /* HEAD: answer like GET without a body */
    char slug[RECS_SLUG_MAX + 1]; /* recommendations only: validated, NUL-terminated */
    unsigned limit;               /* recommendations only: 1..RECS_LIMIT_MAX */
    const char *file;             /* demo only: "index.html", "app.js" or "style.css" */
};

/* Routes a request. path is the percent-decoded path (see
 * recs_route_unescape); limit_values are the values of every "limit" query
 * argument in order (NULL for an argument given without "="). Fills *out
 * (route is set even when the status is an error, for metrics). */
recs_route_status recs_route_request(const char *method, const char *path,
                                     const char *const *limit_values, size_t limit_count,
                                     struct recs_request_target *out);

/* Percent-decodes s in place (the request path and query arguments) and
 * returns the new length. %00 and malformed escapes are left as they are, so
 * a NUL can never appear inside a decoded string and the '%' that stays
 * behind makes the slug or limit invalid. */
size_t recs_route_unescape(char *s);

/* A slug is 1..RECS_SLUG_MAX bytes of A-Z a-z 0-9 - _ . */
bool recs_route_slug_valid(const char *slug, size_t len);

/* Parses a limit: 1..RECS_LIMIT_MAX in plain decimal digits. Returns true and
 * sets *limit, or false. */
bool recs_route_parse_limit(const char *s, unsigned *limit);

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

/* The human-readable message for an error status (a static string). */
const char *recs_route_error_message(recs_route_status status);

#endif
