-- §5.3: "*a" succeeds even when empty and keeps returning "" after EOF;
-- once a non-"*a" read failed with "closed", "*a" fails too.  receive(0)
-- on the closed read half returns nil, "closed" (state checked first).
-- peer: send abc; close
local T = ...
local sock = T.tcp()
sock:settimeout(1000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("receive *a", sock:receive("*a"))
T.say("receive *a", sock:receive("*a"))
T.say("receive *a", sock:receive("*a"))
T.say("receive 2", sock:receive(2))
T.say("receive *a", sock:receive("*a"))
T.say("receive 0", sock:receive(0))
T.say("receiveany", sock:receiveany(1))
T.say("close", sock:close())
