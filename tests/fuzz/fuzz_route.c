/*
 * fuzz_route.c - libFuzzer harness for the request front end that needs no
 * network: percent-decoding, routing, slug/limit/request-id validation,
 * If-None-Match and CORS matching, traceparent, and the access-log line.
 *
 * Input: byte 0 = flags, bytes 1..8 = numbers (status, duration, bytes, and
 * the random words of a trace), then NUL-separated fields:
 *   method, raw path, limit 1, limit 2, limit 3, If-None-Match, etag,
 *   If-None-Match 2, request id, CORS allow-list, origin, allow-list 2,
 *   traceparent.
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
    F_LIMIT1,
    F_LIMIT2,
    F_LIMIT3,
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

/* ---- reference implementations, straight from API.md / route.h ---- */

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

/* "an integer 1..100 written in plain decimal digits" (leading zeros are
 * still plain decimal digits). */
static bool ref_limit(const char *s, unsigned *value)
{
    size_t n = strlen(s), i = 0;
    unsigned v = 0;
    if (n == 0)
        return false;
    for (size_t j = 0; j < n; j++)
        if (s[j] < '0' || s[j] > '9')
            return false;
    while (i < n && s[i] == '0')
        i++;
    if (n - i > 3)
        return false;
    for (; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    if (v < 1 || v > 100)
        return false;
    *value = v;
    return true;
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

static void check_slug_and_limit(const char *field)
{
    size_t n = strlen(field);
    /* Exactly n bytes, no terminator: any read past len is caught by ASan. */
    char *exact = malloc(n ? n : 1);
    unsigned limit = 12345, want = 0;
    CHECK(exact != NULL);
    memcpy(exact, field, n);
    CHECK(recs_route_slug_valid(exact, n) == ref_slug_valid(field, n));
    for (size_t cut = 0; cut < n && cut < 3; cut++)
        CHECK(recs_route_slug_valid(exact, n - cut - 1) == ref_slug_valid(field, n - cut - 1));
    free(exact);

    bool ok = recs_route_parse_limit(field, &limit);
    CHECK(ok == ref_limit(field, &want));
    if (ok)
        CHECK(limit == want && limit >= 1 && limit <= RECS_LIMIT_MAX);
    else
        CHECK(limit == 12345); /* untouched on failure */
}

static void check_route(const char *method, const char *path, const char *const *limits,
                        size_t nlimits)
{
    struct recs_request_target t;
    memset(&t, 0xa5, sizeof(t));
    recs_route_status st = recs_route_request(method, path, limits, nlimits, &t);
    bool is_get = strcmp(method, "GET") == 0, is_head = strcmp(method, "HEAD") == 0;
    static const char *const pre = "/products/", *const suf = "/recommendations";
    size_t plen = strlen(path), prelen = strlen(pre), suflen = strlen(suf);
    bool recs_shape =
        plen >= prelen + suflen && starts_with(path, pre) && strcmp(path + plen - suflen, suf) == 0;

    CHECK(st >= RECS_ROUTE_OK && st <= RECS_ROUTE_BAD_LIMIT);
    CHECK(t.route >= 0 && t.route < RECS_ROUTE_COUNT);
    CHECK(t.head == is_head);
    const char *msg = recs_route_error_message(st);
    CHECK(msg != NULL && msg[0] != '\0');

    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
        strcmp(path, "/metrics") == 0) {
        CHECK(t.route == (path[1] == 'h'   ? RECS_ROUTE_HEALTHZ
                          : path[1] == 'r' ? RECS_ROUTE_READYZ
                                           : RECS_ROUTE_METRICS));
        CHECK(st == (is_get || is_head ? RECS_ROUTE_OK : RECS_ROUTE_BAD_METHOD));
        return;
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
    if (!recs_shape) {
        CHECK(st == RECS_ROUTE_NOT_FOUND && t.route == RECS_ROUTE_OTHER);
        return;
    }

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
    /* A slug accepted by the router is valid, <= 128 bytes, and the path's. */
    CHECK(st != RECS_ROUTE_BAD_SLUG);
    CHECK(strlen(t.slug) == slug_len && slug_len <= RECS_SLUG_MAX);
    CHECK(memcmp(t.slug, slug, slug_len) == 0);
    CHECK(recs_route_slug_valid(t.slug, strlen(t.slug)));

    unsigned want = RECS_LIMIT_DEFAULT;
    bool limit_ok =
        nlimits == 0 || (nlimits == 1 && limits[0] != NULL && ref_limit(limits[0], &want));
    if (!limit_ok) {
        CHECK(st == RECS_ROUTE_BAD_LIMIT);
        return;
    }
    CHECK(st == RECS_ROUTE_OK);
    CHECK(t.limit == want && t.limit >= 1 && t.limit <= RECS_LIMIT_MAX);
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

    /* Decoding, then routing the decoded path with 0..3 limit values. */
    char *path;
    check_unescape(field[F_PATH], &path);
    const char *limits[3] = {field[F_LIMIT1], field[F_LIMIT2], field[F_LIMIT3]};
    char *dec_limits[3];
    for (int i = 0; i < 3; i++) {
        check_unescape(limits[i], &dec_limits[i]);
        limits[i] = dec_limits[i];
        check_slug_and_limit(limits[i]);
    }
    if (flags & 4)
        limits[0] = NULL; /* "?limit" without "=" */
    check_route(field[F_METHOD], path, limits, flags & 3);
    check_slug_and_limit(path);

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
    for (int i = 0; i < 3; i++)
        free(dec_limits[i]);
    for (int f = 0; f < NFIELDS; f++)
        free(copy[f]);
    return 0;
}
