/*
 * minhash.c - docs/SCORING.md in code: the tokenizer, FNV-1a, the seeded hash
 * functions h_k, signatures and their comparison, and the choice of kernel
 * (minhash_kernels.c) for the CPU at hand.
 */
#include <stdlib.h>
#include <string.h>

#include "minhash.h"
#include "minhash_kernels.h"

struct recs_minhash {
    uint32_t k;
    recs_kernel kernel;
    recs_sign_fn sign;
    recs_match64_fn match64;
    recs_match32_fn match32;
    recs_match16_fn match16;
    recs_match8_fn match8;
    uint64_t *prefix; /* K rounded up to KERNEL_LANE_PAD states after LE32(k), 64-byte aligned */
};

/* Buffers only grow, so a thread's steady state allocates nothing. */
struct recs_scratch {
    unsigned char *text; /* lower-cased title || " " || description */
    size_t text_cap;
    struct recs_token *tokens;
    size_t tokens_cap;
    uint32_t *set; /* dedupe table: index + 1 into tokens, 0 = empty */
    size_t set_cap;
};

const char *recs_kernel_name(recs_kernel kernel)
{
    switch (kernel) {
    case RECS_KERNEL_AUTO:
        return "auto";
    case RECS_KERNEL_SCALAR:
        return "scalar";
    case RECS_KERNEL_AVX2:
        return "avx2";
    case RECS_KERNEL_AVX512:
        return "avx512";
    }
    return "unknown";
}

