/*
 * minhash_kernels.c - the hot loops of the MinHash scoring, once per
 * instruction set: signing (K seeded FNV-1a hashes of every token, keeping the
 * minimum per hash function) and comparing two packed signatures.
 *
 * The wide kernels are compiled for their ISA with target attributes, not
 * -march, so one binary runs on any x86-64 and minhash.c picks at run time.
 *
 * Signing walks K in blocks of lanes, outermost, so that a block's running
 * minima stay in registers across all tokens; each lane starts a token from its
 * precomputed state after the LE32(k) prefix. Several independent vectors per
 * block hide the multiply latency of the serial FNV chain.
 */
#include <stdbool.h>
#include <string.h>

#include "minhash_kernels.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE uint16_t load16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static ALWAYS_INLINE uint32_t load32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static ALWAYS_INLINE uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* ---- scalar: the reference every other path must agree with ---- */

#define SCALAR_LANES 8u

void recs_sign_scalar(const uint64_t *prefix, uint32_t k, const struct recs_token *tokens,
                      size_t ntokens, uint64_t *sig)
{
    for (uint32_t base = 0; base < k; base += SCALAR_LANES) {
        uint64_t m[SCALAR_LANES], h[SCALAR_LANES];
        for (uint32_t i = 0; i < SCALAR_LANES; i++)
            m[i] = UINT64_MAX;
        for (size_t t = 0; t < ntokens; t++) {
            const unsigned char *p = tokens[t].bytes;
            memcpy(h, prefix + base, sizeof(h));
            for (uint32_t j = 0; j < tokens[t].len; j++)
                for (uint32_t i = 0; i < SCALAR_LANES; i++)
                    h[i] = (h[i] ^ p[j]) * FNV_PRIME;
            for (uint32_t i = 0; i < SCALAR_LANES; i++)
                m[i] = h[i] < m[i] ? h[i] : m[i];
        }
        const uint32_t n = k - base < SCALAR_LANES ? k - base : SCALAR_LANES;
        memcpy(sig + base, m, n * sizeof(m[0]));
    }
}

/* Exact count over lanes [from, to): all three planes agree. */
static uint32_t match_lanes(const unsigned char *a, const unsigned char *b, uint32_t k,
                            uint32_t from, uint32_t to)
{
    const size_t mid = (size_t)k * 2, hi = (size_t)k * 4;
    uint32_t n = 0;
    for (uint32_t i = from; i < to; i++)
        n += load16(a + 2 * i) == load16(b + 2 * i) &&
             load16(a + mid + 2 * i) == load16(b + mid + 2 * i) &&
             load32(a + hi + 4 * i) == load32(b + hi + 4 * i);
    return n;
}

uint32_t recs_match_scalar(const void *pa, const void *pb, uint32_t k)
{
    const unsigned char *a = pa, *b = pb;
    const uint64_t ones = 0x0001000100010001ull, highs = 0x8000800080008000ull;
    uint32_t n = 0, i = 0;
    for (; i + 16 <= k; i += 16) {
        /* Any zero 16-bit lane in a ^ b, four lanes per word; exact for "any". */
        uint64_t any = 0;
        for (uint32_t w = 0; w < 4; w++) {
            const uint64_t x = load64(a + 2 * i + 8 * w) ^ load64(b + 2 * i + 8 * w);
            any |= (x - ones) & ~x & highs;
        }
        if (any)
            n += match_lanes(a, b, k, i, i + 16);
    }
    return n + match_lanes(a, b, k, i, k);
}

#if defined(__x86_64__)
#include <immintrin.h>

/* ---- AVX2: 4 lanes per vector, no 64-bit multiply or unsigned compare ---- */

#define T_AVX2 __attribute__((target("avx2")))
#define AVX2_MAX_VECS 8u

