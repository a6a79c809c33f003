/*
 * fuzz_route.c - libFuzzer harness for the request front end that needs no
 * network: percent-decoding, routing, the query value of the recommendation
 * endpoints and its key, slug and request-id validation, If-None-Match and
 * CORS matching, traceparent, and the access-log line.
 *
 * Input: byte 0 = flags, bytes 1..8 = numbers (status, duration, bytes, and
 * the random words of a trace), then NUL-separated fields:
 *   method, raw path, raw query string, If-None-Match, etag,
 *   If-None-Match 2, request id, CORS allow-list, origin, allow-list 2,
 *   traceparent.
 * Flags: 4 = a 0x01 byte in a decoded query value stands for a NUL (a
 * decoded NUL the router must refuse), 8 = log the decoded path, 16 = no
 * request id, 32 and 64 as check_trace and the access line read them.
 * Every property violated aborts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "route.h"
#include "trace.h"

#include "check.h"

enum {
    F_METHOD,
    F_PATH,
    F_QUERY,
    F_INM,
    F_ETAG,
    F_INM2,
    F_REQID,
    F_ALLOW,
    F_ORIGIN,
    F_ALLOW2,
    F_TRACEPARENT,
    NFIELDS
};

static int log_fd = -1; /* stdout, redirected to an in-memory file */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* recs_log_access writes to stdout: catch it in memory (nothing reaches
     * the terminal) so each line can be checked. */
    log_fd = memfd_create("fuzz_route_stdout", 0);
    if (log_fd < 0 || dup2(log_fd, STDOUT_FILENO) < 0) {
        perror("fuzz_route: redirecting stdout");
        abort();
    }
    return 0;
}

/* ---- helpers ---- */

static char *concat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    CHECK(s != NULL);
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_space_tab(char c)
{
    return c == ' ' || c == '\t';
}

/* An etag or origin that a list item can equal exactly: non-empty, no comma,
 * no blank or comma at either end. */
static bool plain_item(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && strchr(s, ',') == NULL && !is_space_tab(s[0]) && !is_space_tab(s[n - 1]);
}

static bool slug_byte(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* ---- reference implementations, straight from docs/API.md and route.h ---- */

static int ref_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One left-to-right pass; %XX decoded unless it is %00 or malformed. */
static size_t ref_unescape(const char *in, char *out)
{
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n;) {
        if (in[i] == '%' && i + 2 < n) {
            int hi = ref_hex((unsigned char)in[i + 1]), lo = ref_hex((unsigned char)in[i + 2]);
            if (hi >= 0 && lo >= 0 && (hi != 0 || lo != 0)) {
                out[o++] = (char)(hi * 16 + lo);
                i += 3;
                continue;
            }
        }
        out[o++] = in[i++];
    }
    out[o] = '\0';
    return o;
}

static bool ref_slug_valid(const char *s, size_t len)
{
    if (len < 1 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!slug_byte(s[i]))
            return false;
    return true;
}

/* ---- the query rules of docs/API.md, written again ---- */

/* One query argument, percent-decoded; value NULL when given without "=". */
struct ref_arg {
    char *key, *value;
    size_t key_len, value_len;
};

enum {
    R_PRODUCTS,
    R_LIMIT,
    R_OFFSET,
    R_CATEGORY,
    R_EXCLUDE,
    R_MIN_PRICE,
    R_MAX_PRICE,
    R_MIN_SCORE,
    R_MAX_PER_CATEGORY,
    R_PARAMS
};
static const char *const ref_names[R_PARAMS] = {
    "products",  "limit",     "offset",    "category",         "exclude",
    "min_price", "max_price", "min_score", "max_per_category",
};

/* How many times parameter p was given; *first is its first argument. */
static size_t ref_lookup(const struct ref_arg *args, size_t n, int p, const struct ref_arg **first)
{
    size_t times = 0, name_len = strlen(ref_names[p]);
    *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (args[i].key_len == name_len && memcmp(args[i].key, ref_names[p], name_len) == 0) {
            if (times == 0)
                *first = &args[i];
            times++;
        }
    }
    return times;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > 0;
}

