/*
 * budget.h - the memory budget of catalog snapshots: whether the bytes a
 * read of the catalog would need fit beside what the process holds under
 * its memory limit, and what is known of the latest refusal. The service
 * measures a read (catalog.h estimates) before it builds anything from it;
 * the first refusal is logged as one line, and while refusals go on (no
 * read fitted in between), at most one more line a minute, which counts
 * them.
 *
 * Thread-safe: the HTTP threads (the cache off) and the refresh share one.
 */
#ifndef RECS_BUDGET_H
#define RECS_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct recs_budget_options {
    uint64_t limit;         /* bytes the process may hold; 0 = no limit */
    uint64_t (*held)(void); /* bytes it holds now; NULL = recs_memory_resident */
    double (*now)(void);    /* monotonic seconds, for the log's pace; NULL = the clock */
};

struct recs_budget;

/* Returns 0, or -1 when memory runs out. The caller owns *out. */
int recs_budget_create(const struct recs_budget_options *opts, struct recs_budget **out);
void recs_budget_destroy(struct recs_budget *budget);

/* Whether bytes more fit now (always, without a limit). */
bool recs_budget_fits(struct recs_budget *budget, size_t bytes);

/* Whether a read that needs estimate more bytes may be built: what names
 * it for the log ("the catalog"), products is its size. A refusal is
 * remembered with where the read stood (snapshot and identity of
 * recs_rows, NULL when unknown) and logged (see the top of the file). */
bool recs_budget_admit(struct recs_budget *budget, const char *what, size_t products,
                       size_t estimate, const char *snapshot, const char *identity);

/* A read fitted: the refusal, if any, is over. */
void recs_budget_clear(struct recs_budget *budget);

/* Whether the latest read was refused (and none fitted since). */
bool recs_budget_refused(struct recs_budget *budget);

/* Where the refused read stood and what it needed: copies the caller
 * frees. false (and nothing to free) when no refusal with a place is known. */
bool recs_budget_refusal(struct recs_budget *budget, char **snapshot, char **identity,
                         size_t *estimate);

/* The refused rows are still the same at the later place snapshot. */
void recs_budget_moved(struct recs_budget *budget, const char *snapshot);

#endif
