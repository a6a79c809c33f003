/*
 * service.c - the recommendation request from database to JSON body.
 *
 * The current snapshot is a reference-counted pointer behind a mutex held
 * only to swap or take a reference; readers score it without any lock.
 *
 * Freshness is one shared step, the refresh: ask the database what changed
 * since the current snapshot (one small statement), apply that change set
 * (catalog.h: it costs what it changes) and publish the result. A request
 * may use any refresh that started after it arrived, because that refresh
 * describes the database at a moment inside the request. So one refresh
 * runs at a time, and it serves every request that arrived while the
 * previous one was in flight: under load the database sees a handful of
 * tiny statements per round trip time, and a change is fetched and applied
 * once for all the requests waiting for it. A whole new read happens only
 * at start, after a TRUNCATE or a restore, when the delta has grown large,
 * or on every refresh for a database without the change log.
 *
 * Under a memory limit every read is measured before anything is built
 * from it (budget.h): one that would not fit is refused, and requests get
 * 503 "catalog too large for the memory limit". The previous snapshot is
 * not served instead: it would be stale. A change set that would not fit
 * beside the snapshot makes that snapshot stale for good, so it is dropped
 * and everything read again, measured the same way. While refused, a
 * refresh first asks the change log whether the catalog changed since the
 * refused read (one small statement) rather than reading it all again, and
 * /readyz is 503 until a read fits.
 */
#include "service.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answers.h"
#include "budget.h"
#include "catalog.h"
#include "log.h"
#include "memory.h"
#include "metrics.h"
#include "render.h"
#include "route.h"
#include "score.h"

/* The shared refresh (see the top of the file). Refreshes are numbered in
 * the order they start; only one runs at a time. */
struct refresh_gate {
    pthread_mutex_t lock;
    pthread_cond_t finished_cond;
    uint64_t started;  /* number of the last refresh started */
    uint64_t finished; /* number of the last refresh finished; its outcome: */
    bool running;
    recs_db_status status;
};

#define TOO_LARGE_MESSAGE "catalog too large for the memory limit"

struct recs_service {
    struct recs_service_options opts;
    struct refresh_gate gate;
    struct recs_budget *budget;
    /* Under a memory limit whole reads go one at a time (load_everything). */
    pthread_mutex_t read_lock;
    size_t read_bytes, read_products; /* what the last one held before its build */
    pthread_mutex_t current_lock;
    struct recs_catalog *current; /* holds one reference; NULL before the first load */
    atomic_bool loaded;           /* a snapshot was published once: ready */
    /* Where the current snapshot stands when a refresh found nothing newer:
     * the later database snapshot it asked under, so the next question
     * covers only what came after it. NULL: the snapshot's own. Only
     * refreshes touch it, one at a time. */
    char *since;
    struct recs_answers *answers; /* rendered answers; NULL with the cache off */
    atomic_uint inflight;
    atomic_bool stopping;
};

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int recs_service_create(const struct recs_service_options *opts, struct recs_service **out)
{
    struct recs_service *svc = calloc(1, sizeof(*svc));
    int made = 0;

    if (svc == NULL)
        return -1;
    svc->opts = *opts;
    if (svc->opts.score_threads == 0)
        svc->opts.score_threads = 1;
    if (pthread_mutex_init(&svc->current_lock, NULL) != 0)
        goto fail;
    made++;
    if (pthread_mutex_init(&svc->gate.lock, NULL) != 0)
        goto fail;
    made++;
    if (pthread_cond_init(&svc->gate.finished_cond, NULL) != 0)
        goto fail;
    made++;
    if (pthread_mutex_init(&svc->read_lock, NULL) != 0)
        goto fail;
    made++;
    struct recs_budget_options budget = {.limit = opts->memory_limit};
    if (recs_budget_create(&budget, &svc->budget) != 0)
        goto fail;
    if (svc->opts.cache && svc->opts.answer_cache > 0 &&
        recs_answers_create(svc->opts.answer_cache, &svc->answers) != 0)
        goto fail;
    *out = svc;
    return 0;
fail:
    recs_budget_destroy(svc->budget);
    if (made > 3)
        pthread_mutex_destroy(&svc->read_lock);
    if (made > 2)
        pthread_cond_destroy(&svc->gate.finished_cond);
    if (made > 1)
        pthread_mutex_destroy(&svc->gate.lock);
    if (made > 0)
        pthread_mutex_destroy(&svc->current_lock);
    free(svc);
    return -1;
}

