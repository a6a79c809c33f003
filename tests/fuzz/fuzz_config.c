/*
 * fuzz_config.c - libFuzzer harness for configuration parsing and password
 * redaction.
 *
 * Byte 0, bit 0 picks the mode:
 *   0: redaction. Byte 1 sizes the output buffer; the rest (up to a NUL) is
 *      a DATABASE_URL. libpq itself (PQconninfoParse) says what the password
 *      is; the redacted text must not contain it.
 *   1: recs_config_load. Byte 1 sizes errbuf, byte 2 is the core count for
 *      recs_config_resolve; then NUL-separated fields: a field whose first
 *      byte is 1..NENV sets that environment variable to the rest, any other
 *      field is the next argv element. The result is checked against a
 *      reference of the documented rules (default < environment < flag, each
 *      value within its bounds), the error message is one line naming the
 *      setting and never shows a password, and the config log line is JSON
 *      with the password redacted.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "config.h"

#include "check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the documented settings (README.md's table) ---- */

enum kind { CONNINFO, ADDRESS, UINT, BOOL, KERNEL, TEXT, BYTES };

struct setting {
    const char *name, *env, *flag;
    enum kind kind;
    size_t offset, size;
    uint32_t min, max;
    const char *def;
};

#define FIELD(f) offsetof(struct recs_config, f), sizeof(((struct recs_config *)0)->f)

static const struct setting settings[] = {
    {"database_url", "DATABASE_URL", "--database-url", CONNINFO, FIELD(database_url), 0, 0,
     "postgresql:///shop"},
    {"listen_address", "RECS_LISTEN_ADDRESS", "--listen-address", ADDRESS, FIELD(listen_address), 0,
     0, ""},
    {"port", "PORT", "--port", UINT, FIELD(port), 1, 65535, "8080"},
    {"http_threads", "RECS_HTTP_THREADS", "--http-threads", UINT, FIELD(http_threads), 0, 256, "0"},
    {"score_threads", "RECS_SCORE_THREADS", "--score-threads", UINT, FIELD(score_threads), 0, 256,
     "0"},
    {"k", "RECS_K", "--k", UINT, FIELD(k), 1, 8192, "1500"},
    {"kernel", "RECS_KERNEL", "--kernel", KERNEL, FIELD(kernel), 0, 0, "auto"},
    {"cache", "RECS_CACHE", "--cache", BOOL, FIELD(cache), 0, 0, "on"},
    {"db_pool_size", "RECS_DB_POOL_SIZE", "--db-pool-size", UINT, FIELD(db_pool_size), 0, 256, "0"},
    {"db_connect_timeout_s", "RECS_DB_CONNECT_TIMEOUT", "--db-connect-timeout", UINT,
     FIELD(db_connect_timeout_s), 1, 60, "2"},
    {"statement_timeout_ms", "RECS_STATEMENT_TIMEOUT_MS", "--statement-timeout-ms", UINT,
     FIELD(statement_timeout_ms), 10, 600000, "2000"},
    {"db_acquire_timeout_ms", "RECS_DB_ACQUIRE_TIMEOUT_MS", "--db-acquire-timeout-ms", UINT,
     FIELD(db_acquire_timeout_ms), 1, 60000, "1000"},
    {"max_connections", "RECS_MAX_CONNECTIONS", "--max-connections", UINT, FIELD(max_connections),
     1, 100000, "10000"},
    {"per_ip_connections", "RECS_PER_IP_CONNECTIONS", "--per-ip-connections", UINT,
     FIELD(per_ip_connections), 0, 100000, "0"},
    {"connection_timeout_s", "RECS_CONNECTION_TIMEOUT", "--connection-timeout", UINT,
     FIELD(connection_timeout_s), 1, 3600, "10"},
    {"header_timeout_s", "RECS_HEADER_TIMEOUT", "--header-timeout", UINT, FIELD(header_timeout_s),
     1, 3600, "5"},
    {"send_timeout_s", "RECS_SEND_TIMEOUT", "--send-timeout", UINT, FIELD(send_timeout_s), 1,
     3600, "10"},
    {"max_inflight", "RECS_MAX_INFLIGHT", "--max-inflight", UINT, FIELD(max_inflight), 1, 10000,
     "64"},
    {"answer_cache", "RECS_ANSWER_CACHE", "--answer-cache", UINT, FIELD(answer_cache), 0, 65536,
     "1024"},
    {"shutdown_timeout_s", "RECS_SHUTDOWN_TIMEOUT", "--shutdown-timeout", UINT,
     FIELD(shutdown_timeout_s), 1, 3600, "10"},
    {"access_log", "RECS_ACCESS_LOG", "--access-log", BOOL, FIELD(access_log), 0, 0, "on"},
    {"cache_control", "RECS_CACHE_CONTROL", "--cache-control", TEXT, FIELD(cache_control), 0, 0,
     "no-cache"},
    {"cors_origins", "RECS_CORS_ORIGINS", "--cors-origins", TEXT, FIELD(cors_origins), 0, 0, ""},
    {"demo_dir", "RECS_DEMO_DIR", "--demo-dir", TEXT, FIELD(demo_dir), 0, 0, ""},
    {"memory_limit", "RECS_MEMORY_LIMIT", "--memory-limit", BYTES, FIELD(memory_limit), 0, 0, "0"},
};
#define NENV (sizeof(settings) / sizeof(settings[0]))
#define MAX_ARGS 16