/* "integer lo..hi in plain decimal digits", leading zeros allowed. */
static bool ref_integer(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    if (s == NULL || !all_digits(s, n))
        return false;
    while (i + 1 < n && s[i] == '0')
        i++;
    if (n - i > 12)
        return false;
    for (; i < n; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* An integer parameter: -1 absent, 0 invalid, 1 valid (*out set). */
static int ref_int_param(const struct ref_arg *args, size_t n, int p, uint64_t lo, uint64_t hi,
                         uint64_t *out)
{
    const struct ref_arg *a;
    size_t times = ref_lookup(args, n, p, &a);
    if (times == 0)
        return -1;
    return times == 1 && ref_integer(a->value, a->value_len, lo, hi, out) ? 1 : 0;
}

/* "0", "1", "0." and 1..6 digits, "1." and 1..6 zeros; in millionths. */
static bool ref_score(const char *s, size_t n, uint32_t *out)
{
    char six[7] = "000000";
    if (s == NULL)
        return false;
    if (n == 1 && (s[0] == '0' || s[0] == '1')) {
        *out = s[0] == '1' ? 1000000u : 0u;
        return true;
    }
    if (n < 3 || n > 8 || s[1] != '.')
        return false;
    if (s[0] == '1') {
        for (size_t i = 2; i < n; i++)
            if (s[i] != '0')
                return false;
        *out = 1000000u;
        return true;
    }
    if (s[0] != '0' || !all_digits(s + 2, n - 2))
        return false;
    memcpy(six, s + 2, n - 2);
    *out = (uint32_t)strtoul(six, NULL, 10);
    return true;
}

/* Items between commas, at most max as written, each a slug; every distinct
 * item once, in first-appearance order, then sorted if sort. */
static bool ref_list(const char *s, size_t n, size_t max, bool sort,
                     char (*items)[RECS_SLUG_MAX + 1], size_t *count)
{
    size_t written = 1;
    const char *item = s, *end;

    if (s == NULL || n == 0)
        return false;
    end = s + n;
    for (size_t i = 0; i < n; i++)
        written += s[i] == ',';
    if (written > max)
        return false;
    *count = 0;
    for (;;) {
        const char *comma = memchr(item, ',', (size_t)(end - item));
        size_t len = (size_t)((comma != NULL ? comma : end) - item);
        bool seen = false;
        if (!ref_slug_valid(item, len))
            return false;
        for (size_t k = 0; k < *count; k++)
            seen = seen || (strlen(items[k]) == len && memcmp(items[k], item, len) == 0);
        if (!seen) {
            memcpy(items[*count], item, len);
            items[*count][len] = '\0';
            (*count)++;
        }
        if (comma == NULL)
            break;
        item = comma + 1;
    }
    for (size_t i = 1; sort && i < *count; i++) { /* insertion sort */
        char tmp[RECS_SLUG_MAX + 1];
        size_t j = i;
        memcpy(tmp, items[i], sizeof(tmp));
        for (; j > 0 && strcmp(items[j - 1], tmp) > 0; j--)
            memcpy(items[j], items[j - 1], sizeof(tmp));
        memcpy(items[j], tmp, sizeof(tmp));
    }
    return true;
}

static bool ref_list_param(const struct ref_arg *args, size_t n, int p, size_t max, bool sort,
                           char (*items)[RECS_SLUG_MAX + 1], size_t *count)
{
    const struct ref_arg *a;
    size_t times = ref_lookup(args, n, p, &a);
    if (times == 0)
        return true;
    return times == 1 && ref_list(a->value, a->value_len, max, sort, items, count);
}

/* What a recommendation request with a valid method (and slug) must give:
 * the status, and on success the normalized query (docs/API.md, route.h). */
static recs_route_status ref_query(const struct ref_arg *args, size_t n, const char *slug,
                                   size_t slug_len, struct recs_query *q)
{
    const struct ref_arg *a;
    uint64_t v, lo = 0, hi = 2147483647;
    int r;

    memset(q, 0, sizeof(*q));
    if (slug == NULL) {
        size_t times = ref_lookup(args, n, R_PRODUCTS, &a);
        q->kind = RECS_QUERY_CART;
        if (times == 0)
            return RECS_ROUTE_NO_PRODUCTS;
        if (times > 1 || !ref_list(a->value, a->value_len, 20, false, q->targets, &q->target_count))
            return RECS_ROUTE_BAD_PRODUCTS;
    } else {
        q->kind = RECS_QUERY_PRODUCT;
        memcpy(q->targets[0], slug, slug_len);
        q->target_count = 1;
    }
    q->limit = 10;
    if ((r = ref_int_param(args, n, R_LIMIT, 1, 100, &v)) == 0)
        return RECS_ROUTE_BAD_LIMIT;
    if (r > 0)
        q->limit = (unsigned)v;
    if ((r = ref_int_param(args, n, R_OFFSET, 0, 10000, &v)) == 0)
        return RECS_ROUTE_BAD_OFFSET;
    if (r > 0)
        q->offset = (unsigned)v;
    if (!ref_list_param(args, n, R_CATEGORY, 20, true, q->categories, &q->category_count))
        return RECS_ROUTE_BAD_CATEGORY;
    if (!ref_list_param(args, n, R_EXCLUDE, 100, true, q->excludes, &q->exclude_count))
        return RECS_ROUTE_BAD_EXCLUDE;
    if (ref_int_param(args, n, R_MIN_PRICE, 0, 2147483647, &lo) == 0)
        return RECS_ROUTE_BAD_MIN_PRICE;
    if (ref_int_param(args, n, R_MAX_PRICE, 0, 2147483647, &hi) == 0)
        return RECS_ROUTE_BAD_MAX_PRICE;
    if (lo > hi)
        return RECS_ROUTE_BAD_PRICE_RANGE;
    q->min_price = (int32_t)lo;
    q->max_price = (int32_t)hi;
    if (ref_lookup(args, n, R_MIN_SCORE, &a) > 1 ||
        (a != NULL && !ref_score(a->value, a->value_len, &q->min_score)))
        return RECS_ROUTE_BAD_MIN_SCORE;
    if ((r = ref_int_param(args, n, R_MAX_PER_CATEGORY, 1, 100, &v)) == 0)
        return RECS_ROUTE_BAD_MAX_PER_CATEGORY;
    if (r > 0)
        q->max_per_category = (unsigned)v;

    /* What cannot change the answer is stored as absent. */
    for (size_t i = 0; i < q->exclude_count;) {
        bool target = false;
        for (size_t t = 0; t < q->target_count; t++)
            target = target || strcmp(q->excludes[i], q->targets[t]) == 0;
        if (!target) {
            i++;
            continue;
        }
        memmove(q->excludes[i], q->excludes[i + 1],
                (q->exclude_count - i - 1) * sizeof(q->excludes[0]));
        q->exclude_count--;
        memset(q->excludes[q->exclude_count], 0, sizeof(q->excludes[0]));
    }
    q->has_min_price = q->min_price != 0;
    q->has_max_price = q->max_price != 2147483647;
    if (q->max_per_category >= q->offset + q->limit)
        q->max_per_category = 0;
    return RECS_ROUTE_OK;
}

static bool ref_request_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!slug_byte(s[i]) && s[i] != ':')
            return false;
    return true;
}

