-- §1.1 (t/065 TEST 22): while one thread is stuck sending, another thread's
-- send/close/setkeepalive/connect get "socket busy writing" while reading
-- works (full duplex).  The send then times out.
-- peer: noread
local T = ...
local sock = T.tcp()
sock:settimeouts(1000, 400, 100)
T.say("connect", sock:connect("127.0.0.1", T.port))
local big = string.rep("y", 16 * 1024 * 1024)
local writer = T.spawn(function()
  return sock:send(big)
end)
T.say("send", sock:send("x"))
T.say("receive", sock:receive())
T.say("getreusedtimes", sock:getreusedtimes())
T.say("close", sock:close())
T.say("setkeepalive", sock:setkeepalive())
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("wait writer", T.wait(writer))
T.say("send after timeout", sock:send("x"))
T.say("close", sock:close())