/* ---- helpers ---- */

static size_t count_occurrences(const char *hay, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    if (nl == 0)
        return 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* The secrets libpq reads from conninfo: the values of the options it marks
 * as ones to hide (dispchar "*": password, sslpassword), malloc'd and
 * NULL-terminated; NULL when conninfo does not parse or holds none. */
static char **libpq_secrets(const char *conninfo)
{
    char *err = NULL, **out = NULL;
    size_t n = 0;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (opts == NULL) {
        PQfreemem(err);
        return NULL;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->dispchar != NULL && o->dispchar[0] == '*' && o->val != NULL && o->val[0] != '\0') {
            out = realloc(out, (n + 2) * sizeof(*out));
            CHECK(out != NULL);
            out[n] = strdup(o->val);
            CHECK(out[n] != NULL);
            out[++n] = NULL;
        }
    }
    PQconninfoFree(opts);
    return out;
}

static void free_secrets(char **secrets)
{
    for (size_t i = 0; secrets != NULL && secrets[i] != NULL; i++)
        free(secrets[i]);
    free(secrets);
}

static bool has_secret(char **secrets, const char *s)
{
    for (size_t i = 0; secrets != NULL && secrets[i] != NULL; i++)
        if (strcmp(secrets[i], s) == 0)
            return true;
    return false;
}

/* ---- redaction ---- */

/* redacted must not give away any of url's secrets: neither as text (when a
 * secret is written literally in url, the redacted text holds fewer copies of
 * it than url does) nor as a connection string libpq would still read it
 * from. */
static void check_password_hidden(const char *url, const char *redacted)
{
    char **secrets = libpq_secrets(url), **again = NULL;
    if (secrets == NULL)
        return;
    for (size_t i = 0; secrets[i] != NULL; i++) {
        const char *pw = secrets[i];
        if (strcmp(pw, "***") == 0)
            continue;
        if (strchr(url, '%') == NULL && strchr(url, '\\') == NULL && strchr(pw, '*') == NULL) {
            size_t in_url = count_occurrences(url, pw);
            CHECK(in_url >= 1);
            if (count_occurrences(redacted, pw) >= in_url) {
                fprintf(stderr,
                        "fuzz_config: property violated: password leaked by redaction\n"
                        "  url:      %s\n  password: %s\n  redacted: %s\n",
                        url, pw, redacted);
                abort();
            }
        }
        if (again == NULL)
            again = libpq_secrets(redacted);
        if (has_secret(again, pw)) {
            fprintf(stderr,
                    "fuzz_config: property violated: redacted URL still carries the "
                    "password\n  url:      %s\n  password: %s\n  redacted: %s\n",
                    url, pw, redacted);
            abort();
        }
    }
    free_secrets(again);
    free_secrets(secrets);
}