static bool lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* W3C Trace Context, read by fields between dashes rather than by offsets:
 * version, trace id, parent id and flags of 2, 32, 16 and 2 lowercase hex
 * digits; version 00 has exactly these four fields, a later one (not ff) may
 * have more; neither id may be all zero. */
static bool ref_traceparent(const char *s, char *trace_id, bool *sampled)
{
    static const size_t widths[4] = {2, 32, 16, 2};
    const char *field[4];
    size_t len[4], n = 0;
    const char *p = s;

    for (; n < 4; n++) {
        const char *dash = strchr(p, '-');
        field[n] = p;
        len[n] = dash != NULL ? (size_t)(dash - p) : strlen(p);
        if (len[n] != widths[n] || !lower_hex(p, len[n]))
            return false;
        if (n < 3 && dash == NULL)
            return false;
        p = dash != NULL ? dash + 1 : p + len[n];
    }
    if (strncmp(field[0], "ff", 2) == 0)
        return false;
    if (strncmp(field[0], "00", 2) == 0 && strlen(s) != 55)
        return false;
    if (strspn(field[1], "0") >= 32 || strspn(field[2], "0") >= 16)
        return false;
    memcpy(trace_id, field[1], 32);
    trace_id[32] = '\0';
    *sampled = (ref_hex((unsigned char)field[3][1]) & 1) != 0;
    return true;
}

/* The access log's escaping of a whole string: printable ASCII as it is,
 * every other byte as \xNN. */
static char *ref_printable(const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s), o = 0;
    char *out = malloc(n * 4 + 1);
    CHECK(out != NULL);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

static bool all_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* ---- the properties ---- */

static void check_unescape(const char *raw, char **decoded_out)
{
    size_t raw_len = strlen(raw);
    char *s = malloc(raw_len + 1), *ref = malloc(raw_len + 1);
    CHECK(s != NULL && ref != NULL);
    memcpy(s, raw, raw_len + 1);

    size_t n = recs_route_unescape(s);
    CHECK(n <= raw_len);   /* never lengthens */
    CHECK(strlen(s) == n); /* never a NUL inside, and the length it reports */
    CHECK(ref_unescape(raw, ref) == n && memcmp(s, ref, n) == 0);
    if (strchr(raw, '%') == NULL)
        CHECK(strcmp(s, raw) == 0);
    free(ref);
    *decoded_out = s;
}

