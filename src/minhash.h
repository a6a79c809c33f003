/*
 * minhash.h - the scoring of SCORING.md: tokens, FNV-1a, seeded hash functions
 * h_k, MinHash signatures and their comparison. Pure computation, no I/O, no
 * global mutable state: safe to call from any number of threads at once as long
 * as each thread passes its own scratch.
 *
 * Signatures are stored "packed" for fast comparison: a packed signature of K
 * values is three planes laid out one after the other, lo16[K] (bits 0-15),
 * mid16[K] (bits 16-31) and hi32[K] (bits 32-63), RECS_SIG_BYTES(K) bytes in
 * all. Comparing two signatures reads the lo16 plane only and looks at the
 * other planes where the low bits agree, so a scan over many candidates moves a
 * quarter of the bytes a plain uint64_t[K] array would, and still counts exact
 * 64-bit equality.
 */
#ifndef RECS_MINHASH_H
#define RECS_MINHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECS_MINHASH_K_DEFAULT 1500u
#define RECS_MINHASH_K_MAX 8192u

/* Bytes of one packed signature of k values (the three planes). */
#define RECS_SIG_BYTES(k) ((size_t)(k) * 8u)

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

/* FNV-1a 64 over len bytes (SCORING.md section 3). */
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

/* One token as produced by recs_tokenize: bytes already lower-cased. */
struct recs_token {
    const unsigned char *bytes;
    uint32_t len;
};

/* Tokenizes title || " " || description (SCORING.md section 2) into the
 * scratch: the distinct tokens, stop words and 1-byte tokens dropped, in order
 * of first appearance. *tokens points into the scratch and stays valid until
 * the next call with that scratch. Returns 0, or -1 when memory runs out or
 * the text is longer than RECS_SCRATCH_TEXT_MAX. */
int recs_tokenize(struct recs_scratch *scratch, const char *title, size_t title_len,
                  const char *description, size_t description_len,
                  const struct recs_token **tokens, size_t *count);

/* Computes the packed signature of title || " " || description into
 * packed_out (RECS_SIG_BYTES(K) bytes) and sets *has_tokens; a text without
 * tokens has no signature (packed_out is then zero-filled and must not be
 * compared). Returns 0, or -1 as recs_tokenize. */
int recs_minhash_signature(const struct recs_minhash *mh, struct recs_scratch *scratch,
                           const char *title, size_t title_len, const char *description,
                           size_t description_len, void *packed_out, bool *has_tokens);

/* The unpacked form: sig[k] for k = 0..K-1 over an already tokenized set.
 * ntokens must be > 0. Used by tests and the kernel benchmark. */
void recs_minhash_sign_tokens(const struct recs_minhash *mh, const struct recs_token *tokens,
                              size_t ntokens, uint64_t *sig);

/* Packs sig[0..k-1] into the three planes at packed_out. */
void recs_sig_pack(const uint64_t *sig, uint32_t k, void *packed_out);
/* Reads value i back out of a packed signature. */
uint64_t recs_sig_value(const void *packed, uint32_t k, uint32_t i);

/* matches = #{ i : a[i] == b[i] } over two packed signatures of K values. */
uint32_t recs_minhash_matches(const struct recs_minhash *mh, const void *packed_a,
                              const void *packed_b);

#endif
