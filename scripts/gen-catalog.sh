#!/usr/bin/env bash
# gen-catalog.sh - replace the catalog with a synthetic one for benchmarks.
#
#   DATABASE_URL=postgres://user@host:5432/db scripts/gen-catalog.sh N
#
# Runs sql/tools/synthetic_catalog.sql with psql against $DATABASE_URL: in one
# transaction it TRUNCATEs products and categories (RESTART IDENTITY CASCADE;
# the demo catalog or any earlier catalog is gone) and generates 12 categories
# and N products (10 <= N <= 1,000,000, ids 1..N, ~220 bytes of title +
# description each). Deterministic: the same N gives the same catalog.
# The schema (sql/001*.sql, sql/002*.sql) must have been applied.
# Needs psql on PATH. 100,000 products take a few seconds.
set -euo pipefail

usage() {
    echo "usage: DATABASE_URL=postgres://... $0 N   (10 <= N <= 1000000)" >&2
    exit 2
}

[[ $# -eq 1 ]] || usage
if [[ ! $1 =~ ^[0-9]{1,7}$ ]] || (( 10#$1 < 10 || 10#$1 > 1000000 )); then
    usage
fi
: "${DATABASE_URL:?DATABASE_URL is not set (e.g. postgres://user@localhost:5432/recs)}"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -v products="$((10#$1))" \
    -f "$here/../sql/tools/synthetic_catalog.sql"
