#!/usr/bin/env bash
# bench-ceiling.sh: `make bench-ceiling`. How close recs
# comes to what this machine serves over HTTP at all. nginx (2 workers,
# access log off, a generated configuration in a temporary folder) serves
# one of recs's own answers as a static file; recs runs on the demo catalog
# of a throwaway PostgreSQL with its access log on (to a file). Each round
# runs wrk -t1 against
#   nginx    the static file
#   recs     the same URL, whose answer is the same bytes
#   recs     a different demo product each request
# and the table gives per round and as medians: req/s, p50, p99, the
# server's CPU (user + system from /proc, nginx's master and workers
# summed) per request, and recs's share of nginx's req/s and its p99 against
# nginx's p99 in the same round, with the ceiling targets beside them.
# A figure, not a test: it fails only when something breaks (non-2xx
# answers, socket errors, a server gone, different bytes).
# Needs nginx (Debian package nginx-light; `make bench-ceiling` installs it).
# Environment: BENCH_SECONDS (5 per run), BENCH_ROUNDS (3), BENCH_CONNS (64),
# BENCH_STRACE (0; 1: then `strace -c -f` on recs for 3 s under the same
# load, printed with the syscalls per request; needs strace).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNS:-64}
PATH=$PATH:/usr/sbin
command -v nginx >/dev/null ||
  { echo "bench-ceiling: nginx is missing (RECS_DEPS_EXTRA=nginx-light scripts/deps.sh)" >&2; exit 1; }
if [[ ${BENCH_STRACE:-0} == 1 ]] && ! command -v strace >/dev/null; then
  echo "bench-ceiling: BENCH_STRACE=1 needs strace (apt-get install strace)" >&2
  exit 1
fi
# shellcheck source=scripts/loadlib.sh
. scripts/loadlib.sh
ngdir="" ngx=""
ceiling_cleanup() {
  if [[ -n $ngx ]] && kill -TERM "$ngx" 2>/dev/null; then wait "$ngx" 2>/dev/null || true; fi
  [[ -z $ngdir ]] || rm -rf "$ngdir"
  loadlib_cleanup
}
trap ceiling_cleanup EXIT
hz=$(getconf CLK_TCK)

demo_database ceiling
start_service RECS_ACCESS_LOG=on
slug=$(scripts/pg.sh psql "$pgdir" -At -c 'SELECT slug FROM products ORDER BY id LIMIT 1')
path="/products/$slug/recommendations"
awk '{ print "/products/" $1 "/recommendations" }' "$pgdir/slugs" >"$pgdir/random.paths"

# nginx: the answer at the same path, readable by its workers.
ngdir=$(mktemp -d /tmp/recs-nginx.XXXXXX)
chmod 755 "$ngdir"
mkdir -p "$ngdir/www/products/$slug" "$ngdir/tmp"
curl -fsS "127.0.0.1:$port$path" >"$ngdir/www$path"
chmod -R a+rX "$ngdir/www"
grep -q "$path" "$pgdir/server.log" || { echo "bench-ceiling: recs wrote no access log line" >&2; exit 1; }
ngport=$(scripts/free-port.sh)
user=""
[[ $(id -u) != 0 ]] || user="user nobody $(id -gn nobody);"
cat >"$ngdir/nginx.conf" <<CONF
$user
worker_processes 2;
daemon off;
pid $ngdir/nginx.pid;
error_log $ngdir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  default_type application/json;
  client_body_temp_path $ngdir/tmp/body;
  proxy_temp_path $ngdir/tmp/proxy;
  fastcgi_temp_path $ngdir/tmp/fastcgi;
  uwsgi_temp_path $ngdir/tmp/uwsgi;
  scgi_temp_path $ngdir/tmp/scgi;
  server {
    listen 127.0.0.1:$ngport;
    root $ngdir/www;
  }
}
CONF
nginx -p "$ngdir" -c "$ngdir/nginx.conf" -e "$ngdir/error.log" &
ngx=$!
until curl -fs -o /dev/null "127.0.0.1:$ngport$path"; do
  kill -0 "$ngx" 2>/dev/null || { echo "bench-ceiling: nginx did not start:" >&2; cat "$ngdir/error.log" >&2; exit 1; }
  sleep 0.01
done
nginx_pids() { echo "$ngx" $(pgrep -P "$ngx"); }
(($(wc -w <<<"$(nginx_pids)") == 3)) || { echo "bench-ceiling: expected nginx's master and 2 workers" >&2; exit 1; }
cmp -s <(curl -fsS "127.0.0.1:$ngport$path") <(curl -fsS "127.0.0.1:$port$path") ||
  { echo "bench-ceiling: nginx and recs answer different bytes" >&2; exit 1; }

