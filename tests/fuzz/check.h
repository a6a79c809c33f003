/*
 * check.h - the fuzz harnesses' assertion: a broken property aborts, which
 * libFuzzer reports as a crash and saves the input that caused it.
 */
#ifndef RECS_FUZZ_CHECK_H
#define RECS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "property violated at %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
