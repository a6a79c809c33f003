/*
 * vocabulary.h - the distinct tokens of a catalog being built, numbered by
 * how many products hold them, the most common first.
 *
 * A catalog's products share most of their words: a million products of the
 * synthetic catalog hold 27 million tokens but only about 1,100 distinct
 * ones. With them numbered, a build hashes each common token once per
 * position instead of once per product that holds it (catalog.c).
 */
#ifndef RECS_VOCABULARY_H
#define RECS_VOCABULARY_H

#include <stddef.h>
#include <stdint.h>

#include "minhash.h"

struct recs_vocabulary {
    size_t count;              /* distinct tokens */
    struct recs_token *tokens; /* by id, after recs_vocabulary_finish */
    size_t products;           /* products added */
    size_t *first;             /* product i's ids are ids[first[i] .. first[i + 1]) */
    uint32_t *ids;
    /* inside: the tokens' bytes; until finished, their hash table and counts */
    unsigned char *bytes;
    size_t bytes_len, bytes_cap;
    size_t *offsets; /* by id, into bytes, and the length beside */
    uint32_t *lengths, *holders;
    uint32_t *slots; /* id + 1, 0 = empty */
    size_t slot_mask, token_cap, ids_len, ids_cap, first_cap;
};

/* An empty vocabulary; every one is freed with recs_vocabulary_free. */
void recs_vocabulary_init(struct recs_vocabulary *v);
void recs_vocabulary_free(struct recs_vocabulary *v);

/* Adds the next product's tokens (distinct, as recs_tokenize gives them;
 * none for a product without tokens). Returns 0, or -1 when memory runs out
 * or the vocabulary would pass UINT32_MAX tokens. */
int recs_vocabulary_add(struct recs_vocabulary *v, const struct recs_token *tokens, size_t n);

/* Numbers the tokens by the number of products holding each, most first
 * (ties by first appearance), renumbers every product's ids to match, and
 * sets tokens; nothing can be added after it. Returns 0, or -1 when memory
 * runs out. */
int recs_vocabulary_finish(struct recs_vocabulary *v);

#endif
