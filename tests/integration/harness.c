/*
 * harness.c - process, socket and database helpers for the integration tests.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka.h needs these three first */
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void sleep_ms(int ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

int free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int connect_to(int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval timeout = {.tv_sec = 20};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int why = errno;
        /* A signal interrupted the wait, not the connection: it goes on,
         * so wait for it to finish (up to the same 20 s). */
        if (why == EINTR) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            socklen_t len = sizeof(why);
            int ready;
            while ((ready = poll(&p, 1, 20000)) < 0 && errno == EINTR)
                ;
            why = ETIMEDOUT;
            if (ready == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &why, &len) == 0 && why == 0)
                return fd;
        }
        close(fd);
        errno = why;
        return -1;
    }
    return fd;
}

static void parse_response(char *raw, size_t len, struct http_response *out)
{
    char *end = strstr(raw, "\r\n\r\n");
    size_t head_len;

    if (end == NULL || sscanf(raw, "HTTP/1.%*d %d", &out->status) != 1) {
        out->status = 0;
        return;
    }
    head_len = (size_t)(end - raw) + 2;
    if (head_len >= sizeof(out->headers))
        head_len = sizeof(out->headers) - 1;
    memcpy(out->headers, raw, head_len);
    out->headers[head_len] = '\0';
    out->body_len = len - (size_t)(end + 4 - raw);
    memmove(raw, end + 4, out->body_len);
    raw[out->body_len] = '\0';
}

int http_raw(int port, const char *request, size_t len, struct http_response *out)
{
    size_t cap = 65536, got = 0;
    char *buf = malloc(cap);
    int fd = connect_to(port);

    memset(out, 0, sizeof(*out));
    out->connect_errno = fd < 0 ? errno : 0;
    if (fd < 0 || buf == NULL) {
        free(buf);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* A signal interrupting send or recv is no answer from the server:
     * both go on, as connect_to's wait does. */
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, request + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the server may answer and close before reading it all */
        off += (size_t)n;
    }
    for (;;) {
        ssize_t n;
        if (got + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL)
                break;
            buf = bigger;
            cap *= 2;
        }
        n = recv(fd, buf + got, cap - got - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    parse_response(buf, got, out);
    out->body = buf;
    return 0;
}

int http_request(int port, const char *method, const char *target, struct http_response *out)
{
    char request[70000];
    int n =
        snprintf(request, sizeof(request),
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", method, target);
    if (n < 0 || (size_t)n >= sizeof(request))
        return -1;
    return http_raw(port, request, (size_t)n, out);
}

int http_get_body(int port, const char *target, char **body)
{
    struct http_response r;
    int status;

    *body = NULL;
    if (http_request(port, "GET", target, &r) != 0)
        return -1;
    status = r.status;
    *body = r.body;
    r.body = NULL;
    http_response_free(&r);
    return status;
}

const char *http_header(const struct http_response *r, const char *name, char *buf, size_t len)
{
    size_t nlen = strlen(name);

    for (const char *line = strstr(r->headers, "\r\n"); line != NULL;
         line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, nlen) == 0 && h[nlen] == ':') {
            const char *v = h + nlen + 1, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(buf, len, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
            return buf;
        }
    }
    return NULL;
}

void http_response_free(struct http_response *r)
{
    free(r->body);
    r->body = NULL;
}

json_t *http_json(const struct http_response *r)
{
    return r->body ? json_loads(r->body, 0, NULL) : NULL;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : fallback;
}

const char *db_url(void)
{
    static char url[1024];
    char path[600], line[1000];
    FILE *f;

    if (url[0] != '\0')
        return url;
    snprintf(path, sizeof(path), "%s/env", env_or("RECS_TEST_PGDIR", "."));
    f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "DATABASE_URL='", 14) == 0) {
            snprintf(url, sizeof(url), "%s", line + 14);
            url[strcspn(url, "'")] = '\0';
        }
    }
    if (f != NULL)
        fclose(f);
    return url;
}