/* x * (2^40 + 0x1b3) = lo32(x)*0x1b3 + ((hi32(x)*0x1b3 + (x << 8)) << 32), mod 2^64. */
static ALWAYS_INLINE T_AVX2 __m256i mul_prime256(__m256i x, __m256i c)
{
    const __m256i lo = _mm256_mul_epu32(x, c);
    const __m256i hi = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), c);
    return _mm256_add_epi64(lo,
                            _mm256_slli_epi64(_mm256_add_epi64(hi, _mm256_slli_epi64(x, 8)), 32));
}

/* Minima are kept with the sign bit flipped so a signed compare orders them unsigned. */
static ALWAYS_INLINE T_AVX2 void sign_block256(const uint64_t *prefix,
                                               const struct recs_token *tokens, size_t ntokens,
                                               uint64_t *sig, uint32_t lanes, uint32_t nv)
{
    const __m256i c = _mm256_set1_epi64x(FNV_PRIME & 0xffffffffu);
    const __m256i sign = _mm256_set1_epi64x((long long)0x8000000000000000ull);
    __m256i m[AVX2_MAX_VECS], h[AVX2_MAX_VECS];
    for (uint32_t v = 0; v < nv; v++)
        m[v] = _mm256_set1_epi64x(INT64_MAX);
    for (size_t t = 0; t < ntokens; t++) {
        const unsigned char *p = tokens[t].bytes;
        for (uint32_t v = 0; v < nv; v++)
            h[v] = _mm256_loadu_si256((const __m256i *)(prefix + 4 * v));
        for (uint32_t j = 0; j < tokens[t].len; j++) {
            const __m256i byte = _mm256_set1_epi64x(p[j]);
            for (uint32_t v = 0; v < nv; v++)
                h[v] = mul_prime256(_mm256_xor_si256(h[v], byte), c);
        }
        for (uint32_t v = 0; v < nv; v++) {
            const __m256i x = _mm256_xor_si256(h[v], sign);
            m[v] = _mm256_blendv_epi8(m[v], x, _mm256_cmpgt_epi64(m[v], x));
        }
    }
    for (uint32_t v = 0; v < nv && 4 * v < lanes; v++) {
        uint64_t out[4];
        _mm256_storeu_si256((__m256i *)out, _mm256_xor_si256(m[v], sign));
        const uint32_t n = lanes - 4 * v < 4 ? lanes - 4 * v : 4;
        memcpy(sig + 4 * v, out, n * sizeof(out[0]));
    }
}

T_AVX2 void recs_sign_avx2(const uint64_t *prefix, uint32_t k, const struct recs_token *tokens,
                           size_t ntokens, uint64_t *sig)
{
    _Static_assert(AVX2_MAX_VECS == 8, "the tail below halves a block of 8 vectors");
    uint32_t i = 0;
    for (; i + 32 <= k; i += 32)
        sign_block256(prefix + i, tokens, ntokens, sig + i, 32, 8);
    /* A narrower block for the tail wastes at most half of it on padding lanes. */
    const uint32_t rem = k - i;
    if (rem > 16)
        sign_block256(prefix + i, tokens, ntokens, sig + i, rem, 8);
    else if (rem > 8)
        sign_block256(prefix + i, tokens, ntokens, sig + i, rem, 4);
    else if (rem > 4)
        sign_block256(prefix + i, tokens, ntokens, sig + i, rem, 2);
    else if (rem > 0)
        sign_block256(prefix + i, tokens, ntokens, sig + i, rem, 1);
}

/* One bit pair per lane for lanes [i, i+32) of a 32-bit plane, in lane order. */
static ALWAYS_INLINE T_AVX2 uint64_t eq32_mask256(const uint32_t *a, const uint32_t *b)
{
    __m256i c[4];
    for (int v = 0; v < 4; v++)
        c[v] = _mm256_cmpeq_epi32(_mm256_loadu_si256((const __m256i *)(a + 8 * v)),
                                  _mm256_loadu_si256((const __m256i *)(b + 8 * v)));
    /* packs interleaves the 128-bit halves; the permute puts lanes back in order. */
    const __m256i p01 = _mm256_permute4x64_epi64(_mm256_packs_epi32(c[0], c[1]), 0xd8);
    const __m256i p23 = _mm256_permute4x64_epi64(_mm256_packs_epi32(c[2], c[3]), 0xd8);
    return (uint32_t)_mm256_movemask_epi8(p01) | (uint64_t)(uint32_t)_mm256_movemask_epi8(p23)
                                                     << 32;
}

