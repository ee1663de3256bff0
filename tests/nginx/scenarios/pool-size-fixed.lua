-- §6 case 33 (t/068 TEST 27), §4.2: a pool created by connect with
-- pool_size = 1 keeps that size: a later setkeepalive(0, 20) does not grow
-- it, so pooling a second connection evicts the first.
-- peer: lineecho
local T = ...
local opts = { pool = "fixed" .. T.port, pool_size = 1 }
local a, b = T.tcp(), T.tcp()
T.say("a connect", a:connect("127.0.0.1", T.port, opts))
T.say("b connect", b:connect("127.0.0.1", T.port, opts))
T.say("a setkeepalive", a:setkeepalive(0, 20))
T.say("b setkeepalive", b:setkeepalive(0, 20))
local c, d = T.tcp(), T.tcp()
T.say("c connect", c:connect("127.0.0.1", T.port, opts))
T.say("c reused", c:getreusedtimes())
T.say("d connect", d:connect("127.0.0.1", T.port, opts))
T.say("d reused", d:getreusedtimes())
T.say("d send", d:send("alive\n"))
T.say("d receive", d:receive())
c:close()
d:close()
