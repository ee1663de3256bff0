-- §6 case 15 (t/058 TEST 36), §3: read timeouts are not fatal: every read
-- method times out again and again, and sending still works.
-- peer: hold
local T = ...
local sock = T.tcp()
sock:settimeout(100)
T.say("connect", sock:connect("127.0.0.1", T.port))
local t0 = T.now()
T.say("receive", sock:receive())
T.say("waited >= 90 ms", T.ms_since(t0) >= 90)
T.say("receive again", sock:receive())
T.say("receive 5", sock:receive(5))
T.say("receive *a", sock:receive("*a"))
T.say("receiveany", sock:receiveany(10))
T.say("receiveuntil", sock:receiveuntil("x")())
T.say("send", sock:send("still\n"))
T.say("getreusedtimes", sock:getreusedtimes())
T.say("close", sock:close())
