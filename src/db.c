/*
 * db.c - the connection pool and the service's prepared statements.
 *
 * A fixed array of slots guarded by one mutex; a slot is either empty or
 * holds a connection on which every statement is already prepared (prepared
 * statements live in the server session, so "connect" always means connect
 * and prepare). Connecting happens outside the lock. A failed connect sets a
 * short back-off during which acquires fail at once with UNAVAILABLE, so a
 * database outage costs a request microseconds, not a connect timeout.
 */
#include "db.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 1000u

static const char SQL_PING[] = "SELECT 1";
static const char SQL_VERSION[] = "SELECT version FROM recs_catalog_version";
static const char SQL_CATALOG[] =
    "SELECT p.id, p.slug, p.title, p.description, p.price_cents, c.slug "
    "FROM products p LEFT JOIN categories c ON c.id = p.category_id ORDER BY p.id";

struct recs_db_conn {
    PGconn *pg;       /* NULL while the slot is empty */
    bool has_version; /* the database has recs_catalog_version */
    bool in_use;
    bool broken; /* a query failed in a way that leaves the session unusable */
};

struct recs_db {
    char *conninfo;
    char connect_timeout[16];
    char statement_timeout[48];
    uint32_t acquire_timeout_ms;

    pthread_mutex_t lock;
    pthread_cond_t freed; /* a slot was released */
    struct recs_db_conn *slots;
    uint32_t size, in_use, connected;
    struct timespec retry_at; /* no connect attempt before this (CLOCK_MONOTONIC) */
    uint32_t backoff_ms;
    atomic_int up;
};

