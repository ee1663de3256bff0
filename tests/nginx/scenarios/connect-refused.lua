-- §6 case 8 (t/058 TEST 5), §1.2 row "connect failed": connecting to a
-- closed port returns nil, "connection refused"; afterwards every method
-- returns nil, "closed"; the object can connect again.
-- peer refused --mode refuse:
local T = ...
local port = T.ports.refused
local sock = T.tcp()
T.say("connect", sock:connect("127.0.0.1", port))
T.say("send", sock:send("hello"))
T.say("receive", sock:receive())
T.say("receiveany", sock:receiveany(10))
T.say("getreusedtimes", sock:getreusedtimes())
T.say("setkeepalive", sock:setkeepalive())
T.say("close", sock:close())
T.say("connect again", sock:connect("127.0.0.1", port))
T.say("close again", sock:close())
