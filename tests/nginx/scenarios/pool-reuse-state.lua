-- §4.5: what a reused connection keeps (reuse count, socket options) and
-- what comes from the new object (its timeouts).
-- peer: line; send ok\n; line; sleep 300; send late\n; hold
local T = ...
local a = T.tcp()
a:settimeout(100)
T.say("a connect", a:connect("127.0.0.1", T.port))
T.try("a setoption keepalive", a, "setoption", "keepalive", true)
T.say("a send", a:send("one\n"))
T.say("a receive", a:receive())
T.say("a setkeepalive", a:setkeepalive())
local b = T.tcp()
T.say("b connect", b:connect("127.0.0.1", T.port))
T.say("b reused", b:getreusedtimes())
T.try("b getoption keepalive", b, "getoption", "keepalive")
T.say("b send", b:send("two\n"))
T.say("b receive (default timeout, not a's 100 ms)", b:receive())
T.say("b close", b:close())
