#!/usr/bin/env bash
# hostile.sh: `make hostile`. The real slowhttptest against build/recs on the
# demo catalog, in its four modes one after the other: -H slowloris (headers
# trickled), -B slow body, -X slow read (responses read a few bytes at a
# time through a tiny receive window) and -R range (Apache killer). Each
# attack opens HOSTILE_CONNS connections (4,000) at HOSTILE_RATE per second
# (400) and lasts HOSTILE_SECONDS (16). Meanwhile a normal client asks for a
# recommendation 5 times a second; each attack passes when at least 99 % of
# those probes got 200 and their p99 is at most HOSTILE_P99_MS (100 ms).
# Prints one row per mode (with the most descriptors the service held and its
# peak RSS) and fails below the bar. Only 127.0.0.1 is used.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
conns=${HOSTILE_CONNS:-4000} rate=${HOSTILE_RATE:-400} seconds=${HOSTILE_SECONDS:-16}
p99_bound=${HOSTILE_P99_MS:-100}
command -v slowhttptest >/dev/null || { echo "hostile: slowhttptest is missing (scripts/deps.sh)" >&2; exit 1; }
# slowhttptest holds one descriptor per connection
ulimit -n "$(ulimit -Hn)"
# shellcheck source=scripts/loadlib.sh
. scripts/loadlib.sh
demo_database hostile
start_service
slug=$(head -n 1 "$pgdir/slugs")
target="http://127.0.0.1:$port/products/$slug/recommendations"

# probe SECONDS OUT: one request every 0.2 s, each on its own connection and
# not waiting for the previous one; appends "status seconds" lines to OUT,
# and prints the most descriptors the service had open meanwhile
probe() (
  end=$((SECONDS + $1)) most=0
  while ((SECONDS < end)); do
    curl -s -o /dev/null --max-time 2 -w '%{http_code} %{time_total}\n' "$target" >>"$2" || true &
    fds=("/proc/$srv/fd/"*)
    ((${#fds[@]} <= most)) || most=${#fds[@]}
    sleep 0.2
  done
  wait
  echo "$most"
)

# attack MODE FLAGS...: slowhttptest in MODE with the probe running beside it
attack() {
  local mode=$1 out="$pgdir/probe-$1" log="$pgdir/slowhttptest-$1"
  shift
  : >"$out"
  slowhttptest -c "$conns" -r "$rate" -l "$seconds" -u "$target" -p 2 "$@" >"$log" 2>&1 &
  local attacker=$!
  sleep 1 # the first connections are open
  local fds rss held
  fds=$(probe $((seconds - 2)) "$out")
  wait "$attacker" || true
  kill -0 "$srv" 2>/dev/null || { echo "hostile: the service died during $mode" >&2; return 1; }
  rss=$(awk '$1 == "VmHWM:" {printf "%.0f", $2 / 1024}' "/proc/$srv/status")
  # most connections slowhttptest held at once
  held=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '$1 == "connected:" {if ($2 + 0 > m) m = $2 + 0} END {print m + 0}')
  # the probes by time: count, 200s, p99 (nearest rank), worst
  sort -g -k2 "$out" | awk -v mode="$mode" -v held="$held" -v fds="$fds" -v rss="$rss" \
    -v bound="$p99_bound" '
    {n++; if ($1 == "200") ok++; t[n] = $2 * 1000}
    END {
      if (n == 0) {printf "| %-14s | no probe answered\n", mode; exit 1}
      i = int(n * 0.99); if (i < n * 0.99) i++; p99 = t[i]
      pct = 100 * ok / n
      printf "| %-14s | %5d | %5d | %4d MiB | %3d / %-3d | %6.2f %% | %6.1f ms | %6.1f ms |\n",
        mode, held, fds, rss, ok, n, pct, p99, t[n]
      exit !(pct >= 99 && p99 <= bound)
    }'
}

echo "hostile: slowhttptest, $conns connections at $rate/s for ${seconds}s per mode against $target"
echo "  held: most connections slowhttptest had open; fds: most descriptors the service had open;"
echo "  200s, p99, worst: a normal client asking for the same ranking every 0.2 s meanwhile"
printf '| %-14s | %5s | %5s | %8s | %9s | %8s | %9s | %9s |\n' attack held fds "peak RSS" "200s" "" \
  "p99" "worst"
printf '|%s|\n' "----------------|-------|-------|----------|-----------|----------|-----------|----------"
passed=0 failed=0
run() { if attack "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi; }
# -H and -B send a little every 2 s, often enough to keep an idle timeout
# from ever firing; -X asks for 8 responses per connection and reads them
# 8 bytes at a time every 2 s through a window of 1-16 bytes; -R asks for
# thousands of overlapping ranges.
run "-H slowloris" -H -i 2 -x 24
run "-B slow body" -B -i 2 -x 24 -s 8192
run "-X slow read" -X -k 8 -n 2 -w 1 -y 16 -z 8
run "-R range" -R -a 10 -b 3000
kill -0 "$srv" 2>/dev/null || { echo "hostile: the service died" >&2; failed=$((failed + 1)); }
echo "hostile: $passed passed, $failed failed"
((failed == 0))
