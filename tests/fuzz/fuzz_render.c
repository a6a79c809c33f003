/*
 * fuzz_render.c - libFuzzer harness for what turns catalog rows into a
 * response: the tokenizer and MinHash signatures (docs/SCORING.md), catalog
 * snapshots, ranking, and the JSON bodies (docs/API.md).
 *
 * Input: a 17-byte header, then NUL-separated fields, four per product row:
 * slug, title, description, category slug (empty = NULL). Header:
 *   [0] K - 1   [1] kernel (bits 0-1), two OpenMP threads (bit 2)
 *   [2] limit   [3] target row   [4..11] first id (LE)   [12] id step
 *   [13..16] first price (LE)
 * Every result is compared with a straightforward reference written from
 * docs/SCORING.md and docs/API.md; any difference aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalog.h"
#include "minhash.h"
#include "score.h"
#include "render.h"

#include "check.h"

#define HEADER 17
#define MAX_ROWS 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct recs_scratch *scratch; /* reused across inputs, as a worker does */

/* ---- reference: docs/SCORING.md ---- */

struct ref_token {
    const unsigned char *bytes; /* into the lower-cased text */
    size_t len;
};

static bool ref_token_byte(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ref_stop_word(const unsigned char *p, size_t len)
{
    static const char *const stop[] = {"an",  "and",  "are",  "as",  "at",   "be",  "by",
                                       "for", "from", "has",  "in",  "is",   "it",  "its",
                                       "of",  "on",   "or",   "our", "that", "the", "this",
                                       "to",  "was",  "with", "you", "your"};
    for (size_t i = 0; i < sizeof(stop) / sizeof(stop[0]); i++)
        if (strlen(stop[i]) == len && memcmp(stop[i], p, len) == 0)
            return true;
    return false;
}

/* Tokens of title || " " || description: distinct, in order of first
 * appearance. *text receives the lower-cased text the tokens point into. */
static size_t ref_tokenize(const char *title, size_t tlen, const char *desc, size_t dlen,
                           unsigned char **text, struct ref_token **tokens)
{
    size_t len = tlen + 1 + dlen, n = 0;
    unsigned char *t = malloc(len);
    struct ref_token *toks = malloc((len / 2 + 1) * sizeof(*toks));
    CHECK(t != NULL && toks != NULL);
    memcpy(t, title, tlen);
    t[tlen] = ' ';
    memcpy(t + tlen + 1, desc, dlen);
    for (size_t i = 0; i < len; i++)
        if (t[i] >= 'A' && t[i] <= 'Z')
            t[i] = (unsigned char)(t[i] - 'A' + 'a');
    for (size_t i = 0; i < len;) {
        if (!ref_token_byte(t[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && ref_token_byte(t[i]))
            i++;
        size_t tl = i - start;
        if (tl < 2 || ref_stop_word(t + start, tl))
            continue;
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = toks[j].len == tl && memcmp(toks[j].bytes, t + start, tl) == 0;
        if (!seen)
            toks[n++] = (struct ref_token){t + start, tl};
    }
    *text = t;
    *tokens = toks;
    return n;
}

/* The reference's hot loops are left out of coverage: the fuzzer is to
 * explore the code under test, and tracing every comparison here would slow
 * it several-fold. */
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))

/* h_k(token) = FNV-1a 64 over LE32(k) || token. */
NO_COVERAGE static uint64_t ref_hk(uint32_t k, const unsigned char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 4; i++)
        h = (h ^ ((k >> (8 * i)) & 0xff)) * 0x100000001b3ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* sig[k] = min over tokens of h_k(token). */
NO_COVERAGE static void ref_signature(const struct ref_token *tokens, size_t n, uint32_t k,
                                      uint64_t *sig)
{
    for (uint32_t i = 0; i < k; i++) {
        uint64_t m = UINT64_MAX;
        for (size_t t = 0; t < n; t++) {
            uint64_t h = ref_hk(i, tokens[t].bytes, tokens[t].len);
            m = h < m ? h : m;
        }
        sig[i] = m;
    }
}

/* ---- reference: docs/API.md's JSON text (invalid UTF-8 repaired byte by byte) ---- */

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), or 0. */
static size_t ref_utf8(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t need;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        need = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        need = 3, lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        need = 4, lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (n < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return need;
}

static char *ref_repair(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(3 * n + 1);
    CHECK(out != NULL);
    for (size_t i = 0; i < n;) {
        size_t m = ref_utf8((const unsigned char *)s + i, n - i);
        if (m == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, m);
            o += m;
            i += m;
        }
    }
    out[o] = '\0';
    return out;
}