static void check_slug(const char *field)
{
    size_t n = strlen(field);
    /* Exactly n bytes, no terminator: any read past len is caught by ASan. */
    char *exact = malloc(n ? n : 1);
    CHECK(exact != NULL);
    memcpy(exact, field, n);
    CHECK(recs_route_slug_valid(exact, n) == ref_slug_valid(field, n));
    for (size_t cut = 0; cut < n && cut < 3; cut++)
        CHECK(recs_route_slug_valid(exact, n - cut - 1) == ref_slug_valid(field, n - cut - 1));
    free(exact);
}

/* Splits a raw query string as libmicrohttpd does for recs: arguments at
 * '&', key and value at the first '=', each percent-decoded (and checked
 * against the reference decoder). With nul_marker, a 0x01 in a decoded
 * value becomes a NUL. Every key and value is its own allocation. */
static struct ref_arg *split_query(const char *raw, bool nul_marker, size_t *count)
{
    size_t n = raw[0] != '\0', len = strlen(raw);
    struct ref_arg *args;
    char *copy = malloc(len + 1), *piece;

    CHECK(copy != NULL);
    memcpy(copy, raw, len + 1);
    for (size_t i = 0; i < len; i++)
        n += raw[i] == '&';
    args = calloc(n ? n : 1, sizeof(*args));
    CHECK(args != NULL);
    piece = copy;
    for (size_t i = 0; i < n; i++) {
        char *amp = strchr(piece, '&'), *eq;
        if (amp != NULL)
            *amp = '\0';
        eq = strchr(piece, '=');
        if (eq != NULL)
            *eq = '\0';
        check_unescape(piece, &args[i].key);
        args[i].key_len = strlen(args[i].key);
        if (eq != NULL) {
            check_unescape(eq + 1, &args[i].value);
            args[i].value_len = strlen(args[i].value);
            for (size_t k = 0; nul_marker && k < args[i].value_len; k++)
                if (args[i].value[k] == '\x01')
                    args[i].value[k] = '\0';
        }
        piece = amp != NULL ? amp + 1 : piece + strlen(piece);
    }
    free(copy);
    *count = n;
    return args;
}

static void free_args(struct ref_arg *args, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(args[i].key);
        free(args[i].value);
    }
    free(args);
}

/* The start of the message of each status: a 400 names its parameter. */
static const char *message_prefix(recs_route_status st)
{
    switch (st) {
    case RECS_ROUTE_BAD_SLUG:
        return "invalid product slug: ";
    case RECS_ROUTE_NO_PRODUCTS:
        return "missing products: ";
    case RECS_ROUTE_BAD_PRODUCTS:
        return "invalid products: ";
    case RECS_ROUTE_BAD_LIMIT:
        return "invalid limit: ";
    case RECS_ROUTE_BAD_OFFSET:
        return "invalid offset: ";
    case RECS_ROUTE_BAD_CATEGORY:
        return "invalid category: ";
    case RECS_ROUTE_BAD_EXCLUDE:
        return "invalid exclude: ";
    case RECS_ROUTE_BAD_MIN_PRICE:
    case RECS_ROUTE_BAD_PRICE_RANGE:
        return "invalid min_price: ";
    case RECS_ROUTE_BAD_MAX_PRICE:
        return "invalid max_price: ";
    case RECS_ROUTE_BAD_MIN_SCORE:
        return "invalid min_score: ";
    case RECS_ROUTE_BAD_MAX_PER_CATEGORY:
        return "invalid max_per_category: ";
    default:
        return "";
    }
}

/* Feeds args (in reverse order if asked, plus an unknown argument if asked)
 * to recs_route_add_arg and routes the request. */
static recs_route_status route_args(const char *method, const char *path,
                                    const struct ref_arg *args, size_t n, bool reverse, bool extra,
                                    struct recs_request_target *t)
{
    struct recs_query_args qa;

    memset(&qa, 0, sizeof(qa));
    for (size_t i = 0; i < n; i++) {
        const struct ref_arg *a = &args[reverse ? n - 1 - i : i];
        recs_route_add_arg(&qa, a->key, a->key_len, a->value, a->value_len);
    }
    if (extra)
        recs_route_add_arg(&qa, "limits", 6, "0", 1);
    memset(t, 0xa5, sizeof(*t));
    return recs_route_request(method, path, n > 0 || extra ? &qa : NULL, t);
}

