/*
 * test_hostile.c - the real binary ($RECS_BIN) against hostile and broken
 * clients over real loopback sockets: malformed and oversized requests,
 * request bodies, pipelining, slowloris (idle and trickling connections),
 * the per-IP connection limit, overload (503 while requests wait on a locked
 * table) and the per-connection memory limit. Every case must end in a 4xx
 * (a few named exceptions below) or a closed connection, never a crash or a
 * hang, and a normal client must still be served afterwards.
 *
 * Prints a summary of what the server answered to each case on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define TIMEOUT_S 2 /* RECS_CONNECTION_TIMEOUT and RECS_HEADER_TIMEOUT of the servers here */
#define RECS_TARGET "/products/linen-summer-shirt/recommendations?limit=3"

static json_t *vectors;
static PGconn *pg;

/* ---- summary ---- */

struct row {
    char section[24];
    char name[64];
    char sent[24];
    char answer[96];
};

static struct row rows[200];
static size_t nrows;

static void record(const char *section, const char *name, size_t sent, const char *fmt, ...)
{
    struct row *r;
    va_list ap;

    if (nrows == sizeof(rows) / sizeof(rows[0]))
        return;
    r = &rows[nrows++];
    snprintf(r->section, sizeof(r->section), "%s", section);
    snprintf(r->name, sizeof(r->name), "%s", name);
    if (sent >= 1024 * 1024)
        snprintf(r->sent, sizeof(r->sent), "%.1f MiB", (double)sent / (1024.0 * 1024.0));
    else if (sent >= 1024)
        snprintf(r->sent, sizeof(r->sent), "%.1f KiB", (double)sent / 1024.0);
    else if (sent > 0)
        snprintf(r->sent, sizeof(r->sent), "%zu B", sent);
    else
        snprintf(r->sent, sizeof(r->sent), "-");
    va_start(ap, fmt);
    vsnprintf(r->answer, sizeof(r->answer), fmt, ap);
    va_end(ap);
}

static void print_summary(void)
{
    const char *section = "";
    const char *bin = server_binary(), *cache = getenv("RECS_TEST_CACHE");

    printf("\nhostile-client summary (RECS_BIN=%s, cache %s)\n", bin, cache ? cache : "on");
    for (size_t i = 0; i < nrows; i++) {
        if (strcmp(section, rows[i].section) != 0) {
            section = rows[i].section;
            printf("\n  %-20s %-46s %-10s %s\n", section, "case", "sent", "answer");
        }
        printf("  %-20s %-46s %-10s %s\n", "", rows[i].name, rows[i].sent, rows[i].answer);
    }
    printf("\n");
    fflush(stdout);
}

/* ---- sockets ---- */

/* A blocking TCP connection to 127.0.0.1:port from src (NULL: any address),
 * with send and receive timeouts of timeout_ms. */
static int connect_from(int port, const char *src, int timeout_ms)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    if (src != NULL) {
        struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = 0};
        inet_pton(AF_INET, src, &local.sin_addr);
        if (bind(fd, (struct sockaddr *)&local, sizeof(local)) != 0) {
            close(fd);
            return -1;
        }
    }
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends len bytes in pieces of at most chunk bytes (0: all at once).
 * Returns the bytes the kernel took before the server closed (EPIPE,
 * ECONNRESET) or stopped reading (send timeout). */
