/*
 * test_faults.c - the service when its database misbehaves: PostgreSQL
 * stopped (immediate) or its postmaster SIGKILLed with requests in flight,
 * during the first load and during a change set, and started again; a
 * commit lost in a crash; a restored catalog; idle pooled connections
 * closed by the server, a statement timeout on a locked table, an exhausted
 * pool, a connection limit reached, a backend that stops answering, a long
 * change log; odd catalog rows (empty, 100 KB, 5 MB, NULL, tokenless, 20,000
 * of them, invalid UTF-8); memory allocations failing on the request path
 * (tests/integration/failmalloc.c preloaded; skipped for sanitizer builds);
 * and a catalog, or a change set, too large for the memory limit.
 *
 * Run like the other integration tests (RECS_BIN, RECS_TEST_CACHE,
 * RECS_TEST_PGDIR, RECS_TEST_PGCTL, RECS_TEST_VECTORS). Each test leaves the
 * cluster running with the vectors catalog, whatever happens. A summary
 * table of what was measured is printed at the end.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static bool cache_on(void)
{
    const char *cache = getenv("RECS_TEST_CACHE");
    return cache == NULL || strcmp(cache, "off") != 0;
}

static json_t *vectors;
static PGconn *pg;

/* ---- summary table ---------------------------------------------------- */

struct row {
    char name[48];
    const char *result;
    char figure[200];
};
static struct row rows[32];
static size_t nrows;

/* A new row, FAIL until row_pass. */
static struct row *row_begin(const char *name)
{
    struct row *r = &rows[nrows < 31 ? nrows++ : 31];
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->result = "FAIL";
    r->figure[0] = '\0';
    return r;
}

__attribute__((format(printf, 2, 3))) static void row_note(struct row *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->figure, sizeof(r->figure), fmt, ap);
    va_end(ap);
}

static void row_pass(struct row *r)
{
    r->result = "pass";
}

static void print_summary(void)
{
    printf("\nfaults summary (RECS_BIN=%s, cache %s)\n", server_binary(),
           getenv("RECS_TEST_CACHE") ? getenv("RECS_TEST_CACHE") : "on");
    printf("%-34s %-6s %s\n", "case", "result", "figure");
    for (size_t i = 0; i < nrows; i++)
        printf("%-34s %-6s %s\n", rows[i].name, rows[i].result, rows[i].figure);
    fflush(stdout);
}

/* ---- what a test leaves behind, undone by cleanup() --------------------- */

static struct server live[8]; /* copies: a failed test's own struct is gone */
static bool live_used[8];
static pthread_t pending[16]; /* client threads not joined yet */
static size_t npending;
static atomic_bool *pending_stop; /* asks a running load generator to stop */
static PGconn *locker;
static int frozen[64];
static size_t nfrozen;
static char failmalloc_switch[600];

static void start_server(struct server *s, const char *const *env)
{
    int rc = server_start(s, env);

    for (size_t i = 0; s->pid > 0 && !s->exited && i < sizeof(live) / sizeof(live[0]); i++) {
        if (!live_used[i]) {
            live[i] = *s;
            live_used[i] = true;
            break;
        }
    }
    assert_int_equal(rc, 0);
}

/* SIGTERM; the server must exit 0. */
static void stop_server(struct server *s)
{
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
        if (live_used[i] && live[i].pid == s->pid)
            live_used[i] = false;
    }
    assert_int_equal(server_stop(s, SIGTERM, 15), 0);
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;

    assert_true(npending < sizeof(pending) / sizeof(pending[0]));
    assert_int_equal(pthread_create(&t, NULL, fn, arg), 0);
    pending[npending++] = t;
    return t;
}

static void join(pthread_t t)
{
    pthread_join(t, NULL);
    for (size_t i = 0; i < npending; i++) {
        if (pthread_equal(pending[i], t)) {
            pending[i] = pending[--npending];
            break;
        }
    }
}

static void thaw(void)
{
    for (size_t i = 0; i < nfrozen; i++)
        kill(frozen[i], SIGCONT);
    nfrozen = 0;
}

/* Puts the suite's "shop" database back where a restore test swapped it
 * out (shop_old), and drops the restore's databases (pg is closed when
 * its database goes). */
static void restore_databases(void)
{
    PGconn *admin = db_connect_dbname("postgres");
    PGresult *res;
    bool swapped;

    if (admin == NULL)
        return;
    res = PQexec(admin, "SELECT 1 FROM pg_database WHERE datname = 'shop_old'");
    swapped = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    PQclear(res);
    if (swapped) {
        PQfinish(pg);
        pg = NULL;
        db_exec(admin, "DROP DATABASE IF EXISTS shop WITH (FORCE)");
        db_exec(admin, "ALTER DATABASE shop_old RENAME TO shop");
    }
    db_exec(admin, "ALTER DATABASE shop ALLOW_CONNECTIONS true");
    db_exec(admin, "DROP DATABASE IF EXISTS shop_new WITH (FORCE)");
    db_exec(admin, "DROP DATABASE IF EXISTS shop_restore_src WITH (FORCE)");
    PQfinish(admin);
}

/* Restores what the suite expects: no server of ours, no lock, no frozen
 * backend, the cluster up with the vectors catalog, no extra database. */
static int cleanup(void **state)
{
    (void)state;
    thaw();
    if (pending_stop != NULL)
        atomic_store(pending_stop, true);
    while (npending > 0) /* every call ends within the client's 20 s timeout */
        join(pending[npending - 1]);
    pending_stop = NULL;
    if (failmalloc_switch[0] != '\0')
        unlink(failmalloc_switch);
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
        if (live_used[i])
            server_stop(&live[i], SIGTERM, 15);
        live_used[i] = false;
    }
    PQfinish(locker);
    locker = NULL;
    if (pg != NULL && (PQstatus(pg) != CONNECTION_OK || db_exec(pg, "SELECT 1") != 0)) {
        PQfinish(pg);
        pg = NULL;
    }
    if (pg == NULL) { /* the cluster down, or "shop" closed to connections */
        PGconn *admin = db_connect_dbname("postgres");
        if (admin == NULL)
            pg_control("restart");
        PQfinish(admin);
    }
    restore_databases();
    if (pg == NULL)
        pg = db_connect();
    if (pg == NULL)
        return -1;
    db_exec(pg, "DELETE FROM recs_catalog_changes WHERE product_id < 0");
    db_exec(pg, "ALTER SYSTEM RESET wal_writer_delay");
    db_exec(pg, "ALTER SYSTEM RESET autovacuum");
    db_exec(pg, "SELECT pg_reload_conf()");
    db_exec(pg, "DROP DATABASE IF EXISTS shop_ascii WITH (FORCE)");
    db_exec(pg, "ALTER ROLE recs_reader CONNECTION LIMIT -1");
    return load_vectors_catalog(pg, vectors);
}

/* ---- HTTP calls --------------------------------------------------------- */

struct call {
    int port;
    const char *method; /* NULL: GET */
    char target[256];
    int status;        /* -1: no connection, 0: closed without a response */
    int connect_errno; /* when status is -1 */
    double start, end;
    bool retry_after;   /* the response has Retry-After */
    bool json;          /* the body parses as JSON */
    bool json_error;    /* ... and is {"error": "..."} */
    uint64_t body_hash; /* of the body, to compare answers without keeping them */
};

/* FNV-1a 64 of a NUL-terminated text. */
static uint64_t text_hash(const char *text)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h;
}

static void call_run(struct call *c)
{
    struct http_response r;
    char value[64];
    json_t *body;

    memset(&r, 0, sizeof(r));
    c->start = now_seconds();
    c->status =
        http_request(c->port, c->method ? c->method : "GET", c->target, &r) == 0 ? r.status : -1;
    c->end = now_seconds();
    c->connect_errno = r.connect_errno;
    c->retry_after = http_header(&r, "Retry-After", value, sizeof(value)) != NULL;
    c->body_hash = r.body != NULL ? text_hash(r.body) : 0;
    body = http_json(&r);
    c->json = body != NULL;
    c->json_error = body != NULL && json_is_string(json_object_get(body, "error"));
    json_decref(body);
    http_response_free(&r);
}

static void *call_thread(void *arg)
{
    call_run(arg);
    return NULL;
}

static void call_set(struct call *c, int port, const char *target)
{
    memset(c, 0, sizeof(*c));
    c->port = port;
    snprintf(c->target, sizeof(c->target), "%s", target);
}

/* Starts n calls at once and waits for all of them. */
static void run_concurrent(struct call *calls, size_t n)
{
    pthread_t threads[64];

    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, call_thread, &calls[i]), 0);
    for (size_t i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
}

static int get_status(int port, const char *target)
{
    struct call c;
    call_set(&c, port, target);
    call_run(&c);
    return c.status;
}

/* n concurrent recommendation requests; asserts that every one is 200. */
static void assert_concurrent_ok(int port, size_t n)
{
    static const char *const slugs[] = {"linen-summer-shirt", "road-running-shoes",
                                        "espresso-grinder", "wireless-earbuds"};
    struct call calls[64];

    for (size_t i = 0; i < n; i++) {
        char target[128];
        snprintf(target, sizeof(target), "/products/%s/recommendations", slugs[i % 4]);
        call_set(&calls[i], port, target);
    }
    run_concurrent(calls, n);
    for (size_t i = 0; i < n; i++) {
        if (calls[i].status != 200)
            fail_msg("%s answered %d after the fault, expected 200", calls[i].target,
                     calls[i].status);
    }
}

/* An error response: the status, a JSON {"error": ...} body, and
 * Retry-After when it is 503. */
static void assert_error_reply(const struct call *c, int status)
{
    if (c->status == -1)
        fail_msg("%s: no connection after %.3f s (%s), expected %d", c->target, c->end - c->start,
                 strerror(c->connect_errno), status);
    if (c->status == 0)
        fail_msg("%s: connection closed without a response after %.3f s, expected %d", c->target,
                 c->end - c->start, status);
    if (c->status != status)
        fail_msg("%s answered %d, expected %d", c->target, c->status, status);
    if (!c->json_error)
        fail_msg("%s answered %d without a JSON error body", c->target, c->status);
    if (status == 503 && !c->retry_after)
        fail_msg("%s answered 503 without Retry-After", c->target);
}

static double metric(int port, const char *series)
{
    double v = -1;
    if (http_metric(port, series, &v) != 0)
        fail_msg("/metrics has no %s", series);
    return v;
}

#define IN_USE "recs_db_pool_connections{state=\"in_use\"}"
#define CONNECTED "recs_db_pool_connections{state=\"connected\"}"

/* The pool has every connection back (in_use 0 within a second: a response
 * may be sent a moment before its connection is released) and holds no
 * more than its size. Returns the connected count. */
static int assert_pool_whole(int port, int size)
{
    double deadline = now_seconds() + 1.0, in_use, connected;

    while ((in_use = metric(port, IN_USE)) != 0 && now_seconds() < deadline)
        sleep_ms(5);
    if (in_use != 0)
        fail_msg("pool in_use is %g after the fault, expected 0", in_use);
    connected = metric(port, CONNECTED);
    if (connected < 0 || connected > size)
        fail_msg("pool connected is %g, outside 0..%d", connected, size);
    assert_int_equal((int)metric(port, "recs_inflight_requests"), 0);
    return (int)connected;
}

