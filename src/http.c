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
 * connection forever, and a few hundred such clients every connection slot.
 * A watchdog thread therefore closes any connection whose request has not
 * arrived completely within the same timeout (counted from the connection's
 * start or its previous response), and a request that announces a body is
 * answered at once, before its body is read.
 */
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "render.h"
#include "route.h"

#define MEMORY_PER_CONNECTION (64u * 1024u)
#define DEMO_FILE_MAX (1u << 20)

/* The storefront demo, read once at start and served from memory. */
struct demo_file {
    const char *name, *content_type;
    char *data;
    size_t len;
};

/* One open connection, for the watchdog. Lives from MHD's "connection
 * started" notification to its "connection closed" one, which comes before
 * MHD closes the socket: under the watchdog's lock, fd is always open. */
struct conn_entry {
    struct conn_entry *prev, *next;
    MHD_socket fd;
    double since;  /* start of the request being received */
    bool handling; /* a complete request is being answered */
    bool cut;      /* already shut down by the watchdog */
    bool over_cap; /* opened while RECS_MAX_CONNECTIONS were already open */
};

struct watchdog {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct conn_entry *head;
    unsigned open; /* connections in the list */
    bool stop, running;
    pthread_t thread;
};

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
};

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* 16 hex digits from a per-thread generator seeded by the kernel: unique
 * enough to find a request in the logs, with no lock and no syscall. */
static void new_request_id(char *out, size_t len)
{
    static _Thread_local uint64_t state;
    uint64_t x;

    if (state == 0 && getrandom(&state, sizeof(state), GRND_NONBLOCK) != sizeof(state))
        state = (uint64_t)(uintptr_t)&x ^ (uint64_t)time(NULL);
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    x = state * 0x2545f4914f6cdd1dull;
    snprintf(out, len, "%016llx", (unsigned long long)x);
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
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
        if (info == NULL || (e = calloc(1, sizeof(*e))) == NULL)
            return; /* not watched: MHD's idle timeout still applies */
        e->fd = info->connect_fd;
        e->since = now_seconds();
        pthread_mutex_lock(&w->lock);
        e->next = w->head;
        if (w->head != NULL)
            w->head->prev = e;
        w->head = e;
        e->over_cap = ++w->open > http->opts.max_connections;
        pthread_mutex_unlock(&w->lock);
        *socket_context = e;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && e != NULL) {
        pthread_mutex_lock(&w->lock);
        if (e->prev != NULL)
            e->prev->next = e->next;
        else
            w->head = e->next;
        if (e->next != NULL)
            e->next->prev = e->prev;
        w->open--;
        pthread_mutex_unlock(&w->lock);
        free(e);
        *socket_context = NULL;
    }
}

/* Whether the connection was opened beyond RECS_MAX_CONNECTIONS: such a
 * connection gets one 503 with Retry-After and is closed, so that excess
 * clients learn at once to come back later instead of queueing. */
static bool over_cap(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const struct conn_entry *e = info != NULL ? info->socket_context : NULL;

    return e != NULL && e->over_cap; /* set once at open, before any request */
}

/* A complete request is being answered (handling) or has been (its response
 * sent: the deadline of the next request on the connection starts now). */
static void mark_handling(struct recs_http *http, struct MHD_Connection *c, bool handling)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_entry *e = info != NULL ? info->socket_context : NULL;

    if (e == NULL)
        return;
    pthread_mutex_lock(&http->watchdog.lock);
    e->handling = handling;
    e->since = now_seconds();
    pthread_mutex_unlock(&http->watchdog.lock);
}

/* Every quarter second: shuts down the sockets whose request is overdue.
 * The connection's worker then sees the end of the stream and closes it as
 * it would any connection the client closed. */