/* Redacts url into a big buffer, checks the password is gone, and checks
 * that smaller buffers get a NUL-terminated prefix of the same text
 * (snprintf-like). Returns the redacted text (malloc'd). */
static char *check_redaction(const char *url, size_t small)
{
    size_t n = strlen(url), cap = 4 * n + 64, len;
    char *big = malloc(cap), guard = 'Z';
    CHECK(big != NULL);
    recs_config_redact_url(url, big, cap);
    len = strlen(big);
    CHECK(len < cap - 1); /* not truncated */
    check_password_hidden(url, big);

    size_t sizes[] = {1, 2, small, len, len + 1};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t m = sizes[i] ? sizes[i] : 1;
        char *b = malloc(m); /* exact size: ASan sees any overflow */
        CHECK(b != NULL);
        memset(b, 'Q', m);
        recs_config_redact_url(url, b, m);
        size_t want = len < m - 1 ? len : m - 1;
        CHECK(memchr(b, '\0', m) != NULL && strlen(b) == want && memcmp(b, big, want) == 0);
        free(b);
    }
    recs_config_redact_url(url, &guard, 0); /* out_len 0: nothing written */
    CHECK(guard == 'Z');
    char empty[4] = "xyz";
    recs_config_redact_url(NULL, empty, sizeof(empty));
    CHECK(empty[0] == '\0');
    return big;
}

/* ---- recs_config_load ---- */

static const char *env_values[NENV];

static const char *fuzz_getenv(const char *name)
{
    for (size_t i = 0; i < NENV; i++)
        if (strcmp(name, settings[i].env) == 0)
            return env_values[i];
    return NULL;
}

static bool ref_uint(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (v < 1000000000000ull)
            v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* README.md: digits and an optional K, M, G or T (powers of 1024), at
 * most 1024T (2^50 bytes). */
static bool ref_bytes(const char *s, uint64_t *out)
{
    static const char *const suffixes = "KMGT";
    size_t digits = strspn(s, "0123456789"), len = strlen(s);
    unsigned shift = 0;
    long double v = 0;

    if (digits == 0 || len > digits + 1)
        return false;
    if (len == digits + 1) {
        const char *at = strchr(suffixes, s[digits]);
        if (at == NULL)
            return false;
        shift = 10 * (unsigned)(at - suffixes + 1);
    }
    for (size_t i = 0; i < digits; i++)
        v = v * 10 + (s[i] - '0');
    v *= (long double)((uint64_t)1 << shift);
    if (v > (long double)((uint64_t)1 << 50))
        return false;
    *out = (uint64_t)v;
    return true;
}

static bool ref_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"on", "true", "1", "yes"}, *const no[] = {"off", "false", "0",
                                                                                "no"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, true;
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, true;
    }
    return false;
}

static bool ref_valid(const struct setting *s, const char *v)
{
    size_t len = strlen(v);
    unsigned char addr[16];
    uint32_t u;
    uint64_t bytes;
    bool b;
    recs_kernel k;

    switch (s->kind) {
    case CONNINFO:
        return len > 0 && len < s->size;
    case ADDRESS:
        return len < s->size &&
               (len == 0 || inet_pton(AF_INET, v, addr) == 1 || inet_pton(AF_INET6, v, addr) == 1);
    case TEXT:
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
                return false;
        return len < s->size;
    case UINT:
        return ref_uint(v, s->min, s->max, &u);
    case BYTES:
        return ref_bytes(v, &bytes);
    case BOOL:
        return ref_bool(v, &b);
    case KERNEL:
        return (strcmp(v, "auto") == 0 || strcmp(v, "scalar") == 0 || strcmp(v, "avx2") == 0 ||
                strcmp(v, "avx512") == 0) &&
               recs_kernel_parse(v, &k) == 0;
    }
    return false;
}

