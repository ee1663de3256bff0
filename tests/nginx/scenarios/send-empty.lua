-- §6 case 14 (t/058 TEST 32, t/068 TEST 24): empty sends return 0 without
-- I/O and the connection stays usable.
-- peer: echo
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("send \"\"", sock:send(""))
T.say("send {}", sock:send({}))
T.say("send {\"\", {}}", sock:send({ "", {} }))
T.say("send x", sock:send("x"))
T.say("receive 1", sock:receive(1))
T.say("close", sock:close())
