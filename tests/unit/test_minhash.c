/*
 * test_minhash.c - the scoring module against SCORING.md's test vectors
 * (tests/fixtures/vectors.json) on every kernel path this CPU runs, against a
 * naive reference on random inputs, and its edge cases.
 *
 * The fixture is found via $RECS_TEST_VECTORS, else relative to the working
 * directory (the repository root or tests/unit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minhash.h"

static json_t *vectors;

static const recs_kernel kernels[] = {RECS_KERNEL_SCALAR, RECS_KERNEL_AVX2, RECS_KERNEL_AVX512};

static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t hex64(const char *s)
{
    return strtoull(s, NULL, 16);
}

static int load_vectors(void **state)
{
    (void)state;
    const char *env = getenv("RECS_TEST_VECTORS");
    const char *paths[] = {env, "tests/fixtures/vectors.json", "../fixtures/vectors.json",
                           "../../tests/fixtures/vectors.json"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]) && vectors == NULL; i++)
        if (paths[i] != NULL)
            vectors = json_load_file(paths[i], 0, NULL);
    if (vectors == NULL)
        fprintf(stderr, "test_minhash: cannot load vectors.json (set RECS_TEST_VECTORS)\n");
    return vectors == NULL ? -1 : 0;
}

static int free_vectors(void **state)
{
    (void)state;
    json_decref(vectors);
    return 0;
}

/* The kernel a parameterised test runs on, or skips with a message if unsupported. */
static recs_kernel kernel_or_skip(void **state)
{
    const recs_kernel kernel = *(const recs_kernel *)*state;
    if (!recs_kernel_supported(kernel)) {
        print_message("skipped: the %s kernel is not supported on this CPU\n",
                      recs_kernel_name(kernel));
        skip();
    }
    return kernel;
}

static struct recs_minhash *hasher(uint32_t k, recs_kernel kernel)
{
    struct recs_minhash *mh = NULL;
    assert_int_equal(recs_minhash_create(k, kernel, &mh), 0);
    assert_non_null(mh);
    assert_int_equal(recs_minhash_kernel(mh), kernel);
    assert_int_equal(recs_minhash_k(mh), k);
    return mh;
}

static const char *str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

/* ---- vectors.json ---- */

static void test_fnv_vectors(void **state)
{
    (void)state;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(vectors, "fnv1a64"), i, v)
    {
        const char *in = str(v, "input");
        assert_int_equal(recs_fnv1a64(in, strlen(in)), hex64(str(v, "hash")));
    }
    assert_true(i > 0);
}

/* Checks h_k directly and, for k within range, as the signature of a one-token set. */
static void test_hk_vectors(void **state)
{
    const recs_kernel kernel = kernel_or_skip(state);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(vectors, "h_k"), i, v)
    {
        const uint32_t k = (uint32_t)json_integer_value(json_object_get(v, "k"));
        const char *tok = str(v, "token");
        const uint64_t want = hex64(str(v, "hash"));
        assert_int_equal(recs_minhash_hk(k, tok, strlen(tok)), want);
        if (k >= RECS_MINHASH_K_MAX)
            continue;
        struct recs_minhash *mh = hasher(k + 1, kernel);
        uint64_t *sig = malloc((k + 1) * sizeof(uint64_t));
        assert_non_null(sig);
        const struct recs_token t = {(const unsigned char *)tok, (uint32_t)strlen(tok)};
        recs_minhash_sign_tokens(mh, &t, 1, sig);
        assert_int_equal(sig[k], want);
        free(sig);
        recs_minhash_destroy(mh);
    }
    assert_true(i > 0);
}

static void assert_tokens(struct recs_scratch *s, const char *title, size_t title_len,
                          const char *desc, size_t desc_len, const char *const *want, size_t n)
{
    const struct recs_token *toks;
    size_t count = 99;
    assert_int_equal(recs_tokenize(s, title, title_len, desc, desc_len, &toks, &count), 0);
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(toks[i].len, strlen(want[i]));
        assert_memory_equal(toks[i].bytes, want[i], toks[i].len);
    }
}

