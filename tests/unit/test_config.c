/*
 * test_config.c - settings from defaults, environment and flags, their
 * bounds and error messages, --help, password redaction and the log line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"

/* The fake environment each test fills in. */
static const char *env_names[8];
static const char *env_values[8];

static const char *fake_getenv(const char *name)
{
    for (size_t i = 0; i < 8 && env_names[i]; i++) {
        if (strcmp(env_names[i], name) == 0)
            return env_values[i];
    }
    return NULL;
}

static int reset_env(void **state)
{
    (void)state;
    memset(env_names, 0, sizeof(env_names));
    memset(env_values, 0, sizeof(env_values));
    return 0;
}

static void set_env(const char *name, const char *value)
{
    for (size_t i = 0; i < 8; i++) {
        if (!env_names[i]) {
            env_names[i] = name;
            env_values[i] = value;
            return;
        }
    }
    fail_msg("fake environment full");
}

/* Loads with argv = {"recs", args..., NULL}; returns the status. */
static recs_config_status load(struct recs_config *cfg, char *err, size_t errlen, int nargs, ...)
{
    char *argv[16] = {"recs"};
    va_list ap;
    va_start(ap, nargs);
    for (int i = 0; i < nargs && i < 14; i++)
        argv[i + 1] = va_arg(ap, char *);
    va_end(ap);
    return recs_config_load(cfg, nargs + 1, argv, fake_getenv, NULL, err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    struct recs_config c;
    char err[256];
    assert_int_equal(load(&c, err, sizeof(err), 0), RECS_CONFIG_OK);
    assert_string_equal(err, "");
    assert_string_equal(c.database_url, "postgresql:///shop");
    assert_string_equal(c.listen_address, "");
    assert_int_equal(c.port, 8080);
    assert_int_equal(c.http_threads, 0);
    assert_int_equal(c.score_threads, 0);
    assert_int_equal(c.k, RECS_MINHASH_K_DEFAULT);
    assert_int_equal(c.kernel, RECS_KERNEL_AUTO);
    assert_true(c.cache);
    assert_int_equal(c.db_pool_size, 0);
    assert_int_equal(c.db_connect_timeout_s, 2);
    assert_int_equal(c.statement_timeout_ms, 2000);
    assert_int_equal(c.db_acquire_timeout_ms, 1000);
    assert_int_equal(c.max_connections, 10000);
    assert_int_equal(c.per_ip_connections, 0);
    assert_int_equal(c.connection_timeout_s, 10);
    assert_int_equal(c.header_timeout_s, 5);
    assert_int_equal(c.send_timeout_s, 10);
    assert_int_equal(c.max_inflight, 64);
    assert_int_equal(c.answer_cache, 1024);
    assert_int_equal(c.shutdown_timeout_s, 10);
    assert_true(c.access_log);
    assert_int_equal(c.memory_limit, 0);
}

/* RECS_MEMORY_LIMIT: bytes with K, M, G or T (powers of 1024), at most
 * 1024T; 0 leaves it to the cgroup. Anything else is refused. */
static void test_memory_limit(void **state)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } valid[] = {
        {"0", 0},
        {"512", 512},
        {"20M", 20u << 20},
        {"64K", 64u << 10},
        {"3G", (uint64_t)3 << 30},
        {"2T", (uint64_t)2 << 40},
        {"1024T", (uint64_t)1 << 50},
        {"1125899906842624", (uint64_t)1 << 50},
        {"0000000000000000000000000001K", 1024},
    };
    static const char *const invalid[] = {
        "20MB",
        "20m",
        "20k",
        "1.5G",
        "-1",
        "+1",
        " 20M",
        "20M ",
        "M",
        "0x10",
        "1025T",
        "1048577G",
        "1125899906842625",
        "99999999999999999999",
        "18446744073709551617",
        "20MM",
    };
    struct recs_config c;
    char err[256], flag[64], want[160];

    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        reset_env(NULL);
        set_env("RECS_MEMORY_LIMIT", valid[i].text);
        assert_int_equal(load(&c, err, sizeof(err), 0), RECS_CONFIG_OK);
        if (c.memory_limit != valid[i].bytes)
            fail_msg("RECS_MEMORY_LIMIT=%s gave %llu", valid[i].text,
                     (unsigned long long)c.memory_limit);
        snprintf(flag, sizeof(flag), "--memory-limit=%s", valid[i].text);
        reset_env(NULL);
        assert_int_equal(load(&c, err, sizeof(err), 1, flag), RECS_CONFIG_OK);
        assert_true(c.memory_limit == valid[i].bytes);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        reset_env(NULL);
        set_env("RECS_MEMORY_LIMIT", invalid[i]);
        if (load(&c, err, sizeof(err), 0) != RECS_CONFIG_INVALID)
            fail_msg("RECS_MEMORY_LIMIT='%s' was accepted", invalid[i]);
        snprintf(want, sizeof(want),
                 "invalid RECS_MEMORY_LIMIT '%s': expected a byte count: digits and an optional "
                 "K, M, G or T, at most 1024T",
                 invalid[i]);
        assert_string_equal(err, want);
    }
    /* the flag overrides the variable; an empty variable is unset */
    reset_env(NULL);
    set_env("RECS_MEMORY_LIMIT", "1G");
    assert_int_equal(load(&c, err, sizeof(err), 2, "--memory-limit", "300M"), RECS_CONFIG_OK);
    assert_true(c.memory_limit == 300u << 20);
    reset_env(NULL);
    set_env("RECS_MEMORY_LIMIT", "");
    assert_int_equal(load(&c, err, sizeof(err), 0), RECS_CONFIG_OK);
    assert_true(c.memory_limit == 0);
}

