/*
 * log.c - JSON-lines logging. jansson does the escaping, so whatever a
 * client puts in a path cannot break a log line.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "route.h" /* RECS_REQUEST_ID_MAX */

void recs_log_timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    char base[24];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

/* Writes obj as one line to fd and releases it. Lines are small; a failed or
 * short write is dropped rather than retried forever. */
static void write_line(int fd, json_t *obj)
{
    char *text;
    size_t len;

    if (obj == NULL)
        return;
    text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(obj);
    if (text == NULL)
        return;
    len = strlen(text);
    text[len] = '\n';
    for (size_t off = 0; off < len + 1;) {
        ssize_t n = write(fd, text + off, len + 1 - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    free(text);
}

/* Copies s into out as printable ASCII: other bytes become \xNN, so that
 * invalid UTF-8 or control characters from a client can neither break the
 * line nor make jansson refuse it. Truncates to fit out. */
static const char *printable(const char *s, char *out, size_t out_len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p != '\0'; p++) {
        if (*p >= 0x20 && *p < 0x7f) {
            if (o + 1 >= out_len)
                break;
            out[o++] = (char)*p;
        } else {
            if (o + 4 >= out_len)
                break;
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return out;
}

void recs_log_access(const struct recs_access_entry *e)
{
    /* request_id holds a whole valid id (the one sent back in X-Request-Id),
     * or the log and the response could not be matched up. */
    char now[32], method[32], path[1024], request_id[RECS_REQUEST_ID_MAX + 1];
    json_t *obj;

    recs_log_timestamp(now, sizeof(now));
    obj = json_pack("{s:s, s:s, s:s, s:i, s:f, s:I}", "time", now, "method",
                    printable(e->method, method, sizeof(method)), "path",
                    printable(e->path, path, sizeof(path)), "status", (int)e->status, "duration_ms",
                    e->duration_s * 1000.0, "bytes", (json_int_t)e->bytes);
    if (obj != NULL && e->request_id != NULL)
        json_object_set_new(obj, "request_id",
                            json_string(printable(e->request_id, request_id, sizeof(request_id))));
    if (obj != NULL && e->trace_id != NULL)
        json_object_set_new(obj, "trace_id", json_string(e->trace_id));
    write_line(STDOUT_FILENO, obj);
}

static void log_event(const char *level, const char *event, const char *fmt, va_list ap)
{
    char now[32], message[1024], clean[2048];

    recs_log_timestamp(now, sizeof(now));
    vsnprintf(message, sizeof(message), fmt, ap);
    write_line(STDERR_FILENO,
               json_pack("{s:s, s:s, s:s, s:s}", "time", now, "level", level, "event", event,
                         "message", printable(message, clean, sizeof(clean))));
}

void recs_log_info(const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_event("info", event, fmt, ap);
    va_end(ap);
}

void recs_log_error(const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_event("error", event, fmt, ap);
    va_end(ap);
}
