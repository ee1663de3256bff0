-- cosocket from LuaJIT: luajit cosocket_bench.lua blocking|sched WORKLOAD PORT N [K]
--   blocking: the calls block the OS thread (outside the scheduler)
--   sched:    the same code inside cosocket.run (one coroutine per connection)
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. dir .. "/../../bindings/lua/?.lua;" .. package.path
local cosocket = require "cosocket"
local W = require "cosocket_workloads"

local mode, workload = arg[1], arg[2]
local port, n, k = tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5])
local env = {
  impl = "lua_cosocket_" .. mode,
  tcp = cosocket.tcp,
  spawn = cosocket.spawn,
  wait = cosocket.wait,
  log = function(m) io.stderr:write(m, "\n") end,
}
local out, errs
if mode == "sched" then
  local done = false
  cosocket.run(function()
    out, errs = W.run(env, workload, port, n, k)
    done = true
  end)
  if not done then
    io.stderr:write("cosocket.run returned before the benchmark finished\n")
    os.exit(1)
  end
elseif mode == "blocking" then
  out, errs = W.run(env, workload, port, n, k)
else
  io.stderr:write("usage: cosocket_bench.lua blocking|sched WORKLOAD PORT N [K]\n")
  os.exit(2)
end
print(out)
local failed = errs and errs > 0 or (out and out:match("errors=[1-9]"))
os.exit(failed and 1 or 0)
