-- wrk script for scripts/http-bench.py: POST /streams/{stream} with one
-- ~250-byte event (or BATCH events) per request, each with an event id
-- unique across threads, connections and runs (RUN, thread id, counter).
-- Non-2xx answers count as errors (wrk's errors.status).
-- Environment: BATCH (events per request, default 1), RUN (a number, default 0),
-- TARGET (a path to send the same POST to instead of /streams/{stream}, e.g.
-- HTTPFloor's /echo), GET (a path to GET instead of posting, e.g. /health),
-- PII (N: every Nth request of a thread is instead a CustomerRegistered
-- command, personal data that the server seals, to POST /commands),
-- DELAY_MS (each connection waits this long before each request: an offered
-- rate of connections × 1000 / DELAY_MS requests/s instead of a closed loop).
local counter = 0
local batch = tonumber(os.getenv("BATCH") or "1")
local run = tonumber(os.getenv("RUN") or "0")
local target = os.getenv("TARGET")
local get = os.getenv("GET")
local pii = tonumber(os.getenv("PII") or "0")
local threads = {}
local delayMs = tonumber(os.getenv("DELAY_MS") or "0")
if delayMs > 0 then
  function delay() return delayMs end
end

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local function event(n)
  local id = string.format("%08x-%04x-4%03x-8%03x-%012x", run, tid, math.floor(n / 16777216) % 4096, math.floor(n / 4096) % 4096, n % 4096)
  return '{"id":"' .. id .. '","type":"Noted","data":{"note":"customer asked about delivery window and gift wrapping options",'
    .. '"seq":' .. n .. ',"author":"agent-' .. tid .. '","tags":["support","delivery"],"channel":"email",'
    .. '"text":"lorem ipsum dolor sit amet consectetur adipiscing"}}'
end

-- BATCH > 1: the body is cut once per thread at the place of the request's
-- number in every id, and each request joins the pieces with its number
-- (`table.concat` with a separator, in C): building 1,000 events in Lua per
-- request took ~0.2 of a core of the 2 the server shares (stop 20). Ids
-- stay unique per event, request, thread and run: run, thread and the
-- event's index in the batch are in the pieces, the request's number joins
-- them.
local pieces = nil

local function cutBody()
  local out = {}
  local before = "["
  for i = 1, batch do
    out[i] = before .. '{"id":"' .. string.format("%08x-%04x-4%03x-8%03x-", run, tid, math.floor(i / 4096) % 4096, i % 4096)
    before = '","type":"Noted","data":{"note":"customer asked about delivery window and gift wrapping options",'
      .. '"seq":' .. i .. ',"author":"agent-' .. tid .. '","tags":["support","delivery"],"channel":"email",'
      .. '"text":"lorem ipsum dolor sit amet consectetur adipiscing"}},'
  end
  out[batch + 1] = before:sub(1, -2) .. "]"
  return out
end

function request()
  if get then
    return wrk.format("GET", get)
  end
  if batch > 1 then
    pieces = pieces or cutBody()
    counter = counter + 1
    local body = table.concat(pieces, string.format("%012x", counter))
    return wrk.format("POST", "/streams/bench-" .. tid .. "-" .. (counter % 64), {["Content-Type"] = "application/json"}, body)
  end
  if pii > 0 and (counter + 1) % pii == 0 then
    counter = counter + 1
    local customer = string.format("c-%d-%d-%d", run, tid, counter)
    return wrk.format("POST", "/commands", {["Content-Type"] = "application/json"},
      '{"type":"CustomerRegistered","time":"2024-05-01T09:00:00Z","data":{"customerId":"' .. customer .. '","email":"' .. customer .. '@example.com",'
      .. '"name":"Ada Lovelace","address":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"},'
      .. '"marketingConsent":false}}')
  end
  local parts = {}
  for i = 1, batch do
    counter = counter + 1
    parts[i] = event(counter)
  end
  local stream = "bench-" .. tid .. "-" .. (counter % 64)
  return wrk.format("POST", target or ("/streams/" .. stream), {["Content-Type"] = "application/json"},
                    "[" .. table.concat(parts, ",") .. "]")
end

function done(summary, latency, requests)
  io.write(string.format('WRKJSON {"requests":%d,"seconds":%.3f,"errors":%d,"p50ms":%.3f,"p90ms":%.3f,"p99ms":%.3f,"maxms":%.3f,"batch":%d}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000, batch))
end
