/*
 * answers.h - a bounded cache of rendered answers, keyed by the catalog
 * snapshot's version and the normalized query. Storefront traffic is
 * skewed (a few products take most views), and an answer is a pure
 * function of those two, so a hit skips scoring and rendering and stays
 * exact: a change to the catalog changes the version, and entries of older
 * versions are never returned (they are overwritten as new answers come).
 *
 * Thread-safe; memory is bounded by its number of slots, each holding at
 * most a key of RECS_ANSWERS_KEY_MAX and a body of RECS_ANSWERS_BODY_MAX
 * bytes.
 */
#ifndef RECS_ANSWERS_H
#define RECS_ANSWERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECS_ANSWERS_KEY_MAX 8192u
#define RECS_ANSWERS_BODY_MAX ((size_t)32 * 1024)

struct recs_answers;

/* A cache of slots answers (>= 1). Returns 0, or -1 when memory runs out.
 * The caller owns *out. */
int recs_answers_create(unsigned slots, struct recs_answers **out);
void recs_answers_destroy(struct recs_answers *answers);

/* The answer stored for (version, key), as a malloc'd copy the caller
 * frees, or NULL (none, or no memory for the copy). */
char *recs_answers_get(struct recs_answers *answers, int64_t version, const char *key,
                       size_t key_len, size_t *len);

/* Stores a copy of body for (version, key), replacing what its slot held.
 * Keys or bodies over the limits are not stored. */
void recs_answers_put(struct recs_answers *answers, int64_t version, const char *key,
                      size_t key_len, const char *body, size_t len);

#endif