/* Whether every ranking of the vectors is answered exactly. */
static bool vectors_ranked_right(int port)
{
    json_t *expected = json_object_get(vectors, "expected"), *want;
    size_t i;

    json_array_foreach(expected, i, want)
    {
        char target[256];
        struct http_response r;
        json_t *got, *recs, *w;
        size_t j;
        bool same;

        snprintf(target, sizeof(target), "/products/%s/recommendations?limit=%d",
                 json_string_value(json_object_get(want, "target")),
                 (int)json_integer_value(json_object_get(want, "limit")));
        if (http_request(port, "GET", target, &r) != 0 || r.status != 200) {
            http_response_free(&r);
            return false;
        }
        got = http_json(&r);
        http_response_free(&r);
        recs = json_object_get(got, "recommendations");
        same = json_array_size(recs) == json_array_size(json_object_get(want, "ranking"));
        json_array_foreach(json_object_get(want, "ranking"), j, w)
        {
            json_t *g = json_array_get(recs, j);
            same = same &&
                   json_integer_value(json_object_get(g, "id")) ==
                       json_integer_value(json_object_get(w, "id")) &&
                   json_integer_value(json_object_get(g, "matches")) ==
                       json_integer_value(json_object_get(w, "matches"));
        }
        json_decref(got);
        if (!same)
            return false;
    }
    return true;
}

/* ---- load generator: sequential requests until told to stop ----------- */

struct loadgen {
    int port;
    atomic_bool stop;
    size_t n;
    struct call calls[4000];
};

static void *loadgen_run(void *arg)
{
    struct loadgen *g = arg;

    while (!atomic_load(&g->stop) && g->n < sizeof(g->calls) / sizeof(g->calls[0])) {
        struct call *c = &g->calls[g->n];
        call_set(c, g->port, "/products/wireless-earbuds/recommendations?limit=3");
        call_run(c);
        g->n++;
        sleep_ms(5);
    }
    return NULL;
}

/* ---- 1. PostgreSQL killed and started again ---------------------------- */

#define T1_ACQUIRE_S 1.0
#define T1_CONNECT_S 2.0

/* The database goes away with requests waiting on it (on a lock): they
 * get 503 (JSON, Retry-After) at once, so does everything during the
 * outage, within acquire + connect timeouts; /readyz 503, /healthz 200.
 * After pg.sh restart the service recovers by itself, and its pool is
 * whole. With pg.sh stop immediate every backend is ended with the server.
 * With SIGKILL to the postmaster alone its backends live on until they
 * notice: the lock holder's goes, and a waiting query may then still get
 * its rows from a backend of the dead server. Such a 200 is a consistent
 * answer and must be exactly the right one; nothing else may be 200. */
static void killed_with_requests_in_flight(bool sigkill)
{
    static const char *const env[] = {"RECS_HTTP_THREADS=4",
                                      "RECS_DB_POOL_SIZE=4",
                                      "RECS_STATEMENT_TIMEOUT_MS=5000",
                                      "RECS_DB_CONNECT_TIMEOUT=2",
                                      "RECS_DB_ACQUIRE_TIMEOUT_MS=1000",
                                      NULL};
    const double bound = T1_ACQUIRE_S + T1_CONNECT_S;
    struct row *row = row_begin(sigkill ? "1 SIGKILL, in flight" : "1 kill (immediate), in flight");
    struct row *row2 = row_begin(sigkill ? "1 recovery after SIGKILL" : "1 recovery after restart");
    static struct call inflight[3]; /* static: threads may outlive a failed assertion */
    static struct loadgen *gen;
    struct server s;
    struct call c;
    pthread_t threads[3], gen_thread;
    double t_kill, t_down, t_restart, t_up, first_503 = 0, max_503 = 0, recovered = -1;
    double deadline;
    size_t outage_503 = 0, late_200 = 0;
    uint64_t want_inflight, want_gen;

    if (gen == NULL)
        gen = malloc(sizeof(*gen)); /* kept for the run: a thread may still use it */
    assert_non_null(gen);
    memset(gen, 0, sizeof(*gen));
    start_server(&s, env);
    assert_concurrent_ok(s.port, 8);
    /* the right answers, to hold any 200 of the outage against */
    call_set(&c, s.port, "/products/linen-summer-shirt/recommendations");
    call_run(&c);
    want_inflight = c.body_hash;
    call_set(&c, s.port, "/products/wireless-earbuds/recommendations?limit=3");
    call_run(&c);
    want_gen = c.body_hash;

    /* requests in flight: waiting on a lock when the database dies */
    locker = db_connect();
    assert_non_null(locker);
    assert_int_equal(db_exec(locker, "BEGIN"), 0);
    assert_int_equal(
        db_exec(locker, "LOCK TABLE products, recs_catalog_version IN ACCESS EXCLUSIVE MODE"), 0);
    for (int i = 0; i < 3; i++) {
        call_set(&inflight[i], s.port, "/products/linen-summer-shirt/recommendations");
        threads[i] = spawn(call_thread, &inflight[i]);
    }
    gen->port = s.port;
    pending_stop = &gen->stop;
    gen_thread = spawn(loadgen_run, gen);
    sleep_ms(400);

    t_kill = now_seconds();
    if (sigkill)
        assert_int_equal(pg_kill_postmaster(), 0);
    else
        assert_int_equal(pg_control_arg("stop", "immediate"), 0);
    t_down = now_seconds();
    PQfinish(locker);
    locker = NULL;
    for (int i = 0; i < 3; i++)
        join(threads[i]);
    for (int i = 0; i < 3; i++) {
        assert_true(inflight[i].start < t_kill); /* really in flight */
        if (sigkill && inflight[i].status == 200 && inflight[i].body_hash == want_inflight) {
            late_200++;
            continue;
        }
        assert_error_reply(&inflight[i], 503);
        if (inflight[i].end - t_kill > first_503)
            first_503 = inflight[i].end - t_kill;
    }
    if (first_503 > bound)
        fail_msg("requests in flight answered %.3f s after the kill", first_503);

    /* the outage: every request 503 within the timeouts */
    for (int i = 0; i < 6; i++) {
        call_set(&c, s.port, "/products/espresso-grinder/recommendations");
        call_run(&c);
        assert_error_reply(&c, 503);
        if (c.end - c.start > max_503)
            max_503 = c.end - c.start;
        if (c.end - c.start > bound)
            fail_msg("a request during the outage took %.3f s", c.end - c.start);
        sleep_ms(150);
    }
    call_set(&c, s.port, "/readyz");
    call_run(&c);
    assert_error_reply(&c, 503);
    assert_int_equal(get_status(s.port, "/healthz"), 200);
    assert_int_equal((int)metric(s.port, "recs_db_up"), 0);
    row_note(row,
             "in flight: 503 %.0f ms after kill (stop took %.0f ms; %zu of 3 got their rows "
             "first); outage: max %.0f ms",
             first_503 * 1e3, (t_down - t_kill) * 1e3, late_200, max_503 * 1e3);

    /* started again: the service heals without a restart */
    t_restart = now_seconds();
    assert_int_equal(pg_control("restart"), 0);
    t_up = now_seconds();
    deadline = t_up + 10;
    while (now_seconds() < deadline) {
        if (get_status(s.port, "/products/linen-summer-shirt/recommendations") == 200) {
            recovered = now_seconds() - t_up;
            break;
        }
        sleep_ms(25);
    }
    atomic_store(&gen->stop, true);
    join(gen_thread);
    pending_stop = NULL;
    if (recovered < 0)
        fail_msg("no 200 within 10 s of the restart");
    if (recovered > 3.0)
        fail_msg("recovered only %.3f s after the restart", recovered);
    call_set(&c, s.port, "/readyz");
    call_run(&c);
    assert_int_equal(c.status, 200);

    /* the background requests: 200 or a proper 503, never slow */
    for (size_t i = 0; i < gen->n; i++) {
        const struct call *g = &gen->calls[i];
        double from = g->start > t_kill ? g->start : t_kill;
        if (g->status == 200) {
            if (g->body_hash != want_gen)
                fail_msg("a background request got 200 with a wrong answer");
            if (!sigkill && g->start > t_down && g->end < t_restart)
                fail_msg("200 while the database was down");
            continue;
        }
        if (g->status != 503)
            server_print_log_tail(&s);
        assert_error_reply(g, 503);
        outage_503++;
        if (g->end - from > bound)
            fail_msg("a background request took %.3f s", g->end - from);
    }
    assert_true(outage_503 > 0);

    /* the pool is whole: 2 x pool size at once all succeed */
    assert_concurrent_ok(s.port, 8);
    assert_pool_whole(s.port, 4);
    assert_true(vectors_ranked_right(s.port));
    row_note(row2, "first 200 %.0f ms after restart; 8 concurrent 200; in_use 0", recovered * 1e3);
    row_pass(row);
    stop_server(&s);
    row_pass(row2);
}

static void test_database_killed_with_requests_in_flight(void **state)
{
    (void)state;
    killed_with_requests_in_flight(false);
}

static void test_postmaster_sigkilled_with_requests_in_flight(void **state)
{
    (void)state;
    killed_with_requests_in_flight(true);
}

/* A worker busy with one request (here waiting on a lock) does not cost the
 * connections it accepted meanwhile their header deadline: their request
 * heads have arrived, it is the worker that has not read them yet. With one
 * worker and 8 clients at once, it accepts several in one go before the
 * first request blocks. */
static void test_busy_worker_does_not_cut_waiting_requests(void **state)
{
    static const char *const env[] = {"RECS_HTTP_THREADS=1", "RECS_HEADER_TIMEOUT=1",
                                      "RECS_STATEMENT_TIMEOUT_MS=10000", NULL};
    static const char *const slugs[] = {"linen-summer-shirt", "road-running-shoes",
                                        "espresso-grinder", "wireless-earbuds"};
    struct row *row = row_begin("1 busy worker, header deadline");
    static struct call calls[8]; /* static: threads may outlive a failed assertion */
    pthread_t threads[8];
    struct server s;
    double slowest = 0;

    (void)state;
    start_server(&s, env);
    assert_concurrent_ok(s.port, 4);
    locker = db_connect();
    assert_non_null(locker);
    assert_int_equal(db_exec(locker, "BEGIN"), 0);
    assert_int_equal(
        db_exec(locker, "LOCK TABLE products, recs_catalog_version IN ACCESS EXCLUSIVE MODE"), 0);
    for (int i = 0; i < 8; i++) {
        char target[128];
        snprintf(target, sizeof(target), "/products/%s/recommendations", slugs[i % 4]);
        call_set(&calls[i], s.port, target);
        threads[i] = spawn(call_thread, &calls[i]);
    }
    sleep_ms(2500);
    assert_int_equal(db_exec(locker, "COMMIT"), 0);
    PQfinish(locker);
    locker = NULL;
    for (int i = 0; i < 8; i++)
        join(threads[i]);
    for (int i = 0; i < 8; i++) {
        if (calls[i].status != 200)
            server_print_log_tail(&s);
        if (calls[i].status == 0)
            fail_msg("%s: closed without a response after %.3f s while its worker was busy",
                     calls[i].target, calls[i].end - calls[i].start);
        assert_int_equal(calls[i].status, 200);
        if (calls[i].end - calls[i].start > slowest)
            slowest = calls[i].end - calls[i].start;
    }
    row_note(row,
             "8 requests behind a 2.5 s lock wait, header deadline 1 s: all 200 (slowest %.1f s)",
             slowest);
    stop_server(&s);
    row_pass(row);
}

/* Idle pooled connections the server closed (a restart with no traffic in
 * between, pg_terminate_backend) are noticed before use: no request is
 * answered 503 once the database is back. */