static void check_same_query(const struct recs_query *got, const struct recs_query *want)
{
    CHECK(got->kind == want->kind);
    CHECK(got->target_count == want->target_count);
    for (size_t i = 0; i < want->target_count; i++)
        CHECK(strcmp(got->targets[i], want->targets[i]) == 0);
    CHECK(got->limit == want->limit && got->offset == want->offset);
    CHECK(got->category_count == want->category_count);
    for (size_t i = 0; i < want->category_count; i++)
        CHECK(strcmp(got->categories[i], want->categories[i]) == 0);
    CHECK(got->exclude_count == want->exclude_count);
    for (size_t i = 0; i < want->exclude_count; i++)
        CHECK(strcmp(got->excludes[i], want->excludes[i]) == 0);
    CHECK(got->has_min_price == want->has_min_price && got->min_price == want->min_price);
    CHECK(got->has_max_price == want->has_max_price && got->max_price == want->max_price);
    CHECK(got->min_score == want->min_score);
    CHECK(got->max_per_category == want->max_per_category);
    /* zeroed first, then filled: equal values are equal bytes */
    CHECK(memcmp(got, want, sizeof(*got)) == 0);
}

static bool strictly_sorted(const char (*items)[RECS_SLUG_MAX + 1], size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(items[i - 1], items[i]) >= 0)
            return false;
    return true;
}

/* The bounds route.h promises, whatever the input. */
static void check_query_bounds(const struct recs_query *q)
{
    size_t max_targets = q->kind == RECS_QUERY_CART ? RECS_PRODUCTS_MAX : 1;

    CHECK(q->kind == RECS_QUERY_PRODUCT || q->kind == RECS_QUERY_CART);
    CHECK(q->target_count >= 1 && q->target_count <= max_targets);
    for (size_t i = 0; i < q->target_count; i++) {
        CHECK(recs_route_slug_valid(q->targets[i], strlen(q->targets[i])));
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(q->targets[i], q->targets[j]) != 0);
    }
    CHECK(q->limit >= 1 && q->limit <= RECS_LIMIT_MAX && q->offset <= RECS_OFFSET_MAX);
    CHECK(q->category_count <= RECS_CATEGORIES_MAX && q->exclude_count <= RECS_EXCLUDE_MAX);
    CHECK(strictly_sorted(q->categories, q->category_count));
    CHECK(strictly_sorted(q->excludes, q->exclude_count));
    for (size_t i = 0; i < q->category_count; i++)
        CHECK(recs_route_slug_valid(q->categories[i], strlen(q->categories[i])));
    for (size_t i = 0; i < q->exclude_count; i++) {
        CHECK(recs_route_slug_valid(q->excludes[i], strlen(q->excludes[i])));
        for (size_t t = 0; t < q->target_count; t++)
            CHECK(strcmp(q->excludes[i], q->targets[t]) != 0);
    }
    CHECK(q->min_price >= 0 && q->min_price <= q->max_price && q->max_price <= RECS_PRICE_MAX);
    CHECK(q->has_min_price == (q->min_price > 0));
    CHECK(q->has_max_price == (q->max_price < RECS_PRICE_MAX));
    CHECK(q->min_score <= RECS_SCORE_MILLIONTHS);
    CHECK(q->max_per_category <= RECS_PER_CATEGORY_MAX);
    CHECK(q->max_per_category == 0 || q->max_per_category < q->offset + q->limit);
}

/* The key fits RECS_QUERY_KEY_MAX, is written like snprintf, and routed
 * again gives back the same query and the same key. */
static void check_key(const struct recs_request_target *t)
{
    const struct recs_query *q = &t->query;
    size_t len = recs_query_format_key(q, NULL, 0), n;
    char *key = malloc(len + 1), *again, small[9];
    struct recs_request_target back;
    struct ref_arg *args;

    CHECK(key != NULL && len < RECS_QUERY_KEY_MAX);
    CHECK(recs_query_format_key(q, key, len + 1) == len && strlen(key) == len);
    for (size_t cap = 1; cap <= sizeof(small); cap++) {
        CHECK(recs_query_format_key(q, small, cap) == len);
        CHECK(strlen(small) == (len < cap ? len : cap - 1));
        CHECK(strncmp(small, key, strlen(small)) == 0);
    }
    CHECK(strchr(key, '%') == NULL && strchr(key, ' ') == NULL);

    char *mark = strchr(key, '?');
    if (mark != NULL)
        *mark = '\0';
    args = split_query(mark != NULL ? mark + 1 : "", false, &n);
    CHECK(route_args("GET", key, args, n, false, false, &back) == RECS_ROUTE_OK);
    CHECK(back.route == t->route);
    check_same_query(&back.query, q);
    free_args(args, n);
    if (mark != NULL)
        *mark = '?';
    again = malloc(len + 1);
    CHECK(again != NULL);
    CHECK(recs_query_format_key(&back.query, again, len + 1) == len && strcmp(again, key) == 0);
    free(again);
    free(key);
}

