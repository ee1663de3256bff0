-- luv (libuv) on LuaJIT: luajit luv_bench.lua WORKLOAD PORT N [K]
-- One coroutine per connection over libuv callbacks (the coro-net pattern):
-- connect/read callbacks resume the coroutine; writes are queued (uv_write).
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local U = require "benchutil"
local uv = require "luv"

local workload, port, n, k = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4])
local LINE, BODY = U.LINE, U.LINE_BODY
local errors, ops = 0, 0
local function fail(what, err)
  errors = errors + 1
  if errors <= 5 then io.stderr:write("luv: ", what, ": ", tostring(err), "\n") end
end

local yield, resume, running = coroutine.yield, coroutine.resume, coroutine.running

-- A connection: the tcp handle, received bytes not yet consumed, and what
-- the coroutine waits for (a line, or `want` bytes).
local function on_read(c)
  return function(err, chunk)
    if err or not chunk then
      c.eof = err or "closed"
    else
      local parts = c.parts
      parts[#parts + 1] = chunk
      c.have = c.have + #chunk
    end
    if c.waiting then
      local co = c.waiting
      c.waiting = nil
      local ok, e = resume(co)
      if not ok then fail("coroutine", e) end
    end
  end
end

local function connect()
  local c = { tcp = uv.new_tcp(), parts = {}, have = 0 }
  c.tcp:nodelay(true)
  local co = running()
  local cerr
  c.tcp:connect("127.0.0.1", port, function(err)
    cerr = err
    local ok, e = resume(co)
    if not ok then fail("coroutine", e) end
  end)
  yield()
  if cerr then
    c.tcp:close()
    return fail("connect", cerr)
  end
  c.tcp:read_start(on_read(c))
  return c
end

local function take(c, len)
  local s = #c.parts == 1 and c.parts[1] or table.concat(c.parts)
  local v = s:sub(1, len)
  if #s > len then
    c.parts = { s:sub(len + 1) }
  else
    c.parts = {}
  end
  c.have = c.have - len
  return v
end

local function recv_line(c)
  while true do
    if c.have > 0 then
      local s = #c.parts == 1 and c.parts[1] or table.concat(c.parts)
      c.parts = { s }
      local nl = s:find("\n", 1, true)
      if nl then
        local line = take(c, nl)
        return line:sub(1, -2)
      end
    end
    if c.eof then return nil, c.eof end
    c.waiting = running()
    yield()
  end
end

local function recv_n(c, len)
  while c.have < len do
    if c.eof then return nil, c.eof end
    c.waiting = running()
    yield()
  end
  return take(c, len)
end

local function close(c)
  c.tcp:read_stop()
  c.tcp:close()
end

local function round_trip(c)
  c.tcp:write(LINE)
  local line, err = recv_line(c)
  if line ~= BODY then return fail("receive", err) end
  return true
end

local function spawn(fn)
  local ok, e = resume(coroutine.create(fn))
  if not ok then fail("coroutine", e) end
end

local out
if workload:match("^pingpong") then
  spawn(function()
    local c = assert(connect())
    local secs, cpu, p50 = U.time_round_trips(n, function() round_trip(c) end)
    close(c)
    out = U.result("luv", workload, n, secs, cpu, p50, errors)
  end)
elseif workload == "reconnect" then
  spawn(function()
    local function cycle()
      local c = connect()
      if not c then return end
      round_trip(c)
      close(c)
    end
    local secs, cpu = U.time_cycles(n, cycle)
    out = U.result("luv", workload, n, secs, cpu, 0, errors)
  end)
elseif workload:match("^concurrent") then
  local c0, t0 = U.cpu(), U.now()
  for _ = 1, n do
    spawn(function()
      local c = connect()
      if not c then return end
      for _ = 1, k do
        if not round_trip(c) then break end
        ops = ops + 1
      end
      close(c)
    end)
  end
  uv.run()
  local t1, c1 = U.now(), U.cpu()
  out = U.result("luv", workload, ops, t1 - t0, c1 - c0, 0, errors)
elseif workload == "bulk" then
  spawn(function()
    local c = assert(connect())
    local function stream()
      c.tcp:write("BULK " .. U.BULK_STREAM .. "\n")
      for _ = 1, U.BULK_STREAM / U.BULK_READ do
        local d, err = recv_n(c, U.BULK_READ)
        if not d then return fail("receive", err) end
      end
    end
    stream()
    local c0, t0 = U.cpu(), U.now()
    for _ = 1, n do stream() end
    local t1, c1 = U.now(), U.cpu()
    close(c)
    out = U.result("luv", workload, n * U.BULK_STREAM, t1 - t0, c1 - c0, 0, errors)
  end)
else
  io.stderr:write("luv: unsupported workload ", workload, "\n")
  os.exit(3)
end
uv.run()
if not out then
  io.stderr:write("luv: the loop ended before the benchmark finished\n")
  os.exit(1)
end
print(out)
os.exit(errors == 0 and 0 or 1)
