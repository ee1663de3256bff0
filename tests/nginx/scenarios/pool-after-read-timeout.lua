-- §0.1 finding 3, §4.4, §7 item 2 (issue #921): setkeepalive() after a read
-- timeout pools the connection (returns 1), and the late reply reaches the
-- next user of the pool.
-- peer: line; sleep 300; send late reply\n; lineecho
local T = ...
local a = T.tcp()
a:settimeout(100)
T.say("a connect", a:connect("127.0.0.1", T.port))
T.say("a send", a:send("query\n"))
T.say("a receive", a:receive())
T.say("a setkeepalive", a:setkeepalive())
local b = T.tcp()
b:settimeout(1000)
T.say("b connect", b:connect("127.0.0.1", T.port))
T.say("b reused", b:getreusedtimes())
T.say("b send", b:send("mine\n"))
T.say("b receive", b:receive())
T.say("b receive", b:receive())
b:close()
