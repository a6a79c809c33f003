/*
 * rows.h - catalog rows as plain C values: what the database module reads
 * and the catalog module builds snapshots from. Neither side needs to know
 * the other: db.c decides the SQL and the column order, catalog.c sees only
 * these structs.
 */
#ifndef RECS_ROWS_H
#define RECS_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One product as stored. Strings are NUL-terminated and owned by the
 * recs_rows they came in. */
struct recs_row {
    int64_t id;
    int32_t price_cents;
    bool deleted;      /* in a change set: the product no longer exists */
    const char *slug;  /* NULL when deleted */
    const char *title; /* NULL when deleted */
    const char *description;
    const char *category; /* category slug, or NULL when the product has none */
    size_t title_len, description_len;
};

/* A set of rows read in one statement: the whole catalog, or the products
 * changed since an earlier read. */
struct recs_rows {
    struct recs_row *rows; /* ascending id, each id once */
    size_t count;
    /* Where the read stood, for asking what changed since: the database
     * snapshot it was taken under, and the catalog's identity (a database
     * recreated or restored has another). NULL when the database has no
     * change log (sql/002_catalog_changes.sql). */
    const char *snapshot;
    const char *identity;
    /* A change set that cannot be applied row by row (a TRUNCATE, a
     * trimmed log, a database whose history went back): read everything. */
    bool reload;
    void *owner; /* what the strings live in; see recs_db_rows_free */
};

#endif
