/*
 * render.h - the JSON bodies the service answers with (docs/API.md), built with
 * jansson. Every function returns a malloc'd, NUL-terminated body that the
 * caller owns (free()), or NULL when memory runs out.
 */
#ifndef RECS_RENDER_H
#define RECS_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "score.h"

/* {"product": {...}, "recommendations": [...]} for target and ranked[0..n). */
char *recs_render_recommendations(const struct recs_catalog *catalog, size_t target,
                                  const struct recs_ranked *ranked, size_t n, uint32_t k,
                                  size_t *len);

/* {"products": [...], "missing": [...], "recommendations": [...]} for a
 * cart: the targets found, the slugs not found, and ranked[0..n) whose
 * matches are sums over the ntargets targets (score = matches / (k *
 * ntargets)). */
char *recs_render_cart(const struct recs_catalog *catalog, const size_t *targets, size_t ntargets,
                       const char *const *missing, size_t nmissing,
                       const struct recs_ranked *ranked, size_t n, uint32_t k, size_t *len);

/* {"error": message} */
char *recs_render_error(const char *message, size_t *len);

/* {"status": status} */
char *recs_render_status(const char *status, size_t *len);

#endif