PGconn *db_connect(void)
{
    PGconn *pg = PQconnectdb(db_url());
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "db_connect: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

int db_exec(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;

    if (rc != 0)
        fprintf(stderr, "db_exec: %s: %s", sql, PQerrorMessage(pg));
    PQclear(res);
    return rc;
}

int pg_control(const char *command)
{
    char cmd[1200];
    int rc;

    snprintf(cmd, sizeof(cmd), "'%s' %s '%s'", env_or("RECS_TEST_PGCTL", "scripts/pg.sh"), command,
             env_or("RECS_TEST_PGDIR", "."));
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int pg_control_arg(const char *command, const char *arg)
{
    char cmd[1300];
    int rc;

    snprintf(cmd, sizeof(cmd), "'%s' %s '%s' '%s'", env_or("RECS_TEST_PGCTL", "scripts/pg.sh"),
             command, env_or("RECS_TEST_PGDIR", "."), arg);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int pg_kill_postmaster(void)
{
    char path[600];
    FILE *f;
    long pid = 0;

    snprintf(path, sizeof(path), "%s/data/postmaster.pid", env_or("RECS_TEST_PGDIR", "."));
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return pid > 1 && kill((pid_t)pid, SIGKILL) == 0 ? 0 : -1;
}

PGconn *db_connect_dbname(const char *dbname)
{
    char conninfo[1200];
    PGconn *pg;

    /* a later keyword wins over an earlier one in a key=value string */
    snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", db_url(), dbname);
    pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "db_connect_dbname: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

int http_metric(int port, const char *series, double *value)
{
    struct http_response r;
    size_t len = strlen(series);
    int rc = -1;

    if (http_request(port, "GET", "/metrics", &r) != 0)
        return -1;
    for (const char *line = r.status == 200 ? r.body : NULL; line != NULL && *line != '\0';) {
        if (strncmp(line, series, len) == 0 && line[len] == ' ') {
            *value = strtod(line + len + 1, NULL);
            rc = 0;
            break;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    http_response_free(&r);
    return rc;
}

/* The path of an SQL file of the project (see db_exec_file). */
static void sql_path(const char *name, char *out, size_t len)
{
    const char *v = getenv("RECS_TEST_VECTORS");
    struct stat st;

    snprintf(out, len, "sql/%s", name);
    if (stat(out, &st) == 0 || v == NULL)
        return;
    snprintf(out, len, "%.*s../../sql/%s", (int)(strrchr(v, '/') ? strrchr(v, '/') - v + 1 : 0), v,
             name);
}

int db_exec_file(PGconn *pg, const char *name)
{
    char path[1024], *sql = NULL;
    FILE *f;
    long size;
    int rc = -1;

    sql_path(name, path, sizeof(path));
    f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    sql = calloc(1, (size_t)size + 1);
    if (sql == NULL || fread(sql, 1, (size_t)size, f) != (size_t)size)
        goto out;
    rc = db_exec(pg, sql);
out:
    free(sql);
    fclose(f);
    return rc;
}

int load_vectors_catalog(PGconn *pg, json_t *vectors)
{
    json_t *catalog = json_object_get(vectors, "catalog"), *item;
    size_t i;

    if (db_exec(pg, "BEGIN") != 0 ||
        db_exec(pg, "TRUNCATE products, categories RESTART IDENTITY CASCADE") != 0)
        return -1;
    json_array_foreach(catalog, i, item)
    {
        const char *category = json_string_value(json_object_get(item, "category"));
        char id[32], price[32];
        const char *params[6];
        PGresult *res;

        if (category != NULL) {
            const char *cp[1] = {category};
            res = PQexecParams(pg,
                               "INSERT INTO categories (slug, name) VALUES ($1, $1) "
                               "ON CONFLICT (slug) DO NOTHING",
                               1, NULL, cp, NULL, NULL, 0);
            PQclear(res);
        }
        snprintf(id, sizeof(id), "%lld",
                 (long long)json_integer_value(json_object_get(item, "id")));
        snprintf(price, sizeof(price), "%lld",
                 (long long)json_integer_value(json_object_get(item, "price_cents")));
        params[0] = id;
        params[1] = json_string_value(json_object_get(item, "slug"));
        params[2] = json_string_value(json_object_get(item, "title"));
        params[3] = json_string_value(json_object_get(item, "description"));
        params[4] = price;
        params[5] = category;
        res = PQexecParams(pg,
                           "INSERT INTO products (id, slug, title, description, price_cents, "
                           "category_id) VALUES ($1, $2, $3, $4, $5, "
                           "(SELECT id FROM categories WHERE slug = $6))",
                           6, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            fprintf(stderr, "load_vectors_catalog: %s", PQerrorMessage(pg));
            PQclear(res);
            db_exec(pg, "ROLLBACK");
            return -1;
        }
        PQclear(res);
    }
    if (db_exec(pg, "SELECT setval('products_id_seq', (SELECT max(id) FROM products))") != 0)
        return -1;
    return db_exec(pg, "COMMIT");
}

const char *server_binary(void)
{
    return env_or("RECS_BIN", "build/recs");
}

int server_start(struct server *s, const char *const *env)
{
    static int serial;
    const char *bin = server_binary();
    char port_env[32], url_env[1100], cache_env[64];
    double deadline;

    s->port = free_port();
    s->exited = false;
    snprintf(s->log_path, sizeof(s->log_path), "%s/server-%d-%d.log",
             env_or("RECS_TEST_PGDIR", "/tmp"), (int)getpid(), ++serial);
    snprintf(port_env, sizeof(port_env), "PORT=%d", s->port);
    snprintf(url_env, sizeof(url_env), "DATABASE_URL=%s", db_url());
    snprintf(cache_env, sizeof(cache_env), "RECS_CACHE=%s", env_or("RECS_TEST_CACHE", "on"));
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        int fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        putenv(port_env);
        putenv(url_env);
        putenv(cache_env);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)env[i]);
        execl(bin, bin, (char *)NULL);
        _exit(127);
    }
    deadline = now_seconds() + 15;
    while (now_seconds() < deadline) {
        struct http_response r;
        int status = 0;
        if (http_request(s->port, "GET", "/healthz", &r) == 0)
            status = r.status;
        http_response_free(&r);
        if (status == 200)
            return 0;
        int wstatus;
        if (waitpid(s->pid, &wstatus, WNOHANG) == s->pid) {
            s->exited = true;
            s->exit_status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
            return -1;
        }
        sleep_ms(20);
    }
    return -1;
}

int server_stop(struct server *s, int sig, int timeout_s)
{
    double deadline = now_seconds() + timeout_s;
    int status;

    if (s->exited)
        return s->exit_status;
    kill(s->pid, sig);
    while (now_seconds() < deadline) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        sleep_ms(10);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    return -1;
}

void server_print_log_tail(const struct server *s)
{
    FILE *f = fopen(s->log_path, "r");
    char tail[4096];
    size_t n;

    if (f == NULL)
        return;
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long)sizeof(tail))
        fseek(f, -(long)sizeof(tail), SEEK_END);
    else
        fseek(f, 0, SEEK_SET);
    n = fread(tail, 1, sizeof(tail), f);
    fclose(f);
    printf("---- last %zu bytes of the server log (%s)\n%.*s\n----\n", n, s->log_path, (int)n,
           tail);
}

void select_tests_from_env(void)
{
    const char *only = getenv("RECS_TEST_ONLY");

    if (only != NULL && only[0] != '\0')
        cmocka_set_test_filter(only);
}

bool server_log_contains(const struct server *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "r");
    char line[8192];
    bool found = false;

    while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    if (f != NULL)
        fclose(f);
    return found;
}

int fixture_open(json_t **vectors, PGconn **pg)
{
    *vectors = json_load_file(getenv("RECS_TEST_VECTORS"), 0, NULL);
    *pg = db_connect();
    if (*vectors == NULL || *pg == NULL || load_vectors_catalog(*pg, *vectors) != 0)
        return -1;
    return 0;
}

void fixture_close(json_t *vectors, PGconn *pg, struct server *server)
{
    if (server != NULL && server->pid > 0)
        server_stop(server, SIGTERM, 10);
    PQfinish(pg);
    json_decref(vectors);
}
