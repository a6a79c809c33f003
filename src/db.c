/*
 * db.c - the connection pool and the service's prepared statements.
 *
 * A fixed array of slots guarded by one mutex; a slot is either empty or
 * holds a connection. Connecting happens outside the lock. A failed connect
 * sets a short back-off during which acquires fail at once with UNAVAILABLE
 * when no connection is up, so a database outage costs a request
 * microseconds, not a connect timeout. While some connections are up, a
 * failed or backed-off connect instead waits for one of them (up to the
 * acquire timeout): a database that refuses more sessions (max_connections,
 * a role's connection limit) slows the service down, it does not fail it.
 *
 * Each statement is prepared on a connection the first time it runs there
 * (prepared statements live in the server session). Not at connect time:
 * preparing a query plans it, which waits for the locks of its tables, so a
 * table locked by a migration would make every connect fail (503 and a
 * back-off) instead of the one query timing out (504).
 *
 * An idle connection is checked before it is handed out: a session the
 * server ended while it sat in the pool (a restart, pg_terminate_backend)
 * has left a message and end-of-file to read, and is replaced at once
 * instead of failing the request. Every round trip waits on the socket with
 * a deadline of statement_timeout + QUERY_GRACE_MS: statement_timeout is
 * enforced by the server, and a server that stops answering altogether
 * (a stopped or stuck backend, a lost network) would otherwise hold the
 * request forever.
 */
#include "db.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "log.h"
#include "metrics.h"

#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 1000u
#define QUERY_GRACE_MS 1000u /* client-side wait beyond statement_timeout */

enum statement { STMT_PING, STMT_CATALOG_TRACKED, STMT_CATALOG, STMT_CHANGES };

/* The catalog's identity (see rows.h): the random epoch of
 * sql/002_catalog_changes.sql and the oids of the database and the tables,
 * which change when any of them is recreated; and when the server started.
 * A crash can take back commits that were acknowledged (synchronous_commit
 * off, or a failover to a standby that had not replayed them) and then hand
 * their transaction ids out again, which a snapshot from before the crash
 * counts as seen: after a restart nothing read before it can be trusted. */
#define IDENTITY                                                                                   \
    "concat_ws(':', v.epoch, (SELECT oid FROM pg_database WHERE datname = current_database()), "   \
    "'products'::regclass::oid, 'categories'::regclass::oid, "                                     \
    "extract(epoch FROM pg_postmaster_start_time()))"
#define PRODUCT_COLUMNS "p.slug, p.title, p.description, p.price_cents::text, c.slug"

/* Every statement that reads products returns columns id, slug, title,
 * description, price_cents, category slug, and the tracked ones a header
 * row (id NULL) with the snapshot, the identity and whether to reload. One
 * statement, so the rows and the snapshot they are read under agree. */
enum {
    COL_ID,
    COL_SLUG,
    COL_TITLE,
    COL_DESCRIPTION,
    COL_PRICE,
    COL_CATEGORY,
    COL_SNAPSHOT,
    COL_IDENTITY,
    COL_RELOAD,
    NCOLS
};

