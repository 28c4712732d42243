-- Loaded into every wrk run the benchmark makes.
--
-- wrk's own report stops at p99 and prints numbers with units meant for
-- people; done() prints one line with p99.9 and the error counts as plain
-- integers, which bench/run parses.
--
-- BENCH_POST_BYTES, when set, turns every request into a POST with a body
-- of that many bytes.

local post_bytes = tonumber(os.getenv("BENCH_POST_BYTES") or "") or 0
if post_bytes > 0 then
  wrk.method = "POST"
  wrk.body = string.rep("x", post_bytes)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d status_errors=%d p50_us=%d p99_us=%d p999_us=%d\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
