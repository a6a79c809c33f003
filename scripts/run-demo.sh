#!/usr/bin/env bash
# run-demo.sh BINARY: starts a throwaway PostgreSQL with the schema and the
# demo catalog, then runs the service in the foreground on $PORT (8080).
# Ctrl-C stops the service and removes the database.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
dir=$(mktemp -d /tmp/recs-run.XXXXXX)
trap '"$here/pg.sh" destroy "$dir"' EXIT
echo "run-demo: starting PostgreSQL in $dir" >&2
"$here/pg.sh" start "$dir" "$here/../sql/100_demo_catalog.sql"
# shellcheck disable=SC1091
. "$dir/env"
export DATABASE_URL PORT=${PORT:-8080} RECS_DEMO_DIR=${RECS_DEMO_DIR:-$here/../deploy/demo}
echo "run-demo: DATABASE_URL='$DATABASE_URL'" >&2
echo "run-demo: try: curl -s 'localhost:$PORT/products/aeroglide-running-shoes/recommendations?limit=3'" >&2
echo "run-demo: or open http://localhost:$PORT/demo/ in a browser" >&2
set +e
"$bin"
echo "run-demo: service exited with status $?" >&2
