/*
 * metrics.c - the process-wide counters and histograms behind /metrics.
 * Writers only do relaxed atomic updates; the renderer reads each value once
 * and derives every cumulative figure from those reads, so a scrape is
 * self-consistent (+Inf bucket == _count) even while requests are counted.
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const route_labels[RECS_ROUTE_COUNT] = {
    "recommendations", "cart", "healthz", "readyz", "metrics", "openapi", "demo", "other",
};

/* Statuses the service sends; any other is counted under code="other". */
static const unsigned status_codes[] = {200, 304, 400, 404, 405, 408, 413, 414, 431, 500, 503, 504};
#define NCODES (sizeof(status_codes) / sizeof(status_codes[0]))

static const double bucket_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))

/* Per-bucket (not cumulative) counts, the last one for values above every
 * bound: one add per observation, summed up when rendering. */
struct histogram {
    _Atomic uint64_t counts[NBUCKETS + 1];
    _Atomic uint64_t sum_ns;
};

static struct {
    _Atomic uint64_t requests[RECS_ROUTE_COUNT][NCODES + 1];
    struct histogram request_duration[RECS_ROUTE_COUNT];
    struct histogram scoring_duration;
    _Atomic uint64_t scoring_candidates;
    _Atomic uint64_t refreshes;
    _Atomic uint64_t refresh_ns;
    _Atomic uint64_t signatures_computed;
    _Atomic uint64_t signatures_reused;
    _Atomic uint64_t db_errors;
    _Atomic uint64_t overload_rejections;
    _Atomic uint64_t catalog_changes;
    _Atomic uint32_t http_connections;
    _Atomic uint32_t http_connection_limit;
} m;

/* Label values escaped once at init; 63 input bytes at most double. */
static char build_version[128];
static char build_kernel[128];
static int64_t start_time_s;

const char *recs_route_label(recs_route route)
{
    return (unsigned)route < RECS_ROUTE_COUNT ? route_labels[route] : "other";
}

static void add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static uint64_t load(_Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

/* Seconds to whole nanoseconds; NaN and negatives (a clock stepping back)
 * count as 0, absurd values saturate instead of being undefined. */
static uint64_t to_ns(double seconds)
{
    if (!(seconds > 0))
        return 0;
    if (seconds >= 1e10)
        return (uint64_t)1e19;
    return (uint64_t)(seconds * 1e9 + 0.5);
}

static void observe(struct histogram *h, double seconds)
{
    size_t i = 0;
    /* le is inclusive: a value equal to a bound belongs to that bucket. */
    while (i < NBUCKETS && !(seconds <= bucket_bounds[i]))
        i++;
    if (!(seconds > 0))
        i = 0;
    add(&h->counts[i], 1);
    add(&h->sum_ns, to_ns(seconds));
}

/* Escapes a label value per the text format (\\, \", \n) into out, never
 * splitting an escape at the end of the buffer. */
static void escape_label(const char *in, char *out, size_t out_len)
{
    size_t o = 0;
    for (size_t i = 0; in && in[i] && i < 63; i++) {
        const char *rep = in[i] == '\\'   ? "\\\\"
                          : in[i] == '"'  ? "\\\""
                          : in[i] == '\n' ? "\\n"
                                          : NULL;
        size_t n = rep ? 2 : 1;
        if (o + n >= out_len)
            break;
        if (rep)
            memcpy(out + o, rep, 2);
        else
            out[o] = in[i];
        o += n;
    }
    out[o] = '\0';
}

static void reset_histogram(struct histogram *h)
{
    for (size_t i = 0; i <= NBUCKETS; i++)
        atomic_store_explicit(&h->counts[i], 0, memory_order_relaxed);
    atomic_store_explicit(&h->sum_ns, 0, memory_order_relaxed);
}

void recs_metrics_init(const char *version, const char *kernel)
{
    struct timespec now;
    for (size_t r = 0; r < RECS_ROUTE_COUNT; r++) {
        for (size_t c = 0; c <= NCODES; c++)
            atomic_store_explicit(&m.requests[r][c], 0, memory_order_relaxed);
        reset_histogram(&m.request_duration[r]);
    }
    reset_histogram(&m.scoring_duration);
    _Atomic uint64_t *const scalars[] = {
        &m.scoring_candidates, &m.refreshes, &m.refresh_ns,          &m.signatures_computed,
        &m.signatures_reused,  &m.db_errors, &m.overload_rejections, &m.catalog_changes};
    for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++)
        atomic_store_explicit(scalars[i], 0, memory_order_relaxed);
    atomic_store_explicit(&m.http_connections, 0, memory_order_relaxed);
    atomic_store_explicit(&m.http_connection_limit, 0, memory_order_relaxed);
    escape_label(version ? version : "unknown", build_version, sizeof(build_version));
    escape_label(kernel ? kernel : "unknown", build_kernel, sizeof(build_kernel));
    start_time_s = clock_gettime(CLOCK_REALTIME, &now) == 0 ? (int64_t)now.tv_sec : 0;
}

