-- §6 case 21 (t/058 TESTS 68-69): receiveany(max) with max smaller than the
-- buffered data returns max bytes, the rest stays buffered.
-- peer: send hello world; sleep 300; close
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.sleep(0.1)
T.say("receiveany 7", sock:receiveany(7))
T.say("receiveany 7", sock:receiveany(7))
T.say("receiveany 128", sock:receiveany(128))
T.say("receiveany 128", sock:receiveany(128))
T.say("close", sock:close())
