/*
 * catalog.c - building, sharing and searching catalog snapshots.
 *
 * Each product lives in one 64-byte aligned block: header, packed signature
 * (aligned for the vector kernels), then its strings. Reuse between
 * snapshots compares the stored row with the new one byte for byte, so a
 * changed title or description can never be served with an old signature.
 */
#include "catalog.h"

#include <errno.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { COL_ID, COL_SLUG, COL_TITLE, COL_DESCRIPTION, COL_PRICE, COL_CATEGORY, NCOLS };

struct entry {
    atomic_uint refs;
    size_t bytes;
    struct recs_product product;
};

struct recs_catalog {
    atomic_uint refs;
    int64_t version;
    size_t count;
    struct entry **entries; /* ascending id */
    uint32_t *slots;        /* slug hash table: entry index + 1, 0 = empty */
    size_t slot_mask;
    size_t bytes, computed, reused;
};

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

static void entry_unref(struct entry *e)
{
    if (e != NULL && atomic_fetch_sub(&e->refs, 1) == 1)
        free(e);
}

/* A row as text fields of the result (no copies). */
struct row {
    int64_t id;
    int32_t price;
    const char *field[NCOLS];
    size_t len[NCOLS];
};

static int parse_int64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int read_row(const PGresult *res, int i, struct row *r)
{
    int64_t price;

    for (int c = 0; c < NCOLS; c++) {
        bool null = PQgetisnull(res, i, c);
        if (null && c != COL_CATEGORY)
            return -1;
        r->field[c] = null ? NULL : PQgetvalue(res, i, c);
        r->len[c] = null ? 0 : (size_t)PQgetlength(res, i, c);
    }
    if (parse_int64(r->field[COL_ID], &r->id) != 0 ||
        parse_int64(r->field[COL_PRICE], &price) != 0 || price < INT32_MIN || price > INT32_MAX)
        return -1;
    r->price = (int32_t)price;
    return 0;
}

static bool same_text(const char *stored, const char *field, size_t len)
{
    if (stored == NULL || field == NULL)
        return stored == field;
    return strlen(stored) == len && memcmp(stored, field, len) == 0;
}

static bool row_unchanged(const struct recs_product *p, const struct row *r)
{
    return p->id == r->id && p->price_cents == r->price &&
           same_text(p->slug, r->field[COL_SLUG], r->len[COL_SLUG]) &&
           same_text(p->title, r->field[COL_TITLE], r->len[COL_TITLE]) &&
           same_text(p->description, r->field[COL_DESCRIPTION], r->len[COL_DESCRIPTION]) &&
           same_text(p->category, r->field[COL_CATEGORY], r->len[COL_CATEGORY]);
}

static const char *copy_field(char **cursor, const char *src, size_t len)
{
    char *dst = *cursor;

    if (src == NULL)
        return NULL;
    memcpy(dst, src, len);
    dst[len] = '\0';
    *cursor += len + 1;
    return dst;
}

/* A new entry holding the row's strings and room for the signature. */
static struct entry *entry_new(const struct row *r, size_t sig_bytes)
{
    size_t head = round_up(sizeof(struct entry), 64);
    size_t strings = r->len[COL_SLUG] + r->len[COL_TITLE] + r->len[COL_DESCRIPTION] +
                     r->len[COL_CATEGORY] + 4;
    size_t bytes = round_up(head + sig_bytes + strings, 64);
    struct entry *e = aligned_alloc(64, bytes);
    char *cursor;

    if (e == NULL)
        return NULL;
    atomic_init(&e->refs, 1);
    e->bytes = bytes;
    e->product.id = r->id;
    e->product.price_cents = r->price;
    e->product.has_signature = false;
    e->product.signature = (unsigned char *)e + head;
    cursor = (char *)e + head + sig_bytes;
    e->product.slug = copy_field(&cursor, r->field[COL_SLUG], r->len[COL_SLUG]);
    e->product.title = copy_field(&cursor, r->field[COL_TITLE], r->len[COL_TITLE]);
    e->product.description =
        copy_field(&cursor, r->field[COL_DESCRIPTION], r->len[COL_DESCRIPTION]);
    e->product.category = copy_field(&cursor, r->field[COL_CATEGORY], r->len[COL_CATEGORY]);
    return e;
}

static void catalog_free(struct recs_catalog *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; c->entries != NULL && i < c->count; i++)
        entry_unref(c->entries[i]);
    free(c->entries);
    free(c->slots);
    free(c);
}

