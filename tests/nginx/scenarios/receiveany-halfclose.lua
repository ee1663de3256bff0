-- §6 case 22 (t/058 TEST 66): the peer sends nothing and shuts down its
-- write side: receiveany → nil, "closed"; sending still works.
-- peer: shutdown; expect send data after read side closed; hold
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("receiveany", sock:receiveany(1024))
T.say("send", sock:send("send data after read side closed"))
T.say("receive", sock:receive())
T.say("receiveany", sock:receiveany(1024))
T.say("close", sock:close())