/* The field of cfg holds exactly what text says. */
static void check_field(const struct recs_config *cfg, const struct setting *s, const char *text)
{
    const char *field = (const char *)cfg + s->offset;
    uint32_t u = 0;
    uint64_t bytes = 0;
    bool b = false;
    recs_kernel k;

    switch (s->kind) {
    case CONNINFO:
    case ADDRESS:
    case TEXT:
        CHECK(memchr(field, '\0', s->size) != NULL && strcmp(field, text) == 0);
        break;
    case UINT:
        CHECK(ref_uint(text, s->min, s->max, &u));
        CHECK(*(const uint32_t *)(const void *)field == u);
        break;
    case BYTES:
        CHECK(ref_bytes(text, &bytes));
        CHECK(*(const uint64_t *)(const void *)field == bytes);
        break;
    case BOOL:
        CHECK(ref_bool(text, &b) && *(const bool *)(const void *)field == b);
        break;
    case KERNEL:
        CHECK(recs_kernel_parse(text, &k) == 0 && *(const recs_kernel *)(const void *)field == k);
        CHECK(strcmp(recs_kernel_name(k), text) == 0);
        break;
    }
}

static const struct setting *find_flag(const char *arg, size_t len)
{
    for (size_t i = 0; i < NENV; i++)
        if (strlen(settings[i].flag) == len && strncmp(settings[i].flag, arg, len) == 0)
            return &settings[i];
    return NULL;
}

/* What recs_config_load should do, from README.md's rules: --help anywhere
 * wins; every default, environment value (empty = unset) and flag is
 * checked; flags override variables, which override defaults. */
struct expectation {
    recs_config_status status;
    const char *value[NENV]; /* on OK */
    const char *names;       /* on INVALID: what the message must start with */
    char prefix[128];
    const char *secret[MAX_ARGS + 2]; /* connection strings a password must not leak from */
    size_t nsecret;
};

static void expect(struct expectation *x, int argc, char **argv)
{
    memset(x, 0, sizeof(*x));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            x->status = RECS_CONFIG_HELP;
            return;
        }
    }
    if (env_values[0] != NULL && env_values[0][0] != '\0')
        x->secret[x->nsecret++] = env_values[0];
    for (size_t i = 0; i < NENV; i++) {
        x->value[i] = settings[i].def;
        const char *v = env_values[i];
        if (v == NULL || *v == '\0')
            continue;
        if (!ref_valid(&settings[i], v)) {
            x->status = RECS_CONFIG_INVALID;
            snprintf(x->prefix, sizeof(x->prefix), "invalid %s '", settings[i].env);
            return;
        }
        x->value[i] = v;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq, *value;
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            x->status = RECS_CONFIG_INVALID;
            snprintf(x->prefix, sizeof(x->prefix), "unexpected argument '");
            x->secret[x->nsecret++] = arg; /* e.g. a URL without its --database-url */
            return;
        }
        eq = strchr(arg, '=');
        const struct setting *s = find_flag(arg, eq ? (size_t)(eq - arg) : strlen(arg));
        if (s == NULL) {
            x->status = RECS_CONFIG_INVALID;
            snprintf(x->prefix, sizeof(x->prefix), "unknown option '");
            return;
        }
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            value = argv[++i];
        } else {
            x->status = RECS_CONFIG_INVALID;
            snprintf(x->prefix, sizeof(x->prefix), "option '%s' needs a value", s->flag);
            return;
        }
        if (s->kind == CONNINFO)
            x->secret[x->nsecret++] = value;
        if (!ref_valid(s, value)) {
            x->status = RECS_CONFIG_INVALID;
            snprintf(x->prefix, sizeof(x->prefix), "invalid %s '", s->flag);
            return;
        }
        x->value[s - settings] = value;
    }
    x->status = RECS_CONFIG_OK;
}

/* A password that can be looked for in an error message without false
 * alarms: written literally in its connection string, found nowhere else in
 * the input, holding a byte that no fixed message text has, and none of the
 * bytes the message adds around or inside a value (quotes, "...", '?' for
 * control bytes, "***"). */