static void test_idle_connections_closed_by_the_server(void **state)
{
    static const char *const env[] = {"RECS_HTTP_THREADS=4", "RECS_DB_POOL_SIZE=4",
                                      "RECS_STATEMENT_TIMEOUT_MS=5000", NULL};
    struct row *row = row_begin("1 idle pool, server restarted");
    struct row *row2 = row_begin("1 idle pool, backends terminated");
    struct server s;
    struct call c;
    int connected;

    (void)state;
    start_server(&s, env);
    assert_concurrent_ok(s.port, 8);
    connected = assert_pool_whole(s.port, 4);
    assert_true(connected >= 1);

    /* restart with no request in between */
    PQfinish(pg);
    pg = NULL;
    assert_int_equal(pg_control_arg("stop", "fast"), 0);
    assert_int_equal(pg_control("restart"), 0);
    call_set(&c, s.port, "/readyz");
    call_run(&c);
    if (c.status != 200)
        fail_msg("/readyz answered %d right after the restart (%d stale connections)", c.status,
                 connected);
    assert_concurrent_ok(s.port, 8);
    assert_pool_whole(s.port, 4);
    row_note(row, "%d pooled connections went stale; readyz and 8 concurrent: 200", connected);
    row_pass(row);

    /* the server ends every idle session of the service */
    pg = db_connect();
    assert_non_null(pg);
    assert_concurrent_ok(s.port, 8);
    connected = assert_pool_whole(s.port, 4);
    assert_int_equal(db_exec(pg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = 'recs'"),
                     0);
    sleep_ms(200);
    assert_concurrent_ok(s.port, 8);
    call_set(&c, s.port, "/readyz");
    call_run(&c);
    assert_int_equal(c.status, 200);
    assert_pool_whole(s.port, 4);
    row_note(row2, "%d sessions terminated; 8 concurrent and readyz: 200", connected);
    stop_server(&s);
    row_pass(row2);
}

/* ---- 1b. SIGKILL in the middle of a load or a change set, restores ------ */

/* For the large catalogs: a small K (what is tested does not depend on the
 * signatures' length, and the from-scratch oracle hashes every product for
 * every request), and room for reading 20,000 rows. */
static const char *const big_env[] = {"RECS_HTTP_THREADS=4", "RECS_K=128",
                                      "RECS_STATEMENT_TIMEOUT_MS=10000",
                                      "RECS_DB_CONNECT_TIMEOUT=2", NULL};
static const char *const big_oracle_env[] = {
    "RECS_HTTP_THREADS=4", "RECS_K=128", "RECS_STATEMENT_TIMEOUT_MS=10000", "RECS_CACHE=off", NULL};
static const char *const small_env[] = {"RECS_HTTP_THREADS=4", "RECS_STATEMENT_TIMEOUT_MS=5000",
                                        "RECS_DB_CONNECT_TIMEOUT=2", NULL};
static const char *const small_oracle_env[] = {
    "RECS_HTTP_THREADS=4", "RECS_STATEMENT_TIMEOUT_MS=5000", "RECS_CACHE=off", NULL};

/* n products with ids 1001.., slugs gen-1.., next to the vectors catalog;
 * filler words make the rows longer (and a read of them slower). */
static void insert_generated(int n, int filler)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "INSERT INTO products (id, slug, title, description, price_cents) "
             "SELECT 1000 + g, 'gen-' || g, 'Generated item ' || g, 'alpha' || (g %% 7) || "
             "' beta' || (g %% 11) || ' gamma' || (g %% 13) || repeat(' filler' || (g %% 17), %d), "
             "100 FROM generate_series(1, %d) AS g",
             filler, n);
    assert_int_equal(db_exec(pg, sql), 0);
}

/* Starts the cluster again after a kill and reconnects pg. */
static void restart_cluster(void)
{
    PQfinish(pg);
    pg = NULL;
    assert_int_equal(pg_control("restart"), 0);
    pg = db_connect();
    assert_non_null(pg);
}

/* Waits up to timeout_s for the service to run a statement whose text
 * matches pattern (LIKE); true when it was seen running. */
static bool wait_for_statement(const char *pattern, double timeout_s)
{
    const char *params[1] = {pattern};
    double deadline = now_seconds() + timeout_s;

    while (now_seconds() < deadline) {
        PGresult *res = PQexecParams(pg,
                                     "SELECT count(*) FROM pg_stat_activity WHERE "
                                     "application_name = 'recs' AND state = 'active' "
                                     "AND query LIKE $1",
                                     1, NULL, params, NULL, NULL, 0);
        bool seen = PQresultStatus(res) == PGRES_TUPLES_OK && atoi(PQgetvalue(res, 0, 0)) > 0;
        PQclear(res);
        if (seen)
            return true;
    }
    return false;
}

/* Both the service's statements that read products (the whole catalog,
 * a change set) take the snapshot they were read under. */
#define CATALOG_STATEMENT "%pg_current_snapshot()%"

/* The service answers every target exactly as the from-scratch oracle. */
static void assert_like_oracle(int port, int oracle_port, const char *const *targets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *got = NULL, *want = NULL;
        int got_status = http_get_body(port, targets[i], &got);
        int want_status = http_get_body(oracle_port, targets[i], &want);

        if (got_status != want_status || got == NULL || want == NULL || strcmp(got, want) != 0)
            fail_msg("%s: recs answered %d %.300s\nfrom scratch: %d %.300s", targets[i], got_status,
                     got ? got : "", want_status, want ? want : "");
        free(got);
        free(want);
    }
}

/* The oracle's answer to target, hashed like struct call's. */
static uint64_t oracle_hash(int oracle_port, const char *target)
{
    struct call c;

    call_set(&c, oracle_port, target);
    call_run(&c);
    if (c.status != 200)
        fail_msg("the oracle answered %d to %s", c.status, target);
    return c.body_hash;
}

/* Seconds until target is answered 200 (fails after timeout_s). */
static double wait_healed(int port, const char *target, double timeout_s)
{
    double start = now_seconds();

    while (get_status(port, target) != 200) {
        if (now_seconds() - start > timeout_s)
            fail_msg("%s not 200 within %.0f s of the restart", target, timeout_s);
        sleep_ms(25);
    }
    return now_seconds() - start;
}

/* Every request during an outage: a JSON 503 (or 504), never anything else. */
static void assert_outage_answers(int port)
{
    struct call c;

    for (int i = 0; i < 4; i++) {
        call_set(&c, port, i % 2 ? "/products/gen-5/recommendations" : "/readyz");
        call_run(&c);
        assert_error_reply(&c, c.status == 504 ? 504 : 503);
    }
    assert_int_equal(get_status(port, "/healthz"), 200);
}

/* SIGKILL while the service reads its first catalog (20,000 products,
 * 12 MB of rows): the load fails, nothing is served from it, requests and
 * /readyz are 503 until the cluster is back, then every answer is the
 * from-scratch one. The kill is timed by watching pg_stat_activity; when
 * the read had already finished (the rows were all in), it is tried again. */
static void test_postmaster_sigkilled_during_first_load(void **state)
{
    static const char *const targets[] = {"/products/gen-5/recommendations?limit=20",
                                          "/products/gen-77/recommendations?limit=5",
                                          "/products/linen-summer-shirt/recommendations"};
    struct row *row = row_begin("1 SIGKILL during the first load");
    static struct call first; /* static: a thread may outlive a failed assertion */
    struct server s, oracle;
    pthread_t t;
    int attempt;
    bool hit = false;
    double healed;

    (void)state;
    insert_generated(20000, 60);
    for (attempt = 1; attempt <= 3 && !hit; attempt++) {
        start_server(&s, big_env);
        call_set(&first, s.port, targets[0]);
        t = spawn(call_thread, &first);
        if (!wait_for_statement(CATALOG_STATEMENT, 10))
            fail_msg("recs never read its catalog");
        assert_int_equal(pg_kill_postmaster(), 0);
        join(t);
        /* the load failed when the request (which waits for the load with
         * the cache on, and makes its own with it off) was not answered */
        hit = first.status != 200;
        if (hit) {
            assert_error_reply(&first, first.status == 504 ? 504 : 503);
            assert_outage_answers(s.port);
        }
        restart_cluster();
        if (!hit)
            stop_server(&s);
    }
    if (!hit)
        fail_msg("three kills came after the catalog was read");
    healed = wait_healed(s.port, targets[0], 60);
    assert_int_equal(get_status(s.port, "/readyz"), 200);
    start_server(&oracle, big_oracle_env);
    assert_like_oracle(s.port, oracle.port, targets, 3);
    row_note(row,
             "attempt %d: %d with JSON error, outage 503; healed %.0f ms after restart; "
             "3 answers as from scratch",
             attempt - 1, first.status, healed * 1e3);
    stop_server(&oracle);
    stop_server(&s);
    row_pass(row);
}

/* Requests one target until told to stop (at most 400). */
struct prober {
    int port;
    const char *target;
    atomic_bool stop;
    size_t n;
    struct call calls[400];
};

static void *prober_run(void *arg)
{
    struct prober *p = arg;

    while (!atomic_load(&p->stop) && p->n < sizeof(p->calls) / sizeof(p->calls[0])) {
        call_set(&p->calls[p->n], p->port, p->target);
        call_run(&p->calls[p->n]);
        p->n++;
        sleep_ms(5);
    }
    return NULL;
}

/* A large change committed (20,000 products' texts), then SIGKILL while
 * the service reads it, with requests arriving: every answer after the
 * commit is a JSON 503/504 or exactly the new state (the from-scratch
 * oracle's, after the restart), never the old one nor a mix; after the
 * restart every answer is the new state. With the cache off there is no
 * change set: the kill comes while a request reads the whole catalog. */
static void test_postmaster_sigkilled_during_a_change_set(void **state)
{
    static const char *const targets[] = {"/products/gen-5/recommendations?limit=20",
                                          "/products/gen-77/recommendations?limit=5",
                                          "/products/linen-summer-shirt/recommendations"};
    struct row *row = row_begin("1 SIGKILL during a change set");
    static struct prober *probers; /* kept for the run: threads may outlive a failure */
    struct server s, oracle;
    pthread_t threads[2];
    size_t n200 = 0, n503 = 0, n504 = 0;
    uint64_t want[2];
    double healed;

    (void)state;
    if (probers == NULL)
        probers = malloc(2 * sizeof(*probers));
    assert_non_null(probers);
    memset(probers, 0, 2 * sizeof(*probers));
    insert_generated(20000, 4);
    start_server(&s, big_env);
    wait_healed(s.port, targets[0], 60); /* the first catalog is in */
    assert_int_equal(db_exec(pg, "UPDATE products SET title = title || ' Mark II', "
                                 "description = description || ' delta' || (id % 5) "
                                 "WHERE id > 1000"),
                     0);
    for (int i = 0; i < 2; i++) {
        probers[i].port = s.port;
        probers[i].target = targets[i];
        threads[i] = spawn(prober_run, &probers[i]);
    }
    pending_stop = &probers[0].stop;
    if (!wait_for_statement(CATALOG_STATEMENT, 10))
        fail_msg("recs never read the change");
    assert_int_equal(pg_kill_postmaster(), 0);
    /* a few answers of the outage too */
    for (double until = now_seconds() + 5; now_seconds() < until;) {
        size_t a = probers[0].n, b = probers[1].n;
        sleep_ms(200);
        if (probers[0].n >= a + 3 && probers[1].n >= b + 3)
            break;
    }
    atomic_store(&probers[0].stop, true);
    atomic_store(&probers[1].stop, true);
    for (int i = 0; i < 2; i++)
        join(threads[i]);
    pending_stop = NULL;
    assert_outage_answers(s.port);

    restart_cluster();
    healed = wait_healed(s.port, targets[0], 60);
    start_server(&oracle, big_oracle_env);
    assert_like_oracle(s.port, oracle.port, targets, 3);
    for (int i = 0; i < 2; i++)
        want[i] = oracle_hash(oracle.port, targets[i]);
    for (int i = 0; i < 2; i++) {
        for (size_t j = 0; j < probers[i].n; j++) {
            const struct call *c = &probers[i].calls[j];
            if (c->status == 200) {
                if (c->body_hash != want[i])
                    fail_msg("%s answered 200 with the catalog as it was before the change",
                             c->target);
                n200++;
                continue;
            }
            assert_error_reply(c, c->status == 504 ? 504 : 503);
            n503 += c->status == 503;
            n504 += c->status == 504;
        }
    }
    assert_true(n503 + n504 > 0);
    row_note(row,
             "after the commit: %zu x 200 (new state), %zu x 503, %zu x 504; healed %.0f ms "
             "after restart, as from scratch",
             n200, n503, n504, healed * 1e3);
    stop_server(&oracle);
    stop_server(&s);
    row_pass(row);
}

