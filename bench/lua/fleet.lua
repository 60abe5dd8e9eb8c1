-- wrk script for the fleet benchmark: GET /feed or POST /tweet, each request as a random user.
-- Arguments (after `--`): mode ("feed" | "post"), a file of bearer tokens (one a line),
-- and the most requests this thread may send (0: no cap; the duration still bounds the run).

local tokens = {}
local mode = "feed"
local max_requests = 0
local answered = 0
local words = {"coffee", "engine", "river", "launch", "garden", "market", "storm", "review",
               "summer", "street", "release", "morning", "design", "quiet", "travel", "music"}

function init(args)
  mode = args[1] or "feed"
  for line in io.lines(args[2]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  max_requests = tonumber(args[3]) or 0
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

local function content()
  local parts = {}
  for i = 1, math.random(8, 20) do parts[i] = words[math.random(#words)] end
  return table.concat(parts, " ")
end

function request()
  local headers = {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]}
  if mode == "post" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/tweet", headers, '{"content": "' .. content() .. '"}')
  end
  return wrk.format("GET", "/feed?limit=20", headers)
end

function response(status, headers, body)
  answered = answered + 1
  if max_requests > 0 and answered >= max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
