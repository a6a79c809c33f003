/*
 * trace.h - W3C Trace Context (https://www.w3.org/TR/trace-context/): the
 * traceparent request header read, the one for this service's span made.
 * Pure functions with no I/O and no randomness of their own, so that every
 * rule of the specification can be unit-tested.
 */
#ifndef RECS_TRACE_H
#define RECS_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#define RECS_TRACE_ID_HEX 32u     /* 16 bytes as lowercase hex */
#define RECS_TRACE_SPAN_HEX 16u   /* 8 bytes as lowercase hex */
#define RECS_TRACEPARENT_LEN 55u  /* version 00: "00-" trace "-" span "-" flags */
#define RECS_TRACE_RANDOM_WORDS 3 /* two for a new trace id, one for the span id */

/* The trace context of one request as this service's span. */
struct recs_trace {
    char traceparent[RECS_TRACEPARENT_LEN + 1]; /* for the response, version 00 */
    char trace_id[RECS_TRACE_ID_HEX + 1];       /* for the access log */
};

/* Whether value is a traceparent to continue: version 00 exactly as the
 * specification writes it, or a later version (not ff) whose first four
 * fields have the version 00 layout and are followed by the end or a '-'.
 * Hex is lowercase only, ids must not be all zero. On success copies the
 * trace id (NUL-terminated) and the caller's sampled flag. */
bool recs_trace_parse(const char *value, char trace_id[RECS_TRACE_ID_HEX + 1], bool *sampled);

/* This service's span of a request that came with traceparent (NULL when it
 * had none, or more than one): in the caller's trace with its sampled flag
 * when the header is valid, else in a new, unsampled trace whose id is made
 * of random[0] and random[1]. The span id is random[2]. An id that would be
 * all zero gets its lowest bit set, so the result is always valid. */
void recs_trace_begin(struct recs_trace *trace, const char *traceparent,
                      const uint64_t random[RECS_TRACE_RANDOM_WORDS]);

#endif