static void test_token_vectors(void **state)
{
    (void)state;
    struct recs_scratch *s = recs_scratch_create();
    assert_non_null(s);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(vectors, "tokens"), i, v)
    {
        const char *text = str(v, "text");
        json_t *arr = json_object_get(v, "tokens");
        const char *want[64];
        assert_true(json_array_size(arr) <= 64);
        for (size_t j = 0; j < json_array_size(arr); j++)
            want[j] = json_string_value(json_array_get(arr, j));
        /* As a title with no description, and as a description with no title. */
        assert_tokens(s, text, strlen(text), "", 0, want, json_array_size(arr));
        assert_tokens(s, NULL, 0, text, strlen(text), want, json_array_size(arr));
    }
    assert_true(i > 0);
    recs_scratch_destroy(s);
}

/* Packed signatures of every catalog product, indexed as the catalog array. */
struct catalog {
    size_t n;
    unsigned char *packed;
    bool *has;
    int64_t *ids;
};

static void sign_catalog(const struct recs_minhash *mh, struct catalog *c)
{
    json_t *cat = json_object_get(vectors, "catalog");
    const size_t bytes = RECS_SIG_BYTES(recs_minhash_k(mh));
    struct recs_scratch *s = recs_scratch_create();
    c->n = json_array_size(cat);
    c->packed = malloc(c->n * bytes);
    c->has = malloc(c->n * sizeof(bool));
    c->ids = malloc(c->n * sizeof(int64_t));
    assert_true(s != NULL && c->packed != NULL && c->has != NULL && c->ids != NULL);
    assert_true(c->n > 0);
    for (size_t i = 0; i < c->n; i++) {
        json_t *p = json_array_get(cat, i);
        const char *title = str(p, "title"), *desc = str(p, "description");
        c->ids[i] = json_integer_value(json_object_get(p, "id"));
        assert_int_equal(recs_minhash_signature(mh, s, title, strlen(title), desc, strlen(desc),
                                                c->packed + i * bytes, &c->has[i]),
                         0);
    }
    recs_scratch_destroy(s);
}

static void free_catalog(struct catalog *c)
{
    free(c->packed);
    free(c->has);
    free(c->ids);
}

static size_t by_slug(const char *slug)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(vectors, "catalog"), i, p)
    {
        if (strcmp(str(p, "slug"), slug) == 0)
            return i;
    }
    fail_msg("slug %s not in the catalog", slug);
    return 0;
}

static void test_signature_prefix_vectors(void **state)
{
    const recs_kernel kernel = kernel_or_skip(state);
    struct recs_minhash *mh = hasher(RECS_MINHASH_K_DEFAULT, kernel);
    struct catalog c;
    sign_catalog(mh, &c);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(vectors, "signature_prefix"), i, v)
    {
        const size_t p = by_slug(str(v, "slug"));
        json_t *want = json_object_get(v, "sig0_3");
        assert_true(c.has[p]);
        assert_int_equal(json_array_size(want), 4);
        for (uint32_t j = 0; j < 4; j++)
            assert_int_equal(recs_sig_value(c.packed + p * RECS_SIG_BYTES(RECS_MINHASH_K_DEFAULT),
                                            RECS_MINHASH_K_DEFAULT, j),
                             hex64(json_string_value(json_array_get(want, j))));
    }
    assert_true(i > 0);
    free_catalog(&c);
    recs_minhash_destroy(mh);
}

struct ranked {
    int64_t id;
    uint32_t matches;
};

static int by_rank(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->matches != y->matches)
        return x->matches > y->matches ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Each listed candidate's matches and score, and the whole ranking (SCORING.md 6). */
static void test_ranking_vectors(void **state)
{
    const recs_kernel kernel = kernel_or_skip(state);
    const uint32_t k = RECS_MINHASH_K_DEFAULT;
    struct recs_minhash *mh = hasher(k, kernel);
    struct catalog c;
    sign_catalog(mh, &c);
    struct ranked *all = malloc(c.n * sizeof(*all));
    assert_non_null(all);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(vectors, "expected"), i, v)
    {
        const size_t t = by_slug(str(v, "target"));
        size_t n = 0;
        for (size_t p = 0; p < c.n; p++) {
            if (c.ids[p] == c.ids[t])
                continue;
            all[n].id = c.ids[p];
            all[n++].matches = c.has[t] && c.has[p]
                                   ? recs_minhash_matches(mh, c.packed + t * RECS_SIG_BYTES(k),
                                                          c.packed + p * RECS_SIG_BYTES(k))
                                   : 0;
        }
        qsort(all, n, sizeof(*all), by_rank);
        json_t *ranking = json_object_get(v, "ranking");
        const size_t limit = (size_t)json_integer_value(json_object_get(v, "limit"));
        assert_int_equal(json_array_size(ranking), limit < n ? limit : n);
        for (size_t r = 0; r < json_array_size(ranking); r++) {
            json_t *e = json_array_get(ranking, r);
            const uint32_t want = (uint32_t)json_integer_value(json_object_get(e, "matches"));
            assert_int_equal(all[r].id, json_integer_value(json_object_get(e, "id")));
            assert_int_equal(all[r].matches, want);
            assert_true(fabs((double)all[r].matches / k -
                             json_number_value(json_object_get(e, "score"))) < 1e-12);
        }
    }
    assert_true(i > 0);
    free(all);
    free_catalog(&c);
    recs_minhash_destroy(mh);
}

