-- report.lua: wrk script for scripts/bench-queries.sh and
-- scripts/bench-ceiling.sh. It only adds a summary line that the scripts
-- read instead of wrk's rounded text (requests are wrk's own, static):
--   RESULT requests=N seconds=S rps=R p50_us=A p99_us=B non2xx=C errors=E timeouts=T
-- errors counts connect, read and write errors; timeouts are wrk's own.
--   wrk ... -s bench/report.lua URL
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d non2xx=%d errors=%d timeouts=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write,
    e.timeout))
end
