/*
 * route.c - maps a request line and its query arguments onto an endpoint and
 * one validated, normalized query value. Every decision about bad input
 * (400/404/405) is made here and nowhere else (docs/API.md is the rule
 * book); bytes no request may hold are refused before, by wire.c.
 */
#include "route.h"

#include <stdlib.h>
#include <string.h>

#define PRODUCTS_PREFIX "/products/"
#define RECS_SUFFIX "/recommendations"
#define CART_PATH "/recommendations"

/* The query parameters the router knows, in the order they are checked and
 * written into keys. */
enum param {
    P_PRODUCTS,
    P_LIMIT,
    P_OFFSET,
    P_CATEGORY,
    P_EXCLUDE,
    P_MIN_PRICE,
    P_MAX_PRICE,
    P_MIN_SCORE,
    P_MAX_PER_CATEGORY,
    P_COUNT
};

static const char *const param_names[P_COUNT] = {
    "products",  "limit",     "offset",    "category",         "exclude",
    "min_price", "max_price", "min_score", "max_per_category",
};

_Static_assert(P_COUNT == RECS_QUERY_PARAMS, "RECS_QUERY_PARAMS is the number of parameters");

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

void recs_route_add_arg(struct recs_query_args *args, const char *key, size_t key_len,
                        const char *value, size_t value_len)
{
    if (key == NULL)
        return;
    for (size_t p = 0; p < P_COUNT; p++) {
        if (strlen(param_names[p]) != key_len || memcmp(param_names[p], key, key_len) != 0)
            continue;
        if (args->param[p].count == 0) {
            args->param[p].value = value;
            args->param[p].len = value != NULL ? value_len : 0;
        }
        if (args->param[p].count < 2)
            args->param[p].count++;
        return;
    }
}

/* Plain decimal digits, leading zeros allowed, at most max. */
static bool parse_uint(const char *s, size_t len, uint32_t max, uint32_t *out)
{
    uint64_t value = 0;

    if (s == NULL || len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        value = value * 10 + (uint64_t)(s[i] - '0');
        if (value > max)
            return false; /* also stops overflow on long inputs */
    }
    *out = (uint32_t)value;
    return true;
}

/* "0", "1", "0." and 1..6 digits, or "1." and 1..6 zeros, as millionths:
 * the grammar itself is the range check, and no rounding ever happens. */
static bool parse_score(const char *s, size_t len, uint32_t *out)
{
    uint32_t value = 0, scale = RECS_SCORE_MILLIONTHS;

    if (s == NULL || len == 0 || (s[0] != '0' && s[0] != '1'))
        return false;
    if (len == 1) {
        *out = s[0] == '1' ? RECS_SCORE_MILLIONTHS : 0;
        return true;
    }
    if (s[1] != '.' || len < 3 || len > 8)
        return false;
    for (size_t i = 2; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || (s[0] == '1' && s[i] != '0'))
            return false;
        scale /= 10;
        value += (uint32_t)(s[i] - '0') * scale;
    }
    *out = s[0] == '1' ? RECS_SCORE_MILLIONTHS : value;
    return true;
}

/* Splits a comma-separated list of slugs into items (capacity max_items),
 * keeping each distinct slug once, in the order of its first appearance. At
 * most max_items items as written, none empty, each a valid slug. */
static bool parse_list(const char *s, size_t len, size_t max_items,
                       char (*items)[RECS_SLUG_MAX + 1], size_t *count)
{
    size_t written = 0, start = 0;

    *count = 0;
    if (s == NULL || len == 0)
        return false;
    for (size_t i = 0; i <= len; i++) {
        size_t n = i - start, k = 0;

        if (i < len && s[i] != ',')
            continue;
        if (++written > max_items || !recs_route_slug_valid(s + start, n))
            return false;
        while (k < *count && (strlen(items[k]) != n || memcmp(items[k], s + start, n) != 0))
            k++;
        if (k == *count) {
            memcpy(items[k], s + start, n);
            items[k][n] = '\0';
            (*count)++;
        }
        start = i + 1;
    }
    return true;
}

