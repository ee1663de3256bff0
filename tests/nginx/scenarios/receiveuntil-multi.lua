-- §5.5 (t/066 TESTS 17, 21-24): several iterators on one socket keep their
-- own state and interleave with receive().
-- peer: send a\;b,c\;d,e\nf; close
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
local semi = sock:receiveuntil(";")
local comma = sock:receiveuntil(",")
T.say("semi", semi())
T.say("comma", comma())
T.say("semi", semi())
T.say("receive", sock:receive())
T.say("comma", comma())
T.say("semi", semi())
T.say("close", sock:close())
