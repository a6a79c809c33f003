/*
 * test_memory.c - the cgroup v2 memory limit, looked up in a cgroup tree and
 * /proc files made up in a temporary directory, and the resident set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "memory.h"

static char tmp[256], mountinfo[300], cgroup[300];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* dir (under tmp) with a memory.max holding value; NULL value: no file. */
static void cgroup_dir(const char *dir, const char *value)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/%s", tmp, dir);
    assert_true(mkdir(path, 0755) == 0 || access(path, F_OK) == 0);
    if (value == NULL)
        return;
    snprintf(path, sizeof(path), "%s/%s/memory.max", tmp, dir);
    write_file(path, value);
}

/* A mountinfo with a cgroup v1 line and, unless root is NULL, the cgroup2
 * mount of root at tmp/point (point written as mountinfo escapes it). */
static void mounts(const char *root, const char *point)
{
    char text[1200];
    int n = snprintf(text, sizeof(text),
                     "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n");

    if (root != NULL)
        snprintf(text + n, sizeof(text) - (size_t)n,
                 "41 31 0:38 %s %s/%s rw,nosuid shared:9 - cgroup2 cgroup2 rw\n", root, tmp, point);
    write_file(mountinfo, text);
}

static void in_cgroup(const char *path)
{
    char text[600];

    snprintf(text, sizeof(text), "4:memory:/elsewhere\n0::%s\n", path);
    write_file(cgroup, text);
}

static int make_tree(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/recs-test-memory.XXXXXX");
    if (mkdtemp(tmp) == NULL)
        return -1;
    snprintf(mountinfo, sizeof(mountinfo), "%s/mountinfo", tmp);
    snprintf(cgroup, sizeof(cgroup), "%s/cgroup", tmp);
    return 0;
}

static int remove_tree(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static uint64_t limit(void)
{
    return recs_memory_cgroup_limit(mountinfo, cgroup);
}

/* Every cgroup on the way up counts; the tightest wins; "max" is none. */
static void test_tightest_limit_on_the_way_up(void **state)
{
    (void)state;
    cgroup_dir("cg", NULL); /* the hierarchy's root has no memory.max */
    cgroup_dir("cg/pod", "1073741824\n");
    cgroup_dir("cg/pod/app", "max\n");
    mounts("/", "cg");
    in_cgroup("/pod/app");
    assert_int_equal(limit(), 1073741824);
    cgroup_dir("cg/pod/app", "536870912\n");
    assert_int_equal(limit(), 536870912);
    cgroup_dir("cg/pod", "max\n");
    cgroup_dir("cg/pod/app", "max\n");
    assert_int_equal(limit(), 0);
}

/* In a container the visible hierarchy starts at the container's cgroup:
 * "0::/" and the limit on the mount point itself. */
static void test_container_view(void **state)
{
    (void)state;
    cgroup_dir("ctr", "268435456\n");
    mounts("/", "ctr");
    in_cgroup("/");
    assert_int_equal(limit(), 268435456);
}

/* A mount of part of the hierarchy: paths below its root map into it,
 * others are not visible there. */
static void test_mount_of_a_subtree(void **state)
{
    (void)state;
    cgroup_dir("sub", "400000000\n");
    cgroup_dir("sub/job", "300000000\n");
    mounts("/kubepods/pod1", "sub");
    in_cgroup("/kubepods/pod1/job");
    assert_int_equal(limit(), 300000000);
    in_cgroup("/kubepods/pod1");
    assert_int_equal(limit(), 400000000);
    in_cgroup("/kubepods/pod10/job"); /* a prefix of the root is not enough */
    assert_int_equal(limit(), 0);
    in_cgroup("/system.slice");
    assert_int_equal(limit(), 0);
}

/* mountinfo writes a space in a path as \040. */
static void test_escaped_mount_point(void **state)
{
    (void)state;
    cgroup_dir("with space", "123456789\n");
    mounts("/", "with\\040space");
    in_cgroup("/");
    assert_int_equal(limit(), 123456789);
}

/* No cgroup2 mount (cgroup v1 only), no "0::" line, unreadable files,
 * values that are not numbers: no limit. */
static void test_no_limit(void **state)
{
    (void)state;
    cgroup_dir("v2", "1000000\n");
    mounts(NULL, NULL);
    in_cgroup("/");
    assert_int_equal(limit(), 0);
    mounts("/", "v2");
    write_file(cgroup, "4:memory:/elsewhere\n");
    assert_int_equal(limit(), 0);
    in_cgroup("/");
    assert_int_equal(limit(), 1000000);
    cgroup_dir("v2", "12x\n");
    assert_int_equal(limit(), 0);
    cgroup_dir("v2", "-5\n");
    assert_int_equal(limit(), 0);
    assert_int_equal(recs_memory_cgroup_limit("/nonexistent/mountinfo", cgroup), 0);
    assert_int_equal(recs_memory_cgroup_limit(mountinfo, "/nonexistent/cgroup"), 0);
}

/* The resident set grows by what is touched. */
static void test_resident_set(void **state)
{
    size_t size = 16u << 20;
    uint64_t before = recs_memory_resident(), after;
    char *block = malloc(size);

    (void)state;
    assert_non_null(block);
    assert_true(before > 0);
    memset(block, 1, size);
    after = recs_memory_resident();
    assert_true(after >= before + size * 3 / 4);
    free(block);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tightest_limit_on_the_way_up),
        cmocka_unit_test(test_container_view),
        cmocka_unit_test(test_mount_of_a_subtree),
        cmocka_unit_test(test_escaped_mount_point),
        cmocka_unit_test(test_no_limit),
        cmocka_unit_test(test_resident_set),
    };
    return cmocka_run_group_tests_name("memory", tests, make_tree, remove_tree);
}
