/*
 * trace.c - the traceparent header of W3C Trace Context, read and written.
 * Offsets are those of version 00, which later versions must keep (they may
 * only append fields): version 0-1, trace id 3-34, parent id 36-51, flags
 * 53-54, dashes at 2, 35 and 52.
 */
#include "trace.h"

#include <stdio.h>
#include <string.h>

#define TRACE_AT 3u
#define PARENT_AT 36u
#define FLAGS_AT 53u
#define SAMPLED 0x01u

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Whether s[0..n) is lowercase hex and, when nonzero is set, not all '0'. */
static bool hex_field(const char *s, size_t n, bool nonzero)
{
    bool zero = true;

    for (size_t i = 0; i < n; i++) {
        if (hex_value(s[i]) < 0)
            return false;
        zero = zero && s[i] == '0';
    }
    return !(nonzero && zero);
}

bool recs_trace_parse(const char *value, char trace_id[RECS_TRACE_ID_HEX + 1], bool *sampled)
{
    size_t len;

    if (value == NULL)
        return false;
    /* Enough to tell "exactly 55" from "longer", without reading further. */
    len = strnlen(value, RECS_TRACEPARENT_LEN + 1);
    if (len < RECS_TRACEPARENT_LEN || !hex_field(value, 2, false) || value[2] != '-')
        return false;
    if (value[0] == 'f' && value[1] == 'f')
        return false; /* forbidden version */
    if (value[0] == '0' && value[1] == '0') {
        if (len != RECS_TRACEPARENT_LEN)
            return false; /* version 00 has no further fields */
    } else if (len > RECS_TRACEPARENT_LEN && value[RECS_TRACEPARENT_LEN] != '-') {
        return false;
    }
    if (!hex_field(value + TRACE_AT, RECS_TRACE_ID_HEX, true) || value[PARENT_AT - 1] != '-' ||
        !hex_field(value + PARENT_AT, RECS_TRACE_SPAN_HEX, true) || value[FLAGS_AT - 1] != '-' ||
        !hex_field(value + FLAGS_AT, 2, false))
        return false;
    memcpy(trace_id, value + TRACE_AT, RECS_TRACE_ID_HEX);
    trace_id[RECS_TRACE_ID_HEX] = '\0';
    /* Only the low bit is defined; the others are not ours to pass on. */
    *sampled = ((unsigned)hex_value(value[FLAGS_AT + 1]) & SAMPLED) != 0;
    return true;
}

void recs_trace_begin(struct recs_trace *trace, const char *traceparent,
                      const uint64_t random[RECS_TRACE_RANDOM_WORDS])
{
    uint64_t span = random[2] != 0 ? random[2] : 1;
    bool sampled = false;

    if (!recs_trace_parse(traceparent, trace->trace_id, &sampled)) {
        uint64_t low = random[0] == 0 && random[1] == 0 ? 1 : random[1];
        snprintf(trace->trace_id, sizeof(trace->trace_id), "%016llx%016llx",
                 (unsigned long long)random[0], (unsigned long long)low);
    }
    snprintf(trace->traceparent, sizeof(trace->traceparent), "00-%s-%016llx-%s", trace->trace_id,
             (unsigned long long)span, sampled ? "01" : "00");
}
