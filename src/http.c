/*
 * http.c - libmicrohttpd glue.
 *
 * Each worker thread runs its own epoll loop and serves a request to the end
 * before the next one: the request path is short (one small query and
 * microseconds of scoring on a warm snapshot), and the OpenMP team a request
 * uses is sized by the number of requests in flight (service.c), so workers
 * and OpenMP threads together stay within the cores.
 *
 * libmicrohttpd's connection timeout only closes connections that send
 * nothing: a client trickling one header byte a second would hold its
 * connection forever, and a client reading its response a few bytes at a
 * time likewise. A watchdog thread therefore closes any connection whose
 * request head has not arrived completely within RECS_HEADER_TIMEOUT (from
 * the connection's start, or on a kept-alive connection from the first byte
 * of the next request), or whose response has not been taken by the client
 * within RECS_SEND_TIMEOUT, unless what it waits for is its own worker
 * (busy with another request); a request that announces a body is answered
 * at once, before its body is read. Connections are cheap (a descriptor and a
 * 64 KiB pool each), so the cap is high and the descriptor limit is raised
 * to fit it: what holds a slot without progress is cut, not what is merely
 * many.
 *
 * libmicrohttpd 0.9.75 hands the method, target and header fields over as C
 * strings, cut at the first NUL byte, and never checks for control bytes:
 * "GET /healthz\0 HTTP/1.1" would be served as /healthz, while a proxy in
 * front routes on the whole target. What it shows cannot tell such a request from
 * a valid one (its header size counts the hidden bytes, but a bare LF or a
 * missing space after a colon counts one byte less, and those are valid),
 * so recs looks at the bytes themselves: this file defines recv(), which
 * libmicrohttpd's calls bind to (the executable comes first in symbol
 * lookup), and every byte received on an HTTP connection passes through
 * the scanner of wire.c before libmicrohttpd parses it (libpq's reads come
 * through it too and pass straight on). A request whose head holds a
 * forbidden byte is answered 400 and the connection closed.
 */
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "render.h"
#include "route.h"
#include "trace.h"
#include "wire.h"

#define MEMORY_PER_CONNECTION (64u * 1024u)
#define DEMO_FILE_MAX (1u << 20)
/* Descriptors whose bytes the recv() below can check: the descriptor limit
 * is kept at or below it, so that every connection is checked. */
#define FD_TABLE_SIZE (1u << 17)

/* The storefront demo, read once at start and served from memory. */
struct demo_file {
    const char *name, *content_type;
    char *data;
    size_t len;
};

/* What a connection is waiting for, and so which deadline applies. */
enum conn_phase {
    PHASE_IDLE,      /* kept alive between requests: libmicrohttpd's idle timeout */
    PHASE_RECEIVING, /* a request head: RECS_HEADER_TIMEOUT */
    PHASE_HANDLING,  /* the handler: bounded by the database timeouts */
    PHASE_SENDING,   /* the client to take the response: RECS_SEND_TIMEOUT */
};

struct watchdog;

/* One open connection. Lives from MHD's "connection started" notification
 * to its "connection closed" one, which comes before MHD closes the socket:
 * under the watchdog's lock, fd is always open. Both notifications, the
 * reads and the handler of a connection run on the worker thread that
 * accepted it, so wire and requests need no lock; phase and since are
 * written under the watchdog's lock. */
struct conn_entry {
    struct conn_entry *prev, *next;
    struct watchdog *watchdog;
    MHD_socket fd;
    enum conn_phase phase;
    double since;  /* when phase began */
    bool cut;      /* already shut down by the watchdog */
    bool over_cap; /* opened while RECS_MAX_CONNECTIONS were already open */
    struct recs_wire wire;
    unsigned requests; /* requests whose head libmicrohttpd has passed on */
};

struct watchdog {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct conn_entry *head;
    unsigned open; /* connections in the list */
    double header_timeout, send_timeout;
    bool stop, running;
    pthread_t thread;
};

/* The connection on each descriptor, for recv(): set and cleared by the
 * worker owning the connection, read by any thread that receives (libpq's
 * descriptors are never in it). */