/* The targets of the vectors (every expected ranking), for comparisons. */
static size_t vectors_targets(char targets[][256], size_t max)
{
    json_t *want;
    size_t i, n = 0;

    json_array_foreach(json_object_get(vectors, "expected"), i, want)
    {
        if (n == max)
            break;
        snprintf(targets[n++], 256, "/products/%s/recommendations?limit=%d",
                 json_string_value(json_object_get(want, "target")),
                 (int)json_integer_value(json_object_get(want, "limit")));
    }
    return n;
}

static void assert_all_like_oracle(int port, int oracle_port)
{
    static char targets[32][256];
    const char *list[32];
    size_t n = vectors_targets(targets, 32);

    for (size_t i = 0; i < n; i++)
        list[i] = targets[i];
    assert_like_oracle(port, oracle_port, list, n);
}

/* The transaction id of one statement run in its own transaction on pg. */
static void exec_in_transaction(const char *sql, char *xid, size_t len)
{
    PGresult *res;

    assert_int_equal(db_exec(pg, "BEGIN"), 0);
    if (db_exec(pg, sql) != 0)
        fail_msg("failed: %s", sql);
    res = PQexec(pg, "SELECT pg_current_xact_id()");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    snprintf(xid, len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    assert_int_equal(db_exec(pg, "COMMIT"), 0);
}

/* The title of the target product in an answer of the service. */
static void product_title(int port, const char *target, char *out, size_t len)
{
    struct http_response r;
    json_t *body;
    const char *title;

    assert_int_equal(http_request(port, "GET", target, &r), 0);
    body = http_json(&r);
    http_response_free(&r);
    title = json_string_value(json_object_get(json_object_get(body, "product"), "title"));
    snprintf(out, len, "%s", title ? title : "(none)");
    json_decref(body);
}

/* A crash can take back a commit that was acknowledged: with
 * synchronous_commit off, a commit still in the server's WAL buffers is
 * lost (the WAL writer is slowed down here so that the window stays open),
 * and its transaction id is handed out again after the restart. A snapshot
 * taken before the crash counts that id as finished, so the service has
 * served a write the database no longer holds, and the next write, under
 * the same id, would look already seen. Neither may be served. */
static void test_commit_lost_in_a_crash(void **state)
{
    static const char *const targets[] = {"/products/linen-summer-shirt/recommendations",
                                          "/products/road-running-shoes/recommendations"};
    struct row *row = row_begin("1 commit lost in a crash");
    struct server s, oracle;
    char lost[32], reused[32], title[128];
    PGresult *res;

    (void)state;
    start_server(&s, small_env);
    assert_true(vectors_ranked_right(s.port));
    assert_int_equal(db_exec(pg, "ALTER SYSTEM SET wal_writer_delay = '10s'"), 0);
    /* nor may autovacuum take the id first, after the restart */
    assert_int_equal(db_exec(pg, "ALTER SYSTEM SET autovacuum = off"), 0);
    assert_int_equal(db_exec(pg, "SELECT pg_reload_conf()"), 0);
    assert_int_equal(db_exec(pg, "CHECKPOINT"), 0);
    sleep_ms(400); /* the WAL writer takes its new delay when it next wakes */
    /* The crash has to lose the commit and hand its id to the next write,
     * which the cluster does not promise: a background process may take
     * the id first. Such a round tests nothing and is tried again. */
    for (int attempt = 1;; attempt++) {
        if (attempt > 1)
            wait_healed(s.port, targets[0], 10);
        assert_int_equal(db_exec(pg, "SET synchronous_commit = off"), 0);
        exec_in_transaction("UPDATE products SET title = 'Lost In The Crash' "
                            "WHERE slug = 'linen-summer-shirt'",
                            lost, sizeof(lost));
        product_title(s.port, targets[0], title, sizeof(title));
        assert_string_equal(title, "Lost In The Crash"); /* served: it was committed */
        assert_int_equal(pg_kill_postmaster(), 0);
        restart_cluster();

        res = PQexec(pg, "SELECT title FROM products WHERE slug = 'linen-summer-shirt'");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        snprintf(title, sizeof(title), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        if (strcmp(title, "Lost In The Crash") == 0) {
            if (attempt == 3)
                fail_msg("the crash kept the commit in 3 rounds: nothing tested");
            continue;
        }
        exec_in_transaction("UPDATE products SET description = description || ' espresso "
                            "grinder burr' WHERE slug = 'road-running-shoes'",
                            reused, sizeof(reused));
        if (strcmp(lost, reused) == 0)
            break;
        if (attempt == 3)
            fail_msg("the crash did not hand out transaction id %s again (got %s) in 3 rounds: "
                     "nothing tested",
                     lost, reused);
    }

    wait_healed(s.port, targets[0], 10);
    product_title(s.port, targets[0], title, sizeof(title));
    if (strcmp(title, "Lost In The Crash") == 0)
        fail_msg("the service still serves a commit the crash took back");
    start_server(&oracle, small_oracle_env);
    assert_like_oracle(s.port, oracle.port, targets, 2);
    assert_all_like_oracle(s.port, oracle.port);
    row_note(row, "lost commit gone from the answers; id %s reused by the next write, which shows",
             reused);
    stop_server(&oracle);
    stop_server(&s);
    row_pass(row);
}

/* What a restore brings: the same products, other titles and prices, and
 * two texts swapped, so that rankings differ too. */
#define RESTORED_CHANGES                                                                           \
    "UPDATE products SET title = 'Restored ' || title, price_cents = price_cents + 7; "            \
    "UPDATE products p SET description = q.description FROM products q WHERE "                     \
    "(p.slug, q.slug) IN (('linen-summer-shirt', 'espresso-grinder'), "                            \
    "('espresso-grinder', 'linen-summer-shirt'))"

/* Runs sql on the cluster's maintenance database. */
static void maintenance(const char *sql)
{
    PGconn *admin = db_connect_dbname("postgres");

    assert_non_null(admin);
    if (db_exec(admin, sql) != 0)
        fail_msg("failed: %s", sql);
    PQfinish(admin);
}

/* The cluster is killed and comes back holding another catalog: a dump
 * of another database restored as "shop" (its own epoch, a new database
 * oid, no change-log rows for what it holds). While the databases are
 * swapped the service answers 503; then exactly the restored catalog. */
static void test_catalog_restored_after_a_crash(void **state)
{
    struct row *row = row_begin("1 restore after SIGKILL");
    struct server s, oracle;
    PGconn *src;
    char cmd[3000];
    struct call c;
    double healed;

    (void)state;
    start_server(&s, small_env);
    assert_true(vectors_ranked_right(s.port));
    maintenance("DROP DATABASE IF EXISTS shop_restore_src WITH (FORCE)");
    maintenance("CREATE DATABASE shop_restore_src");
    src = db_connect_dbname("shop_restore_src");
    assert_non_null(src);
    db_exec(src, "SET client_min_messages = warning");
    assert_int_equal(db_exec_file(src, "001_catalog.sql"), 0);
    assert_int_equal(db_exec_file(src, "002_catalog_changes.sql"), 0);
    assert_int_equal(db_exec_file(src, "003_reader_role.sql"), 0);
    assert_int_equal(load_vectors_catalog(src, vectors), 0);
    assert_int_equal(db_exec(src, RESTORED_CHANGES), 0);
    PQfinish(src);

    assert_int_equal(pg_kill_postmaster(), 0);
    restart_cluster();
    maintenance("CREATE DATABASE shop_new");
    snprintf(cmd, sizeof(cmd),
             "pg_dump --no-owner -d '%s dbname=shop_restore_src' | "
             "psql -X -q -v ON_ERROR_STOP=1 -d '%s dbname=shop_new' >/dev/null",
             db_url(), db_url());
    assert_int_equal(system(cmd), 0);
    PQfinish(pg);
    pg = NULL;
    maintenance("ALTER DATABASE shop ALLOW_CONNECTIONS false");
    maintenance("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'shop'");
    call_set(&c, s.port, "/products/linen-summer-shirt/recommendations");
    call_run(&c);
    assert_error_reply(&c, 503);
    maintenance("ALTER DATABASE shop RENAME TO shop_old");
    maintenance("ALTER DATABASE shop_new RENAME TO shop");
    pg = db_connect();
    assert_non_null(pg);

    healed = wait_healed(s.port, "/products/linen-summer-shirt/recommendations", 10);
    start_server(&oracle, small_oracle_env);
    assert_all_like_oracle(s.port, oracle.port);
    assert_false(vectors_ranked_right(s.port)); /* the restored rankings differ */
    row_note(row, "503 while swapped; restored catalog served %.0f ms later, as from scratch",
             healed * 1e3);
    stop_server(&oracle);
    stop_server(&s);
    row_pass(row);
}

/* The catalog tables dropped and created again with other rows, in one
 * transaction, while the service runs (no restart, same database, same
 * epoch; the rows were written before the change log's triggers existed):
 * only the tables' oids tell. Exactly the new catalog is served. */
static void test_catalog_tables_recreated_while_serving(void **state)
{
    struct row *row = row_begin("1 tables recreated, no restart");
    struct server s, oracle;

    (void)state;
    start_server(&s, small_env);
    assert_true(vectors_ranked_right(s.port));
    assert_int_equal(db_exec(pg, "SET client_min_messages = warning"), 0);
    assert_int_equal(db_exec(pg, "DROP TABLE IF EXISTS saved_products, saved_categories"), 0);
    assert_int_equal(db_exec(pg, "CREATE TABLE saved_categories AS SELECT * FROM categories; "
                                 "CREATE TABLE saved_products AS SELECT * FROM products"),
                     0);
    assert_int_equal(db_exec(pg, "BEGIN"), 0);
    assert_int_equal(db_exec(pg, "DROP TABLE products, categories CASCADE"), 0);
    assert_int_equal(db_exec_file(pg, "001_catalog.sql"), 0);
    assert_int_equal(db_exec(pg, "INSERT INTO categories SELECT * FROM saved_categories; "
                                 "INSERT INTO products SELECT * FROM saved_products"),
                     0);
    assert_int_equal(db_exec(pg, RESTORED_CHANGES), 0);
    assert_int_equal(db_exec_file(pg, "002_catalog_changes.sql"), 0);
    assert_int_equal(db_exec_file(pg, "003_reader_role.sql"), 0);
    assert_int_equal(db_exec(pg, "COMMIT"), 0);
    assert_int_equal(db_exec(pg, "DROP TABLE saved_products, saved_categories"), 0);

    start_server(&oracle, small_oracle_env);
    assert_all_like_oracle(s.port, oracle.port);
    assert_false(vectors_ranked_right(s.port));
    row_note(row, "next answers: the new tables' catalog, as from scratch");
    stop_server(&oracle);
    stop_server(&s);
    row_pass(row);
}

/* ---- 2. slow database ---------------------------------------------------- */

static void lock_catalog(void)
{
    locker = db_connect();
    assert_non_null(locker);
    assert_int_equal(db_exec(locker, "BEGIN"), 0);
    assert_int_equal(
        db_exec(locker, "LOCK TABLE products, recs_catalog_version IN ACCESS EXCLUSIVE MODE"), 0);
}

static void unlock_catalog(void)
{
    assert_int_equal(db_exec(locker, "COMMIT"), 0);
    PQfinish(locker);
    locker = NULL;
}

/* A query stuck behind a lock is cancelled by statement_timeout: 504 with
 * a JSON error, soon after the timeout. /readyz stays 200 while a catalog
 * is loaded (its query does not touch the catalog). Released: 200 again,
 * pool whole. */
static void test_statement_timeout_gives_504(void **state)
{
    static const char *const env[] = {"RECS_HTTP_THREADS=4", "RECS_STATEMENT_TIMEOUT_MS=300", NULL};
    struct row *row = row_begin("2 statement timeout 300 ms");
    struct server s, fresh;
    struct call calls[4], c;
    double min_s = 1e9, max_s = 0, fresh_max = 0;

    (void)state;
    start_server(&s, env);
    assert_concurrent_ok(s.port, 4);
    lock_catalog();
    for (int round = 0; round < 3; round++) {
        size_t n = round == 0 ? 4 : 1;
        for (size_t i = 0; i < n; i++)
            call_set(&calls[i], s.port, "/products/road-running-shoes/recommendations");
        run_concurrent(calls, n);
        for (size_t i = 0; i < n; i++) {
            double took = calls[i].end - calls[i].start;
            assert_error_reply(&calls[i], 504);
            if (took >= 2.0)
                fail_msg("504 took %.3f s", took);
            min_s = took < min_s ? took : min_s;
            max_s = took > max_s ? took : max_s;
        }
    }
    assert_true(min_s >= 0.25); /* it was the statement timeout that answered */
    call_set(&c, s.port, "/readyz");
    call_run(&c);
    assert_int_equal(c.status, 200);

    /* a service that has to connect while the tables are locked (a fresh
     * start, connections replaced): still 504 for the query, not 503 */
    start_server(&fresh, env);
    for (int i = 0; i < 2; i++) {
        call_set(&c, fresh.port, "/products/road-running-shoes/recommendations");
        call_run(&c);
        assert_error_reply(&c, 504);
        assert_true(c.end - c.start < 2.0);
        fresh_max = c.end - c.start > fresh_max ? c.end - c.start : fresh_max;
    }
    /* with the cache on it has no catalog to serve yet: not ready */
    call_set(&c, fresh.port, "/readyz");
    call_run(&c);
    assert_int_equal(c.status, cache_on() ? 503 : 200);
    unlock_catalog();
    assert_int_equal(get_status(fresh.port, "/products/road-running-shoes/recommendations"), 200);
    assert_int_equal(get_status(fresh.port, "/readyz"), 200);
    stop_server(&fresh);

    assert_int_equal(get_status(s.port, "/products/road-running-shoes/recommendations"), 200);
    assert_concurrent_ok(s.port, 10);
    assert_pool_whole(s.port, 5);
    row_note(row, "504 after %.0f..%.0f ms (fresh server: %.0f ms); readyz 200; 200 after release",
             min_s * 1e3, max_s * 1e3, fresh_max * 1e3);
    stop_server(&s);
    row_pass(row);
}

struct hammer {
    int port;
    const char *target;
    double until;
    size_t n;
    struct call calls[400];
};

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;

    while (now_seconds() < h->until && h->n < sizeof(h->calls) / sizeof(h->calls[0])) {
        call_set(&h->calls[h->n], h->port, h->target);
        call_run(&h->calls[h->n]);
        h->n++;
    }
    return NULL;
}

/* The median of n GET target round trips, in seconds. */
static double median_seconds(int port, const char *target, int n)
{
    double took[16];

    assert_true(n > 0 && n <= 16);
    for (int i = 0; i < n; i++) {
        struct call c;
        call_set(&c, port, target);
        call_run(&c);
        assert_int_equal(c.status, 200);
        took[i] = c.end - c.start;
    }
    for (int i = 1; i < n; i++) { /* insertion sort: n is small */
        double v = took[i];
        int j = i;
        for (; j > 0 && took[j - 1] > v; j--)
            took[j] = took[j - 1];
        took[j] = v;
    }
    return took[n / 2];
}

/* A change log of 300,000 rows (bulk writes within the last 15 minutes
 * keep that many) must not slow every request down: the change statement's
 * plan is generic, its estimate grows with the log, and past PostgreSQL's
 * jit_above_cost each run was compiled first. The service's sessions run
 * with jit off; a server whose DATABASE_URL turns it on again shows what
 * that costs. */
static void test_long_change_log_costs_no_compilation(void **state)
{
    static const char *const target = "/products/linen-summer-shirt/recommendations";
    struct row *row = row_begin("2 change log of 300,000 rows");
    char url[1200];
    const char *jit_env[] = {url, "RECS_HTTP_THREADS=2", NULL};
    struct server s, jit;
    double quiet, compiled;

    (void)state;
    if (!cache_on()) {
        rows[nrows - 1].result = "skip";
        row_note(row, "the cache off reads no change sets");
        skip();
    }
    assert_int_equal(db_exec(pg, "INSERT INTO recs_catalog_changes (product_id) "
                                 "SELECT -g FROM generate_series(1, 300000) AS g"),
                     0);
    assert_int_equal(db_exec(pg, "ANALYZE recs_catalog_changes"), 0);
    start_server(&s, small_env);
    wait_healed(s.port, target, 10);
    quiet = median_seconds(s.port, target, 9);
    snprintf(url, sizeof(url), "DATABASE_URL=%s options='-c jit=on'", db_url());
    start_server(&jit, jit_env);
    wait_healed(jit.port, target, 10);
    compiled = median_seconds(jit.port, target, 9);
    row_note(row, "median request %.1f ms (with jit on: %.1f ms)", quiet * 1e3, compiled * 1e3);
    if (quiet > 0.1)
        fail_msg("a request took %.0f ms (median) over a long change log", quiet * 1e3);
    stop_server(&jit);
    stop_server(&s);
    row_pass(row);
}

/* One pooled connection, stuck behind a lock, four HTTP workers: every
 * request is answered quickly (503 when no connection is free within the
 * acquire timeout, 504 when the statement times out), none hangs, and once
 * the lock is gone the connection is back in the pool. */
static void test_pool_exhaustion_never_hangs(void **state)
{
    static const char *const env[] = {"RECS_HTTP_THREADS=4", "RECS_DB_POOL_SIZE=1",
                                      "RECS_DB_ACQUIRE_TIMEOUT_MS=200",
                                      "RECS_STATEMENT_TIMEOUT_MS=300", NULL};
    struct row *row = row_begin("2 pool exhaustion (size 1)");
    struct server s;
    struct hammer *h = calloc(4, sizeof(*h));
    pthread_t threads[4];
    size_t total = 0, n503 = 0, n504 = 0, n200 = 0;
    double max_s = 0;

    (void)state;
    assert_non_null(h);
    start_server(&s, env);
    assert_concurrent_ok(s.port, 2);
    lock_catalog();
    for (int i = 0; i < 4; i++) {
        h[i].port = s.port;
        h[i].target = i >= 2 ? "/readyz" : "/products/cast-iron-skillet/recommendations";
        h[i].until = now_seconds() + 1.5;
        threads[i] = spawn(hammer_run, &h[i]);
    }
    for (int i = 0; i < 4; i++)
        join(threads[i]);
    for (int i = 0; i < 4; i++) {
        for (size_t j = 0; j < h[i].n; j++) {
            const struct call *c = &h[i].calls[j];
            double took = c->end - c->start;
            total++;
            max_s = took > max_s ? took : max_s;
            if (took >= 2.0)
                fail_msg("%s took %.3f s with the pool exhausted", c->target, took);
            if (i >= 2 && c->status == 200) {
                n200++;
                continue;
            }
            if (c->status == 503) {
                assert_error_reply(c, 503);
                n503++;
            } else {
                assert_error_reply(c, 504);
                n504++;
            }
        }
    }
    assert_true(n503 > 0); /* the acquire timeout was reached */
    unlock_catalog();

    assert_pool_whole(s.port, 1);
    assert_concurrent_ok(s.port, 2);
    for (int i = 0; i < 10; i++)
        assert_int_equal(get_status(s.port, "/products/cast-iron-skillet/recommendations"), 200);
    assert_int_equal((int)metric(s.port, CONNECTED), 1);
    row_note(row, "%zu answers in 1.5 s: %zu x 503, %zu x 504, %zu readyz 200; max %.0f ms", total,
             n503, n504, n200, max_s * 1e3);
    stop_server(&s);
    row_pass(row);
    free(h);
}

/* The database refuses more sessions (here the role's connection limit;
 * max_connections alike) while the service has some: it keeps serving
 * through the connections it has, every request 200. */
static void test_connection_limit_reached(void **state)
{
    char url[1200];
    const char *env[] = {url,
                         "RECS_HTTP_THREADS=4",
                         "RECS_DB_POOL_SIZE=4",
                         "RECS_DB_ACQUIRE_TIMEOUT_MS=1000",
                         "RECS_STATEMENT_TIMEOUT_MS=2000",
                         NULL};
    struct row *row = row_begin("2 connection limit reached");
    struct server s;
    struct call calls[9];
    char sql[128];
    PGresult *res;
    int sessions;
    double max_s = 0;

    (void)state;
    snprintf(url, sizeof(url), "DATABASE_URL=%s user=recs_reader", db_url());
    start_server(&s, env);
    assert_int_equal(get_status(s.port, "/products/wireless-earbuds/recommendations"), 200);
    res = PQexec(pg, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'recs_reader' "
                     "AND application_name = 'recs'");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    sessions = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    assert_true(sessions >= 1);
    snprintf(sql, sizeof(sql), "ALTER ROLE recs_reader CONNECTION LIMIT %d", sessions);
    assert_int_equal(db_exec(pg, sql), 0);

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 9; i++)
            call_set(&calls[i], s.port,
                     i == 8 ? "/readyz" : "/products/wireless-earbuds/recommendations");
        run_concurrent(calls, 9);
        for (int i = 0; i < 9; i++) {
            if (calls[i].status != 200)
                fail_msg("%s answered %d with the connection limit reached", calls[i].target,
                         calls[i].status);
            if (calls[i].end - calls[i].start > max_s)
                max_s = calls[i].end - calls[i].start;
        }
    }
    assert_pool_whole(s.port, 4);
    assert_int_equal(db_exec(pg, "ALTER ROLE recs_reader CONNECTION LIMIT -1"), 0);
    stop_server(&s);
    row_note(row, "limit %d session(s): 27 concurrent answers all 200, max %.0f ms; %s", sessions,
             max_s * 1e3,
             server_log_contains(&s, "too many connections") ? "connects were refused"
                                                             : "no connect was needed");
    row_pass(row);
}

