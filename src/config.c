/*
 * config.c - builds struct recs_config from defaults, the environment and the
 * command line. Every setting is one row of a table, so the three sources,
 * the --help text and the config log line cannot drift apart.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum kind {
    KIND_CONNINFO, /* a libpq connection string: may hold a password */
    KIND_ADDRESS,  /* "" or an IPv4/IPv6 literal */
    KIND_UINT,     /* plain decimal digits within min..max */
    KIND_BOOL,
    KIND_KERNEL,
    KIND_TEXT,  /* printable ASCII, safe to copy into a response header */
    KIND_BYTES, /* decimal digits, then K, M, G or T (powers of 1024) or nothing */
};

/* The largest KIND_BYTES value, 1024T: far above any machine's memory,
 * low enough that no suffix overflows on the way. */
#define BYTES_MAX ((uint64_t)1 << 50)

struct setting {
    const char *name; /* key in the config log line */
    const char *env;
    const char *flag;
    enum kind kind;
    size_t offset;
    size_t size;
    uint32_t min, max;
    /* Defaults are text run through the same parser, so they obey the same rules. */
    const char *def;
    const char *help;
};

#define FIELD(f) offsetof(struct recs_config, f), sizeof(((struct recs_config *)0)->f)

static const struct setting settings[] = {
    {"database_url", "DATABASE_URL", "--database-url", KIND_CONNINFO, FIELD(database_url), 0, 0,
     "postgresql:///shop", "libpq connection URI or key=value string of the catalog database"},
    {"listen_address", "RECS_LISTEN_ADDRESS", "--listen-address", KIND_ADDRESS,
     FIELD(listen_address), 0, 0, "", "IPv4 or IPv6 address to listen on; empty = all"},
    {"port", "PORT", "--port", KIND_UINT, FIELD(port), 1, 65535, "8080", "TCP port to listen on"},
    {"http_threads", "RECS_HTTP_THREADS", "--http-threads", KIND_UINT, FIELD(http_threads), 0, 256,
     "0", "HTTP worker threads; 0 = two per core (handlers wait on the database)"},
    {"score_threads", "RECS_SCORE_THREADS", "--score-threads", KIND_UINT, FIELD(score_threads), 0,
     256, "0", "most threads scoring one request; 0 = one per core"},
    {"k", "RECS_K", "--k", KIND_UINT, FIELD(k), 1, RECS_MINHASH_K_MAX, "1500",
     "MinHash functions per signature"},
    {"kernel", "RECS_KERNEL", "--kernel", KIND_KERNEL, FIELD(kernel), 0, 0, "auto",
     "hashing kernel: auto, scalar, avx2 or avx512"},
    {"cache", "RECS_CACHE", "--cache", KIND_BOOL, FIELD(cache), 0, 0, "on",
     "keep an in-memory snapshot of the catalog's signatures"},
    {"db_pool_size", "RECS_DB_POOL_SIZE", "--db-pool-size", KIND_UINT, FIELD(db_pool_size), 0, 256,
     "0", "database connections; 0 = HTTP threads + 1"},
    {"db_connect_timeout_s", "RECS_DB_CONNECT_TIMEOUT", "--db-connect-timeout", KIND_UINT,
     FIELD(db_connect_timeout_s), 1, 60, "2", "seconds to wait for a database connection"},
    {"statement_timeout_ms", "RECS_STATEMENT_TIMEOUT_MS", "--statement-timeout-ms", KIND_UINT,
     FIELD(statement_timeout_ms), 10, 600000, "2000", "milliseconds one SQL statement may run"},
    {"db_acquire_timeout_ms", "RECS_DB_ACQUIRE_TIMEOUT_MS", "--db-acquire-timeout-ms", KIND_UINT,
     FIELD(db_acquire_timeout_ms), 1, 60000, "1000",
     "milliseconds to wait for a free pooled connection"},
    {"max_connections", "RECS_MAX_CONNECTIONS", "--max-connections", KIND_UINT,
     FIELD(max_connections), 1, 100000, "10000",
     "open HTTP connections at most (the descriptor limit is raised to fit)"},
    {"per_ip_connections", "RECS_PER_IP_CONNECTIONS", "--per-ip-connections", KIND_UINT,
     FIELD(per_ip_connections), 0, 100000, "0",
     "open HTTP connections per client IP; 0 = no limit"},
    {"connection_timeout_s", "RECS_CONNECTION_TIMEOUT", "--connection-timeout", KIND_UINT,
     FIELD(connection_timeout_s), 1, 3600, "10",
     "idle seconds before a kept-alive connection is closed"},
    {"header_timeout_s", "RECS_HEADER_TIMEOUT", "--header-timeout", KIND_UINT,
     FIELD(header_timeout_s), 1, 3600, "5",
     "seconds to send a whole request head, from the connection's start or the request's "
     "first byte"},
    {"send_timeout_s", "RECS_SEND_TIMEOUT", "--send-timeout", KIND_UINT, FIELD(send_timeout_s), 1,
     3600, "10", "seconds a client may take to read a whole response"},
    {"max_inflight", "RECS_MAX_INFLIGHT", "--max-inflight", KIND_UINT, FIELD(max_inflight), 1,
     10000, "64", "recommendation requests served at once; more get 503"},
    {"answer_cache", "RECS_ANSWER_CACHE", "--answer-cache", KIND_UINT, FIELD(answer_cache), 0,
     65536, "1024", "rendered answers kept for repeated queries (0 = none)"},
    {"shutdown_timeout_s", "RECS_SHUTDOWN_TIMEOUT", "--shutdown-timeout", KIND_UINT,
     FIELD(shutdown_timeout_s), 1, 3600, "10", "seconds to drain requests after SIGTERM"},
    {"access_log", "RECS_ACCESS_LOG", "--access-log", KIND_BOOL, FIELD(access_log), 0, 0, "on",
     "log one JSON line per request"},
    {"cache_control", "RECS_CACHE_CONTROL", "--cache-control", KIND_TEXT, FIELD(cache_control), 0,
     0, "no-cache", "Cache-Control of recommendation responses (they carry an ETag)"},
    {"cors_origins", "RECS_CORS_ORIGINS", "--cors-origins", KIND_TEXT, FIELD(cors_origins), 0, 0,
     "", "browser origins allowed by CORS: comma-separated, * for any, empty for none"},
    {"demo_dir", "RECS_DEMO_DIR", "--demo-dir", KIND_TEXT, FIELD(demo_dir), 0, 0, "",
     "folder with the storefront demo page served at /demo/; empty = off"},
    {"memory_limit", "RECS_MEMORY_LIMIT", "--memory-limit", KIND_BYTES, FIELD(memory_limit), 0, 0,
     "0",
     "bytes the process may hold, with K, M, G or T for powers of 1024; a catalog that would "
     "not fit is refused (503); 0 = the cgroup's memory.max, if there is one"},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* ---- password redaction ---- */

/* A bounded output: keeps the prefix that fits, like snprintf. */
struct sink {
    char *buf;
    size_t cap; /* > 0 */
    size_t len;
};

static void put(struct sink *o, const char *s, size_t n)
{
    size_t room = o->cap - 1 - o->len;
    if (n > room)
        n = room;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void put_str(struct sink *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Length of a postgres URI scheme at s, or 0. Case-insensitive: redacting
 * something libpq would reject costs nothing, leaking it would. */
static size_t scheme_len(const char *s, size_t n)
{
    if (n >= 13 && strncasecmp(s, "postgresql://", 13) == 0)
        return 13;
    if (n >= 11 && strncasecmp(s, "postgres://", 11) == 0)
        return 11;
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Whether key[0..n) names a secret libpq reads: password or sslpassword.
 * In a URI query libpq percent-decodes keys (pass%77ord is password), so
 * uri decodes them too. Case-insensitive, like scheme_len. */
static bool secret_key(const char *key, size_t n, bool uri)
{
    char name[16];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (uri && c == '%' && i + 2 < n && hex_digit(key[i + 1]) >= 0 &&
            hex_digit(key[i + 2]) >= 0) {
            c = (char)(hex_digit(key[i + 1]) * 16 + hex_digit(key[i + 2]));
            i += 2;
        }
        if (len == sizeof(name))
            return false;
        name[len++] = (char)tolower((unsigned char)c);
    }
    return (len == 8 && memcmp(name, "password", 8) == 0) ||
           (len == 11 && memcmp(name, "sslpassword", 11) == 0);
}

static void redact_uri(struct sink *o, const char *s, size_t n, size_t scheme)
{
    const char *end = s + n, *auth = s + scheme, *rest = s;
    /* libpq ends the user info at an '@' before the first '/'. A password
     * with an unescaped '@', '/' or '?' is wrong but must not leak either, so
     * take the later of the last '@' before the first '/' and before the first
     * '?', and hide everything after the scheme when a '?' comes before it
     * with no '/' after it: at worst that hides more than the password. */
    const char *slash = memchr(auth, '/', (size_t)(end - auth));
    const char *quest = memchr(auth, '?', (size_t)(end - auth));
    const char *at = memrchr(auth, '@', (size_t)((slash ? slash : end) - auth));
    const char *at2 = memrchr(auth, '@', (size_t)((quest ? quest : end) - auth));
    if (!at || (at2 && at2 > at))
        at = at2;
    if (at && quest && quest < at && !(slash && slash > at)) {
        /* a '?' before the '@' and no path after it: the query may begin
         * inside what looks like the user info, and a secret in it may hold
         * an '@' (libpq reads "u:p@h?password=x@y" as host h and password
         * x@y): hide it all */
        put(o, s, (size_t)(auth - s));
        put_str(o, "***");
        return;
    }
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon) {
            put(o, s, (size_t)(colon + 1 - s));
            put_str(o, "***");
            rest = at;
        }
    }
    const char *from = at ? at : auth;
    const char *q = memchr(from, '?', (size_t)(end - from));
    if (!q) {
        put(o, rest, (size_t)(end - rest));
        return;
    }
    put(o, rest, (size_t)(q + 1 - rest));
    for (const char *p = q + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pend = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pend - p));
        if (eq && secret_key(p, (size_t)(eq - p), true)) {
            put(o, p, (size_t)(eq + 1 - p));
            put_str(o, "***");
        } else {
            put(o, p, (size_t)(pend - p));
        }
        if (amp)
            put_str(o, "&");
        p = amp ? amp + 1 : end;
    }
}