void recs_service_destroy(struct recs_service *svc)
{
    if (svc == NULL)
        return;
    recs_catalog_unref(svc->current);
    free(svc->since);
    recs_answers_destroy(svc->answers);
    recs_budget_destroy(svc->budget);
    pthread_mutex_destroy(&svc->read_lock);
    pthread_cond_destroy(&svc->gate.finished_cond);
    pthread_mutex_destroy(&svc->gate.lock);
    pthread_mutex_destroy(&svc->current_lock);
    free(svc);
}

void recs_service_stopping(struct recs_service *svc)
{
    atomic_store(&svc->stopping, true);
}

static struct recs_catalog *current_ref(struct recs_service *svc)
{
    struct recs_catalog *c;

    pthread_mutex_lock(&svc->current_lock);
    c = svc->current;
    if (c != NULL)
        recs_catalog_ref(c);
    pthread_mutex_unlock(&svc->current_lock);
    return c;
}

/* Makes c the current snapshot (taking a reference for the service). */
static void publish(struct recs_service *svc, struct recs_catalog *c)
{
    struct recs_catalog *old;

    recs_catalog_ref(c);
    pthread_mutex_lock(&svc->current_lock);
    old = svc->current;
    svc->current = c;
    pthread_mutex_unlock(&svc->current_lock);
    atomic_store(&svc->loaded, true);
    recs_catalog_unref(old);
}

/* Reads every row and builds a snapshot from them, sharing previous's data
 * when the rows are the same. The connection is released before hashing,
 * which may take long. */
static recs_db_status build_from_db(struct recs_service *svc, struct recs_db_conn *conn,
                                    const struct recs_catalog *previous, unsigned threads,
                                    struct recs_catalog **out)
{
    bool limited = svc->opts.memory_limit != 0;
    uint64_t before = limited ? recs_memory_resident() : 0, after;
    struct recs_rows rows;
    recs_db_status status = recs_db_load_catalog(conn, &rows);
    double start = now_seconds();

    recs_db_release(svc->opts.db, conn);
    if (status != RECS_DB_OK)
        return status;
    if (limited) { /* under read_lock */
        after = recs_memory_resident();
        svc->read_bytes = after > before ? (size_t)(after - before) : 0;
        svc->read_products = rows.count;
    }
    if (!recs_budget_admit(svc->budget, "the catalog", rows.count,
                           recs_catalog_estimate_bytes(
                               &rows, svc->opts.cache ? recs_minhash_k(svc->opts.mh) : 0, previous),
                           rows.snapshot, rows.identity)) {
        recs_db_rows_free(&rows);
        /* the rows were the largest allocation: back to the system, or
         * they would stay in this thread's arena */
        malloc_trim(0);
        return RECS_DB_TOO_LARGE;
    }
    if (recs_catalog_build(svc->opts.mh, &rows, svc->opts.cache, previous, threads, out) != 0) {
        recs_db_rows_free(&rows);
        recs_log_error("catalog_build", "building the catalog snapshot failed");
        return RECS_DB_ERROR;
    }
    recs_db_rows_free(&rows);
    recs_budget_clear(svc->budget);
    /* A build frees about as much as it keeps (rows, token sets, per-thread
     * scratch); hand that back rather than holding it in the allocator's
     * per-thread arenas for the life of the process. */
    if (svc->opts.cache) {
        malloc_trim(0);
        recs_metrics_observe_refresh(now_seconds() - start, recs_catalog_computed(*out),
                                     recs_catalog_shared(*out) ? recs_catalog_count(*out) : 0);
    }
    return RECS_DB_OK;
}

/* Reads everything and builds from it. Under a memory limit such reads go
 * one at a time, each first finding room for as much as the last one read:
 * the rows are in memory before their snapshot can be estimated, and with
 * the cache off every request would otherwise bring its copy at once. */
