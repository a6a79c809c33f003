/*
 * wire.c - a byte-at-a-time state machine over the request heads of one
 * connection (see wire.h for what it accepts). It only decides whether a
 * head may be served; libmicrohttpd still parses it.
 */
#include "wire.h"

enum {
    W_IDLE,         /* before a request line: empty lines are skipped */
    W_IDLE_CR,      /* CR of such an empty line */
    W_METHOD,       /* in the method */
    W_TARGET_START, /* after the SP that ends the method */
    W_TARGET,
    W_VERSION_START, /* after the SP that ends the target */
    W_VERSION,
    W_LINE_CR,     /* CR ending the request line or a header line */
    W_FIELD_START, /* start of a header line, or of the blank line */
    W_FIELD_NAME,
    W_FIELD_VALUE, /* after the colon */
    W_END_CR,      /* CR of the blank line */
    W_BAD,         /* a forbidden byte was seen: nothing more is looked at */
};

#define C_TOKEN 1u   /* RFC 9110 tchar */
#define C_VISIBLE 2u /* VCHAR: 0x21-0x7E */
#define C_VALUE 4u   /* field-vchar, SP or HTAB: what a header value may hold */

static unsigned char char_class(unsigned char c)
{
    unsigned char cls = 0;

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        cls |= C_TOKEN;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
        cls |= C_TOKEN;
        break;
    default:
        break;
    }
    if (c >= 0x21 && c <= 0x7e)
        cls |= C_VISIBLE;
    if (c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f))
        cls |= C_VALUE;
    return cls;
}

void recs_wire_init(struct recs_wire *w)
{
    w->state = W_IDLE;
    w->in_head = false;
    w->heads = 0;
    w->bad_head = 0;
}

/* The state after byte c in state s, or W_BAD. */
static unsigned char next_state(unsigned char s, unsigned char c)
{
    unsigned char cls = char_class(c);

    switch (s) {
    case W_IDLE:
        if (c == '\r')
            return W_IDLE_CR;
        if (c == '\n')
            return W_IDLE;
        return (cls & C_TOKEN) ? W_METHOD : W_BAD;
    case W_IDLE_CR:
        return c == '\n' ? W_IDLE : W_BAD;
    case W_METHOD:
        if (c == ' ')
            return W_TARGET_START;
        return (cls & C_TOKEN) ? W_METHOD : W_BAD;
    case W_TARGET_START:
    case W_TARGET:
        if (c == ' ' && s == W_TARGET)
            return W_VERSION_START;
        return (cls & C_VISIBLE) ? W_TARGET : W_BAD;
    case W_VERSION_START:
    case W_VERSION:
        if (s == W_VERSION && c == '\r')
            return W_LINE_CR;
        if (s == W_VERSION && c == '\n')
            return W_FIELD_START;
        return (cls & C_VISIBLE) ? W_VERSION : W_BAD;
    case W_LINE_CR:
        return c == '\n' ? W_FIELD_START : W_BAD;
    case W_FIELD_START:
        if (c == '\r')
            return W_END_CR;
        if (c == '\n')
            return W_IDLE; /* the head is complete */
        return (cls & C_TOKEN) ? W_FIELD_NAME : W_BAD;
    case W_FIELD_NAME:
        if (c == ':')
            return W_FIELD_VALUE;
        return (cls & C_TOKEN) ? W_FIELD_NAME : W_BAD;
    case W_FIELD_VALUE:
        if (c == '\r')
            return W_LINE_CR;
        if (c == '\n')
            return W_FIELD_START;
        return (cls & C_VALUE) ? W_FIELD_VALUE : W_BAD;
    case W_END_CR:
        return c == '\n' ? W_IDLE : W_BAD;
    default:
        return W_BAD;
    }
}

void recs_wire_scan(struct recs_wire *w, const char *data, size_t len)
{
    for (size_t i = 0; i < len && w->state != W_BAD; i++) {
        unsigned char from = w->state, to = next_state(from, (unsigned char)data[i]);

        if (!w->in_head && to != W_IDLE && to != W_IDLE_CR) {
            /* the first byte of a request line, or a forbidden byte where
             * one should start: either way it belongs to the next request */
            w->heads++;
            w->in_head = true;
        }
        if (to == W_BAD)
            w->bad_head = w->heads;
        else if (w->in_head && to == W_IDLE)
            w->in_head = false;
        w->state = to;
    }
}

bool recs_wire_rejects(const struct recs_wire *w, unsigned n)
{
    return w->bad_head != 0 && w->bad_head <= n;
}