/* ---- kernels against a naive reference ---- */

/* Random tokens of 0..12 bytes (lengths 0 and 1 are not produced by the tokenizer,
 * but the kernels take any token) over all byte values. */
static size_t random_tokens(struct recs_token *toks, unsigned char *bytes, size_t max)
{
    const size_t n = 1 + rng() % max;
    for (size_t i = 0; i < n; i++) {
        toks[i].len = (uint32_t)(rng() % 13);
        toks[i].bytes = bytes + 16 * i;
        for (uint32_t j = 0; j < toks[i].len; j++)
            bytes[16 * i + j] = (unsigned char)rng();
    }
    return n;
}

static void test_kernel_vs_naive(void **state)
{
    const recs_kernel kernel = kernel_or_skip(state);
    static const uint32_t ks[] = {1,   2,   3,    4,    5,
                                  7,   8,   9,    15,   16,
                                  17,  31,  32,   33,   63,
                                  64,  65,  97,   127,  128,
                                  129, 200, 1500, 4099, RECS_MINHASH_K_MAX};
    struct recs_token toks[40];
    unsigned char bytes[40 * 16];
    uint64_t *sig = malloc(RECS_MINHASH_K_MAX * sizeof(uint64_t));
    assert_non_null(sig);
    rng_state = 42;
    for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
        struct recs_minhash *mh = hasher(ks[ki], kernel);
        for (int round = 0; round < 3; round++) {
            const size_t n = random_tokens(toks, bytes, 40);
            memset(sig, 0xa5, RECS_MINHASH_K_MAX * sizeof(uint64_t));
            recs_minhash_sign_tokens(mh, toks, n, sig);
            for (uint32_t k = 0; k < ks[ki]; k++) {
                uint64_t want = UINT64_MAX;
                for (size_t t = 0; t < n; t++) {
                    const uint64_t h = recs_minhash_hk(k, toks[t].bytes, toks[t].len);
                    want = h < want ? h : want;
                }
                assert_int_equal(sig[k], want);
            }
            /* Nothing written past sig[K-1]. */
            for (uint32_t k = ks[ki]; k < RECS_MINHASH_K_MAX; k++)
                assert_int_equal(sig[k], 0xa5a5a5a5a5a5a5a5ull);
        }
        recs_minhash_destroy(mh);
    }
    free(sig);
}

static void test_pack_roundtrip(void **state)
{
    (void)state;
    static const uint32_t ks[] = {1, 3, 64, 1500, RECS_MINHASH_K_MAX};
    rng_state = 7;
    for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
        const uint32_t k = ks[ki];
        uint64_t *sig = malloc(k * sizeof(uint64_t));
        /* One byte off alignment: packing must not depend on it. */
        unsigned char *buf = malloc(RECS_SIG_BYTES(k) + 1);
        assert_true(sig != NULL && buf != NULL);
        for (uint32_t i = 0; i < k; i++)
            sig[i] = i % 5 == 0 ? (uint64_t)-1 - i : rng();
        recs_sig_pack(sig, k, buf + 1);
        for (uint32_t i = 0; i < k; i++)
            assert_int_equal(recs_sig_value(buf + 1, k, i), sig[i]);
        assert_int_equal(recs_sig_value(buf + 1, k, k), 0);
        free(buf);
        free(sig);
    }
}

/* b agrees with a exactly, or only in the low 16 or 32 bits, or only above them. */
static uint64_t related(uint64_t a, unsigned pattern)
{
    switch (pattern) {
    case 0:
        return a;
    case 1:
        return a ^ (1ull << (16 + rng() % 48)); /* lo16 equal, mid or hi differ */
    case 2:
        return a ^ (1ull << (32 + rng() % 32)); /* lo16 and mid16 equal, hi32 differs */
    case 3:
        return a ^ (1ull << (16 + rng() % 16)); /* lo16 and hi32 equal, mid16 differs */
    case 4:
        return a ^ (1ull << (rng() % 16)); /* only the lo16 differ */
    default:
        return rng();
    }
}

