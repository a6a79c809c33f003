#!/usr/bin/env bash
# test.sh: the whole test suite, as `make test` runs it.
#   1. builds the normal and the ASan+UBSan binaries
#   2. unit tests (cmocka): plain, under valgrind, under ASan+UBSan
#   3. integration tests: a throwaway PostgreSQL cluster, the real server
#      binary (normal and sanitized, cache on and off) on a free port, real HTTP;
#      beside them the deployment files, docs/openapi.yaml (lint and real
#      responses against it), the demo page in Chromium and the fuzzers
#   4. slowhttptest's four slow-client attacks against build/recs while a
#      normal client must still be served (scripts/hostile.sh)
# Prints one "N passed, N failed" line per stage and a total at the end.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
export OMP_WAIT_POLICY=passive

stages_passed=0 stages_failed=0
stage() { # stage NAME COMMAND...
  local name=$1; shift
  echo "== $name"
  if "$@"; then stages_passed=$((stages_passed + 1)); else stages_failed=$((stages_failed + 1)); echo "== $name FAILED" >&2; fi
}

make -s -j"$(nproc)" all || exit 1
make -s -j"$(nproc)" SANITIZE=1 all || exit 1
make -s -j"$(nproc)" SANITIZE=thread build/tsan/recs || exit 1

stage "static analysis" scripts/lint.sh
units=(build/tests/test_*)
asan_units=(build/asan/tests/test_*)
stage "unit" env LABEL=unit scripts/run-unit.sh "${units[@]}"
stage "unit under valgrind" env LABEL=valgrind RECS_TEST_SKIP='*_like_a_*' \
  WRAP="valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect" \
  scripts/run-unit.sh "${units[@]}"
stage "unit under ASan+UBSan" env LABEL=asan scripts/run-unit.sh "${asan_units[@]}"

pgdir=$(mktemp -d /tmp/recs-test.XXXXXX)
trap 'scripts/pg.sh destroy "$pgdir"' EXIT
scripts/pg.sh start "$pgdir" || exit 1
integration() { # integration BINARY CACHE [SKIP]: every integration test binary but SKIP
  local t rc=0
  for t in build/tests/integration_*; do
    [[ -z ${3:-} || $t != *"$3" ]] || continue
    RECS_BIN=$1 RECS_TEST_CACHE=$2 RECS_TEST_PGDIR=$pgdir RECS_TEST_PGCTL="$PWD/scripts/pg.sh" \
      RECS_TEST_VECTORS=tests/fixtures/vectors.json "$t" || rc=1
  done
  return $rc
}
stage "deployment files" tests/deploy/check.sh
stage "OpenAPI description" tests/openapi/run.sh
stage "storefront demo in headless Chromium" tests/e2e/run.sh
export FUZZ_SECONDS=${FUZZ_SECONDS:-60}
stage "fuzzing ($FUZZ_SECONDS s per harness)" tests/fuzz/run.sh
stage "integration (cache on)" integration build/recs on
stage "integration (cache off)" integration build/recs off
stage "integration under ASan+UBSan (cache on)" integration build/asan/recs on
stage "integration under ASan+UBSan (cache off)" integration build/asan/recs off
# ThreadSanitizer over the HTTP threads, the pool, the watchdog and the
# snapshot sharing. libgomp is not built for TSan, so this run keeps every
# OpenMP region on its calling thread (RECS_SCORE_THREADS=1); the OpenMP
# loops write disjoint slots and are covered by ASan and the unit tests.
# The fault suite is left out here: its time bounds (e.g. every request
# answered within 3 s of killing PostgreSQL) are for real builds, and TSan's
# slowdown made them fail now and then; the service suite's outage and
# recovery test still runs under TSan.
tsan_integration() {
  RECS_SCORE_THREADS=1 TSAN_OPTIONS="halt_on_error=1 exitcode=66" \
    integration build/tsan/recs on integration_test_faults
}
stage "integration under ThreadSanitizer" tsan_integration
stage "slowhttptest against the service" scripts/hostile.sh

echo "test: $stages_passed passed, $stages_failed failed"
((stages_failed == 0))
