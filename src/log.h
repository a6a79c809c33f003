/*
 * log.h - JSON-lines logging: the access log (one line per request, on
 * stdout) and events (start, stop, database trouble, on stderr). Each line is
 * written with a single write(2), so lines from different threads never
 * interleave and nothing sits in a buffer when the process stops.
 */
#ifndef RECS_LOG_H
#define RECS_LOG_H

#include <stddef.h>

/* One finished request. path is logged as received (escaped as JSON). */
struct recs_access_entry {
    const char *method;
    const char *path;
    unsigned status;
    double duration_s;
    size_t bytes;
    const char *request_id; /* may be NULL */
    const char *trace_id;   /* W3C trace id, 32 lowercase hex digits; may be NULL */
};

void recs_log_access(const struct recs_access_entry *entry);

/* An event line on stderr: {"time":...,"level":...,"event":...,"message":...}.
 * The message is printf-formatted; callers never pass secrets. */
void recs_log_info(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void recs_log_error(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats the current UTC time as 2026-01-02T03:04:05.678Z into buf (>= 32 bytes). */
void recs_log_timestamp(char *buf, size_t len);

#endif
