-- LuaSocket (blocking) on LuaJIT: luajit luasocket_bench.lua WORKLOAD PORT N
-- Workloads: pingpong, pingpong_1core, reconnect, bulk (no pool, no concurrency).
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local U = require "benchutil"
local socket = require "socket"

local workload, port, n = arg[1], tonumber(arg[2]), tonumber(arg[3])
local LINE, BODY = U.LINE, U.LINE_BODY
local errors = 0
local function fail(what, err)
  errors = errors + 1
  if errors <= 5 then io.stderr:write("luasocket: ", what, ": ", tostring(err), "\n") end
end

local function connect()
  local s = socket.tcp()
  local ok, err = s:connect("127.0.0.1", port)
  if not ok then
    fail("connect", err)
    return nil
  end
  s:setoption("tcp-nodelay", true)
  return s
end

local function round_trip(s)
  local ok, err = s:send(LINE)
  if not ok then return fail("send", err) end
  local line, rerr = s:receive("*l")
  if line ~= BODY then return fail("receive", rerr) end
  return true
end

local out
if workload:match("^pingpong") then
  local s = assert(connect())
  for _ = 1, math.min(math.floor(n / 10), 2000) do round_trip(s) end
  local lat, now = {}, U.now
  local c0, t0 = U.cpu(), now()
  for i = 1, n do
    local a = now()
    round_trip(s)
    lat[i] = now() - a
  end
  local t1, c1 = now(), U.cpu()
  s:close()
  out = U.result("luasocket", workload, n, t1 - t0, c1 - c0, U.median(lat, n) * 1e6, errors)
elseif workload == "reconnect" then
  local function cycle()
    local s = connect()
    if not s then return end
    round_trip(s)
    s:close()
  end
  for _ = 1, math.min(math.floor(n / 10), 500) do cycle() end
  local c0, t0 = U.cpu(), U.now()
  for _ = 1, n do cycle() end
  local t1, c1 = U.now(), U.cpu()
  out = U.result("luasocket", workload, n, t1 - t0, c1 - c0, 0, errors)
elseif workload == "bulk" then
  local s = assert(connect())
  local function stream()
    s:send("BULK " .. U.BULK_STREAM .. "\n")
    for _ = 1, U.BULK_STREAM / U.BULK_READ do
      local d, err = s:receive(U.BULK_READ)
      if not d then return fail("receive", err) end
    end
  end
  stream()
  local c0, t0 = U.cpu(), U.now()
  for _ = 1, n do stream() end
  local t1, c1 = U.now(), U.cpu()
  s:close()
  out = U.result("luasocket", workload, n * U.BULK_STREAM, t1 - t0, c1 - c0, 0, errors)
else
  io.stderr:write("luasocket: unsupported workload ", workload, "\n")
  os.exit(2)
end
print(out)
os.exit(errors == 0 and 0 or 1)