static const struct {
    const char *name, *sql;
} statements[] = {
    [STMT_PING] = {"recs_ping", "SELECT 1"},
    [STMT_CATALOG_TRACKED] =
        {"recs_catalog_tracked",
         "SELECT NULL::bigint, NULL, NULL, NULL, NULL, NULL, pg_current_snapshot()::text, " IDENTITY
         ", 'f' FROM recs_catalog_version v "
         /* names every column and table the change statement reads, so an
          * older schema counts as one without a log */
         "WHERE v.floor >= '0' AND NOT EXISTS (SELECT 1 FROM recs_catalog_changes WHERE false) "
         "UNION ALL (SELECT p.id, " PRODUCT_COLUMNS ", NULL, NULL, NULL "
         "FROM products p LEFT JOIN categories c ON c.id = p.category_id ORDER BY p.id)"},
    [STMT_CATALOG] = {"recs_catalog",
                      "SELECT p.id, " PRODUCT_COLUMNS ", NULL, NULL, NULL "
                      "FROM products p LEFT JOIN categories c ON c.id = p.category_id "
                      "ORDER BY p.id"},
    /* The log rows that snapshot $1 could not see, and the products they
     * name as they are now (a product gone has NULL columns). The OFFSET 0
     * fences keep the lookups on the indexes whatever the planner guesses
     * about the log; ids come back repeated (UNION ALL) and rows_from_result
     * drops the repeats: deduplicating in SQL built a hash table sized by
     * the planner's guess of the log (3 MB and 9 ms per refresh at 10,000
     * products, though nothing had changed). */
    [STMT_CHANGES] =
        {"recs_changes",
         "WITH prev AS (SELECT $1::pg_snapshot AS s), "
         "ch AS (SELECT c.product_id, c.category_id, c.reset FROM recs_catalog_changes c, prev "
         "WHERE c.xid >= pg_snapshot_xmin(prev.s) AND NOT pg_visible_in_snapshot(c.xid, prev.s)), "
         "ids AS (SELECT product_id AS id FROM ch WHERE product_id IS NOT NULL UNION ALL "
         "SELECT q.id FROM (SELECT DISTINCT category_id FROM ch WHERE category_id IS NOT NULL) cc, "
         "LATERAL (SELECT p.id FROM products p WHERE p.category_id = cc.category_id OFFSET 0) q) "
         "SELECT NULL::bigint, NULL, NULL, NULL, NULL, NULL, pg_current_snapshot()::text, " IDENTITY
         ", (EXISTS (SELECT 1 FROM ch WHERE reset) OR v.floor >= pg_snapshot_xmin(prev.s) "
         "OR pg_snapshot_xmax(pg_current_snapshot()) < pg_snapshot_xmax(prev.s))::text "
         "FROM recs_catalog_version v, prev "
         "UNION ALL SELECT ids.id, r.* FROM ids LEFT JOIN LATERAL (SELECT " PRODUCT_COLUMNS
         ", NULL, NULL, NULL FROM products p LEFT JOIN categories c ON c.id = p.category_id "
         "WHERE p.id = ids.id OFFSET 0) r ON true"},
};

struct recs_db_conn {
    PGconn *pg;         /* NULL while the slot is empty */
    struct recs_db *db; /* the pool it belongs to */
    unsigned prepared;  /* bit (1 << statement): prepared on this session */
    bool tracked_known; /* whether tracked has been found out */
    bool tracked;       /* the database has the change log */
    bool in_use;
    bool broken; /* a query failed in a way that leaves the session unusable */
};