static _Atomic(struct conn_entry *) conn_by_fd[FD_TABLE_SIZE];

struct recs_http {
    struct recs_http_options opts;
    struct watchdog watchdog;
    struct MHD_Daemon *daemon;
    MHD_socket listen_fd; /* after quiesce, ours to close once the daemon stops */
    atomic_uint inflight;
    struct demo_file demo[3];
};

/* Per-request state, from the first call of the access handler to the
 * completion callback. */
struct request {
    double start;
    recs_route route;
    unsigned status;
    size_t bytes;
    char method[16];
    char path[512];
    char request_id[RECS_REQUEST_ID_MAX + 1];
    struct recs_trace trace;
};

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A per-thread generator seeded by the kernel: ids unique enough to find a
 * request in the logs or a trace, with no lock and no syscall. */
static uint64_t next_random(void)
{
    static _Thread_local uint64_t state;

    if (state == 0 && getrandom(&state, sizeof(state), GRND_NONBLOCK) != sizeof(state))
        state = (uint64_t)(uintptr_t)&state ^ (uint64_t)time(NULL);
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545f4914f6cdd1dull;
}

/* 16 hex digits. */
static void new_request_id(char *out, size_t len)
{
    snprintf(out, len, "%016llx", (unsigned long long)next_random());
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* ---- trace context ---- */

struct traceparent_fields {
    const char *value;
    unsigned count;
};

static enum MHD_Result find_traceparent(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    struct traceparent_fields *found = cls;

    (void)kind;
    if (key != NULL && strcasecmp(key, "traceparent") == 0) {
        found->value = value;
        found->count++;
    }
    return MHD_YES;
}

/* This service's span of the request: the caller's trace when it sent one
 * valid traceparent field, else a new trace. Two fields are as invalid as a
 * malformed one (which of them would be the parent?): both are ignored. */
static void begin_trace(struct MHD_Connection *c, struct recs_trace *trace)
{
    struct traceparent_fields found = {NULL, 0};
    const uint64_t random[RECS_TRACE_RANDOM_WORDS] = {next_random(), next_random(), next_random()};

    MHD_get_connection_values(c, MHD_HEADER_KIND, find_traceparent, &found);
    recs_trace_begin(trace, found.count == 1 ? found.value : NULL, random);
}

/* ---- request deadline ---- */

static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct recs_http *http = cls;
    struct watchdog *w = &http->watchdog;
    struct conn_entry *e = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (info == NULL || info->connect_fd < 0 || (unsigned)info->connect_fd >= FD_TABLE_SIZE ||
            (e = calloc(1, sizeof(*e))) == NULL)
            return; /* unchecked: handle_request closes it */
        e->fd = info->connect_fd;
        e->watchdog = w;
        e->phase = PHASE_RECEIVING;
        e->since = now_seconds();
        recs_wire_init(&e->wire);
        atomic_store_explicit(&conn_by_fd[e->fd], e, memory_order_release);
        pthread_mutex_lock(&w->lock);
        e->next = w->head;
        if (w->head != NULL)
            w->head->prev = e;
        w->head = e;
        e->over_cap = ++w->open > http->opts.max_connections;
        recs_metrics_set_http_connections(w->open);
        pthread_mutex_unlock(&w->lock);
        *socket_context = e;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && e != NULL) {
        atomic_store_explicit(&conn_by_fd[e->fd], NULL, memory_order_release);
        pthread_mutex_lock(&w->lock);
        if (e->prev != NULL)
            e->prev->next = e->next;
        else
            w->head = e->next;
        if (e->next != NULL)
            e->next->prev = e->prev;
        w->open--;
        recs_metrics_set_http_connections(w->open);
        pthread_mutex_unlock(&w->lock);
        free(e);
        *socket_context = NULL;
    }
}

static struct conn_entry *connection_entry(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return info != NULL ? info->socket_context : NULL;
}

/* Whether the connection was opened beyond RECS_MAX_CONNECTIONS: such a
 * connection gets one 503 with Retry-After and is closed, so that excess
 * clients learn at once to come back later instead of queueing. */