static void check_route(const char *method, const char *path, const struct ref_arg *args,
                        size_t nargs)
{
    struct recs_request_target t, other;
    recs_route_status st = route_args(method, path, args, nargs, false, false, &t), want;
    bool is_get = strcmp(method, "GET") == 0, is_head = strcmp(method, "HEAD") == 0;
    static const char *const pre = "/products/", *const suf = "/recommendations";
    size_t plen = strlen(path), prelen = strlen(pre), suflen = strlen(suf);
    bool recs_shape =
        plen >= prelen + suflen && starts_with(path, pre) && strcmp(path + plen - suflen, suf) == 0;
    static const struct {
        const char *path;
        recs_route route;
    } fixed[] = {{"/healthz", RECS_ROUTE_HEALTHZ},
                 {"/readyz", RECS_ROUTE_READYZ},
                 {"/metrics", RECS_ROUTE_METRICS},
                 {"/openapi.yaml", RECS_ROUTE_OPENAPI}};
    struct recs_query ref;

    CHECK(st >= RECS_ROUTE_OK && st <= RECS_ROUTE_BAD_MAX_PER_CATEGORY);
    CHECK(t.route >= 0 && t.route < RECS_ROUTE_COUNT);
    CHECK(t.head == is_head);
    const char *msg = recs_route_error_message(st);
    CHECK(msg != NULL && msg[0] != '\0');
    CHECK(starts_with(msg, message_prefix(st)));

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (strcmp(path, fixed[i].path) == 0) {
            CHECK(t.route == fixed[i].route);
            CHECK(st == (is_get || is_head ? RECS_ROUTE_OK : RECS_ROUTE_BAD_METHOD));
            return;
        }
    }
    if (starts_with(path, "/demo/") &&
        (strcmp(path, "/demo/") == 0 || strcmp(path, "/demo/index.html") == 0 ||
         strcmp(path, "/demo/app.js") == 0 || strcmp(path, "/demo/style.css") == 0)) {
        CHECK(t.route == RECS_ROUTE_DEMO && t.file != NULL);
        CHECK(strcmp(path, "/demo/") == 0 ? strcmp(t.file, "index.html") == 0
                                          : strcmp(path + 6, t.file) == 0);
        CHECK(st == (is_get || is_head ? RECS_ROUTE_OK : RECS_ROUTE_BAD_METHOD));
        return;
    }
    if (strcmp(path, "/recommendations") == 0) {
        CHECK(t.route == RECS_ROUTE_CART);
        if (!is_get && !is_head) {
            CHECK(st == RECS_ROUTE_BAD_METHOD);
            return;
        }
        want = ref_query(args, nargs, NULL, 0, &ref);
    } else if (recs_shape) {
        /* /products/{slug}/recommendations */
        const char *slug = path + prelen;
        size_t slug_len = plen - prelen - suflen;
        CHECK(t.route == RECS_ROUTE_RECOMMENDATIONS);
        if (!is_get && !is_head) {
            CHECK(st == RECS_ROUTE_BAD_METHOD);
            return;
        }
        if (!ref_slug_valid(slug, slug_len)) {
            CHECK(st == RECS_ROUTE_BAD_SLUG);
            return;
        }
        want = ref_query(args, nargs, slug, slug_len, &ref);
    } else {
        CHECK(st == RECS_ROUTE_NOT_FOUND && t.route == RECS_ROUTE_OTHER);
        return;
    }

    CHECK(st == want);
    /* The order of distinct arguments and unknown ones change nothing. */
    CHECK(route_args(method, path, args, nargs, true, true, &other) == st);
    if (st != RECS_ROUTE_OK)
        return;
    check_same_query(&t.query, &ref);
    check_query_bounds(&t.query);
    check_same_query(&other.query, &t.query);
    check_key(&t);
}