static recs_db_status load_everything(struct recs_service *svc, const struct recs_catalog *previous,
                                      unsigned threads, struct recs_catalog **out)
{
    struct recs_db_conn *conn = NULL;
    bool limited = svc->opts.memory_limit != 0;
    recs_db_status status = RECS_DB_TOO_LARGE;

    if (limited)
        pthread_mutex_lock(&svc->read_lock);
    if (!limited || recs_budget_admit(svc->budget, "a read of the catalog", svc->read_products,
                                      svc->read_bytes, NULL, NULL)) {
        status = recs_db_acquire(svc->opts.db, &conn);
        if (status == RECS_DB_OK)
            status = build_from_db(svc, conn, previous, threads, out);
    }
    if (limited)
        pthread_mutex_unlock(&svc->read_lock);
    return status;
}

/* With no snapshot since the latest read was refused: whether the catalog
 * is still the one refused and still would not fit, asked of the change
 * log rather than by reading everything again. RECS_DB_OK: read it all. */
static recs_db_status still_refused(struct recs_service *svc)
{
    struct recs_db_conn *conn = NULL;
    struct recs_rows rows;
    char *since, *identity;
    size_t estimate = 0;
    recs_db_status status;

    if (!recs_budget_refusal(svc->budget, &since, &identity, &estimate))
        return RECS_DB_OK;
    status = recs_db_acquire(svc->opts.db, &conn);
    if (status != RECS_DB_OK)
        goto out;
    status = recs_db_load_changes(conn, since, &rows);
    recs_db_release(svc->opts.db, conn);
    if (status != RECS_DB_OK)
        goto out;
    if (!rows.reload && rows.count == 0 && rows.identity != NULL &&
        strcmp(rows.identity, identity) == 0 && !recs_budget_fits(svc->budget, estimate)) {
        recs_budget_moved(svc->budget, rows.snapshot);
        status = RECS_DB_TOO_LARGE;
    }
    recs_db_rows_free(&rows);
out:
    free(since);
    free(identity);
    return status;
}

/* Brings snap up to date through its change set. *out is the new snapshot
 * (snap itself, with a reference, when nothing changed), or NULL. *rebuild
 * asks for a whole new read: needed when *out is NULL, else preferred (the
 * delta has grown large). RECS_DB_TOO_LARGE: the change set would not fit
 * beside snap. */
static recs_db_status apply_changes(struct recs_service *svc, struct recs_catalog *snap,
                                    struct recs_catalog **out, bool *rebuild)
{
    struct recs_db_conn *conn = NULL;
    struct recs_rows rows;
    recs_db_status status = recs_db_acquire(svc->opts.db, &conn);
    double start = now_seconds();
    recs_catalog_apply_status applied;
    size_t changed;

    *out = NULL;
    *rebuild = true;
    if (status != RECS_DB_OK)
        return status;
    status = recs_db_load_changes(
        conn, svc->since != NULL ? svc->since : recs_catalog_snapshot(snap), &rows);
    recs_db_release(svc->opts.db, conn);
    if (status != RECS_DB_OK)
        return status;
    if (rows.reload || rows.identity == NULL ||
        strcmp(rows.identity, recs_catalog_identity(snap)) != 0) {
        recs_metrics_count_catalog_change();
        recs_db_rows_free(&rows);
        return RECS_DB_OK;
    }
    if (rows.count == 0) { /* nothing new: keep the snapshot, now standing here */
        char *since = strdup(rows.snapshot);
        if (since != NULL) {
            free(svc->since);
            svc->since = since;
        }
        recs_db_rows_free(&rows);
        recs_catalog_ref(snap);
        *out = snap;
        *rebuild = false;
        return RECS_DB_OK;
    }
    recs_metrics_count_catalog_change();
    if (!recs_budget_admit(svc->budget, "a change set", rows.count,
                           recs_catalog_estimate_apply_bytes(snap, &rows), NULL, NULL)) {
        recs_db_rows_free(&rows);
        return RECS_DB_TOO_LARGE;
    }
    applied = recs_catalog_apply(snap, svc->opts.mh, &rows, out);
    changed = rows.count;
    recs_db_rows_free(&rows);
    if (applied == RECS_CATALOG_NO_MEMORY) {
        recs_log_error("catalog_apply", "applying a change set failed: out of memory");
        return RECS_DB_ERROR;
    }
    recs_metrics_observe_refresh(now_seconds() - start, recs_catalog_computed(*out),
                                 changed - recs_catalog_computed(*out));
    *rebuild = recs_catalog_wants_rebuild(*out);
    return RECS_DB_OK;
}

