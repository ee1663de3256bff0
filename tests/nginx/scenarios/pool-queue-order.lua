-- §6 case 35 (t/068 TESTS 32, 34, 37), §4.3: pool_size 1, backlog 1: a
-- second connect waits in the queue, a third fails at once; setkeepalive on
-- the first hands its connection to the waiter (reused 1).
-- peer: lineecho
local T = ...
local opts = { pool = "q" .. T.port, pool_size = 1, backlog = 1 }
local a = T.tcp()
a:settimeout(2000)
T.say("a connect", a:connect("127.0.0.1", T.port, opts))
local waiter = T.spawn(function()
  local b = T.tcp()
  b:settimeout(2000)
  T.say("b connect", b:connect("127.0.0.1", T.port, opts))
  T.say("b reused", b:getreusedtimes())
  T.say("b send", b:send("b\n"))
  T.say("b receive", b:receive())
  return b:setkeepalive()
end)
local c = T.tcp()
c:settimeout(2000)
T.say("c connect", c:connect("127.0.0.1", T.port, opts))
T.say("a send", a:send("a\n"))
T.say("a receive", a:receive())
T.say("a setkeepalive", a:setkeepalive())
T.say("wait b", T.wait(waiter))
T.say("c connect", c:connect("127.0.0.1", T.port, opts))
T.say("c reused", c:getreusedtimes())
c:close()
