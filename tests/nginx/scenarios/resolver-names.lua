-- §2.1 step 9, §10: host names.  nginx resolves names only with a
-- `resolver` directive (none here) and never reads /etc/hosts; cosocket
-- uses the system resolver on purpose (a listed, deliberate difference).
-- peer: lineecho
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect localhost", sock:connect("localhost", T.port))
T.say("send", sock:send("x"))
sock:close()
local s2 = T.tcp()
s2:settimeout(2000)
T.say("connect nosuch.invalid", s2:connect("nosuch.invalid", T.port))
T.say("close", s2:close())