static bool over_cap(struct MHD_Connection *c)
{
    const struct conn_entry *e = connection_entry(c);

    return e != NULL && e->over_cap; /* set once at open, before any request */
}

/* Called by the connection's worker only. */
static void set_phase(struct conn_entry *e, enum conn_phase phase)
{
    pthread_mutex_lock(&e->watchdog->lock);
    e->phase = phase;
    e->since = now_seconds();
    pthread_mutex_unlock(&e->watchdog->lock);
}

static void mark_phase(struct MHD_Connection *c, enum conn_phase phase)
{
    struct conn_entry *e = connection_entry(c);

    if (e != NULL)
        set_phase(e, phase);
}

/* libmicrohttpd's only way in for bytes from a client (see the top of this
 * file): POSIX defines recv() as recvfrom() without an address, and that is
 * what runs; bytes received on an HTTP connection are then scanned, and the
 * first byte of a request on a kept-alive connection starts its header
 * deadline. */
ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t n = recvfrom(fd, buf, len, flags, NULL, NULL);
    struct conn_entry *e;

    if (n <= 0 || fd < 0 || (unsigned)fd >= FD_TABLE_SIZE || (flags & MSG_PEEK) != 0)
        return n;
    e = atomic_load_explicit(&conn_by_fd[fd], memory_order_acquire);
    if (e == NULL)
        return n;
    recs_wire_scan(&e->wire, buf, (size_t)n);
    if (e->phase == PHASE_IDLE)
        set_phase(e, PHASE_RECEIVING);
    return n;
}

/* Whether an overdue connection is waiting for its worker rather than for
 * its client: bytes of the request head that have arrived but are not read
 * yet, or room in the socket for the rest of the response. A worker busy
 * with another connection's request (a slow database) is no reason to cut
 * this one; a slow client leaves nothing unread and the send buffer full. */
static bool waiting_for_us(const struct conn_entry *e)
{
    int unread = 0;
    struct pollfd out = {.fd = e->fd, .events = POLLOUT};

    if (e->phase == PHASE_RECEIVING)
        return ioctl(e->fd, FIONREAD, &unread) == 0 && unread > 0;
    return poll(&out, 1, 0) == 1 && (out.revents & POLLOUT) != 0;
}

/* Every quarter second: shuts down the sockets whose request head or
 * response is overdue. The connection's worker then sees the end of the
 * stream and closes it as it would any connection the client closed. */
static void *watchdog_main(void *arg)
{
    struct recs_http *http = arg;
    struct watchdog *w = &http->watchdog;

    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec until;
        double now = now_seconds();

        for (struct conn_entry *e = w->head; e != NULL; e = e->next) {
            double limit = e->phase == PHASE_RECEIVING ? w->header_timeout
                           : e->phase == PHASE_SENDING ? w->send_timeout
                                                       : 0;
            if (limit > 0 && !e->cut && now - e->since > limit && !waiting_for_us(e)) {
                shutdown(e->fd, SHUT_RDWR);
                e->cut = true;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 250000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static int watchdog_init(struct watchdog *w)
{
    pthread_condattr_t attr;

    if (pthread_mutex_init(&w->lock, NULL) != 0)
        return -1;
    if (pthread_condattr_init(&attr) != 0) {
        pthread_mutex_destroy(&w->lock);
        return -1;
    }
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (pthread_cond_init(&w->wake, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        pthread_mutex_destroy(&w->lock);
        return -1;
    }
    pthread_condattr_destroy(&attr);
    return 0;
}

static void watchdog_stop(struct watchdog *w)
{
    if (!w->running)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->running = false;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    char message[512];

    (void)cls;
    vsnprintf(message, sizeof(message), fmt, ap);
    message[strcspn(message, "\n")] = '\0';
    recs_log_error("http", "%s", message);
}

static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return recs_route_unescape(s);
}

/* Hands every query argument, with its decoded length, to the router: it
 * alone knows which ones matter, and the length shows a decoded NUL. */
static enum MHD_Result gather_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    recs_route_add_arg(cls, key, key_size, value, value_size);
    return MHD_YES;
}

static recs_route_status route_connection(struct MHD_Connection *c, const char *url,
                                          const char *method, struct recs_request_target *target)
{
    struct recs_query_args args = {0};

    MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, gather_arg, &args);
    return recs_route_request(method, url, &args, target);
}

/* Adds the CORS headers when the request's Origin is allowed. */
static void add_cors(struct recs_http *http, struct MHD_Connection *c, struct MHD_Response *resp)
{
    const char *origin = header(c, "Origin");

    if (!recs_route_origin_allowed(http->opts.cors_origins, origin))
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(resp, "Vary", "Origin");
    MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                            "ETag, X-Request-Id, Retry-After, traceparent");
}

