/*
 * minhash_kernels.h - private to minhash.c: the per-instruction-set hashing
 * and comparison kernels, chosen once per hasher and called through pointers.
 */
#ifndef RECS_MINHASH_KERNELS_H
#define RECS_MINHASH_KERNELS_H

#include <stdint.h>

#include "minhash.h"

#define FNV_BASIS 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

/* Lanes the kernels round K up to: the prefix array holds this many states so
 * a block never reads past it, and only sig[0..k-1] is ever written. */
#define KERNEL_LANE_PAD 64u

/* sig[i] = min over tokens of the FNV state prefix[i] advanced over the token. */
typedef void (*recs_sign_fn)(const uint64_t *prefix, uint32_t k, const struct recs_token *tokens,
                             size_t ntokens, uint64_t *sig);
/* Exact 64-bit equality count of two packed signatures of k values. */
typedef uint32_t (*recs_match_fn)(const void *a, const void *b, uint32_t k);

void recs_sign_scalar(const uint64_t *prefix, uint32_t k, const struct recs_token *tokens,
                      size_t ntokens, uint64_t *sig);
uint32_t recs_match_scalar(const void *a, const void *b, uint32_t k);

#if defined(__x86_64__)
void recs_sign_avx2(const uint64_t *prefix, uint32_t k, const struct recs_token *tokens,
                    size_t ntokens, uint64_t *sig);
uint32_t recs_match_avx2(const void *a, const void *b, uint32_t k);
void recs_sign_avx512(const uint64_t *prefix, uint32_t k, const struct recs_token *tokens,
                      size_t ntokens, uint64_t *sig);
uint32_t recs_match_avx512(const void *a, const void *b, uint32_t k);
#endif

#endif