/* A backend that stops answering (SIGSTOP: no statement_timeout can fire
 * in a stopped process) must not hang requests: they are answered soon
 * after the statement timeout, and the service carries on with new
 * connections while the old backends are still stopped. */
static void test_frozen_backend_does_not_hang_requests(void **state)
{
    static const char *const env[] = {"RECS_HTTP_THREADS=4",
                                      "RECS_DB_POOL_SIZE=2",
                                      "RECS_STATEMENT_TIMEOUT_MS=300",
                                      "RECS_DB_CONNECT_TIMEOUT=2",
                                      "RECS_DB_ACQUIRE_TIMEOUT_MS=1000",
                                      NULL};
    struct row *row = row_begin("2 frozen backend (SIGSTOP)");
    struct server s;
    struct call c;
    PGresult *res;
    double max_s = 0, deadline, recovered = -1, t0;

    (void)state;
    start_server(&s, env);
    assert_concurrent_ok(s.port, 4);
    res = PQexec(pg, "SELECT pid FROM pg_stat_activity WHERE application_name = 'recs'");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_true(PQntuples(res) >= 1);
    for (int i = 0; i < PQntuples(res) && nfrozen < 64; i++) {
        int pid = atoi(PQgetvalue(res, i, 0));
        if (pid > 0 && kill(pid, SIGSTOP) == 0)
            frozen[nfrozen++] = pid;
    }
    PQclear(res);
    assert_true(nfrozen >= 1);

    /* answered in bounded time, 503 or 504, never a hang */
    t0 = now_seconds();
    for (int i = 0; i < 4; i++) {
        call_set(&c, s.port, i == 3 ? "/readyz" : "/products/pour-over-kettle/recommendations");
        call_run(&c);
        if (c.end - c.start > max_s)
            max_s = c.end - c.start;
        if (c.end - c.start > 4.0)
            fail_msg("%s took %.3f s with a frozen backend", c.target, c.end - c.start);
        if (c.status == 200)
            break; /* already on a new connection */
        if (c.status != 503)
            assert_error_reply(&c, 504);
        else
            assert_error_reply(&c, 503);
    }
    /* new connections work while the old backends are still stopped */
    deadline = now_seconds() + 6;
    while (now_seconds() < deadline) {
        if (get_status(s.port, "/products/pour-over-kettle/recommendations") == 200) {
            recovered = now_seconds() - t0;
            break;
        }
        sleep_ms(50);
    }
    if (recovered < 0)
        fail_msg("no 200 within 6 s while old backends stay frozen");
    assert_concurrent_ok(s.port, 4);
    thaw();
    assert_concurrent_ok(s.port, 4);
    assert_pool_whole(s.port, 2);
    row_note(row, "answers within %.0f ms; 200 again %.0f ms after freezing", max_s * 1e3,
             recovered * 1e3);
    stop_server(&s);
    row_pass(row);
}