/* Queues reply and frees its body (MHD owns it from here). */
static enum MHD_Result send_reply(struct recs_http *http, struct MHD_Connection *c,
                                  struct request *req, struct recs_reply *reply, bool allow_header,
                                  bool close_after)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(reply->len, reply->body, MHD_RESPMEM_MUST_FREE);
    bool cacheable = (req->route == RECS_ROUTE_RECOMMENDATIONS || req->route == RECS_ROUTE_CART) &&
                     (reply->status == 200 || reply->status == 304);
    enum MHD_Result ret;

    if (resp == NULL) {
        free(reply->body);
        return MHD_NO;
    }
    if (reply->body != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            cacheable ? http->opts.cache_control : "no-store");
    if (reply->etag[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, reply->etag);
    if (reply->retry_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (allow_header)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    MHD_add_response_header(resp, "traceparent", req->trace.traceparent);
    add_cors(http, c, resp);
    if (close_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    req->status = reply->status;
    req->bytes = reply->len;
    mark_phase(c, PHASE_SENDING);
    ret = MHD_queue_response(c, reply->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A CORS preflight (OPTIONS with an allowed Origin) on a known path: 204. */
static enum MHD_Result send_preflight(struct recs_http *http, struct MHD_Connection *c,
                                      struct request *req)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (resp == NULL)
        return MHD_NO;
    add_cors(http, c, resp);
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, HEAD");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            "If-None-Match, X-Request-Id, traceparent, tracestate");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    MHD_add_response_header(resp, "traceparent", req->trace.traceparent);
    req->status = 204;
    mark_phase(c, PHASE_SENDING);
    ret = MHD_queue_response(c, 204, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A demo file from memory (the copy is MHD's to free). */
static int demo_reply(struct recs_http *http, const char *name, struct recs_reply *reply)
{
    for (size_t i = 0; i < sizeof(http->demo) / sizeof(http->demo[0]); i++) {
        const struct demo_file *f = &http->demo[i];
        if (f->data == NULL || strcmp(f->name, name) != 0)
            continue;
        memset(reply, 0, sizeof(*reply));
        reply->status = 200;
        reply->content_type = f->content_type;
        reply->body = malloc(f->len ? f->len : 1);
        if (reply->body == NULL)
            return -1;
        memcpy(reply->body, f->data, f->len);
        reply->len = f->len;
        return 0;
    }
    return recs_service_error(404, "not found", reply);
}

/* Whether the request announces a body (MHD has already refused a malformed
 * or oversized Content-Length). */
static bool has_body(struct MHD_Connection *c)
{
    const char *length = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);

    if (header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
        return true;
    if (length == NULL)
        return false;
    while (*length == '0')
        length++;
    return *length != '\0';
}

static int route_error_reply(recs_route_status status, struct recs_reply *reply)
{
    unsigned code = status == RECS_ROUTE_NOT_FOUND    ? 404
                    : status == RECS_ROUTE_BAD_METHOD ? 405
                                                      : 400;
    return recs_service_error(code, recs_route_error_message(status), reply);
}

/* docs/openapi.yaml, as compiled in (the copy is MHD's to free). */
static int openapi_reply(struct recs_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    reply->status = 200;
    reply->content_type = "application/yaml";
    reply->body = malloc(recs_openapi_yaml_len);
    if (reply->body == NULL)
        return -1;
    memcpy(reply->body, recs_openapi_yaml, recs_openapi_yaml_len);
    reply->len = recs_openapi_yaml_len;
    return 0;
}

static int dispatch(struct recs_http *http, struct MHD_Connection *c,
                    const struct recs_request_target *target, struct recs_reply *reply)
{
    switch (target->route) {
    case RECS_ROUTE_RECOMMENDATIONS:
    case RECS_ROUTE_CART:
        return recs_service_recommend(http->opts.service, &target->query,
                                      header(c, "If-None-Match"), reply);
    case RECS_ROUTE_OPENAPI:
        return openapi_reply(reply);
    case RECS_ROUTE_DEMO:
        return demo_reply(http, target->file, reply);
    case RECS_ROUTE_HEALTHZ:
        memset(reply, 0, sizeof(*reply));
        reply->status = 200;
        reply->content_type = "application/json";
        reply->body = recs_render_status("ok", &reply->len);
        return reply->body != NULL ? 0 : -1;
    case RECS_ROUTE_READYZ:
        return recs_service_ready(http->opts.service, reply);
    case RECS_ROUTE_METRICS:
        return recs_service_metrics(http->opts.service, reply);
    default:
        return recs_service_error(404, "not found", reply);
    }
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    struct recs_http *http = cls;
    struct request *req = *con_cls;
    struct conn_entry *conn;
    bool refused;
    struct recs_request_target target;
    struct recs_reply reply;
    recs_route_status status;
    int rc;

    (void)version;
    (void)upload_data;
    if (req == NULL) {
        /* A connection whose bytes were not checked is not served. */
        if ((conn = connection_entry(c)) == NULL || (req = calloc(1, sizeof(*req))) == NULL)
            return MHD_NO;
        conn->requests++;
        /* also when the scanner has not seen this request's head: bytes
         * that reached libmicrohttpd some other way went unchecked */
        refused =
            conn->wire.heads < conn->requests || recs_wire_rejects(&conn->wire, conn->requests);
        set_phase(conn, PHASE_HANDLING);
        req->start = now_seconds();
        req->route = RECS_ROUTE_OTHER;
        snprintf(req->method, sizeof(req->method), "%s", method);
        snprintf(req->path, sizeof(req->path), "%s", url);
        {
            /* a refused request's id may be cut short: not echoed */
            const char *id = refused ? NULL : header(c, "X-Request-Id");
            if (id != NULL && recs_route_request_id_valid(id))
                snprintf(req->request_id, sizeof(req->request_id), "%s", id);
            else
                new_request_id(req->request_id, sizeof(req->request_id));
        }
        begin_trace(c, &req->trace);
        atomic_fetch_add(&http->inflight, 1);
        *con_cls = req;
        if (refused) {
            status = RECS_ROUTE_OK;
            rc = recs_service_error(400, "forbidden byte in the request line or a header", &reply);
        } else if (!has_body(c)) {
            return MHD_YES;
        } else {
            /* No endpoint takes a body: answer now, before reading it, and
             * close the connection (what follows the headers is not a next
             * request). The answer is what the request line deserves (404,
             * 405...), or 413. */
            status = route_connection(c, url, method, &target);
            req->route = target.route;
            rc = status != RECS_ROUTE_OK
                     ? route_error_reply(status, &reply)
                     : recs_service_error(413, "request body not allowed", &reply);
        }
        if (rc != 0)
            return MHD_NO;
        return send_reply(http, c, req, &reply, status == RECS_ROUTE_BAD_METHOD, true);
    }
    if (*upload_data_size != 0) {
        /* A body after the early answer above: discard it. */
        *upload_data_size = 0;
        return req->status != 0 ? MHD_YES : MHD_NO;
    }
    if (req->status != 0)
        return MHD_YES; /* already answered (body refused) */

    status = route_connection(c, url, method, &target);
    req->route = target.route;
    if (status == RECS_ROUTE_BAD_METHOD && strcmp(method, "OPTIONS") == 0 &&
        recs_route_origin_allowed(http->opts.cors_origins, header(c, "Origin")))
        return send_preflight(http, c, req);
    /* Liveness stays answerable, so that overload never looks like death. */
    if (target.route != RECS_ROUTE_HEALTHZ && over_cap(c)) {
        recs_metrics_count_overload();
        if (recs_service_error(503, "too many connections", &reply) != 0)
            return MHD_NO;
        return send_reply(http, c, req, &reply, false, true);
    }
    if (status != RECS_ROUTE_OK)
        rc = route_error_reply(status, &reply);
    else
        rc = dispatch(http, c, &target, &reply);
    if (rc != 0)
        return MHD_NO; /* out of memory: closing the connection is all we can do */
    return send_reply(http, c, req, &reply, status == RECS_ROUTE_BAD_METHOD, false);
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct recs_http *http = cls;
    struct request *req = *con_cls;
    struct conn_entry *conn = connection_entry(c);
    double elapsed;

    /* Bytes of a next request may have come with this one. */
    if (conn != NULL)
        set_phase(conn, conn->wire.in_head ? PHASE_RECEIVING : PHASE_IDLE);
    if (req == NULL)
        return;
    elapsed = now_seconds() - req->start;
    if (req->status == 0) /* the client went away or the connection failed */
        req->status = toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? 408 : 499;
    recs_metrics_observe_request(req->route, req->status, elapsed);
    if (http->opts.access_log) {
        struct recs_access_entry entry = {
            .method = req->method,
            .path = req->path,
            .status = req->status,
            .duration_s = elapsed,
            .bytes = req->bytes,
            .request_id = req->request_id,
            .trace_id = req->trace.trace_id,
        };
        recs_log_access(&entry);
    }
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&http->inflight, 1);
}

static int listen_address(const struct recs_http_options *opts, struct sockaddr_storage *ss)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (opts->listen_address[0] == '\0' ||
        inet_pton(AF_INET, opts->listen_address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(opts->port);
        if (opts->listen_address[0] == '\0')
            v4->sin_addr.s_addr = htonl(INADDR_ANY);
        return 0;
    }
    if (inet_pton(AF_INET6, opts->listen_address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(opts->port);
        return 0;
    }
    return -1;
}

static void free_demo(struct recs_http *http)
{
    for (size_t i = 0; i < sizeof(http->demo) / sizeof(http->demo[0]); i++)
        free(http->demo[i].data);
}

/* Reads the demo files into memory; a missing or oversized file fails the
 * start, so a misconfigured demo is noticed at once. */
static int load_demo(struct recs_http *http, const char *dir)
{
    static const struct {
        const char *name, *type;
    } files[] = {{"index.html", "text/html; charset=utf-8"},
                 {"app.js", "text/javascript; charset=utf-8"},
                 {"style.css", "text/css; charset=utf-8"}};

    for (size_t i = 0; dir[0] != '\0' && i < sizeof(files) / sizeof(files[0]); i++) {
        struct demo_file *f = &http->demo[i];
        char path[600];
        FILE *in;

        snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
        f->name = files[i].name;
        f->content_type = files[i].type;
        f->data = malloc(DEMO_FILE_MAX);
        in = fopen(path, "rb");
        if (f->data == NULL || in == NULL) {
            recs_log_error("http_start", "cannot read the demo file %s", path);
            if (in != NULL)
                fclose(in);
            return -1;
        }
        f->len = fread(f->data, 1, DEMO_FILE_MAX, in);
        if (!feof(in)) {
            recs_log_error("http_start", "demo file %s is larger than %u bytes", path,
                           DEMO_FILE_MAX);
            fclose(in);
            return -1;
        }
        fclose(in);
    }
    return 0;
}

/* Raises the descriptor limit to its hard limit (at most FD_TABLE_SIZE,
 * which recv() can follow) and returns the connections it leaves room for:
 * each takes one descriptor, and libmicrohttpd's cap is a quarter above
 * RECS_MAX_CONNECTIONS (see recs_http_start). */
static unsigned connections_that_fit(const struct recs_http_options *opts)
{
    struct rlimit fds;
    rlim_t room, fit;

    if (getrlimit(RLIMIT_NOFILE, &fds) != 0)
        return opts->max_connections;
    fds.rlim_cur = fds.rlim_max < FD_TABLE_SIZE ? fds.rlim_max : FD_TABLE_SIZE;
    if (setrlimit(RLIMIT_NOFILE, &fds) != 0)
        getrlimit(RLIMIT_NOFILE, &fds);
    room = fds.rlim_cur > opts->reserved_fds + 16 ? fds.rlim_cur - opts->reserved_fds - 16 : 0;
    fit = room / 5 * 4;
    if (fit >= opts->max_connections)
        return opts->max_connections;
    if (fit == 0)
        fit = 1;
    recs_log_error("http_start",
                   "the descriptor limit (%llu) leaves room for %llu of RECS_MAX_CONNECTIONS=%u; "
                   "raise it (LimitNOFILE, ulimit -n) to serve them all",
                   (unsigned long long)fds.rlim_cur, (unsigned long long)fit,
                   opts->max_connections);
    return (unsigned)fit;
}

int recs_http_start(const struct recs_http_options *opts, struct recs_http **out)
{
    struct recs_http *http = calloc(1, sizeof(*http));
    struct sockaddr_storage addr;
    unsigned hard_limit;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;

    if (http == NULL)
        return -1;
    http->opts = *opts;
    http->opts.max_connections = connections_that_fit(opts);
    http->watchdog.header_timeout = (double)opts->header_timeout_s;
    http->watchdog.send_timeout = (double)opts->send_timeout_s;
    http->listen_fd = MHD_INVALID_SOCKET;
    if (listen_address(opts, &addr) != 0) {
        recs_log_error("http_start", "invalid listen address");
        free(http);
        return -1;
    }
    if (load_demo(http, opts->demo_dir) != 0 || watchdog_init(&http->watchdog) != 0) {
        free_demo(http);
        free(http);
        return -1;
    }
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* Above RECS_MAX_CONNECTIONS, room for connections that only get a 503
     * (see over_cap); past this hard limit libmicrohttpd closes them itself. */
    hard_limit = http->opts.max_connections + http->opts.max_connections / 4 + 16;
    recs_metrics_set_http_connection_limit(http->opts.max_connections);
    http->daemon = MHD_start_daemon(
        flags, opts->port, NULL, NULL, handle_request, http, MHD_OPTION_EXTERNAL_LOGGER, log_mhd,
        NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        opts->threads, MHD_OPTION_CONNECTION_LIMIT, hard_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        opts->per_ip_connections, MHD_OPTION_CONNECTION_TIMEOUT, opts->connection_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MEMORY_PER_CONNECTION,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, http, MHD_OPTION_NOTIFY_CONNECTION,
        notify_connection, http, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_END);
    if (http->daemon == NULL) {
        recs_log_error("http_start", "cannot listen on port %u", (unsigned)opts->port);
        goto fail;
    }
    if (pthread_create(&http->watchdog.thread, NULL, watchdog_main, http) != 0) {
        recs_log_error("http_start", "cannot start the connection watchdog");
        MHD_stop_daemon(http->daemon);
        goto fail;
    }
    http->watchdog.running = true;
    *out = http;
    return 0;

fail:
    pthread_cond_destroy(&http->watchdog.wake);
    pthread_mutex_destroy(&http->watchdog.lock);
    free_demo(http);
    free(http);
    return -1;
}

uint16_t recs_http_port(const struct recs_http *http)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info != NULL ? info->port : 0;
}

void recs_http_quiesce(struct recs_http *http)
{
    if (http->listen_fd == MHD_INVALID_SOCKET)
        http->listen_fd = MHD_quiesce_daemon(http->daemon);
}

unsigned recs_http_inflight(const struct recs_http *http)
{
    return atomic_load(&http->inflight);
}

void recs_http_stop(struct recs_http *http)
{
    if (http == NULL)
        return;
    watchdog_stop(&http->watchdog);
    MHD_stop_daemon(http->daemon);
    if (http->listen_fd != MHD_INVALID_SOCKET)
        close(http->listen_fd);
    pthread_cond_destroy(&http->watchdog.wake);
    pthread_mutex_destroy(&http->watchdog.lock);
    free_demo(http);
    free(http);
}