/* key = value pairs as libpq reads them: whitespace around '=', values
 * unquoted or in single quotes, backslash escaping the next byte. */
static void redact_keyvalue(struct sink *o, const char *s)
{
    const char *p = s;
    for (;;) {
        const char *ws = p;
        while (isspace((unsigned char)*p))
            p++;
        put(o, ws, (size_t)(p - ws));
        if (!*p)
            break;
        const char *key = p;
        while (*p && *p != '=' && !isspace((unsigned char)*p))
            p++;
        size_t keylen = (size_t)(p - key);
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '=') {
            /* Malformed: whatever follows could be a secret. */
            put_str(o, "***");
            break;
        }
        p++;
        while (isspace((unsigned char)*p))
            p++;
        put(o, key, (size_t)(p - key));
        const char *val = p;
        bool quoted = *p == '\'';
        if (quoted)
            p++;
        while (*p && (quoted ? *p != '\'' : !isspace((unsigned char)*p))) {
            if (*p == '\\' && p[1])
                p++;
            p++;
        }
        if (quoted && *p)
            p++;
        size_t vlen = (size_t)(p - val), skip = quoted ? 1 : 0;
        size_t scheme = vlen > skip ? scheme_len(val + skip, vlen - skip) : 0;
        if (secret_key(key, keylen, false)) {
            put_str(o, "***");
        } else if (scheme) {
            /* dbname may itself be a URI carrying a password. */
            put(o, val, skip);
            redact_uri(o, val + skip, vlen - skip, scheme);
        } else {
            put(o, val, vlen);
        }
    }
}