/* ---- 3. odd catalog rows -------------------------------------------------- */

static json_t *recommendations(int port, const char *slug, int limit)
{
    char target[300];
    struct http_response r;
    json_t *body;

    snprintf(target, sizeof(target), "/products/%s/recommendations?limit=%d", slug, limit);
    assert_int_equal(http_request(port, "GET", target, &r), 0);
    if (r.status != 200)
        fail_msg("%s answered %d", target, r.status);
    body = http_json(&r);
    http_response_free(&r);
    assert_non_null(body);
    return body;
}

static json_t *find_rec(json_t *body, const char *slug)
{
    json_t *rec;
    size_t i;

    json_array_foreach(json_object_get(body, "recommendations"), i, rec)
    {
        if (strcmp(json_string_value(json_object_get(rec, "slug")), slug) == 0)
            return rec;
    }
    return NULL;
}

static void insert_product(PGconn *conn, const char *slug, const char *title,
                           const char *description, const char *category)
{
    const char *params[4] = {slug, title, description, category};
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO products (slug, title, description, price_cents, "
                                 "category_id) VALUES ($1, $2, $3, 100, "
                                 "(SELECT id FROM categories WHERE slug = $4))",
                                 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("insert %s: %s", slug, PQerrorMessage(conn));
    PQclear(res);
}

/* Matches descend, and equal matches come by ascending id. */
static void assert_ranked(json_t *body)
{
    json_t *recs = json_object_get(body, "recommendations");

    for (size_t i = 1; i < json_array_size(recs); i++) {
        json_t *a = json_array_get(recs, i - 1), *b = json_array_get(recs, i);
        json_int_t ma = json_integer_value(json_object_get(a, "matches"));
        json_int_t mb = json_integer_value(json_object_get(b, "matches"));
        assert_true(ma >= mb);
        if (ma == mb)
            assert_true(json_integer_value(json_object_get(a, "id")) <
                        json_integer_value(json_object_get(b, "id")));
    }
}

static const char *const odd_env[] = {"RECS_HTTP_THREADS=2", "RECS_STATEMENT_TIMEOUT_MS=10000",
                                      NULL};

/* Empty description, NULL category, a text without tokens, two identical
 * 100 KB descriptions. */
static void test_odd_rows(void **state)
{
    struct row *row = row_begin("3 empty/NULL/tokenless/100 KB");
    struct server s;
    size_t big_len = 100 * 1024;
    char *big = malloc(big_len + 16);
    json_t *body, *rec;
    size_t i, n;

    (void)state;
    assert_non_null(big);
    for (n = 0; n < big_len;)
        n += (size_t)sprintf(big + n, "lorem%05zu ", n / 11);
    big[big_len] = '\0';
    insert_product(pg, "odd-empty-description", "Solitary Brass Lantern", "", "kitchen");
    insert_product(pg, "odd-null-category", "Brass Lantern Hook", "A brass hook for a lantern.",
                   NULL);
    insert_product(pg, "odd-no-tokens", "-- ? --", "a an the ... !", "kitchen");
    insert_product(pg, "odd-big-a", "Huge Text Twin", big, "kitchen");
    insert_product(pg, "odd-big-b", "Huge Text Twin", big, "kitchen");
    free(big);
    start_server(&s, odd_env);

    /* empty description: scored on its title; a NULL category is null */
    body = recommendations(s.port, "odd-empty-description", 3);
    rec = json_array_get(json_object_get(body, "recommendations"), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "slug")), "odd-null-category");
    assert_true(json_integer_value(json_object_get(rec, "matches")) > 0);
    assert_true(json_is_null(json_object_get(rec, "category")));
    json_decref(body);

    /* no tokens: every score 0, so every product in id order, and it is
     * still listed (score 0) for the others */
    body = recommendations(s.port, "odd-no-tokens", 100);
    n = json_array_size(json_object_get(body, "recommendations"));
    assert_int_equal(n, 13 + 5 - 1);
    json_array_foreach(json_object_get(body, "recommendations"), i, rec)
    {
        assert_int_equal(json_integer_value(json_object_get(rec, "matches")), 0);
        assert_float_equal(json_number_value(json_object_get(rec, "score")), 0.0, 0.0);
    }
    assert_ranked(body);
    json_decref(body);
    body = recommendations(s.port, "linen-summer-shirt", 100);
    rec = find_rec(body, "odd-no-tokens");
    assert_non_null(rec);
    assert_int_equal(json_integer_value(json_object_get(rec, "matches")), 0);
    assert_ranked(body);
    json_decref(body);

    /* 100 KB of identical text: each other's first, 1500 of 1500 */
    body = recommendations(s.port, "odd-big-a", 2);
    rec = json_array_get(json_object_get(body, "recommendations"), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "slug")), "odd-big-b");
    assert_int_equal(json_integer_value(json_object_get(rec, "matches")), 1500);
    assert_float_equal(json_number_value(json_object_get(rec, "score")), 1.0, 0.0);
    json_decref(body);
    body = recommendations(s.port, "odd-big-b", 2);
    rec = json_array_get(json_object_get(body, "recommendations"), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "slug")), "odd-big-a");
    assert_int_equal(json_integer_value(json_object_get(rec, "matches")), 1500);
    json_decref(body);
    row_note(row, "all 200; 100 KB twins: 1500 matches; tokenless: 17 x score 0 by id");
    stop_server(&s);
    row_pass(row);
}

/* 20,000 generated products: answered, ranked by matches then id. Their
 * texts are five tokens, three of which vary with g mod 7, 11 and 13, so
 * the products whose g is congruent mod 1001 have the same text. */
static void test_many_products(void **state)
{
    struct row *row = row_begin("3 20,000 products");
    struct server s;
    json_t *body, *recs;
    double t0, took_first, took_second;
    long twins = 0;

    (void)state;
    assert_int_equal(
        db_exec(pg, "INSERT INTO products (id, slug, title, description, price_cents) "
                    "SELECT 1000 + g, 'gen-' || g, 'Generated item', 'alpha' || (g % 7) || "
                    "' beta' || (g % 11) || ' gamma' || (g % 13), 100 "
                    "FROM generate_series(1, 20000) AS g"),
        0);
    start_server(&s, odd_env);
    t0 = now_seconds();
    body = recommendations(s.port, "gen-5", 100);
    took_first = now_seconds() - t0;
    recs = json_object_get(body, "recommendations");
    assert_int_equal(json_array_size(recs), 100);
    assert_ranked(body);
    /* the same text: g = 5 + 1001 j, all 1500, first, by ascending id */
    for (long g = 5 + 1001; g <= 20000; g += 1001, twins++) {
        json_t *rec = json_array_get(recs, (size_t)twins);
        assert_int_equal(json_integer_value(json_object_get(rec, "id")), 1000 + g);
        assert_int_equal(json_integer_value(json_object_get(rec, "matches")), 1500);
    }
    assert_true(
        json_integer_value(json_object_get(json_array_get(recs, (size_t)twins), "matches")) < 1500);
    json_decref(body);
    t0 = now_seconds();
    body = recommendations(s.port, "linen-summer-shirt", 5);
    took_second = now_seconds() - t0;
    assert_ranked(body);
    json_decref(body);
    row_note(row, "200 in %.0f ms (then %.0f ms); %ld twins at 1500 first, ties by id",
             took_first * 1e3, took_second * 1e3, twins);
    stop_server(&s);
    row_pass(row);
}

/* One product whose text is longer than the tokenizer takes (5 MB; the
 * limit is RECS_SCRATCH_TEXT_MAX, 4 MB) must not take the others down:
 * every other product is still answered, and so is that one. */
static void test_oversized_row_spares_the_others(void **state)
{
    struct row *row = row_begin("3 one 5 MB description");
    struct server s;
    struct http_response r;
    int status_other, status_huge;

    (void)state;
    assert_int_equal(db_exec(pg,
                             "INSERT INTO products (slug, title, description, price_cents) "
                             "VALUES ('odd-5mb', 'Five Megabytes', repeat('words ', 873813), 1)"),
                     0);
    start_server(&s, odd_env);
    assert_int_equal(
        http_request(s.port, "GET", "/products/linen-summer-shirt/recommendations", &r), 0);
    status_other = r.status;
    http_response_free(&r);
    assert_int_equal(http_request(s.port, "GET", "/products/odd-5mb/recommendations", &r), 0);
    status_huge = r.status;
    http_response_free(&r);
    row_note(row, "another product: %d, the 5 MB one: %d", status_other, status_huge);
    if (status_other != 200)
        fail_msg("one 5 MB description makes every request %d (catalog build fails)", status_other);
    assert_int_equal(status_huge, 200);
    assert_true(vectors_ranked_right(s.port));
    stop_server(&s);
    row_pass(row);
}

/* Bytes that are not UTF-8 (a SQL_ASCII database stores anything) come out
 * as valid JSON, each bad byte as U+FFFD. */
