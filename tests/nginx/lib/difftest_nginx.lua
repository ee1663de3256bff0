-- nginx side of the differential harness: `location /run` calls run(), which
-- builds T on top of ngx.socket / ngx.thread and runs the scenario named by
-- the query arguments (scenario=<path>&peers=<spec>&tmp=<dir>).
local difftest = require "difftest"

local M = {}

function M.run()
  local args = ngx.req.get_uri_args()
  local T = {
    side = "nginx",
    tcp = ngx.socket.tcp,
    udp = ngx.socket.udp,
    stream = ngx.socket.stream,
    connect = ngx.socket.connect,
    sleep = ngx.sleep,
    spawn = ngx.thread.spawn,
    wait = ngx.thread.wait,
    kill = ngx.thread.kill,
    null = ngx.null,
    now = function()
      ngx.update_time()
      return ngx.now()
    end,
    write = function(s)
      ngx.say(s)
    end,
  }
  difftest.make(T, args.peers, args.tmp)
  difftest.run(T, args.scenario)
end

return M
