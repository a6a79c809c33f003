/*
 * test_minhash.c - the scoring module against docs/SCORING.md's test vectors
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
        /* And as the last value of the block holding k. */
        const uint32_t first = k / RECS_MINHASH_BLOCK * RECS_MINHASH_BLOCK;
        sig[k - first] = 0;
        recs_minhash_sign_range(mh, &t, 1, first, k - first + 1, sig);
        assert_int_equal(sig[k - first], want);
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

/* Signatures of every catalog product, indexed as the catalog array, and the
 * per-position ids a catalog would intern them to (see catalog.h): at each
 * position, the i-th distinct value among the signed products gets an id
 * derived injectively from i, spread over all bits so that no kernel can get
 * by comparing only the low ones. */
struct catalog {
    size_t n;
    uint32_t k;
    uint64_t *sigs; /* n * k */
    uint8_t *ids8;
    uint16_t *ids16;
    uint32_t *ids32;
    bool *has;
    int64_t *ids;
};

static void intern(struct catalog *c)
{
    const uint32_t k = c->k;
    c->ids8 = malloc(c->n * k);
    c->ids16 = malloc(c->n * k * sizeof(uint16_t));
    c->ids32 = malloc(c->n * k * sizeof(uint32_t));
    assert_true(c->ids8 != NULL && c->ids16 != NULL && c->ids32 != NULL);
    assert_true(c->n <= 256); /* ids below 256: 8 bits hold them */
    for (uint32_t j = 0; j < k; j++) {
        uint32_t distinct = 0;
        for (size_t p = 0; p < c->n; p++) {
            uint32_t id = distinct;
            for (size_t q = 0; q < p; q++) {
                if (c->has[q] && c->sigs[q * k + j] == c->sigs[p * k + j]) {
                    id = c->ids32[q * k + j];
                    break;
                }
            }
            if (id == distinct)
                distinct++;
            /* Odd multipliers: injective modulo 2^8, 2^16 and 2^32. */
            c->ids32[p * k + j] = id;
            c->ids16[p * k + j] = (uint16_t)(id * 0x1357u + j);
            c->ids8[p * k + j] = (uint8_t)(id * 0x35u + j);
        }
        for (size_t p = 0; p < c->n; p++)
            c->ids32[p * k + j] = c->ids32[p * k + j] * 0x9e3779b1u + j;
    }
}

static void sign_catalog(const struct recs_minhash *mh, struct catalog *c)
{
    json_t *cat = json_object_get(vectors, "catalog");
    struct recs_scratch *s = recs_scratch_create();
    c->n = json_array_size(cat);
    c->k = recs_minhash_k(mh);
    c->sigs = calloc(c->n * c->k, sizeof(uint64_t));
    c->has = malloc(c->n * sizeof(bool));
    c->ids = malloc(c->n * sizeof(int64_t));
    assert_true(s != NULL && c->sigs != NULL && c->has != NULL && c->ids != NULL);
    assert_true(c->n > 0);
    for (size_t i = 0; i < c->n; i++) {
        json_t *p = json_array_get(cat, i);
        const char *title = str(p, "title"), *desc = str(p, "description");
        c->ids[i] = json_integer_value(json_object_get(p, "id"));
        assert_int_equal(recs_minhash_signature(mh, s, title, strlen(title), desc, strlen(desc),
                                                c->sigs + i * c->k, &c->has[i]),
                         0);
    }
    recs_scratch_destroy(s);
    intern(c);
}