static void check_text(json_t *v, const char *want_raw)
{
    if (want_raw == NULL) {
        CHECK(json_is_null(v));
        return;
    }
    char *want = ref_repair(want_raw);
    CHECK(json_is_string(v));
    CHECK(json_string_length(v) == strlen(want) && strcmp(json_string_value(v), want) == 0);
    free(want);
}

static json_t *parse_body(char *body, size_t len)
{
    json_error_t err;
    CHECK(body != NULL && strlen(body) == len);
    json_t *root = json_loadb(body, len, 0, &err);
    if (root == NULL) {
        fprintf(stderr, "fuzz_render: property violated: body is not JSON (%s): %s\n", err.text,
                body);
        abort();
    }
    CHECK(json_is_object(root));
    return root;
}

static void check_error_body(const char *message)
{
    size_t len = 0;
    char *body = recs_render_error(message, &len);
    json_t *root = parse_body(body, len);
    CHECK(json_object_size(root) == 1);
    check_text(json_object_get(root, "error"), message);
    json_decref(root);
    free(body);
}

/* ---- the catalog ---- */

struct row {
    int64_t id;
    int32_t price;
    const char *slug, *title, *description, *category; /* category may be NULL */
};

struct product_ref {
    bool has_sig;
    uint64_t *sig;
};

/* The rows as db.c hands them over (strings borrowed from rows). */
static struct recs_rows make_rows(const struct row *rows, size_t n)
{
    struct recs_rows out = {.count = n};
    out.rows = calloc(n ? n : 1, sizeof(*out.rows));
    CHECK(out.rows != NULL);
    for (size_t i = 0; i < n; i++) {
        struct recs_row *r = &out.rows[i];
        r->id = rows[i].id;
        r->price_cents = rows[i].price;
        r->slug = rows[i].slug;
        r->title = rows[i].title;
        r->title_len = strlen(rows[i].title);
        r->description = rows[i].description;
        r->description_len = strlen(rows[i].description);
        r->category = rows[i].category;
    }
    return out;
}

