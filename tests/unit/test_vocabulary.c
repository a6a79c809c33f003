/*
 * test_vocabulary.c - a build's distinct tokens: numbered by how many
 * products hold them (ties by first appearance), every product's ids
 * renumbered to match, products without tokens, and a vocabulary that grows
 * past its first hash table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vocabulary.h"

static struct recs_token token(const char *text)
{
    return (struct recs_token){(const unsigned char *)text, (uint32_t)strlen(text)};
}

static const char *text_of(const struct recs_vocabulary *v, uint32_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%.*s", (int)v->tokens[id].len, (const char *)v->tokens[id].bytes);
    return buf;
}

static void test_most_common_first(void **state)
{
    struct recs_vocabulary v;
    struct recs_token a[] = {token("linen"), token("shirt")};
    struct recs_token b[] = {token("cotton"), token("shirt"), token("blue")};
    struct recs_token c[] = {token("blue"), token("shirt")};
    char buf[32];

    (void)state;
    recs_vocabulary_init(&v);
    assert_int_equal(recs_vocabulary_add(&v, a, 2), 0);
    assert_int_equal(recs_vocabulary_add(&v, NULL, 0), 0); /* a product without tokens */
    assert_int_equal(recs_vocabulary_add(&v, b, 3), 0);
    assert_int_equal(recs_vocabulary_add(&v, c, 2), 0);
    assert_int_equal(recs_vocabulary_finish(&v), 0);

    assert_int_equal(v.count, 4);
    assert_int_equal(v.products, 4);
    /* shirt (3 products), blue (2), then linen and cotton (1 each) in the
     * order they first appeared */
    assert_string_equal(text_of(&v, 0, buf, sizeof(buf)), "shirt");
    assert_string_equal(text_of(&v, 1, buf, sizeof(buf)), "blue");
    assert_string_equal(text_of(&v, 2, buf, sizeof(buf)), "linen");
    assert_string_equal(text_of(&v, 3, buf, sizeof(buf)), "cotton");
    /* each product keeps its tokens in its own order, renumbered */
    assert_int_equal(v.first[0], 0);
    assert_int_equal(v.first[1], 2);
    assert_int_equal(v.first[2], 2);
    assert_int_equal(v.first[3], 5);
    assert_int_equal(v.first[4], 7);
    uint32_t want[] = {2, 0, 3, 0, 1, 1, 0};
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(v.ids[i], want[i]);
    recs_vocabulary_free(&v);
}

static void test_many_tokens(void **state)
{
    enum { N = 5000 };
    static char words[N][16];
    struct recs_vocabulary v;
    char buf[32];

    (void)state;
    recs_vocabulary_init(&v);
    for (int i = 0; i < N; i++) {
        struct recs_token t[2];
        snprintf(words[i], sizeof(words[i]), "w%d", i);
        t[0] = token(words[i]);
        t[1] = token(words[i / 2]); /* w0 .. w2499 twice or more */
        assert_int_equal(recs_vocabulary_add(&v, t, i / 2 == i ? 1 : 2), 0);
    }
    assert_int_equal(recs_vocabulary_finish(&v), 0);
    assert_int_equal(v.count, N);
    assert_int_equal(v.products, N);
    /* w0 is held by products 0 and 1, w1 by 1, 2 and 3 */
    assert_string_equal(text_of(&v, 0, buf, sizeof(buf)), "w1");
    for (int i = 0; i < N; i++) {
        uint32_t id = v.ids[v.first[i]];
        assert_string_equal(text_of(&v, id, buf, sizeof(buf)), words[i]);
    }
    recs_vocabulary_free(&v);
    recs_vocabulary_free(&v); /* freeing twice is harmless: it is empty again */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_most_common_first),
        cmocka_unit_test(test_many_tokens),
    };
    return cmocka_run_group_tests_name("vocabulary", tests, NULL, NULL);
}