static ALWAYS_INLINE T_AVX2 uint64_t eq16_mask256(const uint16_t *a, const uint16_t *b)
{
    const __m256i c0 = _mm256_cmpeq_epi16(_mm256_loadu_si256((const __m256i *)a),
                                          _mm256_loadu_si256((const __m256i *)b));
    const __m256i c1 = _mm256_cmpeq_epi16(_mm256_loadu_si256((const __m256i *)(a + 16)),
                                          _mm256_loadu_si256((const __m256i *)(b + 16)));
    return (uint32_t)_mm256_movemask_epi8(c0) | (uint64_t)(uint32_t)_mm256_movemask_epi8(c1) << 32;
}

T_AVX2 uint32_t recs_match_avx2(const void *pa, const void *pb, uint32_t k)
{
    const uint16_t *alo = pa, *blo = pb, *amid = alo + k, *bmid = blo + k;
    const uint32_t *ahi = (const uint32_t *)(amid + k), *bhi = (const uint32_t *)(bmid + k);
    uint32_t n = 0, i = 0;
    for (; i + 32 <= k; i += 32) {
        uint64_t eq = eq16_mask256(alo + i, blo + i);
        if (eq) {
            eq &= eq16_mask256(amid + i, bmid + i);
            eq &= eq32_mask256(ahi + i, bhi + i);
            n += (uint32_t)__builtin_popcountll(eq) / 2;
        }
    }
    return n + match_lanes(pa, pb, k, i, k);
}

/* ---- AVX-512: 8 lanes per vector, native 64-bit multiply, min and masks ---- */

#define T_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))
#define AVX512_MAX_VECS 8u

static ALWAYS_INLINE T_AVX512 void sign_block512(const uint64_t *prefix,
                                                 const struct recs_token *tokens, size_t ntokens,
                                                 uint64_t *sig, uint32_t lanes, uint32_t nv)
{
    const __m512i prime = _mm512_set1_epi64((long long)FNV_PRIME);
    __m512i m[AVX512_MAX_VECS], h[AVX512_MAX_VECS];
    for (uint32_t v = 0; v < nv; v++)
        m[v] = _mm512_set1_epi64(-1);
    for (size_t t = 0; t < ntokens; t++) {
        const unsigned char *p = tokens[t].bytes;
        for (uint32_t v = 0; v < nv; v++)
            h[v] = _mm512_loadu_si512(prefix + 8 * v);
        for (uint32_t j = 0; j < tokens[t].len; j++) {
            const __m512i byte = _mm512_set1_epi64(p[j]);
            for (uint32_t v = 0; v < nv; v++)
                h[v] = _mm512_mullo_epi64(_mm512_xor_si512(h[v], byte), prime);
        }
        for (uint32_t v = 0; v < nv; v++)
            m[v] = _mm512_min_epu64(m[v], h[v]);
    }
    for (uint32_t v = 0; v < nv && 8 * v < lanes; v++) {
        const uint32_t n = lanes - 8 * v < 8 ? lanes - 8 * v : 8;
        _mm512_mask_storeu_epi64(sig + 8 * v, (__mmask8)((1u << n) - 1), m[v]);
    }
}

T_AVX512 void recs_sign_avx512(const uint64_t *prefix, uint32_t k, const struct recs_token *tokens,
                               size_t ntokens, uint64_t *sig)
{
    _Static_assert(AVX512_MAX_VECS == 8, "the tail below halves a block of 8 vectors");
    uint32_t i = 0;
    for (; i + 64 <= k; i += 64)
        sign_block512(prefix + i, tokens, ntokens, sig + i, 64, 8);
    /* A narrower block for the tail wastes at most half of it on padding lanes. */
    const uint32_t rem = k - i;
    if (rem > 32)
        sign_block512(prefix + i, tokens, ntokens, sig + i, rem, 8);
    else if (rem > 16)
        sign_block512(prefix + i, tokens, ntokens, sig + i, rem, 4);
    else if (rem > 8)
        sign_block512(prefix + i, tokens, ntokens, sig + i, rem, 2);
    else if (rem > 0)
        sign_block512(prefix + i, tokens, ntokens, sig + i, rem, 1);
}