static bool searchable(const char *pw, const char *conninfo, char **all, size_t nall)
{
    static const char rare[] = "!\"#$&+/;<=>@[]^`{}~";
    bool has_rare = false;
    size_t total = 0;

    if (strchr(conninfo, '%') || strchr(conninfo, '\\') || strpbrk(pw, "'.*?"))
        return false;
    for (const unsigned char *p = (const unsigned char *)pw; *p; p++)
        if (*p >= 0x80 || strchr(rare, *p))
            has_rare = true;
    for (size_t i = 0; i < nall; i++)
        total += count_occurrences(all[i], pw);
    return has_rare && total == 1;
}

static void check_message(const char *msg)
{
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        CHECK(*p >= 0x20 && *p != 0x7f); /* one line, no control bytes */
}

static void check_log_line(const struct recs_config *cfg)
{
    char *line = NULL, *redacted;
    size_t len = 0;
    FILE *out = open_memstream(&line, &len);
    CHECK(out != NULL);
    recs_config_log(cfg, out);
    CHECK(fclose(out) == 0);
    CHECK(len >= 2 && line[len - 1] == '\n' && memchr(line, '\n', len - 1) == NULL);

    json_error_t err;
    json_t *obj = json_loadb(line, len, 0, &err);
    CHECK(obj != NULL && json_object_size(obj) == NENV + 1);
    CHECK(strcmp(json_string_value(json_object_get(obj, "event")), "config") == 0);
    redacted = check_redaction(cfg->database_url, 17);
    json_t *url = json_string(redacted);
    CHECK(strcmp(json_string_value(json_object_get(obj, "database_url")),
                 url ? redacted : "(not UTF-8)") == 0);
    json_decref(url);
    free(redacted);
    CHECK(json_integer_value(json_object_get(obj, "port")) == cfg->port);
    CHECK(json_integer_value(json_object_get(obj, "k")) == cfg->k);
    CHECK((uint64_t)json_integer_value(json_object_get(obj, "memory_limit")) == cfg->memory_limit);
    CHECK(json_integer_value(json_object_get(obj, "http_threads")) == cfg->http_threads);
    CHECK(json_is_boolean(json_object_get(obj, "cache")) &&
          json_boolean_value(json_object_get(obj, "cache")) == cfg->cache);
    CHECK(strcmp(json_string_value(json_object_get(obj, "kernel")),
                 recs_kernel_name(cfg->kernel)) == 0);
    CHECK(strcmp(json_string_value(json_object_get(obj, "cors_origins")), cfg->cors_origins) == 0);
    CHECK(strcmp(json_string_value(json_object_get(obj, "listen_address")), cfg->listen_address) ==
          0);
    json_decref(obj);
    free(line);
}

