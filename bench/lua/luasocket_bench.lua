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
  local secs, cpu, p50 = U.time_round_trips(n, function() round_trip(s) end)
  s:close()
  out = U.result("luasocket", workload, n, secs, cpu, p50, errors)
elseif workload == "reconnect" then
  local function cycle()
    local s = connect()
    if not s then return end
    round_trip(s)
    s:close()
  end
  local secs, cpu = U.time_cycles(n, cycle)
  out = U.result("luasocket", workload, n, secs, cpu, 0, errors)
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
