/*
 * main.c - recs: the recommendation-scoring service. Reads the
 * configuration, starts the database pool, the scorer and the HTTP server,
 * then waits for SIGTERM or SIGINT and shuts down in order: readiness goes
 * to 503, no new connections are accepted, requests in flight finish (up to
 * the shutdown timeout), then everything is closed and the process exits 0.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "memory.h"
#include "metrics.h"
#include "minhash.h"
#include "service.h"

#ifndef RECS_VERSION
#define RECS_VERSION "unknown"
#endif

/* recs speaks plain HTTP: TLS ends at the proxy or ingress in front of it.
 * Yet libmicrohttpd's library constructor calls gnutls_global_init before
 * main, and gnutls initialises itself when it loads: about 0.8 MB of memory
 * for code recs never runs (BENCHMARKS.md, "Idle memory"). This definition
 * is the one libmicrohttpd's call binds to (the executable comes first in
 * symbol lookup), and GNUTLS_NO_IMPLICIT_INIT, set by prepare_environment,
 * stops gnutls's own start-up initialisation. Nothing else in the process
 * uses gnutls (libpq's TLS is OpenSSL); serving HTTPS from libmicrohttpd
 * would need this removed. */
int gnutls_global_init(void);
int gnutls_global_init(void)
{
    return 0;
}

/* Settings that libraries read only when they load, so a process started
 * without them starts itself again with them set (values the caller set are
 * kept):
 *   OMP_WAIT_POLICY=passive: idle OpenMP threads would otherwise spin after
 *     each parallel region, stealing the cores the HTTP threads and
 *     PostgreSQL need;
 *   GNUTLS_NO_IMPLICIT_INIT=1: see gnutls_global_init above. */
static void prepare_environment(char **argv)
{
    static const char *const settings[][2] = {{"OMP_WAIT_POLICY", "passive"},
                                              {"GNUTLS_NO_IMPLICIT_INIT", "1"}};
    bool changed = false;

    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        if (getenv(settings[i][0]) == NULL && setenv(settings[i][0], settings[i][1], 0) == 0)
            changed = true;
    }
    if (changed)
        execv("/proc/self/exe", argv);
    /* unchanged, or could not re-execute: carry on with what we have */
}

/* RECS_MEMORY_LIMIT, or else the cgroup's memory.max; 0 for none. */
static uint64_t memory_limit(const struct recs_config *cfg)
{
    uint64_t limit = cfg->memory_limit;
    const char *source = "RECS_MEMORY_LIMIT";

    if (limit == 0) {
        limit = recs_memory_cgroup_limit("/proc/self/mountinfo", "/proc/self/cgroup");
        source = "the cgroup's memory.max";
    }
    if (limit != 0)
        recs_log_info("start",
                      "memory limit %" PRIu64 " bytes (%.1f MiB, from %s): a catalog "
                      "that would not fit is refused",
                      limit, (double)limit / (1024.0 * 1024.0), source);
    return limit;
}

static void *warm_catalog(void *svc)
{
    if (recs_service_warm(svc) != 0)
        recs_log_info("warm", "catalog not loaded at start; the first request will load it");
    return NULL;
}

static double monotonic_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Waits for SIGTERM or SIGINT (blocked in every thread). */
static int wait_for_stop_signal(void)
{
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    while (sigwait(&set, &sig) != 0)
        ;
    return sig;
}