/* Drops the current snapshot (readiness stays: a catalog was loaded). */
static void unpublish(struct recs_service *svc)
{
    struct recs_catalog *old;

    pthread_mutex_lock(&svc->current_lock);
    old = svc->current;
    svc->current = NULL;
    pthread_mutex_unlock(&svc->current_lock);
    recs_catalog_unref(old);
}

/* One refresh: the current snapshot brought up to date and published. */
static recs_db_status refresh(struct recs_service *svc, unsigned threads)
{
    struct recs_catalog *snap = current_ref(svc), *next = NULL;
    recs_db_status status = RECS_DB_OK;
    bool rebuild = true, tracked = snap != NULL && recs_catalog_snapshot(snap) != NULL;

    if (tracked)
        status = apply_changes(svc, snap, &next, &rebuild);
    else if (snap == NULL)
        status = still_refused(svc);
    if (status == RECS_DB_TOO_LARGE && tracked) {
        /* a change set that does not fit beside the snapshot leaves it
         * stale for good: everything is read again, measured the same way */
        rebuild = true;
        status = RECS_DB_OK;
    }
    if (status == RECS_DB_OK && rebuild) {
        if (tracked) {
            /* A whole new read of a tracked catalog shares nothing with the
             * old copy, and every request waits for this refresh anyway:
             * let the old copies go first (the requests still scoring them
             * hold them until they finish), so that memory never holds two
             * whole catalogs. */
            recs_catalog_unref(next);
            next = NULL;
            recs_catalog_unref(snap);
            snap = NULL;
            unpublish(svc);
            malloc_trim(0);
        }
        status = load_everything(svc, snap, threads, &next);
    }
    if (status == RECS_DB_OK && next != snap) {
        free(svc->since); /* the new snapshot stands where it was read */
        svc->since = NULL;
        publish(svc, next);
    }
    if (status == RECS_DB_OK)
        recs_budget_clear(svc->budget);
    recs_catalog_unref(next);
    recs_catalog_unref(snap);
    return status;
}

/* The outcome of a refresh that started after this call began. */
static recs_db_status fresh_refresh(struct recs_service *svc, unsigned threads)
{
    struct refresh_gate *g = &svc->gate;
    uint64_t need, mine;
    recs_db_status status;

    pthread_mutex_lock(&g->lock);
    need = g->started + 1; /* the first refresh that starts after now */
    while (g->finished < need) {
        if (!g->running) {
            g->running = true;
            mine = ++g->started;
            pthread_mutex_unlock(&g->lock);
            status = refresh(svc, threads);
            pthread_mutex_lock(&g->lock);
            g->status = status;
            g->finished = mine;
            g->running = false;
            pthread_cond_broadcast(&g->finished_cond);
            break;
        }
        pthread_cond_wait(&g->finished_cond, &g->lock);
    }
    status = g->status;
    pthread_mutex_unlock(&g->lock);
    return status;
}

/* A snapshot that reflects the database as of now. With the cache off,
 * every request reads and hashes the catalog itself. The caller owns the
 * returned reference. */
static recs_db_status fresh_snapshot(struct recs_service *svc, unsigned threads,
                                     struct recs_catalog **out)
{
    recs_db_status status;

    if (!svc->opts.cache)
        return load_everything(svc, NULL, threads, out);
    /* A refresh that reads everything lets the old snapshot go first; one
     * that starts between ours and the moment we take the result leaves
     * none for a moment, and the next refresh waits for it to finish. */
    for (int attempt = 0; attempt < 3; attempt++) {
        status = fresh_refresh(svc, threads);
        if (status != RECS_DB_OK)
            return status;
        *out = current_ref(svc);
        if (*out != NULL)
            return RECS_DB_OK;
    }
    return RECS_DB_UNAVAILABLE;
}

int recs_service_error(unsigned status, const char *message, struct recs_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    reply->status = status;
    reply->retry_after = status == 503;
    reply->content_type = "application/json";
    reply->body = recs_render_error(message, &reply->len);
    return reply->body != NULL ? 0 : -1;
}

