#!/usr/bin/env bash
# free-port.sh: prints a TCP port in 20000-31999 that nothing on 127.0.0.1
# listens on (a connect attempt is refused), for the throwaway PostgreSQL
# clusters, test servers and benchmarks. The range stays below Linux's
# ephemeral ports (32768 and up), where client sockets such as wrk's could
# hold a port that refuses connections yet cannot be bound. Fails after 200
# tries.
set -u
for _ in $(seq 200); do
  p=$((20000 + RANDOM % 12000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "$p"
    exit 0
  fi
done
echo "free-port.sh: no free port found" >&2
exit 1