static int compare_slugs(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* A parameter given exactly once: its value. Absent: false, with *value
 * NULL. Given twice, or without "=": true with *value NULL, which every
 * parser rejects. */
static bool given(const struct recs_query_args *args, enum param p, const char **value, size_t *len)
{
    *value = NULL;
    *len = 0;
    if (args == NULL || args->param[p].count == 0)
        return false;
    if (args->param[p].count == 1) {
        *value = args->param[p].value;
        *len = args->param[p].len;
    }
    return true;
}

/* An optional integer parameter in min..max; absent leaves *out as it is. */
static bool optional_uint(const struct recs_query_args *args, enum param p, uint32_t min,
                          uint32_t max, uint32_t *out)
{
    const char *value;
    size_t len;
    uint32_t parsed;

    if (!given(args, p, &value, &len))
        return true;
    if (!parse_uint(value, len, max, &parsed) || parsed < min)
        return false;
    *out = parsed;
    return true;
}

static bool optional_list(const struct recs_query_args *args, enum param p, size_t max_items,
                          char (*items)[RECS_SLUG_MAX + 1], size_t *count)
{
    const char *value;
    size_t len;

    if (!given(args, p, &value, &len))
        return true;
    if (!parse_list(value, len, max_items, items, count))
        return false;
    qsort(items, *count, sizeof(items[0]), compare_slugs);
    return true;
}

static bool is_target(const struct recs_query *q, const char *slug)
{
    for (size_t i = 0; i < q->target_count; i++)
        if (strcmp(q->targets[i], slug) == 0)
            return true;
    return false;
}

/* Stores as absent what cannot change the answer (see struct recs_query). */
static void normalize(struct recs_query *q)
{
    size_t kept = 0;

    for (size_t i = 0; i < q->exclude_count; i++) {
        if (is_target(q, q->excludes[i]))
            continue;
        if (kept != i)
            memcpy(q->excludes[kept], q->excludes[i], sizeof(q->excludes[0]));
        kept++;
    }
    for (size_t i = kept; i < q->exclude_count; i++)
        memset(q->excludes[i], 0, sizeof(q->excludes[0]));
    q->exclude_count = kept;
    q->has_min_price = q->min_price > 0;
    q->has_max_price = q->max_price < RECS_PRICE_MAX;
    if (q->max_per_category >= q->offset + q->limit)
        q->max_per_category = 0;
}

/* Every parameter after the path, in the order route.h documents. The
 * targets of a single-product query are already in q. */
static recs_route_status parse_query(const struct recs_query_args *args, struct recs_query *q)
{
    const char *value;
    size_t len;
    uint32_t n, min_price = 0, max_price = RECS_PRICE_MAX;

    if (q->kind == RECS_QUERY_CART) {
        if (!given(args, P_PRODUCTS, &value, &len))
            return RECS_ROUTE_NO_PRODUCTS;
        if (!parse_list(value, len, RECS_PRODUCTS_MAX, q->targets, &q->target_count))
            return RECS_ROUTE_BAD_PRODUCTS;
    }
    n = RECS_LIMIT_DEFAULT;
    if (!optional_uint(args, P_LIMIT, 1, RECS_LIMIT_MAX, &n))
        return RECS_ROUTE_BAD_LIMIT;
    q->limit = n;
    n = 0;
    if (!optional_uint(args, P_OFFSET, 0, RECS_OFFSET_MAX, &n))
        return RECS_ROUTE_BAD_OFFSET;
    q->offset = n;
    if (!optional_list(args, P_CATEGORY, RECS_CATEGORIES_MAX, q->categories, &q->category_count))
        return RECS_ROUTE_BAD_CATEGORY;
    if (!optional_list(args, P_EXCLUDE, RECS_EXCLUDE_MAX, q->excludes, &q->exclude_count))
        return RECS_ROUTE_BAD_EXCLUDE;
    if (!optional_uint(args, P_MIN_PRICE, 0, RECS_PRICE_MAX, &min_price))
        return RECS_ROUTE_BAD_MIN_PRICE;
    if (!optional_uint(args, P_MAX_PRICE, 0, RECS_PRICE_MAX, &max_price))
        return RECS_ROUTE_BAD_MAX_PRICE;
    if (min_price > max_price)
        return RECS_ROUTE_BAD_PRICE_RANGE;
    q->min_price = (int32_t)min_price;
    q->max_price = (int32_t)max_price;
    if (given(args, P_MIN_SCORE, &value, &len) && !parse_score(value, len, &q->min_score))
        return RECS_ROUTE_BAD_MIN_SCORE;
    n = 0;
    if (!optional_uint(args, P_MAX_PER_CATEGORY, 1, RECS_PER_CATEGORY_MAX, &n))
        return RECS_ROUTE_BAD_MAX_PER_CATEGORY;
    q->max_per_category = n;
    normalize(q);
    return RECS_ROUTE_OK;
}

static bool method_is_read(const char *method, bool *head)
{
    *head = strcmp(method, "HEAD") == 0;
    return *head || strcmp(method, "GET") == 0;
}

/* Matches /products/{slug}/recommendations and points at the raw slug. */
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
                                     const struct recs_query_args *args,
                                     struct recs_request_target *out)
{
    static const struct {
        const char *path;
        recs_route route;
        const char *file;
    } fixed[] = {
        {"/healthz", RECS_ROUTE_HEALTHZ, NULL},
        {"/readyz", RECS_ROUTE_READYZ, NULL},
        {"/metrics", RECS_ROUTE_METRICS, NULL},
        {"/openapi.yaml", RECS_ROUTE_OPENAPI, NULL},
        {"/demo/", RECS_ROUTE_DEMO, "index.html"},
        {"/demo/index.html", RECS_ROUTE_DEMO, "index.html"},
        {"/demo/app.js", RECS_ROUTE_DEMO, "app.js"},
        {"/demo/style.css", RECS_ROUTE_DEMO, "style.css"},
    };
    struct recs_query *q = &out->query;
    const char *slug = NULL;
    size_t slug_len = 0;
    bool read_method = method_is_read(method, &out->head);

