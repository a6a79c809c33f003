/*
 * vocabulary.c - distinct tokens by frequency (see vocabulary.h): an
 * open-addressing table keyed by the tokens' FNV-1a hash, their bytes in one
 * growing buffer, and each product's ids one after the other.
 */
#include "vocabulary.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS_MIN 1024

void recs_vocabulary_init(struct recs_vocabulary *v)
{
    memset(v, 0, sizeof(*v));
}

void recs_vocabulary_free(struct recs_vocabulary *v)
{
    free(v->tokens);
    free(v->first);
    free(v->ids);
    free(v->bytes);
    free(v->offsets);
    free(v->lengths);
    free(v->holders);
    free(v->slots);
    recs_vocabulary_init(v);
}

/* Grows *array of *cap elements of size bytes to hold at least need. */
static int reserve(void **array, size_t *cap, size_t need, size_t size)
{
    size_t bigger = *cap ? *cap : 64;
    void *grown;

    if (need <= *cap)
        return 0;
    while (bigger < need)
        bigger *= 2;
    if (bigger > SIZE_MAX / size || (grown = realloc(*array, bigger * size)) == NULL)
        return -1;
    *array = grown;
    *cap = bigger;
    return 0;
}

static size_t slot_of(uint64_t hash, size_t mask)
{
    return (size_t)(hash * 0x9e3779b97f4a7c15ull >> 32) & mask;
}

static bool same_token(const struct recs_vocabulary *v, uint32_t id, const struct recs_token *t)
{
    return v->lengths[id] == t->len && memcmp(v->bytes + v->offsets[id], t->bytes, t->len) == 0;
}

static int grow_slots(struct recs_vocabulary *v)
{
    size_t cap = v->slot_mask ? (v->slot_mask + 1) * 2 : SLOTS_MIN;
    uint32_t *slots = calloc(cap, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (size_t id = 0; id < v->count; id++) {
        uint64_t h = recs_fnv1a64(v->bytes + v->offsets[id], v->lengths[id]);
        size_t s = slot_of(h, cap - 1);
        while (slots[s] != 0)
            s = (s + 1) & (cap - 1);
        slots[s] = (uint32_t)id + 1;
    }
    free(v->slots);
    v->slots = slots;
    v->slot_mask = cap - 1;
    return 0;
}

/* The id of token t, numbering it when it is new; UINT32_MAX when memory
 * runs out. */
static uint32_t intern(struct recs_vocabulary *v, const struct recs_token *t)
{
    size_t s;
    uint32_t id;

    if ((v->count + 1) * 2 > v->slot_mask + 1 && grow_slots(v) != 0)
        return UINT32_MAX;
    s = slot_of(recs_fnv1a64(t->bytes, t->len), v->slot_mask);
    while (v->slots[s] != 0) {
        if (same_token(v, v->slots[s] - 1, t)) {
            v->holders[v->slots[s] - 1]++;
            return v->slots[s] - 1;
        }
        s = (s + 1) & v->slot_mask;
    }
    if (v->count >= UINT32_MAX - 1 ||
        reserve((void **)&v->bytes, &v->bytes_cap, v->bytes_len + t->len, 1) != 0)
        return UINT32_MAX;
    {
        size_t cap = v->token_cap;
        if (reserve((void **)&v->offsets, &cap, v->count + 1, sizeof(*v->offsets)) != 0)
            return UINT32_MAX;
        cap = v->token_cap;
        if (reserve((void **)&v->lengths, &cap, v->count + 1, sizeof(*v->lengths)) != 0)
            return UINT32_MAX;
        cap = v->token_cap;
        if (reserve((void **)&v->holders, &cap, v->count + 1, sizeof(*v->holders)) != 0)
            return UINT32_MAX;
        v->token_cap = cap;
    }
    id = (uint32_t)v->count++;
    memcpy(v->bytes + v->bytes_len, t->bytes, t->len);
    v->offsets[id] = v->bytes_len;
    v->lengths[id] = t->len;
    v->holders[id] = 1;
    v->bytes_len += t->len;
    v->slots[s] = id + 1;
    return id;
}

int recs_vocabulary_add(struct recs_vocabulary *v, const struct recs_token *tokens, size_t n)
{
    if (reserve((void **)&v->first, &v->first_cap, v->products + 2, sizeof(*v->first)) != 0 ||
        reserve((void **)&v->ids, &v->ids_cap, v->ids_len + n, sizeof(*v->ids)) != 0)
        return -1;
    v->first[v->products] = v->ids_len;
    for (size_t t = 0; t < n; t++) {
        uint32_t id = intern(v, &tokens[t]);
        if (id == UINT32_MAX)
            return -1;
        v->ids[v->ids_len++] = id;
    }
    v->first[++v->products] = v->ids_len;
    return 0;
}

static int by_holders(const void *a, const void *b, void *ctx)
{
    const uint32_t *holders = ctx, x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    if (holders[x] != holders[y])
        return holders[x] > holders[y] ? -1 : 1;
    return (x > y) - (x < y);
}

int recs_vocabulary_finish(struct recs_vocabulary *v)
{
    size_t n = v->count ? v->count : 1;
    uint32_t *order = malloc(n * sizeof(*order)), *renumber = malloc(n * sizeof(*renumber));
    struct recs_token *tokens = malloc(n * sizeof(*tokens));
    int rc = -1;

    if (order == NULL || renumber == NULL || tokens == NULL)
        goto out;
    if (reserve((void **)&v->first, &v->first_cap, v->products + 1, sizeof(*v->first)) != 0 ||
        v->first == NULL)
        goto out;
    v->first[v->products] = v->ids_len;
    for (size_t id = 0; id < v->count; id++)
        order[id] = (uint32_t)id;
    qsort_r(order, v->count, sizeof(*order), by_holders, v->holders);
    for (size_t rank = 0; rank < v->count; rank++) {
        renumber[order[rank]] = (uint32_t)rank;
        tokens[rank].bytes = v->bytes + v->offsets[order[rank]];
        tokens[rank].len = v->lengths[order[rank]];
    }
    for (size_t i = 0; i < v->ids_len; i++)
        v->ids[i] = renumber[v->ids[i]];
    free(v->tokens);
    v->tokens = tokens;
    tokens = NULL;
    /* only the bytes and the new numbering stay needed */
    free(v->slots);
    free(v->offsets);
    free(v->lengths);
    free(v->holders);
    v->slots = NULL;
    v->offsets = NULL;
    v->lengths = v->holders = NULL;
    v->slot_mask = 0;
    rc = 0;
out:
    free(order);
    free(renumber);
    free(tokens);
    return rc;
}