static int db_error_reply(recs_db_status status, struct recs_reply *reply)
{
    switch (status) {
    case RECS_DB_UNAVAILABLE:
        return recs_service_error(503, "database unavailable", reply);
    case RECS_DB_TIMEOUT:
        return recs_service_error(504, "database timed out", reply);
    case RECS_DB_TOO_LARGE:
        return recs_service_error(503, TOO_LARGE_MESSAGE, reply);
    default:
        return recs_service_error(500, "internal error", reply);
    }
}

static void not_modified(struct recs_reply *reply)
{
    free(reply->body);
    reply->body = NULL;
    reply->len = 0;
    reply->status = 304;
}

/* The entity tag of an answer on snap: the snapshot's version is a hash of
 * its rows, and the query's key names everything else that can change the
 * answer, so the tag is known before any scoring. */
static void answer_etag(const struct recs_catalog *snap, const char *key, size_t key_len,
                        uint32_t k, char *etag, size_t len)
{
    snprintf(etag, len, "\"v%016llx-%016llx-%u\"", (unsigned long long)recs_catalog_version(snap),
             (unsigned long long)recs_fnv1a64(key, key_len), k);
}

/* The body of query's answer on snap: the answer cache's copy, or scored
 * and rendered (and then kept). NULL when memory runs out. */
static char *answer_body(struct recs_service *svc, const struct recs_catalog *snap,
                         const struct recs_query *query, const char *key, size_t key_len,
                         const size_t *targets, size_t ntargets, const char *const *missing,
                         size_t nmissing, unsigned threads, size_t *len)
{
    struct recs_ranked ranked[RECS_LIMIT_MAX];
    uint32_t k = recs_minhash_k(svc->opts.mh);
    size_t count = 0;
    double start;
    char *body;

    if (svc->answers != NULL) {
        body = recs_answers_get(svc->answers, recs_catalog_version(snap), key, key_len, len);
        recs_metrics_count_answer(body != NULL);
        if (body != NULL)
            return body;
    }
    start = now_seconds();
    if (recs_score_page(snap, svc->opts.mh, query, targets, ntargets, threads, ranked, &count) != 0)
        return NULL;
    recs_metrics_observe_scoring(now_seconds() - start, recs_catalog_live_count(snap));
    body = query->kind == RECS_QUERY_CART
               ? recs_render_cart(snap, targets, ntargets, missing, nmissing, ranked, count, k, len)
               : recs_render_recommendations(snap, targets[0], ranked, count, k, len);
    if (body != NULL && svc->answers != NULL)
        recs_answers_put(svc->answers, recs_catalog_version(snap), key, key_len, body, *len);
    return body;
}

static int recommend(struct recs_service *svc, const struct recs_query *query,
                     const char *if_none_match, unsigned threads, struct recs_reply *reply)
{
    struct recs_catalog *snap = NULL;
    size_t targets[RECS_PRODUCTS_MAX], ntargets = 0, nmissing = 0, key_len;
    const char *missing[RECS_PRODUCTS_MAX];
    char key[RECS_QUERY_KEY_MAX];
    recs_db_status status = fresh_snapshot(svc, threads, &snap);

    if (status != RECS_DB_OK)
        return db_error_reply(status, reply);
    for (size_t i = 0; i < query->target_count; i++) {
        long found = recs_catalog_find(snap, query->targets[i]);
        if (found >= 0)
            targets[ntargets++] = (size_t)found;
        else
            missing[nmissing++] = query->targets[i];
    }
    if (ntargets == 0) {
        recs_catalog_unref(snap);
        return recs_service_error(404,
                                  query->kind == RECS_QUERY_CART ? "none of the products found"
                                                                 : "product not found",
                                  reply);
    }
    key_len = recs_query_format_key(query, key, sizeof(key));
    key_len = key_len < sizeof(key) ? key_len : sizeof(key) - 1;
    memset(reply, 0, sizeof(*reply));
    answer_etag(snap, key, key_len, recs_minhash_k(svc->opts.mh), reply->etag, sizeof(reply->etag));
    reply->content_type = "application/json";
    if (recs_route_etag_matches(if_none_match, reply->etag)) {
        recs_catalog_unref(snap);
        not_modified(reply);
        return 0;
    }
    reply->body = answer_body(svc, snap, query, key, key_len, targets, ntargets, missing, nmissing,
                              threads, &reply->len);
    recs_catalog_unref(snap);
    if (reply->body == NULL)
        return recs_service_error(500, "internal error", reply);
    reply->status = 200;
    return 0;
}