    out->route = RECS_ROUTE_OTHER;
    out->file = NULL;
    memset(q, 0, sizeof(*q));
    q->limit = RECS_LIMIT_DEFAULT;
    q->max_price = RECS_PRICE_MAX;

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (strcmp(path, fixed[i].path) == 0) {
            out->route = fixed[i].route;
            out->file = fixed[i].file;
            return read_method ? RECS_ROUTE_OK : RECS_ROUTE_BAD_METHOD;
        }
    }
    if (strcmp(path, CART_PATH) == 0) {
        out->route = RECS_ROUTE_CART;
        q->kind = RECS_QUERY_CART;
        return read_method ? parse_query(args, q) : RECS_ROUTE_BAD_METHOD;
    }
    if (!match_recommendations(path, &slug, &slug_len))
        return RECS_ROUTE_NOT_FOUND;

    out->route = RECS_ROUTE_RECOMMENDATIONS;
    if (!read_method)
        return RECS_ROUTE_BAD_METHOD;
    if (!recs_route_slug_valid(slug, slug_len))
        return RECS_ROUTE_BAD_SLUG;
    q->kind = RECS_QUERY_PRODUCT;
    memcpy(q->targets[0], slug, slug_len);
    q->target_count = 1;
    return parse_query(args, q);
}

/* ---- keys ---- */

/* Appends to a bounded buffer and counts what did not fit, like snprintf. */
struct writer {
    char *buf;
    size_t cap, len;
};

static void put(struct writer *w, const char *s, size_t n)
{
    if (w->len < w->cap) {
        size_t room = w->cap - w->len;
        memcpy(w->buf + w->len, s, n < room ? n : room);
    }
    w->len += n;
}

