/*
 * harness.h - what the integration tests need around the real server: a
 * PostgreSQL connection for changing the catalog, the server process started
 * and stopped with its own environment, and a minimal HTTP/1.1 client over a
 * plain socket (so that tests control every byte they send).
 */
#ifndef RECS_TEST_HARNESS_H
#define RECS_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>
#include <libpq-fe.h>

struct http_response {
    int status; /* 0 when no response could be read */
    char headers[8192];
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
    int connect_errno; /* why the connection failed, when http_raw returned -1 */
};

/* Sends raw bytes to 127.0.0.1:port and reads the whole response (the
 * request should ask for Connection: close). Returns 0, or -1 when the
 * connection failed. */
int http_raw(int port, const char *request, size_t len, struct http_response *out);
/* A request with the given method and target, Connection: close. */
int http_request(int port, const char *method, const char *target, struct http_response *out);
/* GET target: returns the status (-1 when the connection failed) and hands
 * over the body in *body (caller frees; NULL when there is none). */
int http_get_body(int port, const char *target, char **body);
/* The value of header name (case-insensitive) copied into buf, or NULL. */
const char *http_header(const struct http_response *r, const char *name, char *buf, size_t len);
void http_response_free(struct http_response *r);
/* The body parsed as JSON (caller decrefs), or NULL. */
json_t *http_json(const struct http_response *r);

struct server {
    pid_t pid;
    int port;
    bool exited; /* reaped while starting */
    int exit_status;
    char log_path[512];
};

/* The server binary under test: $RECS_BIN, or build/recs. */
const char *server_binary(void);

/* Starts the binary in $RECS_BIN with env (NULL-terminated "K=V" strings)
 * added to DATABASE_URL, PORT and RECS_CACHE; waits until /healthz answers.
 * Returns 0, or -1 if it did not come up within 15 s. */
int server_start(struct server *s, const char *const *env);
/* Sends sig and waits up to timeout_s for the exit; returns the exit status,
 * or -1 if it had to be killed or died of a signal. */
int server_stop(struct server *s, int sig, int timeout_s);
/* Whether the server's log (stdout and stderr) contains needle. */
bool server_log_contains(const struct server *s, const char *needle);
/* Prints the last lines (up to 4 KiB) of the server's log to stdout, so that
 * a failure seen only in CI explains itself. */
void server_print_log_tail(const struct server *s);

/* RECS_TEST_ONLY=pattern runs only the tests whose names match it (cmocka's
 * filter, '*' and '?' wildcards); call before running the group. */
void select_tests_from_env(void);

/* A free TCP port on 127.0.0.1. */
int free_port(void);

/* libpq connection to the test database ($DATABASE_URL from the cluster's env file). */
PGconn *db_connect(void);
/* Runs SQL, returns 0 if it succeeded. */
int db_exec(PGconn *pg, const char *sql);
const char *db_url(void);
/* Runs the project's SQL file sql/<name> (found under the working
 * directory, or beside tests/fixtures from RECS_TEST_VECTORS); returns 0
 * if it succeeded. */
int db_exec_file(PGconn *pg, const char *name);

/* Runs "$RECS_TEST_PGCTL <command> $RECS_TEST_PGDIR"; returns its exit status. */
int pg_control(const char *command);
/* The same with one more argument after the directory, e.g.
 * pg_control_arg("stop", "immediate"). */
int pg_control_arg(const char *command, const char *arg);
/* SIGKILL to the cluster's postmaster (its pid is the first line of
 * $RECS_TEST_PGDIR/data/postmaster.pid): a crash, not a shutdown. Its
 * backends linger until they notice; pg_control("restart") copes with
 * that. Returns 0, or -1 when there was no postmaster to kill. */
int pg_kill_postmaster(void);
/* libpq connection to another database of the test cluster: the test
 * database's conninfo with dbname replaced. NULL on failure. */
PGconn *db_connect_dbname(const char *dbname);

/* The value of one series of the server's /metrics, given as it appears
 * before the value (e.g. "recs_db_pool_connections{state=\"in_use\"}").
 * Returns 0, or -1 when /metrics did not answer 200 or lacks the series. */
int http_metric(int port, const char *series, double *value);

/* Replaces the catalog with the vectors.json catalog (explicit ids). */
int load_vectors_catalog(PGconn *pg, json_t *vectors);

/* The fixture every suite starts from: the spec's vectors
 * ($RECS_TEST_VECTORS) and a connection to the test database holding the
 * vectors catalog. Returns 0, or -1. */
int fixture_open(json_t **vectors, PGconn **pg);
/* Stops server (when given and started), closes pg, frees vectors. */
void fixture_close(json_t *vectors, PGconn *pg, struct server *server);

double now_seconds(void);
void sleep_ms(int ms);

#endif
