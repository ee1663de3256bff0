-- §6 case 34 (t/068 TEST 31), §4.3: with backlog 0, pool_size caps open
-- connections: the third connect fails at once; after a setkeepalive the
-- next connect reuses the pooled one.
-- peer: lineecho
local T = ...
local opts = { pool = "bl0" .. T.port, pool_size = 2, backlog = 0 }
local a, b, c, d = T.tcp(), T.tcp(), T.tcp(), T.tcp()
T.say("a connect", a:connect("127.0.0.1", T.port, opts))
T.say("b connect", b:connect("127.0.0.1", T.port, opts))
T.say("c connect", c:connect("127.0.0.1", T.port, opts))
T.say("c send", c:send("x"))
T.say("a setkeepalive", a:setkeepalive())
T.say("c connect", c:connect("127.0.0.1", T.port, opts))
T.say("c reused", c:getreusedtimes())
T.say("d connect", d:connect("127.0.0.1", T.port, opts))
T.say("d connect without options", d:connect("127.0.0.1", T.port, { pool = opts.pool }))
T.say("b close", b:close())
T.say("d connect", d:connect("127.0.0.1", T.port, opts))
T.say("d reused", d:getreusedtimes())
c:close()
d:close()
