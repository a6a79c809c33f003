/*
 * metrics.h - process-wide counters and histograms, rendered in the
 * Prometheus text exposition format 0.0.4. Every update is one relaxed
 * atomic operation, so the HTTP threads never take a lock to count.
 */
#ifndef RECS_METRICS_H
#define RECS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route.h" /* recs_route */

/* The label of a route in recs_http_requests_total{route="..."}. */
const char *recs_route_label(recs_route route);

/* Gauges that other modules own; metrics asks for them when rendering. */
struct recs_metrics_gauges {
    uint32_t db_pool_size;      /* connections configured */
    uint32_t db_pool_in_use;    /* checked out right now */
    uint32_t db_pool_connected; /* slots holding a live connection */
    uint32_t inflight;          /* recommendation requests being served */
    uint64_t cache_products;    /* products in the current snapshot */
    int64_t cache_version;      /* catalog version of the snapshot, -1 if none */
    uint64_t cache_bytes;       /* bytes held by the snapshot's entries */
    uint64_t cache_delta;       /* products changed since the snapshot's last build */
    int db_up;                  /* 1 if the last database round trip succeeded */
};

/* Initialise once at start-up, before any thread counts. kernel and version
 * label recs_build_info. */
void recs_metrics_init(const char *version, const char *kernel);

/* One finished HTTP request: its route, status and wall time. */
void recs_metrics_observe_request(recs_route route, unsigned status, double seconds);
/* Time spent scoring one request (signatures + comparison + ranking), and
 * how many candidates it compared. */
void recs_metrics_observe_scoring(double seconds, uint64_t candidates);
/* The snapshot was brought up to date from the database, by a change set
 * or a whole read (seconds it took, signatures computed afresh versus
 * reused from the previous snapshot). */
void recs_metrics_observe_refresh(double seconds, uint64_t computed, uint64_t reused);
/* A database operation failed (connect, query). */
void recs_metrics_count_db_error(void);
/* A request was refused because the service was at its limit. */
void recs_metrics_count_overload(void);
/* A recommendation answer was taken from the answer cache (hit) or had
 * to be scored and rendered. */
void recs_metrics_count_answer(bool hit);
/* A refresh found the catalog changed (a change set with rows, or one
 * asking for a whole new read). */
void recs_metrics_count_catalog_change(void);
/* HTTP connections open now, and RECS_MAX_CONNECTIONS. */
void recs_metrics_set_http_connections(uint32_t open);
void recs_metrics_set_http_connection_limit(uint32_t limit);

/* Renders everything into buf (NUL-terminated). Returns the length written,
 * or the length needed (>= buf_len) if buf was too small, like snprintf. */
size_t recs_metrics_render(const struct recs_metrics_gauges *gauges, char *buf, size_t buf_len);

#endif
