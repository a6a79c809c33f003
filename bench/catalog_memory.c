/*
 * catalog_memory.c - what a catalog snapshot costs in memory, against what
 * the memory budget estimates for it before building (catalog.h): reads the
 * catalog of DATABASE_URL once, prints the estimate, then builds the
 * snapshot and prints how far the process's peak resident set rose above
 * what it held with the rows read, and the snapshot's own count of bytes.
 *
 *   DATABASE_URL=... build/catalog_memory [--k K] [--plain]
 *
 * --plain builds without signatures, as the cache off does for every
 * request. RELIABILITY.md quotes its figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "db.h"

/* A field of /proc/self/status in kB (VmRSS, VmHWM), or -1. */
static long status_kb(const char *field)
{
    char line[256];
    size_t len = strlen(field);
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            kb = strtol(line + len + 1, NULL, 10);
    }
    if (f != NULL)
        fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    const char *url = getenv("DATABASE_URL");
    unsigned k = 1500;
    bool signatures = true;
    struct recs_db *db = NULL;
    struct recs_db_conn *conn = NULL;
    struct recs_minhash *mh = NULL;
    struct recs_catalog *catalog = NULL;
    struct recs_rows rows = {0};
    long held_kb, peak_kb;
    size_t estimate;
    int status = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--k") == 0 && i + 1 < argc) {
            k = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--plain") == 0) {
            signatures = false;
        } else {
            fprintf(stderr, "usage: DATABASE_URL=... %s [--k K] [--plain]\n", argv[0]);
            return 2;
        }
    }
    struct recs_db_options opts = {.conninfo = url != NULL ? url : "postgresql:///shop",
                                   .pool_size = 1,
                                   .connect_timeout_s = 5,
                                   .statement_timeout_ms = 600000,
                                   .acquire_timeout_ms = 5000};
    if (recs_minhash_create(k, RECS_KERNEL_AUTO, &mh) != 0 || recs_db_create(&opts, &db) != 0 ||
        recs_db_acquire(db, &conn) != RECS_DB_OK) {
        fprintf(stderr, "catalog_memory: no database (DATABASE_URL) or an invalid --k\n");
        goto out;
    }
    if (recs_db_load_catalog(conn, &rows) != RECS_DB_OK) {
        fprintf(stderr, "catalog_memory: the catalog could not be read\n");
        goto out;
    }
    held_kb = status_kb("VmRSS");
    estimate = recs_catalog_estimate_bytes(&rows, signatures ? k : 0, NULL);
    if (recs_catalog_build(mh, &rows, signatures, NULL, 2, &catalog) != 0) {
        fprintf(stderr, "catalog_memory: the build failed\n");
        goto out;
    }
    peak_kb = status_kb("VmHWM");
    printf("%zu products, K = %u%s: estimate %zu kB, peak above the rows read %ld kB, "
           "snapshot bytes %zu kB\n",
           rows.count, k, signatures ? "" : " (no signatures)", estimate / 1024, peak_kb - held_kb,
           recs_catalog_bytes(catalog) / 1024);
    status = 0;
out:
    recs_catalog_unref(catalog);
    recs_db_rows_free(&rows);
    if (conn != NULL)
        recs_db_release(db, conn);
    recs_db_destroy(db);
    recs_minhash_destroy(mh);
    return status;
}
