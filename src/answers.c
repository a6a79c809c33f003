/*
 * answers.c - the answer cache: a direct-mapped table of slots, each behind
 * a lock of its shard, so concurrent requests for different answers rarely
 * meet. A slot keeps its own copies of the key and the body; a lookup
 * compares the whole key, so two queries whose hashes collide never share
 * an answer.
 */
#include "answers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "minhash.h"

#define SHARDS 16u

struct slot {
    int64_t version;
    char *key; /* NULL: empty */
    size_t key_len;
    char *body;
    size_t len;
};

struct recs_answers {
    pthread_mutex_t locks[SHARDS];
    unsigned nslots;
    struct slot *slots;
};

int recs_answers_create(unsigned slots, struct recs_answers **out)
{
    struct recs_answers *a = calloc(1, sizeof(*a));
    unsigned made = 0;

    if (a == NULL || slots == 0)
        goto fail;
    a->nslots = slots;
    a->slots = calloc(slots, sizeof(*a->slots));
    if (a->slots == NULL)
        goto fail;
    for (; made < SHARDS; made++) {
        if (pthread_mutex_init(&a->locks[made], NULL) != 0)
            goto fail;
    }
    *out = a;
    return 0;
fail:
    while (made > 0)
        pthread_mutex_destroy(&a->locks[--made]);
    if (a != NULL)
        free(a->slots);
    free(a);
    return -1;
}

void recs_answers_destroy(struct recs_answers *answers)
{
    if (answers == NULL)
        return;
    for (unsigned i = 0; i < answers->nslots; i++) {
        free(answers->slots[i].key);
        free(answers->slots[i].body);
    }
    free(answers->slots);
    for (unsigned i = 0; i < SHARDS; i++)
        pthread_mutex_destroy(&answers->locks[i]);
    free(answers);
}

static unsigned slot_of(const struct recs_answers *a, int64_t version, const char *key,
                        size_t key_len)
{
    uint64_t h = recs_fnv1a64(key, key_len) ^ (uint64_t)version * 0x9e3779b97f4a7c15ull;
    return (unsigned)((h >> 32) % a->nslots);
}

char *recs_answers_get(struct recs_answers *answers, int64_t version, const char *key,
                       size_t key_len, size_t *len)
{
    unsigned s = slot_of(answers, version, key, key_len);
    struct slot *slot = &answers->slots[s];
    char *copy = NULL;

    pthread_mutex_lock(&answers->locks[s % SHARDS]);
    if (slot->key != NULL && slot->version == version && slot->key_len == key_len &&
        memcmp(slot->key, key, key_len) == 0) {
        copy = malloc(slot->len + 1);
        if (copy != NULL) {
            memcpy(copy, slot->body, slot->len + 1);
            *len = slot->len;
        }
    }
    pthread_mutex_unlock(&answers->locks[s % SHARDS]);
    return copy;
}

void recs_answers_put(struct recs_answers *answers, int64_t version, const char *key,
                      size_t key_len, const char *body, size_t len)
{
    unsigned s = slot_of(answers, version, key, key_len);
    struct slot *slot = &answers->slots[s];
    char *key_copy, *body_copy;

    if (key_len > RECS_ANSWERS_KEY_MAX || len > RECS_ANSWERS_BODY_MAX)
        return;
    key_copy = malloc(key_len ? key_len : 1);
    body_copy = malloc(len + 1);
    if (key_copy == NULL || body_copy == NULL) {
        free(key_copy);
        free(body_copy);
        return; /* a cache: nothing is lost by not storing */
    }
    memcpy(key_copy, key, key_len);
    memcpy(body_copy, body, len);
    body_copy[len] = '\0';
    pthread_mutex_lock(&answers->locks[s % SHARDS]);
    free(slot->key);
    free(slot->body);
    *slot = (struct slot){version, key_copy, key_len, body_copy, len};
    pthread_mutex_unlock(&answers->locks[s % SHARDS]);
}
