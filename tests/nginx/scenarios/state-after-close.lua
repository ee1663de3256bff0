-- §1.2 row "after close()": every method returns nil, "closed" (two
-- values); the object can connect again and keeps its timeouts.
-- peer: lineecho
local T = ...
local sock = T.tcp()
sock:settimeout(1000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("close", sock:close())
T.say("send", sock:send("x"))
T.say("receive", sock:receive())
T.say("receive 5", sock:receive(5))
T.say("receive *a", sock:receive("*a"))
T.say("receiveany", sock:receiveany(5))
T.say("receiveuntil", sock:receiveuntil("x")())
T.say("getreusedtimes", sock:getreusedtimes())
T.say("setkeepalive", sock:setkeepalive())
T.say("close", sock:close())
T.say("connect again", sock:connect("127.0.0.1", T.port))
T.say("send", sock:send("back\n"))
T.say("receive", sock:receive())
T.say("close", sock:close())
