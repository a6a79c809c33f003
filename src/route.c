/*
 * route.c - maps a request line onto an endpoint and validates its inputs.
 * Every decision about bad input (400/404/405) is made here and nowhere
 * else.
 */
#include "route.h"

#include <string.h>

#define PRODUCTS_PREFIX "/products/"
#define RECS_SUFFIX "/recommendations"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t recs_route_unescape(char *s)
{
    char *out = s;
    const char *in = s;

    while (*in != '\0') {
        if (in[0] == '%' && in[1] != '\0' && in[2] != '\0') {
            int hi = hex_value(in[1]), lo = hex_value(in[2]);
            if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
                *out++ = (char)(hi * 16 + lo);
                in += 3;
                continue;
            }
        }
        *out++ = *in++;
    }
    *out = '\0';
    return (size_t)(out - s);
}

bool recs_route_slug_valid(const char *slug, size_t len)
{
    if (len == 0 || len > RECS_SLUG_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = slug[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

bool recs_route_parse_limit(const char *s, unsigned *limit)
{
    unsigned value = 0;
    size_t i = 0;

    if (s == NULL || s[0] == '\0')
        return false;
    for (; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        value = value * 10 + (unsigned)(s[i] - '0');
        if (value > RECS_LIMIT_MAX)
            return false; /* also stops overflow on long inputs */
    }
    if (value < 1 || value > RECS_LIMIT_MAX)
        return false;
    *limit = value;
    return true;
}

static bool method_is_read(const char *method, bool *head)
{
    *head = strcmp(method, "HEAD") == 0;
    return *head || strcmp(method, "GET") == 0;
}

/* Matches /products/{slug}/recommendations and copies out the raw slug. */
static bool match_recommendations(const char *path, const char **slug, size_t *slug_len)
{
    size_t plen = strlen(path), pre = strlen(PRODUCTS_PREFIX), suf = strlen(RECS_SUFFIX);

    if (plen < pre + suf || strncmp(path, PRODUCTS_PREFIX, pre) != 0 ||
        strcmp(path + plen - suf, RECS_SUFFIX) != 0)
        return false;
    *slug = path + pre;
    *slug_len = plen - pre - suf;
    return true;
}

recs_route_status recs_route_request(const char *method, const char *path,
                                     const char *const *limit_values, size_t limit_count,
                                     struct recs_request_target *out)
{
    static const struct {
        const char *path;
        recs_route route;
    } fixed[] = {
        {"/healthz", RECS_ROUTE_HEALTHZ},
        {"/readyz", RECS_ROUTE_READYZ},
        {"/metrics", RECS_ROUTE_METRICS},
    };
    const char *slug = NULL;
    size_t slug_len = 0;
    bool read_method = method_is_read(method, &out->head);

    out->route = RECS_ROUTE_OTHER;
    out->slug[0] = '\0';
    out->limit = RECS_LIMIT_DEFAULT;

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (strcmp(path, fixed[i].path) == 0) {
            out->route = fixed[i].route;
            return read_method ? RECS_ROUTE_OK : RECS_ROUTE_BAD_METHOD;
        }
    }
    if (!match_recommendations(path, &slug, &slug_len))
        return RECS_ROUTE_NOT_FOUND;

    out->route = RECS_ROUTE_RECOMMENDATIONS;
    if (!read_method)
        return RECS_ROUTE_BAD_METHOD;
    if (!recs_route_slug_valid(slug, slug_len))
        return RECS_ROUTE_BAD_SLUG;
    memcpy(out->slug, slug, slug_len);
    out->slug[slug_len] = '\0';

    if (limit_count > 1)
        return RECS_ROUTE_BAD_LIMIT;
    if (limit_count == 1 && !recs_route_parse_limit(limit_values[0], &out->limit))
        return RECS_ROUTE_BAD_LIMIT;
    return RECS_ROUTE_OK;
}

const char *recs_route_error_message(recs_route_status status)
{
    switch (status) {
    case RECS_ROUTE_OK:
        return "ok";
    case RECS_ROUTE_NOT_FOUND:
        return "not found";
    case RECS_ROUTE_BAD_METHOD:
        return "method not allowed";
    case RECS_ROUTE_BAD_SLUG:
        return "invalid product slug: expected 1 to 128 characters of A-Z a-z 0-9 - _ .";
    case RECS_ROUTE_BAD_LIMIT:
        return "invalid limit: expected one integer from 1 to 100";
    }
    return "bad request";
}