static void test_matches_random(void **state)
{
    const recs_kernel kernel = kernel_or_skip(state);
    static const uint32_t ks[] = {1, 63, 64, 65, 1500, 4099};
    /* Percent of lanes related to a: none (no lo16 hit anywhere), a few, most, all. */
    static const unsigned densities[] = {0, 1, 10, 50, 90, 100};
    rng_state = 1234;
    for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
        const uint32_t k = ks[ki];
        struct recs_minhash *mh = hasher(k, kernel);
        uint64_t *a = malloc(k * sizeof(uint64_t)), *b = malloc(k * sizeof(uint64_t));
        /* Exactly sized, so the sanitizers see any read past a plane's end. */
        unsigned char *pa = malloc(RECS_SIG_BYTES(k)), *pb = malloc(RECS_SIG_BYTES(k));
        assert_true(a != NULL && b != NULL && pa != NULL && pb != NULL);
        for (size_t d = 0; d < sizeof(densities) / sizeof(densities[0]); d++) {
            for (unsigned pattern = 0; pattern < 6; pattern++) {
                uint32_t want = 0;
                for (uint32_t i = 0; i < k; i++) {
                    a[i] = rng();
                    const bool rel = rng() % 100 < densities[d];
                    /* Mixed pattern 5: each related lane picks a pattern of its own. */
                    b[i] =
                        rel ? related(a[i], pattern == 5 ? (unsigned)(rng() % 5) : pattern) : rng();
                    want += a[i] == b[i];
                }
                recs_sig_pack(a, k, pa);
                recs_sig_pack(b, k, pb);
                assert_int_equal(recs_minhash_matches(mh, pa, pb), want);
                assert_int_equal(recs_minhash_matches(mh, pb, pa), want);
                assert_int_equal(recs_minhash_matches(mh, pa, pa), k);
            }
        }
        free(a);
        free(b);
        free(pa);
        free(pb);
        recs_minhash_destroy(mh);
    }
}

/* ---- tokenizer edge cases ---- */

static void test_tokenize_edges(void **state)
{
    (void)state;
    struct recs_scratch *s = recs_scratch_create();
    assert_non_null(s);
    assert_tokens(s, "", 0, "", 0, NULL, 0);
    assert_tokens(s, NULL, 0, NULL, 0, NULL, 0);
    assert_tokens(s, " .,;-!?", 7, "\t\n\r()[]{}", 9, NULL, 0);
    const char *stop = "An and ARE as at be by for from has in is it its of on or our that the "
                       "this to was with you your";
    assert_tokens(s, stop, strlen(stop), "", 0, NULL, 0);
    assert_tokens(s, "HELLO World", 11, "wOrLd", 5, (const char *const[]){"hello", "world"}, 2);
    assert_tokens(s, "a b c 1 2 d1", 12, "x", 1, (const char *const[]){"d1"}, 1);
    /* Title and description never join into one token. */
    assert_tokens(s, "foo", 3, "bar", 3, (const char *const[]){"foo", "bar"}, 2);
    /* Bytes >= 0x80 are token bytes and not lower-cased; a lone one is a 1-byte token. */
    assert_tokens(s, "CAF\xc3\x89 na\xc3\xafve \x80 \xff\xfe", 17, "", 0,
                  (const char *const[]){"caf\xc3\x89", "na\xc3\xafve", "\xff\xfe"}, 3);
    /* Invalid UTF-8 is just bytes: an orphan lead byte glues to its neighbours. */
    assert_tokens(s, "ab\xc3(cd \xe2\x82", 9, "", 0,
                  (const char *const[]){"ab\xc3", "cd", "\xe2\x82"}, 3);
    /* A NUL byte inside the text is a separator, not the end. */
    assert_tokens(s, "xx\0yy", 5, "", 0, (const char *const[]){"xx", "yy"}, 2);
    /* Stop words only match whole tokens. */
    assert_tokens(s, "theory isn't Andes", 18, "", 0,
                  (const char *const[]){"theory", "isn", "andes"}, 3);
    assert_tokens(s, "red Red RED blue red", 20, "BLUE", 4, (const char *const[]){"red", "blue"},
                  2);
    recs_scratch_destroy(s);
}

