-- wrk script of the verifier's benchmark: sends `Authorization: Bearer <token>` with the
-- tokens of the file named by $TOKENS (one a line). One token: the same request every
-- time (a static request, the verifier's cache-hit case). Many: each request takes the
-- next token, round robin (more tokens than the verifier's cache holds: the miss case).
-- Prints one line: RESULT requests req/s p50_ms p99_ms max_ms errors.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  if line ~= "" then tokens[#tokens + 1] = line end
end
assert(#tokens > 0, "no token in " .. os.getenv("TOKENS"))

if #tokens == 1 then
  wrk.headers["Authorization"] = "Bearer " .. tokens[1]
else
  local i = 0
  request = function()
    i = i % #tokens + 1
    return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[i] })
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  -- errors.status counts answers >= 400: a run that measured refusals is no measurement.
  io.write(string.format("RESULT %d %.0f %.3f %.3f %.3f %d\n", summary.requests,
    summary.requests / summary.duration * 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout + e.status))
end
