/*
 * test_metrics.c - counters, cumulative histogram buckets, gauges, label
 * escaping, the snprintf-like render contract, counting from many threads,
 * and (when promtool is installed) that the output passes its lint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"

enum { BUF = 1 << 16 };

static int reset(void **state)
{
    (void)state;
    recs_metrics_init("test", "scalar");
    return 0;
}

static char *render(const struct recs_metrics_gauges *g)
{
    char *buf = malloc(BUF);
    assert_non_null(buf);
    size_t n = recs_metrics_render(g, buf, BUF);
    assert_true(n < BUF);
    assert_int_equal(strlen(buf), n);
    return buf;
}

/* Fails unless text holds line as a whole line. */
static void assert_line(const char *text, const char *line)
{
    size_t len = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[len] == '\n')
            return;
    }
    fail_msg("no line '%s' in:\n%s", line, text);
}

static void test_route_labels(void **state)
{
    (void)state;
    assert_string_equal(recs_route_label(RECS_ROUTE_RECOMMENDATIONS), "recommendations");
    assert_string_equal(recs_route_label(RECS_ROUTE_DEMO), "demo");
    assert_string_equal(recs_route_label(RECS_ROUTE_OTHER), "other");
    assert_string_equal(recs_route_label(RECS_ROUTE_COUNT), "other");
}

static void test_requests(void **state)
{
    (void)state;
    recs_metrics_observe_request(RECS_ROUTE_RECOMMENDATIONS, 200, 0.01);
    recs_metrics_observe_request(RECS_ROUTE_RECOMMENDATIONS, 200, 0.02);
    recs_metrics_observe_request(RECS_ROUTE_RECOMMENDATIONS, 503, 0.001);
    recs_metrics_observe_request(RECS_ROUTE_OTHER, 404, 0.0001);
    recs_metrics_observe_request(RECS_ROUTE_HEALTHZ, 299, 0.0001);
    recs_metrics_observe_request((recs_route)42, 200, 0.0001);
    char *t = render(NULL);
    assert_non_null(strstr(t, "# HELP recs_http_requests_total "));
    assert_line(t, "# TYPE recs_http_requests_total counter");
    assert_line(t, "recs_http_requests_total{route=\"recommendations\",code=\"200\"} 2");
    assert_line(t, "recs_http_requests_total{route=\"recommendations\",code=\"503\"} 1");
    assert_line(t, "recs_http_requests_total{route=\"other\",code=\"404\"} 1");
    assert_line(t, "recs_http_requests_total{route=\"other\",code=\"200\"} 1");
    assert_line(t, "recs_http_requests_total{route=\"healthz\",code=\"other\"} 1");
    assert_null(strstr(t, "code=\"500\""));
    assert_line(t, "recs_http_request_duration_seconds_count{route=\"recommendations\"} 3");
    assert_line(t, "recs_http_request_duration_seconds_sum{route=\"recommendations\"} 0.031000000");
    assert_line(t, "recs_http_request_duration_seconds_count{route=\"demo\"} 0");
    free(t);

    /* Nothing counted: the series vanish but the family is still described. */
    recs_metrics_init("test", "scalar");
    t = render(NULL);
    assert_line(t, "# TYPE recs_http_requests_total counter");
    assert_null(strstr(t, "recs_http_requests_total{"));
    free(t);
}