static size_t send_chunks(int fd, const char *data, size_t len, size_t chunk)
{
    size_t off = 0;

    while (off < len) {
        size_t n = len - off;
        ssize_t w;
        if (chunk > 0 && n > chunk)
            n = chunk;
        w = send(fd, data + off, n, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    return off;
}

enum end { END_CLOSED, END_RESET, END_TIMEOUT };

/* Reads into buf (NUL-terminated, at most cap - 1 bytes) until the server
 * closes the connection or timeout_ms pass. */
static enum end read_all(int fd, char *buf, size_t cap, size_t *got, int timeout_ms)
{
    double deadline = now_seconds() + timeout_ms / 1000.0;

    *got = 0;
    buf[0] = '\0';
    for (;;) {
        int left = (int)((deadline - now_seconds()) * 1000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char sink[4096];
        char *to = *got + 1 < cap ? buf + *got : sink;
        size_t room = *got + 1 < cap ? cap - 1 - *got : sizeof(sink);
        ssize_t n;

        if (left <= 0)
            return END_TIMEOUT;
        if (poll(&p, 1, left) <= 0)
            continue;
        n = recv(fd, to, room, MSG_DONTWAIT);
        if (n == 0)
            return END_CLOSED;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return errno == ECONNRESET ? END_RESET : END_CLOSED;
        }
        if (to == buf + *got) {
            *got += (size_t)n;
            buf[*got] = '\0';
        }
    }
}

/* The statuses of the complete responses at the start of buf, in order. */
static int parse_responses(const char *buf, size_t len, int *statuses, int max)
{
    size_t off = 0;
    int n = 0;

    while (off < len && n < max) {
        const char *p = buf + off, *end = memmem(p, len - off, "\r\n\r\n", 4);
        long body = 0;
        int status;

        if (end == NULL || sscanf(p, "HTTP/1.%*d %d", &status) != 1)
            break;
        for (const char *line = p; line < end;) {
            const char *eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
            if (strncasecmp(line, "Content-Length:", 15) == 0)
                body = strtol(line + 15, NULL, 10);
            line = eol + 2;
        }
        if ((size_t)(end + 4 - p) + (size_t)body > len - off)
            break;
        statuses[n++] = status;
        off += (size_t)(end + 4 - p) + (size_t)body;
    }
    return n;
}

/* What one exchange came to. */
struct outcome {
    int statuses[8];
    int count;
    enum end end;
    size_t sent, received;
    double seconds; /* until the server closed, or the read timeout */
    char *raw;      /* what the server sent (malloc'd) */
};

static void outcome_text(const struct outcome *o, char *out, size_t len)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < o->count; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%d", i ? " " : "", o->statuses[i]);
    if (o->count == 0)
        used += (size_t)snprintf(out + used, len - used, "no response");
    if (used < len)
        snprintf(out + used, len - used, ", %s in %.3f s",
                 o->end == END_TIMEOUT ? "still open"
                 : o->end == END_RESET ? "reset"
                                       : "closed",
                 o->seconds);
}

/* Sends data (in chunks of chunk bytes, 0: at once), reads what comes back
 * until the server closes or wait_ms pass. */
static void exchange(int port, const char *data, size_t len, size_t chunk, int wait_ms,
                     struct outcome *o)
{
    size_t cap = 1 << 20;
    double start = now_seconds();
    int fd = connect_from(port, NULL, 5000);

    memset(o, 0, sizeof(*o));
    o->raw = malloc(cap);
    assert_non_null(o->raw);
    assert_true(fd >= 0);
    o->sent = send_chunks(fd, data, len, chunk);
    o->end = read_all(fd, o->raw, cap, &o->received, wait_ms);
    o->seconds = now_seconds() - start;
    o->count = parse_responses(o->raw, o->received, o->statuses, 8);
    close(fd);
}

/* ---- the server ---- */

static struct server server;

static bool server_alive(const struct server *s)
{
    int status;
    return kill(s->pid, 0) == 0 && waitpid(s->pid, &status, WNOHANG) == 0;
}

/* The server is alive and serves a normal client: /healthz and a ranking.
 * Returns the slower of the two answers' times. */
static double assert_serving(const struct server *s)
{
    struct http_response r;
    double start, worst = 0;

    if (!server_alive(s))
        fail_msg("the server died (see %s)", s->log_path);
    start = now_seconds();
    assert_int_equal(http_request(s->port, "GET", "/healthz", &r), 0);
    if (r.status != 200)
        fail_msg("/healthz answered %d", r.status);
    http_response_free(&r);
    worst = now_seconds() - start;
    start = now_seconds();
    assert_int_equal(http_request(s->port, "GET", RECS_TARGET, &r), 0);
    if (r.status != 200)
        fail_msg("%s answered %d", RECS_TARGET, r.status);
    {
        json_t *body = http_json(&r);
        assert_non_null(body);
        assert_int_equal(json_array_size(json_object_get(body, "recommendations")), 3);
        json_decref(body);
    }
    http_response_free(&r);
    if (now_seconds() - start > worst)
        worst = now_seconds() - start;
    return worst;
}

static int setup_suite(void **state)
{
    struct rlimit nofile;

    (void)state;
    /* the slowloris test holds hundreds of sockets */
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 4096) {
        nofile.rlim_cur = nofile.rlim_max < 4096 ? nofile.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (fixture_open(&vectors, &pg) != 0)
        return -1;
    {
        static const char *const env[] = {"RECS_CONNECTION_TIMEOUT=2", "RECS_HEADER_TIMEOUT=2",
                                          "RECS_HTTP_THREADS=4", NULL};
        return server_start(&server, env);
    }
}

static int teardown_suite(void **state)
{
    (void)state;
    fixture_close(vectors, pg, &server);
    print_summary();
    return 0;
}

/* ---- 1. malformed and hostile requests ---- */

/* What a case may be answered. */
enum expect {
    EXPECT_4XX,        /* one 4xx then close, or a close with no response */
    EXPECT_4XX_OR_505, /* also 505 HTTP Version Not Supported */
    EXPECT_OK,         /* 200: valid HTTP the server must accept */
    EXPECT_4XX_OR_OK,  /* tolerated: 200 or 4xx, one response at most (see the case) */
    EXPECT_SEQUENCE,   /* exactly the statuses listed, in order */
};

struct hostile_case {
    const char *name;
    const char *data; /* NULL: built by the test */
    size_t len;       /* 0: strlen(data) */
    enum expect expect;
    int sequence[4];
};

#define CRLF "\r\n"
#define END "Host: x" CRLF "Connection: close" CRLF CRLF
#define CASE(name, data, expect)                                                                   \
    {                                                                                              \
        name, data, 0, expect,                                                                     \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }
#define CASE_BIN(name, data, expect)                                                               \
    {                                                                                              \
        name, data, sizeof(data) - 1, expect,                                                      \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

static const struct hostile_case static_cases[] = {
    /* percent-encoding tricks: the slug is checked after decoding */
    CASE("%2F in slug", "GET /products/a%2Fb/recommendations HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE("%00 in slug", "GET /products/a%00b/recommendations HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE("%2e%2e as slug", "GET /products/%2e%2e/recommendations HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE("%2e%2e%2f traversal in slug",
         "GET /products/%2e%2e%2f%2e%2e%2fhealthz/recommendations HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE("overlong UTF-8 %C0%AF",
         "GET /products/%C0%AF..%C0%AFetc/recommendations HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE("invalid UTF-8 %FF%FE", "GET /products/%FF%FE/recommendations HTTP/1.1" CRLF END,
         EXPECT_4XX),
    CASE("truncated escape %2", "GET /products/a%2/recommendations HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE("%00 in limit",
         "GET /products/linen-summer-shirt/recommendations?limit=1%00 HTTP/1.1" CRLF END,
         EXPECT_4XX),
    /* dot segments are not normalised into another route */
    CASE("../ segments to /healthz", "GET /products/../healthz HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE("/../../etc/passwd", "GET /../../etc/passwd HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE("%2e%2e/ to /etc/passwd", "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE("/demo/../../etc/passwd", "GET /demo/../../etc/passwd HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE("absolute-form target", "GET http://evil.example/../healthz HTTP/1.1" CRLF END,
         EXPECT_4XX),
    /* request lines that are not HTTP/1.x */
    CASE("garbage request line", "GARBAGE" CRLF CRLF, EXPECT_4XX),
    CASE("method only", "GET" CRLF CRLF, EXPECT_4XX),
    CASE("three spaces", "   " CRLF CRLF, EXPECT_4XX),
    CASE("extra token in request line", "GET /healthz HTTP/1.1 extra" CRLF END, EXPECT_4XX),
    CASE("HTTP/0.9 request", "GET /healthz" CRLF, EXPECT_4XX),
    CASE("HTTP/0.9 request + blank line", "GET /healthz" CRLF CRLF, EXPECT_4XX),
    CASE("version FOO/1.1", "GET /healthz FOO/1.1" CRLF END, EXPECT_4XX),
    CASE("version HTTP/1.", "GET /healthz HTTP/1." CRLF END, EXPECT_4XX),
    CASE("version HTTP/2.0", "GET /healthz HTTP/2.0" CRLF END, EXPECT_4XX_OR_505),
    CASE("version HTTP/3.0", "GET /healthz HTTP/3.0" CRLF END, EXPECT_4XX_OR_505),
    CASE("version HTTP/1.1.1", "GET /healthz HTTP/1.1.1" CRLF END, EXPECT_4XX_OR_505),
    CASE("lowercase version http/1.1", "GET /healthz http/1.1" CRLF END, EXPECT_4XX_OR_505),
    CASE("HTTP/1.1 without Host", "GET /healthz HTTP/1.1" CRLF "Connection: close" CRLF CRLF,
         EXPECT_4XX),
    CASE("header without colon", "GET /healthz HTTP/1.1" CRLF "NoColonHere" CRLF END, EXPECT_4XX),
    CASE("space before colon", "GET /healthz HTTP/1.1" CRLF "X-A : b" CRLF END, EXPECT_4XX),
    CASE("tab before colon", "GET /healthz HTTP/1.1" CRLF "X-A\t: b" CRLF END, EXPECT_4XX),
    CASE("control byte in a header name", "GET /healthz HTTP/1.1" CRLF "X\001Y: z" CRLF END,
         EXPECT_4XX),
    CASE("empty header name", "GET /healthz HTTP/1.1" CRLF ": v" CRLF END, EXPECT_4XX),
    /* "Name :" framing headers: unknown fields to libmicrohttpd, framing to a
     * lenient proxy; one 400, not a 200 and then the "body" as a request */
    CASE("Content-Length : 31 + a request",
         "GET /healthz HTTP/1.1" CRLF "Host: x" CRLF "Content-Length : 31" CRLF CRLF
         "GET /readyz HTTP/1.1" CRLF END,
         EXPECT_4XX),
    CASE("Transfer-Encoding<TAB>: chunked",
         "GET /healthz HTTP/1.1" CRLF "Host: x" CRLF "Transfer-Encoding\t: chunked" CRLF CRLF
         "0" CRLF CRLF "GET /readyz HTTP/1.1" CRLF END,
         EXPECT_4XX),
    /* obs-fold: libmicrohttpd 0.9.75 appends the continuation to the field
     * name; RFC 9112 lets a server refuse it, and recs does */
    CASE("obs-fold hiding Content-Length",
         "GET /healthz HTTP/1.1" CRLF "X-A: a" CRLF " Content-Length: 5" CRLF END "hello",
         EXPECT_4XX),
    CASE("obs-fold continuation line", "GET /healthz HTTP/1.1" CRLF "X-A: a" CRLF " b" CRLF END,
         EXPECT_4XX),
    CASE("obs-fold Transfer-Encoding",
         "GET /healthz HTTP/1.1" CRLF "Transfer-Encoding:" CRLF " chunked" CRLF END "0" CRLF CRLF,
         EXPECT_4XX),
    CASE_BIN("TLS ClientHello",
             "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 random bytes of a hello" CRLF CRLF,
             EXPECT_4XX),
    /* NUL bytes: libmicrohttpd 0.9.75 ends the token at the NUL, so each of
     * these looked like a valid request to it (see also
     * test_forbidden_bytes, every control byte in every field) */
    CASE_BIN("NUL at the end of the target", "GET /healthz\0 HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE_BIN("NUL ending the target, then a bare LF", "GET /healthz\0 HTTP/1.1\n" END, EXPECT_4XX),
    CASE_BIN("NUL in the target before the query", "GET " RECS_TARGET "\0x HTTP/1.1" CRLF END,
             EXPECT_4XX),
    CASE_BIN("NUL in the target", "GET /heal\0thz HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE_BIN("NUL after the method", "GET\0 /healthz HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE_BIN("NUL ending a header value", "GET /healthz HTTP/1.1" CRLF "X-A: v\0" CRLF END,
             EXPECT_4XX),
    CASE_BIN("NUL starting a header line",
             "GET /healthz HTTP/1.1" CRLF "Host: x" CRLF "\0Content-Length: 5" CRLF
             "Connection: close" CRLF CRLF "hello",
             EXPECT_4XX),
    CASE_BIN("NUL line ending the head",
             "GET /healthz HTTP/1.1" CRLF "Host: x" CRLF "\0" CRLF "Connection: close" CRLF CRLF,
             EXPECT_4XX),
    CASE_BIN("bare CR in a header value", "GET /healthz HTTP/1.1" CRLF "X-A: a\rb" CRLF END,
             EXPECT_4XX),
    /* what RFC 9112 allows must still be served */
    CASE("bare LF line endings", "GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n",
         EXPECT_OK),
    CASE("empty lines before the request line", CRLF CRLF "GET /healthz HTTP/1.1" CRLF END,
         EXPECT_OK),
    CASE("no space after the colon, empty value, OWS",
         "GET /healthz HTTP/1.1" CRLF "X-A:v" CRLF "X-B:" CRLF "X-C: \t w \t" CRLF END, EXPECT_OK),
    CASE("obs-text in a header value",
         "GET /healthz HTTP/1.1" CRLF "X-A: caf\xc3\xa9 \x80\xff" CRLF END, EXPECT_OK),
    CASE_BIN("NUL in the method", "GE\0T /healthz HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE_BIN("NUL in the version", "GET /healthz HTTP/1\0.1" CRLF END, EXPECT_4XX_OR_505),
    CASE_BIN("NUL at line start", "\0GET /healthz HTTP/1.1" CRLF END, EXPECT_4XX),
    CASE_BIN("NUL in a header name", "GET /healthz HTTP/1.1" CRLF "X-A\0B: v" CRLF END, EXPECT_4XX),
    /* bodies: no endpoint takes one, so 413 (or 405 where the method is
     * wrong) before the body is read, and the connection is closed */
    CASE("GET + Content-Length: 10 + body",
         "GET /healthz HTTP/1.1" CRLF "Content-Length: 10" CRLF END "0123456789", EXPECT_4XX),
    CASE("GET + Content-Length: 1e9, no body",
         "GET /healthz HTTP/1.1" CRLF "Content-Length: 1000000000" CRLF END, EXPECT_4XX),
    CASE("GET + chunked body",
         "GET /healthz HTTP/1.1" CRLF "Transfer-Encoding: chunked" CRLF END "5" CRLF "hello" CRLF
         "0" CRLF CRLF,
         EXPECT_4XX),
    CASE("GET + chunked, never sent",
         "GET " RECS_TARGET " HTTP/1.1" CRLF "Transfer-Encoding: chunked" CRLF END, EXPECT_4XX),
    CASE("GET + Expect: 100-continue",
         "GET /healthz HTTP/1.1" CRLF "Expect: 100-continue" CRLF "Content-Length: 5" CRLF END,
         EXPECT_4XX),
    CASE("Content-Length: -1", "GET /healthz HTTP/1.1" CRLF "Content-Length: -1" CRLF END,
         EXPECT_4XX),
    CASE("Content-Length: 2^64 + 1",
         "GET /healthz HTTP/1.1" CRLF "Content-Length: 18446744073709551617" CRLF END, EXPECT_4XX),
    CASE("Content-Length: 10^30",
         "GET /healthz HTTP/1.1" CRLF "Content-Length: 1000000000000000000000000000000" CRLF END,
         EXPECT_4XX),
    CASE("Content-Length: 0x10", "GET /healthz HTTP/1.1" CRLF "Content-Length: 0x10" CRLF END,
         EXPECT_4XX),
    CASE("two different Content-Lengths",
         "GET /healthz HTTP/1.1" CRLF "Content-Length: 1" CRLF "Content-Length: 2" CRLF END "ab",
         EXPECT_4XX),
    CASE("Content-Length + chunked (smuggling)",
         "GET /healthz HTTP/1.1" CRLF "Content-Length: 4" CRLF "Transfer-Encoding: chunked" CRLF END
         "0" CRLF CRLF,
         EXPECT_4XX),
    CASE("POST + body", "POST /healthz HTTP/1.1" CRLF "Content-Length: 5" CRLF END "hello",
         EXPECT_4XX),
    CASE("PUT ranking + body",
         "PUT " RECS_TARGET " HTTP/1.1" CRLF "Content-Length: 2" CRLF END "{}", EXPECT_4XX),
    /* pipelining: answers in order, none lost or mixed up */
    {"2 pipelined GETs",
     "GET /healthz HTTP/1.1" CRLF "Host: x" CRLF CRLF "GET " RECS_TARGET " HTTP/1.1" CRLF END,
     0,
     EXPECT_SEQUENCE,
     {200, 200}},
    {"3 pipelined GETs (200, 404, 400)",
     "GET /healthz HTTP/1.1" CRLF "Host: x" CRLF CRLF "GET /nope HTTP/1.1" CRLF "Host: x" CRLF CRLF
     "GET /products/linen-summer-shirt/recommendations?limit=0 HTTP/1.1" CRLF END,
     0,
     EXPECT_SEQUENCE,
     {200, 404, 400}},
    {"pipelined GET, then a bad version",
     "GET /healthz HTTP/1.1" CRLF "Host: x" CRLF CRLF "GET /healthz FOO/1.1" CRLF END,
     0,
     EXPECT_SEQUENCE,
     {200, 400}},
    {"pipelined GET + body, then GET",
     "GET /healthz HTTP/1.1" CRLF "Host: x" CRLF "Content-Length: 24" CRLF CRLF
     "GET /healthz HTTP/1.1" CRLF CRLF "GET /healthz HTTP/1.1" CRLF END,
     0,
     EXPECT_SEQUENCE,
     {413}},
};

/* Cases whose bytes are built at run time (large or repetitive). */
enum built {
    BUILT_URL_8K,
    BUILT_LIMIT_8K,
    BUILT_URL_64K,
    BUILT_METHOD_8K,
    BUILT_HEADERS_1000,
    BUILT_FLOOD_4M,
    BUILT_BINARY_NOISE,
    BUILT_COUNT
};

static const char *const built_names[BUILT_COUNT] = {
    "8 KiB slug in the URL",
    "8 KiB limit value",
    "64 KiB URL",
    "8 KiB method",
    "1,000 headers",
    "4 MiB header flood (64 KiB chunks)",
    "4 KiB binary noise + CRLF",
};

static char *build_case(enum built which, size_t *len, size_t *chunk)
{
    size_t cap = 5u << 20, n = 0;
    char *b = malloc(cap);

    assert_non_null(b);
    *chunk = 0;
#define PUT(...) (n += (size_t)snprintf(b + n, cap - n, __VA_ARGS__))
    switch (which) {
    case BUILT_URL_8K:
        PUT("GET /products/");
        memset(b + n, 'a', 8192);
        n += 8192;
        PUT("/recommendations HTTP/1.1\r\n%s", END);
        break;
    case BUILT_LIMIT_8K:
        PUT("GET /products/linen-summer-shirt/recommendations?limit=");
        memset(b + n, '9', 8192);
        n += 8192;
        PUT(" HTTP/1.1\r\n%s", END);
        break;
    case BUILT_URL_64K:
        PUT("GET /");
        memset(b + n, 'a', 65536);
        n += 65536;
        PUT(" HTTP/1.1\r\n%s", END);
        break;
    case BUILT_METHOD_8K:
        memset(b, 'G', 8192);
        n = 8192;
        PUT(" /healthz HTTP/1.1\r\n%s", END);
        break;
    case BUILT_HEADERS_1000:
        PUT("GET /healthz HTTP/1.1\r\n");
        for (int i = 0; i < 1000; i++)
            PUT("X-Header-%d: value-%d\r\n", i, i);
        PUT("%s", END);
        break;
    case BUILT_FLOOD_4M:
        PUT("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ");
        memset(b + n, 'f', 4u << 20);
        n += 4u << 20;
        PUT("\r\n%s", END);
        *chunk = 65536;
        break;
    case BUILT_BINARY_NOISE:
        for (unsigned i = 0; i < 4096; i++)
            b[n++] = (char)(1 + (i * 7919u) % 255u);
        PUT("\r\n\r\n");
        break;
    default:
        break;
    }
#undef PUT
    *len = n;
    return b;
}

/* Checks one case's outcome against what it may be answered. */
static void check_case(const char *name, enum expect expect, const int *sequence,
                       const struct outcome *o)
{
    char text[96];

    outcome_text(o, text, sizeof(text));
    if (o->end == END_TIMEOUT)
        fail_msg("%s: the server neither answered nor closed within %.1f s (%s)", name, o->seconds,
                 text);
    switch (expect) {
    case EXPECT_4XX:
    case EXPECT_4XX_OR_505:
        /* one answer at most: a second one would be a request the server
         * read out of the hostile bytes */
        if (o->count > 1)
            fail_msg("%s: more than one response (%s)", name, text);
        if (o->count == 1 && !(o->statuses[0] >= 400 && o->statuses[0] < 500) &&
            !(expect == EXPECT_4XX_OR_505 && o->statuses[0] == 505))
            fail_msg("%s: answered %s, expected a 4xx or a closed connection", name, text);
        if (o->count == 0 && o->received > 0)
            fail_msg("%s: %zu bytes that are not an HTTP response", name, o->received);
        break;
    case EXPECT_OK:
        if (o->count != 1 || o->statuses[0] != 200)
            fail_msg("%s: answered %s, expected 200", name, text);
        break;
    case EXPECT_4XX_OR_OK:
        if (o->count > 1 || (o->count == 0 && o->received > 0))
            fail_msg("%s: answered %s, expected one response at most", name, text);
        if (o->count == 1 && o->statuses[0] != 200 &&
            !(o->statuses[0] >= 400 && o->statuses[0] < 500))
            fail_msg("%s: answered %s, expected 200 or a 4xx", name, text);
        break;
    case EXPECT_SEQUENCE: {
        int want = 0;
        while (want < 4 && sequence[want] != 0)
            want++;
        if (o->count != want)
            fail_msg("%s: %d responses (%s), expected %d", name, o->count, text, want);
        for (int i = 0; i < want; i++)
            if (o->statuses[i] != sequence[i])
                fail_msg("%s: response %d is %d (%s), expected %d", name, i + 1, o->statuses[i],
                         text, sequence[i]);
        break;
    }
    }
}

static void run_case(const char *name, const char *data, size_t len, size_t chunk,
                     enum expect expect, const int *sequence)
{
    struct outcome o;
    char text[96];

    /* the server closes a stalled connection after TIMEOUT_S; allow 3 s more */
    exchange(server.port, data, len, chunk, (TIMEOUT_S + 3) * 1000, &o);
    outcome_text(&o, text, sizeof(text));
    record("malformed input", name, len, "%s", text);
    check_case(name, expect, sequence, &o);
    /* no 5xx anywhere (505 only where the version is not HTTP/1.x) */
    for (int i = 0; i < o.count; i++)
        if (o.statuses[i] >= 500 && !(expect == EXPECT_4XX_OR_505 && o.statuses[i] == 505))
            fail_msg("%s: answered %s", name, text);
    free(o.raw);
    assert_serving(&server);
}

static void test_malformed_requests(void **state)
{
    size_t tried = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(static_cases) / sizeof(static_cases[0]); i++) {
        const struct hostile_case *c = &static_cases[i];
        run_case(c->name, c->data, c->len ? c->len : strlen(c->data), 0, c->expect, c->sequence);
        tried++;
    }
    for (int i = 0; i < BUILT_COUNT; i++) {
        size_t len, chunk;
        char *data = build_case((enum built)i, &len, &chunk);
        run_case(built_names[i], data, len, chunk, EXPECT_4XX, NULL);
        free(data);
        tried++;
    }
    record("malformed input", "(total)", 0,
           "%zu cases, each followed by /healthz + a ranking: all 200", tried);
}

/* A NUL in a header value: libmicrohttpd 0.9.75 cuts the value there, so
 * the request looked valid to it and was served with the id "abc". Now it
 * is refused, and what follows the NUL never reaches the response. */
static void test_nul_in_header_value_is_refused(void **state)
{
    static const char request[] = "GET /healthz HTTP/1.1\r\nX-Request-Id: abc\0Injected\r\n"
                                  "Host: x\r\nConnection: close\r\n\r\n";
    struct outcome o;
    char text[96];

    (void)state;
    exchange(server.port, request, sizeof(request) - 1, 0, (TIMEOUT_S + 3) * 1000, &o);
    outcome_text(&o, text, sizeof(text));
    record("malformed input", "NUL in a header value", sizeof(request) - 1, "%s", text);
    assert_int_equal(o.end, END_CLOSED);
    assert_int_equal(o.count, 1);
    assert_int_equal(o.statuses[0], 400);
    assert_null(memchr(o.raw, '\0', o.received));
    assert_null(strstr(o.raw, "Injected"));
    assert_null(strstr(o.raw, "abc"));
    free(o.raw);
    assert_serving(&server);
}

/* Every control byte (0x00-0x1F, DEL) and a few others (SP, 0x80, 0xFF)
 * inside the method, the target, a header name and a header value, raw
 * over a socket. The bytes before it make a valid request on their own, so
 * a server that stops at the byte serves it: each must instead get 400 or a
 * closed connection. HTAB is valid inside a header value and is served
 * (200); SP and bytes above 0x7F are valid there too and not sent. */
static void test_forbidden_bytes(void **state)
{
    static const struct {
        const char *field, *prefix, *suffix;
        bool value; /* HTAB, SP and obs-text are allowed here */
    } places[] = {
        {"method", "GET", "X /healthz HTTP/1.1" CRLF END, false},
        {"target", "GET /healthz", "X HTTP/1.1" CRLF END, false},
        {"header name", "GET /healthz HTTP/1.1" CRLF "X-A", "B: v" CRLF END, false},
        {"header value", "GET /healthz HTTP/1.1" CRLF "X-Request-Id: abc", "def" CRLF END, true},
    };
    static const unsigned char extra[] = {' ', 0x7f, 0x80, 0xff};

    (void)state;
    for (size_t p = 0; p < sizeof(places) / sizeof(places[0]); p++) {
        int refused = 0, served = 0;
        double worst = 0;

        for (unsigned i = 0; i < 0x20 + sizeof(extra); i++) {
            unsigned char byte = i < 0x20 ? (unsigned char)i : extra[i - 0x20];
            bool valid = places[p].value && (byte == '\t' || byte == ' ' || byte >= 0x80);
            size_t pre = strlen(places[p].prefix), suf = strlen(places[p].suffix);
            char data[256], name[64];
            struct outcome o;

            if (places[p].value && (byte == ' ' || byte >= 0x80))
                continue; /* valid in a value, served like any other byte */
            memcpy(data, places[p].prefix, pre);
            data[pre] = (char)byte;
            memcpy(data + pre + 1, places[p].suffix, suf);
            snprintf(name, sizeof(name), "byte 0x%02x in the %s", byte, places[p].field);
            exchange(server.port, data, pre + 1 + suf, 0, (TIMEOUT_S + 3) * 1000, &o);
            check_case(name, valid ? EXPECT_OK : EXPECT_4XX, NULL, &o);
            if (!valid && o.count == 1 && o.statuses[0] != 400)
                fail_msg("%s: answered %d, expected 400", name, o.statuses[0]);
            if (o.seconds > worst)
                worst = o.seconds;
            if (valid)
                served++;
            else
                refused++;
            free(o.raw);
            assert_serving(&server);
        }
        record("forbidden bytes", places[p].field, 0,
               "%d refused (400 or closed), %d valid served; worst %.3f s", refused, served, worst);
    }
}

/* A request announcing a body it never sends is answered at once (413) and
 * does not hold a worker: other clients are served while it stays open. */
static void test_unsent_bodies_do_not_stall_workers(void **state)
{
    static const char request[] = "GET " RECS_TARGET " HTTP/1.1\r\nHost: x\r\n"
                                  "Content-Length: 1000000000\r\n\r\n";
    int fds[16];
    double start, worst_answer = 0, worst_normal;
    size_t n = sizeof(fds) / sizeof(fds[0]);

    (void)state;
    /* more stalled uploads than the server has worker threads (4) */
    for (size_t i = 0; i < n; i++) {
        fds[i] = connect_from(server.port, NULL, 5000);
        assert_true(fds[i] >= 0);
        assert_int_equal(send_chunks(fds[i], request, sizeof(request) - 1, 0), sizeof(request) - 1);
    }
    worst_normal = assert_serving(&server);
    assert_true(worst_normal < 1.0);
    start = now_seconds();
    for (size_t i = 0; i < n; i++) {
        char buf[4096];
        size_t got;
        int status[2];
        enum end end = read_all(fds[i], buf, sizeof(buf), &got, 3000);
        if (parse_responses(buf, got, status, 2) != 1 || status[0] != 413)
            fail_msg("connection %zu announcing a body it never sends: no 413 (%zu bytes back)", i,
                     got);
        assert_true(end != END_TIMEOUT); /* and the server closed it */
        if (now_seconds() - start > worst_answer)
            worst_answer = now_seconds() - start;
        close(fds[i]);
    }
    record("malformed input", "16 x Content-Length: 1e9, body never sent", 0,
           "413 + close each (all within %.3f s); normal client meanwhile %.3f s", worst_answer,
           worst_normal);
}

/* ---- 2. slowloris ---- */

enum loris_kind { LORIS_IDLE, LORIS_TRICKLE };

struct loris {
    int fd;
    enum loris_kind kind;
    double opened, last_byte, closed_after; /* closed_after < 0: still open */
};

static int loris_open(int port, struct loris *l, enum loris_kind kind)
{
    static const char partial[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";

    /* All 300 are reopened at about the same moment; on a loaded machine
     * the burst can outrun the accept queue, so one failed try is retried. */
    for (int attempt = 0;; attempt++) {
        l->fd = connect_from(port, NULL, 5000);
        if (l->fd >= 0 &&
            send_chunks(l->fd, partial, sizeof(partial) - 1, 0) == sizeof(partial) - 1)
            break;
        if (l->fd >= 0)
            close(l->fd);
        if (attempt == 1)
            return -1;
        sleep_ms(200);
    }
    fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK);
    l->kind = kind;
    l->opened = l->last_byte = now_seconds();
    l->closed_after = -1;
    return 0;
}

/* Whether the server closed l (EOF, reset, or any bytes: a 408). */
static bool loris_closed(struct loris *l)
{
    char buf[512];
    ssize_t n = recv(l->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return false;
    if (n > 0) {
        int status[1];
        buf[n] = '\0';
        /* only an error status may come back to a partial request */
        if (parse_responses(buf, (size_t)n, status, 1) == 1 && status[0] < 400)
            fail_msg("a partial request was answered %d", status[0]);
    }
    return true;
}

struct prober {
    int port;
    volatile bool stop;
    int requests, failures;
    double worst, total;
};

/* The normal client: /healthz and a ranking, one after the other, timed. */
static void *probe_normal_client(void *arg)
{
    struct prober *p = arg;

    while (!p->stop) {
        for (int i = 0; i < 2; i++) {
            struct http_response r;
            double start = now_seconds(), took;
            int rc = http_request(p->port, "GET", i == 0 ? "/healthz" : RECS_TARGET, &r);
            took = now_seconds() - start;
            if (rc != 0 || r.status != 200)
                p->failures++;
            http_response_free(&r);
            p->requests++;
            p->total += took;
            if (took > p->worst)
                p->worst = took;
        }
        sleep_ms(100);
    }
    return NULL;
}

#define LORIS_COUNT 300

/* 300 connections with half a request each, half of them idle and half
 * trickling a header byte every 0.5 s (libmicrohttpd's idle timeout alone
 * never closes those), kept up for 6 s: a normal client gets its answers in
 * well under a second all along, and the server closes every slow connection
 * about RECS_HEADER_TIMEOUT after it opened, trickling or not. */
static void test_slowloris(void **state)
{
    static const char *const env[] = {"RECS_CONNECTION_TIMEOUT=2", "RECS_HEADER_TIMEOUT=2",
                                      "RECS_HTTP_THREADS=4",       "RECS_MAX_CONNECTIONS=1000",
                                      "RECS_PER_IP_CONNECTIONS=0", NULL};
    static struct loris loris[LORIS_COUNT];
    struct server s;
    struct prober prober = {0};
    pthread_t thread;
    double start, worst_close[2] = {0, 0}, best_close[2] = {1e9, 1e9};
    int closed[2] = {0, 0}, reopened = 0;

    (void)state;
    assert_int_equal(server_start(&s, env), 0);
    for (int i = 0; i < LORIS_COUNT; i++)
        assert_int_equal(loris_open(s.port, &loris[i], i % 2 ? LORIS_TRICKLE : LORIS_IDLE), 0);
    prober.port = s.port;
    assert_int_equal(pthread_create(&thread, NULL, probe_normal_client, &prober), 0);

    /* keep the attack going for 6 s, reopening what the server closes */
    start = now_seconds();
    while (now_seconds() - start < 6.0) {
        double now = now_seconds();
        for (int i = 0; i < LORIS_COUNT; i++) {
            struct loris *l = &loris[i];
            if (l->kind == LORIS_TRICKLE && now - l->last_byte >= 0.5) {
                send(l->fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                l->last_byte = now;
            }
            if (loris_closed(l)) {
                double after = now - l->opened;
                closed[l->kind]++;
                if (after > worst_close[l->kind])
                    worst_close[l->kind] = after;
                if (after < best_close[l->kind])
                    best_close[l->kind] = after;
                close(l->fd);
                assert_int_equal(loris_open(s.port, l, l->kind), 0);
                reopened++;
            }
        }
        sleep_ms(50);
    }
    prober.stop = true;
    pthread_join(thread, NULL);
    for (int i = 0; i < LORIS_COUNT; i++)
        close(loris[i].fd);

    record("slowloris", "connections held open at once", 0, "%d (150 idle + 150 trickling)",
           LORIS_COUNT);
    record("slowloris", "normal client during the attack", 0,
           "%d requests, %d failed, mean %.1f ms, worst %.1f ms", prober.requests, prober.failures,
           prober.requests ? prober.total / prober.requests * 1000 : 0, prober.worst * 1000);
    for (int k = 0; k < 2; k++) {
        const char *name = k == LORIS_IDLE ? "idle connections closed by server"
                                           : "trickling connections closed by server";
        if (closed[k] == 0)
            record("slowloris", name, 0, "none in 6 s");
        else
            record("slowloris", name, 0, "%d, each %.2f..%.2f s after it opened", closed[k],
                   best_close[k], worst_close[k]);
    }
    record("slowloris", "slow connections reopened", 0, "%d (attack sustained 6 s)", reopened);

    assert_int_equal(prober.failures, 0);
    assert_true(prober.requests >= 10);
    assert_true(prober.worst < 1.0);
    /* every first-wave connection, idle or trickling, was closed by the
     * server after the timeout and not long after it */
    assert_true(closed[LORIS_IDLE] >= LORIS_COUNT / 2);
    assert_true(closed[LORIS_TRICKLE] >= LORIS_COUNT / 2);
    for (int k = 0; k < 2; k++) {
        assert_true(best_close[k] >= TIMEOUT_S - 0.5);
        assert_true(worst_close[k] <= TIMEOUT_S + 1.5);
    }
    assert_serving(&s);
    assert_int_equal(server_stop(&s, SIGTERM, 10), 0);
}

/* RECS_PER_IP_CONNECTIONS=20: the 21st connection from 127.0.0.1 is closed
 * unanswered, while a client from 127.0.0.2 is served; once the 20 close,
 * 127.0.0.1 is served again. */
static void test_per_ip_limit(void **state)
{
    static const char *const env[] = {"RECS_CONNECTION_TIMEOUT=5", "RECS_HTTP_THREADS=4",
                                      "RECS_PER_IP_CONNECTIONS=20", NULL};
    static const char request[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    struct server s;
    int held[20], fd, status[1];
    char buf[4096];
    size_t got;
    enum end end;
    double start, deadline;
    bool served = false;

    (void)state;
    assert_int_equal(server_start(&s, env), 0);
    sleep_ms(200); /* the start-up probe's connections are closed */
    for (int i = 0; i < 20; i++) {
        struct loris l;
        assert_int_equal(loris_open(s.port, &l, LORIS_IDLE), 0);
        held[i] = l.fd;
    }
    sleep_ms(200); /* all accepted */

    /* the 21st from the same address */
    start = now_seconds();
    fd = connect_from(s.port, "127.0.0.1", 2000);
    assert_true(fd >= 0); /* the kernel completes the handshake... */
    send_chunks(fd, request, sizeof(request) - 1, 0);
    end = read_all(fd, buf, sizeof(buf), &got, 2000); /* ...the server hangs up */
    close(fd);
    assert_true(end != END_TIMEOUT);
    assert_int_equal(parse_responses(buf, got, status, 1), 0);
    record("per-IP limit (20)", "21st connection from 127.0.0.1", 0, "closed unanswered in %.3f s",
           now_seconds() - start);

    /* another address is not affected */
    for (int i = 0; i < 3; i++) {
        struct outcome o;
        int c = connect_from(s.port, "127.0.0.2", 2000);
        assert_true(c >= 0);
        start = now_seconds();
        assert_int_equal(send_chunks(c, request, sizeof(request) - 1, 0), sizeof(request) - 1);
        memset(&o, 0, sizeof(o));
        o.raw = malloc(8192);
        o.end = read_all(c, o.raw, 8192, &o.received, 2000);
        close(c);
        assert_int_equal(parse_responses(o.raw, o.received, o.statuses, 1), 1);
        assert_int_equal(o.statuses[0], 200);
        if (i == 0)
            record("per-IP limit (20)", "client from 127.0.0.2 meanwhile", 0, "200 in %.3f s",
                   now_seconds() - start);
        free(o.raw);
    }

    for (int i = 0; i < 20; i++)
        close(held[i]);
    deadline = now_seconds() + 3;
    start = now_seconds();
    while (!served && now_seconds() < deadline) {
        struct http_response r;
        served = http_request(s.port, "GET", "/healthz", &r) == 0 && r.status == 200;
        http_response_free(&r);
        if (!served)
            sleep_ms(50);
    }
    assert_true(served);
    record("per-IP limit (20)", "127.0.0.1 after its 20 closed", 0, "200 after %.3f s",
           now_seconds() - start);
    assert_serving(&s);
    assert_int_equal(server_stop(&s, SIGTERM, 10), 0);
}

/* ---- 3. overload ---- */

struct timed_call {
    int port;
    int status;
    double seconds;
    bool retry_after, json_error;
};

/* Past RECS_MAX_CONNECTIONS, a new connection's request gets 503 with
 * Retry-After at once and the connection is closed; /healthz still answers;
 * once the held connections close, requests are served again. */
static void test_connection_cap_answers_503(void **state)
{
    static const char *const env[] = {"RECS_CONNECTION_TIMEOUT=5", "RECS_HTTP_THREADS=2",
                                      "RECS_MAX_CONNECTIONS=8", NULL};
    static const char request[] = "GET /products/linen-summer-shirt/recommendations HTTP/1.1\r\n"
                                  "Host: x\r\n\r\n";
    struct server s;
    struct http_response r;
    int held[8], fd, status[2];
    char buf[8192];
    size_t got;
    double start, took;

    (void)state;
    assert_int_equal(server_start(&s, env), 0);
    sleep_ms(200); /* the start-up probe's connections are closed */
    for (int i = 0; i < 8; i++) {
        struct loris l;
        assert_int_equal(loris_open(s.port, &l, LORIS_IDLE), 0);
        held[i] = l.fd;
    }
    sleep_ms(200); /* all accepted */

    start = now_seconds();
    fd = connect_from(s.port, NULL, 2000);
    assert_true(fd >= 0);
    send_chunks(fd, request, sizeof(request) - 1, 0);
    assert_int_equal(read_all(fd, buf, sizeof(buf), &got, 2000), END_CLOSED);
    took = now_seconds() - start;
    close(fd);
    assert_int_equal(parse_responses(buf, got, status, 2), 1);
    assert_int_equal(status[0], 503);
    assert_non_null(strstr(buf, "Retry-After: 1"));
    assert_non_null(strstr(buf, "too many connections"));
    assert_true(took < 0.5);
    record("connection cap (8)", "9th connection", sizeof(request) - 1,
           "503 with Retry-After, closed, in %.3f s", took);

    /* liveness is never refused */
    assert_int_equal(http_request(s.port, "GET", "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    http_response_free(&r);

    for (int i = 0; i < 8; i++)
        close(held[i]);
    sleep_ms(200);
    assert_int_equal(
        http_request(s.port, "GET", "/products/linen-summer-shirt/recommendations", &r), 0);
    assert_int_equal(r.status, 200);
    http_response_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM, 10), 0);
}

static void *timed_recommendations(void *arg)
{
    struct timed_call *call = arg;
    struct http_response r;
    double start = now_seconds();
    char value[32];

    call->status = -1;
    if (http_request(call->port, "GET", RECS_TARGET, &r) == 0) {
        json_t *body = http_json(&r);
        call->status = r.status;
        call->retry_after = http_header(&r, "Retry-After", value, sizeof(value)) != NULL;
        call->json_error = body != NULL && json_is_string(json_object_get(body, "error"));
        json_decref(body);
    }
    call->seconds = now_seconds() - start;
    http_response_free(&r);
    return NULL;
}

/* The value of a metric without labels, or -1. */
static double metric(int port, const char *name)
{
    struct http_response r;
    double value = -1;

    if (http_request(port, "GET", "/metrics", &r) == 0 && r.status == 200) {
        for (const char *line = r.body; line != NULL && *line != '\0';) {
            size_t len = strlen(name);
            if (strncmp(line, name, len) == 0 && line[len] == ' ')
                value = strtod(line + len + 1, NULL);
            line = strchr(line, '\n');
            if (line != NULL)
                line++;
        }
    }
    http_response_free(&r);
    return value;
}

#define EXTRA_CALLS 12

/* RECS_MAX_INFLIGHT=2 with 6 HTTP workers: two requests wait on a locked
 * table; every further recommendation request gets 503 + Retry-After + a
 * JSON error at once (while the lock is still held), /healthz still answers;
 * once the lock is released the two waiting requests get 200 and the
 * service answers normally again. */
static void test_overload_sheds_with_503(void **state)
{
    static const char *const env[] = {"RECS_HTTP_THREADS=6", "RECS_MAX_INFLIGHT=2",
                                      "RECS_STATEMENT_TIMEOUT_MS=30000",
                                      "RECS_CONNECTION_TIMEOUT=10", NULL};
    struct server s;
    struct timed_call held[2], extra[EXTRA_CALLS];
    pthread_t held_threads[2], extra_threads[EXTRA_CALLS];
    PGconn *locker = db_connect();
    double deadline, worst = 0, total = 0, health;
    struct http_response r;

    (void)state;
    assert_non_null(locker);
    assert_int_equal(server_start(&s, env), 0);
    assert_serving(&s); /* warm */
    assert_int_equal(db_exec(locker, "BEGIN"), 0);
    assert_int_equal(db_exec(locker, "LOCK TABLE products, recs_catalog_version IN ACCESS "
                                     "EXCLUSIVE MODE"),
                     0);
    for (int i = 0; i < 2; i++) {
        held[i].port = s.port;
        assert_int_equal(pthread_create(&held_threads[i], NULL, timed_recommendations, &held[i]),
                         0);
        sleep_ms(50);
    }
    /* both wait on the lock, in flight */
    deadline = now_seconds() + 5;
    while (metric(s.port, "recs_inflight_requests") < 2 && now_seconds() < deadline)
        sleep_ms(20);
    assert_true(metric(s.port, "recs_inflight_requests") >= 2);

    for (int i = 0; i < EXTRA_CALLS; i++) {
        extra[i].port = s.port;
        assert_int_equal(pthread_create(&extra_threads[i], NULL, timed_recommendations, &extra[i]),
                         0);
    }
    for (int i = 0; i < EXTRA_CALLS; i++)
        pthread_join(extra_threads[i], NULL);
    health = now_seconds();
    assert_int_equal(http_request(s.port, "GET", "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    http_response_free(&r);
    health = now_seconds() - health;
    /* the two held requests are still waiting: the 503s came before the release */
    assert_true(metric(s.port, "recs_inflight_requests") >= 2);
    for (int i = 0; i < EXTRA_CALLS; i++) {
        if (extra[i].status != 503)
            fail_msg("extra request %d answered %d, expected 503", i, extra[i].status);
        assert_true(extra[i].retry_after);
        assert_true(extra[i].json_error);
        total += extra[i].seconds;
        if (extra[i].seconds > worst)
            worst = extra[i].seconds;
    }
    assert_true(worst < 0.5);

    assert_int_equal(db_exec(locker, "COMMIT"), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(held_threads[i], NULL);
        assert_int_equal(held[i].status, 200);
    }
    record("overload", "limit", 0, "RECS_MAX_INFLIGHT=2, 6 HTTP workers, 2 requests on a lock");
    record("overload", "12 concurrent extra requests", 0,
           "12 x 503 + Retry-After + JSON, mean %.1f ms, worst %.1f ms", total / EXTRA_CALLS * 1000,
           worst * 1000);
    record("overload", "/healthz while overloaded", 0, "200 in %.1f ms", health * 1000);
    record("overload", "the 2 held requests", 0, "200 after the lock (%.2f s, %.2f s)",
           held[0].seconds, held[1].seconds);
    for (int i = 0; i < 10; i++)
        assert_serving(&s);
    assert_true(metric(s.port, "recs_overload_rejections_total") >= EXTRA_CALLS);
    record("overload", "after the release", 0, "10 x (healthz, ranking) all 200");
    assert_int_equal(server_stop(&s, SIGTERM, 10), 0);
    PQfinish(locker);
}

/* On a kept-alive connection the header deadline starts with the first
 * byte the server reads of the next request: with the only HTTP worker busy
 * for 2.5 s (a request waiting on a locked table), a keep-alive client whose
 * next request waits unread meanwhile is answered once the worker is free,
 * although RECS_HEADER_TIMEOUT (2 s) is shorter than the wait, when that is
 * within RECS_CONNECTION_TIMEOUT (4 s). (Beyond it, libmicrohttpd 0.9.75
 * itself closes such a connection unanswered: handlers run on the worker.) */
static void test_busy_worker_does_not_cut_waiting_clients(void **state)
{
    static const char *const env[] = {"RECS_HTTP_THREADS=1", "RECS_CONNECTION_TIMEOUT=4",
                                      "RECS_HEADER_TIMEOUT=2", "RECS_STATEMENT_TIMEOUT_MS=30000",
                                      NULL};
    static const char first[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char second[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    struct server s;
    struct timed_call held = {0};
    pthread_t thread;
    PGconn *locker = db_connect();
    char buf[8192];
    size_t got = 0;
    int status[2], fd;
    double start;

    (void)state;
    assert_non_null(locker);
    assert_int_equal(server_start(&s, env), 0);
    assert_serving(&s); /* warm */
    fd = connect_from(s.port, NULL, 10000);
    assert_true(fd >= 0);
    /* a first request on a keep-alive connection */
    assert_int_equal(send_chunks(fd, first, sizeof(first) - 1, 0), sizeof(first) - 1);
    while (parse_responses(buf, got, status, 1) == 0) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
        buf[got] = '\0';
    }
    assert_int_equal(status[0], 200);

    /* the only worker waits on the lock for 2.5 s */
    assert_int_equal(db_exec(locker, "BEGIN"), 0);
    assert_int_equal(db_exec(locker, "LOCK TABLE products, recs_catalog_version IN ACCESS "
                                     "EXCLUSIVE MODE"),
                     0);
    held.port = s.port;
    assert_int_equal(pthread_create(&thread, NULL, timed_recommendations, &held), 0);
    sleep_ms(300);
    start = now_seconds();
    assert_int_equal(send_chunks(fd, second, sizeof(second) - 1, 0), sizeof(second) - 1);
    sleep_ms(2200);
    assert_int_equal(db_exec(locker, "COMMIT"), 0);
    pthread_join(thread, NULL);
    assert_int_equal(held.status, 200);
    read_all(fd, buf, sizeof(buf), &got, 5000);
    close(fd);
    if (parse_responses(buf, got, status, 2) != 1 || status[0] != 200)
        fail_msg("the request that waited for the busy worker was not answered 200");
    record("busy worker", "keep-alive request behind a worker busy 2.5 s", 0, "200 after %.2f s",
           now_seconds() - start);
    assert_int_equal(server_stop(&s, SIGTERM, 10), 0);
    PQfinish(locker);
}

/* A slow reader: 1,000 pipelined /metrics requests (about 10 KiB each) on a
 * connection whose receive buffer is small, read at 4 KiB/s. The kernel's
 * send buffer (up to 4 MiB) takes the first few hundred responses; the next
 * one waits on the reader, and each read lets the server send a little,
 * which keeps libmicrohttpd's idle timer (30 s here) from ever firing: the
 * stream would last 40 minutes (with RECS_SEND_TIMEOUT=60 it was still open
 * after 20 s). With RECS_SEND_TIMEOUT=1 the response that waits is cut and
 * the connection closed within seconds. */
static void test_slow_reader_is_cut(void **state)
{
    static const char *const env[] = {"RECS_CONNECTION_TIMEOUT=30", "RECS_SEND_TIMEOUT=1", NULL};
    static const char request[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    struct sockaddr_in addr = {.sin_family = AF_INET};
    struct server s;
    char *pipeline, buf[1024];
    size_t n = 1000 * (sizeof(request) - 1), received = 0;
    int fd, small = 4096;
    double start, took;
    bool ended = false;

    (void)state;
    assert_int_equal(server_start(&s, env), 0);
    pipeline = malloc(n);
    assert_non_null(pipeline);
    for (size_t i = 0; i < 1000; i++)
        memcpy(pipeline + i * (sizeof(request) - 1), request, sizeof(request) - 1);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    addr.sin_port = htons((uint16_t)s.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(send_chunks(fd, pipeline, n, 0), n);
    start = now_seconds();
    while (!ended && now_seconds() - start < 20) {
        ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            ended = true;
        else if (got > 0)
            received += (size_t)got;
        sleep_ms(250);
    }
    took = now_seconds() - start;
    close(fd);
    free(pipeline);
    record("slow reader", "1,000 x /metrics pipelined, read at 4 KiB/s", n,
           "%s after %.1f s, %zu bytes read (RECS_SEND_TIMEOUT=1)",
           ended ? "closed by the server" : "still open", took, received);
    assert_true(ended);
    assert_true(took < 12);
    assert_serving(&s);
    assert_int_equal(server_stop(&s, SIGTERM, 10), 0);
}

/* ---- 4. memory per connection ---- */

/* Headers beyond the 64 KiB a connection may use get 431 (or 413/414, or a
 * closed connection); 8 KiB of headers is still fine; 50 such requests at
 * once do not hurt. */
static void test_memory_per_connection(void **state)
{
    static const struct {
        const char *name;
        size_t headers, size;
        bool fits;
    } cases[] = {
        {"1 header of 8 KiB", 1, 8192, true},
        {"1 header of 70 KiB", 1, 70 * 1024, false},
        {"100 headers of 700 B", 100, 700, false},
        {"1 header of 1 MiB", 1, 1 << 20, false},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t cap = cases[i].headers * (cases[i].size + 32) + 256, n = 0;
        char *req = malloc(cap), text[96];
        struct outcome o;

        assert_non_null(req);
        n += (size_t)snprintf(req + n, cap - n, "GET /healthz HTTP/1.1\r\n");
        for (size_t h = 0; h < cases[i].headers; h++) {
            n += (size_t)snprintf(req + n, cap - n, "X-Big-%zu: ", h);
            memset(req + n, 'v', cases[i].size);
            n += cases[i].size;
            n += (size_t)snprintf(req + n, cap - n, "\r\n");
        }
        n += (size_t)snprintf(req + n, cap - n, "%s", END);
        exchange(server.port, req, n, 16384, (TIMEOUT_S + 3) * 1000, &o);
        outcome_text(&o, text, sizeof(text));
        record("memory per conn.", cases[i].name, n, "%s", text);
        assert_true(o.end != END_TIMEOUT);
        if (cases[i].fits) {
            check_case(cases[i].name, EXPECT_OK, NULL, &o);
        } else {
            check_case(cases[i].name, EXPECT_4XX, NULL, &o);
            if (o.count == 1 && o.statuses[0] != 431 && o.statuses[0] != 413 &&
                o.statuses[0] != 414)
                fail_msg("%s: answered %d", cases[i].name, o.statuses[0]);
        }
        free(o.raw);
        free(req);
        assert_serving(&server);
    }

    /* 50 connections, each with 60 KiB of headers pending, at once */
    {
        enum { N = 50 };
        int fds[N], answered = 0;
        size_t len = 60 * 1024;
        char *half = malloc(len + 64);
        double start = now_seconds();

        assert_non_null(half);
        memcpy(half, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", 40);
        memset(half + 40, 'v', len - 40);
        for (int i = 0; i < N; i++) {
            fds[i] = connect_from(server.port, NULL, 5000);
            assert_true(fds[i] >= 0);
            send_chunks(fds[i], half, len, 16384);
        }
        assert_serving(&server);
        for (int i = 0; i < N; i++) {
            char buf[4096];
            size_t got;
            int status[1];
            send_chunks(fds[i], half, 16384, 0); /* past the limit now */
            read_all(fds[i], buf, sizeof(buf), &got, (TIMEOUT_S + 3) * 1000);
            if (parse_responses(buf, got, status, 1) == 1) {
                assert_true(status[0] >= 400 && status[0] < 500);
                answered++;
            }
            close(fds[i]);
        }
        free(half);
        record("memory per conn.", "50 connections x 76 KiB headers at once", N * (len + 16384),
               "%d answered 431, the rest closed; %.2f s", answered, now_seconds() - start);
        assert_serving(&server);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_requests),
        cmocka_unit_test(test_nul_in_header_value_is_refused),
        cmocka_unit_test(test_forbidden_bytes),
        cmocka_unit_test(test_unsent_bodies_do_not_stall_workers),
        cmocka_unit_test(test_memory_per_connection),
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_per_ip_limit),
        cmocka_unit_test(test_connection_cap_answers_503),
        cmocka_unit_test(test_overload_sheds_with_503),
        cmocka_unit_test(test_busy_worker_does_not_cut_waiting_clients),
        cmocka_unit_test(test_slow_reader_is_cut),
    };
    signal(SIGPIPE, SIG_IGN);
    select_tests_from_env();
    return cmocka_run_group_tests_name("hostile clients", tests, setup_suite, teardown_suite);
}