# measure NAME: one wrk run; prints "rps p50_us p99_us cpu_us_per_request"
measure() {
  local pids t0 f args
  case $1 in
  nginx) pids=$(nginx_pids) args=(-s bench/report.lua "http://127.0.0.1:$ngport$path") ;;
  same) pids=$srv args=(-s bench/report.lua "http://127.0.0.1:$port$path") ;;
  random) pids=$srv args=(-s bench/paths.lua "http://127.0.0.1:$port" -- "$pgdir/random.paths") ;;
  esac
  # shellcheck disable=SC2086 # one word a process
  t0=$(cpu_ticks $pids)
  f=$(wrk_result -t1 -c"$conns" -d"$2" "${args[@]}")
  kill -0 "$ngx" 2>/dev/null || { echo "bench-ceiling: nginx exited:" >&2; cat "$ngdir/error.log" >&2; exit 1; }
  # shellcheck disable=SC2086
  echo "$(field rps "$f") $(field p50_us "$f") $(field p99_us "$f")" \
    "$(awk -v t="$(($(cpu_ticks $pids) - t0))" -v hz="$hz" -v n="$(field requests "$f")" \
      'BEGIN { printf "%.1f", t * 1e6 / hz / n }')"
}
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
row() { printf '| %-6s | %-26s | %7s | %8s | %8s | %10s | %14s | %12s |\n' "$@"; }
declare -A label=([nginx]="nginx, static file" [same]="recs, the same answer" [random]="recs, random products")

for s in nginx same random; do measure "$s" 1s >/dev/null; done # warm-up

echo "== the HTTP ceiling (wrk -t1 -c$conns, ${seconds}s per run, $rounds rounds; demo catalog, $(wc -l <"$pgdir/slugs") products)"
echo "answer: $path, $(wc -c <"$ngdir/www$path") bytes; recs with its access log on (to a file)"
echo
row round server "req/s" "p50 ms" "p99 ms" "CPU us/req" "req/s of nginx" "p99 / nginx"
printf '|%s|\n' "--------|----------------------------|---------|----------|----------|------------|----------------|--------------"
declare -A rps p50 p99 cpu share p99r
for r in $(seq "$rounds"); do
  for s in nginx same random; do
    read -r "rps[$s,$r]" "p50[$s,$r]" "p99[$s,$r]" "cpu[$s,$r]" <<<"$(measure "$s" "${seconds}s")"
    if [[ $s == nginx ]]; then
      share[$s,$r]=100 p99r[$s,$r]=1
    else
      share[$s,$r]=$(awk -v a="${rps[$s,$r]}" -v b="${rps[nginx,$r]}" 'BEGIN { printf "%.1f", 100 * a / b }')
      p99r[$s,$r]=$(awk -v a="${p99[$s,$r]}" -v b="${p99[nginx,$r]}" 'BEGIN { printf "%.2f", a / b }')
    fi
    row "$r" "${label[$s]}" "$(printf %.0f "${rps[$s,$r]}")" "$(ms "${p50[$s,$r]}")" "$(ms "${p99[$s,$r]}")" \
      "${cpu[$s,$r]}" "${share[$s,$r]} %" "${p99r[$s,$r]}x"
  done
done
# med ARRAY NAME: the median over the rounds of ARRAY[NAME,round]
med() { for r in $(seq "$rounds"); do eval "echo \"\${$1[$2,$r]}\""; done | median; }
for s in nginx same random; do
  row median "${label[$s]}" "$(printf %.0f "$(med rps $s)")" "$(ms "$(med p50 $s)")" "$(ms "$(med p99 $s)")" \
    "$(printf %.1f "$(med cpu $s)")" "$(printf %.1f "$(med share $s)") %" "$(printf %.2f "$(med p99r $s)")x"
done
echo
echo "Shares and p99 ratios: against nginx in the same round; medians: of each figure and ratio."
verdict() { awk -v v="$1" "BEGIN { print (v $2) ? \"met\" : \"missed\" }"; }
echo
echo "targets, recs on the same answer as nginx, medians:"
printf '  %-34s %8s   %s\n' "req/s >= 40 % of nginx's" "$(printf %.1f "$(med share same)") %" \
  "$(verdict "$(med share same)" ">= 40")"
printf '  %-34s %8s   %s\n' "p99 <= 2x nginx's" "$(printf %.2f "$(med p99r same)")x" \
  "$(verdict "$(med p99r same)" "<= 2")"
printf '  %-34s %8s   %s\n' "CPU per request halved or better" "$(printf %.1f "$(med cpu same)") us" \
  "(today's figure: the baseline; nginx $(printf %.1f "$(med cpu nginx)") us)"
echo "random products: $(printf %.1f "$(med share random)") % of nginx's req/s, p99 $(printf %.2f "$(med p99r random)")x"

if [[ ${BENCH_STRACE:-0} == 1 ]]; then
  echo
  echo "== strace -c -f on recs for 3 s under the same load (the same answer; strace slows it down)"
  wrk -t1 -c"$conns" -d6s "http://127.0.0.1:$port$path" >/dev/null &
  wrkpid=$!
  sleep 1
  n0=$(wc -l <"$pgdir/server.log")
  timeout -s INT 3 strace -c -f -p "$srv" -o "$ngdir/strace.txt" 2>/dev/null || true
  n1=$(wc -l <"$pgdir/server.log")
  wait "$wrkpid" || true
  wrkpid=""
  echo "$((n1 - n0)) requests answered during the trace (access log lines)"
  awk -v n="$((n1 - n0))" 'NR <= 2 { print; next } /^-/ { print; next }
    NF >= 5 { printf "%s   %7.2f/req\n", $0, ($4 ~ /^[0-9]+$/ ? $4 : 0) / (n ? n : 1); next } { print }' \
    "$ngdir/strace.txt"
fi
stop_service