static void test_invalid_utf8_is_repaired(void **state)
{
    struct row *row = row_begin("3 invalid UTF-8 (SQL_ASCII db)");
    struct server s;
    PGconn *ascii;
    char url[1200];
    const char *env[] = {url, "RECS_HTTP_THREADS=2", NULL};
    struct http_response r;
    json_t *body, *rec;
    const char *title;

    (void)state;
    assert_int_equal(db_exec(pg, "DROP DATABASE IF EXISTS shop_ascii WITH (FORCE)"), 0);
    assert_int_equal(db_exec(pg, "CREATE DATABASE shop_ascii ENCODING 'SQL_ASCII' TEMPLATE "
                                 "template0 LC_COLLATE 'C' LC_CTYPE 'C'"),
                     0);
    ascii = db_connect_dbname("shop_ascii");
    assert_non_null(ascii);
    db_exec(ascii, "SET client_min_messages = warning");
    assert_int_equal(db_exec_file(ascii, "001_catalog.sql"), 0);
    assert_int_equal(db_exec_file(ascii, "002_catalog_changes.sql"), 0);
    assert_int_equal(db_exec(ascii, "INSERT INTO categories (slug, name) VALUES "
                                    "(E'bad\\xfe-cat', 'x'), ('mugs', 'Mugs')"),
                     0);
    insert_product(ascii, "bad-bytes", "Caf\xff\xfe Mug", "A mug \xff\xfe for caf\xe9 and tea",
                   "bad\xfe-cat");
    insert_product(ascii, "good-mug", "Tea Mug", "A mug for tea and coffee", "mugs");
    insert_product(ascii, "bad-truncated", "Mug \xe2\x82", "A mug cut \xc3", NULL);
    PQfinish(ascii);

    snprintf(url, sizeof(url), "DATABASE_URL=%s dbname=shop_ascii", db_url());
    start_server(&s, env);
    assert_int_equal(http_request(s.port, "GET", "/products/bad-bytes/recommendations", &r), 0);
    assert_int_equal(r.status, 200);
    body = http_json(&r); /* jansson refuses invalid UTF-8 */
    http_response_free(&r);
    assert_non_null(body);
    title = json_string_value(json_object_get(json_object_get(body, "product"), "title"));
    assert_non_null(title);
    assert_string_equal(title, "Caf\xef\xbf\xbd\xef\xbf\xbd Mug");
    json_decref(body);

    body = recommendations(s.port, "good-mug", 10);
    rec = find_rec(body, "bad-bytes");
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "category")), "bad\xef\xbf\xbd-cat");
    assert_non_null(find_rec(body, "bad-truncated"));
    json_decref(body);
    stop_server(&s);
    assert_int_equal(db_exec(pg, "DROP DATABASE shop_ascii WITH (FORCE)"), 0);
    row_note(row, "200, valid JSON, bad bytes as U+FFFD (title, category)");
    row_pass(row);
}

/* ---- 4. allocations failing on the request path ------------------------ */

static bool failmalloc_path(char *out, size_t len)
{
    const char *v = getenv("RECS_TEST_FAILMALLOC"), *bin = server_binary();
    char guess[PATH_MAX];

    if (v == NULL || v[0] == '\0') {
        const char *slash = strrchr(bin, '/');
        snprintf(guess, sizeof(guess), "%.*stests/failmalloc.so",
                 slash ? (int)(slash - bin + 1) : 0, bin);
        v = guess;
    }
    return realpath(v, out) != NULL && strlen(out) < len;
}

static long log_number_after(const struct server *s, const char *prefix)
{
    FILE *f = fopen(s->log_path, "r");
    char line[8192];
    long value = -1;

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *at = strstr(line, prefix);
        if (at != NULL)
            value = strtol(at + strlen(prefix), NULL, 10);
    }
    if (f != NULL)
        fclose(f);
    return value;
}

struct storm {
    int port;
    unsigned seed;
    size_t n;
    struct call calls[100];
};

static void *storm_run(void *arg)
{
    static const char *const targets[] = {
        "/products/linen-summer-shirt/recommendations",
        "/products/road-running-shoes/recommendations?limit=3",
        "/products/cafe-creme-mug/recommendations?limit=100",
        "/products/item-1/recommendations",
        "/products/no-such-product/recommendations",
        "/readyz",
        "/metrics",
        "/healthz",
    };
    struct storm *st = arg;

    for (st->n = 0; st->n < sizeof(st->calls) / sizeof(st->calls[0]); st->n++) {
        struct call *c = &st->calls[st->n];
        st->seed = st->seed * 1103515245u + 12345u;
        call_set(c, st->port, targets[(st->seed >> 16) % 8]);
        if ((st->seed >> 8) % 7 == 0)
            c->method = "HEAD";
        call_run(c);
    }
    return NULL;
}

/* Says how the server ended (exit status or signal) and shows its log. */
static void report_death(struct server *s)
{
    int wstatus;

    for (int i = 0; i < 100 && !s->exited; i++) {
        if (waitpid(s->pid, &wstatus, WNOHANG) != s->pid) {
            sleep_ms(5);
            continue;
        }
        s->exited = true;
        s->exit_status = -1;
        if (WIFSIGNALED(wstatus))
            printf("server died of signal %d (%s)\n", WTERMSIG(wstatus),
                   strsignal(WTERMSIG(wstatus)));
        else if (WIFEXITED(wstatus))
            printf("server exited with status %d\n", WEXITSTATUS(wstatus));
    }
    if (!s->exited)
        printf("server still running, yet refused a connection\n");
    server_print_log_tail(s);
}

/* Commits changes to the catalog while the storm runs, so that change sets
 * are read and applied while allocations fail; the last round puts every
 * row back as it was. */
struct catalog_writer {
    atomic_bool stop;
    int rounds;
};

static void *writer_run(void *arg)
{
    struct catalog_writer *w = arg;
    PGconn *conn = db_connect();

    while (conn != NULL && !atomic_load(&w->stop)) {
        /* a new text to sign, a price, then both back */
        db_exec(conn, "UPDATE products SET title = title || ' Deluxe', price_cents = price_cents "
                      "+ 1 WHERE id IN (2, 3)");
        sleep_ms(5);
        db_exec(conn, "UPDATE products SET title = left(title, length(title) - 7), price_cents = "
                      "price_cents - 1 WHERE id IN (2, 3)");
        w->rounds++;
        sleep_ms(5);
    }
    PQfinish(conn);
    return NULL;
}

/* Allocations on the HTTP worker threads fail at random while the catalog
 * changes: every answer is 200, 404, 500 or 503 (or the connection is
 * closed), nothing hangs, the process survives, and once allocations
 * succeed again it answers exactly as the catalog is, with its pool whole;
 * SIGTERM still exits 0. */
static void test_allocation_failures(void **state)
{
    struct row *row = row_begin("4 malloc failures (3%)");
    char lib[PATH_MAX], preload[PATH_MAX + 16], switch_env[700];
    const char *env[] = {preload,
                         switch_env,
                         "RECS_FAILMALLOC_PERCENT=3",
                         "RECS_FAILMALLOC_SPARE=libgomp",
                         "RECS_HTTP_THREADS=4",
                         "RECS_STATEMENT_TIMEOUT_MS=5000",
                         NULL};
    const char *bin = server_binary();
    struct server s;
    struct storm *storms = calloc(4, sizeof(*storms));
    struct catalog_writer writer = {.rounds = 0};
    pthread_t threads[4], writing;
    size_t counts[6] = {0}, total = 0; /* closed, 200, 404, 500, 503, HEAD 200 */
    double max_s = 0, recovered_s;
    long failed;
    int wstatus;
    FILE *f;

    (void)state;
    assert_non_null(storms);
    if (strstr(bin, "asan") != NULL || strstr(bin, "tsan") != NULL) {
        printf("[  SKIP    ] allocation failures: not under a sanitizer (its allocator is not "
               "interposable by a preloaded library)\n");
        rows[nrows - 1].result = "skip";
        row_note(row, "sanitizer build");
        free(storms);
        skip();
    }
    if (!failmalloc_path(lib, sizeof(lib)))
        fail_msg("no failmalloc.so beside %s (build it: make; or set RECS_TEST_FAILMALLOC)", bin);
    snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", lib);
    snprintf(failmalloc_switch, sizeof(failmalloc_switch), "%s/failmalloc-%d.on",
             getenv("RECS_TEST_PGDIR") ? getenv("RECS_TEST_PGDIR") : "/tmp", (int)getpid());
    snprintf(switch_env, sizeof(switch_env), "RECS_FAILMALLOC_SWITCH=%s", failmalloc_switch);
    unlink(failmalloc_switch);
    start_server(&s, env);
    assert_true(vectors_ranked_right(s.port)); /* no failures yet */

    f = fopen(failmalloc_switch, "w");
    assert_non_null(f);
    fclose(f);
    atomic_init(&writer.stop, false);
    writing = spawn(writer_run, &writer);
    for (int i = 0; i < 4; i++) {
        storms[i].port = s.port;
        storms[i].seed = (unsigned)i * 7919u + 1;
        threads[i] = spawn(storm_run, &storms[i]);
    }
    for (int i = 0; i < 4; i++)
        join(threads[i]);
    atomic_store(&writer.stop, true);
    join(writing);
    unlink(failmalloc_switch);
    assert_true(writer.rounds > 0);

    for (int i = 0; i < 4; i++) {
        for (size_t j = 0; j < storms[i].n; j++) {
            const struct call *c = &storms[i].calls[j];
            double took = c->end - c->start;
            total++;
            max_s = took > max_s ? took : max_s;
            if (took > 5.0)
                fail_msg("%s took %.3f s", c->target, took);
            switch (c->status) {
            case -1:
                report_death(&s);
                fail_msg("%s: could not connect (the process died?)", c->target);
                break;
            case 0:
                counts[0]++;
                break;
            case 200:
                counts[1]++;
                break;
            case 404:
                counts[2]++;
                break;
            case 500:
                counts[3]++;
                break;
            case 503:
                counts[4]++;
                break;
            default:
                fail_msg("%s %s answered %d under allocation failures",
                         c->method ? c->method : "GET", c->target, c->status);
            }
        }
    }
    assert_int_equal(waitpid(s.pid, &wstatus, WNOHANG), 0); /* alive */
    assert_true(counts[1] > 0);

    /* allocations succeed again. Sessions dropped because an answer could
     * not be read, and connects that failed, put the pool into its
     * reconnect back-off (at most 1 s); /readyz is 200 once it is over,
     * then the answers are the same as before and the pool is whole. */
    recovered_s = now_seconds();
    while (get_status(s.port, "/readyz") != 200) {
        if (now_seconds() - recovered_s > 3.0)
            fail_msg("/readyz not 200 within 3 s of allocations succeeding again");
        sleep_ms(50);
    }
    recovered_s = now_seconds() - recovered_s;
    assert_true(vectors_ranked_right(s.port));
    assert_concurrent_ok(s.port, 8);
    assert_pool_whole(s.port, 5);
    stop_server(&s);
    failed = log_number_after(&s, "failmalloc: failed ");
    if (failed <= 0)
        fail_msg("no allocation was made to fail (failmalloc reported %ld)", failed);
    row_note(row,
             "%zu requests, %d rounds of catalog changes, %ld mallocs failed: %zu x 200, %zu x "
             "404, %zu x 500, %zu x 503, %zu closed; max %.0f ms; ready again in %.0f ms",
             total, writer.rounds, failed, counts[1], counts[2], counts[3], counts[4], counts[0],
             max_s * 1e3, recovered_s * 1e3);
    row_pass(row);
    free(storms);
}

/* ---- 5. a memory limit ---------------------------------------------------- */

static bool sanitized(void)
{
    return strstr(server_binary(), "asan") != NULL || strstr(server_binary(), "tsan") != NULL;
}

/* A field of /proc/<pid>/status in kB (VmRSS, VmHWM), or -1. */
static long status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t len = strlen(field);
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            kb = strtol(line + len + 1, NULL, 10);
    }
    if (f != NULL)
        fclose(f);
    return kb;
}

/* Lines of the server's log holding needle. */
static size_t log_lines(const struct server *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "r");
    char line[8192];
    size_t n = 0;

    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    if (f != NULL)
        fclose(f);
    return n;
}

