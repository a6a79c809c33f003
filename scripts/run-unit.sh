#!/usr/bin/env bash
# run-unit.sh: runs cmocka unit-test binaries, optionally under a wrapper
# (WRAP="valgrind ..."), and prints "unit: N passed, N failed".
set -uo pipefail
passed=0 failed=0
for t in "$@"; do
  # shellcheck disable=SC2086
  if ${WRAP:-} "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $t" >&2; fi
done
echo "${LABEL:-unit}: $passed passed, $failed failed"
((failed == 0))
