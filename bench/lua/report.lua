-- Shared by every scenario (loaded with dofile): collects the load threads and, at
-- the end, prints one machine-readable line that bench/run parses. wrk's own summary
-- is printed as well and kept in the logs.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  -- Completed flows are counted inside the thread (flow.lua); 0 for other scenarios.
  local flows, broken = 0, 0
  for _, t in ipairs(threads) do
    flows = flows + (t:get("flows") or 0)
    broken = broken + (t:get("broken") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p95_us=%d p99_us=%d non2xx3xx=%d socket_errors=%d flows=%d broken=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout,
    flows, broken))
end