static void drain(struct recs_http *http, unsigned timeout_s)
{
    double deadline = monotonic_seconds() + timeout_s;

    while (recs_http_inflight(http) > 0 && monotonic_seconds() < deadline) {
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 10L * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (recs_http_inflight(http) > 0)
        recs_log_error("stop", "%u requests still in flight after %u s; closing them",
                       recs_http_inflight(http), timeout_s);
}

int main(int argc, char **argv)
{
    struct recs_config cfg;
    struct recs_minhash *mh = NULL;
    struct recs_db *db = NULL;
    struct recs_service *svc = NULL;
    struct recs_http *http = NULL;
    char error[512];
    sigset_t stop_signals;
    pthread_t warmer;
    bool warming = false;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int status = 1, sig;

    switch (recs_config_load(&cfg, argc, argv, NULL, stdout, error, sizeof(error))) {
    case RECS_CONFIG_HELP:
        return 0;
    case RECS_CONFIG_INVALID:
        fprintf(stderr, "recs: %s\n", error);
        return 2;
    case RECS_CONFIG_OK:
        break;
    }
    prepare_environment(argv);
    prctl(PR_SET_NAME, "recs"); /* after a re-exec the kernel would call us "exe" */
    recs_config_resolve(&cfg, cores > 0 ? (uint32_t)cores : 1);

    /* Block the stop signals before any thread starts, so that every thread
     * inherits the mask and only sigwait in main sees them. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (recs_minhash_create(cfg.k, cfg.kernel, &mh) != 0) {
        fprintf(stderr, "recs: invalid RECS_KERNEL '%s': not supported by this CPU\n",
                recs_kernel_name(cfg.kernel));
        return 2;
    }
    recs_metrics_init(RECS_VERSION, recs_kernel_name(recs_minhash_kernel(mh)));
    recs_config_log(&cfg, stderr);

    struct recs_db_options db_opts = {
        .conninfo = cfg.database_url,
        .pool_size = cfg.db_pool_size,
        .connect_timeout_s = cfg.db_connect_timeout_s,
        .statement_timeout_ms = cfg.statement_timeout_ms,
        .acquire_timeout_ms = cfg.db_acquire_timeout_ms,
    };
    if (recs_db_create(&db_opts, &db) != 0) {
        recs_log_error("start", "cannot create the database pool");
        goto out;
    }
    struct recs_service_options svc_opts = {
        .db = db,
        .mh = mh,
        .cache = cfg.cache,
        .score_threads = cfg.score_threads,
        .max_inflight = cfg.max_inflight,
        .answer_cache = cfg.answer_cache,
        .memory_limit = memory_limit(&cfg),
    };
    if (recs_service_create(&svc_opts, &svc) != 0) {
        recs_log_error("start", "cannot create the service");
        goto out;
    }
    struct recs_http_options http_opts = {
        .listen_address = cfg.listen_address,
        .port = (uint16_t)cfg.port,
        .threads = cfg.http_threads,
        .max_connections = cfg.max_connections,
        .per_ip_connections = cfg.per_ip_connections,
        .connection_timeout_s = cfg.connection_timeout_s,
        .header_timeout_s = cfg.header_timeout_s,
        .send_timeout_s = cfg.send_timeout_s,
        /* the pool, the event loops of the HTTP threads, logs and libraries */
        .reserved_fds = cfg.db_pool_size + 2 * cfg.http_threads + 64,
        .access_log = cfg.access_log,
        .cache_control = cfg.cache_control,
        .cors_origins = cfg.cors_origins,
        .demo_dir = cfg.demo_dir,
        .service = svc,
    };
    if (recs_http_start(&http_opts, &http) != 0)
        goto out;
    recs_log_info("start", "recs %s listening on port %u (kernel %s, K=%u, %u HTTP threads)",
                  RECS_VERSION, (unsigned)recs_http_port(http),
                  recs_kernel_name(recs_minhash_kernel(mh)), cfg.k, cfg.http_threads);
    warming = pthread_create(&warmer, NULL, warm_catalog, svc) == 0;

    sig = wait_for_stop_signal();
    recs_log_info("stop", "received %s: draining requests in flight", strsignal(sig));
    recs_service_stopping(svc);
    recs_http_quiesce(http);
    drain(http, cfg.shutdown_timeout_s);
    status = 0;
out:
    recs_http_stop(http);
    if (warming)
        pthread_join(warmer, NULL);
    recs_service_destroy(svc);
    recs_db_destroy(db);
    recs_minhash_destroy(mh);
    if (status == 0)
        recs_log_info("stop", "stopped");
    return status;
}
