/*
 * failmalloc.c - a preloadable library (LD_PRELOAD) that makes some memory
 * allocations fail, to test that the service survives running out of
 * memory on its request path. It needs no change to the service.
 *
 * It wraps malloc, calloc, realloc, aligned_alloc, memalign and
 * posix_memalign; free only so that the few bytes handed out while the real
 * functions are being looked up are never passed to the real free.
 * Allocations are eligible for failure only on threads whose name is
 * RECS_FAILMALLOC_THREAD (default "MHD-worker": libmicrohttpd's worker
 * threads, and the OpenMP threads they start, which inherit the name), so
 * start-up succeeds. Environment:
 *
 *   RECS_FAILMALLOC_PERCENT  chance that an eligible allocation fails, in
 *                            percent (may have decimals); 0 or unset: none
 *   RECS_FAILMALLOC_AFTER    eligible allocations that always succeed first
 *   RECS_FAILMALLOC_SEED     seed of the pseudo-random choice (default 1)
 *   RECS_FAILMALLOC_THREAD   thread name to fail on (default MHD-worker)
 *   RECS_FAILMALLOC_SPARE    comma-separated substrings of library paths
 *                            whose own calls never fail (e.g. "libgomp":
 *                            libgomp ends the process when malloc fails)
 *   RECS_FAILMALLOC_SWITCH   a file: fail only while it exists (a test turns
 *                            failures on and off without a restart)
 *
 * At exit it writes one line to stderr:
 *   failmalloc: failed F of E eligible allocations (S spared)
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void (*real_free)(void *);

/* dlsym may allocate (calloc) before the real functions are known. */
static _Alignas(max_align_t) unsigned char bootstrap[4096];
static atomic_size_t bootstrap_used;
static atomic_int resolving;

static uint32_t fail_ppm; /* parts per million */
static uint64_t warmup, seed = 1;
static char thread_name[16] = "MHD-worker";
static char spare[256];
static char switch_path[512];
static atomic_uint_fast64_t eligible, failed, spared;

static bool in_bootstrap(const void *p)
{
    return (const unsigned char *)p >= bootstrap &&
           (const unsigned char *)p < bootstrap + sizeof(bootstrap);
}

static void *bootstrap_alloc(size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    size_t at = atomic_fetch_add(&bootstrap_used, need);

    if (at + need > sizeof(bootstrap))
        return NULL;
    memset(bootstrap + at, 0, need);
    return bootstrap + at;
}

static void resolve(void)
{
    if (real_free != NULL || atomic_exchange(&resolving, 1) != 0)
        return;
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
    real_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
}

__attribute__((constructor)) static void failmalloc_init(void)
{
    const char *v;

    resolve();
    if ((v = getenv("RECS_FAILMALLOC_PERCENT")) != NULL) {
        double percent = strtod(v, NULL);
        if (percent > 0)
            fail_ppm = percent >= 100 ? 1000000u : (uint32_t)(percent * 10000.0 + 0.5);
    }
    if ((v = getenv("RECS_FAILMALLOC_AFTER")) != NULL)
        warmup = strtoull(v, NULL, 10);
    if ((v = getenv("RECS_FAILMALLOC_SEED")) != NULL)
        seed = strtoull(v, NULL, 10);
    if ((v = getenv("RECS_FAILMALLOC_THREAD")) != NULL)
        snprintf(thread_name, sizeof(thread_name), "%s", v);
    if ((v = getenv("RECS_FAILMALLOC_SPARE")) != NULL)
        snprintf(spare, sizeof(spare), "%s", v);
    if ((v = getenv("RECS_FAILMALLOC_SWITCH")) != NULL)
        snprintf(switch_path, sizeof(switch_path), "%s", v);
}

__attribute__((destructor)) static void failmalloc_report(void)
{
    char line[160];
    int n = snprintf(
        line, sizeof(line), "failmalloc: failed %llu of %llu eligible allocations (%llu spared)\n",
        (unsigned long long)atomic_load(&failed), (unsigned long long)atomic_load(&eligible),
        (unsigned long long)atomic_load(&spared));
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Whether the library at path is one whose calls are spared. */
static bool spared_library(const char *path)
{
    const char *s = spare;

    while (path != NULL && *s != '\0') {
        size_t len = strcspn(s, ",");
        char part[64];
        if (len > 0 && len < sizeof(part)) {
            memcpy(part, s, len);
            part[len] = '\0';
            if (strstr(path, part) != NULL)
                return true;
        }
        s += len;
        if (*s == ',')
            s++;
    }
    return false;
}

/* Whether this allocation, asked for from caller, is to fail. */
static bool should_fail(const void *caller)
{
    char name[16] = "";
    uint64_t n;
    Dl_info info;

    if (fail_ppm == 0 || prctl(PR_GET_NAME, name, 0, 0, 0) != 0 ||
        strncmp(name, thread_name, sizeof(name)) != 0)
        return false;
    n = atomic_fetch_add(&eligible, 1);
    if (n < warmup || splitmix64(n ^ (seed * 0x2545f4914f6cdd1dull)) % 1000000u >= fail_ppm)
        return false;
    if (switch_path[0] != '\0' && access(switch_path, F_OK) != 0)
        return false;
    if (spare[0] != '\0' && dladdr(caller, &info) != 0 && spared_library(info.dli_fname)) {
        atomic_fetch_add(&spared, 1);
        return false;
    }
    atomic_fetch_add(&failed, 1);
    return true;
}

#define CALLER __builtin_extract_return_addr(__builtin_return_address(0))

void *malloc(size_t size)
{
    if (real_malloc == NULL) {
        resolve();
        if (real_malloc == NULL)
            return bootstrap_alloc(size);
    }
    if (should_fail(CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return real_malloc(size);
}

void *calloc(size_t count, size_t size)
{
    if (real_calloc == NULL) {
        resolve();
        if (real_calloc == NULL)
            return size == 0 || count <= sizeof(bootstrap) / size ? bootstrap_alloc(count * size)
                                                                  : NULL;
    }
    if (should_fail(CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return real_calloc(count, size);
}

void *realloc(void *p, size_t size)
{
    if (real_realloc == NULL || in_bootstrap(p)) {
        void *q;
        if (real_realloc == NULL)
            resolve();
        if (real_malloc == NULL)
            return NULL;
        q = real_malloc(size);
        if (q != NULL && p != NULL) {
            size_t left = (size_t)(bootstrap + sizeof(bootstrap) - (unsigned char *)p);
            memcpy(q, p, size < left ? size : left);
        }
        return q;
    }
    if (size > 0 && should_fail(CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return real_realloc(p, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    if (real_aligned_alloc == NULL)
        resolve();
    if (real_aligned_alloc == NULL || should_fail(CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return real_aligned_alloc(alignment, size);
}

void *memalign(size_t alignment, size_t size)
{
    if (real_memalign == NULL)
        resolve();
    if (real_memalign == NULL || should_fail(CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return real_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (real_posix_memalign == NULL)
        resolve();
    if (real_posix_memalign == NULL || should_fail(CALLER))
        return ENOMEM;
    return real_posix_memalign(out, alignment, size);
}

void free(void *p)
{
    if (p == NULL || in_bootstrap(p))
        return;
    if (real_free == NULL)
        resolve();
    if (real_free != NULL)
        real_free(p);
}
