-- §2.1 step 8 (t/058 TEST 54): IPv6 literals in brackets; the pool key is
-- the host as written.
-- peer --ipv6: lineecho
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect [::1]", sock:connect("[::1]", T.port))
T.say("send", sock:send("six\n"))
T.say("receive", sock:receive())
T.say("setkeepalive", sock:setkeepalive())
T.say("connect [::1] again", sock:connect("[::1]", T.port))
T.say("reused", sock:getreusedtimes())
T.say("close", sock:close())
local s2 = T.tcp()
s2:settimeout(2000)
T.say("connect ::1", s2:connect("::1", T.port))
T.say("close", s2:close())