struct recs_db {
    char *conninfo;
    char connect_timeout[16];
    char session_setup[128]; /* run on every new connection */
    uint32_t acquire_timeout_ms;
    uint32_t query_timeout_ms; /* client-side limit of one round trip */

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

/* Whole milliseconds from now until deadline, 0 once it has passed. */
static int ms_until(const struct timespec *deadline)
{
    struct timespec now;
    long long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000LL +
         (deadline->tv_nsec - now.tv_nsec) / 1000000L;
    return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
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

    /* the pool shares libpq between threads */
    if (opts == NULL || opts->conninfo == NULL || opts->pool_size == 0 || !PQisthreadsafe())
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
    db->query_timeout_ms = opts->statement_timeout_ms + QUERY_GRACE_MS;
    for (uint32_t i = 0; i < db->size; i++)
        db->slots[i].db = db;
    db->backoff_ms = BACKOFF_MIN_MS;
    snprintf(db->connect_timeout, sizeof(db->connect_timeout), "%u", opts->connect_timeout_s);
    /* The planner guesses the change log and a category's products far
     * larger than they are. JIT off: that guess priced the question of
     * every refresh above the JIT thresholds, and compiling it took
     * 0.3-0.4 s each time for a query that runs in half a millisecond.
     * Generic plans: against that guess a plan made for the actual
     * snapshot always looks better, so the statement was planned again
     * (about 3 ms) on every execution; the generic plan, kept on the
     * indexes by the statement's OFFSET 0 fences, runs as fast. */
    snprintf(db->session_setup, sizeof(db->session_setup),
             "SET statement_timeout = %u; SET jit = off; SET plan_cache_mode = force_generic_plan",
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

/* The result of the command just sent (sent: what PQsend* returned), as
 * PQexec would give it, waiting no longer than timeout_ms for it. NULL when
 * it could not be sent, the connection failed, or *timed_out; after a
 * timeout the session is in the middle of a command and must be dropped. */
static PGresult *await_result(PGconn *pg, int sent, uint32_t timeout_ms, bool *timed_out)
{
    struct timespec deadline = deadline_after_ms(timeout_ms);
    PGresult *last = NULL, *res;

    *timed_out = false;
    if (!sent)
        return NULL;
    for (;;) {
        while (PQisBusy(pg)) {
            struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
            int left = ms_until(&deadline), n;

            if (left == 0) {
                *timed_out = true;
                PQclear(last);
                return NULL;
            }
            n = poll(&p, 1, left);
            if (n < 0 && errno != EINTR)
                goto failed;
            /* a failed read that left the connection up: out of memory */
            if (n > 0 && !PQconsumeInput(pg) && PQstatus(pg) == CONNECTION_OK)
                goto failed;
        }
        res = PQgetResult(pg);
        if (res == NULL)
            return last;
        if (last != NULL && PQresultStatus(last) == PGRES_FATAL_ERROR) {
            PQclear(res); /* keep the first error */
        } else {
            PQclear(last);
            last = res;
        }
    }
failed:
    PQclear(last);
    return NULL;
}

/* Connects and sets the session up. Returns NULL on failure. */
static PGconn *connect_session(struct recs_db *db)
{
    /* Keywords before dbname may be overridden by the URL; connect_timeout
     * comes after it so the configured value always applies. GSS encryption
     * is off unless the URL or PGGSSENCMODE asks for it: libpq's default
     * ("prefer") asks Kerberos for credentials on every connect, which costs
     * time, and libkrb5 crashes when an allocation fails in that lookup.
     * JIT is off: the change statement's plan is generic (its snapshot is a
     * parameter), so a long change log makes it look costly enough to be
     * compiled on every run, which took 360 ms per request over 273,000
     * log rows (0.5 ms to run it). libpq ignores keywords whose value is
     * empty. */
    const char *gssencmode = getenv("PGGSSENCMODE") != NULL ? "" : "disable";
    const char *const keys[] = {
        "application_name", "keepalives", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "gssencmode", "options",         "dbname",
        "connect_timeout",  NULL};
    const char *const values[] = {
        "recs", "1", "10", "5", "3", gssencmode, "-c jit=off", db->conninfo, db->connect_timeout,
        NULL};
    PGconn *pg = PQconnectdbParams(keys, values, 1);
    PGresult *res = NULL;
    bool timed_out = false;

    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        recs_log_error("db_connect", "cannot connect to the database: %s",
                       pg ? PQerrorMessage(pg) : "out of memory");
        goto fail;
    }
    res = await_result(pg, PQsendQuery(pg, db->session_setup), db->query_timeout_ms, &timed_out);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        recs_log_error("db_connect", "setting up the session failed: %s",
                       timed_out ? "no answer in time" : PQerrorMessage(pg));
        goto fail;
    }
    PQclear(res);
    return pg;
fail:
    PQclear(res);
    PQfinish(pg);
    return NULL;
}

/* Whether an idle pooled connection can be handed out. An idle session
 * has nothing to say: anything to read (a FATAL message, end-of-file) means
 * the server has ended it. */
static bool idle_connection_usable(PGconn *pg)
{
    struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
    int n;

    if (PQstatus(pg) != CONNECTION_OK || p.fd < 0)
        return false;
    while ((n = poll(&p, 1, 0)) < 0 && errno == EINTR)
        ;
    return n == 0;
}

recs_db_status recs_db_acquire(struct recs_db *db, struct recs_db_conn **out)
{
    struct timespec deadline = deadline_after_ms(db->acquire_timeout_ms), now;
    struct recs_db_conn *slot;
    PGconn *pg;

    pthread_mutex_lock(&db->lock);
    for (;;) {
        struct timespec wait_until = deadline;
        bool backing_off;

        /* prefer a slot that is already connected */
        slot = NULL;
        for (uint32_t i = 0; i < db->size; i++) {
            struct recs_db_conn *c = &db->slots[i];
            if (!c->in_use && (slot == NULL || (slot->pg == NULL && c->pg != NULL)))
                slot = c;
        }
        /* While connecting backs off, an empty slot is taken (to fail at
         * once) only when no connection is up: the database is probably
         * down. Otherwise the database answers, and the request waits for
         * a connected slot like any other. */
        clock_gettime(CLOCK_MONOTONIC, &now);
        backing_off = time_before(&now, &db->retry_at);
        if (slot != NULL && (slot->pg != NULL || !backing_off || db->connected == 0)) {
            slot->in_use = true;
            db->in_use++;
            if (slot->pg != NULL) {
                pthread_mutex_unlock(&db->lock);
                if (idle_connection_usable(slot->pg)) {
                    *out = slot;
                    return RECS_DB_OK;
                }
                /* closed by the server while idle: replace it now */
                recs_log_info("db_reconnect", "a pooled connection was closed by the server");
                pthread_mutex_lock(&db->lock);
                pg = slot->pg;
                slot->pg = NULL;
                db->connected--;
                pthread_mutex_unlock(&db->lock);
                PQfinish(pg);
                pthread_mutex_lock(&db->lock);
                clock_gettime(CLOCK_MONOTONIC, &now);
            }
            if (!time_before(&now, &db->retry_at)) {
                pthread_mutex_unlock(&db->lock);
                pg = connect_session(db);
                pthread_mutex_lock(&db->lock);
                if (pg != NULL) {
                    db->backoff_ms = BACKOFF_MIN_MS;
                    slot->pg = pg;
                    slot->prepared = 0;
                    slot->tracked_known = false;
                    db->connected++;
                    atomic_store(&db->up, 1);
                    pthread_mutex_unlock(&db->lock);
                    *out = slot;
                    return RECS_DB_OK;
                }
                db->retry_at = deadline_after_ms(db->backoff_ms);
                db->backoff_ms =
                    db->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : db->backoff_ms * 2;
                recs_metrics_count_db_error();
            }
            /* no connection for this slot */
            slot->in_use = false;
            db->in_use--;
            pthread_cond_signal(&db->freed);
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (db->connected == 0 || !time_before(&now, &deadline)) {
                if (db->connected == 0)
                    atomic_store(&db->up, 0);
                pthread_mutex_unlock(&db->lock);
                return RECS_DB_UNAVAILABLE;
            }
            /* Other connections are up: the database refuses more sessions
             * (max_connections, a role's limit) or refused this one by
             * chance. Wait for one of the live ones. */
            continue;
        }
        if (slot != NULL && time_before(&db->retry_at, &wait_until))
            wait_until = db->retry_at; /* then an empty slot may connect */
        if (pthread_cond_timedwait(&db->freed, &db->lock, &wait_until) == ETIMEDOUT) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (time_before(&now, &deadline))
                continue;
            pthread_mutex_unlock(&db->lock);
            recs_metrics_count_overload();
            return RECS_DB_UNAVAILABLE;
        }
    }
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

/* What a failed round trip means for the client; marks the connection
 * for dropping when it cannot be trusted any more. */
static recs_db_status failed_round_trip(struct recs_db_conn *conn, const char *what, PGresult *res,
                                        bool timed_out)
{
    recs_db_status status;

    recs_metrics_count_db_error();
    if (timed_out) {
        /* the server did not even enforce its statement_timeout: the
         * session is mid-command and cannot be trusted; release drops it */
        recs_log_error("db_query", "%s failed: no answer within %u ms", what,
                       conn->db->query_timeout_ms);
        conn->broken = true;
        return RECS_DB_TIMEOUT;
    }
    status = classify_failure(conn->pg, res);
    recs_log_error("db_query", "%s failed: %s", what,
                   res ? PQresultErrorMessage(res) : PQerrorMessage(conn->pg));
    /* e.g. an admin shutdown: the session is gone even if libpq has not
     * noticed yet; release drops it and the next acquire reconnects */
    if (status == RECS_DB_UNAVAILABLE)
        conn->broken = true;
    return status;
}

/* Prepares statement s on the connection unless it already is. A missing
 * table or column (42P01, 42703) is reported through *missing_table when that is given,
 * without logging. */
static recs_db_status prepare(struct recs_db_conn *conn, enum statement s, bool *missing_table)
{
    bool timed_out;
    PGresult *res;
    recs_db_status status;

    if (conn->prepared & (1u << s))
        return RECS_DB_OK;
    res = await_result(conn->pg,
                       PQsendPrepare(conn->pg, statements[s].name, statements[s].sql, 0, NULL),
                       conn->db->query_timeout_ms, &timed_out);
    if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        conn->prepared |= 1u << s;
        return RECS_DB_OK;
    }
    if (missing_table != NULL && (sqlstate_is(res, "42P01") || sqlstate_is(res, "42703"))) {
        *missing_table = true;
        PQclear(res);
        return RECS_DB_ERROR;
    }
    status = failed_round_trip(conn, statements[s].name, res, timed_out);
    /* An error libpq made up itself (out of memory while reading the
     * answer) has no SQLSTATE: the server may well have prepared the
     * statement, and preparing it again would then fail on this session
     * for good ("already exists"), so the session is dropped. */
    if (res != NULL && PQresultErrorField(res, PG_DIAG_SQLSTATE) == NULL)
        conn->broken = true;
    PQclear(res);
    return status;
}

