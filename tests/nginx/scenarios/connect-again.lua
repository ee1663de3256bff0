-- §6 case 11 (t/058 TEST 23, issue #775): connect() on a connected object
-- closes the old connection first (it is not pooled: the next pooled reuse
-- count proves it).
-- peer: lineecho
local T = ...
local sock = T.tcp()
T.say("connect 1", sock:connect("127.0.0.1", T.port))
T.say("connect 2", sock:connect("127.0.0.1", T.port))
T.say("send", sock:send("flush_all\r\n"))
T.say("receive", sock:receive())
T.say("getreusedtimes", sock:getreusedtimes())
T.say("setkeepalive", sock:setkeepalive())
T.say("connect 3", sock:connect("127.0.0.1", T.port))
T.say("getreusedtimes", sock:getreusedtimes())
T.say("connect 4", sock:connect("127.0.0.1", T.port))
T.say("getreusedtimes", sock:getreusedtimes())
T.say("close", sock:close())
