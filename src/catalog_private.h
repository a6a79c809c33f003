/*
 * catalog_private.h - the inside of a catalog snapshot, for the modules that
 * read it at full speed (scoring). Everyone else uses catalog.h.
 *
 * A snapshot is a base plus a small delta, the way search engines keep
 * write-once segments with a deleted-documents bitmap: the base holds every
 * product that existed when it was built, with interned signatures and an
 * inverted index, and never changes; the delta marks the base rows that are
 * no longer current (dead) and carries the products added or changed since
 * (extras), each with its ids interned in the base's id space. So a change
 * of r rows makes a new snapshot in O(r) signature work plus a copy of the
 * dead bitmap and the extras' pointers, and readers of older snapshots keep
 * theirs untouched.
 *
 * Products are addressed by one index space: 0 .. base count - 1 are base
 * rows, base count .. count - 1 the extras in ascending id.
 *
 * Ids are as narrow as the base's distinct values allow: 8 bits for up to
 * 255 a position, 16 or 32 past that. The largest id of the width, the
 * fresh id, is never a base row's: an extra holds it where its value is
 * one no base row has, and keeps those values beside its row. So a change
 * never runs out of ids, a fresh id matches no base row, and two extras
 * that both hold it somewhere compare their values there.
 */
#ifndef RECS_CATALOG_PRIVATE_H
#define RECS_CATALOG_PRIVATE_H

#include <stdatomic.h>

#include "catalog.h"

struct catalog_base {
    atomic_uint refs;
    size_t count;
    struct recs_product *products; /* ascending id */
    char *strings;                 /* every product's strings, one after the other */
    uint64_t *row_hashes;          /* per product: a hash of the whole row (entity tags) */
    unsigned id_bytes;             /* 1, 2 or 4; 0 when built without signatures */
    size_t row_stride;             /* bytes per product row of ids, a multiple of 64 */
    unsigned char *ids;            /* count rows of K ids, 64-aligned inside ids_alloc */
    void *ids_alloc;
    uint32_t k;
    /* The inverted index, NULL for a catalog whose ids fit in the caches:
     * that is always scanned, so its index would be memory for nothing. */
    uint32_t **offsets; /* per position: indexed[k] + 1 offsets into its postings */
    uint8_t **postings; /* per position: the lists of the ids in turn, in gaps (below) */
    uint32_t *indexed;  /* per position: ids below this have postings; newer ones none */
    /* What changed products find their ids with: per position, the base's
     * distinct values in ascending order with their ids (binary search, 12
     * bytes a value, about a third of a hash table's). */
    uint64_t **sorted_values;
    uint32_t **sorted_ids;
    uint32_t *slots; /* slug hash table: product index + 1, 0 = empty */
    size_t slot_mask;
    size_t bytes;
};

/* A value of an extra that no base row holds at position k. */
struct catalog_fresh {
    uint32_t k;
    uint64_t value;
};

/* A product added or changed after the base was built, shared by every
 * snapshot that holds it. */
struct catalog_extra {
    atomic_uint refs;
    struct recs_product product; /* strings point into the same allocation */
    uint64_t row_hash;
    unsigned char *ids;          /* row_stride bytes, 64-aligned; NULL without signatures */
    struct catalog_fresh *fresh; /* where ids holds the fresh id, ascending k */
    uint32_t nfresh;
};

struct recs_catalog {
    atomic_uint refs;
    int64_t version;
    uint64_t content; /* sum of the live rows' hashes */
    char *snapshot;   /* see recs_rows; NULL when untracked */
    char *identity;
    struct catalog_base *base;
    uint64_t *dead; /* base rows no longer current, one bit each; NULL when none */
    size_t ndead;
    struct catalog_extra **extras; /* ascending id */
    size_t nextra;
    uint32_t *extra_slots; /* slug hash table of the extras, like base->slots */
    size_t extra_slot_mask;
    bool shared;
    size_t computed;
};

/* A postings list holds its products' indexes in ascending order as the
 * gaps between them, the first from 0, each in as few bytes as it needs:
 * seven bits a byte, the lowest first, the high bit set on every byte but
 * a gap's last (the variable-byte code of search engines' postings). Gaps
 * in long lists are small, so most products cost one byte a list. Returns
 * the product after prev and moves *at past it. */
static inline uint32_t catalog_next_posting(const uint8_t *bytes, uint32_t *at, uint32_t prev)
{
    uint32_t b = bytes[(*at)++], gap = b & 0x7Fu;

    /* a 32-bit gap takes at most five bytes: shifts 7 .. 28 */
    for (unsigned shift = 7; (b & 0x80u) != 0 && shift <= 28; shift += 7) {
        b = bytes[(*at)++];
        gap |= (b & 0x7Fu) << shift;
    }
    return prev + gap;
}

static inline bool catalog_dead(const struct recs_catalog *c, size_t i)
{
    return i < c->base->count && c->dead != NULL && (c->dead[i / 64] >> (i % 64) & 1u);
}

/* The row of ids of product i. */
static inline const unsigned char *catalog_row(const struct recs_catalog *c, size_t i)
{
    const struct catalog_base *b = c->base;
    return i < b->count ? b->ids + i * b->row_stride : c->extras[i - b->count]->ids;
}

/* The id at position k of a row of b's width. */
static inline uint32_t catalog_row_id(const struct catalog_base *b, const unsigned char *row,
                                      uint32_t k)
{
    if (b->id_bytes == 1)
        return row[k];
    return b->id_bytes == 2 ? ((const uint16_t *)row)[k] : ((const uint32_t *)row)[k];
}

static inline uint32_t catalog_id_at(const struct recs_catalog *c, size_t i, uint32_t k)
{
    return catalog_row_id(c->base, catalog_row(c, i), k);
}

#endif
