-- §6 case 23 (t/058 TEST 67), §2.6: receiveany argument checks (raised),
-- the closed check first, numeric strings and truncation.
-- peer: send abc; hold
local T = ...
local fresh = T.tcp()
T.try("never connected, max 0", fresh, "receiveany", 0)
local sock = T.tcp()
sock:settimeout(1000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.try("max 0", sock, "receiveany", 0)
T.try("max -1", sock, "receiveany", -1)
T.try("max nil", sock, "receiveany", nil)
T.try("max 0.5", sock, "receiveany", 0.5)
T.try("max \"x\"", sock, "receiveany", "x")
T.try("no argument", sock, "receiveany")
T.try("two arguments", sock, "receiveany", 1, 2)
T.try("max \"2\"", sock, "receiveany", "2")
T.try("max 2.9", sock, "receiveany", 2.9)
T.say("close", sock:close())