/* Hashes the signatures of the entries listed in todo, in parallel. */
static int compute_signatures(const struct recs_minhash *mh, struct entry **entries,
                              const size_t *todo, size_t ntodo, unsigned threads)
{
    atomic_int failed = 0;

#pragma omp parallel num_threads(threads) if (ntodo >= 32)
    {
        struct recs_scratch *scratch = recs_scratch_create();
        if (scratch == NULL)
            atomic_store(&failed, 1);
#pragma omp for schedule(dynamic, 16)
        for (size_t t = 0; t < ntodo; t++) {
            struct recs_product *p = &entries[todo[t]]->product;
            bool has = false;
            if (scratch == NULL ||
                recs_minhash_signature(mh, scratch, p->title, strlen(p->title), p->description,
                                       strlen(p->description), (void *)p->signature,
                                       &has) != 0) {
                atomic_store(&failed, 1);
                continue;
            }
            p->has_signature = has;
        }
        recs_scratch_destroy(scratch);
    }
    return atomic_load(&failed) ? -1 : 0;
}

static int build_index(struct recs_catalog *c)
{
    size_t cap = 16;

    while (cap < c->count * 2)
        cap *= 2;
    c->slots = calloc(cap, sizeof(*c->slots));
    if (c->slots == NULL)
        return -1;
    c->slot_mask = cap - 1;
    for (size_t i = 0; i < c->count; i++) {
        const char *slug = c->entries[i]->product.slug;
        size_t s = recs_fnv1a64(slug, strlen(slug)) & c->slot_mask;
        while (c->slots[s] != 0)
            s = (s + 1) & c->slot_mask;
        c->slots[s] = (uint32_t)(i + 1);
    }
    return 0;
}

int recs_catalog_build(const struct recs_minhash *mh, const PGresult *rows, int64_t version,
                       const struct recs_catalog *previous, unsigned threads,
                       struct recs_catalog **out)
{
    size_t n, sig_bytes = RECS_SIG_BYTES(recs_minhash_k(mh)), j = 0, ntodo = 0;
    struct recs_catalog *c = NULL;
    size_t *todo = NULL;
    int64_t last_id = INT64_MIN;

    if (PQnfields(rows) != NCOLS || PQntuples(rows) < 0 || (size_t)PQntuples(rows) >= UINT32_MAX)
        return -1;
    n = (size_t)PQntuples(rows);
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto fail;
    atomic_init(&c->refs, 1);
    c->version = version;
    c->entries = calloc(n ? n : 1, sizeof(*c->entries));
    todo = malloc((n ? n : 1) * sizeof(*todo));
    if (c->entries == NULL || todo == NULL)
        goto fail;

    for (size_t i = 0; i < n; i++, c->count++) {
        struct row r;
        if (read_row(rows, (int)i, &r) != 0 || r.id <= last_id)
            goto fail; /* the merge below needs strictly ascending ids */
        last_id = r.id;
        while (previous != NULL && j < previous->count &&
               previous->entries[j]->product.id < r.id)
            j++;
        if (previous != NULL && j < previous->count &&
            row_unchanged(&previous->entries[j]->product, &r)) {
            c->entries[i] = previous->entries[j];
            atomic_fetch_add(&c->entries[i]->refs, 1);
            c->reused++;
        } else {
            c->entries[i] = entry_new(&r, sig_bytes);
            if (c->entries[i] == NULL)
                goto fail;
            todo[ntodo++] = i;
        }
        c->bytes += c->entries[i]->bytes;
    }
    c->computed = ntodo;
    if (compute_signatures(mh, c->entries, todo, ntodo, threads ? threads : 1) != 0 ||
        build_index(c) != 0)
        goto fail;
    free(todo);
    *out = c;
    return 0;
fail:
    free(todo);
    catalog_free(c);
    return -1;
}

void recs_catalog_ref(struct recs_catalog *catalog)
{
    atomic_fetch_add(&catalog->refs, 1);
}

void recs_catalog_unref(struct recs_catalog *catalog)
{
    if (catalog != NULL && atomic_fetch_sub(&catalog->refs, 1) == 1)
        catalog_free(catalog);
}

int64_t recs_catalog_version(const struct recs_catalog *catalog)
{
    return catalog->version;
}

size_t recs_catalog_count(const struct recs_catalog *catalog)
{
    return catalog->count;
}

size_t recs_catalog_bytes(const struct recs_catalog *catalog)
{
    return catalog->bytes;
}

size_t recs_catalog_computed(const struct recs_catalog *catalog)
{
    return catalog->computed;
}

size_t recs_catalog_reused(const struct recs_catalog *catalog)
{
    return catalog->reused;
}

const struct recs_product *recs_catalog_product(const struct recs_catalog *catalog, size_t i)
{
    return &catalog->entries[i]->product;
}

long recs_catalog_find(const struct recs_catalog *catalog, const char *slug)
{
    size_t s = recs_fnv1a64(slug, strlen(slug)) & catalog->slot_mask;

    while (catalog->slots[s] != 0) {
        size_t i = catalog->slots[s] - 1;
        if (strcmp(catalog->entries[i]->product.slug, slug) == 0)
            return (long)i;
        s = (s + 1) & catalog->slot_mask;
    }
    return -1;
}
