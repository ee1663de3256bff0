-- §6 case 16 (t/058 TEST 37), §0.1 finding 2: a read timeout returns the
-- bytes read so far as partial and consumes them; later reads start with
-- what arrives afterwards.
-- peer: send 2\r\nhi\r\n; sleep 400; send 5\r\nworld\r\n; hold
local T = ...
local sock = T.tcp()
sock:settimeout(150)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("receive 100", sock:receive(100))
T.sleep(0.5)
T.say("receive", sock:receive())
T.say("receive", sock:receive())
T.say("receive", sock:receive())
T.say("close", sock:close())
