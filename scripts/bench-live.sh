#!/usr/bin/env bash
# bench-live.sh: `make bench-live`. recs serving a live catalog, on a
# throwaway PostgreSQL. For each catalog size in BENCH_SIZES it generates a
# synthetic catalog (scripts/gen-catalog.sh), starts build/recs and prints
# one table row per phase:
#   quiet              wrk -t1 -cCONNS for BENCH_SECONDS over random products
#                      (bench/slugs.lua, limit=10): req/s, p50, p99
#   with writes        the same while bench/live_writer.py commits about
#                      BENCH_WRITES single-row transactions per second through
#                      one psql (price, title/description, insert, delete);
#                      the writes it committed
#   writes / quiet     req/s with writes over quiet, p99 over quiet p99
#   visible: price     from a commit to the end of the first answer showing
#   visible: title     it (monotonic clock), p50 and p99; measured during the
#                      write run by the writer's probe
#   refreshes          what /metrics counted during the write run
#   next answer        with no load: curl's time_total for the answer right
#                      after a commit (none, a price update, a title update)
#   memory             VmRSS after the quiet run (steady) and after the write
#                      run, the peak of VmRSS sampled every 100 ms during the
#                      write run, VmHWM
#   start to ready     from starting build/recs to the first 200 of /readyz
#                      (and the part of it spent building the snapshot),
#                      and the first answer after it
# It prints figures and does not judge them; it fails only when something
# breaks: when the service exits or a write fails it stops at once; non-2xx
# answers and socket errors (wrk, with a 30 s timeout) are printed in their
# row, and the script exits non-zero after the last size.
# Environment: BENCH_SIZES ("10000 100000"; any N of 10..1000000),
# BENCH_SECONDS (15), BENCH_CONNS (16), BENCH_WRITES (10 per second),
# BENCH_SAMPLES (10 per "next answer" row). The variables of the service
# (RECS_*) and of libpq (PG*) pass through to build/recs.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
sizes=${BENCH_SIZES:-10000 100000}
seconds=${BENCH_SECONDS:-15}
conns=${BENCH_CONNS:-16}
writes=${BENCH_WRITES:-10}
samples=${BENCH_SAMPLES:-10}
# shellcheck source=scripts/loadlib.sh
. scripts/loadlib.sh
ready_poll=0.02 # curl every 5 ms would take a good part of a core from the start
writer=""
trap '[[ -z $writer ]] || kill "$writer" 2>/dev/null || true; loadlib_cleanup' EXIT

demo_database bench-live

rss_kb() { awk -v f="$2" '$1 == f":" {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.0f MiB", k / 1024}'; }
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
metric() { awk -v n="$2" '$1 == n {print $2}' <<<"$1"; }
# wrk's latency ("812.00us", "3.91ms", "1.20s") in milliseconds
wrk_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) printf "%.3f", v / 1000; else if (v ~ /ms$/) printf "%.3f", v + 0;
    else if (v ~ /m$/) printf "%.3f", v * 60000; else printf "%.3f", v * 1000 }'
}
fmt_ms() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else if (v >= 1000) printf "%.2fs", v / 1000; else printf "%.2fms", v }'; }

row() { printf '| %-16s | %-18s | %9s | %9s | %9s | %s |\n' "$@"; }

fail() {
  echo "bench-live: $*" >&2
  if [[ -n $srv ]]; then
    kill -0 "$srv" 2>/dev/null || echo "bench-live: the service exited" >&2
  fi
  echo "bench-live: the service's log ends:" >&2
  tail -5 "$pgdir/server.log" >&2
  exit 1
}

problems=()

# settle: waits (up to 60 s) until no recommendation request is in flight,
# so that a run does not inherit the answers a previous one left pending
settle() {
  local i m
  for ((i = 0; i < 600; i++)); do
    m=$(curl -fs --max-time 10 "localhost:$port/metrics" || true)
    [[ $(metric "$m" recs_inflight_requests) == 0 ]] && return
    sleep 0.1
  done
}

alive() { kill -0 "$srv" 2>/dev/null || { srv=""; fail "the service exited during the $1"; }; }