#define REFUSAL_EVENT "\"event\":\"catalog_memory\""
#define TOO_LARGE_ERROR "{\"error\":\"catalog too large for the memory limit\"}"

/* The call was refused for the memory limit: 503, Retry-After, its message. */
static void assert_too_large(const char *target, int port)
{
    struct http_response r;
    char value[64];

    assert_int_equal(http_request(port, "GET", target, &r), 0);
    if (r.status != 503 || r.body == NULL || strcmp(r.body, TOO_LARGE_ERROR) != 0)
        fail_msg("%s answered %d %s, expected 503 %s", target, r.status, r.body ? r.body : "",
                 TOO_LARGE_ERROR);
    assert_non_null(http_header(&r, "Retry-After", value, sizeof(value)));
    http_response_free(&r);
}

/* Waits up to timeout_s for a line holding needle in the server's log. */
static bool wait_for_log(const struct server *s, const char *needle, double timeout_s)
{
    double deadline = now_seconds() + timeout_s;

    while (!server_log_contains(s, needle)) {
        if (now_seconds() > deadline)
            return false;
        sleep_ms(20);
    }
    return true;
}

/* Waits up to timeout_s for /readyz to be 200. */
static void wait_ready(int port, double timeout_s)
{
    double deadline = now_seconds() + timeout_s;

    while (get_status(port, "/readyz") != 200) {
        if (now_seconds() > deadline)
            fail_msg("/readyz not 200 within %.0f s", timeout_s);
        sleep_ms(25);
    }
}

/* 10,000 products (about 800 bytes of text each) under
 * RECS_MEMORY_LIMIT=20M: the catalog is refused before anything is built
 * from it. The process lives on and never holds more than the limit (not
 * checked under a sanitizer, whose own memory is more than that); /healthz
 * 200, /readyz and every recommendation 503 "catalog too large for the
 * memory limit" with Retry-After, and one log line for all of them, with
 * the estimate, what is held and the limit. The rows that made it too large
 * deleted, it is served without a restart; inserted again, refused again,
 * with a second line. Started with RECS_MEMORY_LIMIT=2G: served. */
static void test_catalog_too_large_for_the_memory_limit(void **state)
{
    static const char *const small[] = {"RECS_HTTP_THREADS=4", "RECS_MEMORY_LIMIT=20M",
                                        "RECS_STATEMENT_TIMEOUT_MS=10000", NULL};
    static const char *const large[] = {"RECS_HTTP_THREADS=4", "RECS_MEMORY_LIMIT=2G",
                                        "RECS_STATEMENT_TIMEOUT_MS=10000", NULL};
    struct row *row = row_begin("5 10,000 products, 20M limit");
    struct row *row2 = row_begin("5 the same, 2G limit");
    struct call calls[8], c;
    struct server s;
    double max_s = 0;
    long hwm;
    int wstatus;

    (void)state;
    insert_generated(10000, 90);
    start_server(&s, small);
    if (cache_on() && !wait_for_log(&s, REFUSAL_EVENT, 30))
        fail_msg("the first load was not refused");
    for (int i = 0; i < 10; i++) {
        call_set(&c, s.port,
                 i % 2 ? "/products/gen-5/recommendations" : "/products/item-1/recommendations");
        call_run(&c);
        max_s = c.end - c.start > max_s ? c.end - c.start : max_s;
        assert_too_large(c.target, s.port);
    }
    for (int i = 0; i < 8; i++)
        call_set(&calls[i], s.port, "/products/gen-77/recommendations?limit=5");
    run_concurrent(calls, 8);
    for (int i = 0; i < 8; i++) {
        assert_error_reply(&calls[i], 503);
        max_s = calls[i].end - calls[i].start > max_s ? calls[i].end - calls[i].start : max_s;
    }
    assert_too_large("/readyz", s.port);
    assert_int_equal(get_status(s.port, "/healthz"), 200);
    assert_int_equal(waitpid(s.pid, &wstatus, WNOHANG), 0); /* alive */
    assert_int_equal(log_lines(&s, REFUSAL_EVENT), 1);
    assert_true(server_log_contains(&s, "memory limit is 20.0 MiB (20971520 bytes)"));
    /* a sanitizer's own memory may leave no room even for the rows */
    if (!sanitized())
        assert_true(
            server_log_contains(&s, "the catalog refused: 10013 products need an estimated"));
    hwm = status_kb(s.pid, "VmHWM");
    if (!sanitized() && hwm > 20 * 1024)
        fail_msg("the process held %ld kB, past its 20 MiB limit", hwm);

    if (!sanitized()) {
        assert_int_equal(db_exec(pg, "DELETE FROM products WHERE id > 1000"), 0);
        assert_int_equal(get_status(s.port, "/products/gen-5/recommendations"), 404);
        assert_int_equal(get_status(s.port, "/products/linen-summer-shirt/recommendations"), 200);
        assert_int_equal(get_status(s.port, "/readyz"), 200);
        insert_generated(10000, 90);
        assert_too_large("/products/linen-summer-shirt/recommendations", s.port);
        assert_too_large("/readyz", s.port);
        assert_int_equal(log_lines(&s, REFUSAL_EVENT), 2);
    }
    row_note(row, "all 503 within %.0f ms, /readyz 503, %zu log lines; peak RSS %ld kB%s",
             max_s * 1e3, log_lines(&s, REFUSAL_EVENT), hwm,
             sanitized() ? " (sanitizer; healing by deleting rows not tried)"
                         : "; 200 once the rows were deleted, 503 again when inserted");
    stop_server(&s);
    row_pass(row);

    start_server(&s, large);
    wait_ready(s.port, 60);
    assert_int_equal(get_status(s.port, "/products/gen-5/recommendations"), 200);
    assert_int_equal(get_status(s.port, "/products/linen-summer-shirt/recommendations"), 200);
    assert_int_equal(log_lines(&s, REFUSAL_EVENT), 0);
    row_note(row2, "/readyz 200, recommendations 200, peak RSS %ld kB", status_kb(s.pid, "VmHWM"));
    stop_server(&s);
    row_pass(row2);
}

/* A change set that would not fit beside the snapshot (20,000 products
 * inserted, under a limit 48 MiB above what the process holds with the
 * catalog before): the snapshot is stale from then on and dropped, and the
 * whole catalog read again does not fit either: 503 "catalog too large for
 * the memory limit", /readyz 503, one log line. With those rows deleted
 * again it is served without a restart (not under a sanitizer: its
 * allocator keeps what is freed, so the process does not shrink). */
static void test_change_set_too_large_for_the_memory_limit(void **state)
{
    static const char *const unlimited[] = {"RECS_HTTP_THREADS=4",
                                            "RECS_STATEMENT_TIMEOUT_MS=10000", NULL};
    struct row *row = row_begin("5 change set past the limit");
    char limit_env[64];
    const char *env[] = {"RECS_HTTP_THREADS=4", "RECS_STATEMENT_TIMEOUT_MS=10000", limit_env, NULL};
    struct server s;
    long held_kb;

    (void)state;
    if (!cache_on()) {
        rows[nrows - 1].result = "skip";
        row_note(row, "the cache off applies no change sets");
        skip();
    }
    insert_generated(2000, 90);
    start_server(&s, unlimited);
    wait_ready(s.port, 30);
    assert_int_equal(get_status(s.port, "/products/gen-5/recommendations"), 200);
    held_kb = status_kb(s.pid, "VmRSS");
    stop_server(&s);
    assert_true(held_kb > 0);
    snprintf(limit_env, sizeof(limit_env), "RECS_MEMORY_LIMIT=%ldK", held_kb + 48 * 1024);

    start_server(&s, env);
    wait_ready(s.port, 30);
    assert_int_equal(get_status(s.port, "/products/gen-5/recommendations"), 200);
    assert_int_equal(db_exec(pg, "UPDATE products SET price_cents = 5 WHERE id = 1005"), 0);
    assert_int_equal(get_status(s.port, "/products/gen-5/recommendations"), 200);
    assert_int_equal(
        db_exec(pg, "INSERT INTO products (id, slug, title, description, price_cents) "
                    "SELECT 100000 + g, 'big-' || g, 'Big item ' || g, 'delta' || (g % 7) || "
                    "repeat(' filler' || (g % 17), 90), 100 FROM generate_series(1, 20000) AS g"),
        0);
    assert_too_large("/products/gen-5/recommendations", s.port);
    assert_too_large("/readyz", s.port);
    assert_too_large("/products/big-7/recommendations", s.port);
    assert_int_equal(log_lines(&s, REFUSAL_EVENT), 1);
    assert_true(server_log_contains(&s, "a change set refused: 20000 products"));
    if (!sanitized()) {
        assert_int_equal(db_exec(pg, "DELETE FROM products WHERE id > 100000"), 0);
        assert_int_equal(get_status(s.port, "/products/gen-5/recommendations"), 200);
        assert_int_equal(get_status(s.port, "/readyz"), 200);
        assert_int_equal(get_status(s.port, "/products/big-7/recommendations"), 404);
    }
    row_note(row, "limit %ld kB: 503 and /readyz 503 after the insert, 1 line%s",
             held_kb + 48 * 1024,
             sanitized() ? " (sanitizer; healing not tried)" : "; deleted again: 200");
    stop_server(&s);
    row_pass(row);
}

static int setup_suite(void **state)
{
    (void)state;
    if (fixture_open(&vectors, &pg) != 0)
        return -1;
    return 0;
}

static int teardown_suite(void **state)
{
    int rc = cleanup(state);
    fixture_close(vectors, pg, NULL);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_database_killed_with_requests_in_flight, cleanup),
        cmocka_unit_test_teardown(test_postmaster_sigkilled_with_requests_in_flight, cleanup),
        cmocka_unit_test_teardown(test_busy_worker_does_not_cut_waiting_requests, cleanup),
        cmocka_unit_test_teardown(test_idle_connections_closed_by_the_server, cleanup),
        cmocka_unit_test_teardown(test_postmaster_sigkilled_during_first_load, cleanup),
        cmocka_unit_test_teardown(test_postmaster_sigkilled_during_a_change_set, cleanup),
        cmocka_unit_test_teardown(test_commit_lost_in_a_crash, cleanup),
        cmocka_unit_test_teardown(test_catalog_restored_after_a_crash, cleanup),
        cmocka_unit_test_teardown(test_catalog_tables_recreated_while_serving, cleanup),
        cmocka_unit_test_teardown(test_statement_timeout_gives_504, cleanup),
        cmocka_unit_test_teardown(test_long_change_log_costs_no_compilation, cleanup),
        cmocka_unit_test_teardown(test_pool_exhaustion_never_hangs, cleanup),
        cmocka_unit_test_teardown(test_connection_limit_reached, cleanup),
        cmocka_unit_test_teardown(test_frozen_backend_does_not_hang_requests, cleanup),
        cmocka_unit_test_teardown(test_odd_rows, cleanup),
        cmocka_unit_test_teardown(test_many_products, cleanup),
        cmocka_unit_test_teardown(test_oversized_row_spares_the_others, cleanup),
        cmocka_unit_test_teardown(test_invalid_utf8_is_repaired, cleanup),
        cmocka_unit_test_teardown(test_allocation_failures, cleanup),
        cmocka_unit_test_teardown(test_catalog_too_large_for_the_memory_limit, cleanup),
        cmocka_unit_test_teardown(test_change_set_too_large_for_the_memory_limit, cleanup),
    };
    select_tests_from_env();
    int failed = cmocka_run_group_tests_name("faults", tests, setup_suite, teardown_suite);

    print_summary();
    return failed;
}