static void free_catalog(struct catalog *c)
{
    free(c->sigs);
    free(c->ids8);
    free(c->ids16);
    free(c->ids32);
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
            assert_int_equal(c.sigs[p * c.k + j],
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

/* Each listed candidate's matches and score, and the whole ranking (docs/SCORING.md 6). */
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
            all[n].matches = 0;
            if (c.has[t] && c.has[p]) {
                all[n].matches = recs_minhash_matches(mh, c.sigs + t * k, c.sigs + p * k);
                /* The interned ids count alike, either way round. */
                assert_int_equal(recs_minhash_matches8(mh, c.ids8 + t * k, c.ids8 + p * k),
                                 all[n].matches);
                assert_int_equal(recs_minhash_matches8(mh, c.ids8 + p * k, c.ids8 + t * k),
                                 all[n].matches);
                assert_int_equal(recs_minhash_matches16(mh, c.ids16 + t * k, c.ids16 + p * k),
                                 all[n].matches);
                assert_int_equal(recs_minhash_matches16(mh, c.ids16 + p * k, c.ids16 + t * k),
                                 all[n].matches);
                assert_int_equal(recs_minhash_matches32(mh, c.ids32 + t * k, c.ids32 + p * k),
                                 all[n].matches);
                assert_int_equal(recs_minhash_matches32(mh, c.ids32 + p * k, c.ids32 + t * k),
                                 all[n].matches);
            }
            n++;
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

/* The K values of the range and comparison tests: around every vector width
 * and unroll of the kernels (4, 8, 16, 32, 64 and 128 elements), and large. */
static const uint32_t test_ks[] = {1,   2,   3,   4,   7,    8,    9,    15,
                                   16,  17,  31,  32,  33,   63,   64,   65,
                                   127, 128, 129, 200, 1500, 4099, 8191, RECS_MINHASH_K_MAX};
#define NTEST_KS (sizeof(test_ks) / sizeof(test_ks[0]))
#define GUARD 16u
#define GUARD_VALUE 0xa5a5a5a5a5a5a5a5ull

/* sign_range into an exactly sized buffer (so the sanitizers see any write past
 * it) and into a guarded one; both must equal full[first .. first+count). */
static void check_range(const struct recs_minhash *mh, const struct recs_token *toks, size_t n,
                        const uint64_t *full, uint32_t first, uint32_t count)
{
    uint64_t *guarded = malloc((count + GUARD) * sizeof(uint64_t));
    assert_non_null(guarded);
    for (uint32_t i = 0; i < count + GUARD; i++)
        guarded[i] = GUARD_VALUE;
    recs_minhash_sign_range(mh, toks, n, first, count, guarded);
    if (count > 0)
        assert_memory_equal(guarded, full + first, count * sizeof(uint64_t));
    for (uint32_t i = count; i < count + GUARD; i++)
        assert_int_equal(guarded[i], GUARD_VALUE);
    free(guarded);
    if (count == 0)
        return;
    uint64_t *exact = malloc(count * sizeof(uint64_t));
    assert_non_null(exact);
    recs_minhash_sign_range(mh, toks, n, first, count, exact);
    assert_memory_equal(exact, full + first, count * sizeof(uint64_t));
    free(exact);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static void test_sign_range(void **state)
{
    const recs_kernel kernel = kernel_or_skip(state);
    static const uint32_t ks[] = {1, 63, 64, 65, 127, 128, 129, 1500, 4099, RECS_MINHASH_K_MAX};
    const uint32_t b = RECS_MINHASH_BLOCK;
    struct recs_token toks[24];
    unsigned char bytes[24 * 16];
    uint64_t *full = malloc(RECS_MINHASH_K_MAX * sizeof(uint64_t));
    uint64_t *blocks = malloc((RECS_MINHASH_K_MAX + GUARD) * sizeof(uint64_t));
    assert_true(full != NULL && blocks != NULL);
    rng_state = 99;
    for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
        const uint32_t k = ks[ki], last = (k - 1) / b * b;
        struct recs_minhash *mh = hasher(k, kernel);
        const size_t n = random_tokens(toks, bytes, 24);
        recs_minhash_sign_tokens(mh, toks, n, full);

        check_range(mh, toks, n, full, 0, k);
        check_range(mh, toks, n, full, 0, 0);
        check_range(mh, toks, n, full, 0, 1);
        check_range(mh, toks, n, full, 0, min_u32(k, 63));
        check_range(mh, toks, n, full, 0, min_u32(k, b));
        check_range(mh, toks, n, full, 0, k - 1);
        if (k > b) {
            check_range(mh, toks, n, full, b, k - b);
            check_range(mh, toks, n, full, b, 1);
            check_range(mh, toks, n, full, b, min_u32(k - b, 63));
            check_range(mh, toks, n, full, b, min_u32(k - b, b));
            check_range(mh, toks, n, full, b, min_u32(k - b, b + 1));
        }
        check_range(mh, toks, n, full, last, k - last);
        check_range(mh, toks, n, full, last, 1);
        check_range(mh, toks, n, full, last, (k - last + 1) / 2);
        check_range(mh, toks, n, full, k % b == 0 ? k : last, 0);
        for (int r = 0; r < 8; r++) {
            const uint32_t first = (uint32_t)(rng() % (last / b + 1)) * b;
            check_range(mh, toks, n, full, first, (uint32_t)(rng() % (k - first + 1)));
        }

        /* Block by block, in any order, builds the whole signature. */
        for (uint32_t i = 0; i < k + GUARD; i++)
            blocks[i] = GUARD_VALUE;
        for (uint32_t f = last;; f -= b) {
            recs_minhash_sign_range(mh, toks, n, f, min_u32(b, k - f), blocks + f);
            if (f == 0)
                break;
        }
        assert_memory_equal(blocks, full, k * sizeof(uint64_t));
        for (uint32_t i = k; i < k + GUARD; i++)
            assert_int_equal(blocks[i], GUARD_VALUE);

        /* Outside the contract: refused, nothing written. */
        blocks[0] = GUARD_VALUE;
        recs_minhash_sign_range(mh, toks, n, 1, 1, blocks);
        recs_minhash_sign_range(mh, toks, n, 0, k + 1, blocks);
        recs_minhash_sign_range(mh, toks, n, last + b, 1, blocks);
        recs_minhash_sign_range(mh, toks, n, last, UINT32_MAX, blocks);
        assert_int_equal(blocks[0], GUARD_VALUE);
        recs_minhash_destroy(mh);
    }
    free(full);
    free(blocks);
}

/* A nonzero XOR that makes a value of `bits` bits differ: sometimes in one bit
 * only (at either end), sometimes anywhere. */
static uint64_t differ(unsigned bits)
{
    const uint64_t all = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
    uint64_t d;
    switch (rng() % 4) {
    case 0:
        return 1ull << (rng() % bits);
    case 1:
        return 1ull << (bits - 1);
    case 2:
        return 1;
    default:
        while ((d = rng() & all) == 0)
            ;
        return d;
    }
}

/* Which positions agree: none, one (first, last, anywhere), 1%, 50%, 99%, all. */
enum density { NONE, ONE_FIRST, ONE_LAST, ONE_ANY, PCT1, PCT50, PCT99, ALL, NDENSITIES };

static bool agrees(enum density d, uint32_t i, uint32_t k, uint32_t one)
{
    switch (d) {
    case NONE:
        return false;
    case ONE_FIRST:
        return i == 0;
    case ONE_LAST:
        return i == k - 1;
    case ONE_ANY:
        return i == one;
    case PCT1:
        return rng() % 100 == 0;
    case PCT50:
        return rng() % 2 == 0;
    case PCT99:
        return rng() % 100 != 0;
    default:
        return true;
    }
}

/* The three comparisons against a naive count, with the arrays exactly sized
 * (the sanitizers see any read past them) and either 16-byte aligned or one
 * element off. */
#define CHECK_MATCHES(type, bits, fn)                                                              \
    do {                                                                                           \
        type *mem_a = malloc(((size_t)k + 1) * sizeof(type));                                      \
        type *mem_b = malloc(((size_t)k + 1) * sizeof(type));                                      \
        assert_true(mem_a != NULL && mem_b != NULL);                                               \
        for (int shift = 0; shift < 2; shift++) {                                                  \
            type *a = mem_a + shift, *b = mem_b + 1 - shift;                                       \
            uint32_t want = 0;                                                                     \
            for (uint32_t i = 0; i < k; i++) {                                                     \
                a[i] = (type)rng();                                                                \
                b[i] = agrees(d, i, k, one) ? a[i] : (type)(a[i] ^ differ(bits));                  \
                want += a[i] == b[i];                                                              \
            }                                                                                      \
            assert_int_equal(fn(mh, a, b), want);                                                  \
            assert_int_equal(fn(mh, b, a), want);                                                  \
            assert_int_equal(fn(mh, a, a), k);                                                     \
            memcpy(b, a, k * sizeof(type));                                                        \
            assert_int_equal(fn(mh, a, b), k);                                                     \
        }                                                                                          \
        free(mem_a);                                                                               \
        free(mem_b);                                                                               \
    } while (0)

static void test_matches_random(void **state)
{
    const recs_kernel kernel = kernel_or_skip(state);
    rng_state = 1234;
    for (size_t ki = 0; ki < NTEST_KS; ki++) {
        const uint32_t k = test_ks[ki];
        struct recs_minhash *mh = hasher(k, kernel);
        for (int dd = 0; dd < NDENSITIES; dd++) {
            const enum density d = (enum density)dd;
            const uint32_t one = (uint32_t)(rng() % k);
            CHECK_MATCHES(uint8_t, 8, recs_minhash_matches8);
            CHECK_MATCHES(uint16_t, 16, recs_minhash_matches16);
            CHECK_MATCHES(uint32_t, 32, recs_minhash_matches32);
            CHECK_MATCHES(uint64_t, 64, recs_minhash_matches);
        }
        recs_minhash_destroy(mh);
    }
}

/* Every supported kernel gives the same bits as the scalar one on the same input. */
static void test_kernels_agree(void **state)
{
    (void)state;
    struct recs_token toks[40];
    unsigned char bytes[40 * 16];
    uint64_t *sig[3], *a = malloc(RECS_MINHASH_K_MAX * sizeof(uint64_t));
    uint32_t *a32 = malloc(RECS_MINHASH_K_MAX * sizeof(uint32_t));
    uint32_t *b32 = malloc(RECS_MINHASH_K_MAX * sizeof(uint32_t));
    uint16_t *a16 = malloc(RECS_MINHASH_K_MAX * sizeof(uint16_t));
    uint16_t *b16 = malloc(RECS_MINHASH_K_MAX * sizeof(uint16_t));
    uint8_t *a8 = malloc(RECS_MINHASH_K_MAX), *b8 = malloc(RECS_MINHASH_K_MAX);
    assert_true(a != NULL && a32 != NULL && b32 != NULL && a16 != NULL && b16 != NULL &&
                a8 != NULL && b8 != NULL);
    for (int p = 0; p < 3; p++) {
        sig[p] = malloc(RECS_MINHASH_K_MAX * sizeof(uint64_t));
        assert_non_null(sig[p]);
    }
    rng_state = 555;
    for (size_t ki = 0; ki < NTEST_KS; ki++) {
        const uint32_t k = test_ks[ki];
        struct recs_minhash *mh[3] = {NULL};
        for (int p = 0; p < 3; p++)
            if (recs_kernel_supported(kernels[p]))
                mh[p] = hasher(k, kernels[p]);
        const size_t n = random_tokens(toks, bytes, 40);
        /* a: half the positions of sig[0] at random, for matches near k / 2. */
        recs_minhash_sign_tokens(mh[0], toks, n, sig[0]);
        for (uint32_t i = 0; i < k; i++) {
            a[i] = rng() % 2 ? sig[0][i] : rng();
            a32[i] = (uint32_t)a[i];
            a16[i] = (uint16_t)a[i];
            b32[i] = (uint32_t)sig[0][i];
            b16[i] = (uint16_t)sig[0][i];
            a8[i] = (uint8_t)a[i];
            b8[i] = (uint8_t)sig[0][i];
        }
        const uint32_t first = (uint32_t)(rng() % ((k - 1) / RECS_MINHASH_BLOCK + 1)) *
                               RECS_MINHASH_BLOCK,
                       count = (uint32_t)(rng() % (k - first + 1));
        for (int p = 1; p < 3; p++) {
            if (mh[p] == NULL)
                continue;
            recs_minhash_sign_tokens(mh[p], toks, n, sig[p]);
            assert_memory_equal(sig[p], sig[0], k * sizeof(uint64_t));
            recs_minhash_sign_range(mh[p], toks, n, first, count, sig[p]);
            if (count > 0)
                assert_memory_equal(sig[p], sig[0] + first, count * sizeof(uint64_t));
            assert_int_equal(recs_minhash_matches(mh[p], a, sig[0]),
                             recs_minhash_matches(mh[0], a, sig[0]));
            assert_int_equal(recs_minhash_matches32(mh[p], a32, b32),
                             recs_minhash_matches32(mh[0], a32, b32));
            assert_int_equal(recs_minhash_matches16(mh[p], a16, b16),
                             recs_minhash_matches16(mh[0], a16, b16));
            assert_int_equal(recs_minhash_matches8(mh[p], a8, b8),
                             recs_minhash_matches8(mh[0], a8, b8));
        }
        for (int p = 0; p < 3; p++)
            recs_minhash_destroy(mh[p]);
    }
    for (int p = 0; p < 3; p++)
        free(sig[p]);
    free(a);
    free(a32);
    free(b32);
    free(a16);
    free(b16);
    free(a8);
    free(b8);
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
    uint64_t *s1 = malloc(k * sizeof(uint64_t)), *s2 = malloc(k * sizeof(uint64_t));
    uint64_t *sig = malloc(k * sizeof(uint64_t));
    assert_true(s != NULL && s1 != NULL && s2 != NULL && sig != NULL);
    bool has = true;

    /* No tokens: no signature, and sig is left as it was. */
    memset(s1, 0x3c, k * sizeof(uint64_t));
    assert_int_equal(recs_minhash_signature(mh, s, "The", 3, "a, of!", 6, s1, &has), 0);
    assert_false(has);
    for (uint32_t i = 0; i < k; i++)
        assert_int_equal(s1[i], 0x3c3c3c3c3c3c3c3cull);

    /* A set: order and repetition do not matter. */
    assert_int_equal(recs_minhash_signature(mh, s, "Red red blue", 12, "", 0, s1, &has), 0);
    assert_true(has);
    assert_int_equal(recs_minhash_signature(mh, s, "blue", 4, "RED", 3, s2, &has), 0);
    assert_true(has);
    assert_memory_equal(s1, s2, k * sizeof(uint64_t));
    assert_int_equal(recs_minhash_matches(mh, s1, s2), k);

    /* The signature is sign_tokens over the tokenized text. */
    const struct recs_token toks[] = {{(const unsigned char *)"red", 3},
                                      {(const unsigned char *)"blue", 4}};
    recs_minhash_sign_tokens(mh, toks, 2, sig);
    assert_memory_equal(s1, sig, k * sizeof(uint64_t));

    /* Another text shares some positions only. */
    assert_int_equal(recs_minhash_signature(mh, s, "red green", 9, "", 0, s2, &has), 0);
    const uint32_t m = recs_minhash_matches(mh, s1, s2);
    assert_true(m > 0 && m < k);

    assert_int_equal(recs_minhash_signature(mh, s, NULL, 1, "", 0, s1, &has), -1);
    assert_int_equal(recs_minhash_signature(mh, s, "x", 1, "", 0, NULL, &has), -1);
    assert_int_equal(recs_minhash_signature(mh, s, "x", 1, "", 0, s1, NULL), -1);
    free(sig);
    free(s1);
    free(s2);
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
        PER_KERNEL(test_kernel_vs_naive),          PER_KERNEL(test_sign_range),
        PER_KERNEL(test_matches_random),           cmocka_unit_test(test_kernels_agree),
        cmocka_unit_test(test_tokenize_edges),     cmocka_unit_test(test_tokenize_large),
        cmocka_unit_test(test_tokenize_limits),    cmocka_unit_test(test_signature_api),
        cmocka_unit_test(test_create_limits),
    };
    return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
