-- §6 case 6 (t/058 TESTS 31, 41): receive(0) returns "" at once without I/O;
-- the connection is still fine afterwards.
-- peer: send hello\n; hold
local T = ...
local sock = T.tcp()
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("receive 0", sock:receive(0))
T.say("receive \"0\"", sock:receive("0"))
T.say("receive", sock:receive())
T.say("receive 0 again", sock:receive(0))
T.say("close", sock:close())
