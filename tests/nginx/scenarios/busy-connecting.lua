-- §1.1, §6 case 40 (t/128 TEST 5): while one thread connects, every other
-- operation gets "socket busy connecting" and getreusedtimes() is 0; the
-- connect then times out and close() → "closed".
-- peer hole --mode blackhole:
local T = ...
local sock = T.tcp()
sock:settimeout(300)
local connector = T.spawn(function()
  return sock:connect("127.0.0.1", T.ports.hole)
end)
T.say("receive", sock:receive())
T.say("receiveany", sock:receiveany(1))
T.say("send", sock:send("x"))
T.say("getreusedtimes", sock:getreusedtimes())
T.say("close", sock:close())
T.say("setkeepalive", sock:setkeepalive())
T.say("connect", sock:connect("127.0.0.1", T.ports.hole))
T.say("wait connector", T.wait(connector))
T.say("close", sock:close())
