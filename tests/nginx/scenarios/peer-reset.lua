-- §2.5 / §1.2: a reset by the peer is a read error ("connection reset by
-- peer"), which closes the read half.
-- peer: line; reset
local T = ...
local sock = T.tcp()
sock:settimeout(1000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("send", sock:send("hi\n"))
T.say("receive", sock:receive())
T.say("receive again", sock:receive())
T.say("setkeepalive", sock:setkeepalive())
T.say("getreusedtimes", sock:getreusedtimes())
T.say("close", sock:close())
T.say("close again", sock:close())