void recs_config_redact_url(const char *url, char *out, size_t out_len)
{
    if (!out || out_len == 0)
        return;
    struct sink o = {out, out_len, 0};
    out[0] = '\0';
    if (!url)
        return;
    size_t n = strlen(url), scheme = scheme_len(url, n);
    if (scheme)
        redact_uri(&o, url, n, scheme);
    else
        redact_keyvalue(&o, url);
}

/* ---- parsing ---- */

static const char *default_getenv(const char *name)
{
    return getenv(name);
}

static void set_error(char *errbuf, size_t errbuf_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *errbuf, size_t errbuf_len, const char *fmt, ...)
{
    va_list ap;
    if (!errbuf || errbuf_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errbuf_len, fmt, ap);
    va_end(ap);
}

/* A value as it may appear in a message: passwords hidden, cut to a
 * readable length, control bytes replaced so the message stays one line. */
static void show_value(const struct setting *s, const char *text, char *out, size_t out_len)
{
    enum { SHOW_MAX = 60 };
    char tmp[SHOW_MAX + 8];
    if (s->kind == KIND_CONNINFO)
        recs_config_redact_url(text, tmp, sizeof(tmp));
    else
        snprintf(tmp, sizeof(tmp), "%s", text);
    if (strlen(tmp) > SHOW_MAX)
        memcpy(tmp + SHOW_MAX, "...", 4);
    for (char *c = tmp; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    }
    snprintf(out, out_len, "%s", tmp);
}

