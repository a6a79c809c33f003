#!/usr/bin/env bash
# deps.sh: make sure the Debian packages recs needs to build, run and test are
# installed. As root it installs what is missing with apt-get; otherwise it
# prints the command to run and fails.
set -euo pipefail

packages=(
  build-essential pkg-config
  libmicrohttpd-dev libjansson-dev libpq-dev libcmocka-dev
  postgresql postgresql-client
  curl valgrind clang-format wrk procps iproute2
  slowhttptest # make hostile
  prometheus # promtool, to check /metrics
  clang libclang-rt-14-dev libomp-14-dev # libFuzzer
  chromium fonts-liberation # the demo page's end-to-end test
  yamllint python3-yaml # deployment manifests
  cppcheck clang-tidy
)
[[ ${RECS_DEPS_EXTRA:-} ]] && read -r -a extra <<<"$RECS_DEPS_EXTRA" && packages+=("${extra[@]}")

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) != 0 ]]; then
  echo "deps.sh: missing packages: ${missing[*]}" >&2
  echo "deps.sh: run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
