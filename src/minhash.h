/*
 * minhash.h - the scoring of docs/SCORING.md: tokens, FNV-1a, seeded hash functions
 * h_k, MinHash signatures and their comparison. Pure computation, no I/O, no
 * global mutable state: safe to call from any number of threads at once as long
 * as each thread passes its own scratch.
 *
 * A signature is uint64_t[K]. For a catalog held in memory, the catalog module
 * replaces each value by a small id per position (equal ids exactly when equal
 * values), so comparisons there count equal uint16_t or uint32_t ids instead:
 * a quarter or half of the bytes to scan, and still exact.
 */
#ifndef RECS_MINHASH_H
#define RECS_MINHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECS_MINHASH_K_DEFAULT 1500u
#define RECS_MINHASH_K_MAX 8192u

/* The instruction-set paths of the hashing and comparison kernels. */
typedef enum {
    RECS_KERNEL_AUTO = 0, /* the best one this CPU runs */
    RECS_KERNEL_SCALAR,
    RECS_KERNEL_AVX2,
    RECS_KERNEL_AVX512,
} recs_kernel;

/* "scalar", "avx2", "avx512" (or "auto"). */
const char *recs_kernel_name(recs_kernel kernel);
/* Parses a kernel name as above; returns 0, or -1 for an unknown name. */
int recs_kernel_parse(const char *name, recs_kernel *out);
/* Whether this CPU can run the path (AUTO and SCALAR: always). */
bool recs_kernel_supported(recs_kernel kernel);
/* The fastest path this CPU supports. */
recs_kernel recs_kernel_best(void);

/* FNV-1a 64 over len bytes (docs/SCORING.md section 3). */
uint64_t recs_fnv1a64(const void *data, size_t len);
/* h_k(token): FNV-1a 64 over LE32(k) || token. */
uint64_t recs_minhash_hk(uint32_t k, const void *token, size_t len);

/* An immutable hasher for one K: the K precomputed FNV states after the four
 * LE32(k) prefix bytes, and the chosen kernel. Shared read-only by all threads. */
struct recs_minhash;

/* Creates a hasher for k (1..RECS_MINHASH_K_MAX) hash functions using kernel
 * (AUTO picks recs_kernel_best()). Returns 0, or -1 if k is out of range, the
 * kernel is not supported on this CPU, or memory runs out (*out untouched).
 * The caller owns *out and frees it with recs_minhash_destroy. */
int recs_minhash_create(uint32_t k, recs_kernel kernel, struct recs_minhash **out);
void recs_minhash_destroy(struct recs_minhash *mh);
uint32_t recs_minhash_k(const struct recs_minhash *mh);
recs_kernel recs_minhash_kernel(const struct recs_minhash *mh);

/* Per-thread working memory for tokenizing and hashing (token set, lower-cased
 * bytes, an unpacked signature). It grows with the longest text seen, up to
 * RECS_SCRATCH_TEXT_MAX bytes of text. Owned by the caller; never shared between
 * threads at the same time. */
#define RECS_SCRATCH_TEXT_MAX (4u << 20)
struct recs_scratch;
struct recs_scratch *recs_scratch_create(void);
void recs_scratch_destroy(struct recs_scratch *scratch);

/* Whether title || " " || description is short enough to tokenize
 * (RECS_SCRATCH_TEXT_MAX). Callers leave longer texts without a signature. */
bool recs_minhash_text_fits(size_t title_len, size_t description_len);

/* One token as produced by recs_tokenize: bytes already lower-cased. */
struct recs_token {
    const unsigned char *bytes;
    uint32_t len;
};

/* Tokenizes title || " " || description (docs/SCORING.md section 2) into the
 * scratch: the distinct tokens, stop words and 1-byte tokens dropped, in order
 * of first appearance. *tokens points into the scratch and stays valid until
 * the next call with that scratch. Returns 0, or -1 when memory runs out or
 * the text is longer than RECS_SCRATCH_TEXT_MAX. */
int recs_tokenize(struct recs_scratch *scratch, const char *title, size_t title_len,
                  const char *description, size_t description_len, const struct recs_token **tokens,
                  size_t *count);

/* Computes the signature of title || " " || description into sig (K values)
 * and sets *has_tokens; a text without tokens has no signature (sig is then
 * left as it was and must not be compared). Returns 0, or -1 as
 * recs_tokenize. */
int recs_minhash_signature(const struct recs_minhash *mh, struct recs_scratch *scratch,
                           const char *title, size_t title_len, const char *description,
                           size_t description_len, uint64_t *sig, bool *has_tokens);

/* sig[k] for k = 0..K-1 over an already tokenized set; ntokens must be > 0. */
void recs_minhash_sign_tokens(const struct recs_minhash *mh, const struct recs_token *tokens,
                              size_t ntokens, uint64_t *sig);

/* The block size of recs_minhash_sign_range. */
#define RECS_MINHASH_BLOCK 64u

/* sig[i] = value at position first + i, for i = 0..count-1, over an already
 * tokenized set (ntokens > 0). first must be a multiple of RECS_MINHASH_BLOCK
 * and first + count <= K. Lets a caller build signatures one block of
 * positions at a time. */
void recs_minhash_sign_range(const struct recs_minhash *mh, const struct recs_token *tokens,
                             size_t ntokens, uint32_t first, uint32_t count, uint64_t *sig);

/* matches = #{ i < K : a[i] == b[i] } for two signatures. */
uint32_t recs_minhash_matches(const struct recs_minhash *mh, const uint64_t *a, const uint64_t *b);
/* The same over per-position ids of 8, 16 or 32 bits (K of them each). */
uint32_t recs_minhash_matches8(const struct recs_minhash *mh, const uint8_t *a, const uint8_t *b);
uint32_t recs_minhash_matches16(const struct recs_minhash *mh, const uint16_t *a,
                                const uint16_t *b);
uint32_t recs_minhash_matches32(const struct recs_minhash *mh, const uint32_t *a,
                                const uint32_t *b);

#endif