/* A command-line argument as it may appear in a message: like show_value,
 * and redacted like a DATABASE_URL when it could be one whose --database-url
 * was forgotten or mistyped (it holds '=', ':' or '@'). */
static void show_arg(const char *arg, char *out, size_t out_len)
{
    static const struct setting plain = {.kind = KIND_TEXT};
    show_value(strpbrk(arg, "=:@") ? &settings[0] : &plain, arg, out, out_len);
}

/* Decimal digits only: no sign, spaces, hex or exponent, which strtoul
 * would quietly accept or misread. */
static bool parse_uint(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    if (!*text)
        return false;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        if (v <= UINT32_MAX)
            v = v * 10 + (uint64_t)(*c - '0');
    }
    if (v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Digits and an optional K, M, G or T (powers of 1024), at most
 * BYTES_MAX. Upper case only: "m" could be read as milli or mega. */
static bool parse_bytes(const char *text, uint64_t *out)
{
    static const char suffixes[] = "KMGT";
    uint64_t v = 0;
    const char *c = text;
    const char *suffix;
    unsigned shift = 0;

    if (*c < '0' || *c > '9')
        return false;
    for (; *c >= '0' && *c <= '9'; c++) {
        if (v <= BYTES_MAX)
            v = v * 10 + (uint64_t)(*c - '0');
    }
    if (*c != '\0') {
        suffix = strchr(suffixes, *c);
        if (suffix == NULL || c[1] != '\0')
            return false;
        shift = 10 * (unsigned)(suffix - suffixes + 1);
    }
    if (v > BYTES_MAX >> shift)
        return false;
    *out = v << shift;
    return true;
}

static bool parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"on", "true", "1", "yes"};
    static const char *const no[] = {"off", "false", "0", "no"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
            *out = strcasecmp(text, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

/* Stores text into cfg's field for s, or explains in why what was expected. */
static bool parse_value(const struct setting *s, const char *text, struct recs_config *cfg,
                        char *why, size_t why_len)
{
    void *field = (char *)cfg + s->offset;
    size_t len = strlen(text);
    unsigned char addr[sizeof(struct in6_addr)];

    switch (s->kind) {
    case KIND_CONNINFO:
    case KIND_ADDRESS:
    case KIND_TEXT:
        if (len >= s->size) {
            snprintf(why, why_len, "too long (at most %zu bytes)", s->size - 1);
            return false;
        }
        if (s->kind == KIND_CONNINFO && len == 0) {
            snprintf(why, why_len, "expected a connection string");
            return false;
        }
        for (size_t i = 0; s->kind == KIND_TEXT && i < len; i++) {
            if (text[i] < 0x20 || text[i] > 0x7e) {
                snprintf(why, why_len, "expected printable ASCII");
                return false;
            }
        }
        if (s->kind == KIND_ADDRESS && len > 0 && inet_pton(AF_INET, text, addr) != 1 &&
            inet_pton(AF_INET6, text, addr) != 1) {
            snprintf(why, why_len, "expected an IPv4 or IPv6 address, or empty for all");
            return false;
        }
        memcpy(field, text, len + 1);
        return true;
    case KIND_UINT:
        if (!parse_uint(text, s->min, s->max, field)) {
            snprintf(why, why_len, "expected an integer %u..%u", s->min, s->max);
            return false;
        }
        return true;
    case KIND_BOOL:
        if (!parse_bool(text, field)) {
            snprintf(why, why_len, "expected on|off (or true|false, yes|no, 1|0)");
            return false;
        }
        return true;
    case KIND_KERNEL:
        if (recs_kernel_parse(text, field) != 0) {
            snprintf(why, why_len, "expected auto|scalar|avx2|avx512");
            return false;
        }
        return true;
    case KIND_BYTES:
        if (!parse_bytes(text, field)) {
            snprintf(why, why_len,
                     "expected a byte count: digits and an optional K, M, G or T, at most 1024T");
            return false;
        }
        return true;
    }
    return false;
}

static bool apply(const struct setting *s, const char *source, const char *text,
                  struct recs_config *cfg, char *errbuf, size_t errbuf_len)
{
    char why[96], shown[80];
    if (parse_value(s, text, cfg, why, sizeof(why)))
        return true;
    show_value(s, text, shown, sizeof(shown));
    set_error(errbuf, errbuf_len, "invalid %s '%s': %s", source, shown, why);
    return false;
}

static const char *metavar(const struct setting *s)
{
    switch (s->kind) {
    case KIND_CONNINFO:
        return "URL";
    case KIND_ADDRESS:
        return "ADDR";
    case KIND_UINT:
        return "N";
    case KIND_BOOL:
        return "on|off";
    case KIND_KERNEL:
        return "NAME";
    case KIND_TEXT:
        return "TEXT";
    case KIND_BYTES:
        return "BYTES";
    }
    return "VALUE";
}

static void print_help(FILE *out)
{
    fputs("Usage: recs [OPTION]...\n"
          "Serves product recommendations over HTTP.\n\n"
          "Each option can also be set by the environment variable named beside it.\n"
          "A flag overrides its variable, which overrides the default. A variable set\n"
          "to the empty string counts as unset. Every value given is checked, even one\n"
          "a flag overrides. Values are --flag VALUE or --flag=VALUE.\n\n",
          out);
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        fprintf(out, "  %s %s  (%s, default \"%s\")\n      %s", s->flag, metavar(s), s->env, s->def,
                s->help);
        if (s->kind == KIND_UINT)
            fprintf(out, " (%u..%u)", s->min, s->max);
        fputs("\n", out);
    }
    fputs("  -h, --help\n      print this help and exit\n", out);
}

static const struct setting *find_flag(const char *arg, size_t len)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (strlen(settings[i].flag) == len && strncmp(settings[i].flag, arg, len) == 0)
            return &settings[i];
    }
    return NULL;
}

