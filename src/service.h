/*
 * service.h - answers the service's questions: recommendations for a slug,
 * readiness, metrics. It ties the database pool, the catalog snapshot and the
 * scorer together and knows nothing about HTTP: every answer is a status and
 * a JSON (or text) body.
 *
 * With the cache on and the database carrying recs_catalog_version, a request
 * costs one tiny query ("which version?") and the snapshot is rebuilt only
 * when the version moved. Without the version table the catalog is read on
 * every request and unchanged products keep their signatures. With the cache
 * off every request reads the catalog and hashes every product afresh.
 */
#ifndef RECS_SERVICE_H
#define RECS_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "minhash.h"
#include "route.h"

struct recs_service_options {
    struct recs_db *db;      /* borrowed: must outlive the service */
    struct recs_minhash *mh; /* borrowed */
    bool cache;              /* keep the snapshot between requests */
    unsigned score_threads;  /* largest OpenMP team for one request */
    unsigned max_inflight;   /* recommendation requests at once; more get 503 */
    unsigned answer_cache;   /* rendered answers kept (answers.h); 0: none */
    uint64_t memory_limit;   /* bytes the process may hold (memory.h); 0 = no limit */
};

/* A response: HTTP status and a malloc'd body the caller frees. retry_after
 * is set for 503s. */
struct recs_reply {
    unsigned status;
    char *body; /* NULL for 304 */
    size_t len;
    bool retry_after;
    const char *content_type;
    char etag[64]; /* "" when the reply has none */
};

struct recs_service;

int recs_service_create(const struct recs_service_options *opts, struct recs_service **out);
void recs_service_destroy(struct recs_service *svc);

/* GET /products/{slug}/recommendations and GET /recommendations?products=
 * for a routed, validated query (route.h). A 200 carries an ETag from the
 * snapshot's version, the query's key and K; when if_none_match (may be
 * NULL) matches it, the reply is a 304 without body and nothing is scored.
 * Returns 0 with *reply filled, or -1 when not even an error body could be
 * made (out of memory). */
int recs_service_recommend(struct recs_service *svc, const struct recs_query *query,
                           const char *if_none_match, struct recs_reply *reply);

/* GET /readyz: 200 when the database answers and, with the cache on, a
 * catalog snapshot is loaded; else 503. */
int recs_service_ready(struct recs_service *svc, struct recs_reply *reply);

/* GET /metrics */
int recs_service_metrics(struct recs_service *svc, struct recs_reply *reply);

/* An error reply with {"error": message}. */
int recs_service_error(unsigned status, const char *message, struct recs_reply *reply);

/* Loads the catalog snapshot ahead of the first request (no-op with the
 * cache off). Returns 0, or -1 if the database could not be read. */
int recs_service_warm(struct recs_service *svc);

/* Marks the service as stopping: /readyz answers 503 from now on. */
void recs_service_stopping(struct recs_service *svc);

#endif
