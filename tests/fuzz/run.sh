#!/usr/bin/env bash
# run.sh - builds the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan)
# into build/fuzz/ and runs each for FUZZ_SECONDS (default 20) on a copy of
# its seed corpus in build/fuzz/corpus/<harness>/ (the copy keeps growing
# from run to run; the seeds in tests/fuzz/corpus/ are never written).
# A crash or a violated property saves the reproducer under
# build/fuzz/findings/<harness>/ and makes the script exit non-zero.
#
#   tests/fuzz/run.sh                       # all harnesses, 20 s each
#   FUZZ_SECONDS=600 tests/fuzz/run.sh      # longer
#   tests/fuzz/run.sh fuzz_config           # some harnesses only
#   build/fuzz/fuzz_route build/fuzz/findings/fuzz_route/crash-*   # replay
set -uo pipefail

cd "$(dirname "$0")/../.."
SECONDS_EACH=${FUZZ_SECONDS:-20}
CC=${FUZZ_CC:-clang}
OUT=build/fuzz
HARNESSES=(fuzz_route fuzz_render fuzz_config)
((${#@} > 0)) && HARNESSES=("$@")

# The project sources each harness links (never main.c, http.c, db.c or
# service.c: no network, no database).
declare -A SOURCES=(
  [fuzz_route]="route.c log.c trace.c"
  [fuzz_render]="render.c catalog.c vocabulary.c score.c parallel.c minhash.c minhash_kernels.c"
  [fuzz_config]="config.c minhash.c minhash_kernels.c"
)

if ! command -v "$CC" >/dev/null; then
  echo "fuzz: $CC not found (Debian: apt-get install clang libclang-rt-14-dev libomp-14-dev)" >&2
  exit 1
fi
PKG_CFLAGS=$(pkg-config --cflags jansson libpq) || exit 1
PKG_LIBS=$(pkg-config --libs jansson libpq) || exit 1
CFLAGS=(-std=c11 -D_GNU_SOURCE -DRECS_VERSION='"fuzz"' -g -O1 -fno-omit-frame-pointer
  -Wall -Wextra -Wno-unknown-pragmas -Isrc $PKG_CFLAGS
  -fsanitize=address,undefined -fno-sanitize-recover=all)

mkdir -p "$OUT/obj" "$OUT/corpus" "$OUT/findings" "$OUT/logs"

# Builds one harness; prints nothing on success.
build() {
  local h=$1 objs=() omp=() src obj
  for src in ${SOURCES[$h]}; do
    # OpenMP only where the code uses it (catalog.c, score.c, ...).
    if grep -qE '#pragma omp|<omp.h>' "src/$src"; then omp=(-fopenmp); fi
  done
  for src in ${SOURCES[$h]}; do
    local flags=("${CFLAGS[@]}" -fsanitize=fuzzer-no-link "${omp[@]}")
    obj="$OUT/obj/${src%.c}${omp:+-omp}.o"
    if [[ ! -e $obj || src/$src -nt $obj || $(find src -name '*.h' -newer "$obj" | head -1) ]]; then
      "$CC" "${flags[@]}" -c -o "$obj" "src/$src" || return 1
    fi
    objs+=("$obj")
  done
  "$CC" "${CFLAGS[@]}" -fsanitize=fuzzer "${omp[@]}" -o "$OUT/$h" "tests/fuzz/$h.c" \
    "${objs[@]}" $PKG_LIBS -lpthread -lm || return 1
}

# libFuzzer's "stat::name: value" from a log.
stat() { sed -n "s/^stat::$2: *//p" "$1" | tail -1; }

passed=0 failed=0
for h in "${HARNESSES[@]}"; do
  if [[ -z ${SOURCES[$h]:-} ]]; then
    echo "fuzz: $h: unknown harness" >&2
    failed=$((failed + 1))
    continue
  fi
  if ! build "$h"; then
    echo "fuzz: $h: build FAILED"
    failed=$((failed + 1))
    continue
  fi
  corpus=$OUT/corpus/$h findings=$OUT/findings/$h log=$OUT/logs/$h.log
  mkdir -p "$corpus" "$findings"
  cp tests/fuzz/corpus/$h/* "$corpus"/ 2>/dev/null || true
  dict=()
  [[ -f tests/fuzz/$h.dict ]] && dict=(-dict="tests/fuzz/$h.dict")
  # Idle OpenMP threads would spin between inputs (recs sets the same).
  OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} \
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$OUT/$h" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -max_len=4096 -artifact_prefix="$findings/" "${dict[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  execs=$(stat "$log" number_of_executed_units)
  speed=$(stat "$log" average_exec_per_sec)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  artifacts=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
  crashes=$(grep -a -c 'Test unit written to' "$log")
  printf 'fuzz: %-12s %8s execs (%s/s)  cov: %s  ft: %s  corpus: %s  crashes: %s\n' \
    "$h" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes"
  if ((rc != 0 || crashes > 0)); then
    failed=$((failed + 1))
    grep -a -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error|property violated' "$log" | sed 's/^/  /'
    for a in $artifacts; do echo "  reproducer: $a (replay: $OUT/$h $a)"; done
    echo "  log: $log"
  else
    passed=$((passed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