static void check_tokens_and_signature(const struct recs_minhash *mh, uint32_t k,
                                       const struct row *r, struct product_ref *ref)
{
    size_t tlen = strlen(r->title), dlen = strlen(r->description);
    /* Exact-size copies without a terminator: reads past len are caught. */
    char *title = malloc(tlen ? tlen : 1), *desc = malloc(dlen ? dlen : 1);
    CHECK(title != NULL && desc != NULL);
    memcpy(title, r->title, tlen);
    memcpy(desc, r->description, dlen);

    unsigned char *text;
    struct ref_token *want;
    size_t nwant = ref_tokenize(r->title, tlen, r->description, dlen, &text, &want);

    const struct recs_token *got;
    size_t ngot = 0;
    CHECK(recs_tokenize(scratch, title, tlen, desc, dlen, &got, &ngot) == 0);
    CHECK(ngot == nwant);
    for (size_t i = 0; i < ngot; i++) {
        /* only token bytes, lower-case, >= 2 bytes, no stop word, the reference's */
        CHECK(got[i].len >= 2 && !ref_stop_word(got[i].bytes, got[i].len));
        for (uint32_t j = 0; j < got[i].len; j++)
            CHECK(ref_token_byte(got[i].bytes[j]) &&
                  !(got[i].bytes[j] >= 'A' && got[i].bytes[j] <= 'Z'));
        CHECK(got[i].len == want[i].len && memcmp(got[i].bytes, want[i].bytes, want[i].len) == 0);
    }

    ref->has_sig = nwant > 0;
    ref->sig = malloc(k * sizeof(uint64_t));
    CHECK(ref->sig != NULL);
    ref_signature(want, nwant, k, ref->sig);

    uint64_t *sig = malloc(k * sizeof(uint64_t));
    bool has = !ref->has_sig;
    CHECK(sig != NULL);
    memset(sig, 0xab, k * sizeof(uint64_t));
    CHECK(recs_minhash_signature(mh, scratch, title, tlen, desc, dlen, sig, &has) == 0);
    CHECK(has == ref->has_sig);
    for (uint32_t i = 0; i < k; i++)
        CHECK(sig[i] == (has ? ref->sig[i] : 0xababababababababull)); /* else left as it was */
    if (has && k > RECS_MINHASH_BLOCK) {
        /* one block of positions at a time gives the same values */
        uint32_t count = k - RECS_MINHASH_BLOCK < RECS_MINHASH_BLOCK ? k - RECS_MINHASH_BLOCK
                                                                     : RECS_MINHASH_BLOCK;
        CHECK(recs_tokenize(scratch, title, tlen, desc, dlen, &got, &ngot) == 0);
        recs_minhash_sign_range(mh, got, ngot, RECS_MINHASH_BLOCK, count, sig);
        CHECK(memcmp(sig, ref->sig + RECS_MINHASH_BLOCK, count * sizeof(uint64_t)) == 0);
    }
    free(sig);
    free(text);
    free(want);
    free(title);
    free(desc);
}

NO_COVERAGE static uint32_t ref_matches(const struct product_ref *a, const struct product_ref *b,
                                        uint32_t k)
{
    uint32_t m = 0;
    if (!a->has_sig || !b->has_sig)
        return 0;
    for (uint32_t i = 0; i < k; i++)
        m += a->sig[i] == b->sig[i];
    return m;
}

/* docs/SCORING.md section 6: matches descending, then id ascending. */
static const struct row *sort_rows;
static const uint32_t *sort_matches;
static int by_rank(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    if (sort_matches[a] != sort_matches[b])
        return sort_matches[a] > sort_matches[b] ? -1 : 1;
    return sort_rows[a].id < sort_rows[b].id ? -1 : sort_rows[a].id > sort_rows[b].id;
}

static void check_ranking(const struct recs_minhash *mh, const struct recs_catalog *cat,
                          size_t target, size_t limit, unsigned threads, const size_t *want,
                          size_t nwant, const uint32_t *matches, struct recs_ranked *out)
{
    size_t count = 12345;
    struct recs_score_query q = {.targets = &target, .ntargets = 1, .want = limit};
    CHECK(recs_score_rank(cat, mh, &q, threads, out, &count) == 0);
    CHECK(count == nwant);
    for (size_t i = 0; i < count; i++)
        CHECK(out[i].index == want[i] && out[i].matches == matches[want[i]]);
}