static void check_etag(const char *a, const char *b, const char *etag)
{
    bool ra = recs_route_etag_matches(a, etag), rb = recs_route_etag_matches(b, etag);

    CHECK(!recs_route_etag_matches(NULL, etag));
    /* A match needs "*" or the etag itself somewhere in the header. */
    if (ra && etag[0] != '\0')
        CHECK(strchr(a, '*') != NULL || strstr(a, etag) != NULL);
    /* A list is the union of its items: joining two headers with a comma
     * matches exactly when either does. */
    char *ab = concat3(a, ",", b);
    CHECK(recs_route_etag_matches(ab, etag) == (ra || rb));
    free(ab);
    CHECK(recs_route_etag_matches("*", etag));
    if (plain_item(etag) && !starts_with(etag, "W/")) {
        char *weak = concat3(" W/", etag, " ");
        char *list = concat3(a, ",\t", etag);
        CHECK(recs_route_etag_matches(etag, etag));
        CHECK(recs_route_etag_matches(weak, etag)); /* weak comparison */
        CHECK(recs_route_etag_matches(list, etag));
        free(weak);
        free(list);
    }
}

static void check_origin(const char *a, const char *b, const char *origin)
{
    bool ra = recs_route_origin_allowed(a, origin), rb = recs_route_origin_allowed(b, origin);

    CHECK(!recs_route_origin_allowed(NULL, origin));
    CHECK(!recs_route_origin_allowed(a, NULL));
    CHECK(!recs_route_origin_allowed(a, ""));
    CHECK(!recs_route_origin_allowed("", origin));
    CHECK(recs_route_origin_allowed("*", origin) == (origin[0] != '\0'));
    if (ra)
        CHECK(origin[0] != '\0' && (strchr(a, '*') != NULL || strstr(a, origin) != NULL));
    char *ab = concat3(a, ",", b);
    CHECK(recs_route_origin_allowed(ab, origin) == (ra || rb));
    free(ab);
    if (plain_item(origin)) {
        char *list = concat3(" , ", origin, " ,");
        CHECK(recs_route_origin_allowed(origin, origin));
        CHECK(recs_route_origin_allowed(list, origin));
        free(list);
        /* A prefix or extension of an allowed origin is not allowed. */
        char *longer = concat3(origin, "x", "");
        if (strchr(a, '*') == NULL && strstr(a, longer) == NULL)
            CHECK(!recs_route_origin_allowed(a, longer));
        free(longer);
    }
}

/* Reads back what recs_log_access wrote to stdout and empties the file. */
static char *take_stdout(size_t *len)
{
    off_t end = lseek(log_fd, 0, SEEK_END);
    CHECK(end >= 0);
    char *buf = malloc((size_t)end + 1);
    CHECK(buf != NULL);
    CHECK(pread(log_fd, buf, (size_t)end, 0) == end);
    buf[end] = '\0';
    CHECK(ftruncate(log_fd, 0) == 0 && lseek(log_fd, 0, SEEK_SET) == 0);
    *len = (size_t)end;
    return buf;
}

/* Logged text is printable ASCII, a prefix of the full escape, and whole when
 * the full escape fits in room bytes. */
static void check_logged(json_t *obj, const char *key, const char *input, size_t room)
{
    const char *got = json_string_value(json_object_get(obj, key));
    char *full = ref_printable(input);
    CHECK(got != NULL && all_printable(got));
    CHECK(strncmp(full, got, strlen(got)) == 0);
    if (strlen(full) <= room)
        CHECK(strcmp(full, got) == 0);
    free(full);
}

/* The parser equals the reference; the traceparent made from any header is a
 * valid version 00 one, in the caller's trace exactly when that was valid. */
static void check_trace(const char *value, const uint8_t *num, bool zero_random,
                        struct recs_trace *trace)
{
    char want_id[33], got_id[RECS_TRACE_ID_HEX + 1], again[RECS_TRACE_ID_HEX + 1];
    bool want_sampled = false, got_sampled = false, sampled_again = false;
    bool want = ref_traceparent(value, want_id, &want_sampled);
    uint64_t random[RECS_TRACE_RANDOM_WORDS] = {0};

    CHECK(recs_trace_parse(value, got_id, &got_sampled) == want);
    if (want)
        CHECK(strcmp(got_id, want_id) == 0 && got_sampled == want_sampled);
    if (!zero_random)
        for (size_t i = 0; i < RECS_TRACE_RANDOM_WORDS; i++)
            random[i] = (uint64_t)num[i] << (8 * i) | (uint64_t)num[7 - i] << 40;
    recs_trace_begin(trace, value, random);
    CHECK(strlen(trace->traceparent) == RECS_TRACEPARENT_LEN);
    CHECK(strncmp(trace->traceparent, "00-", 3) == 0);
    CHECK(recs_trace_parse(trace->traceparent, again, &sampled_again));
    CHECK(strcmp(again, trace->trace_id) == 0);
    CHECK(sampled_again == (want && want_sampled));
    if (want)
        CHECK(strcmp(trace->trace_id, want_id) == 0);
}

