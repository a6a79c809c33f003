#!/usr/bin/env bash
# pg.sh: a throwaway PostgreSQL 15 cluster in a directory, for `make run`
# and the tests. PostgreSQL refuses to run as root, so as root the cluster
# belongs to the `postgres` user.
#
#   scripts/pg.sh start DIR [SQL_FILE ...]  initdb + start on a free port,
#                                           create database "shop", apply
#                                           sql/0*.sql then each SQL_FILE;
#                                           writes DIR/env (DATABASE_URL, PGPORT, ...)
#   scripts/pg.sh stop DIR [fast|immediate] stop the server (keeps the data)
#   scripts/pg.sh restart DIR               start it again on the same port (also
#                                           after the postmaster was killed)
#   scripts/pg.sh destroy DIR               stop and remove DIR
#   scripts/pg.sh psql DIR [ARGS ...]       psql against the "shop" database
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
pgbin=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[[ -x $pgbin/initdb ]] || { echo "pg.sh: no PostgreSQL server found (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}


# The processes of the cluster in DIR: the postmaster and every process it
# started keep the data directory as their working directory. (A zombie has
# none, so a dead postmaster not reaped yet is not listed.)
cluster_pids() {
  local data
  data=$(cd "$1/data" && pwd -P)
  { find /proc/[0-9]*/cwd -maxdepth 0 -lname "$data" 2>/dev/null || true; } | cut -d/ -f3 | tr '\n' ' '
}

# After the postmaster was killed (SIGKILL, a crash) its pid file stays, and
# PostgreSQL refuses to start while that pid still exists (a zombie not
# reaped yet counts) or while old backends, which linger until they notice,
# hold its shared memory. Waits up to 2 s for every process of the cluster
# to go (a postmaster killed a moment ago may still be exiting); if the
# postmaster is still there then, it runs and pg_ctl will say so. Otherwise
# ends the backends left and removes the stale pid and socket lock files.
clear_crashed() {
  local dir=$1 pid left
  [[ -f $dir/data/postmaster.pid ]] || return 0
  pid=$(head -n 1 "$dir/data/postmaster.pid")
  for _ in $(seq 20); do
    left=$(cluster_pids "$dir")
    [[ -z $left ]] && break
    sleep 0.1
  done
  if [[ " $left " == *" $pid "* ]]; then
    return 0
  fi
  if [[ -n $left ]]; then
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$dir/data/postmaster.pid" "$dir"/sock/.s.PGSQL.*.lock
}

pg_start() {
  local dir=$1 port=$2
  as_owner "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
    -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" \
    start >/dev/null
}

cmd=${1:-}; dir=${2:-}
[[ -n $cmd && -n $dir ]] || { sed -n '2,15p' "$0" >&2; exit 2; }

case $cmd in
start)
  shift 2
  mkdir -p "$dir/sock"
  dir=$(cd "$dir" && pwd)
  [[ $(id -u) == 0 ]] && chown -R postgres:postgres "$dir"
  as_owner "$pgbin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  port=$("$here/free-port.sh")
  pg_start "$dir" "$port"
  url="host=127.0.0.1 port=$port dbname=shop user=postgres"
  cat >"$dir/env" <<ENV
DATABASE_URL='$url'
PGPORT=$port
PGHOST=127.0.0.1
PGUSER=postgres
PGDATABASE=shop
ENV
  as_owner "$pgbin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'CREATE DATABASE shop' >/dev/null
  for f in "$root"/sql/0*.sql "$@"; do
    PGOPTIONS="-c client_min_messages=warning" "$pgbin/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d shop -f "$f" >/dev/null
  done
  ;;
stop)
  as_owner "$pgbin/pg_ctl" -D "$dir/data" -m "${3:-fast}" -w stop >/dev/null
  ;;
restart)
  # shellcheck disable=SC1091
  port=$(. "$dir/env" && echo "$PGPORT")
  clear_crashed "$dir"
  pg_start "$dir" "$port"
  ;;
destroy)
  if [[ -f $dir/data/postmaster.pid ]]; then
    as_owner "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    clear_crashed "$dir"
  fi
  rm -rf "$dir"
  ;;
psql)
  shift 2
  port=$(. "$dir/env" && echo "$PGPORT")
  exec "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d shop "$@"
  ;;
*)
  echo "pg.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac
