/*
 * test_trace.c - traceparent parsing by the rules of W3C Trace Context
 * (valid version 00 and later versions; bad characters, case, lengths, all-
 * zero ids, version ff) and the traceparent this service answers with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "trace.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define PARENT "00f067aa0ba902b7"

static void assert_rejected(const char *value)
{
    char id[RECS_TRACE_ID_HEX + 1] = "untouched";
    bool sampled = true;

    if (recs_trace_parse(value, id, &sampled))
        fail_msg("traceparent '%s' was accepted", value);
}

static void assert_accepted(const char *value, const char *trace_id, bool sampled)
{
    char id[RECS_TRACE_ID_HEX + 1];
    bool got = !sampled;

    if (!recs_trace_parse(value, id, &got))
        fail_msg("traceparent '%s' was rejected", value);
    assert_string_equal(id, trace_id);
    assert_int_equal(got, sampled);
}

static void test_valid_version_00(void **state)
{
    (void)state;
    assert_accepted("00-" TRACE "-" PARENT "-01", TRACE, true);
    assert_accepted("00-" TRACE "-" PARENT "-00", TRACE, false);
    /* flags are a bit field: only the low bit means sampled */
    assert_accepted("00-" TRACE "-" PARENT "-09", TRACE, true);
    assert_accepted("00-" TRACE "-" PARENT "-fe", TRACE, false);
    assert_accepted("00-" TRACE "-" PARENT "-ff", TRACE, true);
    /* ids that are zero but for one digit are not all zero */
    assert_accepted("00-00000000000000000000000000000001-0000000000000001-01",
                    "00000000000000000000000000000001", true);
}

static void test_future_versions(void **state)
{
    (void)state;
    assert_accepted("cc-" TRACE "-" PARENT "-01", TRACE, true);
    assert_accepted("01-" TRACE "-" PARENT "-00", TRACE, false);
    assert_accepted("fe-" TRACE "-" PARENT "-01", TRACE, true);
    /* later versions may append fields after a dash */
    assert_accepted("cc-" TRACE "-" PARENT "-01-what-the-future-will-be-like", TRACE, true);
    assert_accepted("cc-" TRACE "-" PARENT "-01-", TRACE, true);
    assert_rejected("cc-" TRACE "-" PARENT "-01.what-the-future-will-be-like");
    assert_rejected("cc-" TRACE "-" PARENT "-01x");
    /* the version 00 layout and rules still hold */
    assert_rejected("cc-" TRACE "-" PARENT "-0");
    assert_rejected("cc-00000000000000000000000000000000-" PARENT "-01");
    assert_rejected("cc-" TRACE "-0000000000000000-01");
    assert_rejected("cc-4BF92F3577B34DA6A3CE929D0E0E4736-" PARENT "-01");
}

static void test_version_ff_and_bad_versions(void **state)
{
    (void)state;
    assert_rejected("ff-" TRACE "-" PARENT "-01");
    assert_rejected("ff-" TRACE "-" PARENT "-01-more");
    assert_rejected("FF-" TRACE "-" PARENT "-01");
    assert_rejected("Cc-" TRACE "-" PARENT "-01");
    assert_rejected(".0-" TRACE "-" PARENT "-01");
    assert_rejected("0.-" TRACE "-" PARENT "-01");
    assert_rejected("0-" TRACE "-" PARENT "-01");
    assert_rejected("000-" TRACE "-" PARENT "-01");
    assert_rejected("0000-" TRACE "-" PARENT "-01");
    assert_rejected("g0-" TRACE "-" PARENT "-01");
}

static void test_version_00_is_exactly_55(void **state)
{
    (void)state;
    assert_rejected("00-" TRACE "-" PARENT "-01.");
    assert_rejected("00-" TRACE "-" PARENT "-01-");
    assert_rejected("00-" TRACE "-" PARENT "-01-what-the-future-will-be-like");
    assert_rejected("00-" TRACE "-" PARENT "-01 ");
    assert_rejected("00-" TRACE "-" PARENT "-1");
    assert_rejected("00-" TRACE "-" PARENT "-");
    assert_rejected("00-" TRACE "-" PARENT);
    assert_rejected("");
    assert_rejected(NULL);
}

static void test_all_zero_ids(void **state)
{
    (void)state;
    assert_rejected("00-00000000000000000000000000000000-" PARENT "-01");
    assert_rejected("00-" TRACE "-0000000000000000-01");
    assert_rejected("00-00000000000000000000000000000000-0000000000000000-00");
}