static struct timespec deadline_after_ms(uint32_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static bool time_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

int recs_db_create(const struct recs_db_options *opts, struct recs_db **out)
{
    struct recs_db *db = NULL;
    pthread_condattr_t attr;
    bool lock_made = false;

    if (opts == NULL || opts->conninfo == NULL || opts->pool_size == 0)
        return -1;
    db = calloc(1, sizeof(*db));
    if (db == NULL)
        goto fail;
    db->conninfo = strdup(opts->conninfo);
    db->slots = calloc(opts->pool_size, sizeof(*db->slots));
    if (db->conninfo == NULL || db->slots == NULL)
        goto fail;
    db->size = opts->pool_size;
    db->acquire_timeout_ms = opts->acquire_timeout_ms;
    db->backoff_ms = BACKOFF_MIN_MS;
    snprintf(db->connect_timeout, sizeof(db->connect_timeout), "%u", opts->connect_timeout_s);
    snprintf(db->statement_timeout, sizeof(db->statement_timeout), "SET statement_timeout = %u",
             opts->statement_timeout_ms);
    if (pthread_mutex_init(&db->lock, NULL) != 0)
        goto fail;
    lock_made = true;
    if (pthread_condattr_init(&attr) != 0)
        goto fail;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (pthread_cond_init(&db->freed, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        goto fail;
    }
    pthread_condattr_destroy(&attr);
    *out = db;
    return 0;
fail:
    if (db != NULL) {
        if (lock_made)
            pthread_mutex_destroy(&db->lock);
        free(db->slots);
        free(db->conninfo);
        free(db);
    }
    return -1;
}

void recs_db_destroy(struct recs_db *db)
{
    if (db == NULL)
        return;
    for (uint32_t i = 0; i < db->size; i++) {
        if (db->slots[i].pg != NULL)
            PQfinish(db->slots[i].pg);
    }
    pthread_cond_destroy(&db->freed);
    pthread_mutex_destroy(&db->lock);
    free(db->slots);
    free(db->conninfo);
    free(db);
}

static bool sqlstate_is(const PGresult *res, const char *prefix)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state != NULL && strncmp(state, prefix, strlen(prefix)) == 0;
}

/* Maps a failed result onto what the client should see. */
static recs_db_status classify_failure(PGconn *pg, const PGresult *res)
{
    if (res == NULL || PQstatus(pg) != CONNECTION_OK)
        return RECS_DB_UNAVAILABLE;
    if (sqlstate_is(res, "57014")) /* query_canceled: statement_timeout */
        return RECS_DB_TIMEOUT;
    /* connection exceptions, shutdowns, "cannot connect now", out of resources */
    if (sqlstate_is(res, "08") || sqlstate_is(res, "57P") || sqlstate_is(res, "53"))
        return RECS_DB_UNAVAILABLE;
    return RECS_DB_ERROR;
}

static bool prepare(PGconn *pg, const char *name, const char *sql, bool *missing_table)
{
    PGresult *res = PQprepare(pg, name, sql, 0, NULL);
    bool ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;

    if (missing_table != NULL)
        *missing_table = !ok && sqlstate_is(res, "42P01");
    if (!ok && (missing_table == NULL || !*missing_table))
        recs_log_error("db_prepare", "preparing %s failed: %s", name,
                       res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
    PQclear(res);
    return ok;
}

/* Connects and prepares every statement. Returns NULL on failure. */
static PGconn *connect_and_prepare(struct recs_db *db, bool *has_version)
{
    /* Keywords before dbname may be overridden by the URL; connect_timeout
     * comes after it so the configured value always applies. */
    const char *const keys[] = {"application_name", "keepalives", "keepalives_idle",
                                "keepalives_interval", "keepalives_count", "dbname",
                                "connect_timeout", NULL};
    const char *const values[] = {"recs", "1", "10", "5", "3", db->conninfo,
                                  db->connect_timeout, NULL};
    PGconn *pg = PQconnectdbParams(keys, values, 1);
    PGresult *res = NULL;
    bool missing = false;

    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        recs_log_error("db_connect", "cannot connect to the database: %s",
                       pg ? PQerrorMessage(pg) : "out of memory");
        goto fail;
    }
    res = PQexec(pg, db->statement_timeout);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        recs_log_error("db_connect", "setting statement_timeout failed: %s",
                       PQerrorMessage(pg));
        goto fail;
    }
    PQclear(res);
    res = NULL;
    if (!prepare(pg, "recs_ping", SQL_PING, NULL) ||
        !prepare(pg, "recs_catalog", SQL_CATALOG, NULL))
        goto fail;
    *has_version = prepare(pg, "recs_version", SQL_VERSION, &missing);
    if (!*has_version && !missing)
        goto fail;
    return pg;
fail:
    PQclear(res);
    PQfinish(pg);
    return NULL;
}

recs_db_status recs_db_acquire(struct recs_db *db, struct recs_db_conn **out)
{
    struct timespec deadline = deadline_after_ms(db->acquire_timeout_ms), now;
    struct recs_db_conn *slot = NULL;
    PGconn *pg;
    bool has_version = false;

    pthread_mutex_lock(&db->lock);
    while (slot == NULL) {
        /* prefer a slot that is already connected */
        for (uint32_t i = 0; i < db->size; i++) {
            struct recs_db_conn *c = &db->slots[i];
            if (!c->in_use && (slot == NULL || (slot->pg == NULL && c->pg != NULL)))
                slot = c;
        }
        if (slot != NULL)
            break;
        if (pthread_cond_timedwait(&db->freed, &db->lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&db->lock);
            recs_metrics_count_overload();
            return RECS_DB_UNAVAILABLE;
        }
    }
    slot->in_use = true;
    db->in_use++;
    if (slot->pg != NULL) {
        pthread_mutex_unlock(&db->lock);
        *out = slot;
        return RECS_DB_OK;
    }

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (time_before(&now, &db->retry_at))
        goto unavailable;
    pthread_mutex_unlock(&db->lock);
    pg = connect_and_prepare(db, &has_version);
    pthread_mutex_lock(&db->lock);
    if (pg == NULL) {
        db->retry_at = deadline_after_ms(db->backoff_ms);
        db->backoff_ms = db->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : db->backoff_ms * 2;
        recs_metrics_count_db_error();
        goto unavailable;
    }
    db->backoff_ms = BACKOFF_MIN_MS;
    slot->pg = pg;
    slot->has_version = has_version;
    db->connected++;
    atomic_store(&db->up, 1);
    pthread_mutex_unlock(&db->lock);
    *out = slot;
    return RECS_DB_OK;

unavailable:
    slot->in_use = false;
    db->in_use--;
    atomic_store(&db->up, 0);
    pthread_cond_signal(&db->freed);
    pthread_mutex_unlock(&db->lock);
    return RECS_DB_UNAVAILABLE;
}

