/*
 * test_budget.c - the memory budget: what is admitted against the limit and
 * the bytes held, what a refusal remembers, and its log lines (one, then at
 * most one a minute with the count of the others), with the bytes held and
 * the clock made up by the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "budget.h"

#define MIB (1024u * 1024u)

static uint64_t held_bytes;
static double clock_s;

static uint64_t fake_held(void)
{
    return held_bytes;
}

static double fake_now(void)
{
    return clock_s;
}

static struct recs_budget *make(uint64_t limit)
{
    struct recs_budget_options opts = {.limit = limit, .held = fake_held, .now = fake_now};
    struct recs_budget *b = NULL;

    assert_int_equal(recs_budget_create(&opts, &b), 0);
    return b;
}

/* stderr goes to a file while a test needs to read the log. */
static char log_path[64];
static int saved_stderr = -1;

static void capture_log(void)
{
    FILE *f;

    snprintf(log_path, sizeof(log_path), "/tmp/recs-test-budget.XXXXXX");
    assert_true(mkstemp(log_path) >= 0);
    f = fopen(log_path, "w");
    assert_non_null(f);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
    fclose(f);
}

/* The captured lines (caller frees), and stderr back. */
static char *release_log(size_t *lines)
{
    FILE *f;
    char *text = calloc(1, 16384);
    size_t n;

    fflush(stderr);
    assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
    close(saved_stderr);
    f = fopen(log_path, "r");
    assert_non_null(f);
    assert_non_null(text);
    n = fread(text, 1, 16383, f);
    fclose(f);
    unlink(log_path);
    *lines = 0;
    for (size_t i = 0; i < n; i++)
        *lines += text[i] == '\n';
    return text;
}

static void test_no_limit_admits_everything(void **state)
{
    struct recs_budget *b = make(0);

    (void)state;
    held_bytes = (uint64_t)1 << 40;
    assert_true(recs_budget_fits(b, SIZE_MAX / 2));
    assert_true(recs_budget_admit(b, "the catalog", 1, SIZE_MAX / 2, "1:2:", "id"));
    assert_false(recs_budget_refused(b));
    recs_budget_destroy(b);
}

/* The estimate counts on top of what is held: exactly the limit fits. */
static void test_admits_what_fits_beside_what_is_held(void **state)
{
    struct recs_budget *b = make(100 * MIB);
    char *snapshot, *identity;
    size_t estimate = 0;
    size_t lines;
    char *log;

    (void)state;
    held_bytes = 30 * MIB;
    assert_true(recs_budget_admit(b, "the catalog", 10, 70 * MIB, "5:9:", "e:1:2:3"));
    assert_true(recs_budget_fits(b, 70 * MIB));
    assert_false(recs_budget_fits(b, 70 * MIB + 1));
    assert_false(recs_budget_refused(b));
    assert_false(recs_budget_refusal(b, &snapshot, &identity, &estimate));
    assert_null(snapshot);

    capture_log();
    assert_false(recs_budget_admit(b, "the catalog", 10, 70 * MIB + 1, "5:9:", "e:1:2:3"));
    log = release_log(&lines);
    free(log);
    assert_true(recs_budget_refused(b));
    assert_true(recs_budget_refusal(b, &snapshot, &identity, &estimate));
    assert_string_equal(snapshot, "5:9:");
    assert_string_equal(identity, "e:1:2:3");
    assert_int_equal(estimate, 70 * MIB + 1);
    free(snapshot);
    free(identity);

    /* less held now: the same read would fit */
    held_bytes = 10 * MIB;
    assert_true(recs_budget_fits(b, 70 * MIB + 1));
    recs_budget_moved(b, "7:7:");
    assert_true(recs_budget_refusal(b, &snapshot, &identity, &estimate));
    assert_string_equal(snapshot, "7:7:");
    free(snapshot);
    free(identity);
    recs_budget_clear(b);
    assert_false(recs_budget_refused(b));
    assert_false(recs_budget_refusal(b, &snapshot, &identity, &estimate));
    recs_budget_destroy(b);
}

