/*
 * memory.c - the cgroup v2 memory limit and the resident set, read from
 * /proc and the cgroup file system.
 *
 * The limit is looked up the way the kernel applies it: every cgroup from
 * the process's own up to the root of the hierarchy may have a memory.max,
 * and the tightest of them is the one that triggers the OOM killer. In a
 * container the visible hierarchy starts at the container's own cgroup,
 * whose memory.max is the container's limit.
 */
#include "memory.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Decodes in place the \ooo octal escapes mountinfo writes for space, tab,
 * newline and backslash in paths. */
static void unescape(char *s)
{
    char *out = s;

    for (const char *in = s; *in != '\0'; in++) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
            in[3] >= '0' && in[3] <= '7') {
            *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
            in += 3;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
}

/* The root (the path in the hierarchy that is mounted) and the mount point
 * of the cgroup2 file system, from a mountinfo file. Returns 0, or -1 when
 * there is none. */
static int cgroup2_mount(const char *mountinfo, char *root, char *point)
{
    FILE *f = fopen(mountinfo, "r");
    char *line = NULL;
    size_t cap = 0;
    int rc = -1;

    if (f == NULL)
        return -1;
    while (rc != 0 && getline(&line, &cap, f) > 0) {
        /* id parent major:minor root mount-point options [optional ...] - type ... */
        const char *sep = strstr(line, " - ");
        char type[16];

        if (sep == NULL || sscanf(sep + 3, "%15s", type) != 1 || strcmp(type, "cgroup2") != 0)
            continue;
        if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) != 2)
            continue;
        unescape(root);
        unescape(point);
        rc = 0;
    }
    free(line);
    fclose(f);
    return rc;
}

/* The process's path in the cgroup v2 hierarchy (its "0::" line). Returns
 * 0, or -1 when it has none. */
static int cgroup2_path(const char *cgroup, char *path)
{
    FILE *f = fopen(cgroup, "r");
    char *line = NULL;
    size_t cap = 0;
    int rc = -1;

    if (f == NULL)
        return -1;
    while (rc != 0 && getline(&line, &cap, f) > 0) {
        if (strncmp(line, "0::", 3) != 0 || snprintf(path, PATH_MAX, "%s", line + 3) >= PATH_MAX)
            continue;
        path[strcspn(path, "\n")] = '\0';
        rc = 0;
    }
    free(line);
    fclose(f);
    return rc;
}

/* The value of the memory.max file in dir: bytes, or 0 for "max", no file
 * (the root cgroup has none) or anything unreadable. */
static uint64_t memory_max(const char *dir)
{
    char path[PATH_MAX + 16], text[32], *end;
    FILE *f;
    unsigned long long value = 0;

    if (snprintf(path, sizeof(path), "%s/memory.max", dir) >= (int)sizeof(path))
        return 0;
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fgets(text, sizeof(text), f) != NULL && text[0] >= '0' && text[0] <= '9') {
        value = strtoull(text, &end, 10);
        if (*end != '\n' && *end != '\0')
            value = 0;
    }
    fclose(f);
    return value;
}

uint64_t recs_memory_cgroup_limit(const char *mountinfo, const char *cgroup)
{
    char root[PATH_MAX], point[PATH_MAX], path[PATH_MAX], dir[2 * PATH_MAX];
    const char *rel;
    size_t root_len;
    uint64_t limit = 0;

    if (cgroup2_mount(mountinfo, root, point) != 0 || cgroup2_path(cgroup, path) != 0)
        return 0;
    /* the mount shows the hierarchy from root down: the process's path
     * must lie below it to be visible there */
    root_len = strcmp(root, "/") == 0 ? 0 : strlen(root);
    if (strncmp(path, root, root_len) != 0 || (path[root_len] != '/' && path[root_len] != '\0'))
        return 0;
    rel = path + root_len;
    for (size_t len = strlen(rel);;) {
        uint64_t here;
        char *slash;

        snprintf(dir, sizeof(dir), "%s%.*s", point, (int)len, rel);
        here = memory_max(dir);
        if (here != 0 && (limit == 0 || here < limit))
            limit = here;
        if (len == 0)
            break;
        slash = memrchr(rel, '/', len);
        len = slash != NULL ? (size_t)(slash - rel) : 0;
    }
    return limit;
}

uint64_t recs_memory_resident(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    char text[128], *resident, *end;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t bytes = 0;

    if (f == NULL)
        return 0;
    /* "size resident shared text lib data dt", in pages */
    if (fgets(text, sizeof(text), f) != NULL && page > 0) {
        resident = strchr(text, ' ');
        if (resident != NULL) {
            unsigned long long pages = strtoull(resident + 1, &end, 10);
            if (end != resident + 1)
                bytes = (uint64_t)pages * (uint64_t)page;
        }
    }
    fclose(f);
    return bytes;
}
