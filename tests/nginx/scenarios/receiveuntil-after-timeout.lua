-- §6 case 17 (t/058 TESTS 38-40): a receiveuntil iterator times out with the
-- partial consumed; a new iterator (or receive) then reads what came later.
-- peer: send 2\r\nhi\r\n; sleep 400; send 5\r\nworld\r\n; hold
local T = ...
local sock = T.tcp()
sock:settimeout(150)
T.say("connect", sock:connect("127.0.0.1", T.port))
local it = sock:receiveuntil("no-such-terminator")
T.say("iterator", it())
T.sleep(0.5)
local lines = sock:receiveuntil("\r\n")
T.say("line", lines())
T.say("line", lines())
T.say("close", sock:close())

local s2 = T.tcp()
s2:settimeout(150)
T.say("connect 2", s2:connect("127.0.0.1", T.port))
T.say("iterator", s2:receiveuntil("no-such-terminator")())
T.sleep(0.5)
T.say("receive", s2:receive())
T.say("receive", s2:receive())
T.say("close 2", s2:close())