static void *watchdog_main(void *arg)
{
    struct recs_http *http = arg;
    struct watchdog *w = &http->watchdog;
    double limit = (double)http->opts.connection_timeout_s;

    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec until;
        double now = now_seconds();

        for (struct conn_entry *e = w->head; e != NULL; e = e->next) {
            if (!e->handling && !e->cut && now - e->since > limit) {
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
                            "ETag, X-Request-Id, Retry-After");
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
    add_cors(http, c, resp);
    if (close_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    req->status = reply->status;
    req->bytes = reply->len;
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
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", "If-None-Match, X-Request-Id");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    req->status = 204;
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

/* RFC 9110 tchar. */
static bool token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static enum MHD_Result check_name(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size)
{
    bool *valid = cls;

    (void)kind;
    (void)value;
    (void)value_size;
    for (size_t i = 0; i < key_size; i++)
        if (!token_char(key[i]))
            *valid = false;
    if (key_size == 0)
        *valid = false;
    return *valid ? MHD_YES : MHD_NO;
}

/* Whether every header field name is a token. libmicrohttpd 0.9.75 keeps
 * "Name :" (whitespace before the colon, which RFC 9112 says to reject with
 * 400) and control bytes in names: "Transfer-Encoding : chunked" is then an
 * unknown field to it, but chunked to a lenient proxy in front of it. */
static bool header_names_valid(struct MHD_Connection *c)
{
    bool valid = true;

    MHD_get_connection_values_n(c, MHD_HEADER_KIND, check_name, &valid);
    return valid;
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

/* Where a recommendation request meets the service: the whole query in,
 * one reply out. The service entry that takes the query itself,
 * recs_service_recommend(svc, const struct recs_query *, if_none_match,
 * reply), with entity tags from recs_query_format_key, replaces this body.
 * The service answers by slug and limit alone so far, so only the queries
 * that need nothing more are forwarded; the others get a 501 rather than an
 * answer that ignores part of what they asked for. */
static int recommend(struct recs_http *http, struct MHD_Connection *c,
                     const struct recs_query *query, struct recs_reply *reply)
{
    bool by_slug_and_limit = query->kind == RECS_QUERY_PRODUCT && query->offset == 0 &&
                             query->category_count == 0 && query->exclude_count == 0 &&
                             !query->has_min_price && !query->has_max_price &&
                             query->min_score == 0 && query->max_per_category == 0;

    if (!by_slug_and_limit)
        return recs_service_error(501,
                                  "not implemented: carts and the storefront parameters (offset, "
                                  "category, exclude, min_price, max_price, min_score, "
                                  "max_per_category)",
                                  reply);
    return recs_service_recommend(http->opts.service, query->targets[0], query->limit,
                                  header(c, "If-None-Match"), reply);
}

static int dispatch(struct recs_http *http, struct MHD_Connection *c,
                    const struct recs_request_target *target, struct recs_reply *reply)
{
    switch (target->route) {
    case RECS_ROUTE_RECOMMENDATIONS:
    case RECS_ROUTE_CART:
        return recommend(http, c, &target->query, reply);
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
    struct recs_request_target target;
    struct recs_reply reply;
    recs_route_status status;
    int rc;

    (void)version;
    (void)upload_data;
    if (req == NULL) {
        req = calloc(1, sizeof(*req));
        if (req == NULL)
            return MHD_NO;
        req->start = now_seconds();
        req->route = RECS_ROUTE_OTHER;
        snprintf(req->method, sizeof(req->method), "%s", method);
        snprintf(req->path, sizeof(req->path), "%s", url);
        {
            const char *id = header(c, "X-Request-Id");
            if (id != NULL && recs_route_request_id_valid(id))
                snprintf(req->request_id, sizeof(req->request_id), "%s", id);
            else
                new_request_id(req->request_id, sizeof(req->request_id));
        }
        atomic_fetch_add(&http->inflight, 1);
        *con_cls = req;
        if (!header_names_valid(c)) {
            status = RECS_ROUTE_OK;
            rc = recs_service_error(400, "invalid header field name", &reply);
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
    mark_handling(http, c, true);
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
    double elapsed;

    mark_handling(http, c, false);
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
    hard_limit = opts->max_connections + opts->max_connections / 4 + 16;
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
