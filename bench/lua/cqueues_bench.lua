-- cqueues on LuaJIT: luajit cqueues_bench.lua WORKLOAD PORT N [K]
-- One controller, one coroutine per connection (cq:wrap), socket:read/write.
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local U = require "benchutil"
local cqueues = require "cqueues"
local socket = require "cqueues.socket"

local workload, port, n, k = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4])
local LINE, BODY = U.LINE, U.LINE_BODY
local errors, ops = 0, 0
local function fail(what, err)
  errors = errors + 1
  if errors <= 5 then io.stderr:write("cqueues: ", what, ": ", tostring(err), "\n") end
end

local function connect()
  local s, err = socket.connect("127.0.0.1", port)
  if not s then return fail("connect", err) end
  s:setmode("b", "bn") -- binary, unbuffered output: each write is sent at once
  s:settimeout(60)
  local ok, cerr = s:connect()
  if not ok then return fail("connect", cerr) end
  return s
end

local function round_trip(s)
  local ok, err = s:write(LINE)
  if not ok then return fail("send", err) end
  local line, rerr = s:read("*l")
  if line ~= BODY then return fail("receive", rerr) end
  return true
end

local cq = cqueues.new()
local function run(fn)
  cq:wrap(fn)
  local ok, err = cq:loop()
  if not ok then fail("loop", err) end
end

local out
if workload:match("^pingpong") then
  run(function()
    local s = assert(connect())
    local secs, cpu, p50 = U.time_round_trips(n, function() round_trip(s) end)
    s:close()
    out = U.result("cqueues", workload, n, secs, cpu, p50, errors)
  end)
elseif workload == "reconnect" then
  run(function()
    local function cycle()
      local s = connect()
      if not s then return end
      round_trip(s)
      s:close()
    end
    local secs, cpu = U.time_cycles(n, cycle)
    out = U.result("cqueues", workload, n, secs, cpu, 0, errors)
  end)
elseif workload:match("^concurrent") then
  local c0, t0 = U.cpu(), U.now()
  for _ = 1, n do
    cq:wrap(function()
      local s = connect()
      if not s then return end
      for _ = 1, k do
        if not round_trip(s) then break end
        ops = ops + 1
      end
      s:close()
    end)
  end
  local ok, err = cq:loop()
  if not ok then fail("loop", err) end
  local t1, c1 = U.now(), U.cpu()
  out = U.result("cqueues", workload, ops, t1 - t0, c1 - c0, 0, errors)
elseif workload == "bulk" then
  run(function()
    local s = assert(connect())
    local function stream()
      s:write("BULK " .. U.BULK_STREAM .. "\n")
      for _ = 1, U.BULK_STREAM / U.BULK_READ do
        local d, err = s:read(U.BULK_READ)
        if not d or #d ~= U.BULK_READ then return fail("receive", err) end
      end
    end
    stream()
    local c0, t0 = U.cpu(), U.now()
    for _ = 1, n do stream() end
    local t1, c1 = U.now(), U.cpu()
    s:close()
    out = U.result("cqueues", workload, n * U.BULK_STREAM, t1 - t0, c1 - c0, 0, errors)
  end)
else
  io.stderr:write("cqueues: unsupported workload ", workload, "\n")
  os.exit(3)
end
print(out)
os.exit(errors == 0 and 0 or 1)
