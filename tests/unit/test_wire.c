/*
 * test_wire.c - the raw-byte check of request heads: every one of the 256
 * byte values inside the method, the target, a header name and a header
 * value, against the character sets of RFC 9110/9112 written out here on
 * their own; the valid forms it must not refuse; heads split at every byte;
 * which request of a pipeline a forbidden byte is charged to.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

/* Whether one whole head (data, len) scanned at once is accepted. */
static bool accepted(const char *data, size_t len)
{
    struct recs_wire w;

    recs_wire_init(&w);
    recs_wire_scan(&w, data, len);
    return !recs_wire_rejects(&w, 1) && w.heads == 1 && !w.in_head;
}

static bool accepted_text(const char *text)
{
    return accepted(text, strlen(text));
}

static bool tchar(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", (int)c) != NULL);
}

/* Where a byte goes, and which bytes RFC 9110/9112 allow there: prefix, the
 * byte, suffix. Each prefix alone is a valid head's beginning, so that a
 * parser stopping at the byte would see a valid request. */
static const struct {
    const char *field, *prefix, *suffix;
} places[] = {
    {"method", "GET", "X /healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
    {"target", "GET /healthz", "X HTTP/1.1\r\nHost: x\r\n\r\n"},
    {"header name", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A", "B: v\r\n\r\n"},
    {"header value", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc", "def\r\n\r\n"},
};

static bool allowed(size_t place, unsigned c)
{
    switch (place) {
    case 0: /* method = token */
        return tchar(c);
    case 1: /* origin-form: visible ASCII, no SP */
        return c >= 0x21 && c <= 0x7e;
    case 2: /* field-name = token; a colon just ends it early */
        return tchar(c) || c == ':';
    default: /* field-value: field-vchar (VCHAR, obs-text), SP, HTAB */
        return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
    }
}

static void test_every_byte_in_every_field(void **state)
{
    (void)state;
    for (size_t p = 0; p < sizeof(places) / sizeof(places[0]); p++) {
        for (unsigned c = 0; c < 256; c++) {
            char head[256];
            size_t pre = strlen(places[p].prefix), suf = strlen(places[p].suffix);

            memcpy(head, places[p].prefix, pre);
            head[pre] = (char)c;
            memcpy(head + pre + 1, places[p].suffix, suf);
            if (accepted(head, pre + 1 + suf) != allowed(p, c))
                fail_msg("byte 0x%02x in the %s: %s, expected %s", c, places[p].field,
                         allowed(p, c) ? "refused" : "accepted",
                         allowed(p, c) ? "accepted" : "refused");
        }
    }
}

/* What curl, browsers, Go, Python and proxies send, and what RFC 9112 lets
 * a recipient accept. */
static void test_valid_heads_are_accepted(void **state)
{
    static const char *const valid[] = {
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "GET /healthz HTTP/1.1\nHost: x\n\n",                         /* bare LF */
        "GET /healthz HTTP/1.1\r\nHost: x\n\r\n",                     /* mixed */
        "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",           /* empty lines first */
        "GET /healthz HTTP/1.1\r\nHost:x\r\nX-A:\r\n\r\n",            /* no OWS, empty value */
        "GET /healthz HTTP/1.1\r\nHost: \t x \t\r\n\r\n",             /* OWS around the value */
        "GET /healthz HTTP/1.1\r\nX-A: caf\xc3\xa9 \x80\xff\r\n\r\n", /* obs-text */
        "GET /p?q=%00&r=%0D%0A HTTP/1.1\r\nHost: x\r\n\r\n",          /* escapes are route.c's */
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nCookie: a=b; c=\"d e\"\r\nUser-Agent: Mozilla/5.0 (X11)\r\n\r\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        if (!accepted_text(valid[i]))
            fail_msg("valid head %zu refused: %s", i, valid[i]);
}

#define BAD(name, data)                                                                            \
    {                                                                                              \
        name, data, sizeof(data) - 1                                                               \
    }

static void test_malformed_heads_are_refused(void **state)
{
    static const struct {
        const char *name, *data;
        size_t len;
    } bad[] = {
        BAD("NUL at the end of the target", "GET /healthz\0 HTTP/1.1\r\nHost: x\r\n\r\n"),
        /* a bare LF is one byte shorter than CRLF: a length check alone
         * would have let the NUL through */
        BAD("NUL in the target, bare LF", "GET /healthz\0 HTTP/1.1\nHost: x\r\n\r\n"),
        BAD("NUL starting a header line", "GET / HTTP/1.1\r\nHost: x\r\n\0X: y\r\n\r\n"),
        BAD("NUL as the blank line", "GET / HTTP/1.1\r\nHost: x\r\n\0\r\n"),
        BAD("NUL before the request line", "\0GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        BAD("NUL in the version", "GET / HTTP/1.1\0\r\nHost: x\r\n\r\n"),
        BAD("bare CR in a value", "GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n"),
        BAD("bare CR before the request line", "\rGET / HTTP/1.1\r\n\r\n"),
        BAD("obs-fold", "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"),
        BAD("SP before the colon", "GET / HTTP/1.1\r\nX-A : b\r\n\r\n"),
        BAD("HTAB before the colon", "GET / HTTP/1.1\r\nX-A\t: b\r\n\r\n"),
        BAD("empty header name", "GET / HTTP/1.1\r\n: b\r\n\r\n"),
        BAD("header line without a colon", "GET / HTTP/1.1\r\nX-A\r\n\r\n"),
        BAD("two SPs after the method", "GET  / HTTP/1.1\r\n\r\n"),
        BAD("two SPs after the target", "GET /  HTTP/1.1\r\n\r\n"),
        BAD("SP at the end of the line", "GET / HTTP/1.1 \r\n\r\n"),
        BAD("no version (HTTP/0.9)", "GET /\r\n\r\n"),
        BAD("empty version", "GET / \r\n\r\n"),
        BAD("SP first", " GET / HTTP/1.1\r\n\r\n"),
        BAD("DEL in the target", "GET /a\x7f HTTP/1.1\r\n\r\n"),
        BAD("UTF-8 in the target", "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n"),
        BAD("ESC in a value", "GET / HTTP/1.1\r\nX-A: \x1b[31m\r\n\r\n"),
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct recs_wire w;
        recs_wire_init(&w);
        recs_wire_scan(&w, bad[i].data, bad[i].len);
        if (!recs_wire_rejects(&w, 1))
            fail_msg("%s: accepted", bad[i].name);
    }
}

/* Bytes arrive in any pieces: scanning one byte at a time gives the same
 * verdict as scanning the head at once. */
static void test_split_at_every_byte(void **state)
{
    static const char good[] = "\r\nGET /healthz HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n";
    static const char bad[] = "GET /healthz HTTP/1.1\r\nX-A: b\0c\r\n\r\n";

    (void)state;
    for (size_t cut = 0; cut <= sizeof(good) - 1; cut++) {
        struct recs_wire w;
        recs_wire_init(&w);
        recs_wire_scan(&w, good, cut);
        recs_wire_scan(&w, good + cut, sizeof(good) - 1 - cut);
        assert_false(recs_wire_rejects(&w, 1));
        assert_int_equal(w.heads, 1);
        assert_false(w.in_head);
    }
    {
        struct recs_wire w;
        recs_wire_init(&w);
        for (size_t i = 0; i < sizeof(bad) - 1; i++)
            recs_wire_scan(&w, bad + i, 1);
        assert_true(recs_wire_rejects(&w, 1));
    }
}

/* In a pipeline, a forbidden byte is charged to its own request: those
 * before it are served, it and every later one are not. */
static void test_pipelined_heads(void **state)
{
    static const char data[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /c\x01 HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /d HTTP/1.1\r\nHost: x\r\n\r\n";
    struct recs_wire w;

    (void)state;
    recs_wire_init(&w);
    recs_wire_scan(&w, data, 56);
    assert_int_equal(w.heads, 2);
    assert_false(w.in_head);
    assert_false(recs_wire_rejects(&w, 2));
    recs_wire_scan(&w, data + 56, 3); /* the next request's first bytes */
    assert_int_equal(w.heads, 3);
    assert_true(w.in_head);
    recs_wire_scan(&w, data + 59, sizeof(data) - 1 - 59);
    assert_false(recs_wire_rejects(&w, 2));
    assert_true(recs_wire_rejects(&w, 3));
    assert_true(recs_wire_rejects(&w, 4));
    assert_int_equal(w.heads, 3); /* nothing after the forbidden byte is counted */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_byte_in_every_field),
        cmocka_unit_test(test_valid_heads_are_accepted),
        cmocka_unit_test(test_malformed_heads_are_refused),
        cmocka_unit_test(test_split_at_every_byte),
        cmocka_unit_test(test_pipelined_heads),
    };
    return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
