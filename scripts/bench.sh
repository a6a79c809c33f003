#!/usr/bin/env bash
# bench.sh: `make bench`. Prints two tables:
#   1. the scoring kernel microbenchmark (build/bench_kernel)
#   2. recs over HTTP (wrk) on a throwaway PostgreSQL, for each catalog size
#      in BENCH_SIZES ("demo" = the demo catalog, or a number of synthetic
#      products): requests/s, latency percentiles, start-to-ready time, idle
#      and peak RSS.
# Environment: BENCH_SIZES ("demo 10000 100000"), BENCH_SECONDS (10),
# BENCH_CONNS_DEMO (64), BENCH_CONNS_LARGE (16), BENCH_CACHE_OFF (1: also
# run the demo catalog with RECS_CACHE=off).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
sizes=${BENCH_SIZES:-demo 10000 100000}
seconds=${BENCH_SECONDS:-10}
# shellcheck source=scripts/loadlib.sh
. scripts/loadlib.sh

echo "== kernel microbenchmark (one thread)"
build/bench_kernel --seconds 1

demo_database bench

now_ms() { date +%s%3N; }
rss_kb() { awk -v f="$2" '$1 == f":" {print $2}' "/proc/$1/status"; }

# run NAME CONNS CACHE: one measured wrk run against a fresh server
run() {
  local name=$1 conns=$2 cache=$3 t0 t1 idle out
  t0=$(now_ms)
  start_service RECS_CACHE="$cache"
  t1=$(now_ms)
  # the first request loads the snapshot; idle RSS is taken after it
  curl -fs "localhost:$port/products/$(head -1 "$pgdir/slugs")/recommendations" >/dev/null
  idle=$(rss_kb "$srv" VmRSS)
  wrk -t1 -c"$conns" -d2s -s bench/slugs.lua "http://127.0.0.1:$port" -- "$pgdir/slugs" 10 >/dev/null
  out=$(wrk -t1 -c"$conns" -d"${seconds}s" --latency -s bench/slugs.lua "http://127.0.0.1:$port" \
    -- "$pgdir/slugs" 10)
  if ! kill -0 "$srv" 2>/dev/null; then
    echo "bench: $name: the service exited during the run; its log ends:" >&2
    tail -5 "$pgdir/server.log" >&2
    srv=""
    return 1
  fi
  printf '| %-18s | %5s | %9s | %8s | %8s | %8s | %7s | %8s | %8s |\n' "$name" "$conns" \
    "$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")" \
    "$(awk '$1 == "50%" {print $2}' <<<"$out")" "$(awk '$1 == "90%" {print $2}' <<<"$out")" \
    "$(awk '$1 == "99%" {print $2}' <<<"$out")" "$(awk '/Non-2xx/ {print $NF} END {}' <<<"$out" | tail -1)" \
    "$((idle / 1024)) MB" "$(($(rss_kb "$srv" VmHWM) / 1024)) MB"
  echo "$name: ready in $((t1 - t0)) ms" >>"$pgdir/ready"
  stop_service || true
}

echo
echo "== HTTP (wrk -t1, ${seconds}s, limit=10, a different product each request)"
printf '| %-18s | %5s | %9s | %8s | %8s | %8s | %7s | %8s | %8s |\n' catalog conns "req/s" p50 p90 p99 non-2xx "idle RSS" "peak RSS"
printf '|%s|\n' "--------------------|-------|-----------|----------|----------|----------|---------|----------|----------"
for size in $sizes; do
  if [[ $size != demo ]]; then scripts/gen-catalog.sh "$size" >/dev/null; fi
  scripts/pg.sh psql "$pgdir" -At -c 'SELECT slug FROM products ORDER BY random() LIMIT 5000' >"$pgdir/slugs"
  count=$(scripts/pg.sh psql "$pgdir" -At -c 'SELECT count(*) FROM products')
  if [[ $size == demo ]]; then
    run "demo ($count)" "${BENCH_CONNS_DEMO:-64}" on
    [[ ${BENCH_CACHE_OFF:-1} == 1 ]] && run "demo, cache off" "${BENCH_CONNS_DEMO:-64}" off
  else
    run "$count products" "${BENCH_CONNS_LARGE:-16}" on
  fi
done
echo
cat "$pgdir/ready"