# load NAME: wrk over random products; sets req p50 p99 and errors (the
# non-2xx answers and socket errors, "non-2xx 0" when there are none)
load() {
  local out non2xx sockerr
  settle
  out=$(wrk -t1 -c"$conns" -d"${seconds}s" --timeout 30s --latency -s bench/slugs.lua \
    "http://127.0.0.1:$port" -- "$pgdir/slugs" 10)
  alive "$1 run"
  req=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  sockerr=$(sed -n 's/^ *Socket errors: //p' <<<"$out")
  errors="non-2xx ${non2xx:-0}${sockerr:+; socket errors: $sockerr}"
  if [[ -n $non2xx ]]; then
    settle
    errors+=" (statuses since start: $(curl -fs --max-time 10 "localhost:$port/metrics" | awk -F'[",} ]+' \
      '/^recs_http_requests_total\{route="recommendations"/ && $4 !~ /^2/ && $5 > 0 {printf "%s%s x%s", sep, $4, $5; sep = ", "}' || true))"
  fi
  [[ -z $non2xx && -z $sockerr ]] || problems+=("$name, $1 run: $errors")
}

# next_answer KIND: curl's time_total (ms) of the answer right after a write
# of KIND (none, price, title), BENCH_SAMPLES times; prints "p50 max"
next_answer() {
  local kind=$1 i slug id t times=()
  for ((i = 0; i < samples; i++)); do
    slug=$(shuf -n 1 "$pgdir/slugs")
    id=$(((RANDOM * 32768 + RANDOM) % count + 1))
    case $kind in
    price) scripts/pg.sh psql "$pgdir" -c "UPDATE products SET price_cents = price_cents + 1 WHERE id = $id" ;;
    title) scripts/pg.sh psql "$pgdir" -c "UPDATE products SET title = CASE WHEN title LIKE '% Edition'
             THEN left(title, -8) ELSE title || ' Edition' END WHERE slug = '$slug'" ;;
    esac
    t=$(curl -fsS -o /dev/null -w '%{time_total}' "localhost:$port/products/$slug/recommendations") ||
      fail "next answer after a $kind write: the request failed"
    times+=("$t")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{v[NR] = $1 * 1000} END {
    k = int((NR + 1) / 2); printf "%.3f %.3f\n", v[k], v[NR] }'
}

