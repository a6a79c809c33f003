/*
 * catalog.h - immutable in-memory snapshots of the catalog: every product
 * with a slug index and (optionally) its MinHash signature, built from plain
 * rows (rows.h) and brought up to date by applying change sets.
 *
 * Signatures are stored interned: for each position k, every distinct 64-bit
 * value in the catalog gets a small id, stored in 8 bits (16 or 32 when too
 * many would not fit; the few that do not are escaped, catalog_private.h).
 * Two products agree at k exactly when their ids at k are equal, so
 * comparing two products reads 1.5 KB (K = 1500) instead of 12 KB and
 * stays exact. Beside the ids, a snapshot keeps an
 * inverted index: for each position and id, the products holding that id
 * there (scoring uses it, see score.h).
 *
 * Applying a change set costs what it changes: a product whose text did not
 * change keeps its ids (a price change hashes nothing), a changed text is
 * signed once, and everything else is shared with the previous snapshot
 * (catalog_private.h says how). Snapshots are reference-counted and shared
 * by the requests reading them; nothing in one changes after it is made, so
 * readers need no lock.
 */
#ifndef RECS_CATALOG_H
#define RECS_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minhash.h"
#include "rows.h"

struct recs_product {
    int64_t id;
    int32_t price_cents;
    bool has_signature; /* false when the text has no tokens: score 0 */
    const char *slug;   /* NUL-terminated, owned by the snapshot */
    const char *title;
    const char *description;
    const char *category; /* category slug, or NULL */
    size_t title_len, description_len;
};

struct recs_catalog; /* a snapshot */

/* Builds a snapshot from rows (ascending id, none deleted). With signatures,
 * every product is hashed and interned using up to threads OpenMP threads;
 * without, the snapshot holds the rows only (has_signature then tells
 * nothing: callers hash the texts themselves). When previous holds exactly
 * the same rows, its data is shared instead of rebuilt. Returns 0, or -1
 * when memory runs out or a row is malformed. The caller owns *out. */
int recs_catalog_build(const struct recs_minhash *mh, const struct recs_rows *rows, bool signatures,
                       const struct recs_catalog *previous, unsigned threads,
                       struct recs_catalog **out);

/* An estimate, made from the rows before anything is allocated, of the
 * bytes recs_catalog_build(mh, rows, k != 0, previous, ...) allocates at
 * its peak: every product's strings and fixed fields, the slug table and,
 * for k > 0 (signatures of k functions), a row of 16-bit ids per product
 * (as much as the usual 8-bit rows with the most values aside they may
 * have), the inverted index when the catalog gets one, and the token sets
 * held while hashing. 0 when previous holds the same rows (the build
 * shares them). Lower than the truth for a catalog that needs 32-bit ids
 * (positions with far more than 65,535 distinct values) or whose
 * dictionaries are large (12 bytes per distinct value and position, not
 * known before hashing). */
size_t recs_catalog_estimate_bytes(const struct recs_rows *rows, uint32_t k,
                                   const struct recs_catalog *previous);

/* The same for recs_catalog_apply(previous, mh, changes, ...): the bytes
 * the new snapshot adds to what it shares with previous, counting every
 * value of a changed product as one no base row holds (16 bytes each;
 * which ones are is not known before hashing). */
size_t recs_catalog_estimate_apply_bytes(const struct recs_catalog *previous,
                                         const struct recs_rows *changes);

typedef enum {
    RECS_CATALOG_APPLIED = 0,
    RECS_CATALOG_NO_MEMORY,
} recs_catalog_apply_status;

/* A new snapshot: previous with the change set applied (rows.h: each row
 * is a product as it is now, or deleted), standing at changes' snapshot.
 * previous is not modified. The caller owns *out. */
recs_catalog_apply_status recs_catalog_apply(const struct recs_catalog *previous,
                                             const struct recs_minhash *mh,
                                             const struct recs_rows *changes,
                                             struct recs_catalog **out);

/* Whether the delta has grown so large that a fresh build would serve
 * faster than base + delta. */
bool recs_catalog_wants_rebuild(const struct recs_catalog *catalog);

/* Reference counting: a new snapshot starts at one reference. */
void recs_catalog_ref(struct recs_catalog *catalog);
void recs_catalog_unref(struct recs_catalog *catalog);

/* A value that is equal for snapshots of equal rows and differs otherwise
 * (a hash of every row and of the catalog's identity; never negative), for
 * entity tags. */
int64_t recs_catalog_version(const struct recs_catalog *catalog);
/* Where the snapshot stands (recs_rows): NULL when the catalog is not
 * tracked by a change log. */
const char *recs_catalog_snapshot(const struct recs_catalog *catalog);
const char *recs_catalog_identity(const struct recs_catalog *catalog);

/* The index space: products are 0 .. count - 1, some of which may be no
 * longer current (see recs_catalog_live). */
size_t recs_catalog_count(const struct recs_catalog *catalog);
/* Products that exist in this snapshot. */
size_t recs_catalog_live_count(const struct recs_catalog *catalog);
bool recs_catalog_live(const struct recs_catalog *catalog, size_t i);
bool recs_catalog_has_signatures(const struct recs_catalog *catalog);
/* Bytes held by the snapshot's data (rows, strings, ids, index, delta). */
size_t recs_catalog_bytes(const struct recs_catalog *catalog);
/* Products hashed to make this snapshot (0 when its data was shared). */
size_t recs_catalog_computed(const struct recs_catalog *catalog);
/* Whether the data was shared with the previous snapshot. */
bool recs_catalog_shared(const struct recs_catalog *catalog);
/* Products carried in the delta (changed or added since the last build). */
size_t recs_catalog_delta_count(const struct recs_catalog *catalog);

/* The product at index i (0 <= i < count). */
const struct recs_product *recs_catalog_product(const struct recs_catalog *catalog, size_t i);
/* Index of the live product with this slug, or -1. */
long recs_catalog_find(const struct recs_catalog *catalog, const char *slug);

/* matches between products a and b (indexes); 0 when either has no
 * signature. Only for snapshots built with signatures. */
uint32_t recs_catalog_matches(const struct recs_catalog *catalog, const struct recs_minhash *mh,
                              size_t a, size_t b);

#endif