static void check_load(const uint8_t *data, size_t size)
{
    static const size_t errbuf_sizes[] = {512, 0, 1, 2, 17, 40, 80, 160};
    char *argv[MAX_ARGS + 2], *owned[NENV + MAX_ARGS + 1];
    int argc = 1;
    size_t nowned = 0, errlen = errbuf_sizes[data[1] % 8];
    uint32_t cores = data[2] < 250 ? data[2] : 1024u * (data[2] - 249u);
    struct expectation x;

    memset(env_values, 0, sizeof(env_values));
    argv[0] = "recs";
    for (size_t pos = 3; pos < size;) {
        size_t end = pos;
        while (end < size && data[end] != 0)
            end++;
        bool env = data[pos] >= 1 && data[pos] <= NENV;
        size_t from = env ? pos + 1 : pos;
        char *s = malloc(end - from + 1);
        CHECK(s != NULL);
        memcpy(s, data + from, end - from);
        s[end - from] = '\0';
        owned[nowned++] = s;
        if (env)
            env_values[data[pos] - 1] = s;
        else
            argv[argc++] = s;
        pos = end + 1;
        if (argc > MAX_ARGS || nowned >= NENV + MAX_ARGS)
            break;
    }
    argv[argc] = NULL;

    expect(&x, argc, argv);

    struct recs_config cfg;
    char errbuf[512], *small = malloc(errlen ? errlen : 1), *help = NULL;
    size_t help_len = 0;
    FILE *help_out = open_memstream(&help, &help_len);
    CHECK(small != NULL && help_out != NULL);
    memset(errbuf, 'E', sizeof(errbuf));
    memset(&cfg, 0x5a, sizeof(cfg));
    recs_config_status st =
        recs_config_load(&cfg, argc, argv, fuzz_getenv, help_out, errbuf, sizeof(errbuf));
    CHECK(fclose(help_out) == 0);

    if (st != x.status)
        fprintf(stderr, "fuzz_config: status %d, expected %d; message: %.512s\n", (int)st,
                (int)x.status, st == RECS_CONFIG_INVALID ? errbuf : "");
    CHECK(st == x.status);
    CHECK(memchr(errbuf, '\0', sizeof(errbuf)) != NULL);
    check_message(errbuf);

    /* A smaller errbuf gets a prefix of the same message, NUL-terminated. */
    struct recs_config cfg2;
    memset(small, 'E', errlen ? errlen : 1);
    CHECK(recs_config_load(&cfg2, argc, argv, fuzz_getenv, NULL, errlen ? small : NULL, errlen) ==
          st);
    if (errlen > 0) {
        size_t want = strlen(errbuf) < errlen - 1 ? strlen(errbuf) : errlen - 1;
        CHECK(memchr(small, '\0', errlen) != NULL && strlen(small) == want &&
              memcmp(small, errbuf, want) == 0);
    }
    free(small);

    switch (st) {
    case RECS_CONFIG_HELP:
        CHECK(help != NULL && strstr(help, "Usage: recs") != NULL);
        for (size_t i = 0; i < NENV; i++)
            CHECK(strstr(help, settings[i].flag) != NULL && strstr(help, settings[i].env) != NULL);
        break;
    case RECS_CONFIG_INVALID:
        CHECK(errbuf[0] != '\0');
        if (strncmp(errbuf, x.prefix, strlen(x.prefix)) != 0) {
            fprintf(stderr,
                    "fuzz_config: property violated: message '%s' does not start with '%s'\n",
                    errbuf, x.prefix);
            abort();
        }
        /* The message shows values, but never a password. */
        for (size_t i = 0; i < x.nsecret; i++) {
            char **secrets = libpq_secrets(x.secret[i]);
            for (size_t j = 0; secrets != NULL && secrets[j] != NULL; j++) {
                const char *pw = secrets[j];
                if (searchable(pw, x.secret[i], owned, nowned) && strstr(errbuf, pw) != NULL) {
                    fprintf(stderr,
                            "fuzz_config: property violated: error message shows a "
                            "password\n  message: %s\n  password: %s\n",
                            errbuf, pw);
                    abort();
                }
            }
            free_secrets(secrets);
        }
        break;
    case RECS_CONFIG_OK: {
        CHECK(errbuf[0] == '\0');
        for (size_t i = 0; i < NENV; i++)
            check_field(&cfg, &settings[i], x.value[i]);
        check_log_line(&cfg);
        recs_config_resolve(&cfg, cores);
        CHECK(cfg.http_threads >= 1 && cfg.score_threads >= 1 && cfg.db_pool_size >= 1);
        uint32_t v = 1;
        if (ref_uint(x.value[3], 0, 256, &v) && v == 0) /* http_threads 0: two per core */
            CHECK(cfg.http_threads == 2 * (cores ? cores : 1));
        if (ref_uint(x.value[4], 0, 256, &v) && v == 0) /* score_threads 0: one per core */
            CHECK(cfg.score_threads == (cores ? cores : 1));
        if (ref_uint(x.value[8], 0, 256, &v) && v == 0) /* pool 0: threads + 1 */
            CHECK(cfg.db_pool_size == cfg.http_threads + 1);
        break;
    }
    }
    free(help);
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > 8192)
        return 0;
    if ((data[0] & 1) == 0) {
        size_t n = strnlen((const char *)data + 2, size - 2);
        char *url = malloc(n + 1);
        CHECK(url != NULL);
        memcpy(url, data + 2, n);
        url[n] = '\0';
        free(check_redaction(url, data[1]));
        free(url);
    } else {
        check_load(data, size);
    }
    return 0;
}