static bool load_flags(struct recs_config *cfg, int argc, char **argv, char *errbuf,
                       size_t errbuf_len)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value;
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            char shown[80];
            show_arg(arg, shown, sizeof(shown));
            set_error(errbuf, errbuf_len, "unexpected argument '%s' (see --help)", shown);
            return false;
        }
        const char *eq = strchr(arg, '=');
        size_t namelen = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct setting *s = find_flag(arg, namelen);
        if (!s) {
            char name[72], shown[80];
            snprintf(name, sizeof(name), "%.*s", (int)(namelen < 64 ? namelen : 64), arg);
            show_arg(name, shown, sizeof(shown));
            set_error(errbuf, errbuf_len, "unknown option '%s' (see --help)", shown);
            return false;
        }
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            value = argv[++i];
        } else {
            set_error(errbuf, errbuf_len, "option '%s' needs a value", s->flag);
            return false;
        }
        if (!apply(s, s->flag, value, cfg, errbuf, errbuf_len))
            return false;
    }
    return true;
}

recs_config_status recs_config_load(struct recs_config *cfg, int argc, char **argv,
                                    const char *(*getenv_fn)(const char *name), FILE *help_out,
                                    char *errbuf, size_t errbuf_len)
{
    if (errbuf && errbuf_len > 0)
        errbuf[0] = '\0';
    if (!getenv_fn)
        getenv_fn = default_getenv;
    if (!argv)
        argc = 0;

    /* --help wins over any bad value, so a broken setup can still ask. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            if (help_out)
                print_help(help_out);
            return RECS_CONFIG_HELP;
        }
    }

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (!apply(&settings[i], "default", settings[i].def, cfg, errbuf, errbuf_len))
            return RECS_CONFIG_INVALID;
    }
    for (size_t i = 0; i < NSETTINGS; i++) {
        const char *value = getenv_fn(settings[i].env);
        /* Env files often carry "VAR=" lines meaning "not set". */
        if (!value || !*value)
            continue;
        if (!apply(&settings[i], settings[i].env, value, cfg, errbuf, errbuf_len))
            return RECS_CONFIG_INVALID;
    }
    if (!load_flags(cfg, argc, argv, errbuf, errbuf_len))
        return RECS_CONFIG_INVALID;
    return RECS_CONFIG_OK;
}