static void put_str(struct writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void put_uint(struct writer *w, uint32_t v)
{
    char digits[10];
    size_t n = 0;

    do {
        digits[sizeof(digits) - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(w, digits + sizeof(digits) - n, n);
}

/* "?" before the first parameter, "&" before the others. */
static void put_name(struct writer *w, bool *first, enum param p)
{
    put_str(w, *first ? "?" : "&");
    *first = false;
    put_str(w, param_names[p]);
    put_str(w, "=");
}

static void put_list(struct writer *w, bool *first, enum param p,
                     const char (*items)[RECS_SLUG_MAX + 1], size_t count)
{
    if (count == 0)
        return;
    put_name(w, first, p);
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            put_str(w, ",");
        put_str(w, items[i]);
    }
}

/* The shortest form of the grammar: "1", or "0." and the millionths without
 * trailing zeros. */
static void put_score(struct writer *w, uint32_t millionths)
{
    char digits[6];
    size_t n = sizeof(digits);

    if (millionths >= RECS_SCORE_MILLIONTHS) {
        put_str(w, "1");
        return;
    }
    for (size_t i = sizeof(digits); i > 0; i--) {
        digits[i - 1] = (char)('0' + millionths % 10);
        millionths /= 10;
    }
    while (n > 1 && digits[n - 1] == '0')
        n--;
    put_str(w, "0.");
    put(w, digits, n);
}

size_t recs_query_format_key(const struct recs_query *q, char *buf, size_t cap)
{
    struct writer w = {buf, cap, 0};
    bool first = true;

    if (q->kind == RECS_QUERY_CART) {
        put_str(&w, CART_PATH);
        put_list(&w, &first, P_PRODUCTS, q->targets, q->target_count);
    } else {
        put_str(&w, PRODUCTS_PREFIX);
        put_str(&w, q->targets[0]);
        put_str(&w, RECS_SUFFIX);
    }
    if (q->limit != RECS_LIMIT_DEFAULT) {
        put_name(&w, &first, P_LIMIT);
        put_uint(&w, q->limit);
    }
    if (q->offset != 0) {
        put_name(&w, &first, P_OFFSET);
        put_uint(&w, q->offset);
    }
    put_list(&w, &first, P_CATEGORY, q->categories, q->category_count);
    put_list(&w, &first, P_EXCLUDE, q->excludes, q->exclude_count);
    if (q->has_min_price) {
        put_name(&w, &first, P_MIN_PRICE);
        put_uint(&w, (uint32_t)q->min_price);
    }
    if (q->has_max_price) {
        put_name(&w, &first, P_MAX_PRICE);
        put_uint(&w, (uint32_t)q->max_price);
    }
    if (q->min_score != 0) {
        put_name(&w, &first, P_MIN_SCORE);
        put_score(&w, q->min_score);
    }
    if (q->max_per_category != 0) {
        put_name(&w, &first, P_MAX_PER_CATEGORY);
        put_uint(&w, q->max_per_category);
    }
    if (cap > 0)
        buf[w.len < cap ? w.len : cap - 1] = '\0';
    return w.len;
}

/* ---- headers ---- */

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

#define SLUG_RULE "1 to 128 characters of A-Z a-z 0-9 - _ ."

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
        return "invalid product slug: expected " SLUG_RULE;
    case RECS_ROUTE_NO_PRODUCTS:
        return "missing products: expected products=slug,slug,... (1 to 20 product slugs)";
    case RECS_ROUTE_BAD_PRODUCTS:
        return "invalid products: expected one list of 1 to 20 comma-separated product slugs, "
               "each " SLUG_RULE;
    case RECS_ROUTE_BAD_LIMIT:
        return "invalid limit: expected one integer from 1 to 100";
    case RECS_ROUTE_BAD_OFFSET:
        return "invalid offset: expected one integer from 0 to 10000";
    case RECS_ROUTE_BAD_CATEGORY:
        return "invalid category: expected one list of 1 to 20 comma-separated category slugs, "
               "each " SLUG_RULE;
    case RECS_ROUTE_BAD_EXCLUDE:
        return "invalid exclude: expected one list of 1 to 100 comma-separated product slugs, "
               "each " SLUG_RULE;
    case RECS_ROUTE_BAD_MIN_PRICE:
        return "invalid min_price: expected one integer from 0 to 2147483647";
    case RECS_ROUTE_BAD_MAX_PRICE:
        return "invalid max_price: expected one integer from 0 to 2147483647";
    case RECS_ROUTE_BAD_PRICE_RANGE:
        return "invalid min_price: greater than max_price";
    case RECS_ROUTE_BAD_MIN_SCORE:
        return "invalid min_score: expected one decimal from 0 to 1 with at most 6 digits "
               "after the point (0, 1, 0.05, 1.000)";
    case RECS_ROUTE_BAD_MAX_PER_CATEGORY:
        return "invalid max_per_category: expected one integer from 1 to 100";
    }
    return "bad request";
}