int recs_kernel_parse(const char *name, recs_kernel *out)
{
    static const recs_kernel all[] = {RECS_KERNEL_AUTO, RECS_KERNEL_SCALAR, RECS_KERNEL_AVX2,
                                      RECS_KERNEL_AVX512};
    if (name == NULL || out == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(name, recs_kernel_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

bool recs_kernel_supported(recs_kernel kernel)
{
    switch (kernel) {
    case RECS_KERNEL_AUTO:
    case RECS_KERNEL_SCALAR:
        return true;
#if defined(__x86_64__)
    /* libgcc's checks include the OS having enabled the YMM/ZMM register state. */
    case RECS_KERNEL_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2");
    case RECS_KERNEL_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
    case RECS_KERNEL_AVX2:
    case RECS_KERNEL_AVX512:
        return false;
#endif
    }
    return false;
}

recs_kernel recs_kernel_best(void)
{
    if (recs_kernel_supported(RECS_KERNEL_AVX512))
        return RECS_KERNEL_AVX512;
    if (recs_kernel_supported(RECS_KERNEL_AVX2))
        return RECS_KERNEL_AVX2;
    return RECS_KERNEL_SCALAR;
}

static uint64_t fnv_update(uint64_t h, const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

uint64_t recs_fnv1a64(const void *data, size_t len)
{
    return fnv_update(FNV_BASIS, data, len);
}

static uint64_t prefix_state(uint32_t k)
{
    const unsigned char le[4] = {(unsigned char)k, (unsigned char)(k >> 8),
                                 (unsigned char)(k >> 16), (unsigned char)(k >> 24)};
    return fnv_update(FNV_BASIS, le, sizeof(le));
}

uint64_t recs_minhash_hk(uint32_t k, const void *token, size_t len)
{
    return fnv_update(prefix_state(k), token, len);
}

int recs_minhash_create(uint32_t k, recs_kernel kernel, struct recs_minhash **out)
{
    if (out == NULL || k == 0 || k > RECS_MINHASH_K_MAX || !recs_kernel_supported(kernel))
        return -1;
    if (kernel == RECS_KERNEL_AUTO)
        kernel = recs_kernel_best();

    struct recs_minhash *mh = calloc(1, sizeof(*mh));
    if (mh == NULL)
        return -1;
    const uint32_t padded = (k + KERNEL_LANE_PAD - 1) / KERNEL_LANE_PAD * KERNEL_LANE_PAD;
    mh->prefix = aligned_alloc(64, (size_t)padded * sizeof(uint64_t));
    if (mh->prefix == NULL) {
        free(mh);
        return -1;
    }
    for (uint32_t i = 0; i < padded; i++)
        mh->prefix[i] = prefix_state(i);
    mh->k = k;
    mh->kernel = kernel;
    mh->sign = recs_sign_scalar;
    mh->match64 = recs_match64_scalar;
    mh->match32 = recs_match32_scalar;
    mh->match16 = recs_match16_scalar;
    mh->match8 = recs_match8_scalar;
#if defined(__x86_64__)
    if (kernel == RECS_KERNEL_AVX2) {
        mh->sign = recs_sign_avx2;
        mh->match64 = recs_match64_avx2;
        mh->match32 = recs_match32_avx2;
        mh->match16 = recs_match16_avx2;
        mh->match8 = recs_match8_avx2;
    } else if (kernel == RECS_KERNEL_AVX512) {
        mh->sign = recs_sign_avx512;
        mh->match64 = recs_match64_avx512;
        mh->match32 = recs_match32_avx512;
        mh->match16 = recs_match16_avx512;
        mh->match8 = recs_match8_avx512;
    }
#endif
    *out = mh;
    return 0;
}

void recs_minhash_destroy(struct recs_minhash *mh)
{
    if (mh == NULL)
        return;
    free(mh->prefix);
    free(mh);
}

uint32_t recs_minhash_k(const struct recs_minhash *mh)
{
    return mh->k;
}

recs_kernel recs_minhash_kernel(const struct recs_minhash *mh)
{
    return mh->kernel;
}

struct recs_scratch *recs_scratch_create(void)
{
    return calloc(1, sizeof(struct recs_scratch));
}

void recs_scratch_destroy(struct recs_scratch *s)
{
    if (s == NULL)
        return;
    free(s->text);
    free(s->tokens);
    free(s->set);
    free(s);
}

/* Returns buf grown to hold need elements of size elem, or NULL (buf still
 * valid and owned by the caller) when memory runs out. */
static void *grow(void *buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return buf;
    const size_t want = *cap * 2 > need ? *cap * 2 : need;
    void *p = realloc(buf, want * elem);
    if (p != NULL)
        *cap = want;
    return p;
}

static bool is_stop_word(const unsigned char *p, uint32_t len)
{
    static const char two[][3] = {"an", "as", "at", "be", "by", "in",
                                  "is", "it", "of", "on", "or", "to"};
    static const char three[][4] = {"and", "are", "for", "has", "its", "our", "the", "was", "you"};
    static const char four[][5] = {"from", "that", "this", "with", "your"};
    const char *list;
    size_t n, stride;
    switch (len) {
    case 2:
        list = two[0], n = sizeof(two) / sizeof(two[0]), stride = sizeof(two[0]);
        break;
    case 3:
        list = three[0], n = sizeof(three) / sizeof(three[0]), stride = sizeof(three[0]);
        break;
    case 4:
        list = four[0], n = sizeof(four) / sizeof(four[0]), stride = sizeof(four[0]);
        break;
    default:
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (memcmp(p, list + i * stride, len) == 0)
            return true;
    return false;
}

static void copy_lower(unsigned char *dst, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)src[i];
        dst[i] = c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
    }
}

static bool is_token_byte(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

/* Keeps the first occurrence of each token, in order; returns the new count. */
static size_t dedupe(struct recs_token *tokens, size_t n, uint32_t *set, size_t cap)
{
    memset(set, 0, cap * sizeof(*set));
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const struct recs_token t = tokens[i];
        size_t slot = recs_fnv1a64(t.bytes, t.len) & (cap - 1);
        for (;;) {
            if (set[slot] == 0) {
                tokens[kept++] = t;
                set[slot] = (uint32_t)kept;
                break;
            }
            const struct recs_token *o = &tokens[set[slot] - 1];
            if (o->len == t.len && memcmp(o->bytes, t.bytes, t.len) == 0)
                break;
            slot = (slot + 1) & (cap - 1);
        }
    }
    return kept;
}

bool recs_minhash_text_fits(size_t title_len, size_t description_len)
{
    return title_len < RECS_SCRATCH_TEXT_MAX &&
           description_len <= RECS_SCRATCH_TEXT_MAX - 1 - title_len;
}

int recs_tokenize(struct recs_scratch *s, const char *title, size_t title_len,
                  const char *description, size_t description_len, const struct recs_token **tokens,
                  size_t *count)
{
    if (s == NULL || tokens == NULL || count == NULL || (title == NULL && title_len > 0) ||
        (description == NULL && description_len > 0))
        return -1;
    if (title_len >= RECS_SCRATCH_TEXT_MAX ||
        description_len > RECS_SCRATCH_TEXT_MAX - 1 - title_len)
        return -1;
    const size_t len = title_len + 1 + description_len;
    /* A kept token takes at least 2 bytes and a separator after all but the last. */
    const size_t max_tokens = (len + 1) / 3 + 1;
    unsigned char *text = grow(s->text, &s->text_cap, len, 1);
    if (text == NULL)
        return -1;
    s->text = text;
    struct recs_token *toks = grow(s->tokens, &s->tokens_cap, max_tokens, sizeof(*toks));
    if (toks == NULL)
        return -1;
    s->tokens = toks;

    copy_lower(text, title, title_len);
    text[title_len] = ' ';
    copy_lower(text + title_len + 1, description, description_len);

    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (!is_token_byte(text[i])) {
            i++;
            continue;
        }
        const size_t start = i;
        while (i < len && is_token_byte(text[i]))
            i++;
        const uint32_t tlen = (uint32_t)(i - start);
        if (tlen >= 2 && !is_stop_word(text + start, tlen))
            toks[n++] = (struct recs_token){text + start, tlen};
    }
    /* Sized for this text, not the largest seen, so clearing it stays cheap. */
    size_t set_cap = 16;
    while (set_cap < 2 * n)
        set_cap *= 2;
    uint32_t *set = grow(s->set, &s->set_cap, set_cap, sizeof(*set));
    if (set == NULL)
        return -1;
    s->set = set;
    *count = dedupe(toks, n, set, set_cap);
    *tokens = toks;
    return 0;
}

void recs_minhash_sign_tokens(const struct recs_minhash *mh, const struct recs_token *tokens,
                              size_t ntokens, uint64_t *sig)
{
    mh->sign(mh->prefix, mh->k, tokens, ntokens, sig);
}

/* The kernels start at prefix + first: first % KERNEL_LANE_PAD == 0 keeps a
 * block's reads inside the padded prefix array (see minhash_kernels.h). A range
 * outside the contract is refused here rather than read out of bounds; sig is
 * then left untouched. */
void recs_minhash_sign_range(const struct recs_minhash *mh, const struct recs_token *tokens,
                             size_t ntokens, uint32_t first, uint32_t count, uint64_t *sig)
{
    if (first % RECS_MINHASH_BLOCK != 0 || first > mh->k || count > mh->k - first)
        return;
    mh->sign(mh->prefix + first, count, tokens, ntokens, sig);
}

int recs_minhash_signature(const struct recs_minhash *mh, struct recs_scratch *scratch,
                           const char *title, size_t title_len, const char *description,
                           size_t description_len, uint64_t *sig, bool *has_tokens)
{
    const struct recs_token *tokens;
    size_t n;
    if (mh == NULL || sig == NULL || has_tokens == NULL ||
        recs_tokenize(scratch, title, title_len, description, description_len, &tokens, &n) != 0)
        return -1;
    *has_tokens = n > 0;
    if (n > 0)
        mh->sign(mh->prefix, mh->k, tokens, n, sig);
    return 0;
}

uint32_t recs_minhash_matches(const struct recs_minhash *mh, const uint64_t *a, const uint64_t *b)
{
    return mh->match64(a, b, mh->k);
}

uint32_t recs_minhash_matches16(const struct recs_minhash *mh, const uint16_t *a, const uint16_t *b)
{
    return mh->match16(a, b, mh->k);
}

uint32_t recs_minhash_matches32(const struct recs_minhash *mh, const uint32_t *a, const uint32_t *b)
{
    return mh->match32(a, b, mh->k);
}

uint32_t recs_minhash_matches8(const struct recs_minhash *mh, const uint8_t *a, const uint8_t *b)
{
    return mh->match8(a, b, mh->k);
}
