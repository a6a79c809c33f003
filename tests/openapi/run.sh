#!/usr/bin/env bash
# tests/openapi/run.sh: checks of docs/openapi.yaml, the OpenAPI 3.1
# description of the service.
#
#   1. installs the npm dependencies of tests/openapi when missing (npm ci,
#      from package-lock.json);
#   2. lints the description with Redocly's linter (redocly.yaml: the
#      recommended rules, warnings count as errors), with its telemetry off
#      and, where the user may, without network access;
#   3. starts a throwaway PostgreSQL with the demo catalog (scripts/pg.sh) and
#      build/recs (built if missing) on a free port, and checks real responses
#      against the description with check-response.mjs: their bodies against
#      the schemas of their operation and status, and GET /openapi.yaml
#      against the file;
#   4. checks that check-response.mjs rejects bodies that break the schemas;
#   5. always stops the server (SIGTERM) and destroys the database.
#
# Prints one line per check and "openapi: N passed, N failed" last; the exit
# status is non-zero when a check failed. RECS_BIN=PATH tests another binary.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
here=tests/openapi
helper=$here/check-response.mjs
spec=docs/openapi.yaml

log() { echo "openapi: $*" >&2; }

command -v node >/dev/null || { log "node is missing (Node.js 20.19 or newer)"; exit 1; }
if [[ ! -d $here/node_modules/@redocly/cli || ! -d $here/node_modules/ajv ]]; then
  log "installing the npm dependencies of $here"
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
fi

work=$(mktemp -d /tmp/recs-openapi.XXXXXX)
chmod 755 "$work" # the cluster below belongs to the postgres user when run as root
pgdir=$work/pg
server_pid=

# shellcheck disable=SC2317 # (called by the trap)
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [[ ! -d $pgdir ]] || scripts/pg.sh destroy "$pgdir" || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0 failed=0
# check NAME COMMAND...: the command must succeed; its output is shown on failure.
check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    printf '%s\n' "$out" | grep -v '[║╔╚]' | tail -n 40 | sed 's/^/     /'
  fi
}
# rejects NAME COMMAND...: the command must exit with status 1 (a violation
# found), not 0 (accepted) nor 2 (no check made).
rejects() {
  local name=$1 status=0
  shift
  "$@" >/dev/null 2>&1 || status=$?
  if ((status == 1)); then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name (exit status $status, expected 1)"
  fi
}

# ------------------------------------------------------------ lint
# No network: the linter needs none, and must not phone home.
offline=()
if unshare --net true 2>/dev/null; then offline=(unshare --net); fi
lint() {
  REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true "${offline[@]}" \
    "$here/node_modules/.bin/redocly" lint --config "$here/redocly.yaml" "$spec"
}
check "redocly lint $spec" lint

# ------------------------------------------------------------ a real server
bin=${RECS_BIN:-build/recs}
if [[ ! -x $bin ]]; then
  [[ $bin == build/recs ]] || { log "no $bin"; exit 1; }
  log "no $bin: building it"
  make -s build/recs
fi
scripts/pg.sh start "$pgdir" sql/100_demo_catalog.sql
# shellcheck disable=SC1091
DATABASE_URL=$(. "$pgdir/env" && echo "$DATABASE_URL")
port=$(scripts/free-port.sh)
url=http://127.0.0.1:$port
DATABASE_URL=$DATABASE_URL PORT=$port RECS_LISTEN_ADDRESS=127.0.0.1 RECS_ACCESS_LOG=off \
  OMP_WAIT_POLICY=passive "$bin" >"$work/recs.log" 2>&1 &
server_pid=$!
for _ in $(seq 150); do
  kill -0 "$server_pid" 2>/dev/null || break
  curl -fsS -o /dev/null --max-time 2 "$url/readyz" 2>/dev/null && break
  sleep 0.2
done
if ! curl -fsS -o /dev/null --max-time 2 "$url/readyz" 2>/dev/null; then
  log "the server did not get ready; its log:"
  cat "$work/recs.log" >&2
  echo "openapi: $passed passed, $((failed + 1)) failed"
  exit 1
fi

