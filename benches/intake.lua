-- Intake load for `wrk` (not a cargo bench): every request posts a new,
-- unique lead to POST /api/leads, so each 201 is a lead made durable.
--   nudge serve   # with [server] listen = "127.0.0.1:18787", intake_token = "tok",
--                 # intake_per_minute = 0, intake_leads_per_minute = 0 (limits off:
--                 # one client posting thousands a second is what they stop)
--   wrk -t2 -c16 -d30s -s benches/intake.lua http://127.0.0.1:18787
local threads = 0
setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
counter = 0
request = function()
  counter = counter + 1
  local id = tid .. "-" .. counter
  local body = '{"name":"Lead ' .. id .. '","email":"lead' .. id .. '@example.com"}'
  return wrk.format("POST", "/api/leads",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer tok"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