void recs_metrics_observe_request(recs_route route, unsigned status, double seconds)
{
    size_t r = (unsigned)route < RECS_ROUTE_COUNT ? (size_t)route : RECS_ROUTE_OTHER;
    size_t c = 0;
    while (c < NCODES && status_codes[c] != status)
        c++;
    add(&m.requests[r][c], 1);
    observe(&m.request_duration[r], seconds);
}

void recs_metrics_observe_scoring(double seconds, uint64_t candidates)
{
    observe(&m.scoring_duration, seconds);
    add(&m.scoring_candidates, candidates);
}

void recs_metrics_observe_refresh(double seconds, uint64_t computed, uint64_t reused)
{
    add(&m.refreshes, 1);
    add(&m.refresh_ns, to_ns(seconds));
    add(&m.signatures_computed, computed);
    add(&m.signatures_reused, reused);
}

void recs_metrics_count_db_error(void)
{
    add(&m.db_errors, 1);
}

void recs_metrics_count_overload(void)
{
    add(&m.overload_rejections, 1);
}

void recs_metrics_count_catalog_change(void)
{
    add(&m.catalog_changes, 1);
}

void recs_metrics_set_http_connections(uint32_t open)
{
    atomic_store_explicit(&m.http_connections, open, memory_order_relaxed);
}

void recs_metrics_set_http_connection_limit(uint32_t limit)
{
    atomic_store_explicit(&m.http_connection_limit, limit, memory_order_relaxed);
}

/* ---- rendering ---- */

/* An snprintf-style builder: len counts every byte asked for, the buffer
 * keeps the prefix that fits and stays NUL-terminated. */
