-- §1.2 row "read half closed", §0.1 finding 4 (t/058 TEST 1): after EOF
-- the write half still works, setkeepalive → "closed", close → 1, and then
-- everything is "closed".
-- peer: send hi\n; shutdown; expect ping; hold
local T = ...
local sock = T.tcp()
sock:settimeout(1000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("receive", sock:receive())
T.say("receive at EOF", sock:receive())
T.say("receive again", sock:receive())
T.say("receiveany", sock:receiveany(10))
T.say("send", sock:send("ping"))
T.say("getreusedtimes", sock:getreusedtimes())
T.say("setkeepalive", sock:setkeepalive())
T.say("send after setkeepalive", sock:send("!"))
T.say("close", sock:close())
T.say("send", sock:send("x"))
T.say("receive", sock:receive())
T.say("getreusedtimes", sock:getreusedtimes())
T.say("setkeepalive", sock:setkeepalive())
T.say("close", sock:close())