/* A refusal without a place (a change set, a catalog without the change
 * log) is remembered as a refusal only. */
static void test_refusal_without_a_place(void **state)
{
    struct recs_budget *b = make(10 * MIB);
    char *snapshot, *identity, *log;
    size_t estimate = 0, lines;

    (void)state;
    held_bytes = 9 * MIB;
    capture_log();
    assert_false(recs_budget_admit(b, "a change set", 3, 2 * MIB, NULL, NULL));
    free(release_log(&lines));
    assert_true(recs_budget_refused(b));
    assert_false(recs_budget_refusal(b, &snapshot, &identity, &estimate));
    recs_budget_moved(b, "1:1:"); /* nothing to move */
    assert_false(recs_budget_refusal(b, &snapshot, &identity, &estimate));

    /* a read of unknown size, with more held than the limit already */
    recs_budget_clear(b);
    held_bytes = 11 * MIB;
    capture_log();
    assert_false(recs_budget_admit(b, "a read of the catalog", 0, 0, NULL, NULL));
    log = release_log(&lines);
    assert_int_equal(lines, 1);
    if (strstr(log,
               "a read of the catalog refused: the process holds 11.0 MiB and its memory "
               "limit is 10.0 MiB (10485760 bytes); 0 more refusals since the last line") == NULL)
        fail_msg("unexpected log: %s", log);
    free(log);
    assert_false(recs_budget_refusal(b, &snapshot, &identity, &estimate));
    recs_budget_destroy(b);
}

/* One line for the first refusal, naming the estimate, what is held and
 * the limit; none for the next ones within a minute; then one that counts
 * them; after a read that fitted, the next refusal is logged at once. */
static void test_refusals_are_logged_once_a_minute(void **state)
{
    struct recs_budget *b = make(20 * MIB);
    size_t lines;
    char *log;

    (void)state;
    held_bytes = 12 * MIB;
    clock_s = 1000;
    capture_log();
    for (int i = 0; i < 5; i++) {
        assert_false(recs_budget_admit(b, "the catalog", 10000, 66 * MIB, "3:3:", "x"));
        clock_s += 10;
    }
    log = release_log(&lines);
    assert_int_equal(lines, 1);
    if (strstr(log, "the catalog refused: 10000 products need an estimated 66.0 MiB (69206016 "
                    "bytes), the process holds 12.0 MiB and its memory limit is 20.0 MiB "
                    "(20971520 bytes); 0 more refusals since the last line") == NULL)
        fail_msg("unexpected log: %s", log);
    assert_non_null(strstr(log, "\"event\":\"catalog_memory\""));
    free(log);

    clock_s = 1000 + 60; /* a minute after the first line */
    capture_log();
    assert_false(recs_budget_admit(b, "the catalog", 10000, 66 * MIB, "3:3:", "x"));
    assert_false(recs_budget_admit(b, "the catalog", 10000, 66 * MIB, "3:3:", "x"));
    log = release_log(&lines);
    assert_int_equal(lines, 1);
    assert_non_null(strstr(log, "; 4 more refusals since the last line"));
    free(log);

    /* a read fitted: the next refusal is news again */
    recs_budget_clear(b);
    clock_s += 1;
    capture_log();
    assert_false(recs_budget_admit(b, "a change set", 20000, 80 * MIB, NULL, NULL));
    log = release_log(&lines);
    assert_int_equal(lines, 1);
    assert_non_null(strstr(log, "a change set refused: 20000 products"));
    assert_non_null(strstr(log, "; 0 more refusals since the last line"));
    free(log);
    recs_budget_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_limit_admits_everything),
        cmocka_unit_test(test_admits_what_fits_beside_what_is_held),
        cmocka_unit_test(test_refusal_without_a_place),
        cmocka_unit_test(test_refusals_are_logged_once_a_minute),
    };
    return cmocka_run_group_tests_name("budget", tests, NULL, NULL);
}
