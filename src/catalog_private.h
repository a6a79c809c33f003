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
 * Rows of ids are as narrow as the catalog allows: 8 bits while few
 * products hold an id past 254 at any position, else 16 or 32. The largest
 * id of the width, the escape, says "the value is beside the row": a base
 * row holds it where its id does not fit the width (ids go by first
 * appearance, so those are a position's rarer values), an extra where its
 * value is one no base row has or whose id does not fit. Each product
 * keeps those positions' values aside, in ascending position, so two
 * products that both hold the escape at a position compare their values
 * there, and a change never runs out of ids. The index lists every id,
 * escaped or not.
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
    /* The escaped positions' values: product i's are aside[aside_first[i]
     * .. aside_first[i + 1]); both NULL when no base row has any. */
    struct catalog_aside *aside;
    size_t *aside_first;
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

/* The value at position k of a product whose row holds the escape there. */
struct catalog_aside {
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
    struct catalog_aside *aside; /* where ids holds the escape, ascending k */
    uint32_t naside;
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

/* The escape of rows of id_bytes: the largest id of the width. */
static inline uint32_t catalog_escape(unsigned id_bytes)
{
    return id_bytes == 1 ? UINT8_MAX : id_bytes == 2 ? UINT16_MAX : UINT32_MAX;
}

/* Product i's escaped positions' values as *n entries at *list. */
static inline void catalog_aside_of(const struct recs_catalog *c, size_t i,
                                    const struct catalog_aside **list, size_t *n)
{
    const struct catalog_base *b = c->base;

    if (i >= b->count) {
        *list = c->extras[i - b->count]->aside;
        *n = c->extras[i - b->count]->naside;
    } else if (b->aside_first != NULL) {
        *list = b->aside + b->aside_first[i];
        *n = b->aside_first[i + 1] - b->aside_first[i];
    } else {
        *list = NULL;
        *n = 0;
    }
}

/* The base's id of value at position k (binary search in its sorted
 * values), or UINT32_MAX when no base row holds it. */
static inline uint32_t catalog_base_value_id(const struct catalog_base *b, uint32_t k,
                                             uint64_t value)
{
    const uint64_t *values = b->sorted_values[k];
    size_t lo = 0, hi = b->indexed[k];

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (values[mid] < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->indexed[k] && values[lo] == value ? b->sorted_ids[k][lo] : UINT32_MAX;
}

/* The id of product i's value at position k, escaped or not, as the index
 * lists it: UINT32_MAX for a value no base row holds (no list). */
static inline uint32_t catalog_value_id(const struct recs_catalog *c, size_t i, uint32_t k)
{
    uint32_t id = catalog_id_at(c, i, k);
    const struct catalog_aside *list;
    size_t lo = 0, hi;

    if (id != catalog_escape(c->base->id_bytes))
        return id;
    catalog_aside_of(c, i, &list, &hi);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (list[mid].k < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return catalog_base_value_id(c->base, k, list[lo].value);
}

#endif