struct out {
    char *buf;
    size_t cap;
    size_t len;
};

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct out *o, const char *fmt, ...)
{
    va_list ap;
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    va_start(ap, fmt);
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

static void header(struct out *o, const char *name, const char *type, const char *help)
{
    emit(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Exact decimal seconds from nanoseconds: no float rounding in the output. */
static void emit_seconds(struct out *o, uint64_t ns)
{
    emit(o, "%" PRIu64 ".%09" PRIu64 "\n", ns / 1000000000u, ns % 1000000000u);
}

static void counter(struct out *o, const char *name, const char *help, _Atomic uint64_t *value)
{
    header(o, name, "counter", help);
    emit(o, "%s %" PRIu64 "\n", name, load(value));
}

static void histogram_series(struct out *o, const char *name, const char *route,
                             struct histogram *h)
{
    /* The label set before le: route="..." plus a comma, or nothing. */
    char labels[64] = "";
    uint64_t cumulative = 0;
    if (route)
        snprintf(labels, sizeof(labels), "route=\"%s\",", route);
    for (size_t i = 0; i < NBUCKETS; i++) {
        cumulative += load(&h->counts[i]);
        emit(o, "%s_bucket{%sle=\"%g\"} %" PRIu64 "\n", name, labels, bucket_bounds[i], cumulative);
    }
    cumulative += load(&h->counts[NBUCKETS]);
    emit(o, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, cumulative);
    if (route)
        emit(o, "%s_sum{route=\"%s\"} ", name, route);
    else
        emit(o, "%s_sum ", name);
    emit_seconds(o, load(&h->sum_ns));
    if (route)
        emit(o, "%s_count{route=\"%s\"} %" PRIu64 "\n", name, route, cumulative);
    else
        emit(o, "%s_count %" PRIu64 "\n", name, cumulative);
}

size_t recs_metrics_render(const struct recs_metrics_gauges *gauges, char *buf, size_t buf_len)
{
    static const struct recs_metrics_gauges none = {.cache_version = -1};
    struct out o = {buf, buf ? buf_len : 0, 0};
    const struct recs_metrics_gauges *g = gauges ? gauges : &none;

    if (o.cap > 0)
        buf[0] = '\0';

    header(&o, "recs_http_requests_total", "counter",
           "HTTP requests answered, by route and status.");
    for (size_t r = 0; r < RECS_ROUTE_COUNT; r++) {
        for (size_t c = 0; c <= NCODES; c++) {
            uint64_t v = load(&m.requests[r][c]);
            if (v == 0)
                continue;
            if (c < NCODES)
                emit(&o, "recs_http_requests_total{route=\"%s\",code=\"%u\"} %" PRIu64 "\n",
                     route_labels[r], status_codes[c], v);
            else
                emit(&o, "recs_http_requests_total{route=\"%s\",code=\"other\"} %" PRIu64 "\n",
                     route_labels[r], v);
        }
    }

    header(&o, "recs_http_request_duration_seconds", "histogram",
           "Wall time from request received to response queued, by route.");
    for (size_t r = 0; r < RECS_ROUTE_COUNT; r++)
        histogram_series(&o, "recs_http_request_duration_seconds", route_labels[r],
                         &m.request_duration[r]);

    header(&o, "recs_scoring_duration_seconds", "histogram",
           "Time spent scoring one recommendation request.");
    histogram_series(&o, "recs_scoring_duration_seconds", NULL, &m.scoring_duration);

    counter(&o, "recs_scoring_candidates_total", "Candidate products compared while scoring.",
            &m.scoring_candidates);
    counter(&o, "recs_catalog_refreshes_total",
            "Snapshot refreshes from the database (change sets and full reads).", &m.refreshes);
    header(&o, "recs_catalog_refresh_seconds_total", "counter",
           "Time spent rebuilding signature snapshots.");
    emit(&o, "recs_catalog_refresh_seconds_total ");
    emit_seconds(&o, load(&m.refresh_ns));
    counter(&o, "recs_signatures_computed_total", "Signatures computed afresh during refreshes.",
            &m.signatures_computed);
    counter(&o, "recs_signatures_reused_total",
            "Signatures reused from the previous snapshot during refreshes.", &m.signatures_reused);
    counter(&o, "recs_db_errors_total", "Failed database operations (connect or query).",
            &m.db_errors);
    counter(&o, "recs_overload_rejections_total",
            "Requests refused because the service was at its limit.", &m.overload_rejections);
    counter(
        &o, "recs_catalog_changes_total",
        "Catalog changes seen: change sets read from the database, and whole reads they asked for.",
        &m.catalog_changes);
    header(&o, "recs_http_connections", "gauge", "HTTP connections open.");
    emit(&o, "recs_http_connections %" PRIu32 "\n",
         atomic_load_explicit(&m.http_connections, memory_order_relaxed));
    header(&o, "recs_http_connections_limit", "gauge",
           "RECS_MAX_CONNECTIONS: a connection opened beyond it gets 503 and is closed.");
    emit(&o, "recs_http_connections_limit %" PRIu32 "\n",
         atomic_load_explicit(&m.http_connection_limit, memory_order_relaxed));

    header(&o, "recs_db_pool_connections", "gauge", "Database pool connections by state.");
    emit(&o, "recs_db_pool_connections{state=\"configured\"} %" PRIu32 "\n", g->db_pool_size);
    emit(&o, "recs_db_pool_connections{state=\"in_use\"} %" PRIu32 "\n", g->db_pool_in_use);
    emit(&o, "recs_db_pool_connections{state=\"connected\"} %" PRIu32 "\n", g->db_pool_connected);
    header(&o, "recs_db_up", "gauge", "1 if the last database round trip succeeded.");
    emit(&o, "recs_db_up %d\n", g->db_up ? 1 : 0);
    header(&o, "recs_inflight_requests", "gauge", "Recommendation requests being served.");
    emit(&o, "recs_inflight_requests %" PRIu32 "\n", g->inflight);
    header(&o, "recs_cache_products", "gauge", "Products in the current signature snapshot.");
    emit(&o, "recs_cache_products %" PRIu64 "\n", g->cache_products);
    header(&o, "recs_cache_version", "gauge",
           "Content version of the current snapshot (a hash of its rows), -1 if none.");
    emit(&o, "recs_cache_version %" PRId64 "\n", g->cache_version);
    header(&o, "recs_cache_bytes", "gauge", "Bytes held by the current snapshot's entries.");
    emit(&o, "recs_cache_bytes %" PRIu64 "\n", g->cache_bytes);
    header(&o, "recs_cache_delta_products", "gauge",
           "Products changed or added since the current snapshot's last full build.");
    emit(&o, "recs_cache_delta_products %" PRIu64 "\n", g->cache_delta);

    header(&o, "recs_build_info", "gauge", "Build version and hashing kernel; always 1.");
    emit(&o, "recs_build_info{version=\"%s\",kernel=\"%s\"} 1\n", build_version, build_kernel);
    header(&o, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    emit(&o, "process_start_time_seconds %" PRId64 "\n", start_time_s);
    return o.len;
}
