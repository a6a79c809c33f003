#!/usr/bin/env bash
# overload.sh: `make overload`. Loads the service on the demo catalog at a
# sustainable level, then with four times as many connections as it admits,
# then at the sustainable level again, and checks:
#   - under overload the service keeps serving (2xx/s at least a third of
#     the baseline: wrk ignores Retry-After and reconnects at once, so
#     refusing costs CPU too) and p99 stays under OVERLOAD_P99_MS (100 ms): past
#     RECS_MAX_CONNECTIONS a new connection gets 503 with Retry-After at once
#     and is closed, rather than queueing (wrk's p99 includes those 503s and
#     the reconnections they cause);
#   - as soon as the load drops, p99 is back near the baseline, with no errors.
# Environment: OVERLOAD_CONNS (64, the sustainable level), OVERLOAD_SECONDS (10).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
conns=${OVERLOAD_CONNS:-64} seconds=${OVERLOAD_SECONDS:-10} p99_bound=${OVERLOAD_P99_MS:-100}
# shellcheck source=scripts/loadlib.sh
. scripts/loadlib.sh
demo_database overload
start_service RECS_MAX_CONNECTIONS="$conns"

# load NAME CONNS: one wrk run; prints a row and sets p99_ms, errors, ok
load() {
  local out
  out=$(wrk -t1 -c"$2" -d"${seconds}s" --latency -s bench/slugs.lua "http://127.0.0.1:$port" \
    -- "$pgdir/slugs" 10)
  p99_ms=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0;
                 else if (v ~ /s$/) v = v * 1000; print v}' <<<"$out")
  ok=$(awk '/requests in/ {print $1}' <<<"$out")
  errors=$(awk '/Socket errors/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  served=$(awk -v n="${non2xx:-0}" '/requests in/ {r = $1} /Requests\/sec/ {rps = $2}
        END {printf "%.0f", rps * (r - n) / r}' <<<"$out")
  printf '| %-28s | %5s | %9s | %8s ms | %13s | %9s |\n' "$1" "$2" "$served" "$p99_ms" \
    "${errors:-0}" "${non2xx:-0}"
  errors=$((${errors:-0} + ${non2xx:-0}))
}
echo "overload: RECS_MAX_CONNECTIONS=$conns, ${seconds}s per run"
printf '| %-28s | %5s | %9s | %11s | %13s | %9s |\n' run conns "2xx/s" p99 "socket errors" "503s"
printf '|%s|\n' "------------------------------|-------|-----------|-------------|---------------|-----------"
load "baseline" "$conns"; base=$p99_ms base_served=$served
load "4x the connections admitted" $((conns * 4)); over=$p99_ms over_served=$served
load "load back to baseline" "$conns"; after=$p99_ms after_errors=${errors:-0}
fail=0
awk -v o="$over" -v b="$p99_bound" 'BEGIN {exit !(o <= b)}' ||
  { echo "overload: p99 under overload ${over} ms is above ${p99_bound} ms"; fail=1; }
((over_served * 3 >= base_served)) ||
  { echo "overload: served ${over_served}/s under overload, less than a third of ${base_served}/s"; fail=1; }
awk -v a="$after" -v b="$base" 'BEGIN {exit !(a <= 2 * b + 2)}' ||
  { echo "overload: p99 after the overload ${after} ms did not recover (baseline ${base} ms)"; fail=1; }
((after_errors == 0)) || { echo "overload: $after_errors errors after the load dropped"; fail=1; }
kill -0 "$srv" || { echo "overload: the service died"; fail=1; }
if ((fail == 0)); then echo "overload: 1 passed, 0 failed"; else echo "overload: 0 passed, 1 failed"; exit 1; fi