static void test_env_then_flags(void **state)
{
    (void)state;
    struct recs_config c;
    char err[256];
    set_env("PORT", "9000");
    set_env("DATABASE_URL", "host=db dbname=x");
    set_env("RECS_K", "08");
    set_env("RECS_CACHE", "off");
    set_env("RECS_KERNEL", "scalar");
    set_env("RECS_HTTP_THREADS", ""); /* empty = unset */
    set_env("RECS_LISTEN_ADDRESS", "::1");
    assert_int_equal(load(&c, err, sizeof(err), 0), RECS_CONFIG_OK);
    assert_int_equal(c.port, 9000);
    assert_string_equal(c.database_url, "host=db dbname=x");
    assert_int_equal(c.k, 8);
    assert_false(c.cache);
    assert_int_equal(c.kernel, RECS_KERNEL_SCALAR);
    assert_int_equal(c.http_threads, 0);
    assert_string_equal(c.listen_address, "::1");

    assert_int_equal(load(&c, err, sizeof(err), 7, "--port", "9001", "--cache=yes",
                          "--listen-address=127.0.0.1", "--max-inflight", "1", "--access-log=0"),
                     RECS_CONFIG_OK);
    assert_int_equal(c.port, 9001);
    assert_true(c.cache);
    assert_string_equal(c.listen_address, "127.0.0.1");
    assert_int_equal(c.max_inflight, 1);
    assert_false(c.access_log);
    assert_int_equal(c.k, 8); /* still from the environment */
}