static void test_uppercase_and_bad_characters(void **state)
{
    (void)state;
    assert_rejected("00-4BF92F3577B34DA6A3CE929D0E0E4736-" PARENT "-01");
    assert_rejected("00-4bf92f3577b34da6a3ce929d0e0e473A-" PARENT "-01");
    assert_rejected("00-" TRACE "-00F067AA0BA902B7-01");
    assert_rejected("00-" TRACE "-" PARENT "-0A");
    assert_rejected("00-.bf92f3577b34da6a3ce929d0e0e4736-" PARENT "-01");
    assert_rejected("00-4bf92f3577b34da6a3ce929d0e0e473.-" PARENT "-01");
    assert_rejected("00-4bf92f3577b34da6a3ce929d0e0e473g-" PARENT "-01");
    assert_rejected("00-" TRACE "-.0f067aa0ba902b7-01");
    assert_rejected("00-" TRACE "-00f067aa0ba902b.-01");
    assert_rejected("00-" TRACE "-" PARENT "-.0");
    assert_rejected("00-" TRACE "-" PARENT "-0.");
    assert_rejected("00-" TRACE "-" PARENT "-0x");
    assert_rejected("00_" TRACE "-" PARENT "-01");
    assert_rejected("00-" TRACE "_" PARENT "-01");
    assert_rejected("00-" TRACE "-" PARENT "_01");
    assert_rejected(" 00-" TRACE "-" PARENT "-01");
}

static void test_wrong_lengths(void **state)
{
    (void)state;
    /* a field one too long or too short shifts every later dash */
    assert_rejected("00-4bf92f3577b34da6a3ce929d0e0e47361-" PARENT "-01");
    assert_rejected("00-4bf92f3577b34da6a3ce929d0e0e473-" PARENT "-01");
    assert_rejected("00-" TRACE "-00f067aa0ba902b71-01");
    assert_rejected("00-" TRACE "-00f067aa0ba902b-01");
    assert_rejected("00-" TRACE "-" PARENT "-011");
    assert_rejected("00-" TRACE "-" PARENT "-001");
    /* the same on a later version, which may be longer than 55 */
    assert_rejected("cc-4bf92f3577b34da6a3ce929d0e0e47361-" PARENT "-01");
    assert_rejected("cc-" TRACE "-00f067aa0ba902b71-01");
}

static void test_begin_continues_a_valid_trace(void **state)
{
    const uint64_t random[RECS_TRACE_RANDOM_WORDS] = {1, 2, 0x1234abcd5678ef90ull};
    struct recs_trace t;

    (void)state;
    recs_trace_begin(&t, "00-" TRACE "-" PARENT "-01", random);
    assert_string_equal(t.trace_id, TRACE);
    assert_string_equal(t.traceparent, "00-" TRACE "-1234abcd5678ef90-01");

    /* not sampled stays unsampled; unknown flags are not passed on */
    recs_trace_begin(&t, "00-" TRACE "-" PARENT "-fe", random);
    assert_string_equal(t.traceparent, "00-" TRACE "-1234abcd5678ef90-00");

    /* a later version is answered in version 00, the one this service knows */
    recs_trace_begin(&t, "cc-" TRACE "-" PARENT "-03-future", random);
    assert_string_equal(t.traceparent, "00-" TRACE "-1234abcd5678ef90-01");
    assert_int_equal(strlen(t.traceparent), RECS_TRACEPARENT_LEN);
}

static void test_begin_starts_a_new_trace(void **state)
{
    const uint64_t random[RECS_TRACE_RANDOM_WORDS] = {0x0123456789abcdefull, 0xfedcba9876543210ull,
                                                      0x00000000000000ffull};
    static const char *const invalid[] = {
        NULL,
        "",
        "00-00000000000000000000000000000000-" PARENT "-01",
        "ff-" TRACE "-" PARENT "-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" PARENT "-01",
        "00-" TRACE "-" PARENT "-01-extra",
        "not a traceparent at all",
    };
    struct recs_trace t;

    (void)state;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        recs_trace_begin(&t, invalid[i], random);
        assert_string_equal(t.trace_id, "0123456789abcdeffedcba9876543210");
        /* new traces start unsampled: this service records nothing itself */
        assert_string_equal(t.traceparent,
                            "00-0123456789abcdeffedcba9876543210-00000000000000ff-00");
    }
}

static void test_begin_never_makes_zero_ids(void **state)
{
    const uint64_t zero[RECS_TRACE_RANDOM_WORDS] = {0, 0, 0};
    const uint64_t high_only[RECS_TRACE_RANDOM_WORDS] = {5, 0, 7};
    char id[RECS_TRACE_ID_HEX + 1];
    struct recs_trace t;
    bool sampled;

    (void)state;
    recs_trace_begin(&t, NULL, zero);
    assert_string_equal(t.traceparent, "00-00000000000000000000000000000001-0000000000000001-00");
    /* what it answers, it would accept back */
    assert_true(recs_trace_parse(t.traceparent, id, &sampled));
    assert_string_equal(id, t.trace_id);

    /* half a zero trace id is a valid id: left as it is */
    recs_trace_begin(&t, NULL, high_only);
    assert_string_equal(t.trace_id, "00000000000000050000000000000000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_version_00),
        cmocka_unit_test(test_future_versions),
        cmocka_unit_test(test_version_ff_and_bad_versions),
        cmocka_unit_test(test_version_00_is_exactly_55),
        cmocka_unit_test(test_all_zero_ids),
        cmocka_unit_test(test_uppercase_and_bad_characters),
        cmocka_unit_test(test_wrong_lengths),
        cmocka_unit_test(test_begin_continues_a_valid_trace),
        cmocka_unit_test(test_begin_starts_a_new_trace),
        cmocka_unit_test(test_begin_never_makes_zero_ids),
    };
    return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