/* Runs statement s (preparing it first if need be) with the given text
 * parameters. */
static recs_db_status exec_statement(struct recs_db_conn *conn, enum statement s, int nparams,
                                     const char *const *params, PGresult **out)
{
    bool timed_out;
    PGresult *res;
    recs_db_status status = prepare(conn, s, NULL);

    if (status != RECS_DB_OK)
        return status;
    res = await_result(
        conn->pg, PQsendQueryPrepared(conn->pg, statements[s].name, nparams, params, NULL, NULL, 0),
        conn->db->query_timeout_ms, &timed_out);
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
        *out = res;
        return RECS_DB_OK;
    }
    status = failed_round_trip(conn, statements[s].name, res, timed_out);
    PQclear(res);
    return status;
}

static int parse_int64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    int64_t x = ((const struct recs_row *)a)->id, y = ((const struct recs_row *)b)->id;
    return (x > y) - (x < y);
}

/* Fills out from a result of one of the product statements: the header row
 * (if any) gives snapshot, identity and reload, every other row a product
 * in ascending id. Returns 0, or -1 for a malformed result or no memory. */
static int rows_from_result(PGresult *res, struct recs_rows *out)
{
    size_t n = (size_t)PQntuples(res);
    bool sorted = true;

    memset(out, 0, sizeof(*out));
    if (PQnfields(res) != NCOLS)
        return -1;
    out->rows = calloc(n ? n : 1, sizeof(*out->rows));
    if (out->rows == NULL)
        return -1;
    for (int i = 0; i < (int)n; i++) {
        struct recs_row *r = &out->rows[out->count];
        int64_t price;

        if (PQgetisnull(res, i, COL_ID)) {
            if (PQgetisnull(res, i, COL_SNAPSHOT) || PQgetisnull(res, i, COL_IDENTITY))
                goto fail;
            out->snapshot = PQgetvalue(res, i, COL_SNAPSHOT);
            out->identity = PQgetvalue(res, i, COL_IDENTITY);
            out->reload = strcmp(PQgetvalue(res, i, COL_RELOAD), "true") == 0;
            continue;
        }
        if (parse_int64(PQgetvalue(res, i, COL_ID), &r->id) != 0)
            goto fail;
        r->deleted = PQgetisnull(res, i, COL_SLUG);
        if (!r->deleted) {
            if (PQgetisnull(res, i, COL_TITLE) || PQgetisnull(res, i, COL_DESCRIPTION) ||
                parse_int64(PQgetvalue(res, i, COL_PRICE), &price) != 0 || price < INT32_MIN ||
                price > INT32_MAX)
                goto fail;
            r->price_cents = (int32_t)price;
            r->slug = PQgetvalue(res, i, COL_SLUG);
            r->title = PQgetvalue(res, i, COL_TITLE);
            r->title_len = (size_t)PQgetlength(res, i, COL_TITLE);
            r->description = PQgetvalue(res, i, COL_DESCRIPTION);
            r->description_len = (size_t)PQgetlength(res, i, COL_DESCRIPTION);
            r->category =
                PQgetisnull(res, i, COL_CATEGORY) ? NULL : PQgetvalue(res, i, COL_CATEGORY);
        }
        if (out->count > 0 && r->id <= out->rows[out->count - 1].id)
            sorted = false;
        out->count++;
    }
    /* ORDER BY inside a UNION ALL branch is kept by a serial plan, but is
     * not promised; a change set comes in any order. */
    if (!sorted)
        qsort(out->rows, out->count, sizeof(*out->rows), by_id);
    /* a change set names a product once per statement that touched it; all
     * its rows come from one snapshot, so repeats are the same row */
    size_t kept = 0;
    for (size_t i = 0; i < out->count; i++) {
        if (kept > 0 && out->rows[i].id == out->rows[kept - 1].id)
            continue;
        out->rows[kept++] = out->rows[i];
    }
    out->count = kept;
    out->owner = res;
    return 0;
fail:
    free(out->rows);
    memset(out, 0, sizeof(*out));
    return -1;
}