static void test_integers(void **state)
{
    (void)state;
    static const char *const bad[] = {"",          "-1",  "+1",    " 1", "1 ",
                                      "0x10",      "1e3", "65536", "0",  "99999999999999999999",
                                      "4294967297"};
    struct recs_config c;
    char err[256], arg[64];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(arg, sizeof(arg), "--port=%s", bad[i]);
        assert_int_equal(load(&c, err, sizeof(err), 1, arg), RECS_CONFIG_INVALID);
        assert_non_null(strstr(err, "expected an integer 1..65535"));
    }
    assert_int_equal(load(&c, err, sizeof(err), 2, "--port", "65535"), RECS_CONFIG_OK);
    assert_int_equal(c.port, 65535);
    assert_int_equal(load(&c, err, sizeof(err), 2, "--port", "00001"), RECS_CONFIG_OK);
    assert_int_equal(c.port, 1);
    assert_int_equal(load(&c, err, sizeof(err), 2, "--k", "8192"), RECS_CONFIG_OK);
    assert_int_equal(load(&c, err, sizeof(err), 2, "--k", "8193"), RECS_CONFIG_INVALID);
    assert_int_equal(load(&c, err, sizeof(err), 2, "--statement-timeout-ms", "9"),
                     RECS_CONFIG_INVALID);
    assert_string_equal(err, "invalid --statement-timeout-ms '9': expected an integer 10..600000");
    assert_int_equal(load(&c, err, sizeof(err), 2, "--header-timeout", "0"), RECS_CONFIG_INVALID);
    assert_string_equal(err, "invalid --header-timeout '0': expected an integer 1..3600");
    assert_int_equal(load(&c, err, sizeof(err), 1, "--send-timeout=3601"), RECS_CONFIG_INVALID);
    assert_string_equal(err, "invalid --send-timeout '3601': expected an integer 1..3600");
    assert_int_equal(
        load(&c, err, sizeof(err), 4, "--header-timeout", "3600", "--send-timeout", "1"),
        RECS_CONFIG_OK);
    assert_int_equal(c.header_timeout_s, 3600);
    assert_int_equal(c.send_timeout_s, 1);
}

static void test_messages(void **state)
{
    (void)state;
    struct recs_config c;
    char err[256];
    set_env("PORT", "70000");
    assert_int_equal(load(&c, err, sizeof(err), 0), RECS_CONFIG_INVALID);
    assert_string_equal(err, "invalid PORT '70000': expected an integer 1..65535");
    reset_env(NULL);

    assert_int_equal(load(&c, err, sizeof(err), 2, "--port", "abc"), RECS_CONFIG_INVALID);
    assert_string_equal(err, "invalid --port 'abc': expected an integer 1..65535");
    assert_int_equal(load(&c, err, sizeof(err), 1, "--bogus=1"), RECS_CONFIG_INVALID);
    assert_string_equal(err, "unknown option '--bogus' (see --help)");
    assert_int_equal(load(&c, err, sizeof(err), 1, "--port"), RECS_CONFIG_INVALID);
    assert_string_equal(err, "option '--port' needs a value");
    assert_int_equal(load(&c, err, sizeof(err), 2, "--port", "--k"), RECS_CONFIG_INVALID);
    assert_string_equal(err, "option '--port' needs a value");
    assert_int_equal(load(&c, err, sizeof(err), 1, "serve"), RECS_CONFIG_INVALID);
    assert_string_equal(err, "unexpected argument 'serve' (see --help)");
    assert_int_equal(load(&c, err, sizeof(err), 1, "-p"), RECS_CONFIG_INVALID);
    assert_int_equal(load(&c, err, sizeof(err), 1, "--"), RECS_CONFIG_INVALID);

    assert_int_equal(load(&c, err, sizeof(err), 1, "--cache=maybe"), RECS_CONFIG_INVALID);
    assert_non_null(strstr(err, "invalid --cache 'maybe': expected on|off"));
    assert_int_equal(load(&c, err, sizeof(err), 1, "--kernel=sse9"), RECS_CONFIG_INVALID);
    assert_string_equal(err, "invalid --kernel 'sse9': expected auto|scalar|avx2|avx512");
    assert_int_equal(load(&c, err, sizeof(err), 1, "--listen-address=localhost"),
                     RECS_CONFIG_INVALID);
    assert_non_null(strstr(err, "invalid --listen-address 'localhost'"));
    assert_int_equal(load(&c, err, sizeof(err), 1, "--database-url="), RECS_CONFIG_INVALID);

    /* Control bytes never break the message's single line. */
    assert_int_equal(load(&c, err, sizeof(err), 1, "--port=1\n2"), RECS_CONFIG_INVALID);
    assert_string_equal(err, "invalid --port '1?2': expected an integer 1..65535");

    /* A tiny errbuf is truncated, not overrun. */
    char small[8];
    assert_int_equal(load(&c, small, sizeof(small), 1, "--port=0"), RECS_CONFIG_INVALID);
    assert_string_equal(small, "invalid");
    assert_int_equal(load(&c, NULL, 0, 1, "--port=0"), RECS_CONFIG_INVALID);
}

