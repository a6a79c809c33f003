/*
 * catalog.h - an immutable in-memory snapshot of the catalog: every product
 * with its packed MinHash signature, sorted by id, with a slug index.
 *
 * A snapshot is built from the rows of one catalog query. Building it from a
 * previous snapshot reuses every product whose row is byte-for-byte the same
 * (slug, title, description, price, category), so after a small change only
 * the changed products are hashed again. Products are reference-counted and
 * shared between snapshots; snapshots are reference-counted and shared
 * between the requests that read them. Nothing in a snapshot changes after
 * it is built, so readers need no lock.
 */
#ifndef RECS_CATALOG_H
#define RECS_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "minhash.h"

struct recs_product {
    int64_t id;
    int32_t price_cents;
    bool has_signature;   /* false when the text has no tokens: score 0 */
    const char *slug;     /* all strings NUL-terminated, owned by the product */
    const char *title;
    const char *description;
    const char *category; /* category slug, or NULL */
    const unsigned char *signature; /* packed, RECS_SIG_BYTES(K) bytes */
};

struct recs_catalog; /* a snapshot */

/* Builds a snapshot from a result with the columns of recs_db_load_catalog,
 * ordered by id. previous (may be NULL) lends unchanged products.
 * Signatures are computed with up to threads OpenMP threads. Returns 0, or
 * -1 when memory runs out or a row is malformed. The caller owns *out. */
int recs_catalog_build(const struct recs_minhash *mh, const PGresult *rows, int64_t version,
                       const struct recs_catalog *previous, unsigned threads,
                       struct recs_catalog **out);

/* Reference counting: a new snapshot starts at one reference. */
void recs_catalog_ref(struct recs_catalog *catalog);
void recs_catalog_unref(struct recs_catalog *catalog);

int64_t recs_catalog_version(const struct recs_catalog *catalog);
size_t recs_catalog_count(const struct recs_catalog *catalog);
/* Bytes held by the products (strings and signatures). */
size_t recs_catalog_bytes(const struct recs_catalog *catalog);
/* Signatures computed afresh / reused from the previous snapshot at build. */
size_t recs_catalog_computed(const struct recs_catalog *catalog);
size_t recs_catalog_reused(const struct recs_catalog *catalog);

/* The product at index i (0 <= i < count, ascending id). */
const struct recs_product *recs_catalog_product(const struct recs_catalog *catalog, size_t i);
/* Index of the product with this slug, or -1. */
long recs_catalog_find(const struct recs_catalog *catalog, const char *slug);

#endif