static void test_histogram_buckets(void **state)
{
    (void)state;
    /* 0.0005 sits exactly on a bound (le is inclusive), 20 is above all,
     * -1 (a clock stepping back) counts as 0. */
    static const double seconds[] = {0.0005, 0.003, 0.3, 20, -1};
    for (size_t i = 0; i < sizeof(seconds) / sizeof(seconds[0]); i++)
        recs_metrics_observe_scoring(seconds[i], 100);
    static const char *const want[] = {
        "recs_scoring_duration_seconds_bucket{le=\"0.0005\"} 2",
        "recs_scoring_duration_seconds_bucket{le=\"0.001\"} 2",
        "recs_scoring_duration_seconds_bucket{le=\"0.0025\"} 2",
        "recs_scoring_duration_seconds_bucket{le=\"0.005\"} 3",
        "recs_scoring_duration_seconds_bucket{le=\"0.01\"} 3",
        "recs_scoring_duration_seconds_bucket{le=\"0.025\"} 3",
        "recs_scoring_duration_seconds_bucket{le=\"0.05\"} 3",
        "recs_scoring_duration_seconds_bucket{le=\"0.1\"} 3",
        "recs_scoring_duration_seconds_bucket{le=\"0.25\"} 3",
        "recs_scoring_duration_seconds_bucket{le=\"0.5\"} 4",
        "recs_scoring_duration_seconds_bucket{le=\"1\"} 4",
        "recs_scoring_duration_seconds_bucket{le=\"2.5\"} 4",
        "recs_scoring_duration_seconds_bucket{le=\"5\"} 4",
        "recs_scoring_duration_seconds_bucket{le=\"10\"} 4",
        "recs_scoring_duration_seconds_bucket{le=\"+Inf\"} 5",
        "recs_scoring_duration_seconds_count 5",
        "recs_scoring_duration_seconds_sum 20.303500000",
        "# TYPE recs_scoring_duration_seconds histogram",
        "recs_scoring_candidates_total 500",
    };
    char *t = render(NULL);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_line(t, want[i]);
    assert_line(t, "recs_http_request_duration_seconds_bucket{route=\"readyz\",le=\"+Inf\"} 0");
    free(t);
}

static void test_counters_and_gauges(void **state)
{
    (void)state;
    recs_metrics_observe_refresh(1.25, 10, 90);
    recs_metrics_observe_refresh(0.5, 1, 99);
    recs_metrics_count_db_error();
    recs_metrics_count_overload();
    recs_metrics_count_overload();
    recs_metrics_count_catalog_change();
    recs_metrics_count_catalog_change();
    recs_metrics_set_http_connection_limit(1024);
    recs_metrics_set_http_connections(7);
    struct recs_metrics_gauges g = {
        .db_pool_size = 5,
        .db_pool_in_use = 2,
        .db_pool_connected = 4,
        .inflight = 3,
        .cache_products = 1000,
        .cache_version = 42,
        .cache_bytes = 12345678901ull,
        .cache_delta = 17,
        .db_up = 1,
    };
    char *t = render(&g);
    static const char *const want[] = {
        "recs_catalog_refreshes_total 2",
        "recs_catalog_refresh_seconds_total 1.750000000",
        "recs_signatures_computed_total 11",
        "recs_signatures_reused_total 189",
        "recs_db_errors_total 1",
        "recs_overload_rejections_total 2",
        "recs_catalog_changes_total 2",
        "# TYPE recs_catalog_changes_total counter",
        "recs_http_connections 7",
        "# TYPE recs_http_connections gauge",
        "recs_http_connections_limit 1024",
        "# TYPE recs_http_connections_limit gauge",
        "recs_db_pool_connections{state=\"configured\"} 5",
        "recs_db_pool_connections{state=\"in_use\"} 2",
        "recs_db_pool_connections{state=\"connected\"} 4",
        "recs_db_up 1",
        "recs_inflight_requests 3",
        "recs_cache_products 1000",
        "recs_cache_version 42",
        "recs_cache_bytes 12345678901",
        "recs_cache_delta_products 17",
        "recs_build_info{version=\"test\",kernel=\"scalar\"} 1",
        "# TYPE recs_build_info gauge",
        "# TYPE process_start_time_seconds gauge",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_line(t, want[i]);
    const char *start = strstr(t, "\nprocess_start_time_seconds ");
    assert_non_null(start);
    assert_true(strtoll(start + 28, NULL, 10) > 1600000000);
    free(t);

    t = render(NULL);
    assert_line(t, "recs_cache_version -1");
    assert_line(t, "recs_db_up 0");
    free(t);

    /* init starts every count again */
    recs_metrics_init("test", "scalar");
    t = render(NULL);
    assert_line(t, "recs_catalog_changes_total 0");
    assert_line(t, "recs_http_connections 0");
    assert_line(t, "recs_http_connections_limit 0");
    free(t);
}

static void test_label_escaping(void **state)
{
    (void)state;
    recs_metrics_init("v1 \"x\"\\y\nz", NULL);
    char *t = render(NULL);
    assert_line(t, "recs_build_info{version=\"v1 \\\"x\\\"\\\\y\\nz\",kernel=\"unknown\"} 1");
    free(t);
}

static void test_render_contract(void **state)
{
    (void)state;
    recs_metrics_observe_request(RECS_ROUTE_METRICS, 200, 0.001);
    size_t need = recs_metrics_render(NULL, NULL, 0);
    assert_true(need > 1000);

    char *full = malloc(need + 1);
    assert_non_null(full);
    assert_int_equal(recs_metrics_render(NULL, full, need + 1), need);
    assert_int_equal(strlen(full), need);

    /* Too small by one, and much too small: truncated prefix, NUL, no overrun. */
    const size_t sizes[] = {need, 100, 1};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *small = malloc(sizes[i] + 8);
        assert_non_null(small);
        memset(small, '#', sizes[i] + 8);
        assert_int_equal(recs_metrics_render(NULL, small, sizes[i]), need);
        assert_int_equal(strlen(small), sizes[i] - 1);
        assert_memory_equal(small, full, sizes[i] - 1);
        for (size_t j = sizes[i]; j < sizes[i] + 8; j++)
            assert_int_equal(small[j], '#');
        free(small);
    }
    char untouched = '#';
    assert_int_equal(recs_metrics_render(NULL, &untouched, 0), need);
    assert_int_equal(untouched, '#');
    free(full);
}

