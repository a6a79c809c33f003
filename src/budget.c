/*
 * budget.c - the memory budget of catalog snapshots (budget.h).
 *
 * What the process holds is its resident set: the rows just read, the
 * snapshot still serving and the requests in flight are all in it, so a
 * build is admitted only when its estimated peak fits on top of them. That
 * is what the kernel compares with memory.max, and so what keeps the OOM
 * killer away.
 */
#include "budget.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "memory.h"

/* While refusals go on, another line at most this often. */
#define LOG_INTERVAL_S 60.0

struct recs_budget {
    struct recs_budget_options opts;
    pthread_mutex_t lock; /* guards the rest */
    bool refused;
    size_t estimate;           /* what the refused read needed */
    char *snapshot, *identity; /* where it stood; NULL when unknown */
    bool logged;               /* a refusal was logged, at logged_at */
    double logged_at;
    unsigned unlogged; /* refusals since */
};

static double monotonic_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

int recs_budget_create(const struct recs_budget_options *opts, struct recs_budget **out)
{
    struct recs_budget *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return -1;
    b->opts = *opts;
    if (b->opts.held == NULL)
        b->opts.held = recs_memory_resident;
    if (b->opts.now == NULL)
        b->opts.now = monotonic_seconds;
    if (pthread_mutex_init(&b->lock, NULL) != 0) {
        free(b);
        return -1;
    }
    *out = b;
    return 0;
}

/* Forgets where the refused read stood. Called with the lock held. */
static void forget_place(struct recs_budget *b)
{
    free(b->snapshot);
    free(b->identity);
    b->snapshot = b->identity = NULL;
}

void recs_budget_destroy(struct recs_budget *budget)
{
    if (budget == NULL)
        return;
    forget_place(budget);
    pthread_mutex_destroy(&budget->lock);
    free(budget);
}

bool recs_budget_fits(struct recs_budget *budget, size_t bytes)
{
    return budget->opts.limit == 0 || budget->opts.held() + bytes <= budget->opts.limit;
}

bool recs_budget_admit(struct recs_budget *budget, const char *what, size_t products,
                       size_t estimate, const char *snapshot, const char *identity)
{
    struct recs_budget *b = budget;
    uint64_t held, limit = b->opts.limit;
    double now;
    bool due;

    if (limit == 0)
        return true;
    held = b->opts.held();
    if (held + estimate <= limit)
        return true;
    now = b->opts.now();
    pthread_mutex_lock(&b->lock);
    b->refused = true;
    b->estimate = estimate;
    forget_place(b);
    if (snapshot != NULL && identity != NULL) {
        b->snapshot = strdup(snapshot);
        b->identity = strdup(identity);
        if (b->snapshot == NULL || b->identity == NULL)
            forget_place(b); /* then the next refresh reads everything */
    }
    due = !b->logged || now - b->logged_at >= LOG_INTERVAL_S;
    if (due && estimate == 0) /* nothing known of the read: not even room for it */
        recs_log_error("catalog_memory",
                       "%s refused: the process holds %.1f MiB and its memory limit is %.1f MiB "
                       "(%" PRIu64 " bytes); %u more refusals since the last line",
                       what, mib(held), mib(limit), limit, b->unlogged);
    else if (due)
        recs_log_error("catalog_memory",
                       "%s refused: %zu products need an estimated %.1f MiB (%zu bytes), the "
                       "process holds %.1f MiB and its memory limit is %.1f MiB (%" PRIu64
                       " bytes); %u more refusals since the last line",
                       what, products, mib(estimate), estimate, mib(held), mib(limit), limit,
                       b->unlogged);
    if (due) {
        b->logged = true;
        b->logged_at = now;
        b->unlogged = 0;
    } else {
        b->unlogged++;
    }
    pthread_mutex_unlock(&b->lock);
    return false;
}

void recs_budget_clear(struct recs_budget *budget)
{
    pthread_mutex_lock(&budget->lock);
    budget->refused = false;
    budget->logged = false; /* the next refusal starts anew: logged at once */
    budget->unlogged = 0;
    forget_place(budget);
    pthread_mutex_unlock(&budget->lock);
}

bool recs_budget_refused(struct recs_budget *budget)
{
    bool refused;

    pthread_mutex_lock(&budget->lock);
    refused = budget->refused;
    pthread_mutex_unlock(&budget->lock);
    return refused;
}

bool recs_budget_refusal(struct recs_budget *budget, char **snapshot, char **identity,
                         size_t *estimate)
{
    bool known = false;

    *snapshot = *identity = NULL;
    pthread_mutex_lock(&budget->lock);
    if (budget->refused && budget->snapshot != NULL) {
        *snapshot = strdup(budget->snapshot);
        *identity = strdup(budget->identity);
        *estimate = budget->estimate;
        known = *snapshot != NULL && *identity != NULL;
    }
    pthread_mutex_unlock(&budget->lock);
    if (!known) {
        free(*snapshot);
        free(*identity);
        *snapshot = *identity = NULL;
    }
    return known;
}

void recs_budget_moved(struct recs_budget *budget, const char *snapshot)
{
    char *later = strdup(snapshot);

    pthread_mutex_lock(&budget->lock);
    if (later != NULL && budget->refused && budget->snapshot != NULL) {
        free(budget->snapshot);
        budget->snapshot = later;
        later = NULL;
    }
    pthread_mutex_unlock(&budget->lock);
    free(later);
}
