/*
 * db.h - a small fixed pool of PostgreSQL connections shared by the HTTP
 * threads, and the only SQL the service runs (prepared statements, never
 * string-built SQL).
 *
 * Connections are made lazily: the service starts without a database, a
 * broken connection is dropped, and the next acquire makes a new one (with a
 * short back-off after a failed attempt, so requests fail fast with 503 while
 * the database is down instead of each waiting for a connect timeout).
 * An idle connection the server has closed is replaced when it is checked
 * out, and no round trip waits longer than statement_timeout + 1 s.
 * This is the only module that knows libpq.
 */
#ifndef RECS_DB_H
#define RECS_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "rows.h"

typedef enum {
    RECS_DB_OK = 0,
    RECS_DB_UNAVAILABLE, /* cannot reach the database, or no free connection: 503 */
    RECS_DB_TIMEOUT,     /* the statement timeout cancelled the query, or no answer
                            came within statement_timeout + 1 s: 504 */
    RECS_DB_ERROR,       /* the database reported another error: 500 */
    RECS_DB_TOO_LARGE,   /* never from this module: what was read would not fit the
                            service's memory limit, and service.c refused it: 503 */
} recs_db_status;

struct recs_db_options {
    const char *conninfo;          /* DATABASE_URL: libpq key-value string or URI */
    uint32_t pool_size;            /* connections, >= 1 */
    uint32_t connect_timeout_s;    /* libpq connect_timeout */
    uint32_t statement_timeout_ms; /* server-side statement_timeout; the client
                                      waits 1 s more for any answer */
    uint32_t acquire_timeout_ms;   /* longest wait for a free connection */
};

struct recs_db;      /* the pool */
struct recs_db_conn; /* one checked-out connection */

/* Creates the pool (no connection is made yet). Returns 0, or -1 when memory
 * runs out, the options are invalid or libpq is not thread-safe. The caller owns *out. */
int recs_db_create(const struct recs_db_options *opts, struct recs_db **out);
/* Closes every connection. All connections must have been released. */
void recs_db_destroy(struct recs_db *db);

/* Checks out a connected connection, waiting up to acquire_timeout_ms for a
 * free one. RECS_DB_UNAVAILABLE when none is free in time or the database
 * cannot be reached. On RECS_DB_OK the caller must recs_db_release it. */
recs_db_status recs_db_acquire(struct recs_db *db, struct recs_db_conn **out);
void recs_db_release(struct recs_db *db, struct recs_db_conn *conn);

/* The whole catalog in one statement, products in ascending id. With the
 * change log (sql/002_catalog_changes.sql) out->snapshot and ->identity say
 * where the read stood; without it they are NULL and the caller must read
 * the catalog on every request. On RECS_DB_OK the caller owns *out and
 * frees it with recs_db_rows_free. */
recs_db_status recs_db_load_catalog(struct recs_db_conn *conn, struct recs_rows *out);

/* The products changed since the read taken under snapshot since (a
 * recs_rows snapshot), as they are now (deleted ones flagged), with the new
 * snapshot and the identity. out->reload asks for a whole new read instead.
 * On RECS_DB_OK the caller owns *out (recs_db_rows_free). */
recs_db_status recs_db_load_changes(struct recs_db_conn *conn, const char *since,
                                    struct recs_rows *out);

/* Frees what a load returned (NULL or already freed is fine). */
void recs_db_rows_free(struct recs_rows *rows);

/* One round trip on a pooled connection: is the database answering? */
recs_db_status recs_db_ping(struct recs_db *db);

/* Pool state for /metrics. */
void recs_db_stats(struct recs_db *db, uint32_t *size, uint32_t *in_use, uint32_t *connected,
                   int *up);

#endif
