# loadlib.sh: sourced by bench.sh, bench-live.sh, soak.sh and overload.sh.
# A throwaway PostgreSQL with the demo catalog, the service on a free port,
# and one cleanup that stops both.
#   demo_database NAME     pgdir, DATABASE_URL (exported), $pgdir/slugs
#   start_service [VAR=VALUE ...]
#                          build/recs with those settings on a free port;
#                          sets srv (pid) and port, waits for /readyz
#                          (polled every $ready_poll seconds, default 0.005)
#   stop_service           SIGTERM and wait; returns the exit status
# The EXIT trap kills what is left (also $wrkpid if the caller sets it).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
pgdir="" srv="" port="" wrkpid=""

loadlib_cleanup() {
  [[ -z $wrkpid ]] || kill "$wrkpid" 2>/dev/null || true
  [[ -z $srv ]] || kill -TERM "$srv" 2>/dev/null || true
  [[ -z $pgdir ]] || scripts/pg.sh destroy "$pgdir"
}
trap loadlib_cleanup EXIT

demo_database() {
  pgdir=$(mktemp -d "/tmp/recs-$1.XXXXXX")
  scripts/pg.sh start "$pgdir" sql/100_demo_catalog.sql
  # shellcheck disable=SC1091
  . "$pgdir/env"
  export DATABASE_URL
  scripts/pg.sh psql "$pgdir" -At -c 'SELECT slug FROM products' >"$pgdir/slugs"
}

start_service() {
  port=$(scripts/free-port.sh)
  env PORT="$port" RECS_ACCESS_LOG=off "$@" build/recs >"$pgdir/server.log" 2>&1 &
  srv=$!
  until curl -fs "localhost:$port/readyz" >/dev/null 2>&1; do
    kill -0 "$srv" 2>/dev/null || { echo "the service did not start:" >&2; cat "$pgdir/server.log" >&2; return 1; }
    sleep "${ready_poll:-0.005}"
  done
}

stop_service() {
  local rc=0
  kill -TERM "$srv"
  wait "$srv" || rc=$?
  srv=""
  return $rc
}
