/*
 * route.c - maps a request line onto an endpoint and validates its inputs.
 * Every decision about what a request asks for (400/404/405) is made here
 * and nowhere else; bytes no request may hold are refused before, by
 * wire.c.
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

    static const struct {
        const char *path, *file;
    } demo[] = {
        {"/demo/", "index.html"},
        {"/demo/index.html", "index.html"},
        {"/demo/app.js", "app.js"},
        {"/demo/style.css", "style.css"},
    };

    out->route = RECS_ROUTE_OTHER;
    out->slug[0] = '\0';
    out->limit = RECS_LIMIT_DEFAULT;
    out->file = NULL;

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (strcmp(path, fixed[i].path) == 0) {
            out->route = fixed[i].route;
            return read_method ? RECS_ROUTE_OK : RECS_ROUTE_BAD_METHOD;
        }
    }
    for (size_t i = 0; i < sizeof(demo) / sizeof(demo[0]); i++) {
        if (strcmp(path, demo[i].path) == 0) {
            out->route = RECS_ROUTE_DEMO;
            out->file = demo[i].file;
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

/* Next comma-separated item of *list, trimmed of spaces: returns its start
 * and sets *len, or NULL at the end. */
static const char *next_item(const char **list, size_t *len)
{
    const char *s = *list, *end;

    while (*s == ' ' || *s == '\t' || *s == ',')
        s++;
    if (*s == '\0')
        return NULL;
    end = strchr(s, ',');
    if (end == NULL)
        end = s + strlen(s);
    *list = end;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *len = (size_t)(end - s);
    return s;
}

bool recs_route_etag_matches(const char *if_none_match, const char *etag)
{
    const char *item;
    size_t len, elen = strlen(etag);

    if (if_none_match == NULL)
        return false;
    while ((item = next_item(&if_none_match, &len)) != NULL) {
        if (len == 1 && item[0] == '*')
            return true;
        if (len >= 2 && item[0] == 'W' && item[1] == '/') {
            item += 2;
            len -= 2;
        }
        if (len == elen && memcmp(item, etag, len) == 0)
            return true;
    }
    return false;
}

bool recs_route_request_id_valid(const char *id)
{
    size_t len = 0;

    for (; id[len] != '\0'; len++) {
        char c = id[len];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == ':';
        if (!ok || len >= RECS_REQUEST_ID_MAX)
            return false;
    }
    return len > 0;
}

bool recs_route_origin_allowed(const char *allow_list, const char *origin)
{
    const char *item;
    size_t len, olen;

    if (allow_list == NULL || origin == NULL || origin[0] == '\0')
        return false;
    olen = strlen(origin);
    while ((item = next_item(&allow_list, &len)) != NULL) {
        if ((len == 1 && item[0] == '*') || (len == olen && memcmp(item, origin, len) == 0))
            return true;
    }
    return false;
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