# fetch NAME PATH: the body to $work/NAME.body, the status to $work/NAME.status.
fetch() {
  curl -sS --max-time 10 -o "$work/$1.body" -w '%{http_code}' "$url$2" >"$work/$1.status"
}
# response NAME OPERATION STATUS PATH: PATH answers STATUS, and its body
# passes the schema of OPERATION and STATUS.
response() {
  local name=$1 op=$2 status=$3 path=$4 got
  fetch "$name" "$path"
  got=$(cat "$work/$name.status")
  [[ $got == "$status" ]] || { echo "$path answered $got, expected $status"; return 1; }
  node "$helper" "$op" "$status" "$work/$name.body"
}
check "GET /products/{slug}/recommendations 200" response single getProductRecommendations 200 \
  "/products/aeroglide-running-shoes/recommendations?limit=5"
check "GET /products/{slug}/recommendations 200 (default limit)" response single_default \
  getProductRecommendations 200 "/products/summit-leather-hiking-boots/recommendations"
check "GET /products/{slug}/recommendations 400" response single_400 getProductRecommendations 400 \
  "/products/aeroglide-running-shoes/recommendations?offset=10001"
check "GET /products/{slug}/recommendations 404" response single_404 getProductRecommendations 404 \
  "/products/no-such-product/recommendations"
check "GET /products/{slug}/recommendations 200 (every filter, a page)" response single_filtered \
  getProductRecommendations 200 "/products/aeroglide-running-shoes/recommendations?limit=5&offset=2&category=shoes,books&exclude=womens-aeroglide-running-shoes&min_price=1000&max_price=20000&min_score=0.01&max_per_category=3"
check "GET /recommendations 200 (a cart with a missing slug)" response cart \
  getCartRecommendations 200 "/recommendations?products=aeroglide-running-shoes,no-such-product,classic-pullover-hoodie&limit=5"
check "GET /recommendations 200 (a page past the end)" response cart_empty \
  getCartRecommendations 200 "/recommendations?products=aeroglide-running-shoes&offset=10000"
check "GET /recommendations 404" response cart_404 getCartRecommendations 404 \
  "/recommendations?products=no-such-product,nor-this-one"
check "GET /recommendations 400" response cart_400 getCartRecommendations 400 \
  "/recommendations?products=a,,b"
check "GET /healthz 200" response healthz getHealth 200 /healthz
check "GET /readyz 200" response readyz getReadiness 200 /readyz
served() {
  local type
  type=$(curl -fsS --max-time 10 -o "$work/openapi.body" -w '%{content_type}' "$url/openapi.yaml")
  [[ $type == application/yaml ]] || { echo "Content-Type: $type"; return 1; }
  cmp "$work/openapi.body" "$spec"
}
check "GET /openapi.yaml is $spec" served

# ------------------------------------------------------------ the helper rejects
# mutate NAME JS: $work/single.body changed by the JavaScript statement JS
# (on the parsed body d) into $work/NAME.json.
mutate() {
  node -e 'const fs = require("fs"); const d = JSON.parse(fs.readFileSync(process.argv[1]));
    '"$2"'; fs.writeFileSync(process.argv[2], JSON.stringify(d));' "$work/single.body" "$work/$1.json"
}
bad() { # bad NAME OPERATION STATUS JS
  mutate "$1" "$4"
  rejects "check-response rejects: $1" node "$helper" "$2" "$3" "$work/$1.json"
}
bad "no title" getProductRecommendations 200 'delete d.product.title'
bad "matches as a string" getProductRecommendations 200 \
  'd.recommendations[0].matches = String(d.recommendations[0].matches)'
bad "score above 1" getProductRecommendations 200 'd.recommendations[0].score = 1.5'
bad "category a number" getProductRecommendations 200 'd.recommendations[0].category = 7'
bad "price beyond int32" getProductRecommendations 200 'd.recommendations[0].price_cents = 2 ** 31'
bad "101 recommendations" getProductRecommendations 200 \
  'd.recommendations = Array(101).fill(d.recommendations[0])'
bad "a single answer for a cart" getCartRecommendations 200 ''
bad "no error field" getProductRecommendations 400 'for (const k in d) delete d[k]; d.message = "x"'
printf '{"status":"down"}' >"$work/down.json"
rejects "check-response rejects: healthz not ok" node "$helper" getHealth 200 "$work/down.json"

echo "openapi: $passed passed, $failed failed"
((failed == 0))
