-- wrk script for the control-plane benches: a steady rate (delay() per connection) and
-- answers counted apart: 5xx with X-Version came from a replica (the bad version's own
-- errors), 5xx without it from the router (deployment mechanics). Prints one JSON line.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function delay()
  return tonumber(os.getenv("WRK_DELAY_MS") or "10")
end
function init(args)
  ok = 0
  version_errors = 0
  router_errors = 0
end
function response(status, headers, body)
  if status < 500 then
    ok = ok + 1
  elseif headers["X-Version"] or headers["x-version"] then
    version_errors = version_errors + 1
  else
    router_errors = router_errors + 1
  end
end
function done(summary, latency, requests)
  local o, v, r = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    v = v + t:get("version_errors")
    r = r + t:get("router_errors")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "ok": %d, "version_errors": %d, "router_errors": %d,'
    .. ' "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, o, v, r, e.connect, e.read, e.write, e.timeout))
end
