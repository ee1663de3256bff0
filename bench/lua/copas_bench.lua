-- Copas (1.x, over LuaSocket) on LuaJIT: luajit copas_bench.lua WORKLOAD PORT N [K]
-- One coroutine per connection (copas.addthread). Copas 1.x waits with
-- select(2): more than ~1000 sockets are beyond it (exit 3: not applicable).
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local U = require "benchutil"
local socket = require "socket"
local copas = require "copas"

local workload, port, n, k = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4])
local LINE, BODY = U.LINE, U.LINE_BODY
local errors, ops, live = 0, 0, 0
local function fail(what, err)
  errors = errors + 1
  if errors <= 5 then io.stderr:write("copas: ", what, ": ", tostring(err), "\n") end
end

local function connect()
  local s = socket.tcp()
  local ok, err = copas.connect(s, "127.0.0.1", port)
  if not ok then return fail("connect", err) end
  s:setoption("tcp-nodelay", true)
  return s
end

local function round_trip(s)
  local ok, err = copas.send(s, LINE)
  if not ok then return fail("send", err) end
  local line, rerr = copas.receive(s, "*l")
  if line ~= BODY then return fail("receive", rerr) end
  return true
end

local function spawn(fn)
  live = live + 1
  copas.addthread(function()
    fn()
    live = live - 1
  end)
end
local function loop()
  while live > 0 do copas.step(1) end
end

local out
if workload:match("^pingpong") then
  spawn(function()
    local s = assert(connect())
    local secs, cpu, p50 = U.time_round_trips(n, function() round_trip(s) end)
    s:close()
    out = U.result("copas", workload, n, secs, cpu, p50, errors)
  end)
  loop()
elseif workload == "reconnect" then
  spawn(function()
    local function cycle()
      local s = connect()
      if not s then return end
      round_trip(s)
      s:close()
    end
    local secs, cpu = U.time_cycles(n, cycle)
    out = U.result("copas", workload, n, secs, cpu, 0, errors)
  end)
  loop()
elseif workload:match("^concurrent") then
  if n > 1000 then
    io.stderr:write("copas: ", n, " sockets exceed select(2)'s FD_SETSIZE\n")
    os.exit(3)
  end
  local c0, t0 = U.cpu(), U.now()
  for _ = 1, n do
    spawn(function()
      local s = connect()
      if not s then return end
      for _ = 1, k do
        if not round_trip(s) then break end
        ops = ops + 1
      end
      s:close()
    end)
  end
  loop()
  local t1, c1 = U.now(), U.cpu()
  out = U.result("copas", workload, ops, t1 - t0, c1 - c0, 0, errors)
elseif workload == "bulk" then
  spawn(function()
    local s = assert(connect())
    local function stream()
      copas.send(s, "BULK " .. U.BULK_STREAM .. "\n")
      for _ = 1, U.BULK_STREAM / U.BULK_READ do
        local d, err = copas.receive(s, U.BULK_READ)
        if not d then return fail("receive", err) end
      end
    end
    stream()
    local c0, t0 = U.cpu(), U.now()
    for _ = 1, n do stream() end
    local t1, c1 = U.now(), U.cpu()
    s:close()
    out = U.result("copas", workload, n * U.BULK_STREAM, t1 - t0, c1 - c0, 0, errors)
  end)
  loop()
else
  io.stderr:write("copas: unsupported workload ", workload, "\n")
  os.exit(3)
end
print(out)
os.exit(errors == 0 and 0 or 1)