void recs_config_resolve(struct recs_config *cfg, uint32_t cores)
{
    if (cores == 0)
        cores = 1;
    /* Two per core: a handler spends much of its time waiting for the
     * database, and another worker can use the core meanwhile. */
    if (cfg->http_threads == 0)
        cfg->http_threads = cores * 2;
    if (cfg->score_threads == 0)
        cfg->score_threads = cores;
    if (cfg->db_pool_size == 0)
        cfg->db_pool_size = cfg->http_threads < UINT32_MAX ? cfg->http_threads + 1 : UINT32_MAX;
}

void recs_config_log(const struct recs_config *cfg, FILE *out)
{
    char url[sizeof(cfg->database_url) + 256];
    char *line = NULL;
    json_t *obj = json_object();
    if (!obj || json_object_set_new(obj, "event", json_string("config")) != 0)
        goto done;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        const void *field = (const char *)cfg + s->offset;
        json_t *v = NULL;
        switch (s->kind) {
        case KIND_CONNINFO:
            recs_config_redact_url(field, url, sizeof(url));
            v = json_string(url);
            break;
        case KIND_ADDRESS:
        case KIND_TEXT:
            v = json_string(field);
            break;
        case KIND_UINT:
            v = json_integer(*(const uint32_t *)field);
            break;
        case KIND_BOOL:
            v = json_boolean(*(const bool *)field);
            break;
        case KIND_KERNEL:
            v = json_string(recs_kernel_name(*(const recs_kernel *)field));
            break;
        case KIND_BYTES:
            v = json_integer((json_int_t) * (const uint64_t *)field);
            break;
        }
        if (!v) /* json_string refuses bytes that are not UTF-8 */
            v = json_string("(not UTF-8)");
        if (json_object_set_new(obj, s->name, v) != 0)
            goto done;
    }
    line = json_dumps(obj, JSON_COMPACT);
    if (line)
        fprintf(out, "%s\n", line);
done:
    free(line);
    json_decref(obj);
}
