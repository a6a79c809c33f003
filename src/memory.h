/*
 * memory.h - the process's memory as the kernel sees it: the limit it has
 * to live within (its cgroup's memory.max) and what it holds now (its
 * resident set). The service compares a catalog's estimated bytes with the
 * room between the two before it builds a snapshot, so that a catalog that
 * would not fit is refused instead of getting the process killed.
 */
#ifndef RECS_MEMORY_H
#define RECS_MEMORY_H

#include <stdint.h>

/* The tightest memory.max on the way from the process's cgroup v2 up to
 * the root of the hierarchy it can see. mountinfo and cgroup name the
 * files to read (normally /proc/self/mountinfo, which says where cgroup2
 * is mounted, and /proc/self/cgroup, the process's path in it). Returns
 * the limit in bytes, or 0 when there is none: no cgroup v2 mount, no
 * memory controller, or "max" all the way up. */
uint64_t recs_memory_cgroup_limit(const char *mountinfo, const char *cgroup);

/* Bytes resident in memory for this process (/proc/self/statm), or 0 when
 * they cannot be read. */
uint64_t recs_memory_resident(void);

#endif