echo "== live catalog: wrk -t1 -c$conns, ${seconds}s per run, limit=10, a different product each request;"
echo "   writer: about $writes single-row transactions/s (price 40 %, title/description 30 %, insert 15 %, delete 15 %)"
[[ -z ${PGOPTIONS:-} ]] || echo "   PGOPTIONS=$PGOPTIONS"
echo "   load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
echo
row catalog phase "req/s" p50 p99 details
printf '|%s|\n' "------------------|--------------------|-----------|-----------|-----------|--------"
for size in $sizes; do
  scripts/gen-catalog.sh "$size" >/dev/null
  scripts/pg.sh psql "$pgdir" -At -c 'SELECT slug FROM products ORDER BY random() LIMIT 5000' >"$pgdir/slugs"
  count=$(scripts/pg.sh psql "$pgdir" -At -c 'SELECT count(*) FROM products')
  name="$count products"

  t0=$(now_us)
  start_service RECS_CACHE=on
  t1=$(now_us)
  # the first refresh is the whole build; its time counts hashing and
  # indexing, not reading the rows from PostgreSQL
  build_s=$(metric "$(curl -fsS "localhost:$port/metrics")" recs_catalog_refresh_seconds_total)
  first=$(curl -fsS -o /dev/null -w '%{time_total}' \
    "localhost:$port/products/$(head -1 "$pgdir/slugs")/recommendations") || fail "the first answer failed"
  wrk -t1 -c"$conns" -d2s -s bench/slugs.lua "http://127.0.0.1:$port" -- "$pgdir/slugs" 10 >/dev/null
  alive "warm-up"

  load quiet
  steady=$(rss_kb "$srv" VmRSS)
  q_req=$req q_p50=$p50 q_p99=$p99
  row "$name" quiet "$q_req" "$q_p50" "$q_p99" "no write; $errors"

  before=$(curl -fsS "localhost:$port/metrics")
  bench/live_writer.py --port "$port" --pid "$srv" --products "$count" --slugs "$pgdir/slugs" \
    --seconds "$seconds" --rate "$writes" >"$pgdir/writer.out" 2>"$pgdir/writer.err" &
  writer=$!
  until grep -qs '^started' "$pgdir/writer.out"; do
    kill -0 "$writer" 2>/dev/null || { cat "$pgdir/writer.err" >&2; fail "the writer did not start"; }
    sleep 0.05
  done
  load "write"
  wait "$writer" || { cat "$pgdir/writer.err" >&2; writer=""; fail "the writer failed"; }
  writer=""
  after=$(curl -fsS "localhost:$port/metrics")
  after_rss=$(rss_kb "$srv" VmRSS)
  declare -A w=()
  while IFS='=' read -r k v; do w[$k]=$v; done < <(grep '=' "$pgdir/writer.out")
  ((w[http_errors] == 0)) || problems+=("$name: the probe lost its connection ${w[http_errors]} times")
  row "$name" "with writes" "$req" "$p50" "$p99" \
    "${w[writes]} writes committed in ${w[seconds]}s (${w[rate]}/s): ${w[price]} price, ${w[text]} title/description, ${w[insert]} insert, ${w[delete]} delete; $errors$( ((w[http_errors] == 0)) || echo "; the probe lost its connection ${w[http_errors]} times")"
  row "$name" "writes / quiet" \
    "$(awk -v a="$req" -v b="$q_req" 'BEGIN {if (b > 0) printf "%.1f %%", a * 100 / b; else print "-"}')" "" \
    "$(awk -v a="$(wrk_ms "$p99")" -v b="$(wrk_ms "$q_p99")" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "-"}')" \
    "req/s with writes over quiet (target >= 90 %); p99 over quiet p99 (target <= 2x)"
  row "$name" "visible: price" "" "$(fmt_ms "${w[price_p50]}")" "$(fmt_ms "${w[price_p99]}")" \
    "${w[price_n]} samples, ${w[price_lost]} not seen within 30 s; polled the answer of a product that lists the changed one"
  row "$name" "visible: title" "" "$(fmt_ms "${w[title_p50]}")" "$(fmt_ms "${w[title_p99]}")" \
    "${w[title_n]} samples, ${w[title_lost]} not seen within 30 s; polled the changed product's own answer"
  refreshes=$(($(metric "$after" recs_catalog_refreshes_total) - $(metric "$before" recs_catalog_refreshes_total)))
  refresh_s=$(awk -v a="$(metric "$after" recs_catalog_refresh_seconds_total)" \
    -v b="$(metric "$before" recs_catalog_refresh_seconds_total)" 'BEGIN {printf "%.3f", a - b}')
  computed=$(($(metric "$after" recs_signatures_computed_total) - $(metric "$before" recs_signatures_computed_total)))
  row "$name" "refreshes" "" "" "" \
    "$refreshes refreshes applied changes in $refresh_s s ($(awk -v s="$refresh_s" -v n="$refreshes" \
      'BEGIN {printf "%.2f", n ? s * 1000 / n : 0}') ms each), $computed signatures computed; delta $(metric "$after" recs_cache_delta_products) products at the end"

  read -r n50 nmax < <(next_answer none)
  row "$name" "next answer" "" "$(fmt_ms "$n50")" "$(fmt_ms "$nmax")" "no write before it; $samples samples, the p99 column is the slowest"
  read -r n50 nmax < <(next_answer price)
  row "$name" "next after price" "" "$(fmt_ms "$n50")" "$(fmt_ms "$nmax")" "right after a committed price update of a random product; $samples samples, the p99 column is the slowest"
  read -r n50 nmax < <(next_answer title)
  row "$name" "next after title" "" "$(fmt_ms "$n50")" "$(fmt_ms "$nmax")" "right after a committed title update of the product asked for; $samples samples, the p99 column is the slowest"
  alive "next answer"

  peak=$(rss_kb "$srv" VmHWM)
  row "$name" memory "" "" "" \
    "steady $(mib "$steady") (VmRSS after the quiet run), $(mib "$after_rss") after the write run, peak $(mib "${w[rss_max_kb]}") during writes ($(awk -v a="${w[rss_max_kb]}" -v b="$steady" 'BEGIN {printf "%.2fx", a / b}') steady), VmHWM $(mib "$peak")"
  row "$name" "start to ready" "" "" "" \
    "$(((t1 - t0) / 1000)) ms to the first 200 of /readyz, of which $(awk -v s="$build_s" 'BEGIN {printf "%.0f", s * 1000}') ms building the snapshot from the rows read; the first answer then took $(fmt_ms "$(awk -v t="$first" 'BEGIN {print t * 1000}')")"
  stop_service || fail "the service exited with an error"
done
if ((${#problems[@]})); then
  printf 'bench-live: %s\n' "${problems[@]}" >&2
  exit 1
fi
