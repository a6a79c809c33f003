/*
 * openapi.h - docs/openapi.yaml compiled into the binary, so that
 * GET /openapi.yaml always describes the build that serves it and needs no
 * file at run time. The Makefile generates the definition from the file.
 */
#ifndef RECS_OPENAPI_H
#define RECS_OPENAPI_H

#include <stddef.h>

extern const unsigned char recs_openapi_yaml[];
extern const size_t recs_openapi_yaml_len;

#endif