static void test_database_url_errors(void **state)
{
    (void)state;
    struct recs_config c;
    char err[256], url[1100];
    memset(url, 'a', sizeof(url) - 1);
    url[sizeof(url) - 1] = '\0';
    memcpy(url, "postgresql://app:hunter2@db/", 28);
    set_env("DATABASE_URL", url);
    assert_int_equal(load(&c, err, sizeof(err), 0), RECS_CONFIG_INVALID);
    assert_null(strstr(err, "hunter2"));
    assert_non_null(strstr(err, "invalid DATABASE_URL 'postgresql://app:***@db/aaa"));
    assert_non_null(strstr(err, "...': too long (at most 1023 bytes)"));
    assert_true(strlen(err) < 160);

    url[1024] = '\0';
    assert_int_equal(load(&c, err, sizeof(err), 0), RECS_CONFIG_INVALID);
    url[1023] = '\0';
    assert_int_equal(load(&c, err, sizeof(err), 0), RECS_CONFIG_OK);
    assert_string_equal(c.database_url, url);
}

static void test_help(void **state)
{
    (void)state;
    struct recs_config c;
    char err[64], *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    char *argv[] = {"recs", "--port=bad", "--help", NULL};
    set_env("PORT", "bad"); /* --help wins over bad values */
    assert_int_equal(recs_config_load(&c, 3, argv, fake_getenv, out, err, sizeof(err)),
                     RECS_CONFIG_HELP);
    fclose(out);
    static const char *const expect[] = {"--database-url URL",
                                         "DATABASE_URL",
                                         "--port N",
                                         "PORT, default \"8080\"",
                                         "1..65535",
                                         "--kernel NAME",
                                         "RECS_KERNEL",
                                         "--access-log on|off",
                                         "RECS_ACCESS_LOG",
                                         "--listen-address",
                                         "--memory-limit BYTES",
                                         "RECS_MEMORY_LIMIT, default \"0\"",
                                         "empty string counts as unset",
                                         "-h, --help"};
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        if (!strstr(text, expect[i]))
            fail_msg("help lacks '%s'", expect[i]);
    }
    free(text);

    char *argv2[] = {"recs", "-h", NULL};
    assert_int_equal(recs_config_load(&c, 2, argv2, fake_getenv, NULL, err, sizeof(err)),
                     RECS_CONFIG_HELP);
}

static void test_resolve(void **state)
{
    (void)state;
    struct recs_config c;
    char err[64];
    assert_int_equal(load(&c, err, sizeof(err), 0), RECS_CONFIG_OK);
    recs_config_resolve(&c, 4);
    assert_int_equal(c.http_threads, 8);
    assert_int_equal(c.score_threads, 4);
    assert_int_equal(c.db_pool_size, 9);

    assert_int_equal(load(&c, err, sizeof(err), 0), RECS_CONFIG_OK);
    recs_config_resolve(&c, 0);
    assert_int_equal(c.http_threads, 2);
    assert_int_equal(c.db_pool_size, 3);

    assert_int_equal(
        load(&c, err, sizeof(err), 3, "--http-threads=3", "--score-threads=2", "--db-pool-size=7"),
        RECS_CONFIG_OK);
    recs_config_resolve(&c, 16);
    assert_int_equal(c.http_threads, 3);
    assert_int_equal(c.score_threads, 2);
    assert_int_equal(c.db_pool_size, 7);
}

static void check_redact(const char *in, const char *want)
{
    char out[256];
    recs_config_redact_url(in, out, sizeof(out));
    if (strcmp(out, want) != 0)
        fail_msg("redact(%s) = '%s', want '%s'", in, out, want);
}

