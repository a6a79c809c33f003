#!/usr/bin/env bash
# lint.sh: static checks that make test runs: clang-format (.clang-format),
# cppcheck and clang-tidy (.clang-tidy) over src/. Any finding fails.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
flags=(-std=c11 -D_GNU_SOURCE -fopenmp -Isrc $(pkg-config --cflags libmicrohttpd jansson libpq))
passed=0 failed=0
check() { # check NAME COMMAND...: the command must succeed and print nothing
  local name=$1 out; shift
  if out=$("$@" 2>&1) && [[ -z $out ]]; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; printf '%s\n' "$out" | head -40
  fi
}
check "clang-format" clang-format --dry-run --Werror src/*.c src/*.h tests/unit/*.c \
  tests/integration/*.c tests/integration/*.h bench/*.c
check "cppcheck" cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
  --std=c11 --inline-suppr -D__x86_64__ -Isrc src
# clang-tidy counts the warnings it suppressed in system headers on stderr
# ("N warnings generated."): only diagnostics about our files count.
tidy() { clang-tidy --quiet src/*.c -- "${flags[@]}" 2>&1 | grep -E ': (warning|error):' || true; }
check "clang-tidy" tidy
echo "lint: $passed passed, $failed failed"
((failed == 0))
