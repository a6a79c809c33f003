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
 * a block never reads past it, and only sig[0..k-1] is ever written. A sign
 * kernel reads at most prefix[0 .. round_up(k, KERNEL_LANE_PAD)), so starting
 * it at prefix + first, first a multiple of KERNEL_LANE_PAD, stays inside the
 * padded array whenever first + k <= K. */
#define KERNEL_LANE_PAD 64u
_Static_assert(RECS_MINHASH_BLOCK % KERNEL_LANE_PAD == 0,
               "sign_range blocks must start on a padded block of prefix states");

/* sig[i] = min over tokens of the FNV state prefix[i] advanced over the token,
 * for i < k; writes nothing past sig[k-1]. prefix needs no alignment. */
typedef void (*recs_sign_fn)(const uint64_t *prefix, uint32_t k, const struct recs_token *tokens,
                             size_t ntokens, uint64_t *sig);
/* #{ i < k : a[i] == b[i] } over arrays of 64-, 32-, 16- or 8-bit elements. The
 * arrays need no alignment beyond their type's and are read only below k. */
typedef uint32_t (*recs_match64_fn)(const uint64_t *a, const uint64_t *b, uint32_t k);
typedef uint32_t (*recs_match32_fn)(const uint32_t *a, const uint32_t *b, uint32_t k);
typedef uint32_t (*recs_match16_fn)(const uint16_t *a, const uint16_t *b, uint32_t k);
typedef uint32_t (*recs_match8_fn)(const uint8_t *a, const uint8_t *b, uint32_t k);

void recs_sign_scalar(const uint64_t *prefix, uint32_t k, const struct recs_token *tokens,
                      size_t ntokens, uint64_t *sig);
uint32_t recs_match64_scalar(const uint64_t *a, const uint64_t *b, uint32_t k);
uint32_t recs_match32_scalar(const uint32_t *a, const uint32_t *b, uint32_t k);
uint32_t recs_match16_scalar(const uint16_t *a, const uint16_t *b, uint32_t k);
uint32_t recs_match8_scalar(const uint8_t *a, const uint8_t *b, uint32_t k);

#if defined(__x86_64__)
void recs_sign_avx2(const uint64_t *prefix, uint32_t k, const struct recs_token *tokens,
                    size_t ntokens, uint64_t *sig);
uint32_t recs_match64_avx2(const uint64_t *a, const uint64_t *b, uint32_t k);
uint32_t recs_match32_avx2(const uint32_t *a, const uint32_t *b, uint32_t k);
uint32_t recs_match16_avx2(const uint16_t *a, const uint16_t *b, uint32_t k);
uint32_t recs_match8_avx2(const uint8_t *a, const uint8_t *b, uint32_t k);
void recs_sign_avx512(const uint64_t *prefix, uint32_t k, const struct recs_token *tokens,
                      size_t ntokens, uint64_t *sig);
uint32_t recs_match64_avx512(const uint64_t *a, const uint64_t *b, uint32_t k);
uint32_t recs_match32_avx512(const uint32_t *a, const uint32_t *b, uint32_t k);
uint32_t recs_match16_avx512(const uint16_t *a, const uint16_t *b, uint32_t k);
uint32_t recs_match8_avx512(const uint8_t *a, const uint8_t *b, uint32_t k);
#endif

#endif
