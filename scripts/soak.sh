#!/usr/bin/env bash
# soak.sh: `make soak`. Runs the service under steady load for SOAK_SECONDS
# (default 600) on the demo catalog and samples its RSS and open file
# descriptors every SOAK_SAMPLE seconds. Passes when, after the first minute
# of warm-up, RSS grows by less than 5 %, the descriptor count does not grow,
# and every answer was a 2xx.
#   SOAK_SECONDS=600 SOAK_CONNS=16 make soak
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
seconds=${SOAK_SECONDS:-600} conns=${SOAK_CONNS:-16} sample=${SOAK_SAMPLE:-10}
warmup=$((seconds >= 120 ? 60 : seconds / 4))
# shellcheck source=scripts/loadlib.sh
. scripts/loadlib.sh
demo_database soak
start_service

wrk -t1 -c"$conns" -d"${seconds}s" --latency -s bench/slugs.lua "http://127.0.0.1:$port" \
  -- "$pgdir/slugs" 10 >"$pgdir/wrk.out" &
wrkpid=$!
echo "soak: ${seconds}s, $conns connections, sampling every ${sample}s (warm-up ${warmup}s)"
printf '%8s %10s %6s\n' seconds "RSS KiB" fds
start=$(date +%s) base_rss="" base_fds="" max_rss=0 max_fds=0
while kill -0 "$wrkpid" 2>/dev/null; do
  sleep "$sample"
  t=$(($(date +%s) - start))
  rss=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$srv/status")
  fds=$(find "/proc/$srv/fd" -mindepth 1 -maxdepth 1 | wc -l)
  printf '%8s %10s %6s\n' "$t" "$rss" "$fds"
  if ((t >= warmup)); then
    [[ -n $base_rss ]] || { base_rss=$rss; base_fds=$fds; }
    ((rss > max_rss)) && max_rss=$rss
    ((fds > max_fds)) && max_fds=$fds
  fi
done
wait "$wrkpid" || true
wrkpid=""
grep -E 'Requests/sec|Non-2xx|Socket errors|50%|99%' "$pgdir/wrk.out" || true
non2xx=$(awk '/Non-2xx/ {print $NF}' "$pgdir/wrk.out")
growth=$(awk -v a="$base_rss" -v b="$max_rss" 'BEGIN {printf "%.2f", (b - a) * 100 / a}')
echo "soak: RSS after warm-up ${base_rss} KiB, highest ${max_rss} KiB (+${growth} %); fds ${base_fds} -> highest ${max_fds}; non-2xx ${non2xx:-0}"
ok=1
awk -v g="$growth" 'BEGIN {exit !(g < 5)}' || { echo "soak: RSS grew by ${growth} % (limit 5 %)"; ok=0; }
((max_fds <= base_fds)) || { echo "soak: file descriptors grew"; ok=0; }
[[ -z $non2xx ]] || { echo "soak: $non2xx answers were not 2xx"; ok=0; }
stop_service || { echo "soak: the service did not exit 0"; ok=0; }
if ((ok)); then echo "soak: 1 passed, 0 failed"; else echo "soak: 0 passed, 1 failed"; exit 1; fi
