-- cosocket side of the differential harness:
--   luajit tests/nginx/run_cosocket.lua SCENARIO PEERS TMPDIR
-- with LUA_PATH reaching bindings/lua and tests/nginx/lib, and COSOCKET_LIB
-- naming the library.  Runs the scenario inside cosocket.run(), so T.spawn /
-- T.wait / T.sleep behave like ngx.thread / ngx.sleep in a request handler.
local difftest = require "difftest"
local cosocket = require "cosocket"

local scenario, peers, tmpdir = arg[1], arg[2], arg[3]
if not scenario then
  io.stderr:write("usage: run_cosocket.lua SCENARIO [PEERS] [TMPDIR]\n")
  os.exit(2)
end

local ngx_compat = type(cosocket.ngx) == "function" and cosocket.ngx() or nil

local T = {
  side = "cosocket",
  tcp = cosocket.tcp,
  udp = cosocket.udp,
  stream = cosocket.stream,
  connect = cosocket.connect,
  sleep = cosocket.sleep,
  spawn = cosocket.spawn,
  wait = cosocket.wait,
  kill = cosocket.kill,
  null = cosocket.null or (ngx_compat and ngx_compat.null),
  now = cosocket.now,
  write = function(s)
    io.stdout:write(s, "\n")
  end,
}
difftest.make(T, peers, tmpdir)
io.stdout:setvbuf("line")
cosocket.run(function()
  difftest.run(T, scenario)
end)
