/*
 * test_answers.c - the answer cache: an answer is returned only for the
 * same version and the same whole key, limits are kept, and a slot's new
 * answer replaces the old one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "answers.h"

static void test_same_version_and_key_only(void **state)
{
    struct recs_answers *a = NULL;
    size_t len = 0;
    char *got;

    (void)state;
    assert_int_equal(recs_answers_create(1024, &a), 0);
    assert_null(recs_answers_get(a, 7, "/p/a?limit=3", 12, &len));
    recs_answers_put(a, 7, "/p/a?limit=3", 12, "{\"x\":1}", 7);
    got = recs_answers_get(a, 7, "/p/a?limit=3", 12, &len);
    assert_non_null(got);
    assert_int_equal(len, 7);
    assert_string_equal(got, "{\"x\":1}");
    free(got);
    /* another version of the catalog, another query, a prefix of the key */
    assert_null(recs_answers_get(a, 8, "/p/a?limit=3", 12, &len));
    assert_null(recs_answers_get(a, 7, "/p/a?limit=4", 12, &len));
    assert_null(recs_answers_get(a, 7, "/p/a?limit=3", 11, &len));
    /* a new answer for the same version and key replaces the old one */
    recs_answers_put(a, 7, "/p/a?limit=3", 12, "{\"x\":2}", 7);
    got = recs_answers_get(a, 7, "/p/a?limit=3", 12, &len);
    assert_string_equal(got, "{\"x\":2}");
    free(got);
    recs_answers_destroy(a);
}

static void test_limits(void **state)
{
    struct recs_answers *a = NULL;
    char *key = malloc(RECS_ANSWERS_KEY_MAX + 1), *body = malloc(RECS_ANSWERS_BODY_MAX + 1);
    size_t len = 0;

    (void)state;
    assert_non_null(key);
    assert_non_null(body);
    memset(key, 'k', RECS_ANSWERS_KEY_MAX + 1);
    memset(body, 'b', RECS_ANSWERS_BODY_MAX + 1);
    assert_int_equal(recs_answers_create(1024, &a), 0);
    recs_answers_put(a, 1, key, RECS_ANSWERS_KEY_MAX + 1, "{}", 2);
    assert_null(recs_answers_get(a, 1, key, RECS_ANSWERS_KEY_MAX + 1, &len));
    recs_answers_put(a, 1, "q", 1, body, RECS_ANSWERS_BODY_MAX + 1);
    assert_null(recs_answers_get(a, 1, "q", 1, &len));
    recs_answers_put(a, 1, key, RECS_ANSWERS_KEY_MAX, body, RECS_ANSWERS_BODY_MAX);
    char *got = recs_answers_get(a, 1, key, RECS_ANSWERS_KEY_MAX, &len);
    assert_non_null(got);
    assert_int_equal(len, RECS_ANSWERS_BODY_MAX);
    free(got);
    assert_int_equal(recs_answers_create(0, &(struct recs_answers *){NULL}), -1);
    /* many more answers than slots: memory stays bounded, the newest hold */
    for (int i = 0; i < 5000; i++) {
        char k[32];
        int n = snprintf(k, sizeof(k), "/q%d", i);
        recs_answers_put(a, 2, k, (size_t)n, k, (size_t)n);
    }
    got = recs_answers_get(a, 2, "/q4999", 6, &len);
    assert_non_null(got);
    assert_string_equal(got, "/q4999");
    free(got);
    recs_answers_destroy(a);
    free(key);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_version_and_key_only),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests_name("answers", tests, NULL, NULL);
}
