/*
 * config.h - the service's settings: defaults, then environment variables,
 * then command-line flags (each flag mirrors one variable), each checked
 * against its bounds. One table in config.c describes every setting; --help
 * is printed from it.
 */
#ifndef RECS_CONFIG_H
#define RECS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "minhash.h"

struct recs_config {
    char database_url[1024];        /* DATABASE_URL, --database-url */
    char listen_address[64];        /* RECS_LISTEN_ADDRESS: IPv4/IPv6 literal; "" = all */
    uint32_t port;                  /* PORT, --port */
    uint32_t http_threads;          /* RECS_HTTP_THREADS: MHD worker threads; 0 = 2 x cores */
    uint32_t score_threads;         /* RECS_SCORE_THREADS: max OpenMP team per request; 0 = cores */
    uint32_t k;                     /* RECS_K: hash functions per signature */
    recs_kernel kernel;             /* RECS_KERNEL: auto|scalar|avx2|avx512 */
    bool cache;                     /* RECS_CACHE: on|off, the in-memory signature snapshot */
    uint32_t db_pool_size;          /* RECS_DB_POOL_SIZE: connections; 0 = http_threads + 1 */
    uint32_t db_connect_timeout_s;  /* RECS_DB_CONNECT_TIMEOUT: seconds */
    uint32_t statement_timeout_ms;  /* RECS_STATEMENT_TIMEOUT_MS */
    uint32_t db_acquire_timeout_ms; /* RECS_DB_ACQUIRE_TIMEOUT_MS: wait for a free connection */
    uint32_t max_connections;       /* RECS_MAX_CONNECTIONS: open HTTP connections */
    uint32_t per_ip_connections;    /* RECS_PER_IP_CONNECTIONS: 0 = unlimited */
    uint32_t connection_timeout_s;  /* RECS_CONNECTION_TIMEOUT: idle seconds before close */
    uint32_t header_timeout_s;      /* RECS_HEADER_TIMEOUT: to send a request head */
    uint32_t send_timeout_s;        /* RECS_SEND_TIMEOUT: to read a response */
    uint32_t max_inflight;          /* RECS_MAX_INFLIGHT: concurrent recommendation requests */
    uint32_t answer_cache;          /* RECS_ANSWER_CACHE: rendered answers kept, 0 = none */
    uint32_t shutdown_timeout_s;    /* RECS_SHUTDOWN_TIMEOUT: drain limit on SIGTERM */
    bool access_log;                /* RECS_ACCESS_LOG: on|off */
    char cache_control[128];        /* RECS_CACHE_CONTROL: for recommendation responses */
    char cors_origins[1024];        /* RECS_CORS_ORIGINS: "" off, "*", or a comma list */
    char demo_dir[512];             /* RECS_DEMO_DIR: storefront demo files; "" = off */
    uint64_t memory_limit;          /* RECS_MEMORY_LIMIT: bytes; 0 = the cgroup's memory.max */
};

/* Status of recs_config_load. */
typedef enum {
    RECS_CONFIG_OK = 0,
    RECS_CONFIG_HELP,    /* --help was given: usage printed, exit 0 */
    RECS_CONFIG_INVALID, /* a bad value: a one-line message in errbuf, exit 2 */
} recs_config_status;

/* Fills cfg from the built-in defaults, then the environment (getenv_fn, so
 * tests can pass their own; NULL means getenv), then argv[1..argc-1].
 * On RECS_CONFIG_HELP the usage text is written to help_out. On
 * RECS_CONFIG_INVALID errbuf holds one line naming the setting and the bad
 * value, e.g. "invalid PORT '70000': expected an integer 1..65535". */
recs_config_status recs_config_load(struct recs_config *cfg, int argc, char **argv,
                                    const char *(*getenv_fn)(const char *name), FILE *help_out,
                                    char *errbuf, size_t errbuf_len);

/* Replaces the automatic values (0 threads = cores, pool 0 = threads + 1)
 * given the number of online cores. */
void recs_config_resolve(struct recs_config *cfg, uint32_t cores);

/* Copies url into out with any password replaced by "***" (both URI form
 * postgresql://user:secret@host/db and key-value form password=secret). */
void recs_config_redact_url(const char *url, char *out, size_t out_len);

/* Writes the effective configuration as one JSON line (password redacted). */
void recs_config_log(const struct recs_config *cfg, FILE *out);

#endif
