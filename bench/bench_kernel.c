/*
 * bench_kernel.c - microbenchmark of the MinHash kernels on one thread: FNV
 * byte-steps per second of signing, for a textbook scalar loop and for every
 * kernel path this CPU runs, then comparisons per second of one target against
 * many candidates, as a request scores a catalog.
 *
 *   build/bench_kernel [--seconds S] [--k K]
 *
 * The input is ~200 synthetic product texts of ~200 bytes, generated from a
 * fixed seed so that runs and machines are comparable. Comparisons run over
 * their signatures (uint64_t) and over the per-position ids a catalog interns
 * them to (uint16_t and uint32_t), rows 64-byte aligned and laid out one after
 * the other: a streaming set of 20,000 rows (repeating the 200 products; more
 * than the caches hold, so it measures memory bandwidth) and a small set of
 * the 200 rows (cache-resident). Every timed pass compares one target row with
 * every row in order.
 *
 * All paths must produce identical signatures and match counts before
 * anything is timed (exit 1 otherwise).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "minhash.h"

#define NPRODUCTS 200
#define NCATEGORIES 25
#define NCATWORDS 60
#define NCOMMON 300
#define NWORDS (NCOMMON + NCATEGORIES * NCATWORDS)
#define ROUNDS 5
#define NPATHS 4
#define NROWS_STREAM 20000
#define STREAM_MAX_BYTES (256u << 20) /* fewer rows for a large --k */
#define NWIDTHS 3
#define FNV_BASIS 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

/* Path 0 is the naive loop; the rest are the library's kernels. */
static const recs_kernel paths[NPATHS] = {RECS_KERNEL_AUTO, RECS_KERNEL_SCALAR, RECS_KERNEL_AVX2,
                                          RECS_KERNEL_AVX512};