/* Runs a product statement into out. */
static recs_db_status read_rows(struct recs_db_conn *conn, enum statement s, int nparams,
                                const char *const *params, struct recs_rows *out)
{
    PGresult *res = NULL;
    recs_db_status status = exec_statement(conn, s, nparams, params, &res);

    if (status != RECS_DB_OK)
        return status;
    if (rows_from_result(res, out) != 0) {
        recs_log_error("db_query", "%s returned malformed rows", statements[s].name);
        PQclear(res);
        return RECS_DB_ERROR;
    }
    return RECS_DB_OK;
}

recs_db_status recs_db_load_catalog(struct recs_db_conn *conn, struct recs_rows *out)
{
    recs_db_status status;

    if (!conn->tracked_known) {
        bool missing = false;
        status = prepare(conn, STMT_CATALOG_TRACKED, &missing);
        if (status != RECS_DB_OK && !missing)
            return status;
        conn->tracked = !missing;
        conn->tracked_known = true;
    }
    status = read_rows(conn, conn->tracked ? STMT_CATALOG_TRACKED : STMT_CATALOG, 0, NULL, out);
    /* without its singleton row the log cannot be read: plain catalog */
    if (status == RECS_DB_OK && out->snapshot == NULL)
        out->identity = NULL;
    return status;
}

recs_db_status recs_db_load_changes(struct recs_db_conn *conn, const char *since,
                                    struct recs_rows *out)
{
    recs_db_status status = read_rows(conn, STMT_CHANGES, 1, &since, out);

    /* the log's singleton row is gone: the caller reads everything */
    if (status == RECS_DB_OK && out->snapshot == NULL)
        out->reload = true;
    return status;
}

void recs_db_rows_free(struct recs_rows *rows)
{
    if (rows == NULL)
        return;
    PQclear(rows->owner);
    free(rows->rows);
    memset(rows, 0, sizeof(*rows));
}

recs_db_status recs_db_ping(struct recs_db *db)
{
    struct recs_db_conn *conn = NULL;
    PGresult *res = NULL;
    recs_db_status status = recs_db_acquire(db, &conn);

    if (status != RECS_DB_OK)
        return status;
    status = exec_statement(conn, STMT_PING, 0, NULL, &res);
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
