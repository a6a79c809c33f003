/*
 * wire.h - checks the raw bytes of HTTP/1.1 request heads as they arrive on
 * a connection, before any parser turns them into C strings. libmicrohttpd
 * 0.9.75 ends a method, target, header name or value at a NUL byte and
 * hands over only what comes before it, so what it shows cannot tell such a
 * request from a valid one; this scanner sees every byte. Pure (no I/O), so
 * it can be tested byte by byte.
 */
#ifndef RECS_WIRE_H
#define RECS_WIRE_H

#include <stdbool.h>
#include <stddef.h>

/* The scanning state of one connection. Zero-initialised (or
 * recs_wire_init) before its first byte. */
struct recs_wire {
    unsigned char state; /* where in a request head the next byte falls */
    bool in_head;        /* between a request's first byte and the blank line that ends its head */
    unsigned heads;      /* request heads begun on the connection (1 = its first request) */
    unsigned bad_head;   /* the head holding the first forbidden byte; 0 = none so far */
};

void recs_wire_init(struct recs_wire *w);

/* Scans the next len bytes received on the connection. After the first
 * forbidden byte the rest is not looked at: the connection is to be
 * answered 400 and closed at that request.
 *
 * Accepted, per RFC 9112: empty lines before a request line; method = token,
 * then one SP; a target of visible ASCII (0x21-0x7E), then one SP; a version
 * of visible ASCII; header lines of a token name, ':', and a value of SP,
 * HTAB, visible ASCII and bytes 0x80-0xFF; lines ending in CRLF or a bare
 * LF. Everything else is forbidden: NUL and every other control byte, DEL,
 * a bare CR, whitespace before the colon or at the start of a header line
 * (obs-fold, which RFC 9112 lets a server reject), an empty name, a second
 * SP in the request line, bytes above 0x7E in the method, target or version.
 * Bytes after a head announcing a body are scanned as the next request
 * line; recs answers such a request and closes the connection before that
 * "request" could be served. */
void recs_wire_scan(struct recs_wire *w, const char *data, size_t len);

/* Whether request number n (1-based) on the connection, or one before it,
 * held a forbidden byte. */
bool recs_wire_rejects(const struct recs_wire *w, unsigned n);

#endif
