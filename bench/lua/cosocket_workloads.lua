-- The workloads written once against the cosocket API (ngx.socket.tcp's
-- methods), run by OpenResty inside nginx and by cosocket from LuaJIT.
--   env = { impl = name, tcp = constructor, spawn = f(fn, ...) -> thread,
--           wait = f(thread), log = f(msg) }
-- Every function returns a RESULT line (see ../common.h).
local U = require "benchutil"

local LINE, BODY = U.LINE, U.LINE_BODY
local HOST = "127.0.0.1"

local M = {}

local function fail(env, st, what, err)
  st.errors = st.errors + 1
  if st.errors <= 5 then env.log(env.impl .. ": " .. what .. ": " .. tostring(err)) end
end

local function round_trip(env, st, sock)
  local ok, err = sock:send(LINE)
  if not ok then return fail(env, st, "send", err) end
  local line, rerr = sock:receive("*l")
  if line ~= BODY then return fail(env, st, "receive", rerr or line) end
  return true
end

local function connect(env, st, port)
  local sock = env.tcp()
  local ok, err = sock:connect(HOST, port)
  if not ok then
    fail(env, st, "connect", err)
    return nil
  end
  return sock
end

function M.pingpong(env, workload, port, n)
  local st = { errors = 0 }
  local sock = connect(env, st, port)
  if not sock then return U.result(env.impl, workload, 0, 0, 0, 0, 1) end
  local secs, cpu, p50 = U.time_round_trips(n, function() round_trip(env, st, sock) end)
  sock:close()
  return U.result(env.impl, workload, n, secs, cpu, p50, st.errors)
end

-- connect, send, receive, then close (reconnect) or setkeepalive (pooled).
local function cycle(env, st, port, pooled)
  local sock = connect(env, st, port)
  if not sock then return end
  if round_trip(env, st, sock) then
    local ok, err
    if pooled then ok, err = sock:setkeepalive() else ok, err = sock:close() end
    if not ok then fail(env, st, pooled and "setkeepalive" or "close", err) end
  else
    sock:close()
  end
end

function M.cycles(env, workload, port, n, pooled)
  local st = { errors = 0 }
  local secs, cpu = U.time_cycles(n, function() cycle(env, st, port, pooled) end)
  return U.result(env.impl, workload, n, secs, cpu, 0, st.errors)
end

local function conc_worker(env, st, port, k)
  local sock = connect(env, st, port)
  if not sock then return end
  for _ = 1, k do
    if not round_trip(env, st, sock) then break end
    st.ops = st.ops + 1
  end
  sock:close()
end

function M.concurrent(env, workload, port, c, k)
  local st = { errors = 0, ops = 0 }
  local threads = {}
  local c0, t0 = U.cpu(), U.now()
  for i = 1, c do
    local th, err = env.spawn(conc_worker, env, st, port, k)
    if not th then fail(env, st, "spawn", err) end
    threads[i] = th
  end
  for i = 1, c do
    if threads[i] then env.wait(threads[i]) end
  end
  local t1, c1 = U.now(), U.cpu()
  return U.result(env.impl, workload, st.ops, t1 - t0, c1 - c0, 0, st.errors)
end

local function bulk_stream(env, st, sock)
  local ok, err = sock:send("BULK " .. U.BULK_STREAM .. "\n")
  if not ok then return fail(env, st, "send", err) end
  local size = U.BULK_READ
  for _ = 1, U.BULK_STREAM / size do
    local data, rerr = sock:receive(size)
    if not data or #data ~= size then return fail(env, st, "receive", rerr) end
  end
end

function M.bulk(env, workload, port, streams)
  local st = { errors = 0 }
  local sock = connect(env, st, port)
  if not sock then return U.result(env.impl, workload, 0, 0, 0, 0, 1) end
  bulk_stream(env, st, sock)
  local c0, t0 = U.cpu(), U.now()
  for _ = 1, streams do bulk_stream(env, st, sock) end
  local t1, c1 = U.now(), U.cpu()
  sock:close()
  return U.result(env.impl, workload, streams * U.BULK_STREAM, t1 - t0, c1 - c0, 0, st.errors)
end

-- RSS per open connection (connected, one round trip done, nothing unread)
-- and per idle pooled connection (after setkeepalive, objects collected).
function M.memory(env, port, n)
  local st = { errors = 0 }
  cycle(env, st, port, true) -- warm up (pool, library) outside the measurement
  local socks = {}
  local base = U.rss_kib()
  for i = 1, n do
    local s = connect(env, st, port)
    if s then round_trip(env, st, s) end
    socks[i] = s
  end
  local open = U.rss_kib()
  for i = 1, n do
    local s = socks[i]
    if s then
      local ok, err = s:setkeepalive(0, n)
      if not ok then fail(env, st, "setkeepalive", err) end
    end
    socks[i] = nil
  end
  socks = nil
  local pooled = U.rss_kib()
  return U.result_value(env.impl, "mem_open", n, (open - base) * 1024 / n) .. "\n"
    .. U.result_value(env.impl, "mem_pooled", n, (pooled - base) * 1024 / n), st.errors
end

-- Dispatches argv-style arguments: WORKLOAD PORT N [K].
function M.run(env, workload, port, n, k)
  if workload:match("^pingpong") then return M.pingpong(env, workload, port, n) end
  if workload == "reconnect" then return M.cycles(env, workload, port, n, false) end
  if workload:match("^pooled") then return M.cycles(env, workload, port, n, true) end
  if workload:match("^concurrent") then return M.concurrent(env, workload, port, n, k) end
  if workload == "bulk" then return M.bulk(env, workload, port, n) end
  if workload == "memory" then return M.memory(env, port, n) end
  error("unknown workload " .. tostring(workload))
end

return M
