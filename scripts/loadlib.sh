# loadlib.sh: sourced by bench.sh, bench-live.sh, bench-queries.sh,
# bench-ceiling.sh, soak.sh, overload.sh and hostile.sh. A throwaway
# PostgreSQL with the demo catalog, the service on a free port, one cleanup
# that stops both, and the helpers of the benchmarks that read wrk's summary.
#   demo_database NAME     pgdir, DATABASE_URL (exported), $pgdir/slugs
#   start_service [VAR=VALUE ...]
#                          build/recs with those settings on a free port;
#                          sets srv (pid) and port, waits for /readyz
#                          (polled every $ready_poll seconds, default 0.005)
#   stop_service           SIGTERM and wait; returns the exit status
#   wrk_result WRK_ARGS... wrk with bench/report.lua or bench/paths.lua;
#                          prints the fields of its RESULT line and fails on
#                          non-2xx answers, socket errors or a dead service
#   field NAME FIELDS      the value of NAME=... among FIELDS
#   median                 the median of the numbers on stdin, one a line
#   cpu_ticks PID...       user + system CPU of those processes (clock ticks)
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

wrk_result() {
  local out fields
  out=$(wrk "$@") || { echo "wrk failed: wrk $*" >&2; return 1; }
  fields=$(sed -n 's/^RESULT //p' <<<"$out")
  [[ -n $fields ]] || { echo "wrk printed no RESULT line (no -s bench/report.lua?):" >&2; echo "$out" >&2; return 1; }
  if [[ -n $srv ]] && ! kill -0 "$srv" 2>/dev/null; then
    echo "the service exited during the run; its log ends:" >&2
    tail -5 "$pgdir/server.log" >&2
    srv=""
    return 1
  fi
  if (($(field non2xx "$fields") > 0 || $(field errors "$fields") > 0)); then
    echo "non-2xx answers or socket errors: wrk $*" >&2
    echo "$out" >&2
    return 1
  fi
  echo "$fields"
}

field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# Fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends the
# command name (which may hold spaces).
cpu_ticks() {
  local pid total=0 rest
  for pid in "$@"; do
    rest=$(sed 's/.*) //' "/proc/$pid/stat")
    total=$((total + $(awk '{ print $12 + $13 }' <<<"$rest")))
  done
  echo "$total"
}
