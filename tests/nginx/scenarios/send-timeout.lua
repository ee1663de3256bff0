-- §6 case 19 (t/065 TEST 18), §1.2 row "write half closed": a send timeout
-- closes the write half only: send → "closed", receive still times out
-- normally, setkeepalive → "closed", close → 1 and then "closed".
-- peer: noread
local T = ...
local sock = T.tcp()
sock:settimeouts(1000, 150, 100)
T.say("connect", sock:connect("127.0.0.1", T.port))
local big = string.rep("x", 16 * 1024 * 1024)
local t0 = T.now()
T.say("send 16 MiB", sock:send(big))
T.say("waited >= 140 ms", T.ms_since(t0) >= 140)
T.say("send blah", sock:send("blah"))
T.say("receive", sock:receive())
T.say("getreusedtimes", sock:getreusedtimes())
T.say("setkeepalive", sock:setkeepalive())
T.say("close", sock:close())
T.say("close again", sock:close())
T.say("receive after close", sock:receive())