static void test_redact(void **state)
{
    (void)state;
    check_redact("postgresql:///shop", "postgresql:///shop");
    check_redact("postgresql://user:pw@host:5432/db?x=y", "postgresql://user:***@host:5432/db?x=y");
    check_redact("postgres://user@host/db", "postgres://user@host/db");
    check_redact("postgres://host:5432/db", "postgres://host:5432/db");
    check_redact("postgresql://u:p@ss@host/db", "postgresql://u:***@host/db");
    check_redact("postgresql://u:pa?ss@host/db", "postgresql://u:***@host/db");
    check_redact("postgresql://u:p/w@host/db", "postgresql://u:***@host/db");
    /* a query whose password holds an '@', no path: all of it hidden */
    check_redact("postgresql://u:first@h?password=@ssps", "postgresql://***");
    check_redact("postgresql://u@h?password=a@b", "postgresql://***");
    check_redact("postgresql://u:first@h/db?password=@ssps",
                 "postgresql://u:***@h/db?password=***");
    check_redact("postgresql://u@h/db?application_name=a@b&password=pw&sslmode=require",
                 "postgresql://u@h/db?application_name=a@b&password=***&sslmode=require");
    check_redact("postgresql:///db?password=pw", "postgresql:///db?password=***");
    check_redact("host=x password=pw dbname=y", "host=x password=*** dbname=y");
    check_redact("host=x password = 'p w\\' x' dbname=y", "host=x password = *** dbname=y");
    check_redact("password=a\\ b port=5", "password=*** port=5");
    check_redact("  host = x  ", "  host = x  ");
    check_redact("dbname='postgresql://u:pw@h/d' user=z", "dbname='postgresql://u:***@h/d' user=z");
    check_redact("host=x oops secret", "host=x ***");
    check_redact("", "");
    check_redact(NULL, "");

    /* Truncation keeps a NUL and never shows the password. */
    char out[20];
    memset(out, 'X', sizeof(out));
    recs_config_redact_url("postgresql://user:supersecret@host/db", out, sizeof(out));
    assert_string_equal(out, "postgresql://user:*");
    char tiny[1] = {'X'};
    recs_config_redact_url("password=x", tiny, 1);
    assert_int_equal(tiny[0], '\0');
    recs_config_redact_url("password=x", NULL, 0);
}

static void test_log(void **state)
{
    (void)state;
    struct recs_config c;
    char err[64], *text = NULL;
    size_t len = 0;
    set_env("DATABASE_URL", "postgresql://app:s3cret@db/shop");
    set_env("RECS_MEMORY_LIMIT", "1536M");
    assert_int_equal(load(&c, err, sizeof(err), 1, "--kernel=avx2"), RECS_CONFIG_OK);
    recs_config_resolve(&c, 2);
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    recs_config_log(&c, out);
    fclose(out);
    assert_null(strstr(text, "s3cret"));
    assert_int_equal(text[len - 1], '\n');
    assert_null(memchr(text, '\n', len - 1));

    json_error_t jerr;
    json_t *obj = json_loads(text, 0, &jerr);
    assert_non_null(obj);
    assert_string_equal(json_string_value(json_object_get(obj, "event")), "config");
    assert_string_equal(json_string_value(json_object_get(obj, "database_url")),
                        "postgresql://app:***@db/shop");
    assert_int_equal(json_integer_value(json_object_get(obj, "port")), 8080);
    assert_int_equal(json_integer_value(json_object_get(obj, "http_threads")), 4);
    assert_int_equal(json_integer_value(json_object_get(obj, "db_pool_size")), 5);
    assert_string_equal(json_string_value(json_object_get(obj, "kernel")), "avx2");
    assert_true(json_is_true(json_object_get(obj, "cache")));
    assert_string_equal(json_string_value(json_object_get(obj, "listen_address")), "");
    assert_int_equal(json_integer_value(json_object_get(obj, "memory_limit")), 1610612736);
    json_decref(obj);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, reset_env),
        cmocka_unit_test_setup(test_env_then_flags, reset_env),
        cmocka_unit_test_setup(test_integers, reset_env),
        cmocka_unit_test_setup(test_memory_limit, reset_env),
        cmocka_unit_test_setup(test_messages, reset_env),
        cmocka_unit_test_setup(test_database_url_errors, reset_env),
        cmocka_unit_test_setup(test_help, reset_env),
        cmocka_unit_test_setup(test_resolve, reset_env),
        cmocka_unit_test_setup(test_redact, reset_env),
        cmocka_unit_test_setup(test_log, reset_env),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