enum { THREADS = 4, PER_THREAD = 20000 };

static void *count_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        recs_metrics_observe_request(RECS_ROUTE_RECOMMENDATIONS, 200, 0.002);
        recs_metrics_observe_scoring(0.002, 3);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, count_many, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    char *t = render(NULL);
    assert_line(t, "recs_http_requests_total{route=\"recommendations\",code=\"200\"} 80000");
    assert_line(t, "recs_scoring_duration_seconds_bucket{le=\"0.0025\"} 80000");
    assert_line(t, "recs_scoring_duration_seconds_bucket{le=\"0.001\"} 0");
    assert_line(t, "recs_scoring_duration_seconds_sum 160.000000000");
    assert_line(t, "recs_scoring_candidates_total 240000");
    free(t);
}

static void test_promtool(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        skip();
    recs_metrics_init("v1.2-3-g\"abc\"", "avx2");
    recs_metrics_observe_request(RECS_ROUTE_RECOMMENDATIONS, 200, 0.004);
    recs_metrics_observe_request(RECS_ROUTE_DEMO, 304, 0.0001);
    recs_metrics_observe_request(RECS_ROUTE_OTHER, 777, 3);
    recs_metrics_observe_scoring(0.2, 1500);
    recs_metrics_observe_refresh(2, 5, 6);
    recs_metrics_count_db_error();
    recs_metrics_count_overload();
    recs_metrics_count_catalog_change();
    recs_metrics_set_http_connections(3);
    recs_metrics_set_http_connection_limit(1024);
    struct recs_metrics_gauges g = {.db_pool_size = 3, .cache_version = 7, .db_up = 1};
    char *t = render(&g);

    char path[] = "/tmp/recs-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(t);
    assert_int_equal(write(fd, t, len), (ssize_t)len);
    close(fd);
    free(t);

    char cmd[128], out[4096] = "";
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    unlink(path);
    /* Exit 0 and silence: no errors and no lint warnings. */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n != 0)
        fail_msg("promtool check metrics failed (status %d):\n%s", status, out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_route_labels, reset),
        cmocka_unit_test_setup(test_requests, reset),
        cmocka_unit_test_setup(test_histogram_buckets, reset),
        cmocka_unit_test_setup(test_counters_and_gauges, reset),
        cmocka_unit_test_setup(test_label_escaping, reset),
        cmocka_unit_test_setup(test_render_contract, reset),
        cmocka_unit_test_setup(test_threads, reset),
        cmocka_unit_test_setup(test_promtool, reset),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