static void check_recommendations_body(const struct recs_catalog *cat, const struct row *rows,
                                       size_t target, const struct recs_ranked *ranked, size_t n,
                                       uint32_t k)
{
    size_t len = 0;
    char *body = recs_render_recommendations(cat, target, ranked, n, k, &len);
    json_t *root = parse_body(body, len);
    json_t *product = json_object_get(root, "product"),
           *list = json_object_get(root, "recommendations");

    CHECK(json_is_object(product) && json_is_array(list) && json_array_size(list) == n);
    CHECK(json_is_integer(json_object_get(product, "id")) &&
          json_integer_value(json_object_get(product, "id")) == rows[target].id);
    check_text(json_object_get(product, "slug"), rows[target].slug);
    check_text(json_object_get(product, "title"), rows[target].title);
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(list, i);
        const struct row *r = &rows[ranked[i].index];
        CHECK(json_is_object(item));
        CHECK(json_is_integer(json_object_get(item, "id")) &&
              json_integer_value(json_object_get(item, "id")) == r->id);
        check_text(json_object_get(item, "slug"), r->slug);
        check_text(json_object_get(item, "title"), r->title);
        check_text(json_object_get(item, "category"), r->category);
        CHECK(json_is_integer(json_object_get(item, "price_cents")) &&
              json_integer_value(json_object_get(item, "price_cents")) == r->price);
        CHECK(json_is_integer(json_object_get(item, "matches")) &&
              json_integer_value(json_object_get(item, "matches")) == ranked[i].matches);
        json_t *score = json_object_get(item, "score");
        double want = (double)ranked[i].matches / (double)k;
        CHECK(json_is_number(score));
        CHECK(json_number_value(score) - want <= 1e-12 && want - json_number_value(score) <= 1e-12);
    }
    json_decref(root);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const recs_kernel kernels[] = {RECS_KERNEL_AUTO, RECS_KERNEL_SCALAR, RECS_KERNEL_AVX2,
                                          RECS_KERNEL_AVX512};
    char *fields[4 * MAX_ROWS];
    size_t nfields = 0;
    struct row rows[MAX_ROWS];

    if (size < HEADER || size > 16384)
        return 0;
    if (scratch == NULL)
        CHECK((scratch = recs_scratch_create()) != NULL);

    uint32_t k = 1u + data[0];
    recs_kernel kernel = kernels[data[1] & 3];
    unsigned threads = (data[1] & 4) ? 2 : 1;
    size_t limit = data[2] < 128 ? 1u + data[2] % MAX_ROWS : 1u + data[2] % 100u; /* 1..100 */
    uint64_t ubase = 0;
    uint32_t uprice = 0;
    for (int i = 0; i < 8; i++)
        ubase |= (uint64_t)data[4 + i] << (8 * i);
    for (int i = 0; i < 4; i++)
        uprice |= (uint32_t)data[13 + i] << (8 * i);
    int64_t step = data[12] < 250 ? 1 + data[12] % 16 : (int64_t)1 << (data[12] - 210);

    for (size_t pos = HEADER; pos <= size && nfields < 4 * MAX_ROWS;) {
        size_t end = pos;
        while (end < size && data[end] != 0)
            end++;
        fields[nfields] = malloc(end - pos + 1);
        CHECK(fields[nfields] != NULL);
        memcpy(fields[nfields], data + pos, end - pos);
        fields[nfields][end - pos] = '\0';
        nfields++;
        pos = end + 1;
    }

    /* The error body for any text. */
    for (size_t i = 0; i < nfields; i++)
        check_error_body(fields[i]);
    size_t slen = 0;
    char *status = recs_render_status("ready", &slen);
    json_t *sroot = parse_body(status, slen);
    CHECK(strcmp(json_string_value(json_object_get(sroot, "status")), "ready") == 0);
    json_decref(sroot);
    free(status);

    size_t n = nfields / 4;
    if (n == 0)
        goto out;
    /* ids ascend from a fuzzed start without overflowing */
    int64_t base = (int64_t)ubase; /* INT64_MIN included (a past finding) */
    if (base > INT64_MAX - (int64_t)(n - 1) * step)
        base = INT64_MAX - (int64_t)(n - 1) * step;
    for (size_t i = 0; i < n; i++) {
        rows[i] = (struct row){
            .id = base + (int64_t)i * step,
            .price = (int32_t)(uprice + 7919u * (uint32_t)i),
            .slug = fields[4 * i],
            .title = fields[4 * i + 1],
            .description = fields[4 * i + 2],
            .category = fields[4 * i + 3][0] ? fields[4 * i + 3] : NULL,
        };
    }
    size_t target = data[3] % n;

    if (!recs_kernel_supported(kernel))
        kernel = RECS_KERNEL_SCALAR;
    struct recs_minhash *mh = NULL;
    CHECK(recs_minhash_create(k, kernel, &mh) == 0 && recs_minhash_k(mh) == k);

    /* Tokens and signatures, product by product. */
    struct product_ref ref[MAX_ROWS];
    for (size_t i = 0; i < n; i++)
        check_tokens_and_signature(mh, k, &rows[i], &ref[i]);

    /* Snapshots: with signatures, without, and one sharing the first. */
    struct recs_rows res = make_rows(rows, n);
    struct recs_catalog *with = NULL, *without = NULL, *shared = NULL;
    CHECK(recs_catalog_build(mh, &res, true, NULL, threads, &with) == 0);
    CHECK(recs_catalog_build(mh, &res, false, NULL, threads, &without) == 0);
    CHECK(recs_catalog_build(mh, &res, true, with, threads, &shared) == 0);
    free(res.rows);
    CHECK(recs_catalog_count(with) == n && recs_catalog_count(without) == n);
    CHECK(recs_catalog_has_signatures(with) && !recs_catalog_has_signatures(without));
    CHECK(recs_catalog_computed(with) == n && recs_catalog_computed(without) == 0);
    CHECK(recs_catalog_shared(shared) && recs_catalog_computed(shared) == 0);
    CHECK(recs_catalog_version(shared) == recs_catalog_version(with));
    for (size_t i = 0; i < n; i++) {
        const struct recs_product *p = recs_catalog_product(with, i);
        CHECK(p->id == rows[i].id && p->price_cents == rows[i].price);
        CHECK(strcmp(p->slug, rows[i].slug) == 0 && strcmp(p->title, rows[i].title) == 0 &&
              strcmp(p->description, rows[i].description) == 0);
        CHECK(rows[i].category ? p->category && strcmp(p->category, rows[i].category) == 0
                               : p->category == NULL);
        CHECK(p->has_signature == ref[i].has_sig);
        long f = recs_catalog_find(with, rows[i].slug);
        CHECK(f >= 0 && (size_t)f < n && strcmp(rows[f].slug, rows[i].slug) == 0);
    }
    /* A slug no row has is not found. */
    char absent[] = "\x01no such slug";
    bool present = false;
    for (size_t i = 0; i < n; i++)
        present |= strcmp(rows[i].slug, absent) == 0;
    if (!present)
        CHECK(recs_catalog_find(with, absent) == -1);

    /* Scores: every pair through the snapshot, and the target against all. */
    uint32_t matches[MAX_ROWS];
    for (size_t j = 0; j < n; j++) {
        matches[j] = ref_matches(&ref[target], &ref[j], k);
        CHECK(recs_catalog_matches(with, mh, target, j) == matches[j]);
        CHECK(recs_catalog_matches(with, mh, j, target) == matches[j]);
        if (ref[target].has_sig && ref[j].has_sig)
            CHECK(recs_minhash_matches(mh, ref[target].sig, ref[j].sig) == matches[j]);
    }

    /* The ranking: every product but the target, best first, limit of them. */
    size_t order[MAX_ROWS], nwant = 0;
    for (size_t j = 0; j < n; j++)
        if (j != target)
            order[nwant++] = j;
    sort_rows = rows;
    sort_matches = matches;
    qsort(order, nwant, sizeof(order[0]), by_rank);
    if (nwant > limit)
        nwant = limit;

    struct recs_ranked *out = malloc(limit * sizeof(*out));
    CHECK(out != NULL);
    check_ranking(mh, without, target, limit, threads, order, nwant, matches, out);
    check_ranking(mh, shared, target, limit, threads, order, nwant, matches, out);
    check_ranking(mh, with, target, limit, threads, order, nwant, matches, out);

    /* The 200 body of that ranking. */
    check_recommendations_body(with, rows, target, out, nwant, k);

    free(out);
    recs_catalog_unref(shared);
    recs_catalog_unref(without);
    recs_catalog_unref(with);
    for (size_t i = 0; i < n; i++)
        free(ref[i].sig);
    recs_minhash_destroy(mh);
out:
    for (size_t i = 0; i < nfields; i++)
        free(fields[i]);
    return 0;
}