static void check_access_log(const char *method, const char *path, const char *request_id,
                             const char *trace_id, const uint8_t *num)
{
    unsigned status = 100u + num[0] % 500u;
    double duration =
        (double)((uint32_t)num[1] | (uint32_t)num[2] << 8 | (uint32_t)num[3] << 16) / 1e6;
    size_t bytes =
        (size_t)num[4] | (size_t)num[5] << 8 | (size_t)num[6] << 16 | (size_t)num[7] << 40;
    struct recs_access_entry e = {method, path, status, duration, bytes, request_id, trace_id};
    size_t len;

    recs_log_access(&e);
    char *line = take_stdout(&len);
    /* Exactly one line, whatever the client sent. */
    CHECK(len >= 2 && line[len - 1] == '\n' && memchr(line, '\n', len - 1) == NULL);
    CHECK(strlen(line) == len);

    json_error_t err;
    json_t *obj = json_loadb(line, len, 0, &err);
    CHECK(obj != NULL && json_is_object(obj));
    const char *time = json_string_value(json_object_get(obj, "time"));
    CHECK(time != NULL && strlen(time) == 24 && time[4] == '-' && time[10] == 'T' &&
          time[19] == '.' && time[23] == 'Z');
    check_logged(obj, "method", method, 31);
    check_logged(obj, "path", path, 1023);
    CHECK(json_integer_value(json_object_get(obj, "status")) == (json_int_t)status);
    CHECK(json_integer_value(json_object_get(obj, "bytes")) == (json_int_t)bytes);
    json_t *d = json_object_get(obj, "duration_ms");
    CHECK(json_is_number(d));
    double want = duration * 1000.0, got = json_number_value(d);
    CHECK(got - want <= 1e-5 * (want > 1 ? want : 1) && want - got <= 1e-5 * (want > 1 ? want : 1));
    if (request_id == NULL) {
        CHECK(json_object_get(obj, "request_id") == NULL);
    } else {
        check_logged(obj, "request_id", request_id, 0);
        /* A request id that passed validation is echoed in X-Request-Id: the
         * log must carry the same id, or the two cannot be matched up. */
        if (recs_route_request_id_valid(request_id))
            CHECK(strcmp(json_string_value(json_object_get(obj, "request_id")), request_id) == 0);
    }
    if (trace_id == NULL) {
        CHECK(json_object_get(obj, "trace_id") == NULL);
    } else {
        const char *logged = json_string_value(json_object_get(obj, "trace_id"));
        CHECK(logged != NULL && strcmp(logged, trace_id) == 0);
    }
    json_decref(obj);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *field[NFIELDS];
    char *copy[NFIELDS] = {0};
    uint8_t flags, num[8] = {0};
    size_t pos = 9;

    if (size < 1 || size > 8192)
        return 0;
    flags = data[0];
    memcpy(num, data + 1, size - 1 < 8 ? size - 1 : 8);
    for (int f = 0; f < NFIELDS; f++) {
        size_t start = pos < size ? pos : size, end = start;
        while (end < size && data[end] != 0)
            end++;
        /* Each field in its own exact-size allocation, so ASan sees any
         * read past its terminator. */
        copy[f] = malloc(end - start + 1);
        CHECK(copy[f] != NULL);
        memcpy(copy[f], data + start, end - start);
        copy[f][end - start] = '\0';
        field[f] = copy[f];
        pos = end + 1;
    }

    /* Decoding, then routing the decoded path with the query's arguments. */
    char *path;
    size_t nargs;
    check_unescape(field[F_PATH], &path);
    check_slug(path);
    struct ref_arg *args = split_query(field[F_QUERY], flags & 4, &nargs);
    check_route(field[F_METHOD], path, args, nargs);
    free_args(args, nargs);

    check_etag(field[F_INM], field[F_INM2], field[F_ETAG]);
    CHECK(recs_route_request_id_valid(field[F_REQID]) == ref_request_id_valid(field[F_REQID]));
    check_origin(field[F_ALLOW], field[F_ALLOW2], field[F_ORIGIN]);

    struct recs_trace trace;
    check_trace(field[F_TRACEPARENT], num, (flags & 32) != 0, &trace);

    /* The access line for this request: the raw path as received, and the
     * request id and trace id (NULL when flags say so). */
    check_access_log(field[F_METHOD], (flags & 8) ? path : field[F_PATH],
                     (flags & 16) ? NULL : field[F_REQID], (flags & 64) ? NULL : trace.trace_id,
                     num);

    free(path);
    for (int f = 0; f < NFIELDS; f++)
        free(copy[f]);
    return 0;
}
