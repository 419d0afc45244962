-- wrk script of the side-by-side benchmark: posts the AdmissionReview in the file named by
-- $BODY, the same request every time (keep-alive, one in flight per connection).
-- Prints one line: RESULT requests reviews/s p50_ms p99_ms max_ms errors, then the errors
-- by cause: connect read write timeout status.
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  -- errors.status counts answers >= 400: a run that measured refusals is no measurement.
  io.write(string.format("RESULT %d %.0f %.3f %.3f %.3f %d %d %d %d %d %d\n", summary.requests,
    summary.requests / summary.duration * 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout + e.status,
    e.connect, e.read, e.write, e.timeout, e.status))
end