/* Lanes [i, i+32) whose lo16 agree (eq) and whose other planes agree too. Only
 * the last block of a signature needs masked loads to stay in bounds. */
static ALWAYS_INLINE T_AVX512 uint32_t verify32_512(const uint16_t *amid, const uint16_t *bmid,
                                                    const uint32_t *ahi, const uint32_t *bhi,
                                                    __mmask32 eq, bool last)
{
    const __mmask16 e0 = (__mmask16)eq, e1 = (__mmask16)(eq >> 16);
    __mmask32 m;
    __mmask16 h0, h1;
    if (!last) {
        m = _mm512_cmpeq_epi16_mask(_mm512_loadu_si512(amid), _mm512_loadu_si512(bmid));
        h0 = _mm512_cmpeq_epi32_mask(_mm512_loadu_si512(ahi), _mm512_loadu_si512(bhi));
        h1 = _mm512_cmpeq_epi32_mask(_mm512_loadu_si512(ahi + 16), _mm512_loadu_si512(bhi + 16));
    } else {
        m = _mm512_cmpeq_epi16_mask(_mm512_maskz_loadu_epi16(eq, amid),
                                    _mm512_maskz_loadu_epi16(eq, bmid));
        h0 = _mm512_cmpeq_epi32_mask(_mm512_maskz_loadu_epi32(e0, ahi),
                                     _mm512_maskz_loadu_epi32(e0, bhi));
        h1 = _mm512_cmpeq_epi32_mask(_mm512_maskz_loadu_epi32(e1, ahi + 16),
                                     _mm512_maskz_loadu_epi32(e1, bhi + 16));
    }
    return (uint32_t)__builtin_popcount(eq & m & ((uint32_t)h0 | (uint32_t)h1 << 16));
}

T_AVX512 uint32_t recs_match_avx512(const void *pa, const void *pb, uint32_t k)
{
    const uint16_t *alo = pa, *blo = pb, *amid = alo + k, *bmid = blo + k;
    const uint32_t *ahi = (const uint32_t *)(amid + k), *bhi = (const uint32_t *)(bmid + k);
    uint32_t n = 0, i = 0;
    /* 64 lanes per branch: for unrelated signatures it is almost never taken. */
    for (; i + 64 <= k; i += 64) {
        const __mmask32 e0 =
            _mm512_cmpeq_epi16_mask(_mm512_loadu_si512(alo + i), _mm512_loadu_si512(blo + i));
        const __mmask32 e1 = _mm512_cmpeq_epi16_mask(_mm512_loadu_si512(alo + i + 32),
                                                     _mm512_loadu_si512(blo + i + 32));
        if (e0 | e1)
            n += verify32_512(amid + i, bmid + i, ahi + i, bhi + i, e0, false) +
                 verify32_512(amid + i + 32, bmid + i + 32, ahi + i + 32, bhi + i + 32, e1, false);
    }
    /* Masked loads never touch memory of masked-off lanes, so the tail reads in bounds. */
    for (; i < k; i += 32) {
        const __mmask32 lm = k - i >= 32 ? 0xffffffffu : (1u << (k - i)) - 1;
        const __mmask32 e = _mm512_mask_cmpeq_epi16_mask(lm, _mm512_maskz_loadu_epi16(lm, alo + i),
                                                         _mm512_maskz_loadu_epi16(lm, blo + i));
        if (e)
            n += verify32_512(amid + i, bmid + i, ahi + i, bhi + i, e, true);
    }
    return n;
}
#endif