void recs_db_release(struct recs_db *db, struct recs_db_conn *conn)
{
    PGconn *dead = NULL;

    pthread_mutex_lock(&db->lock);
    /* A connection that broke, or was left inside a transaction, is not
     * handed to the next request. */
    if (conn->pg != NULL && (conn->broken || PQstatus(conn->pg) != CONNECTION_OK ||
                             PQtransactionStatus(conn->pg) != PQTRANS_IDLE)) {
        dead = conn->pg;
        conn->pg = NULL;
        conn->broken = false;
        db->connected--;
        atomic_store(&db->up, 0);
    }
    conn->in_use = false;
    db->in_use--;
    pthread_cond_signal(&db->freed);
    pthread_mutex_unlock(&db->lock);
    PQfinish(dead);
}

/* Runs a prepared statement. On failure the connection is marked for
 * dropping when the failure means it cannot be trusted any more. */
static recs_db_status exec_prepared(struct recs_db_conn *conn, const char *name, PGresult **out)
{
    PGresult *res = PQexecPrepared(conn->pg, name, 0, NULL, NULL, NULL, 0);
    recs_db_status status;

    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
        *out = res;
        return RECS_DB_OK;
    }
    status = classify_failure(conn->pg, res);
    recs_log_error("db_query", "%s failed: %s", name,
                   res ? PQresultErrorMessage(res) : PQerrorMessage(conn->pg));
    recs_metrics_count_db_error();
    PQclear(res);
    /* e.g. an admin shutdown: the session is gone even if libpq has not
     * noticed yet; release drops it and the next acquire reconnects */
    if (status == RECS_DB_UNAVAILABLE)
        conn->broken = true;
    return status;
}

recs_db_status recs_db_catalog_version(struct recs_db_conn *conn, int64_t *version,
                                       bool *supported)
{
    PGresult *res = NULL;
    recs_db_status status;

    *supported = conn->has_version;
    if (!conn->has_version)
        return RECS_DB_OK;
    status = exec_prepared(conn, "recs_version", &res);
    if (status != RECS_DB_OK)
        return status;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        *supported = false; /* the singleton row was removed: fall back */
        return RECS_DB_OK;
    }
    *version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return RECS_DB_OK;
}

recs_db_status recs_db_load_catalog(struct recs_db_conn *conn, PGresult **result)
{
    return exec_prepared(conn, "recs_catalog", result);
}

recs_db_status recs_db_ping(struct recs_db *db)
{
    struct recs_db_conn *conn = NULL;
    PGresult *res = NULL;
    recs_db_status status = recs_db_acquire(db, &conn);

    if (status != RECS_DB_OK)
        return status;
    status = exec_prepared(conn, "recs_ping", &res);
    PQclear(res);
    atomic_store(&db->up, status == RECS_DB_OK);
    recs_db_release(db, conn);
    return status;
}

void recs_db_stats(struct recs_db *db, uint32_t *size, uint32_t *in_use, uint32_t *connected,
                   int *up)
{
    pthread_mutex_lock(&db->lock);
    *size = db->size;
    *in_use = db->in_use;
    *connected = db->connected;
    pthread_mutex_unlock(&db->lock);
    *up = atomic_load(&db->up);
}
