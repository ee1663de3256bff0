-- §6 case 28 (t/066 TESTS 25-26), §5.5, §9: bytes held as a possible
-- pattern prefix when switching to receive(): restored since v0.10.26
-- (PR #2145), lost in 0.10.23.
-- peer: send ab1ab1\n; close
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
local reader = sock:receiveuntil("ab1ab2")
T.say("reader(2)", reader(2))
T.say("receive(3)", sock:receive(3))
T.say("receive(1)", sock:receive(1))
T.say("close", sock:close())
