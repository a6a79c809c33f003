#!/usr/bin/env bash
# tests/e2e/run.sh: the storefront demo page (deploy/demo) end to end, in
# headless Chromium against the real service and a real PostgreSQL.
#
#   1. installs what is missing: Debian's chromium (apt-get, as root) and the
#      npm dependencies of tests/e2e (npm ci, from package-lock.json);
#   2. starts a throwaway PostgreSQL with the demo catalog (scripts/pg.sh);
#   3. starts build/recs (built with `make build/recs` if missing) on a free
#      port with RECS_DEMO_DIR=deploy/demo and waits for /readyz;
#   4. runs `node --test tests/e2e/demo.test.mjs` and prints its summary and
#      a last line "e2e: N passed, N failed";
#   5. always stops the server (SIGTERM) and destroys the database.
#
# Environment: RECS_DEMO_SCREENSHOT=PATH also writes a PNG of the demo with a
# cart and filters (RECS_DEMO_SCREENSHOT=docs/demo.png makes the README's);
# RECS_BIN=PATH tests another binary than build/recs.
set -euo pipefail

caller_pwd=$PWD
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

log() { echo "e2e: $*" >&2; }

# A screenshot path is taken relative to the caller's directory.
if [[ -n ${RECS_DEMO_SCREENSHOT:-} && ${RECS_DEMO_SCREENSHOT} != /* ]]; then
  RECS_DEMO_SCREENSHOT=$caller_pwd/$RECS_DEMO_SCREENSHOT
fi

# ------------------------------------------------------------ what it needs
chromium=${RECS_CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $chromium ]]; then
  if [[ $(id -u) == 0 ]]; then
    log "installing chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
  else
    log "no $chromium: run: sudo apt-get install -y chromium fonts-liberation"
    exit 1
  fi
fi

command -v node >/dev/null || { log "node is missing (Node.js 20 or newer)"; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || { log "node $(node --version) is too old: playwright-core needs Node.js 20 or newer"; exit 1; }

if [[ ! -d tests/e2e/node_modules/playwright-core || ! -d tests/e2e/node_modules/axe-core ]]; then
  log "installing the npm dependencies of tests/e2e"
  npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
fi

bin=${RECS_BIN:-build/recs}
if [[ ! -x $bin ]]; then
  [[ $bin == build/recs ]] || { log "no $bin"; exit 1; }
  log "no $bin: building it"
  make -s build/recs
fi

# ------------------------------------------------------------ database and server
work=$(mktemp -d /tmp/recs-e2e.XXXXXX)
chmod 755 "$work" # the cluster below belongs to the postgres user when run as root
pgdir=$work/pg
server_pid=

# shellcheck disable=SC2317 # (called by the trap)
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server_pid" 2>/dev/null; then
      log "the server did not stop on SIGTERM: killing it"
      kill -KILL "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
  fi
  scripts/pg.sh destroy "$pgdir" || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


log "starting PostgreSQL with the demo catalog"
scripts/pg.sh start "$pgdir" sql/100_demo_catalog.sql
# shellcheck disable=SC1091
DATABASE_URL=$(. "$pgdir/env" && echo "$DATABASE_URL")

port=$(scripts/free-port.sh)
url=http://127.0.0.1:$port
log "starting $bin on $url"
DATABASE_URL=$DATABASE_URL PORT=$port RECS_LISTEN_ADDRESS=127.0.0.1 RECS_DEMO_DIR=deploy/demo \
  RECS_ACCESS_LOG=off OMP_WAIT_POLICY=passive "$bin" >"$work/recs.log" 2>&1 &
server_pid=$!

ready=0
for _ in $(seq 150); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    break
  fi
  if curl -fsS -o /dev/null --max-time 2 "$url/readyz" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
if ((ready == 0)); then
  log "the server did not get ready; its log:"
  cat "$work/recs.log" >&2
  echo "e2e: 0 passed, 1 failed"
  exit 1
fi

# ------------------------------------------------------------ the tests
log "running tests/e2e/demo.test.mjs against $url/demo/"
set +e
RECS_DEMO_URL=$url RECS_DEMO_SCREENSHOT=${RECS_DEMO_SCREENSHOT:-} RECS_CHROMIUM=$chromium \
  node --test --test-reporter=tap tests/e2e/demo.test.mjs 2>&1 | tee "$work/node.out"
status=${PIPESTATUS[0]}
set -e

passed=$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$work/node.out" | tail -n 1)
failed=$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$work/node.out" | tail -n 1)
passed=${passed:-0} failed=${failed:-0}
if ((status != 0 && failed == 0)); then
  failed=1 # node failed without counting a failed test (a crash, a bad file)
fi
if ((status != 0)); then
  log "the server's log:"
  tail -n 50 "$work/recs.log" >&2
fi
echo "e2e: $passed passed, $failed failed"
exit "$status"