struct product {
    struct recs_token *tokens; /* distinct tokens, bytes owned by the product */
    size_t ntokens;
    unsigned char *bytes;
    char text[512];
    size_t title_len;
    double steps; /* K * token bytes: FNV byte-steps of one signature */
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * The baseline: h_k(t) from scratch for every token and every k, one byte at a
 * time. Kept out of line and unvectorized so that it stays the textbook loop.
 */
__attribute__((noinline, optimize("no-tree-vectorize"))) static void
naive_sign(const struct recs_token *tokens, size_t ntokens, uint32_t k, uint64_t *sig)
{
    for (uint32_t i = 0; i < k; i++)
        sig[i] = UINT64_MAX;
    for (size_t t = 0; t < ntokens; t++) {
        for (uint32_t i = 0; i < k; i++) {
            uint64_t h = FNV_BASIS;
            for (int s = 0; s < 32; s += 8)
                h = (h ^ ((i >> s) & 0xff)) * FNV_PRIME;
            for (uint32_t j = 0; j < tokens[t].len; j++)
                h = (h ^ tokens[t].bytes[j]) * FNV_PRIME;
            if (h < sig[i])
                sig[i] = h;
        }
    }
}

/*
 * Words from a small syllable alphabet. Like a real catalog, each text draws
 * most words from its category's vocabulary and the rest from common words,
 * so most pairs share little and a few share a lot.
 */
static const char *pick_word(char (*words)[16], int category)
{
    const double u = (double)(rng() >> 11) / 9007199254740992.0;
    if (rng() % 10 < 2)
        return words[(int)(u * NCOMMON)];
    return words[NCOMMON + category * NCATWORDS + (int)(u * NCATWORDS)];
}

static void make_catalog(struct product *p, struct recs_scratch *scratch)
{
    static const char *const syl[] = {"ka", "ro",  "li",  "ne", "sta", "mo", "tri", "ve", "dun",
                                      "pa", "sel", "gor", "ti", "ban", "qu", "ex",  "lo", "rin"};
    const size_t nsyl = sizeof(syl) / sizeof(syl[0]);
    static char words[NWORDS][16];
    for (int w = 0; w < NWORDS; w++) {
        const int n = 1 + (int)(rng() % 4);
        for (int s = 0; s < n; s++)
            strcat(words[w], syl[rng() % nsyl]);
    }
    for (int i = 0; i < NPRODUCTS; i++) {
        size_t len = 0;
        for (int w = 0; len < 200; w++) {
            const char *word = pick_word(words, i % NCATEGORIES);
            len += (size_t)snprintf(p[i].text + len, sizeof(p[i].text) - len, "%s%s",
                                    w == 0 ? "" : (w % 7 ? " " : ", "), word);
            if (w == 3)
                p[i].title_len = len;
        }
        const struct recs_token *toks;
        size_t n;
        if (recs_tokenize(scratch, p[i].text, p[i].title_len, p[i].text + p[i].title_len + 1,
                          len - p[i].title_len - 1, &toks, &n) != 0 ||
            n == 0) {
            fprintf(stderr, "bench_kernel: tokenize failed\n");
            exit(1);
        }
        p[i].tokens = calloc(n, sizeof(*p[i].tokens));
        p[i].bytes = malloc(len);
        if (p[i].tokens == NULL || p[i].bytes == NULL) {
            fprintf(stderr, "bench_kernel: out of memory\n");
            exit(1);
        }
        size_t off = 0;
        for (size_t t = 0; t < n; t++) {
            memcpy(p[i].bytes + off, toks[t].bytes, toks[t].len);
            p[i].tokens[t] = (struct recs_token){p[i].bytes + off, toks[t].len};
            off += toks[t].len;
        }
        p[i].ntokens = n;
    }
}

/* Element widths of the comparisons, in bytes, and their names. */
static const size_t widths[NWIDTHS] = {2, 4, 8};
static const char *const width_names[NWIDTHS] = {"u16", "u32", "u64"};

/* Row bytes: K elements rounded up to a cache line, as the catalog stores them. */
static size_t row_stride(size_t width, unsigned long k)
{
    return (width * k + 63) / 64 * 64;
}

static uint32_t compare(const struct recs_minhash *mh, int w, const unsigned char *a,
                        const unsigned char *b)
{
    switch (w) {
    case 0:
        return recs_minhash_matches16(mh, (const uint16_t *)(const void *)a,
                                      (const uint16_t *)(const void *)b);
    case 1:
        return recs_minhash_matches32(mh, (const uint32_t *)(const void *)a,
                                      (const uint32_t *)(const void *)b);
    default:
        return recs_minhash_matches(mh, (const uint64_t *)(const void *)a,
                                    (const uint64_t *)(const void *)b);
    }
}

/* Fills rows[0..nrows) with product r % NPRODUCTS's elements of width w: the
 * signature itself, or its interned ids. */
static void fill_rows(unsigned char *rows, size_t nrows, int w, unsigned long k,
                      const uint64_t *sigs, const uint32_t *ids)
{
    const size_t stride = row_stride(widths[w], k);
    for (size_t r = 0; r < nrows; r++) {
        unsigned char *row = rows + r * stride;
        const size_t p = r % NPRODUCTS;
        memset(row, 0, stride);
        for (size_t j = 0; j < k; j++) {
            if (w == 0) {
                const uint16_t v = (uint16_t)ids[p * k + j];
                memcpy(row + 2 * j, &v, sizeof(v));
            } else if (w == 1) {
                memcpy(row + 4 * j, &ids[p * k + j], sizeof(uint32_t));
            } else {
                memcpy(row + 8 * j, &sigs[p * k + j], sizeof(uint64_t));
            }
        }
    }
}

/* One request's worth of work: target row t against every row, in order. */
static uint64_t scan(const struct recs_minhash *mh, int w, const unsigned char *rows, size_t nrows,
                     size_t stride, size_t t)
{
    uint64_t sum = 0;
    const unsigned char *target = rows + t * stride;
    for (size_t r = 0; r < nrows; r++)
        sum += compare(mh, w, target, rows + r * stride);
    return sum;
}

static void print_cpu(void)
{
    char line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *c = strchr(line, ':');
            printf("cpu: %s", c != NULL ? c + 2 : line);
            break;
        }
    }
    if (f != NULL)
        fclose(f);
}

