#!/usr/bin/env bash
# build-in-container.sh: the build stage of deploy/Dockerfile, as a script so
# that the very same steps run (and are tested, tests/deploy/check.sh) on a
# Debian 12 host.
#
#   deploy/build-in-container.sh DESTDIR
#
# Installs nothing: build-essential, pkg-config, libmicrohttpd-dev,
# libjansson-dev and libpq-dev must be there. It
#   1. builds the server with the Makefile (its warnings, -Werror and hardening:
#      _FORTIFY_SOURCE, stack protector, PIE, full RELRO), release flags and
#      no -march=native: the SIMD kernel is picked at run time, so the binary
#      runs on any x86-64 the image is pulled on;
#   2. runs `recs --help` as a smoke test (the binary loads and links);
#   3. installs DESTDIR/usr/local/bin/recs, DESTDIR/usr/share/recs/sql/*.sql
#      and the storefront demo page in DESTDIR/usr/share/recs/demo.
#
# Environment (all optional):
#   RECS_VERSION  version baked into the binary (/metrics recs_build_info);
#                 default: the Makefile's `git describe`, "unknown" without git
#   RECS_CFLAGS   optimisation flags (default "-O2 -g"); the Makefile adds its
#                 warnings and hardening to them
#   BUILD_DIR     where make puts objects (default build, inside the repo)
#   RECS_STRIP    1 (default) strips debug symbols from the installed binary
set -euo pipefail

usage() { echo "usage: $0 DESTDIR" >&2; exit 2; }
[[ $# -eq 1 && -n $1 ]] || usage

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
destdir=$1
build_dir=${BUILD_DIR:-build}
cflags=${RECS_CFLAGS:--O2 -g}
case " $cflags " in
*" -march=native "* | *" -mtune=native "*)
  echo "build-in-container.sh: refusing $cflags: the image must run on any x86-64" >&2
  exit 2 ;;
esac

for tool in make cc pkg-config; do
  command -v "$tool" >/dev/null || { echo "build-in-container.sh: $tool not found (build-essential pkg-config)" >&2; exit 1; }
done
for pc in libmicrohttpd jansson libpq; do
  pkg-config --exists "$pc" || { echo "build-in-container.sh: pkg-config cannot find $pc (the -dev package)" >&2; exit 1; }
done

# CFLAGS goes in through the environment, not the command line: on the command
# line it would replace the Makefile's `CFLAGS +=` (warnings, hardening).
# Nothing else from the caller's environment leaks into the link.
make_args=(-C "$repo" -j"$(nproc)" SANITIZE=0 BUILD="$build_dir")
[[ -n ${RECS_VERSION:-} ]] && make_args+=(VERSION="$RECS_VERSION")
case $build_dir in /*) bin=$build_dir/recs ;; *) bin=$repo/$build_dir/recs ;; esac
echo "build-in-container.sh: make ${make_args[*]} $build_dir/recs (CFLAGS=$cflags)" >&2
env -u LDFLAGS -u LDLIBS -u CPPFLAGS CFLAGS="$cflags" make "${make_args[@]}" "$build_dir/recs"

# Smoke test: the binary starts, parses its configuration and exits 0.
"$bin" --help >/dev/null

install -d "$destdir/usr/local/bin" "$destdir/usr/share/recs/sql" "$destdir/usr/share/recs/demo"
install -m 0755 "$bin" "$destdir/usr/local/bin/recs"
if [[ ${RECS_STRIP:-1} == 1 ]]; then
  strip --strip-debug "$destdir/usr/local/bin/recs"
fi
install -m 0644 "$repo"/sql/*.sql "$destdir/usr/share/recs/sql/"
install -m 0644 "$repo"/deploy/demo/index.html "$repo"/deploy/demo/app.js \
  "$repo"/deploy/demo/style.css "$destdir/usr/share/recs/demo/"
"$destdir/usr/local/bin/recs" --help >/dev/null
echo "build-in-container.sh: installed $destdir/usr/local/bin/recs and $destdir/usr/share/recs/sql" >&2