int recs_service_recommend(struct recs_service *svc, const struct recs_query *query,
                           const char *if_none_match, struct recs_reply *reply)
{
    unsigned inflight = atomic_fetch_add(&svc->inflight, 1) + 1;
    unsigned threads;
    int rc;

    if (inflight > svc->opts.max_inflight) {
        atomic_fetch_sub(&svc->inflight, 1);
        recs_metrics_count_overload();
        return recs_service_error(503, "service overloaded", reply);
    }
    /* Share the cores among the requests being scored right now: one busy
     * request gets every core, many get one each, and HTTP threads times
     * OpenMP threads never exceeds score_threads by much. */
    threads = svc->opts.score_threads / inflight;
    rc = recommend(svc, query, if_none_match, threads ? threads : 1, reply);
    atomic_fetch_sub(&svc->inflight, 1);
    return rc;
}

int recs_service_warm(struct recs_service *svc)
{
    if (!svc->opts.cache)
        return 0;
    return fresh_refresh(svc, svc->opts.score_threads) == RECS_DB_OK ? 0 : -1;
}

int recs_service_ready(struct recs_service *svc, struct recs_reply *reply)
{
    struct recs_catalog *snap = NULL;
    recs_db_status status;

    if (atomic_load(&svc->stopping))
        return recs_service_error(503, "shutting down", reply);
    status = recs_db_ping(svc->opts.db);
    if (status != RECS_DB_OK)
        return db_error_reply(status == RECS_DB_TIMEOUT ? RECS_DB_UNAVAILABLE : status, reply);
    /* Nothing can be served while the catalog does not fit; whether it
     * fits now is what a refresh finds out (cheaply: see still_refused). */
    if (recs_budget_refused(svc->budget)) {
        if (svc->opts.cache) {
            status = fresh_refresh(svc, svc->opts.score_threads);
        } else {
            status = load_everything(svc, NULL, svc->opts.score_threads, &snap);
            recs_catalog_unref(snap);
        }
        if (status != RECS_DB_OK)
            return db_error_reply(status == RECS_DB_TIMEOUT ? RECS_DB_UNAVAILABLE : status, reply);
    }
    /* A replica that would first spend seconds loading must get no traffic. */
    if (svc->opts.cache && !atomic_load(&svc->loaded))
        return recs_service_error(503, "catalog not loaded yet", reply);
    memset(reply, 0, sizeof(*reply));
    reply->status = 200;
    reply->content_type = "application/json";
    reply->body = recs_render_status("ready", &reply->len);
    return reply->body != NULL ? 0 : -1;
}

int recs_service_metrics(struct recs_service *svc, struct recs_reply *reply)
{
    struct recs_metrics_gauges g = {.cache_version = -1};
    struct recs_catalog *snap = current_ref(svc);
    size_t cap = 16384, need;

    recs_db_stats(svc->opts.db, &g.db_pool_size, &g.db_pool_in_use, &g.db_pool_connected, &g.db_up);
    g.inflight = atomic_load(&svc->inflight);
    if (snap != NULL) {
        g.cache_products = recs_catalog_live_count(snap);
        g.cache_delta = recs_catalog_delta_count(snap);
        g.cache_version = recs_catalog_version(snap);
        g.cache_bytes = recs_catalog_bytes(snap);
        recs_catalog_unref(snap);
    }
    memset(reply, 0, sizeof(*reply));
    reply->status = 200;
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
    for (int attempt = 0; attempt < 4; attempt++) {
        reply->body = malloc(cap);
        if (reply->body == NULL)
            return -1;
        need = recs_metrics_render(&g, reply->body, cap);
        if (need < cap) {
            reply->len = need;
            return 0;
        }
        free(reply->body);
        reply->body = NULL;
        cap = need + 1;
    }
    return -1;
}