int main(int argc, char **argv)
{
    double seconds = 1.0;
    unsigned long k = RECS_MINHASH_K_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--k") == 0 && i + 1 < argc) {
            k = strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: %s [--seconds S] [--k K]\n", argv[0]);
            return 2;
        }
    }
    if (!(seconds > 0 && seconds < 3600) || k == 0 || k > RECS_MINHASH_K_MAX) {
        fprintf(stderr, "bench_kernel: --seconds must be in (0, 3600), --k in 1..%u\n",
                RECS_MINHASH_K_MAX);
        return 2;
    }

    static struct product prod[NPRODUCTS];
    struct recs_scratch *scratch = recs_scratch_create();
    if (scratch == NULL)
        return 1;
    make_catalog(prod, scratch);
    double steps_per_pass = 0, tokens = 0;
    for (int i = 0; i < NPRODUCTS; i++) {
        tokens += (double)prod[i].ntokens;
        for (size_t t = 0; t < prod[i].ntokens; t++)
            prod[i].steps += (double)k * prod[i].tokens[t].len;
        steps_per_pass += prod[i].steps;
    }

    print_cpu();
    printf("best kernel: %s\n", recs_kernel_name(recs_kernel_best()));
    printf("input: %d texts, %.1f distinct tokens and %.0f token bytes per text, K=%lu, %.1f s "
           "per path (best of %d slices), 1 thread\n",
           NPRODUCTS, tokens / NPRODUCTS, steps_per_pass / (double)k / NPRODUCTS, k, seconds,
           ROUNDS);

    struct recs_minhash *mh[NPATHS] = {NULL};
    uint64_t *ref = malloc(k * sizeof(uint64_t)), *sig = malloc(k * sizeof(uint64_t));
    uint64_t *sigs = malloc((size_t)NPRODUCTS * k * sizeof(uint64_t));
    uint32_t *ids = malloc((size_t)NPRODUCTS * k * sizeof(uint32_t));
    uint32_t *want = malloc((size_t)NPRODUCTS * NPRODUCTS * sizeof(uint32_t));
    if (ref == NULL || sig == NULL || sigs == NULL || ids == NULL || want == NULL)
        return 1;
    for (int p = 1; p < NPATHS; p++) {
        if (!recs_kernel_supported(paths[p]))
            continue;
        if (recs_minhash_create((uint32_t)k, paths[p], &mh[p]) != 0)
            return 1;
    }

    /* Every path against the naive loop, for every text, before any timing. */
    for (int i = 0; i < NPRODUCTS; i++) {
        naive_sign(prod[i].tokens, prod[i].ntokens, (uint32_t)k, ref);
        for (int p = 1; p < NPATHS; p++) {
            if (mh[p] == NULL)
                continue;
            memset(sig, 0x5a, k * sizeof(uint64_t)); /* no stale lane can pass */
            recs_minhash_sign_tokens(mh[p], prod[i].tokens, prod[i].ntokens, sig);
            if (memcmp(ref, sig, k * sizeof(uint64_t)) != 0) {
                printf("MISMATCH: %s signature of text %d differs from naive\n",
                       recs_kernel_name(paths[p]), i);
                return 1;
            }
            bool has = false;
            memset(sig, 0x5a, k * sizeof(uint64_t));
            if (recs_minhash_signature(mh[p], scratch, prod[i].text, prod[i].title_len,
                                       prod[i].text + prod[i].title_len + 1,
                                       strlen(prod[i].text) - prod[i].title_len - 1, sig,
                                       &has) != 0 ||
                !has || memcmp(ref, sig, k * sizeof(uint64_t)) != 0) {
                printf("MISMATCH: %s signature of text %d differs from sign_tokens\n",
                       recs_kernel_name(paths[p]), i);
                return 1;
            }
        }
        memcpy(sigs + (size_t)i * k, ref, k * sizeof(uint64_t));
    }

    /* Interned ids as a catalog would make them: per position, dense by first
     * appearance; and the naive match count of every pair. */
    uint32_t max_distinct = 0;
    for (size_t j = 0; j < k; j++) {
        uint32_t distinct = 0;
        for (size_t a = 0; a < NPRODUCTS; a++) {
            size_t b = 0;
            while (b < a && sigs[b * k + j] != sigs[a * k + j])
                b++;
            ids[a * k + j] = b < a ? ids[b * k + j] : distinct++;
        }
        max_distinct = distinct > max_distinct ? distinct : max_distinct;
    }
    uint64_t total = 0, zero = 0;
    for (size_t a = 0; a < NPRODUCTS; a++) {
        for (size_t b = 0; b < NPRODUCTS; b++) {
            uint32_t m = 0;
            for (size_t j = 0; j < k; j++)
                m += sigs[a * k + j] == sigs[b * k + j];
            want[a * NPRODUCTS + b] = m;
            total += m;
            zero += m == 0;
        }
    }

    /* One buffer, refilled per width: the streaming set, whose first
     * NPRODUCTS rows are the small set. */
    size_t nstream = NROWS_STREAM;
    if (nstream * row_stride(8, k) > STREAM_MAX_BYTES)
        nstream = STREAM_MAX_BYTES / row_stride(8, k);
    if (nstream < NPRODUCTS)
        nstream = NPRODUCTS;
    const size_t nsets = 2, set_rows[2] = {nstream, NPRODUCTS};
    unsigned char *rows = aligned_alloc(64, nstream * row_stride(8, k));
    if (rows == NULL)
        return 1;

    /* Every path and width against the naive counts: all pairs of the small
     * set, and a whole pass over the streaming set. */
    for (int w = 0; w < NWIDTHS; w++) {
        const size_t stride = row_stride(widths[w], k);
        fill_rows(rows, nstream, w, k, sigs, ids);
        for (int p = 1; p < NPATHS; p++) {
            if (mh[p] == NULL)
                continue;
            for (size_t a = 0; a < NPRODUCTS; a++) {
                for (size_t b = 0; b < NPRODUCTS; b++) {
                    if (compare(mh[p], w, rows + a * stride, rows + b * stride) !=
                        want[a * NPRODUCTS + b]) {
                        printf("MISMATCH: %s %s matches of texts %zu and %zu differ from naive\n",
                               recs_kernel_name(paths[p]), width_names[w], a, b);
                        return 1;
                    }
                }
            }
            const size_t t = (size_t)w * 7 % NPRODUCTS;
            uint64_t expect = 0;
            for (size_t r = 0; r < nstream; r++)
                expect += want[t * NPRODUCTS + r % NPRODUCTS];
            if (scan(mh[p], w, rows, nstream, stride, t) != expect) {
                printf("MISMATCH: %s %s scan of the streaming set differs from naive\n",
                       recs_kernel_name(paths[p]), width_names[w]);
                return 1;
            }
        }
    }
    printf("verified: all paths give identical signatures and match counts (u16, u32, u64) on "
           "all %d texts\n\n",
           NPRODUCTS);

    /* Short slices in turn, best of each: the speedup survives a neighbour's load spike. */
    double sign_rate[NPATHS] = {0}, sig_ns[NPATHS] = {0};
    double cmp_rate[NPATHS][NWIDTHS][2] = {{{0}}};
    uint64_t sink = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int p = 0; p < NPATHS; p++) {
            if (p > 0 && mh[p] == NULL)
                continue;
            long sigs_done = 0;
            double steps = 0, t0 = now(), t;
            do {
                const struct product *pr = &prod[sigs_done % NPRODUCTS];
                if (p == 0)
                    naive_sign(pr->tokens, pr->ntokens, (uint32_t)k, sig);
                else
                    recs_minhash_sign_tokens(mh[p], pr->tokens, pr->ntokens, sig);
                sink += sig[sigs_done % k];
                steps += pr->steps;
                sigs_done++;
            } while ((t = now() - t0) < seconds / ROUNDS);
            if (steps / t > sign_rate[p]) {
                sign_rate[p] = steps / t;
                sig_ns[p] = t * 1e9 / (double)sigs_done;
            }
        }
        /* Widths outermost: the buffer is refilled once per width and round. */
        for (int w = 0; w < NWIDTHS; w++) {
            const size_t stride = row_stride(widths[w], k);
            fill_rows(rows, nstream, w, k, sigs, ids);
            for (int p = 1; p < NPATHS; p++) {
                if (mh[p] == NULL)
                    continue;
                for (size_t s = 0; s < nsets; s++) {
                    /* Half the signing time per measurement: 18 of them. */
                    double calls = 0, t0 = now(), t;
                    size_t target = 0;
                    do {
                        sink += scan(mh[p], w, rows, set_rows[s], stride, target);
                        target = (target + 37) % NPRODUCTS;
                        calls += (double)set_rows[s];
                    } while ((t = now() - t0) < seconds / ROUNDS / 2);
                    if (calls / t > cmp_rate[p][w][s])
                        cmp_rate[p][w][s] = calls / t;
                }
            }
        }
    }

    int best = 0;
    printf("%-8s %14s %14s %10s\n", "path", "byte-steps/s", "ns/signature", "speedup");
    for (int p = 0; p < NPATHS; p++) {
        if (p > 0 && mh[p] == NULL) {
            printf("%-8s %14s\n", recs_kernel_name(paths[p]), "(unsupported)");
            continue;
        }
        best = p;
        printf("%-8s %11.2f G/s %14.0f %9.1fx\n", p == 0 ? "naive" : recs_kernel_name(paths[p]),
               sign_rate[p] * 1e-9, sig_ns[p], sign_rate[p] / sign_rate[0]);
    }

    printf("\n%-8s %-5s %-22s %14s %10s %10s\n", "path", "ids", "working set", "comparisons/s",
           "ns/cmp", "GB/s");
    for (int w = 0; w < NWIDTHS; w++) {
        for (size_t s = 0; s < nsets; s++) {
            for (int p = 1; p < NPATHS; p++) {
                if (mh[p] == NULL)
                    continue;
                const double r = cmp_rate[p][w][s];
                char set[64];
                snprintf(set, sizeof(set), "%5zu rows %7.1f MB", set_rows[s],
                         (double)set_rows[s] * (double)row_stride(widths[w], k) / 1e6);
                printf("%-8s %-5s %-22s %12.2f M %10.1f %10.1f\n", recs_kernel_name(paths[p]),
                       width_names[w], set, r * 1e-6, 1e9 / r,
                       r * (double)widths[w] * (double)k * 1e-9);
            }
        }
    }
    printf("(one target row against every row in order; GB/s counts the candidate's K ids or "
           "values,\n %zu or %zu bytes per comparison; all %d x %d pairs: mean matches %.1f, "
           "%.0f%% with none;\n at most %u distinct values per position)\n",
           2 * (size_t)k, 8 * (size_t)k, NPRODUCTS, NPRODUCTS,
           (double)total / (NPRODUCTS * NPRODUCTS), 100.0 * (double)zero / (NPRODUCTS * NPRODUCTS),
           max_distinct);

    const double m16 = cmp_rate[best][0][0], m64 = cmp_rate[best][2][0];
    printf("\nRESULT kernel=%s K=%lu sign=%.2f G byte-steps/s (%.1fx naive) match=%.2f M/s "
           "match16=%.2f M/s (%.1f GB/s) checksum=%016llx\n",
           recs_kernel_name(paths[best]), k, sign_rate[best] * 1e-9, sign_rate[best] / sign_rate[0],
           m64 * 1e-6, m16 * 1e-6, m16 * 2.0 * (double)k * 1e-9, (unsigned long long)sink);

    for (int p = 0; p < NPATHS; p++)
        recs_minhash_destroy(mh[p]);
    free(rows);
    free(sigs);
    free(ids);
    free(want);
    for (int i = 0; i < NPRODUCTS; i++) {
        free(prod[i].tokens);
        free(prod[i].bytes);
    }
    free(ref);
    free(sig);
    recs_scratch_destroy(scratch);
    return 0;
}
