/*
 * catalog.h - an immutable in-memory snapshot of the catalog: every product,
 * sorted by id, with a slug index and (optionally) its MinHash signature.
 *
 * Signatures are stored interned: for each position k, every distinct 64-bit
 * value in the catalog gets a small id (16 bits when every position has fewer
 * than 65,536 distinct values, else 32 bits). Two products agree at k exactly
 * when their ids at k are equal, so comparing two products reads 3 KB (K =
 * 1500) instead of 12 KB and stays exact. Ids only mean something inside one
 * snapshot.
 *
 * Beside the ids, a snapshot keeps an inverted index: for each position and
 * id, the products holding that id there. Scoring one target against all
 * products then costs one increment per matching (product, position) pair,
 * the sum of the target's matches, instead of n x K comparisons; when the
 * target's values are so common that this sum nears the scan, the scan is
 * used instead.
 *
 * Snapshots are reference-counted and shared by the requests reading them;
 * nothing in one changes after it is built, so readers need no lock.
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
    bool has_signature; /* false when the text has no tokens: score 0 */
    const char *slug;   /* NUL-terminated, owned by the snapshot */
    const char *title;
    const char *description;
    const char *category; /* category slug, or NULL */
};

struct recs_catalog; /* a snapshot */

/* Builds a snapshot from a result with the columns of recs_db_load_catalog
 * (id, slug, title, description, price_cents, category slug), ordered by id.
 * With signatures, every product is hashed and interned using up to threads
 * OpenMP threads; without, the snapshot holds the rows only (has_signature
 * then tells nothing: callers hash the texts themselves). When previous holds
 * exactly the same rows, its data is shared instead of rebuilt. Returns 0, or
 * -1 when memory runs out or a row is malformed. The caller owns *out. */
int recs_catalog_build(const struct recs_minhash *mh, const PGresult *rows, int64_t version,
                       bool signatures, const struct recs_catalog *previous, unsigned threads,
                       struct recs_catalog **out);

/* Reference counting: a new snapshot starts at one reference. */
void recs_catalog_ref(struct recs_catalog *catalog);
void recs_catalog_unref(struct recs_catalog *catalog);

int64_t recs_catalog_version(const struct recs_catalog *catalog);
size_t recs_catalog_count(const struct recs_catalog *catalog);
bool recs_catalog_has_signatures(const struct recs_catalog *catalog);
/* Bytes held by the snapshot's data (rows, strings, ids, index). */
size_t recs_catalog_bytes(const struct recs_catalog *catalog);
/* Products hashed when this snapshot was built (0 when its data was shared). */
size_t recs_catalog_computed(const struct recs_catalog *catalog);
/* Whether the data was shared with the previous snapshot. */
bool recs_catalog_shared(const struct recs_catalog *catalog);

/* The product at index i (0 <= i < count, ascending id). */
const struct recs_product *recs_catalog_product(const struct recs_catalog *catalog, size_t i);
/* Index of the product with this slug, or -1. */
long recs_catalog_find(const struct recs_catalog *catalog, const char *slug);

/* matches between products a and b (indexes); 0 when either has no
 * signature. Only for snapshots built with signatures. */
uint32_t recs_catalog_matches(const struct recs_catalog *catalog, const struct recs_minhash *mh,
                              size_t a, size_t b);

/* Scores every product against target for a top-`limit` ranking, with up
 * to threads OpenMP threads: afterwards matches[i] is exact for every
 * product that can be among the best `limit` (by matches, then id), and
 * for any other product a value below all of those (it may be 0). The
 * ranking taken from matches is therefore exact. Only for snapshots built
 * with signatures. Returns 0, or -1 when memory runs out. */
int recs_catalog_score_top(const struct recs_catalog *catalog, const struct recs_minhash *mh,
                           size_t target, size_t limit, unsigned threads, uint32_t *matches);

#endif