/* 100 KB of text: 2000 distinct words, each repeated; the scratch then shrinks back. */
static void test_tokenize_large(void **state)
{
    (void)state;
    const size_t len = 100 * 1024;
    char *text = malloc(len);
    struct recs_scratch *s = recs_scratch_create();
    assert_true(text != NULL && s != NULL);
    size_t off = 0;
    for (unsigned i = 0; off + 16 < len; i++)
        off += (size_t)snprintf(text + off, len - off, "W%uX ", i % 2000);
    memset(text + off, ' ', len - off);
    const struct recs_token *toks;
    size_t n;
    assert_int_equal(recs_tokenize(s, text, len, text, len, &toks, &n), 0);
    assert_int_equal(n, 2000);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "w%zux", i);
        assert_int_equal(toks[i].len, strlen(want));
        assert_memory_equal(toks[i].bytes, want, toks[i].len);
    }
    assert_tokens(s, "after", 5, "big", 3, (const char *const[]){"after", "big"}, 2);
    free(text);
    recs_scratch_destroy(s);
}

static void test_tokenize_limits(void **state)
{
    (void)state;
    struct recs_scratch *s = recs_scratch_create();
    assert_non_null(s);
    const struct recs_token *toks;
    size_t n;
    /* The lengths alone decide: the pointers are never read. */
    const char *p = "x";
    assert_int_equal(recs_tokenize(s, p, RECS_SCRATCH_TEXT_MAX, p, 0, &toks, &n), -1);
    assert_int_equal(recs_tokenize(s, p, 0, p, RECS_SCRATCH_TEXT_MAX, &toks, &n), -1);
    assert_int_equal(recs_tokenize(s, p, SIZE_MAX, p, SIZE_MAX, &toks, &n), -1);
    assert_int_equal(recs_tokenize(s, NULL, 3, p, 0, &toks, &n), -1);
    assert_int_equal(recs_tokenize(NULL, p, 1, p, 0, &toks, &n), -1);
    /* Exactly at the limit is accepted. */
    char *text = malloc(RECS_SCRATCH_TEXT_MAX);
    assert_non_null(text);
    memset(text, 'q', RECS_SCRATCH_TEXT_MAX - 1);
    assert_int_equal(recs_tokenize(s, text, RECS_SCRATCH_TEXT_MAX - 1, NULL, 0, &toks, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(toks[0].len, RECS_SCRATCH_TEXT_MAX - 1);
    free(text);
    recs_scratch_destroy(s);
}

/* ---- the API around the kernels ---- */

static void test_signature_api(void **state)
{
    (void)state;
    const uint32_t k = 100;
    struct recs_minhash *mh = hasher(k, RECS_KERNEL_SCALAR);
    struct recs_scratch *s = recs_scratch_create();
    unsigned char *p1 = malloc(RECS_SIG_BYTES(k)), *p2 = malloc(RECS_SIG_BYTES(k));
    uint64_t *sig = malloc(k * sizeof(uint64_t));
    assert_true(s != NULL && p1 != NULL && p2 != NULL && sig != NULL);
    bool has = true;

    memset(p1, 0xff, RECS_SIG_BYTES(k));
    assert_int_equal(recs_minhash_signature(mh, s, "The", 3, "a, of!", 6, p1, &has), 0);
    assert_false(has);
    for (size_t i = 0; i < RECS_SIG_BYTES(k); i++)
        assert_int_equal(p1[i], 0);

    /* A set: order and repetition do not matter. */
    assert_int_equal(recs_minhash_signature(mh, s, "Red red blue", 12, "", 0, p1, &has), 0);
    assert_true(has);
    assert_int_equal(recs_minhash_signature(mh, s, "blue", 4, "RED", 3, p2, &has), 0);
    assert_true(has);
    assert_memory_equal(p1, p2, RECS_SIG_BYTES(k));
    assert_int_equal(recs_minhash_matches(mh, p1, p2), k);

    /* The packed signature is sign_tokens + pack. */
    const struct recs_token toks[] = {{(const unsigned char *)"red", 3},
                                      {(const unsigned char *)"blue", 4}};
    recs_minhash_sign_tokens(mh, toks, 2, sig);
    recs_sig_pack(sig, k, p2);
    assert_memory_equal(p1, p2, RECS_SIG_BYTES(k));

    assert_int_equal(recs_minhash_signature(mh, s, NULL, 1, "", 0, p1, &has), -1);
    assert_int_equal(recs_minhash_signature(mh, s, "x", 1, "", 0, NULL, &has), -1);
    free(sig);
    free(p1);
    free(p2);
    recs_scratch_destroy(s);
    recs_minhash_destroy(mh);
}

static void test_create_limits(void **state)
{
    (void)state;
    struct recs_minhash *mh = (struct recs_minhash *)&mh; /* must stay untouched */
    struct recs_minhash *const sentinel = mh;
    assert_int_equal(recs_minhash_create(0, RECS_KERNEL_AUTO, &mh), -1);
    assert_int_equal(recs_minhash_create(RECS_MINHASH_K_MAX + 1, RECS_KERNEL_AUTO, &mh), -1);
    assert_int_equal(recs_minhash_create(UINT32_MAX, RECS_KERNEL_SCALAR, &mh), -1);
    assert_int_equal(recs_minhash_create(10, (recs_kernel)99, &mh), -1);
    assert_int_equal(recs_minhash_create(10, RECS_KERNEL_SCALAR, NULL), -1);
    assert_ptr_equal(mh, sentinel);

    assert_int_equal(recs_minhash_create(RECS_MINHASH_K_MAX, RECS_KERNEL_AUTO, &mh), 0);
    assert_int_equal(recs_minhash_kernel(mh), recs_kernel_best());
    assert_int_equal(recs_minhash_k(mh), RECS_MINHASH_K_MAX);
    recs_minhash_destroy(mh);
    recs_minhash_destroy(NULL);
    recs_scratch_destroy(NULL);
    for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
        if (recs_kernel_supported(kernels[i]))
            continue;
        mh = sentinel;
        assert_int_equal(recs_minhash_create(10, kernels[i], &mh), -1);
        assert_ptr_equal(mh, sentinel);
    }
}

static void test_kernel_names(void **state)
{
    (void)state;
    static const char *const names[] = {"auto", "scalar", "avx2", "avx512"};
    for (size_t i = 0; i < 4; i++) {
        recs_kernel k = (recs_kernel)99;
        assert_int_equal(recs_kernel_parse(names[i], &k), 0);
        assert_string_equal(recs_kernel_name(k), names[i]);
    }
    static const char *const bad[] = {"", "AVX2", "avx", "avx512f", "sse", "scalar ", "auto\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        recs_kernel k = RECS_KERNEL_AVX2;
        assert_int_equal(recs_kernel_parse(bad[i], &k), -1);
        assert_int_equal(k, RECS_KERNEL_AVX2);
    }
    recs_kernel k;
    assert_int_equal(recs_kernel_parse(NULL, &k), -1);
    assert_int_equal(recs_kernel_parse("avx2", NULL), -1);
    assert_true(recs_kernel_supported(RECS_KERNEL_AUTO));
    assert_true(recs_kernel_supported(RECS_KERNEL_SCALAR));
    assert_true(recs_kernel_supported(recs_kernel_best()));
    assert_int_not_equal(recs_kernel_best(), RECS_KERNEL_AUTO);
    print_message("kernels: best %s, avx2 %s, avx512 %s\n", recs_kernel_name(recs_kernel_best()),
                  recs_kernel_supported(RECS_KERNEL_AVX2) ? "yes" : "no",
                  recs_kernel_supported(RECS_KERNEL_AVX512) ? "yes" : "no");
}

/* One entry per kernel path, named so that a failure says which path it was. */
#define PER_KERNEL(fn)                                                                             \
    {#fn "/scalar", fn, NULL, NULL, (void *)&kernels[0]},                                          \
        {#fn "/avx2", fn, NULL, NULL, (void *)&kernels[1]},                                        \
    {                                                                                              \
#fn "/avx512", fn, NULL, NULL, (void *)&kernels[2]                                         \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_names),       cmocka_unit_test(test_fnv_vectors),
        cmocka_unit_test(test_token_vectors),      PER_KERNEL(test_hk_vectors),
        PER_KERNEL(test_signature_prefix_vectors), PER_KERNEL(test_ranking_vectors),
        PER_KERNEL(test_kernel_vs_naive),          PER_KERNEL(test_matches_random),
        cmocka_unit_test(test_pack_roundtrip),     cmocka_unit_test(test_tokenize_edges),
        cmocka_unit_test(test_tokenize_large),     cmocka_unit_test(test_tokenize_limits),
        cmocka_unit_test(test_signature_api),      cmocka_unit_test(test_create_limits),
    };
    return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
