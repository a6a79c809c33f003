/*
 * bench_kernel.c - microbenchmark of the MinHash kernels on one thread: FNV
 * byte-steps per second of signing, for a textbook scalar loop and for every
 * kernel path this CPU runs, then signature comparisons per second.
 *
 *   build/bench_kernel [--seconds S] [--k K]
 *
 * The input is ~200 synthetic product texts of ~200 bytes, generated from a
 * fixed seed so that runs and machines are comparable. All paths must produce
 * identical signatures before anything is timed (exit 1 otherwise).
 */
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
    unsigned char *packed[NPATHS] = {NULL};
    if (ref == NULL || sig == NULL)
        return 1;
    for (int p = 1; p < NPATHS; p++) {
        if (!recs_kernel_supported(paths[p]))
            continue;
        packed[p] = malloc((size_t)NPRODUCTS * RECS_SIG_BYTES(k));
        if (packed[p] == NULL || recs_minhash_create((uint32_t)k, paths[p], &mh[p]) != 0)
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
        }
    }
    /* And the packed signatures compare alike on every path. */
    uint64_t total[NPATHS] = {0}, zero = 0;
    for (int p = 1; p < NPATHS; p++) {
        if (mh[p] == NULL)
            continue;
        for (int i = 0; i < NPRODUCTS; i++) {
            bool has;
            if (recs_minhash_signature(mh[p], scratch, prod[i].text, prod[i].title_len,
                                       prod[i].text + prod[i].title_len + 1,
                                       strlen(prod[i].text) - prod[i].title_len - 1,
                                       packed[p] + (size_t)i * RECS_SIG_BYTES(k), &has) != 0)
                return 1;
        }
        for (int a = 0; a < NPRODUCTS; a++) {
            for (int b = 0; b < NPRODUCTS; b++) {
                const uint32_t m =
                    recs_minhash_matches(mh[p], packed[p] + (size_t)a * RECS_SIG_BYTES(k),
                                         packed[p] + (size_t)b * RECS_SIG_BYTES(k));
                total[p] += m;
                zero += p == 1 && m == 0;
            }
        }
        if (total[p] != total[1]) {
            printf("MISMATCH: %s match counts differ from scalar\n", recs_kernel_name(paths[p]));
            return 1;
        }
    }
    printf("verified: all paths give identical signatures and match counts on all %d texts\n\n",
           NPRODUCTS);

    /* Short slices in turn, best of each: the speedup survives a neighbour's load spike. */
    double sign_rate[NPATHS] = {0}, sig_ns[NPATHS] = {0}, match_rate[NPATHS] = {0};
    uint64_t sink = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int p = 0; p < NPATHS; p++) {
            if (p > 0 && mh[p] == NULL)
                continue;
            long sigs = 0;
            double steps = 0, t0 = now(), t;
            do {
                const struct product *pr = &prod[sigs % NPRODUCTS];
                if (p == 0)
                    naive_sign(pr->tokens, pr->ntokens, (uint32_t)k, sig);
                else
                    recs_minhash_sign_tokens(mh[p], pr->tokens, pr->ntokens, sig);
                sink += sig[sigs % k];
                steps += pr->steps;
                sigs++;
            } while ((t = now() - t0) < seconds / ROUNDS);
            if (steps / t > sign_rate[p]) {
                sign_rate[p] = steps / t;
                sig_ns[p] = t * 1e9 / (double)sigs;
            }
            if (p == 0)
                continue;
            long calls = 0;
            t0 = now();
            do {
                const unsigned char *a =
                    packed[p] + (size_t)(calls / NPRODUCTS % NPRODUCTS) * RECS_SIG_BYTES(k);
                for (int b = 0; b < NPRODUCTS; b++)
                    sink +=
                        recs_minhash_matches(mh[p], a, packed[p] + (size_t)b * RECS_SIG_BYTES(k));
                calls += NPRODUCTS;
            } while ((t = now() - t0) < seconds / ROUNDS);
            if ((double)calls / t > match_rate[p])
                match_rate[p] = (double)calls / t;
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
    printf("\n%-8s %14s %14s %14s\n", "path", "matches/s", "ns/match", "lo16 GB/s");
    for (int p = 1; p < NPATHS; p++)
        if (mh[p] != NULL)
            printf("%-8s %12.2f M %14.1f %14.1f\n", recs_kernel_name(paths[p]),
                   match_rate[p] * 1e-6, 1e9 / match_rate[p],
                   match_rate[p] * 2.0 * (double)k * 1e-9);
    printf("(all %d x %d pairs: mean matches %.1f, %.0f%% with none; lo16 GB/s counts the "
           "candidate's plane, 2*K bytes per comparison)\n",
           NPRODUCTS, NPRODUCTS, (double)total[1] / (NPRODUCTS * NPRODUCTS),
           100.0 * (double)zero / (NPRODUCTS * NPRODUCTS));

    printf("\nRESULT kernel=%s K=%lu sign=%.2f G byte-steps/s (%.1fx naive) match=%.2f M/s "
           "checksum=%016llx\n",
           recs_kernel_name(paths[best]), k, sign_rate[best] * 1e-9, sign_rate[best] / sign_rate[0],
           match_rate[best] * 1e-6, (unsigned long long)sink);

    for (int p = 0; p < NPATHS; p++) {
        recs_minhash_destroy(mh[p]);
        free(packed[p]);
    }
    for (int i = 0; i < NPRODUCTS; i++) {
        free(prod[i].tokens);
        free(prod[i].bytes);
    }
    free(ref);
    free(sig);
    recs_scratch_destroy(scratch);
    return 0;
}
