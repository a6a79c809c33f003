/*
 * http.h - the HTTP front end on libmicrohttpd: a pool of epoll worker
 * threads, connection limits and timeouts, routing (route.h) to the service
 * (service.h), one access-log line and one metrics observation per request,
 * and a graceful stop.
 */
#ifndef RECS_HTTP_H
#define RECS_HTTP_H

#include <stdint.h>

#include "service.h"

struct recs_http_options {
    const char *listen_address; /* "" = every IPv4 address */
    uint16_t port;              /* 0 = any free port */
    unsigned threads;
    unsigned max_connections;
    unsigned per_ip_connections;   /* 0 = unlimited */
    unsigned connection_timeout_s; /* idle, between requests */
    unsigned header_timeout_s;     /* to send a whole request head */
    unsigned send_timeout_s;       /* for the client to take a response */
    unsigned reserved_fds;         /* descriptors used besides HTTP connections */
    bool access_log;
    const char *cache_control;    /* for recommendation responses */
    const char *cors_origins;     /* "" = no CORS */
    const char *demo_dir;         /* "" = no /demo/ */
    struct recs_service *service; /* borrowed */
};

struct recs_http;

/* Starts listening and serving (after loading the demo files, if any).
 * Returns 0, or -1 (the reason is logged). */
int recs_http_start(const struct recs_http_options *opts, struct recs_http **out);
/* The port actually bound (useful with port 0). */
uint16_t recs_http_port(const struct recs_http *http);
/* Stops accepting new connections; requests in flight go on. */
void recs_http_quiesce(struct recs_http *http);
/* Requests received and not yet completed. */
unsigned recs_http_inflight(const struct recs_http *http);
/* Closes every connection, stops the threads and frees everything. */
void recs_http_stop(struct recs_http *http);

#endif
